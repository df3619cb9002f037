#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite (CTest). Tests that need a CUDA
# device are built but skip themselves without one. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
echo "test.sh: build + tests took $(( $(date +%s) - start ))s" >&2
