// SPDX-License-Identifier: GPL-2.0
/* Locks family: uprobes on the target process's own libc. At a lock call's
 * entry (pthread_rwlock_rdlock/wrlock, pthread_mutex_lock and their timed and
 * try variants) the thread's lock address, time and kind go into a start map,
 * together with a snapshot of who held that lock then (the holder map). At
 * the call's return (uretprobe) the wait is complete: waits of at least
 * cfg_min_ns go to per-(lock, kind) totals (summary) and to one
 * nt_locks_event each (details) with the waiter's user stack, taken at the
 * return so its innermost frame is the caller. A successful acquisition makes
 * the thread the lock's holder, with its user stack; the unlock clears it and
 * keeps how long the hold lasted, so a waiter learns the holder's hold time
 * when the release happened during its wait. The recorder attaches every
 * program by file offset (libbpf cannot resolve glibc's versioned names) and
 * only for the -p process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nettrail/locks_event.h"
#include "nettrail/stack.h"

char LICENSE[] SEC("license") = "GPL";

/* Start-map kind bit: a trylock call, which never waits and only acquires. */
#define NT_LOCK_TRY 0x100
#define NT_LOCK_KIND_MASK 0xff

/* Set by the recorder before load (rodata). */
const volatile bool cfg_details = true;
const volatile bool cfg_summary = true;
const volatile bool cfg_user_stacks = true;
const volatile bool cfg_holder_stacks = true;
const volatile __u32 cfg_pid = 0;
const volatile __u64 cfg_min_ns = 50000;
const volatile __u32 cfg_wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by the recorder */
} locks_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct nt_locks_start);
} locks_start SEC(".maps");

/* One entry per lock address seen; LRU so locks that are gone age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* lock address */
	__type(value, struct nt_locks_holder);
} locks_holders SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the recorder */
	__type(key, struct nt_locks_key);
	__type(value, struct nt_locks_total);
} locks_summary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_LOCKS_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} locks_counters SEC(".maps");

static __always_inline void add(__u32 slot, __u64 n)
{
	__u64 *value = bpf_map_lookup_elem(&locks_counters, &slot);
	if (value)
		*value += n;
}

static __always_inline int lock_enter(__u64 lock, __u32 kind)
{
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if (cfg_pid && (id >> 32) != cfg_pid)
		return 0;
	struct nt_locks_start start = {};
	start.lock = lock;
	start.ts_ns = now;
	start.kind = kind;
	start.holder_ustack_id = -1;
	if (!(kind & NT_LOCK_TRY)) {
		add(NT_LOCKS_CALLS, 1);
		/* "The holder when the wait began": whoever the holder map names now. */
		struct nt_locks_holder *h = bpf_map_lookup_elem(&locks_holders, &lock);
		if (h) {
			start.holder_tid = h->tid;
			start.holder_readers = h->readers;
			if (h->tid) {
				start.holder_since_ns = h->acquired_ns;
				start.holder_ustack_id = h->ustack_id;
			}
		}
	}
	if (bpf_map_update_elem(&locks_start, &tid, &start, BPF_ANY))
		add(NT_LOCKS_START_FULL, 1);
	return 0;
}

static __always_inline __s32 user_stack(struct pt_regs *ctx)
{
	__s32 id = nt_stack_id(ctx, BPF_F_USER_STACK);
	if (id < 0)
		add(NT_LOCKS_USTACK_FAILED, 1);
	return id;
}

/* A wait of at least cfg_min_ns: totals and the details record. Returns the
 * waiter's stack id if it took one (so the acquisition can reuse it). */
static __always_inline __s32 record_wait(struct pt_regs *ctx, struct nt_locks_start *start, __u32 kind, int ret,
					 __u64 now, __u32 pid, __u32 tid)
{
	__u64 wait = now - start->ts_ns;
	__s32 stack = -1;

	add(NT_LOCKS_TOTAL_COUNT, 1);
	add(NT_LOCKS_TOTAL_NS, wait);
	if (cfg_summary) {
		struct nt_locks_key key = {.lock = start->lock, .kind = kind};
		struct nt_locks_total *total = bpf_map_lookup_elem(&locks_summary, &key);
		if (!total) {
			struct nt_locks_total zero = {};
			bpf_map_update_elem(&locks_summary, &key, &zero, BPF_NOEXIST);
			total = bpf_map_lookup_elem(&locks_summary, &key);
		}
		if (total) {
			__sync_fetch_and_add(&total->total_ns, wait);
			__sync_fetch_and_add(&total->count, 1);
			if (wait > total->max_ns) /* racy by design: a lost update only understates a max */
				total->max_ns = wait;
		} else {
			add(NT_LOCKS_SUMMARY_FULL, 1);
		}
	}
	if (!cfg_details)
		return -1;
	if (cfg_user_stacks)
		stack = user_stack(ctx);
	struct nt_locks_event *e = bpf_ringbuf_reserve(&locks_events, sizeof(*e), 0);
	if (!e) {
		add(NT_LOCKS_RESERVE_FAILED, 1);
		return stack;
	}
	e->start_ns = start->ts_ns;
	e->wait_ns = wait;
	e->lock = start->lock;
	e->holder_held_ns = start->holder_since_ns && start->holder_since_ns <= start->ts_ns
				    ? start->ts_ns - start->holder_since_ns
				    : 0;
	e->holder_hold_ns = 0;
	struct nt_locks_holder *h = bpf_map_lookup_elem(&locks_holders, &start->lock);
	/* The holder seen at entry released the lock during this wait. */
	if (h && start->holder_tid && h->released_tid == start->holder_tid && h->released_ns >= start->ts_ns)
		e->holder_hold_ns = h->released_hold_ns;
	e->pid = pid;
	e->tid = tid;
	e->holder_tid = start->holder_tid;
	e->holder_readers = start->holder_readers;
	e->ustack_id = stack;
	e->holder_ustack_id = start->holder_ustack_id;
	e->result = ret;
	e->kind = kind;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__u64 flags = bpf_ringbuf_query(&locks_events, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes ? BPF_RB_FORCE_WAKEUP
											      : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	return stack;
}

static __always_inline int lock_return(struct pt_regs *ctx, int ret)
{
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, pid = id >> 32;

	if (cfg_pid && pid != cfg_pid)
		return 0;
	struct nt_locks_start *found = bpf_map_lookup_elem(&locks_start, &tid);
	if (!found) {
		add(NT_LOCKS_NO_START, 1);
		return 0;
	}
	struct nt_locks_start start = *found;
	bpf_map_delete_elem(&locks_start, &tid);
	__u32 kind = start.kind & NT_LOCK_KIND_MASK;
	__s32 stack = -1;

	if (!(start.kind & NT_LOCK_TRY)) {
		if (now - start.ts_ns < cfg_min_ns)
			add(NT_LOCKS_BELOW_MIN, 1);
		else
			stack = record_wait(ctx, &start, kind, ret, now, pid, tid);
	}
	if (ret != 0) {
		add(NT_LOCKS_FAILED, 1);
		return 0;
	}
	add(NT_LOCKS_ACQUIRED, 1);
	if (cfg_holder_stacks && stack < 0)
		stack = user_stack(ctx);
	struct nt_locks_holder *h = bpf_map_lookup_elem(&locks_holders, &start.lock);
	if (h) {
		h->readers = kind == NT_LOCK_READ ? h->readers + 1 : 0;
		h->tid = tid;
		h->kind = kind;
		h->acquired_ns = now;
		h->ustack_id = stack;
		return 0;
	}
	struct nt_locks_holder fresh = {};
	fresh.tid = tid;
	fresh.kind = kind;
	fresh.readers = kind == NT_LOCK_READ ? 1 : 0;
	fresh.acquired_ns = now;
	fresh.ustack_id = stack;
	if (bpf_map_update_elem(&locks_holders, &start.lock, &fresh, BPF_ANY))
		add(NT_LOCKS_HOLDER_FULL, 1);
	return 0;
}

static __always_inline int handle_unlock(__u64 lock)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if (cfg_pid && (id >> 32) != cfg_pid)
		return 0;
	add(NT_LOCKS_UNLOCKS, 1);
	struct nt_locks_holder *h = bpf_map_lookup_elem(&locks_holders, &lock);
	if (!h)
		return 0;
	__u64 now = bpf_ktime_get_boot_ns();
	if (h->kind == NT_LOCK_READ && h->readers > 0) {
		/* A read unlock: one hold fewer. Only the tracked reader's hold has a known length. */
		h->readers--;
		if (h->tid == tid) {
			h->released_tid = tid;
			h->released_ns = now;
			h->released_hold_ns = now - h->acquired_ns;
			h->tid = 0;
		}
		if (h->readers == 0)
			h->tid = 0;
		return 0;
	}
	/* Writer or mutex owner (normally `tid` itself; robust and error-checking
	 * mutexes aside, another thread's unlock is undefined behaviour). */
	if (h->tid) {
		h->released_tid = h->tid;
		h->released_ns = now;
		h->released_hold_ns = now - h->acquired_ns;
	}
	h->tid = 0;
	h->readers = 0;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(rdlock_enter, void *lock)
{
	return lock_enter((__u64)lock, NT_LOCK_READ);
}

SEC("uprobe")
int BPF_KPROBE(wrlock_enter, void *lock)
{
	return lock_enter((__u64)lock, NT_LOCK_WRITE);
}

SEC("uprobe")
int BPF_KPROBE(mutex_enter, void *lock)
{
	return lock_enter((__u64)lock, NT_LOCK_MUTEX);
}

SEC("uprobe")
int BPF_KPROBE(tryrdlock_enter, void *lock)
{
	return lock_enter((__u64)lock, NT_LOCK_READ | NT_LOCK_TRY);
}

SEC("uprobe")
int BPF_KPROBE(trywrlock_enter, void *lock)
{
	return lock_enter((__u64)lock, NT_LOCK_WRITE | NT_LOCK_TRY);
}

SEC("uprobe")
int BPF_KPROBE(trymutex_enter, void *lock)
{
	return lock_enter((__u64)lock, NT_LOCK_MUTEX | NT_LOCK_TRY);
}

/* Shared by every lock call's return: the start map knows the kind. */
SEC("uretprobe")
int BPF_KRETPROBE(lock_exit, int ret)
{
	return lock_return(ctx, ret);
}

SEC("uprobe")
int BPF_KPROBE(unlock_enter, void *lock)
{
	return handle_unlock((__u64)lock);
}
