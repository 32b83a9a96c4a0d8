// SPDX-License-Identifier: GPL-2.0-only
/*
 * Round-robin port allocation over a byte map. Pools hold at most 65536
 * ports, so a linear search from the last position is cheap enough and
 * needs no other state.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/portpool.h"

int np_portpool_init(struct np_portpool *pool, uint16_t lo, uint16_t hi)
{
	pool->lo = lo;
	pool->hi = hi;
	pool->next = 0;
	pool->in_use = 0;
	pool->used = NULL;
	if (!lo || hi < lo)
		return -EINVAL;
	pool->used = calloc((size_t)hi - lo + 1, 1);
	return pool->used ? 0 : -ENOMEM;
}

void np_portpool_fini(struct np_portpool *pool)
{
	free(pool->used);
	free(pool->holder);
	pool->used = NULL;
	pool->holder = NULL;
}

int np_portpool_hold(struct np_portpool *pool, uint16_t port, void *holder)
{
	if (!np_portpool_owns(pool, port))
		return -ERANGE;
	if (!pool->holder) {
		pool->holder = calloc((size_t)(pool->hi - pool->lo) + 1,
				      sizeof(*pool->holder));
		if (!pool->holder)
			return -ENOMEM;
	}
	pool->holder[port - pool->lo] = holder;
	return 0;
}

void *np_portpool_holder(const struct np_portpool *pool, uint16_t port)
{
	if (!pool->holder || !np_portpool_owns(pool, port) ||
	    !pool->used[port - pool->lo])
		return NULL;
	return pool->holder[port - pool->lo];
}

bool np_portpool_owns(const struct np_portpool *pool, uint16_t port)
{
	return pool->used && port >= pool->lo && port <= pool->hi;
}

/* Finds `width` free ports in a row starting on a multiple of `width`. */
static int take(struct np_portpool *pool, uint32_t width, uint16_t *port)
{
	uint32_t size = (uint32_t)pool->hi - pool->lo + 1, i, j, at;

	for (i = 0; i < size; i++) {
		at = (pool->next + i) % size;
		if ((pool->lo + at) % width || at + width > size)
			continue;
		for (j = 0; j < width && !pool->used[at + j]; j++)
			;
		if (j < width)
			continue;
		for (j = 0; j < width; j++)
			pool->used[at + j] = 1;
		pool->in_use += width;
		pool->next = (at + width) % size;
		*port = (uint16_t)(pool->lo + at);
		return 0;
	}
	return -EBUSY;
}

int np_portpool_get(struct np_portpool *pool, uint16_t *port)
{
	return take(pool, 1, port);
}

int np_portpool_get_pair(struct np_portpool *pool, uint16_t *even)
{
	return take(pool, 2, even);
}

int np_portpool_take(struct np_portpool *pool, uint16_t port, int width)
{
	int i;

	if (!np_portpool_owns(pool, port) ||
	    !np_portpool_owns(pool, port + width - 1))
		return -ERANGE;
	for (i = 0; i < width; i++)
		if (pool->used[port - pool->lo + i])
			return -EBUSY;
	for (i = 0; i < width; i++)
		pool->used[port - pool->lo + i] = 1;
	pool->in_use += width;
	return 0;
}

void np_portpool_put(struct np_portpool *pool, uint16_t port)
{
	if (np_portpool_owns(pool, port) && pool->used[port - pool->lo]) {
		pool->used[port - pool->lo] = 0;
		if (pool->holder)
			pool->holder[port - pool->lo] = NULL;
		pool->in_use--;
	}
}

void np_portpool_put_pair(struct np_portpool *pool, uint16_t even)
{
	np_portpool_put(pool, even);
	np_portpool_put(pool, even + 1);
}
