#!/usr/bin/env bash
# The single-label lifecycle on the bundled sample ClsDataset (five shapes), offline, in under a
# minute on 2 CPU cores: check the dataset, train SmallCNN from scratch, evaluate it (top-1/top-5,
# per-class precision/recall/F1, a confusion matrix), then predict every image with the package.
#
#   bash examples/quickstart_cls.sh [OUTPUT_DIR]        (default: ./output_cls)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
data="$here/sample_cls_dataset"
out=${1:-output_cls}
mlcls=${MLCLS:-mlcls}

"$mlcls" check "$data" --output "$out"
"$mlcls" train "$data" --model SmallCNN --output "$out"
"$mlcls" eval "$data" --weights "$out/best_model/best_model.pdparams" --output "$out"
"$mlcls" predict "$data/images" --model-dir "$out/best_model/inference" --topk 2 \
    --batch-size 8 --save-path "$out/predict" --json > "$out/predictions.jsonl"

echo "predictions: $(wc -l < "$out/predictions.jsonl" | tr -d ' ') images -> $out/predictions.jsonl, pictures in $out/predict/" >&2
