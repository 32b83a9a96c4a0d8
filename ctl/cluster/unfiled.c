// SPDX-License-Identifier: GPL-2.0-only
/* Records waiting for Redis, on disk (unfiled.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/redis.h"
#include "cluster/unfiled.h"
#include "log.h"

#define ASK_TIMEOUT_MS 1000 /* at start: bounded */

int np_unfiled_save(const char *path, const struct np_unfiled *list)
{
	char tmp[4200];
	FILE *f;

	if (!list)
		return unlink(path) && errno != ENOENT ? -errno : 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	for (; list; list = list->next)
		fprintf(f, "%s\n%.*s", list->key, (int)list->len, list->line);
	if (fclose(f) || rename(tmp, path)) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

/* Whether Redis says node billed the call of key: 1 yes, 0 no, -EAGAIN
 * Redis unreachable. */
static int billed_by(redisContext *c, const char *key, const char *node)
{
	redisReply *r = redisCommand(c, "GET np:billed:%s", key);
	int yes;

	if (!r)
		return -EAGAIN;
	yes = r->type == REDIS_REPLY_STRING && !strcmp(r->str, node);
	freeReplyObject(r);
	return yes;
}

int np_unfiled_reconcile(const char *path, const struct np_cluster_config *cfg,
			 void (*record)(void *arg, const char *line,
					size_t len),
			 void *arg)
{
	struct timeval tv = { ASK_TIMEOUT_MS / 1000,
			      (ASK_TIMEOUT_MS % 1000) * 1000 };
	char host[INET6_ADDRSTRLEN], *text = NULL, *p, *key, *line, *end;
	size_t cap = 0, len = 0;
	redisContext *c;
	int filed = 0, yes = 0, pass;
	FILE *f = fopen(path, "re");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	len = getdelim(&text, &cap, '\0', f) > 0 ? strlen(text) : 0;
	fclose(f);
	inet_ntop(cfg->redis.family, &cfg->redis.addr, host, sizeof(host));
	c = redisConnectWithTimeout(host, cfg->redis.port, tv);
	if (!c || c->err) {
		np_warn("cluster: %s: redis unreachable: its records wait for "
			"the next start",
			path);
		if (c)
			redisFree(c);
		free(text);
		return -EAGAIN;
	}
	redisSetTimeout(c, tv);
	/* Every answer first: a record is filed only once all are known
	 * (a file kept for the next start must not file some twice). */
	for (pass = 0; pass < 2 && yes >= 0; pass++) {
		for (p = text; p && p < text + len && yes >= 0; p = end) {
			key = p;
			line = strchr(key, '\n');
			end = line ? strchr(line + 1, '\n') : NULL;
			if (!end)
				break;
			*line++ = '\0';
			end++;
			yes = billed_by(c, key, cfg->node);
			if (pass && yes > 0) {
				record(arg, line, end - line);
				filed++;
			}
			if (pass && yes >= 0)
				np_info("cluster: record of '%s' from before the "
					"restart %s",
					key,
					yes ? "filed: redis has its end by this "
					      "node" :
					      "dropped: redis has no end of it by "
					      "this node (its successor bills it)");
			line[-1] = '\n';
		}
	}
	redisFree(c);
	free(text);
	if (yes < 0)
		return -EAGAIN;
	unlink(path);
	return filed;
}
