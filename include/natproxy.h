/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The contract between natproxy's XDP fast path (bpf/) and its control plane
 * (ctl/): map names, keys, values, flags and counter layouts. Both sides
 * include this file and nothing else to agree on. Every type has a fixed
 * size checked below; when a layout changes, the version in the pinned map
 * names changes with it, so an old daemon never misreads a new map.
 */
#ifndef NATPROXY_H
#define NATPROXY_H

#include <linux/bpf.h>
#include <linux/types.h>

#define NP_ABI_VERSION 7

/* Pinned names (BPF object names are limited to 15 characters). */
/* IPv4 flows by index (np_flow4_index): the relay's first look. */
#define NP_MAP_FLOWARR4 "np_flowarr4_v2"
/* IPv4 flows whose index another flow holds, struct np_flow_key4 */
#define NP_MAP_FLOWS4 "np_flows4_v6"
#define NP_MAP_FLOWS6 "np_flows6_v6" /* IPv6 flows, struct np_flow_key */
#define NP_MAP_COUNTERS "np_counters_v4" /* by slot, per CPU: np_counters */
/* Slots whose per-CPU counters count something: one bit each, see
 * np_cold_bit(). */
#define NP_MAP_COLD_SLOTS "np_coldslots_v1"
#define NP_MAP_POLICERS "np_police_v1"
#define NP_MAP_VERDICTS "np_verdicts_v3"
/* Interfaces XDP can send out of (XDP_TX or redirect) and have it delivered. */
#define NP_MAP_EGRESS "np_egress_v1"
/* Every interface the relay is attached to, ifindex -> struct np_link. */
#define NP_MAP_LINKS "np_links_v1"
#define NP_MAP_EVENTS "np_events_v1"
#define NP_MAP_SLOTS "np_slots_v1"
#define NP_MAP_CLOCK "np_clock_v1" /* the relay's own, see struct np_clock */
#define NP_MAP_XMIT_LOG "np_xmitlog_v1" /* the relay's own: np_xmit_log */
/* Frames the kernel dropped after XDP sent them: ifindex -> __u64. */
#define NP_MAP_XMIT_DROPS "np_xmitdrop_v1"
/* The signaling guard (bpf/guard.h): natproxyd's signaling sockets,
 * sources it blocked, sources it knows, the unknown sources' buckets. */
#define NP_MAP_SIG_PORTS "np_sigports_v1" /* struct np_flow_key -> np_sig_port */
#define NP_MAP_BLOCKED "np_blocked_v1" /* struct np_source_key -> np_block */
#define NP_MAP_KNOWN "np_known_v1" /* struct np_source_key -> np_known */
#define NP_MAP_BUCKETS "np_buckets_v1" /* index -> struct np_sig_bucket */
#define NP_PROG_PIN "np_relay_v7"

#define NP_MAX_FLOWS (1u << 20)
#define NP_MAX_IFACES 64
#define NP_MAX_SIG_PORTS 256 /* signaling sockets the guard watches */
#define NP_MAX_BLOCKED 65536 /* least recently used ones go first */
#define NP_MAX_KNOWN (1u << 20)
#define NP_MAX_BUCKETS 64 /* one per access realm */

#define NP_AF_INET 4
#define NP_AF_INET6 6

/* An IPv4 address sits in v4 with the remaining 12 bytes zero. */
union np_addr {
	__be32 v4;
	__be32 v6[4];
	__u8 raw[16];
};

/*
 * A relay address: where the packet was sent to on this proxy. IPv6 flows
 * are keyed by it in NP_MAP_FLOWS6; the interfaces of ctl/ take it for both
 * families.
 */
struct np_flow_key {
	__u8 family; /* NP_AF_INET or NP_AF_INET6 */
	__u8 pad;
	__be16 port; /* local UDP port, network order */
	union np_addr addr; /* local address */
};

/*
 * The key of an IPv4 flow in NP_MAP_FLOWS4: the same relay address in 8
 * bytes, which hash and compare faster than 20 on every packet.
 */
struct np_flow_key4 {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

/* Flow flags. */
#define NP_F_LATCH_PENDING (1u << 0) /* next accepted source fixes the reverse */
#define NP_F_STRICT_SOURCE (1u << 1) /* drop packets not from expect_* */
#define NP_F_LATCH_RESTRICTED (1u << 2) /* only expect_addr (any port) may latch */
#define NP_F_RTCP_MUX (1u << 3) /* RTCP shares this port (RFC 5761) */
#define NP_F_SET_DSCP (1u << 4) /* rewrite DSCP to .dscp */
#define NP_F_HAS_REVERSE (1u << 5) /* .reverse names the opposite flow */
/* The new destination is one of this proxy's relay addresses (two
 * terminals behind it calling each other): the relay looks it up as a flow
 * key and relays the packet again at once. Without the flag it does not
 * look, sparing every other packet a hash lookup that would miss. */
#define NP_F_HAIRPIN (1u << 6)
/* The flow's packets may arrive with a partial UDP checksum: the
 * pseudo-header sum a local sender leaves for the "hardware" to finish
 * (CHECKSUM_PARTIAL), which a veth hands on as it is. The relay checks the
 * checksum over the whole datagram, completes a partial one and drops a
 * wrong one (NP_DROP_CHECKSUM). Set for flows arriving on an interface with
 * NP_LINK_VERIFY_CSUM; without it the checksum is updated incrementally,
 * which is right for every packet a real NIC delivers. */
#define NP_F_CSUM_VERIFY (1u << 7)
/* Takeover, as RFC 7362 advises against media hijacking (the terminal's
 * own media, arriving late, wins over an early latch): while the flow is
 * latched onto a source whose address is not .home_saddr (the terminal's
 * signaling address), the first packet from .home_saddr, any port,
 * latches it again; the flag is cleared when that happens, so it happens
 * once, and no other address can ever move a latched flow. For
 * `latch: any`, where the first packet from anywhere latches. */
#define NP_F_LATCH_TAKEOVER (1u << 8)
/* RTCP latches with its RTP: the flow is RTP, and its RTCP arrives at
 * port + 1 of the same relay address (no rtcp-mux). Whenever this flow
 * latches onto a source, that flow may latch only from the source's
 * address (NP_F_LATCH_RESTRICTED, any port); one latched onto another
 * address is re-armed so, and its reverse loses its destination until
 * the terminal's RTCP latches it again. */
#define NP_F_RTCP_FOLLOWS (1u << 9)
#define NP_F_ALL ((1u << 10) - 1)
/* Set by ctl/flowtab.c in the map entry when .rate_bytes is not 0, never
 * by callers: the relay reads the rate (cold) only for flows with it. */
#define NP_F_POLICED (1u << 10)

enum np_vlan_action {
	NP_VLAN_KEEP = 0, /* leave any tag as it arrived */
	NP_VLAN_SET = 1, /* push a tag with .vlan_id, or replace the existing one */
	NP_VLAN_STRIP = 2, /* remove the tag if present */
};

/*
 * What to do with a packet that hits a key, as ctl/ sees it. Source and
 * destination are rewritten to new_*; the family never changes (no v4/v6
 * translation). The maps hold it as struct np_flow_entry (below), laid out
 * for the cache; ctl/flowtab.c converts between the two.
 */
struct np_flow {
	union np_addr new_saddr;
	union np_addr new_daddr;
	union np_addr expect_saddr; /* strict/restricted source, latched source */
	/* The terminal's signaling address (its NAT mapping's), for
	 * NP_F_LATCH_TAKEOVER; ctl/ sets it on every latching flow from a
	 * terminal. */
	union np_addr home_saddr;
	__be16 new_sport;
	__be16 new_dport; /* 0: destination not known yet, drop */
	__be16 expect_sport; /* 0: any port */
	__u16 vlan_id; /* host order, for NP_VLAN_SET */
	__u32 egress_ifindex; /* 0: wherever the FIB says */
	__u32 flags; /* NP_F_* */
	__u8 dscp; /* 0..63, with NP_F_SET_DSCP */
	__u8 vlan_action; /* enum np_vlan_action */
	__u8 pad[2];
	struct np_flow_key reverse; /* with NP_F_HAS_REVERSE */
	/* Index of the flow's entry in NP_MAP_COUNTERS, owned through
	 * NP_MAP_SLOTS; given by ctl/flowtab.c on install, callers' value
	 * ignored. */
	__u32 slot;
	__u32 pad2;
	__u64 rate_bytes; /* token bucket rate, bytes/s; 0: unlimited */
	__u64 burst_bytes; /* bucket depth */
};

/* Why a flow's packet was dropped; indexes np_counters.drops. */
#define NP_DROP_REASONS(X)                                                     \
	X(NP_DROP_SOURCE, "source")   /* strict source mismatch */             \
	X(NP_DROP_LATCH, "latch")     /* restricted latch refused */          \
	X(NP_DROP_RATE, "rate")       /* over the token bucket */             \
	X(NP_DROP_NO_DEST, "no-dest") /* destination not known yet */        \
	X(NP_DROP_CHECKSUM, "checksum") /* UDP checksum wrong on arrival */  \
	X(NP_DROP_XMIT, "xmit") /* sent on, dropped by the kernel */

#define NP_ENUM_ENTRY(name, text) name,
#define NP_NAME_ENTRY(name, text) [name] = text,
enum np_drop_reason { NP_DROP_REASONS(NP_ENUM_ENTRY) NP_DROP_MAX };

/*
 * A flow's counters as ctl/ reads them (np_counters_read): the entry's own
 * (np_flow_entry.packets, .bytes, .last_seen) plus every CPU's copy of
 * this struct in the per-CPU array NP_MAP_COUNTERS, at the flow's slot, where
 * the relay counts what the entry does not: drops by reason, RTCP, packets
 * handed to the kernel, first seen, and packets relayed by a CPU other than
 * the flow's owner (see np_flow_entry). A redirect the kernel refused is
 * taken back there too, so a CPU's copy of packets or bytes can be "negative"
 * (wrapped): only the sum, modulo 2^64, means anything. Times are
 * CLOCK_MONOTONIC nanoseconds (coarse); last_seen_ns of a CPU's copy is
 * when that CPU last relayed the flow without owning it.
 */
struct np_counters {
	__u64 packets; /* relayed: sent on by XDP or handed to the kernel */
	__u64 bytes; /* relayed, IP header and payload as received */
	__u64 rtcp_packets; /* of those, RTCP on an rtcp-mux flow */
	__u64 to_kernel; /* rewritten but handed to the kernel (no neighbour) */
	__u64 drops[NP_DROP_MAX];
	__u64 first_seen_ns;
	__u64 last_seen_ns;
};

/*
 * NP_MAP_COLD_SLOTS: a bit per slot, set by the relay (an atomic or, once)
 * before it first adds to any CPU's np_counters at the slot other than
 * first_seen_ns: a packet relayed by a CPU that does not own the flow,
 * RTCP, one handed to the kernel, a drop, a frame taken back. A flow whose
 * packets all went by its owner (every RTP flow on a NIC that keeps a
 * flow on one queue) never sets it, and ctl/ sums only the entry's
 * counts when its flow ends, with no system call for the per-CPU ones.
 * ctl/ clears the bit when it zeroes the slot's counters for a new flow.
 * An array of words, mmapable; word slot / 64, bit slot % 64.
 */
static inline __u32 np_cold_word(__u32 slot)
{
	return slot / 64;
}

static inline __u64 np_cold_bit(__u32 slot)
{
	return 1ull << (slot % 64);
}

/*
 * A flow in NP_MAP_FLOWARR4, NP_MAP_FLOWS4 or NP_MAP_FLOWS6: struct np_flow
 * rearranged so that a relayed IPv4 packet reads and writes its first 64
 * bytes, one cache line, and nothing else of the flow's.
 *
 * IPv4 flows sit in an array (NP_MAP_FLOWARR4) at np_flow4_index() of their
 * relay address and port, found without a hash: no bucket to read, and the
 * flows of one address's ports side by side in memory as natproxyd hands
 * the ports out. The entry carries its key (key_addr, key_port, key_live),
 * which the relay compares with the packet's as one 8-byte word; an index
 * that holds another flow, or none, sends the relay to NP_MAP_FLOWS4, the
 * hash of the IPv4 flows whose index was taken. IPv6 flows are in the hash
 * NP_MAP_FLOWS6. Entries in a hash leave the key fields unread. Array
 * elements are 192 bytes from a page-aligned start, so each is three whole
 * cache lines, and line 0 of consecutive entries falls at offsets 0, 192,
 * 128 and 64 modulo 256 in turn: the hot lines spread over all of a
 * cache's sets (with a 256-byte stride they shared a quarter of them):
 *
 *   line 0: key, flags (with VLAN action, DSCP and the owner CPU),
 *   rewrite, latch state, next hop, last_seen, packets, bytes: every
 *   relayed packet, and only this
 *   line 1: slot (hash entries; an array entry's slot is its index),
 *   egress override, policer's rate, takeover address, VLAN id, the
 *   reverse key (some packets: a latch, a new next hop, policing)
 *   line 2: IPv6 addresses
 *
 * To fit one line: the VLAN action and DSCP live in the flags word
 * (NP_FLOW_VLAN_SHIFT, NP_FLOW_DSCP_SHIFT); last_seen is a 32-bit stamp of
 * the coarse clock (NP_LAST_SEEN_SHIFT), which also dates the cached next
 * hop (np_stamp_epoch), so the hop needs no epoch of its own; the cached
 * egress is 16 bits wide (a next hop out of an interface whose index is
 * larger is not cached: the FIB is asked for every packet); the relay
 * takes an array flow's slot from the index it found it at.
 *
 * Counters: a flow's packets arrive on one CPU (the NIC hashes the 5-tuple
 * to a queue, the queue's interrupt to a CPU; a veth delivers on the
 * sender's CPU), so that CPU owns the flow: it claims the flow with a
 * compare-and-swap on the first packet it relays (owner 0: none) and from
 * then on adds to packets and bytes here and stamps last_seen with plain
 * stores, which only it does. Any other CPU counts, and stamps
 * last_seen_ns, in its own per-CPU struct np_counters at the slot: exact,
 * never an atomic on the hot line, and a line more only for a flow that
 * really is split across CPUs. Shared counters with atomic adds would cost
 * two locked instructions per packet (a full barrier each, waiting for the
 * packet's own stores); per-CPU counters alone were the third and fourth
 * cache lines per packet this layout removes. last_seen means something
 * once packets is not 0 (only the owner adds to either). An array flow's
 * slot is its index (ctl/flowtab.c claims both at once), which ctl/ also
 * stores in slot.
 */
struct np_flow_entry {
	/* Line 0. The key, in the array only: one word to compare. */
	__be32 key_addr;
	__be16 key_port;
	__u16 key_live; /* NP_FLOW_LIVE: the index holds this flow */
	/* NP_F_*, NP_F_POLICED, VLAN action, DSCP, owner CPU + 1 (see
	 * NP_FLOW_OWNER_SHIFT) */
	__u32 flags;
	__be32 new_saddr4; /* IPv4 flows; IPv6 ones use new_saddr6 */
	__be32 new_daddr4;
	__be16 new_sport; /* read together with new_dport as one word */
	__be16 new_dport; /* 0: destination not known yet, drop */
	__be32 expect_saddr4;
	__be16 expect_sport; /* 0: any port */
	/*
	 * The next hop the FIB last gave for the flow (after the rewrite):
	 * valid while nh_ifindex is set and last_seen is of this epoch of the
	 * coarse clock (np_stamp_epoch, about a second): the owner asks the
	 * FIB again with the first packet of every epoch, so a neighbour's
	 * new MAC, a route change or a vanished neighbour take effect within
	 * that; a latch that moves the destination clears it.
	 */
	__u16 nh_ifindex; /* where the packet leaves: the egress override, else the FIB's */
	__u8 nh_dmac[6];
	__u8 nh_smac[6];
	__u32 last_seen; /* np_last_seen_stamp() of the owner's last packet */
	__u64 packets; /* relayed by the owner CPU */
	__u64 bytes;
	/* Line 1: only for some packets from here on. */
	__u32 slot; /* as np_flow.slot: this flow's NP_MAP_COUNTERS entry */
	__u32 egress_ifindex; /* read when the next hop is resolved */
	__u64 rate_bytes; /* with NP_F_POLICED */
	__u64 burst_bytes;
	union np_addr home_saddr; /* NP_F_LATCH_TAKEOVER */
	__u16 vlan_id; /* with NP_VLAN_SET */
	__u16 pad;
	struct np_flow_key reverse; /* NP_F_HAS_REVERSE, when latching */
	/* Line 2. */
	union np_addr new_saddr6; /* IPv6 flows */
	union np_addr new_daddr6;
	union np_addr expect_saddr6;
	__u8 pad1[16]; /* to 192 bytes: whole lines in the array */
};

/* np_flow_entry.key_live of an array entry holding a flow. */
#define NP_FLOW_LIVE 1

/*
 * Where the IPv4 flow of relay address addr, port port (both host order)
 * sits in NP_MAP_FLOWARR4 of n entries, a power of two: the address's low
 * bits above the whole port. The ports of one address lie side by side,
 * and n / 65536 addresses (16 at 2^20 flows) each have a range of their
 * own; below 65536 entries, ports equal modulo n share an index, and the
 * later flow goes to NP_MAP_FLOWS4.
 */
static inline __u32 np_flow4_index(__u32 addr, __u16 port, __u32 n)
{
	return (addr << 16 | port) & (n - 1);
}

/*
 * The flags word of an entry (np_flow_entry.flags): NP_F_* in bits 0-10,
 * then what ctl/flowtab.c folds into it from struct np_flow, so that the
 * relay finds it in the word it reads anyway, and the owner CPU + 1, which
 * the relay claims (0: none). CPUs from 8191 up cannot be named there and
 * relay as guests (NR_CPUS is at most 8192).
 */
#define NP_FLOW_VLAN_SHIFT 11 /* 2 bits: enum np_vlan_action */
#define NP_FLOW_VLAN_MASK (3u << NP_FLOW_VLAN_SHIFT)
#define NP_FLOW_DSCP_SHIFT 13 /* 6 bits: np_flow.dscp, with NP_F_SET_DSCP */
#define NP_FLOW_DSCP_MASK (63u << NP_FLOW_DSCP_SHIFT)
#define NP_FLOW_OWNER_SHIFT 19 /* 13 bits: owner CPU + 1 */
#define NP_FLOW_OWNER_MASK 0xfff80000u
/* What ctl/flowtab.c puts in the word besides np_flow.flags. */
#define NP_FLOW_ENTRY_BITS                                                     \
	(NP_F_POLICED | NP_FLOW_VLAN_MASK | NP_FLOW_DSCP_MASK | NP_FLOW_OWNER_MASK)

/*
 * np_flow_entry.last_seen: the coarse clock in units of 2^20 ns (1.05 ms),
 * its low 32 bits, which wrap every 52 days. Read back relative to now:
 * the latest time at or before now with those bits; a stamp up to a
 * minute ahead (a clock read a tick apart) is taken as now.
 */
#define NP_LAST_SEEN_SHIFT 20
static inline __u32 np_last_seen_stamp(__u64 ns)
{
	return (__u32)(ns >> NP_LAST_SEEN_SHIFT);
}

static inline __u64 np_last_seen_ns(__u32 stamp, __u64 now_ns)
{
	__u32 ago = np_last_seen_stamp(now_ns) - stamp;

	if (ago >= 0xffff0000u) /* ahead by at most 2^16 units (69 s) */
		return now_ns;
	return ((now_ns >> NP_LAST_SEEN_SHIFT) - ago) << NP_LAST_SEEN_SHIFT;
}

/* A next hop is good for the epoch of the coarse clock it was resolved in:
 * ns >> 30, 1.07 s, which the relay reads off last_seen (the stamp >> 10). */
#define NP_NEXTHOP_EPOCH_SHIFT 30
static inline __u32 np_stamp_epoch(__u32 stamp)
{
	return stamp >> (NP_NEXTHOP_EPOCH_SHIFT - NP_LAST_SEEN_SHIFT);
}

/*
 * The relay's per-CPU copy of the coarse clock (bpf_ktime_get_coarse_ns),
 * read again only when jiffies moved: both advance once per tick, and
 * bpf_jiffies64 is inlined, while the clock is a helper call whose return
 * is costly under return-thunk mitigations. It may lag by one tick.
 */
struct np_clock {
	__u64 jiffies;
	__u64 coarse_ns;
};

/*
 * What this CPU's relay sent since the kernel last flushed it: a ring of
 * the frames it redirected or sent back by XDP_TX, newest at next - 1. A
 * redirect or XDP_TX is only a request: the kernel queues the frame (per
 * CPU and target, up to 16) and hands the queue to the driver when it is
 * full or the poll ends, and a driver that cannot take them all drops the
 * last ones. The xdp tracepoints say how many, on this CPU; the relay's
 * tracers there take exactly those frames back off their flows' counters:
 * what was not sent is never billed. A record is settled (kind 0) once its
 * flush was seen.
 */
#define NP_XMIT_LOG_LEN 64 /* a power of two; frames pending at once */
enum np_xmit_kind { NP_XMIT_SETTLED, NP_XMIT_REDIRECT, NP_XMIT_TX };
struct np_xmit_rec {
	__u32 ifindex; /* the interface it is to leave by */
	__u32 slot; /* its flow's */
	__u16 len; /* as counted */
	__u8 kind; /* enum np_xmit_kind */
	__u8 rtcp;
	__u32 pad;
};
struct np_xmit_log {
	__u32 next;
	__u32 pad[3];
	struct np_xmit_rec rec[NP_XMIT_LOG_LEN];
};

/*
 * What the relay writes into the headroom just in front of a packet it
 * hands to the kernel (the bytes before its Ethernet header, which the skb
 * keeps): should the kernel drop the packet rather than forward it, the
 * relay's tracer takes it back off the flow. Written there, not as XDP
 * metadata, because some kernels refuse bpf_xdp_adjust_meta to XDP
 * programs. Headroom is not cleared between packets, so a mark is only
 * believed with its packet: udp is a copy of the UDP header as the relay
 * sent it, at udp_off bytes after the Ethernet header; and a packet the
 * relay passes unmarked gets an empty one (magic 0). The skb keeps the
 * mark into the next namespace too (a veth's peer; another natproxy's on
 * a bridge): netns says whose it is.
 */
#define NP_KERNEL_MARK_MAGIC 0x6e704b32u /* "npK2" */
struct np_kernel_mark {
	__u32 magic;
	__u32 slot;
	__u32 len; /* as counted */
	__u8 rtcp;
	__u8 pad;
	__u16 udp_off;
	__u64 netns; /* the relay's network namespace (SO_NETNS_COOKIE) */
	__u8 udp[8];
};

/* Token bucket state for a rate-limited flow, shared by all CPUs. */
struct np_police {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tokens; /* bytes */
	__u64 last_ns;
};

/*
 * Every exit of the program, with its reason; indexes the per-CPU array
 * NP_MAP_VERDICTS. Names are printed by ctl/ from the same list.
 */
#define NP_VERDICTS(X)                                                         \
	X(NP_V_PASS_NOT_IP, "pass-not-ip")                                     \
	X(NP_V_PASS_MALFORMED, "pass-malformed")                               \
	X(NP_V_PASS_FRAGMENT, "pass-fragment")                                 \
	X(NP_V_PASS_IP_OPTIONS, "pass-ip-options")                             \
	X(NP_V_PASS_NOT_UDP, "pass-not-udp")                                   \
	X(NP_V_PASS_NO_FLOW, "pass-no-flow")                                   \
	X(NP_V_PASS_TTL, "pass-ttl-expired")                                   \
	X(NP_V_PASS_NO_NEIGH, "pass-no-neighbour")                             \
	X(NP_V_PASS_NO_ROUTE, "pass-no-route")                                 \
	/* egress not attached, or XDP cannot deliver through it */           \
	X(NP_V_PASS_EGRESS, "pass-egress-by-kernel")                        \
	X(NP_V_TX, "tx")                                                       \
	X(NP_V_REDIRECT, "redirect")                                           \
	X(NP_V_DROP_SOURCE, "drop-source")                                     \
	X(NP_V_DROP_LATCH, "drop-latch")                                       \
	X(NP_V_DROP_RATE, "drop-rate")                                         \
	X(NP_V_DROP_NO_DEST, "drop-no-dest")                                   \
	X(NP_V_DROP_VLAN, "drop-vlan-failed")                                  \
	X(NP_V_DROP_CHECKSUM, "drop-checksum")                                 \
	X(NP_V_PASS_UNVERIFIED, "pass-too-long-to-verify")                     \
	X(NP_V_DROP_XMIT, "drop-xmit")                                         \
	/* signaling (bpf/guard.h): a known source, an unknown one within */ \
	/* its bucket, a blocked one, an unknown one over the bucket */      \
	X(NP_V_PASS_SIG_KNOWN, "pass-signaling-known")                         \
	X(NP_V_PASS_SIG_UNKNOWN, "pass-signaling-unknown")                     \
	X(NP_V_DROP_BLOCKED, "drop-blocked-source")                            \
	X(NP_V_DROP_UNKNOWN_RATE, "drop-unknown-over-rate")

enum np_verdict { NP_VERDICTS(NP_ENUM_ENTRY) NP_V_MAX };

/* Link flags (struct np_link). */
/* XDP_TX and redirects out of the interface are delivered: the driver
 * implements ndo_xdp_xmit (for a veth: its peer runs XDP or GRO), or the
 * relay runs in generic mode. Without it, media leaving by the interface is
 * handed to the kernel, which forwards it. */
#define NP_LINK_XMIT (1u << 0)
/* Packets with a partial UDP checksum can arrive (a software device). */
#define NP_LINK_VERIFY_CSUM (1u << 1)
/* Attached in generic (skb) mode: a packet keeps its skb, and with it the
 * kernel's note that its checksum is partial, whichever way it leaves. */
#define NP_LINK_GENERIC (1u << 2)
/* Send back out of this interface by redirect, not XDP_TX: a veth wakes
 * its peer for XDP_TX frames only when the peer runs XDP itself, while a
 * redirect delivers to a peer with GRO too. */
#define NP_LINK_TX_BY_REDIRECT (1u << 3)
/* Frames XDP sent out of it were dropped (NP_MAP_XMIT_DROPS): media
 * leaves by the kernel from then on, until the interface is attached
 * again. */
#define NP_LINK_XMIT_FAILED (1u << 4)

/* What the control plane found an attached interface able to do. */
struct np_link {
	__u32 flags; /* NP_LINK_* */
	__u32 xmit_drops_seen; /* NP_MAP_XMIT_DROPS when last looked at */
};

/* What a latch event reports (struct np_latch_event.kind). */
enum np_latch_kind {
	NP_LATCH_FIRST = 0, /* the first accepted packet latched the flow */
	NP_LATCH_TAKEOVER = 1, /* NP_F_LATCH_TAKEOVER: home took it back */
};

/* Ring buffer record: a flow latched onto a source (first-packet refresh). */
struct np_latch_event {
	struct np_flow_key key; /* the flow that saw the packet */
	union np_addr source;
	__be16 sport;
	__u8 kind; /* enum np_latch_kind; was padding, 0, before ABI 4 */
	__u8 pad;
	__u64 time_ns;
};

/*
 * The signaling guard. Datagrams to one of natproxyd's signaling sockets
 * (NP_MAP_SIG_PORTS, keyed by its local address and port) that no flow
 * claims are checked against their source before the kernel sees them:
 * a source natproxyd blocked is dropped while its entry lasts; a known
 * one (a terminal's NAT mapping, or a whole address) passes; any other
 * passes only while the socket's bucket in NP_MAP_BUCKETS has tokens.
 */
struct np_sig_port {
	__u32 bucket; /* index into NP_MAP_BUCKETS */
	__u32 pad;
};

/*
 * A source as the guard looks it up. A mapping: prefix_len the whole
 * address (32 or 128) and its port; an address: the same with port 0; a
 * prefix: prefix_len 24 (IPv4) or 64 (IPv6), port 0, host bits zero.
 */
struct np_source_key {
	__u8 family; /* NP_AF_INET or NP_AF_INET6 */
	__u8 prefix_len;
	__be16 port;
	union np_addr addr;
};

#define NP_GUARD_PREFIX4 24
#define NP_GUARD_PREFIX6 64

/* A blocked source: dropped until until_ns (coarse CLOCK_MONOTONIC);
 * after that it passes again, and natproxyd deletes the entry. */
struct np_block {
	__u64 until_ns;
};

/* A known source: never held back by the bucket. */
struct np_known {
	__u32 flags; /* none yet */
	__u32 pad;
};

/*
 * Token bucket of unknown sources, shared by all CPUs. natproxyd writes
 * rate and burst (and a full bucket); the relay keeps tokens in
 * datagram-nanoseconds (one datagram costs NSEC_PER_SEC), so that a refill
 * is a multiplication. rate 0: unknown sources are not limited.
 */
struct np_sig_bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 rate; /* datagrams per second */
	__u64 burst; /* datagrams */
	__u64 tokens; /* datagram-nanoseconds */
	__u64 last_ns;
};

#define NP_GUARD_MAX_RATE 10000000 /* keeps tokens far from overflowing */

_Static_assert(sizeof(union np_addr) == 16, "np_addr layout");
_Static_assert(sizeof(struct np_flow_key) == 20, "np_flow_key layout");
_Static_assert(sizeof(struct np_flow_key4) == 8, "np_flow_key4 layout");
_Static_assert(sizeof(struct np_flow) == 128, "np_flow layout");
/* Whole lines in the array; all a relayed IPv4 packet touches in line 0;
 * the key one aligned word. */
_Static_assert(sizeof(struct np_flow_entry) == 192, "np_flow_entry layout");
_Static_assert(__builtin_offsetof(struct np_flow_entry, flags) == 8 &&
		       __builtin_offsetof(struct np_flow_entry, last_seen) == 44 &&
		       __builtin_offsetof(struct np_flow_entry, packets) == 48 &&
		       __builtin_offsetof(struct np_flow_entry, bytes) == 56 &&
		       __builtin_offsetof(struct np_flow_entry, slot) == 64 &&
		       __builtin_offsetof(struct np_flow_entry, reverse) == 108 &&
		       __builtin_offsetof(struct np_flow_entry, new_saddr6) == 128,
	       "np_flow_entry hot line");
/* The flags word's parts do not overlap. */
_Static_assert((NP_F_ALL & NP_FLOW_ENTRY_BITS) == 0 &&
		       NP_F_POLICED < (1u << NP_FLOW_VLAN_SHIFT) &&
		       (NP_FLOW_VLAN_MASK & NP_FLOW_DSCP_MASK) == 0 &&
		       ((NP_FLOW_VLAN_MASK | NP_FLOW_DSCP_MASK) &
			NP_FLOW_OWNER_MASK) == 0 &&
		       NP_FLOW_OWNER_MASK >> NP_FLOW_OWNER_SHIFT == 0x1fff,
	       "np_flow_entry flags word");
/* The relay reads both ports as one word. */
_Static_assert(__builtin_offsetof(struct np_flow_entry, new_dport) ==
		       __builtin_offsetof(struct np_flow_entry, new_sport) + 2 &&
	       __builtin_offsetof(struct np_flow_entry, new_sport) % 4 == 0,
	       "np_flow_entry ports");
_Static_assert(sizeof(struct np_link) == 8, "np_link layout");
_Static_assert(sizeof(struct np_counters) == 8 * (6 + NP_DROP_MAX),
	       "np_counters layout");
_Static_assert(sizeof(struct np_xmit_rec) == 16, "np_xmit_rec layout");
_Static_assert(sizeof(struct np_kernel_mark) == 32, "np_kernel_mark layout");
_Static_assert((NP_XMIT_LOG_LEN & (NP_XMIT_LOG_LEN - 1)) == 0, "np_xmit_log ring");
_Static_assert(sizeof(struct np_police) == 24, "np_police layout");
_Static_assert(sizeof(struct np_clock) == 16, "np_clock layout");
_Static_assert(sizeof(struct np_latch_event) == 48, "np_latch_event layout");
_Static_assert(sizeof(struct np_sig_port) == 8, "np_sig_port layout");
_Static_assert(sizeof(struct np_source_key) == 20, "np_source_key layout");
_Static_assert(sizeof(struct np_block) == 8, "np_block layout");
_Static_assert(sizeof(struct np_known) == 8, "np_known layout");
_Static_assert(sizeof(struct np_sig_bucket) == 40, "np_sig_bucket layout");

#endif
