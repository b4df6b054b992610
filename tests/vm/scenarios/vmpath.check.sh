#!/usr/bin/env bash
# Host-side assertions on the vmpath scenario: vmpath.check.sh RESULTS_DIR.
# For the VM receive (rx: phy -> OVS -> tun_net_xmit) and VM transmit (tx:
# frames the VM wrote -> netif_receive_skb on the tap -> OVS -> phy) recordings:
# every hook of the path attached, every ping hit every stage of the path in
# path order, the steps sum to the end-to-end time, the in-kernel histogram
# counted the same packets, no data loss. Prints the TCP throughput with and
# without recording (means and ratios) and asserts each stream moved data.
set -euo pipefail

dir=${1:?usage: vmpath.check.sh RESULTS_DIR}
# shellcheck source=lib/check.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.sh"
load_facts vmpath
pings=${NT_STAGES_PINGS:-10}

echo "vmpath.check on ${F[kernel]:-?}:"
check "nt_rignet attached to tap0" test "${F[tap_attached]:-no}" = yes
check "the VM answered every ping ($pings per direction)" test "${F[vm_echo_replies]:-0}" -ge $((2 * pings))
for direction in rx tx; do
  name="vmpath-$direction"
  echo " $name (startup ${F[${name}_startup_s]:-?} s):"
  check "recorder exited 0" test "${F[${name}_rc]:-x}" = 0
  check "pings answered" test "${F[${name}_ping_rc]:-x}" = 0
  ingest "$name" || continue
  check "no stage hook unavailable" eq "SELECT COUNT(*) FROM attachment WHERE family = 'stages' AND attached = 0" 0
  check "recorded as the VM path" eq "SELECT value FROM probe_option WHERE family = 'stages' AND key = 'path'" vm
  if [[ $direction == rx ]]; then
    check_path "$pings" "${vm_rx_order[@]}"
  else
    check_path "$pings" "${vm_tx_order[@]}"
  fi
  check "no data loss" eq "SELECT COUNT(*) FROM loss_summary" 0
done

echo " TCP ns1 -> ns2 across br0 (Mbit/s):"
runs=(without1 summary1 summary2 without2 details1 details2 without3)
for run in "${runs[@]}"; do
  check "TCP stream $run moved data (${F[tcp_${run}_mbit_s]:-?})" \
    awk -v r="${F[tcp_${run}_mbit_s]:-0}" 'BEGIN { exit !(r > 0) }'
done
for run in summary details; do
  check "recorder ($run) exited 0" test "${F[vmpath-tcp-${run}_rc]:-x}" = 0
done
mean() { local r s=0; for r in "$@"; do s=$(awk -v a="$s" -v b="${F[tcp_${r}_mbit_s]:-0}" 'BEGIN { print a + b }'); done
  awk -v s="$s" -v n=$# 'BEGIN { printf "%.1f", s / n }'; }
without=$(mean without1 without2 without3)
summary=$(mean summary1 summary2)
details=$(mean details1 details2)
awk -v w="$without" -v s="$summary" -v d="$details" 'BEGIN {
  printf "  mean without %.1f, summary-only %.1f (ratio %.2f), details %.1f (ratio %.2f)\n", w, s, s / w, d, d / w }'

finish vmpath
