#!/usr/bin/env bash
# Fuzzes every parser: builds the libFuzzer targets of fuzz/ into build-fuzz/ (clang, ASan +
# UBSan, its own build folder), seeds each corpus from real files (../shared, tests/golden, data/,
# recipes/) and generated ones (fuzz/make_seeds.cpp), and runs each target SECONDS (default 60).
# Prints one line per target: executions, corpus size, crashes, leaks, timeouts, out-of-memory.
# A finding is saved under build-fuzz/fuzz-artifacts/<target>/ (the target then restarts until its
# time is up); the exit status is 1 when there was any. Corpora grow across runs in
# build-fuzz/fuzz-corpus/. JOBS (default 2) caps the build's parallel jobs; FUZZ_TARGETS (a
# space-separated list) runs only those targets.
#   bash scripts/fuzz.sh 30         # a quick look
#   bash scripts/fuzz.sh 600        # ten minutes per target
#   FUZZ_TARGETS="patch checkpoint" bash scripts/fuzz.sh 600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
root=$(pwd)
shared=${ET_SHARED_DIR:-$root/../shared}
supp=$root/scripts/sanitize
build=build-fuzz
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Without OpenMP: clang's would be libomp beside libtorch's libgomp; the parsers need no threads.
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGETUNE_CUDA=OFF -DEDGETUNE_FUZZ=ON \
    -DEDGETUNE_TESTS=OFF -DEDGETUNE_BENCH=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=TRUE "${launcher[@]}" >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}" --target fuzz_all

all_targets="safetensors config tokenizer_json tokenizer_model gguf recipe trajectory chat_template patch etq checkpoint"
read -r -a targets <<< "${FUZZ_TARGETS:-$all_targets}"
seeds=$build/fuzz-seeds
rm -rf "$seeds"
"$build/fuzz/make_seeds" "$seeds" "$root" "$shared"

# Copies the real files a target starts from into its seed folder.
seed_real() {
  local t=$1 dir=$seeds/$1 f i
  mkdir -p "$dir"
  case $t in
    safetensors) for f in tests/golden/*/golden.safetensors; do cp "$f" "$dir/$(basename "$(dirname "$f")")-golden.safetensors"; done ;;
    config) for f in tests/golden/*/config.json "$shared"/models/*/config.json data/demo-base-config.json; do
        [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr '/' '_')"; done ;;
    tokenizer_json) for f in "$shared"/models/*/tokenizer.json; do [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr '/' '_')"; done ;;
    tokenizer_model) for f in "$shared"/models/*/tokenizer.model; do [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr '/' '_')"; done ;;
    recipe) cp recipes/*.yaml "$dir/" ;;
    trajectory|chat_template)
      i=0
      while IFS= read -r line; do
        i=$((i + 1))
        if [ "$t" = chat_template ]; then printf '%b%s' "\\x$(printf '%02x' $((i % 32)))" "$line" > "$dir/line-$i"
        else printf '%s' "$line" > "$dir/line-$i"; fi
      done < <(for f in data/stories-tools/train.jsonl data/stories-tools/eval.jsonl; do
                 [ -f "$f" ] && head -n 8 "$f"; done)
      # ReAct lines (the second form), written here.
      printf '%s' '{"question": "What is the weather in Paris?", "trajectory": "Thought: I need the weather.\nAction: get_weather\nAction Input: {\"city\": \"Paris\"}\nObservation: sunny, 21 C\nThought: I know it.\nFinal Answer: It is sunny and 21 C."}' > "$dir/react-1"
      printf '%s' '{"system": "You help.", "tools": [{"name": "add", "parameters": {"type": "object"}}], "input": "2+3?", "react": "Action: add\nAction Input: {\"a\": 2, \"b\": 3}\nObservation: 5\nFinal Answer: 5"}' > "$dir/react-2"
      if [ "$t" = chat_template ]; then for f in "$dir"/react-*; do { printf '\x0b'; cat "$f"; } > "$f.t"; mv "$f.t" "$f"; done; fi ;;
  esac
}

# The targets write their inputs under here (fuzz/fuzz_util.h), removed when each target is done.
work=$(if [ -d /dev/shm ]; then echo /dev/shm; else echo /tmp; fi)/edgetune-fuzz.$$
export EDGETUNE_FUZZ_WORK_DIR=$work
trap 'rm -rf "$work"' EXIT

status=0
printf '%-16s %12s %8s %8s %6s %9s %5s\n' target executions corpus crashes leaks timeouts ooms
for t in "${targets[@]}"; do
  seed_real "$t"
  corpus=$build/fuzz-corpus/$t
  artifacts=$build/fuzz-artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  cp -n "$seeds/$t"/* "$corpus/" 2>/dev/null || true
  execs=0 crashes=0 leaks=0 timeouts=0 ooms=0
  start=$(date +%s)
  log=$build/fuzz-$t.log
  : > "$log"
  while :; do
    left=$((seconds - ($(date +%s) - start)))
    [ "$left" -gt 0 ] || break
    set +e
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:suppressions=$supp/asan.supp} \
    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:suppressions=$supp/ubsan.supp} \
      "$build/fuzz/fuzz_$t" "$corpus" -max_total_time="$left" -timeout=20 -rss_limit_mb=4096 -max_len=262144 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" > "$log.run" 2>&1
    rc=$?
    set -e
    cat "$log.run" >> "$log"
    n=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log.run" | tail -n 1 | grep -o '[0-9]*$' || true)
    execs=$((execs + ${n:-0}))
    [ "$rc" -eq 0 ] && break
    if grep -q 'ERROR: LeakSanitizer' "$log.run"; then leaks=$((leaks + 1))
    elif grep -q 'ERROR: libFuzzer: timeout' "$log.run"; then timeouts=$((timeouts + 1))
    elif grep -q 'ERROR: libFuzzer: out-of-memory' "$log.run"; then ooms=$((ooms + 1))
    else crashes=$((crashes + 1)); fi
    status=1
    # A target that fails before running anything would loop: stop it.
    [ "${n:-0}" -gt 0 ] || { grep -m 3 'ERROR\|error' "$log.run" >&2 || true; break; }
  done
  rm -rf "$work"
  size=$(find "$corpus" -type f | wc -l)
  printf '%-16s %12d %8d %8d %6d %9d %5d\n' "$t" "$execs" "$size" "$crashes" "$leaks" "$timeouts" "$ooms"
done
exit $status
