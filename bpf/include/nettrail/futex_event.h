/* Raw futex records as the BPF program writes them to the ring buffer and the
 * summary map; decoded by recorder/probes/futex.cpp. Fixed-width layouts with
 * explicit padding; every field is written on every path because ring memory
 * is not zeroed. */
#ifndef NETTRAIL_FUTEX_EVENT_H
#define NETTRAIL_FUTEX_EVENT_H

#include "nettrail/common.h"

/* include/uapi/linux/futex.h: the command is futex_op without these two flags. */
#define NT_FUTEX_PRIVATE_FLAG 128
#define NT_FUTEX_CLOCK_REALTIME 256
#define NT_FUTEX_CMD_MASK (~(NT_FUTEX_PRIVATE_FLAG | NT_FUTEX_CLOCK_REALTIME))
/* Commands above this (none exist up to 6.18, whose last is FUTEX_LOCK_PI2 = 13)
 * are stored as this value: the kernel answers them with ENOSYS. */
#define NT_FUTEX_CMD_UNKNOWN 255

/* FUTEX_* command of a futex(2) futex_op argument, as stored in FutexEvents.op. */
static inline __u8 nt_futex_cmd(int futex_op)
{
	int cmd = futex_op & NT_FUTEX_CMD_MASK;
	return cmd < 0 || cmd >= NT_FUTEX_CMD_UNKNOWN ? NT_FUTEX_CMD_UNKNOWN : (__u8)cmd;
}

/* Counter slots of the futex program's per-CPU counter array. */
enum nt_futex_counter {
	NT_FUTEX_ENTERS = 0,        /* futex(2) entries that passed the filters */
	NT_FUTEX_START_FULL,        /* start map full: that call is lost (data loss) */
	NT_FUTEX_UNMATCHED_EXIT,    /* exits without a recorded entry (call began before the recording) */
	NT_FUTEX_BELOW_MIN_WAIT,    /* calls shorter than --futex-min-wait: in the summary, not in details */
	NT_FUTEX_SUMMARY_FULL,      /* summary map full: the call is in totals only (data loss per key) */
	NT_FUTEX_RESERVE_FAILED,    /* ring buffer full: details record lost (data loss) */
	NT_FUTEX_TOTAL_CALLS,       /* completed calls that passed the filters */
	NT_FUTEX_TOTAL_NS,          /* their summed time in the syscall */
	NT_FUTEX_COUNTER_MAX,
};

/* Per-thread state between sys_enter and sys_exit (start map value). */
struct nt_futex_start {
	__u64 ts_ns;
	__u64 uaddr;
	__u32 pid;
	__u8 op;
	__u8 _pad0[3];
};
NT_STATIC_ASSERT(sizeof(struct nt_futex_start) == 24, "nt_futex_start layout");

/* One futex call (details mode), written at sys_exit. */
struct nt_futex_event {
	__u64 start_ns;     /* bpf_ktime_get_boot_ns at sys_enter */
	__u64 duration_ns;  /* sys_exit minus sys_enter */
	__u64 uaddr;
	__s64 result;       /* syscall return value, negative errno */
	__u32 pid;
	__u32 tid;
	__u8 op;            /* nt_futex_cmd() of futex_op */
	__u8 _pad0;
	__u16 cpu;
	__u32 _pad1;
	char comm[NT_TASK_COMM_LEN];
};
NT_STATIC_ASSERT(sizeof(struct nt_futex_event) == 64, "nt_futex_event layout");

/* Summary key: (pid, tid, op, uaddr). */
struct nt_futex_key {
	__u32 pid;
	__u32 tid;
	__u64 uaddr;
	__u8 op;
	__u8 _pad0[7];
};
NT_STATIC_ASSERT(sizeof(struct nt_futex_key) == 24, "nt_futex_key layout");

struct nt_futex_total {
	__u64 calls;
	__u64 total_ns;
	__u64 max_ns;
	__u64 errors;
	/* The thread's name when the key was created, so summary-only
	 * recordings name their threads even if they exited before a snapshot. */
	char comm[NT_TASK_COMM_LEN];
};
NT_STATIC_ASSERT(sizeof(struct nt_futex_total) == 48, "nt_futex_total layout");

#endif
