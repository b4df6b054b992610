/* L2-L4 parsing from an skb for BPF programs (Ethernet, 802.1Q/802.1ad,
 * ARP, IPv4, IPv6, TCP, UDP, ICMP, ICMPv6). BPF-only header. Reads go through
 * bpf_probe_read_kernel from skb->head plus the header offsets, so it works at
 * any point of the path where those offsets are set. */
#ifndef NETTRAIL_PACKET_H
#define NETTRAIL_PACKET_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "nettrail/drop_event.h"

#define NT_ETH_P_IP 0x0800
#define NT_ETH_P_IPV6 0x86DD
#define NT_ETH_P_ARP 0x0806
#define NT_ETH_P_8021Q 0x8100
#define NT_ETH_P_8021AD 0x88A8
#define NT_IPPROTO_ICMP 1
#define NT_IPPROTO_TCP 6
#define NT_IPPROTO_UDP 17
#define NT_IPPROTO_ICMPV6 58
#define NT_HEADER_UNSET 0xffff

static __always_inline void nt_packet_clear(struct nt_packet *p)
{
	__builtin_memset(p, 0, sizeof(*p));
	p->vlan_id = NT_VLAN_NONE;
}

static __always_inline void nt_map_ipv4(__u8 out[16], __u32 addr_be)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(&out[12], &addr_be, 4);
}

static __always_inline void nt_parse_l4(struct nt_packet *p, const unsigned char *l4)
{
	if (p->l4_proto == NT_IPPROTO_TCP) {
		struct tcphdr th;
		if (bpf_probe_read_kernel(&th, sizeof(th), l4))
			return;
		p->sport = bpf_ntohs(th.source);
		p->dport = bpf_ntohs(th.dest);
		p->tcp_seq = bpf_ntohl(th.seq);
		p->tcp_flags = ((const __u8 *)&th)[13];
	} else if (p->l4_proto == NT_IPPROTO_UDP) {
		struct udphdr uh;
		if (bpf_probe_read_kernel(&uh, sizeof(uh), l4))
			return;
		p->sport = bpf_ntohs(uh.source);
		p->dport = bpf_ntohs(uh.dest);
	} else if (p->l4_proto == NT_IPPROTO_ICMP || p->l4_proto == NT_IPPROTO_ICMPV6) {
		__u8 icmp[8];
		if (bpf_probe_read_kernel(icmp, sizeof(icmp), l4))
			return;
		p->icmp_type = icmp[0];
		p->icmp_code = icmp[1];
		p->icmp_id = ((__u16)icmp[4] << 8) | icmp[5];
		p->icmp_seq = ((__u16)icmp[6] << 8) | icmp[7];
	}
}

/* Fills `p` from the skb. Returns the EtherType used for L3 (host order). */
static __always_inline void nt_parse_skb(struct sk_buff *skb, struct nt_packet *p)
{
	nt_packet_clear(p);
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 mac = BPF_CORE_READ(skb, mac_header);
	__u16 net = BPF_CORE_READ(skb, network_header);
	__u16 trans = BPF_CORE_READ(skb, transport_header);
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));

	if (BPF_CORE_READ(skb, vlan_proto))
		p->vlan_id = BPF_CORE_READ(skb, vlan_tci) & 0x0fff;

	/* Before the stack has set skb->protocol: a locally built IP packet
	 * (ip_local_out sets it only inside __ip_local_out) has its network
	 * header set, so the version nibble tells; a frame built from a buffer
	 * (OVS packets re-injected by ovs-vswitchd) has no header offsets at
	 * all yet, and its Ethernet header starts at skb->data. */
	if (!proto && mac == NT_HEADER_UNSET) {
		__u8 first = 0;
		if (net != NT_HEADER_UNSET && net != 0 && !bpf_probe_read_kernel(&first, 1, head + net) &&
		    ((first >> 4) == 4 || (first >> 4) == 6)) {
			proto = (first >> 4) == 4 ? NT_ETH_P_IP : NT_ETH_P_IPV6;
		} else if (net == 0 && trans == NT_HEADER_UNSET) {
			mac = (__u16)(BPF_CORE_READ(skb, data) - head);
			net = NT_HEADER_UNSET;
			trans = NT_HEADER_UNSET;
		}
	}

	if (mac != NT_HEADER_UNSET && (net == NT_HEADER_UNSET || mac < net)) {
		struct ethhdr eth;
		if (!bpf_probe_read_kernel(&eth, sizeof(eth), head + mac)) {
			__builtin_memcpy(p->eth_dst, eth.h_dest, 6);
			__builtin_memcpy(p->eth_src, eth.h_source, 6);
			__u16 type = bpf_ntohs(eth.h_proto);
			__u16 l2_len = sizeof(eth);
			if (type == NT_ETH_P_8021Q || type == NT_ETH_P_8021AD) {
				__u16 tag[2];
				if (!bpf_probe_read_kernel(tag, sizeof(tag), head + mac + l2_len)) {
					p->vlan_id = bpf_ntohs(tag[0]) & 0x0fff;
					type = bpf_ntohs(tag[1]);
					l2_len += 4;
				}
			}
			proto = type;
			if (net == NT_HEADER_UNSET)
				net = mac + l2_len;
		}
	}
	p->eth_type = proto;
	if (net == NT_HEADER_UNSET)
		return;
	const unsigned char *l3 = head + net;

	if (proto == NT_ETH_P_IP) {
		struct iphdr iph;
		if (bpf_probe_read_kernel(&iph, sizeof(iph), l3))
			return;
		p->l3_kind = NT_L3_IPV4;
		p->l4_proto = iph.protocol;
		p->ttl = iph.ttl;
		p->ip_id = bpf_ntohs(iph.id);
		nt_map_ipv4(p->saddr, iph.saddr);
		nt_map_ipv4(p->daddr, iph.daddr);
		__u16 ihl = (((const __u8 *)&iph)[0] & 0x0f) * 4;
		/* The transport offset is only trusted when it lies past the IP header. */
		const unsigned char *l4 = (trans != NT_HEADER_UNSET && trans >= net + ihl) ? head + trans
											: l3 + ihl;
		/* Non-first fragments carry no L4 header. */
		if (bpf_ntohs(iph.frag_off) & 0x1fff)
			return;
		nt_parse_l4(p, l4);
	} else if (proto == NT_ETH_P_IPV6) {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), l3))
			return;
		p->l3_kind = NT_L3_IPV6;
		p->l4_proto = ip6.nexthdr;
		p->ttl = ip6.hop_limit;
		__builtin_memcpy(p->saddr, &ip6.saddr, 16);
		__builtin_memcpy(p->daddr, &ip6.daddr, 16);
		const unsigned char *l4 = (trans != NT_HEADER_UNSET && trans >= net + sizeof(ip6)) ? head + trans
												    : l3 + sizeof(ip6);
		nt_parse_l4(p, l4);
	} else if (proto == NT_ETH_P_ARP) {
		__u16 arp[4]; /* hrd, pro, hln|pln, op */
		p->l3_kind = NT_L3_ARP;
		if (!bpf_probe_read_kernel(arp, sizeof(arp), l3))
			p->arp_op = bpf_ntohs(arp[3]);
	} else if (proto) {
		p->l3_kind = NT_L3_OTHER;
	}
}

/* Network namespace inode of the skb's device, else of its socket. */
static __always_inline __u32 nt_skb_netns(struct sk_buff *skb)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (dev)
		return BPF_CORE_READ(dev, nd_net.net, ns.inum);
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (sk)
		return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return 0;
}

#endif
