// SPDX-License-Identifier: GPL-2.0-only
/*
 * The terminals' core signaling ports without a socket each: a UDP
 * datagram whose local address and port natproxyd has open (np_term_ports)
 * is handed to its realm's one socket (np_term_socks), which learns the port
 * it was sent to from IP_ORIGDSTADDR. A datagram from other than a pair's
 * peer (np_term_peers) to a port over its budget (siglookup.h) is dropped
 * here; every other datagram, and every port not
 * open, goes on to the kernel's own lookup, which answers as for a closed
 * port unless a socket of its own is bound there.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "natproxy.h"
#include "siglookup.h"

#ifndef AF_INET
#define AF_INET 2
#define AF_INET6 10
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* natproxyd sizes it to its ports */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct np_term_port_key);
	__type(value, struct np_term_port);
} np_term_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NP_SIG_MAX_PEERS);
	__type(key, struct np_term_peer_key);
	__type(value, __u8);
} np_term_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, NP_SIG_MAX_REALMS);
	__type(key, __u32);
	__type(value, __u64);
} np_term_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NP_SIG_STATS);
	__type(key, __u32);
	__type(value, __u64);
} np_term_stats SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&np_term_stats, &what);

	if (n)
		(*n)++;
}

SEC("sk_lookup")
int np_siglookup(struct bpf_sk_lookup *ctx)
{
	struct np_term_port_key key = {};
	struct np_term_peer_key peer = {};
	struct np_term_port *p;
	struct bpf_sock *sk;
	__u32 window;
	long err;

	if (ctx->protocol != IPPROTO_UDP)
		return SK_PASS;
	key.port = ctx->local_port;
	if (ctx->family == AF_INET) {
		__u32 remote = ctx->remote_ip4;

		key.family = peer.family = NP_AF_INET;
		__builtin_memcpy(key.addr, &ctx->local_ip4, 4);
		__builtin_memcpy(peer.addr, &remote, 4);
	} else if (ctx->family == AF_INET6) {
		__u32 a[4] = { ctx->local_ip6[0], ctx->local_ip6[1],
			       ctx->local_ip6[2], ctx->local_ip6[3] };
		__u32 r[4] = { ctx->remote_ip6[0], ctx->remote_ip6[1],
			       ctx->remote_ip6[2], ctx->remote_ip6[3] };

		key.family = peer.family = NP_AF_INET6;
		__builtin_memcpy(key.addr, a, 16);
		__builtin_memcpy(peer.addr, r, 16);
	} else {
		return SK_PASS;
	}
	p = bpf_map_lookup_elem(&np_term_ports, &key);
	if (!p)
		return SK_PASS;
	/* Racing CPUs may count a datagram twice or not at all: the budget
	 * is a bound on a flood, not a meter. */
	if (!bpf_map_lookup_elem(&np_term_peers, &peer)) {
		window = (__u32)(bpf_ktime_get_ns() >> NP_SIG_WINDOW_SHIFT);
		if (p->window != window) {
			p->window = window;
			p->count = 0;
		}
		if (++p->count > NP_SIG_PORT_BURST) {
			count(NP_SIG_OVER_BUDGET);
			return SK_DROP;
		}
	}
	sk = bpf_map_lookup_elem(&np_term_socks, &p->realm);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return SK_PASS;
	count(NP_SIG_ASSIGNED);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
