#!/usr/bin/env bash
# Cross-compiles the CPU build for 64-bit Arm Linux (aarch64) on a Debian 12 x86-64 machine and runs
# the tokenizer, model, quant, adapt, data, train and export tests under qemu-user.
#
#   bash scripts/build-aarch64.sh            # installs what is missing, builds, runs the tests
#   bash scripts/build-aarch64.sh --no-test  # builds only
#
# What it does, each step skipped when already done (the script is safe to run again):
#   1. host packages: crossbuild-essential-arm64 (the aarch64-linux-gnu gcc), qemu-user-static,
#      cmake, ninja, ccache, file;
#   2. a sysroot of Debian 12's arm64 packages in build-aarch64-sysroot/ (or $EDGETUNE_SYSROOT):
#      libtorch-dev and the other -dev packages with every dependency, resolved and downloaded by
#      apt in a private state folder (the machine's dpkg database and sources are not touched: no
#      multiarch) and unpacked with dpkg-deb; the BLAS/LAPACK alternatives that a package's
#      postinst would set are linked by hand;
#   3. cmake with cmake/aarch64-linux-gnu.cmake into build-aarch64/, building only the CLI and the
#      listed test binaries (JOBS, default 2; ccache when installed);
#   4. each test binary through qemu-aarch64-static (ctest works too: the toolchain file sets qemu
#      as the emulator).
# Environment: JOBS (parallel compile jobs), EDGETUNE_SYSROOT, BUILD_DIR (default build-aarch64),
# CTEST_JOBS (test binaries run at once, default 2).
#
# Time on a 2-core x86-64 machine: the sysroot ~5 min (about 340 MB of packages), the build ~40 min
# from scratch (10 min with a warm ccache), the tests under emulation about an hour: test_train's
# training runs on the real stories260K take ~55 min (run it alone with a --gtest_filter to check
# one suite), the other six binaries ~6 min.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SYSROOT=${EDGETUNE_SYSROOT:-$root/build-aarch64-sysroot}
BUILD=${BUILD_DIR:-build-aarch64}
JOBS=${JOBS:-2}
CTEST_JOBS=${CTEST_JOBS:-2}
run_tests=1
[ "${1:-}" = "--no-test" ] && run_tests=0
t0=$(date +%s)
stamp() { echo "build-aarch64: [$(( $(date +%s) - t0 ))s] $*" >&2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# --- 1. host packages ------------------------------------------------------------------------
host_pkgs=(crossbuild-essential-arm64 qemu-user-static cmake ninja-build pkg-config ccache file dpkg-dev)
missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  stamp "installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. the arm64 sysroot ----------------------------------------------------------------------
arm_pkgs=(libc6-dev libstdc++-12-dev libtorch-dev nlohmann-json3-dev libyaml-cpp-dev libcli11-dev
          libpcre2-dev libgtest-dev libgmock-dev libopenblas0-pthread)
want="${arm_pkgs[*]}"
done_file=$SYSROOT/.edgetune-sysroot
if [ -f "$done_file" ] && [ "$(cat "$done_file")" = "$want" ]; then
  stamp "sysroot $SYSROOT is ready"
else
  stamp "making the arm64 sysroot in $SYSROOT"
  apt_dir=$SYSROOT/.apt
  mkdir -p "$apt_dir/dpkg" "$apt_dir/cache/archives/partial" "$apt_dir/state/lists/partial" \
           "$apt_dir/etc/apt/sources.list.d" "$apt_dir/etc/apt/apt.conf.d" "$apt_dir/etc/apt/preferences.d"
  : > "$apt_dir/dpkg/status"  # an empty database: apt resolves every dependency, essential ones too
  # The machine's Debian sources (deb.debian.org serves arm64 from the same suites).
  [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$apt_dir/etc/apt/sources.list"
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    grep -qE "debian\.org|debian-security" "$f" && cp "$f" "$apt_dir/etc/apt/sources.list.d/"
  done
  [ -s "$apt_dir/etc/apt/sources.list" ] || [ -n "$(ls -A "$apt_dir/etc/apt/sources.list.d")" ] ||
    { echo "build-aarch64: no Debian apt sources found in /etc/apt" >&2; exit 1; }
  apt_opts=(-o "Dir::State=$apt_dir/state" -o "Dir::State::status=$apt_dir/dpkg/status"
            -o "Dir::State::Lists=$apt_dir/state/lists" -o "Dir::Cache=$apt_dir/cache"
            -o "Dir::Etc=$apt_dir/etc/apt" -o "Dir::Etc::Trusted=/etc/apt/trusted.gpg"
            -o "Dir::Etc::TrustedParts=/etc/apt/trusted.gpg.d" -o "APT::Architecture=arm64"
            -o "APT::Architectures::=arm64" -o "Debug::NoLocking=1" -o "Acquire::Languages=none"
            -o "APT::Install-Recommends=false")
  apt-get "${apt_opts[@]}" update -qq
  apt-get "${apt_opts[@]}" autoclean -qq  # drops downloads that newer versions have replaced
  # The closure apt resolves (name=version), then only those files are unpacked.
  apt-get "${apt_opts[@]}" install -s "${arm_pkgs[@]}" | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' \
    | sed 's/:arm64=/=/' | sort > "$apt_dir/closure.txt"
  [ -s "$apt_dir/closure.txt" ] || { echo "build-aarch64: apt resolved no packages" >&2; exit 1; }
  apt-get "${apt_opts[@]}" install -y -qq --download-only "${arm_pkgs[@]}" >/dev/null
  n=0
  for deb in "$apt_dir"/cache/archives/*.deb; do
    id=$(dpkg-deb -f "$deb" Package Version | awk '/^Package:/ {p=$2} /^Version:/ {v=$2} END {print p "=" v}')
    grep -qxF "$id" "$apt_dir/closure.txt" || continue
    dpkg-deb -x "$deb" "$SYSROOT"
    n=$((n + 1))
  done
  [ "$n" -eq "$(wc -l < "$apt_dir/closure.txt")" ] ||
    { echo "build-aarch64: unpacked $n of $(wc -l < "$apt_dir/closure.txt") packages" >&2; exit 1; }
  stamp "unpacked $n packages"
  # Absolute symlinks inside packages would point into the host: point them into the sysroot.
  find "$SYSROOT/usr" "$SYSROOT/lib" -type l -lname '/*' 2>/dev/null | while read -r l; do
    target=$(readlink "$l")
    [ -e "$SYSROOT$target" ] && ln -sfn "$SYSROOT$target" "$l"
  done
  echo "$want" > "$done_file"
  stamp "sysroot ready"
fi

# What update-alternatives does in libopenblas0-pthread's postinst (libtorch links libblas.so.3 and
# liblapack.so.3, which need libopenblas.so.0 beside them).
lib=$SYSROOT/usr/lib/aarch64-linux-gnu
for so in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  [ -e "$lib/openblas-pthread/$so" ] || { echo "build-aarch64: $lib/openblas-pthread/$so missing" >&2; exit 1; }
  ln -sfn "openblas-pthread/$so" "$lib/$so"
done

# --- 3. build ------------------------------------------------------------------------------------
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
export EDGETUNE_SYSROOT=$SYSROOT
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
  -DEDGETUNE_CUDA=OFF -DEDGETUNE_BENCH=OFF "${launcher[@]}" > "$BUILD.configure.log" 2>&1 ||
  { tail -30 "$BUILD.configure.log"; exit 1; }
layers=(tokenize model quant adapt data train export)
targets=(edgetune)
for l in "${layers[@]}"; do targets+=("test_$l"); done
stamp "building ${targets[*]} with -j$JOBS"
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"
file "$BUILD/edgetune"
file "$BUILD/edgetune" | grep -q "ARM aarch64" || { echo "build-aarch64: $BUILD/edgetune is not an aarch64 binary" >&2; exit 1; }
stamp "built"
[ "$run_tests" = 1 ] || exit 0

# --- 4. tests under qemu-user ------------------------------------------------------------------
# Each test binary runs once, whole, through qemu (one libtorch start-up per binary rather than one
# per test as ctest would do); CTEST_JOBS binaries at a time.
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64)
"$qemu" -L "$SYSROOT" "$BUILD/edgetune" --version >&2
stamp "running the ${layers[*]} tests under $(basename "$qemu")"
logs=$BUILD/test-logs
mkdir -p "$logs"
run_one() {
  local l=$1 s=$(date +%s) rc=0
  "$qemu" -L "$SYSROOT" "$BUILD/tests/test_$l" --gtest_color=no > "$logs/test_$l.log" 2>&1 || rc=$?
  echo "$rc" > "$logs/test_$l.rc"
  echo "build-aarch64: test_$l exit $rc in $(( $(date +%s) - s ))s: $(grep -E '^\[  PASSED  \]|^\[  FAILED  \] [0-9]|^\[  SKIPPED \] [0-9]' "$logs/test_$l.log" | tr '\n' ' ')" >&2
}
export -f run_one
export qemu SYSROOT BUILD logs
printf '%s\n' "${layers[@]}" | xargs -P "$CTEST_JOBS" -I{} bash -c 'run_one {}'
failed=()
for l in "${layers[@]}"; do
  [ "$(cat "$logs/test_$l.rc" 2>/dev/null)" = 0 ] || failed+=("test_$l")
done
if [ ${#failed[@]} -gt 0 ]; then
  for f in "${failed[@]}"; do grep -E "^\[  FAILED  \]" "$logs/$f.log" | head -20 >&2; done
  stamp "FAILED: ${failed[*]} (logs in $logs)"
  exit 1
fi
stamp "all ${#layers[@]} test binaries passed under emulation (logs in $logs)"
