// SPDX-License-Identifier: GPL-2.0-only
/*
 * The relay's cost per packet, for `make bench` (never CI): the XDP program
 * is run by bpf_prog_test_run_opts with a repeat count on one 200-byte
 * IPv4/UDP RTP packet that hits a realistic flow (strict source, DSCP,
 * reverse key), with 1k, 100k and 1M entries in the flow map, beside two
 * floors run the same way: parse + XDP_TX, and parse + one hash lookup +
 * XDP_TX. The full path is measured twice: with an ingress interface whose
 * FIB lookup resolves a neighbour (XDP_TX, what a relayed packet costs) and
 * from the loopback ingress of a plain test run, where the neighbour is
 * missing and the rewritten packet passes to the kernel. Each row is the
 * best of several runs pinned to one CPU; every repeat is checked to have
 * taken the path its row names. A third relay row walks a ring through
 * every flow in the map, each packet another flow (the cache misses of a
 * relay with that many busy streams). Prints a table with ratios, the
 * memory per flow, and writes the table as JSON. bench/run.sh provides the
 * network namespace, the interface and its neighbours.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowtab.h"
#include "json.h"
#include "log.h"
#include "natproxy.h"
#include "pins.h"
#include "rtp_frame.h"
#include "floors.skel.h"
#include "relay.skel.h"

#define IP_LEN RTP_IP_LEN
#define FRAME_LEN RTP_FRAME_LEN
#define PKT_TTL 255
#define PKT_DSCP 46 /* EF */
#define TARGET_NS 35.0
#define MAX_RUNS 20
#define NSIZES 3
#define FILL_CHUNK 65536
#define RELAY_ADDR "203.0.113.1"
#define NEIGH_MAC_A "\x02\x00\x00\x00\x00\x20" /* run.sh: 203.0.113.20 */

static const __u32 sizes[NSIZES] = { 1000, 100000, NP_MAX_FLOWS };

#define NP_NAME_ENTRY(name, text) [name] = text,
static const char *const verdict_names[NP_V_MAX] = {
	NP_VERDICTS(NP_NAME_ENTRY)
};

struct endpoint {
	const char *addr;
	__u16 port;
};

/*
 * Two flows that turn a packet into each other, so a test run that reuses
 * its buffer across repeats hits a flow on every repeat. Packet 1 goes
 * a -> b; flow 1 (key b) expects a and rewrites to relay -> a2; flow 2 (key
 * a2) expects relay and rewrites back to a -> b. Both destinations are FIB
 * lookups: with neighbours for them the path ends in XDP_TX.
 *
 * Neither flow has NP_F_HAIRPIN, so the relay does not look the new
 * destination up as a flow key after the rewrite; were it to, it would
 * apply flow 2 at once, which probe() catches. measure() checks that each
 * repeat counted exactly one flow.
 */
struct cycle {
	struct endpoint a, b, relay, a2;
	struct np_flow_key key[2];
	struct np_flow flow[2];
	__u8 pkt[FRAME_LEN];
};

enum row_kind {
	ROW_FLOOR_TX,
	ROW_FLOOR_LOOKUP,
	ROW_RELAY_TX,
	ROW_RELAY_TX_VERIFY, /* the same, flows with NP_F_CSUM_VERIFY */
	ROW_RELAY_REDIRECT, /* the same flows, arriving on the -H interface */
	ROW_RELAY_PASS,
	ROW_RELAY_RING, /* every packet another flow of the ring */
};

struct row {
	const char *name;
	enum row_kind kind;
	__u32 entries; /* 0: no map involved */
	int prog_fd;
	__u32 ifindex; /* 0: test_run's default, loopback */
	const struct cycle *cycle;
	const __u8 *pkt;
	__u32 expect_retval;
	int expect_verdict; /* -1 for the floors, which count nothing */
	int also_verdict; /* another acceptable one, or -1 */
	__u32 per_call; /* repeats per test_run call */
	int runs;
	double ns[MAX_RUNS];
	double best;
	int verdict; /* the verdict every repeat took, or -1 */
	bool ok; /* every repeat took the expected path */
};

struct map_mem {
	const char *name;
	int fd;
	__u32 key_size, value_size, max_entries;
	unsigned long long memlock;
};

struct bench {
	__u32 repeat;
	int runs;
	int cpu;
	const char *ifname;
	__u32 ifindex;
	const char *hold_name;
	__u32 hold_ifindex; /* the relay is attached here, idle, when set */
	__u32 hold_flags; /* XDP_FLAGS_* it was attached with, 0 if not */
	__u32 max_per_call; /* 0, or a cap on repeats per call, relay rows */
	const char *out_dir;
	bool reused; /* test_run reuses its buffer across repeats */
	bool keep_going; /* a failed rewrite check only warns (variants) */
	struct relay_bpf *relay;
	struct floors_bpf *floors;
	struct np_maps maps;
	int floor_map_fd;
	int ncpu;
	struct cycle tx, pass;
	__u32 filled_relay, filled_floor; /* filler entries so far */
	__u32 hashed; /* of the relay's, those whose index was taken */
	struct row rows[1 + 6 * NSIZES]; /* the floor, then six rows a size */
	__u8 ring_pkt[FRAME_LEN]; /* the ring row's packet, per call */
	int nrows;
	struct map_mem mem[5];
};

static __be32 ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "xdp_cost: bad address %s\n", s);
		exit(1);
	}
	return a.s_addr;
}

static void key4(struct np_flow_key *k, const struct endpoint *e)
{
	memset(k, 0, sizeof(*k));
	k->family = NP_AF_INET;
	k->port = htons(e->port);
	k->addr.v4 = ip4(e->addr);
}

static void build_packet(__u8 *buf, const struct endpoint *src,
			 const struct endpoint *dst)
{
	rtp_frame4(buf, (const __u8 *)NEIGH_MAC_A, ip4(src->addr),
		   htons(src->port), ip4(dst->addr), htons(dst->port), PKT_TTL);
}

static void build_cycle(struct cycle *c)
{
	struct np_flow *f;
	int i;

	key4(&c->key[0], &c->b);
	key4(&c->key[1], &c->a2);
	for (i = 0; i < 2; i++) {
		f = &c->flow[i];
		memset(f, 0, sizeof(*f));
		f->flags = NP_F_STRICT_SOURCE | NP_F_SET_DSCP |
			   NP_F_HAS_REVERSE;
		f->dscp = PKT_DSCP;
		f->vlan_action = NP_VLAN_KEEP;
		f->reverse = c->key[!i];
	}
	f = &c->flow[0];
	f->expect_saddr.v4 = ip4(c->a.addr);
	f->expect_sport = htons(c->a.port);
	f->new_saddr.v4 = ip4(c->relay.addr);
	f->new_sport = htons(c->relay.port);
	f->new_daddr.v4 = ip4(c->a2.addr);
	f->new_dport = htons(c->a2.port);
	f = &c->flow[1];
	f->expect_saddr.v4 = ip4(c->relay.addr);
	f->expect_sport = htons(c->relay.port);
	f->new_saddr.v4 = ip4(c->a.addr);
	f->new_sport = htons(c->a.port);
	f->new_daddr.v4 = ip4(c->b.addr);
	f->new_dport = htons(c->b.port);
	build_packet(c->pkt, &c->a, &c->b);
}

/* Filler i: one of 50,000 ports on one of 21 relay addresses. */
static void filler_key(__u32 i, struct np_flow_key4 *k)
{
	memset(k, 0, sizeof(*k));
	k->port = htons(10000 + i % 50000);
	k->addr = htonl(0xc0a80101 + i / 50000); /* 192.168.1.1 on */
}

/*
 * The ring: filler i rewrites the packet to filler next(i)'s key, next(i) =
 * (i + stride) mod n, so a test run walks from flow to flow through the
 * whole map in an order unrelated to where the entries lie in memory. The
 * fillers' addresses (192.168.1.1 on) have neighbours (run.sh), so every
 * step leaves by XDP_TX. Each filler has a slot of its own, as a flow of
 * natproxy's has, none of the measured flows'.
 */
#define RING_SRC "198.51.100.1"
#define RING_SPORT 30000
static __u32 ring_n = 1, ring_stride = 1;
static __u32 cycle_slots[4];

static __u32 ring_next(__u32 i, __u32 steps)
{
	return (__u32)(((__u64)i + (__u64)steps * ring_stride) % ring_n);
}

static __u32 gcd(__u32 a, __u32 b)
{
	while (b) {
		__u32 t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static void ring_size(__u32 n)
{
	ring_n = n;
	for (ring_stride = 7919; gcd(ring_stride, n) != 1; ring_stride += 2)
		;
}

static __u32 ring_slot(__u32 i)
{
	__u32 s = i, k;

	for (k = 0; k < 4; k++)
		if (s == cycle_slots[k]) {
			s = (s + NP_MAX_FLOWS / 2) % NP_MAX_FLOWS;
			k = (__u32)-1; /* check the new one against all */
		}
	return s;
}

/* Filler i as the map holds it (struct np_flow_entry). */
static void filler_flow(__u32 i, void *value)
{
	struct np_flow_entry *f = value;
	struct np_flow_key4 next;

	filler_key(ring_next(i, 1), &next);
	memset(f, 0, sizeof(*f));
	f->flags = NP_F_STRICT_SOURCE | NP_F_SET_DSCP |
		   PKT_DSCP << NP_FLOW_DSCP_SHIFT;
	f->expect_saddr4 = ip4(RING_SRC);
	f->expect_sport = htons(RING_SPORT);
	f->new_saddr4 = ip4(RING_SRC);
	f->new_sport = htons(RING_SPORT);
	f->new_daddr4 = next.addr;
	f->new_dport = next.port;
	f->slot = ring_slot(i);
}

/* The ring row's packet to the flow `steps` along the ring from filler 0. */
static void ring_packet(struct bench *b, __u64 steps)
{
	struct np_flow_key4 k;
	struct endpoint src = { RING_SRC, RING_SPORT }, dst;
	char addr[INET_ADDRSTRLEN];

	filler_key(ring_next(0, (__u32)(steps % ring_n)), &k);
	inet_ntop(AF_INET, &k.addr, addr, sizeof(addr));
	dst.addr = addr;
	dst.port = ntohs(k.port);
	build_packet(b->ring_pkt, &src, &dst);
}

/*
 * The relay's array entry for filler key k when it is free or already k's
 * (written there by an earlier fill), as np_flow_install places a flow;
 * NULL when another flow holds the index: k goes to the hash.
 */
static struct np_flow_entry *filler_cell(const struct np_maps *maps,
					 const struct np_flow_key4 *k)
{
	struct np_flow_entry *c;

	if (!maps || !maps->flowarr4_n)
		return NULL;
	c = (struct np_flow_entry *)maps->flowarr4 +
	    np_flow4_index(ntohl(k->addr), ntohs(k->port), maps->flowarr4_n);
	if (c->key_live == NP_FLOW_LIVE &&
	    (c->key_addr != k->addr || c->key_port != k->port))
		return NULL;
	return c;
}

/*
 * Writes fillers [from, to): those whose index in the relay's flow array
 * (arr; NULL for the floor) is free there, the others to the hash map fd
 * keyed by struct np_flow_key4. The number that went to the hash adds to
 * *hashed.
 */
static int fill_map(int fd, const struct np_maps *arr, __u32 from, __u32 to,
		    void (*value)(__u32 i, void *v), size_t value_size,
		    __u32 *hashed)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts); /* elem_flags: BPF_F_LOCK only */
	struct np_flow_key4 *keys;
	struct np_flow_entry *cell;
	__u32 i, j, n, m, count;
	char *values;
	int err = 0;

	keys = calloc(FILL_CHUNK, sizeof(*keys));
	values = malloc((size_t)FILL_CHUNK * value_size);
	if (!keys || !values) {
		err = -ENOMEM;
		goto out;
	}
	for (i = from; i < to; i += n) {
		n = to - i < FILL_CHUNK ? to - i : FILL_CHUNK;
		for (j = m = 0; j < n; j++) {
			filler_key(i + j, &keys[m]);
			value(i + j, values + (size_t)m * value_size);
			cell = filler_cell(arr, &keys[m]);
			if (!cell) {
				m++;
				continue;
			}
			/* As ctl/flowtab.c writes one: the key live last. */
			memcpy(cell, values + (size_t)m * value_size,
			       sizeof(*cell));
			cell->key_addr = keys[m].addr;
			cell->key_port = keys[m].port;
			__atomic_store_n(&cell->key_live, NP_FLOW_LIVE,
					 __ATOMIC_RELEASE);
		}
		count = m;
		if (hashed)
			*hashed += m;
		if (m && bpf_map_update_batch(fd, keys, values, &count, &opts)) {
			err = -errno;
			fprintf(stderr,
				"xdp_cost: batch update at %u (+%u of %u): %s\n",
				i, count, m, strerror(errno));
			goto out;
		}
	}
out:
	free(keys);
	free(values);
	return err;
}

/*
 * Fills the relay's flows and the floor's map to n entries. The relay's
 * fillers are written again from the first, as the ring's length changed;
 * they claim no slot (the counters array has every slot whatever the
 * fill).
 */
static int fill_to(struct bench *b, __u32 n)
{
	__u32 relay_to = n - 4, floor_to = n - 1; /* hot entries count too */
	int err;

	ring_size(relay_to);
	b->hashed = 0;
	err = fill_map(b->maps.fd[NP_FLOWS4], &b->maps, 0, relay_to,
		       filler_flow, sizeof(struct np_flow_entry), &b->hashed);
	if (!err)
		err = fill_map(b->floor_map_fd, NULL, b->filled_floor,
			       floor_to, filler_flow,
			       sizeof(struct np_flow_entry), NULL);
	if (err)
		return err;
	b->filled_relay = relay_to;
	b->filled_floor = floor_to;
	return 0;
}

static int test_run(int prog_fd, const void *pkt, __u32 ifindex,
		    __u32 repeat, void *out, __u32 *retval, __u32 *duration)
{
	struct xdp_md md = { .data_end = FRAME_LEN, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt,
		    .data_size_in = FRAME_LEN, .repeat = repeat);
	if (ifindex) {
		opts.ctx_in = &md;
		opts.ctx_size_in = sizeof(md);
	}
	if (out) {
		opts.data_out = out;
		opts.data_size_out = FRAME_LEN;
	}
	if (bpf_prog_test_run_opts(prog_fd, &opts)) {
		fprintf(stderr, "xdp_cost: test run: %s\n", strerror(errno));
		return -errno;
	}
	if (out && opts.data_size_out != FRAME_LEN)
		return -EMSGSIZE;
	*retval = opts.retval;
	if (duration)
		*duration = opts.duration;
	return 0;
}

static int counters_sum(const struct bench *b, const struct cycle *c,
			struct np_counters *sum)
{
	struct np_counters one;
	int i, err;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < 2; i++) {
		err = np_counters_read(&b->maps, &c->key[i], &one);
		if (err)
			return err;
		sum->packets += one.packets;
		sum->to_kernel += one.to_kernel;
	}
	return 0;
}

/* Installs the forwarding cycle's flows again with flags added (or not):
 * each keeps its slot, counters and next hop. */
static int cycle_flags(struct bench *b, struct cycle *c, __u32 extra)
{
	struct np_flow f;
	int i, err;

	for (i = 0; i < 2; i++) {
		f = c->flow[i];
		f.flags |= extra;
		err = np_flow_install(&b->maps, &c->key[i], &f);
		if (err)
			return err;
	}
	return 0;
}

/* Best of r->runs runs of b->repeat packets each, with every repeat checked. */
static int measure(struct bench *b, struct row *r)
{
	__u64 before[NP_V_MAX], after[NP_V_MAX], total, delta;
	struct np_counters cbefore = {}, cafter = {};
	__u32 retval, duration, rep, left;
	bool relay = r->expect_verdict >= 0;
	__u64 steps = 0;
	double sum;
	int run, v, err;

	/* Warm-up, not timed, not counted; the ring's a whole lap. */
	if (r->kind == ROW_RELAY_RING) {
		for (steps = 0; steps < ring_n; steps += r->per_call) {
			ring_packet(b, steps);
			err = test_run(r->prog_fd, r->pkt, r->ifindex,
				       r->per_call, NULL, &retval, NULL);
			if (err)
				return err;
		}
	} else {
		err = test_run(r->prog_fd, r->pkt, r->ifindex,
			       r->per_call < 1000 ? r->per_call : 1000, NULL,
			       &retval, NULL);
		if (err)
			return err;
	}
	if (relay && (np_verdicts_read(&b->maps, before) ||
		      counters_sum(b, r->cycle, &cbefore)))
		return -EIO;
	r->ok = true;
	r->best = 0;
	for (run = 0; run < r->runs; run++) {
		sum = 0;
		for (left = b->repeat; left; left -= rep) {
			rep = left < r->per_call ? left : r->per_call;
			if (r->kind == ROW_RELAY_RING) {
				ring_packet(b, steps);
				steps += rep;
			}
			err = test_run(r->prog_fd, r->pkt, r->ifindex, rep,
				       NULL, &retval, &duration);
			if (err)
				return err;
			if (retval != r->expect_retval)
				r->ok = false;
			sum += (double)duration * rep;
		}
		r->ns[run] = sum / b->repeat;
		if (!run || r->ns[run] < r->best)
			r->best = r->ns[run];
	}
	r->verdict = -1;
	if (!relay)
		return 0;
	if (np_verdicts_read(&b->maps, after) ||
	    counters_sum(b, r->cycle, &cafter))
		return -EIO;
	total = (__u64)b->repeat * r->runs;
	for (v = 0; v < NP_V_MAX; v++) {
		delta = after[v] - before[v];
		if (delta == total)
			r->verdict = v;
		else if (delta)
			fprintf(stderr, "xdp_cost: %s, %u entries: %llu of %llu "
				"repeats took %s\n", r->name, r->entries,
				(unsigned long long)delta,
				(unsigned long long)total, verdict_names[v]);
	}
	if (r->verdict != r->expect_verdict &&
	    (r->verdict < 0 || r->verdict != r->also_verdict))
		r->ok = false;
	if (r->verdict == NP_V_PASS_NO_ROUTE)
		r->name = "relay, no route (loopback) -> PASS";
	/* Every repeat relayed the packet through one of the two flows
	 * (the ring's through none of them). */
	if (r->kind == ROW_RELAY_RING)
		total = 0;
	if (cafter.packets - cbefore.packets != total ||
	    cafter.to_kernel - cbefore.to_kernel !=
		    (r->kind == ROW_RELAY_PASS ? total : 0)) {
		fprintf(stderr, "xdp_cost: %s: flow counters moved by %llu "
			"(to kernel %llu), expected %llu\n", r->name,
			(unsigned long long)(cafter.packets - cbefore.packets),
			(unsigned long long)(cafter.to_kernel -
					     cbefore.to_kernel),
			(unsigned long long)total);
		r->ok = false;
	}
	return 0;
}

static bool ip4_ok(const struct iphdr *ip, const struct udphdr *udp)
{
	return csum_fold(csum_add(0, ip, sizeof(*ip))) == 0xffff &&
	       udp4_sum(ip, udp) == 0xffff;
}

static bool is_dst(const __u8 *frame, const struct endpoint *e)
{
	const struct iphdr *ip = (const void *)(frame + ETH_HLEN);
	const struct udphdr *udp = (const void *)(ip + 1);

	return ip->daddr == ip4(e->addr) && udp->dest == htons(e->port);
}

/*
 * Does a test run with repeat > 1 run every repeat on a fresh copy of the
 * packet, or on the buffer the previous repeat rewrote? The answer sets how
 * many repeats a forwarding run may take before the TTL it decrements
 * expires. Checks the rewrite on the way: addresses, DSCP, checksums, TTL
 * and, on the forwarding path, the Ethernet header.
 */
static int probe(struct bench *b)
{
	const int fd = bpf_program__fd(b->relay->progs.np_relay);
	const struct iphdr *ip;
	__u8 once[FRAME_LEN], twice[FRAME_LEN];
	__u32 retval;
	int err;

	err = test_run(fd, b->pass.pkt, 0, 1, once, &retval, NULL);
	if (!err)
		err = test_run(fd, b->pass.pkt, 0, 2, twice, &retval, NULL);
	if (err)
		return err;
	ip = (const void *)(once + ETH_HLEN);
	if (is_dst(once, &b->pass.b) && ip->tos >> 2 == PKT_DSCP) {
		fprintf(stderr, "xdp_cost: one pass applied both flows: the "
			"relay looked up a new destination without "
			"NP_F_HAIRPIN\n");
		return -EINVAL;
	}
	if (!is_dst(once, &b->pass.a2) || ip->tos >> 2 != PKT_DSCP ||
	    ip->ttl != PKT_TTL || !ip4_ok(ip, (const void *)(ip + 1))) {
		fprintf(stderr, "xdp_cost: the relay did not rewrite the "
			"packet as its flow says (retval %u)\n", retval);
		return -EINVAL;
	}
	if (is_dst(twice, &b->pass.b))
		b->reused = true;
	else if (is_dst(twice, &b->pass.a2))
		b->reused = false;
	else
		return -EINVAL;
	printf("test_run with repeat: %s\n",
	       b->reused ? "one buffer for all repeats (each sees the last "
			   "one's rewrite: two flows rewrite into each other)" :
			   "fresh copy per repeat");
	if (!b->ifindex)
		return 0;
	err = test_run(fd, b->tx.pkt, b->ifindex, 1, once, &retval, NULL);
	if (err)
		return err;
	ip = (const void *)(once + ETH_HLEN);
	if (retval != XDP_TX || !is_dst(once, &b->tx.a2) ||
	    ip->ttl != PKT_TTL - 1 || ip->tos >> 2 != PKT_DSCP ||
	    !ip4_ok(ip, (const void *)(ip + 1)) ||
	    memcmp(once, NEIGH_MAC_A, ETH_ALEN)) {
		fprintf(stderr, "xdp_cost: forwarding path on %s: retval %u, "
			"TTL %u; is this run inside bench/run.sh's "
			"namespace?\n", b->ifname, retval, ip->ttl);
		return -EINVAL;
	}
	printf("rewrite checked: addresses, ports, DSCP %u, TTL, IPv4 and "
	       "UDP checksums%s\n", PKT_DSCP,
	       b->ifindex ? ", next-hop MAC" : "");
	return 0;
}

static void read_mem(struct bench *b)
{
	struct bpf_map *maps[5] = { b->relay->maps.np_flowarr4_v2,
				    b->relay->maps.np_flows4_v6,
				    b->relay->maps.np_counters_v4,
				    b->relay->maps.np_police_v1,
				    b->floors->maps.floor_flows };
	int i;

	for (i = 0; i < 5; i++) {
		struct map_mem *m = &b->mem[i];

		m->name = bpf_map__name(maps[i]);
		m->fd = bpf_map__fd(maps[i]);
		m->key_size = bpf_map__key_size(maps[i]);
		m->value_size = bpf_map__value_size(maps[i]);
		m->max_entries = bpf_map__max_entries(maps[i]);
		m->memlock = np_map_memlock(m->fd);
	}
}

static struct row *add_row(struct bench *b, const char *name,
			   enum row_kind kind, __u32 entries)
{
	struct row *r = &b->rows[b->nrows++];

	memset(r, 0, sizeof(*r));
	r->name = name;
	r->kind = kind;
	r->entries = entries;
	r->runs = b->runs;
	r->per_call = b->repeat;
	if (kind >= ROW_RELAY_TX && b->max_per_call &&
	    b->max_per_call < b->repeat)
		r->per_call = b->max_per_call;
	r->expect_retval = XDP_TX;
	r->expect_verdict = -1;
	r->also_verdict = -1;
	switch (kind) {
	case ROW_FLOOR_TX:
		r->prog_fd = bpf_program__fd(b->floors->progs.floor_tx);
		r->pkt = b->tx.pkt;
		break;
	case ROW_FLOOR_LOOKUP:
		r->prog_fd = bpf_program__fd(b->floors->progs.floor_lookup);
		r->pkt = b->tx.pkt;
		break;
	case ROW_RELAY_TX:
	case ROW_RELAY_TX_VERIFY:
		r->prog_fd = bpf_program__fd(b->relay->progs.np_relay);
		r->cycle = &b->tx;
		r->pkt = b->tx.pkt;
		r->ifindex = b->ifindex;
		r->expect_verdict = NP_V_TX;
		/* Each forwarded repeat takes one off the TTL: stop above 1. */
		if (b->reused && r->per_call > PKT_TTL - 1)
			r->per_call = PKT_TTL - 1;
		break;
	case ROW_RELAY_REDIRECT:
		r->prog_fd = bpf_program__fd(b->relay->progs.np_relay);
		r->cycle = &b->tx;
		r->pkt = b->tx.pkt;
		r->ifindex = b->hold_ifindex;
		r->expect_retval = XDP_REDIRECT;
		r->expect_verdict = NP_V_REDIRECT;
		if (b->reused && r->per_call > PKT_TTL - 1)
			r->per_call = PKT_TTL - 1;
		break;
	case ROW_RELAY_RING:
		r->prog_fd = bpf_program__fd(b->relay->progs.np_relay);
		r->cycle = &b->tx;
		r->pkt = b->ring_pkt;
		r->ifindex = b->ifindex;
		r->expect_verdict = NP_V_TX;
		if (b->reused && r->per_call > PKT_TTL - 1)
			r->per_call = PKT_TTL - 1;
		break;
	case ROW_RELAY_PASS:
		r->prog_fd = bpf_program__fd(b->relay->progs.np_relay);
		r->cycle = &b->pass;
		r->pkt = b->pass.pkt;
		r->expect_retval = XDP_PASS;
		r->expect_verdict = NP_V_PASS_NO_NEIGH;
		/* Outside run.sh's namespace the loopback may not forward. */
		if (!b->ifindex)
			r->also_verdict = NP_V_PASS_NO_ROUTE;
		break;
	}
	return r;
}

static const struct row *find_row(const struct bench *b, enum row_kind kind,
				  __u32 entries)
{
	int i;

	for (i = 0; i < b->nrows; i++)
		if (b->rows[i].kind == kind && b->rows[i].entries == entries)
			return &b->rows[i];
	return NULL;
}

static const char *entries_str(__u32 n, char *buf, size_t len)
{
	if (!n)
		snprintf(buf, len, "-");
	else if (n >= 1024 * 1024 && !(n % (1024 * 1024)))
		snprintf(buf, len, "%uMi", n / (1024 * 1024));
	else if (n >= 1000 && !(n % 1000))
		snprintf(buf, len, "%uk", n / 1000);
	else
		snprintf(buf, len, "%u", n);
	return buf;
}

static const struct row *target_row(const struct bench *b)
{
	const struct row *r = find_row(b, ROW_RELAY_TX, NP_MAX_FLOWS);

	return r ? r : find_row(b, ROW_RELAY_PASS, NP_MAX_FLOWS);
}

static void print_table(const struct bench *b)
{
	const struct row *ftx = find_row(b, ROW_FLOOR_TX, 0), *flk, *t;
	char ent[16], ratio_lk[16], over[16];
	int i, j;

	printf("\n%-38s %7s %8s %9s %10s %9s  %s\n", "path", "entries",
	       "ns/pkt", "x floor", "x lookup", "+ns over", "verdict");
	printf("%-38s %7s %8s %9s %10s %9s\n", "", "", "", "tx", "floor",
	       "lookup");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		flk = find_row(b, ROW_FLOOR_LOOKUP, r->entries);
		snprintf(ratio_lk, sizeof(ratio_lk), "-");
		snprintf(over, sizeof(over), "-");
		if (flk && r->kind != ROW_FLOOR_TX && flk->best > 0) {
			snprintf(ratio_lk, sizeof(ratio_lk), "%.2f",
				 r->best / flk->best);
			snprintf(over, sizeof(over), "%+.1f",
				 r->best - flk->best);
		}
		printf("%-38s %7s %8.1f %9.2f %10s %9s  %s%s\n", r->name,
		       entries_str(r->entries, ent, sizeof(ent)), r->best,
		       ftx && ftx->best > 0 ? r->best / ftx->best : 0,
		       ratio_lk, over,
		       r->verdict >= 0 ? verdict_names[r->verdict] :
		       r->kind <= ROW_FLOOR_LOOKUP ? "(XDP_TX)" : "?",
		       r->ok ? "" : "  << NOT EVERY REPEAT TOOK THIS PATH");
	}
	printf("\nruns (ns/pkt):\n");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		printf("  %-38s %5s  repeat/call %7u:", r->name,
		       entries_str(r->entries, ent, sizeof(ent)), r->per_call);
		for (j = 0; j < r->runs; j++)
			printf(" %.1f", r->ns[j]);
		printf("\n");
	}
	t = target_row(b);
	if (t)
		printf("\ntarget: full path < %.0f ns/packet at 1M entries: "
		       "%s (%.1f ns, %s%s)\n", TARGET_NS,
		       t->best < TARGET_NS ? "met" : "not met", t->best,
		       t->name, t->kind == ROW_RELAY_TX ? "" :
		       "; bench/run.sh measures the forwarding path");
}

static void print_mem(const struct bench *b)
{
	unsigned long long per_flow = 0;
	char ent[16];
	int i, j;

	printf("\nmemory (preallocated hash maps: fixed at creation, from "
	       "fdinfo memlock):\n");
	printf("  %-16s %5s %6s %11s %12s %11s", "map", "key", "value",
	       "max entries", "memlock MiB", "B/entry@max");
	for (j = 0; j < NSIZES; j++)
		printf("  %6s@%-4s", "B/flow",
		       entries_str(sizes[j], ent, sizeof(ent)));
	printf("\n");
	for (i = 0; i < 5; i++) {
		const struct map_mem *m = &b->mem[i];

		printf("  %-16s %5u %6u %11u %12.1f %11.1f", m->name,
		       m->key_size, m->value_size, m->max_entries,
		       m->memlock / 1048576.0,
		       (double)m->memlock / m->max_entries);
		for (j = 0; j < NSIZES; j++)
			printf("  %11.0f", (double)m->memlock / sizes[j]);
		printf("\n");
		if (i < 4)
			per_flow += m->memlock;
	}
	printf("  relay total (flows + counters + policers): %.1f MiB, "
	       "%.0f B per flow when full (%d possible CPUs)\n",
	       per_flow / 1048576.0, (double)per_flow / NP_MAX_FLOWS, b->ncpu);
}

static int write_json(const struct bench *b, const char *kernel,
		      const char *cpu_model)
{
	const struct row *t = target_row(b), *ftx, *flk;
	char path[512], stamp[32], iso[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int i, j;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H%M%S", &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S%z", &tm);
	if (mkdir(b->out_dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "xdp_cost: mkdir %s: %s\n", b->out_dir,
			strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/xdp_cost-%s.json", b->out_dir, stamp);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "xdp_cost: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	ftx = find_row(b, ROW_FLOOR_TX, 0);
	fprintf(f, "{\n  \"benchmark\": \"xdp_cost\",\n  \"date\": ");
	json_str(f, iso);
	fprintf(f, ",\n  \"kernel\": ");
	json_str(f, kernel);
	fprintf(f, ",\n  \"cpu_model\": ");
	json_str(f, cpu_model);
	fprintf(f, ",\n  \"online_cpus\": %ld,\n  \"pinned_cpu\": %d,\n",
		sysconf(_SC_NPROCESSORS_ONLN), b->cpu);
	fprintf(f, "  \"ingress\": ");
	json_str(f, b->ifname ? b->ifname : "");
	fprintf(f, ",\n  \"packet\": { \"ip_bytes\": %d, \"frame_bytes\": %d,"
		" \"ttl\": %d, \"dscp\": %d },\n", IP_LEN, FRAME_LEN, PKT_TTL,
		PKT_DSCP);
	fprintf(f, "  \"repeat\": %u,\n  \"runs\": %d,\n"
		"  \"test_run_reuses_buffer\": %s,\n  \"rows\": [\n", b->repeat,
		b->runs, b->reused ? "true" : "false");
	for (i = 0; i < b->nrows; i++) {
		const struct row *r = &b->rows[i];

		flk = find_row(b, ROW_FLOOR_LOOKUP, r->entries);
		fprintf(f, "    { \"path\": ");
		json_str(f, r->name);
		fprintf(f, ", \"entries\": %u, \"ns_per_packet\": %.2f, "
			"\"ratio_floor_tx\": %.3f", r->entries, r->best,
			ftx && ftx->best > 0 ? r->best / ftx->best : 0);
		if (flk && r->kind != ROW_FLOOR_TX && flk->best > 0)
			fprintf(f, ", \"ratio_floor_lookup\": %.3f",
				r->best / flk->best);
		fprintf(f, ", \"verdict\": ");
		json_str(f, r->verdict >= 0 ? verdict_names[r->verdict] :
			 r->kind <= ROW_FLOOR_LOOKUP ? "xdp_tx" : "");
		fprintf(f, ", \"all_repeats_on_path\": %s, "
			"\"repeat_per_call\": %u, \"runs_ns\": [",
			r->ok ? "true" : "false", r->per_call);
		for (j = 0; j < r->runs; j++)
			fprintf(f, "%s%.2f", j ? ", " : "", r->ns[j]);
		fprintf(f, "] }%s\n", i + 1 < b->nrows ? "," : "");
	}
	fprintf(f, "  ],\n  \"memory\": [\n");
	for (i = 0; i < 5; i++) {
		const struct map_mem *m = &b->mem[i];

		fprintf(f, "    { \"map\": ");
		json_str(f, m->name);
		fprintf(f, ", \"key_size\": %u, \"value_size\": %u, "
			"\"max_entries\": %u, \"memlock_bytes\": %llu, "
			"\"bytes_per_entry_full\": %.1f }%s\n", m->key_size,
			m->value_size, m->max_entries, m->memlock,
			(double)m->memlock / m->max_entries,
			i < 4 ? "," : "");
	}
	fprintf(f, "  ],\n  \"target\": { \"ns\": %.0f", TARGET_NS);
	if (t)
		fprintf(f, ", \"path\": \"%s\", \"measured_ns\": %.2f, "
			"\"met\": %s", t->name, t->best,
			t->best < TARGET_NS ? "true" : "false");
	fprintf(f, " }\n}\n");
	if (fclose(f)) {
		fprintf(stderr, "xdp_cost: %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	printf("\nwrote %s\n", path);
	return 0;
}

static void cpu_model(char *buf, size_t len)
{
	char line[256], *p;
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10))
			continue;
		p = strchr(line, ':');
		if (p) {
			snprintf(buf, len, "%s", p + 2);
			buf[strcspn(buf, "\n")] = 0;
		}
		break;
	}
	fclose(f);
}

static int read_sysctl(const char *path)
{
	int v = -1;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xdp_cost [-r REPEAT] [-n RUNS] [-c CPU] [-o DIR] "
		"[-b MAX] [-H IFNAME] [-k]\n"
		"                [IFNAME]\n"
		"  IFNAME  ingress with a route and permanent neighbours for "
		"203.0.113.20\n"
		"          and .30 (bench/run.sh makes one): adds the fib hit "
		"-> XDP_TX rows\n"
		"  -H      idle interface to attach the relay to, which keeps "
		"it in the XDP\n"
		"          dispatcher across the many short forwarding runs\n"
		"  -b      at most MAX repeats per test run in the relay rows "
		"(with -H)\n"
		"  -k      measure even when the rewrite check fails (for "
		"variants of the\n"
		"          relay with parts taken out)\n"
		"  -r      packets per run (default 1000000)\n"
		"  -n      runs per row, the best is reported (default 5)\n"
		"  -c      CPU to pin to (default: the last online one)\n"
		"  -o      directory for the JSON results (default "
		"bench/results)\n");
}

/*
 * A test run with repeat > 1 puts its program into the XDP dispatcher (a
 * direct call instead of a retpoline) and takes it out after, each change
 * a synchronize_rcu of milliseconds. A program that is attached somewhere
 * stays in the dispatcher, so the many short runs of the forwarding rows
 * only cost their syscalls. The interface must see no traffic.
 */
static int hold(struct bench *b)
{
	const int fd = bpf_program__fd(b->relay->progs.np_relay);
	const __u32 modes[2] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
	int i, err = 0;

	for (i = 0; i < 2; i++) {
		err = bpf_xdp_attach(b->hold_ifindex, fd,
				     modes[i] | XDP_FLAGS_UPDATE_IF_NOEXIST,
				     NULL);
		if (!err) {
			b->hold_flags = modes[i];
			printf("relay attached (idle) to %s in %s mode: it "
			       "stays in the XDP dispatcher between runs\n",
			       b->hold_name, i ? "generic" : "native");
			return 0;
		}
	}
	fprintf(stderr, "xdp_cost: attach to %s: %s\n", b->hold_name,
		strerror(-err));
	return err;
}

static int setup(struct bench *b)
{
	const struct cycle *cy[2] = { &b->tx, &b->pass };
	struct np_flow_key4 floor_key = {};
	struct np_flow_entry floor_value;
	int i, k;

	b->relay = relay_bpf__open_and_load();
	b->floors = floors_bpf__open_and_load();
	if (!b->relay || !b->floors) {
		fprintf(stderr, "xdp_cost: loading the programs failed "
			"(root? make build/bench/xdp_cost?)\n");
		return -1;
	}
	b->maps.fd[NP_FLOWS4] = bpf_map__fd(b->relay->maps.np_flows4_v6);
	b->maps.fd[NP_FLOWS6] = bpf_map__fd(b->relay->maps.np_flows6_v6);
	b->maps.fd[NP_FLOWARR4] = bpf_map__fd(b->relay->maps.np_flowarr4_v2);
	b->maps.fd[NP_COLD_SLOTS] = bpf_map__fd(b->relay->maps.np_coldslots_v1);
	if (np_maps_map_flows(&b->maps)) {
		fprintf(stderr, "xdp_cost: cannot map the flow array\n");
		return -1;
	}
	b->maps.fd[NP_COUNTERS] = bpf_map__fd(b->relay->maps.np_counters_v4);
	b->maps.fd[NP_POLICERS] = bpf_map__fd(b->relay->maps.np_police_v1);
	b->maps.fd[NP_VERDICTS] = bpf_map__fd(b->relay->maps.np_verdicts_v3);
	b->maps.fd[NP_EGRESS] = bpf_map__fd(b->relay->maps.np_egress_v1);
	b->maps.fd[NP_EVENTS] = bpf_map__fd(b->relay->maps.np_events_v1);
	b->maps.fd[NP_SLOTS] = bpf_map__fd(b->relay->maps.np_slots_v1);
	b->maps.fd[NP_CLOCK] = bpf_map__fd(b->relay->maps.np_clock_v1);
	b->maps.fd[NP_LINKS] = bpf_map__fd(b->relay->maps.np_links_v1);
	b->floor_map_fd = bpf_map__fd(b->floors->maps.floor_flows);
	if (b->hold_ifindex && hold(b))
		return -1;
	/* The ingress as natproxy records a NIC that takes XDP frames:
	 * XDP_TX goes back out of it (no link entry: not a veth, whose
	 * hairpin would be a redirect). */
	if (b->ifindex && bpf_map_update_elem(b->maps.fd[NP_EGRESS],
					      &b->ifindex, &b->ifindex, 0)) {
		fprintf(stderr, "xdp_cost: egress map: %s\n", strerror(errno));
		return -1;
	}

	for (i = 0; i < 2; i++)
		for (k = 0; k < 2; k++) {
			struct np_flow f;

			if (np_flow_install(&b->maps, &cy[i]->key[k],
					    &cy[i]->flow[k]) ||
			    np_flow_get(&b->maps, &cy[i]->key[k], &f)) {
				fprintf(stderr, "xdp_cost: flow install "
					"failed\n");
				return -1;
			}
			cycle_slots[i * 2 + k] = f.slot;
		}
	filler_flow(0, &floor_value);
	floor_key.addr = b->tx.key[0].addr.v4;
	floor_key.port = b->tx.key[0].port;
	if (bpf_map_update_elem(b->floor_map_fd, &floor_key, &floor_value,
				BPF_NOEXIST)) {
		fprintf(stderr, "xdp_cost: floor flow: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench bench = {
		.repeat = 1000000,
		.runs = 5,
		.cpu = -1,
		.out_dir = "bench/results",
		/* Forwarded: 203.0.113.20 and .30 have neighbours. */
		.tx = { .a = { "203.0.113.20", 20000 },
			.b = { "203.0.113.30", 30000 },
			.relay = { RELAY_ADDR, 40000 },
			.a2 = { "203.0.113.20", 20002 } },
		/* Same subnet, no neighbours: pass-no-neighbour. */
		.pass = { .a = { "203.0.113.40", 20000 },
			  .b = { "203.0.113.50", 30000 },
			  .relay = { RELAY_ADDR, 40002 },
			  .a2 = { "203.0.113.40", 20002 } },
	};
	struct bench *b = &bench;
	char kernel[192], model[128];
	struct timespec t0, t1;
	struct utsname uts;
	cpu_set_t set;
	int opt, i, err = 1;
	struct row *r;

	while ((opt = getopt(argc, argv, "r:n:c:o:b:H:kh")) != -1) {
		switch (opt) {
		case 'k':
			b->keep_going = true;
			break;
		case 'b':
			b->max_per_call = strtoul(optarg, NULL, 0);
			break;
		case 'H':
			b->hold_name = optarg;
			b->hold_ifindex = if_nametoindex(optarg);
			if (!b->hold_ifindex) {
				fprintf(stderr, "xdp_cost: %s: %s\n", optarg,
					strerror(errno));
				return 1;
			}
			break;
		case 'r':
			b->repeat = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			b->runs = atoi(optarg);
			break;
		case 'c':
			b->cpu = atoi(optarg);
			break;
		case 'o':
			b->out_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1 || !b->repeat || b->runs < 1 ||
	    b->runs > MAX_RUNS) {
		usage(stderr);
		return 2;
	}
	if (optind < argc) {
		b->ifname = argv[optind];
		b->ifindex = if_nametoindex(b->ifname);
		if (!b->ifindex) {
			fprintf(stderr, "xdp_cost: %s: %s\n", b->ifname,
				strerror(errno));
			return 1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (b->cpu < 0)
		b->cpu = sysconf(_SC_NPROCESSORS_ONLN) - 1;
	CPU_ZERO(&set);
	CPU_SET(b->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "xdp_cost: pin to CPU %d: %s\n", b->cpu,
			strerror(errno));
		return 1;
	}
	b->ncpu = libbpf_num_possible_cpus();
	np_log_route_libbpf();
	uname(&uts);
	snprintf(kernel, sizeof(kernel), "%s %s", uts.release, uts.machine);
	cpu_model(model, sizeof(model));
	build_cycle(&b->tx);
	build_cycle(&b->pass);

	printf("xdp_cost: kernel %s, %s, pinned to CPU %d of %ld\n", kernel,
	       model, b->cpu, sysconf(_SC_NPROCESSORS_ONLN));
	printf("packet: Ethernet + IPv4/UDP/RTP, %d bytes IP (%d frame), "
	       "TTL %d; flow: strict source, DSCP %d, reverse key\n", IP_LEN,
	       FRAME_LEN, PKT_TTL, PKT_DSCP);
	printf("%u packets per run, best of %d runs; ingress %s\n", b->repeat,
	       b->runs, b->ifname ? b->ifname : "loopback only (no IFNAME)");
	if (read_sysctl("/proc/sys/kernel/bpf_stats_enabled") > 0)
		printf("warning: kernel.bpf_stats_enabled=1 adds to every "
		       "run\n");
	if (read_sysctl("/proc/sys/net/core/bpf_jit_enable") == 0)
		printf("warning: the BPF JIT is off\n");

	if (setup(b))
		goto out;
	if (probe(b)) {
		if (!b->keep_going)
			goto out;
		b->reused = true;
		printf("warning: rewrite check failed; assuming one buffer for "
		       "all repeats\n");
	}
	if (b->ifindex && b->reused && !b->hold_ifindex)
		printf("warning: the forwarding rows take %u test runs each "
		       "and, without -H, two\nsynchronize_rcu per run: slow\n",
		       b->runs * (b->repeat / (PKT_TTL - 1) + 1));

	r = add_row(b, "floor: parse + XDP_TX", ROW_FLOOR_TX, 0);
	if (measure(b, r))
		goto out;
	for (i = 0; i < NSIZES; i++) {
		if (fill_to(b, sizes[i]))
			goto out;
		printf("%u flows: %u fillers in the flow array, %u in the hash "
		       "(their index taken)\n", sizes[i],
		       b->filled_relay - b->hashed, b->hashed);
		r = add_row(b, "floor: parse + lookup + XDP_TX",
			    ROW_FLOOR_LOOKUP, sizes[i]);
		if (measure(b, r))
			goto out;
		if (b->ifindex) {
			r = add_row(b, "relay, fib hit -> XDP_TX", ROW_RELAY_TX,
				    sizes[i]);
			if (measure(b, r))
				goto out;
			/* What a software device's flows pay: the whole
			 * datagram summed (a partial checksum costs the same
			 * sum, and one store more). */
			r = add_row(b, "relay + checksum verify -> XDP_TX",
				    ROW_RELAY_TX_VERIFY, sizes[i]);
			if (cycle_flags(b, &b->tx, NP_F_CSUM_VERIFY) ||
			    measure(b, r) || cycle_flags(b, &b->tx, 0))
				goto out;
			/* The same packet arriving on the idle interface:
			 * its next hop (the ingress above) is another
			 * interface, so it leaves by redirect. test_run only
			 * returns the action: the redirect's request is
			 * measured, not the transmission. */
			if (b->hold_ifindex) {
				r = add_row(b, "relay, fib hit -> redirect",
					    ROW_RELAY_REDIRECT, sizes[i]);
				if (measure(b, r))
					goto out;
			}
			r = add_row(b, "relay, ring: each packet a new flow",
				    ROW_RELAY_RING, sizes[i]);
			if (measure(b, r))
				goto out;
		}
		r = add_row(b, "relay, no neighbour -> PASS", ROW_RELAY_PASS,
			    sizes[i]);
		if (measure(b, r))
			goto out;
	}
	read_mem(b);
	print_table(b);
	print_mem(b);
	if (write_json(b, kernel, model))
		goto out;
	for (i = 0; i < b->nrows; i++)
		if (!b->rows[i].ok)
			goto out;
	err = 0;
out:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("elapsed %.1f s\n", (t1.tv_sec - t0.tv_sec) +
				   (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (b->hold_flags)
		bpf_xdp_detach(b->hold_ifindex, b->hold_flags, NULL);
	floors_bpf__destroy(b->floors);
	relay_bpf__destroy(b->relay);
	return err;
}
