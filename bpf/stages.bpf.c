// SPDX-License-Identifier: GPL-2.0
/* Stages family: per-packet timestamps at each stage of the host TX/RX path
 * (IP output, OVS internal port, OVS datapath and upcall, qdisc, device
 * transmit/receive, conntrack, protocol receive, tun). Every stage program
 * calls one shared handler with its stage id. Packets are followed by
 * identity (nt_stages_key) in an LRU hash: the path's first stage opens a
 * session, each later stage records its first hit and adds the time since the
 * previous stage to a log2 histogram of that (previous, this) pair, and the
 * path's last stage closes it (end-to-end histogram, details record above
 * the threshold). Each pair and end-to-end time also goes to a per-flow log2
 * histogram in a bounded hash map (flow x pair; a full map is counted), and
 * with --stage-stacks each stage's first hit records its kernel stack.
 * Tracepoint stages have tp_btf and raw_tp programs; function
 * stages have fentry and kprobe programs whose target the recorder resolves
 * (SEC without a target). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nettrail/flow_filter.h"
#include "nettrail/packet.h"
#include "nettrail/stages_event.h"
#include "nettrail/stack.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the recorder before load (rodata). */
const volatile __u32 cfg_enabled_mask = 0;      /* stages of the chosen direction that attached */
const volatile __u32 cfg_start_stage = NT_STAGE_NET_DEV_QUEUE;
const volatile __u32 cfg_end_stage = NT_STAGE_NET_DEV_XMIT;
const volatile __u32 cfg_phy_stage_mask = 0;    /* stages that count only on a --phy-interface */
const volatile __u32 cfg_vm_stage_mask = 0;     /* stages that count only on the --vm-interface */
const volatile __u32 cfg_phy_count = 0;
const volatile char cfg_phy_names[NT_STAGES_MAX_IFACES][NT_IFNAMSIZ] = {};
const volatile bool cfg_has_vm = false;
const volatile char cfg_vm_name[NT_IFNAMSIZ] = {};
const volatile __u8 cfg_l4_proto = 0;           /* 0 = TCP, UDP and ICMP */
const volatile __u64 cfg_latency_ns = 0;        /* details only at or above this end-to-end time */
const volatile bool cfg_details = true;
const volatile __u32 cfg_wakeup_bytes = 64 * 1024;
const volatile bool cfg_flow_hist = true;       /* per-flow histograms (--stages-flows > 0) */
const volatile bool cfg_stage_stacks = false;   /* kernel stack per stage (--stage-stacks) */

/* Cumulative since load; the recorder reads them through the skeleton's
 * mmap of .bss. hist[(from * SLOTS + to) * BUCKETS + bucket]. */
__u64 stages_hist[NT_STAGES_HIST_SIZE] = {};
__u64 stages_counters[NT_STAGES_COUNTER_MAX] = {};
/* Never written: the initial value of a new per-flow histogram entry. */
struct nt_stages_flow_hist stages_flow_zero = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024); /* resized by the recorder */
} stages_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized by the recorder */
	__type(key, struct nt_stages_key);
	__type(value, struct nt_stages_session);
} stages_sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct nt_device_key);
	__type(value, struct nt_device_name);
} stages_devices SEC(".maps");

/* Per-flow log2 histograms, cumulative since load; the recorder snapshots
 * them every interval. Bounded: a sample whose entry cannot be created
 * counts NT_STAGES_FLOW_FULL. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* resized by the recorder */
	__type(key, struct nt_stages_flow_key);
	__type(value, struct nt_stages_flow_hist);
} stages_flow_hist SEC(".maps");

/* Scratch for a new session (too large for the stack next to the parser). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nt_stages_session);
} stages_scratch SEC(".maps");

static __always_inline void count(__u32 slot)
{
	if (slot < NT_STAGES_COUNTER_MAX)
		__sync_fetch_and_add(&stages_counters[slot], 1);
}

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 0;
	for (int i = 0; i < NT_STAGES_BUCKETS - 1; i++) {
		if (v < 2)
			break;
		v >>= 1;
		r++;
	}
	return r;
}

static __always_inline void flow_hist_add(const struct nt_stages_key *k, __u32 from, __u32 to, __u32 bucket)
{
	if (!cfg_flow_hist || bucket >= NT_STAGES_BUCKETS)
		return;
	struct nt_stages_flow_key fk;
	__builtin_memcpy(fk.saddr, k->saddr, 16);
	__builtin_memcpy(fk.daddr, k->daddr, 16);
	fk.sport = k->sport;
	fk.dport = k->l4_proto == NT_IPPROTO_ICMP || k->l4_proto == NT_IPPROTO_ICMPV6 ? 0 : k->dport;
	fk.l4_proto = k->l4_proto;
	fk.from_stage = from;
	fk.to_stage = to;
	fk._pad0 = 0;
	struct nt_stages_flow_hist *h = bpf_map_lookup_elem(&stages_flow_hist, &fk);
	if (!h) {
		/* E2BIG when full; EEXIST when another CPU created it first. */
		bpf_map_update_elem(&stages_flow_hist, &fk, &stages_flow_zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&stages_flow_hist, &fk);
		if (!h) {
			count(NT_STAGES_FLOW_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&h->buckets[bucket], 1);
}

static __always_inline void hist_add(const struct nt_stages_key *k, __u32 from, __u32 to, __u64 delta_ns)
{
	__u32 bucket = log2_bucket(delta_ns);
	__u32 idx = (from * NT_STAGES_SLOTS + to) * NT_STAGES_BUCKETS + bucket;
	if (idx < NT_STAGES_HIST_SIZE)
		__sync_fetch_and_add(&stages_hist[idx], 1);
	flow_hist_add(k, from, to, bucket);
}

/* --stage-stacks: the kernel stack of this stage hit, or -1. */
static __always_inline __s32 stage_stack(void *ctx)
{
	if (!cfg_stage_stacks)
		return -1;
	__s32 id = nt_stack_id(ctx, 0);
	if (id < 0) {
		count(NT_STAGES_STACK_FAILED);
		return -1;
	}
	return id;
}

static __always_inline bool name_equal(const char *name, const volatile char *want)
{
	for (int i = 0; i < NT_IFNAMSIZ; i++) {
		if (name[i] != want[i])
			return false;
		if (!name[i])
			break;
	}
	return true;
}

/* Interface filters: phy stages count only on a --phy-interface (any when
 * none is given), VM stages only on the --vm-interface. */
static __always_inline bool passes_device(__u32 stage, struct net_device *dev)
{
	bool phy = cfg_phy_stage_mask & (1u << stage);
	bool vm = cfg_vm_stage_mask & (1u << stage);
	if (!phy && !vm)
		return true;
	if (phy && !cfg_phy_count)
		return true;
	if (!dev)
		return false;
	char name[NT_IFNAMSIZ] = {};
	bpf_probe_read_kernel_str(name, sizeof(name), dev->name);
	if (vm)
		return cfg_has_vm && name_equal(name, cfg_vm_name);
	for (__u32 i = 0; i < NT_STAGES_MAX_IFACES; i++) {
		if (i >= cfg_phy_count)
			break;
		if (name_equal(name, cfg_phy_names[i]))
			return true;
	}
	return false;
}

static __always_inline bool passes_packet(const struct nt_packet *p)
{
	if (p->l3_kind != NT_L3_IPV4 && p->l3_kind != NT_L3_IPV6)
		return false;
	if (cfg_l4_proto) {
		if (p->l4_proto != cfg_l4_proto &&
		    !(cfg_l4_proto == NT_IPPROTO_ICMP && p->l4_proto == NT_IPPROTO_ICMPV6))
			return false;
	} else if (p->l4_proto != NT_IPPROTO_TCP && p->l4_proto != NT_IPPROTO_UDP &&
		   p->l4_proto != NT_IPPROTO_ICMP && p->l4_proto != NT_IPPROTO_ICMPV6) {
		return false;
	}
	return nt_flow_matches(p);
}

static __always_inline void make_key(const struct nt_packet *p, struct nt_stages_key *k)
{
	__builtin_memcpy(k->saddr, p->saddr, 16);
	__builtin_memcpy(k->daddr, p->daddr, 16);
	k->l4_proto = p->l4_proto;
	k->_pad0 = 0;
	k->_pad1 = 0;
	if (p->l4_proto == NT_IPPROTO_ICMP || p->l4_proto == NT_IPPROTO_ICMPV6) {
		k->sport = p->icmp_id;
		k->dport = p->icmp_seq;
		k->seq = 0;
		k->ip_id = 0;
	} else {
		k->sport = p->sport;
		k->dport = p->dport;
		k->seq = p->l4_proto == NT_IPPROTO_TCP ? p->tcp_seq : 0;
		k->ip_id = p->l3_kind == NT_L3_IPV4 ? p->ip_id : 0;
	}
}

static __always_inline void learn_device(struct net_device *dev, __u32 netns, __u32 ifindex)
{
	struct nt_device_key key = { .netns = netns, .ifindex = ifindex };
	if (bpf_map_lookup_elem(&stages_devices, &key))
		return;
	struct nt_device_name name = {};
	bpf_probe_read_kernel_str(name.name, sizeof(name.name), dev->name);
	bpf_map_update_elem(&stages_devices, &key, &name, BPF_NOEXIST);
}

static __always_inline void finish_session(struct nt_stages_key *key, struct nt_stages_session *s, __u64 now)
{
	__u32 first = cfg_start_stage;
	__u64 start = first < NT_STAGE_MAX ? s->ts[first & (NT_STAGE_MAX - 1)] : 0;
	__u64 e2e = start && now > start ? now - start : 0;
	hist_add(key, NT_STAGE_MAX, NT_STAGE_MAX, e2e);
	count(NT_STAGES_COMPLETED);
	if (cfg_details && e2e >= cfg_latency_ns) {
		struct nt_stages_event *e = bpf_ringbuf_reserve(&stages_events, sizeof(*e), 0);
		if (!e) {
			count(NT_STAGES_RESERVE_FAILED);
		} else {
			__builtin_memcpy(&e->key, key, sizeof(*key));
			__builtin_memcpy(&e->session, s, sizeof(*s));
			e->cpu = bpf_get_smp_processor_id();
			e->_pad0 = 0;
			count(NT_STAGES_DETAILS);
			__u64 flags = bpf_ringbuf_query(&stages_events, BPF_RB_AVAIL_DATA) >= cfg_wakeup_bytes
					      ? BPF_RB_FORCE_WAKEUP
					      : BPF_RB_NO_WAKEUP;
			bpf_ringbuf_submit(e, flags);
		}
	}
	bpf_map_delete_elem(&stages_sessions, key);
}

/* `dev`: the device the stage is about (NULL: skb->dev). */
static __always_inline int handle_stage(void *ctx, __u32 stage, struct sk_buff *skb, struct net_device *dev)
{
	if (stage >= NT_STAGE_MAX || !(cfg_enabled_mask & (1u << stage)) || !skb)
		return 0;
	__u64 now = bpf_ktime_get_boot_ns();
	if (!dev)
		dev = BPF_CORE_READ(skb, dev);
	if (!passes_device(stage, dev)) {
		count(NT_STAGES_FILTERED);
		return 0;
	}
	struct nt_packet pkt;
	nt_parse_skb(skb, &pkt);
	if (!passes_packet(&pkt)) {
		count(NT_STAGES_FILTERED);
		return 0;
	}
	count(NT_STAGES_HITS);
	struct nt_stages_key key;
	make_key(&pkt, &key);

	struct nt_stages_session *s = bpf_map_lookup_elem(&stages_sessions, &key);
	if (stage == cfg_start_stage) {
		__u32 zero = 0;
		struct nt_stages_session *fresh = bpf_map_lookup_elem(&stages_scratch, &zero);
		if (!fresh)
			return 0;
		if (s)
			count(NT_STAGES_RESTARTED);
		__builtin_memset(fresh, 0, sizeof(*fresh));
		fresh->ts[stage & (NT_STAGE_MAX - 1)] = now;
		fresh->last_ts = now;
		fresh->hit_mask = 1u << stage;
		fresh->last_stage = stage;
		fresh->netns = dev ? BPF_CORE_READ(dev, nd_net.net, ns.inum) : 0;
		fresh->ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
		fresh->len = BPF_CORE_READ(skb, len);
		fresh->vlan_id = pkt.vlan_id;
		for (int i = 0; i < NT_STAGE_MAX; i++)
			fresh->stack[i] = -1;
		fresh->stack[stage & (NT_STAGE_MAX - 1)] = stage_stack(ctx);
		if (dev)
			learn_device(dev, fresh->netns, fresh->ifindex);
		if (bpf_map_update_elem(&stages_sessions, &key, fresh, BPF_ANY)) {
			count(NT_STAGES_SESSION_FULL);
			return 0;
		}
		count(NT_STAGES_STARTED);
		if (stage == cfg_end_stage) {
			s = bpf_map_lookup_elem(&stages_sessions, &key);
			if (s)
				finish_session(&key, s, now);
		}
		return 0;
	}
	if (!s) {
		count(NT_STAGES_NO_SESSION);
		return 0;
	}
	if (s->hit_mask & (1u << stage)) {
		count(NT_STAGES_REPEATED);
		s->repeats++;
		return 0;
	}
	s->ts[stage & (NT_STAGE_MAX - 1)] = now;
	s->hit_mask |= 1u << stage;
	s->stack[stage & (NT_STAGE_MAX - 1)] = stage_stack(ctx);
	hist_add(&key, s->last_stage, stage, now > s->last_ts ? now - s->last_ts : 0);
	s->last_stage = stage;
	s->last_ts = now;
	if (stage == cfg_end_stage)
		finish_session(&key, s, now);
	return 0;
}

/* ---- tracepoint stages: tp_btf, then raw_tp ---- */

SEC("tp_btf/net_dev_queue")
int BPF_PROG(net_dev_queue_btf, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_NET_DEV_QUEUE, skb, NULL);
}

SEC("raw_tp/net_dev_queue")
int BPF_PROG(net_dev_queue_raw, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_NET_DEV_QUEUE, skb, NULL);
}

SEC("tp_btf/qdisc_enqueue")
int BPF_PROG(qdisc_enqueue_btf, struct Qdisc *q, const struct netdev_queue *txq, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_QDISC_ENQUEUE, skb, NULL);
}

SEC("raw_tp/qdisc_enqueue")
int BPF_PROG(qdisc_enqueue_raw, struct Qdisc *q, const struct netdev_queue *txq, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_QDISC_ENQUEUE, skb, NULL);
}

SEC("tp_btf/qdisc_dequeue")
int BPF_PROG(qdisc_dequeue_btf, struct Qdisc *q, const struct netdev_queue *txq, int packets, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_QDISC_DEQUEUE, skb, NULL);
}

SEC("raw_tp/qdisc_dequeue")
int BPF_PROG(qdisc_dequeue_raw, struct Qdisc *q, const struct netdev_queue *txq, int packets, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_QDISC_DEQUEUE, skb, NULL);
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(net_dev_start_xmit_btf, struct sk_buff *skb, struct net_device *dev)
{
	return handle_stage(ctx, NT_STAGE_NET_DEV_START_XMIT, skb, dev);
}

SEC("raw_tp/net_dev_start_xmit")
int BPF_PROG(net_dev_start_xmit_raw, struct sk_buff *skb, struct net_device *dev)
{
	return handle_stage(ctx, NT_STAGE_NET_DEV_START_XMIT, skb, dev);
}

/* After the driver took the skb: only its headers are read, through
 * bpf_probe_read_kernel, and the device comes from the argument. */
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(net_dev_xmit_btf, struct sk_buff *skb, int rc, struct net_device *dev)
{
	return handle_stage(ctx, NT_STAGE_NET_DEV_XMIT, skb, dev);
}

SEC("raw_tp/net_dev_xmit")
int BPF_PROG(net_dev_xmit_raw, struct sk_buff *skb, int rc, struct net_device *dev)
{
	return handle_stage(ctx, NT_STAGE_NET_DEV_XMIT, skb, dev);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(netif_receive_skb_btf, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_NETIF_RECEIVE, skb, NULL);
}

SEC("raw_tp/netif_receive_skb")
int BPF_PROG(netif_receive_skb_raw, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_NETIF_RECEIVE, skb, NULL);
}

/* ---- function stages: fentry, then kprobe (targets set by the recorder) ---- */

/* ip_output(struct net *net, struct sock *sk, struct sk_buff *skb): every
 * locally generated IPv4 packet, reached through dst->output so it is never
 * inlined (ip_local_out is, into its callers in ip_output.c). */
SEC("fentry")
int BPF_PROG(ip_output_fentry, void *net, void *sk, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_IP_OUTPUT, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(ip_output_kprobe, void *net, void *sk, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_IP_OUTPUT, skb, NULL);
}

SEC("fentry")
int BPF_PROG(internal_dev_xmit_fentry, struct sk_buff *skb, struct net_device *dev)
{
	return handle_stage(ctx, NT_STAGE_INTERNAL_DEV_XMIT, skb, dev);
}

SEC("kprobe")
int BPF_KPROBE(internal_dev_xmit_kprobe, struct sk_buff *skb, struct net_device *dev)
{
	return handle_stage(ctx, NT_STAGE_INTERNAL_DEV_XMIT, skb, dev);
}

/* netdev_frame_hook(struct sk_buff **pskb) */
SEC("fentry")
int BPF_PROG(frame_hook_fentry, struct sk_buff **pskb)
{
	struct sk_buff *skb = NULL;
	bpf_probe_read_kernel(&skb, sizeof(skb), pskb);
	return handle_stage(ctx, NT_STAGE_FRAME_HOOK, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(frame_hook_kprobe, struct sk_buff **pskb)
{
	struct sk_buff *skb = NULL;
	bpf_probe_read_kernel(&skb, sizeof(skb), pskb);
	return handle_stage(ctx, NT_STAGE_FRAME_HOOK, skb, NULL);
}

/* ovs_dp_process_packet(const struct sk_buff *skb, struct sw_flow_key *key) */
SEC("fentry")
int BPF_PROG(ovs_dp_process_fentry, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_OVS_DP_PROCESS, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(ovs_dp_process_kprobe, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_OVS_DP_PROCESS, skb, NULL);
}

/* ovs_dp_upcall(struct datapath *dp, struct sk_buff *skb, ...) */
SEC("fentry")
int BPF_PROG(ovs_upcall_fentry, void *dp, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_OVS_UPCALL, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(ovs_upcall_kprobe, void *dp, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_OVS_UPCALL, skb, NULL);
}

/* ovs_flow_key_extract_userspace(struct net *net, const struct nlattr *attr,
 * struct sk_buff *skb, ...): the packet ovs-vswitchd sent back to execute. */
SEC("fentry")
int BPF_PROG(ovs_key_extract_user_fentry, void *net, void *attr, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_OVS_KEY_EXTRACT_USER, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(ovs_key_extract_user_kprobe, void *net, void *attr, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_OVS_KEY_EXTRACT_USER, skb, NULL);
}

/* ovs_vport_send(struct vport *vport, struct sk_buff *skb, u8 mac_proto) */
SEC("fentry")
int BPF_PROG(ovs_vport_send_fentry, void *vport, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_OVS_VPORT_SEND, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(ovs_vport_send_kprobe, void *vport, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_OVS_VPORT_SEND, skb, NULL);
}

/* nf_conntrack_in(struct sk_buff *skb, const struct nf_hook_state *state) */
SEC("fentry")
int BPF_PROG(conntrack_fentry, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_CONNTRACK, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(conntrack_kprobe, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_CONNTRACK, skb, NULL);
}

/* tcp_v4_rcv / udp_rcv / icmp_rcv (struct sk_buff *skb): one program per
 * function so each is its own hook with its own attach choice. */
SEC("fentry")
int BPF_PROG(tcp_rcv_fentry, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_PROTO_RCV, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(tcp_rcv_kprobe, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_PROTO_RCV, skb, NULL);
}

SEC("fentry")
int BPF_PROG(udp_rcv_fentry, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_PROTO_RCV, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(udp_rcv_kprobe, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_PROTO_RCV, skb, NULL);
}

SEC("fentry")
int BPF_PROG(icmp_rcv_fentry, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_PROTO_RCV, skb, NULL);
}

SEC("kprobe")
int BPF_KPROBE(icmp_rcv_kprobe, struct sk_buff *skb)
{
	return handle_stage(ctx, NT_STAGE_PROTO_RCV, skb, NULL);
}

/* tun_net_xmit(struct sk_buff *skb, struct net_device *dev): host to VM. */
SEC("fentry")
int BPF_PROG(tun_net_xmit_fentry, struct sk_buff *skb, struct net_device *dev)
{
	return handle_stage(ctx, NT_STAGE_TUN_NET_XMIT, skb, dev);
}

SEC("kprobe")
int BPF_KPROBE(tun_net_xmit_kprobe, struct sk_buff *skb, struct net_device *dev)
{
	return handle_stage(ctx, NT_STAGE_TUN_NET_XMIT, skb, dev);
}
