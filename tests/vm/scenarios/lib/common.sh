# Helpers for guest scenarios (sourced by bash inside the VM as /nt/lib/common.sh).
# shellcheck shell=bash

R=${NT_RESULTS:-/results}
FACTS="$R/${NT_SCENARIO:-scenario}.env"

# step NAME: progress marker on the console and in the scenario log.
step() { echo "== [$(cut -d' ' -f1 /proc/uptime)s] $*"; }

# yes_no COMMAND...: "yes" if the command succeeds, else "no".
yes_no() { if "$@"; then echo yes; else echo no; fi; }

# fact KEY VALUE: one key=value line in $NT_RESULTS/<scenario>.env.
fact() {
  printf '%s=%s\n' "$1" "$2" >>"$FACTS"
  printf '   %s=%s\n' "$1" "$2"
}

# mount_tracing: debugfs, tracefs, bpffs (idempotent).
# (busybox in the guest has no `mountpoint`; /proc/mounts says the same.)
mounted() { grep -qs " $1 " /proc/mounts; }
mount_tracing() {
  mounted /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
  mounted /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
  mounted /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

# start_ovs: openvswitch module, a fresh database, ovsdb-server and ovs-vswitchd.
# Logs go to $NT_RESULTS/ovsdb-server.log and ovs-vswitchd.log.
start_ovs() {
  modprobe crc32c_generic 2>/dev/null || true
  modprobe openvswitch
  mkdir -p /etc/openvswitch /run/openvswitch /var/log/openvswitch
  rm -f /etc/openvswitch/conf.db
  ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
  ovsdb-server /etc/openvswitch/conf.db --remote=punix:/run/openvswitch/db.sock \
    --pidfile=/run/openvswitch/ovsdb-server.pid --detach --log-file="$R/ovsdb-server.log"
  ovs-vsctl --timeout=60 --no-wait init
  ovs-vswitchd unix:/run/openvswitch/db.sock --pidfile=/run/openvswitch/ovs-vswitchd.pid \
    --detach --log-file="$R/ovs-vswitchd.log"
}

# stop_ovs: stop both daemons (so their logs are flushed to the share).
stop_ovs() {
  ovs-appctl -t /run/openvswitch/ovs-vswitchd.*.ctl exit 2>/dev/null ||
    kill "$(cat /run/openvswitch/ovs-vswitchd.pid 2>/dev/null)" 2>/dev/null || true
  ovs-appctl -t /run/openvswitch/ovsdb-server.*.ctl exit 2>/dev/null ||
    kill "$(cat /run/openvswitch/ovsdb-server.pid 2>/dev/null)" 2>/dev/null || true
}
