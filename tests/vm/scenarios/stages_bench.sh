#!/bin/bash
# Stages benchmark inside the guest, where fentry and kprobes work: runs
# nettrail_stages_bench (pass it with --bin, and the recorder at the path the
# bench was built with: --add build/nettrail-record:/ABS/PATH/nettrail-record).
# Output in $NT_RESULTS/stages_bench.txt. TCG makes absolute numbers slow;
# compare the strategies with each other.
set -euo pipefail
# shellcheck disable=SC1091  # scenarios/lib/common.sh, copied to /nt/lib by run.sh
. /nt/lib/common.sh
mount_tracing
# The bench runs its set-up through /bin/sh; busybox sh would pick its own
# `ip` applet (no netns support) over iproute2.
ln -sf "$(command -v bash)" /bin/sh
for m in veth sch_tbf; do modprobe "$m" || true; done
step "stages bench"
nettrail_stages_bench --packets "${NT_STAGES_BENCH_PACKETS:-20000}" --rounds 3 2>&1 | tee "$R/stages_bench.txt"
