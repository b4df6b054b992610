// SPDX-License-Identifier: GPL-2.0
/* Futex family: futex(2) timed from syscall entry to exit per thread. At the
 * entry of a call by a thread that passes the filters, its time, decoded
 * command and futex word address go into a start map; at the exit the call is
 * complete: summary mode adds it to in-kernel totals per (pid, tid, op, uaddr),
 * details mode writes one nt_futex_event when it took at least cfg_min_ns.
 *
 * Syscall tracepoints are not BTF tracepoints: tp_btf and raw_tp can only use
 * the generic raw_syscalls sys_enter/sys_exit, which fire for every syscall of
 * every thread, so the per-syscall classic tracepoints syscalls:sys_enter_futex
 * and sys_exit_futex come first and the raw_syscalls hooks are the fallback
 * for kernels without CONFIG_FTRACE_SYSCALLS event files. futex_waitv(2) and
 * the futex2 syscalls (futex_wake/wait/requeue, 6.7+) are not traced. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nettrail/futex_event.h"

char LICENSE[] SEC("license") = "GPL";

/* arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h */
#if defined(__TARGET_ARCH_x86)
#define NT_NR_FUTEX 202
#elif defined(__TARGET_ARCH_arm64)
#define NT_NR_FUTEX 98
#else
#error "futex: no syscall number for this architecture"
#endif

/* Set by the recorder before load (rodata). */
const volatile bool cfg_details = true;
const volatile bool cfg_summary = true;
const volatile __u32 cfg_pid = 0;       /* 0 = any process */
const volatile __u32 cfg_tid = 0;       /* 0 = any thread */
const volatile __u32 cfg_self_pid = 0;  /* the recorder: never traced */
const volatile __u64 cfg_min_ns = 0;    /* details threshold */
const volatile __u32 cfg_wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by the recorder */
} futex_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct nt_futex_start);
} futex_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the recorder */
	__type(key, struct nt_futex_key);
	__type(value, struct nt_futex_total);
} futex_summary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_FUTEX_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} futex_counters SEC(".maps");

static __always_inline void add(__u32 slot, __u64 n)
{
	__u64 *value = bpf_map_lookup_elem(&futex_counters, &slot);
	if (value)
		*value += n;
}

static __always_inline bool traced(__u32 pid, __u32 tid)
{
	if (pid == cfg_self_pid)
		return false;
	if (cfg_pid && pid != cfg_pid)
		return false;
	if (cfg_tid && tid != cfg_tid)
		return false;
	return true;
}

static __always_inline int handle_enter(__u64 uaddr, int futex_op)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, pid = id >> 32;

	if (!traced(pid, tid))
		return 0;
	struct nt_futex_start start = {};
	start.ts_ns = bpf_ktime_get_boot_ns();
	start.uaddr = uaddr;
	start.pid = pid;
	start.op = nt_futex_cmd(futex_op);
	add(NT_FUTEX_ENTERS, 1);
	if (bpf_map_update_elem(&futex_start, &tid, &start, BPF_ANY))
		add(NT_FUTEX_START_FULL, 1);
	return 0;
}

static __always_inline void add_to_summary(const struct nt_futex_start *start, __u32 tid, __u64 delta, long ret)
{
	struct nt_futex_key key = {};
	key.pid = start->pid;
	key.tid = tid;
	key.uaddr = start->uaddr;
	key.op = start->op;
	struct nt_futex_total *total = bpf_map_lookup_elem(&futex_summary, &key);
	if (!total) {
		struct nt_futex_total zero = {};
		bpf_get_current_comm(zero.comm, sizeof(zero.comm));
		bpf_map_update_elem(&futex_summary, &key, &zero, BPF_NOEXIST);
		total = bpf_map_lookup_elem(&futex_summary, &key);
	}
	if (!total) {
		add(NT_FUTEX_SUMMARY_FULL, 1);
		return;
	}
	/* One key is one thread, and a thread is in one syscall at a time, but
	 * the map is shared with the recorder's reads: atomics keep sums whole. */
	__sync_fetch_and_add(&total->calls, 1);
	__sync_fetch_and_add(&total->total_ns, delta);
	if (ret < 0)
		__sync_fetch_and_add(&total->errors, 1);
	if (delta > total->max_ns)
		total->max_ns = delta;
}

static __always_inline int handle_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct nt_futex_start *found = bpf_map_lookup_elem(&futex_start, &tid);
	if (!found) {
		/* A traced thread's call that began before the programs attached. */
		if (traced(id >> 32, tid))
			add(NT_FUTEX_UNMATCHED_EXIT, 1);
		return 0;
	}
	struct nt_futex_start start = *found;
	bpf_map_delete_elem(&futex_start, &tid);
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 delta = now - start.ts_ns;
	add(NT_FUTEX_TOTAL_CALLS, 1);
	add(NT_FUTEX_TOTAL_NS, delta);
	if (cfg_summary)
		add_to_summary(&start, tid, delta, ret);
	if (!cfg_details)
		return 0;
	if (delta < cfg_min_ns) {
		add(NT_FUTEX_BELOW_MIN_WAIT, 1);
		return 0;
	}
	struct nt_futex_event *e = bpf_ringbuf_reserve(&futex_events, sizeof(*e), 0);
	if (!e) {
		add(NT_FUTEX_RESERVE_FAILED, 1);
		return 0;
	}
	e->start_ns = start.ts_ns;
	e->duration_ns = delta;
	e->uaddr = start.uaddr;
	e->result = ret;
	e->pid = start.pid;
	e->tid = tid;
	e->op = start.op;
	e->_pad0 = 0;
	e->cpu = bpf_get_smp_processor_id();
	e->_pad1 = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__u64 flags = bpf_ringbuf_query(&futex_events, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes ? BPF_RB_FORCE_WAKEUP
												: BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	return 0;
}

/* Candidate 1: the futex syscall's own classic tracepoints. Their records
 * (struct syscall_trace_enter/exit) have the layout of raw_syscalls' records:
 * the syscall number, then the six arguments or the return value. */
SEC("tracepoint/syscalls/sys_enter_futex")
int sys_enter_futex_tp(struct trace_event_raw_sys_enter *args)
{
	return handle_enter(args->args[0], (int)args->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_futex")
int sys_exit_futex_tp(struct trace_event_raw_sys_exit *args)
{
	return handle_exit(args->ret);
}

/* Candidates 2 and 3: raw_syscalls sys_enter/sys_exit, every syscall; the
 * futex arguments are read from the user registers. */
static __always_inline int raw_enter(struct pt_regs *regs, long id)
{
	if (id != NT_NR_FUTEX)
		return 0;
	return handle_enter(PT_REGS_PARM1_CORE_SYSCALL(regs), (int)PT_REGS_PARM2_CORE_SYSCALL(regs));
}

static __always_inline int raw_exit(struct pt_regs *regs, long ret)
{
#if defined(__TARGET_ARCH_x86)
	/* A thread is in one syscall at a time, so the start map alone pairs
	 * entry and exit; orig_ax is checked anyway to skip the lookup. */
	if (BPF_CORE_READ(regs, orig_ax) != NT_NR_FUTEX)
		return 0;
#endif
	return handle_exit(ret);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long id)
{
	return raw_enter(regs, id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_btf, struct pt_regs *regs, long ret)
{
	return raw_exit(regs, ret);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter_raw, struct pt_regs *regs, long id)
{
	return raw_enter(regs, id);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit_raw, struct pt_regs *regs, long ret)
{
	return raw_exit(regs, ret);
}
