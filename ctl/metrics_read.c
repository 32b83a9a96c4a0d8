// SPDX-License-Identifier: GPL-2.0-only
/* A scrape's media totals read by a thread of their own (metrics_read.h). */
#include "metrics_read.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "flowtab.h"
#include "log.h"

/* A realm's relay ports as the read begins: which are in use, on which
 * address (the thread's copy of what np_core_media_port_used says). */
struct realm_ports {
	struct np_flow_key key; /* the realm's address, port 0 */
	uint16_t lo, hi;
	uint8_t *used; /* NULL: the realm has no relay ports */
	size_t room;
};

struct np_metrics_read {
	const struct np_maps *maps; /* the daemon's, open while it runs */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;
	/* Under lock: a read given to the thread, one it finished, stop. */
	bool job, finished, quit;
	int err;
	/* The loop's: a read under way (until collected), one asked for
	 * since it began. */
	bool busy, again;
	uint64_t begun;
	/* The read's realms; their ports, what ended flows left, and what
	 * the thread summed (live flows) as it begins and ends. */
	size_t n, room;
	struct realm_ports *ports;
	struct np_counters *ended, *live;
	/* Published: the last totals (n_last of them). */
	struct np_counters *last;
	size_t n_last;
};

#define FLOOR(x, y) ((x) = (x) < (y) ? (y) : (x))

void np_counters_floor(struct np_counters *a, const struct np_counters *b)
{
	int d;

	FLOOR(a->packets, b->packets);
	FLOOR(a->bytes, b->bytes);
	for (d = 0; d < NP_DROP_MAX; d++)
		FLOOR(a->drops[d], b->drops[d]);
}

/* The realm of a live flow's key (as live_flow_realm in core/media.c,
 * from the copy), or -1. */
static int flow_class(const struct np_flow_key *key, void *arg)
{
	const struct np_metrics_read *r = arg;
	uint16_t port = ntohs(key->port);
	struct np_flow_key ours;
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct realm_ports *p = &r->ports[i];

		if (!p->used || port < p->lo || port > p->hi ||
		    !p->used[port - p->lo])
			continue;
		ours = p->key;
		ours.port = key->port;
		if (!memcmp(&ours, key, sizeof(ours)))
			return (int)i;
	}
	return -1;
}

static void *reader(void *arg)
{
	struct np_metrics_read *r = arg;
	uint64_t one = 1;
	int err;

	pthread_mutex_lock(&r->lock);
	while (!r->quit) {
		if (!r->job) {
			pthread_cond_wait(&r->cond, &r->lock);
			continue;
		}
		pthread_mutex_unlock(&r->lock);
		err = np_flow_totals(r->maps, flow_class, r, r->live, r->n);
		pthread_mutex_lock(&r->lock);
		r->err = err;
		r->job = false;
		r->finished = true;
		if (write(r->fd, &one, sizeof(one)) < 0)
			r->err = -errno;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int np_metrics_read_start(struct np_metrics_read **out,
			  const struct np_maps *maps, size_t n_realms, int *fd)
{
	struct np_metrics_read *r = calloc(1, sizeof(*r));
	sigset_t all, was;
	int err;

	(void)n_realms; /* sized at each read: a reload may add realms */
	if (!r)
		return -ENOMEM;
	r->maps = maps;
	r->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->fd < 0) {
		err = -errno;
		free(r);
		return err;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	/* Signals are the loop's (its signalfd): none for the thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &was);
	err = -pthread_create(&r->thread, NULL, reader, r);
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	if (err) {
		close(r->fd);
		free(r);
		return err;
	}
	*fd = r->fd;
	*out = r;
	return 0;
}

void np_metrics_read_stop(struct np_metrics_read *r)
{
	size_t i;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->quit = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	close(r->fd);
	for (i = 0; i < r->room; i++)
		free(r->ports[i].used);
	free(r->ports);
	free(r->ended);
	free(r->live);
	free(r->last);
	free(r);
}

/* Room for n realms; false without memory. */
static bool make_room(struct np_metrics_read *r, size_t n)
{
	struct realm_ports *p;
	struct np_counters *e, *l;

	if (n <= r->room)
		return true;
	p = realloc(r->ports, n * sizeof(*p));
	if (p)
		r->ports = p;
	e = realloc(r->ended, n * sizeof(*e));
	if (e)
		r->ended = e;
	l = realloc(r->live, n * sizeof(*l));
	if (l)
		r->live = l;
	if (!p || !e || !l)
		return false;
	memset(p + r->room, 0, (n - r->room) * sizeof(*p));
	r->room = n;
	return true;
}

/* What the thread needs of core, copied: the realms' ports in use. */
static bool copy_ports(struct realm_ports *p, const struct np_core *core,
		       size_t i)
{
	const struct np_portpool *pool = &core->media_ports[i];
	size_t n = pool->used ? (size_t)(pool->hi - pool->lo) + 1 : 0;

	np_core_key(&p->key, &core->cfg->realms[i], 0);
	p->lo = pool->lo;
	p->hi = pool->hi;
	if (n > p->room) {
		uint8_t *u = realloc(p->used, n);

		if (!u)
			return false;
		p->used = u;
		p->room = n;
	}
	if (n)
		memcpy(p->used, pool->used, n);
	else
		p->hi = 0, p->lo = 1; /* no port is one of them */
	return true;
}

uint64_t np_metrics_read_begin(struct np_metrics_read *r,
			       const struct np_core *core)
{
	size_t n = core->cfg->n_realms, i;
	int d;

	if (r->busy) {
		r->again = true;
		return r->begun + 1;
	}
	r->begun++;
	r->busy = true;
	if (!make_room(r, n))
		n = 0; /* a read of nothing, done at once: the last totals */
	for (i = 0; i < n; i++) {
		const struct np_realm_media *rm = &core->realm_media[i];
		struct np_counters *e = &r->ended[i];

		memset(e, 0, sizeof(*e));
		e->packets = rm->packets;
		e->bytes = rm->bytes;
		for (d = 0; d < NP_DROP_MAX; d++)
			e->drops[d] = rm->drops[d];
		if (!copy_ports(&r->ports[i], core, i))
			n = 0;
	}
	r->n = n;
	pthread_mutex_lock(&r->lock);
	r->job = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return r->begun;
}

uint64_t np_metrics_read_done(struct np_metrics_read *r,
			      const struct np_core *core,
			      const struct np_counters **totals)
{
	uint64_t ticks, done;
	size_t i;
	int err;

	pthread_mutex_lock(&r->lock);
	if (!r->finished) {
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	r->finished = false;
	err = r->err;
	pthread_mutex_unlock(&r->lock);
	if (read(r->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		np_warn("metrics: cannot read the reader's eventfd: %s",
			strerror(errno));
	if (err)
		np_warn("metrics: cannot read the flows' counters: %s",
			strerror(-err));
	if (r->n != r->n_last) {
		/* The realms changed (a reload): no floor from before. */
		struct np_counters *l = calloc(r->n ? r->n : 1, sizeof(*l));

		if (l) {
			free(r->last);
			r->last = l;
			r->n_last = r->n;
		}
	}
	for (i = 0; i < r->n && i < r->n_last; i++) {
		struct np_counters t = r->ended[i];

		if (!err)
			np_counters_add(&t, &r->live[i]);
		t.last_seen_ns = 0;
		np_counters_floor(&t, &r->last[i]);
		r->last[i] = t;
	}
	done = r->begun;
	r->busy = false;
	if (r->again) {
		r->again = false;
		np_metrics_read_begin(r, core);
	}
	*totals = r->n_last == core->cfg->n_realms ? r->last : NULL;
	return done;
}
