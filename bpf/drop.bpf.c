// SPDX-License-Identifier: GPL-2.0
/* Drop family: skb:kfree_skb. One shared handler, three attach candidates
 * (tp_btf -> raw_tp -> tracepoint); the recorder loads exactly one. Summary
 * mode counts per (stack, device, flow, reason, location) in a per-CPU hash;
 * details mode writes one nt_drop_event per drop to the ring buffer. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nettrail/drop_event.h"
#include "nettrail/flow_filter.h"
#include "nettrail/packet.h"
#include "nettrail/stack.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the recorder before load (rodata). */
const volatile bool cfg_details = true;
const volatile bool cfg_summary = true;
const volatile bool cfg_stacks = true;
const volatile bool cfg_normal_filter = true;
const volatile __u32 cfg_wakeup_bytes = 256 * 1024;
const volatile __u8 cfg_l4_proto = 0;      /* 0 = any */
const volatile __u16 cfg_eth_type = 0;     /* 0 = any */
const volatile __u16 cfg_vlan_id = NT_VLAN_NONE; /* NT_VLAN_NONE = any */
const volatile bool cfg_has_ifname = false;
const volatile char cfg_ifname[NT_IFNAMSIZ] = {};
const volatile __u32 cfg_netns = 0;        /* 0 = any */
const volatile __u32 cfg_consumed_reason = 0xffffffff;  /* SKB_CONSUMED on this kernel */
const volatile __u32 cfg_normal_ranges = 0;
const volatile __u64 cfg_normal_start[NT_DROP_MAX_NORMAL_RANGES] = {};
const volatile __u64 cfg_normal_end[NT_DROP_MAX_NORMAL_RANGES] = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by the recorder */
} drop_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384); /* resized by the recorder */
	__type(key, struct nt_drop_key);
	__type(value, __u64);
} drop_summary SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_DROP_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drop_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct nt_device_key);
	__type(value, struct nt_device_name);
} drop_devices SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&drop_counters, &slot);
	if (value)
		*value += 1;
}

static __always_inline bool is_normal_free(__u32 reason, __u64 location)
{
	if (!cfg_normal_filter)
		return false;
	if (reason == cfg_consumed_reason)
		return true;
	for (__u32 i = 0; i < NT_DROP_MAX_NORMAL_RANGES; i++) {
		if (i >= cfg_normal_ranges)
			break;
		if (location >= cfg_normal_start[i] && location < cfg_normal_end[i])
			return true;
	}
	return false;
}

static __always_inline bool passes_packet_filters(const struct nt_packet *p)
{
	if (cfg_eth_type && p->eth_type != cfg_eth_type)
		return false;
	if (cfg_vlan_id != NT_VLAN_NONE && p->vlan_id != cfg_vlan_id)
		return false;
	if (cfg_l4_proto && p->l4_proto != cfg_l4_proto)
		return false;
	return nt_flow_matches(p);
}

static __always_inline void learn_device(struct net_device *dev, __u32 netns, __u32 ifindex)
{
	struct nt_device_key key = { .netns = netns, .ifindex = ifindex };
	if (bpf_map_lookup_elem(&drop_devices, &key))
		return;
	struct nt_device_name name = {};
	bpf_probe_read_kernel_str(name.name, sizeof(name.name), dev->name);
	bpf_map_update_elem(&drop_devices, &key, &name, BPF_NOEXIST);
}

static __always_inline int handle_kfree_skb(void *ctx, struct sk_buff *skb, __u64 location, __u32 reason)
{
	count(NT_DROP_SEEN);
	if (is_normal_free(reason, location)) {
		count(NT_DROP_NORMAL);
		return 0;
	}
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	__u32 ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	__u32 netns = nt_skb_netns(skb);
	if (cfg_netns && netns != cfg_netns) {
		count(NT_DROP_FILTERED);
		return 0;
	}
	if (cfg_has_ifname) {
		char name[NT_IFNAMSIZ] = {};
		if (!dev) {
			count(NT_DROP_FILTERED);
			return 0;
		}
		bpf_probe_read_kernel_str(name, sizeof(name), dev->name);
		for (int i = 0; i < NT_IFNAMSIZ; i++) {
			if (name[i] != cfg_ifname[i]) {
				count(NT_DROP_FILTERED);
				return 0;
			}
			if (!name[i])
				break;
		}
	}

	struct nt_packet pkt;
	nt_parse_skb(skb, &pkt);
	if (!passes_packet_filters(&pkt)) {
		count(NT_DROP_FILTERED);
		return 0;
	}
	if (dev)
		learn_device(dev, netns, ifindex);

	__s32 stack_id = -1;
	if (cfg_stacks) {
		stack_id = nt_stack_id(ctx, 0);
		if (stack_id < 0)
			count(NT_DROP_STACK_FAILED);
	}

	if (cfg_summary) {
		struct nt_drop_key key = {};
		key.stack_id = stack_id;
		key.netns = netns;
		key.ifindex = ifindex;
		key.reason = reason;
		key.l3_kind = pkt.l3_kind;
		key.l4_proto = pkt.l4_proto;
		__builtin_memcpy(key.saddr, pkt.saddr, 16);
		__builtin_memcpy(key.daddr, pkt.daddr, 16);
		key.sport = pkt.sport;
		key.dport = pkt.dport;
		key.location = location;
		count(NT_DROP_SUMMARY_TOTAL);
		__u64 *value = bpf_map_lookup_elem(&drop_summary, &key);
		if (value) {
			*value += 1;
		} else {
			__u64 one = 1;
			if (bpf_map_update_elem(&drop_summary, &key, &one, BPF_NOEXIST)) {
				/* Raced with another CPU creating the key, or the map is full. */
				value = bpf_map_lookup_elem(&drop_summary, &key);
				if (value)
					*value += 1;
				else
					count(NT_DROP_SUMMARY_FULL);
			}
		}
	}

	if (cfg_details) {
		struct nt_drop_event *e = bpf_ringbuf_reserve(&drop_events, sizeof(*e), 0);
		if (!e) {
			count(NT_DROP_RESERVE_FAILED);
			return 0;
		}
		__u64 id = bpf_get_current_pid_tgid();
		e->ts_ns = bpf_ktime_get_boot_ns();
		e->location = location;
		e->pid = id >> 32;
		e->tid = (__u32)id;
		e->stack_id = stack_id;
		e->netns = netns;
		e->ifindex = ifindex;
		e->len = BPF_CORE_READ(skb, len);
		e->reason = reason;
		e->cpu = bpf_get_smp_processor_id();
		e->_pad0 = 0;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		__builtin_memcpy(&e->pkt, &pkt, sizeof(pkt));
		/* Batched wake-ups: wake the reader only once enough data is waiting;
		 * it polls with a short timeout for the rest. */
		__u64 flags = bpf_ringbuf_query(&drop_events, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes
				      ? BPF_RB_FORCE_WAKEUP
				      : BPF_RB_NO_WAKEUP;
		bpf_ringbuf_submit(e, flags);
	}
	return 0;
}

/* Candidate 1: BTF-typed tracepoint (kernel >= 5.5; reason argument >= 5.17). */
SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb_btf, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return handle_kfree_skb(ctx, skb, (__u64)location, (__u32)reason);
}

/* Candidate 2: raw tracepoint, same arguments without BTF typing. */
SEC("raw_tp/kfree_skb")
int BPF_PROG(kfree_skb_raw, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return handle_kfree_skb(ctx, skb, (__u64)location, (__u32)reason);
}

/* Candidate 3: classic tracepoint; reason read only where the field exists
 * (c504e5c2f964 "net: skb: introduce kfree_skb_reason()", 5.17). */
SEC("tracepoint/skb/kfree_skb")
int kfree_skb_tp(struct trace_event_raw_kfree_skb *args)
{
	__u32 reason = 0;
	if (bpf_core_field_exists(args->reason))
		reason = BPF_CORE_READ(args, reason);
	return handle_kfree_skb(args, (struct sk_buff *)BPF_CORE_READ(args, skbaddr),
				(__u64)BPF_CORE_READ(args, location), reason);
}
