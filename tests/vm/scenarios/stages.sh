#!/bin/bash
# Stages scenario (runs inside the guest): nettrail-record's stages family on
# a real OVS bridge (kernel datapath, ovs-vswitchd, a conntrack action in the
# OpenFlow table). Internal port int0 holds 10.200.0.1 in namespace ns1 (the
# host stack; conntrack hooks are only registered in the datapath's namespace,
# so conntrack runs once, in OVS); veth1 (the "physical" port) leads to
# 10.200.0.2 in ns2. Pings go out (tx: ip_output -> internal port -> OVS ->
# veth1) and come in (rx: veth1 -> OVS -> internal port -> icmp_rcv), once per
# attach strategy (default = fentry, and
# --attach-strategy kprobe), with the datapath flows flushed before each run so
# the first packet of each takes the upcall. Recordings go to
# $NT_RESULTS/stages-<dir>-<strategy>.ntr; stages.check.sh ingests and checks them.
set -euo pipefail
# shellcheck disable=SC1091  # scenarios/lib/common.sh, copied to /nt/lib by run.sh
. /nt/lib/common.sh
trap 'echo "stages: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

PINGS=${NT_STAGES_PINGS:-10}

step "filesystems and modules"
mount_tracing
for m in crc32c_generic openvswitch nf_conntrack tun veth sch_tbf; do modprobe "$m" || true; done
fact kernel "$(uname -r)"
command -v nettrail-record >/dev/null || { echo "stages: nettrail-record missing (pass --bin)" >&2; exit 1; }

step "Open vSwitch with conntrack in the OpenFlow table"
rig_bridge
rig_host_port
rig_bridge_up
# IP through conntrack (the usual -trk -> ct(table=1) recirculation), the rest NORMAL.
ovs-ofctl --timeout=30 del-flows br0
ovs-ofctl --timeout=30 add-flow br0 "table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1)"
ovs-ofctl --timeout=30 add-flow br0 "table=0,priority=0,actions=NORMAL"
ovs-ofctl --timeout=30 add-flow br0 "table=1,priority=10,ip,ct_state=+trk+new,actions=ct(commit),NORMAL"
ovs-ofctl --timeout=30 add-flow br0 "table=1,priority=0,actions=NORMAL"
# Learn MACs and ARP both ways before any measurement. If forwarding through
# conntrack does not work on this kernel, fall back to NORMAL only (the check
# then does not expect the conntrack stage, and says so).
warmup() {
  ip netns exec ns2 ping -c 3 -i 0.2 -W 3 10.200.0.1 >"$R/warmup-rx.txt" 2>&1 &&
    ip netns exec ns1 ping -c 3 -i 0.2 -W 3 10.200.0.2 >"$R/warmup-tx.txt" 2>&1
}
if warmup; then
  fact ct_flow yes
else
  cat "$R/warmup-rx.txt" "$R/warmup-tx.txt" || true
  ovs-ofctl --timeout=30 dump-flows br0 >"$R/ofctl-flows-ct.txt" 2>&1 || true
  ovs-dpctl dump-flows >"$R/dpctl-flows-ct.txt" 2>&1 || true
  ovs-ofctl --timeout=30 del-flows br0
  ovs-ofctl --timeout=30 add-flow br0 "table=0,priority=0,actions=NORMAL"
  fact ct_flow no
  warmup || cat "$R/warmup-rx.txt" "$R/warmup-tx.txt" || true
fi
ip -n ns1 addr >"$R/ns1-addr.txt" 2>&1 || true
ovs-vsctl --timeout=30 show >"$R/vsctl-show.txt" 2>&1 || true

# record DIR STRATEGY SRC DST PINGER...: one recording around PINGS pings.
record() {
  local dir=$1 strategy=$2 src=$3 dst=$4
  shift 4
  local name="stages-$dir-$strategy"
  local args=(--direction "$dir" --phy-interface veth1 --protocol icmp --src-ip "$src" -i 500ms)
  [[ $strategy == default ]] || args+=(--attach-strategy "$strategy")
  # Datapath flows and their userspace state, so the first ping misses again.
  ovs-appctl --timeout=30 revalidator/purge
  step "record $name"
  start_recorder "$name" "${args[@]}"
  set +e
  "$@" ping -c "$PINGS" -i 0.2 -W 2 "$dst" >"$R/$name.ping.txt" 2>&1
  fact "${name}_ping_rc" "$?"
  set -e
  sleep 1
  stop_recorder "$name"
  ovs-dpctl dump-flows >"$R/$name.flows.txt" 2>&1 || true
}

record tx default 10.200.0.1 10.200.0.2 ip netns exec ns1
record rx default 10.200.0.2 10.200.0.1 ip netns exec ns2
record tx kprobe 10.200.0.1 10.200.0.2 ip netns exec ns1
record rx kprobe 10.200.0.2 10.200.0.1 ip netns exec ns2

step "throughput with and without recording"
# Needs no extra tools: an adaptive ping (-A, next request as soon as the reply is back) of fixed
# count, timed, without and with the recorder (tx, default strategy).
flood() {
  local t0 t1
  t0=$(cut -d' ' -f1 /proc/uptime)
  ip netns exec ns1 ping -A -q -c "${NT_STAGES_FLOOD:-2000}" -W 1 10.200.0.2 >/dev/null 2>&1 || true
  t1=$(cut -d' ' -f1 /proc/uptime)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
fact flood_without_s "$(flood)"
start_recorder stages-flood --direction tx --phy-interface veth1 --protocol icmp --src-ip 10.200.0.1 \
  --latency-us 1000000
fact flood_with_s "$(flood)"
stop_recorder stages-flood

stop_ovs
echo "stages: done"
