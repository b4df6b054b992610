#!/bin/bash
# Smoke scenario (runs inside the guest): the stock kernel has what the
# recorder needs (modules, BTF, kprobes) and a real OVS bridge with the kernel
# datapath forwards between two network namespaces. Facts go to
# $NT_RESULTS/smoke.env (key=value), raw outputs next to it; smoke.check.sh
# asserts on them on the host.
set -euo pipefail
# shellcheck disable=SC1091  # scenarios/lib/common.sh, copied to /nt/lib by run.sh
. /nt/lib/common.sh

step "filesystems"
mount_tracing

step "modules"
for m in crc32c_generic openvswitch vhost_net tun veth nf_conntrack; do
  if modprobe "$m"; then
    fact "module_$m" "$( [[ -d /sys/module/$m ]] && echo loaded || echo missing)"
  else
    fact "module_$m" "modprobe-failed"
  fi
done
lsmod >"$R/lsmod.txt"
fact dev_vhost_net "$(yes_no test -c /dev/vhost-net)"
fact dev_net_tun "$(yes_no test -c /dev/net/tun)"

step "BTF"
for b in vmlinux openvswitch tun vhost_net veth; do
  fact "btf_$b" "$(yes_no test -e "/sys/kernel/btf/$b")"
done

step "kprobes"
T=/sys/kernel/tracing
grep -E 'ovs_dp_process_packet|ovs_dp_upcall|ovs_vport_send|ovs_flow_key_extract|tun_net_xmit|netdev_frame_hook' \
  "$T/available_filter_functions" >"$R/ovs-filter-functions.txt" 2>/dev/null || true
fact kprobe_func_listed "$(yes_no grep -qw '^ovs_dp_process_packet' "$R/ovs-filter-functions.txt")"
if echo 'p:nt_smoke/ovs_dp ovs_dp_process_packet' >>"$T/kprobe_events" 2>"$R/kprobe.err" &&
   echo 1 >"$T/events/nt_smoke/ovs_dp/enable"; then
  fact kprobe_create yes
else
  fact kprobe_create no
fi

step "Open vSwitch"
start_ovs
fact ovs_version "$(ovs-vswitchd --version | head -1)"
ovs-vsctl --timeout=120 add-br br0
# Upcalls need handler sockets the kernel knows (lib/common.sh): recorded, and
# asserted by smoke.check.sh, so a failure still collects the datapath state.
if check_ovs_upcalls; then fact ovs_upcall_handlers ok; else fact ovs_upcall_handlers missing; fi
for i in 1 2; do rig_ns_port "veth$i" "ns$i" "10.200.0.$i"; done
ip link set br0 up

step "ping across br0"
set +e
ip netns exec ns1 ping -c 10 -i 0.2 -W 2 10.200.0.2 >"$R/ping.txt" 2>&1
ping_rc=$?
set -e
cat "$R/ping.txt"
fact ping_rc "$ping_rc"
fact ping_tx "$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$R/ping.txt")"
fact ping_rx "$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' "$R/ping.txt")"

step "datapath state"
ovs-dpctl dump-flows >"$R/dpctl-flows.txt" 2>&1 || true
ovs-dpctl show >"$R/dpctl-show.txt" 2>&1 || true
ovs-vsctl --timeout=30 show >"$R/vsctl-show.txt" 2>&1 || true
ovs-ofctl --timeout=30 dump-flows br0 >"$R/ofctl-flows.txt" 2>&1 || true
# How upcalls reach ovs-vswitchd (per-cpu or per-vport dispatch, handler
# sockets): what to look at first when the datapath reports misses as lost.
ovs-appctl --timeout=30 dpif-netlink/dispatch-mode >"$R/dispatch-mode.txt" 2>&1 || true
ovs-appctl --timeout=30 upcall/show >"$R/upcall-show.txt" 2>&1 || true
fact dispatch_mode "$(grep -o 'per-cpu\|per-vport' "$R/dispatch-mode.txt" | head -1)"
fact dp_lost "$(sed -n 's/.*lookups: hit:[0-9]* missed:[0-9]* lost:\([0-9]*\).*/\1/p' "$R/dpctl-show.txt")"
cat "$R/dpctl-show.txt" "$R/dpctl-flows.txt"
fact dp_flows "$(grep -c 'in_port' "$R/dpctl-flows.txt" || true)"
# IPv4 flows between the two veth ports that carried packets (both directions).
fact dp_ipv4_flows "$(grep 'eth_type(0x0800)' "$R/dpctl-flows.txt" | grep -vc 'packets:0,' || true)"
fact dp_hit "$(sed -n 's/.*lookups: hit:\([0-9]*\).*/\1/p' "$R/dpctl-show.txt")"
fact dp_missed "$(sed -n 's/.*lookups: hit:[0-9]* missed:\([0-9]*\).*/\1/p' "$R/dpctl-show.txt")"
fact dp_ports "$(grep -c 'port [0-9]*:' "$R/dpctl-show.txt" || true)"

step "kprobe hits"
if [[ -e $T/kprobe_profile ]]; then
  cp "$T/kprobe_profile" "$R/kprobe_profile.txt"
  fact kprobe_hits "$(awk '$1 == "ovs_dp" { print $2 }' "$T/kprobe_profile")"
  echo 0 >"$T/events/nt_smoke/ovs_dp/enable" || true
  echo '-:nt_smoke/ovs_dp' >>"$T/kprobe_events" || true
else
  fact kprobe_hits 0
fi

stop_ovs
echo "smoke: done"
