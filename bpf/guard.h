/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The signaling guard (issue 11): a datagram to one of natproxyd's
 * signaling sockets (NP_MAP_SIG_PORTS) is judged by its source before the
 * kernel queues it, so a flood from spoofed sources fills neither the
 * socket buffer nor natproxyd's CPU:
 *
 *   1. a mapping (address and port) natproxyd blocked: dropped;
 *   2. a known mapping (a registered terminal, a gateway): passed;
 *   3. a known address (any port): passed;
 *   4. a blocked address, or a blocked /24 (IPv4) or /64 (IPv6): dropped;
 *   5. anyone else: passed while the socket's bucket (NP_MAP_BUCKETS) has
 *      a token, dropped after.
 *
 * Known comes before the address and prefix blocks: a subscriber behind a
 * carrier-grade NAT keeps working while another one of the same address
 * is blocked for flooding. A blocked mapping stays blocked even if known.
 * Blocks carry their own end (coarse CLOCK_MONOTONIC): an expired one
 * passes at once, whenever natproxyd gets to delete it. The relay calls
 * guard4/guard6 only for datagrams no flow claims, so media never pays
 * for it.
 */
#ifndef NATPROXY_BPF_GUARD_H
#define NATPROXY_BPF_GUARD_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "natproxy.h"
#include "maps.h"

#define GUARD_NSEC_PER_SEC 1000000000ull
/* A refill covers at most this much idle time: with rate below
 * NP_GUARD_MAX_RATE the product stays far from 2^64. */
#define GUARD_MAX_IDLE_NS (10 * GUARD_NSEC_PER_SEC)

static __always_inline bool guard_blocked(const struct np_source_key *key,
					  __u64 now)
{
	struct np_block *b = bpf_map_lookup_elem(&np_blocked_v1, key);

	return b && b->until_ns > now;
}

static __always_inline bool guard_known(const struct np_source_key *key)
{
	return bpf_map_lookup_elem(&np_known_v1, key) != NULL;
}

/* One token of the bucket, if there is one (rate 0: no limit). */
static __always_inline bool guard_take(__u32 index, __u64 now)
{
	struct np_sig_bucket *b = bpf_map_lookup_elem(&np_buckets_v1, &index);
	__u64 idle, tokens, cap;
	bool pass;

	if (!b || !b->rate)
		return true;
	bpf_spin_lock(&b->lock);
	cap = b->burst * GUARD_NSEC_PER_SEC;
	/* now was read before the lock: another CPU may have moved
	 * last_ns past it; that is no time, not 2^64 ns. */
	idle = (__s64)(now - b->last_ns) > 0 ? now - b->last_ns : 0;
	if (idle > GUARD_MAX_IDLE_NS)
		idle = GUARD_MAX_IDLE_NS;
	if (idle)
		b->last_ns = now;
	tokens = b->tokens + idle * b->rate;
	if (tokens > cap)
		tokens = cap;
	pass = tokens >= GUARD_NSEC_PER_SEC;
	b->tokens = pass ? tokens - GUARD_NSEC_PER_SEC : tokens;
	bpf_spin_unlock(&b->lock);
	return pass;
}

/*
 * The checks above, in their order, for src holding the mapping (the
 * whole address and the port); src is then narrowed to the address and
 * to its prefix of prefix_len bits.
 */
static __always_inline int guard_source(struct np_source_key *src,
					__u8 prefix_len, __u32 bucket,
					__u32 *verdict)
{
	__u64 now = bpf_ktime_get_coarse_ns();

	if (guard_blocked(src, now))
		goto blocked;
	if (guard_known(src))
		goto known;
	src->port = 0;
	if (guard_known(src))
		goto known;
	if (guard_blocked(src, now))
		goto blocked;
	src->prefix_len = prefix_len;
	if (src->family == NP_AF_INET) {
		src->addr.v4 &= bpf_htonl(0xffffffffu << (32 - NP_GUARD_PREFIX4));
	} else {
		src->addr.v6[2] = 0;
		src->addr.v6[3] = 0;
	}
	if (guard_blocked(src, now))
		goto blocked;
	if (!guard_take(bucket, now)) {
		*verdict = NP_V_DROP_UNKNOWN_RATE;
		return XDP_DROP;
	}
	*verdict = NP_V_PASS_SIG_UNKNOWN;
	return XDP_PASS;
blocked:
	*verdict = NP_V_DROP_BLOCKED;
	return XDP_DROP;
known:
	*verdict = NP_V_PASS_SIG_KNOWN;
	return XDP_PASS;
}

/* A datagram no flow claims, IPv4: judged if it is for a signaling
 * socket, else passed with *verdict as it was. */
static __always_inline int guard4(const struct iphdr *ip,
				  const struct udphdr *udp, __u32 *verdict)
{
	struct np_flow_key dst = { .family = NP_AF_INET, .port = udp->dest };
	struct np_source_key src = { .family = NP_AF_INET, .prefix_len = 32,
				     .port = udp->source };
	struct np_sig_port *sp;

	dst.addr.v4 = ip->daddr;
	sp = bpf_map_lookup_elem(&np_sigports_v1, &dst);
	if (!sp)
		return XDP_PASS;
	src.addr.v4 = ip->saddr;
	return guard_source(&src, NP_GUARD_PREFIX4, sp->bucket, verdict);
}

static __always_inline int guard6(const struct ipv6hdr *ip6,
				  const struct udphdr *udp, __u32 *verdict)
{
	struct np_flow_key dst = { .family = NP_AF_INET6, .port = udp->dest };
	struct np_source_key src = { .family = NP_AF_INET6, .prefix_len = 128,
				     .port = udp->source };
	struct np_sig_port *sp;

	__builtin_memcpy(&dst.addr, &ip6->daddr, sizeof(dst.addr));
	sp = bpf_map_lookup_elem(&np_sigports_v1, &dst);
	if (!sp)
		return XDP_PASS;
	__builtin_memcpy(&src.addr, &ip6->saddr, sizeof(src.addr));
	return guard_source(&src, NP_GUARD_PREFIX6, sp->bucket, verdict);
}

#endif
