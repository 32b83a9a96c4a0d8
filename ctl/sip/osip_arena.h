/* SPDX-License-Identifier: GPL-2.0-only */
/* libosip2's blocks carved from chunks a message at a time (osip_arena.c). */
#ifndef NATPROXY_SIP_OSIP_ARENA_H
#define NATPROXY_SIP_OSIP_ARENA_H

#include <stddef.h>

struct osip_arena_stats {
	size_t chunks; /* chunks made */
	size_t live; /* blocks handed out and not freed, now */
	unsigned long long blocks; /* blocks carved from chunks */
	unsigned long long elsewhere; /* blocks glibc gave (too large, or no chunk) */
};

/* libosip2 allocates through the arena from now on (once, at start). */
void osip_arena_install(void);
void osip_arena_stats(struct osip_arena_stats *out);

#endif
