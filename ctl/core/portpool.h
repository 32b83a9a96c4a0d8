/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Port pools: the signaling ports of a core realm (one per terminal) and the
 * media ports of every realm (RTP even, RTCP odd, taken in pairs). Ports are
 * handed out round robin, so a port just freed is the last to come back and
 * late packets of an old stream do not land in a new one.
 */
#ifndef NATPROXY_PORTPOOL_H
#define NATPROXY_PORTPOOL_H

#include <stdbool.h>
#include <stdint.h>

struct np_portpool {
	uint16_t lo, hi;
	uint32_t next; /* where the next search starts */
	uint32_t in_use;
	uint8_t *used; /* one byte per port of [lo, hi] */
	/* Who holds each port (np_portpool_hold), NULL once put back; made
	 * at the first hold. */
	void **holder;
};

int np_portpool_init(struct np_portpool *pool, uint16_t lo, uint16_t hi);
void np_portpool_fini(struct np_portpool *pool);
/* One port; -EBUSY when none is free. */
int np_portpool_get(struct np_portpool *pool, uint16_t *port);
/* An even port and the odd one after it; -EBUSY when no pair is free. */
int np_portpool_get_pair(struct np_portpool *pool, uint16_t *even);
/* Takes `width` given ports (1, or 2 for a pair) back after a restart. */
int np_portpool_take(struct np_portpool *pool, uint16_t port, int width);
void np_portpool_put(struct np_portpool *pool, uint16_t port);
void np_portpool_put_pair(struct np_portpool *pool, uint16_t even);
bool np_portpool_owns(const struct np_portpool *pool, uint16_t port);
/* Records who holds a port taken (until it is put back): found again in
 * O(1) by np_portpool_holder (a latch names a relay port, not a call).
 * -ENOMEM, the holder then unknown. */
int np_portpool_hold(struct np_portpool *pool, uint16_t port, void *holder);
void *np_portpool_holder(const struct np_portpool *pool, uint16_t port);

#endif
