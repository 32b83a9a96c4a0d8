/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Finding the Redis master through Redis Sentinel (docs/ha.md,
 * "Sentinel"), for the Redis link's thread (redis.c): the sentinels are
 * asked in the configured order, each with the link's timeouts, and the
 * first that names the master wins; that sentinel's connection then stays
 * subscribed to +switch-master, so a failover is seen at once even while
 * the old master still answers. Blocking calls: the link's thread only.
 */
#ifndef NATPROXY_CLUSTER_SENTINEL_H
#define NATPROXY_CLUSTER_SENTINEL_H

#include <hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define NP_REDIS_IO_TIMEOUT_MS 1000 /* any one command */
#define NP_REDIS_CONNECT_TIMEOUT_MS 500

#define NP_REDIS_HOST_MAX 256
/* HOST:PORT, or [HOST]:PORT for an IPv6 address. */
#define NP_REDIS_ADDR_TEXT (NP_REDIS_HOST_MAX + 8)

/* A Redis server's address as Sentinel gives it: an address or a name. */
struct np_redis_addr {
	char host[NP_REDIS_HOST_MAX];
	unsigned port;
};

void np_redis_addr_text(const struct np_redis_addr *a, char *buf,
			size_t len);
/* A configured address (numeric). */
void np_redis_addr_of(const struct np_sockaddr *s, struct np_redis_addr *a);

/* A connection with the timeouts above on connecting and on every
 * command; NULL with the reason in why. */
redisContext *np_redis_connect(const struct np_redis_addr *a, char *why,
			       size_t len);

/*
 * A +switch-master message ("NAME OLD_HOST OLD_PORT NEW_HOST NEW_PORT"):
 * true, with the new master in *to, when it is about master @name. Pure.
 */
bool np_sentinel_switch_parse(const char *msg, const char *name,
			      struct np_redis_addr *to);

struct np_sentinels {
	const struct np_cluster_config *cfg;
	redisContext *sub; /* subscribed to +switch-master, or NULL */
	size_t sub_index; /* which sentinel it is */
	double sub_retry_ms; /* CLOCK_MONOTONIC: the next subscription try */
};

void np_sentinels_init(struct np_sentinels *s,
		       const struct np_cluster_config *cfg);
void np_sentinels_close(struct np_sentinels *s);

/*
 * Asks the sentinels in order, from the one at index @from, for the
 * master's address: 0 with *out and the answering sentinel's index in
 * *which (its connection kept, subscribed, if none is), or -1 when none
 * named it, each sentinel's reason in why.
 */
int np_sentinels_find(struct np_sentinels *s, size_t from,
		      struct np_redis_addr *out, size_t *which, char *why,
		      size_t len);

/*
 * Without blocking: reads what the subscribed sentinel sent, and
 * subscribes again (to the first sentinel that answers, at most once a
 * second) when that connection was lost. true, with the new master in
 * *to, when a +switch-master moved our master away from @cur.
 */
bool np_sentinels_switched(struct np_sentinels *s,
			   const struct np_redis_addr *cur,
			   struct np_redis_addr *to);

#endif
