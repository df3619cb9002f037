#!/usr/bin/env bash
# train.memory_budget and the peak-memory estimate against measured peaks (bench/memory_budget.py):
# QLoRA (NF4, r=16 on all seven projections) of stories260K and the Qwen2.5-0.5B and Llama-3.2-1B
# shapes (random init) at several micro-batch / checkpointing settings, estimate vs measured peak;
# then runs under a budget (GPU: the Llama shape with an effective batch of 8 x 2048 tokens under
# 4096 MiB, the Qwen shape under 2048 MiB; CPU: the Qwen shape, 4 x 256 under 3072 MiB), each
# checked to stay under it, with its tokens/s; and a budget nothing fits, which must be refused
# naming the smallest budget that fits. Every check prints PASS/FAIL; the table goes into
# bench/RESULTS.md (between its memory_budget markers) even when a check fails.
#
# On the GPU machine, from the repository root (the packages of ../shared/device/prepare.sh in
# .device/, ../shared beside the checkout or in .device/shared):
#   bash bench/memory_budget.sh                  # builds build-cuda/edgetune, every shape of the suite
# (scripts/device_memory_budget.sh: the Qwen and Llama shapes in one call of under 8 minutes)
# On a CPU machine (2 cores: about 40 min, the Qwen shape's runs dominate):
#   bash bench/memory_budget.sh --cpu
# Options: --only "qwen llama" (shapes), --steps N (default 3), --no-build.
# Writes $OUT (default out/): memory_budget_<device>/ (recipes, logs, table.md), RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
args="$*"
OUT=${OUT:-out}
device=cuda only="" steps=3 build=1
while [ $# -gt 0 ]; do
  case $1 in
    --cpu) device=cpu; shift ;;
    --only) only=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "memory_budget.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
# shellcheck disable=SC1091
[ -f .device/env.sh ] && source .device/env.sh >/dev/null
[ -e ../shared ] || { [ -d .device/shared ] && ln -s "$PWD/.device/shared" ../shared; }
[ -e ../shared ] || { [ -d shared ] && ln -s "$PWD/shared" ../shared; }
[ -d ../shared/models/stories260K ] || { echo "memory_budget.sh: ../shared/models/stories260K is missing" >&2; exit 1; }
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" >&2; }

if [ "$device" = cuda ]; then BUILD=${BUILD:-build-cuda}; cuda=ON; else BUILD=${BUILD:-build}; cuda=OFF; fi
if [ "$build" = 1 ]; then
  launcher=()
  command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  jobs=$(nproc)
  [ "$device" = cpu ] && [ "$jobs" -gt 2 ] && jobs=2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEDGETUNE_CUDA=$cuda "${launcher[@]}" > "$OUT/memory_configure.log" 2>&1 ||
    { tail -30 "$OUT/memory_configure.log"; exit 1; }
  cmake --build "$BUILD" -j "$jobs" --target edgetune > "$OUT/memory_build.log" 2>&1 ||
    { grep -E "error" "$OUT/memory_build.log" | head -40; exit 1; }
  stamp "built $BUILD/edgetune"
fi
[ -x "$BUILD/edgetune" ] || { echo "memory_budget.sh: $BUILD/edgetune is missing" >&2; exit 1; }
if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >&2 || { echo "memory_budget.sh: no GPU visible" >&2; exit 1; }
fi

extra=()
[ -n "$only" ] && extra+=(--only "${only// /,}")
python3 bench/memory_budget.py --edgetune "$BUILD/edgetune" --device "$device" --steps "$steps" \
  --shared ../shared --out "$OUT/memory_budget_$device" --splice bench/RESULTS.md \
  --command "bash bench/memory_budget.sh $args" "${extra[@]}"
rc=$?
cp bench/RESULTS.md "$OUT/RESULTS.md"
stamp "done, exit $rc (table in $OUT/memory_budget_$device/table.md, also in bench/RESULTS.md)"
exit $rc
