#!/bin/bash
# vhost scenario (runs inside the guest): the stages family's --vm-interface
# paths when the VM's NIC is served by vhost-net, as with QEMU's vhost=on.
#
# No nested VM runs under TCG, so `nt_rignet vhost-vm` (tests/vm/tools, pass
# it with --bin) plays a virtio-net guest: it opens tap0 (a port of br0) with
# IFF_VNET_HDR, sets up /dev/vhost-net (owner, features, memory table, rx and
# tx virtqueues, the tap as backend) and answers ARP and ICMP echo for
# 10.200.0.3 through the virtqueues. The frames themselves are moved by the
# vhost worker thread (comm vhost-PID of nt_rignet):
#   rx: veth1 netif_receive_skb -> OVS -> tun_net_xmit on tap0 (queued in the
#       tap's ring) -> vhost handle_rx -> tun_recvmsg -> rx virtqueue
#   tx: tx virtqueue -> vhost handle_tx -> tun_sendmsg -> netif_receive_skb on
#       tap0 -> OVS -> veth1 qdisc -> net_dev_xmit
# Pings from ns2 (10.200.0.2, behind veth1) to the "VM", one recording per
# direction with --stage-stacks (the stack says which thread and kernel path
# ran each stage). Two VM transmit variants: the tap's default unlimited
# sndbuf, where vhost batches frames as XDP buffers (tun_sendmsg ->
# tun_xdp_one), and a limited sndbuf (--sndbuf), where vhost sends them one by
# one (tun_sendmsg -> tun_get_user); with the batching tap also a burst of
# NT_VHOST_BURST (32) echo requests back to back, so that the VM answers
# several in one kick and vhost batches them. During each tx recording the
# net:netif_receive_skb tracepoint on tap0 also goes to the trace buffer, whose
# lines name the task that ran it. Recordings: $NT_RESULTS/vhost-{rx,tx,
# tx-burst,tx-single}.ntr; vhost.check.sh ingests and checks them.
set -euo pipefail
# shellcheck disable=SC1091  # scenarios/lib/common.sh, copied to /nt/lib by run.sh
. /nt/lib/common.sh
trap 'echo "vhost: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

PINGS=${NT_STAGES_PINGS:-10}
BURST=${NT_VHOST_BURST:-32}
VM_IP=10.200.0.3
T=/sys/kernel/tracing

step "filesystems and modules"
mount_tracing
for m in crc32c_generic openvswitch vhost_net tun veth sch_tbf; do modprobe "$m" || true; done
fact kernel "$(uname -r)"
fact dev_vhost_net "$(yes_no test -c /dev/vhost-net)"
fact vhost_zcopytx "$(cat /sys/module/vhost_net/parameters/experimental_zcopytx 2>/dev/null || echo unknown)"
for b in nettrail-record nt_rignet; do
  command -v "$b" >/dev/null || { echo "vhost: $b missing (pass --bin)" >&2; exit 1; }
done

step "Open vSwitch: veth1 to ns2, tap0 to the vhost VM"
rig_bridge
rig_tap_port vnet_hdr
rig_bridge_up

# start_vm NAME [--sndbuf BYTES]: the vhost "VM" in the background (sets
# vm_pid), its log in $R/NAME.log, fact NAME_attached; then a warm-up ping so
# ARP and the datapath flows are in place before recording.
start_vm() {
  local name=$1
  shift
  nt_rignet vhost-vm tap0 "$VM_IP" 3600 "$@" >"$R/$name.log" 2>&1 &
  vm_pid=$!
  for _ in $(seq 1 100); do grep -q attached "$R/$name.log" && break; sleep 0.1; done
  fact "${name}_attached" "$(yes_no grep -q attached "$R/$name.log")"
  fact "${name}_pid" "$vm_pid"
  fact "${name}_sndbuf" "$(sed -n 's/.* sndbuf \([0-9]*\).*/\1/p' "$R/$name.log")"
  fact "${name}_features" "$(sed -n 's/.* features \(0x[0-9a-f]*\).*/\1/p' "$R/$name.log")"
  # The worker, comm vhost-PID: a thread of nt_rignet (vhost_task, 6.4+) or a
  # kernel thread (up to 6.3).
  local c worker=""
  for c in /proc/"$vm_pid"/task/*/comm; do
    [[ $(cat "$c" 2>/dev/null) == "vhost-$vm_pid" ]] && worker="thread-of-nt_rignet:$(basename "$(dirname "$c")")"
  done
  if [[ -z $worker ]]; then
    for c in /proc/[0-9]*/comm; do
      [[ $(cat "$c" 2>/dev/null) == "vhost-$vm_pid" ]] && worker="kernel-thread:$(basename "$(dirname "$c")")"
    done
  fi
  fact "${name}_worker" "${worker:-none}"
  ip netns exec ns2 ping -c 3 -i 0.2 -W 3 "$VM_IP" >"$R/$name.warmup.txt" 2>&1 || cat "$R/$name.warmup.txt"
}
# stop_vm NAME: SIGTERM, its summary line as facts.
stop_vm() {
  kill -TERM "$vm_pid"
  wait "$vm_pid" || true
  cat "$R/$1.log"
  fact "${1}_echo_replies" "$(sed -n 's/.*echo_replies \([0-9]*\).*/\1/p' "$R/$1.log")"
  fact "${1}_tx_ring_full" "$(sed -n 's/.*tx_ring_full \([0-9]*\).*/\1/p' "$R/$1.log")"
  fact "${1}_max_tx_per_kick" "$(sed -n 's/.*max_tx_per_kick \([0-9]*\).*/\1/p' "$R/$1.log")"
}

# trace_tap0 on|off NAME: net:netif_receive_skb on tap0 into the trace buffer;
# "off" saves it as $R/NAME.trace.txt (each line names the task: comm-tid).
trace_tap0() {
  if [[ $1 == on ]]; then
    echo 0 >"$T/tracing_on"
    echo >"$T/trace"
    echo 'name == "tap0"' >"$T/events/net/netif_receive_skb/filter"
    echo 1 >"$T/events/net/netif_receive_skb/enable"
    echo 1 >"$T/tracing_on"
  else
    echo 0 >"$T/events/net/netif_receive_skb/enable"
    grep 'netif_receive_skb:' "$T/trace" >"$R/$2.trace.txt" || true
  fi
}

# record NAME DIR SRC [burst]: one recording of PINGS pings ns2 -> VM, or
# with "burst" of one echo request then BURST back to back (nt_rignet
# ping-burst; fact NAME_sent).
record() {
  local name=$1 dir=$2 src=$3 traffic=${4:-ping}
  step "record $name"
  start_recorder "$name" --direction "$dir" --vm-interface tap0 --phy-interface veth1 --protocol icmp \
    --src-ip "$src" -i 500ms --stage-stacks
  [[ $dir == tx ]] && trace_tap0 on
  set +e
  if [[ $traffic == burst ]]; then
    ip netns exec ns2 nt_rignet ping-burst "$VM_IP" "$BURST" >"$R/$name.ping.txt" 2>&1
  else
    ip netns exec ns2 ping -c "$PINGS" -i 0.2 -W 2 "$VM_IP" >"$R/$name.ping.txt" 2>&1
  fi
  fact "${name}_ping_rc" "$?"
  set -e
  [[ $traffic == burst ]] && fact "${name}_sent" "$(sed -n 's/^sent \([0-9]*\).*/\1/p' "$R/$name.ping.txt")"
  sleep 1
  [[ $dir == tx ]] && trace_tap0 off "$name"
  stop_recorder "$name"
}

step "vhost VM, tap sndbuf unlimited (batched transmit)"
start_vm vm-batch
ovs-vsctl --timeout=30 show >"$R/vsctl-show.txt" 2>&1 || true
record vhost-rx rx 10.200.0.2
record vhost-tx tx "$VM_IP"
record vhost-tx-burst tx "$VM_IP" burst
stop_vm vm-batch

step "vhost VM, tap sndbuf 1 MiB (transmit one frame at a time)"
start_vm vm-single --sndbuf 1048576
record vhost-tx-single tx "$VM_IP"
stop_vm vm-single

ovs-dpctl show >"$R/dpctl-show.txt" 2>&1 || true
cat "$R/dpctl-show.txt"
fact upcalls_lost "$(sed -n 's/.*lookups:.* lost:\([0-9]*\).*/\1/p' "$R/dpctl-show.txt")"
stop_ovs
echo "vhost: done"
