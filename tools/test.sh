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
