#!/usr/bin/env bash
# Records a few seconds of real kernel drops and writes the report.
#
#   sudo bash samples/demo.sh [--out DIR] [--seconds N]
#
# Builds nettrail if needed (installing Debian packages when missing), makes
# two network namespaces joined by a veth pair, and while nettrail-record runs
# produces drops the kernel really makes: TCP SYNs and UDP datagrams to closed
# ports, an nftables drop rule, and a tbf qdisc overflow (a flood ping). Then it ingests the
# recording, prints the terminal views and writes DIR/drops.html (default
# DIR: ./nettrail-demo). Everything it creates in the kernel is removed on exit.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="nettrail-demo"
seconds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: recording needs root (BPF, network namespaces); run: sudo bash samples/demo.sh" >&2
  exit 1
fi

bash "$root/tests/install-deps.sh"
build="$root/build"
if [ ! -x "$build/nettrail-record" ] || [ ! -x "$build/nettrail" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNT_BUILD_RECORDER=ON >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target nettrail nettrail-record >/dev/null

mkdir -p "$out"
ntr="$out/drops.ntr"
a="ntdemo-a"; b="ntdemo-b"
cleanup() {
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add "$a"; ip netns add "$b"
ip link add veth-demo-a netns "$a" type veth peer name veth-demo-b netns "$b"
ip -n "$a" addr add 10.98.0.1/24 dev veth-demo-a
ip -n "$b" addr add 10.98.0.2/24 dev veth-demo-b
for ns in "$a" "$b"; do
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip -n "$a" link set veth-demo-a up; ip -n "$b" link set veth-demo-b up
ip netns exec "$b" nft 'add table inet demo; add chain inet demo in { type filter hook input priority 0; }; add rule inet demo in udp dport 5353 drop'
ip netns exec "$a" tc qdisc add dev veth-demo-a root tbf rate 2mbit burst 1600 limit 3200
ip netns exec "$a" ping -c1 -W2 10.98.0.2 >/dev/null

echo "demo: recording ${seconds}s of drops into $ntr"
"$build/nettrail-record" -d "$seconds" -i 1 -o "$ntr" --force &
recorder=$!
sleep 1.5   # attach
end=$((SECONDS + seconds - 2))
while [ $SECONDS -lt $end ]; do
  ip netns exec "$a" bash -c '
    for i in $(seq 1 20); do (echo > /dev/tcp/10.98.0.2/8080) 2>/dev/null; done
    for i in $(seq 1 30); do echo demo > /dev/udp/10.98.0.2/9999; done
    for i in $(seq 1 15); do echo demo > /dev/udp/10.98.0.2/5353; done
    ping -f -q -l 64 -c 200 -s 1200 -W 1 10.98.0.2 >/dev/null 2>&1 || true
  ' || true
  sleep 0.3
done
wait "$recorder"

nettrail="$build/nettrail"
"$nettrail" info "$ntr"
"$nettrail" drops "$ntr" --by reason
"$nettrail" top "$ntr" -t 3
"$nettrail" ingest "$ntr" -o "$out/drops.db" --force
"$nettrail" report "$out/drops.db" -o "$out/drops.html"
echo "demo: report written to $out/drops.html (open it in any browser; it needs no network)"
