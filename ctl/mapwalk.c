// SPDX-License-Identifier: GPL-2.0-only
/*
 * Walks a BPF map in batches (mapwalk.h). The kernel takes no token on the
 * first call, hands back one to go on from with each batch, and answers
 * ENOENT with the last one, which may still hold entries.
 */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>

#include "mapwalk.h"

void np_mapwalk_init(struct np_mapwalk *w, int fd, void *keys, void *vals,
		     __u32 max)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->keys = keys;
	w->vals = vals;
	w->max = max;
}

void np_mapwalk_from(struct np_mapwalk *w, __u32 first)
{
	__u32 before = first - 1;

	if (!first)
		return;
	/* The token of an array is a key: its own size, at the start. */
	memcpy(&w->in, &before, sizeof(before));
	w->started = true;
}

bool np_mapwalk_next(struct np_mapwalk *w)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	void *in = w->started ? &w->in : NULL;
	int err;

	if (w->done || w->err)
		return false;
	w->count = w->max;
	if (w->and_delete)
		err = bpf_map_lookup_and_delete_batch(w->fd, in, &w->out,
						      w->keys, w->vals,
						      &w->count, &opts);
	else
		err = bpf_map_lookup_batch(w->fd, in, &w->out, w->keys,
					   w->vals, &w->count, &opts);
	if (err) {
		if (errno != ENOENT) {
			w->err = -errno;
			w->count = 0;
			return false;
		}
		w->done = true;
	}
	w->started = true;
	w->in = w->out;
	return true;
}
