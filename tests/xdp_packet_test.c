// SPDX-License-Identifier: GPL-2.0-only
/*
 * Table-driven packet test of the XDP relay (bpf/relay.bpf.c). Each case
 * builds a frame from C structs (Ethernet, an optional 802.1Q/802.1ad tag,
 * IPv4 or IPv6, UDP and a payload, with any field corrupted or the frame cut
 * short on request), runs the program once on it with bpf_prog_test_run_opts
 * as if it had arrived on a veth of the namespace tests/xdp_packet_test.sh
 * builds, so that bpf_fib_lookup finds real routes and neighbours, and then
 * checks the XDP action, the verdict counters, the flow's counters and every
 * header field of the frame that comes out. Both checksums of a rewritten
 * packet are recomputed from scratch (RFC 1071) over the output and compared
 * with what the program wrote. The program is loaded once from its skeleton;
 * cases stay independent by using flows of their own. Beyond the table: the
 * per-CPU next-hop cache (planted entries, a neighbour whose MAC changes or
 * goes away), the flows' slots and the token bucket over time. The process
 * is pinned to one CPU, so the cache entry a packet uses is known.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowtab.h"
#include "guard.h"
#include "loader.h"
#include "natproxy.h"
#include "pins.h"
#include "mark_reader.skel.h"
#include "relay.skel.h"
#include "tap.h"

/* --- The namespace of tests/xdp_packet_test.sh ------------------------- */

enum dev_id { DEV_A, DEV_B, DEV_COUNT };
static const char *const dev_name[DEV_COUNT] = { "a0", "b0" };
/* The other end of each one's veth pair. */
static const char *const peer_name[DEV_COUNT] = { "a1", "b1" };

#define PROXY_A4 "203.0.113.1" /* on a0 */
#define TERM4 "203.0.113.20" /* neighbour on a0 */
#define TERM4_OTHER "203.0.113.21" /* an attacker on the access network */
#define TERM4_THIRD "203.0.113.22" /* another one */
#define PROXY_B4 "198.51.100.1" /* on b0 */
#define FAR4 "198.51.100.10" /* neighbour on b0 */
#define NONEIGH4 "198.51.100.99" /* on b0's link, no neighbour */
#define NOROUTE4 "192.0.2.1" /* no route at all */
#define GONE4 "198.51.100.11" /* a neighbour the test adds, then deletes */
#define GONE4_MAC "02:00:00:00:00:12"
#define FAR4_MAC_NEW "02:00:00:00:00:11" /* FAR4's MAC, changed mid-test */
#define PROXY_A6 "2001:db8:1::1"
#define TERM6 "2001:db8:1::20"
#define TERM6_OTHER "2001:db8:1::21"
#define PROXY_B6 "2001:db8:2::1"
#define FAR6 "2001:db8:2::10"
#define NONEIGH6 "2001:db8:2::99"
#define NOROUTE6 "2001:db8:99::1"

/* The permanent neighbours the script adds, with their fixed MACs. */
static const struct neigh {
	const char *addr;
	__u8 mac[ETH_ALEN];
	enum dev_id dev;
} neighs[] = {
	{ TERM4, { 0x02, 0x00, 0x00, 0x00, 0x00, 0x20 }, DEV_A },
	{ FAR4, { 0x02, 0x00, 0x00, 0x00, 0x00, 0x10 }, DEV_B },
	{ TERM6, { 0x02, 0x00, 0x00, 0x00, 0x01, 0x20 }, DEV_A },
	{ FAR6, { 0x02, 0x00, 0x00, 0x00, 0x01, 0x10 }, DEV_B },
};

/* The sender's MAC on input frames; the program never looks at it. */
static const __u8 peer_mac[ETH_ALEN] = { 0x02, 0x00, 0x00, 0x00, 0xaa, 0x01 };
static const __u8 zero_mac[ETH_ALEN];

/* --- Flows ------------------------------------------------------------- */

enum flow_id {
	F4_AB, /* a0 -> b0, the plain relay */
	F4_AA, /* a0 -> a0, hairpin: XDP_TX */
	F4_EGB, /* a0 -> b0 with egress_ifindex b0 */
	F4_DSCP,
	F4_VSET,
	F4_VSTRIP,
	F4_NONEIGH,
	F4_NOROUTE,
	F4_NODEST,
	F4_RATE,
	F4_RATE2,
	F4_STRICT,
	F4_STRICT_ANY,
	F4_LATCH,
	F4_LATCH_REV,
	F4_LSTRICT,
	F4_LRESTR,
	F4_MUX,
	F4_RTCP,
	F4_HP1, /* relays to F4_HP2's key: relayed again at once */
	F4_HP2,
	F4_HP0, /* relays to F4_HP2's key but is not marked: no second lookup */
	F4_NH, /* next-hop cache cases */
	F4_NH_NONEIGH,
	F4_NH_GONE, /* to GONE4 */
	F4_SLOT, /* removed and installed again */
	F6_AB,
	F6_AA,
	F6_DSCP,
	F6_VSET,
	F6_NONEIGH,
	F6_NOROUTE,
	F6_LATCH,
	F6_LATCH_REV,
	/* Slot out of range: only a hash entry's slot is read (an array
	 * flow's is its index). */
	F6_BADSLOT,
	/* NP_F_CSUM_VERIFY: checksums verified, partial ones completed. */
	F4_CV,
	F4_CV_AA, /* a0 -> a0: XDP_TX */
	F4_CV_NONEIGH,
	F4_CV_LATCH,
	F4_CV_LATCH_REV,
	F4_CV_HP, /* relays to F4_HP2's key */
	F6_CV,
	F6_CV_NONEIGH,
	/* Latching as ctl/ installs a terminal's stream: RTP, its reverse,
	 * RTCP at port + 1 and its reverse. FP: `latch: first-packet`, only
	 * the signaling address TERM4 latches; ANY: `latch: any`, anyone
	 * latches first and TERM4 takes over once. */
	F4_FP,
	F4_FP_REV,
	F4_FP_RTCP,
	F4_FP_RTCP_REV,
	F4_ANY,
	F4_ANY_REV,
	F4_ANY_RTCP,
	F4_ANY_RTCP_REV,
	F4_ANY2, /* the attacker latches the RTCP port first */
	F4_ANY2_REV,
	F4_ANY2_RTCP,
	F4_ANY2_RTCP_REV,
	/* The flow array (np_flowarr4_v2): IDX at its index; IDX_HASH, same
	 * port on PROXY_B4 (same low address bits), finds the index taken
	 * and goes to the hash (np_flows4_v6). Installed in this order. */
	F4_IDX,
	F4_IDX_HASH,
	F6_ANY,
	F6_ANY_REV,
	FLOW_COUNT
};

enum egress { EG_FIB, EG_A, EG_B };

/* A flow as the control plane would install it; strings for addresses. */
struct flow_spec {
	const char *local; /* the key: relay address and port */
	__u16 port;
	const char *new_saddr, *new_daddr; /* NULL: all zero */
	__u16 new_sport, new_dport;
	const char *expect_saddr;
	__u16 expect_sport;
	const char *home_saddr;
	__u32 flags;
	__u8 dscp;
	__u8 vlan_action;
	__u16 vlan_id;
	enum egress egress;
	enum flow_id reverse; /* with NP_F_HAS_REVERSE */
	__u64 rate, burst;
};

/* Media from the terminal on a0 relayed to the far end on b0. */
#define A_TO_B4(p)                                                             \
	.local = PROXY_A4, .port = (p), .new_saddr = PROXY_B4,                 \
	.new_sport = (p) + 1000, .new_daddr = FAR4, .new_dport = 5004
#define A_TO_B6(p)                                                             \
	.local = PROXY_A6, .port = (p), .new_saddr = PROXY_B6,                 \
	.new_sport = (p) + 1000, .new_daddr = FAR6, .new_dport = 5004

/* A terminal's latching RTP or RTCP flow on a0 toward the far end on b0,
 * as ctl/core/media.c installs it, and the far end's flow back. */
#define FP_FLAGS                                                               \
	(NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE | NP_F_LATCH_RESTRICTED |     \
	 NP_F_HAS_REVERSE)
#define ANY_FLAGS                                                              \
	(NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE | NP_F_LATCH_TAKEOVER |       \
	 NP_F_HAS_REVERSE)
#define TERM_RTP(p, f, rev)                                                    \
	.local = PROXY_A4, .port = (p), .new_saddr = PROXY_B4,                 \
	.new_sport = (p) + 2, .new_daddr = FAR4, .new_dport = 5004,            \
	.home_saddr = TERM4, .flags = (f), .reverse = (rev)
#define TERM_RTCP(p, f, rev)                                                   \
	.local = PROXY_A4, .port = (p), .new_saddr = PROXY_B4,                 \
	.new_sport = (p) + 2, .new_daddr = FAR4, .new_dport = 5005,            \
	.home_saddr = TERM4, .flags = (f), .reverse = (rev)
#define FAR_RTP(p, back)                                                       \
	.local = PROXY_B4, .port = (p), .new_saddr = PROXY_A4,                 \
	.new_sport = (back)

static const struct flow_spec flows[FLOW_COUNT] = {
	[F4_AB] = { A_TO_B4(40000) },
	[F4_AA] = { .local = PROXY_A4, .port = 40002, .new_saddr = PROXY_A4,
		    .new_sport = 40003, .new_daddr = TERM4, .new_dport = 6000 },
	[F4_EGB] = { A_TO_B4(40004), .egress = EG_B },
	[F4_DSCP] = { A_TO_B4(40006), .flags = NP_F_SET_DSCP, .dscp = 46 },
	[F4_VSET] = { A_TO_B4(40008), .vlan_action = NP_VLAN_SET,
		      .vlan_id = 200 },
	[F4_VSTRIP] = { A_TO_B4(40010), .vlan_action = NP_VLAN_STRIP },
	[F4_NONEIGH] = { .local = PROXY_A4, .port = 40012,
			 .new_saddr = PROXY_B4, .new_sport = 41012,
			 .new_daddr = NONEIGH4, .new_dport = 5004 },
	[F4_NOROUTE] = { .local = PROXY_A4, .port = 40014,
			 .new_saddr = PROXY_B4, .new_sport = 41014,
			 .new_daddr = NOROUTE4, .new_dport = 5004 },
	[F4_NODEST] = { .local = PROXY_A4, .port = 40016,
			.new_saddr = PROXY_B4, .new_sport = 41016 },
	[F4_RATE] = { A_TO_B4(40018), .rate = 1000, .burst = 300 },
	[F4_RATE2] = { A_TO_B4(40020), .rate = 1000, .burst = 300 },
	[F4_STRICT] = { A_TO_B4(40022), .flags = NP_F_STRICT_SOURCE,
			.expect_saddr = TERM4, .expect_sport = 7078 },
	[F4_STRICT_ANY] = { A_TO_B4(40024), .flags = NP_F_STRICT_SOURCE,
			    .expect_saddr = TERM4 },
	[F4_LATCH] = { .local = PROXY_A4, .port = 40026, .new_saddr = PROXY_B4,
		       .new_sport = 40028, .new_daddr = FAR4,
		       .new_dport = 5004,
		       .flags = NP_F_LATCH_PENDING | NP_F_HAS_REVERSE,
		       .reverse = F4_LATCH_REV },
	[F4_LATCH_REV] = { .local = PROXY_B4, .port = 40028,
			   .new_saddr = PROXY_A4, .new_sport = 40026 },
	[F4_LSTRICT] = { A_TO_B4(40030),
			 .flags = NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE },
	[F4_LRESTR] = { A_TO_B4(40032),
			.flags = NP_F_LATCH_PENDING | NP_F_LATCH_RESTRICTED,
			.expect_saddr = TERM4 },
	[F4_MUX] = { A_TO_B4(40034), .flags = NP_F_RTCP_MUX },
	[F4_RTCP] = { .local = PROXY_A4, .port = 40037, .new_saddr = PROXY_B4,
		      .new_sport = 41037, .new_daddr = FAR4,
		      .new_dport = 5005 },
	[F4_HP1] = { .local = PROXY_A4, .port = 40040, .new_saddr = PROXY_B4,
		     .new_sport = 41040, .new_daddr = PROXY_B4,
		     .new_dport = 40042, .flags = NP_F_HAIRPIN },
	[F4_HP2] = { .local = PROXY_B4, .port = 40042, .new_saddr = PROXY_A4,
		     .new_sport = 40043, .new_daddr = TERM4,
		     .new_dport = 6002 },
	[F4_HP0] = { .local = PROXY_A4, .port = 40044, .new_saddr = PROXY_B4,
		     .new_sport = 41044, .new_daddr = PROXY_B4,
		     .new_dport = 40042 },
	[F4_NH] = { A_TO_B4(40050) },
	[F4_NH_NONEIGH] = { .local = PROXY_A4, .port = 40052,
			    .new_saddr = PROXY_B4, .new_sport = 41052,
			    .new_daddr = NONEIGH4, .new_dport = 5004 },
	[F4_NH_GONE] = { .local = PROXY_A4, .port = 40054,
			 .new_saddr = PROXY_B4, .new_sport = 41054,
			 .new_daddr = GONE4, .new_dport = 5004 },
	[F4_SLOT] = { A_TO_B4(40056) },
	[F6_AB] = { A_TO_B6(40100) },
	[F6_AA] = { .local = PROXY_A6, .port = 40102, .new_saddr = PROXY_A6,
		    .new_sport = 40103, .new_daddr = TERM6, .new_dport = 6000 },
	[F6_DSCP] = { A_TO_B6(40104), .flags = NP_F_SET_DSCP, .dscp = 46 },
	[F6_VSET] = { A_TO_B6(40106), .vlan_action = NP_VLAN_SET,
		      .vlan_id = 300 },
	[F6_NONEIGH] = { .local = PROXY_A6, .port = 40108,
			 .new_saddr = PROXY_B6, .new_sport = 41108,
			 .new_daddr = NONEIGH6, .new_dport = 5004 },
	[F6_NOROUTE] = { .local = PROXY_A6, .port = 40110,
			 .new_saddr = PROXY_B6, .new_sport = 41110,
			 .new_daddr = NOROUTE6, .new_dport = 5004 },
	[F6_LATCH] = { .local = PROXY_A6, .port = 40112, .new_saddr = PROXY_B6,
		       .new_sport = 40114, .new_daddr = FAR6,
		       .new_dport = 5004,
		       .flags = NP_F_LATCH_PENDING | NP_F_HAS_REVERSE,
		       .reverse = F6_LATCH_REV },
	[F6_LATCH_REV] = { .local = PROXY_B6, .port = 40114,
			   .new_saddr = PROXY_A6, .new_sport = 40112 },
	[F6_BADSLOT] = { A_TO_B6(40116) },
	[F4_CV] = { A_TO_B4(40200), .flags = NP_F_CSUM_VERIFY },
	[F4_CV_AA] = { .local = PROXY_A4, .port = 40202,
		       .new_saddr = PROXY_A4, .new_sport = 40203,
		       .new_daddr = TERM4, .new_dport = 6000,
		       .flags = NP_F_CSUM_VERIFY },
	[F4_CV_NONEIGH] = { .local = PROXY_A4, .port = 40204,
			    .new_saddr = PROXY_B4, .new_sport = 41204,
			    .new_daddr = NONEIGH4, .new_dport = 5004,
			    .flags = NP_F_CSUM_VERIFY },
	[F4_CV_LATCH] = { .local = PROXY_A4, .port = 40206,
			  .new_saddr = PROXY_B4, .new_sport = 40208,
			  .new_daddr = FAR4, .new_dport = 5004,
			  .flags = NP_F_LATCH_PENDING | NP_F_HAS_REVERSE |
				   NP_F_CSUM_VERIFY,
			  .reverse = F4_CV_LATCH_REV },
	[F4_CV_LATCH_REV] = { .local = PROXY_B4, .port = 40208,
			      .new_saddr = PROXY_A4, .new_sport = 40206 },
	[F4_CV_HP] = { .local = PROXY_A4, .port = 40210,
		       .new_saddr = PROXY_B4, .new_sport = 41210,
		       .new_daddr = PROXY_B4, .new_dport = 40042,
		       .flags = NP_F_HAIRPIN | NP_F_CSUM_VERIFY },
	[F6_CV] = { A_TO_B6(40220), .flags = NP_F_CSUM_VERIFY },
	[F6_CV_NONEIGH] = { .local = PROXY_A6, .port = 40222,
			    .new_saddr = PROXY_B6, .new_sport = 41222,
			    .new_daddr = NONEIGH6, .new_dport = 5004,
			    .flags = NP_F_CSUM_VERIFY },
	[F4_FP] = { TERM_RTP(40300, FP_FLAGS | NP_F_RTCP_FOLLOWS, F4_FP_REV),
		    .expect_saddr = TERM4 },
	[F4_FP_REV] = { FAR_RTP(40302, 40300) },
	[F4_FP_RTCP] = { TERM_RTCP(40301, FP_FLAGS, F4_FP_RTCP_REV),
			 .expect_saddr = TERM4 },
	[F4_FP_RTCP_REV] = { FAR_RTP(40303, 40301) },
	[F4_ANY] = { TERM_RTP(40310, ANY_FLAGS | NP_F_RTCP_FOLLOWS,
			      F4_ANY_REV) },
	[F4_ANY_REV] = { FAR_RTP(40312, 40310) },
	[F4_ANY_RTCP] = { TERM_RTCP(40311, ANY_FLAGS, F4_ANY_RTCP_REV) },
	[F4_ANY_RTCP_REV] = { FAR_RTP(40313, 40311) },
	[F4_ANY2] = { TERM_RTP(40320, ANY_FLAGS | NP_F_RTCP_FOLLOWS,
			       F4_ANY2_REV) },
	[F4_ANY2_REV] = { FAR_RTP(40322, 40320) },
	[F4_ANY2_RTCP] = { TERM_RTCP(40321, ANY_FLAGS, F4_ANY2_RTCP_REV) },
	[F4_ANY2_RTCP_REV] = { FAR_RTP(40323, 40321) },
	[F4_IDX] = { A_TO_B4(40400), .flags = NP_F_STRICT_SOURCE,
		     .expect_saddr = TERM4, .expect_sport = 7078 },
	[F4_IDX_HASH] = { .local = PROXY_B4, .port = 40400,
			  .new_saddr = PROXY_B4, .new_sport = 41402,
			  .new_daddr = FAR4, .new_dport = 5006,
			  .flags = NP_F_STRICT_SOURCE, .expect_saddr = TERM4,
			  .expect_sport = 7078 },
	[F6_ANY] = { .local = PROXY_A6, .port = 40330, .new_saddr = PROXY_B6,
		     .new_sport = 40332, .new_daddr = FAR6, .new_dport = 5004,
		     .home_saddr = TERM6, .flags = ANY_FLAGS,
		     .reverse = F6_ANY_REV },
	[F6_ANY_REV] = { .local = PROXY_B6, .port = 40332,
			 .new_saddr = PROXY_A6, .new_sport = 40330 },
};

/* --- Packets ----------------------------------------------------------- */

#define FRAME_MAX 2304
#define PAYLOAD_DEFAULT 100
#define V4_BYTES (20 + 8 + PAYLOAD_DEFAULT) /* counted: IP header on */
#define V6_BYTES (40 + 8 + PAYLOAD_DEFAULT)
#define TTL_ZERO (-1)
#define FRAG_DF 0x4000
#define FRAG_MF 0x2000
#define TPID_8021Q 0x8100
#define TPID_8021AD 0x88a8

enum v6_ext { EXT_NONE, EXT_FRAG, EXT_HOP };

/*
 * What to build. Zero fields take the defaults resolve_in() gives them:
 * the flow's family and relay address:port as destination, the terminal
 * (on a0) or the far end (on b0) as source, TTL 64, 100 bytes of payload
 * starting like RTP (0x80, pt), a correct length in every header and
 * correct checksums.
 */
struct pkt_spec {
	int family; /* 4 or 6 */
	const __u8 *dmac, *smac;
	__u16 tpid; /* 0: untagged */
	__u16 tci;
	__u16 ethertype; /* of the IP header; 0: as the family says */
	const char *saddr, *daddr;
	__u16 sport, dport;
	int ttl; /* or hop limit; TTL_ZERO for 0 */
	__u8 tos; /* IPv4 TOS or IPv6 traffic class */
	__u32 flow_label;
	__u16 id, frag; /* IPv4 identification, flags and offset */
	__u8 proto; /* 0: UDP */
	enum v6_ext ext;
	int payload; /* bytes after the UDP header */
	__u8 pt; /* second payload byte: RTP M|PT or RTCP packet type */
	bool tail_set; /* last two payload bytes, big endian */
	__u16 tail;
	bool udp_csum_zero;
	/* The UDP checksum field as a sender with checksum offload leaves it
	 * (the folded pseudo-header sum), or wrong (a damaged packet). */
	bool udp_csum_partial, udp_csum_wrong;
	/* Partial, with the last two payload bytes chosen so that the
	 * datagram also sums right as it is (tail_set is taken over). */
	bool udp_csum_ambiguous;
	/* The datagram's last byte damaged after its checksum was made: the
	 * sum must have read it. */
	bool damage_last;
	/* Corruptions. */
	__u8 version; /* 0: the right one */
	__u8 ihl; /* 0: 5; options are added above 5 */
	bool no_udp; /* stop after the IP header */
	int ip_len; /* 0: right; else tot_len or payload_len as given */
	int udp_len; /* 0: right; else as given */
	int pad_to; /* zero-pad the frame to this length */
	int truncate; /* cut the frame to this length */
};

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

struct frame {
	__u8 b[FRAME_MAX];
	int len;
	int l3, l4, pay; /* offsets of IP, UDP and payload */
};

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static __u16 get16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

/*
 * RFC 1071, written out independently of bpf/csum.h: the one's complement
 * of the one's complement sum of big-endian 16-bit words, an odd byte
 * padded with zero.
 */
static __u32 sum16(__u32 sum, const __u8 *p, int n)
{
	for (; n > 1; p += 2, n -= 2)
		sum += get16(p);
	if (n == 1)
		sum += p[0] << 8;
	return sum;
}

static __u16 fold_not(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* IPv4 header checksum, the check field (bytes 10-11) taken as zero. */
static __u16 ipv4_csum(const __u8 *ip, int hlen)
{
	return fold_not(sum16(sum16(0, ip, 10), ip + 12, hlen - 12));
}

/* The sum of the UDP pseudo-header, unfolded. */
static __u32 pseudo_sum(const __u8 *l3, int family, int len)
{
	__u8 ph[40] = {};
	int phlen;

	if (family == 4) {
		memcpy(ph, l3 + 12, 8); /* source, destination */
		ph[9] = IPPROTO_UDP;
		put16(ph + 10, len);
		phlen = 12;
	} else {
		memcpy(ph, l3 + 8, 32);
		put16(ph + 34, len); /* 32-bit upper-layer length */
		ph[39] = IPPROTO_UDP;
		phlen = 40;
	}
	return sum16(0, ph, phlen);
}

/* UDP checksum with its pseudo-header, before the 0 -> 0xffff rule. */
static __u16 udp_sum_raw(const __u8 *l3, int family, const __u8 *udp,
			 int len)
{
	return fold_not(sum16(sum16(pseudo_sum(l3, family, len), udp, 6),
			      udp + 8, len - 8));
}

/* The folded pseudo-header sum, not inverted: what a sender with checksum
 * offload (CHECKSUM_PARTIAL) leaves in the field for the device to finish
 * over the datagram. */
static __u16 udp_partial(const __u8 *l3, int family, int len)
{
	return ~fold_not(pseudo_sum(l3, family, len)) & 0xffff;
}

/* What the device makes of a partial field: the datagram's sum, field
 * included, folded and inverted (a zero sent as all ones). */
static __u16 udp_finish(const __u8 *udp, int len)
{
	__u16 c = fold_not(sum16(0, udp, len));

	return c ? c : 0xffff;
}

/* RFC 768: a computed zero is transmitted as all ones. */
static __u16 udp_csum(const __u8 *l3, int family, const __u8 *udp, int len)
{
	__u16 c = udp_sum_raw(l3, family, udp, len);

	return c ? c : 0xffff;
}

static void parse_addr(const char *s, union np_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!s)
		return;
	if (strchr(s, ':'))
		inet_pton(AF_INET6, s, a->v6);
	else
		inet_pton(AF_INET, s, &a->v4);
}

static void build(const struct pkt_spec *s, struct frame *f)
{
	struct ethhdr *eth = (struct ethhdr *)f->b;
	__u16 l3proto = s->family == 6 ? ETH_P_IPV6 : ETH_P_IP;
	int off = sizeof(*eth), hlen, ulen, i;
	struct udphdr *udp;
	__u8 *pay;

	memset(f, 0, sizeof(*f));
	memcpy(eth->h_dest, s->dmac, ETH_ALEN);
	memcpy(eth->h_source, s->smac, ETH_ALEN);
	if (s->ethertype)
		l3proto = s->ethertype;
	if (s->tpid) {
		struct vlan_tag *tag = (struct vlan_tag *)(f->b + off);

		eth->h_proto = htons(s->tpid);
		tag->tci = htons(s->tci);
		tag->proto = htons(l3proto);
		off += sizeof(*tag);
	} else {
		eth->h_proto = htons(l3proto);
	}

	f->l3 = off;
	ulen = s->no_udp ? 0 : (int)sizeof(*udp) + s->payload;
	if (s->family == 4) {
		struct iphdr *ip = (struct iphdr *)(f->b + off);
		int ihl = s->ihl ? s->ihl : 5;

		hlen = (ihl > 5 ? ihl : 5) * 4;
		ip->version = s->version ? s->version : 4;
		ip->ihl = ihl;
		ip->tos = s->tos;
		ip->tot_len = htons(s->ip_len ? s->ip_len : hlen + ulen);
		ip->id = htons(s->id);
		ip->frag_off = htons(s->frag);
		ip->ttl = s->ttl;
		ip->protocol = s->proto;
		inet_pton(AF_INET, s->saddr, &ip->saddr);
		inet_pton(AF_INET, s->daddr, &ip->daddr);
		for (i = 20; i < hlen; i++) /* options: NOPs, end of list */
			f->b[off + i] = i == hlen - 1 ? 0 : 1;
		put16(f->b + off + 10, ipv4_csum(f->b + off, hlen));
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(f->b + off);
		__u8 *w = f->b + off, *x = w + sizeof(*ip6);
		int ext = s->ext == EXT_NONE ? 0 : 8;

		hlen = sizeof(*ip6) + ext;
		w[0] = (s->version ? s->version : 6) << 4 | s->tos >> 4;
		w[1] = (s->tos & 0xf) << 4 | ((s->flow_label >> 16) & 0xf);
		w[2] = (s->flow_label >> 8) & 0xff;
		w[3] = s->flow_label & 0xff;
		ip6->payload_len = htons(s->ip_len ? s->ip_len : ext + ulen);
		ip6->nexthdr = s->ext == EXT_FRAG ? 44 :
			       s->ext == EXT_HOP  ? 0 :
						    s->proto;
		ip6->hop_limit = s->ttl;
		inet_pton(AF_INET6, s->saddr, &ip6->saddr);
		inet_pton(AF_INET6, s->daddr, &ip6->daddr);
		if (s->ext == EXT_FRAG) {
			x[0] = s->proto;
			x[3] = 1; /* offset 0, more fragments */
			memcpy(x + 4, "\xde\xad\xbe\xef", 4);
		} else if (s->ext == EXT_HOP) {
			x[0] = s->proto;
			x[2] = 1; /* PadN over the remaining 4 bytes */
			x[3] = 4;
		}
	}

	f->l4 = off + hlen;
	f->pay = f->l4 + sizeof(*udp);
	f->len = f->l4 + ulen;
	if (!s->no_udp) {
		udp = (struct udphdr *)(f->b + f->l4);
		udp->source = htons(s->sport);
		udp->dest = htons(s->dport);
		udp->len = htons(s->udp_len ? s->udp_len : ulen);
		pay = f->b + f->pay;
		for (i = 0; i < s->payload; i++)
			pay[i] = i == 0 ? 0x80 : i == 1 ? s->pt : (i * 37 + 11);
		if (s->tail_set)
			put16(pay + s->payload - 2, s->tail);
		if (s->udp_csum_ambiguous) {
			put16(f->b + f->l4 + 6,
			      udp_partial(f->b + f->l3, s->family, ulen));
			put16(pay + s->payload - 2, 0);
			put16(pay + s->payload - 2,
			      fold_not(sum16(pseudo_sum(f->b + f->l3,
							s->family, ulen),
					     f->b + f->l4, ulen)));
		} else if (s->udp_csum_partial) {
			put16(f->b + f->l4 + 6,
			      udp_partial(f->b + f->l3, s->family, ulen));
		} else if (!s->udp_csum_zero)
			put16(f->b + f->l4 + 6,
			      udp_csum(f->b + f->l3, s->family, f->b + f->l4,
				       ulen) ^ (s->udp_csum_wrong ? 0x0400 : 0));
		if (s->damage_last)
			f->b[f->l4 + ulen - 1] ^= 0x01;
	}
	if (s->pad_to > f->len)
		f->len = s->pad_to;
	if (s->truncate)
		f->len = s->truncate;
}

/* --- Cases ------------------------------------------------------------- */

enum out_kind {
	OUT_NONE, /* dropped: nothing comes out */
	OUT_SAME, /* passed to the kernel byte for byte as it came */
	OUT_FWD, /* rewritten, TTL - 1, next hop's MACs, tag per the flow */
	OUT_KERNEL, /* rewritten for the kernel: MACs, tag and TTL as came */
};

struct tcase;
typedef void (*hook_fn)(const struct tcase *tc, const struct pkt_spec *in);

/*
 * One packet. The expected output of a rewritten packet is the input with
 * the new addresses and ports of the flow (of the second flow, via, when the
 * first one relays to another relay address) or exp_daddr/exp_dport, for a
 * destination the program learnt; and for OUT_FWD the TTL one lower,
 * the destination's neighbour MAC (neighs[]) and its device's own MAC as
 * source; TOS and VLAN tag are as received unless the case says otherwise.
 */
struct tcase {
	const char *name;
	enum flow_id flow; /* addressed to; whose counters are checked */
	bool hairpin; /* flow relays to via, whose counters take ctr too */
	bool via_untouched; /* via's counters must not move */
	enum flow_id via;
	enum dev_id ingress;
	hook_fn pre, post; /* extra map setup, extra checks */
	struct pkt_spec in;
	/* Expected. */
	int action;
	enum np_verdict verdict;
	enum out_kind out;
	const char *exp_daddr;
	__u16 exp_dport;
	bool exp_tos_set;
	__u8 exp_tos;
	bool exp_vlan_set;
	__u16 exp_tpid, exp_tci;
	bool csum_zero_out; /* pick the payload so the new checksum is 0 */
	/* The UDP checksum leaves partial, for the kernel to finish: the
	 * packet keeps its skb (handed to the kernel, or generic mode). */
	bool exp_csum_partial;
	const __u8 *exp_dmac; /* OUT_FWD: not the neighbour's (a planted one) */
	struct np_counters ctr; /* delta of the flow's counters */
};

#define FWD_REDIRECT .action = XDP_REDIRECT, .verdict = NP_V_REDIRECT, .out = OUT_FWD
#define FWD_TX .action = XDP_TX, .verdict = NP_V_TX, .out = OUT_FWD
#define PASSED(v) .action = XDP_PASS, .verdict = (v), .out = OUT_SAME
#define TO_KERNEL(v) .action = XDP_PASS, .verdict = (v), .out = OUT_KERNEL
#define DROPPED(v) .action = XDP_DROP, .verdict = (v), .out = OUT_NONE
#define EXPECT_TOS(v) .exp_tos_set = true, .exp_tos = (v)
#define EXPECT_TAG(tpid, tci)                                                  \
	.exp_vlan_set = true, .exp_tpid = (tpid), .exp_tci = (tci)
#define EXPECT_UNTAGGED .exp_vlan_set = true, .exp_tpid = 0

static void pre_egress_a_absent(const struct tcase *tc,
				const struct pkt_spec *in);
static void post_egress_a_back(const struct tcase *tc,
			       const struct pkt_spec *in);
static void pre_egress_b_absent(const struct tcase *tc,
				const struct pkt_spec *in);
static void post_egress_b_back(const struct tcase *tc,
			       const struct pkt_spec *in);
static void pre_flow_removed(const struct tcase *tc, const struct pkt_spec *in);
static void post_latched(const struct tcase *tc, const struct pkt_spec *in);
static void post_not_latched(const struct tcase *tc,
			     const struct pkt_spec *in);
static void post_takeover(const struct tcase *tc, const struct pkt_spec *in);
static void post_latched_restricted(const struct tcase *tc,
				    const struct pkt_spec *in);
static void pre_nh_fresh(const struct tcase *tc, const struct pkt_spec *in);
static void pre_nh_stale(const struct tcase *tc, const struct pkt_spec *in);
static void pre_nh_cleared(const struct tcase *tc, const struct pkt_spec *in);
static void post_nh_filled(const struct tcase *tc, const struct pkt_spec *in);
static void post_nh_empty(const struct tcase *tc, const struct pkt_spec *in);
static void pre_nh_reverse(const struct tcase *tc, const struct pkt_spec *in);
static void post_latched_nh_cleared(const struct tcase *tc,
				    const struct pkt_spec *in);
static void pre_bad_slot(const struct tcase *tc, const struct pkt_spec *in);
static void post_idx_reinstalled(const struct tcase *tc,
				 const struct pkt_spec *in);
static void pre_a0_generic(const struct tcase *tc, const struct pkt_spec *in);
static void pre_a0_veth(const struct tcase *tc, const struct pkt_spec *in);
static void post_a0_native(const struct tcase *tc, const struct pkt_spec *in);

/* What pre_nh_* plant: a MAC no neighbour has. */
static const __u8 planted_mac[ETH_ALEN] = { 0x02, 0x00, 0x00, 0x00, 0xee, 0x01 };

static const struct tcase cases[] = {
	/* IPv4 relay. */
	{ .name = "IPv4 a0->b0 first packet: rewritten, redirected to b0",
	  .flow = F4_AB, .in = { .id = 0x1c46, .frag = FRAG_DF },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 a0->b0 second packet: counters add up",
	  .flow = F4_AB, .in = { .id = 0x1c47, .frag = FRAG_DF },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 hairpin back out of a0: XDP_TX",
	  .flow = F4_AA, .in = { .id = 7 },
	  FWD_TX, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 flow with egress_ifindex b0: redirected",
	  .flow = F4_EGB,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 TTL 2 leaves with TTL 1",
	  .flow = F4_AB, .in = { .ttl = 2 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 TTL 1: passed untouched (the kernel sends the ICMP)",
	  .flow = F4_AB, .in = { .ttl = 1 },
	  PASSED(NP_V_PASS_TTL) },
	{ .name = "IPv4 TTL 0: passed untouched",
	  .flow = F4_AB, .in = { .ttl = TTL_ZERO },
	  PASSED(NP_V_PASS_TTL) },
	{ .name = "IPv4 UDP checksum 0 (none) stays 0",
	  .flow = F4_AB, .in = { .udp_csum_zero = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 new UDP checksum computing to 0 goes out as 0xffff",
	  .flow = F4_AB, .csum_zero_out = true,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 in a padded 60-byte frame: padding kept, 32 bytes counted",
	  .flow = F4_AB, .in = { .payload = 4, .pad_to = 60 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 32 } },
	{ .name = "IPv4 DSCP 46 set, ECN CE kept (TOS 0x03 -> 0xbb)",
	  .flow = F4_DSCP, .in = { .tos = 0x03 }, EXPECT_TOS(0xbb),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 DSCP 46 over DSCP 10, ECT(0) kept (TOS 0x2a -> 0xba)",
	  .flow = F4_DSCP, .in = { .tos = 0x2a }, EXPECT_TOS(0xba),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "IPv4 flow without DSCP: TOS 0x2b untouched",
	  .flow = F4_AB, .in = { .tos = 0x2b },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },

	/* 802.1Q / 802.1ad. */
	{ .name = "802.1Q VID 100 PCP 5 in, flow keeps the tag",
	  .flow = F4_AB, .in = { .tpid = TPID_8021Q, .tci = 0xa064 },
	  EXPECT_TAG(TPID_8021Q, 0xa064),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "802.1ad VID 100 in, flow keeps the tag",
	  .flow = F4_AB, .in = { .tpid = TPID_8021AD, .tci = 0x0064 },
	  EXPECT_TAG(TPID_8021AD, 0x0064),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "untagged in, flow pushes VID 200",
	  .flow = F4_VSET, EXPECT_TAG(TPID_8021Q, 200),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "802.1Q VID 100 PCP 5 in, flow replaces the VID with 200",
	  .flow = F4_VSET, .in = { .tpid = TPID_8021Q, .tci = 0xa064 },
	  EXPECT_TAG(TPID_8021Q, 0xa0c8),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "802.1ad VID 100 in, flow replaces the VID, TPID kept",
	  .flow = F4_VSET, .in = { .tpid = TPID_8021AD, .tci = 0x0064 },
	  EXPECT_TAG(TPID_8021AD, 0x00c8),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "802.1Q in, flow strips the tag",
	  .flow = F4_VSTRIP, .in = { .tpid = TPID_8021Q, .tci = 0xa064 },
	  EXPECT_UNTAGGED,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "untagged in, strip flow: stays untagged",
	  .flow = F4_VSTRIP, EXPECT_UNTAGGED,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "802.1Q in, no neighbour: rewritten, tag and MACs as received",
	  .flow = F4_NONEIGH, .in = { .tpid = TPID_8021Q, .tci = 0xa064 },
	  TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },

	/* Handed to the kernel after the rewrite. */
	{ .name = "IPv4 no neighbour for 198.51.100.99: rewritten, TTL and MACs untouched",
	  .flow = F4_NONEIGH,
	  TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "IPv4 no route to 192.0.2.1: rewritten, passed",
	  .flow = F4_NOROUTE,
	  TO_KERNEL(NP_V_PASS_NO_ROUTE),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "b0 not in np_egress_v1: rewritten, passed",
	  .flow = F4_AB, .pre = pre_egress_b_absent,
	  .post = post_egress_b_back,
	  TO_KERNEL(NP_V_PASS_EGRESS),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },

	/* Drops. */
	{ .name = "destination not known yet (new_dport 0): dropped",
	  .flow = F4_NODEST,
	  DROPPED(NP_V_DROP_NO_DEST), .ctr = { .drops[NP_DROP_NO_DEST] = 1 } },
	{ .name = "flow gone after np_flow_remove: pass-no-flow",
	  .flow = F4_NODEST, .pre = pre_flow_removed,
	  PASSED(NP_V_PASS_NO_FLOW) },
	{ .name = "rate 1000 B/s burst 300: first 200-byte packet passes",
	  .flow = F4_RATE, .in = { .payload = 172 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 200 } },
	{ .name = "rate 1000 B/s burst 300: second 200-byte packet dropped",
	  .flow = F4_RATE, .in = { .payload = 172 },
	  DROPPED(NP_V_DROP_RATE), .ctr = { .drops[NP_DROP_RATE] = 1 } },
	{ .name = "rate 1000 B/s burst 300: a 100-byte packet fits what is left",
	  .flow = F4_RATE, .in = { .payload = 72 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 100 } },
	{ .name = "strict source: 203.0.113.20:7078 as expected, relayed",
	  .flow = F4_STRICT,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "strict source: same address, port 7079: dropped",
	  .flow = F4_STRICT, .in = { .sport = 7079 },
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "strict source: 203.0.113.21: dropped",
	  .flow = F4_STRICT, .in = { .saddr = TERM4_OTHER },
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "strict source, any port: port 9999 relayed",
	  .flow = F4_STRICT_ANY, .in = { .sport = 9999 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "strict source, any port: 203.0.113.21 dropped",
	  .flow = F4_STRICT_ANY, .in = { .saddr = TERM4_OTHER },
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },

	/* Latching. */
	{ .name = "latch: reverse flow has no destination yet: dropped",
	  .flow = F4_LATCH_REV, .ingress = DEV_B,
	  DROPPED(NP_V_DROP_NO_DEST), .ctr = { .drops[NP_DROP_NO_DEST] = 1 } },
	{ .name = "latch: first packet latches 203.0.113.20:7078, relayed, the reverse flow's next hop cleared",
	  .flow = F4_LATCH, .pre = pre_nh_reverse,
	  .post = post_latched_nh_cleared,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "latch: reverse flow now relays to 203.0.113.20:7078",
	  .flow = F4_LATCH_REV, .ingress = DEV_B, .exp_daddr = TERM4,
	  .exp_dport = 7078,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "latch, not strict: 203.0.113.21:7080 relayed, no re-latch",
	  .flow = F4_LATCH, .in = { .saddr = TERM4_OTHER, .sport = 7080 },
	  .post = post_not_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "latch + strict: first packet latches 203.0.113.20:7078",
	  .flow = F4_LSTRICT, .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "latch + strict: latched address, port 7080: dropped",
	  .flow = F4_LSTRICT, .in = { .sport = 7080 },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "latch + strict: 203.0.113.21:7078: dropped",
	  .flow = F4_LSTRICT, .in = { .saddr = TERM4_OTHER },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "restricted latch: 203.0.113.21 refused",
	  .flow = F4_LRESTR, .in = { .saddr = TERM4_OTHER },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_LATCH), .ctr = { .drops[NP_DROP_LATCH] = 1 } },
	{ .name = "restricted latch: 203.0.113.20 from any port (9000) latches",
	  .flow = F4_LRESTR, .in = { .sport = 9000 }, .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	/* Latching without hijack: an attacker (203.0.113.21) on the access
	 * network sprays the relay ports before the terminal's first packet. */
	{ .name = "first-packet: attacker 203.0.113.21:7078 before the terminal: dropped (latch), nothing latched",
	  .flow = F4_FP, .in = { .saddr = TERM4_OTHER },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_LATCH), .ctr = { .drops[NP_DROP_LATCH] = 1 } },
	{ .name = "first-packet: attacker at the RTCP port: dropped (latch)",
	  .flow = F4_FP_RTCP, .in = { .saddr = TERM4_OTHER, .sport = 7079 },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_LATCH), .ctr = { .drops[NP_DROP_LATCH] = 1 } },
	{ .name = "first-packet: the far end's audio before the latch goes nowhere (no-dest)",
	  .flow = F4_FP_REV, .ingress = DEV_B,
	  DROPPED(NP_V_DROP_NO_DEST), .ctr = { .drops[NP_DROP_NO_DEST] = 1 } },
	{ .name = "first-packet: the terminal 203.0.113.20:7078 latches, relayed; its RTCP stays restricted to 203.0.113.20",
	  .flow = F4_FP, .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "first-packet: the far end's audio reaches 203.0.113.20:7078",
	  .flow = F4_FP_REV, .ingress = DEV_B, .exp_daddr = TERM4,
	  .exp_dport = 7078,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "first-packet: attacker after the latch: dropped (source)",
	  .flow = F4_FP, .in = { .saddr = TERM4_OTHER },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "first-packet: the terminal's address from port 7090 after the latch: dropped (source)",
	  .flow = F4_FP, .in = { .sport = 7090 }, .post = post_not_latched,
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "first-packet: attacker at the RTCP port after the RTP latched: dropped (latch)",
	  .flow = F4_FP_RTCP, .in = { .saddr = TERM4_OTHER, .sport = 7079 },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_LATCH), .ctr = { .drops[NP_DROP_LATCH] = 1 } },
	{ .name = "first-packet: the terminal's RTCP 203.0.113.20:7079 latches, relayed",
	  .flow = F4_FP_RTCP, .in = { .sport = 7079 }, .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "first-packet: the far end's RTCP reaches 203.0.113.20:7079",
	  .flow = F4_FP_RTCP_REV, .ingress = DEV_B, .exp_daddr = TERM4,
	  .exp_dport = 7079,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },

	{ .name = "any: attacker 203.0.113.21:7078 first latches (the unsafe window); RTCP restricted to it",
	  .flow = F4_ANY, .in = { .saddr = TERM4_OTHER }, .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "any: the far end's audio goes to the attacker until the terminal speaks",
	  .flow = F4_ANY_REV, .ingress = DEV_B, .exp_daddr = TERM4_OTHER,
	  .exp_dport = 7078, TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "any: the terminal 203.0.113.20:7078 takes over, relayed; RTCP now restricted to 203.0.113.20",
	  .flow = F4_ANY, .post = post_takeover,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "any: the far end's audio reaches 203.0.113.20:7078",
	  .flow = F4_ANY_REV, .ingress = DEV_B, .exp_daddr = TERM4,
	  .exp_dport = 7078,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "any: the attacker again: dropped (source), no takeover",
	  .flow = F4_ANY, .in = { .saddr = TERM4_OTHER },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "any: another address 203.0.113.22: dropped (source), no takeover",
	  .flow = F4_ANY, .in = { .saddr = TERM4_THIRD },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "any: the terminal's address from port 7090: dropped (source), the takeover is spent",
	  .flow = F4_ANY, .in = { .sport = 7090 }, .post = post_not_latched,
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "any: attacker at the RTCP port: dropped (latch)",
	  .flow = F4_ANY_RTCP, .in = { .saddr = TERM4_OTHER, .sport = 7079 },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_LATCH), .ctr = { .drops[NP_DROP_LATCH] = 1 } },
	{ .name = "any: the terminal's RTCP 203.0.113.20:7079 latches, relayed",
	  .flow = F4_ANY_RTCP, .in = { .sport = 7079 },
	  .post = post_latched_restricted,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },

	{ .name = "any, RTCP first: attacker 203.0.113.21:7079 latches the RTCP port",
	  .flow = F4_ANY2_RTCP, .in = { .saddr = TERM4_OTHER, .sport = 7079 },
	  .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "any, RTCP first: the far end's RTCP goes to the attacker",
	  .flow = F4_ANY2_RTCP_REV, .ingress = DEV_B,
	  .exp_daddr = TERM4_OTHER, .exp_dport = 7079,
	  TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "any, RTCP first: the terminal's RTP latches; RTCP re-armed for 203.0.113.20, its reverse loses the attacker",
	  .flow = F4_ANY2, .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "any, RTCP first: the far end's RTCP goes nowhere (no-dest) until the terminal's",
	  .flow = F4_ANY2_RTCP_REV, .ingress = DEV_B,
	  DROPPED(NP_V_DROP_NO_DEST), .ctr = { .drops[NP_DROP_NO_DEST] = 1 } },
	{ .name = "any, RTCP first: the attacker's RTCP: dropped (latch)",
	  .flow = F4_ANY2_RTCP, .in = { .saddr = TERM4_OTHER, .sport = 7079 },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_LATCH), .ctr = { .drops[NP_DROP_LATCH] = 1 } },
	{ .name = "any, RTCP first: the terminal's RTCP 203.0.113.20:7079 latches",
	  .flow = F4_ANY2_RTCP, .in = { .sport = 7079 },
	  .post = post_latched_restricted,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "any, RTCP first: the far end's RTCP reaches 203.0.113.20:7079",
	  .flow = F4_ANY2_RTCP_REV, .ingress = DEV_B, .exp_daddr = TERM4,
	  .exp_dport = 7079,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },

	{ .name = "IPv6 any: attacker [2001:db8:1::21]:7078 latches first",
	  .flow = F6_ANY, .in = { .saddr = TERM6_OTHER }, .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 any: the terminal [2001:db8:1::20]:7078 takes over",
	  .flow = F6_ANY, .post = post_takeover,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 any: the far end's audio reaches [2001:db8:1::20]:7078",
	  .flow = F6_ANY_REV, .ingress = DEV_B, .exp_daddr = TERM6,
	  .exp_dport = 7078,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 any: the attacker again: dropped (source)",
	  .flow = F6_ANY, .in = { .saddr = TERM6_OTHER },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "IPv6 latch: first packet latches [2001:db8:1::20]:7078",
	  .flow = F6_LATCH, .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 latch: reverse flow relays to [2001:db8:1::20]:7078",
	  .flow = F6_LATCH_REV, .ingress = DEV_B, .exp_daddr = TERM6,
	  .exp_dport = 7078,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },

	/* Hairpin: a destination that is itself a relay address. */
	{ .name = "hairpin: relayed again through 198.51.100.1:40042, out of a0",
	  .flow = F4_HP1, .hairpin = true, .via = F4_HP2,
	  .post = post_nh_filled,
	  FWD_TX, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "hairpin not marked (no NP_F_HAIRPIN): not looked up, the kernel gets it for 198.51.100.1:40042",
	  .flow = F4_HP0, .via = F4_HP2, .via_untouched = true,
	  .exp_daddr = PROXY_B4, .exp_dport = 40042,
	  TO_KERNEL(NP_V_PASS_NO_ROUTE),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },

	/* The next hop, cached in the flow's entry. */
	{ .name = "next hop: first packet asks the FIB and fills the cache",
	  .flow = F4_NH, .post = post_nh_filled,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "next hop: second packet from the cache",
	  .flow = F4_NH, .post = post_nh_filled,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "next hop: a fresh entry is used as it is (planted MAC out)",
	  .flow = F4_NH, .pre = pre_nh_fresh, .exp_dmac = planted_mac,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "next hop: an entry of an earlier epoch is resolved again",
	  .flow = F4_NH, .pre = pre_nh_stale, .post = post_nh_filled,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "next hop: an entry a latch cleared (destination moved) is resolved again",
	  .flow = F4_NH, .pre = pre_nh_cleared, .post = post_nh_filled,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "next hop: a stale entry whose neighbour is gone: rewritten, passed, cache emptied",
	  .flow = F4_NH_NONEIGH, .pre = pre_nh_stale, .post = post_nh_empty,
	  TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "slot beyond the counters array (a hash flow): not relayed, pass-no-flow",
	  .flow = F6_BADSLOT, .pre = pre_bad_slot,
	  PASSED(NP_V_PASS_NO_FLOW) },

	/* The flow array and its hash fallback (np_flowarr4_v2, np_flows4_v6). */
	{ .name = "flow array: 203.0.113.1:40400 at its index, source as expected: relayed",
	  .flow = F4_IDX,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "flow array: source port 7079, not the expected 7078: dropped",
	  .flow = F4_IDX, .in = { .sport = 7079 },
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "hash fallback: 198.51.100.1:40400, its index held by 203.0.113.1:40400: relayed",
	  .flow = F4_IDX_HASH,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "hash fallback: from 203.0.113.21, not the expected source: dropped",
	  .flow = F4_IDX_HASH, .in = { .saddr = TERM4_OTHER },
	  DROPPED(NP_V_DROP_SOURCE), .ctr = { .drops[NP_DROP_SOURCE] = 1 } },
	{ .name = "index holding another key (198.51.100.1:40000 at 203.0.113.1:40000's), none in the hash: pass-no-flow",
	  .flow = F4_AB, .in = { .daddr = PROXY_B4 },
	  PASSED(NP_V_PASS_NO_FLOW) },
	{ .name = "flow array: 203.0.113.1:40400 removed: pass-no-flow",
	  .flow = F4_IDX, .pre = pre_flow_removed,
	  PASSED(NP_V_PASS_NO_FLOW) },
	{ .name = "hash fallback: the flow at the freed index's port still relayed; the removed one installed again takes its index",
	  .flow = F4_IDX_HASH, .post = post_idx_reinstalled,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "flow array: 203.0.113.1:40400 installed again: relayed",
	  .flow = F4_IDX,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },

	/* RTCP. */
	{ .name = "RTCP SR on its own flow: relayed, not counted as muxed",
	  .flow = F4_RTCP, .in = { .pt = 200 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "rtcp-mux: RTP PT 0 is not RTCP",
	  .flow = F4_MUX, .in = { .pt = 0 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "rtcp-mux: second byte 191 is not RTCP",
	  .flow = F4_MUX, .in = { .pt = 191 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "rtcp-mux: second byte 192 is RTCP",
	  .flow = F4_MUX, .in = { .pt = 192 },
	  FWD_REDIRECT,
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .rtcp_packets = 1 } },
	{ .name = "rtcp-mux: SR (200) is RTCP",
	  .flow = F4_MUX, .in = { .pt = 200 },
	  FWD_REDIRECT,
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .rtcp_packets = 1 } },
	{ .name = "rtcp-mux: second byte 223 is RTCP",
	  .flow = F4_MUX, .in = { .pt = 223 },
	  FWD_REDIRECT,
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .rtcp_packets = 1 } },
	{ .name = "rtcp-mux: second byte 224 is not RTCP",
	  .flow = F4_MUX, .in = { .pt = 224 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },

	/* Not ours, or malformed: passed untouched, nothing counted. */
	{ .name = "unknown port 40999: pass-no-flow",
	  .flow = F4_AB, .in = { .dport = 40999 },
	  PASSED(NP_V_PASS_NO_FLOW) },
	{ .name = "TCP to a relay port: pass-not-udp",
	  .flow = F4_AB, .in = { .proto = IPPROTO_TCP },
	  PASSED(NP_V_PASS_NOT_UDP) },
	{ .name = "ICMP to a relay address: pass-not-udp",
	  .flow = F4_AB, .in = { .proto = IPPROTO_ICMP },
	  PASSED(NP_V_PASS_NOT_UDP) },
	{ .name = "IPv4 first fragment (MF set): pass-fragment",
	  .flow = F4_AB, .in = { .frag = FRAG_MF },
	  PASSED(NP_V_PASS_FRAGMENT) },
	{ .name = "IPv4 last fragment (offset 1480): pass-fragment",
	  .flow = F4_AB, .in = { .frag = 185 },
	  PASSED(NP_V_PASS_FRAGMENT) },
	{ .name = "IPv4 with options (ihl 6): pass-ip-options",
	  .flow = F4_AB, .in = { .ihl = 6 },
	  PASSED(NP_V_PASS_IP_OPTIONS) },
	{ .name = "ARP ethertype: pass-not-ip",
	  .flow = F4_AB, .in = { .ethertype = ETH_P_ARP },
	  PASSED(NP_V_PASS_NOT_IP) },
	{ .name = "Ethernet header only (IPv4 ethertype): pass-malformed",
	  .flow = F4_AB, .in = { .truncate = 14 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "802.1Q ethertype, tag cut off: pass-malformed",
	  .flow = F4_AB, .in = { .tpid = TPID_8021Q, .truncate = 16 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "half an IPv4 header: pass-malformed",
	  .flow = F4_AB, .in = { .truncate = 14 + 10 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "802.1Q, half an IPv4 header: pass-malformed",
	  .flow = F4_AB, .in = { .tpid = TPID_8021Q, .truncate = 18 + 10 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv4 header without UDP: pass-malformed",
	  .flow = F4_AB, .in = { .no_udp = true },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv4, half a UDP header: pass-malformed",
	  .flow = F4_AB, .in = { .truncate = 14 + 20 + 4 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "UDP length 118 beyond the 108-byte datagram: pass-malformed",
	  .flow = F4_AB, .in = { .udp_len = 118 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "UDP length 7 (shorter than its header): pass-malformed",
	  .flow = F4_AB, .in = { .udp_len = 7 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv4 ethertype, version 6 header: pass-malformed",
	  .flow = F6_AB, .in = { .ethertype = ETH_P_IP },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv4 ihl 4: pass-malformed",
	  .flow = F4_AB, .in = { .ihl = 4 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv4 total length 200 beyond the 142-byte frame: pass-malformed",
	  .flow = F4_AB, .in = { .ip_len = 200 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv4 total length 60 shorter than its 108-byte UDP datagram: pass-malformed",
	  .flow = F4_AB, .in = { .ip_len = 60 },
	  PASSED(NP_V_PASS_MALFORMED) },

	/* IPv6. */
	{ .name = "IPv6 a0->b0: rewritten, redirected to b0",
	  .flow = F6_AB, .in = { .flow_label = 0x12345 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 hairpin back out of a0: XDP_TX",
	  .flow = F6_AA, .in = { .flow_label = 0x54321 },
	  FWD_TX, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 DSCP 46 set, ECT(1) and flow label kept (TC 0x01 -> 0xb9)",
	  .flow = F6_DSCP, .in = { .tos = 0x01, .flow_label = 0xabcde },
	  EXPECT_TOS(0xb9),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 flow without DSCP: traffic class 0xa9 untouched",
	  .flow = F6_AB, .in = { .tos = 0xa9, .flow_label = 0xfffff },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 hop limit 2 leaves with 1",
	  .flow = F6_AB, .in = { .ttl = 2 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 hop limit 1: passed untouched",
	  .flow = F6_AB, .in = { .ttl = 1 },
	  PASSED(NP_V_PASS_TTL) },
	{ .name = "IPv6 UDP checksum 0 (forbidden, RFC 8200): pass-malformed",
	  .flow = F6_AB, .in = { .udp_csum_zero = true },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv6 new UDP checksum computing to 0 goes out as 0xffff",
	  .flow = F6_AB, .csum_zero_out = true,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 fragment header: pass-fragment",
	  .flow = F6_AB, .in = { .ext = EXT_FRAG },
	  PASSED(NP_V_PASS_FRAGMENT) },
	{ .name = "IPv6 hop-by-hop header: pass-not-udp",
	  .flow = F6_AB, .in = { .ext = EXT_HOP },
	  PASSED(NP_V_PASS_NOT_UDP) },
	{ .name = "IPv6 TCP: pass-not-udp",
	  .flow = F6_AB, .in = { .proto = IPPROTO_TCP },
	  PASSED(NP_V_PASS_NOT_UDP) },
	{ .name = "IPv6 unknown port 40199: pass-no-flow",
	  .flow = F6_AB, .in = { .dport = 40199 },
	  PASSED(NP_V_PASS_NO_FLOW) },
	{ .name = "IPv6 no neighbour for 2001:db8:2::99: rewritten, passed",
	  .flow = F6_NONEIGH,
	  TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V6_BYTES, .to_kernel = 1 } },
	{ .name = "IPv6 no route to 2001:db8:99::1: rewritten, passed",
	  .flow = F6_NOROUTE,
	  TO_KERNEL(NP_V_PASS_NO_ROUTE),
	  .ctr = { .packets = 1, .bytes = V6_BYTES, .to_kernel = 1 } },
	{ .name = "IPv6 802.1Q VID 100 PCP 1 in, flow keeps the tag",
	  .flow = F6_AB, .in = { .tpid = TPID_8021Q, .tci = 0x2064 },
	  EXPECT_TAG(TPID_8021Q, 0x2064),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 untagged in, flow pushes VID 300",
	  .flow = F6_VSET, EXPECT_TAG(TPID_8021Q, 300),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "IPv6 802.1Q VID 100 PCP 3 in, flow replaces the VID with 300",
	  .flow = F6_VSET, .in = { .tpid = TPID_8021Q, .tci = 0x6064 },
	  EXPECT_TAG(TPID_8021Q, 0x612c),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "half an IPv6 header: pass-malformed",
	  .flow = F6_AB, .in = { .truncate = 14 + 20 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv6 header without UDP: pass-malformed",
	  .flow = F6_AB, .in = { .no_udp = true },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv6, half a UDP header: pass-malformed",
	  .flow = F6_AB, .in = { .truncate = 14 + 40 + 4 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv6 UDP length 118 beyond the 108-byte datagram: pass-malformed",
	  .flow = F6_AB, .in = { .udp_len = 118 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv6 ethertype, version 4 header: pass-malformed",
	  .flow = F4_AB, .in = { .ethertype = ETH_P_IPV6 },
	  PASSED(NP_V_PASS_MALFORMED) },
	{ .name = "IPv6 payload length 300 beyond the 162-byte frame: pass-malformed",
	  .flow = F6_AB, .in = { .ip_len = 300 },
	  PASSED(NP_V_PASS_MALFORMED) },

	/*
	 * Checksums on arrival (NP_F_CSUM_VERIFY): complete ones pass, a
	 * partial one (CHECKSUM_PARTIAL from a local sender through a veth)
	 * leaves complete when XDP sends it on and partial when its skb goes
	 * on, a wrong one is dropped and counted. Payloads cover the sum's
	 * 64-byte chunks, each tail size and an odd byte.
	 */
	{ .name = "verify: right checksum, 172 bytes of G.711 RTP: relayed",
	  .flow = F4_CV, .in = { .payload = 172 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 200 } },
	{ .name = "verify: partial checksum, 172 bytes: completed, redirected",
	  .flow = F4_CV, .in = { .payload = 172, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 200 } },
	{ .name = "verify: partial checksum, odd 101 bytes: completed",
	  .flow = F4_CV, .in = { .payload = 101, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 129 } },
	{ .name = "verify: partial checksum, 1 byte: completed",
	  .flow = F4_CV, .in = { .payload = 1, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 29 } },
	{ .name = "verify: partial checksum, 63 bytes (every tail size): completed",
	  .flow = F4_CV, .in = { .payload = 55, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 83 } },
	{ .name = "verify: partial checksum, 1472 bytes (a full MTU): completed",
	  .flow = F4_CV, .in = { .payload = 1472, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 1500 } },
	{ .name = "verify: partial checksum computing to 0 goes out as 0xffff",
	  .flow = F4_CV, .csum_zero_out = true,
	  .in = { .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify: no checksum (IPv4 0) stays 0",
	  .flow = F4_CV, .in = { .udp_csum_zero = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify: wrong checksum: dropped and counted, nothing relayed",
	  .flow = F4_CV, .in = { .udp_csum_wrong = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: wrong checksum, odd 101 bytes: dropped",
	  .flow = F4_CV, .in = { .payload = 101, .udp_csum_wrong = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: 2200 bytes, beyond the sum's walk (2111): passed untouched",
	  .flow = F4_CV, .in = { .payload = 2200, .udp_csum_partial = true },
	  PASSED(NP_V_PASS_UNVERIFIED) },
	{ .name = "verify: partial checksum, back out of a0: XDP_TX, completed",
	  .flow = F4_CV_AA, .in = { .udp_csum_partial = true },
	  FWD_TX, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify: partial checksum, DSCP and a pushed tag on the way: completed",
	  .flow = F4_CV, .in = { .udp_csum_partial = true, .tpid = TPID_8021Q,
				 .tci = 0xa064 },
	  EXPECT_TAG(TPID_8021Q, 0xa064),
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify: partial checksum, no neighbour: to the kernel still partial, for the new addresses",
	  .flow = F4_CV_NONEIGH, .in = { .udp_csum_partial = true },
	  .exp_csum_partial = true, TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "verify: partial checksum that also sums right as it is, no neighbour: taken as partial, to the kernel partial",
	  .flow = F4_CV_NONEIGH, .in = { .udp_csum_ambiguous = true },
	  .exp_csum_partial = true, TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "verify: partial checksum that also sums right as it is, redirected: complete (the same value)",
	  .flow = F4_CV, .in = { .udp_csum_ambiguous = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify: right checksum, no neighbour: to the kernel complete",
	  .flow = F4_CV_NONEIGH,
	  TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "verify: partial checksum, a0 in generic mode: redirected still partial",
	  .flow = F4_CV, .in = { .udp_csum_partial = true },
	  .pre = pre_a0_generic, .post = post_a0_native,
	  .exp_csum_partial = true,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify: right checksum, a0 in generic mode: redirected complete",
	  .flow = F4_CV, .pre = pre_a0_generic, .post = post_a0_native,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify: wrong checksum on a latching flow: dropped, nothing latched",
	  .flow = F4_CV_LATCH, .in = { .udp_csum_wrong = true },
	  .post = post_not_latched,
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: partial checksum on a latching flow: latches, relayed",
	  .flow = F4_CV_LATCH, .in = { .udp_csum_partial = true },
	  .post = post_latched,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify: partial checksum through a hairpin: completed, out of a0",
	  .flow = F4_CV_HP, .hairpin = true, .via = F4_HP2,
	  .in = { .udp_csum_partial = true },
	  FWD_TX, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "a0 a veth (NP_LINK_TX_BY_REDIRECT): back out of a0 by redirect, not XDP_TX",
	  .flow = F4_AA, .pre = pre_a0_veth, .post = post_a0_native,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "verify IPv6: right checksum: relayed",
	  .flow = F6_CV, .in = { .payload = 172 },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 220 } },
	{ .name = "verify IPv6: partial checksum, 172 bytes: completed",
	  .flow = F6_CV, .in = { .payload = 172, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 220 } },
	{ .name = "verify IPv6: partial checksum, odd 333 bytes: completed",
	  .flow = F6_CV, .in = { .payload = 333, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 381 } },
	{ .name = "verify IPv6: partial checksum computing to 0 goes out as 0xffff, never 0",
	  .flow = F6_CV, .csum_zero_out = true,
	  .in = { .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V6_BYTES } },
	{ .name = "verify IPv6: wrong checksum: dropped and counted",
	  .flow = F6_CV, .in = { .udp_csum_wrong = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify IPv6: partial checksum, no neighbour: to the kernel still partial",
	  .flow = F6_CV_NONEIGH, .in = { .udp_csum_partial = true },
	  .exp_csum_partial = true, TO_KERNEL(NP_V_PASS_NO_NEIGH),
	  .ctr = { .packets = 1, .bytes = V6_BYTES, .to_kernel = 1 } },
	/* The sum's every step reads its bytes: a datagram whose last byte
	 * falls into each. */
	{ .name = "verify: 9-byte datagram, partial: completed over every byte",
	  .flow = F4_CV, .in = { .payload = 1, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 29 } },
	{ .name = "verify: 9-byte datagram, last byte damaged (the odd byte): dropped",
	  .flow = F4_CV, .in = { .payload = 1, .damage_last = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: 10-byte datagram, partial: completed over every byte",
	  .flow = F4_CV, .in = { .payload = 2, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 30 } },
	{ .name = "verify: 10-byte datagram, last byte damaged (a 2-byte word): dropped",
	  .flow = F4_CV, .in = { .payload = 2, .damage_last = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: 12-byte datagram, partial: completed over every byte",
	  .flow = F4_CV, .in = { .payload = 4, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 32 } },
	{ .name = "verify: 12-byte datagram, last byte damaged (a 4-byte word): dropped",
	  .flow = F4_CV, .in = { .payload = 4, .damage_last = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: 24-byte datagram, partial: completed over every byte",
	  .flow = F4_CV, .in = { .payload = 16, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 44 } },
	{ .name = "verify: 24-byte datagram, last byte damaged (an 8-byte step): dropped",
	  .flow = F4_CV, .in = { .payload = 16, .damage_last = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: 48-byte datagram, partial: completed over every byte",
	  .flow = F4_CV, .in = { .payload = 40, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 68 } },
	{ .name = "verify: 48-byte datagram, last byte damaged (a 16-byte step): dropped",
	  .flow = F4_CV, .in = { .payload = 40, .damage_last = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: 96-byte datagram, partial: completed over every byte",
	  .flow = F4_CV, .in = { .payload = 88, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 116 } },
	{ .name = "verify: 96-byte datagram, last byte damaged (a 32-byte step): dropped",
	  .flow = F4_CV, .in = { .payload = 88, .damage_last = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: 128-byte datagram, partial: completed over every byte",
	  .flow = F4_CV, .in = { .payload = 120, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 148 } },
	{ .name = "verify: 128-byte datagram, last byte damaged (a 64-byte block): dropped",
	  .flow = F4_CV, .in = { .payload = 120, .damage_last = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },
	{ .name = "verify: 2111-byte datagram, partial: completed over every byte",
	  .flow = F4_CV, .in = { .payload = 2103, .udp_csum_partial = true },
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = 2131 } },
	{ .name = "verify: 2111-byte datagram, last byte damaged (the walk's last byte): dropped",
	  .flow = F4_CV, .in = { .payload = 2103, .damage_last = true },
	  DROPPED(NP_V_DROP_CHECKSUM),
	  .ctr = { .drops[NP_DROP_CHECKSUM] = 1 } },

	/* The egress check is the redirect's own lookup: without the
	 * egress in np_egress_v1, the packet goes to the kernel as without
	 * a next hop, counted there and marked, and is not sent. */
	{ .name = "a0 not in np_egress_v1, flow back out of a0: rewritten, to the kernel, not sent back",
	  .flow = F4_AA, .pre = pre_egress_a_absent,
	  .post = post_egress_a_back,
	  TO_KERNEL(NP_V_PASS_EGRESS),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "a0 back in np_egress_v1: XDP_TX again",
	  .flow = F4_AA,
	  FWD_TX, .ctr = { .packets = 1, .bytes = V4_BYTES } },
	{ .name = "b0 not in np_egress_v1, partial checksum: to the kernel still partial, for the new addresses",
	  .flow = F4_CV, .in = { .udp_csum_partial = true },
	  .pre = pre_egress_b_absent, .post = post_egress_b_back,
	  .exp_csum_partial = true, TO_KERNEL(NP_V_PASS_EGRESS),
	  .ctr = { .packets = 1, .bytes = V4_BYTES, .to_kernel = 1 } },
	{ .name = "b0 not in np_egress_v1, IPv6: rewritten, to the kernel",
	  .flow = F6_AB, .pre = pre_egress_b_absent,
	  .post = post_egress_b_back,
	  TO_KERNEL(NP_V_PASS_EGRESS),
	  .ctr = { .packets = 1, .bytes = V6_BYTES, .to_kernel = 1 } },
	{ .name = "b0 back in np_egress_v1: redirected again",
	  .flow = F4_AB,
	  FWD_REDIRECT, .ctr = { .packets = 1, .bytes = V4_BYTES } },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* --- Harness ----------------------------------------------------------- */

static struct tap t;
static struct relay_bpf *skel;
static struct np_maps maps;
static int prog_fd;
static struct ring_buffer *events_rb;
static __u32 ifindex[DEV_COUNT];
static __u8 dev_mac[DEV_COUNT][ETH_ALEN];

/* What the program sent to np_events_v1 during the last case. */
static struct np_latch_event events[8];
static int n_events;

/* The flow and its reverse just before the last case's packet. */
static struct np_flow flow_before, rev_before;
/* With NP_F_RTCP_FOLLOWS: the RTCP flow (port + 1) and its reverse. */
static struct np_flow rtcp_before, rtcp_rev_before;

/* Possible CPUs (per-CPU map values), the one this test is pinned to, and
 * the coarse clock just before the last case's packet. */
static int ncpu, test_cpu;
static __u64 run_ns;
#define CLOCK_LAG_NS 20000000ull /* a tick at HZ 100, and then some */

/* The relay's clock: bpf_ktime_get_coarse_ns. */
static __u64 coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define NP_TEXT(name, text) text,
static const char *const verdict_names[NP_V_MAX] = { NP_VERDICTS(NP_TEXT) };
static const char *const drop_names[NP_DROP_MAX] = { NP_DROP_REASONS(NP_TEXT) };

static const char *action_name(unsigned int a)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP",
					     "XDP_PASS", "XDP_TX",
					     "XDP_REDIRECT" };

	return a < sizeof(names) / sizeof(names[0]) ? names[a] : "XDP_?";
}

static bool is_v6(const char *addr)
{
	return strchr(addr, ':') != NULL;
}

static void flow_key(enum flow_id id, struct np_flow_key *k)
{
	const struct flow_spec *fs = &flows[id];

	memset(k, 0, sizeof(*k));
	k->family = is_v6(fs->local) ? NP_AF_INET6 : NP_AF_INET;
	k->port = htons(fs->port);
	parse_addr(fs->local, &k->addr);
}

static void flow_value(enum flow_id id, struct np_flow *f)
{
	const struct flow_spec *fs = &flows[id];

	memset(f, 0, sizeof(*f));
	parse_addr(fs->new_saddr, &f->new_saddr);
	parse_addr(fs->new_daddr, &f->new_daddr);
	parse_addr(fs->expect_saddr, &f->expect_saddr);
	parse_addr(fs->home_saddr, &f->home_saddr);
	f->new_sport = htons(fs->new_sport);
	f->new_dport = htons(fs->new_dport);
	f->expect_sport = htons(fs->expect_sport);
	f->vlan_id = fs->vlan_id;
	f->egress_ifindex = fs->egress == EG_A ? ifindex[DEV_A] :
			    fs->egress == EG_B ? ifindex[DEV_B] :
						 0;
	f->flags = fs->flags;
	f->dscp = fs->dscp;
	f->vlan_action = fs->vlan_action;
	if (fs->flags & NP_F_HAS_REVERSE)
		flow_key(fs->reverse, &f->reverse);
	f->rate_bytes = fs->rate;
	f->burst_bytes = fs->burst;
}

static const struct neigh *neigh_of(const char *addr)
{
	union np_addr a, b;
	size_t i;

	parse_addr(addr, &a);
	for (i = 0; i < sizeof(neighs) / sizeof(neighs[0]); i++) {
		parse_addr(neighs[i].addr, &b);
		if (!memcmp(&a, &b, sizeof(a)))
			return &neighs[i];
	}
	return NULL;
}

static void fmt_bytes(const __u8 *p, size_t n, char *buf, size_t len)
{
	size_t i, o = 0;

	static const __u8 zero12[12];

	/* A union np_addr holding IPv4: the first 4 bytes, then zeros. */
	if (n == 16 && !memcmp(p + 4, zero12, 12))
		n = 4;
	if (n == 4 && inet_ntop(AF_INET, p, buf, len))
		return;
	if (n == 16 && inet_ntop(AF_INET6, p, buf, len))
		return;
	buf[0] = '\0';
	for (i = 0; i < n && o + 4 < len; i++)
		o += snprintf(buf + o, len - o, "%s%02x", i ? ":" : "", p[i]);
}

/* Field comparisons: a diagnostic for each mismatch, true if equal. */
static bool same_num(const char *what, unsigned long long got,
		     unsigned long long want)
{
	if (got == want)
		return true;
	tap_diag("  %s: got %llu (0x%llx), want %llu (0x%llx)", what, got, got,
		 want, want);
	return false;
}

static bool same_bytes(const char *what, const void *got, const void *want,
		       size_t n)
{
	char g[64], w[64];

	if (!memcmp(got, want, n))
		return true;
	fmt_bytes(got, n, g, sizeof(g));
	fmt_bytes(want, n, w, sizeof(w));
	tap_diag("  %s: got %s, want %s", what, g, w);
	return false;
}

static void resolve_in(const struct tcase *tc, struct pkt_spec *s)
{
	const struct flow_spec *fs = &flows[tc->flow];
	bool v6, from_a = tc->ingress == DEV_A;

	*s = tc->in;
	if (!s->family)
		s->family = is_v6(fs->local) ? 6 : 4;
	v6 = s->family == 6;
	if (!s->dmac)
		s->dmac = dev_mac[tc->ingress];
	if (!s->smac)
		s->smac = peer_mac;
	if (!s->saddr)
		s->saddr = from_a ? (v6 ? TERM6 : TERM4) : (v6 ? FAR6 : FAR4);
	if (!s->sport)
		s->sport = from_a ? 7078 : 5004;
	if (!s->daddr)
		s->daddr = fs->local;
	if (!s->dport)
		s->dport = fs->port;
	s->ttl = s->ttl == TTL_ZERO ? 0 : s->ttl ? s->ttl : 64;
	if (!s->proto)
		s->proto = IPPROTO_UDP;
	if (!s->payload)
		s->payload = PAYLOAD_DEFAULT;
}

/* The packet the case expects out of the program (see struct tcase). */
static void expected_out(const struct tcase *tc, const struct pkt_spec *in,
			 struct pkt_spec *e)
{
	const struct flow_spec *fs = &flows[tc->hairpin ? tc->via : tc->flow];
	const struct neigh *n;

	*e = *in;
	e->saddr = fs->new_saddr;
	e->sport = fs->new_sport;
	e->daddr = tc->exp_daddr ? tc->exp_daddr : fs->new_daddr;
	e->dport = tc->exp_dport ? tc->exp_dport : fs->new_dport;
	if (tc->exp_tos_set)
		e->tos = tc->exp_tos;
	if (tc->out != OUT_FWD)
		return;
	e->ttl = in->ttl - 1;
	n = neigh_of(e->daddr);
	e->dmac = tc->exp_dmac ? tc->exp_dmac : n ? n->mac : zero_mac;
	e->smac = n ? dev_mac[n->dev] : zero_mac;
	if (tc->exp_vlan_set) {
		e->tpid = tc->exp_tpid;
		e->tci = tc->exp_tci;
	}
}

/*
 * Sets the last two payload bytes so that the rewritten datagram's
 * checksum computes to zero, which must then be sent as 0xffff.
 */
static void craft_zero_csum(struct pkt_spec *in, struct pkt_spec *exp)
{
	struct frame f;

	in->tail_set = exp->tail_set = true;
	exp->tail = 0;
	build(exp, &f);
	in->tail = exp->tail = udp_sum_raw(f.b + f.l3, exp->family,
					   f.b + f.l4, 8 + exp->payload);
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size >= sizeof(events[0]) &&
	    n_events < (int)(sizeof(events) / sizeof(events[0])))
		memcpy(&events[n_events++], data, sizeof(events[0]));
	return 0;
}

static void drain_events(void)
{
	n_events = 0;
	if (events_rb)
		ring_buffer__consume(events_rb);
}

static bool check_verdicts(const __u64 *before, const __u64 *after,
			   enum np_verdict v)
{
	bool ok = true;
	int i;

	for (i = 0; i < NP_V_MAX; i++)
		ok &= same_num(verdict_names[i], after[i] - before[i], i == (int)v);
	return ok;
}

static void describe_ctr(const struct np_counters *d, char *buf, size_t len)
{
	size_t o = 0;
	int i;

#define ADD(...) o += snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__)
	buf[0] = '\0';
	if (d->packets)
		ADD("packets +%llu bytes +%llu", (unsigned long long)d->packets,
		    (unsigned long long)d->bytes);
	if (d->rtcp_packets)
		ADD("%srtcp_packets +%llu", o ? ", " : "",
		    (unsigned long long)d->rtcp_packets);
	if (d->to_kernel)
		ADD("%sto_kernel +%llu", o ? ", " : "",
		    (unsigned long long)d->to_kernel);
	for (i = 0; i < NP_DROP_MAX; i++)
		if (d->drops[i])
			ADD("%sdrops[%s] +%llu", o ? ", " : "", drop_names[i],
			    (unsigned long long)d->drops[i]);
	if (!o)
		ADD("unchanged");
	if (d->packets)
		ADD(", first/last seen set");
#undef ADD
}

static bool check_counters(const struct np_counters *b,
			   const struct np_counters *a,
			   const struct np_counters *d)
{
	char name[32];
	bool ok = true;
	int i;

	ok &= same_num("packets", a->packets - b->packets, d->packets);
	ok &= same_num("bytes", a->bytes - b->bytes, d->bytes);
	ok &= same_num("rtcp_packets", a->rtcp_packets - b->rtcp_packets,
		       d->rtcp_packets);
	ok &= same_num("to_kernel", a->to_kernel - b->to_kernel, d->to_kernel);
	for (i = 0; i < NP_DROP_MAX; i++) {
		snprintf(name, sizeof(name), "drops[%s]", drop_names[i]);
		ok &= same_num(name, a->drops[i] - b->drops[i], d->drops[i]);
	}
	if (!d->packets) {
		ok &= same_num("first_seen_ns", a->first_seen_ns,
			       b->first_seen_ns);
		ok &= same_num("last_seen_ns", a->last_seen_ns,
			       b->last_seen_ns);
		return ok;
	}
	/* last_seen_ns, read back from the entry's stamp (1.05 ms units) or
	 * a CPU's copy, is this packet's: from the coarse clock before it
	 * (which the relay's may lag a tick), floored to the stamp's unit,
	 * to now. */
	if (!a->first_seen_ns || a->last_seen_ns < a->first_seen_ns ||
	    a->last_seen_ns < b->last_seen_ns ||
	    a->last_seen_ns + CLOCK_LAG_NS + (1ull << NP_LAST_SEEN_SHIFT) < run_ns ||
	    a->last_seen_ns > coarse_now() ||
	    (b->first_seen_ns && a->first_seen_ns != b->first_seen_ns)) {
		tap_diag("  seen: first %llu -> %llu, last %llu -> %llu",
			 (unsigned long long)b->first_seen_ns,
			 (unsigned long long)a->first_seen_ns,
			 (unsigned long long)b->last_seen_ns,
			 (unsigned long long)a->last_seen_ns);
		ok = false;
	}
	return ok;
}

/* Every header field of got against exp, checksums aside. */
static bool check_headers(const struct frame *got, const struct frame *exp,
			  const struct pkt_spec *es)
{
	const __u8 *g = got->b, *e = exp->b;
	int l3 = exp->l3, l4 = exp->l4;
	bool ok = true;

	ok &= same_num("frame length", got->len, exp->len);
	if (got->len < exp->pay) {
		tap_diag("  frame too short for its headers");
		return false;
	}
	ok &= same_bytes("Ethernet destination", g, e, ETH_ALEN);
	ok &= same_bytes("Ethernet source", g + 6, e + 6, ETH_ALEN);
	ok &= same_num("ethertype/TPID", get16(g + 12), get16(e + 12));
	if (es->tpid) {
		ok &= same_num("tag TCI", get16(g + 14), get16(e + 14));
		ok &= same_num("tag inner ethertype", get16(g + 16),
			       get16(e + 16));
	}
	if (es->family == 4) {
		ok &= same_num("IPv4 version", g[l3] >> 4, e[l3] >> 4);
		ok &= same_num("IPv4 ihl", g[l3] & 0xf, e[l3] & 0xf);
		ok &= same_num("IPv4 TOS", g[l3 + 1], e[l3 + 1]);
		ok &= same_num("IPv4 total length", get16(g + l3 + 2),
			       get16(e + l3 + 2));
		ok &= same_num("IPv4 ID", get16(g + l3 + 4), get16(e + l3 + 4));
		ok &= same_num("IPv4 flags+offset", get16(g + l3 + 6),
			       get16(e + l3 + 6));
		ok &= same_num("IPv4 TTL", g[l3 + 8], e[l3 + 8]);
		ok &= same_num("IPv4 protocol", g[l3 + 9], e[l3 + 9]);
		ok &= same_bytes("IPv4 source", g + l3 + 12, e + l3 + 12, 4);
		ok &= same_bytes("IPv4 destination", g + l3 + 16, e + l3 + 16,
				 4);
	} else {
		ok &= same_num("IPv6 version", g[l3] >> 4, e[l3] >> 4);
		ok &= same_num("IPv6 traffic class",
			       (g[l3] & 0xf) << 4 | g[l3 + 1] >> 4,
			       (e[l3] & 0xf) << 4 | e[l3 + 1] >> 4);
		ok &= same_num("IPv6 flow label",
			       (g[l3 + 1] & 0xf) << 16 | get16(g + l3 + 2),
			       (e[l3 + 1] & 0xf) << 16 | get16(e + l3 + 2));
		ok &= same_num("IPv6 payload length", get16(g + l3 + 4),
			       get16(e + l3 + 4));
		ok &= same_num("IPv6 next header", g[l3 + 6], e[l3 + 6]);
		ok &= same_num("IPv6 hop limit", g[l3 + 7], e[l3 + 7]);
		ok &= same_bytes("IPv6 source", g + l3 + 8, e + l3 + 8, 16);
		ok &= same_bytes("IPv6 destination", g + l3 + 24, e + l3 + 24,
				 16);
	}
	ok &= same_num("UDP source port", get16(g + l4), get16(e + l4));
	ok &= same_num("UDP destination port", get16(g + l4 + 2),
		       get16(e + l4 + 2));
	ok &= same_num("UDP length", get16(g + l4 + 4), get16(e + l4 + 4));
	return ok;
}

static void check_rewritten(const struct tcase *tc, const struct frame *got,
			    const struct frame *exp,
			    const struct pkt_spec *es)
{
	const __u8 *g = got->b;
	int l3 = exp->l3, l4 = exp->l4, ulen;
	__u16 field, calc;
	bool fits;

	tap_check(&t, check_headers(got, exp, es),
		  "%s: every Ethernet/VLAN/IP/UDP field as expected", tc->name);
	tap_check(&t,
		  got->len == exp->len &&
			  !memcmp(g + exp->pay, exp->b + exp->pay,
				  exp->len - exp->pay),
		  "%s: payload (and padding) unchanged", tc->name);
	if (got->len < exp->pay) {
		tap_check(&t, false, "%s: frame holds the UDP header",
			  tc->name);
		return;
	}
	if (es->family == 4) {
		field = get16(g + l3 + 10);
		calc = ipv4_csum(g + l3, 20);
		tap_check(&t, field == calc,
			  "%s: IPv4 header checksum 0x%04x, RFC 1071 over the output gives 0x%04x",
			  tc->name, field, calc);
	}
	field = get16(g + l4 + 6);
	if (tc->exp_csum_partial) {
		ulen = get16(g + l4 + 4);
		fits = ulen >= 8 && l4 + ulen <= got->len;
		calc = fits ? udp_partial(g + l3, es->family, ulen) : 0;
		tap_check(&t, fits && field == calc,
			  "%s: UDP checksum field 0x%04x is the new pseudo-header's sum 0x%04x",
			  tc->name, field, calc);
		if (fits)
			tap_check(&t,
				  udp_finish(g + l4, ulen) ==
					  udp_csum(g + l3, es->family, g + l4,
						   ulen),
				  "%s: finished by the device, it is the RFC 1071 checksum of the output 0x%04x",
				  tc->name,
				  udp_csum(g + l3, es->family, g + l4, ulen));
		return;
	}
	if (es->udp_csum_zero) {
		tap_check(&t, field == 0, "%s: UDP checksum 0x%04x stays 0",
			  tc->name, field);
		return;
	}
	ulen = get16(g + l4 + 4);
	fits = ulen >= 8 && l4 + ulen <= got->len;
	calc = fits ? udp_csum(g + l3, es->family, g + l4, ulen) : 0;
	tap_check(&t, fits && field == calc,
		  "%s: UDP checksum 0x%04x, RFC 1071 over the output gives 0x%04x",
		  tc->name, field, calc);
}

/* The flow at the same relay address, port + 1: an RTP flow's RTCP. */
static int rtcp_of(enum flow_id id)
{
	int i;

	for (i = 0; i < FLOW_COUNT; i++)
		if (flows[i].port == flows[id].port + 1 &&
		    !strcmp(flows[i].local, flows[id].local))
			return i;
	return -1;
}

static void snapshot_flows(const struct tcase *tc)
{
	const struct flow_spec *fs = &flows[tc->flow];
	struct np_flow_key key;
	int r;

	memset(&flow_before, 0, sizeof(flow_before));
	memset(&rev_before, 0, sizeof(rev_before));
	flow_key(tc->flow, &key);
	np_flow_get(&maps, &key, &flow_before);
	if (fs->flags & NP_F_HAS_REVERSE) {
		flow_key(fs->reverse, &key);
		np_flow_get(&maps, &key, &rev_before);
	}
	memset(&rtcp_before, 0, sizeof(rtcp_before));
	memset(&rtcp_rev_before, 0, sizeof(rtcp_rev_before));
	r = fs->flags & NP_F_RTCP_FOLLOWS ? rtcp_of(tc->flow) : -1;
	if (r >= 0) {
		flow_key(r, &key);
		np_flow_get(&maps, &key, &rtcp_before);
		flow_key(flows[r].reverse, &key);
		np_flow_get(&maps, &key, &rtcp_rev_before);
	}
}

/* The np_kernel_mark in front of a packet the relay passed: in its
 * headroom, which bpf_prog_test_run does not hand back. */
static struct mark_reader_bpf *reader;
static __u64 netns_cookie; /* this namespace's, for the reader */
static struct np_kernel_mark last_mark;
static bool last_marked;

/*
 * Sends fin once more, for real: the relay attached to dev for the time
 * being, the frame sent into dev's veth peer, the relay's XDP_PASS
 * handing it to the kernel as an skb, where mark_reader reads the mark
 * in front of it (last_mark). It arrives as fout, the relay's output,
 * whose UDP header (l4 bytes in) the reader knows it by. The flow counts
 * it a second time. 0 or -errno.
 */
static int run_real(const struct frame *fin, const struct frame *fout,
		    int l4, enum dev_id dev)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET,
				  .sll_ifindex = (int)if_nametoindex(peer_name[dev]),
				  .sll_halen = ETH_ALEN };
	__u32 marked = reader->bss->marked, received = reader->bss->received;
	int fd, err = 0, i;

	reader->bss->netns = netns_cookie;
	reader->bss->ifindex = ifindex[dev];
	reader->bss->want_off = (__u32)l4;
	memcpy(reader->bss->want_udp, fout->b + l4,
	       sizeof(reader->bss->want_udp));
	last_marked = false;
	if (bpf_xdp_attach((int)ifindex[dev], prog_fd, XDP_FLAGS_DRV_MODE,
			   NULL))
		return -errno;
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0 || sendto(fd, fin->b, (size_t)fin->len, 0,
			     (struct sockaddr *)&to, sizeof(to)) != fin->len)
		err = -errno;
	/* The veth's NAPI runs as the send returns, or, on a busy machine,
	 * in ksoftirqd a while later: 2 s at most. */
	for (i = 0; !err && i < 2000 && reader->bss->received == received; i++)
		usleep(1000);
	if (!err && reader->bss->received == received)
		err = -ETIMEDOUT;
	if (fd >= 0)
		close(fd);
	bpf_xdp_detach((int)ifindex[dev], XDP_FLAGS_DRV_MODE, NULL);
	last_mark = reader->bss->mark;
	last_marked = !err && reader->bss->marked == marked + 1;
	return err;
}

/* Runs the program once on fin as if it arrived on dev: fout gets what
 * comes out, opts the action (retval). 0 or -1 with errno. */
static int run_once(const struct frame *fin, struct frame *fout,
		    enum dev_id dev, struct bpf_test_run_opts *opts)
{
	struct xdp_md md = {};
	int err;

	md.data_end = fin->len;
	md.ingress_ifindex = ifindex[dev];
	memset(fout, 0, sizeof(*fout));
	opts->data_in = fin->b;
	opts->data_size_in = fin->len;
	opts->data_out = fout->b;
	opts->data_size_out = sizeof(fout->b);
	opts->ctx_in = &md;
	opts->ctx_size_in = sizeof(md);
	opts->repeat = 1;
	err = bpf_prog_test_run_opts(prog_fd, opts);
	fout->len = opts->data_size_out;
	return err;
}

/*
 * Right after a marked packet, an exact duplicate of it as it went to the
 * kernel (fout, laid out as fexp: the same UDP header), where no flow
 * takes it: the relay passes it as it came, and the buffer it lands in,
 * most likely the one the marked packet just left, must not show the
 * kernel that mark. (Only its own verdict is looked at: the interface's
 * neighbour discovery may pass meanwhile.)
 */
static void check_stale_mark(const struct tcase *tc, const struct frame *fout,
			     const struct frame *fexp)
{
	__u64 vb[NP_V_MAX], va[NP_V_MAX];
	int err;

	np_verdicts_read(&maps, vb);
	err = run_real(fout, fout, fexp->l4, tc->ingress);
	np_verdicts_read(&maps, va);
	if (err)
		tap_diag("  the duplicate sent for real: %s", strerror(-err));
	tap_check(&t,
		  !err &&
			  same_num("pass-no-flow", va[NP_V_PASS_NO_FLOW] - vb[NP_V_PASS_NO_FLOW], 1) &&
			  !last_marked,
		  "%s: its duplicate, passed with no flow, carries no mark "
		  "(none left in the headroom)", tc->name);
}

/* A packet handed to the kernel carries its flow's slot, its length and
 * RTCP-ness as counted, for the tracer of the kernel's drops, and the UDP
 * header as sent (fout), by which the tracer knows the mark is this
 * packet's. Checked on the packet sent again for real, last of the case. */
static void check_mark(const struct tcase *tc, const struct np_flow_key *hkey,
		       const struct frame *fin, const struct frame *fout,
		       const struct frame *fexp)
{
	struct np_flow last = flow_before;
	bool udp_same;
	int err;

	if (tc->hairpin)
		np_flow_get(&maps, hkey, &last);
	err = run_real(fin, fout, fexp->l4, tc->ingress);
	if (err)
		tap_diag("  sent for real: %s", strerror(-err));
	else if (!last_marked)
		tap_diag("  no np_kernel_mark in front of the packet");
	udp_same = last_mark.udp_off + sizeof(last_mark.udp) <= (size_t)fout->len &&
		   !memcmp(fout->b + last_mark.udp_off, last_mark.udp,
			   sizeof(last_mark.udp));
	if (last_marked && !udp_same)
		tap_diag("  the mark's UDP header (at %u) is not the packet's",
			 last_mark.udp_off);
	tap_check(&t,
		  last_marked && same_num("mark slot", last_mark.slot, last.slot) &&
			  same_num("mark len", last_mark.len, tc->ctr.bytes) &&
			  same_num("mark rtcp", last_mark.rtcp, tc->ctr.rtcp_packets) &&
			  same_num("mark netns", last_mark.netns, 0) && udp_same,
		  "%s: marked for the kernel: slot, length, RTCP as counted, "
		  "the namespace as loaded (none here), the UDP header as sent",
		  tc->name);
	/* Not where the rewritten packet is for a flow of its own. */
	if (!tc->hairpin && !tc->via_untouched)
		check_stale_mark(tc, fout, fexp);
}

/*
 * This CPU's np_xmit_log, which the tracers read to take back a frame the
 * kernel dropped after the verdict: a frame sent on by XDP_TX or a
 * redirect is logged once, with its kind, egress, slot and length as
 * counted; a packet dropped or handed to the kernel (marked instead) is
 * not logged at all, or a later failed flush could take it back.
 */
static struct np_xmit_log *xlog_cpus; /* ncpu of them */

static bool xlog_read(struct np_xmit_log *log)
{
	__u32 zero = 0;

	if (!xlog_cpus)
		xlog_cpus = calloc(ncpu, sizeof(*xlog_cpus));
	if (!xlog_cpus ||
	    bpf_map_lookup_elem(maps.fd[NP_XMIT_LOG], &zero, xlog_cpus)) {
		tap_diag("  reading np_xmitlog_v1: %s", strerror(errno));
		return false;
	}
	*log = xlog_cpus[test_cpu];
	return true;
}

static void check_xmit_log(const struct tcase *tc, const struct frame *fout,
			   const struct np_xmit_log *before,
			   const struct np_xmit_log *after,
			   const struct np_flow_key *hkey)
{
	struct np_flow last = flow_before;
	const struct np_xmit_rec *r;
	__u32 added = after->next - before->next;
	int dev = -1, i;
	bool ok;

	if (tc->out != OUT_FWD) {
		tap_check(&t, same_num("records added", added, 0),
			  "%s: nothing in the xmit log (no take-back can find it)",
			  tc->name);
		return;
	}
	if (tc->hairpin)
		np_flow_get(&maps, hkey, &last);
	/* The egress is the device whose MAC the frame leaves from. */
	for (i = 0; i < DEV_COUNT; i++)
		if (fout->len >= 12 && !memcmp(fout->b + 6, dev_mac[i], ETH_ALEN))
			dev = i;
	r = &after->rec[(after->next - 1) & (NP_XMIT_LOG_LEN - 1)];
	ok = same_num("records added", added, 1) && dev >= 0 &&
	     same_num("kind", r->kind,
		      tc->action == XDP_TX ? NP_XMIT_TX : NP_XMIT_REDIRECT) &&
	     same_num("ifindex", r->ifindex, ifindex[dev]) &&
	     same_num("slot", r->slot, last.slot) &&
	     same_num("len", r->len, tc->ctr.bytes) &&
	     same_num("rtcp", r->rtcp, tc->ctr.rtcp_packets);
	tap_check(&t, ok,
		  "%s: logged once for a take-back: %s to %s, slot, length, RTCP as counted",
		  tc->name, tc->action == XDP_TX ? "XDP_TX" : "redirect",
		  dev >= 0 ? dev_name[dev] : "?");
}

static int entry_read(enum flow_id id, struct np_flow_entry *e);

/* The word of np_coldslots_v1 holding the bit of flow id's slot, *bit
 * that bit; NULL when there is no such flow. */
static __u64 *cold_word_of(enum flow_id id, __u64 *bit)
{
	struct np_flow_entry e;

	if (!maps.cold_slots || entry_read(id, &e) ||
	    np_cold_word(e.slot) >= maps.cold_slots_n)
		return NULL;
	*bit = np_cold_bit(e.slot);
	return &maps.cold_slots[np_cold_word(e.slot)];
}

/* Whether counting c marks the slot: all but the owner's packets. */
static bool counts_cold(const struct np_counters *c)
{
	bool drops = false;
	int i;

	for (i = 0; i < NP_DROP_MAX; i++)
		drops |= c->drops[i] != 0;
	return drops || c->rtcp_packets || c->to_kernel;
}

static void run_case(const struct tcase *tc)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	struct np_counters cb, ca, hb = {}, ha = {};
	__u64 vb[NP_V_MAX], va[NP_V_MAX];
	struct pkt_spec in, exp;
	struct frame fin, fexp, fout;
	struct np_flow_key key, hkey;
	struct np_xmit_log xlog_b, xlog_a;
	__u64 *cold, cold_bit = 0;
	bool xlog_ok;
	char what[160];
	int err;

	resolve_in(tc, &in);
	if (tc->out == OUT_FWD || tc->out == OUT_KERNEL)
		expected_out(tc, &in, &exp);
	if (tc->csum_zero_out)
		craft_zero_csum(&in, &exp);
	build(&in, &fin);
	if (in.udp_csum_ambiguous) {
		/* The payload the input was given, not one made anew for the
		 * expected packet's addresses. */
		exp.udp_csum_ambiguous = false;
		exp.tail_set = true;
		exp.tail = get16(fin.b + fin.pay + in.payload - 2);
	}
	if (tc->out == OUT_FWD || tc->out == OUT_KERNEL)
		build(&exp, &fexp);

	if (tc->pre)
		tc->pre(tc, &in);
	flow_key(tc->flow, &key);
	snapshot_flows(tc);
	flow_key(tc->via, &hkey);
	np_counters_read(&maps, &key, &cb);
	if (tc->hairpin || tc->via_untouched)
		np_counters_read(&maps, &hkey, &hb);
	np_verdicts_read(&maps, vb);
	xlog_ok = xlog_read(&xlog_b);
	drain_events();

	cold = cold_word_of(tc->flow, &cold_bit);
	if (cold)
		*cold &= ~cold_bit;
	run_ns = coarse_now();
	err = run_once(&fin, &fout, tc->ingress, &opts);
	xlog_ok = xlog_read(&xlog_a) && xlog_ok;

	drain_events();
	np_counters_read(&maps, &key, &ca);
	if (tc->hairpin || tc->via_untouched)
		np_counters_read(&maps, &hkey, &ha);
	np_verdicts_read(&maps, va);

	if (err)
		tap_diag("  bpf_prog_test_run_opts: %s", strerror(errno));
	else if (opts.retval != (__u32)tc->action)
		tap_diag("  got %s", action_name(opts.retval));
	tap_check(&t, !err && opts.retval == (__u32)tc->action, "%s: %s",
		  tc->name, action_name(tc->action));
	if (err)
		return;
	tap_check(&t, check_verdicts(vb, va, tc->verdict),
		  "%s: verdict %s +1, no other", tc->name,
		  verdict_names[tc->verdict]);
	describe_ctr(&tc->ctr, what, sizeof(what));
	tap_check(&t, check_counters(&cb, &ca, &tc->ctr), "%s: counters %s",
		  tc->name, what);
	if (cold)
		tap_check(&t, !(*cold & cold_bit) == !counts_cold(&tc->ctr),
			  "%s: the slot's cold bit %s", tc->name,
			  counts_cold(&tc->ctr) ? "set" : "left clear");
	if (tc->hairpin)
		tap_check(&t, check_counters(&hb, &ha, &tc->ctr),
			  "%s: second flow's counters %s", tc->name, what);
	if (tc->via_untouched) {
		static const struct np_counters none;

		tap_check(&t, check_counters(&hb, &ha, &none),
			  "%s: the relay it names counted nothing", tc->name);
	}

	if (xlog_ok)
		check_xmit_log(tc, &fout, &xlog_b, &xlog_a, &hkey);
	else
		tap_check(&t, false, "%s: xmit log read", tc->name);

	switch (tc->out) {
	case OUT_NONE:
		break;
	case OUT_SAME:
		tap_check(&t,
			  same_num("frame length", fout.len, fin.len) &&
				  !memcmp(fout.b, fin.b, fin.len),
			  "%s: frame passed byte for byte", tc->name);
		break;
	case OUT_KERNEL:
		check_mark(tc, &hkey, &fin, &fout, &fexp);
		/* fall through */
	case OUT_FWD:
		check_rewritten(tc, &fout, &fexp, &exp);
		break;
	}
	if (tc->post)
		tc->post(tc, &in);
}

/* --- Hooks: map setup and the latch's side effects --------------------- */

/* Takes dev out of np_egress_v1, or puts it back. */
static void egress_set(enum dev_id dev, bool present)
{
	int err = present ? bpf_map_update_elem(maps.fd[NP_EGRESS], &ifindex[dev],
						&ifindex[dev], BPF_ANY) :
			    bpf_map_delete_elem(maps.fd[NP_EGRESS], &ifindex[dev]);

	if (err)
		tap_diag("  %s %s np_egress_v1: %s",
			 present ? "adding" : "removing", dev_name[dev],
			 strerror(errno));
}

static void pre_egress_a_absent(const struct tcase *tc,
				const struct pkt_spec *in)
{
	(void)tc;
	(void)in;
	egress_set(DEV_A, false);
}

static void post_egress_a_back(const struct tcase *tc,
			       const struct pkt_spec *in)
{
	(void)tc;
	(void)in;
	egress_set(DEV_A, true);
}

static void pre_egress_b_absent(const struct tcase *tc,
				const struct pkt_spec *in)
{
	(void)tc;
	(void)in;
	egress_set(DEV_B, false);
}

static void post_egress_b_back(const struct tcase *tc,
			       const struct pkt_spec *in)
{
	(void)tc;
	(void)in;
	egress_set(DEV_B, true);
}

static void pre_flow_removed(const struct tcase *tc, const struct pkt_spec *in)
{
	struct np_flow_key key;

	(void)in;
	flow_key(tc->flow, &key);
	if (np_flow_remove(&maps, &key, NULL))
		tap_diag("  np_flow_remove failed");
}

/*
 * An NP_F_RTCP_FOLLOWS flow just latched onto src: its RTCP flow may now
 * latch only from src's address, any port. Pending, it is restricted so;
 * latched onto another address, it is re-armed so and its reverse loses
 * its port; latched onto that address already, it is left alone.
 */
static bool check_rtcp_followed(enum flow_id id, const union np_addr *src)
{
	int r = rtcp_of(id);
	struct np_flow_key key;
	struct np_flow f = {}, rev = {}, want, want_rev;
	bool ok = true, latched_here;

	if (r < 0) {
		tap_diag("  no RTCP flow for the case's flow");
		return false;
	}
	want = rtcp_before;
	want_rev = rtcp_rev_before;
	latched_here = !(want.flags & NP_F_LATCH_PENDING) &&
		       !memcmp(&want.expect_saddr, src, sizeof(*src));
	if (!latched_here) {
		if (!(want.flags & NP_F_LATCH_PENDING))
			want_rev.new_dport = 0;
		want.flags |= NP_F_LATCH_PENDING | NP_F_LATCH_RESTRICTED;
		want.expect_saddr = *src;
		want.expect_sport = 0;
	}
	flow_key(r, &key);
	np_flow_get(&maps, &key, &f);
	ok &= same_num("RTCP flags", f.flags, want.flags);
	ok &= same_bytes("RTCP expect_saddr", &f.expect_saddr,
			 &want.expect_saddr, sizeof(*src));
	ok &= same_num("RTCP expect_sport", ntohs(f.expect_sport),
		       ntohs(want.expect_sport));
	ok &= same_bytes("RTCP flow otherwise", &f, &want, sizeof(f));
	flow_key(flows[r].reverse, &key);
	np_flow_get(&maps, &key, &rev);
	ok &= same_num("RTCP reverse new_dport", ntohs(rev.new_dport),
		       ntohs(want_rev.new_dport));
	ok &= same_bytes("RTCP reverse otherwise", &rev, &want_rev,
			 sizeof(rev));
	return ok;
}

/*
 * The flow now expects the packet's source; its reverse goes there. Of
 * the spec's flags, clear are gone and set were added (by another flow's
 * latch); the event says kind.
 */
static void check_latched(const struct tcase *tc, const struct pkt_spec *in,
			  __u32 clear, __u32 set, enum np_latch_kind kind)
{
	const struct flow_spec *fs = &flows[tc->flow];
	bool has_rev = fs->flags & NP_F_HAS_REVERSE;
	struct np_flow_key key, rkey;
	struct np_flow f = {}, rev = {};
	const struct np_latch_event *ev = &events[0];
	union np_addr src;
	bool ok = true;

	flow_key(tc->flow, &key);
	parse_addr(in->saddr, &src);
	if (np_flow_get(&maps, &key, &f))
		tap_diag("  flow is gone");
	ok &= same_num("LATCH_PENDING", f.flags & NP_F_LATCH_PENDING, 0);
	ok &= same_num("other flags", f.flags & ~NP_F_LATCH_PENDING,
		       ((fs->flags | set) & ~clear) & ~NP_F_LATCH_PENDING);
	ok &= same_bytes("expect_saddr", &f.expect_saddr, &src, sizeof(src));
	ok &= same_num("expect_sport", ntohs(f.expect_sport), in->sport);
	if (has_rev) {
		flow_key(fs->reverse, &rkey);
		np_flow_get(&maps, &rkey, &rev);
		ok &= same_bytes("reverse new_daddr", &rev.new_daddr, &src,
				 sizeof(src));
		ok &= same_num("reverse new_dport", ntohs(rev.new_dport),
			       in->sport);
		rev_before.new_daddr = rev.new_daddr;
		rev_before.new_dport = rev.new_dport;
		ok &= same_bytes("reverse otherwise unchanged", &rev,
				 &rev_before, sizeof(rev));
	}
	tap_check(&t, ok, "%s: flow latched onto %s:%u%s", tc->name,
		  in->saddr, in->sport,
		  has_rev ? ", reverse flow's destination set" : "");
	if (fs->flags & NP_F_RTCP_FOLLOWS)
		tap_check(&t, check_rtcp_followed(tc->flow, &src),
			  "%s: the RTCP flow may latch only from %s, any port",
			  tc->name, in->saddr);

	ok = same_num("latch events", n_events, 1);
	if (n_events >= 1) {
		ok &= same_bytes("event key", &ev->key, &key, sizeof(key));
		ok &= same_bytes("event source", &ev->source, &src,
				 sizeof(src));
		ok &= same_num("event sport", ntohs(ev->sport), in->sport);
		ok &= same_num("event kind", ev->kind, kind);
		if (!ev->time_ns) {
			tap_diag("  event time_ns: 0");
			ok = false;
		}
	}
	tap_check(&t, ok, "%s: one %s event with key, source and port",
		  tc->name, kind == NP_LATCH_TAKEOVER ? "takeover" : "latch");
}

static void post_latched(const struct tcase *tc, const struct pkt_spec *in)
{
	check_latched(tc, in, 0, 0, NP_LATCH_FIRST);
}

/* Latched again by the signaling address: the takeover is spent. */
static void post_takeover(const struct tcase *tc, const struct pkt_spec *in)
{
	check_latched(tc, in, NP_F_LATCH_TAKEOVER, 0, NP_LATCH_TAKEOVER);
}

/* An RTCP flow its RTP's latch had restricted. */
static void post_latched_restricted(const struct tcase *tc,
				    const struct pkt_spec *in)
{
	check_latched(tc, in, 0, NP_F_LATCH_RESTRICTED, NP_LATCH_FIRST);
}

static void post_not_latched(const struct tcase *tc,
			     const struct pkt_spec *in)
{
	const struct flow_spec *fs = &flows[tc->flow];
	struct np_flow_key key;
	struct np_flow f = {}, rev = {};
	bool ok = true;
	int r;

	(void)in;
	flow_key(tc->flow, &key);
	np_flow_get(&maps, &key, &f);
	ok &= same_bytes("flow", &f, &flow_before, sizeof(f));
	if (fs->flags & NP_F_HAS_REVERSE) {
		flow_key(fs->reverse, &key);
		np_flow_get(&maps, &key, &rev);
		ok &= same_bytes("reverse flow", &rev, &rev_before,
				 sizeof(rev));
	}
	r = fs->flags & NP_F_RTCP_FOLLOWS ? rtcp_of(tc->flow) : -1;
	if (r >= 0) {
		flow_key(r, &key);
		np_flow_get(&maps, &key, &f);
		ok &= same_bytes("RTCP flow", &f, &rtcp_before, sizeof(f));
		flow_key(flows[r].reverse, &key);
		np_flow_get(&maps, &key, &rev);
		ok &= same_bytes("RTCP reverse flow", &rev, &rtcp_rev_before,
				 sizeof(rev));
	}
	ok &= same_num("latch events", n_events, 0);
	tap_check(&t, ok, "%s: flow%s unchanged, no latch event", tc->name,
		  r >= 0 ? ", its reverse and its RTCP's" :
		  fs->flags & NP_F_HAS_REVERSE ? " and its reverse" : "");
}


/* --- Hooks: the next-hop cache and slots ------------------------------- */

/* The entry of the flow array at an IPv4 key's index, whoever holds it. */
static struct np_flow_entry *array_cell(const struct np_flow_key *key)
{
	return (struct np_flow_entry *)maps.flowarr4 +
	       np_flow4_index(ntohl(key->addr.v4), ntohs(key->port),
			      maps.flowarr4_n);
}

/* The array entry holding the flow; NULL when it is in a hash map. */
static struct np_flow_entry *cell_of(enum flow_id id)
{
	struct np_flow_entry *c;
	struct np_flow_key key;

	flow_key(id, &key);
	if (key.family == NP_AF_INET6)
		return NULL;
	c = array_cell(&key);
	return c->key_live == NP_FLOW_LIVE && c->key_addr == key.addr.v4 &&
			       c->key_port == key.port ?
		       c :
		       NULL;
}

/* Whether the flow is in its family's hash map. */
static bool in_hash(enum flow_id id)
{
	struct np_flow_key key;
	struct np_flow_key4 key4 = {};
	struct np_flow_entry e;

	flow_key(id, &key);
	if (key.family == NP_AF_INET6)
		return !bpf_map_lookup_elem(maps.fd[NP_FLOWS6], &key, &e);
	key4.addr = key.addr.v4;
	key4.port = key.port;
	return !bpf_map_lookup_elem(maps.fd[NP_FLOWS4], &key4, &e);
}

/* The flow's map entry as the relay has it (struct np_flow_entry). */
static int entry_read(enum flow_id id, struct np_flow_entry *e)
{
	struct np_flow_entry *cell = cell_of(id);
	struct np_flow_key key;
	struct np_flow_key4 key4 = {};

	if (cell) {
		memcpy(e, cell, sizeof(*e));
		return 0;
	}
	flow_key(id, &key);
	if (key.family == NP_AF_INET6)
		return bpf_map_lookup_elem(maps.fd[NP_FLOWS6], &key, e) ?
			       -errno :
			       0;
	key4.addr = key.addr.v4;
	key4.port = key.port;
	return bpf_map_lookup_elem(maps.fd[NP_FLOWS4], &key4, e) ? -errno : 0;
}

static int entry_write(enum flow_id id, const struct np_flow_entry *e)
{
	struct np_flow_entry *cell = cell_of(id);
	struct np_flow_key key;
	struct np_flow_key4 key4 = {};

	if (cell) {
		/* Through the map's system call, as bpftool would. */
		__u32 i = (__u32)(cell - (struct np_flow_entry *)maps.flowarr4);

		return bpf_map_update_elem(maps.fd[NP_FLOWARR4], &i, e,
					   BPF_ANY) ?
			       -errno :
			       0;
	}
	flow_key(id, &key);
	if (key.family == NP_AF_INET6)
		return bpf_map_update_elem(maps.fd[NP_FLOWS6], &key, e,
					   BPF_EXIST) ?
			       -errno :
			       0;
	key4.addr = key.addr.v4;
	key4.port = key.port;
	return bpf_map_update_elem(maps.fd[NP_FLOWS4], &key4, e, BPF_EXIST) ?
		       -errno :
		       0;
}

/* The next-hop epoch of a time, as the relay reads it off a stamp. */
static __u32 epoch_of(__u64 ns)
{
	return np_stamp_epoch(np_last_seen_stamp(ns));
}

/* Plants a next hop (planted_mac via b0) in the flow's entry, with the
 * owner's last packet (which dates it) epochs_ago epochs of the coarse
 * clock ago; egress 0: as cleared. */
static void plant_nexthop(enum flow_id id, __u32 epochs_ago, __u32 egress)
{
	struct np_flow_entry e;

	if (entry_read(id, &e)) {
		tap_diag("  cannot read the flow's entry");
		return;
	}
	e.nh_ifindex = egress;
	e.last_seen = np_last_seen_stamp(coarse_now() -
					 ((__u64)epochs_ago << NP_NEXTHOP_EPOCH_SHIFT));
	memcpy(e.nh_dmac, planted_mac, ETH_ALEN);
	memcpy(e.nh_smac, dev_mac[DEV_B], ETH_ALEN);
	if (entry_write(id, &e))
		tap_diag("  planting a next hop: %s", strerror(errno));
}

static void pre_nh_fresh(const struct tcase *tc, const struct pkt_spec *in)
{
	(void)in;
	plant_nexthop(tc->flow, 0, ifindex[DEV_B]);
}

static void pre_nh_stale(const struct tcase *tc, const struct pkt_spec *in)
{
	(void)in;
	plant_nexthop(tc->flow, 1, ifindex[DEV_B]);
}

/* What a latch leaves in the reverse flow: the destination moved. */
static void pre_nh_cleared(const struct tcase *tc, const struct pkt_spec *in)
{
	(void)in;
	plant_nexthop(tc->flow, 0, 0);
}

/* The entry holds what the FIB says for the packet just sent, and this
 * CPU owns the flow. */
static void post_nh_filled(const struct tcase *tc, const struct pkt_spec *in)
{
	enum flow_id id = tc->hairpin ? tc->via : tc->flow;
	const struct flow_spec *fs = &flows[id];
	const char *daddr = tc->exp_daddr ? tc->exp_daddr : fs->new_daddr;
	const struct neigh *n = neigh_of(daddr);
	struct np_flow_entry e;
	__u64 now = coarse_now();
	bool ok = true;

	(void)in;
	if (!n || entry_read(id, &e)) {
		tap_check(&t, false, "%s: next hop cached", tc->name);
		return;
	}
	ok &= same_num("cached egress", e.nh_ifindex, ifindex[n->dev]);
	ok &= same_bytes("cached dmac", e.nh_dmac, n->mac, ETH_ALEN);
	ok &= same_bytes("cached smac", e.nh_smac, dev_mac[n->dev], ETH_ALEN);
	ok &= same_num("owner CPU + 1", e.flags >> NP_FLOW_OWNER_SHIFT,
		       test_cpu + 1);
	/* The relay's clock may lag a tick (struct np_clock). */
	if (np_stamp_epoch(e.last_seen) != epoch_of(now) &&
	    np_stamp_epoch(e.last_seen) != epoch_of(run_ns - CLOCK_LAG_NS)) {
		tap_diag("  last_seen %u (epoch %u), not of [%llu, %llu]",
			 e.last_seen, np_stamp_epoch(e.last_seen),
			 (unsigned long long)run_ns, (unsigned long long)now);
		ok = false;
	}
	if (tc->hairpin && !entry_read(tc->flow, &e))
		ok &= same_num("first flow's next hop (never used)",
			       e.nh_ifindex, 0);
	tap_check(&t, ok, "%s: the entry holds %s's next hop, this epoch's",
		  tc->name, daddr);
}

/* A fresh next hop in the reverse flow, for the latch to clear. */
static void pre_nh_reverse(const struct tcase *tc, const struct pkt_spec *in)
{
	(void)in;
	plant_nexthop(flows[tc->flow].reverse, 0, ifindex[DEV_B]);
}

static void post_latched_nh_cleared(const struct tcase *tc,
				    const struct pkt_spec *in)
{
	struct np_flow_entry e;

	post_latched(tc, in);
	tap_check(&t,
		  !entry_read(flows[tc->flow].reverse, &e) &&
			  same_num("reverse nh_ifindex", e.nh_ifindex, 0),
		  "%s: the reverse flow's next hop (for its old destination) is cleared",
		  tc->name);
}

static void post_nh_empty(const struct tcase *tc, const struct pkt_spec *in)
{
	struct np_flow_entry e;
	bool ok;

	(void)in;
	ok = !entry_read(tc->flow, &e) && same_num("nh_ifindex", e.nh_ifindex, 0);
	tap_check(&t, ok, "%s: the entry's next hop emptied", tc->name);
}

/* a0 as the loader records it when attached in generic mode. */
static void pre_a0_generic(const struct tcase *tc, const struct pkt_spec *in)
{
	struct np_link link = { .flags = NP_LINK_GENERIC | NP_LINK_XMIT |
					 NP_LINK_VERIFY_CSUM };

	(void)tc;
	(void)in;
	if (bpf_map_update_elem(maps.fd[NP_LINKS], &ifindex[DEV_A], &link, 0))
		tap_diag("  recording a0 as generic: %s", strerror(errno));
}

/* a0 as the loader records a veth. */
static void pre_a0_veth(const struct tcase *tc, const struct pkt_spec *in)
{
	struct np_link link = { .flags = NP_LINK_TX_BY_REDIRECT | NP_LINK_XMIT |
					 NP_LINK_VERIFY_CSUM };

	(void)tc;
	(void)in;
	if (bpf_map_update_elem(maps.fd[NP_LINKS], &ifindex[DEV_A], &link, 0))
		tap_diag("  recording a0 as a veth: %s", strerror(errno));
}

static void post_a0_native(const struct tcase *tc, const struct pkt_spec *in)
{
	(void)tc;
	(void)in;
	bpf_map_delete_elem(maps.fd[NP_LINKS], &ifindex[DEV_A]);
}

/* F4_IDX, removed by an earlier case, installed again: back at its index
 * (its slot), while F4_IDX_HASH stays in the hash. */
static void post_idx_reinstalled(const struct tcase *tc,
				 const struct pkt_spec *in)
{
	struct np_flow_entry *cell;
	struct np_flow_key key;
	struct np_flow f;
	bool ok;

	(void)tc;
	(void)in;
	flow_key(F4_IDX, &key);
	flow_value(F4_IDX, &f);
	ok = !np_flow_install(&maps, &key, &f) && !np_flow_get(&maps, &key, &f);
	cell = cell_of(F4_IDX);
	tap_check(&t,
		  ok && cell && !in_hash(F4_IDX) && in_hash(F4_IDX_HASH) &&
			  f.slot == (__u32)(cell - (struct np_flow_entry *)
							   maps.flowarr4),
		  "flow array: 203.0.113.1:40400 installed again is at its index (slot %u), 198.51.100.1:40400 still in the hash",
		  f.slot);
}

static void pre_bad_slot(const struct tcase *tc, const struct pkt_spec *in)
{
	struct np_flow_entry e;

	(void)in;
	if (entry_read(tc->flow, &e))
		return;
	/* np_flow_install would give it a slot of its own. */
	e.slot = NP_MAX_FLOWS;
	if (entry_write(tc->flow, &e))
		tap_diag("  setting slot %u: %s", e.slot, strerror(errno));
}

/* --- The token bucket over time ---------------------------------------- */

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define REFILL_NAME                                                            \
	"rate 1000 B/s burst 300, a 100-byte packet every ~100 us for 450 ms"

/*
 * A steady stream faster than the rate: the burst passes, then one packet
 * per 100 ms of refill. Each packet comes far less than the 1 ms a byte of
 * refill takes, so a bucket that drops the fraction on every update never
 * refills.
 */
static void test_refill(void)
{
	const struct tcase tc = { .name = REFILL_NAME, .flow = F4_RATE2,
				  .in = { .payload = 72 } };
	const struct timespec gap = { .tv_nsec = 100000 };
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	unsigned int first[4] = {}, passed = 0, dropped = 0, other = 0, n = 0;
	struct np_counters cb, ca;
	struct np_flow_key key;
	struct xdp_md md = {};
	struct pkt_spec in;
	struct frame fin, fout;
	__u64 start, elapsed;
	long want;

	resolve_in(&tc, &in);
	build(&in, &fin);
	flow_key(tc.flow, &key);
	np_counters_read(&maps, &key, &cb);
	md.data_end = fin.len;
	md.ingress_ifindex = ifindex[DEV_A];
	opts.data_in = fin.b;
	opts.data_size_in = fin.len;
	opts.ctx_in = &md;
	opts.ctx_size_in = sizeof(md);
	opts.repeat = 1;

	start = now_ns();
	do {
		opts.data_out = fout.b;
		opts.data_size_out = sizeof(fout.b);
		if (bpf_prog_test_run_opts(prog_fd, &opts))
			other++;
		else if (opts.retval == XDP_REDIRECT)
			passed++;
		else if (opts.retval == XDP_DROP)
			dropped++;
		else
			other++;
		if (n < 4)
			first[n] = opts.retval;
		n++;
		nanosleep(&gap, NULL);
		elapsed = now_ns() - start;
	} while (elapsed < 450000000ull);
	np_counters_read(&maps, &key, &ca);

	tap_check(&t,
		  first[0] == XDP_REDIRECT && first[1] == XDP_REDIRECT &&
			  first[2] == XDP_REDIRECT && first[3] == XDP_DROP,
		  "%s: the 300-byte burst passes 3 packets, the 4th drops",
		  tc.name);
	/* 1000 B/s refills one 100-byte packet per 100 ms. */
	want = 3 + (long)(elapsed / 100000000ull);
	tap_diag("%u packets in %llu ms: %u passed, %u dropped, %u other", n,
		 (unsigned long long)(elapsed / 1000000), passed, dropped,
		 other);
	tap_check(&t, !other && (long)passed >= want - 1 &&
			      (long)passed <= want + 1,
		  "%s: %u passed, %ld +- 1 expected from burst and refill",
		  tc.name, passed, want);
	tap_check(&t,
		  ca.packets - cb.packets == passed &&
			  ca.bytes - cb.bytes == passed * 100ull &&
			  ca.drops[NP_DROP_RATE] - cb.drops[NP_DROP_RATE] ==
				  dropped,
		  "%s: counters agree (packets %llu, drops[rate] %llu)",
		  tc.name, (unsigned long long)(ca.packets - cb.packets),
		  (unsigned long long)(ca.drops[NP_DROP_RATE] -
				       cb.drops[NP_DROP_RATE]));
}

/* --- Slots and neighbours over time ------------------------------------ */

#define SLOTS_NAME "slots"
#define NEIGH_MAC_NAME "next hop: 198.51.100.10 changes its MAC"
#define NEIGH_GONE_NAME "next hop: neighbour 198.51.100.11 deleted"
/* The cache's bound, and what the coarse clock and the 20 ms between
 * packets may add to it. */
#define NEIGH_BOUND_NS ((1ull << NP_NEXTHOP_EPOCH_SHIFT) + 200000000ull)

/* One default packet to a flow, as a case without overrides sends it. */
static int send_one(enum flow_id id, struct frame *out, __u32 *retval)
{
	const struct tcase tc = { .flow = id };
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	struct xdp_md md = {};
	struct pkt_spec in;
	struct frame fin;
	int err;

	resolve_in(&tc, &in);
	build(&in, &fin);
	md.data_end = fin.len;
	md.ingress_ifindex = ifindex[DEV_A];
	memset(out, 0, sizeof(*out));
	opts.data_in = fin.b;
	opts.data_size_in = fin.len;
	opts.data_out = out->b;
	opts.data_size_out = sizeof(out->b);
	opts.ctx_in = &md;
	opts.ctx_size_in = sizeof(md);
	opts.repeat = 1;
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	out->len = opts.data_size_out;
	*retval = opts.retval;
	return err ? -errno : 0;
}

/*
 * The policer reads the clock before taking the bucket's lock, so another
 * CPU may have moved the bucket's time past it. That must count as no time
 * elapsed, not as 2^64 ns (a full bucket): with the bucket empty and its
 * time 10 s ahead, a packet is dropped.
 */
static void test_policer_clock_behind(void)
{
	struct np_police ahead = { .tokens = 0,
				   .last_ns = now_ns() + 10000000000ull };
	struct np_flow_key key;
	struct frame out;
	__u32 retval = 0;
	int err;

	flow_key(F4_RATE2, &key);
	err = bpf_map_update_elem(maps.fd[NP_POLICERS], &key, &ahead, BPF_ANY);
	if (!err)
		err = send_one(F4_RATE2, &out, &retval);
	tap_check(&t, !err && retval == XDP_DROP,
		  "policer: an empty bucket whose time another CPU moved past "
		  "this packet's clock stays empty: dropped (retval %u)",
		  retval);
	bpf_map_delete_elem(maps.fd[NP_POLICERS], &key);
}

static bool claimed_by(__u32 slot, const struct np_flow_key *key)
{
	struct np_flow_key owner;

	return !bpf_map_lookup_elem(maps.fd[NP_SLOTS], &slot, &owner) &&
	       !memcmp(&owner, key, sizeof(owner));
}

/* Each flow's own slot, claimed under its key; false if any is not. */
static bool slots_consistent(void)
{
	__u32 slots[FLOW_COUNT];
	struct np_flow_key key;
	struct np_flow f;
	bool ok = true;
	int i, j;

	for (i = 0; i < FLOW_COUNT; i++) {
		flow_key(i, &key);
		if (np_flow_get(&maps, &key, &f)) {
			tap_diag("  flow %d missing", i);
			return false;
		}
		slots[i] = f.slot;
		if (f.slot >= NP_MAX_FLOWS || !claimed_by(f.slot, &key)) {
			tap_diag("  flow %d: slot %u not claimed under its key",
				 i, f.slot);
			ok = false;
		}
		for (j = 0; j < i; j++)
			if (slots[j] == slots[i]) {
				tap_diag("  flows %d and %d share slot %u", j, i,
					 slots[i]);
				ok = false;
			}
	}
	return ok;
}

/* Each flow where ctl/flowtab.c is to put it (see F4_IDX). */
static bool placement_right(void)
{
	struct np_flow_entry *cell, byfd;
	struct np_flow_key key;
	struct np_flow f;
	bool ok = true, want_array;
	__u32 i, idx;

	for (i = 0; i < FLOW_COUNT; i++) {
		flow_key(i, &key);
		want_array = key.family == NP_AF_INET && i != F4_IDX_HASH;
		cell = cell_of(i);
		if (want_array != !!cell || want_array == in_hash(i)) {
			tap_diag("  flow %u: in the array %d, in the hash %d", i,
				 !!cell, in_hash(i));
			ok = false;
			continue;
		}
		if (!cell)
			continue;
		idx = (__u32)(cell - (struct np_flow_entry *)maps.flowarr4);
		if (np_flow_get(&maps, &key, &f) || f.slot != idx ||
		    bpf_map_lookup_elem(maps.fd[NP_FLOWARR4], &idx, &byfd) ||
		    byfd.key_addr != key.addr.v4 || byfd.key_port != key.port ||
		    byfd.key_live != NP_FLOW_LIVE) {
			tap_diag("  flow %u: index %u, slot %u, or the system "
				 "call's entry differs", i, idx, f.slot);
			ok = false;
		}
	}
	flow_key(F4_IDX, &key);
	cell = array_cell(&key);
	flow_key(F4_IDX_HASH, &key);
	return ok && cell == array_cell(&key);
}

/* A free slot at or above from. */
static __u32 free_slot(__u32 from)
{
	struct np_flow_key owner;

	while (!bpf_map_lookup_elem(maps.fd[NP_SLOTS], &from, &owner))
		from = (from + 1) % NP_MAX_FLOWS;
	return from;
}

/*
 * Slots (ctl/flowtab.c): one per flow, claimed under its key; a replaced
 * flow keeps its slot and counters; a removed one gives them back; a new
 * one starts from zero even on a slot an earlier flow left dirty; claims
 * without their flow are released by np_slots_reconcile. Runs before the
 * cases, whose flows it leaves as installed.
 */
static void test_slots(void)
{
	struct np_flow_key key, ab_key, ghost = { .family = NP_AF_INET };
	struct np_counters c, last;
	struct np_counters *pc = calloc(ncpu, sizeof(*pc));
	struct np_flow f, g;
	struct frame out;
	__u32 retval, old_slot, next, stray[2];
	bool ok;
	int i, n;

	tap_check(&t, slots_consistent(),
		  "%s: each of the %d flows has its own slot, claimed in np_slots_v1 under its key",
		  SLOTS_NAME, FLOW_COUNT);
	tap_check(&t, placement_right(),
		  "flow array: every IPv4 flow at its index (slot = index, key live, also by system call) and not in np_flows4_v6, but 198.51.100.1:40400 in np_flows4_v6 (its index held by 203.0.113.1:40400); IPv6 flows in np_flows6_v6");
	if (!pc)
		return;

	/* Replaced: same slot, counters go on. */
	flow_key(F4_SLOT, &key);
	send_one(F4_SLOT, &out, &retval);
	np_flow_get(&maps, &key, &f);
	old_slot = f.slot;
	flow_value(F4_SLOT, &g);
	g.slot = 12345; /* ignored */
	ok = !np_flow_install(&maps, &key, &g) && !np_flow_get(&maps, &key, &f);
	np_counters_read(&maps, &key, &c);
	tap_check(&t, ok && f.slot == old_slot && c.packets == 1,
		  "%s: a replaced flow keeps slot %u (got %u) and its counters (%llu packets)",
		  SLOTS_NAME, old_slot, f.slot, (unsigned long long)c.packets);

	/* Removed: final counters, claim released. */
	ok = !np_flow_remove(&maps, &key, &last);
	tap_check(&t, ok && last.packets == 1 && !claimed_by(old_slot, &key),
		  "%s: np_flow_remove returns the final counters (%llu packets) and releases slot %u",
		  SLOTS_NAME, (unsigned long long)last.packets, old_slot);

	/*
	 * Installed again: an IPv4 flow claims the slot of its index in the
	 * flow array, so dirty that slot first: a claimed slot must start
	 * from zero.
	 */
	next = (__u32)(array_cell(&key) - (struct np_flow_entry *)maps.flowarr4);
	for (i = 0; i < ncpu; i++)
		memset(&pc[i], 0xab, sizeof(pc[i]));
	bpf_map_update_elem(maps.fd[NP_COUNTERS], &next, pc, BPF_ANY);
	flow_value(F4_SLOT, &g);
	ok = !np_flow_install(&maps, &key, &g) && !np_flow_get(&maps, &key, &f);
	if (ok && f.slot != next)
		tap_diag("  got slot %u, not the dirtied %u", f.slot, next);
	ok = ok && !bpf_map_lookup_elem(maps.fd[NP_COUNTERS], &f.slot, pc);
	for (i = 0; ok && i < ncpu; i++) {
		static const struct np_counters zero;

		ok &= !memcmp(&pc[i], &zero, sizeof(zero));
	}
	tap_check(&t, ok && claimed_by(f.slot, &key),
		  "%s: installed again, it claims slot %u with every CPU's counters zero",
		  SLOTS_NAME, f.slot);

	/* Claims without their flow: a ghost key, and a key whose flow
	 * holds another slot. */
	flow_key(F4_AB, &ab_key);
	ghost.port = htons(1);
	parse_addr(PROXY_A4, &ghost.addr);
	stray[0] = free_slot(0);
	bpf_map_update_elem(maps.fd[NP_SLOTS], &stray[0], &ghost, BPF_NOEXIST);
	stray[1] = free_slot(stray[0] + 1);
	bpf_map_update_elem(maps.fd[NP_SLOTS], &stray[1], &ab_key, BPF_NOEXIST);
	n = np_slots_reconcile(&maps);
	tap_check(&t,
		  n == 2 && !claimed_by(stray[0], &ghost) &&
			  !claimed_by(stray[1], &ab_key) && slots_consistent(),
		  "%s: np_slots_reconcile releases the 2 stray claims (%d), every flow keeps its own",
		  SLOTS_NAME, n);
	free(pc);
}

static void set_neigh(const char *addr, const char *mac)
{
	char cmd[160];

	if (mac)
		snprintf(cmd, sizeof(cmd),
			 "ip neigh replace %s lladdr %s dev b0 nud permanent",
			 addr, mac);
	else
		snprintf(cmd, sizeof(cmd), "ip neigh del %s dev b0", addr);
	if (system(cmd))
		tap_diag("  '%s' failed", cmd);
}

static bool is_mac(const struct frame *f, const char *text)
{
	__u8 mac[ETH_ALEN];

	sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1],
	       &mac[2], &mac[3], &mac[4], &mac[5]);
	return f->len >= ETH_HLEN && !memcmp(f->b, mac, ETH_ALEN);
}

/*
 * Neighbours changing under the cache, with real time: packets every 20 ms
 * until the change shows, each of which must arrive (forwarded with the
 * old or the new answer, or handed to the kernel), the change within the
 * cache's bound.
 */
static void test_neighbours(void)
{
	const struct timespec gap = { .tv_nsec = 20000000 };
	struct np_counters cb, ca;
	struct np_flow_key key;
	struct np_flow_entry e;
	unsigned int n = 0, lost = 0, passed = 0;
	__u64 start, took = 0;
	struct frame out;
	__u32 retval;
	bool seen = false;

	/* A MAC change: old MAC until the entry expires, then the new. */
	set_neigh(FAR4, FAR4_MAC_NEW);
	start = coarse_now();
	do {
		if (send_one(F4_NH, &out, &retval) || retval != XDP_REDIRECT ||
		    !(is_mac(&out, "02:00:00:00:00:10") ||
		      is_mac(&out, FAR4_MAC_NEW)))
			lost++;
		seen = is_mac(&out, FAR4_MAC_NEW);
		took = coarse_now() - start;
		n++;
		if (!seen)
			nanosleep(&gap, NULL);
	} while (!seen && took < 2 * NEIGH_BOUND_NS);
	set_neigh(FAR4, "02:00:00:00:00:10");
	tap_diag("new MAC after %llu ms, %u packets",
		 (unsigned long long)(took / 1000000), n);
	tap_check(&t, seen && took <= NEIGH_BOUND_NS && !lost,
		  "%s: every packet forwarded, with the new MAC within %llu ms (%llu ms, %u of %u odd)",
		  NEIGH_MAC_NAME,
		  (unsigned long long)(NEIGH_BOUND_NS / 1000000),
		  (unsigned long long)(took / 1000000), lost, n);

	/* A neighbour gone: cached MAC until the entry expires, then the
	 * kernel gets the packets, rewritten, and none is lost. */
	flow_key(F4_NH_GONE, &key);
	set_neigh(GONE4, GONE4_MAC);
	np_counters_read(&maps, &key, &cb);
	n = lost = 0;
	if (send_one(F4_NH_GONE, &out, &retval) || retval != XDP_REDIRECT ||
	    !is_mac(&out, GONE4_MAC))
		lost++;
	n++;
	set_neigh(GONE4, NULL);
	start = coarse_now();
	do {
		nanosleep(&gap, NULL);
		if (send_one(F4_NH_GONE, &out, &retval))
			lost++;
		else if (retval == XDP_PASS)
			passed++;
		else if (retval != XDP_REDIRECT || !is_mac(&out, GONE4_MAC))
			lost++;
		took = coarse_now() - start;
		n++;
	} while (!passed && took < 2 * NEIGH_BOUND_NS);
	np_counters_read(&maps, &key, &ca);
	tap_diag("handed to the kernel after %llu ms, %u packets",
		 (unsigned long long)(took / 1000000), n);
	tap_check(&t, passed == 1 && took <= NEIGH_BOUND_NS && !lost,
		  "%s: forwarded from the cache, then handed to the kernel within %llu ms (%llu ms, %u of %u odd)",
		  NEIGH_GONE_NAME,
		  (unsigned long long)(NEIGH_BOUND_NS / 1000000),
		  (unsigned long long)(took / 1000000), lost, n);
	{
		union np_addr gone;
		const __u8 *ip = out.b + ETH_HLEN;

		parse_addr(GONE4, &gone);
		tap_check(&t,
			  ca.packets - cb.packets == n &&
				  ca.to_kernel - cb.to_kernel == 1 &&
				  out.len > ETH_HLEN + 20 &&
				  !memcmp(ip + 16, &gone.v4, 4) &&
				  !entry_read(F4_NH_GONE, &e) && !e.nh_ifindex,
			  "%s: all %u counted, 1 to the kernel rewritten for %s, cache emptied",
			  NEIGH_GONE_NAME, n, GONE4);
	}
}

/* --- The owner CPU ------------------------------------------------------- */

#define OWNER_NAME "owner CPU"

/* This CPU's copy of the flow's cold counters (struct np_counters). */
static int cold_of(enum flow_id id, int cpu, struct np_counters *out)
{
	struct np_counters *pc = calloc(ncpu, sizeof(*pc));
	struct np_flow_entry e;
	int err = -ENOMEM;

	if (pc && !(err = entry_read(id, &e)))
		err = bpf_map_lookup_elem(maps.fd[NP_COUNTERS], &e.slot, pc) ?
			      -errno :
			      0;
	if (!err)
		*out = pc[cpu];
	free(pc);
	return err;
}

static bool run_on(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return !sched_setaffinity(0, sizeof(one), &one);
}

/*
 * The layout's promise: a packet its owner CPU relays is counted in the
 * entry and touches no per-CPU counter; one another CPU relays is counted
 * in that CPU's copy, the entry's counters untouched; the sum is exact
 * either way.
 */
static void test_owner(void)
{
	int other = test_cpu ? 0 : 1;
	struct np_counters s0, s1, s2, o0, o1, c0, c1;
	struct np_flow_entry e0, e1, e2;
	struct np_flow_key key;
	struct frame out;
	__u64 *cold, bit = 0;
	__u32 retval;
	bool ok;

	flow_key(F4_AB, &key);
	cold = cold_word_of(F4_AB, &bit);
	if (cold)
		*cold &= ~bit;
	ok = cold && !entry_read(F4_AB, &e0) && !cold_of(F4_AB, test_cpu, &c0) &&
	     !np_counters_read(&maps, &key, &s0) &&
	     !send_one(F4_AB, &out, &retval) && retval == XDP_REDIRECT &&
	     !entry_read(F4_AB, &e1) && !cold_of(F4_AB, test_cpu, &c1) &&
	     !np_counters_read(&maps, &key, &s1);
	tap_check(&t,
		  ok && (e0.flags >> NP_FLOW_OWNER_SHIFT) == (__u32)test_cpu + 1 &&
			  e1.packets == e0.packets + 1 &&
			  e1.bytes == e0.bytes + V4_BYTES &&
			  !memcmp(&c0, &c1, sizeof(c0)) && !(*cold & bit) &&
			  s1.packets == s0.packets + 1,
		  "%s: relayed on CPU %d, its owner: counted in the entry (%llu -> %llu packets), per-CPU counters untouched, the cold bit clear",
		  OWNER_NAME, test_cpu, (unsigned long long)e0.packets,
		  (unsigned long long)e1.packets);
	if (ncpu < 2 || !run_on(other)) {
		tap_skip(&t, "one CPU", "%s: relayed on another CPU", OWNER_NAME);
		return;
	}
	ok = !cold_of(F4_AB, other, &o0) && !send_one(F4_AB, &out, &retval) &&
	     retval == XDP_REDIRECT && !entry_read(F4_AB, &e2) &&
	     !cold_of(F4_AB, other, &o1) &&
	     !np_counters_read(&maps, &key, &s2);
	run_on(test_cpu);
	tap_check(&t,
		  ok && e2.packets == e1.packets && e2.bytes == e1.bytes &&
			  (e2.flags >> NP_FLOW_OWNER_SHIFT) == (__u32)test_cpu + 1 &&
			  o1.packets == o0.packets + 1 &&
			  o1.bytes == o0.bytes + V4_BYTES &&
			  s2.packets == s1.packets + 1 &&
			  s2.bytes == s1.bytes + V4_BYTES && (*cold & bit),
		  "%s: relayed on CPU %d, not the owner: counted in its per-CPU copy (the cold bit set), the entry untouched, the sum %llu packets",
		  OWNER_NAME, other, (unsigned long long)s2.packets);
}

/* --- Setup ------------------------------------------------------------- */

/*
 * The checksum code against known answers, so that an error in it cannot
 * hide behind the same error in the packets it builds: the IPv4 header
 * with checksum 0xb861 that textbooks use, and a 9-byte datagram (an odd
 * length) from 192.0.2.1 and 2001:db8::1, port 1234, to 198.51.100.2 and
 * 2001:db8::2, port 5678, whose checksums tcpdump -vvv accepts.
 */
static bool csum_known_answers(void)
{
	static const __u8 hdr[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
				      0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
				      0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	__u8 ip4[20] = {}, ip6[40] = {}, udp[17] = {};

	inet_pton(AF_INET, "192.0.2.1", ip4 + 12);
	inet_pton(AF_INET, "198.51.100.2", ip4 + 16);
	inet_pton(AF_INET6, "2001:db8::1", ip6 + 8);
	inet_pton(AF_INET6, "2001:db8::2", ip6 + 24);
	put16(udp, 1234);
	put16(udp + 2, 5678);
	put16(udp + 4, sizeof(udp));
	memcpy(udp + 8, "natproxy!", 9);
	return ipv4_csum(hdr, sizeof(hdr)) == 0xb861 &&
	       udp_csum(ip4, 4, udp, sizeof(udp)) == 0x09da &&
	       udp_csum(ip6, 6, udp, sizeof(udp)) == 0x9a9c;
}

static int dev_hwaddr(const char *name, __u8 *mac)
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	close(fd);
	return err;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	printf("# libbpf: ");
	return vprintf(fmt, ap);
}

/* Set when setup had all it needs but the program did not load. */
static bool load_failed;

/* NULL when ready, else why every case must be skipped. */
static const char *setup(char *why, size_t len)
{
	int i, err;

	cpu_set_t one;

	if (geteuid() != 0)
		return "needs root";
	/* One CPU: the next-hop cache a packet uses is that CPU's. */
	test_cpu = sched_getcpu();
	ncpu = libbpf_num_possible_cpus();
	CPU_ZERO(&one);
	CPU_SET(test_cpu, &one);
	if (test_cpu < 0 || ncpu <= test_cpu ||
	    sched_setaffinity(0, sizeof(one), &one))
		return "cannot pin the test to one CPU";
	for (i = 0; i < DEV_COUNT; i++) {
		ifindex[i] = if_nametoindex(dev_name[i]);
		if (!ifindex[i] || dev_hwaddr(dev_name[i], dev_mac[i])) {
			snprintf(why, len,
				 "no %s here: run tests/xdp_packet_test.sh",
				 dev_name[i]);
			return why;
		}
	}
	libbpf_set_print(libbpf_print);
	skel = relay_bpf__open_and_load();
	if (!skel) {
		snprintf(why, len, "cannot load the relay program: %s",
			 strerror(errno));
		/* As root, that is the verifier refusing it: a failure. */
		load_failed = true;
		return why;
	}
	prog_fd = bpf_program__fd(skel->progs.np_relay);
	reader = mark_reader_bpf__open_and_load();
	netns_cookie = np_this_netns_cookie();
	if (!reader || mark_reader_bpf__attach(reader) || !netns_cookie) {
		snprintf(why, len, "cannot attach mark_reader: %s",
			 strerror(errno));
		load_failed = true;
		return why;
	}
	maps.fd[NP_FLOWS4] = bpf_map__fd(skel->maps.np_flows4_v6);
	maps.fd[NP_FLOWS6] = bpf_map__fd(skel->maps.np_flows6_v6);
	maps.fd[NP_FLOWARR4] = bpf_map__fd(skel->maps.np_flowarr4_v2);
	maps.fd[NP_COLD_SLOTS] = bpf_map__fd(skel->maps.np_coldslots_v1);
	if (np_maps_map_flows(&maps)) {
		snprintf(why, len, "cannot map the flow array: %s",
			 strerror(errno));
		return why;
	}
	maps.fd[NP_COUNTERS] = bpf_map__fd(skel->maps.np_counters_v4);
	maps.fd[NP_POLICERS] = bpf_map__fd(skel->maps.np_police_v1);
	maps.fd[NP_VERDICTS] = bpf_map__fd(skel->maps.np_verdicts_v3);
	maps.fd[NP_EGRESS] = bpf_map__fd(skel->maps.np_egress_v1);
	maps.fd[NP_XMIT_LOG] = bpf_map__fd(skel->maps.np_xmitlog_v1);
	maps.fd[NP_LINKS] = bpf_map__fd(skel->maps.np_links_v1);
	maps.fd[NP_EVENTS] = bpf_map__fd(skel->maps.np_events_v1);
	maps.fd[NP_SLOTS] = bpf_map__fd(skel->maps.np_slots_v1);
	maps.fd[NP_CLOCK] = bpf_map__fd(skel->maps.np_clock_v1);
	maps.fd[NP_SIG_PORTS] = bpf_map__fd(skel->maps.np_sigports_v1);
	maps.fd[NP_BLOCKED] = bpf_map__fd(skel->maps.np_blocked_v1);
	maps.fd[NP_KNOWN] = bpf_map__fd(skel->maps.np_known_v1);
	maps.fd[NP_BUCKETS] = bpf_map__fd(skel->maps.np_buckets_v1);
	events_rb = ring_buffer__new(maps.fd[NP_EVENTS], on_event, NULL, NULL);

	err = 0;
	for (i = 0; i < DEV_COUNT; i++)
		if (bpf_map_update_elem(maps.fd[NP_EGRESS], &ifindex[i],
					&ifindex[i], BPF_ANY))
			err = -errno;
	tap_check(&t, !err, "setup: a0 (%u) and b0 (%u) in np_egress_v1%s%s",
		  ifindex[DEV_A], ifindex[DEV_B], err ? ": " : "",
		  err ? strerror(-err) : "");

	err = 0;
	for (i = 0; i < FLOW_COUNT; i++) {
		struct np_flow_key key;
		struct np_flow flow;
		int e;

		flow_key(i, &key);
		flow_value(i, &flow);
		e = np_flow_install(&maps, &key, &flow);
		if (e) {
			tap_diag("  flow %d: %s", i, strerror(-e));
			err = e;
		}
	}
	tap_check(&t, !err, "setup: %d flows installed with np_flow_install",
		  FLOW_COUNT);
	tap_check(&t, events_rb != NULL, "setup: ring buffer on np_events_v1");
	return NULL;
}

/* --- The signaling guard (bpf/guard.h) ---------------------------------- */

/*
 * Datagrams to natproxyd's signaling sockets, as natproxyd's own code
 * (ctl/guard.c) sets the maps up: 203.0.113.1:5060 and [2001:db8:1::1]:5060
 * guarded, each with its realm's bucket. Every case checks the action,
 * that exactly its verdict counted one, and that a passed frame is
 * untouched.
 */
#define GUARD_NAME "signaling guard"
#define SIG_PORT 5060
#define NOT_SIG_PORT 5999 /* no flow, no signaling socket */

static struct np_realm guard_realms[2];
static struct np_pair guard_pairs[2];
static const struct np_config guard_cfg = {
	.realms = guard_realms, .n_realms = 2,
	.pairs = guard_pairs, .n_pairs = 2,
};

static void sockaddr_of(const char *addr, uint16_t port, struct np_sockaddr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = is_v6(addr) ? AF_INET6 : AF_INET;
	inet_pton(a->family, addr, &a->addr);
	a->port = port;
}

/* One datagram from saddr:sport to daddr:dport, as it arrives on a0. */
static void guard_case(const char *name, const char *saddr, __u16 sport,
		       const char *daddr, __u16 dport, int action,
		       enum np_verdict verdict)
{
	struct pkt_spec in = { .family = is_v6(saddr) ? 6 : 4,
			       .dmac = dev_mac[DEV_A], .smac = peer_mac,
			       .saddr = saddr, .daddr = daddr,
			       .sport = sport, .dport = dport, .ttl = 64,
			       .proto = IPPROTO_UDP, .payload = 60 };
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	__u64 vb[NP_V_MAX], va[NP_V_MAX];
	struct frame fin, fout;
	int err;

	build(&in, &fin);
	np_verdicts_read(&maps, vb);
	err = run_once(&fin, &fout, DEV_A, &opts);
	np_verdicts_read(&maps, va);
	if (err)
		tap_diag("  bpf_prog_test_run_opts: %s", strerror(errno));
	else if (opts.retval != (__u32)action)
		tap_diag("  got %s", action_name(opts.retval));
	tap_check(&t, !err && opts.retval == (__u32)action, "%s: %s: %s",
		  GUARD_NAME, name, action_name(action));
	tap_check(&t, check_verdicts(vb, va, verdict),
		  "%s: %s: verdict %s +1, no other", GUARD_NAME, name,
		  verdict_names[verdict]);
	if (action == XDP_PASS)
		tap_check(&t,
			  !err && same_num("frame length", fout.len, fin.len) &&
				  !memcmp(fout.b, fin.b, fin.len),
			  "%s: %s: frame passed byte for byte", GUARD_NAME,
			  name);
}

static void guard_block(const char *addr, uint16_t port, uint8_t len,
			long seconds)
{
	struct np_sockaddr a;

	sockaddr_of(addr, port, &a);
	tap_check(&t,
		  !np_guard_block(&maps, &a, len, 0, now_ns() + seconds *
							   1000000000ll),
		  "%s: block %s port %u /%u for %lds", GUARD_NAME, addr, port,
		  len, seconds);
}

static void guard_unblock(const char *addr, uint16_t port, uint8_t len)
{
	struct np_source_key key;
	struct np_sockaddr a;

	sockaddr_of(addr, port, &a);
	np_guard_key(&a, len, &key);
	bpf_map_delete_elem(maps.fd[NP_BLOCKED], &key);
}

static void guard_know(const char *addr, uint16_t port, bool known)
{
	struct np_sockaddr a;

	sockaddr_of(addr, port, &a);
	tap_check(&t, !np_guard_known(&maps, &a, known), "%s: %s %s port %u",
		  GUARD_NAME, known ? "know" : "forget", addr, port);
}

/* The IPv4 realm's bucket: rate per second, tokens left, refilled from
 * now on. */
static void guard_bucket(__u64 rate, __u64 burst, __u64 tokens)
{
	struct np_sig_bucket b = { .rate = rate, .burst = burst,
				   .tokens = tokens * 1000000000ull,
				   .last_ns = now_ns() + 3600000000000ull };
	__u32 zero = 0;

	/* last_ns an hour ahead: no refill while the cases run, however
	 * slowly a loaded machine runs them (a second was seen to pass). */
	bpf_map_update_elem(maps.fd[NP_BUCKETS], &zero, &b, BPF_F_LOCK);
}

/* Entries of a hash map. */
static int count_entries(int fd)
{
	struct np_source_key key;
	int n = 0;

	while (!bpf_map_get_next_key(fd, n ? &key : NULL, &key))
		n++;
	return n;
}

static void test_guard(void)
{
	struct np_guard_census census;
	struct np_flow_key relay;
	char relay_addr[64];
	int i;

	for (i = 0; i < 2; i++) {
		struct np_realm *r = &guard_realms[i];

		sockaddr_of(i ? PROXY_A6 : PROXY_A4, 0, &r->address);
		r->sip_port = SIG_PORT;
		r->unknown_rate = 1000;
		r->unknown_burst = 2;
		guard_pairs[i].first = i;
		guard_pairs[i].softswitch.family = AF_INET;
	}
	tap_check(&t, !np_guard_configure(&maps, &guard_cfg),
		  "%s: np_guard_configure sets up both realms", GUARD_NAME);

	/* Not a signaling socket: nothing changes. */
	guard_block(TERM4_OTHER, 0, 32, 60);
	guard_case("no socket: passed even from a blocked address",
		   TERM4_OTHER, 7000, PROXY_A4, NOT_SIG_PORT, XDP_PASS,
		   NP_V_PASS_NO_FLOW);
	/* Media: a relay port's flow is found first, the guard never looks. */
	flow_key(F4_AB, &relay);
	inet_ntop(AF_INET, &relay.addr.v4, relay_addr, sizeof(relay_addr));
	guard_block(TERM4, 0, 32, 60);
	guard_case("relay port: media from a blocked address relayed", TERM4,
		   7078, relay_addr, ntohs(relay.port), XDP_REDIRECT,
		   NP_V_REDIRECT);
	guard_unblock(TERM4, 0, 32);

	/* Blocked, by mapping, address and prefix; expired. */
	guard_case("blocked address: dropped", TERM4_OTHER, 7000, PROXY_A4,
		   SIG_PORT, XDP_DROP, NP_V_DROP_BLOCKED);
	guard_unblock(TERM4_OTHER, 0, 32);
	guard_block(TERM4_OTHER, 7001, 32, 60);
	guard_case("blocked mapping: dropped", TERM4_OTHER, 7001, PROXY_A4,
		   SIG_PORT, XDP_DROP, NP_V_DROP_BLOCKED);
	guard_case("blocked mapping: another port of it passes", TERM4_OTHER,
		   7002, PROXY_A4, SIG_PORT, XDP_PASS, NP_V_PASS_SIG_UNKNOWN);
	guard_unblock(TERM4_OTHER, 7001, 32);
	guard_block(TERM4_OTHER, 7003, 32, -1);
	guard_case("expired block: passes", TERM4_OTHER, 7003, PROXY_A4,
		   SIG_PORT, XDP_PASS, NP_V_PASS_SIG_UNKNOWN);
	guard_block("203.0.113.0", 0, 24, 60);
	guard_case("blocked /24: another address of it dropped", TERM4_THIRD,
		   7004, PROXY_A4, SIG_PORT, XDP_DROP, NP_V_DROP_BLOCKED);
	guard_know(TERM4, 5060, true);
	guard_case("blocked /24: a known mapping in it passes", TERM4, 5060,
		   PROXY_A4, SIG_PORT, XDP_PASS, NP_V_PASS_SIG_KNOWN);
	guard_case("blocked /24: an unknown port of the known address "
		   "dropped",
		   TERM4, 5061, PROXY_A4, SIG_PORT, XDP_DROP,
		   NP_V_DROP_BLOCKED);
	guard_block(TERM4, 5060, 32, 60);
	guard_case("blocked mapping wins over known", TERM4, 5060, PROXY_A4,
		   SIG_PORT, XDP_DROP, NP_V_DROP_BLOCKED);
	guard_unblock(TERM4, 5060, 32);
	guard_unblock("203.0.113.0", 0, 24);
	guard_block("2001:db8:1::", 0, 64, 60);
	guard_case("blocked /64: dropped", TERM6_OTHER, 7005, PROXY_A6,
		   SIG_PORT, XDP_DROP, NP_V_DROP_BLOCKED);
	guard_unblock("2001:db8:1::", 0, 64);
	guard_case("IPv6 unknown within its bucket: passes", TERM6_OTHER, 7005,
		   PROXY_A6, SIG_PORT, XDP_PASS, NP_V_PASS_SIG_UNKNOWN);

	/* The bucket of unknown sources. */
	guard_bucket(1, 2, 2);
	guard_case("bucket 2 of 2: unknown passes", TERM4_THIRD, 7006,
		   PROXY_A4, SIG_PORT, XDP_PASS, NP_V_PASS_SIG_UNKNOWN);
	guard_case("bucket 1 of 2: another unknown passes", TERM4_OTHER, 7007,
		   PROXY_A4, SIG_PORT, XDP_PASS, NP_V_PASS_SIG_UNKNOWN);
	guard_case("bucket empty: unknown dropped", TERM4_THIRD, 7008,
		   PROXY_A4, SIG_PORT, XDP_DROP, NP_V_DROP_UNKNOWN_RATE);
	guard_case("bucket empty: known mapping passes", TERM4, 5060,
		   PROXY_A4, SIG_PORT, XDP_PASS, NP_V_PASS_SIG_KNOWN);
	guard_know(TERM4_OTHER, 0, true);
	guard_case("bucket empty: any port of a known address passes",
		   TERM4_OTHER, 7009, PROXY_A4, SIG_PORT, XDP_PASS,
		   NP_V_PASS_SIG_KNOWN);
	guard_know(TERM4_OTHER, 0, false);
	guard_case("bucket empty: forgotten address dropped", TERM4_OTHER,
		   7009, PROXY_A4, SIG_PORT, XDP_DROP, NP_V_DROP_UNKNOWN_RATE);
	guard_case("bucket empty: the other realm's bucket still passes",
		   TERM6_OTHER, 7010, PROXY_A6, SIG_PORT, XDP_PASS,
		   NP_V_PASS_SIG_UNKNOWN);
	guard_bucket(0, 1, 0);
	guard_case("rate 0: unknown never limited", TERM4_THIRD, 7011,
		   PROXY_A4, SIG_PORT, XDP_PASS, NP_V_PASS_SIG_UNKNOWN);
	guard_know(TERM4, 5060, false);

	/* natproxyd's sweep: the expired block goes, a running one stays. */
	guard_block(TERM4_OTHER, 7012, 32, 60);
	np_guard_expire(&maps, now_ns(), NP_MAX_BLOCKED, &census);
	{
		struct np_source_key key;
		struct np_block b;
		struct np_sockaddr a;

		sockaddr_of(TERM4_OTHER, 7003, &a);
		np_guard_key(&a, 32, &key);
		tap_check(&t,
			  bpf_map_lookup_elem(maps.fd[NP_BLOCKED], &key, &b) &&
				  errno == ENOENT,
			  "%s: np_guard_expire removed the expired block",
			  GUARD_NAME);
		sockaddr_of(TERM4_OTHER, 7012, &a);
		np_guard_key(&a, 32, &key);
		tap_check(&t,
			  !bpf_map_lookup_elem(maps.fd[NP_BLOCKED], &key, &b),
			  "%s: np_guard_expire kept the running block",
			  GUARD_NAME);
		tap_check(&t, same_num("blocks running", census.blocked, 1),
			  "%s: np_guard_expire counts 1 running block",
			  GUARD_NAME);
	}
	/* Ended blocks beyond one batch all go in one sweep; running ones
	 * stay, counted, and natproxyctl unblock ends those. */
	{
		struct np_source_key keys[3];
		struct np_sockaddr a;
		int err = 0, left = 0, unblocked = 0;

		for (i = 0; i < 3000 && !err; i++) {
			long long ago = i % 1000 ? 1 : -60; /* every 1000th runs */

			a = (struct np_sockaddr){ .family = AF_INET,
						  .port = 1000 + i };
			a.addr.v4.s_addr = htonl(0xcb007100 + i % 200);
			if (!(i % 1000))
				np_guard_key(&a, 32, &keys[i / 1000]);
			err = np_guard_block(&maps, &a, 32, 0,
					     now_ns() - ago * 1000000000ll);
		}
		np_guard_expire(&maps, now_ns(), NP_MAX_BLOCKED, &census);
		left = count_entries(maps.fd[NP_BLOCKED]);
		tap_check(&t, !err && left == 4 && census.blocked == 4,
			  "%s: np_guard_expire removes 2997 ended blocks in "
			  "one sweep, keeps and counts the 4 running (%d "
			  "left, %llu counted)",
			  GUARD_NAME, left,
			  (unsigned long long)census.blocked);
		for (i = 0; i < 3; i++)
			unblocked += !np_guard_unblock(&maps, &keys[i], now_ns());
		tap_check(&t,
			  unblocked == 3 &&
				  count_entries(maps.fd[NP_BLOCKED]) == 1 &&
				  np_guard_unblock(&maps, &keys[0], now_ns()) ==
					  -ENOENT,
			  "%s: np_guard_unblock ends 3 running blocks, a "
			  "second time -ENOENT",
			  GUARD_NAME);
		guard_block(TERM4_THIRD, 7013, 32, -1);
		sockaddr_of(TERM4_THIRD, 7013, &a);
		np_guard_key(&a, 32, &keys[0]);
		tap_check(&t,
			  np_guard_unblock(&maps, &keys[0], now_ns()) ==
				  -ENOENT,
			  "%s: np_guard_unblock of an ended block: -ENOENT",
			  GUARD_NAME);
		bpf_map_delete_elem(maps.fd[NP_BLOCKED], &keys[0]);
	}
	guard_unblock(TERM4_OTHER, 7012, 32);
	/* A start forgets every known source, however many (batches). */
	{
		struct np_source_key key;
		struct np_sockaddr a;
		int err = 0;

		for (i = 0; i < 3000 && !err; i++) {
			a = (struct np_sockaddr){ .family = AF_INET,
						  .port = 1000 + i };
			a.addr.v4.s_addr = htonl(0xcb007100 + i % 200);
			err = np_guard_known(&maps, &a, true);
		}
		np_guard_forget_known(&maps);
		tap_check(&t,
			  !err && bpf_map_get_next_key(maps.fd[NP_KNOWN], NULL,
						       &key) &&
				  errno == ENOENT,
			  "%s: np_guard_forget_known empties 3000 known "
			  "sources",
			  GUARD_NAME);
	}
	/* A reload without the sockets: the guard lets go of them. */
	guard_realms[0].sip_port = 0;
	guard_realms[1].sip_port = 0;
	np_guard_configure(&maps, &guard_cfg);
	guard_case("socket gone from the configuration: not guarded",
		   TERM4_OTHER, 7012, PROXY_A4, SIG_PORT, XDP_PASS,
		   NP_V_PASS_NO_FLOW);
}

int main(int argc, char **argv)
{
	const char *skip;
	char why[128];
	size_t i;

	tap_check(&t, csum_known_answers(),
		  "RFC 1071 code gives the known IPv4 and UDP checksums");
	if (argc == 3 && !strcmp(argv[1], "--skip"))
		skip = argv[2];
	else
		skip = setup(why, sizeof(why));
	if (skip) {
		if (load_failed)
			tap_check(&t, false, "setup: %s", skip);
		for (i = 0; i < NCASES; i++)
			tap_skip(&t, skip, "%s", cases[i].name);
		tap_skip(&t, skip, "%s", REFILL_NAME);
		tap_skip(&t, skip, "%s", SLOTS_NAME);
		tap_skip(&t, skip, "%s", NEIGH_MAC_NAME);
		tap_skip(&t, skip, "%s", NEIGH_GONE_NAME);
		tap_skip(&t, skip, "%s", GUARD_NAME);
		tap_skip(&t, skip, "%s", OWNER_NAME);
		tap_skip(&t, skip, "%s", OWNER_NAME);
		return tap_done(&t);
	}
	tap_diag("a0 ifindex %u, b0 ifindex %u", ifindex[DEV_A], ifindex[DEV_B]);
	test_slots();
	for (i = 0; i < NCASES; i++)
		run_case(&cases[i]);
	test_refill();
	test_policer_clock_behind();
	test_neighbours();
	test_guard();
	test_owner();

	ring_buffer__free(events_rb);
	mark_reader_bpf__destroy(reader);
	relay_bpf__destroy(skel);
	return tap_done(&t);
}
