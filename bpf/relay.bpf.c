// SPDX-License-Identifier: GPL-2.0-only
/*
 * natproxy's media fast path. A UDP packet sent to a relay address:port that
 * the control plane installed in the flows map is checked against its
 * expected source (latching it on the first packet), policed, rewritten to
 * its new source and destination with DSCP and VLAN applied and checksums
 * updated incrementally, and forwarded at the driver: XDP_TX back out of the
 * same interface or a redirect to another, to the next hop cached in the
 * flow (asked of the FIB again every epoch of about a second). The flow
 * entry is laid out so that such a packet touches one of its cache lines
 * (struct np_flow_entry); drops, RTCP and policing touch more.
 * Where a sender in this kernel may have left the UDP checksum for the
 * "hardware" to finish (a veth), the checksum is verified over the whole
 * datagram first: a partial one is completed, a wrong one dropped. Media
 * leaves by XDP only through interfaces that deliver what XDP sends;
 * otherwise the kernel forwards the rewritten packet.
 * Everything else (signaling, unknown ports, fragments, anything malformed)
 * passes to the kernel untouched, but for datagrams to natproxyd's access
 * signaling sockets from blocked or, over a rate, unknown sources, which
 * the signaling guard (guard.h) drops. Every exit is counted with its reason in
 * the verdicts map.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "natproxy.h"
#include "csum.h"
#include "kernel_structs.h"
#include "maps.h"
#include "parse.h"
#include "guard.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* The network namespace the relay runs in (SO_NETNS_COOKIE), set by the
 * loader: the owner of the packets it hands the kernel (np_kernel_mark). */
const volatile __u64 np_netns_cookie = 0;

#define NSEC_PER_SEC 1000000000ull
#define IP_FRAG_MASK 0x3fff /* MF flag and fragment offset */
#define IPV6_NEXTHDR_FRAGMENT 44

/* What the parser found; pointers stay valid until the packet is resized. */
struct packet {
	struct ethhdr *eth;
	struct vlan_hdr *vlan;
	struct iphdr *ip4;
	struct ipv6hdr *ip6;
	struct udphdr *udp;
	__u32 ip_len; /* IP header and payload, as the header says */
	/* Scalars, not the NULL-ness of the pointers above, select the
	 * branches: the verifier does not track packet pointers as nullable. */
	bool tagged;
	bool v6;
};

static __always_inline void count_verdict(__u32 v)
{
	__u32 key = v;
	__u64 *n = bpf_map_lookup_elem(&np_verdicts_v3, &key);

	if (n)
		*n += 1;
}

/*
 * Keys are built a 32-bit word at a time: the hash reads them by words, and
 * a word assembled from narrower stores just made stalls that load until
 * the stores retire (no store-to-load forwarding).
 */
static __always_inline void key_head(struct np_flow_key *key, __u8 family,
				     __be16 port)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u32 head = family | (__u32)port << 16;
#else
	__u32 head = (__u32)family << 24 | port;
#endif

	__builtin_memcpy(key, &head, sizeof(head));
}

static __always_inline void key4_make(struct np_flow_key4 *key, __be32 addr,
				      __be16 port)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u32 tail = port;
#else
	__u32 tail = (__u32)port << 16;
#endif

	key->addr = addr;
	__builtin_memcpy(&key->port, &tail, sizeof(tail));
}

/* Parse up to the UDP header; a verdict on failure, else -1. */
static __always_inline int parse(struct xdp_md *ctx, struct packet *p)
{
	struct cursor c = { .pos = (void *)(long)ctx->data,
			    .end = (void *)(long)ctx->data_end };
	__u32 ip_hdr_len, udp_len;
	__be16 proto;

	p->eth = cursor_take(&c, sizeof(*p->eth));
	if (!p->eth)
		return NP_V_PASS_MALFORMED;
	proto = p->eth->h_proto;
	if (eth_proto_is_vlan(proto)) {
		p->vlan = cursor_take(&c, sizeof(*p->vlan));
		if (!p->vlan)
			return NP_V_PASS_MALFORMED;
		proto = p->vlan->encap_proto;
		p->tagged = true;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		p->ip4 = cursor_take(&c, sizeof(*p->ip4));
		if (!p->ip4 || p->ip4->version != 4 || p->ip4->ihl < 5)
			return NP_V_PASS_MALFORMED;
		if (p->ip4->ihl != 5)
			return NP_V_PASS_IP_OPTIONS;
		if (p->ip4->frag_off & bpf_htons(IP_FRAG_MASK))
			return NP_V_PASS_FRAGMENT;
		if (p->ip4->protocol != IPPROTO_UDP)
			return NP_V_PASS_NOT_UDP;
		p->ip_len = bpf_ntohs(p->ip4->tot_len);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		p->v6 = true;
		p->ip6 = cursor_take(&c, sizeof(*p->ip6));
		if (!p->ip6 || p->ip6->version != 6)
			return NP_V_PASS_MALFORMED;
		if (p->ip6->nexthdr == IPV6_NEXTHDR_FRAGMENT)
			return NP_V_PASS_FRAGMENT;
		/* Extension headers other than fragments: not media, let the
		 * kernel have them. */
		if (p->ip6->nexthdr != IPPROTO_UDP)
			return NP_V_PASS_NOT_UDP;
		p->ip_len = sizeof(*p->ip6) + bpf_ntohs(p->ip6->payload_len);
	} else {
		return NP_V_PASS_NOT_IP;
	}

	p->udp = cursor_take(&c, sizeof(*p->udp));
	if (!p->udp)
		return NP_V_PASS_MALFORMED;
	/*
	 * Lengths must agree with the frame: the IP length within it (padding
	 * after is fine), the UDP datagram within the IP payload. Anything
	 * else the kernel drops as truncated, and it must not be counted.
	 */
	ip_hdr_len = p->v6 ? sizeof(*p->ip6) : sizeof(*p->ip4);
	udp_len = bpf_ntohs(p->udp->len);
	if (p->ip_len < ip_hdr_len + sizeof(*p->udp) ||
	    (void *)p->udp - ip_hdr_len + p->ip_len > c.end ||
	    udp_len < sizeof(*p->udp) || udp_len > p->ip_len - ip_hdr_len)
		return NP_V_PASS_MALFORMED;
	if (p->v6 && !p->udp->check)
		return NP_V_PASS_MALFORMED; /* RFC 8200 §8.1: mandatory */
	return -1;
}

static __always_inline bool addr_eq(const union np_addr *a,
				    const union np_addr *b)
{
	return a->v6[0] == b->v6[0] && a->v6[1] == b->v6[1] &&
	       a->v6[2] == b->v6[2] && a->v6[3] == b->v6[3];
}

/* Whether the flow expects (or latched onto) source address a. */
static __always_inline bool flow_expects(const struct np_flow_entry *f,
					 bool v6, const union np_addr *a)
{
	return v6 ? addr_eq(a, &f->expect_saddr6) : a->v4 == f->expect_saddr4;
}

static __always_inline void flow_set_expect(struct np_flow_entry *f, bool v6,
					    const union np_addr *a)
{
	if (v6)
		f->expect_saddr6 = *a;
	else
		f->expect_saddr4 = a->v4;
}

/* The packet's source or destination as a union np_addr (IPv4: rest zero). */
static __always_inline void packet_addr(const struct packet *p, bool dest,
					union np_addr *a)
{
	if (!p->v6) {
		a->v6[1] = a->v6[2] = a->v6[3] = 0;
		a->v4 = dest ? p->ip4->daddr : p->ip4->saddr;
	} else {
		__builtin_memcpy(a, dest ? &p->ip6->daddr : &p->ip6->saddr,
				 sizeof(*a));
	}
}

/* The relay the packet is addressed to, as ctl/ names it. */
static __always_inline void packet_key(const struct packet *p,
				       struct np_flow_key *key)
{
	key_head(key, p->v6 ? NP_AF_INET6 : NP_AF_INET, p->udp->dest);
	packet_addr(p, true, &key->addr);
}

/* The one field read of the kernel's struct bpf_map, found by CO-RE. */
struct bpf_map {
	__u32 max_entries;
} __attribute__((preserve_access_index));

/*
 * The IPv4 flow of relay address addr, port port: at its index in the
 * array when the entry there has its key (one word compared: address,
 * port and NP_FLOW_LIVE), else in the hash of flows whose index was taken.
 * Its counters' slot in *slot: an array flow's is its index (natproxy.h),
 * which spares reading it from the entry's second line.
 * Kept apart from the IPv6 lookup: were the compiler to merge the calls
 * into one taking either map, the verifier could no longer inline it, and
 * every packet would pay an indirect call.
 */
static __always_inline struct np_flow_entry *flow4_find(__be32 addr,
							__be16 port,
							__u32 *slot)
{
	__u32 n = ((struct bpf_map *)&np_flowarr4_v2)->max_entries;
	__u32 idx = np_flow4_index(bpf_ntohl(addr), bpf_ntohs(port), n);
	struct np_flow_entry *flow;
	struct np_flow_key4 key4;
	__u64 want, have;

	/* The entry's first word as it would hold this key, built in a
	 * register (see key_head). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	want = (__u64)addr | (__u64)port << 32 | (__u64)NP_FLOW_LIVE << 48;
#else
	want = (__u64)addr << 32 | (__u64)port << 16 | NP_FLOW_LIVE;
#endif
	flow = bpf_map_lookup_elem(&np_flowarr4_v2, &idx);
	if (flow) {
		__builtin_memcpy(&have, &flow->key_addr, sizeof(have));
		if (have == want) {
			*slot = idx;
			return flow;
		}
	}
	key4_make(&key4, addr, port);
	flow = bpf_map_lookup_elem(&np_flows4_v6, &key4);
	asm volatile("" : "+r"(flow));
	if (flow)
		*slot = flow->slot;
	return flow;
}

/*
 * The flow of the relay the packet is addressed to, from its family's map,
 * and its slot. After a rewrite, that is the flow of the packet's new
 * destination.
 */
static __always_inline struct np_flow_entry *packet_flow(const struct packet *p,
							 __u32 *slot)
{
	struct np_flow_entry *flow;
	struct np_flow_key key;

	if (!p->v6)
		return flow4_find(p->ip4->daddr, p->udp->dest, slot);
	packet_key(p, &key);
	flow = bpf_map_lookup_elem(&np_flows6_v6, &key);
	if (flow)
		*slot = flow->slot;
	return flow;
}

static __always_inline struct np_flow_entry *flow_of(const struct np_flow_key *key)
{
	__u32 slot;

	if (key->family != NP_AF_INET)
		return bpf_map_lookup_elem(&np_flows6_v6, key);
	return flow4_find(key->addr.v4, key->port, &slot);
}

/*
 * First-packet refresh (claim 12): the source of the first accepted packet
 * becomes the reverse flow's destination and, from then on, the expected
 * source of this one. Two CPUs may both find the flow pending: clearing the
 * flag atomically elects one to write the source, so no mix of two first
 * packets' addresses and ports is ever stored; a loser is checked against
 * the winner's source like any later packet. A takeover is elected the
 * same way, by clearing NP_F_LATCH_TAKEOVER: it happens once.
 */
static __always_inline bool latch_claim(struct np_flow_entry *flow, __u32 flag)
{
	return __sync_fetch_and_and(&flow->flags, ~flag) & flag;
}

/*
 * RTCP latches with its RTP (NP_F_RTCP_FOLLOWS): the RTCP flow at port + 1
 * may latch only from the address the RTP just latched onto, any port (a
 * NAT gives RTCP a mapping of its own, seldom RTP's port + 1). One that
 * latched onto another address (the first packet from anywhere, with
 * `latch: any`) is re-armed so, and the far end's RTCP, which followed
 * that latch, waits for the terminal's. Another CPU latching the RTCP flow
 * at the same instant may write its own source over ours: that is the one
 * the RTCP flow would have latched onto without us.
 */
static __always_inline void rtcp_follow(struct np_flow_key *key, bool v6,
					const union np_addr *src)
{
	struct np_flow_entry *rtcp, *rev;

	key->port = bpf_htons(bpf_ntohs(key->port) + 1);
	rtcp = flow_of(key);
	if (!rtcp || (rtcp->flags & NP_F_RTCP_MUX))
		return;
	if (rtcp->flags & NP_F_LATCH_PENDING) {
		if ((rtcp->flags & NP_F_LATCH_RESTRICTED) &&
		    flow_expects(rtcp, v6, src))
			return;
		flow_set_expect(rtcp, v6, src);
		rtcp->expect_sport = 0;
		__sync_fetch_and_or(&rtcp->flags, NP_F_LATCH_RESTRICTED);
		return;
	}
	if (flow_expects(rtcp, v6, src))
		return;
	flow_set_expect(rtcp, v6, src);
	rtcp->expect_sport = 0;
	if (rtcp->flags & NP_F_HAS_REVERSE) {
		rev = flow_of(&rtcp->reverse);
		if (rev)
			rev->new_dport = 0;
	}
	__sync_fetch_and_or(&rtcp->flags,
			    NP_F_LATCH_PENDING | NP_F_LATCH_RESTRICTED);
}

static __always_inline void latch(const struct packet *p, struct np_flow_entry *flow,
				  const union np_addr *src, __be16 sport,
				  enum np_latch_kind kind)
{
	struct np_latch_event ev = {};
	struct np_flow_entry *rev;

	flow_set_expect(flow, p->v6, src);
	flow->expect_sport = sport;
	if (flow->flags & NP_F_HAS_REVERSE) {
		rev = flow_of(&flow->reverse);
		if (rev) {
			if (p->v6)
				rev->new_daddr6 = *src;
			else
				rev->new_daddr4 = src->v4;
			rev->new_dport = sport;
			/* Its next hop was for the old destination. */
			rev->nh_ifindex = 0;
		}
	}

	packet_key(p, &ev.key);
	ev.source = *src;
	ev.sport = sport;
	ev.kind = kind;
	ev.time_ns = bpf_ktime_get_ns();
	bpf_ringbuf_output(&np_events_v1, &ev, sizeof(ev), 0);
	if (flow->flags & NP_F_RTCP_FOLLOWS)
		rtcp_follow(&ev.key, p->v6, src);
}

/*
 * Source check and latch; a drop reason, or -1 to go on. A latched flow
 * moves only by a takeover: a packet from .home_saddr while the latch is
 * elsewhere, once (NP_F_LATCH_TAKEOVER). A packet from any other source
 * never moves it, so an attacker who latched first keeps the stream only
 * until the terminal's first packet, and one who comes later never gets it.
 */
static __always_inline int check_source(struct np_flow_entry *flow,
					const struct packet *p)
{
	union np_addr src;
	__be16 sport = p->udp->source;
	__u32 flags = flow->flags;
	enum np_latch_kind kind;

	packet_addr(p, false, &src);
	if (flags & NP_F_LATCH_PENDING) {
		if ((flags & NP_F_LATCH_RESTRICTED) &&
		    !flow_expects(flow, p->v6, &src))
			return NP_DROP_LATCH;
		if (latch_claim(flow, NP_F_LATCH_PENDING)) {
			kind = NP_LATCH_FIRST;
			goto latch;
		}
	}
	if (!(flags & (NP_F_STRICT_SOURCE | NP_F_LATCH_TAKEOVER)))
		return -1;
	if (flow_expects(flow, p->v6, &src) &&
	    (!flow->expect_sport || flow->expect_sport == sport))
		return -1;
	if ((flags & NP_F_LATCH_TAKEOVER) &&
	    addr_eq(&src, &flow->home_saddr) &&
	    !flow_expects(flow, p->v6, &flow->home_saddr) &&
	    latch_claim(flow, NP_F_LATCH_TAKEOVER)) {
		kind = NP_LATCH_TAKEOVER;
		goto latch;
	}
	return flags & NP_F_STRICT_SOURCE ? NP_DROP_SOURCE : -1;
latch:
	latch(p, flow, &src, sport, kind);
	return -1;
}

/* Token bucket (bytes); only rate-limited flows read the rate (a cold line
 * of the flow) and take the lock. */
static __always_inline bool police(const struct packet *p,
				   const struct np_flow_entry *flow, __u32 len)
{
	__u64 now, elapsed, tokens, fill_ns, add;
	struct np_flow_key key;
	struct np_police *b;
	bool pass;

	if (!(flow->flags & NP_F_POLICED) || !flow->rate_bytes)
		return true;
	packet_key(p, &key);
	now = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&np_police_v1, &key);
	if (!b) {
		struct np_police fresh = { .tokens = flow->burst_bytes,
					   .last_ns = now };

		bpf_map_update_elem(&np_police_v1, &key, &fresh, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&np_police_v1, &key);
		if (!b)
			return true; /* policer table full: fail open */
	}
	bpf_spin_lock(&b->lock);
	tokens = b->tokens < flow->burst_bytes ? b->tokens : flow->burst_bytes;
	/* now was read before the lock: another CPU may have moved last_ns
	 * past it. That is no time elapsed, not 2^64 ns. */
	elapsed = (__s64)(now - b->last_ns) > 0 ? now - b->last_ns : 0;
	/* Time to fill the bucket; the product stays far from overflow. */
	fill_ns = (flow->burst_bytes - tokens) * NSEC_PER_SEC /
		  flow->rate_bytes;
	if (elapsed >= fill_ns) {
		tokens = flow->burst_bytes;
		b->last_ns = now;
	} else {
		/* Advance only by the time turned into whole bytes, so
		 * closely spaced packets do not lose the remainder. */
		add = elapsed * flow->rate_bytes / NSEC_PER_SEC;
		tokens += add;
		b->last_ns += add * NSEC_PER_SEC / flow->rate_bytes;
	}
	pass = tokens >= len;
	b->tokens = pass ? tokens - len : tokens;
	bpf_spin_unlock(&b->lock);
	return pass;
}

/*
 * Checksums on arrival, for flows with NP_F_CSUM_VERIFY. A sender in this
 * kernel with checksum offload leaves in the UDP checksum field only the
 * folded sum of the pseudo-header (CHECKSUM_PARTIAL), for the device to
 * finish over the datagram; a veth hands that on as it is, and once XDP has
 * sent the packet no device finishes it. The datagram's sum tells the cases
 * apart: a complete checksum sums to zero with the pseudo-header; a partial
 * field equals the pseudo-header's sum, and the datagram's own sum, field
 * included, is then what the checksum completes; anything else arrived
 * wrong and is dropped, never "repaired" and relayed.
 */
enum arrival_csum { CSUM_COMPLETE, CSUM_PARTIAL, CSUM_WRONG, CSUM_TOO_LONG };

/* The pseudo-header's unfolded sum (RFC 768; RFC 8200 §8.1). */
static __always_inline __u64 pseudo_sum(const struct packet *p)
{
	__u64 sum = bpf_htons(IPPROTO_UDP) + (__u64)p->udp->len;
	int i;

	if (!p->v6)
		return sum + p->ip4->saddr + p->ip4->daddr;
	for (i = 0; i < 4; i++)
		sum += (__u64)p->ip6->saddr.in6_u.u6_addr32[i] +
		       p->ip6->daddr.in6_u.u6_addr32[i];
	return sum;
}

/*
 * The folded sum of the datagram at off, len bytes long; -1 if the walk
 * does not cover it. A global function, so that the verifier checks its
 * loop once rather than on every path through the relay.
 */
__noinline int datagram_sum(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 sum;

	if (off > 128 || !csum_bytes(data + off, end, len, &sum))
		return -1;
	return csum_fold64(sum);
}

/*
 * Classifies the arriving checksum and completes a partial one in place.
 * A field that equals the pseudo-header's sum is taken as partial even
 * when the datagram also sums right as it is (one in 65,535 partial
 * packets does): completing it then rewrites the same value, so what XDP
 * sends is right either way, and the kernel path, which must put back
 * the partial form, knows to.
 */
static __always_inline enum arrival_csum verify_checksum(struct xdp_md *ctx,
							 struct packet *p)
{
	__u16 check = p->udp->check, pseudo, full;
	int datagram;

	if (!check && !p->v6)
		return CSUM_COMPLETE; /* IPv4 without a checksum */
	datagram = datagram_sum(ctx, (void *)p->udp - (void *)(long)ctx->data,
				bpf_ntohs(p->udp->len));
	if (datagram < 0)
		return CSUM_TOO_LONG;
	pseudo = csum_fold64(pseudo_sum(p));
	if (csum_same(check, pseudo)) {
		full = ~(__u16)datagram;
		p->udp->check = full ? full : 0xffff;
		return CSUM_PARTIAL;
	}
	if (csum_fold64((__u64)datagram + pseudo) == 0xffff)
		return CSUM_COMPLETE;
	return CSUM_WRONG;
}

/*
 * Back to partial form for the rewritten addresses, for a packet that keeps
 * its skb and with it the kernel's note that the device is to finish the
 * checksum: one handed to the kernel, or one sent on in generic mode.
 */
static __always_inline void checksum_make_partial(struct packet *p)
{
	p->udp->check = csum_fold64(pseudo_sum(p));
}

/* Whether the ingress has the NP_LINK_* flag; asked only on the paths
 * that need it, so that no other packet pays for the lookup. */
static __always_inline bool ingress_has(struct xdp_md *ctx, __u32 flag)
{
	__u32 ifindex = ctx->ingress_ifindex;
	struct np_link *link = bpf_map_lookup_elem(&np_links_v1, &ifindex);

	return link && (link->flags & flag);
}

/* The DSCP and VLAN action ctl/ folded into the flags word (natproxy.h). */
static __always_inline __u8 flow_dscp(const struct np_flow_entry *flow)
{
	return (flow->flags & NP_FLOW_DSCP_MASK) >> NP_FLOW_DSCP_SHIFT;
}

static __always_inline __u8 flow_vlan_action(const struct np_flow_entry *flow)
{
	return (flow->flags & NP_FLOW_VLAN_MASK) >> NP_FLOW_VLAN_SHIFT;
}

/*
 * Rewrite addresses, ports and DSCP; both checksums follow incrementally.
 * Each changed word is built in a register, stored once and its checksum
 * delta taken from the registers: reloading a word right after narrower
 * stores into it would stall on store forwarding.
 */
static __always_inline void rewrite(struct packet *p,
				    const struct np_flow_entry *flow)
{
	__u32 *ports = (__u32 *)&p->udp->source;
	__u64 addrs = 0, port_delta, hdr = 0;
	__u32 old_ports = *ports, new_ports;
	int i;

	/* new_sport and new_dport are adjacent (natproxy.h asserts it). */
	__builtin_memcpy(&new_ports, &flow->new_sport, sizeof(new_ports));
	*ports = new_ports;
	port_delta = csum_delta32(0, old_ports, new_ports);

	if (!p->v6) {
		/* Each read once: an array entry can be rewritten in place
		 * while we relay (flowtab's cell_store), and the checksums
		 * must cover the addresses written, whichever they are. */
		__be32 saddr = *(volatile __be32 *)&flow->new_saddr4;
		__be32 daddr = *(volatile __be32 *)&flow->new_daddr4;

		addrs = csum_delta32(addrs, p->ip4->saddr, saddr);
		addrs = csum_delta32(addrs, p->ip4->daddr, daddr);
		p->ip4->saddr = saddr;
		p->ip4->daddr = daddr;
		if (flow->flags & NP_F_SET_DSCP) {
			/* Version/IHL and TOS: DSCP is the TOS's top six
			 * bits, ECN (the low two) stays. */
			__u16 *word = (__u16 *)p->ip4, old = *word, new;

			new = (old & ~bpf_htons(0x00fc)) |
			      bpf_htons((__u16)(flow_dscp(flow) << 2));
			*word = new;
			hdr = csum_delta16(hdr, old, new);
		}
		p->ip4->check = csum_apply(p->ip4->check, addrs + hdr);
		/* RFC 768: zero means "no checksum"; keep it that way. */
		if (!p->udp->check)
			return;
	} else {
		for (i = 0; i < 4; i++) {
			addrs = csum_delta32(addrs,
					     p->ip6->saddr.in6_u.u6_addr32[i],
					     flow->new_saddr6.v6[i]);
			addrs = csum_delta32(addrs,
					     p->ip6->daddr.in6_u.u6_addr32[i],
					     flow->new_daddr6.v6[i]);
		}
		__builtin_memcpy(&p->ip6->saddr, &flow->new_saddr6, 16);
		__builtin_memcpy(&p->ip6->daddr, &flow->new_daddr6, 16);
		if (flow->flags & NP_F_SET_DSCP) {
			__u8 *b = (__u8 *)p->ip6, dscp = flow_dscp(flow);

			/* Traffic class straddles bytes 0 and 1 (RFC 8200 §3);
			 * it is not covered by any checksum. */
			b[0] = 0x60 | (dscp >> 2);
			b[1] = ((dscp & 3) << 6) | (b[1] & 0x3f);
		}
	}
	p->udp->check = csum_apply(p->udp->check, addrs + port_delta);
	if (!p->udp->check)
		p->udp->check = 0xffff; /* a computed zero is sent as ones */
}

static __always_inline __u8 hop_limit(const struct packet *p)
{
	return p->v6 ? p->ip6->hop_limit : p->ip4->ttl;
}

/* Called with a hop limit above 1: the TTL never borrows from protocol. */
static __always_inline void decrement_hop_limit(struct packet *p)
{
	if (!p->v6) {
		/* TTL and protocol, built and stored as one word. */
		__u16 *word = (__u16 *)&p->ip4->ttl, old = *word;
		__u16 new = old - bpf_htons(0x0100);

		*word = new;
		p->ip4->check = csum_apply(p->ip4->check,
					   csum_delta16(0, old, new));
	} else {
		p->ip6->hop_limit--;
	}
}

/* RTCP on a muxed port is told apart by its packet type (RFC 5761 §4). */
static __always_inline bool is_muxed_rtcp(struct xdp_md *ctx,
					  const struct packet *p)
{
	__u8 *rtp = (__u8 *)(p->udp + 1);

	if (bpf_ntohs(p->udp->len) < sizeof(*p->udp) + 2 ||
	    (void *)(rtp + 2) > (void *)(long)ctx->data_end)
		return false;
	return rtp[1] >= 192 && rtp[1] <= 223;
}

static __always_inline int fib_lookup(struct xdp_md *ctx,
				      const struct packet *p,
				      struct bpf_fib_lookup *fib)
{
	fib->l4_protocol = IPPROTO_UDP;
	fib->sport = p->udp->source;
	fib->dport = p->udp->dest;
	fib->tot_len = p->ip_len;
	fib->ifindex = ctx->ingress_ifindex;
	if (!p->v6) {
		fib->family = AF_INET;
		fib->tos = p->ip4->tos;
		fib->ipv4_src = p->ip4->saddr;
		fib->ipv4_dst = p->ip4->daddr;
	} else {
		fib->family = AF_INET6;
		__builtin_memcpy(fib->ipv6_src, &p->ip6->saddr, 16);
		__builtin_memcpy(fib->ipv6_dst, &p->ip6->daddr, 16);
	}
	return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
}

/* Where the rewritten packet goes next: the egress and both MACs. */
struct hop {
	__u32 ifindex;
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
};

/*
 * The rewritten packet's next hop: the flow's cached one while the owner's
 * last packet was of this epoch (struct np_flow_entry), else the FIB's
 * answer, which the flow's owner CPU caches (another CPU relaying the flow
 * asks the FIB until it is cached, and never writes: no CPU reads a next
 * hop another is writing but at the instant the owner replaces one). The
 * owner's packet stamps the epoch after this (count_relayed), so its first
 * packet of an epoch asks the FIB. A BPF_FIB_LKUP_RET_* code; a failure
 * empties the cache, so that the next packet asks again rather than use a
 * next hop the FIB no longer gives; so does an egress whose index does not
 * fit the cache, for every packet.
 */
static __always_inline int next_hop(struct xdp_md *ctx, const struct packet *p,
				    struct np_flow_entry *flow, bool owned,
				    __u64 now, struct hop *hop)
{
	__u32 epoch = np_stamp_epoch(np_last_seen_stamp(now));
	struct bpf_fib_lookup fib = {};
	int rc;

	if (flow->nh_ifindex && np_stamp_epoch(flow->last_seen) == epoch) {
		hop->ifindex = flow->nh_ifindex;
		__builtin_memcpy(hop->dmac, flow->nh_dmac, ETH_ALEN);
		__builtin_memcpy(hop->smac, flow->nh_smac, ETH_ALEN);
		return BPF_FIB_LKUP_RET_SUCCESS;
	}
	rc = fib_lookup(ctx, p, &fib);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		if (owned && flow->nh_ifindex)
			flow->nh_ifindex = 0;
		return rc;
	}
	/* Read here, on the slow path, not by every packet. */
	hop->ifindex = flow->egress_ifindex ? flow->egress_ifindex : fib.ifindex;
	__builtin_memcpy(hop->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(hop->smac, fib.smac, ETH_ALEN);
	if (owned) {
		__builtin_memcpy(flow->nh_dmac, fib.dmac, ETH_ALEN);
		__builtin_memcpy(flow->nh_smac, fib.smac, ETH_ALEN);
		flow->nh_ifindex = hop->ifindex <= 0xffff ? hop->ifindex : 0;
	}
	return rc;
}

/*
 * Write the Ethernet header for the next hop, pushing, replacing or
 * stripping the 802.1Q tag as the flow says. The packet may move: every
 * pointer into it is stale afterwards.
 */
static __always_inline int emit_l2(struct xdp_md *ctx, const struct packet *p,
				   const struct np_flow_entry *flow,
				   const struct hop *nh)
{
	__be16 l3_proto, tpid = bpf_htons(ETH_P_8021Q), tci = 0;
	__u8 action = flow_vlan_action(flow);
	bool tagged = action == NP_VLAN_SET ||
		      (action == NP_VLAN_KEEP && p->tagged);
	int grow = (tagged ? (int)sizeof(struct vlan_hdr) : 0) -
		   (p->tagged ? (int)sizeof(struct vlan_hdr) : 0);
	struct cursor c = { .pos = (void *)(long)ctx->data,
			    .end = (void *)(long)ctx->data_end };
	struct ethhdr *eth;
	struct vlan_hdr *vlan;

	/* Taken again from the frame, each pointer checked where it is
	 * used: the verifier may not connect p->tagged with p->vlan. */
	eth = cursor_take(&c, sizeof(*eth));
	if (!eth)
		return -1;
	l3_proto = eth->h_proto;
	if (p->tagged) {
		vlan = cursor_take(&c, sizeof(*vlan));
		if (!vlan)
			return -1;
		tpid = eth->h_proto;
		tci = vlan->tci;
		l3_proto = vlan->encap_proto;
	}
	if (grow && bpf_xdp_adjust_head(ctx, -grow))
		return -1;
	c.pos = (void *)(long)ctx->data;
	c.end = (void *)(long)ctx->data_end;
	eth = cursor_take(&c, sizeof(*eth));
	if (!eth)
		return -1;
	__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, nh->smac, ETH_ALEN);
	if (!tagged) {
		eth->h_proto = l3_proto;
		return 0;
	}
	vlan = cursor_take(&c, sizeof(*vlan));
	if (!vlan)
		return -1;
	if (action == NP_VLAN_SET)
		tci = (tci & bpf_htons(0xf000)) | bpf_htons(flow->vlan_id & 0xfff);
	eth->h_proto = tpid;
	vlan->tci = tci;
	vlan->encap_proto = l3_proto;
	return 0;
}

/* The coarse clock, as struct np_clock keeps it. */
static __always_inline __u64 coarse_now(void)
{
	__u64 jiffies = bpf_jiffies64();
	struct np_clock *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&np_clock_v1, &zero);
	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->jiffies != jiffies) {
		c->coarse_ns = bpf_ktime_get_coarse_ns();
		c->jiffies = jiffies;
	}
	return c->coarse_ns;
}

/* Whether a flow's slot is one of NP_MAP_COUNTERS's (ctl/ gives only
 * those), asked without looking the slot up: that would read a line of the
 * array's per-CPU pointers. */
static __always_inline bool slot_valid(__u32 slot)
{
	return slot < ((struct bpf_map *)&np_counters_v4)->max_entries;
}

/* The slot's cold counters are about to count something
 * (np_cold_bit()): set once, read after. */
static __always_inline void cold_mark(__u32 slot)
{
	__u32 word = np_cold_word(slot);
	__u64 bit = np_cold_bit(slot), *w;

	w = bpf_map_lookup_elem(&np_coldslots_v1, &word);
	if (w && !(*w & bit))
		__sync_fetch_and_or(w, bit);
}

/* This CPU's cold counters at a flow's slot (struct np_counters); NULL for
 * a bad slot. */
static __always_inline struct np_counters *cold_counters(__u32 slot)
{
	return bpf_map_lookup_elem(&np_counters_v4, &slot);
}

/*
 * Whether this CPU owns the flow's counters and next hop (struct
 * np_flow_entry), claiming a flow no CPU owns yet. The claim is a
 * compare-and-swap of the flags word: a latch changing a flag at the same
 * time makes it fail, and the packet is counted as another CPU's.
 */
static __always_inline bool flow_owned(struct np_flow_entry *flow)
{
	__u32 cpu = bpf_get_smp_processor_id(), flags = flow->flags, me;

	if (cpu >= NP_FLOW_OWNER_MASK >> NP_FLOW_OWNER_SHIFT)
		return false; /* no room in the word: always a guest */
	me = (cpu + 1) << NP_FLOW_OWNER_SHIFT;
	if ((flags & NP_FLOW_OWNER_MASK) == me)
		return true;
	if (flags & NP_FLOW_OWNER_MASK)
		return false;
	return __sync_val_compare_and_swap(&flow->flags, flags, flags | me) ==
	       flags;
}

/*
 * A relayed packet: the owner counts and stamps it in the flow's hot line,
 * any other CPU in its cold counters; RTCP, packets handed to the kernel
 * and the flow's first packet also go to the cold counters (first_seen_ns).
 */
static __always_inline void count_relayed(struct np_flow_entry *flow,
					  __u32 slot, bool owned, __u32 len,
					  bool rtcp, bool to_kernel, __u64 now)
{
	struct np_counters *ctr;
	bool first = false;

	if (owned) {
		first = !flow->packets;
		flow->last_seen = np_last_seen_stamp(now);
		flow->packets++;
		flow->bytes += len;
		if (!first && !rtcp && !to_kernel)
			return;
	}
	ctr = cold_counters(slot);
	if (!ctr)
		return;
	/* The owner's first packet leaves only its time here. */
	if (!owned || rtcp || to_kernel)
		cold_mark(slot);
	if (!owned) {
		ctr->packets++;
		ctr->bytes += len;
		ctr->last_seen_ns = now;
		first = true;
	}
	ctr->rtcp_packets += rtcp;
	ctr->to_kernel += to_kernel;
	if (first && !ctr->first_seen_ns)
		ctr->first_seen_ns = now;
}

static __always_inline enum np_verdict drop_verdict(int reason)
{
	switch (reason) {
	case NP_DROP_SOURCE:
		return NP_V_DROP_SOURCE;
	case NP_DROP_LATCH:
		return NP_V_DROP_LATCH;
	case NP_DROP_RATE:
		return NP_V_DROP_RATE;
	case NP_DROP_CHECKSUM:
		return NP_V_DROP_CHECKSUM;
	default:
		return NP_V_DROP_NO_DEST;
	}
}

/* Source check, latch, destination known, rate; a drop reason or -1. */
static __always_inline int admit(struct np_flow_entry *flow, const struct packet *p)
{
	int reason = check_source(flow, p);

	if (reason < 0 && !flow->new_dport)
		reason = NP_DROP_NO_DEST;
	if (reason < 0 && !police(p, flow, p->ip_len))
		reason = NP_DROP_RATE;
	return reason;
}

/* Drop reasons live in the cold counters: only a drop touches them. */
static __always_inline int drop(__u32 slot, int reason, __u32 *verdict)
{
	struct np_counters *ctr = cold_counters(slot);

	if (ctr && reason >= 0 && reason < NP_DROP_MAX) {
		cold_mark(slot);
		ctr->drops[reason]++;
	}
	*verdict = drop_verdict(reason);
	return XDP_DROP;
}

/*
 * Notes the frame in this CPU's np_xmit_log, for the tracers that take it
 * back should the kernel drop it after the verdict. One 16-byte store into
 * a per-CPU ring and its index.
 */
static __always_inline void log_sent(__u32 ifindex, __u32 slot, __u32 len,
				     bool rtcp, __u8 kind)
{
	__u32 zero = 0;
	struct np_xmit_log *log = bpf_map_lookup_elem(&np_xmitlog_v1, &zero);
	struct np_xmit_rec rec = { .ifindex = ifindex, .slot = slot,
				   .len = len, .kind = kind, .rtcp = rtcp };

	if (log)
		log->rec[log->next++ & (NP_XMIT_LOG_LEN - 1)] = rec;
}

/*
 * Puts mark into the headroom: the data start moves back over it and
 * returns, leaving it just before the Ethernet header. Not where metadata
 * is already (another program's), which the move would carry over the
 * mark; the tracer believes no mark there.
 */
static __always_inline void put_mark(struct xdp_md *ctx,
				     const struct np_kernel_mark *mark)
{
	struct np_kernel_mark *m;

	if ((void *)(long)ctx->data_meta < (void *)(long)ctx->data)
		return;
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(*mark)))
		return;
	m = (void *)(long)ctx->data;
	if ((void *)(m + 1) <= (void *)(long)ctx->data_end)
		*m = *mark;
	/* Back by as much as it just moved: this cannot fail. */
	bpf_xdp_adjust_head(ctx, sizeof(*mark));
}

/* A packet for the kernel: its mark. Behind another program's metadata
 * it goes unmarked: counted, whatever the kernel does with it. */
static __always_inline void mark_for_kernel(struct xdp_md *ctx,
					    struct packet *p, __u32 slot,
					    __u32 len, bool rtcp)
{
	struct np_kernel_mark mark = {
		.magic = NP_KERNEL_MARK_MAGIC,
		.slot = slot,
		.len = len,
		.rtcp = rtcp,
		.udp_off = (void *)p->udp - (void *)(long)ctx->data,
		.netns = np_netns_cookie,
	};

	__builtin_memcpy(mark.udp, p->udp, sizeof(mark.udp));
	put_mark(ctx, &mark);
}

/*
 * A packet handed to the kernel unmarked must not carry an earlier one's
 * mark: the headroom is not cleared between the packets a buffer holds,
 * and the tracer would believe a stale mark in front of an exact
 * duplicate of its packet (the same UDP header), taking a packet back off
 * a flow, maybe another call's by then. An empty mark goes over it.
 */
static __always_inline void unmark(struct xdp_md *ctx)
{
	struct np_kernel_mark none = {};

	put_mark(ctx, &none);
}

/* The verdicts of to_kernel(), whose packets are marked (xdp_packet_test
 * checks the mark of every case that ends there). */
static __always_inline bool to_kernel_verdict(__u32 verdict)
{
	return verdict == NP_V_PASS_NO_NEIGH || verdict == NP_V_PASS_NO_ROUTE ||
	       verdict == NP_V_PASS_EGRESS;
}

/* The rewritten packet goes up the stack, which forwards it. */
static __always_inline int to_kernel(struct xdp_md *ctx, struct packet *p,
				     struct np_flow_entry *flow, __u32 slot,
				     bool owned, enum arrival_csum csum,
				     __u32 len, bool rtcp, __u64 now)
{
	if (csum == CSUM_PARTIAL)
		checksum_make_partial(p);
	count_relayed(flow, slot, owned, len, rtcp, true, now);
	mark_for_kernel(ctx, p, slot, len, rtcp);
	return XDP_PASS;
}

/*
 * How the rewritten packet is to leave by out: XDP_TX back out of the
 * ingress (unless the ingress asks for a redirect), XDP_REDIRECT, or
 * XDP_PASS when out is not an interface XDP can deliver through
 * (np_egress_v1). A redirect is asked for here, before anything is sent,
 * and the request is the check too: bpf_redirect_map looks out up and
 * answers XDP_PASS without it, one call and one lookup instead of a
 * lookup and then the redirect's own. Should the packet not leave after
 * all (dropped below), the action returned is another, and the kernel
 * never reads the redirect's target.
 */
static __always_inline int xmit_action(struct xdp_md *ctx, __u32 out)
{
	if (out == ctx->ingress_ifindex &&
	    !ingress_has(ctx, NP_LINK_TX_BY_REDIRECT))
		return bpf_map_lookup_elem(&np_egress_v1, &out) ? XDP_TX :
								  XDP_PASS;
	return bpf_redirect_map(&np_egress_v1, out, XDP_PASS);
}

static __always_inline int relay(struct xdp_md *ctx, __u32 *verdict)
{
	struct packet p = {};
	struct np_flow_entry *flow, *next;
	enum arrival_csum csum = CSUM_COMPLETE;
	struct hop nh;
	__u32 out, len, slot = 0, next_slot = 0;
	int reason, rc, action;
	bool rtcp, owned;
	__u64 now;

	rc = parse(ctx, &p);
	if (rc >= 0) {
		*verdict = rc;
		return XDP_PASS;
	}
	flow = packet_flow(&p, &slot);
	/* A slot out of range is a control plane bug: not ours to relay. */
	if (!flow || !slot_valid(slot)) {
		*verdict = NP_V_PASS_NO_FLOW;
		/* Not media: signaling, which the guard may hold back. */
		return p.v6 ? guard6(p.ip6, p.udp, verdict) :
			      guard4(p.ip4, p.udp, verdict);
	}
	/* Expiring: the kernel answers with ICMP, not us; nothing latches. */
	if (hop_limit(&p) <= 1) {
		*verdict = NP_V_PASS_TTL;
		return XDP_PASS;
	}
	len = p.ip_len;
	/* Before the latch: a damaged packet must not fix a source. */
	if (flow->flags & NP_F_CSUM_VERIFY) {
		csum = verify_checksum(ctx, &p);
		if (csum == CSUM_WRONG)
			return drop(slot, NP_DROP_CHECKSUM, verdict);
		if (csum == CSUM_TOO_LONG) {
			*verdict = NP_V_PASS_UNVERIFIED;
			return XDP_PASS;
		}
	}
	reason = admit(flow, &p);
	if (reason >= 0)
		return drop(slot, reason, verdict);
	owned = flow_owned(flow);
	now = coarse_now();
	rtcp = (flow->flags & NP_F_RTCP_MUX) && is_muxed_rtcp(ctx, &p);
	rewrite(&p, flow);

	/*
	 * Hairpin: when the new destination is itself one of our relays (two
	 * terminals behind this proxy calling each other through the
	 * softswitch), relay the packet again at once, as if it had arrived
	 * there. One extra hop at most; only flows the control plane marked
	 * look.
	 */
	if (flow->flags & NP_F_HAIRPIN) {
		next = packet_flow(&p, &next_slot);
		if (next && slot_valid(next_slot)) {
			count_relayed(flow, slot, owned, len, rtcp, false, now);
			flow = next;
			slot = next_slot;
			reason = admit(flow, &p);
			if (reason >= 0)
				return drop(slot, reason, verdict);
			owned = flow_owned(flow);
			rtcp = (flow->flags & NP_F_RTCP_MUX) &&
			       is_muxed_rtcp(ctx, &p);
			rewrite(&p, flow);
		}
	}

	/*
	 * Without a resolved next hop, or an egress XDP can deliver through
	 * (np_egress_v1; XDP_TX too needs it: a veth sends those to its
	 * peer), the rewritten packet goes up the stack, which forwards it
	 * and resolves the neighbour; once both are there, packets take the
	 * fast path.
	 */
	rc = next_hop(ctx, &p, flow, owned, now, &nh);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		*verdict = rc == BPF_FIB_LKUP_RET_NO_NEIGH ? NP_V_PASS_NO_NEIGH :
							     NP_V_PASS_NO_ROUTE;
		return to_kernel(ctx, &p, flow, slot, owned, csum, len, rtcp,
				 now);
	}
	out = nh.ifindex;
	action = xmit_action(ctx, out);
	if (action != XDP_TX && action != XDP_REDIRECT) {
		*verdict = NP_V_PASS_EGRESS;
		return to_kernel(ctx, &p, flow, slot, owned, csum, len, rtcp,
				 now);
	}
	if (csum == CSUM_PARTIAL && ingress_has(ctx, NP_LINK_GENERIC))
		checksum_make_partial(&p);

	decrement_hop_limit(&p);
	if (emit_l2(ctx, &p, flow, &nh)) {
		*verdict = NP_V_DROP_VLAN;
		return XDP_DROP;
	}
	count_relayed(flow, slot, owned, len, rtcp, false, now);
	if (action == XDP_TX) {
		log_sent(out, slot, len, rtcp, NP_XMIT_TX);
		*verdict = NP_V_TX;
		return XDP_TX;
	}
	log_sent(out, slot, len, rtcp, NP_XMIT_REDIRECT);
	*verdict = NP_V_REDIRECT;
	return XDP_REDIRECT;
}

SEC("xdp")
int np_relay(struct xdp_md *ctx)
{
	__u32 verdict = NP_V_PASS_MALFORMED;
	int action = relay(ctx, &verdict);

	if (action == XDP_PASS && !to_kernel_verdict(verdict))
		unmark(ctx);
	count_verdict(verdict);
	return action;
}

/*
 * Losses after the verdict. A redirect or XDP_TX is only a request: the
 * kernel queues the frame and hands the queue to the driver later, which
 * may drop some (struct np_xmit_log); the tracepoints below are where
 * that shows. Each takes the dropped frames back off their flows'
 * counters, from this CPU's log, and counts them per interface when the
 * driver refused them outright (err): ctl/ reports those and stops
 * sending by XDP through that interface. Only frames sent from an
 * interface the relay is attached to are looked at.
 */
/* Frames the kernel queues per CPU and target before it hands them to the
 * driver (DEV_MAP_BULK_SIZE in kernel/bpf/devmap.c, VETH_XDP_TX_BULK_SIZE
 * in drivers/net/veth.c): a full queue is flushed as the next frame
 * arrives, so that frame is logged but not in the flush. */
#define XMIT_BULK 16

/*
 * Whether dev is one of our interfaces. The tracepoints below fire for
 * every namespace, and an interface index is only unique within one: a
 * natproxy in another namespace (a container, another test) has its own
 * acc0 with the same index, whose flushes are not ours to count.
 */
static __always_inline bool attached(const struct net_device *dev)
{
	__u32 key = dev->ifindex;

	if (np_netns_cookie && dev->nd_net.net->net_cookie != np_netns_cookie)
		return false;
	return bpf_map_lookup_elem(&np_links_v1, &key);
}

static __always_inline void count_xmit_drops(int to, int drops)
{
	__u32 key = to;
	__u64 *n, first;

	if (drops <= 0)
		return;
	n = bpf_map_lookup_elem(&np_xmitdrop_v1, &key);
	if (!n) {
		first = 0;
		bpf_map_update_elem(&np_xmitdrop_v1, &key, &first, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&np_xmitdrop_v1, &key);
		if (!n)
			return;
	}
	__sync_fetch_and_add(n, drops);
}

/* A verdict that turned out otherwise. */
static __always_inline void uncount_verdict(__u32 was, __u32 is)
{
	__u64 *n = bpf_map_lookup_elem(&np_verdicts_v3, &was);

	if (n)
		*n -= 1;
	count_verdict(is);
}

/*
 * A logged frame the kernel dropped: off this CPU's cold counters of its
 * flow, whichever CPU counted it (only the sum of a flow's counters means
 * anything, struct np_counters), and onto its xmit drops.
 */
static __always_inline void take_back(const struct np_xmit_rec *r)
{
	__u32 slot = r->slot;
	struct np_counters *ctr = bpf_map_lookup_elem(&np_counters_v4, &slot);

	if (!ctr)
		return;
	cold_mark(slot);
	ctr->packets--;
	ctr->bytes -= r->len;
	ctr->rtcp_packets -= r->rtcp;
	ctr->drops[NP_DROP_XMIT]++;
	/* One handed to the kernel keeps its pass verdict: it was one. */
	if (r->kind != NP_XMIT_SETTLED)
		uncount_verdict(r->kind == NP_XMIT_TX ? NP_V_TX :
							NP_V_REDIRECT,
				NP_V_DROP_XMIT);
}

/* The frame the relay sent last on this CPU, when it is of this kind and
 * target and not settled yet: one the kernel refused at once. */
static __always_inline void take_back_newest(__u32 ifindex, __u8 kind)
{
	__u32 zero = 0;
	struct np_xmit_log *log = bpf_map_lookup_elem(&np_xmitlog_v1, &zero);
	struct np_xmit_rec *r;

	if (!log)
		return;
	r = &log->rec[(log->next - 1) & (NP_XMIT_LOG_LEN - 1)];
	if (r->kind != kind || r->ifindex != ifindex)
		return;
	take_back(r);
	r->kind = NP_XMIT_SETTLED;
}

/* A walk over the unsettled records of one kind and target, newest first:
 * bpf_loop steps, verified once rather than once per record. */
struct xmit_walk {
	struct np_xmit_log *log;
	__u32 ifindex;
	__u32 newest;
	__u32 seen; /* matching records so far */
	__u32 stop; /* seen at which to stop */
	__u32 skip; /* the newest ones to pass over */
	__u32 drops; /* then the ones to take back */
	bool newest_seen; /* the log's newest record matched */
	__u8 kind;
};

static __always_inline struct np_xmit_rec *walk_match(struct xmit_walk *w,
						      __u32 i)
{
	__u32 at = (w->newest - i) & (NP_XMIT_LOG_LEN - 1);
	struct np_xmit_rec *r = &w->log->rec[at];

	if (r->kind != w->kind || r->ifindex != w->ifindex)
		return NULL;
	if (i == 0)
		w->newest_seen = true;
	return r;
}

static long walk_count(__u32 i, void *arg)
{
	struct xmit_walk *w = arg;

	if (walk_match(w, i))
		w->seen++;
	return w->seen >= w->stop;
}

static long walk_settle(__u32 i, void *arg)
{
	struct xmit_walk *w = arg;
	struct np_xmit_rec *r = walk_match(w, i);
	__u32 n;

	if (!r)
		return 0;
	n = w->seen++;
	if (n < w->skip)
		return 0;
	if (n - w->skip < w->drops)
		take_back(r);
	r->kind = NP_XMIT_SETTLED;
	return w->seen >= w->stop;
}

/*
 * A flush of sent + drops frames of this kind to ifindex, which the driver
 * took in order until it could not: the last drops were dropped. Those
 * frames are the newest unsettled ones of the log for that target, but
 * for the frame that made a full queue flush (logged, not yet queued): it
 * is the log's newest, and one more than the flush holds is unsettled.
 */
static __always_inline void settle_flush(__u32 ifindex, __u8 kind, int sent,
					 int drops)
{
	struct xmit_walk w = { .ifindex = ifindex, .kind = kind };
	__u32 zero = 0, cnt;

	w.log = bpf_map_lookup_elem(&np_xmitlog_v1, &zero);
	if (!w.log || sent < 0 || drops < 0 || sent + drops > XMIT_BULK)
		return;
	cnt = sent + drops;
	w.newest = w.log->next - 1;
	/* Only a full flush can leave the frame that made it behind; any
	 * other need not be counted first, which walks the whole log when
	 * fewer frames than cnt + 1 are pending (nearly every flush of a
	 * light load: one frame each). */
	if (cnt == XMIT_BULK) {
		w.stop = cnt + 1;
		bpf_loop(NP_XMIT_LOG_LEN, walk_count, &w, 0);
		w.skip = w.seen == cnt + 1 && w.newest_seen;
	}
	w.seen = 0;
	w.stop = w.skip + cnt;
	w.drops = drops;
	bpf_loop(NP_XMIT_LOG_LEN, walk_settle, &w, 0);
}

/* BPF_PROG names every argument of the tracepoint; few are read. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-parameter"

/*
 * A flush of redirected frames into to_dev (a devmap). Every dropped frame
 * comes off its flow; only a flush the driver refused (err: a veth whose
 * peer can take no XDP frames) says the interface cannot deliver. Frames
 * dropped with no error found its queue full (a veth's ring under a
 * burst), a loss under load as a NIC's full TX ring is, and taking XDP off
 * the interface for them would only move the load to the slower kernel
 * path for good.
 */
SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(np_tp_devmap_xmit, const struct net_device *from_dev,
	     const struct net_device *to_dev, int sent, int drops, int err)
{
	if (!attached(from_dev))
		return 0;
	settle_flush(to_dev->ifindex, NP_XMIT_REDIRECT, sent, drops);
	if (err)
		count_xmit_drops(to_dev->ifindex, drops);
	return 0;
}

/* A redirect the kernel refused at once (the target cannot take XDP
 * frames): for a devmap, index is the target's key, its ifindex. */
SEC("tp_btf/xdp_redirect_err")
int BPF_PROG(np_tp_redirect_err, const struct net_device *dev,
	     const void *xdp, const void *tgt, int err, int map_type,
	     __u32 map_id, __u32 index)
{
	if (map_type != BPF_MAP_TYPE_DEVMAP_HASH || !attached(dev))
		return 0;
	count_xmit_drops(index, 1);
	take_back_newest(index, NP_XMIT_REDIRECT);
	return 0;
}

/* A flush of XDP_TX frames on a veth: as a devmap flush. */
SEC("tp_btf/xdp_bulk_tx")
int BPF_PROG(np_tp_bulk_tx, const struct net_device *dev, int sent,
	     int drops, int err)
{
	if (!attached(dev))
		return 0;
	settle_flush(dev->ifindex, NP_XMIT_TX, sent, drops);
	if (err)
		count_xmit_drops(dev->ifindex, drops);
	return 0;
}

/*
 * A packet the kernel dropped, with a drop reason (one it forwarded or
 * delivered is consumed, not dropped). One the relay handed it carries a
 * np_kernel_mark; dropped in the relay's own namespace (no route once a link
 * went down, a neighbour that never answered, a full queue, a firewall),
 * it never left, and comes off its flow. Anywhere else it had left: the
 * mark goes with the skb into the namespace a veth hands it to, and there
 * another natproxy may run. A clone (a capture's) is not the packet.
 */
SEC("tp_btf/kfree_skb")
int BPF_PROG(np_tp_kfree_skb, struct sk_buff *skb, void *location, int reason)
{
	struct skb_shared_info *shinfo;
	struct net_device *dev = skb->dev;
	struct np_xmit_rec r = {};
	struct np_kernel_mark m;
	unsigned char *mac;
	__u64 udp = 0, marked_udp;
	__u8 meta_len = 0;
	int dataref = 0;

	if (!np_netns_cookie || !dev || dev->nd_net.net->net_cookie != np_netns_cookie)
		return 0;
	shinfo = (void *)(skb->head + skb->end);
	mac = skb->head + skb->mac_header;
	if (bpf_core_read(&meta_len, sizeof(meta_len), &shinfo->meta_len) ||
	    meta_len ||
	    bpf_core_read(&dataref, sizeof(dataref), &shinfo->dataref.counter) ||
	    dataref != 1 ||
	    bpf_probe_read_kernel(&m, sizeof(m), mac - sizeof(m)) ||
	    m.magic != NP_KERNEL_MARK_MAGIC || m.netns != np_netns_cookie ||
	    bpf_probe_read_kernel(&udp, sizeof(udp), mac + m.udp_off))
		return 0;
	__builtin_memcpy(&marked_udp, m.udp, sizeof(marked_udp));
	if (udp != marked_udp)
		return 0;
	r.slot = m.slot;
	r.len = m.len;
	r.rtcp = m.rtcp;
	r.kind = NP_XMIT_SETTLED;
	take_back(&r);
	return 0;
}

/* A driver that could not send an XDP_TX frame: the one just sent. */
SEC("tp_btf/xdp_exception")
int BPF_PROG(np_tp_exception, const struct net_device *dev,
	     const void *xdp, __u32 act)
{
	if (act != XDP_TX || !attached(dev))
		return 0;
	count_xmit_drops(dev->ifindex, 1);
	take_back_newest(dev->ifindex, NP_XMIT_TX);
	return 0;
}

#pragma clang diagnostic pop

char LICENSE[] SEC("license") = "GPL";
