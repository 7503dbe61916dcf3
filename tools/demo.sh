#!/usr/bin/env bash
# Sets up, builds and runs the main job: `cqseg demo` on the built-in data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target cqseg
./build/release/cqseg demo "$@"
