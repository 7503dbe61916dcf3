#!/usr/bin/env bash
# Model forward time at batch 1, cqseg next to PyTorch (../shared/peers/torch_unet.py), alternating in one sitting
# so machine noise hits both alike. Usage: bench/compare_models.sh [rounds=3]. Needs a release build and Debian's
# python3-torch + python3-torchvision.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
peer=../shared/peers/torch_unet.py
bin=build/release/cq_bench
[ -x "$bin" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
for r in $(seq "$rounds"); do
  for hw in 256x256 512x768; do
    h=${hw%x*}; w=${hw#*x}
    "$bin" --benchmark_filter="BM_UnetEffB2Eval/$h/$w" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
      2>/dev/null | awk -v hw=$hw '/_median/ {print "cqseg   unet eval " hw " median_ms " $2}'
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$peer" --mode eval --batch 1 --hw "$hw" --threads 2 --reps 5 --layout nhwc \
      | sed "s/^/pytorch unet eval $hw (nhwc) /"
  done
  "$bin" --benchmark_filter="BM_SwinV2TinyEmbed/256" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    2>/dev/null | awk '/_median/ {print "cqseg   swin_v2_t embed 256x256 median_ms " $2}'
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peers/torch_swin.py --threads 2 --hw 256 --reps 5 \
    | sed "s/^/pytorch swin_v2_t embed 256x256 /"
done
