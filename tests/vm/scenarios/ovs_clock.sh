#!/bin/bash
# ovs_clock scenario (runs inside the guest): the guard in start_ovs against
# Open vSwitch 3.1's CPU count of 0 during the first 10 s after boot
# (lib/common.sh). The guest usually boots too slowly under TCG to hit that
# window on its own, so ovs-vswitchd runs in a time namespace whose
# CLOCK_MONOTONIC and CLOCK_BOOTTIME read 3 s: once with the wait disabled
# (expected: every upcall lost; facts in ovs_clock-unguarded.env) and once
# through start_ovs as the other scenarios use it (expected: it waits, the
# kernel gets the handler port ids, pings cross; facts in ovs_clock.env).
# Needs util-linux unshare: tests/vm/run.sh ovs_clock --bin /usr/bin/unshare
set -euo pipefail
# shellcheck disable=SC1091  # scenarios/lib/common.sh, copied to /nt/lib by run.sh
. /nt/lib/common.sh
trap 'echo "ovs_clock: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

command -v unshare >/dev/null || { echo "ovs_clock: unshare missing (pass --bin /usr/bin/unshare)" >&2; exit 1; }
for m in crc32c_generic openvswitch veth; do modprobe "$m"; done

# at_3s CMD...: CMD in a new time namespace whose clocks read 3 s now.
at_3s() {
  local up off
  up=$(cut -d. -f1 /proc/uptime)
  off=$((up > 3 ? up - 3 : 0))
  unshare --time --monotonic=-"$off" --boottime=-"$off" "$@"
}

# bridge_and_ping: br0 with veth ports to ns1/ns2, the handler check, 5 pings
# and the datapath's counters as facts; then OVS, the datapath and the
# namespaces are removed again.
bridge_and_ping() {
  local rx
  ovs-vsctl --timeout=120 add-br br0
  if check_ovs_upcalls; then fact ovs_upcall_handlers ok; else fact ovs_upcall_handlers missing; fi
  for i in 1 2; do rig_ns_port "veth$i" "ns$i" "10.200.0.$i"; done
  ip link set br0 up
  rx=$(ip netns exec ns1 ping -c 5 -i 0.2 -W 2 10.200.0.2 2>&1 |
       sed -n 's/.* \([0-9]*\) packets received.*/\1/p' || true)
  fact ping_rx "${rx:-0}"
  fact dp_lost "$(ovs-dpctl show | sed -n 's/.*lookups: hit:[0-9]* missed:[0-9]* lost:\([0-9]*\).*/\1/p')"
  ovs-appctl --timeout=30 -t /run/openvswitch/ovs-vswitchd.*.ctl exit --cleanup
  ovs-appctl --timeout=30 -t /run/openvswitch/ovsdb-server.*.ctl exit
  ovs-dpctl del-dp ovs-system 2>/dev/null || true
  for i in 1 2; do ip link del "veth$i" 2>/dev/null || true; ip netns del "ns$i"; done
  sleep 1
}

step "ovs-vswitchd at 3 s without the wait"
export NT_SCENARIO=ovs_clock-unguarded
# shellcheck disable=SC2034  # read by fact (lib/common.sh)
FACTS="$R/$NT_SCENARIO.env"
at_3s bash -c '. /nt/lib/common.sh; OVS_CLOCK_MIN_S=0; start_ovs'
bridge_and_ping
mv "$R/ovs-vswitchd.log" "$R/ovs-vswitchd-unguarded.log"
mv "$R/ovsdb-server.log" "$R/ovsdb-server-unguarded.log"

step "ovs-vswitchd at 3 s through start_ovs"
export NT_SCENARIO=ovs_clock
# shellcheck disable=SC2034  # read by fact (lib/common.sh)
FACTS="$R/$NT_SCENARIO.env"
at_3s bash -c '. /nt/lib/common.sh; start_ovs'
bridge_and_ping
echo "ovs_clock: done"
