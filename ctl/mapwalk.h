/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A BPF map (a hash or an array) read in batches of the caller's size into
 * the caller's buffers: the batch token, the first call without one, and
 * the kernel's ENOENT with the last batch are seen to here, once, for
 * every walk of a map in batches.
 */
#ifndef NATPROXY_CTL_MAPWALK_H
#define NATPROXY_CTL_MAPWALK_H

#include <stdbool.h>
#include <linux/types.h>

struct np_mapwalk {
	int fd;
	void *keys, *vals; /* room for max keys and max values */
	__u32 max;
	__u32 count; /* entries in the batch np_mapwalk_next() read */
	int err; /* -errno of the call that failed, else 0 */
	bool and_delete; /* each batch read is deleted from the map */
	/* Where the next batch goes on: a hash's bucket, an array's key. */
	__u64 in, out;
	bool started, done;
};

/* A walk of the whole map. */
void np_mapwalk_init(struct np_mapwalk *w, int fd, void *keys, void *vals,
		     __u32 max);

/* An array's walk begins at key first, not at 0 (a batch of an array
 * goes on after the key it is given). */
void np_mapwalk_from(struct np_mapwalk *w, __u32 first);

/*
 * Reads the next batch: true with w->count entries in the buffers (0 or
 * more; the last batch too), false once the map is read or a call failed
 * (w->err).
 */
bool np_mapwalk_next(struct np_mapwalk *w);

/* No batch after this one. */
static inline void np_mapwalk_stop(struct np_mapwalk *w)
{
	w->done = true;
}

#endif
