#!/bin/bash
# VM path scenario (runs inside the guest): the stages family's --vm-interface
# paths on a real OVS bridge, and the recorder's cost on a TCP stream.
#
# No nested VM runs under TCG, so nt_rignet (tests/vm/tools, pass it with
# --bin) plays the guest: it holds the fd of tap device tap0, a port of br0,
# the way QEMU does without vhost, and answers ARP and ICMP echo for
# 10.200.0.3. Pings from ns2 (10.200.0.2, behind veth1, the "physical" port)
# to the "VM" take both VM paths:
#   rx: veth1 netif_receive_skb -> OVS -> tun_net_xmit on tap0 -> read by nt_rignet
#   tx: nt_rignet writes the reply -> tun_get_user -> netif_receive_skb on tap0
#       -> OVS -> veth1 qdisc -> net_dev_xmit
# One recording per direction (default attach plan) goes to
# $NT_RESULTS/vmpath-<dir>.ntr; vmpath.check.sh ingests and checks them.
#
# Then TCP streams from ns1 (10.200.0.1, internal port int0) to ns2 for
# NT_VMPATH_TCP_SECONDS (default 5) s each: without the recorder, with a
# summary-only stages recording (tx path, per-packet records only above 1 s),
# with per-packet details for every packet; interleaved. Rates go to vmpath.env.
set -euo pipefail
# shellcheck disable=SC1091  # scenarios/lib/common.sh, copied to /nt/lib by run.sh
. /nt/lib/common.sh
trap 'echo "vmpath: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

PINGS=${NT_STAGES_PINGS:-10}
TCP_SECONDS=${NT_VMPATH_TCP_SECONDS:-5}
VM_IP=10.200.0.3

step "filesystems and modules"
mount_tracing
for m in crc32c_generic openvswitch tun veth sch_tbf; do modprobe "$m" || true; done
fact kernel "$(uname -r)"
for b in nettrail-record nt_rignet; do
  command -v "$b" >/dev/null || { echo "vmpath: $b missing (pass --bin)" >&2; exit 1; }
done

step "Open vSwitch: veth1 to ns2, int0 in ns1, tap0 to the VM"
rig_bridge
rig_host_port
rig_tap_port
rig_bridge_up
nt_rignet tap-vm tap0 "$VM_IP" 3600 >"$R/tap-vm.log" 2>&1 &
vm_pid=$!
for _ in $(seq 1 50); do grep -q attached "$R/tap-vm.log" && break; sleep 0.1; done
fact tap_attached "$(yes_no grep -q attached "$R/tap-vm.log")"
ip netns exec ns2 ping -c 3 -i 0.2 -W 3 "$VM_IP" >"$R/warmup-vm.txt" 2>&1 || cat "$R/warmup-vm.txt"
ip netns exec ns1 ping -c 3 -i 0.2 -W 3 10.200.0.2 >"$R/warmup-ns.txt" 2>&1 || cat "$R/warmup-ns.txt"
ovs-vsctl --timeout=30 show >"$R/vsctl-show.txt" 2>&1 || true

for dir in rx tx; do
  name="vmpath-$dir"
  src=10.200.0.2
  [[ $dir == tx ]] && src=$VM_IP
  step "record $name"
  start_recorder "$name" --direction "$dir" --vm-interface tap0 --phy-interface veth1 --protocol icmp \
    --src-ip "$src" -i 500ms
  set +e
  ip netns exec ns2 ping -c "$PINGS" -i 0.2 -W 2 "$VM_IP" >"$R/$name.ping.txt" 2>&1
  fact "${name}_ping_rc" "$?"
  set -e
  sleep 1
  stop_recorder "$name"
done
kill -TERM "$vm_pid"
wait "$vm_pid" || true
cat "$R/tap-vm.log"
fact vm_echo_replies "$(sed -n 's/.*echo_replies \([0-9]*\).*/\1/p' "$R/tap-vm.log")"

# tcp_run NAME: one TCP stream ns1 -> ns2, its rate (Mbit/s) as fact tcp_NAME_mbit_s.
tcp_run() {
  ip netns exec ns2 nt_rignet tcp-sink 5201 >"$R/tcp-$1.sink.txt" 2>&1 &
  local sink=$!
  ip netns exec ns1 nt_rignet tcp-send 10.200.0.2 5201 "$TCP_SECONDS" >"$R/tcp-$1.send.txt" 2>&1 || true
  wait "$sink" || true
  cat "$R/tcp-$1.send.txt" "$R/tcp-$1.sink.txt"
  fact "tcp_$1_mbit_s" "$(sed -n 's/.*mbit_s \([0-9.]*\).*/\1/p' "$R/tcp-$1.sink.txt")"
}
# Under TCG the rate follows the host's load, so the runs interleave: two
# streams per recorder mode while it records, three without around them.
step "TCP throughput with and without recording"
tcp_args=(--direction tx --phy-interface veth1 --protocol tcp --src-ip 10.200.0.1 -i 1s)
tcp_run without1
start_recorder vmpath-tcp-summary "${tcp_args[@]}" --latency-us 1000000
tcp_run summary1
tcp_run summary2
stop_recorder vmpath-tcp-summary
tcp_run without2
start_recorder vmpath-tcp-details "${tcp_args[@]}"
tcp_run details1
tcp_run details2
stop_recorder vmpath-tcp-details
tcp_run without3

stop_ovs
echo "vmpath: done"
