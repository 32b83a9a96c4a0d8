// SPDX-License-Identifier: GPL-2.0-only
/*
 * Redis servers' addresses, connections to them, and the master found
 * through Redis Sentinel (sentinel.h).
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cluster/sentinel.h"
#include "log.h"

#define SUBSCRIBE_EVERY_MS 1000 /* a lost subscription tried again */

void np_redis_addr_text(const struct np_redis_addr *a, char *buf,
			size_t len)
{
	snprintf(buf, len, strchr(a->host, ':') ? "[%s]:%u" : "%s:%u",
		 a->host, a->port);
}

void np_redis_addr_of(const struct np_sockaddr *s, struct np_redis_addr *a)
{
	if (!inet_ntop(s->family, &s->addr, a->host, sizeof(a->host)))
		a->host[0] = '\0';
	a->port = s->port;
}

redisContext *np_redis_connect(const struct np_redis_addr *a, char *why,
			       size_t len)
{
	struct timeval tv = { 0, NP_REDIS_CONNECT_TIMEOUT_MS * 1000 };
	struct timeval io = { NP_REDIS_IO_TIMEOUT_MS / 1000,
			      (NP_REDIS_IO_TIMEOUT_MS % 1000) * 1000 };
	redisContext *c = redisConnectWithTimeout(a->host, a->port, tv);

	if (!c || c->err) {
		snprintf(why, len, "%s", c ? c->errstr : "no memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, io);
	return c;
}

bool np_sentinel_switch_parse(const char *msg, const char *name,
			      struct np_redis_addr *to)
{
	char who[NP_CLUSTER_NAME_MAX + 1], old[NP_REDIS_HOST_MAX];
	char host[NP_REDIS_HOST_MAX];
	unsigned old_port, port;
	int end = -1;

	/* Widths one short of the buffers: a longer name is not ours. */
	if (sscanf(msg, "%64s %255s %u %255s %u%n", who, old, &old_port, host,
		   &port, &end) != 5 ||
	    end < 0 || msg[end] != '\0')
		return false;
	if (strcmp(who, name) || !port || port > 65535 ||
	    strlen(host) >= sizeof(to->host) - 1)
		return false;
	snprintf(to->host, sizeof(to->host), "%s", host);
	to->port = port;
	return true;
}

void np_sentinels_init(struct np_sentinels *s,
		       const struct np_cluster_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
}

void np_sentinels_close(struct np_sentinels *s)
{
	if (s->sub)
		redisFree(s->sub);
	s->sub = NULL;
}

static void sentinel_text(const struct np_sentinels *s, size_t i, char *buf,
			  size_t len)
{
	struct np_redis_addr a;

	np_redis_addr_of(&s->cfg->sentinels[i], &a);
	np_redis_addr_text(&a, buf, len);
}

/* The master's address in a get-master-addr-by-name reply ([host, port]);
 * false with the reason in why. */
static bool master_of(const redisContext *c, const redisReply *reply,
		      const char *name, struct np_redis_addr *out, char *why,
		      size_t len)
{
	unsigned long port;
	char *end;

	if (!reply) {
		snprintf(why, len, "%s", c->errstr);
		return false;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, len, "%s", reply->str);
		return false;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING) {
		snprintf(why, len, "does not know master '%s'", name);
		return false;
	}
	port = strtoul(reply->element[1]->str, &end, 10);
	if (*end || !port || port > 65535 ||
	    reply->element[0]->len >= sizeof(out->host)) {
		snprintf(why, len, "gave a bad address");
		return false;
	}
	snprintf(out->host, sizeof(out->host), "%s", reply->element[0]->str);
	out->port = port;
	return true;
}

/* Subscribes c (sentinel i) to +switch-master and keeps it; freed if it
 * cannot. */
static bool subscribe(struct np_sentinels *s, redisContext *c, size_t i)
{
	redisReply *reply = redisCommand(c, "SUBSCRIBE +switch-master");
	bool ok = reply && reply->type == REDIS_REPLY_ARRAY;

	if (reply)
		freeReplyObject(reply);
	if (!ok) {
		redisFree(c);
		return false;
	}
	s->sub = c;
	s->sub_index = i;
	return true;
}

int np_sentinels_find(struct np_sentinels *s, size_t from,
		      struct np_redis_addr *out, size_t *which, char *why,
		      size_t len)
{
	struct np_redis_addr at;
	char one[160], name[NP_REDIS_ADDR_TEXT];
	size_t i, used = 0;
	redisReply *reply;
	redisContext *c;
	bool found;

	why[0] = '\0';
	for (i = from; i < s->cfg->n_sentinels; i++) {
		np_redis_addr_of(&s->cfg->sentinels[i], &at);
		c = np_redis_connect(&at, one, sizeof(one));
		if (c) {
			reply = redisCommand(
				c, "SENTINEL get-master-addr-by-name %s",
				s->cfg->master);
			found = master_of(c, reply, s->cfg->master, out, one,
					  sizeof(one));
			if (reply)
				freeReplyObject(reply);
			if (found) {
				*which = i;
				/* The first to answer is the one we watch,
				 * unless one is watched already. */
				if (s->sub || !subscribe(s, c, i))
					redisFree(c);
				return 0;
			}
			redisFree(c);
		}
		np_redis_addr_text(&at, name, sizeof(name));
		if (used < len)
			used += snprintf(why + used, len - used, "%s%s: %s",
					 used ? "; " : "", name, one);
	}
	return -1;
}

/* A lost subscription: the next sentinel in turn, one a try, so that
 * sentinels that do not answer hold the link up one connect timeout a
 * second at most. */
static void resubscribe(struct np_sentinels *s)
{
	struct np_redis_addr at;
	char why[160], name[NP_REDIS_ADDR_TEXT];
	redisContext *c;
	size_t i;

	if (np_now_ms() < s->sub_retry_ms)
		return;
	s->sub_retry_ms = np_now_ms() + SUBSCRIBE_EVERY_MS;
	i = (s->sub_index + 1) % s->cfg->n_sentinels;
	s->sub_index = i;
	np_redis_addr_of(&s->cfg->sentinels[i], &at);
	c = np_redis_connect(&at, why, sizeof(why));
	if (c && subscribe(s, c, i)) {
		sentinel_text(s, i, name, sizeof(name));
		np_info("cluster: watching sentinel %s for failovers", name);
	}
}

bool np_sentinels_switched(struct np_sentinels *s,
			   const struct np_redis_addr *cur,
			   struct np_redis_addr *to)
{
	struct pollfd pfd;
	redisReply *reply;
	char name[NP_REDIS_ADDR_TEXT];
	struct np_redis_addr next;
	bool moved = false;
	int ret;

	if (!s->sub)
		resubscribe(s);
	if (!s->sub)
		return false;
	pfd.fd = s->sub->fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) <= 0)
		return false;
	sentinel_text(s, s->sub_index, name, sizeof(name));
	if (redisBufferRead(s->sub) != REDIS_OK) {
		np_warn("cluster: sentinel %s: watch lost: %s", name,
			s->sub->errstr);
		np_sentinels_close(s);
		return false;
	}
	while ((ret = redisGetReplyFromReader(s->sub, (void **)&reply)) ==
		       REDIS_OK &&
	       reply) {
		if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
		    reply->element[2]->type == REDIS_REPLY_STRING &&
		    np_sentinel_switch_parse(reply->element[2]->str,
					     s->cfg->master, &next)) {
			np_info("cluster: sentinel %s: +switch-master %s", name,
				reply->element[2]->str);
			if (strcmp(next.host, cur->host) ||
			    next.port != cur->port) {
				*to = next;
				moved = true;
			}
		}
		freeReplyObject(reply);
	}
	if (ret != REDIS_OK) {
		np_warn("cluster: sentinel %s: watch lost: %s", name,
			s->sub->errstr);
		np_sentinels_close(s);
	}
	return moved;
}
