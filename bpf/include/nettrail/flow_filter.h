/* The 5-tuple part of the in-kernel filters (--src-ip --dst-ip --src-port
 * --dst-port), shared by the families that parse packets. BPF-only header:
 * each object that includes it gets its own rodata knobs, set by the recorder
 * before load (recorder/probe_support: parseIpAddress writes the addresses). */
#ifndef NETTRAIL_FLOW_FILTER_H
#define NETTRAIL_FLOW_FILTER_H

#include "nettrail/drop_event.h"

const volatile bool cfg_has_src_ip = false;
const volatile bool cfg_has_dst_ip = false;
const volatile __u8 cfg_src_ip[16] = {};  /* IPv6, or IPv4-mapped */
const volatile __u8 cfg_dst_ip[16] = {};
const volatile __u16 cfg_src_port = 0;    /* 0 = any */
const volatile __u16 cfg_dst_port = 0;

static __always_inline bool nt_ip_equal(const __u8 *a, const volatile __u8 *b)
{
	const __u64 *x = (const __u64 *)a;
	const volatile __u64 *y = (const volatile __u64 *)b;
	return x[0] == y[0] && x[1] == y[1];
}

/* True when the packet's addresses and ports pass the configured filters. */
static __always_inline bool nt_flow_matches(const struct nt_packet *p)
{
	if (cfg_has_src_ip && !nt_ip_equal(p->saddr, cfg_src_ip))
		return false;
	if (cfg_has_dst_ip && !nt_ip_equal(p->daddr, cfg_dst_ip))
		return false;
	if (cfg_src_port && p->sport != cfg_src_port)
		return false;
	if (cfg_dst_port && p->dport != cfg_dst_port)
		return false;
	return true;
}

#endif
