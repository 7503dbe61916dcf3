#!/usr/bin/env bash
# DCIN kernels next to the peers in one sitting: colour transfer (768x512) vs OpenCV, 8x8x8 histogram vs
# cv2.calcHist, GRIS over N=16000 random histograms vs numpy's BLAS formulation. Usage: bench/compare_dcin.sh [build]
# (default build/release). Needs Debian's python3-opencv and python3-numpy; ../shared/peers.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/release}/cq_bench
peers=../shared/peers
[ -x "$bin" ] || { echo "build the benchmarks first (target cq_bench)" >&2; exit 1; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
echo "== colour transfer 768x512 =="
"$bin" --benchmark_filter='BM_ColorTransfer' --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null | grep median
/usr/bin/python3 "$peers/reinhard.py" 20
echo "== 8x8x8 histogram per image =="
"$bin" --benchmark_filter='BM_Hist8x8x8' --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null | grep median
/usr/bin/python3 "$peers/hist_gris.py" hist 2000 calchist 3
echo "== GRIS N=16000 =="
"$bin" --benchmark_filter='BM_Gris/16000' 2>/dev/null | grep BM_
/usr/bin/python3 "$peers/hist_gris.py" gris 16000 gemm_inplace 3
