#!/usr/bin/env bash
# Installs the host tools the VM rig needs (idempotent; safe to run on a fresh
# Debian bookworm machine as root). Open vSwitch is NOT installed as a host
# service: only openvswitch-common (which pulls the shared libraries OVS links
# against) is installed; ovs-vswitchd/ovs-vsctl/ovs-dpctl come from the
# openvswitch-switch .deb, which run.sh downloads and unpacks into its cache.
set -euo pipefail

# command -> package providing it
declare -A NEED=(
  [qemu-system-x86_64]=qemu-system-x86
  [cpio]=cpio
  [depmod]=kmod
  [modprobe]=kmod
  [ip]=iproute2
  [xz]=xz-utils
  [ldconfig]=libc-bin
  [timeout]=coreutils
  [ovsdb-tool]=openvswitch-common
)
# packages checked by path rather than by command
declare -A NEED_FILE=(
  [/bin/busybox]=busybox-static
  [/usr/share/seabios/bios-256k.bin]=seabios
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
for f in "${!NEED_FILE[@]}"; do
  [[ -e "$f" ]] || missing+=("${NEED_FILE[$f]}")
done
# busybox must be the static build: it runs inside the guest without libraries.
# (ldd fails on a static executable.)
if [[ -e /bin/busybox ]] && ldd /bin/busybox >/dev/null 2>&1; then
  missing+=(busybox-static)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "tests/vm/setup.sh: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi

mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "tests/vm/setup.sh: installing ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Other jobs may hold the dpkg lock; wait for it rather than failing.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
if ! apt-get "${apt_opts[@]}" install -y --no-install-recommends "${pkgs[@]}"; then
  apt-get "${apt_opts[@]}" update
  apt-get "${apt_opts[@]}" install -y --no-install-recommends "${pkgs[@]}"
fi
