/* Raw lock-wait records as the BPF program writes them to the ring buffer and
 * the summary map; decoded by recorder/probes/locks.cpp. Fixed-width layouts
 * with explicit padding; every field is written on every path because ring
 * memory is not zeroed. */
#ifndef NETTRAIL_LOCKS_EVENT_H
#define NETTRAIL_LOCKS_EVENT_H

#include "nettrail/common.h"

/* What a lock call asked for. */
enum nt_lock_kind {
	NT_LOCK_READ = 1,   /* pthread_rwlock_rdlock and its timed/try variants */
	NT_LOCK_WRITE = 2,  /* pthread_rwlock_wrlock and its timed/try variants */
	NT_LOCK_MUTEX = 3,  /* pthread_mutex_lock and its timed/try variants */
};

/* Counter slots of the locks program's per-CPU counter array. */
enum nt_locks_counter {
	NT_LOCKS_CALLS = 0,         /* blocking lock calls entered (waits started) */
	NT_LOCKS_ACQUIRED,          /* lock calls (blocking or try) that returned 0 */
	NT_LOCKS_FAILED,            /* lock calls that returned an error (timeout, EBUSY, EDEADLK...) */
	NT_LOCKS_UNLOCKS,           /* unlock calls */
	NT_LOCKS_BELOW_MIN,         /* waits shorter than --lock-min-wait: counted here only */
	NT_LOCKS_START_FULL,        /* per-thread start map full: that wait is lost (data loss) */
	NT_LOCKS_NO_START,          /* return without a recorded entry (the call began before recording) */
	NT_LOCKS_HOLDER_FULL,       /* holder map full: later waits on that lock have no holder */
	NT_LOCKS_USTACK_FAILED,     /* waiter or holder user stack not captured (map full, no frame pointers) */
	NT_LOCKS_SUMMARY_FULL,      /* summary map full: the wait is in totals only (data loss per key) */
	NT_LOCKS_RESERVE_FAILED,    /* ring buffer full: details record lost (data loss) */
	NT_LOCKS_TOTAL_COUNT,       /* waits of at least --lock-min-wait */
	NT_LOCKS_TOTAL_NS,          /* their summed wait time */
	NT_LOCKS_COUNTER_MAX,
};

/* Per-thread state between a lock call's entry and its return (start map value). */
struct nt_locks_start {
	__u64 lock;             /* address of the pthread_rwlock_t / pthread_mutex_t */
	__u64 ts_ns;            /* entry time */
	__u64 holder_since_ns;  /* when the holder at entry acquired the lock; 0 if unknown */
	__u32 kind;             /* enum nt_lock_kind */
	__u32 holder_tid;       /* holder at entry (writer, mutex owner or last reader); 0 if none known */
	__s32 holder_ustack_id; /* holder's user stack at its acquisition; negative if none */
	__u32 holder_readers;   /* read holds outstanding at entry (rwlocks) */
};
NT_STATIC_ASSERT(sizeof(struct nt_locks_start) == 40, "nt_locks_start layout");

/* Current holder of one lock (holder map value, keyed by lock address).
 * Writers and mutex owners are tracked exactly; for read holds the count and
 * the last thread that took one are kept (tid is cleared when that reader
 * unlocks while other readers remain, so a waiter then sees "readers, holder
 * unknown" rather than a thread that no longer holds it). */
struct nt_locks_holder {
	__u64 acquired_ns;      /* when `tid` acquired it */
	__u64 released_ns;      /* last unlock of a tracked hold */
	__u64 released_hold_ns; /* how long that released hold lasted */
	__u32 tid;              /* current holder; 0 none known */
	__u32 kind;             /* kind of the current hold */
	__u32 readers;          /* read holds outstanding */
	__u32 released_tid;     /* thread of the last unlock of a tracked hold */
	__s32 ustack_id;        /* holder's user stack at acquisition; negative if none */
	__u32 _pad0;
};
NT_STATIC_ASSERT(sizeof(struct nt_locks_holder) == 48, "nt_locks_holder layout");

/* One wait (details mode), written at the lock call's return. */
struct nt_locks_event {
	__u64 start_ns;         /* bpf_ktime_get_boot_ns at the lock call's entry */
	__u64 wait_ns;          /* return minus entry */
	__u64 lock;             /* lock address in the process */
	__u64 holder_held_ns;   /* how long the holder had held it when the wait began; 0 if unknown */
	__u64 holder_hold_ns;   /* the holder's whole hold, if it released during the wait; 0 otherwise */
	__u32 pid;
	__u32 tid;
	__u32 holder_tid;       /* 0 if unknown */
	__u32 holder_readers;   /* read holds outstanding when the wait began */
	__s32 ustack_id;        /* waiter's user stack at the return; negative if none */
	__s32 holder_ustack_id; /* holder's user stack at its acquisition; negative if none */
	__s32 result;           /* the call's return value: 0 acquired, else an errno number */
	__u32 kind;             /* enum nt_lock_kind */
	char comm[NT_TASK_COMM_LEN];
};
NT_STATIC_ASSERT(sizeof(struct nt_locks_event) == 88, "nt_locks_event layout");

/* Summary key: (lock, kind). */
struct nt_locks_key {
	__u64 lock;
	__u32 kind;
	__u32 _pad0;
};
NT_STATIC_ASSERT(sizeof(struct nt_locks_key) == 16, "nt_locks_key layout");

struct nt_locks_total {
	__u64 total_ns;
	__u64 count;
	__u64 max_ns;
};
NT_STATIC_ASSERT(sizeof(struct nt_locks_total) == 24, "nt_locks_total layout");

#endif
