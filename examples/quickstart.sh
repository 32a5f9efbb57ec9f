#!/usr/bin/env bash
# The whole lifecycle on the bundled sample dataset, offline, in a few minutes on 2 CPU cores:
# check the dataset, train a model from scratch, evaluate it (and tune per-class thresholds),
# then predict every image with the exported inference package.
#
#   bash examples/quickstart.sh [OUTPUT_DIR]        (default: ./output)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
data="$here/sample_dataset"
out=${1:-output}
mlcls=${MLCLS:-mlcls}

"$mlcls" check "$data" --output "$out"
"$mlcls" train "$data" -c "$here/sample_train.yaml" --output "$out"
"$mlcls" eval "$data" --weights "$out/best_model/best_model.pdparams" --output "$out" --tune-thresholds
"$mlcls" predict "$data/images" --model-dir "$out/best_model/inference" \
    --threshold "$out/thresholds.json" --batch-size 8 --save-path "$out/predict" --json > "$out/predictions.jsonl"

echo "predictions: $(wc -l < "$out/predictions.jsonl" | tr -d ' ') images -> $out/predictions.jsonl, pictures in $out/predict/" >&2
