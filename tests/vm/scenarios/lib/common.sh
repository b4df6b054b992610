# Helpers for guest scenarios (sourced by bash inside the VM as /nt/lib/common.sh).
# shellcheck shell=bash

R=${NT_RESULTS:-/results}
FACTS="$R/${NT_SCENARIO:-scenario}.env"

# step NAME: progress marker on the console and in the scenario log.
step() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }

# yes_no COMMAND...: "yes" if the command succeeds, else "no".
yes_no() { if "$@"; then echo yes; else echo no; fi; }

# fact KEY VALUE: one key=value line in $NT_RESULTS/<scenario>.env.
fact() {
  printf '%s=%s\n' "$1" "$2" >>"$FACTS"
  printf '   %s=%s\n' "$1" "$2"
}

# start_recorder NAME ARGS...: `nettrail-record --families stages ARGS` in the
# background, writing $R/NAME.ntr and $R/NAME.log, until it records (sets
# rec_pid); its start-up time (trial loads under TCG) as fact NAME_startup_s.
start_recorder() {
  local name=$1 t0 t1
  shift
  t0=$(cut -d' ' -f1 /proc/uptime)
  nettrail-record --families stages "$@" -o "$R/$name.ntr" --force >"$R/$name.log" 2>&1 &
  rec_pid=$!
  for _ in $(seq 1 600); do
    grep -q 'recording to' "$R/$name.log" && break
    kill -0 "$rec_pid" 2>/dev/null || break
    sleep 0.5
  done
  t1=$(cut -d' ' -f1 /proc/uptime)
  fact "${name}_startup_s" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
}
# stop_recorder NAME: SIGINT, exit status as fact NAME_rc.
stop_recorder() {
  set +e
  kill -INT "$rec_pid"
  wait "$rec_pid"
  fact "${1}_rc" "$?"
  set -e
  cat "$R/$1.log"
}

# mount_tracing: debugfs, tracefs, bpffs (idempotent).
# (busybox in the guest has no `mountpoint`; /proc/mounts says the same.)
mounted() { grep -qs " $1 " /proc/mounts; }
mount_tracing() {
  mounted /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
  mounted /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
  mounted /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

# Open vSwitch 3.1.0 (Debian bookworm) keeps its CPU count in count_cpu_cores()
# as a static that starts at 0 and is recomputed only once time_msec()
# (CLOCK_MONOTONIC, i.e. time since boot) is 10 s past the last update, which
# also starts at 0: until the machine has been up 10 s it returns 0. In per-cpu
# upcall dispatch (both kernels) ovs-vswitchd sizes its upcall handlers from
# that count; a datapath opened before 10 s gets no handler socket, the kernel
# is never given the per-CPU handler port ids, and when the count turns 2 the
# handler threads start but dpif-netlink creates no sockets for them. The
# kernel then finds port id 0 for every miss and counts it as lost: the bridge
# forwards nothing. The guest reaches start_ovs 6-8 s after boot when the host
# is idle, so ovs-vswitchd must not start before the clock passes 10 s (11 s:
# a second of margin). tests/vm/README.md, "Lost upcalls", has the evidence.
OVS_CLOCK_MIN_S=11

# uptime_s: seconds since boot (/proc/uptime is CLOCK_BOOTTIME, the same as
# CLOCK_MONOTONIC in a guest that never suspends).
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# wait_ovs_clock: sleep until the clock is past OVS_CLOCK_MIN_S (see above);
# the fact ovs_clock_wait_s says how long that took (0.00 when it was already).
wait_ovs_clock() {
  local t0 left
  t0=$(uptime_s)
  left=$(awk -v m="$OVS_CLOCK_MIN_S" -v t="$t0" 'BEGIN { d = m - t; printf "%.2f", (d > 0 ? d : 0) }')
  [[ $left == 0.00 ]] || sleep "$left"
  fact ovs_clock_wait_s "$left"
  fact ovs_start_uptime_s "$(uptime_s)"
}

# start_ovs: openvswitch module, a fresh database, ovsdb-server and ovs-vswitchd.
# Logs go to $NT_RESULTS/ovsdb-server.log and ovs-vswitchd.log (dpif_netlink
# at debug level in the file: a handful of lines, among them the upcall handler
# sockets and the per-CPU port ids given to the kernel).
start_ovs() {
  modprobe crc32c_generic 2>/dev/null || true
  modprobe openvswitch
  mkdir -p /etc/openvswitch /run/openvswitch /var/log/openvswitch
  rm -f /etc/openvswitch/conf.db
  ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
  ovsdb-server /etc/openvswitch/conf.db --remote=punix:/run/openvswitch/db.sock \
    --pidfile=/run/openvswitch/ovsdb-server.pid --detach --log-file="$R/ovsdb-server.log"
  ovs-vsctl --timeout=60 --no-wait init
  wait_ovs_clock
  ovs-vswitchd unix:/run/openvswitch/db.sock --pidfile=/run/openvswitch/ovs-vswitchd.pid \
    --detach --log-file="$R/ovs-vswitchd.log" -vdpif_netlink:file:dbg
}

# check_ovs_upcalls: after the first bridge exists, verify that upcalls have
# somewhere to go: ovs-vswitchd gave the kernel its per-CPU handler port ids
# ("Setting up handler PIDs for N cores", N > 0) and each of those ids is an
# open netlink socket (/proc/net/netlink). Facts: ovs_zero_handler_starts (how
# often ovs-vswitchd started with 0 handlers: the failure above),
# ovs_handler_cpus, ovs_handler_pids, ovs_handler_sockets. Fails the scenario
# with the reason if the kernel has no handler to deliver to.
check_ovs_upcalls() {
  local log="$R/ovs-vswitchd.log" i ncpu="" pids pid open=0 total=0
  for ((i = 0; i < 60; i++)); do
    ncpu=$(sed -n 's/.*dpif_netlink.*Setting up handler PIDs for \([0-9]*\) cores.*/\1/p' "$log" | tail -1)
    [[ -n $ncpu ]] && break
    sleep 0.5
  done
  fact ovs_zero_handler_starts "$(grep -c 'Overriding n-handler-threads to 0,' "$log" || true)"
  fact ovs_handler_cpus "${ncpu:-none}"
  # The handler sockets of the last (re)initialisation.
  pids=$(awk '/Dispatch mode\(per-cpu\): initializing/ { p = "" }
              /Dispatch mode\(per-cpu\): handler [0-9]+ has Netlink PID of/ { p = p " " $NF }
              END { print p }' "$log")
  pids=${pids# }
  for pid in $pids; do
    total=$((total + 1))
    awk -v p="$pid" '$2 == 16 && $3 == p { f = 1 } END { exit !f }' /proc/net/netlink && open=$((open + 1))
  done
  fact ovs_handler_pids "${pids// /,}"
  fact ovs_handler_sockets "$open/$total"
  if [[ -z $ncpu || $ncpu == 0 || $total == 0 || $open != "$total" ]]; then
    echo "check_ovs_upcalls: the kernel datapath has no upcall handler socket to deliver misses to" \
      "(handler ids for ${ncpu:-no} CPUs, $open of $total handler sockets open): every upcall would be lost" >&2
    return 1
  fi
}

# stop_ovs: stop both daemons (so their logs are flushed to the share).
stop_ovs() {
  ovs-appctl --timeout=30 -t /run/openvswitch/ovs-vswitchd.*.ctl exit 2>/dev/null ||
    kill "$(cat /run/openvswitch/ovs-vswitchd.pid 2>/dev/null)" 2>/dev/null || true
  ovs-appctl --timeout=30 -t /run/openvswitch/ovsdb-server.*.ctl exit 2>/dev/null ||
    kill "$(cat /run/openvswitch/ovsdb-server.pid 2>/dev/null)" 2>/dev/null || true
}

# rig_ns_port VETH NS ADDR: namespace NS whose eth0 (ADDR/24, lo up too) is
# the peer of VETH, a port of br0.
rig_ns_port() {
  ip netns add "$2"
  ip link add "$1" type veth peer name eth0 netns "$2"
  ovs-vsctl --timeout=60 add-port br0 "$1"
  ip link set "$1" up
  ip -n "$2" link set lo up
  ip -n "$2" addr add "$3/24" dev eth0
  ip -n "$2" link set eth0 up
}

# The topology of the stages, vmpath and vhost scenarios, built in this order:
# rig_bridge: Open vSwitch (start_ovs), bridge br0 with its upcall handlers
# checked, and veth1 as the physical port to namespace ns2 (eth0,
# 10.200.0.2/24).
rig_bridge() {
  start_ovs
  ovs-vsctl --timeout=120 add-br br0
  check_ovs_upcalls
  rig_ns_port veth1 ns2 10.200.0.2
}
# rig_host_port: internal port int0 in namespace ns1 (10.200.0.1/24), the
# host stack behind the bridge.
rig_host_port() {
  ovs-vsctl --timeout=60 add-port br0 int0 -- set interface int0 type=internal
  ip netns add ns1
  ip link set int0 netns ns1
  ip -n ns1 link set lo up
  ip -n ns1 addr add 10.200.0.1/24 dev int0
  ip -n ns1 link set int0 up
}
# rig_tap_port [OPTION...]: tap0 (`ip tuntap add ... mode tap OPTION...`), a
# port of br0 for the "VM".
rig_tap_port() {
  ip tuntap add dev tap0 mode tap "$@"
  ovs-vsctl --timeout=60 add-port br0 tap0
  ip link set tap0 up
}
# rig_bridge_up: br0 up, and a tbf qdisc on veth1 so the qdisc stages have
# something to time.
rig_bridge_up() {
  ip link set br0 up
  tc qdisc add dev veth1 root tbf rate 1gbit burst 64k latency 50ms
}
