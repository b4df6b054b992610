# Off-CPU family on disk: sched:sched_switch + sched:sched_wakeup. A thread is
# off CPU from the switch that takes it off until the switch that puts it back;
# the waker is the thread whose sched_wakeup ended the wait. Details are
# columnar (every list of an OffcpuEvents has one entry per event); see
# recording.capnp for framing and time base.
@0xa4c61f0e8b7d2e53;

struct OffcpuBatch {
  union {
    events @0 :OffcpuEvents;
    summary @1 :OffcpuSummary;
  }
}

struct OffcpuEvents {
  # CLOCK_BOOTTIME ns of the switch-out. startDelta[i] = start[i] - start[i-1]
  # modulo 2^64, start[-1] = baseTimeNs: events are in ring order (switch-in
  # order), so add deltas with unsigned wrap-around.
  baseTimeNs @0 :UInt64;
  startDelta @1 :List(UInt64);
  durationNs @2 :List(UInt64);   # switch-in time minus switch-out time
  tid @3 :List(UInt32);          # the thread that was off CPU; Process table gives pid and comm
  state @4 :List(UInt32);        # task state at switch-out, low 8 bits (0 preempted, 1 interruptible, 2 uninterruptible, ...)
  wakerTid @5 :List(UInt32);     # thread whose wakeup ended the wait; 0 if none was seen (preempted, or woken before recording)
  kernelStackId @6 :List(UInt32);  # Stack.id; 0 = not captured
  userStackId @7 :List(UInt32);    # Stack.id of a user stack (Stack.pid set); 0 = none (kernel thread) or not captured
  cpu @8 :List(UInt16);          # CPU the thread came back on
}

# In-kernel totals per (pid, tid, kernel stack, user stack), cumulative since
# the start of the recording, snapshotted every interval.
struct OffcpuSummary {
  timeNs @0 :UInt64;             # CLOCK_BOOTTIME of the snapshot
  intervalIndex @1 :UInt32;
  entries @2 :List(OffcpuSummaryEntry);
  totalNs @3 :UInt64;            # all off-CPU time that passed the filters, even where the key did not fit
  totalCount @4 :UInt64;
}

struct OffcpuSummaryEntry {
  pid @0 :UInt32;
  tid @1 :UInt32;
  kernelStackId @2 :UInt32;
  userStackId @3 :UInt32;
  totalNs @4 :UInt64;
  count @5 :UInt64;
}
