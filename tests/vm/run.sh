#!/usr/bin/env bash
# Runs one scenario (tests/vm/scenarios/NAME.sh) inside a QEMU guest booted on
# Debian's stock kernel, with an initramfs built here: busybox, bash, the
# kernel's modules (openvswitch, vhost_net, tun, veth, conntrack, ...), Open
# vSwitch userspace, iproute2 and any --bin the caller passes. The guest writes
# its results into a virtio-9p share; scenarios/NAME.check.sh (required unless the
# scenario is declared check-less, like the benches) then runs on the host
# against those results. Exits with the scenario's status.
#
#   tests/vm/run.sh SCENARIO [--kernel 6.1|6.12] [--keep] [--out DIR]
#                   [--bin PATH]... [--add SRC:DEST]... [--timeout SECONDS]
#
# Environment: NT_VM_CACHE (default /var/cache/nettrail-vm), NT_VM_TIMEOUT,
# NT_VM_KERNEL_PKG (pin an exact linux-image package), NT_VM_MEM, NT_VM_SMP,
# NT_VM_EXTRA_MODULES (more module names for the initramfs), NT_VM_NO_9P=1
# (no 9p share: the guest prints its result files on the console instead),
# NT_VM_HANG_S (default 120) and NT_VM_BOOT_S (default 300): a guest whose
# heartbeat stops for that long (before the first one: from boot) is stopped
# as hung, exit 6. A guest kernel that panicked before /init started the
# scenario (an emulator fault, not the scenario's doing) exits 7. Either
# writes its reason to OUT/retry.txt.
# NT_VM_TCG_THREAD (default single, see the QEMU command below).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${NT_VM_CACHE:-/var/cache/nettrail-vm}
TIMEOUT=${NT_VM_TIMEOUT:-600}
MEM=${NT_VM_MEM:-2G}
SMP=${NT_VM_SMP:-2}
KERNEL=6.1
KEEP=0
OUT=""
SCENARIO=""
BINS=()
ADDS=()

# Exit codes besides the scenario's own status.
readonly EX_USAGE=2 EX_NOKERNEL=4 EX_RIG=5 EX_HUNG=6 EX_BOOT_PANIC=7 EX_TIMEOUT=124
HANG_S=${NT_VM_HANG_S:-120}
BOOT_S=${NT_VM_BOOT_S:-300}

# Modules the guest gets (with their dependencies). crc32c_generic first:
# libcrc32c asks the crypto API for crc32c at load time. nfnetlink,
# nf_conntrack_netlink and nfnetlink_cttimeout: ovs-vswitchd opens a
# NETLINK_NETFILTER socket for its conntrack calls (without them it logs
# "netlink_socket|ERR|fcntl: Protocol not supported").
MODULES=(crc32c_generic libcrc32c openvswitch vport-vxlan vport-geneve vhost_net tun veth
  nf_conntrack nf_nat nfnetlink nf_conntrack_netlink nfnetlink_cttimeout bridge 8021q sch_netem sch_htb sch_tbf
  virtio_pci 9pnet_virtio 9p)
# shellcheck disable=SC2206
MODULES+=(${NT_VM_EXTRA_MODULES:-})

log() { printf 'vm-rig: %s\n' "$*" >&2; }
die() { local rc=$1; shift; printf 'vm-rig: error: %s\n' "$*" >&2; exit "$rc"; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
  local s names=()
  for s in "$HERE"/scenarios/*.sh; do
    [[ $s == *.check.sh ]] || names+=("$(basename "$s" .sh)")
  done
  echo "Scenarios: ${names[*]}" >&2
  exit "$EX_USAGE"
}

while (($#)); do
  case $1 in
    --kernel) KERNEL=${2:?--kernel needs 6.1 or 6.12}; shift 2 ;;
    --kernel=*) KERNEL=${1#*=}; shift ;;
    --keep) KEEP=1; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --bin) BINS+=("${2:?--bin needs a path}"); shift 2 ;;
    --add) ADDS+=("${2:?--add needs SRC:DEST}"); shift 2 ;;
    --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "vm-rig: unknown option $1" >&2; usage ;;
    *) [[ -z $SCENARIO ]] || die "$EX_USAGE" "only one scenario per run (got '$SCENARIO' and '$1')"
       SCENARIO=$1; shift ;;
  esac
done
[[ -n $SCENARIO ]] || usage
SCENARIO_SH="$HERE/scenarios/$SCENARIO.sh"
[[ -f $SCENARIO_SH ]] || die "$EX_USAGE" "no scenario '$SCENARIO' ($SCENARIO_SH missing)"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "$EX_USAGE" "--timeout must be a number of seconds"
[[ $HANG_S =~ ^[0-9]+$ && $BOOT_S =~ ^[0-9]+$ ]] || die "$EX_USAGE" "NT_VM_HANG_S and NT_VM_BOOT_S must be numbers of seconds"
for b in "${BINS[@]}"; do
  [[ -f $b && -x $b ]] || die "$EX_USAGE" "--bin $b: not an executable file"
done
for a in "${ADDS[@]}"; do
  [[ $a == *:/* && -e ${a%%:*} ]] || die "$EX_USAGE" "--add $a: expected EXISTING_SRC:/absolute/dest"
done
[[ $(id -u) -eq 0 ]] || die "$EX_RIG" "run as root (apt-get download into the cache, depmod, 9p share owned by root)"

"$HERE/setup.sh" || die "$EX_RIG" "tests/vm/setup.sh failed to install the host tools"

mkdir -p "$CACHE/debs" "$CACHE/kernels" "$CACHE/initramfs" "$CACHE/ovs"

# ---------------------------------------------------------------- packages
APT_UPDATED=0
apt_update_once() {
  ((APT_UPDATED)) && return 0
  log "apt-get update"
  apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -qq update >&2 || return 1
  APT_UPDATED=1
}

# candidates PKG... -> "PKG VERSION" for each package apt can install (one
# apt-cache call: it is slow on a big package cache).
candidates() {
  (($#)) || return 0
  apt-cache policy "$@" 2>/dev/null |
    awk '/^[^ ]/ { sub(/:$/, ""); pkg = $0 } /^  Candidate:/ { if ($2 != "(none)") print pkg, $2 }'
}

# cached_deb PKG VERSION -> path of the cached .deb, empty if absent.
cached_deb() {
  local pkg=$1 ver=$2 f
  for f in "$CACHE/debs/${pkg}_"*.deb; do
    [[ -e $f ]] || continue
    if [[ $(dpkg-deb -f "$f" Version) == "$ver" ]]; then echo "$f"; return 0; fi
  done
}

# fetch_deb PKG [VERSION] -> path of the .deb of PKG at VERSION (default: the
# candidate version), downloaded once into the cache.
fetch_deb() {
  local pkg=$1 ver=${2:-} f tmp
  [[ -n $ver ]] || ver=$(candidates "$pkg" | awk '{ print $2 }')
  if [[ -z $ver ]]; then
    apt_update_once || true
    ver=$(candidates "$pkg" | awk '{ print $2 }')
  fi
  if [[ -z $ver ]]; then
    # Offline fallback: newest cached copy.
    f=$(find "$CACHE/debs" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -1)
    [[ -n $f ]] || return 1
    echo "$f"; return 0
  fi
  f=$(cached_deb "$pkg" "$ver")
  if [[ -z $f ]]; then
    log "downloading $pkg $ver"
    tmp=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
    chmod 755 "$tmp"
    # (apt warns that root downloads unsandboxed into a root-owned dir: drop that line.)
    if ! (cd "$tmp" && apt-get -o Acquire::Retries=3 -qq download "$pkg=$ver") 2> >(grep -v unsandboxed >&2) ||
       ! compgen -G "$tmp/*.deb" >/dev/null; then
      rm -rf "$tmp"; return 1
    fi
    mv "$tmp"/*.deb "$CACHE/debs/"
    rmdir "$tmp"
    f=$(cached_deb "$pkg" "$ver")
  fi
  [[ -n $f ]] || return 1
  echo "$f"
}

# The newest installable linux-image package of the series and the OVS
# packages, resolved with one apt-cache call (a regex for the kernel names).
case $KERNEL in
  6.1)  KRE='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
  6.12) KRE='^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64$' ;;
  *) die "$EX_USAGE" "--kernel must be 6.1 or 6.12 (got '$KERNEL')" ;;
esac
OVS_PKGS=(openvswitch-common openvswitch-switch)
declare -A CAND=()
resolve() {
  local p v
  CAND=()
  while read -r p v; do
    [[ -n $p ]] && CAND[$p]=$v
  done < <(candidates "${NT_VM_KERNEL_PKG:-$KRE}" "${OVS_PKGS[@]}")
}

T0=$(date +%s)
# Runs on one machine may overlap: everything that reads or writes the cache
# (download, unpack, base image, its pruning) runs under one lock, released
# once this run's initrd is assembled.
mkdir -p "$CACHE"
exec {CACHE_LOCK}>"$CACHE/.prepare.lock"
flock "$CACHE_LOCK"
pick_kernel() {
  if [[ -n ${NT_VM_KERNEL_PKG:-} ]]; then echo "$NT_VM_KERNEL_PKG"; return 0; fi
  printf '%s\n' "${!CAND[@]}" | grep -E "$KRE" | sort -V | tail -1 || true
}
resolve
KPKG=$(pick_kernel)
if [[ -z $KPKG || -z ${CAND[$KPKG]:-} ]]; then  # no or stale package lists
  apt_update_once || true
  resolve
  KPKG=$(pick_kernel)
fi
if [[ -z $KPKG ]]; then
  # Offline fallback: newest cached package of that series.
  KPKG=$(find "$CACHE/debs" -maxdepth 1 -name '*.deb' -printf '%f\n' | sed -n 's/_.*\.deb$//p' |
         grep -E "$KRE" | sort -V | tail -1 || true)
fi
[[ -n $KPKG ]] || die "$EX_NOKERNEL" "--kernel $KERNEL: no package matching $KRE is installable from the configured APT sources (apt-cache policy found no candidate version, even after apt-get update, and none is cached in $CACHE/debs). Debian ships 6.1 in bookworm/bookworm-security and 6.12 as linux-image-6.12.*+deb12-amd64 in bookworm-security (or bookworm-backports): add such a source or set NT_VM_KERNEL_PKG."
KDEB=$(fetch_deb "$KPKG" "${CAND[$KPKG]:-}") || die "$EX_NOKERNEL" "--kernel $KERNEL: could not download $KPKG (apt-get download failed; is the Debian archive reachable?)"
KVER_PKG=$(dpkg-deb -f "$KDEB" Version)
KROOT="$CACHE/kernels/${KPKG}_${KVER_PKG}"
if [[ ! -e $KROOT/.ready ]]; then
  log "unpacking $(basename "$KDEB")"
  rm -rf "$KROOT"; mkdir -p "$KROOT"
  dpkg-deb -x "$KDEB" "$KROOT"
  kv=$(ls "$KROOT/lib/modules")
  depmod -b "$KROOT" "$kv"
  touch "$KROOT/.ready"
fi
KREL=$(ls "$KROOT/lib/modules")
[[ $(wc -w <<<"$KREL") -eq 1 ]] || die "$EX_RIG" "expected one module tree in $KROOT/lib/modules, found: $KREL"
# Older packages of the same series are superseded: drop them from the cache.
while read -r old; do
  [[ $(basename "$old") == "$(basename "$KROOT")" || $old == "$KDEB" ]] && continue
  [[ $(basename "$old" | sed 's/_.*//') =~ $KRE ]] || continue
  log "pruning superseded $(basename "$old")"
  rm -rf "$old"
done < <([[ -n ${NT_VM_KERNEL_PKG:-} ]] ||  # a pinned package supersedes nothing
         find "$CACHE/kernels" "$CACHE/debs" -mindepth 1 -maxdepth 1 -name 'linux-image-*')
VMLINUZ="$KROOT/boot/vmlinuz-$KREL"
[[ -f $VMLINUZ ]] || die "$EX_RIG" "$VMLINUZ missing from $KDEB"

OVS_DIR=""
for p in "${OVS_PKGS[@]}"; do
  d=$(fetch_deb "$p" "${CAND[$p]:-}") || die "$EX_RIG" "could not download $p from the Debian archive"
  v=$(dpkg-deb -f "$d" Version)
  OVS_DIR="$CACHE/ovs/$v"
  if [[ ! -e $OVS_DIR/.$p ]]; then
    mkdir -p "$OVS_DIR"; dpkg-deb -x "$d" "$OVS_DIR"; touch "$OVS_DIR/.$p"
  fi
done
OVS_VER=$(basename "$OVS_DIR")
T_FETCH=$(date +%s)

# ---------------------------------------------------------------- initramfs
# copy_with_libs STAGE SRC DEST: copy an executable and every shared library
# ldd reports for it into the stage (libraries under /lib/x86_64-linux-gnu).
copy_with_libs() {
  local stage=$1 src=$2 dest=$3 lib
  install -D -m 0755 "$src" "$stage$dest"
  if ! ldd "$src" >/dev/null 2>&1; then return 0; fi  # static
  if ldd "$src" | grep -q 'not found'; then
    die "$EX_RIG" "$src needs libraries missing on this host: $(ldd "$src" | grep 'not found' | tr -s ' \t' ' ')"
  fi
  while read -r lib; do
    case $lib in
      */ld-linux*) install -D -m 0755 "$(readlink -f "$lib")" "$stage/lib64/$(basename "$lib")" ;;
      /*) [[ -e $stage/lib/x86_64-linux-gnu/$(basename "$lib") ]] ||
            install -D -m 0755 "$(readlink -f "$lib")" "$stage/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
    esac
  done < <(ldd "$src" | awk '/=> \// { print $3 } /^[ \t]*\/.*ld-linux/ { print $1 }')
}

# copy_module STAGE PATH: copy a module into the stage, decompressed (busybox
# modprobe and the kernel then need no decompressor).
copy_module() {
  local stage=$1 path=$2 rel dest
  rel=${path#"$KROOT"}
  dest="$stage${rel%.xz}"; dest=${dest%.zst}; dest=${dest%.gz}
  mkdir -p "$(dirname "$dest")"
  case $path in
    *.xz) xz -dc "$path" >"$dest" ;;
    *.zst) zstd -qdc "$path" >"$dest" ;;
    *.gz) gzip -dc "$path" >"$dest" ;;
    *) cp "$path" "$dest" ;;
  esac
}

build_base() {
  local stage=$1 m line p f
  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib/x86_64-linux-gnu,lib64,etc/openvswitch,proc,sys,dev,run,tmp,root,results,nt}
  mkdir -p "$stage"/usr/share/openvswitch "$stage"/var/log/openvswitch "$stage"/var/lib/openvswitch
  ln -s ../run "$stage/var/run"
  install -m 0755 /bin/busybox "$stage/bin/busybox"
  while read -r p; do
    [[ -e $stage/$p ]] || ln -s /bin/busybox "$stage/$p"
  done < <(/bin/busybox --list-full)
  # bash for the scenarios; iproute2 (netns, tc) replaces busybox's ip/tc.
  copy_with_libs "$stage" /bin/bash /bin/bash
  rm -f "$stage/sbin/ip" "$stage/bin/ip" "$stage/sbin/tc" "$stage/usr/sbin/tc"
  copy_with_libs "$stage" "$(command -v ip)" /sbin/ip
  copy_with_libs "$stage" "$(command -v tc 2>/dev/null || echo /sbin/tc)" /sbin/tc
  # Open vSwitch userspace from Debian's packages.
  copy_with_libs "$stage" "$OVS_DIR/usr/sbin/ovsdb-server" /usr/sbin/ovsdb-server
  copy_with_libs "$stage" "$OVS_DIR/usr/lib/openvswitch-switch/ovs-vswitchd" /usr/sbin/ovs-vswitchd
  for p in ovsdb-tool ovsdb-client ovs-appctl ovs-ofctl ovs-vsctl ovs-dpctl; do
    copy_with_libs "$stage" "$OVS_DIR/usr/bin/$p" "/usr/bin/$p"
  done
  install -m 0644 "$OVS_DIR/usr/share/openvswitch/vswitch.ovsschema" "$stage/usr/share/openvswitch/"
  # glibc loads libgcc_s at thread cancellation/exit.
  f=$(readlink -f /lib/x86_64-linux-gnu/libgcc_s.so.1)
  install -m 0644 "$f" "$stage/lib/x86_64-linux-gnu/libgcc_s.so.1"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
  printf 'root:x:0:\n' >"$stage/etc/group"
  printf '127.0.0.1 localhost\n' >"$stage/etc/hosts"
  printf 'passwd: files\ngroup: files\nhosts: files\n' >"$stage/etc/nsswitch.conf"
  printf '/lib/x86_64-linux-gnu\n/usr/local/lib\n' >"$stage/etc/ld.so.conf"
  ldconfig -r "$stage" 2>/dev/null || true
  # Kernel modules with their dependency closure, then modules.dep for the guest.
  local -a paths=()
  for m in "${MODULES[@]}"; do
    local out
    if ! out=$(modprobe -d "$KROOT" -S "$KREL" --show-depends "$m" 2>&1); then
      die "$EX_RIG" "module $m not found in $KREL: $out"
    fi
    while read -r line; do
      case $line in
        insmod\ *) p=${line#insmod }; p=${p%% *}; paths+=("$p") ;;
      esac
    done <<<"$out"
  done
  mapfile -t paths < <(printf '%s\n' "${paths[@]}" | sort -u)
  for p in "${paths[@]}"; do copy_module "$stage" "$p"; done
  for f in modules.builtin modules.builtin.modinfo modules.order; do
    [[ -e $KROOT/lib/modules/$KREL/$f ]] && cp "$KROOT/lib/modules/$KREL/$f" "$stage/lib/modules/$KREL/"
  done
  depmod -b "$stage" "$KREL"
}

cpio_of() { (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet); }

# The base image is cached per kernel, OVS version and rig definition.
BASE_KEY=$( { echo "$KREL $OVS_VER ${MODULES[*]}"; declare -f build_base copy_with_libs copy_module;
              sha256sum /bin/busybox /bin/bash "$(command -v ip)"; } | sha256sum | cut -c1-16)
BASE_CPIO="$CACHE/initramfs/base-$KREL-$BASE_KEY.cpio"
if [[ ! -s $BASE_CPIO ]]; then
  log "building base initramfs for $KREL (OVS $OVS_VER)"
  stage=$(mktemp -d "$CACHE/initramfs/.stage.XXXXXX")
  build_base "$stage"
  cpio_of "$stage" >"$BASE_CPIO.tmp"
  mv "$BASE_CPIO.tmp" "$BASE_CPIO"
  rm -rf "$stage"
  # Drop older base images of this kernel.
  find "$CACHE/initramfs" -maxdepth 1 -name "base-$KREL-*.cpio" ! -path "$BASE_CPIO" -delete
fi

WORK=$(mktemp -d /tmp/nettrail-vm.XXXXXX)
if [[ -z $OUT ]]; then OUT="$WORK/results"; fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
find "$OUT" -mindepth 1 -delete
RC=$EX_RIG
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  if ((KEEP)) || [[ $RC -ne 0 ]]; then
    log "kept $WORK (results in $OUT)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# Per-run overlay: /init, the scenario, the caller's binaries and files.
GUEST_TIMEOUT=$((TIMEOUT > 120 ? TIMEOUT - 90 : TIMEOUT * 3 / 4))
ov="$WORK/overlay"
mkdir -p "$ov/nt"
install -m 0755 "$HERE/lib/init.sh" "$ov/init"
install -m 0755 "$SCENARIO_SH" "$ov/nt/scenario.sh"
[[ -d $HERE/scenarios/lib ]] && cp -r "$HERE/scenarios/lib" "$ov/nt/lib"
for b in "${BINS[@]}"; do copy_with_libs "$ov" "$b" "/usr/local/bin/$(basename "$b")"; done
for a in "${ADDS[@]}"; do
  src=${a%%:*}; dest=${a#*:}
  mkdir -p "$ov$(dirname "$dest")"; cp -r "$src" "$ov$dest"
done
{
  printf 'NT_SCENARIO=%q\n' "$SCENARIO"
  printf 'NT_KERNEL_SERIES=%q\n' "$KERNEL"
  printf 'NT_KERNEL_PACKAGE=%q\n' "$KPKG=$KVER_PKG"
  printf 'NT_OVS_VERSION=%q\n' "$OVS_VER"
  printf 'NT_GUEST_TIMEOUT=%q\n' "$GUEST_TIMEOUT"
} >"$ov/nt/env"
cpio_of "$ov" >"$WORK/overlay.cpio"
cat "$BASE_CPIO" "$WORK/overlay.cpio" >"$WORK/initrd.cpio"
flock -u "$CACHE_LOCK"; exec {CACHE_LOCK}>&-
T_BUILD=$(date +%s)

log "booting $KPKG ($KVER_PKG, $KREL) for scenario '$SCENARIO' (timeout ${TIMEOUT}s)"
# tsc=unstable: with a TSC it trusts (6.12 under TCG), the kernel enables the
# sched_clock_stable static key at late init ("sched_clock: Marking stable",
# ~8 s), live-patching sched_clock_cpu() with int3 while the other vCPU runs
# it; under QEMU 7.2's TCG that vCPU once executed the stale int3 and the
# guest oopsed ("Oops: int3" in sched_clock_cpu, before /init). 6.1 finds
# the TSCs unsynchronized at boot and never flips that key; now neither does.
# thread=single: QEMU's multi-threaded TCG runs each vCPU in its own host
# thread, and a vCPU can then execute a stale translation of code another
# vCPU has just patched (text_poke_bp's int3, which the kernel uses for every
# static key and for the tracepoints and kprobes our programs attach to). One
# 6.12 guest oopsed that way in enqueue_timer 2 s into boot ("Oops: int3")
# despite the tsc=unstable guard above. One host thread that runs both vCPUs
# in turn sees every patch at once. NT_VM_TCG_THREAD=multi restores MTTCG.
qemu=(qemu-system-x86_64 -accel "tcg,thread=${NT_VM_TCG_THREAD:-single}" -cpu max -m "$MEM" -smp "$SMP" -nographic -no-reboot
  -nic none -kernel "$VMLINUZ" -initrd "$WORK/initrd.cpio"
  -append "console=ttyS0 panic=-1 oops=panic loglevel=4 tsc=unstable rdinit=/init")
if [[ ${NT_VM_NO_9P:-0} != 1 ]]; then
  qemu+=(-virtfs "local,path=$OUT,mount_tag=ntresults,security_model=none,id=ntresults")
fi
# watch_guest: stops QEMU when the guest's heartbeat (its uptime, rewritten
# every 10 s by /init into the share) has not changed for HANG_S seconds, or
# has not appeared BOOT_S seconds after QEMU started: a guest kernel that
# stopped (one 6.1 guest under TCG did, silently) then costs minutes, not the
# whole --timeout. Writes the reason to $WORK/hung.
watch_guest() {
  local since beat last="" now limit what pid
  since=$(date +%s)
  while sleep 5; do
    now=$(date +%s)
    beat=$(cat "$OUT/.heartbeat" 2>/dev/null) || beat=""
    if [[ -n $beat && $beat != "$last" ]]; then last=$beat; since=$now; fi
    if [[ -z $last ]]; then limit=$BOOT_S what="no heartbeat since QEMU started"
    else limit=$HANG_S what="no heartbeat since guest uptime ${last}s"; fi
    if ((now - since > limit)); then
      echo "$what (${limit}s)" >"$WORK/hung"
      pid=$(cat "$WORK/qemu.pid" 2>/dev/null) && kill -TERM "$pid" && kill -CONT "$pid"
      return 0
    fi
  done
}
# console_tail: the last lines the guest printed, for error messages.
console_tail() { tail -n 25 "$WORK/console.log" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\r//g' -e 's/^/  | /' >&2; }

set +e
watch_pid=""
if [[ ${NT_VM_NO_9P:-0} != 1 ]]; then
  watch_guest &
  watch_pid=$!
fi
timeout -k 10 "$TIMEOUT" "${qemu[@]}" -pidfile "$WORK/qemu.pid" </dev/null 2>&1 | tee "$WORK/console.log"
qrc=${PIPESTATUS[0]}
[[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null
set -e
cp "$WORK/console.log" "$OUT/console.log"
T_BOOT=$(date +%s)

if [[ -e $WORK/hung ]]; then
  RC=$EX_HUNG
  cp "$WORK/hung" "$OUT/retry.txt"
  console_tail
  die "$RC" "guest stopped responding after $((T_BOOT - T_BUILD))s: $(cat "$WORK/hung"); stopped it (console above and in $OUT/console.log)"
fi
if [[ $qrc -eq 124 || $qrc -eq 137 ]]; then
  RC=$EX_TIMEOUT
  console_tail
  die "$RC" "guest did not finish within ${TIMEOUT}s (console above and in $OUT/console.log)"
fi
status=""
if [[ -s $OUT/status ]]; then
  status=$(tr -dc '0-9' <"$OUT/status")
else
  # Fallback when 9p did not come up: the guest printed its files and status.
  status=$(sed -n 's/^NT-VM-STATUS: \([0-9]*\).*/\1/p' "$WORK/console.log" | tr -d '\r' | tail -1)
  awk -v out="$OUT" '
    /^NT-VM-FILE-BEGIN / { f = out "/" $2; sub(/\r$/, "", f); next }
    /^NT-VM-FILE-END/ { if (f) close(f); f = ""; next }
    f { sub(/\r$/, ""); print > f }' "$WORK/console.log"
fi
if [[ -z $status ]] && grep -q 'Kernel panic' "$WORK/console.log" && ! grep -q '^NT-VM: scenario ' "$WORK/console.log"; then
  RC=$EX_BOOT_PANIC
  tr -d '\r' <"$WORK/console.log" | grep -a -o -E '(Oops|BUG:|Kernel panic).*' | head -1 >"$OUT/retry.txt"
  console_tail
  die "$RC" "guest kernel panicked before the scenario started: $(cat "$OUT/retry.txt") — console: $OUT/console.log"
fi
if [[ -z $status ]]; then
  RC=$EX_RIG
  console_tail
  die "$RC" "guest reported no status (qemu exit $qrc; kernel panic or early failure?) — console: $OUT/console.log"
fi
log "guest scenario '$SCENARIO' exited $status"
RC=$status
# Scenarios that print figures and assert nothing (benches) are declared here; every other
# scenario must have an executable check, and a missing one is a failure, never a pass.
CHECKLESS_SCENARIOS=(stages_bench)
if [[ $RC -eq 0 ]]; then
  if [[ -x $HERE/scenarios/$SCENARIO.check.sh ]]; then
    if "$HERE/scenarios/$SCENARIO.check.sh" "$OUT"; then RC=0; else RC=1; fi
  elif [[ " ${CHECKLESS_SCENARIOS[*]} " != *" $SCENARIO "* ]]; then
    log "scenario '$SCENARIO' has no executable $SCENARIO.check.sh and is not declared check-less"
    RC=1
  fi
fi
log "timing: fetch $((T_FETCH - T0))s, initramfs $((T_BUILD - T_FETCH))s, boot+scenario $((T_BOOT - T_BUILD))s, total $((T_BOOT - T0))s"
{
  echo "fetch_s=$((T_FETCH - T0))"; echo "initramfs_s=$((T_BUILD - T_FETCH))"
  echo "boot_s=$((T_BOOT - T_BUILD))"; echo "kernel_package=$KPKG=$KVER_PKG"
} >"$OUT/timing.env"
if [[ $RC -eq 0 ]]; then log "PASS $SCENARIO on $KREL"; else log "FAIL $SCENARIO on $KREL (results: $OUT)"; fi
exit "$RC"
