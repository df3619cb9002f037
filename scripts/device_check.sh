#!/usr/bin/env bash
# The check on a CUDA machine: build with CUDA against that machine's libtorch, run the whole suite
# (CUDA kernels against their CPU references, the GPU forward against the CPU forward), the PEFT
# compatibility check and the GradCut GPU benchmark. Reports go to $OUT (default out/).
#
# From the repository root on the GPU machine, with the packages of ../shared/device/prepare.sh in
# .device/ and the shared material in ../shared or ./shared:
#   bash scripts/device_check.sh [--no-bench | --gradcut-only]
# --gradcut-only builds only the CLI and runs only the GradCut benchmark (its two target comparisons).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
bench=1 tests=1
[ "${1:-}" = "--no-bench" ] && bench=0
[ "${1:-}" = "--gradcut-only" ] && tests=0
# shellcheck disable=SC1091
[ -f .device/env.sh ] && source .device/env.sh >/dev/null
[ -e ../shared ] || { [ -d shared ] && ln -s "$PWD/shared" ../shared; }
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DEDGETUNE_CUDA=ON > "$OUT/configure.log" 2>&1 ||
  { tail -40 "$OUT/configure.log"; exit 1; }
grep -E "edgetune:" "$OUT/configure.log"
if [ "$tests" = 0 ]; then
  cmake --build build-cuda -j "$(nproc)" --target edgetune > "$OUT/build.log" 2>&1 || { grep -E "error" "$OUT/build.log" | head -40; exit 1; }
  stamp "built the CLI"
else
  cmake --build build-cuda -j "$(nproc)" > "$OUT/build.log" 2>&1 || { grep -E "error" "$OUT/build.log" | head -40; exit 1; }
  stamp "built"

  ctest --test-dir build-cuda -j 8 --output-on-failure -LE peft > "$OUT/ctest.log" 2>&1
  stamp "ctest exit $?"
  grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)" "$OUT/ctest.log"
  build-cuda/tests/test_ops > "$OUT/test_cuda.log" 2>&1
  stamp "test_ops exit $?: $(grep -cE '^\[       OK \]' "$OUT/test_cuda.log") passed, $(grep -cE '^\[  SKIPPED \]' "$OUT/test_cuda.log") skipped"
  build-cuda/tests/test_model --gtest_filter='Cuda*:*Gpu*:*Sdpa*' > "$OUT/test_model_gpu.log" 2>&1
  stamp "GPU model tests exit $?"; grep -E "^\[ +(OK|FAILED|SKIPPED) +\]|max abs" "$OUT/test_model_gpu.log" | head -30

  python3 tests/peft/check_peft.py --build build-cuda --shared ../shared > "$OUT/peft.log" 2>&1
  stamp "PEFT check exit $?"; tail -25 "$OUT/peft.log"
fi

if [ "$bench" = 1 ]; then
  if [ "$tests" = 1 ]; then
    for b in rmsnorm nf4 glu; do
      timeout 90 build-cuda/bench/bench_$b --benchmark_filter=Cuda --benchmark_min_time=0.05 > "$OUT/bench_$b.log" 2>&1
    done
    stamp "kernel benchmarks done"
  fi
  # GradCut on a pretrained Qwen2.5-0.5B-shape model (pretrained here from scratch for 1000 steps on
  # the demo's base corpus, then personalized to one user's habits for 300 steps): half of each type
  # kept with every survivor a dedicated rank-32 LoRA and adapter dropout 0.1, against all-matrix LoRA
  # at the recipe's rank 8, then against all-matrix LoRA with the same rank 32 and dropout; with the
  # full benchmark (no --gradcut-only) also the paper's defaults.
  gc=${GC_DIR:-/tmp/gradcut}
  common=(--qwen-shape --pretrain 1000 --base "$gc/base" --set train.max_steps=300 --set train.lr=4.0e-3)
  half=(--gradcut-set adapters.gradcut.keep_attention=0.5 --gradcut-set adapters.gradcut.keep_mlp=0.5
        --gradcut-set adapters.gradcut.threshold=-100 --gradcut-set adapters.gradcut.dedicated_rank=32
        --gradcut-set adapters.gradcut.dedicated_alpha=64)
  runs=(half-r32 half-r32-same-adapters)
  [ "$tests" = 1 ] && runs+=(default)
  for run in "${runs[@]}"; do
    case $run in
      half-r32) sets=("${half[@]}" --gradcut-set adapters.dropout=0.1) ;;
      half-r32-same-adapters) sets=("${half[@]}" --set adapters.rank=32 --set adapters.alpha=64 --set adapters.dropout=0.1) ;;
      default) sets=() ;;
    esac
    EDGETUNE=build-cuda/edgetune EVAL_LIMIT=30 timeout 400 bash bench/gradcut_vs_all.sh "${common[@]}" \
      --out "$gc/$run" "${sets[@]}" >> "$OUT/gradcut.log" 2>&1
    stamp "GradCut GPU benchmark ($run) exit $?"; cat "$gc/$run/report.md"
    cat "$gc/$run/report.json" >> "$OUT/gradcut_reports.json" 2>/dev/null
  done
fi
