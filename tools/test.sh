#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the default build (CUDA backend compiled when nvcc and cuDNN are
# present; GPU tests report SKIPPED without a device) and the CPU-only build (CQ_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
jobs=$(nproc)
# ctest runs tests in parallel and some use 2 threads: with more threads than cores, OpenMP's spinning workers
# starve each other (measured 3-5x slower), so tests wait passively.
export OMP_WAIT_POLICY=PASSIVE
for preset in release no_cuda; do
  echo "== build and test: preset $preset ==" >&2
  cfg=$(cmake --preset "$preset" 2>&1) || { echo "$cfg" >&2; exit 1; }
  echo "$cfg" | grep -E "cqseg:" >&2 || true
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs"
done
# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer (Debug, CPU only), every report fatal,
# then the short fuzz mode (docs/RELIABILITY.md). CQ_SKIP_SANITIZE=1 skips both (a quick local run).
if [ "${CQ_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== build and test: preset asan (ASan + UBSan) ==" >&2
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tools/ubsan.supp"
  ctest --preset asan -j "$jobs" --timeout 3000
  echo "== fuzz: ${CQ_FUZZ_RUNS:-100000} inputs per target (seeded mutation, ASan + UBSan) ==" >&2
  mkdir -p build/asan/fuzz-crashes
  ./build/asan/cq_fuzz all --runs "${CQ_FUZZ_RUNS:-100000}" --seed "${CQ_FUZZ_SEED:-1}" --crash-dir build/asan/fuzz-crashes
fi
