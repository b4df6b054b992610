# Locks family on disk: waits in pthread rwlocks and mutexes of one process,
# from uprobes on the libc that process maps. A wait runs from a lock call's
# entry to its return; the holder is the thread that held the lock when the
# wait began (the writer or mutex owner; for read holds, the last reader that
# took one). Details are columnar (every list of a LockWaits has one entry per
# wait); see recording.capnp for framing and time base.
@0xbd404b8fef1f7945;

struct LocksBatch {
  union {
    waits @0 :LockWaits;
    summary @1 :LocksSummary;
  }
}

# Lock kinds, as stored in LockWaits.kind and LocksSummaryEntry.kind:
# 1 read (pthread_rwlock_rdlock, timed and clock variants), 2 write
# (pthread_rwlock_wrlock and variants), 3 mutex (pthread_mutex_lock and variants).

struct LockWaits {
  # CLOCK_BOOTTIME ns of the lock call's entry. startDelta[i] = start[i] -
  # start[i-1] modulo 2^64, start[-1] = baseTimeNs: waits are in return order,
  # so add deltas with unsigned wrap-around.
  baseTimeNs @0 :UInt64;
  startDelta @1 :List(UInt64);
  waitNs @2 :List(UInt64);         # return minus entry
  tid @3 :List(UInt32);            # the waiting thread; Process table gives pid and comm
  lockAddress @4 :List(UInt64);    # address of the pthread_rwlock_t / pthread_mutex_t in the process
  kind @5 :List(UInt8);            # 1 read, 2 write, 3 mutex
  result @6 :List(Int32);          # the call's return value: 0 acquired, else an errno number (ETIMEDOUT...)
  holderTid @7 :List(UInt32);      # holder when the wait began; 0 if unknown (held before recording, or readers only)
  holderReaders @8 :List(UInt32);  # read holds outstanding when the wait began
  holderHeldNs @9 :List(UInt64);   # how long the holder had held the lock when the wait began; 0 if unknown
  holderHoldNs @10 :List(UInt64);  # the holder's whole hold time when it released during the wait; 0 otherwise
  userStackId @11 :List(UInt32);   # Stack.id of the waiter's user stack at the return; 0 = not captured
  holderUserStackId @12 :List(UInt32);  # Stack.id of the holder's user stack at its acquisition; 0 = not known
}

# In-kernel totals per (lock, kind), cumulative since the start of the
# recording, snapshotted every interval.
struct LocksSummary {
  timeNs @0 :UInt64;               # CLOCK_BOOTTIME of the snapshot
  intervalIndex @1 :UInt32;
  entries @2 :List(LocksSummaryEntry);
  totalNs @3 :UInt64;              # all wait time above the threshold, even where the key did not fit
  totalCount @4 :UInt64;
}

struct LocksSummaryEntry {
  pid @0 :UInt32;
  lockAddress @1 :UInt64;
  kind @2 :UInt8;
  totalNs @3 :UInt64;
  count @4 :UInt64;
  maxNs @5 :UInt64;                # longest single wait so far
}
