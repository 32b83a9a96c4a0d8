// SPDX-License-Identifier: GPL-2.0-only
/* A cluster node: its shares joined for the daemon (cluster.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "cluster/cluster.h"
#include "cluster/role.h"
#include "cluster/share.h"
#include "log.h"

struct np_cluster {
	struct np_share *shares[NP_CLUSTER_SHARES_MAX];
	size_t n;
	/* The heartbeat among the shares' members, every share's (NULL:
	 * none configured). */
	struct np_peer *peer;
	/* The shares' Redis links' eventfds, in one epoll: the loop's one
	 * fd for them all. */
	int epfd;
	/* A scale-out node's own health file (every share's role), for
	 * `natproxyctl health` without a share; "": a pair's node (its one
	 * share writes this path). */
	char health[4096];
	const char *node;
	const struct np_cluster_config *cc; /* the node's cluster section */
};

/* The journal's hook: the node's snapshot or batch, to the stream of
 * every share it acts for. */
static void replicate(void *arg, bool snapshot, uint64_t gen,
		      const char *text, size_t len)
{
	struct np_cluster *cl = arg;
	size_t i;

	for (i = 0; i < cl->n; i++)
		np_share_replicate(cl->shares[i], snapshot, gen, text, len);
}

int np_cluster_share_of_realm(const struct np_cluster_config *c,
			      size_t realm)
{
	size_t i;

	if (!c->n_shares)
		return 0;
	for (i = 0; realm < 64 && i < c->n_shares; i++)
		if (c->shares[i].realms & 1ull << realm)
			return (int)i;
	return -1;
}

static struct np_share *share_of_realm(const struct np_cluster *cl,
				       size_t realm)
{
	int i = np_cluster_share_of_realm(cl->cc, realm);

	return i < 0 ? NULL : cl->shares[i];
}

static struct np_share *share_of(const struct np_cluster *cl,
				 const struct np_term *t)
{
	size_t i;

	for (i = 0; i < cl->n; i++)
		if (np_share_has(cl->shares[i], t))
			return cl->shares[i];
	return NULL;
}

/* The core's question before it visits t (np_core.acting). */
static bool term_acting(void *arg, const struct np_term *t)
{
	return np_cluster_acting_term(arg, t);
}

static int share_files(const char *health, const struct np_config *cfg,
		       size_t i, char *h, char *u, size_t len)
{
	/* A pair: STATE.health and STATE.unfiled; a scale-out share:
	 * STATE.SHARE.health and STATE.SHARE.unfiled. */
	int base = (int)(strlen(health) > 7 ? strlen(health) - 7 : 0);
	int n1, n2;

	if (!cfg->cluster.n_shares) {
		n1 = snprintf(h, len, "%s", health);
		n2 = snprintf(u, len, "%.*s.unfiled", base, health);
	} else {
		n1 = snprintf(h, len, "%.*s.%s.health", base, health,
			      cfg->cluster.shares[i].name);
		n2 = snprintf(u, len, "%.*s.%s.unfiled", base, health,
			      cfg->cluster.shares[i].name);
	}
	return n1 >= (int)len || n2 >= (int)len ? -ENAMETOOLONG : 0;
}

int np_cluster_start(struct np_cluster **out, const struct np_config *cfg,
		     struct np_proxy *px, struct np_journal *j,
		     const char *health, int *event_fd)
{
	struct np_cluster *cl = calloc(1, sizeof(*cl));
	char h[4096], u[4096];
	struct epoll_event ev = { .events = EPOLLIN };
	size_t i, n = cfg->cluster.n_shares ? cfg->cluster.n_shares : 1;
	int err = 0, fd;

	if (!cl)
		return -ENOMEM;
	cl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cl->epfd < 0) {
		free(cl);
		return -errno;
	}
	if (cfg->cluster.heartbeat.family) {
		err = np_peer_start(&cl->peer, &cfg->cluster);
		if (err)
			np_err("cluster: no heartbeat socket: %s",
			       strerror(-err));
	}
	for (i = 0; i < n && !err; i++) {
		err = share_files(health, cfg, i, h, u, sizeof(h));
		if (!err)
			err = np_share_start(&cl->shares[i], cfg, i, px,
					     cl->peer, h, u, &fd);
		if (err)
			break;
		cl->n++;
		ev.data.u64 = i;
		if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, fd, &ev))
			err = -errno;
	}
	if (err) {
		np_cluster_stop(cl);
		return err;
	}
	j->replicate = replicate;
	j->replicate_arg = cl;
	cl->node = cfg->cluster.node;
	cl->cc = &cfg->cluster;
	if (cfg->cluster.n_shares) {
		snprintf(cl->health, sizeof(cl->health), "%s", health);
		px->core.acting = term_acting;
		px->core.acting_arg = cl;
	}
	*event_fd = cl->epfd;
	*out = cl;
	return 0;
}

void np_cluster_stop(struct np_cluster *cl)
{
	size_t i;

	if (!cl)
		return;
	for (i = 0; i < cl->n; i++)
		np_share_stop(cl->shares[i]);
	np_peer_stop(cl->peer);
	close(cl->epfd);
	free(cl);
}

bool np_cluster_acting(const struct np_cluster *cl)
{
	size_t i;

	if (!cl)
		return true;
	for (i = 0; i < cl->n; i++)
		if (np_share_acting(cl->shares[i]))
			return true;
	return false;
}

bool np_cluster_acting_realm(const struct np_cluster *cl, size_t realm)
{
	const struct np_share *sh;

	if (!cl)
		return true;
	sh = share_of_realm(cl, realm);
	return sh && np_share_acting(sh);
}

bool np_cluster_acting_term(const struct np_cluster *cl,
			    const struct np_term *t)
{
	const struct np_share *sh;

	if (!cl)
		return true;
	sh = share_of(cl, t);
	return sh && np_share_acting(sh);
}

void np_cluster_event(struct np_cluster *cl, time_t now)
{
	size_t i;

	/* Every share looks (each clears its eventfd): a poll with no news
	 * costs a lock and a read. */
	for (i = 0; i < cl->n; i++)
		np_share_event(cl->shares[i], now);
}

/* The node's health: every share's role, lease and holder, one line of
 * JSON (natproxyctl health: unhealthy if any share is fenced or
 * isolated). */
static void write_health(const struct np_cluster *cl)
{
	struct np_cluster_stats st;
	struct timespec ts;
	char tmp[4200];
	size_t i;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", cl->health);
	f = fopen(tmp, "we");
	if (!f)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(f, "{\"node\": \"%s\", \"pid\": %d, \"time\": %.3f, "
		   "\"shares\": [",
		cl->node, (int)getpid(), ts.tv_sec + ts.tv_nsec / 1e9);
	for (i = 0; i < cl->n; i++) {
		np_share_stats(cl->shares[i], &st);
		fprintf(f,
			"%s{\"share\": \"%s\", \"role\": \"%s\", "
			"\"lease\": \"%s\", \"holder\": \"%s\", "
			"\"taken_over\": %llu}",
			i ? ", " : "", np_share_name(cl->shares[i]),
			np_role_names[st.role], np_lease_names[st.lease],
			np_share_holder(cl->shares[i]),
			(unsigned long long)st.taken_over);
	}
	fputc(']', f);
	if (cl->peer) {
		struct np_peer_stats ps;

		np_peer_stats(cl->peer, NP_PEER_NODE, np_now_ms(), &ps);
		fputs(", \"heartbeat\": ", f);
		np_peer_stats_json(f, &ps, false);
	}
	fputs("}\n", f);
	if (fclose(f) || rename(tmp, cl->health))
		unlink(tmp);
}

void np_cluster_tick(struct np_cluster *cl, time_t now)
{
	size_t i;

	for (i = 0; i < cl->n; i++)
		np_share_tick(cl->shares[i], now);
	if (cl->health[0])
		write_health(cl);
}

void np_cluster_records(struct np_cluster *cl,
			void (*record)(void *arg, const char *line, size_t len),
			void *arg)
{
	size_t i;

	for (i = 0; i < cl->n; i++)
		np_share_records(cl->shares[i], record, arg);
}

void np_cluster_charged(struct np_cluster *cl, const struct np_term *t,
			const struct np_call *call, const char *line,
			size_t len)
{
	struct np_share *sh = share_of(cl, t);

	/* A terminal of no share of ours is never served here; its record
	 * goes through the first share's (to the file at least). */
	np_share_charged(sh ? sh : cl->shares[0], t, call, line, len);
}

void np_cluster_dropped_input(struct np_cluster *cl, size_t realm)
{
	struct np_share *sh = share_of_realm(cl, realm);

	np_share_dropped_input(sh ? sh : cl->shares[0]);
}

void np_cluster_dropped_output(struct np_cluster *cl, size_t n)
{
	/* Counted on the first share: the queue's datagrams are the node's
	 * (a pair's only share). */
	np_share_dropped_output(cl->shares[0], n);
}

void np_cluster_stats(const struct np_cluster *cl,
		      struct np_cluster_stats *out)
{
	np_share_stats(cl->shares[0], out);
}

size_t np_cluster_shares(const struct np_cluster *cl)
{
	return cl->n;
}

const char *np_cluster_share_stats(const struct np_cluster *cl, size_t i,
				   struct np_cluster_stats *out)
{
	np_share_stats(cl->shares[i], out);
	return np_share_name(cl->shares[i]);
}

int np_cluster_health_path(const char *state, char *buf, size_t len)
{
	return snprintf(buf, len, "%s.health", state) >= (int)len ?
		       -ENAMETOOLONG :
		       0;
}
