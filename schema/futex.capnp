# futex family on disk: syscalls:sys_enter_futex / sys_exit_futex (or
# raw_syscalls sys_enter/sys_exit filtered to futex). Each call is timed from
# entry to exit; the op is decoded (FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
# stripped). futex_waitv(2) and the futex2 syscalls are not recorded. Details
# are columnar (every list of a FutexEvents has one entry per call); see
# recording.capnp for framing and time base.
@0xc93b0a7e51d4f286;

struct FutexBatch {
  union {
    events @0 :FutexEvents;
    summary @1 :FutexSummary;
  }
}

# Calls that took at least the details threshold (--futex-min-wait), columnar.
struct FutexEvents {
  # CLOCK_BOOTTIME ns of the syscall entry. startDelta[i] = start[i] -
  # start[i-1] modulo 2^64, start[-1] = baseTimeNs: calls are in ring order
  # (exit order), so add deltas with unsigned wrap-around.
  baseTimeNs @0 :UInt64;
  startDelta @1 :List(UInt64);
  durationNs @2 :List(UInt64);   # syscall exit time minus entry time
  tid @3 :List(UInt32);          # calling thread; Process table gives pid and comm
  op @4 :List(UInt8);            # FUTEX_* command (futex_op & FUTEX_CMD_MASK): 0 WAIT, 1 WAKE, 9 WAIT_BITSET ...; 255 = beyond FUTEX_LOCK_PI2
  uaddr @5 :List(UInt64);        # futex word address in the caller's address space
  result @6 :List(Int64);        # syscall return value (negative errno)
}

# Totals per (pid, tid, op, uaddr), cumulative since the start of the
# recording, snapshotted every interval.
struct FutexSummary {
  timeNs @0 :UInt64;
  intervalIndex @1 :UInt32;
  entries @2 :List(FutexSummaryEntry);
  totalCalls @3 :UInt64;         # all calls that passed the filters, even where the key did not fit
  totalNs @4 :UInt64;            # their summed time inside the syscall
}

struct FutexSummaryEntry {
  pid @0 :UInt32;
  tid @1 :UInt32;
  op @2 :UInt8;
  uaddr @3 :UInt64;
  calls @4 :UInt64;
  totalNs @5 :UInt64;            # time inside the syscall, summed
  maxNs @6 :UInt64;
  errors @7 :UInt64;             # calls that returned an error (EAGAIN, ETIMEDOUT, ...)
}
