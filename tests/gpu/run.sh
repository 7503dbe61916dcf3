#!/usr/bin/env bash
# One-shot GPU check for a lent GPU machine (issue #7): configure + build the CUDA release (lean: cq_tests,
# cq_gpu_bench, cqseg only), run the GPU tests (the CUDA parity harness and every Cuda* test), the GPU benchmarks
# (U-Net train step b2 256x256, inference 512x768, colour transfer GB/s vs HBM peak, histogram, GRIS N=16000) and
# the PyTorch peer on the same GPU when torch is importable, then print ONE summary (also to $OUT/gpu_summary.txt
# when $OUT is set). Budget: < 8 minutes on an H200 with 16 cores, build included; every step has a timeout.
# Without a GPU it says so and exits 0 without building.
# Usage: tests/gpu/run.sh [--jobs N] [--peak-gbs X] [--build-dir DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
jobs=$(nproc 2>/dev/null || echo 16)
peak=4800  # H200 HBM3e, GB/s
bdir=build/gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --peak-gbs) peak=$2; shift 2 ;;
    --build-dir) bdir=$2; shift 2 ;;
    *) echo "usage: tests/gpu/run.sh [--jobs N] [--peak-gbs X] [--build-dir DIR]" >&2; exit 2 ;;
  esac
done
export OMP_WAIT_POLICY=PASSIVE
t_start=$(date +%s)
summary=()
note() { summary+=("$*"); echo "[run.sh] $*"; }
finish() {
  local text
  text=$(printf '%s\n' "== cqseg GPU summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - t_start )) s) ==" "${summary[@]}")
  echo; echo "$text"
  if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && echo "$text" > "$OUT/gpu_summary.txt"; fi
  exit "${1:-0}"
}

# ---- 1. is there a GPU? ----
if ! command -v nvidia-smi >/dev/null 2>&1 || ! gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1) \
   || [ -z "$gpu" ]; then
  note "no GPU: ${gpu:-nvidia-smi not found}; nothing built or run (this script needs a CUDA device)"
  finish 0
fi
note "GPU: $gpu"
for tool in cmake ninja nvcc; do
  command -v "$tool" >/dev/null 2>&1 || [ "$tool" = nvcc -a -x /usr/local/cuda/bin/nvcc ] || {
    note "missing tool: $tool"; finish 1; }
done

# ---- 2. build (lean: no Google Benchmark target, only what runs below) ----
t=$(date +%s)
mkdir -p "$(dirname "$bdir")"
if ! timeout 60 cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCQ_CUDA=ON -DCQ_BUILD_BENCH=OFF \
     -DCMAKE_CUDA_ARCHITECTURES=90 > "$bdir.configure.log" 2>&1; then
  note "configure FAILED (see $bdir.configure.log):"; note "$(tail -5 "$bdir.configure.log")"; finish 1
fi
if ! timeout 360 cmake --build "$bdir" -j "$jobs" --target cq_tests cq_gpu_bench cqseg > "$bdir.build.log" 2>&1; then
  note "build FAILED or timed out after $(( $(date +%s) - t )) s (see $bdir.build.log):"
  note "$(grep -m5 -E 'error|FAILED' "$bdir.build.log")"; finish 1
fi
note "build: $(( $(date +%s) - t )) s with -j$jobs ($(grep -c 'Building' "$bdir.build.log") objects)"
note "cqseg info: $("$bdir/cqseg" info | tr '\n' ' ')"

# ---- 3. GPU tests ----
t=$(date +%s)
filter='*Cuda*:*BackendOps*:BackendModels*:DeviceOptions*'
timeout 150 "$bdir/cq_tests" --gtest_filter="$filter" --gtest_brief=1 > "$bdir.tests.log" 2>&1
rc=$?
passed=$(grep -oE '\[  PASSED  \] [0-9]+' "$bdir.tests.log" | grep -oE '[0-9]+$' || echo 0)
failed=$(grep -cE '^\[  FAILED  \] [A-Za-z]' "$bdir.tests.log")
skipped=$(grep -oE '\[  SKIPPED \] [0-9]+' "$bdir.tests.log" | grep -oE '[0-9]+$' || echo 0)
note "GPU tests ($filter): ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped, exit $rc, $(( $(date +%s) - t )) s"
if [ "${failed:-0}" != 0 ] || [ $rc -ne 0 ]; then
  while read -r l; do note "  $l"; done < <(grep -E '^\[  FAILED  \] [A-Za-z]' "$bdir.tests.log" | sort -u | head -30)
  grep -B2 -A6 -m6 'Failure' "$bdir.tests.log" | head -60 > "$bdir.failures.txt"
  [ -n "${OUT:-}" ] && mkdir -p "$OUT" && cp "$bdir.tests.log" "$OUT/gpu_tests.log"
fi

# ---- 4. GPU benchmarks ----
t=$(date +%s)
bench=$(timeout 120 "$bdir/cq_gpu_bench" --reps 10 --peak-gbs "$peak" 2>&1); rc=$?
while read -r l; do note "cqseg $l"; done <<< "$bench"
[ $rc -ne 0 ] && note "cq_gpu_bench exit $rc"
bench32=$(timeout 60 "$bdir/cq_gpu_bench" --reps 5 --peak-gbs "$peak" --precision tf32 --fast-nondeterministic 2>&1 \
  | grep -E '^unet_') && while read -r l; do note "cqseg(tf32,fast) $l"; done <<< "$bench32"
note "benchmarks: $(( $(date +%s) - t )) s"

# ---- 5. PyTorch peer on the same GPU ----
if command -v python3 >/dev/null 2>&1; then
  t=$(date +%s)
  peer=$(timeout 120 python3 tests/gpu/torch_peer.py --reps 10 2>&1 | tail -3)
  while read -r l; do note "$l"; done <<< "$peer"
  peer32=$(timeout 60 python3 tests/gpu/torch_peer.py --reps 5 --tf32 2>&1 | grep -E '^torch_unet')
  [ -n "$peer32" ] && while read -r l; do note "(tf32) $l"; done <<< "$peer32"
  # The issue's target: train step <= 1.1x the peer's.
  ours=$(grep -oE '^unet_train_step_b2_256x256 [0-9.]+' <<< "$bench" | awk '{print $2}')
  theirs=$(grep -oE '^torch_unet_train_step_b2_256x256 [0-9.]+' <<< "$peer" | awk '{print $2}')
  [ -n "$ours" ] && [ -n "$theirs" ] && note "train step ratio cqseg/torch (fp32): $(awk -v a="$ours" -v b="$theirs" 'BEGIN{printf "%.2f", a/b}') (target <= 1.1)"
  note "peer: $(( $(date +%s) - t )) s"
else
  note "PyTorch peer skipped: no python3"
fi
finish 0
