#!/usr/bin/env bash
# Host-side assertions on the stages scenario: stages.check.sh RESULTS_DIR.
# Ingests each recording with the analyzer (NETTRAIL_ANALYZER, else the newest
# build's nettrail) and checks, per direction and attach strategy: every stage
# of the path attached with the expected strategy and was hit by every ping;
# per packet the stages come in path order (times never go back) and the steps
# sum to the end-to-end time; the in-kernel end-to-end histogram counted the
# same packets; the upcall stages appear for the first packets of the flow only.
set -euo pipefail

dir=${1:?usage: stages.check.sh RESULTS_DIR}
# shellcheck source=lib/check.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.sh"
load_facts stages
pings=${NT_STAGES_PINGS:-10}

tx_order=(ip_output internal_dev_xmit ovs_dp_process_packet nf_conntrack_in ovs_vport_send net_dev_queue
  qdisc_enqueue qdisc_dequeue net_dev_start_xmit net_dev_xmit)
rx_order=(netif_receive_skb netdev_frame_hook ovs_dp_process_packet nf_conntrack_in ovs_vport_send proto_rcv)
tracepoints=" net_dev_queue qdisc_enqueue qdisc_dequeue net_dev_start_xmit net_dev_xmit netif_receive_skb "

echo "stages.check on ${F[kernel]:-?}:"
for direction in tx rx; do
  for strategy in default kprobe; do
    name="stages-$direction-$strategy"
    echo " $name (startup ${F[${name}_startup_s]:-?} s):"
    check "recorder exited 0" test "${F[${name}_rc]:-x}" = 0
    check "pings answered" test "${F[${name}_ping_rc]:-x}" = 0
    ingest "$name" || continue
    if [[ $direction == tx ]]; then order=("${tx_order[@]}"); else order=("${rx_order[@]}"); fi
    want_fn=$([[ $strategy == kprobe ]] && echo kprobe || echo fentry)
    check "no stage hook unavailable" eq "SELECT COUNT(*) FROM attachment WHERE family = 'stages' AND attached = 0" 0
    for hook in $(q "SELECT group_concat(hook, ' ') FROM attachment WHERE family = 'stages'"); do
      got=$(q "SELECT strategy FROM attachment WHERE family = 'stages' AND hook = '$hook'")
      if [[ $tracepoints == *" $hook "* ]]; then
        check "$hook attached via tp_btf" test "$got" = tp_btf
      elif [[ $want_fn == fentry && $got == kprobe ]]; then
        # The cheapest candidate failed here: the fallback must say why.
        note=$(q "SELECT note FROM attachment WHERE family = 'stages' AND hook = '$hook'")
        check "$hook fell back to kprobe ($note)" test "${note#fentry }" != "$note"
      else
        check "$hook attached via $want_fn" test "$got" = "$want_fn"
      fi
    done
    if [[ ${F[ct_flow]:-yes} != yes ]]; then
      echo "  note: forwarding through conntrack failed on this kernel; NORMAL only, nf_conntrack_in not expected"
      order=("${order[@]/nf_conntrack_in/}")
    fi
    # Unquoted on purpose: drops the emptied nf_conntrack_in entry.
    # shellcheck disable=SC2068
    check_path "$pings" ${order[@]}
    # The pipeline has two datapath flows (before and after the conntrack
    # recirculation); each is installed by an upcall, so upcalls belong to the
    # first packet or two of the flow and never come after a packet that hit.
    check "upcall on the flow's first packet" eq \
      "SELECT upcall FROM stages_packet WHERE complete = 1 ORDER BY icmp_seq LIMIT 1" 1
    check "upcalls only for the first packets ($(q "SELECT group_concat(icmp_seq) FROM stages_packet WHERE upcall = 1"))" eq \
      "SELECT COUNT(*) BETWEEN 1 AND 2 AND MAX(icmp_seq) < (SELECT MIN(icmp_seq) FROM stages_packet WHERE complete = 1 AND upcall = 0) FROM stages_packet WHERE upcall = 1" 1
    check "ovs_flow_key_extract_userspace only on upcall packets" eq \
      "SELECT COUNT(*) FROM stages_time t JOIN stages_packet p USING (packet_id) WHERE t.stage = 'ovs_flow_key_extract_userspace' AND p.upcall = 0" 0
    check "upcall comes between datapath lookup and userspace re-injection" eq \
      "SELECT COUNT(*) = (SELECT COUNT(*) FROM stages_packet WHERE upcall = 1) FROM stages_time a JOIN stages_time u USING (packet_id) JOIN stages_time k USING (packet_id) WHERE a.stage = 'ovs_dp_process_packet' AND u.stage = 'ovs_dp_upcall' AND k.stage = 'ovs_flow_key_extract_userspace' AND a.time_ns <= u.time_ns AND u.time_ns <= k.time_ns" 1
    check "no data loss" eq "SELECT COUNT(*) FROM loss_summary" 0
  done
done
echo " overhead: ${NT_STAGES_FLOOD:-2000} adaptive pings took ${F[flood_without_s]:-?} s without and ${F[flood_with_s]:-?} s with recording"

finish stages
