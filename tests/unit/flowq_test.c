// SPDX-License-Identifier: GPL-2.0-only
/*
 * The flow write queue (ctl/flowtab.c, np_flowq_*) against real BPF maps
 * made here with the relay's key and value sizes (no program, no pin): what
 * a flush writes, in what order per key, what it costs in bpf() calls, and
 * that slots and counters come out as np_flow_install / np_flow_remove
 * leave them. Needs root (BPF maps); every case is skipped without it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowtab.h"
#include "pins.h"
#include "tap.h"

#define TEST_FLOWS 64u

static struct np_maps maps = NP_MAPS_NONE;

static int make_maps(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, noprealloc,
		    .map_flags = BPF_F_NO_PREALLOC);

	maps.max_flows = TEST_FLOWS;
	maps.fd[NP_FLOWS4] = bpf_map_create(BPF_MAP_TYPE_HASH, "t_flows4",
					    sizeof(struct np_flow_key4),
					    sizeof(struct np_flow_entry),
					    TEST_FLOWS, NULL);
	maps.fd[NP_FLOWS6] = bpf_map_create(BPF_MAP_TYPE_HASH, "t_flows6",
					    sizeof(struct np_flow_key),
					    sizeof(struct np_flow_entry),
					    TEST_FLOWS, &noprealloc);
	maps.fd[NP_COUNTERS] = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY,
					      "t_counters", sizeof(__u32),
					      sizeof(struct np_counters),
					      TEST_FLOWS, NULL);
	maps.fd[NP_SLOTS] = bpf_map_create(BPF_MAP_TYPE_HASH, "t_slots",
					   sizeof(__u32),
					   sizeof(struct np_flow_key),
					   TEST_FLOWS, &noprealloc);
	/* The relay's has a spin lock (BTF); flowtab only deletes here. */
	maps.fd[NP_POLICERS] = bpf_map_create(BPF_MAP_TYPE_HASH, "t_police",
					      sizeof(struct np_flow_key),
					      sizeof(struct np_police),
					      TEST_FLOWS, NULL);
	for (int i = 0; i < NP_MAP_COUNT; i++)
		if (i <= NP_POLICERS || i == NP_SLOTS)
			if (maps.fd[i] < 0)
				return -errno;
	return 0;
}

/* The IPv4 flow array, as the relay has it (mmapable): the second pass
 * runs every case with IPv4 flows at their index instead of the hash. */
static int array_on(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, mmapable,
		    .map_flags = BPF_F_MMAPABLE);

	maps.fd[NP_FLOWARR4] = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_flowarr4",
					      sizeof(__u32),
					      sizeof(struct np_flow_entry),
					      TEST_FLOWS, &mmapable);
	if (maps.fd[NP_FLOWARR4] < 0)
		return -errno;
	maps.fd[NP_COLD_SLOTS] = bpf_map_create(BPF_MAP_TYPE_ARRAY,
						"t_coldslots", sizeof(__u32),
						sizeof(__u64),
						np_cold_word(TEST_FLOWS - 1) + 1,
						&mmapable);
	if (maps.fd[NP_COLD_SLOTS] < 0)
		return -errno;
	return np_maps_map_flows(&maps);
}

/* Marks the slot's per-CPU counters as counting, as the relay does. */
static void cold_set(__u32 slot)
{
	maps.cold_slots[np_cold_word(slot)] |= np_cold_bit(slot);
}

static bool cold_is_set(__u32 slot)
{
	return maps.cold_slots[np_cold_word(slot)] & np_cold_bit(slot);
}

/* Empties every map: each case starts from nothing. */
static void maps_clear(void)
{
	if (maps.flowarr4)
		memset(maps.flowarr4, 0,
		       maps.flowarr4_n * sizeof(struct np_flow_entry));
	int ids[] = { NP_FLOWS4, NP_FLOWS6, NP_SLOTS, NP_POLICERS };
	__u8 key[64], next[64];

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		while (!bpf_map_get_next_key(maps.fd[ids[i]], NULL, next)) {
			memcpy(key, next, sizeof(key));
			bpf_map_delete_elem(maps.fd[ids[i]], key);
		}
}

static size_t map_count(int id)
{
	__u8 key[64], next[64];
	void *prev = NULL;
	size_t n = 0;

	while (!bpf_map_get_next_key(maps.fd[id], prev, next)) {
		memcpy(key, next, sizeof(key));
		prev = key;
		n++;
	}
	return n;
}

/* The array entry holding k, if the flow is in the array. */
static struct np_flow_entry *cell_holding(const struct np_flow_key *k)
{
	struct np_flow_entry *c;

	if (!maps.flowarr4)
		return NULL;
	c = (struct np_flow_entry *)maps.flowarr4 +
	    np_flow4_index(ntohl(k->addr.v4), ntohs(k->port), maps.flowarr4_n);
	return c->key_live == NP_FLOW_LIVE && c->key_addr == k->addr.v4 &&
			       c->key_port == k->port ?
		       c :
		       NULL;
}

/* An IPv4 flow's entry as the relay sees it, wherever it is: what the
 * relay does to it (count, latch) is done through these. */
static int entry_read(const struct np_flow_key *k, struct np_flow_entry *e)
{
	struct np_flow_key4 mk = { .addr = k->addr.v4, .port = k->port };
	struct np_flow_entry *c = cell_holding(k);

	if (c) {
		*e = *c;
		return 0;
	}
	return bpf_map_lookup_elem(maps.fd[NP_FLOWS4], &mk, e) ? -errno : 0;
}

static void entry_write(const struct np_flow_key *k,
			const struct np_flow_entry *e)
{
	struct np_flow_key4 mk = { .addr = k->addr.v4, .port = k->port };
	struct np_flow_entry *c = cell_holding(k);

	if (c)
		*c = *e;
	else
		bpf_map_update_elem(maps.fd[NP_FLOWS4], &mk, e, BPF_ANY);
}

/* IPv4 flows live: the hash's and the array's. */
static size_t flows4_count(void)
{
	size_t n = map_count(NP_FLOWS4);

	for (__u32 i = 0; maps.flowarr4 && i < maps.flowarr4_n; i++)
		n += ((struct np_flow_entry *)maps.flowarr4)[i].key_live ==
		     NP_FLOW_LIVE;
	return n;
}

/* Every CPU's counters at every slot set to junk, as a slot comes back
 * from an earlier flow. */
static void counters_dirty(void)
{
	int ncpu = libbpf_num_possible_cpus();
	struct np_counters junk[ncpu];

	for (int c = 0; c < ncpu; c++) {
		memset(&junk[c], 0, sizeof(junk[c]));
		junk[c].packets = 1000 + c;
		junk[c].bytes = 99999;
	}
	for (__u32 s = 0; s < TEST_FLOWS; s++)
		bpf_map_update_elem(maps.fd[NP_COUNTERS], &s, junk, BPF_ANY);
}

static struct np_flow_key key4(uint16_t port)
{
	struct np_flow_key k = { .family = NP_AF_INET };

	inet_pton(AF_INET, "203.0.113.1", &k.addr.v4);
	k.port = htons(port);
	return k;
}

static struct np_flow flow_to(uint16_t dport)
{
	struct np_flow f = {};

	inet_pton(AF_INET, "198.51.100.1", &f.new_saddr.v4);
	inet_pton(AF_INET, "198.51.100.10", &f.new_daddr.v4);
	f.new_sport = htons(40000);
	f.new_dport = htons(dport);
	f.flags = NP_F_LATCH_PENDING;
	return f;
}

/* The flow as the map has it, read past the queue. */
static int map_get(uint16_t port, struct np_flow *f)
{
	struct np_flow_key k = key4(port);

	return np_flow_get(&maps, &k, f);
}

static unsigned long long syscalls(const struct np_flowq *q)
{
	struct np_flowq_stats st;

	np_flowq_stats(q, &st);
	return st.syscalls;
}

static void test_install_waits_for_flush(struct tap *t, struct np_flowq *q)
{
	struct np_flow_key k = key4(30000);
	struct np_flow f = flow_to(7000), got;
	struct np_counters c;

	maps_clear();
	counters_dirty();
	np_flowq_install_new(q, &k, &f);
	tap_check(t, map_get(30000, &got) == -ENOENT,
		  "a queued install is not in the map before the flush");
	tap_check(t, !np_flowq_get(q, &k, &got) &&
			     got.new_dport == htons(7000),
		  "... but reads through the queue as written");
	tap_check(t, np_flowq_flush(q) == 0 && !map_get(30000, &got) &&
			     got.new_dport == htons(7000) &&
			     (got.flags & NP_F_LATCH_PENDING),
		  "after the flush the map holds it");
	tap_check(t, map_count(NP_SLOTS) == 1 && !np_counters_read(&maps, &k, &c) &&
			     c.packets == 0 && c.bytes == 0,
		  "with a slot of its own, every CPU's counters zeroed (the slot held 1000+ packets)");
}

static void test_last_write_wins(struct tap *t, struct np_flowq *q)
{
	struct np_flow_key k = key4(30002);
	struct np_flow a = flow_to(7000), b = flow_to(7002), got;

	maps_clear();
	np_flowq_install_new(q, &k, &a);
	np_flowq_install(q, &k, &b);
	np_flowq_flush(q);
	tap_check(t, !map_get(30002, &got) && got.new_dport == htons(7002) &&
			     flows4_count() == 1 && map_count(NP_SLOTS) == 1,
		  "two writes of one key in a turn: the later one, one slot");
}

static void test_install_then_remove(struct tap *t, struct np_flowq *q)
{
	struct np_flow_key k = key4(30004);
	struct np_flow f = flow_to(7000), got;
	struct np_counters last;

	/* A new flow queued and removed in the same turn. */
	maps_clear();
	np_flowq_install_new(q, &k, &f);
	tap_check(t, np_flowq_remove(q, &k, &last) == -ENOENT &&
			     last.packets == 0,
		  "install then remove of a new key in one turn: nothing to remove, no counts");
	np_flowq_flush(q);
	tap_check(t, map_get(30004, &got) == -ENOENT &&
			     map_count(NP_SLOTS) == 0,
		  "... and after the flush no flow and no slot");

	/* A flow already in the map, replaced and removed in one turn. */
	np_flowq_install_new(q, &k, &f);
	np_flowq_flush(q);
	f.new_dport = htons(7010);
	np_flowq_get(q, &k, &got);
	np_flowq_install(q, &k, &f);
	tap_check(t, !np_flowq_remove(q, &k, &last) &&
			     map_get(30004, &got) == -ENOENT,
		  "install then remove of an existing flow in one turn: removed at once");
	np_flowq_flush(q);
	tap_check(t, map_get(30004, &got) == -ENOENT &&
			     map_count(NP_SLOTS) == (maps.flowarr4 ? 1 : 0),
		  maps.flowarr4 ?
			  "... the queued write dropped, its slot kept as the key's lease" :
			  "... the queued write dropped, its slot released by the flush");
}

static void test_remove_then_install(struct tap *t, struct np_flowq *q)
{
	struct np_flow_key k = key4(30006);
	struct np_flow f = flow_to(7000), got;
	struct np_flow_entry e;
	struct np_counters c;

	maps_clear();
	counters_dirty();
	np_flowq_install_new(q, &k, &f);
	np_flowq_flush(q);
	/* The relay counted in the entry. */
	entry_read(&k, &e);
	e.packets = 5;
	entry_write(&k, &e);
	np_flowq_remove(q, &k, &c);
	tap_check(t, c.packets == 5, "remove returns the entry's final count (%llu)",
		  (unsigned long long)c.packets);
	f.new_dport = htons(7020);
	np_flowq_install(q, &k, &f);
	np_flowq_flush(q);
	tap_check(t, !map_get(30006, &got) && got.new_dport == htons(7020) &&
			     !np_counters_read(&maps, &k, &c) && c.packets == 0 &&
			     map_count(NP_SLOTS) == 1,
		  "remove then install of one key in one turn: a new flow, counting from zero, one slot");
}

static void test_replace_keeps(struct tap *t, struct np_flowq *q)
{
	struct np_flow_key k = key4(30008);
	struct np_flow f = flow_to(7000), got, seen;
	struct np_flow_entry e;
	__u32 slot;

	maps_clear();
	np_flowq_install_new(q, &k, &f);
	np_flowq_flush(q);
	entry_read(&k, &e);
	slot = e.slot;
	/* XDP latched it and counted. */
	e.flags &= ~NP_F_LATCH_PENDING;
	e.expect_saddr4 = htonl(0xc0a8010a);
	e.packets = 7;
	e.bytes = 700;
	entry_write(&k, &e);
	/* The call core reads, keeps the latch, writes. */
	np_flowq_get(q, &k, &seen);
	f.flags = seen.flags;
	f.expect_saddr = seen.expect_saddr;
	f.new_dport = htons(7030);
	np_flowq_install(q, &k, &f);
	np_flowq_flush(q);
	entry_read(&k, &e);
	tap_check(t, !map_get(30008, &got) && got.new_dport == htons(7030) &&
			     !(got.flags & NP_F_LATCH_PENDING) &&
			     e.slot == slot && e.packets == 7 && e.bytes == 700 &&
			     map_count(NP_SLOTS) == 1,
		  "a replaced flow keeps its slot, its counts and the latch read");
}

/*
 * What a call's four flows cost: at the offer (new, not read), at the
 * answer (read by the core, then replaced), at the end (removed).
 */
static void test_call_costs(struct tap *t, struct np_flowq *q)
{
	struct np_flow f = flow_to(7000), got;
	struct np_flow_key k[4];
	struct np_counters last[4];
	unsigned long long s0, offer, answer, end;
	__u32 slot_lo = 0, slot_hi = 0;
	unsigned runs;
	int i, err[4];

	maps_clear();
	for (i = 0; i < 4; i++)
		k[i] = key4(31000 + i);
	s0 = syscalls(q);
	for (i = 0; i < 4; i++)
		np_flowq_install_new(q, &k[i], &f);
	np_flowq_flush(q);
	offer = syscalls(q) - s0;
	s0 = syscalls(q);
	for (i = 0; i < 4; i++) {
		np_flowq_get(q, &k[i], &got);
		f.new_dport = htons(7100);
		np_flowq_install(q, &k[i], &f);
	}
	np_flowq_flush(q);
	answer = syscalls(q) - s0;
	/* The slots are claimed from a random start: four of them wrap
	 * past the last one at times (62, 63, 0, 1), two runs to read. */
	for (i = 0; i < 4; i++) {
		struct np_flow_entry e;

		entry_read(&k[i], &e);
		slot_lo = i && slot_lo < e.slot ? slot_lo : e.slot;
		slot_hi = i && slot_hi > e.slot ? slot_hi : e.slot;
	}
	runs = slot_hi - slot_lo < 8 ? 1 : 2;
	s0 = syscalls(q);
	np_flowq_remove_n(q, k, 4, last, err);
	np_flowq_flush(q);
	end = syscalls(q) - s0;
	tap_diag("bpf() calls for 4 flows: offer %llu, answer %llu, end %llu",
		 offer, answer, end);
	if (!maps.flowarr4) {
		tap_check(t, offer <= 6, "4 new flows: a claim each, one batch of counter zeroing, one batch of writes (%llu calls)",
			  offer);
		tap_check(t, answer <= 5, "4 replaced flows: a read each, one batch of writes (%llu calls)",
			  answer);
		tap_check(t, end <= 5 + runs, "4 removals: a lookup-and-delete each, their counters in one batch per run of neighbouring slots (%u), one batch of slot releases (%llu calls)",
			  runs, end);
		tap_check(t, flows4_count() == 0 && map_count(NP_SLOTS) == 0,
			  "after the call: no flow, no slot left");
		return;
	}
	tap_check(t, offer == 5, "4 new flows in the array: a claim each, one batch of counter zeroing (%llu calls)",
		  offer);
	tap_check(t, answer == 0, "4 replaced flows: read and written in place (%llu calls)",
		  answer);
	tap_check(t, end == 0, "4 removals: nothing counted per CPU (no cold bit): the entries' counts alone, nothing released (%llu calls)",
		  end);
	tap_check(t, flows4_count() == 0 && map_count(NP_SLOTS) == 4 &&
			     !err[0] && !err[1] && !err[2] && !err[3],
		  "after the call: no flow, the 4 slots held as leases");
}

static struct np_flow_key key4_at(const char *addr, uint16_t port)
{
	struct np_flow_key k = key4(port);

	inet_pton(AF_INET, addr, &k.addr.v4);
	return k;
}

/*
 * The array's slots kept as leases: the next call on the same relay
 * ports claims nothing and releases nothing, and counts from zero; its
 * final counters are exact; another key at a leased index goes to the
 * hash; leases go back when a claim finds no slot, and with the queue.
 */
static void test_leases(struct tap *t)
{
	int ncpu = libbpf_num_possible_cpus(), err[4];
	struct np_counters per_cpu[ncpu], last[4], c;
	struct np_flowq *q = np_flowq_new(&maps);
	struct np_flow f = flow_to(7000);
	struct np_flow_key k[4], other, many[TEST_FLOWS];
	struct np_flowq_stats st0, st;
	struct np_flow_entry e;
	unsigned long long s0, offer, end;
	unsigned i, refused = 0, zero = 0;

	maps_clear();
	/* Two streams: RTP and RTCP side by side, the pairs apart. */
	k[0] = key4(34000), k[1] = key4(34001);
	k[2] = key4(35000), k[3] = key4(35001);
	for (i = 0; i < 4; i++)
		np_flowq_install_new(q, &k[i], &f);
	np_flowq_flush(q);
	np_flowq_remove_n(q, k, 4, last, err);
	np_flowq_flush(q);
	counters_dirty();
	memset(maps.cold_slots, 0xff, maps.cold_slots_n * sizeof(__u64));
	np_flowq_stats(q, &st0);
	s0 = syscalls(q);
	for (i = 0; i < 4; i++)
		np_flowq_install_new(q, &k[i], &f);
	np_flowq_flush(q);
	offer = syscalls(q) - s0;
	for (i = 0; i < 4 && entry_read(&k[i], &e) == 0; i++)
		if (cold_is_set(e.slot))
			break;
	tap_check(t, i == 4 &&
			     __builtin_popcountll(maps.cold_slots[0]) == TEST_FLOWS - 4,
		  "a call again on leased ports: their slots' cold bits cleared with their counters, no other");
	np_flowq_stats(q, &st);
	for (i = 0; i < 4; i++)
		zero += !np_counters_read(&maps, &k[i], &c) && !c.packets &&
			!c.bytes && entry_read(&k[i], &e) == 0 &&
			e.slot == (unsigned)(cell_holding(&k[i]) -
					     (struct np_flow_entry *)maps.flowarr4);
	tap_check(t, offer == 1 && st.lease_takes - st0.lease_takes == 4 &&
			     zero == 4 && map_count(NP_SLOTS) == 4,
		  "a call again on leased ports: no claim, one batch of counter zeroing (%llu calls), each flow at its index counting from zero",
		  offer);
	/* The relay counted: the owner CPU in the entry, others per CPU. */
	entry_read(&k[0], &e);
	e.packets = 3;
	e.bytes = 300;
	entry_write(&k[0], &e);
	memset(per_cpu, 0, sizeof(per_cpu));
	per_cpu[ncpu - 1].packets = 2;
	per_cpu[ncpu - 1].bytes = 200;
	per_cpu[0].drops[NP_DROP_NO_DEST] += 1;
	bpf_map_update_elem(maps.fd[NP_COUNTERS], &e.slot, per_cpu, BPF_ANY);
	cold_set(e.slot);
	entry_read(&k[3], &e);
	memset(per_cpu, 0, sizeof(per_cpu));
	per_cpu[0].packets = 7;
	per_cpu[0].bytes = 700;
	bpf_map_update_elem(maps.fd[NP_COUNTERS], &e.slot, per_cpu, BPF_ANY);
	cold_set(e.slot);
	/* Per-CPU counts at k[1]'s slot without its bit: never read (the
	 * relay sets the bit before it counts there). */
	entry_read(&k[1], &e);
	memset(per_cpu, 0, sizeof(per_cpu));
	per_cpu[0].packets = 11;
	bpf_map_update_elem(maps.fd[NP_COUNTERS], &e.slot, per_cpu, BPF_ANY);
	s0 = syscalls(q);
	np_flowq_remove_n(q, k, 4, last, err);
	np_flowq_flush(q);
	end = syscalls(q) - s0;
	tap_check(t, end == 2 && !err[0] && !err[3] && last[0].packets == 5 &&
			     last[0].bytes == 500 &&
			     last[0].drops[NP_DROP_NO_DEST] == 1 &&
			     last[1].packets == 0 && last[2].packets == 0 &&
			     last[3].packets == 7 && last[3].bytes == 700 &&
			     flows4_count() == 0 && map_count(NP_SLOTS) == 4,
		  "its end: exact final counters (%llu, %llu packets), one batched read per stream whose slots have a cold bit, none of another (%llu calls), the slots leased again",
		  (unsigned long long)last[0].packets,
		  (unsigned long long)last[3].packets, end);
	other = key4_at("203.0.113.2", 34000);
	np_flowq_install_new(q, &other, &f);
	np_flowq_flush(q);
	tap_check(t, map_count(NP_FLOWS4) == 1 && map_count(NP_SLOTS) == 5,
		  "another address's flow at a leased index: to the hash, with a slot of its own");
	np_flowq_remove(q, &other, NULL);
	np_flowq_flush(q);
	/* Every other slot taken by other keys: the claims find none free
	 * but the leases, which go back. */
	for (i = 0; i < TEST_FLOWS; i++) {
		many[i] = key4_at("203.0.113.3", (uint16_t)(36000 + i));
		if (np_flowq_install_new(q, &many[i], &f))
			refused++;
	}
	np_flowq_flush(q);
	tap_check(t, refused == 0 && flows4_count() == TEST_FLOWS &&
			     map_count(NP_SLOTS) == TEST_FLOWS,
		  "a table full but for leases: they are given back, all %u flows installed (%u refused)",
		  TEST_FLOWS, refused);
	for (i = 0; i < TEST_FLOWS; i++)
		np_flowq_remove(q, &many[i], NULL);
	np_flowq_flush(q);
	np_flowq_free(q);
	tap_check(t, flows4_count() == 0 && map_count(NP_SLOTS) == 0,
		  "the queue freed: its leases given back, no slot left");
}

static void test_full(struct tap *t, struct np_flowq *q)
{
	struct np_flow f = flow_to(7000);
	struct np_flow_key k;
	unsigned i, refused = 0;
	int n, err = 0, e;

	maps_clear();
	for (i = 0; i < TEST_FLOWS + 2; i++) {
		k = key4(32000 + 2 * i);
		e = np_flowq_install_new(q, &k, &f);
		if (e) {
			refused++;
			err = e;
		}
	}
	n = np_flowq_flush(q);
	tap_check(t, refused == 2 && err == -ENOSPC && n == 0 &&
			     flows4_count() == TEST_FLOWS &&
			     map_count(NP_SLOTS) == TEST_FLOWS,
		  "more flows than slots: the 2 past the last slot refused when queued (%s: the call gets 503), the rest written",
		  strerror(-err));
}

static void test_policer(struct tap *t, struct np_flowq *q)
{
	struct np_flow_key k = key4(30010);
	struct np_flow f = flow_to(7000);
	struct np_police p = { .tokens = 1 };

	maps_clear();
	f.rate_bytes = 8000;
	f.burst_bytes = 1514;
	np_flowq_install_new(q, &k, &f);
	np_flowq_flush(q);
	bpf_map_update_elem(maps.fd[NP_POLICERS], &k, &p, BPF_ANY);
	np_flowq_remove(q, &k, NULL);
	np_flowq_flush(q);
	tap_check(t, map_count(NP_POLICERS) == 0,
		  "a policed flow's token bucket goes with it");
}

/* Even ports to class 0, odd ones to class 1, port 33000 to none. */
static int class_by_port(const struct np_flow_key *key, void *arg)
{
	uint16_t port = ntohs(key->port);

	(void)arg;
	return port == 33000 ? -1 : port % 2;
}

static void test_totals(struct tap *t, struct np_flowq *q)
{
	int ncpu = libbpf_num_possible_cpus();
	struct np_counters per_cpu[ncpu], out[2], want[2] = {}, c;
	struct np_flow f = flow_to(7000);
	struct np_flow_key k;
	struct np_flow_entry e;
	bool unmarked;
	unsigned i;
	int err;

	maps_clear();
	counters_dirty();
	for (i = 0; i < 40; i++) {
		k = key4(33000 + i);
		np_flowq_install_new(q, &k, &f);
	}
	np_flowq_flush(q);
	for (i = 0; i < 40; i++) {
		k = key4(33000 + i);
		/* The owner CPU's count in the entry, others' at the slot. */
		entry_read(&k, &e);
		e.packets = i;
		e.bytes = 100 * i;
		entry_write(&k, &e);
		memset(per_cpu, 0, sizeof(per_cpu));
		per_cpu[ncpu - 1].packets = 1;
		per_cpu[ncpu - 1].drops[NP_DROP_RATE] = 2;
		bpf_map_update_elem(maps.fd[NP_COUNTERS], &e.slot, per_cpu, BPF_ANY);
		/* As the relay marks a slot before it counts there (with
		 * the array's bitmap); flow 7's counts are left unmarked: the
		 * relay never writes them so, and the totals must not read
		 * them. Without the bitmap every slot is read. */
		unmarked = maps.cold_slots && i == 7;
		if (maps.cold_slots && !unmarked)
			cold_set(e.slot);
		if (!i)
			continue;
		np_counters_read(&maps, &k, &c);
		if (unmarked) { /* the entry's counts alone */
			memset(&c, 0, sizeof(c));
			c.packets = e.packets;
			c.bytes = e.bytes;
		}
		want[i % 2].packets += c.packets;
		want[i % 2].bytes += c.bytes;
		want[i % 2].drops[NP_DROP_RATE] += c.drops[NP_DROP_RATE];
	}
	err = np_flow_totals(&maps, class_by_port, NULL, out, 2);
	tap_check(t, !err && out[0].packets == want[0].packets &&
			     out[1].packets == want[1].packets &&
			     out[0].bytes == want[0].bytes &&
			     out[1].bytes == want[1].bytes &&
			     out[0].drops[NP_DROP_RATE] == 38 &&
			     out[1].drops[NP_DROP_RATE] == want[1].drops[NP_DROP_RATE],
		  "np_flow_totals: each class the sum of its flows' np_counters_read (%llu+%llu packets, %llu+%llu wanted), flows of no class left out, per-CPU counts of a slot without its cold bit not read",
		  (unsigned long long)out[0].packets,
		  (unsigned long long)out[1].packets,
		  (unsigned long long)want[0].packets,
		  (unsigned long long)want[1].packets);
}

/*
 * np_flow_foreach reads the array's live entries from the slots claimed in
 * NP_SLOTS, not by reading the whole array: what it visits must be exactly
 * the flows there are (every live array entry, every hash entry), each
 * once, after installs (natproxyd's queue and natproxyctl's call), removes,
 * a key back on its lease, and a process killed between the two steps of
 * an install or a remove.
 */
struct walk_seen {
	struct np_flow_key keys[2 * TEST_FLOWS];
	size_t n;
};

static int walk_collect(const struct np_flow_key *key,
			const struct np_flow *flow,
			const struct np_counters *counters, void *arg)
{
	struct walk_seen *w = arg;

	(void)flow;
	(void)counters;
	if (w->n < sizeof(w->keys) / sizeof(w->keys[0]))
		w->keys[w->n] = *key;
	w->n++;
	return 0;
}

static size_t walk_count(const struct walk_seen *w,
			 const struct np_flow_key *k)
{
	size_t i, n = 0;

	for (i = 0; i < w->n && i < sizeof(w->keys) / sizeof(w->keys[0]); i++)
		n += w->keys[i].family == k->family &&
		     w->keys[i].addr.v4 == k->addr.v4 &&
		     w->keys[i].port == k->port;
	return n;
}

/* The walk against a read of every array entry and the hash: the same
 * flows, each once. */
static void walk_check(struct tap *t, const char *when)
{
	struct np_flow_entry *arr = maps.flowarr4;
	struct walk_seen w = { .n = 0 };
	struct np_flow_key4 mk, next;
	struct np_flow_key k = { .family = NP_AF_INET };
	void *prev = NULL;
	size_t want = 0, once = 0;
	int err = np_flow_foreach(&maps, walk_collect, &w);

	for (__u32 i = 0; i < maps.flowarr4_n; i++) {
		if (arr[i].key_live != NP_FLOW_LIVE)
			continue;
		k.addr.v4 = arr[i].key_addr;
		k.port = arr[i].key_port;
		want++;
		once += walk_count(&w, &k) == 1;
	}
	while (!bpf_map_get_next_key(maps.fd[NP_FLOWS4], prev, &next)) {
		mk = next;
		prev = &mk;
		k.addr.v4 = mk.addr;
		k.port = mk.port;
		want++;
		once += walk_count(&w, &k) == 1;
	}
	tap_check(t, !err && want > 0 && w.n == want && once == want,
		  "%s: the walk visits the %zu flows there are, each once (%zu visits, %zu found once)",
		  when, want, w.n, once);
}

static void test_walk(struct tap *t)
{
	struct np_flowq *q = np_flowq_new(&maps);
	struct np_flow f = flow_to(7000);
	struct np_flow_key k[24], other, stray;
	struct np_flow_entry *c;
	__u32 s;
	unsigned i;

	maps_clear();
	for (i = 0; i < 20; i++) {
		k[i] = key4((uint16_t)(34100 + i));
		np_flowq_install_new(q, &k[i], &f);
	}
	np_flowq_flush(q);
	for (i = 20; i < 24; i++) {
		k[i] = key4((uint16_t)(34100 + i));
		np_flow_install(&maps, &k[i], &f);
	}
	/* Another address at a taken index: the hash. */
	other = key4_at("203.0.113.2", 34100);
	np_flow_install(&maps, &other, &f);
	walk_check(t, "after installs (queued and direct, one in the hash)");
	for (i = 0; i < 8; i++)
		np_flowq_remove(q, &k[i], NULL);
	np_flowq_flush(q);
	np_flow_remove(&maps, &k[20], NULL);
	np_flow_remove(&maps, &other, NULL);
	walk_check(t, "after removes (8 leased, 2 released)");
	for (i = 0; i < 3; i++)
		np_flowq_install_new(q, &k[i], &f);
	np_flowq_install_new(q, &k[20], &f);
	np_flowq_flush(q);
	walk_check(t, "after reuse (3 keys back on their leases, one claimed again)");
	/* Killed after claiming a slot, before the entry went live: the
	 * slot claimed over an entry not live (the lease of k[5] is one
	 * such; here another key's fresh claim at a free index). */
	stray = key4(34200);
	c = (struct np_flow_entry *)maps.flowarr4 +
	    np_flow4_index(ntohl(stray.addr.v4), ntohs(stray.port),
			   maps.flowarr4_n);
	s = (__u32)(c - (struct np_flow_entry *)maps.flowarr4);
	bpf_map_update_elem(maps.fd[NP_SLOTS], &s, &stray, BPF_NOEXIST);
	walk_check(t, "killed between the slot claim and the entry going live");
	/* Killed after the entry stopped being live, before its slot went. */
	c = cell_holding(&k[10]);
	if (c)
		c->key_live = 0;
	walk_check(t, "killed between the entry going dead and its slot's release");
	np_flowq_free(q);
	tap_check(t, np_slots_reconcile(&maps) >= 2 && !cell_holding(&k[10]),
		  "the next start's reconcile releases the slots the kills left");
	walk_check(t, "after the reconcile");
	maps_clear();
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/*
 * The entry's own (line 0) state as ctl/ reads it back: last_seen, a
 * 32-bit stamp of 2^20 ns, converted relative to now; the VLAN action and
 * DSCP folded into the flags word; and the word's owner bits left out.
 */
static void test_seen_and_flags(struct tap *t, struct np_flowq *q)
{
	int ncpu = libbpf_num_possible_cpus();
	struct np_counters per_cpu[ncpu], c;
	struct np_flow_key k = key4(30040);
	struct np_flow f = flow_to(7000), got;
	struct np_flow_entry e;
	__u64 unit = 1ull << NP_LAST_SEEN_SHIFT, now, then, wrap;

	/* The conversion alone: a stamp 10 s old across the 32-bit wrap,
	 * one a tick ahead of the reader's clock, one from now. */
	wrap = (1ull << (32 + NP_LAST_SEEN_SHIFT)) * 3;
	then = wrap - 4 * unit;
	tap_check(t, np_last_seen_ns(np_last_seen_stamp(then), then + 10000000000ull) == then &&
			     np_last_seen_ns(np_last_seen_stamp(wrap + 5 * unit), wrap) == wrap &&
			     np_last_seen_ns(np_last_seen_stamp(wrap + 77), wrap + 99) == wrap,
		  "np_last_seen_ns: a stamp read back across the wrap, one ahead taken as now, one of now floored to its unit");

	maps_clear();
	counters_dirty();
	f.flags |= NP_F_SET_DSCP;
	f.dscp = 46;
	f.vlan_action = NP_VLAN_SET;
	f.vlan_id = 300;
	np_flowq_install_new(q, &k, &f);
	np_flowq_flush(q);
	entry_read(&k, &e);
	tap_check(t, (e.flags & NP_FLOW_DSCP_MASK) >> NP_FLOW_DSCP_SHIFT == 46 &&
			     (e.flags & NP_FLOW_VLAN_MASK) >> NP_FLOW_VLAN_SHIFT == NP_VLAN_SET &&
			     e.vlan_id == 300 && !(e.flags & NP_FLOW_OWNER_MASK),
		  "DSCP 46 and the VLAN action in the entry's flags word (%#x), the VLAN id beside it",
		  e.flags);

	/* The relay's owner CPU stamped a packet 5 s ago. */
	now = mono_ns();
	then = now - 5000000000ull;
	e.packets = 3;
	e.bytes = 300;
	e.last_seen = np_last_seen_stamp(then);
	e.flags |= 7u << NP_FLOW_OWNER_SHIFT;
	entry_write(&k, &e);
	memset(per_cpu, 0, sizeof(per_cpu));
	per_cpu[0].first_seen_ns = then;
	bpf_map_update_elem(maps.fd[NP_COUNTERS], &e.slot, per_cpu, BPF_ANY);
	tap_check(t, !np_counters_read(&maps, &k, &c) && c.packets == 3 &&
			     c.last_seen_ns == then &&
			     !np_flowq_get(q, &k, &got) && got.dscp == 46 &&
			     got.vlan_action == NP_VLAN_SET && got.vlan_id == 300 &&
			     got.flags == f.flags,
		  "the stamp of 5 s ago read back (%lld ns off), no earlier than the first packet; the flow as installed, owner bits left out",
		  (long long)(c.last_seen_ns - then));

	/* Another CPU relayed it 1 s ago: its copy's time is the later. */
	per_cpu[ncpu - 1].packets = 1;
	per_cpu[ncpu - 1].last_seen_ns = now - 1000000000ull;
	bpf_map_update_elem(maps.fd[NP_COUNTERS], &e.slot, per_cpu, BPF_ANY);
	tap_check(t, !np_counters_read(&maps, &k, &c) && c.packets == 4 &&
			     c.last_seen_ns == now - 1000000000ull,
		  "a guest CPU's later last_seen_ns wins over the entry's stamp");

	/* Replaced (re-INVITE): the stamp goes on with the counts. */
	f.new_dport = htons(7042);
	np_flowq_install(q, &k, &f);
	np_flowq_flush(q);
	entry_read(&k, &e);
	tap_check(t, e.packets == 3 && e.last_seen == np_last_seen_stamp(then) &&
			     e.new_dport == htons(7042),
		  "a replaced flow keeps its stamp with its counts");

	/* Never relayed by an owner: no stamp to read, whatever it holds. */
	e.packets = 0;
	entry_write(&k, &e);
	memset(per_cpu, 0, sizeof(per_cpu));
	bpf_map_update_elem(maps.fd[NP_COUNTERS], &e.slot, per_cpu, BPF_ANY);
	tap_check(t, !np_counters_read(&maps, &k, &c) && c.last_seen_ns == 0,
		  "no packet: last_seen_ns 0 (never)");
	np_flowq_remove(q, &k, NULL);
	np_flowq_flush(q);
}

int main(void)
{
	struct tap t = { 0 };
	struct np_flowq *q;
	const char *names[] = { "install waits for the flush", "last write wins",
				"install then remove", "remove then install",
				"replace keeps", "call costs", "full", "policer",
				"totals", "seen and flags", "leases", "walk" };

	if (geteuid() != 0 || make_maps()) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			tap_skip(&t, geteuid() ? "needs root" : "no BPF maps",
				 "%s", names[i]);
		return tap_done(&t);
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass && array_on()) {
			tap_check(&t, false, "the flow array (mmapable) made");
			break;
		}
		tap_diag(pass ? "IPv4 flows in the array, at their index" :
				    "IPv4 flows in the hash");
		maps_clear();
		q = np_flowq_new(&maps);
		test_install_waits_for_flush(&t, q);
		test_last_write_wins(&t, q);
		test_install_then_remove(&t, q);
		test_remove_then_install(&t, q);
		test_replace_keeps(&t, q);
		test_call_costs(&t, q);
		test_full(&t, q);
		test_policer(&t, q);
		test_totals(&t, q);
		test_seen_and_flags(&t, q);
		np_flowq_free(q);
		if (maps.flowarr4) {
			test_leases(&t);
			test_walk(&t);
		}
	}
	np_maps_close(&maps);
	return tap_done(&t);
}
