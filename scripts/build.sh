#!/usr/bin/env bash
# Installs dependencies, configures and builds into build/ (the binary is build/edgetune).
# CUDA kernels are compiled too when nvcc is available (EDGETUNE_CUDA=ON|OFF overrides).
# EDGETUNE_TARGET=edgetune builds only the binary (default: everything, tests and benchmarks too).
# Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cuda=${EDGETUNE_CUDA:-}
if [ -z "$cuda" ]; then
  if command -v nvcc >/dev/null 2>&1; then cuda=ON; else cuda=OFF; fi
fi
gen=()
command -v ninja >/dev/null 2>&1 && [ ! -f build/Makefile ] && gen=(-G Ninja)
cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DEDGETUNE_CUDA="$cuda" "$@" >/dev/null
jobs=$(nproc)
# libtorch translation units need ~1.5 GB each: cap parallel jobs by memory.
mem_gb=$(awk '/MemAvailable/ {print int($2/1048576)}' /proc/meminfo)
[ "$mem_gb" -gt 0 ] && [ $((mem_gb / 2)) -lt "$jobs" ] && jobs=$((mem_gb / 2))
[ "$jobs" -ge 1 ] || jobs=1
target=()
[ -n "${EDGETUNE_TARGET:-}" ] && target=(--target "$EDGETUNE_TARGET")
cmake --build build -j "$jobs" "${target[@]}"
