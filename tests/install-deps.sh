#!/usr/bin/env bash
# Installs the Debian packages nettrail's build, demo and tests need. Runs
# apt-get only when something is missing, so it is cheap to call every time.
# Needs root (apt-get). Used by .ci/run, tests/run.sh and samples/demo.sh.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  capnproto libcapnp-dev libzstd-dev zstd libsqlite3-dev sqlite3 nettle-dev
  googletest libgtest-dev libbenchmark-dev
  nftables iptables iproute2 ethtool iputils-ping procps kmod
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (sudo) to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
