# Host-side helpers for scenario checks (sourced by NAME.check.sh; bash).
# shellcheck shell=bash
# Needs: $dir (the results directory). Sets: $failures; $nettrail (the
# analyzer: NETTRAIL_ANALYZER, else the newest build*/nettrail) on first use.

failures=0
nettrail=""

# need_analyzer: find the analyzer or exit naming the variable to set.
need_analyzer() {
  [[ -n $nettrail ]] && return 0
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)
  nettrail=${NETTRAIL_ANALYZER:-$(ls -t "$repo"/build*/nettrail 2>/dev/null | head -1)}
  [[ -x $nettrail ]] || { echo "check: no nettrail analyzer (set NETTRAIL_ANALYZER)" >&2; exit 1; }
}

# load_facts SCENARIO: $dir/SCENARIO.env into the associative array F.
declare -A F=()
load_facts() {
  local k v env_file="$dir/$1.env"
  [[ -f $env_file ]] || { echo "$1.check: $env_file missing" >&2; exit 1; }
  while IFS='=' read -r k v; do [[ -n $k ]] && F[$k]=$v; done <"$env_file"
}

# check DESCRIPTION COMMAND...: one ok/FAIL line; failures are counted.
check() {
  local what=$1; shift
  if "$@"; then echo "  ok   $what"; else echo "  FAIL $what"; failures=$((failures + 1)); fi
}
# q SQL: first value of the query's first row on $db; eq SQL VALUE: equality
# (a mismatch prints what the query gave, on the line before check's FAIL).
q() { "$nettrail" query "$db" "$1" --format csv | tail -n +2 | head -1; }
eq() {
  local got
  got=$(q "$1")
  [[ $got == "$2" ]] && return 0
  echo "       got '$got', want '$2'"
  return 1
}

# ingest NAME: $dir/NAME.ntr -> $dir/NAME.db (sets db), plus the attachment
# table and the stages view as text next to it. Fails (counted) if ingest does.
ingest() {
  need_analyzer
  db="$dir/$1.db"
  rm -f "$db"
  if ! "$nettrail" ingest "$dir/$1.ntr" -o "$db" >/dev/null 2>"$dir/$1.ingest.err"; then
    check "ingest $1.ntr" false
    return 1
  fi
  "$nettrail" query "$db" "SELECT hook, strategy, target, attached, note FROM attachment WHERE family = 'stages'" \
    >"$dir/$1.attach.txt" 2>&1 || true
  "$nettrail" stages "$dir/$1.ntr" >"$dir/$1.view.txt" 2>&1 || true
}

# check_path PACKETS STAGE...: on $db, PACKETS packets completed the path, each
# hit every STAGE, in this order (times never go back), the steps sum to the
# end-to-end time and the in-kernel end-to-end histogram counted the same
# packets with buckets that bracket the per-packet totals.
check_path() {
  local packets=$1; shift
  local stage prev="" bad=0 n
  check "$packets packets completed the path" eq "SELECT COUNT(*) FROM stages_packet WHERE complete = 1" "$packets"
  for stage in "$@"; do
    check "every packet hit $stage" eq \
      "SELECT COUNT(DISTINCT t.packet_id) FROM stages_time t JOIN stages_packet p USING (packet_id) WHERE p.complete = 1 AND t.stage = '$stage'" "$packets"
  done
  for stage in "$@"; do
    if [[ -n $prev ]]; then
      n=$(q "SELECT COUNT(*) FROM stages_time a JOIN stages_time b USING (packet_id) WHERE a.stage = '$prev' AND b.stage = '$stage' AND b.time_ns < a.time_ns")
      [[ $n == 0 ]] || { echo "    $prev after $stage in $n packet(s)"; bad=1; }
    fi
    prev=$stage
  done
  check "per-packet times monotonic in path order" test $bad = 0
  check "steps sum to end to end for every packet" eq \
    "SELECT COUNT(*) FROM stages_packet p WHERE complete = 1 AND total_ns != (SELECT SUM(since_prev_ns) FROM stages_time t WHERE t.packet_id = p.packet_id)" 0
  check "in-kernel end-to-end histogram counted the same packets" eq \
    "SELECT SUM(count) FROM stages_log2 WHERE from_stage = 'end_to_end'" "$packets"
  check "kernel end-to-end buckets bracket the per-packet totals" eq \
    "SELECT (SELECT MIN(low_ns) FROM stages_log2 WHERE from_stage = 'end_to_end') <= MIN(total_ns) AND (SELECT MAX(1 << (log2_ns + 1)) FROM stages_log2 WHERE from_stage = 'end_to_end') > MAX(total_ns) FROM stages_packet WHERE complete = 1" 1
}

# The VM paths as vmpath and vhost record them (--vm-interface tap0
# --phy-interface veth1, tbf qdisc on veth1), stages in path order: to the VM
# (rx) from the physical port to the tap, from the VM (tx) from the tap to the
# physical port.
vm_rx_order=(netif_receive_skb netdev_frame_hook ovs_dp_process_packet ovs_vport_send tun_net_xmit)
vm_tx_order=(netif_receive_skb netdev_frame_hook ovs_dp_process_packet ovs_vport_send net_dev_queue qdisc_enqueue
  qdisc_dequeue net_dev_start_xmit net_dev_xmit)

# finish NAME: exit 1 with a summary if any check failed.
finish() {
  if ((failures)); then
    echo "$1.check: $failures check(s) failed; results in $dir" >&2
    exit 1
  fi
  echo "$1.check: all checks passed"
}
