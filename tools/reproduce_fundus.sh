#!/bin/bash
# The fundus reproduction of the paper's experiment (docs/RESULTS.md): S_base, S_aug and S_CQG trained on DRIVE/train
# at full resolution (padded to multiples of 32), validated on DRIVE/test, then evaluated on DRIVE/test, CHASEDB1/dev
# and DRIVE-LQ/test under every DCIN setting; one seed per call. Resumable: a finished step is skipped, an interrupted
# training run continues from its last epoch (and a larger EPOCHS extends finished runs the same way).
#
# usage: tools/reproduce_fundus.sh SEED [EPOCHS] [RUNS_DIR] [MODES]
#   EPOCHS   one count for every model, or per model: base=80,aug=120,cqg=160       (default 40)
#   RUNS_DIR where run folders go (default runs/)
#   MODES    which models, comma-separated (default base,aug,cqg)
# env:   CQSEG (the binary, default build/release/cqseg), DATA (default ../shared/data/fundus), THREADS (default 0:
#        all cores; the thread count is part of what makes a run bit-identical, so give it explicitly to reproduce),
#        ARCHIVE (a folder, e.g. docs/results/runs: each finished step's small readable files are copied there, laid
#        out like RUNS_DIR: sN/<mode>/{manifest.json,log.jsonl,loss_curve.svg,SHA256SUMS} and
#        sN/eval[_lit]_<mode>/{metrics.json,report.md}; the checkpoints stay in RUNS_DIR, identified by SHA256SUMS)
set -euo pipefail
usage="usage: tools/reproduce_fundus.sh SEED [EPOCHS|base=N,aug=N,cqg=N] [RUNS_DIR] [MODES]"
SEED=${1:?$usage}
EPOCHS=${2:-40}
RUNS=${3:-runs}
MODES=${4:-base,aug,cqg}
CQSEG=${CQSEG:-build/release/cqseg}
DATA=${DATA:-../shared/data/fundus}
THREADS=${THREADS:-0}
ARCHIVE=${ARCHIVE:-}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

# epochs_for MODE: the count EPOCHS gives that model.
epochs_for() {
  if [[ $EPOCHS =~ ^[0-9]+$ ]]; then echo "$EPOCHS"; return; fi
  local item
  for item in ${EPOCHS//,/ }; do
    if [[ $item =~ ^([a-z]+)=([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" = "$1" ]; then echo "${BASH_REMATCH[2]}"; return; fi
  done
  echo "reproduce_fundus.sh: EPOCHS '$EPOCHS' gives no count for '$1' ($usage)" >&2
  return 1
}

# archive SRC_DIR FILES...: copies the named files of a run or evaluation folder into the archive (same sN/... path).
archive() {
  [ -n "$ARCHIVE" ] || return 0
  local src=$1 dst=$ARCHIVE/s$SEED/$(basename "$1") f
  shift
  mkdir -p "$dst"
  for f in "$@"; do [ -f "$src/$f" ] && cp "$src/$f" "$dst/$f"; done
  return 0
}

read -r -a modes <<< "${MODES//,/ }"
for mode in "${modes[@]}"; do
  case $mode in base|aug|cqg) ;; *) echo "reproduce_fundus.sh: unknown mode '$mode' ($usage)" >&2; exit 2;; esac
  epochs_for "$mode" > /dev/null || exit 2
done

S=$RUNS/s$SEED
mkdir -p "$S"
for mode in "${modes[@]}"; do
  d=$S/$mode
  n=$(epochs_for "$mode")
  if [ -f "$d/last.safetensors" ]; then
    "$CQSEG" train --resume "$d" --epochs "$n" --threads "$THREADS" --quiet
  else
    # Paper settings: batch 2, Adam 1e-3, lambdas 0.3/0.7/1.0 (the defaults); --precise-bn: see docs/RESULTS.md.
    "$CQSEG" train --data "$DATA" --out "$d" --mode "$mode" --size native --precise-bn --epochs "$n" \
      --seed "$SEED" --threads "$THREADS" --quiet
  fi
  if [ -n "$ARCHIVE" ]; then
    (cd "$d" && sha256sum best.safetensors last.safetensors > SHA256SUMS)
    archive "$d" manifest.json log.jsonl loss_curve.svg SHA256SUMS
  fi
done
domains=DRIVE/test,CHASEDB1/dev,DRIVE-LQ/test
# Each model on its own (its GRIS reference, LRIS bank with its own encoder, ExRI): first with the paper's colour
# statistics over every pixel, then over the lit pixels only (the black camera border excluded: max(R,G,B) > 10).
for mode in "${modes[@]}"; do
  ck=$S/$mode/best.safetensors
  # (skipped when the evaluation is newer than the checkpoint; an extended run's new best is evaluated again)
  [ "$S/eval_$mode/metrics.json" -nt "$ck" ] ||
    "$CQSEG" eval --model "$ck" --data "$DATA" --domains "$domains" --out "$S/eval_$mode" --threads "$THREADS" --quiet
  [ "$S/eval_lit_$mode/metrics.json" -nt "$ck" ] ||
    "$CQSEG" eval --model "$ck" --data "$DATA" --domains "$domains" --out "$S/eval_lit_$mode" --stats-threshold 10 \
      --threads "$THREADS" --quiet
  archive "$S/eval_$mode" metrics.json report.md
  archive "$S/eval_lit_$mode" metrics.json report.md
done
echo "seed $SEED: tools/results_tables.py $S/eval_{base,aug,cqg}/metrics.json (and eval_lit_*)"
