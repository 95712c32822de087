#!/usr/bin/env bash
# Retrain the bundled garment models (tshirt, skirt) from scripts/build_training_data.sh's dataset,
# both at once on one thread each, then copy them into src/drape/assets/models/.
# Resumable: a killed run continues from its checkpoint when started again.
# Usage: [GARMENTS="tshirt skirt"] scripts/train_models.sh [DATASET_DIR] [extra drape train options]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-datasets/v1}
shift || true
RUNS=${RUNS:-runs/models}
GARMENTS=${GARMENTS:-tshirt skirt}
# Steps per garment (STEPS sets both). The saved model is the validation-best one (EMA weights):
# the tshirt's validation error still fell at step 8000; the skirt's was lowest at step 1250.
declare -A STEPS_OF=([tshirt]=${STEPS:-${TSHIRT_STEPS:-8000}} [skirt]=${STEPS:-${SKIRT_STEPS:-8000}})
export DRAPE_CACHE_DIR=${DRAPE_CACHE_DIR:-$PWD/.cache}
export OMP_NUM_THREADS=1
mkdir -p "$RUNS"
pids=()
# Per-garment settings: the tshirt also learns from its own rollouts (replay), from the mirror image of every
# training sequence, and with windows balanced over source clips; the skirt's offsets live in its (no-tear)
# skin-weight frame.
declare -A OPTS=([tshirt]="--replay-fraction 0.5 --mirror --clip-balance 0.5" [skirt]="--offset-space lbs")
for g in $GARMENTS; do
  # shellcheck disable=SC2086
  .venv/bin/drape train --data "$DATA" --garment "$g" --val-motions dance_b,08_05 --steps "${STEPS_OF[$g]}" \
    --val-every 250 --val-frames 60 --curriculum 0.25 ${OPTS[$g]} --out "$RUNS/$g.npz" "$@" > "$RUNS/$g.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
mkdir -p src/drape/assets/models
for g in $GARMENTS; do
  cp "$RUNS/$g.npz" "src/drape/assets/models/$g.npz"
  cp "$RUNS/$g.loss.png" "src/drape/assets/models/$g.loss.png"
  cp "$RUNS/$g.train.json" "src/drape/assets/models/$g.train.json"
done
echo "bundled models updated in src/drape/assets/models/"
