// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writes and reads flow entries through the map descriptors of pins.h, and
 * gives each flow its slot in the per-CPU counters array. Callers see
 * struct np_flow; the maps hold struct np_flow_entry, laid out for the
 * relay's cache lines, and the two are converted here. An IPv4 flow goes
 * to its index in the array NP_MAP_FLOWARR4 (written in place, through the
 * memory np_maps_open() mapped) when that index's slot is free, else to
 * the hash NP_MAP_FLOWS4; IPv6 flows to NP_MAP_FLOWS6. A flow's counters
 * are its entry's plus every CPU's copy at its slot, summed here, so
 * callers only ever see one set of counters per flow.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowtab.h"
#include "mapwalk.h"

/*
 * The map holding a flow of key's family, and the key as that map has it:
 * IPv4 flows are keyed by 8 bytes (struct np_flow_key4), IPv6 by the whole
 * struct np_flow_key. Returns the map's descriptor and fills buf.
 */
union flow_map_key {
	struct np_flow_key4 v4;
	struct np_flow_key v6;
};

static int flow_map(const struct np_maps *maps, const struct np_flow_key *key,
		    union flow_map_key *buf)
{
	if (key->family == NP_AF_INET6) {
		buf->v6 = *key;
		return maps->fd[NP_FLOWS6];
	}
	memset(&buf->v4, 0, sizeof(buf->v4));
	buf->v4.addr = key->addr.v4;
	buf->v4.port = key->port;
	return maps->fd[NP_FLOWS4];
}

/* ctl/'s view of a flow -> the map entry; counters and next hop empty. */
static void entry_of(struct np_flow_entry *e, const struct np_flow *f,
		     int family)
{
	memset(e, 0, sizeof(*e));
	e->flags = f->flags & ~NP_FLOW_ENTRY_BITS;
	if (f->rate_bytes)
		e->flags |= NP_F_POLICED;
	/* In the word the relay reads anyway (natproxy.h). */
	e->flags |= (__u32)(f->vlan_action & 3) << NP_FLOW_VLAN_SHIFT |
		    (__u32)(f->dscp & 63) << NP_FLOW_DSCP_SHIFT;
	e->slot = f->slot;
	if (family == NP_AF_INET6) {
		e->new_saddr6 = f->new_saddr;
		e->new_daddr6 = f->new_daddr;
		e->expect_saddr6 = f->expect_saddr;
	} else {
		e->new_saddr4 = f->new_saddr.v4;
		e->new_daddr4 = f->new_daddr.v4;
		e->expect_saddr4 = f->expect_saddr.v4;
	}
	e->new_sport = f->new_sport;
	e->new_dport = f->new_dport;
	e->expect_sport = f->expect_sport;
	e->vlan_id = f->vlan_id;
	e->rate_bytes = f->rate_bytes;
	e->burst_bytes = f->burst_bytes;
	e->egress_ifindex = f->egress_ifindex;
	e->home_saddr = f->home_saddr;
	e->reverse = f->reverse;
}

/* The map entry -> ctl/'s view (the relay's own bits left out). */
static void flow_of_entry(struct np_flow *f, const struct np_flow_entry *e,
			  int family)
{
	memset(f, 0, sizeof(*f));
	f->flags = e->flags & ~NP_FLOW_ENTRY_BITS;
	f->slot = e->slot;
	if (family == NP_AF_INET6) {
		f->new_saddr = e->new_saddr6;
		f->new_daddr = e->new_daddr6;
		f->expect_saddr = e->expect_saddr6;
	} else {
		f->new_saddr.v4 = e->new_saddr4;
		f->new_daddr.v4 = e->new_daddr4;
		f->expect_saddr.v4 = e->expect_saddr4;
	}
	f->new_sport = e->new_sport;
	f->new_dport = e->new_dport;
	f->expect_sport = e->expect_sport;
	f->vlan_id = e->vlan_id;
	f->dscp = (e->flags & NP_FLOW_DSCP_MASK) >> NP_FLOW_DSCP_SHIFT;
	f->vlan_action = (e->flags & NP_FLOW_VLAN_MASK) >> NP_FLOW_VLAN_SHIFT;
	f->rate_bytes = e->rate_bytes;
	f->burst_bytes = e->burst_bytes;
	f->egress_ifindex = e->egress_ifindex;
	f->home_saddr = e->home_saddr;
	f->reverse = e->reverse;
}

/*
 * The array entry at an IPv4 key's index (np_flow4_index), whichever flow
 * it holds, if any; NULL for IPv6 keys, which are never in the array.
 */
static struct np_flow_entry *array_cell(const struct np_maps *maps,
					const struct np_flow_key *key)
{
	__u32 i;

	if (key->family == NP_AF_INET6 || !maps->flowarr4_n)
		return NULL;
	i = np_flow4_index(ntohl(key->addr.v4), ntohs(key->port),
			   maps->flowarr4_n);
	return (struct np_flow_entry *)maps->flowarr4 + i;
}

static bool cell_holds(const struct np_flow_entry *cell,
		       const struct np_flow_key *key)
{
	return __atomic_load_n(&cell->key_live, __ATOMIC_ACQUIRE) ==
		       NP_FLOW_LIVE &&
	       cell->key_addr == key->addr.v4 && cell->key_port == key->port;
}

/*
 * Writes a flow into its array entry: every field, then the key made live
 * (a release store), so that the relay, which compares the key first,
 * never matches an entry half written. A replaced flow is rewritten in
 * place: a packet relayed at that instant (nanoseconds) may see part of
 * the old rewrite and part of the new, as one in a preallocated hash
 * element that the kernel reuses at once may.
 */
static void cell_store(struct np_flow_entry *cell,
		       const struct np_flow_key *key,
		       const struct np_flow_entry *e)
{
	size_t head = offsetof(struct np_flow_entry, flags);

	memcpy((char *)cell + head, (const char *)e + head, sizeof(*e) - head);
	cell->key_addr = key->addr.v4;
	cell->key_port = key->port;
	__atomic_store_n(&cell->key_live, NP_FLOW_LIVE, __ATOMIC_RELEASE);
}

/*
 * A flow's entry, from the array when its index holds it, else from its
 * family's hash; *cell says which (NULL: the hash).
 */
static int entry_find(const struct np_maps *maps,
		      const struct np_flow_key *key, struct np_flow_entry *e,
		      struct np_flow_entry **cell)
{
	struct np_flow_entry *c = array_cell(maps, key);
	union flow_map_key mkey;
	int fd;

	*cell = NULL;
	if (c && cell_holds(c, key)) {
		memcpy(e, c, sizeof(*e));
		*cell = c;
		return 0;
	}
	fd = flow_map(maps, key, &mkey);
	return bpf_map_lookup_elem(fd, &mkey, e) ? -errno : 0;
}

/*
 * The array entry a flow with this slot lives in or goes to: its index's,
 * when the flow is there already or its slot is that index (claimed by
 * place_claim, so no other flow can be there); NULL: the hash.
 */
static struct np_flow_entry *cell_of(const struct np_maps *maps,
				     const struct np_flow_key *key, __u32 slot)
{
	struct np_flow_entry *c = array_cell(maps, key);

	if (c && (cell_holds(c, key) ||
		  slot == (__u32)(c - (struct np_flow_entry *)maps->flowarr4)))
		return c;
	return NULL;
}

static int entry_get(const struct np_maps *maps, const struct np_flow_key *key,
		     struct np_flow_entry *e)
{
	struct np_flow_entry *cell;

	return entry_find(maps, key, e, &cell);
}

/*
 * Slots. Every flow owns one index into the per-CPU array NP_MAP_COUNTERS,
 * where the relay keeps the counters its entry does not (np_counters). Ownership lives in the
 * pinned map NP_MAP_SLOTS (slot -> flow key), claimed with BPF_NOEXIST so
 * that natproxyd and natproxyctl, installing at the same time, never share
 * one; being pinned, it outlives a daemon restart along with the flows.
 * Each process probes from a random start, so a claim takes about
 * 1 / (1 - fill) tries.
 */
static __u32 slot_cursor;
static bool slot_cursor_set;

static bool slot_owned(const struct np_maps *maps, __u32 slot,
		       const struct np_flow_key *key)
{
	struct np_flow_key owner;

	return !bpf_map_lookup_elem(maps->fd[NP_SLOTS], &slot, &owner) &&
	       !memcmp(&owner, key, sizeof(owner));
}

static int slot_claim(const struct np_maps *maps,
		      const struct np_flow_key *key, __u32 *slot)
{
	__u32 n = maps->max_flows ? maps->max_flows : NP_MAX_FLOWS, i, s;

	if (!slot_cursor_set) {
		if (getrandom(&slot_cursor, sizeof(slot_cursor), 0) !=
		    sizeof(slot_cursor))
			slot_cursor = (__u32)time(NULL) * 2654435761u;
		slot_cursor_set = true;
	}
	for (i = 0; i < n; i++) {
		s = (slot_cursor + i) % n;
		if (!bpf_map_update_elem(maps->fd[NP_SLOTS], &s, key,
					 BPF_NOEXIST)) {
			slot_cursor = s + 1;
			*slot = s;
			return 0;
		}
		if (errno == E2BIG)
			return -ENOSPC; /* as many flows as slots */
		if (errno != EEXIST)
			return -errno;
	}
	return -ENOSPC;
}

/*
 * A new flow's slot and place: an IPv4 flow claims the slot equal to its
 * array index and goes to the array (*cell); when another flow holds that
 * slot, or for IPv6, any free slot and the hash (*cell NULL). That slot may
 * be the index of a port not in use yet, whose flow then goes to the hash
 * as well: slower by a lookup, never wrong.
 */
static int place_claim(const struct np_maps *maps,
		       const struct np_flow_key *key, __u32 *slot,
		       struct np_flow_entry **cell)
{
	struct np_flow_entry *c = array_cell(maps, key);
	__u32 s;

	*cell = NULL;
	if (c) {
		s = (__u32)(c - (struct np_flow_entry *)maps->flowarr4);
		if (!bpf_map_update_elem(maps->fd[NP_SLOTS], &s, key,
					 BPF_NOEXIST) ||
		    slot_owned(maps, s, key)) {
			*slot = s;
			*cell = c;
			return 0;
		}
	}
	return slot_claim(maps, key, slot);
}

/* Whether the slot's per-CPU counters count anything (NP_MAP_COLD_SLOTS);
 * true when the bits are not mapped. */
static bool slot_counts_cold(const struct np_maps *maps, __u32 slot)
{
	__u32 w = np_cold_word(slot);

	return !maps->cold_slots || w >= maps->cold_slots_n ||
	       (__atomic_load_n(&maps->cold_slots[w], __ATOMIC_ACQUIRE) &
		np_cold_bit(slot));
}

/* A new flow's slot, its counters zeroed: nothing counted there. */
static void slot_cold_clear(const struct np_maps *maps, __u32 slot)
{
	__u32 w = np_cold_word(slot);

	if (maps->cold_slots && w < maps->cold_slots_n)
		__atomic_fetch_and(&maps->cold_slots[w], ~np_cold_bit(slot),
				   __ATOMIC_RELEASE);
}

/* Every CPU's copy zeroed: counters from zero. */
static int slot_clear(const struct np_maps *maps, __u32 slot)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	struct np_counters *zero;

	if (ncpu < 0)
		return ncpu;
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(maps->fd[NP_COUNTERS], &slot, zero, BPF_ANY))
		err = -errno;
	free(zero);
	slot_cold_clear(maps, slot);
	return err;
}

static __u64 mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* When the entry's owner last relayed a packet, in the relay's clock
 * (CLOCK_MONOTONIC ns, coarse) read back from its stamp; 0: never. */
static __u64 entry_last_seen_ns(const struct np_flow_entry *e, __u64 now_ns)
{
	return e->packets ? np_last_seen_ns(e->last_seen, now_ns) : 0;
}

/* The entry's own counters: what its owner CPU relayed. */
static void sum_from_entry(struct np_counters *sum,
			   const struct np_flow_entry *e)
{
	memset(sum, 0, sizeof(*sum));
	sum->packets = e->packets;
	sum->bytes = e->bytes;
	sum->last_seen_ns = entry_last_seen_ns(e, mono_now_ns());
}

/* Every CPU's copy added: counts add up (modulo 2^64: a copy may hold a
 * take-back), first/last seen are min/max. */
static void sum_add_cpus(struct np_counters *sum,
			 const struct np_counters *per_cpu, int ncpu)
{
	int cpu, i;

	for (cpu = 0; cpu < ncpu; cpu++) {
		const struct np_counters *c = &per_cpu[cpu];

		sum->packets += c->packets;
		sum->bytes += c->bytes;
		sum->rtcp_packets += c->rtcp_packets;
		sum->to_kernel += c->to_kernel;
		for (i = 0; i < NP_DROP_MAX; i++)
			sum->drops[i] += c->drops[i];
		if (c->first_seen_ns &&
		    (!sum->first_seen_ns || c->first_seen_ns < sum->first_seen_ns))
			sum->first_seen_ns = c->first_seen_ns;
		if (c->last_seen_ns > sum->last_seen_ns)
			sum->last_seen_ns = c->last_seen_ns;
	}
	/* The entry's stamp is floored to its unit: never before the first
	 * packet, which the copies hold exactly. */
	if (sum->last_seen_ns && sum->last_seen_ns < sum->first_seen_ns)
		sum->last_seen_ns = sum->first_seen_ns;
}

/* The entry's counters plus the per-CPU copies at its slot. */
static int counters_sum(const struct np_maps *maps,
			const struct np_flow_entry *e, struct np_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	struct np_counters *per_cpu;

	sum_from_entry(sum, e);
	if (ncpu < 0)
		return ncpu;
	per_cpu = calloc(ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(maps->fd[NP_COUNTERS], &e->slot, per_cpu))
		err = -errno;
	else
		sum_add_cpus(sum, per_cpu, ncpu);
	free(per_cpu);
	return err;
}

/* Slots at most this far apart are read in one batch, the ones between
 * included (a call's RTP and RTCP flows sit at neighbouring indexes). */
#define SUM_RUN_SPAN 8u

static int by_slot(const void *a, const void *b)
{
	__u32 x = (*(const struct np_flow_entry *const *)a)->slot;
	__u32 y = (*(const struct np_flow_entry *const *)b)->slot;

	return x < y ? -1 : x > y;
}

/*
 * The counts of n entries into *out[i] (not first_seen_ns: a flow ends):
 * the entry's own, and the per-CPU copies of those slots that count
 * something (slot_counts_cold; an RTP flow relayed by one CPU does not),
 * those close together read with one bpf_map_lookup_batch (the counters
 * are an array: a batch reads the slots after the one given, in order),
 * the rest one lookup each. The bpf() calls made.
 */
static unsigned counters_sum_n(const struct np_maps *maps,
			       const struct np_flow_entry *e, size_t n,
			       struct np_counters **out)
{
	int ncpu = libbpf_num_possible_cpus();
	const struct np_flow_entry **order;
	struct np_counters *vals = NULL;
	__u32 keys[SUM_RUN_SPAN], first, count, k;
	struct np_mapwalk w;
	size_t i, j, m;
	unsigned calls = 0;
	size_t n_cold = 0;
	bool ok;

	for (i = 0; i < n; i++)
		sum_from_entry(out[i], &e[i]);
	for (i = 0; i < n; i++)
		n_cold += slot_counts_cold(maps, e[i].slot);
	if (!n_cold || ncpu <= 0)
		return 0;
	order = malloc(n * sizeof(*order));
	vals = calloc((size_t)SUM_RUN_SPAN * ncpu, sizeof(*vals));
	if (!order || !vals) {
		for (i = 0; i < n; i++, calls++)
			counters_sum(maps, &e[i], out[i]);
		goto done;
	}
	for (i = 0, j = 0; i < n; i++)
		if (slot_counts_cold(maps, e[i].slot))
			order[j++] = &e[i];
	n = n_cold;
	qsort(order, n, sizeof(*order), by_slot);
	for (i = 0; i < n; i = j) {
		first = order[i]->slot;
		for (j = i + 1; j < n && order[j]->slot - first < SUM_RUN_SPAN; j++)
			;
		count = order[j - 1]->slot - first + 1;
		ok = false;
		if (count > 1) {
			calls++;
			np_mapwalk_init(&w, maps->fd[NP_COUNTERS], keys, vals,
					count);
			np_mapwalk_from(&w, first);
			ok = np_mapwalk_next(&w) && w.count == count &&
			     keys[0] == first;
		}
		if (!ok) {
			/* One flow, or no batch here: one lookup each. */
			for (m = i; m < j; m++, calls++)
				counters_sum(maps, order[m], out[order[m] - e]);
			continue;
		}
		for (m = i; m < j; m++) {
			k = order[m]->slot - first;
			sum_add_cpus(out[order[m] - e], &vals[(size_t)k * ncpu],
				     ncpu);
		}
	}
done:
	free(order);
	free(vals);
	return calls;
}

/*
 * A replaced flow keeps its slot and its entry's counters, so its counts go
 * on; packets the relay counts in the old entry between our read and the
 * update (microseconds) are lost to the count, never added twice. The next
 * hop is resolved again, and the first CPU to relay owns the new entry.
 */
int np_flow_install(const struct np_maps *maps, const struct np_flow_key *key,
		    const struct np_flow *flow)
{
	struct np_flow f = *flow;
	struct np_flow_entry old, e, *cell;
	union flow_map_key mkey;
	bool claimed = false, replaced, in_hash;
	int fd, err;

	in_hash = !entry_find(maps, key, &old, &cell) && !cell;
	replaced = (in_hash || cell) && slot_owned(maps, old.slot, key);
	if (replaced) {
		f.slot = old.slot;
	} else {
		err = place_claim(maps, key, &f.slot, &cell);
		if (err)
			return err;
		claimed = true;
		/* Before the flow is visible: a slot comes back from an
		 * earlier flow with its counts and next hop. */
		err = slot_clear(maps, f.slot);
		if (err)
			goto release;
	}
	/* A replaced flow restarts its token bucket from a full burst. */
	bpf_map_delete_elem(maps->fd[NP_POLICERS], key);
	entry_of(&e, &f, key->family);
	if (replaced) {
		e.packets = old.packets;
		e.bytes = old.bytes;
		e.last_seen = old.last_seen;
	}
	fd = flow_map(maps, key, &mkey);
	if (cell) {
		cell_store(cell, key, &e);
		/* An entry left in the hash without its slot: the array's
		 * hides it from the relay, and it would come back. */
		if (in_hash && !replaced)
			bpf_map_delete_elem(fd, &mkey);
		return 0;
	}
	if (bpf_map_update_elem(fd, &mkey, &e, BPF_ANY)) {
		err = -errno;
		goto release;
	}
	return 0;
release:
	if (claimed)
		bpf_map_delete_elem(maps->fd[NP_SLOTS], &f.slot);
	return err;
}

int np_flow_get(const struct np_maps *maps, const struct np_flow_key *key,
		struct np_flow *flow)
{
	struct np_flow_entry e;
	int err = entry_get(maps, key, &e);

	if (!err)
		flow_of_entry(flow, &e, key->family);
	return err;
}

int np_counters_read(const struct np_maps *maps,
		     const struct np_flow_key *key, struct np_counters *sum)
{
	struct np_flow_entry e;
	int err;

	err = entry_get(maps, key, &e);
	if (err) {
		memset(sum, 0, sizeof(*sum));
		return err;
	}
	return counters_sum(maps, &e, sum);
}

int np_flow_remove(const struct np_maps *maps, const struct np_flow_key *key,
		   struct np_counters *last)
{
	struct np_counters ignored;
	struct np_flow_entry e, *cell;
	union flow_map_key mkey;
	int fd, err;

	err = entry_find(maps, key, &e, &cell);
	if (err)
		return err;
	fd = flow_map(maps, key, &mkey);
	if (cell)
		/* The relay stops matching it; the rest is written over
		 * by the next flow at the index, before it goes live. */
		__atomic_store_n(&cell->key_live, 0, __ATOMIC_RELEASE);
	else if (bpf_map_delete_elem(fd, &mkey))
		return -errno;
	/* The entry as read before the delete: what the relay counted in it
	 * after that read is lost to the count (microseconds). */
	counters_sum(maps, &e, last ? last : &ignored);
	if (slot_owned(maps, e.slot, key))
		bpf_map_delete_elem(maps->fd[NP_SLOTS], &e.slot);
	bpf_map_delete_elem(maps->fd[NP_POLICERS], key);
	return 0;
}

int np_slots_reconcile(const struct np_maps *maps)
{
	__u32 slot, next, *stale = NULL;
	size_t n = 0, cap = 0, i;
	struct np_flow_key owner;
	struct np_flow flow;
	void *prev = NULL;
	int err = 0;

	while (!bpf_map_get_next_key(maps->fd[NP_SLOTS], prev, &next)) {
		slot = next;
		prev = &slot;
		if (bpf_map_lookup_elem(maps->fd[NP_SLOTS], &slot, &owner))
			continue;
		if (!np_flow_get(maps, &owner, &flow) && flow.slot == slot)
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			__u32 *s = realloc(stale, ncap * sizeof(*stale));

			if (!s) {
				err = -ENOMEM;
				goto out;
			}
			stale = s;
			cap = ncap;
		}
		stale[n++] = slot;
	}
	if (errno != ENOENT) {
		err = -errno;
		goto out;
	}
	/* After the walk: deleting during get_next_key would restart it. */
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(maps->fd[NP_SLOTS], &stale[i]);
	err = (int)n;
out:
	free(stale);
	return err;
}

int np_verdicts_read(const struct np_maps *maps, __u64 *out)
{
	int ncpu = libbpf_num_possible_cpus(), cpu, err = 0;
	__u64 *per_cpu;
	__u32 v;

	if (ncpu < 0)
		return ncpu;
	per_cpu = calloc(ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	for (v = 0; v < NP_V_MAX; v++) {
		out[v] = 0;
		if (bpf_map_lookup_elem(maps->fd[NP_VERDICTS], &v, per_cpu)) {
			err = -errno;
			break;
		}
		for (cpu = 0; cpu < ncpu; cpu++)
			out[v] += per_cpu[cpu];
	}
	free(per_cpu);
	return err;
}

/* Visits every flow of one family's map; keys given as ctl/ has them. */
static int foreach_in(const struct np_maps *maps, int family,
		      np_flow_visit_fn visit, void *arg)
{
	union flow_map_key mkey, next;
	struct np_counters counters;
	struct np_flow_entry e;
	struct np_flow_key key;
	struct np_flow flow;
	void *prev = NULL;
	int fd, err;

	memset(&key, 0, sizeof(key));
	key.family = family;
	fd = flow_map(maps, &key, &mkey);
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		mkey = next;
		prev = &mkey;
		/* Gone since get_next_key: a concurrent delete, skip it. */
		if (bpf_map_lookup_elem(fd, &mkey, &e))
			continue;
		if (family == NP_AF_INET6) {
			key = mkey.v6;
		} else {
			key.addr.v4 = mkey.v4.addr;
			key.port = mkey.v4.port;
		}
		flow_of_entry(&flow, &e, family);
		counters_sum(maps, &e, &counters);
		err = visit(&key, &flow, &counters, arg);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

/* Array entry i, copied with its key, if it holds a flow. */
static bool cell_copy(const struct np_maps *maps, __u32 i,
		      struct np_flow_entry *e, struct np_flow_key *key)
{
	const struct np_flow_entry *cell =
		(const struct np_flow_entry *)maps->flowarr4 + i;

	if (__atomic_load_n(&cell->key_live, __ATOMIC_ACQUIRE) != NP_FLOW_LIVE)
		return false;
	memcpy(e, cell, sizeof(*e));
	memset(key, 0, sizeof(*key));
	key->family = NP_AF_INET;
	key->addr.v4 = e->key_addr;
	key->port = e->key_port;
	return true;
}

/*
 * The array indexes that may hold a flow, ascending, without reading the
 * array: a flow at its index owns the slot equal to that index
 * (place_claim), claimed in NP_SLOTS before the entry goes live and given
 * up only after it stops being live (np_flow_remove, flow_take, leases),
 * so the claimed slots below the array's length name every live entry,
 * and a crash between the steps leaves a claimed slot over an entry not
 * live (skipped by the walk, released by np_slots_reconcile), never the
 * reverse. NP_SLOTS is read in batches, which go on from a bucket, not a
 * key: a slot given up meanwhile cannot restart the walk or show an index
 * twice. Reading it costs the slots in use and one pass in the kernel
 * over its buckets, not the array's 192 bytes an entry. -errno when the
 * kernel cannot batch a hash (before 5.6): the caller reads every entry.
 */
#define CLAIMED_BATCH 4096u

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static int cells_claimed(const struct np_maps *maps, __u32 **out, size_t *n)
{
	struct np_flow_key *owners = NULL;
	__u32 *idx = NULL, *keys = NULL, count, i;
	struct np_mapwalk w;
	size_t cap = 0;
	int err = 0;

	*n = 0;
	keys = calloc(CLAIMED_BATCH, sizeof(*keys));
	owners = calloc(CLAIMED_BATCH, sizeof(*owners));
	if (!keys || !owners) {
		err = -ENOMEM;
		goto out;
	}
	np_mapwalk_init(&w, maps->fd[NP_SLOTS], keys, owners, CLAIMED_BATCH);
	while (np_mapwalk_next(&w)) {
		count = w.count;
		if (*n + count > cap) {
			size_t ncap = cap ? 2 * cap : CLAIMED_BATCH;
			__u32 *grown;

			while (ncap < *n + count)
				ncap *= 2;
			grown = realloc(idx, ncap * sizeof(*idx));
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			idx = grown;
			cap = ncap;
		}
		for (i = 0; i < count; i++)
			if (keys[i] < maps->flowarr4_n)
				idx[(*n)++] = keys[i];
	}
	err = w.err;
	if (err)
		goto out;
	/* In index order, as a walk of the whole array gave them. */
	if (*n)
		qsort(idx, *n, sizeof(*idx), cmp_u32);
out:
	free(keys);
	free(owners);
	if (err) {
		free(idx);
		idx = NULL;
		*n = 0;
	}
	*out = idx;
	return err;
}

/* visit() on each live array entry, copied with its key, in index order. */
static int cells_foreach(const struct np_maps *maps,
			 int (*visit)(const struct np_maps *maps,
				      const struct np_flow_entry *e,
				      const struct np_flow_key *key, void *arg),
			 void *arg)
{
	struct np_flow_entry e;
	struct np_flow_key key;
	__u32 *idx, i;
	size_t n, k;
	int err = 0;

	if (!maps->flowarr4_n)
		return 0;
	if (cells_claimed(maps, &idx, &n)) {
		for (i = 0; i < maps->flowarr4_n && !err; i++)
			if (cell_copy(maps, i, &e, &key))
				err = visit(maps, &e, &key, arg);
		return err;
	}
	for (k = 0; k < n && !err; k++)
		if (cell_copy(maps, idx[k], &e, &key))
			err = visit(maps, &e, &key, arg);
	free(idx);
	return err;
}

struct cell_visit {
	np_flow_visit_fn visit;
	void *arg;
};

static int cell_visit_flow(const struct np_maps *maps,
			   const struct np_flow_entry *e,
			   const struct np_flow_key *key, void *arg)
{
	struct cell_visit *v = arg;
	struct np_counters counters;
	struct np_flow flow;

	flow_of_entry(&flow, e, NP_AF_INET);
	counters_sum(maps, e, &counters);
	return v->visit(key, &flow, &counters, v->arg);
}

/* Visits every flow in the array. */
static int foreach_cell(const struct np_maps *maps, np_flow_visit_fn visit,
			void *arg)
{
	struct cell_visit v = { .visit = visit, .arg = arg };

	return cells_foreach(maps, cell_visit_flow, &v);
}

int np_flow_foreach(const struct np_maps *maps, np_flow_visit_fn visit,
		    void *arg)
{
	int err = foreach_cell(maps, visit, arg);

	if (!err)
		err = foreach_in(maps, NP_AF_INET, visit, arg);
	return err ? err : foreach_in(maps, NP_AF_INET6, visit, arg);
}

/*
 * The write queue (see flowtab.h). One record per key touched in the turn,
 * in the order first touched, found through a small chained hash: what the
 * map held when read (if read), and the write queued for it (if any). A
 * flush turns the queued writes into one batched update of each flow map,
 * one batched zeroing of the new flows' counter slots and one batched
 * release of removed flows' slots; a new flow's slot claim stays one call
 * (a batched update cannot ask BPF_NOEXIST, which the claim needs against
 * natproxyctl installing at the same time), unless the flow takes the
 * lease its key left (see lease_cell): then none.
 */
enum rec_known {
	REC_UNREAD, /* not read this turn: a new flow as far as we know */
	REC_ABSENT, /* read (or removed) this turn: not in the map */
	REC_PRESENT, /* read this turn: rec.old is the map's entry */
};

struct flowq_rec {
	struct np_flow_key key;
	__u8 known; /* enum rec_known */
	bool pending; /* rec.flow is to be written */
	/* A new flow's slot, claimed when it was queued: a full table says
	 * so to the caller then (a call gets 503), not at the flush. */
	bool claimed;
	__u32 slot;
	__u32 next; /* the hash chain: index + 1, 0 ends it */
	struct np_flow_entry old;
	struct np_flow flow;
};

#define FLOWQ_BUCKETS 1024u

struct np_flowq {
	const struct np_maps *maps;
	struct flowq_rec *recs;
	size_t n, cap, n_pending;
	__u32 buckets[FLOWQ_BUCKETS]; /* index + 1 */
	/* Slots this process claimed and still holds: bit per slot. A flow
	 * whose entry names one of them is ours without asking NP_SLOTS. */
	__u64 *owned;
	size_t owned_words;
	/* Of those, the slots held as leases (see lease_cell): no flow. */
	__u64 *leased;
	size_t leased_words, n_leased;
	__u32 *release; /* slots of removed flows, freed at the flush */
	size_t n_release, cap_release;
	/* Scratch for a flush, grown as needed. */
	void *keys, *vals;
	size_t scratch;
	struct np_flow_key failed_key;
	int failed_err;
	struct np_flowq_stats st;
};

struct np_flowq *np_flowq_new(const struct np_maps *maps)
{
	struct np_flowq *q = calloc(1, sizeof(*q));

	if (q)
		q->maps = maps;
	return q;
}

static size_t leases_return(struct np_flowq *q);

void np_flowq_free(struct np_flowq *q)
{
	if (!q)
		return;
	leases_return(q);
	free(q->recs);
	free(q->owned);
	free(q->leased);
	free(q->release);
	free(q->keys);
	free(q->vals);
	free(q);
}

static __u32 key_hash(const struct np_flow_key *k)
{
	__u32 h = 2166136261u;
	const __u8 *p = (const __u8 *)k;
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 16777619u;
	return h % FLOWQ_BUCKETS;
}

static struct flowq_rec *rec_find(struct np_flowq *q,
				  const struct np_flow_key *key)
{
	__u32 i = q->buckets[key_hash(key)];

	while (i) {
		struct flowq_rec *r = &q->recs[i - 1];

		if (!memcmp(&r->key, key, sizeof(*key)))
			return r;
		i = r->next;
	}
	return NULL;
}

/* NULL without the memory. */
static struct flowq_rec *rec_add(struct np_flowq *q,
				 const struct np_flow_key *key)
{
	struct flowq_rec *r = rec_find(q, key);
	__u32 h;

	if (r)
		return r;
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 64;
		void *p = realloc(q->recs, cap * sizeof(*q->recs));

		if (!p)
			return NULL;
		q->recs = p;
		q->cap = cap;
	}
	r = &q->recs[q->n++];
	memset(r, 0, sizeof(*r));
	r->key = *key;
	h = key_hash(key);
	r->next = q->buckets[h];
	q->buckets[h] = (__u32)q->n;
	return r;
}

/* Bit i of a bitmap of slots (owned, leased); grown to the slot count
 * when set. false: no memory, nothing set. */
static bool bit_get(const __u64 *bits, size_t words, __u32 i)
{
	return i / 64 < words && (bits[i / 64] >> (i % 64) & 1);
}

static bool bit_set(const struct np_flowq *q, __u64 **bits, size_t *words,
		    __u32 i, bool on)
{
	size_t w = i / 64;

	if (w >= *words) {
		size_t n = q->maps->max_flows ? q->maps->max_flows :
						NP_MAX_FLOWS;
		__u64 *o;

		if (!on)
			return true;
		n = (n + 63) / 64;
		if (w >= n)
			return false;
		o = realloc(*bits, n * sizeof(*o));
		if (!o)
			return false;
		memset(o + *words, 0, (n - *words) * sizeof(*o));
		*bits = o;
		*words = n;
	}
	if (on)
		(*bits)[w] |= 1ull << (i % 64);
	else
		(*bits)[w] &= ~(1ull << (i % 64));
	return true;
}

static bool slot_is_ours(const struct np_flowq *q, __u32 slot)
{
	return bit_get(q->owned, q->owned_words, slot);
}

/* Without the memory the slot is not marked: NP_SLOTS is asked instead. */
static void slot_mark(struct np_flowq *q, __u32 slot, bool ours)
{
	bit_set(q, &q->owned, &q->owned_words, slot, ours);
}

/*
 * Leases. An IPv4 flow at its index in the array owns the slot equal to
 * that index (place_claim). When the queue's owner removes such a flow,
 * the slot stays claimed in NP_SLOTS for the same key, and the array entry
 * keeps naming that key (only key_live is cleared): a lease. The next flow
 * of that key, which natproxyd installs when it hands the relay port out
 * again, takes the slot back without a claim, and the removal released
 * nothing: two system calls a flow fewer (a claim is one call per flow, as
 * BPF_NOEXIST is not allowed in a batch). The slot's counters are zeroed
 * at the install, as a new slot's are. Leases are given back when a claim
 * finds no free slot (leases_return), when the queue is freed, and by
 * np_slots_reconcile at natproxyd's next start (no flow holds them).
 */

/* The array entry of key, when the lease of its slot is held: the entry
 * names key, not live, with the slot of its index. */
static struct np_flow_entry *lease_cell(const struct np_flowq *q,
					const struct np_flow_key *key,
					__u32 *slot)
{
	struct np_flow_entry *c = array_cell(q->maps, key);
	__u32 s;

	if (!c)
		return NULL;
	s = (__u32)(c - (struct np_flow_entry *)q->maps->flowarr4);
	if (!bit_get(q->leased, q->leased_words, s) ||
	    __atomic_load_n(&c->key_live, __ATOMIC_ACQUIRE) == NP_FLOW_LIVE ||
	    c->key_addr != key->addr.v4 || c->key_port != key->port ||
	    c->slot != s)
		return NULL;
	*slot = s;
	return c;
}

/* key's slot from its lease, if held: the slot stays ours, in use. */
static bool lease_take(struct np_flowq *q, const struct np_flow_key *key,
		       __u32 *slot)
{
	if (!lease_cell(q, key, slot))
		return false;
	bit_set(q, &q->leased, &q->leased_words, *slot, false);
	q->n_leased--;
	q->st.lease_takes++;
	return true;
}

static void slot_release_later(struct np_flowq *q, __u32 slot);
static void slot_keep(struct np_flowq *q, __u32 slot);
static void batch_run(struct np_flowq *q, int fd, const void *keys,
		      size_t ksz, const void *vals, size_t vsz, size_t n,
		      void (*failed)(struct np_flowq *q, size_t i, int err,
				     void *arg),
		      void *arg);

/*
 * The slot of key's flow, just gone, that this process holds: kept as a
 * lease when the array entry at its index names key and that slot (a flow
 * that was in the array), else released at the flush.
 */
static void slot_give_up(struct np_flowq *q, const struct np_flow_key *key,
			 __u32 slot)
{
	struct np_flow_entry *c = array_cell(q->maps, key);

	if (c && slot == (__u32)(c - (struct np_flow_entry *)q->maps->flowarr4) &&
	    __atomic_load_n(&c->key_live, __ATOMIC_ACQUIRE) != NP_FLOW_LIVE &&
	    c->key_addr == key->addr.v4 && c->key_port == key->port &&
	    c->slot == slot &&
	    bit_set(q, &q->leased, &q->leased_words, slot, true)) {
		q->n_leased++;
		return;
	}
	slot_mark(q, slot, false);
	slot_release_later(q, slot);
}

/*
 * Gives every lease back (one batched delete from NP_SLOTS): a claim found
 * no free slot, or the queue goes. A lease whose array entry no longer
 * names its key not live (another process wrote it, which it can only
 * have done holding the slot) is forgotten, not deleted. The number given
 * back.
 */
static size_t leases_return(struct np_flowq *q)
{
	struct np_flow_entry *arr = q->maps->flowarr4;
	__u32 *slots;
	size_t w, n = 0;

	if (!q->n_leased)
		return 0;
	slots = malloc(q->n_leased * sizeof(*slots));
	for (w = 0; w < q->leased_words; w++) {
		while (q->leased[w]) {
			__u32 s = (__u32)(w * 64 + (size_t)__builtin_ctzll(q->leased[w]));

			q->leased[w] &= q->leased[w] - 1;
			slot_mark(q, s, false);
			if (slots && n < q->n_leased && s < q->maps->flowarr4_n &&
			    __atomic_load_n(&arr[s].key_live, __ATOMIC_ACQUIRE) !=
				    NP_FLOW_LIVE &&
			    arr[s].slot == s)
				slots[n++] = s;
		}
	}
	q->n_leased = 0;
	/* Past any the kernel refuses (gone already: fine). */
	if (n)
		batch_run(q, q->maps->fd[NP_SLOTS], slots, sizeof(*slots), NULL,
			  0, n, NULL, NULL);
	free(slots);
	return n;
}

/* place_claim for the queue: a lease first, then a free slot; when none
 * is left, the leases go back and the claim is tried again. */
static int queue_claim(struct np_flowq *q, const struct np_flow_key *key,
		       __u32 *slot)
{
	struct np_flow_entry *cell;
	int err;

	if (lease_take(q, key, slot))
		return 0;
	q->st.syscalls++;
	err = place_claim(q->maps, key, slot, &cell);
	if (err == -ENOSPC && leases_return(q)) {
		q->st.syscalls++;
		err = place_claim(q->maps, key, slot, &cell);
	}
	if (err)
		return err;
	slot_keep(q, *slot);
	slot_mark(q, *slot, true);
	return 0;
}

/* entry_get, counting the system call it makes (none for the array). */
static int queue_entry_get(struct np_flowq *q, const struct np_flow_key *key,
			   struct np_flow_entry *e)
{
	struct np_flow_entry *cell;
	int err = entry_find(q->maps, key, e, &cell);

	if (!cell)
		q->st.syscalls++;
	return err;
}

/* The turn's read of key: from the record, or the map (then remembered). */
static int rec_read(struct np_flowq *q, const struct np_flow_key *key,
		    struct flowq_rec **out)
{
	struct flowq_rec *r = rec_find(q, key), tmp;
	int err;

	if (!r || r->known == REC_UNREAD) {
		if (!r) {
			r = rec_add(q, key);
			if (!r) {
				memset(&tmp, 0, sizeof(tmp));
				tmp.key = *key;
				r = &tmp; /* not remembered */
			}
		}
		err = queue_entry_get(q, key, &r->old);
		if (err && err != -ENOENT)
			return err;
		r->known = err ? REC_ABSENT : REC_PRESENT;
		if (r == &tmp) {
			*out = NULL;
			return err;
		}
	}
	*out = r;
	return 0;
}

int np_flowq_get(struct np_flowq *q, const struct np_flow_key *key,
		 struct np_flow *flow)
{
	struct flowq_rec *r = rec_find(q, key);
	int err;

	if (r && r->pending) {
		*flow = r->flow;
		flow->flags &= ~NP_FLOW_ENTRY_BITS;
		flow->slot = r->known == REC_PRESENT ? r->old.slot : 0;
		return 0;
	}
	if (!r || r->known == REC_UNREAD) {
		struct np_flow_entry e;

		if (!rec_read(q, key, &r) && !r) {
			/* Read, not remembered (no memory). */
			err = entry_get(q->maps, key, &e);
			if (!err)
				flow_of_entry(flow, &e, key->family);
			return err;
		}
		if (!r)
			return -ENOMEM;
	}
	if (r->known != REC_PRESENT)
		return -ENOENT;
	flow_of_entry(flow, &r->old, key->family);
	return 0;
}

/*
 * A slot claimed again in the turn that removed its flow (an IPv4 flow's
 * index is its slot, so a key removed and installed again gets it back):
 * not released at the flush after all.
 */
static void slot_keep(struct np_flowq *q, __u32 slot)
{
	size_t i;

	for (i = 0; i < q->n_release; i++)
		if (q->release[i] == slot) {
			q->release[i] = q->release[--q->n_release];
			return;
		}
}

static int queue_write(struct np_flowq *q, const struct np_flow_key *key,
		       const struct np_flow *flow, bool is_new)
{
	struct flowq_rec *r = rec_add(q, key);

	if (!r) {
		/* Written at once, after what was queued before it. */
		np_flowq_flush(q);
		q->st.syscalls += 5;
		return np_flow_install(q->maps, key, flow);
	}
	if (is_new && r->known == REC_UNREAD)
		r->known = REC_ABSENT;
	if (r->known == REC_ABSENT && !r->claimed) {
		int err = queue_claim(q, key, &r->slot);

		if (err)
			return err;
		r->claimed = true;
	}
	if (!r->pending)
		q->n_pending++;
	r->pending = true;
	r->flow = *flow;
	return 0;
}

int np_flowq_install(struct np_flowq *q, const struct np_flow_key *key,
		     const struct np_flow *flow)
{
	return queue_write(q, key, flow, false);
}

int np_flowq_install_new(struct np_flowq *q, const struct np_flow_key *key,
			 const struct np_flow *flow)
{
	return queue_write(q, key, flow, true);
}

/* A removed flow's slot, released at the flush (one batch). */
static void slot_release_later(struct np_flowq *q, __u32 slot)
{
	if (q->n_release == q->cap_release) {
		size_t cap = q->cap_release ? 2 * q->cap_release : 64;
		__u32 *p = realloc(q->release, cap * sizeof(*p));

		if (!p) {
			q->st.syscalls++;
			bpf_map_delete_elem(q->maps->fd[NP_SLOTS], &slot);
			return;
		}
		q->release = p;
		q->cap_release = cap;
	}
	q->release[q->n_release++] = slot;
}

/*
 * Takes key's flow out of the maps: the relay stops matching it, its entry
 * as last seen in *e, its slot kept as a lease or released at the flush
 * (its per-CPU counters stay readable until then). 0, -ENOENT or -errno.
 */
static int flow_take(struct np_flowq *q, const struct np_flow_key *key,
		     struct np_flow_entry *e)
{
	struct flowq_rec *r = rec_find(q, key);
	union flow_map_key mkey;
	struct np_flow_entry *cell;
	bool ours;
	int fd;

	if (r && r->pending) {
		r->pending = false;
		q->n_pending--;
	}
	if (r && r->claimed) {
		slot_give_up(q, key, r->slot);
		r->claimed = false;
	}
	/* Known to be absent: the write just dropped was all there was. */
	if (r && r->known == REC_ABSENT)
		return -ENOENT;
	cell = array_cell(q->maps, key);
	if (cell && cell_holds(cell, key)) {
		/* The relay stops matching it; what it counts after this
		 * copy (nanoseconds) is lost to the count, as below. */
		memcpy(e, cell, sizeof(*e));
		__atomic_store_n(&cell->key_live, 0, __ATOMIC_RELEASE);
		goto taken;
	}
	/* The entry as the delete took it: every packet counted in it. */
	fd = flow_map(q->maps, key, &mkey);
	q->st.syscalls++;
	if (bpf_map_lookup_and_delete_elem(fd, &mkey, e)) {
		if (errno != EINVAL && errno != 524 /* ENOTSUPP */ && errno != EOPNOTSUPP)
			return -errno;
		/* A kernel without it for hash maps (before 5.14). */
		q->st.syscalls += 2;
		if (entry_get(q->maps, key, e))
			return -errno;
		if (bpf_map_delete_elem(fd, &mkey))
			return -errno;
	}
taken:
	if (r)
		r->known = REC_ABSENT;
	ours = slot_is_ours(q, e->slot);
	if (!ours) {
		q->st.syscalls++;
		ours = slot_owned(q->maps, e->slot, key);
		if (ours)
			slot_mark(q, e->slot, true);
	}
	if (ours)
		slot_give_up(q, key, e->slot);
	if (e->flags & NP_F_POLICED) {
		q->st.syscalls++;
		bpf_map_delete_elem(q->maps->fd[NP_POLICERS], key);
	}
	return 0;
}

int np_flowq_remove(struct np_flowq *q, const struct np_flow_key *key,
		    struct np_counters *last)
{
	struct np_counters ignored;
	struct np_flow_entry e;
	int err;

	if (!last)
		last = &ignored;
	memset(last, 0, sizeof(*last));
	err = flow_take(q, key, &e);
	if (err)
		return err;
	q->st.syscalls++;
	counters_sum(q->maps, &e, last);
	return 0;
}

void np_flowq_remove_n(struct np_flowq *q, const struct np_flow_key *keys,
		       size_t n, struct np_counters *last, int *err)
{
	struct np_flow_entry *taken = malloc(n * sizeof(*taken));
	struct np_counters **out = malloc(n * sizeof(*out));
	size_t i, k = 0;

	if (!taken || !out) {
		free(taken);
		free(out);
		for (i = 0; i < n; i++)
			err[i] = np_flowq_remove(q, &keys[i], &last[i]);
		return;
	}
	for (i = 0; i < n; i++) {
		memset(&last[i], 0, sizeof(last[i]));
		err[i] = flow_take(q, &keys[i], &taken[k]);
		if (!err[i])
			out[k++] = &last[i];
	}
	q->st.syscalls += counters_sum_n(q->maps, taken, k, out);
	free(taken);
	free(out);
}

int np_flowq_counters(struct np_flowq *q, const struct np_flow_key *key,
		      struct np_counters *sum)
{
	struct flowq_rec *r = rec_find(q, key);
	struct np_flow_entry e;
	int err;

	if (r && r->pending && r->known != REC_PRESENT) {
		memset(sum, 0, sizeof(*sum));
		return -ENOENT;
	}
	/* Read this turn (its latches, say): the entry as read then, with
	 * the per-CPU copies now; one lookup, not two. */
	if (r && r->known == REC_PRESENT) {
		q->st.syscalls++;
		return counters_sum(q->maps, &r->old, sum);
	}
	err = queue_entry_get(q, key, &e);
	if (err) {
		memset(sum, 0, sizeof(*sum));
		return err;
	}
	q->st.syscalls++;
	return counters_sum(q->maps, &e, sum);
}

bool np_flowq_pending(const struct np_flowq *q)
{
	return q->n_pending || q->n_release || q->n;
}

static int scratch_room(struct np_flowq *q, size_t n)
{
	size_t vsz = sizeof(struct np_flow_entry);
	int ncpu = libbpf_num_possible_cpus();
	void *k, *v;

	if (ncpu > 0 && (size_t)ncpu * sizeof(struct np_counters) > vsz)
		vsz = (size_t)ncpu * sizeof(struct np_counters);
	if (n <= q->scratch)
		return 0;
	k = realloc(q->keys, n * sizeof(union flow_map_key));
	if (!k)
		return -ENOMEM;
	q->keys = k;
	v = realloc(q->vals, n * vsz);
	if (!v)
		return -ENOMEM;
	q->vals = v;
	q->scratch = n;
	return 0;
}

static void flush_failed(struct np_flowq *q, const struct np_flow_key *key,
			 int err)
{
	q->st.failed++;
	q->failed_key = *key;
	q->failed_err = err;
}

/*
 * Runs a batched update or delete of n elements, going on past an element
 * the kernel refuses (the batch stops there): calls failed(i, -errno) for
 * it. keys and vals (vals NULL for a delete) are arrays of ksz / vsz.
 */
static void batch_run(struct np_flowq *q, int fd, const void *keys,
		      size_t ksz, const void *vals, size_t vsz, size_t n,
		      void (*failed)(struct np_flowq *q, size_t i, int err,
				     void *arg),
		      void *arg)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t done = 0;
	__u32 count;
	int err;

	while (done < n) {
		count = (__u32)(n - done);
		q->st.syscalls++;
		err = vals ? bpf_map_update_batch(fd, (const char *)keys + done * ksz,
						  (const char *)vals + done * vsz,
						  &count, &opts) :
			     bpf_map_delete_batch(fd, (const char *)keys + done * ksz,
						  &count, &opts);
		if (!err)
			return;
		err = -errno;
		if (count >= n - done)
			return;
		done += count;
		if (failed)
			failed(q, done, err, arg);
		done++;
	}
}

/* One flow map's pending writes, in queue order: index i of the batch is
 * the record map[i]. */
struct flow_batch {
	size_t *rec; /* batch position -> record index */
	size_t n;
};

static void flow_write_failed(struct np_flowq *q, size_t i, int err, void *arg)
{
	struct flow_batch *b = arg;
	struct flowq_rec *r = &q->recs[b->rec[i]];
	const struct np_flow_entry *e =
		(const struct np_flow_entry *)q->vals + i;

	flush_failed(q, &r->key, err);
	/* A slot claimed for it goes back; a replaced flow keeps its own. */
	if (r->known != REC_PRESENT || r->old.slot != e->slot) {
		slot_mark(q, e->slot, false);
		q->st.syscalls++;
		bpf_map_delete_elem(q->maps->fd[NP_SLOTS], &e->slot);
	}
}

/* The entry to write for record r, a slot claimed if it needs one. */
static int entry_prepare(struct np_flowq *q, struct flowq_rec *r,
			 struct np_flow_entry *e, bool *fresh)
{
	struct np_flow f = r->flow;
	bool replaced = false;
	int err;

	/* Not read this turn: what the map holds decides. */
	if (r->known == REC_UNREAD) {
		err = queue_entry_get(q, &r->key, &r->old);
		if (err && err != -ENOENT)
			return err;
		r->known = err ? REC_ABSENT : REC_PRESENT;
	}
	if (r->known == REC_PRESENT) {
		replaced = slot_is_ours(q, r->old.slot);
		if (!replaced) {
			q->st.syscalls++;
			replaced = slot_owned(q->maps, r->old.slot, &r->key);
			if (replaced)
				slot_mark(q, r->old.slot, true);
		}
	}
	*fresh = !replaced;
	if (replaced) {
		f.slot = r->old.slot;
	} else if (r->claimed) {
		f.slot = r->slot;
	} else {
		err = queue_claim(q, &r->key, &f.slot);
		if (err)
			return err;
	}
	entry_of(e, &f, r->key.family);
	if (replaced) {
		e->packets = r->old.packets;
		e->bytes = r->old.bytes;
		e->last_seen = r->old.last_seen;
	}
	/* A policed flow starts from a full bucket, as np_flow_install. */
	if ((e->flags & NP_F_POLICED) ||
	    (replaced && (r->old.flags & NP_F_POLICED))) {
		q->st.syscalls++;
		bpf_map_delete_elem(q->maps->fd[NP_POLICERS], &r->key);
	}
	return 0;
}

/* Zeroes every CPU's counters at the new flows' slots (one batch):
 * before the flows are visible, as a slot comes back with old counts. */
static void slots_clear(struct np_flowq *q, const __u32 *slots, size_t n)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t vsz, i;
	void *zero;

	if (!n || ncpu <= 0)
		return;
	vsz = (size_t)ncpu * sizeof(struct np_counters);
	zero = calloc(n, vsz);
	if (!zero) {
		for (i = 0; i < n; i++)
			slot_clear(q->maps, slots[i]);
		return;
	}
	batch_run(q, q->maps->fd[NP_COUNTERS], slots, sizeof(*slots), zero,
		  vsz, n, NULL, NULL);
	free(zero);
	for (i = 0; i < n; i++)
		slot_cold_clear(q->maps, slots[i]);
}

/* The pending writes to one family's map. */
static void flush_family(struct np_flowq *q, int family)
{
	size_t i, n = 0, ksz;
	struct flow_batch b = {};
	__u32 *fresh_slots;
	size_t n_fresh = 0, n_cells = 0;
	/* IPv4 flows at their index: written in place, no system call. */
	struct cell_write {
		struct np_flow_entry *cell, e;
		size_t rec;
		bool drop_hash; /* it was in the hash: that copy goes */
	} *cells = NULL;
	union flow_map_key mk;
	struct np_flow_key probe = { .family = (__u8)family };
	int fd = flow_map(q->maps, &probe, &mk), err;

	for (i = 0; i < q->n; i++)
		if (q->recs[i].pending && q->recs[i].key.family == family)
			n++;
	if (!n)
		return;
	b.rec = malloc(n * sizeof(*b.rec));
	fresh_slots = malloc(n * sizeof(*fresh_slots));
	if (family == NP_AF_INET)
		cells = malloc(n * sizeof(*cells));
	if (!b.rec || !fresh_slots || (family == NP_AF_INET && !cells) ||
	    scratch_room(q, n)) {
		/* One at a time, as before the queue. */
		for (i = 0; i < q->n; i++) {
			struct flowq_rec *r = &q->recs[i];

			if (!r->pending || r->key.family != family)
				continue;
			q->st.syscalls += 5;
			err = np_flow_install(q->maps, &r->key, &r->flow);
			if (err)
				flush_failed(q, &r->key, err);
			else
				q->st.installs++;
		}
		goto out;
	}
	ksz = family == NP_AF_INET6 ? sizeof(struct np_flow_key) :
				      sizeof(struct np_flow_key4);
	for (i = 0; i < q->n; i++) {
		struct flowq_rec *r = &q->recs[i];
		struct np_flow_entry *e = (struct np_flow_entry *)q->vals + b.n;
		struct np_flow_entry *cell;
		bool fresh;

		if (!r->pending || r->key.family != family)
			continue;
		err = entry_prepare(q, r, e, &fresh);
		if (err) {
			flush_failed(q, &r->key, err);
			continue;
		}
		if (fresh)
			fresh_slots[n_fresh++] = e->slot;
		cell = cell_of(q->maps, &r->key, e->slot);
		if (cell) {
			cells[n_cells++] = (struct cell_write){
				.cell = cell, .e = *e, .rec = i,
				.drop_hash = r->known == REC_PRESENT &&
					     !cell_holds(cell, &r->key),
			};
			continue;
		}
		flow_map(q->maps, &r->key, &mk);
		memcpy((char *)q->keys + b.n * ksz, &mk, ksz);
		b.rec[b.n++] = i;
	}
	slots_clear(q, fresh_slots, n_fresh);
	for (i = 0; i < n_cells; i++) {
		const struct np_flow_key *key = &q->recs[cells[i].rec].key;

		cell_store(cells[i].cell, key, &cells[i].e);
		if (cells[i].drop_hash) {
			q->st.syscalls++;
			flow_map(q->maps, key, &mk);
			bpf_map_delete_elem(fd, &mk);
		}
	}
	q->st.installs += n_cells;
	batch_run(q, fd, q->keys, ksz, q->vals, sizeof(struct np_flow_entry),
		  b.n, flow_write_failed, &b);
	q->st.installs += b.n;
out:
	free(b.rec);
	free(fresh_slots);
	free(cells);
}

static void release_failed(struct np_flowq *q, size_t i, int err, void *arg)
{
	(void)q, (void)i, (void)err, (void)arg; /* already gone: fine */
}

int np_flowq_flush(struct np_flowq *q)
{
	unsigned long long failed = q->st.failed;

	if (!np_flowq_pending(q))
		return 0;
	if (q->n_pending) {
		q->st.flushes++;
		flush_family(q, NP_AF_INET);
		flush_family(q, NP_AF_INET6);
	}
	/* After the writes: a slot released here is not claimed again by
	 * this flush (its counters stay readable until now). */
	if (q->n_release)
		batch_run(q, q->maps->fd[NP_SLOTS], q->release,
			  sizeof(*q->release), NULL, 0, q->n_release,
			  release_failed, NULL);
	q->n_release = 0;
	q->n = 0;
	q->n_pending = 0;
	memset(q->buckets, 0, sizeof(q->buckets));
	return (int)(q->st.failed - failed);
}

int np_flowq_last_failure(const struct np_flowq *q, struct np_flow_key *key)
{
	*key = q->failed_key;
	return q->failed_err;
}

void np_flowq_stats(const struct np_flowq *q, struct np_flowq_stats *st)
{
	*st = q->st;
}

/*
 * Totals of many flows in a few system calls (metrics scrapes): each flow
 * map read whole with bpf_map_lookup_batch (TOTALS_BATCH entries a call),
 * then the per-CPU counters of the slots those flows hold, read the same
 * way over the range of slots in use. What a scrape costs then follows the
 * maps' size in batches, not one lookup per flow and slot.
 */
#define TOTALS_BATCH 1024u
#define CLASS_NONE 0xffu

static void totals_add_entry(struct np_counters *o, const struct np_flow_entry *e,
			     __u64 now_ns)
{
	__u64 last = entry_last_seen_ns(e, now_ns);

	o->packets += e->packets;
	o->bytes += e->bytes;
	if (last > o->last_seen_ns)
		o->last_seen_ns = last;
}

/* What np_flow_totals gathers: the classes' sums, and each slot's class
 * (CLASS_NONE: no flow of a class), for the per-CPU counters read after. */
struct totals {
	np_flow_class_fn cls;
	void *arg;
	struct np_counters *out;
	size_t n_out;
	__u8 *slot_class;
	__u32 n_slots, lo, hi, n_used;
	__u64 now_ns; /* to read the entries' last_seen stamps back */
};

/* One flow: its entry's counts to its class, its slot marked with it. */
static int totals_classify(const struct np_maps *maps,
			   const struct np_flow_entry *e,
			   const struct np_flow_key *key, void *arg)
{
	struct totals *t = arg;
	int c = t->cls(key, t->arg);

	if (c < 0 || (size_t)c >= t->n_out)
		return 0;
	totals_add_entry(&t->out[c], e, t->now_ns);
	/* Per-CPU counts only where the relay marked the slot (before it
	 * counted there): an RTP flow relayed by its owner has none, and a
	 * scrape then reads no per-CPU counter of it. */
	if (e->slot < t->n_slots && slot_counts_cold(maps, e->slot)) {
		t->slot_class[e->slot] = (__u8)c;
		t->n_used++;
		if (e->slot < t->lo)
			t->lo = e->slot;
		if (e->slot > t->hi)
			t->hi = e->slot;
	}
	return 0;
}

/* One family's flows: their entries' counts, and their slots' classes. */
static int totals_flows(const struct np_maps *maps, int family,
			struct totals *t)
{
	union flow_map_key *keys = NULL, probe_key;
	struct np_flow_key probe = { .family = (__u8)family }, key;
	struct np_flow_entry *vals = NULL;
	int fd = flow_map(maps, &probe, &probe_key), err = 0;
	struct np_mapwalk w;
	__u32 i;

	keys = calloc(TOTALS_BATCH, sizeof(*keys));
	vals = calloc(TOTALS_BATCH, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	/* Keys in the map's own size: packed arrays of it. */
	np_mapwalk_init(&w, fd, keys, vals, TOTALS_BATCH);
	while (np_mapwalk_next(&w)) {
		for (i = 0; i < w.count; i++) {
			const struct np_flow_entry *e = &vals[i];

			memset(&key, 0, sizeof(key));
			key.family = (__u8)family;
			if (family == NP_AF_INET6) {
				key = ((struct np_flow_key *)keys)[i];
			} else {
				const struct np_flow_key4 *k4 =
					&((struct np_flow_key4 *)keys)[i];

				key.addr.v4 = k4->addr;
				key.port = k4->port;
			}
			totals_classify(maps, e, &key, t);
		}
	}
	err = w.err;
out:
	free(keys);
	free(vals);
	return err;
}

void np_counters_add(struct np_counters *a, const struct np_counters *b)
{
	int d;

	a->packets += b->packets;
	a->bytes += b->bytes;
	a->rtcp_packets += b->rtcp_packets;
	a->to_kernel += b->to_kernel;
	for (d = 0; d < NP_DROP_MAX; d++)
		a->drops[d] += b->drops[d];
	if (b->last_seen_ns > a->last_seen_ns)
		a->last_seen_ns = b->last_seen_ns;
}

/* One slot's per-CPU counters (ncpu of them) added to o. */
static void totals_add_cpus(struct np_counters *o, const struct np_counters *c,
			    int ncpu)
{
	int cpu;

	for (cpu = 0; cpu < ncpu; cpu++)
		np_counters_add(o, &c[cpu]);
}

/*
 * The per-CPU counters of the marked slots, when few are marked across a
 * wide range (a flow's slot in the array is its index, spread over the
 * whole array): one lookup each, not the range's every slot for every
 * CPU in batches.
 */
#define TOTALS_SPARSE 32u

static int totals_slots_sparse(const struct np_maps *maps,
			       const struct totals *t, int ncpu,
			       struct np_counters *vals)
{
	__u32 s;

	for (s = t->lo; s <= t->hi; s++) {
		if (t->slot_class[s] == CLASS_NONE)
			continue;
		/* Released since it was marked: its flow is gone. */
		if (bpf_map_lookup_elem(maps->fd[NP_COUNTERS], &s, vals))
			continue;
		totals_add_cpus(&t->out[t->slot_class[s]], vals, ncpu);
	}
	return 0;
}

/* The per-CPU counters of slots lo..hi, added to their flows' classes. */
static int totals_slots(const struct np_maps *maps, const struct totals *t)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	struct np_counters *vals = NULL;
	__u32 *keys = NULL, i;
	struct np_mapwalk w;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	keys = calloc(TOTALS_BATCH, sizeof(*keys));
	vals = calloc((size_t)TOTALS_BATCH * ncpu, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	if ((__u64)t->n_used * TOTALS_SPARSE < (__u64)t->hi - t->lo + 1) {
		err = totals_slots_sparse(maps, t, ncpu, vals);
		goto out;
	}
	np_mapwalk_init(&w, maps->fd[NP_COUNTERS], keys, vals, TOTALS_BATCH);
	np_mapwalk_from(&w, t->lo);
	while (np_mapwalk_next(&w)) {
		for (i = 0; i < w.count; i++) {
			__u32 s = keys[i];

			if (s > t->hi) {
				np_mapwalk_stop(&w);
				break;
			}
			if (t->slot_class[s] != CLASS_NONE)
				totals_add_cpus(&t->out[t->slot_class[s]],
						&vals[(size_t)i * ncpu], ncpu);
		}
	}
	err = w.err;
out:
	free(keys);
	free(vals);
	return err;
}

int np_flow_totals(const struct np_maps *maps, np_flow_class_fn cls,
		   void *arg, struct np_counters *out, size_t n_out)
{
	struct totals t = {
		.cls = cls, .arg = arg, .out = out, .n_out = n_out,
		.n_slots = maps->max_flows ? maps->max_flows : NP_MAX_FLOWS,
		.lo = UINT32_MAX, .now_ns = mono_now_ns(),
	};
	int err;

	memset(out, 0, n_out * sizeof(*out));
	if (n_out >= CLASS_NONE)
		return -EINVAL;
	t.slot_class = malloc(t.n_slots);
	if (!t.slot_class)
		return -ENOMEM;
	memset(t.slot_class, CLASS_NONE, t.n_slots);
	err = cells_foreach(maps, totals_classify, &t);
	if (!err)
		err = totals_flows(maps, NP_AF_INET, &t);
	if (!err)
		err = totals_flows(maps, NP_AF_INET6, &t);
	if (!err && t.lo <= t.hi)
		err = totals_slots(maps, &t);
	free(t.slot_class);
	return err;
}
