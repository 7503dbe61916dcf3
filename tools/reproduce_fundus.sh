#!/bin/bash
# The fundus reproduction of the paper's experiment (docs/RESULTS.md): S_base, S_aug and S_CQG trained on DRIVE/train
# at full resolution (padded to multiples of 32), validated on DRIVE/test, then evaluated on DRIVE/test, CHASEDB1/dev
# and DRIVE-LQ/test under every DCIN setting; one seed per call. Resumable: a finished step is skipped, an interrupted
# training run continues from its last epoch (and a larger EPOCHS extends finished runs the same way).
#
# usage: tools/reproduce_fundus.sh SEED [EPOCHS] [RUNS_DIR]      (defaults: 40 epochs, runs/)
# env:   CQSEG (the binary, default build/release/cqseg), DATA (default ../shared/data/fundus), THREADS (default 0)
set -euo pipefail
SEED=${1:?usage: tools/reproduce_fundus.sh SEED [EPOCHS] [RUNS_DIR]}
EPOCHS=${2:-40}
RUNS=${3:-runs}
CQSEG=${CQSEG:-build/release/cqseg}
DATA=${DATA:-../shared/data/fundus}
THREADS=${THREADS:-0}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
S=$RUNS/s$SEED
mkdir -p "$S"
for mode in base aug cqg; do
  d=$S/$mode
  if [ -f "$d/last.safetensors" ]; then
    "$CQSEG" train --resume "$d" --epochs "$EPOCHS" --threads "$THREADS" --quiet
  else
    # Paper settings: batch 2, Adam 1e-3, lambdas 0.3/0.7/1.0 (the defaults); --precise-bn: see docs/RESULTS.md.
    "$CQSEG" train --data "$DATA" --out "$d" --mode "$mode" --size native --precise-bn --epochs "$EPOCHS" \
      --seed "$SEED" --threads "$THREADS" --quiet
  fi
done
domains=DRIVE/test,CHASEDB1/dev,DRIVE-LQ/test
# Each model on its own (its GRIS reference, LRIS bank with its own encoder, ExRI): first with the paper's colour
# statistics over every pixel, then over the lit pixels only (the black camera border excluded: max(R,G,B) > 10).
for mode in base aug cqg; do
  ck=$S/$mode/best.safetensors
  # (skipped when the evaluation is newer than the checkpoint; an extended run's new best is evaluated again)
  [ "$S/eval_$mode/metrics.json" -nt "$ck" ] ||
    "$CQSEG" eval --model "$ck" --data "$DATA" --domains "$domains" --out "$S/eval_$mode" --threads "$THREADS" --quiet
  [ "$S/eval_lit_$mode/metrics.json" -nt "$ck" ] ||
    "$CQSEG" eval --model "$ck" --data "$DATA" --domains "$domains" --out "$S/eval_lit_$mode" --stats-threshold 10 \
      --threads "$THREADS" --quiet
done
echo "seed $SEED: tools/results_tables.py $S/eval_{base,aug,cqg}/metrics.json (and eval_lit_*)"
