#!/usr/bin/env bash
# train.memory_budget on the GPU machine, in one call of under 8 minutes including the build:
#  1. builds only build-cuda/edgetune (CUDA kernels for the machine's GPU, no tests, no benchmarks);
#  2. bench/memory_budget.py --device cuda on the Qwen2.5-0.5B and Llama-3.2-1B shapes (random init,
#     QLoRA: NF4, LoRA r=16 on all seven projections, bf16; rows of exactly 2048 tokens):
#     - the budget runs: Llama with an effective batch of 8 x 2048 under train.memory_budget 4096,
#       Qwen under 2048, each checked to stay under its budget (the CUDA allocator's peak) with the
#       effective batch kept, with tokens/s and the settings the planner chose;
#     - a budget nothing fits (Llama, 512 MiB): refused, naming the smallest budget that fits, which
#       the planner then accepts;
#     - the estimate against the allocator peak at three settings per shape (micro-batch 1 and 2
#       without checkpointing, 4 with it), each within 15%;
#  3. then, while time is left, the same estimate rows for stories260K.
# Runs stop starting after DEADLINE_S seconds from the script's start (default 400), so the call
# ends in time even when the build is slow; what was skipped is listed in the table.
#
# On the GPU machine, from the repository root, with .device carried (../shared/device/prepare.sh;
# .device/shared holds models/stories260K, whose tokenizer the random shapes use):
#   bash scripts/device_memory_budget.sh
# Writes $OUT (default out/): memory_budget.md (the tables and every PASS/FAIL), RESULTS.md
# (bench/RESULTS.md with the GPU table spliced in), memory_budget_logs.tar.gz (recipes, logs,
# metrics, the plan --memory JSON, the build log). Exits non-zero when a check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
BUILD=${BUILD:-build-cuda}
DEADLINE_S=${DEADLINE_S:-400}
WORK=${WORK:-/tmp/edgetune-memory-budget}
mkdir -p "$OUT"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" >&2; }
# shellcheck disable=SC1091
[ -f .device/env.sh ] && source .device/env.sh >/dev/null
[ -e ../shared ] || { [ -d .device/shared ] && ln -s "$PWD/.device/shared" ../shared; }
[ -e ../shared ] || { [ -d shared ] && ln -s "$PWD/shared" ../shared; }
[ -d ../shared/models/stories260K ] || { echo "device_memory_budget.sh: ../shared/models/stories260K is missing (carry .device)" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader >&2 ||
  { echo "device_memory_budget.sh: no GPU visible" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK"

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEDGETUNE_CUDA=ON -DEDGETUNE_TESTS=OFF -DEDGETUNE_BENCH=OFF \
  > "$WORK/configure.log" 2>&1 || { tail -40 "$WORK/configure.log"; cp "$WORK/configure.log" "$OUT/"; exit 1; }
grep -E "edgetune:" "$WORK/configure.log" >&2
grep -q "libtorch with CUDA=ON" "$WORK/configure.log" ||
  { echo "device_memory_budget.sh: this libtorch has no CUDA (see configure.log)" >&2; cp "$WORK/configure.log" "$OUT/"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" --target edgetune > "$WORK/build.log" 2>&1 ||
  { grep -E "error|Error" "$WORK/build.log" | head -40; cp "$WORK/build.log" "$OUT/"; exit 1; }
stamp "built $BUILD/edgetune"

left=$(( DEADLINE_S - ($(date +%s) - t0) ))
python3 bench/memory_budget.py --edgetune "$BUILD/edgetune" --device cuda --suite cuda --only qwen,llama \
  --steps 3 --timeout 90 --deadline "$left" --shared ../shared --out "$WORK/gpu" \
  --splice bench/RESULTS.md --command "bash scripts/device_memory_budget.sh" 2>&1 | tee "$WORK/gpu.txt"
rc=${PIPESTATUS[0]}
stamp "Qwen and Llama shapes: exit $rc"

left=$(( DEADLINE_S + 30 - ($(date +%s) - t0) ))
rc_s=0
if [ "$left" -gt 20 ]; then
  python3 bench/memory_budget.py --edgetune "$BUILD/edgetune" --device cuda --suite cuda --only stories260K \
    --steps 3 --timeout 60 --deadline "$left" --shared ../shared --out "$WORK/gpu-stories" 2>&1 | tee "$WORK/gpu-stories.txt"
  rc_s=${PIPESTATUS[0]}
  stamp "stories260K: exit $rc_s"
else
  echo "stories260K: not run (out of time)" > "$WORK/gpu-stories.txt"
fi

{
  echo "# train.memory_budget on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%Y-%m-%d)"
  echo
  echo "## Qwen2.5-0.5B and Llama-3.2-1B shapes"
  echo
  cat "$WORK/gpu/table.md" 2>/dev/null || echo "(no table: see gpu.txt in the logs)"
  echo
  echo "## stories260K"
  echo
  cat "$WORK/gpu-stories/table.md" 2>/dev/null || echo "(not run)"
  echo
  echo "## Checks"
  echo
  echo '```'
  grep -hE "^(PASS|FAIL|SKIP) " "$WORK/gpu.txt" "$WORK/gpu-stories.txt"
  echo '```'
  echo
  echo "## The planner's choices (trainer logs)"
  echo
  echo '```'
  grep -h "memory budget" "$WORK"/gpu/*.train.log 2>/dev/null | cut -c1-600
  grep -h "train.memory_budget" "$WORK"/gpu/*impossible*.train.log 2>/dev/null | cut -c1-600
  echo '```'
} > "$OUT/memory_budget.md"
cp bench/RESULTS.md "$OUT/RESULTS.md"
# Logs, recipes, metrics and estimates (not the conversations, patches or checkpoints).
(cd "$WORK" && find . \( -name '*.log' -o -name '*.yaml' -o -name '*.txt' -o -name '*.json' -o -name 'metrics.jsonl' -o -name 'table.md' \) \
  -print0 | tar --null -czf "$OUT/memory_budget_logs.tar.gz" -T -)
cat "$OUT/memory_budget.md"
stamp "done: $OUT/memory_budget.md"
[ "$rc" -eq 0 ] && [ "$rc_s" -eq 0 ]
