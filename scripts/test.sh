#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite (CTest). Tests that need a CUDA
# device are built but skip themselves without one. Extra arguments go to ctest.
#
# --sanitize: the CPU suite under AddressSanitizer + UndefinedBehaviorSanitizer, built in its own
# folder (build-sanitize/, RelWithDebInfo, every library and test instrumented; the CLI tests run
# the instrumented build-sanitize/edgetune). Any report fails the test that caused it. The slow
# real-recipe run (label "slow") is left out: it exercises the code paths of the fast train tests
# for 150 steps, an hour under the sanitizers on two cores. scripts/sanitize/*.supp lists the
# reports suppressed, each a false positive inside libtorch explained there. JOBS caps the build.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
if [ "${1:-}" = "--sanitize" ]; then
  shift
  bash scripts/install-deps.sh
  launcher=()
  command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGETUNE_CUDA=OFF \
    -DEDGETUNE_SANITIZE=ON -DEDGETUNE_BENCH=OFF "${launcher[@]}" >/dev/null
  cmake --build build-sanitize -j "${JOBS:-2}"
  supp=$(pwd)/scripts/sanitize
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0:suppressions=$supp/asan.supp"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
  ctest --test-dir build-sanitize --output-on-failure -j "${JOBS:-2}" -LE slow "$@"
  echo "test.sh --sanitize: build + tests took $(( $(date +%s) - start ))s" >&2
  exit 0
fi
bash scripts/build.sh
# The tests' temporary folders go to memory (/dev/shm, when it has 4 GiB free and neither TMPDIR
# nor ET_KEEP_TEST_DIRS is set): the files are small, but every write is fsync'ed
# (core/file_io.h), and on a disk shared with other work those flushes took a quarter of the
# train and eval tests' time (71 s instead of 97 s for ctest -L "train|eval" -j2).
if [ -z "${TMPDIR:-}" ] && [ -z "${ET_KEEP_TEST_DIRS:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
   [ "$(df -Pk /dev/shm | awk 'NR == 2 {print int($4 / 1048576)}')" -ge 4 ]; then
  TMPDIR=$(mktemp -d /dev/shm/edgetune-tests.XXXXXX)
  export TMPDIR
  trap 'rm -rf "$TMPDIR"' EXIT
fi
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
echo "test.sh: build + tests took $(( $(date +%s) - start ))s" >&2
