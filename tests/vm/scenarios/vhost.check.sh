#!/usr/bin/env bash
# Host-side assertions on the vhost scenario: vhost.check.sh RESULTS_DIR.
# For the VM receive recording (phy -> OVS -> tun_net_xmit, then the vhost
# worker reads the frame) and the two VM transmit recordings (vhost worker ->
# tun_sendmsg, batched as XDP buffers or one frame at a time -> netif_receive_skb
# on the tap -> OVS -> phy): every hook of the path attached, every ping hit
# every stage of the path in path order, the steps sum to the end-to-end time,
# the in-kernel histogram counted the same packets, no data loss, the VM
# answered every ping; and on the transmit side, that the vhost worker ran the
# stages: every stage's kernel stack (--stage-stacks) goes through tun_sendmsg
# and vhost-net's handle_tx, and the trace buffer names vhost-PID (PID of the
# "VM") as the task of every netif_receive_skb on the tap.
set -euo pipefail

dir=${1:?usage: vhost.check.sh RESULTS_DIR}
# shellcheck source=lib/check.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.sh"
load_facts vhost
pings=${NT_STAGES_PINGS:-10}

# Frames that place a stack in the vhost worker's transmit handler: the
# handler (handle_tx may be inlined into its callers) and the worker's main
# function (vhost_worker, a kernel thread, up to 6.3; vhost_task_fn, a thread
# of the owner process, since 6.4).
handle_tx="'handle_tx','handle_tx_copy','handle_tx_zerocopy','handle_tx_kick','handle_tx_net'"
worker_fn="'vhost_worker','vhost_task_fn'"
in_frames() { echo "EXISTS (SELECT 1 FROM stack_frame f WHERE f.stack_id = t.stack_id AND f.symbol IN ($1))"; }
in_worker="$(in_frames "$handle_tx") AND $(in_frames "$worker_fn")"
upcalled="EXISTS (SELECT 1 FROM stages_time u WHERE u.packet_id = t.packet_id AND u.stage = 'ovs_flow_key_extract_userspace')"
complete_rows="FROM stages_time t JOIN stages_packet p USING (packet_id) WHERE p.complete = 1"

# show_stacks STAGE: the distinct stacks at STAGE, frames outside tracing, for the log.
show_stacks() {
  "$nettrail" query "$db" "SELECT stack_id, packets, group_concat(frame, ' < ') FROM (SELECT stack_id, packets,
     frame FROM stages_stack_frame WHERE stage = '$1' ORDER BY stack_id, frame_index) GROUP BY stack_id" \
    --format csv | tail -n +2 | sed "s/^/    $1 stack: /"
}

echo "vhost.check on ${F[kernel]:-?} (vhost_net experimental_zcopytx=${F[vhost_zcopytx]:-?}):"
check "/dev/vhost-net exists" test "${F[dev_vhost_net]:-no}" = yes
# All upcalls lost means the bridge forwarded nothing (what OVS did before the
# clock guard in start_ovs, README "Lost upcalls"), not a vhost failure: say
# so first.
check "the OVS datapath lost no upcall (lost:${F[upcalls_lost]:-?})" test "${F[upcalls_lost]:-x}" = 0
for vm in vm-batch vm-single; do
  echo " $vm (pid ${F[${vm}_pid]:-?}, features ${F[${vm}_features]:-?}, tap sndbuf ${F[${vm}_sndbuf]:-?}):"
  check "nt_rignet set up vhost-net on tap0" test "${F[${vm}_attached]:-no}" = yes
  check "its vhost worker vhost-${F[${vm}_pid]:-?} runs (${F[${vm}_worker]:-?})" test "${F[${vm}_worker]:-none}" != none
  check "no reply was lost for want of a tx descriptor" test "${F[${vm}_tx_ring_full]:-x}" = 0
done
burst=${F[vhost-tx-burst_sent]:-0}
check "the VM answered every ping (batch: rx, tx and burst recordings)" \
  test "${F[vm-batch_echo_replies]:-0}" -ge $((2 * pings + burst))
check "the burst sent more than one request ($burst)" test "$burst" -gt 1
check "the VM answered several requests with one kick (at most ${F[vm-batch_max_tx_per_kick]:-?} per kick)" \
  test "${F[vm-batch_max_tx_per_kick]:-0}" -gt 1
check "the VM answered every ping (single)" test "${F[vm-single_echo_replies]:-0}" -ge "$pings"
check "batched transmit: tap sndbuf unlimited" test "${F[vm-batch_sndbuf]:-x}" = 2147483647
check "single transmit: tap sndbuf limited" test "${F[vm-single_sndbuf]:-x}" = 1048576

for name in vhost-rx vhost-tx vhost-tx-burst vhost-tx-single; do
  echo " $name (startup ${F[${name}_startup_s]:-?} s):"
  check "recorder exited 0" test "${F[${name}_rc]:-x}" = 0
  check "pings answered" test "${F[${name}_ping_rc]:-x}" = 0
  packets=$pings
  [[ $name == vhost-tx-burst ]] && packets=${F[${name}_sent]:-0}
  ingest "$name" || continue
  check "no stage hook unavailable" eq "SELECT COUNT(*) FROM attachment WHERE family = 'stages' AND attached = 0" 0
  check "recorded as the VM path" eq "SELECT value FROM probe_option WHERE family = 'stages' AND key = 'path'" vm
  if [[ $name == vhost-rx ]]; then
    check_path "$pings" "${vm_rx_order[@]}"
    show_stacks tun_net_xmit
    # Host to VM, tun_net_xmit only queues the frame in the tap's ring; the
    # worker reads it afterwards (handle_rx -> tun_recvmsg), outside the path.
    check "no rx stage ran in the vhost worker" eq "SELECT COUNT(*) $complete_rows AND $(in_frames "$worker_fn")" 0
  else
    check_path "$packets" "${vm_tx_order[@]}"
    vm="vm-batch"
    [[ $name == vhost-tx-single ]] && vm="vm-single"
    # A datapath miss sends the packet to ovs-vswitchd, which re-executes it
    # (ovs_packet_cmd_execute, in its handler thread): from there on its
    # stages run in that thread, not in the worker.
    n_up=$(q "SELECT COUNT(DISTINCT t.packet_id) $complete_rows AND t.stage = 'ovs_flow_key_extract_userspace'")
    n_worker=$(q "SELECT COUNT(*) $complete_rows AND t.stage != 'ovs_flow_key_extract_userspace' AND $in_worker")
    echo "    $n_up packet(s) took an upcall; $n_worker stage hits in the vhost worker's handle_tx"
    check "every stage of every packet ran in the vhost worker's handle_tx (stack), or after an upcall in ovs-vswitchd's execute" \
      eq "SELECT COUNT(*) $complete_rows AND t.stack_id IS NOT NULL AND NOT ($in_worker) AND NOT ($upcalled AND $(in_frames "'ovs_packet_cmd_execute'"))" 0
    check "the recorder took every stage stack (stage_stack_missing)" eq \
      "SELECT COALESCE(SUM(value), 0) FROM counter WHERE family = 'stages' AND name = 'stage_stack_missing' AND cpu = -1" 0
    check "every stage hit has a kernel stack" eq "SELECT COUNT(*) $complete_rows AND t.stack_id IS NULL" 0
    check "packets without upcall ran every stage in the worker" \
      eq "SELECT COUNT(*) $complete_rows AND NOT $upcalled AND NOT ($in_worker)" 0
    # How vhost handed the frame to the tap: batched XDP buffers flushed by
    # vhost_tx_batch (tun_sendmsg -> tun_xdp_one, inlined or not), or one
    # frame per tun_sendmsg -> tun_get_user.
    if [[ $name != vhost-tx-single ]]; then via="f.symbol LIKE 'vhost_tx_batch%'"; how="vhost_tx_batch -> tun_sendmsg"
    else via="f.symbol LIKE 'tun_get_user%'"; how="tun_sendmsg -> tun_get_user"; fi
    check "every packet entered the tap through $how (netif_receive_skb stack)" eq \
      "SELECT COUNT(DISTINCT t.packet_id) $complete_rows AND t.stage = 'netif_receive_skb' AND $(in_frames "'tun_sendmsg'")
       AND EXISTS (SELECT 1 FROM stack_frame f WHERE f.stack_id = t.stack_id AND $via)" "$packets"
    show_stacks netif_receive_skb
    trace="$dir/$name.trace.txt"
    worker="vhost-${F[${vm}_pid]:-x}"
    total=$(grep -c 'dev=tap0' "$trace" 2>/dev/null || true)
    by_worker=$(grep 'dev=tap0' "$trace" 2>/dev/null | grep -c "^ *$worker-[0-9]* " || true)
    echo "    netif_receive_skb on tap0 in the trace buffer: ${total:-0} events, ${by_worker:-0} by $worker"
    check "the trace buffer saw netif_receive_skb on tap0 at least $packets times" test "${total:-0}" -ge "$packets"
    check "every netif_receive_skb on tap0 ran in task $worker" test "${by_worker:-0}" = "${total:-x}"
  fi
  check "no data loss" eq "SELECT COUNT(*) FROM loss_summary" 0
done

finish vhost
