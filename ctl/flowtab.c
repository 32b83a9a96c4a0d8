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
	e->flags = f->flags & ~(NP_F_POLICED | NP_FLOW_OWNER_MASK);
	if (f->rate_bytes)
		e->flags |= NP_F_POLICED;
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
	e->dscp = f->dscp;
	e->vlan_action = f->vlan_action;
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
	f->flags = e->flags & ~(NP_F_POLICED | NP_FLOW_OWNER_MASK);
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
	f->dscp = e->dscp;
	f->vlan_action = e->vlan_action;
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
	return err;
}

/*
 * The entry's counters plus the per-CPU copies at its slot: counts add up
 * (modulo 2^64: a copy may hold a take-back), first/last seen are min/max.
 */
static int counters_sum(const struct np_maps *maps,
			const struct np_flow_entry *e, struct np_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus(), cpu, i, err = 0;
	struct np_counters *per_cpu;

	memset(sum, 0, sizeof(*sum));
	sum->packets = e->packets;
	sum->bytes = e->bytes;
	sum->last_seen_ns = e->last_seen_ns;
	if (ncpu < 0)
		return ncpu;
	per_cpu = calloc(ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(maps->fd[NP_COUNTERS], &e->slot, per_cpu)) {
		err = -errno;
		goto out;
	}
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
out:
	free(per_cpu);
	return err;
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
		e.last_seen_ns = old.last_seen_ns;
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

/* Visits every flow in the array. */
static int foreach_cell(const struct np_maps *maps, np_flow_visit_fn visit,
			void *arg)
{
	const struct np_flow_entry *cells = maps->flowarr4;
	struct np_counters counters;
	struct np_flow_entry e;
	struct np_flow_key key;
	struct np_flow flow;
	__u32 i;
	int err;

	for (i = 0; i < maps->flowarr4_n; i++) {
		if (__atomic_load_n(&cells[i].key_live, __ATOMIC_ACQUIRE) !=
		    NP_FLOW_LIVE)
			continue;
		memcpy(&e, &cells[i], sizeof(e));
		memset(&key, 0, sizeof(key));
		key.family = NP_AF_INET;
		key.addr.v4 = e.key_addr;
		key.port = e.key_port;
		flow_of_entry(&flow, &e, NP_AF_INET);
		counters_sum(maps, &e, &counters);
		err = visit(&key, &flow, &counters, arg);
		if (err)
			return err;
	}
	return 0;
}

int np_flow_foreach(const struct np_maps *maps, np_flow_visit_fn visit,
		    void *arg)
{
	int err = foreach_cell(maps, visit, arg);

	if (!err)
		err = foreach_in(maps, NP_AF_INET, visit, arg);
	return err ? err : foreach_in(maps, NP_AF_INET6, visit, arg);
}
