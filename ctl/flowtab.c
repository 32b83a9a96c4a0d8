// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writes and reads flow entries through the map descriptors of pins.h, and
 * gives each flow its slot in the per-CPU counters array. Per-CPU values
 * are summed here, so callers only ever see one set of counters per flow.
 */
#include <errno.h>
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

/*
 * Slots. Every flow owns one index into the per-CPU array NP_MAP_COUNTERS,
 * where the relay keeps its counters and next hop. Ownership lives in the
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

/* Every CPU's copy zeroed: counters from zero, no next hop. */
static int slot_clear(const struct np_maps *maps, __u32 slot)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	struct np_flow_cpu *zero;

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

/* Sums the per-CPU copies: counts add up, first/last seen are min/max. */
static int slot_read(const struct np_maps *maps, __u32 slot,
		     struct np_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus(), cpu, i, err = 0;
	struct np_flow_cpu *per_cpu;

	memset(sum, 0, sizeof(*sum));
	if (ncpu < 0)
		return ncpu;
	per_cpu = calloc(ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(maps->fd[NP_COUNTERS], &slot, per_cpu)) {
		err = -errno;
		goto out;
	}
	for (cpu = 0; cpu < ncpu; cpu++) {
		const struct np_counters *c = &per_cpu[cpu].ctr;

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

int np_flow_install(const struct np_maps *maps, const struct np_flow_key *key,
		    const struct np_flow *flow)
{
	struct np_flow f = *flow, old;
	union flow_map_key mkey;
	bool claimed = false;
	int fd, err;

	/* A replaced flow keeps its slot, so its counters go on. */
	if (!np_flow_get(maps, key, &old) && slot_owned(maps, old.slot, key)) {
		f.slot = old.slot;
	} else {
		err = slot_claim(maps, key, &f.slot);
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
	fd = flow_map(maps, key, &mkey);
	if (bpf_map_update_elem(fd, &mkey, &f, BPF_ANY)) {
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
	union flow_map_key mkey;
	int fd = flow_map(maps, key, &mkey);

	return bpf_map_lookup_elem(fd, &mkey, flow) ? -errno : 0;
}

int np_counters_read(const struct np_maps *maps,
		     const struct np_flow_key *key, struct np_counters *sum)
{
	struct np_flow flow;
	int err;

	err = np_flow_get(maps, key, &flow);
	if (err) {
		memset(sum, 0, sizeof(*sum));
		return err;
	}
	return slot_read(maps, flow.slot, sum);
}

int np_flow_remove(const struct np_maps *maps, const struct np_flow_key *key,
		   struct np_counters *last)
{
	struct np_counters ignored;
	union flow_map_key mkey;
	struct np_flow flow;
	int fd, err;

	err = np_flow_get(maps, key, &flow);
	if (err)
		return err;
	fd = flow_map(maps, key, &mkey);
	if (bpf_map_delete_elem(fd, &mkey))
		return -errno;
	slot_read(maps, flow.slot, last ? last : &ignored);
	if (slot_owned(maps, flow.slot, key))
		bpf_map_delete_elem(maps->fd[NP_SLOTS], &flow.slot);
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
		if (bpf_map_lookup_elem(fd, &mkey, &flow))
			continue;
		if (family == NP_AF_INET6) {
			key = mkey.v6;
		} else {
			key.addr.v4 = mkey.v4.addr;
			key.port = mkey.v4.port;
		}
		slot_read(maps, flow.slot, &counters);
		err = visit(&key, &flow, &counters, arg);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

int np_flow_foreach(const struct np_maps *maps, np_flow_visit_fn visit,
		    void *arg)
{
	int err = foreach_in(maps, NP_AF_INET, visit, arg);

	return err ? err : foreach_in(maps, NP_AF_INET6, visit, arg);
}
