/* Raw stages records as the BPF program keeps them (per-packet session map,
 * per-pair log2 histograms) and writes them to the ring buffer; decoded by
 * recorder/probes/stages.cpp. Fixed-width layouts with explicit padding; every
 * field is written on every path because ring memory is not zeroed. */
#ifndef NETTRAIL_STAGES_EVENT_H
#define NETTRAIL_STAGES_EVENT_H

#include "nettrail/common.h"

/* Stage ids. The numbers are the on-disk ids (StagesBatch stage lists and
 * Probe.enums "nt_stage"), so never renumber: append. */
enum nt_stage {
	NT_STAGE_IP_OUTPUT = 0,        /* ip_output: local stack hands the packet to IP output */
	NT_STAGE_INTERNAL_DEV_XMIT,    /* internal_dev_xmit: OVS internal port transmit */
	NT_STAGE_NETIF_RECEIVE,        /* net:netif_receive_skb on the phy (rx) or VM (tx) interface */
	NT_STAGE_FRAME_HOOK,           /* netdev_frame_hook: OVS rx handler of a netdev vport */
	NT_STAGE_OVS_DP_PROCESS,       /* ovs_dp_process_packet: flow table lookup */
	NT_STAGE_OVS_UPCALL,           /* ovs_dp_upcall: miss, packet queued to ovs-vswitchd */
	NT_STAGE_OVS_KEY_EXTRACT_USER, /* ovs_flow_key_extract_userspace: packet back from userspace */
	NT_STAGE_OVS_VPORT_SEND,       /* ovs_vport_send: output action */
	NT_STAGE_CONNTRACK,            /* nf_conntrack_in */
	NT_STAGE_NET_DEV_QUEUE,        /* net:net_dev_queue on the phy interface */
	NT_STAGE_QDISC_ENQUEUE,        /* qdisc:qdisc_enqueue on the phy interface */
	NT_STAGE_QDISC_DEQUEUE,        /* qdisc:qdisc_dequeue on the phy interface */
	NT_STAGE_NET_DEV_START_XMIT,   /* net:net_dev_start_xmit on the phy interface */
	NT_STAGE_NET_DEV_XMIT,         /* net:net_dev_xmit on the phy interface */
	NT_STAGE_PROTO_RCV,            /* tcp_v4_rcv / udp_rcv / icmp_rcv */
	NT_STAGE_TUN_NET_XMIT,         /* tun_net_xmit on the VM interface */
	NT_STAGE_MAX,
};

/* Histogram slots: pair (from, to) of stage ids, plus NT_STAGE_MAX as
 * (NT_STAGE_MAX, NT_STAGE_MAX) for end to end. */
#define NT_STAGES_SLOTS (NT_STAGE_MAX + 1)
#define NT_STAGES_BUCKETS 40 /* log2(ns): bucket b holds [2^b, 2^(b+1)) ns; 2^40 ns = 18 min */
#define NT_STAGES_HIST_SIZE (NT_STAGES_SLOTS * NT_STAGES_SLOTS * NT_STAGES_BUCKETS)

#define NT_STAGES_DIR_TX 0
#define NT_STAGES_DIR_RX 1

#define NT_STAGES_MAX_IFACES 4

/* Counter slots of the stages program's global counter array. */
enum nt_stages_counter {
	NT_STAGES_HITS = 0,          /* stage programs run on a packet that passed the filters */
	NT_STAGES_FILTERED,          /* stage hits skipped by interface/protocol/address filters */
	NT_STAGES_STARTED,           /* sessions started at the path's first stage */
	NT_STAGES_COMPLETED,         /* sessions that reached the path's last stage */
	NT_STAGES_NO_SESSION,        /* stage hit for a packet with no open session (started before, or not on this path) */
	NT_STAGES_REPEATED,          /* stage hit again for the same packet (first time kept) */
	NT_STAGES_RESTARTED,         /* start stage hit again for an open session: the old one counts as incomplete */
	NT_STAGES_SESSION_FULL,      /* session map full: packet not followed (data loss) */
	NT_STAGES_RESERVE_FAILED,    /* ring buffer full: details record lost (data loss) */
	NT_STAGES_DETAILS,           /* details records submitted (above --latency-us) */
	NT_STAGES_FLOW_FULL,         /* per-flow histogram map full: a sample missing from the per-flow histograms (data loss) */
	NT_STAGES_STACK_FAILED,      /* --stage-stacks: stack not captured (stack store full, nettrail/stack.h) */
	NT_STAGES_COUNTER_MAX,
};

/* Identity of a packet along the path: 5-tuple plus a per-packet number
 * (TCP seq and IP id, UDP IP id, ICMP id and seq). Not the skb pointer:
 * skbs are cloned and re-allocated along the path (OVS upcalls). */
struct nt_stages_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;  /* TCP/UDP port; ICMP echo id */
	__u16 dport;  /* TCP/UDP port; ICMP echo sequence */
	__u32 seq;    /* TCP sequence; 0 otherwise */
	__u16 ip_id;  /* IPv4 identification (TCP, UDP); 0 for ICMP and IPv6 */
	__u8 l4_proto;
	__u8 _pad0;
	__u32 _pad1;
};
NT_STATIC_ASSERT(sizeof(struct nt_stages_key) == 48, "nt_stages_key layout");

/* Open session of one packet (session map value). */
struct nt_stages_session {
	__u64 ts[NT_STAGE_MAX]; /* bpf_ktime_get_boot_ns at the first hit of each stage; 0 = not hit */
	__u64 last_ts;
	__u32 hit_mask;         /* bit per stage id */
	__u32 last_stage;
	__u32 netns;            /* of the device at the start stage */
	__u32 ifindex;          /* device at the start stage */
	__u32 len;              /* skb->len at the start stage */
	__u16 repeats;          /* stage hits after the first, for this packet */
	__u16 vlan_id;          /* at the start stage; NT_VLAN_NONE if untagged */
	__s32 stack[NT_STAGE_MAX]; /* --stage-stacks: kernel stack id at the first hit of each stage; -1 = none */
};
NT_STATIC_ASSERT(sizeof(struct nt_stages_session) == 224, "nt_stages_session layout");

/* Details record: one completed packet above the latency threshold. */
struct nt_stages_event {
	struct nt_stages_key key;
	struct nt_stages_session session;
	__u32 cpu;               /* CPU of the last stage */
	__u32 _pad0;
};
NT_STATIC_ASSERT(sizeof(struct nt_stages_event) == 280, "nt_stages_event layout");

/* Per-flow histogram key: the packet's flow (its identity without the
 * per-packet number; ICMP keeps the echo id, not the sequence) and the stage
 * pair, NT_STAGE_MAX/NT_STAGE_MAX for end to end. */
struct nt_stages_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;  /* TCP/UDP port; ICMP echo id */
	__u16 dport;  /* TCP/UDP port; 0 for ICMP */
	__u8 l4_proto;
	__u8 from_stage;
	__u8 to_stage;
	__u8 _pad0;
};
NT_STATIC_ASSERT(sizeof(struct nt_stages_flow_key) == 40, "nt_stages_flow_key layout");

/* Per-flow histogram value: log2 buckets like the per-pair histogram,
 * cumulative since load. */
struct nt_stages_flow_hist {
	__u64 buckets[NT_STAGES_BUCKETS];
};
NT_STATIC_ASSERT(sizeof(struct nt_stages_flow_hist) == 320, "nt_stages_flow_hist layout");

#endif
