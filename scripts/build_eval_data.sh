#!/usr/bin/env bash
# Simulate the ground truth the bundled models are measured on (resumable: run it again to continue).
# - OUT/test: the held-out test motions (drape.data.splits.TEST_MOTIONS, never in a training dataset),
#   tshirt and skirt, up to 90 frames each;
# - OUT/long: 1,000 frames of the looped built-in walk for the long-rollout check (LONG_GARMENTS, default
#   tshirt,skirt).
# Same simulation settings as scripts/build_training_data.sh.
# Usage: scripts/build_eval_data.sh [OUT_DIR] [extra drape dataset build options]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-datasets}
shift || true
SHARED=${DRAPE_SHARED:-../shared}
export DRAPE_CACHE_DIR=${DRAPE_CACHE_DIR:-$PWD/.cache}
MOTIONS=$(.venv/bin/python -c "from drape.data.splits import held_out_motions; print(','.join(held_out_motions('$SHARED')))")
.venv/bin/drape dataset build --garments tshirt,skirt --motions "$MOTIONS" --frames 90 --out "$OUT/test" --workers "${WORKERS:-2}" --no-self-collision "$@"
.venv/bin/drape dataset build --garments "${LONG_GARMENTS:-tshirt,skirt}" --motions walk --frames 1000 --out "$OUT/long" --workers "${WORKERS:-2}" --no-self-collision "$@"
