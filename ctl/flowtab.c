// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writes and reads flow entries through the map descriptors of pins.h.
 * Per-CPU values are summed here, so callers only ever see one set of
 * counters per flow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flowtab.h"

int np_flow_install(const struct np_maps *maps, const struct np_flow_key *key,
		    const struct np_flow *flow)
{
	int ncpu = libbpf_num_possible_cpus();
	struct np_counters *zero;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	/* Counters first, so the relay never runs a flow without them. */
	if (bpf_map_update_elem(maps->fd[NP_COUNTERS], key, zero,
				BPF_NOEXIST) &&
	    errno != EEXIST) {
		err = -errno;
		goto out;
	}
	/* A replaced flow restarts its token bucket from a full burst. */
	bpf_map_delete_elem(maps->fd[NP_POLICERS], key);
	if (bpf_map_update_elem(maps->fd[NP_FLOWS], key, flow, BPF_ANY))
		err = -errno;
out:
	free(zero);
	return err;
}

int np_flow_get(const struct np_maps *maps, const struct np_flow_key *key,
		struct np_flow *flow)
{
	return bpf_map_lookup_elem(maps->fd[NP_FLOWS], key, flow) ? -errno : 0;
}

int np_counters_read(const struct np_maps *maps,
		     const struct np_flow_key *key, struct np_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus(), cpu, i, err = 0;
	struct np_counters *per_cpu;

	memset(sum, 0, sizeof(*sum));
	if (ncpu < 0)
		return ncpu;
	per_cpu = calloc(ncpu, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(maps->fd[NP_COUNTERS], key, per_cpu)) {
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

int np_flow_remove(const struct np_maps *maps, const struct np_flow_key *key,
		   struct np_counters *last)
{
	struct np_counters ignored;

	if (bpf_map_delete_elem(maps->fd[NP_FLOWS], key))
		return -errno;
	np_counters_read(maps, key, last ? last : &ignored);
	bpf_map_delete_elem(maps->fd[NP_COUNTERS], key);
	bpf_map_delete_elem(maps->fd[NP_POLICERS], key);
	return 0;
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

int np_flow_foreach(const struct np_maps *maps, np_flow_visit_fn visit,
		    void *arg)
{
	struct np_flow_key key, next;
	struct np_counters counters;
	struct np_flow flow;
	void *prev = NULL;
	int err;

	while (!bpf_map_get_next_key(maps->fd[NP_FLOWS], prev, &next)) {
		key = next;
		prev = &key;
		/* Gone since get_next_key: a concurrent delete, skip it. */
		if (np_flow_get(maps, &key, &flow))
			continue;
		np_counters_read(maps, &key, &counters);
		err = visit(&key, &flow, &counters, arg);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}
