/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One IPv4/UDP RTP frame (G.711, 20 ms: 200 bytes of IP), built with both
 * checksums right, and the sums to check them: what the benchmarks that run
 * the relay program by bpf_prog_test_run_opts feed it.
 */
#ifndef NATPROXY_BENCH_RTP_FRAME_H
#define NATPROXY_BENCH_RTP_FRAME_H

#include <arpa/inet.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/types.h>
#include <linux/udp.h>

#define RTP_IP_LEN 200 /* 160 payload + RTP 12 + UDP 8 + IPv4 20 */
#define RTP_FRAME_LEN (ETH_HLEN + RTP_IP_LEN)

static inline __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

static inline __u32 csum_add(__u32 sum, const void *data, size_t len)
{
	const __u8 *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (__u32)p[len - 1] << 8;
	return sum;
}

/* The UDP checksum over the pseudo-header; 0xffff when it verifies. */
static inline __u16 udp4_sum(const struct iphdr *ip, const struct udphdr *udp)
{
	__u32 sum = 0;

	sum = csum_add(sum, &ip->saddr, 4);
	sum = csum_add(sum, &ip->daddr, 4);
	sum += IPPROTO_UDP + ntohs(udp->len);
	sum = csum_add(sum, udp, ntohs(udp->len));
	return csum_fold(sum);
}

/* A PCMU frame from saddr:sport to daddr:dport (network order), TTL ttl,
 * from the MAC smac, into buf of RTP_FRAME_LEN bytes. */
static inline void rtp_frame4(__u8 *buf, const __u8 smac[ETH_ALEN],
			      __be32 saddr, __be16 sport, __be32 daddr,
			      __be16 dport, __u8 ttl)
{
	struct ethhdr *eth = (struct ethhdr *)buf;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	__u8 *rtp = (__u8 *)(udp + 1);
	size_t i, rtp_len = RTP_IP_LEN - sizeof(*ip) - sizeof(*udp);

	memset(buf, 0, RTP_FRAME_LEN);
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	memcpy(eth->h_source, smac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(RTP_IP_LEN);
	ip->id = htons(0x1234);
	ip->frag_off = htons(0x4000); /* DF */
	ip->ttl = ttl;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = htons(~csum_fold(csum_add(0, ip, sizeof(*ip))) & 0xffff);
	udp->source = sport;
	udp->dest = dport;
	udp->len = htons(RTP_IP_LEN - sizeof(*ip));
	rtp[0] = 0x80; /* V=2 */
	rtp[1] = 0; /* PT 0, PCMU */
	rtp[3] = 1; /* sequence */
	rtp[7] = 160; /* timestamp */
	memcpy(rtp + 8, "\x12\x34\x56\x78", 4); /* SSRC */
	for (i = 12; i < rtp_len; i++)
		rtp[i] = 0xd5; /* G.711 A-law silence */
	udp->check = htons(~udp4_sum(ip, udp) & 0xffff);
	if (!udp->check)
		udp->check = 0xffff;
}

#endif
