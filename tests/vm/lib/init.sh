#!/bin/sh
# /init of the rig's guest (PID 1, busybox sh). Mounts the basics, attaches the
# virtio-9p result share at /results, runs /nt/scenario.sh with bash, records
# its status and powers off. If 9p cannot be mounted, results stay in a tmpfs
# and are printed on the console between NT-VM-FILE markers for run.sh.
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

echo "NT-VM: scenario $NT_SCENARIO on $(uname -r) ($NT_KERNEL_PACKAGE)"
{
  timeout "$NT_GUEST_TIMEOUT" bash /nt/scenario.sh
  echo $? >/tmp/scenario.rc
} 2>&1 | tee /results/scenario.log
rc=$(cat /tmp/scenario.rc 2>/dev/null || echo 99)
[ "$rc" = 143 ] && echo "NT-VM: scenario killed after ${NT_GUEST_TIMEOUT}s" | tee -a /results/scenario.log

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
