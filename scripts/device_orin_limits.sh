#!/usr/bin/env bash
# The CUDA tests with a Jetson Orin's launch limits imposed on a larger GPU: every kernel launch is
# checked against compute capability 8.7's per-block limits and grids sized from the device get
# Orin's SM count (EDGETUNE_LAUNCH_LIMITS, see src/ops/common/launch_limits_cuda.h). Runs
# test_ops, test_quant, the GPU tests of test_model and test_train's GPU training test, once with
# the device's own limits and once per profile, and checks that the kernels' library holds sm_87
# and sm_90 code.
#
# On the GPU machine, from the repository root (the packages of ../shared/device/prepare.sh in
# .device/, the shared material in ../shared or ./shared):
#   bash scripts/device_orin_limits.sh [--profiles "device orin orin-nano"] [--no-build]
# Writes $OUT (default out/): orin_limits.md (a table: profile, binary, passed/failed/skipped) and
# one log per run; exits non-zero when a test fails or a profile did not take effect.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
BUILD=${BUILD:-build-cuda}
profiles="device orin orin-nano" build=1
while [ $# -gt 0 ]; do
  case $1 in
    --profiles) profiles=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "device_orin_limits.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
# shellcheck disable=SC1091
[ -f .device/env.sh ] && source .device/env.sh >/dev/null
[ -e ../shared ] || { [ -d shared ] && ln -s "$PWD/shared" ../shared; }
[ -e ../shared ] || { [ -d .device/shared ] && ln -s "$PWD/.device/shared" ../shared; }
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" >&2; }

if [ "$build" = 1 ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEDGETUNE_CUDA=ON > "$OUT/orin_configure.log" 2>&1 ||
    { tail -40 "$OUT/orin_configure.log"; exit 1; }
  grep -E "edgetune:" "$OUT/orin_configure.log" >&2
  cmake --build "$BUILD" -j "$(nproc)" --target test_ops test_quant test_model test_train > "$OUT/orin_build.log" 2>&1 ||
    { grep -E "error" "$OUT/orin_build.log" | head -40; exit 1; }
  stamp "built"
fi
device=$(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -1)
stamp "device: ${device:-unknown (nvidia-smi not found)}"

status=0
table=$OUT/orin_limits.md
{
  echo "CUDA tests with launch limits imposed (EDGETUNE_LAUNCH_LIMITS) on ${device:-?}, $(date -u +%Y-%m-%d)"
  echo
  echo "| profile | binary | passed | failed | skipped | exit |"
  echo "| --- | --- | ---: | ---: | ---: | ---: |"
} > "$table"

ctest --test-dir "$BUILD" -R '^cuda_architectures$' --output-on-failure > "$OUT/orin_archs.log" 2>&1
rc=$?
grep -E "code present|has no code" "$OUT/orin_archs.log" >&2
[ $rc -eq 0 ] || { stamp "FAILED: the kernels' library lacks an architecture (see $OUT/orin_archs.log)"; status=1; }

# run PROFILE NAME BINARY [gtest args...]
run() {
  local p=$1 name=$2 bin=$3; shift 3
  local log=$OUT/orin_${p}_${name}.log
  local env_p=$p
  [ "$p" = device ] && env_p=""
  EDGETUNE_LAUNCH_LIMITS=$env_p timeout 1200 "$BUILD/tests/$bin" --gtest_color=no "$@" > "$log" 2>&1
  local rc=$?
  local passed failed skipped
  passed=$(grep -cE '^\[       OK \]' "$log")
  skipped=$(grep -cE '^\[  SKIPPED \] [A-Za-z]' "$log")
  # FAILED lines repeat in gtest's summary: count each test once.
  failed=$(grep -E '^\[  FAILED  \] [A-Za-z]' "$log" | sed 's/ (.*//' | sort -u | wc -l)
  echo "| $p | $name | $passed | $failed | $skipped | $rc |" >> "$table"
  stamp "$p $name: exit $rc, $passed passed, $failed failed, $skipped skipped"
  [ $rc -eq 0 ] || { status=1; grep -E '^\[  FAILED  \]' "$log" | sort -u | head -20 >&2; }
  [ "$passed" -gt 0 ] || { stamp "FAILED: $p $name ran no test"; status=1; }
}

for p in $profiles; do
  run "$p" test_ops test_ops
  # The profile must have reached the launchers (the test prints the limits it saw).
  if [ "$p" != device ] && ! grep -q "launch limits ($p)" "$OUT/orin_${p}_test_ops.log"; then
    stamp "FAILED: profile $p did not take effect (no 'launch limits ($p)' in $OUT/orin_${p}_test_ops.log)"
    status=1
  fi
  grep -h "launch limits (" "$OUT/orin_${p}_test_ops.log" >&2
  run "$p" test_quant test_quant
  run "$p" test_model_gpu test_model --gtest_filter='Cuda*:*Gpu*:*Sdpa*'
  run "$p" test_train_gpu test_train --gtest_filter='*Gpu*:*Cuda*'
done
cat "$table"
stamp "done, exit $status"
exit $status
