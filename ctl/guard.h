/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The signaling guard's maps (bpf/guard.h), as natproxyd writes them: the
 * access signaling sockets and their buckets from the configuration,
 * sources blocked for a while, the known terminals' mappings, and the
 * removal of blocks that ran out.
 */
#ifndef NATPROXY_CTL_GUARD_H
#define NATPROXY_CTL_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "natproxy.h"
#include "pins.h"

/* What the guard maps hold, for the metrics. */
struct np_guard_census {
	uint64_t blocked; /* blocks still running */
	uint64_t known;
};

/*
 * The access signaling sockets of cfg (each pair's first realm: SIP with
 * a softswitch, MGCP with a call agent, H.248 with an MGC) with the
 * realm's bucket; entries of sockets no longer configured are removed,
 * and a bucket whose rate or burst changed starts full. 0 or -errno.
 */
int np_guard_configure(const struct np_maps *maps,
		       const struct np_config *cfg);
/* Blocks src (see struct np_core_io.source_block) until now_ns plus
 * seconds, CLOCK_MONOTONIC. 0 or -errno. */
int np_guard_block(const struct np_maps *maps, const struct np_sockaddr *src,
		   uint8_t prefix_len, uint32_t seconds, uint64_t now_ns);
/* Adds or removes a known mapping. 0 or -errno (-ENOENT: was not there). */
int np_guard_known(const struct np_maps *maps, const struct np_sockaddr *nat,
		   bool known);
/* Empties the known sources (a start: the terminals adopted write them
 * again). */
void np_guard_forget_known(const struct np_maps *maps);
/* Deletes blocks that ended before now_ns; *census gets what is left.
 * Walks at most limit entries. */
void np_guard_expire(const struct np_maps *maps, uint64_t now_ns,
		     size_t limit, struct np_guard_census *census);
/* CLOCK_MONOTONIC in nanoseconds, the clock blocks end by. */
uint64_t np_guard_now_ns(void);
/* The source key XDP looks up (exposed for the tests). */
void np_guard_key(const struct np_sockaddr *src, uint8_t prefix_len,
		  struct np_source_key *key);

#endif
