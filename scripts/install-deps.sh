#!/usr/bin/env bash
# Installs the Debian 12 packages edgetune builds against. Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git python3
      libtorch-dev libsentencepiece-dev sentencepiece libeigen3-dev libcli11-dev nlohmann-json3-dev
      libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libpcre2-dev
      libopenblas0-pthread)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
