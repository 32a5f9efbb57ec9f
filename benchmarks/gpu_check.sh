#!/usr/bin/env bash
# The GPU checks of training (issue 11), prepared as one short run for a session that has a GPU machine.
# Not run yet: no session so far had one. Needs mlcls installed with a CUDA build of PaddlePaddle.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]          (about 5 minutes on one recent GPU)
#
# 1. PP-LCNet_x1_0_ML from scratch at 224 px, 2 epochs on 512 drawn scenes, on gpu:0: fp32, then AMP O1
#    (Train.use_amp) with data-loading workers (mlcls's GPU default), then Train.dy2st with AMP.
# 2. With two GPUs or more: the same AMP run as 2 processes (--device gpu:0,1, NCCL).
# Prints one line per run (images/s of the training loop, best val mAP, seconds) and writes
# OUT_DIR/gpu_check.jsonl; a failing run prints its exit code and the script goes on.
set -uo pipefail

out=${1:-gpu_check}
mlcls=${MLCLS:-mlcls}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
: > "$out/gpu_check.jsonl"

python - <<'EOF' || { echo "no CUDA build of paddle here: nothing to check" >&2; exit 69; }
import paddle, sys
ok = paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
print(f"paddle {paddle.__version__}, CUDA {'yes' if ok else 'no'}, GPUs {paddle.device.cuda.device_count() if ok else 0}", file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
gpus=$(python -c "import paddle; print(paddle.device.cuda.device_count())")

python - "$out/data" "$here" <<'EOF'
import runpy, sys
from pathlib import Path
maker = runpy.run_path(str(Path(sys.argv[2]) / "examples" / "make_sample_dataset.py"))
maker["make_dataset"](Path(sys.argv[1]), n_train=512, n_val=128, size=224)
EOF
[ -f "$out/data/train.txt" ] || { echo "could not draw the dataset" >&2; exit 1; }

run() {  # name, then mlcls train options
    local name=$1; shift
    local started=$SECONDS
    if "$mlcls" train "$out/data" --model PP-LCNet_x1_0_ML --no-pretrained --epochs 2 --image-size 224 \
        --batch-size 32 --output "$out/$name" -q --json "$@" > "$out/$name.json" 2> "$out/$name.err"; then
        python - "$out/$name.json" "$name" $((SECONDS - started)) "$out/gpu_check.jsonl" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
row = {"run": sys.argv[2], "images_per_s": summary["images_per_s"], "best_mAP": summary["best"]["MultiLabelMAP"],
       "seconds": int(sys.argv[3]), "device": summary["device"], "nproc": summary.get("nproc")}
print(json.dumps(row))
open(sys.argv[4], "a").write(json.dumps(row) + "\n")
EOF
    else
        echo "{\"run\": \"$name\", \"exit\": $?, \"stderr\": \"$out/$name.err\"}" | tee -a "$out/gpu_check.jsonl"
        tail -5 "$out/$name.err" >&2
    fi
}

run fp32 --device gpu:0 -o Train.use_amp=false
run amp --device gpu:0 -o Train.use_amp=true
run amp_dy2st --device gpu:0 -o Train.use_amp=true -o Train.dy2st=true
if [ "$gpus" -ge 2 ]; then
    run amp_2gpus --device gpu:0,1 -o Train.use_amp=true
else
    echo "one GPU: the 2-process NCCL run is skipped (NCCL cannot put two ranks on one GPU)" >&2
fi
