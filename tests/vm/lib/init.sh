#!/bin/sh
# /init of the rig's guest (PID 1, busybox sh). Mounts the basics, attaches the
# virtio-9p result share at /results, runs /nt/scenario.sh with bash, records
# its status and powers off. If 9p cannot be mounted, results stay in a tmpfs
# and are printed on the console between NT-VM-FILE markers for run.sh.
#
# Two watchdogs: every 10 s a heartbeat (the guest's uptime) goes to
# /results/.heartbeat, so run.sh can stop a guest whose kernel stopped; and a
# scenario still running after $NT_GUEST_TIMEOUT s is reported (its tasks and
# their kernel stacks, to the console and scenario.log) and killed with every
# process it started, so the guest still reports a status and powers off.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
export HOME=/root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/openvswitch /run/netns
hostname nt-vm
ip link set lo up 2>/dev/null

# shellcheck disable=SC1091  # written by run.sh into the initramfs
. /nt/env
export NT_SCENARIO NT_KERNEL_SERIES NT_KERNEL_PACKAGE NT_OVS_VERSION NT_GUEST_TIMEOUT
export NT_RESULTS=/results

NT_9P=0
for m in virtio_pci 9pnet_virtio 9p; do modprobe "$m" 2>/dev/null; done
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ntresults /results; then
  NT_9P=1
else
  echo "NT-VM: 9p share unavailable, results go to the console" >&2
  mount -t tmpfs tmpfs /results
fi
export NT_9P

# tasks_report: every user-space task with its state, wait channel and kernel
# stack, then the kernel's list of blocked tasks (sysrq w) from dmesg.
tasks_report() {
  for d in /proc/[0-9]*; do
    args=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)
    [ -n "$args" ] || continue
    echo "--- ${d#/proc/} $(sed -n 's/^State:[[:space:]]*//p' "$d/status" 2>/dev/null)," \
      "wchan $(cat "$d/wchan" 2>/dev/null): $args"
    cat "$d/stack" 2>/dev/null
  done
  echo w >/proc/sysrq-trigger 2>/dev/null && sleep 1 &&
    dmesg | awk '/sysrq: Show Blocked State/ { n = 0 } { l[n++] = $0 } END { for (i = 0; i < n; i++) print l[i] }'
}

echo "NT-VM: scenario $NT_SCENARIO on $(uname -r) ($NT_KERNEL_PACKAGE)"
# The scenario writes to a file that `tail -f` copies to the console: a daemon
# it leaves behind holding its stdout cannot keep /init waiting (a pipe would).
: >/results/scenario.log
tail -n +1 -f /results/scenario.log &
if [ "$NT_9P" = 1 ]; then
  while :; do cut -d' ' -f1 /proc/uptime >/results/.heartbeat; sleep 10; done &
fi
bash /nt/scenario.sh >>/results/scenario.log 2>&1 </dev/null &
scenario_pid=$!
(
  sleep "$NT_GUEST_TIMEOUT"
  touch /tmp/scenario.killed
  { echo "NT-VM: scenario still running after ${NT_GUEST_TIMEOUT}s; its tasks and their kernel stacks:"
    tasks_report; } >>/results/scenario.log 2>&1
  kill -TERM "$scenario_pid" 2>/dev/null
  sleep 5
  kill -KILL "$scenario_pid" 2>/dev/null
) &
wait "$scenario_pid"
rc=$?
sleep 2 # tail -f prints what the scenario wrote last
if [ -e /tmp/scenario.killed ]; then
  rc=124
  echo "NT-VM: scenario killed after ${NT_GUEST_TIMEOUT}s (its tasks are listed above)"
  echo "NT-VM: scenario killed after ${NT_GUEST_TIMEOUT}s" >>/results/scenario.log
fi
# Every process left (daemons, the tail, the watchdogs): kill -1 spares PID 1,
# and nothing keeps the share busy when it is unmounted.
kill -KILL -1 2>/dev/null
rm -f /results/.heartbeat

dmesg >/results/dmesg.log 2>&1
uname -r >/results/kernel-release
echo "$rc" >/results/status
sync
if [ "$NT_9P" = 1 ]; then
  umount /results
else
  for f in /results/*; do
    [ -f "$f" ] || continue
    echo "NT-VM-FILE-BEGIN ${f#/results/}"
    cat "$f"
    echo "NT-VM-FILE-END"
  done
fi
echo "NT-VM-STATUS: $rc"
poweroff -f
sleep 5
reboot -f
