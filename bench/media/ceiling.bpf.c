// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ceiling of the media benchmark's veth path: the least an XDP relay
 * can do. A benchmark packet (magic in its payload) gets the sink's
 * addresses (Ethernet, and IPv4 source and destination with both checksums
 * updated incrementally, RFC 1624) and is redirected to one interface; no
 * flow lookup, no counters, no FIB. Anything else passes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "media.h"

/* Set by the driver before attaching (.bss). */
__u32 out_ifindex;
__u8 out_dst_mac[ETH_ALEN];
__u8 out_src_mac[ETH_ALEN];
__be32 new_saddr;
__be32 new_daddr;

/* RFC 1624 eqn. 3 for a 32-bit field, words in memory order. */
static __always_inline __u16 csum_replace(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~from + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int mb_ceiling(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = (void *)(ip + 1);
	struct mb_payload *pl = (void *)(udp + 1) + MB_RTP_LEN;
	__u32 os, od;

	if ((void *)(pl + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
	    pl->magic != bpf_htonl(MB_MAGIC))
		return XDP_PASS;
	os = ip->saddr;
	od = ip->daddr;
	ip->check = csum_replace(csum_replace(ip->check, os, new_saddr), od,
				 new_daddr);
	if (udp->check)
		udp->check = csum_replace(csum_replace(udp->check, os,
						       new_saddr),
					  od, new_daddr) ?: 0xffff;
	ip->saddr = new_saddr;
	ip->daddr = new_daddr;
	__builtin_memcpy(eth->h_dest, out_dst_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, out_src_mac, ETH_ALEN);
	return bpf_redirect(out_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
