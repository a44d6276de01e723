#!/usr/bin/env bash
# The colourisation paper's Table I at the tiny width: six rows, one recipe, one seed, the same steps.
# Resumable: run it again after an interruption and each row continues where it stopped.
#   bash scripts/table1.sh DATA_TRAIN DATA_VAL [RUNS_DIR]
# DATA_TRAIN / DATA_VAL: folders of colour photos (docs/table1.md says how ours were made).
# Then: rawcolour eval colourise --data KODAK24 --model runs/table1/<row>/last.safetensors ...
set -euo pipefail
train=${1:?training photo folder}
val=${2:?validation photo folder}
runs=${3:-runs/table1}
steps=${TABLE1_STEPS:-500}
# TABLE1_ROWS: a subset of the rows to train (names as below), all six by default.
rows=${TABLE1_ROWS:-colorgan-tiny-bn colorgan-tiny-in colorgan-tiny-bn-sn colorgan-tiny-in-sn colorgan-tiny-bn-sn-md colorgan-tiny}
for model in $rows; do
  out="$runs/$model"
  if [ -f "$out/log.jsonl" ] && grep -q '"kind": "end", "step": '"$steps"',' "$out/log.jsonl"; then
    echo "$model: done"; continue
  fi
  resume=()
  [ -f "$out/last.resume.pt" ] && resume=(--resume)
  echo "$model: training ($(date +%H:%M))"
  rawcolour train colourise --model "$model" --data "$train" --val "$val" --seed 0 \
    --batch-size 8 --max-steps "$steps" --save-every 50 --val-every 250 --sample-every 250 --val-max 40 \
    --out "$out" --quiet "${resume[@]}"
done
