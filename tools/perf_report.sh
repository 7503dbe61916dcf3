#!/usr/bin/env bash
# Runs every benchmark of issue #6 next to its peer, family by family in one sitting (ours, then the peer, so noise
# hits both alike), then `cqseg bench`, and regenerates the tables of docs/PERFORMANCE.md from the results.
# Usage: tools/perf_report.sh [--build DIR] [--reps N] [--rounds R] [--out DIR] [--quick] [--no-doc]
#   --build DIR  build folder holding cq_bench and cqseg        [build/release if it has cq_bench, else build/no_cuda]
#   --reps N     repetitions per measurement (medians)          [5]
#   --rounds R   each family runs R times, ours and the peer alternating (DIR/round1..R); the tables give the
#                median over rounds of each side's time and the median of the per-round ratios   [1]
#   --out DIR    raw results (Google Benchmark JSON, peer JSON lines, bench.json) and tables.md   [perf_out]
#   --quick      a smoke run: 1 repetition, small filter, cqseg bench --quick (numbers meaningless)
#   --no-doc     write DIR/tables.md only, leave docs/PERFORMANCE.md alone
# Needs Debian's python3-torch, python3-torchvision, python3-opencv, python3-numpy, python3-scipy for the peers
# (missing: ours only) and ../shared/peers (or $CQ_SHARED). About 15-20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
build=""; reps=5; rounds=1; out=perf_out; quick=0; doc=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --quick) quick=1; reps=1; shift ;;
    --no-doc) doc=0; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "perf_report.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$build" ]; then
  if [ -x build/release/cq_bench ]; then build=build/release; else build=build/no_cuda; fi
fi
bin=$build/cq_bench
[ -x "$bin" ] && [ -x "$build/cqseg" ] || { echo "build first: cmake --preset no_cuda && cmake --build build/no_cuda -j2" >&2; exit 1; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export CQ_SHARED=${CQ_SHARED:-$(cd .. && pwd)/shared}
export CQ_BENCH_THREADS=${CQ_BENCH_THREADS:-2}
py=${CQ_PYTHON:-/usr/bin/python3}
[ -d "$CQ_SHARED/peers" ] || echo "perf_report: no $CQ_SHARED/peers (set CQ_SHARED): the shared peers will be missing" >&2
peers=0
if "$py" -c 'import torch, torchvision, numpy, cv2' 2>/dev/null; then peers=1; else echo "perf_report: $py lacks torch/torchvision/numpy/cv2: ours only" >&2; fi
mkdir -p "$out"
rm -rf "$out"/cq_*.json "$out"/peer_*.jsonl "$out"/peer_*.txt "$out"/round[0-9]*

# family: cq_bench filter | torch_micro.py --only regex (empty: no torch_micro peer)
families=(
  "gemm|BM_Sgemm|^sgemm/"
  "conv3x3|BM_Conv3x3|^conv3x3_"
  "conv1x1|BM_Conv1x1|^conv1x1_"
  "depthwise|BM_Depthwise|^dw3x3_"
  "bnact|BM_BatchNormAct|^bn_"
  "loss|BM_DcLoss|^dc_loss"
  "adam|BM_AdamUnet|^adam_unet"
  "dcin|BM_ColorTransfer|"
  "hist|BM_Hist8x8x8|"
  "gris|BM_Gris/16000|"
)
if [ $quick = 1 ]; then
  families=("gemm|BM_Sgemm/M:256/N:256|^sgemm/256/256/256/" "conv3x3|BM_Conv3x3_64x256/bwd:0|^conv3x3_fwd$"
            "adam|BM_AdamUnet|^adam_unet")
fi
# One round of family $1 (ours, then the peer) into folder $2.
run_family() {
  local f=$1 dir=$2 name filter only
  IFS='|' read -r name filter only <<<"$f"
  echo "== $name: cqseg ($filter)${3:+ $3}" >&2
  "$bin" --benchmark_filter="$filter" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
    --benchmark_out="$dir/cq_$name.json" --benchmark_out_format=json >/dev/null || echo "perf_report: cq_bench $name failed" >&2
  [ $peers = 1 ] || return 0
  if [ -n "$only" ]; then
    echo "== $name: peer" >&2
    "$py" bench/peers/torch_micro.py --reps $((reps * 2)) --only "$only" --threads "$CQ_BENCH_THREADS" \
      > "$dir/peer_$name.jsonl" || echo "perf_report: peer $name failed" >&2
  fi
  case $name in
    dcin) "$py" "$CQ_SHARED/peers/reinhard.py" $((reps * 4)) > "$dir/peer_$name.txt" || true ;;
    hist) (cd "$CQ_SHARED/peers" && "$py" hist_gris.py hist 200 calchist "$reps") > "$dir/peer_$name.txt" || true ;;
    gris) (cd "$CQ_SHARED/peers" && "$py" hist_gris.py gris 16000 gemm_inplace "$reps") > "$dir/peer_$name.txt" || true ;;
  esac
}
for f in "${families[@]}"; do
  if [ "$rounds" -le 1 ]; then
    run_family "$f" "$out"
  else  # the rounds of one family back to back: the machine's drift over minutes hits both sides of each round
    for r in $(seq "$rounds"); do mkdir -p "$out/round$r"; run_family "$f" "$out/round$r" "(round $r of $rounds)"; done
  fi
done

echo "== end to end: cqseg bench" >&2
e2e=(--reps "$reps" --threads "$CQ_BENCH_THREADS" --out "$out/e2e")
[ $quick = 1 ] && e2e+=(--quick)
[ $peers = 1 ] || e2e+=(--no-peer)
"$build/cqseg" bench "${e2e[@]}" > /dev/null

args=("$out")
[ $doc = 1 ] && [ $quick = 0 ] && args+=(--doc docs/PERFORMANCE.md)
"$py" tools/perf_tables.py "${args[@]}"
echo "perf_report: tables in $out/tables.md$([ $doc = 1 ] && [ $quick = 0 ] && echo ' and docs/PERFORMANCE.md')" >&2
