#!/usr/bin/env bash
# Measure the bundled models on the held-out test motions and the long looped rollout, then write
# their model cards. Needs the ground truth of scripts/build_eval_data.sh (default: datasets/test,
# datasets/long). Run it on an otherwise idle machine: model_ms_per_frame is wall time.
# Usage: scripts/eval_models.sh [DATASETS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-datasets}
OUT=${OUT:-runs/eval}
MODELS=src/drape/assets/models
export DRAPE_CACHE_DIR=${DRAPE_CACHE_DIR:-$PWD/.cache}
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
TEST=(--motion 07_01 --motion 02_03 --motion 13_11 --motion 18_10 --motion turn_right1)
for g in ${GARMENTS:-tshirt skirt}; do
  .venv/bin/drape eval --model "$MODELS/$g.npz" --data "$D/test" "${TEST[@]}" --json "$OUT/${g}_test.json" \
    --render "$OUT/${g}_test_render.png" --no-progress
  .venv/bin/drape eval --model "$MODELS/$g.npz" --data "$D/test" "${TEST[@]}" --backend onnx --json "$OUT/${g}_test_onnx.json" --no-progress
  long=()
  if [ -f "$D/long/index.jsonl" ] && grep -q "\"$g\"" "$D/long/index.jsonl"; then
    .venv/bin/drape eval --model "$MODELS/$g.npz" --data "$D/long" --motion walk --json "$OUT/${g}_long.json" --no-progress
    long=(--long-json "$OUT/${g}_long.json")
  fi
  base=()
  [ -f "$MODELS/$g.base.train.json" ] && base=(--base-train-json "$MODELS/$g.base.train.json")
  .venv/bin/python benchmarks/onnx_parity.py --model "$MODELS/$g.npz" --motion walk --frames 300 > "$OUT/${g}_parity.json"
  .venv/bin/python scripts/model_card.py --model "$MODELS/$g.npz" --train-json "$MODELS/$g.train.json" \
    --eval-json "$OUT/${g}_test.json" --onnx-json "$OUT/${g}_test_onnx.json" --parity-json "$OUT/${g}_parity.json" \
    "${long[@]}" "${base[@]}" --out "$MODELS/$g.md"
done
