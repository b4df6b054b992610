#!/usr/bin/env bash
# Runs rig scenarios on each stock kernel, one VM at a time, and prints a
# "N passed, N failed, N skipped" summary. A kernel the APT sources do not
# offer counts as skipped (run.sh exit 4) unless NETTRAIL_VM_REQUIRE_ALL=1.
#
#   tests/vm/test_vm.sh [--kernel K]... [--scenario S]... [--budget SECONDS]
#                       [-- run.sh options]
#
# Defaults: kernels 6.1 and 6.12, scenario smoke. Options after "--" (e.g.
# --bin build/nettrail-record) go to every run.sh call. --budget caps the
# wall time of all runs together: each VM's --timeout is cut to what is left,
# and once less than 2 min is left the remaining runs fail as not run.
# A guest that stops responding (run.sh exit 6: its kernel stopped, seen once
# in many TCG boots) or whose kernel panicked before the scenario started
# (exit 7) is booted once more; the summary says so. Each run's
# results go to $NT_VM_RESULTS/KERNEL-SCENARIO (default
# /tmp/nettrail-vm-results), and the summary ends with the last console lines
# of every failed run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kernels=()
scenarios=()
extra=()
budget=0
while (($#)); do
  case $1 in
    --budget) budget=${2:?--budget needs seconds}; shift 2 ;;
    --kernel) kernels+=("${2:?--kernel needs a value}"); shift 2 ;;
    --scenario) scenarios+=("${2:?--scenario needs a value}"); shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test_vm.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
((${#kernels[@]})) || kernels=(6.1 6.12)
((${#scenarios[@]})) || scenarios=(smoke)
[[ $budget =~ ^[0-9]+$ ]] || { echo "test_vm.sh: --budget must be a number of seconds" >&2; exit 2; }
# The per-VM limit the caller asked for (run.sh takes the last --timeout).
vm_timeout=${NT_VM_TIMEOUT:-600}
for ((i = 0; i < ${#extra[@]}; i++)); do
  [[ ${extra[i]} == --timeout ]] && vm_timeout=${extra[i + 1]:-$vm_timeout}
done
t_start=$(date +%s)

results=${NT_VM_RESULTS:-/tmp/nettrail-vm-results}
passed=0 failed=0 skipped=0
summary=()
failed_dirs=()
for k in "${kernels[@]}"; do
  for s in "${scenarios[@]}"; do
    start=$(date +%s)
    out="$results/$k-$s"
    note=""
    for attempt in 1 2; do
      limit=()
      if ((budget)); then
        left=$((budget - ($(date +%s) - t_start)))
        if ((left < 120)); then
          if ((attempt == 1)); then rc=none; else note+=", no budget left to boot again"; fi
          break
        fi
        ((left < vm_timeout)) && limit=(--timeout "$left")
      fi
      ((attempt == 1)) || note+=", booted again"
      echo "=== vm: $s on $k${note:+ (boot $attempt)}"
      mkdir -p "$out"
      set +e
      "$HERE/run.sh" "$s" --kernel "$k" --out "$out" "${extra[@]}" "${limit[@]}"
      rc=$?
      set -e
      [[ ($rc -eq 6 || $rc -eq 7) && $attempt -eq 1 ]] || break
      if ((rc == 6)); then note="; boot 1 stopped responding"; else note="; boot 1 panicked before the scenario"; fi
      note+=" ($(cat "$out/retry.txt" 2>/dev/null))"
      cp "$out/console.log" "$out.boot1-console.log" 2>/dev/null || true
    done
    took=$(($(date +%s) - start))
    if [[ $rc == none ]]; then
      failed=$((failed + 1)); summary+=("FAIL $s on $k: not run, ${budget}s budget spent")
    elif [[ $rc -eq 0 ]]; then
      passed=$((passed + 1)); summary+=("PASS $s on $k (${took}s$note)")
    elif [[ $rc -eq 4 && ${NETTRAIL_VM_REQUIRE_ALL:-0} != 1 ]]; then
      skipped=$((skipped + 1)); summary+=("SKIP $s on $k: kernel not available (${took}s)")
    else
      failed=$((failed + 1)); summary+=("FAIL $s on $k: exit $rc (${took}s$note)")
      failed_dirs+=("$out")
    fi
  done
done

echo "=== vm summary"
for d in "${failed_dirs[@]}"; do
  echo "--- last console lines of $(basename "$d") ($d/console.log):"
  tail -n 30 "$d/console.log" 2>/dev/null | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\r//g' -e 's/^/  | /'
done
printf '  %s\n' "${summary[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
