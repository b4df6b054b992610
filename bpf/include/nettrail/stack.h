/* Stack store shared by every family that records stacks.
 *
 * Why not BPF_MAP_TYPE_STACK_TRACE: its id is a 32-bit hash of the frames
 * masked to the map's size, and a second stack whose hash lands in an
 * occupied bucket is refused (-EEXIST) for the rest of the recording. With a
 * few dozen distinct stacks in a 16384-entry map a recording loses a whole
 * stack every few dozen runs; with thousands (system-wide drops, off-CPU)
 * dozens of stacks are lost, whatever the map's size.
 *
 * Here a stack is taken with bpf_get_stack into a per-CPU scratch, hashed to
 * 64 bits, and stored in a hash map under a 31-bit id derived from that hash;
 * the value keeps the full hash, so an id whose slot holds another stack is
 * detected and the next id is tried (open addressing, NT_STACK_PROBES
 * tries). A stack is refused only when the map is full or its probes are all
 * taken. Ids are non-negative __s32, so the families' event fields (-1 =
 * none) stay as they were; the recorder reads the frames by id. */
#ifndef NETTRAIL_STACK_H
#define NETTRAIL_STACK_H

#include "nettrail/common.h"

/* The stored value: the frames' 64-bit hash (never 0), then the frames,
 * zero after the last one. */
struct nt_stack_value {
	__u64 hash;
	__u64 ips[NT_MAX_STACK_DEPTH];
};
NT_STATIC_ASSERT(sizeof(struct nt_stack_value) == 8 + NT_MAX_STACK_DEPTH * 8, "nt_stack_value layout");

#define NT_STACK_ID_MASK 0x7fffffffu
#define NT_STACK_PROBES 4

#ifndef __cplusplus

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the recorder */
	__type(key, __u32);
	__type(value, struct nt_stack_value);
} nt_stacks SEC(".maps");

/* Two scratch slots per CPU: a program that interrupts another one taking a
 * stack on the same CPU (softirq over process context), or runs while it is
 * preempted (fentry and tp_btf programs only disable migration), uses the
 * second; a third fails (counted by the caller) rather than corrupt either.
 * A slot is taken by an atomic add of 1 that reads back 1 afterwards; any
 * other reading backs out with an atomic add of -1 (plain atomic adds, no
 * fetch: the oldest BPF instruction set has them). Two takers that both
 * read 2 both back out, so no two programs ever share a slot. */
struct nt_stack_scratch {
	__u64 busy;
	struct nt_stack_value v;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct nt_stack_scratch);
} nt_stack_scratch SEC(".maps");

static __always_inline __u64 nt_stack_hash(const struct nt_stack_value *v, __u32 depth, __u64 flags)
{
	__u64 h = 0x9e3779b97f4a7c15ULL ^ flags;
	for (__u32 i = 0; i < NT_MAX_STACK_DEPTH; i++) {
		if (i >= depth)
			break;
		h = (h ^ v->ips[i]) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	/* splitmix64 finalizer: every input bit reaches the id bits. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h ? h : 1;
}

/* Scratch slot SLOT of this CPU if no other program holds it, else 0. */
static __always_inline struct nt_stack_scratch *nt_stack_take(__u32 slot)
{
	struct nt_stack_scratch *s = bpf_map_lookup_elem(&nt_stack_scratch, &slot);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->busy, 1);
	if (*(volatile __u64 *)&s->busy == 1)
		return s;
	__sync_fetch_and_add(&s->busy, -1);
	return 0;
}

/* The stack id of the current kernel (flags 0) or user (BPF_F_USER_STACK)
 * stack, or -1 if it could not be taken or stored. */
static __always_inline __s32 nt_stack_id(void *ctx, __u64 flags)
{
	struct nt_stack_scratch *s = nt_stack_take(0);
	if (!s)
		s = nt_stack_take(1);
	if (!s)
		return -1;
	__s32 result = -1;
	/* bpf_get_stack zeroes the buffer after the last frame it copies. */
	long bytes = bpf_get_stack(ctx, s->v.ips, sizeof(s->v.ips), flags);
	if (bytes <= 0)
		goto out;
	s->v.hash = nt_stack_hash(&s->v, (__u32)bytes / 8, flags);
	__u32 id = (__u32)(s->v.hash ^ (s->v.hash >> 32)) & NT_STACK_ID_MASK;
	for (int probe = 0; probe < NT_STACK_PROBES; probe++) {
		struct nt_stack_value *have = bpf_map_lookup_elem(&nt_stacks, &id);
		if (!have) {
			long err = bpf_map_update_elem(&nt_stacks, &id, &s->v, BPF_NOEXIST);
			if (!err) {
				result = id;
				break;
			}
			if (err != -17 /* EEXIST: another CPU stored this id first */)
				break; /* map full */
			have = bpf_map_lookup_elem(&nt_stacks, &id);
		}
		if (have && have->hash == s->v.hash) {
			result = id;
			break;
		}
		id = (id + 1) & NT_STACK_ID_MASK;
	}
out:
	__sync_fetch_and_add(&s->busy, -1);
	return result;
}

#endif /* !__cplusplus */

#endif
