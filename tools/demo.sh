#!/usr/bin/env bash
# The README's first command: sets up, builds and runs the main job, `cqseg demo` on the built-in synthetic data
# (train base and CQG models briefly, evaluate every DCIN setting on three domains, print the tables and a verdict,
# write demo_out/report.md). About 10 minutes on 2 CPU cores from a fresh clone: ~5 to build, ~4-5 for the demo.
# Extra arguments go to `cqseg demo` (e.g. --out DIR, --epochs N, --quick; see `cqseg demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

# Its own CPU-only Release build of the cqseg target alone, so the first run stays within minutes:
#  - the demo runs on the CPU, and nvcc compiling the CUDA kernels (when a toolkit is installed) would add many
#    minutes on 2 cores; tools/test.sh and the `release` preset build the CUDA backend when it is available;
#  - no tests or benchmarks (cq_tests alone is most of a full build).
BUILD=build/demo
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCQ_CUDA=OFF -DCQ_BUILD_TESTS=OFF -DCQ_BUILD_BENCH=OFF \
  >/dev/null
echo "demo.sh: building cqseg (Release, CPU) in $BUILD ..." >&2
cmake --build "$BUILD" -j "$(nproc)" --target cqseg

# OpenMP's worker threads spin while they wait; on a machine that is also doing other work they starve each other
# (measured 10x slower training on a loaded 2-core machine). Passive waiting costs little on an idle one.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
"./$BUILD/cqseg" demo "$@"   # writes ./demo_out unless --out is given
