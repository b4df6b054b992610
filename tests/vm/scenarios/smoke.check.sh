#!/usr/bin/env bash
# Host-side assertions on the smoke scenario's results: smoke.check.sh RESULTS_DIR
set -euo pipefail

dir=${1:?usage: smoke.check.sh RESULTS_DIR}
# shellcheck source=lib/check.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.sh"
load_facts smoke

is() { [[ ${F[$1]:-} == "$2" ]]; }
positive() { [[ ${F[$1]:-} =~ ^[0-9]+$ ]] && ((F[$1] > 0)); }

echo "smoke.check on $(cat "$dir/kernel-release" 2>/dev/null || echo '?'):"
for m in openvswitch vhost_net tun veth nf_conntrack; do
  check "module $m loaded" is "module_$m" loaded
done
check "/dev/vhost-net present" is dev_vhost_net yes
check "/sys/kernel/btf/vmlinux present" is btf_vmlinux yes
check "/sys/kernel/btf/openvswitch present (module BTF)" is btf_openvswitch yes
check "ovs_dp_process_packet in available_filter_functions" is kprobe_func_listed yes
check "kprobe on ovs_dp_process_packet created" is kprobe_create yes
check "kprobe on ovs_dp_process_packet fired (${F[kprobe_hits]:-?} hits)" positive kprobe_hits
check "ping sent packets (${F[ping_tx]:-?})" positive ping_tx
check "ping across br0 lost nothing (${F[ping_rx]:-?}/${F[ping_tx]:-?})" \
  test "${F[ping_rx]:-x}" = "${F[ping_tx]:-y}"
check "datapath has 3 ports (internal br0 + 2 veth) (${F[dp_ports]:-?})" test "${F[dp_ports]:-0}" -ge 3
check "datapath flows installed (${F[dp_flows]:-?})" positive dp_flows
check "IPv4 datapath flows used both ways (${F[dp_ipv4_flows]:-?})" test "${F[dp_ipv4_flows]:-0}" -ge 2
check "upcalls: first packets missed the datapath (${F[dp_missed]:-?})" positive dp_missed
check "later packets hit the datapath (${F[dp_hit]:-?})" positive dp_hit
check "ovs-vswitchd started its handlers with a CPU count (${F[ovs_zero_handler_starts]:-?} starts with 0 handlers)" \
  is ovs_zero_handler_starts 0
check "kernel has per-CPU upcall handler ids (${F[ovs_handler_cpus]:-?} CPUs), sockets open (${F[ovs_handler_sockets]:-?})" \
  is ovs_upcall_handlers ok
check "no upcall lost (${F[dp_lost]:-?}; dispatch ${F[dispatch_mode]:-?})" is dp_lost 0
errors=$(grep -c '|ERR|' "$dir/ovs-vswitchd.log" 2>/dev/null || true)
check "ovs-vswitchd logged no error (${errors:-?})" test "${errors:-x}" = 0

finish smoke
