/* Raw off-CPU records as the BPF program writes them to the ring buffer and
 * the summary map; decoded by recorder/probes/offcpu.cpp. Fixed-width layouts
 * with explicit padding; every field is written on every path because ring
 * memory is not zeroed. */
#ifndef NETTRAIL_OFFCPU_EVENT_H
#define NETTRAIL_OFFCPU_EVENT_H

#include "nettrail/common.h"

/* Counter slots of the off-CPU program's per-CPU counter array. */
enum nt_offcpu_counter {
	NT_OFFCPU_SWITCHES = 0,     /* sched_switch hits */
	NT_OFFCPU_TRACKED,          /* switch-outs of threads that passed the filters */
	NT_OFFCPU_START_FULL,       /* start map full: that off-CPU period is lost (data loss) */
	NT_OFFCPU_OUTSIDE_RANGE,    /* off-CPU periods shorter than -m or longer than -M */
	NT_OFFCPU_KSTACK_FAILED,    /* kernel stack not captured (stack store full, nettrail/stack.h) */
	NT_OFFCPU_USTACK_FAILED,    /* user stack not captured (user thread; store full, or no frame pointers) */
	NT_OFFCPU_SUMMARY_FULL,     /* summary map full: the period is in totals only (data loss per key) */
	NT_OFFCPU_RESERVE_FAILED,   /* ring buffer full: details record lost (data loss) */
	NT_OFFCPU_WAKEUPS,          /* wakeups of tracked threads */
	NT_OFFCPU_TOTAL_COUNT,      /* off-CPU periods that passed every filter */
	NT_OFFCPU_TOTAL_NS,         /* their summed duration */
	NT_OFFCPU_COUNTER_MAX,
};

/* Per-thread state between switch-out and switch-in (start map value). */
struct nt_offcpu_start {
	__u64 ts_ns;
	__s32 kstack_id;
	__s32 ustack_id;
	__u32 pid;
	__u32 state;
	char comm[NT_TASK_COMM_LEN];
};
NT_STATIC_ASSERT(sizeof(struct nt_offcpu_start) == 40, "nt_offcpu_start layout");

/* Who woke a tracked thread (waker map value, keyed by the wakee's tid). */
struct nt_offcpu_waker {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	char comm[NT_TASK_COMM_LEN];
};
NT_STATIC_ASSERT(sizeof(struct nt_offcpu_waker) == 32, "nt_offcpu_waker layout");

/* One off-CPU period (details mode), written at the switch-in. */
struct nt_offcpu_event {
	__u64 start_ns;     /* bpf_ktime_get_boot_ns at the switch-out */
	__u64 duration_ns;
	__u32 pid;
	__u32 tid;
	__u32 waker_pid;    /* 0 if no wakeup was seen */
	__u32 waker_tid;
	__s32 kstack_id;    /* stack id (nettrail/stack.h), negative if none */
	__s32 ustack_id;
	__u32 state;        /* task state at switch-out */
	__u16 cpu;
	__u16 _pad0;
	char comm[NT_TASK_COMM_LEN];
	char waker_comm[NT_TASK_COMM_LEN];
};
NT_STATIC_ASSERT(sizeof(struct nt_offcpu_event) == 80, "nt_offcpu_event layout");

/* Summary key: (pid, tid, kernel stack, user stack). */
struct nt_offcpu_key {
	__u32 pid;
	__u32 tid;
	__s32 kstack_id;
	__s32 ustack_id;
};
NT_STATIC_ASSERT(sizeof(struct nt_offcpu_key) == 16, "nt_offcpu_key layout");

struct nt_offcpu_total {
	__u64 total_ns;
	__u64 count;
};
NT_STATIC_ASSERT(sizeof(struct nt_offcpu_total) == 16, "nt_offcpu_total layout");

#endif
