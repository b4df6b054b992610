/* Raw drop records as the BPF program writes them to the ring buffer and the
 * summary map; decoded by recorder/probes/drop.cpp. Layouts are fixed-width
 * with explicit padding, and every field is written on every path because
 * ring memory is not zeroed. */
#ifndef NETTRAIL_DROP_EVENT_H
#define NETTRAIL_DROP_EVENT_H

#include "nettrail/common.h"

/* Counter slots of the drop program's per-CPU counter array. */
enum nt_drop_counter {
	NT_DROP_SEEN = 0,          /* kfree_skb hits */
	NT_DROP_NORMAL,            /* skipped by the normal-free filter */
	NT_DROP_FILTERED,          /* skipped by user filters */
	NT_DROP_RESERVE_FAILED,    /* ring buffer full: details record lost (data loss) */
	NT_DROP_STACK_FAILED,      /* stack not captured (stack store full, nettrail/stack.h) */
	NT_DROP_SUMMARY_FULL,      /* summary map full: key not counted per key (data loss) */
	NT_DROP_SUMMARY_TOTAL,     /* drops counted by summary mode (any key) */
	NT_DROP_COUNTER_MAX,
};

/* L3 kinds. */
#define NT_L3_NONE 0
#define NT_L3_ARP 1
#define NT_L3_OTHER 2
#define NT_L3_IPV4 4
#define NT_L3_IPV6 6

#define NT_VLAN_NONE 0xffff

/* Parsed headers: shared by details records and summary keys. */
struct nt_packet {
	__u8 saddr[16]; /* IPv6, or IPv4-mapped ::ffff:a.b.c.d */
	__u8 daddr[16];
	__u8 eth_src[6];
	__u8 eth_dst[6];
	__u16 eth_type; /* host order, after VLAN tags; 0 if unknown */
	__u16 vlan_id;  /* NT_VLAN_NONE if untagged */
	__u16 sport;    /* host order */
	__u16 dport;
	__u16 ip_id;
	__u16 icmp_id;
	__u16 icmp_seq;
	__u16 arp_op;
	__u32 tcp_seq;
	__u8 l3_kind;
	__u8 l4_proto;
	__u8 ttl;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 _pad0[2];
};
NT_STATIC_ASSERT(sizeof(struct nt_packet) == 72, "nt_packet layout");

struct nt_drop_event {
	__u64 ts_ns;      /* bpf_ktime_get_boot_ns */
	__u64 location;
	__u32 pid;
	__u32 tid;
	__s32 stack_id;   /* kernel stack id (nettrail/stack.h), negative if none */
	__u32 netns;
	__u32 ifindex;
	__u32 len;
	__u16 reason;
	__u16 cpu;
	__u32 _pad0;
	char comm[NT_TASK_COMM_LEN];
	struct nt_packet pkt;
};
NT_STATIC_ASSERT(sizeof(struct nt_drop_event) == 136, "nt_drop_event layout");

/* Summary map key: (stack, device, flow, reason, location). */
struct nt_drop_key {
	__s32 stack_id;
	__u32 netns;
	__u32 ifindex;
	__u16 reason;
	__u8 l3_kind;
	__u8 l4_proto;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 _pad0;
	__u64 location;
};
NT_STATIC_ASSERT(sizeof(struct nt_drop_key) == 64, "nt_drop_key layout");

#define NT_DROP_MAX_NORMAL_RANGES 8

#endif
