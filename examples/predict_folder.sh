#!/usr/bin/env bash
# Predict every image of a folder with `mlcls predict --json` and filter the JSON Lines with
# standard tools: grep for a quick count, jq when it is installed (python3 otherwise).
#
#   examples/predict_folder.sh FOLDER MODEL [LABEL]
#
#   FOLDER  images, searched recursively (.jpg .jpeg .png .bmp .webp .tif .tiff)
#   MODEL   a zoo model name (e.g. PP-LCNet_x1_0_ML, downloaded once) or an inference
#           package folder (e.g. output/best_model/inference)
#   LABEL   list the images predicted with this label (optional)
#
# Environment: MLCLS (the mlcls command, default: mlcls), PYTHON (default: python3),
# THRESHOLD (optional --threshold value). The exit status is mlcls's: 66 when some files
# could not be read (the others are still predicted and listed).
set -euo pipefail

folder=${1:?usage: predict_folder.sh FOLDER MODEL [LABEL]}
model=${2:?usage: predict_folder.sh FOLDER MODEL [LABEL]}
label=${3:-}
mlcls=${MLCLS:-mlcls}
python=${PYTHON:-python3}

if [ -d "$model" ]; then source=(--model-dir "$model"); else source=(--model "$model"); fi
extra=()
if [ -n "${THRESHOLD:-}" ]; then extra=(--threshold "$THRESHOLD"); fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# One JSON object per image on stdout; progress and warnings go to stderr.
status=0
"$mlcls" predict "$folder" "${source[@]}" "${extra[@]}" --batch-size 8 --json > "$results" || status=$?

echo "images: $(wc -l < "$results" | tr -d ' ')"
# grep: images with no label above the threshold
echo "without a label: $(grep -c '"class_ids": \[\]' "$results" || true)"

if [ -n "$label" ]; then
    echo "with label $label:"
    if command -v jq > /dev/null 2>&1 && [ -z "${NO_JQ:-}" ]; then
        jq -r --arg want "$label" 'select(.label_names | index($want)) | .input_path' "$results"
    else
        "$python" -c '
import json, sys
for line in sys.stdin:
    row = json.loads(line)
    if sys.argv[1] in row["label_names"]:
        print(row["input_path"])
' "$label" < "$results"
    fi
fi

echo "label counts:"
"$python" -c '
import collections, json, sys
counts = collections.Counter(name for line in sys.stdin for name in json.loads(line)["label_names"])
for name, count in counts.most_common():
    print(f"{count:6d}  {name}")
' < "$results"

exit "$status"
