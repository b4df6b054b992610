// SPDX-License-Identifier: GPL-2.0
/* Off-CPU family: sched_switch + sched_waking. At the switch-out of a thread
 * that passes the filters, its time, state and kernel+user stacks go into a
 * start map; at its switch-in the period is complete: summary mode adds it to
 * in-kernel totals per (pid, tid, kernel stack, user stack), details mode
 * writes one nt_offcpu_event with the waker recorded by sched_waking. Each hook
 * has three candidates (tp_btf -> raw_tp -> tracepoint) sharing one handler. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nettrail/offcpu_event.h"
#include "nettrail/stack.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000

/* Set by the recorder before load (rodata). */
const volatile bool cfg_details = true;
const volatile bool cfg_summary = true;
const volatile bool cfg_user_stacks = true;
const volatile bool cfg_kernel_stacks = true;
const volatile __u32 cfg_pid = 0;       /* 0 = any process */
const volatile __u32 cfg_tid = 0;       /* 0 = any thread */
const volatile __u32 cfg_self_pid = 0;  /* the recorder: never traced */
const volatile bool cfg_has_state = false;
const volatile __u32 cfg_state = 0;
const volatile __u64 cfg_min_ns = 1000;
const volatile __u64 cfg_max_ns = ~0ull;
const volatile __u32 cfg_wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by the recorder */
} offcpu_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct nt_offcpu_start);
} offcpu_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* wakee tid */
	__type(value, struct nt_offcpu_waker);
} offcpu_wakers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the recorder */
	__type(key, struct nt_offcpu_key);
	__type(value, struct nt_offcpu_total);
} offcpu_summary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_OFFCPU_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} offcpu_counters SEC(".maps");

static __always_inline void add(__u32 slot, __u64 n)
{
	__u64 *value = bpf_map_lookup_elem(&offcpu_counters, &slot);
	if (value)
		*value += n;
}

/* 2f064a59a1 ("sched: Change task_struct::state") renamed state to __state (5.14). */
struct task_struct___o {
	volatile long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___o *)task, state);
}

static __always_inline bool state_matches(__u32 state)
{
	if (!cfg_has_state)
		return true;
	/* Like offcputime: 0 means "was runnable" (preempted), otherwise any of the bits. */
	return cfg_state == 0 ? state == 0 : (state & cfg_state) != 0;
}

/* Switch-out of the current thread: remember when and where it stopped. */
static __always_inline void switch_out(void *ctx, __u64 now)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, pid = id >> 32;

	if (!tid || pid == cfg_self_pid)
		return;
	if (cfg_pid && pid != cfg_pid)
		return;
	if (cfg_tid && tid != cfg_tid)
		return;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	/* The reportable run states only: modifier bits such as TASK_FREEZABLE
	 * (0x2000 since f5d39b020809, 6.1) would make one sleep look like many. */
	__u32 state = task_state(task) & 0xff;
	if (!state_matches(state))
		return;
	add(NT_OFFCPU_TRACKED, 1);

	struct nt_offcpu_start start = {};
	start.ts_ns = now;
	start.pid = pid;
	start.state = state;
	start.kstack_id = -1;
	start.ustack_id = -1;
	bpf_get_current_comm(start.comm, sizeof(start.comm));
	if (cfg_kernel_stacks) {
		start.kstack_id = nt_stack_id(ctx, 0);
		if (start.kstack_id < 0)
			add(NT_OFFCPU_KSTACK_FAILED, 1);
	}
	if (cfg_user_stacks && !(BPF_CORE_READ(task, flags) & PF_KTHREAD)) {
		start.ustack_id = nt_stack_id(ctx, BPF_F_USER_STACK);
		if (start.ustack_id < 0)
			add(NT_OFFCPU_USTACK_FAILED, 1);
	}
	if (bpf_map_update_elem(&offcpu_start, &tid, &start, BPF_ANY))
		add(NT_OFFCPU_START_FULL, 1);
}

/* Switch-in of `tid`: its off-CPU period, if it was tracked, ends now. */
static __always_inline void switch_in(__u32 tid, __u64 now)
{
	if (!tid)
		return;
	struct nt_offcpu_start *found = bpf_map_lookup_elem(&offcpu_start, &tid);
	if (!found)
		return;
	struct nt_offcpu_start start = *found;
	bpf_map_delete_elem(&offcpu_start, &tid);
	__u64 delta = now - start.ts_ns;
	if (delta < cfg_min_ns || delta > cfg_max_ns) {
		add(NT_OFFCPU_OUTSIDE_RANGE, 1);
		bpf_map_delete_elem(&offcpu_wakers, &tid);
		return;
	}
	add(NT_OFFCPU_TOTAL_COUNT, 1);
	add(NT_OFFCPU_TOTAL_NS, delta);

	if (cfg_summary) {
		struct nt_offcpu_key key = {
			.pid = start.pid,
			.tid = tid,
			.kstack_id = start.kstack_id,
			.ustack_id = start.ustack_id,
		};
		struct nt_offcpu_total *total = bpf_map_lookup_elem(&offcpu_summary, &key);
		if (!total) {
			struct nt_offcpu_total zero = {};
			bpf_map_update_elem(&offcpu_summary, &key, &zero, BPF_NOEXIST);
			total = bpf_map_lookup_elem(&offcpu_summary, &key);
		}
		if (total) {
			__sync_fetch_and_add(&total->total_ns, delta);
			__sync_fetch_and_add(&total->count, 1);
		} else {
			add(NT_OFFCPU_SUMMARY_FULL, 1);
		}
	}

	if (cfg_details) {
		struct nt_offcpu_event *e = bpf_ringbuf_reserve(&offcpu_events, sizeof(*e), 0);
		if (!e) {
			add(NT_OFFCPU_RESERVE_FAILED, 1);
			bpf_map_delete_elem(&offcpu_wakers, &tid);
			return;
		}
		e->start_ns = start.ts_ns;
		e->duration_ns = delta;
		e->pid = start.pid;
		e->tid = tid;
		e->kstack_id = start.kstack_id;
		e->ustack_id = start.ustack_id;
		e->state = start.state;
		e->cpu = bpf_get_smp_processor_id();
		e->_pad0 = 0;
		__builtin_memcpy(e->comm, start.comm, sizeof(e->comm));
		struct nt_offcpu_waker *waker = bpf_map_lookup_elem(&offcpu_wakers, &tid);
		/* A wakeup belongs to this period only if it happened after the switch-out. */
		if (waker && waker->ts_ns >= start.ts_ns) {
			e->waker_pid = waker->pid;
			e->waker_tid = waker->tid;
			__builtin_memcpy(e->waker_comm, waker->comm, sizeof(e->comm));
		} else {
			e->waker_pid = 0;
			e->waker_tid = 0;
			__builtin_memset(e->waker_comm, 0, sizeof(e->waker_comm));
		}
		__u64 flags = bpf_ringbuf_query(&offcpu_events, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes
				      ? BPF_RB_FORCE_WAKEUP
				      : BPF_RB_NO_WAKEUP;
		bpf_ringbuf_submit(e, flags);
	}
	bpf_map_delete_elem(&offcpu_wakers, &tid);
}

static __always_inline int handle_switch(void *ctx, __u32 next_tid)
{
	__u64 now = bpf_ktime_get_boot_ns();
	add(NT_OFFCPU_SWITCHES, 1);
	switch_out(ctx, now);
	switch_in(next_tid, now);
	return 0;
}

/* Runs in the waker's context (sched_waking, unlike sched_wakeup, which can
 * fire on the wakee's CPU from an IPI where current is not the waker). */
static __always_inline int handle_waking(__u32 wakee_tid)
{
	if (!wakee_tid || !bpf_map_lookup_elem(&offcpu_start, &wakee_tid))
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct nt_offcpu_waker waker = {};
	waker.ts_ns = bpf_ktime_get_boot_ns();
	waker.pid = id >> 32;
	waker.tid = (__u32)id;
	bpf_get_current_comm(waker.comm, sizeof(waker.comm));
	bpf_map_update_elem(&offcpu_wakers, &wakee_tid, &waker, BPF_ANY);
	add(NT_OFFCPU_WAKEUPS, 1);
	return 0;
}

/* Candidate 1: BTF-typed tracepoints. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return handle_switch(ctx, BPF_CORE_READ(next, pid));
}

SEC("tp_btf/sched_waking")
int BPF_PROG(sched_waking_btf, struct task_struct *p)
{
	return handle_waking(BPF_CORE_READ(p, pid));
}

/* Candidate 2: raw tracepoints, same arguments without BTF typing. */
SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return handle_switch(ctx, BPF_CORE_READ(next, pid));
}

SEC("raw_tp/sched_waking")
int BPF_PROG(sched_waking_raw, struct task_struct *p)
{
	return handle_waking(BPF_CORE_READ(p, pid));
}

/* Candidate 3: classic tracepoints. */
SEC("tracepoint/sched/sched_switch")
int sched_switch_tp(struct trace_event_raw_sched_switch *args)
{
	return handle_switch(args, (__u32)BPF_CORE_READ(args, next_pid));
}

SEC("tracepoint/sched/sched_waking")
int sched_waking_tp(struct trace_event_raw_sched_wakeup_template *args)
{
	return handle_waking((__u32)BPF_CORE_READ(args, pid));
}

/* Kernels before 4.3 have no sched_waking (fbd705a0c618 "sched: Introduce
 * the 'trace_sched_waking' tracepoint"): sched_wakeup is the fallback. */
SEC("tracepoint/sched/sched_wakeup")
int sched_wakeup_tp(struct trace_event_raw_sched_wakeup_template *args)
{
	return handle_waking((__u32)BPF_CORE_READ(args, pid));
}
