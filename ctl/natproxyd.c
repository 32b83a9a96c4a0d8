// SPDX-License-Identifier: GPL-2.0-only
/*
 * natproxyd, the SIP NAT-traversal daemon: reads the YAML configuration,
 * makes sure the XDP relay runs on every realm's interface, opens the access
 * signaling sockets, and runs the proxy logic (proxy.c) over an epoll loop
 * with a one-second tick. This file is the I/O edge: sockets, the pinned
 * maps, signals; every decision is in proxy.c.
 */
#define _GNU_SOURCE /* recvmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "charging_file.h"
#include "cluster/cluster.h"
#include "cli.h"
#include "config.h"
#include "flowtab.h"
#include "sendq.h"
#include "guard.h"
#include "link.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "metrics_read.h"
#include "pins.h"
#include "preflight.h"
#include "proxy.h"
#include "reload.h"
#include "sip/sipmsg.h"
#include "state.h"
#include "termsock.h"

#define PORTS 65536

struct daemon {
	struct np_config cfg;
	struct np_maps maps;
	struct np_proxy px;
	int epfd, timerfd, sigfd;
	struct np_charging_file charging; /* fd -1: no charging records */
	struct ring_buffer *events; /* latch events from XDP */
	const char *state_path;
	char state_buf[PATH_MAX]; /* the default state path */
	struct np_state_owner owner; /* ours, recorded in the state file */
	struct np_journal journal; /* beside it: what each save changed */
	int **socks; /* [realm][port] -> fd, -1 when closed */
	/* The terminals' core ports on a socket per realm (termsock.h);
	 * NULL: a socket each, in socks. */
	struct np_termsock *terms;
	uint64_t over_budget; /* np_termsock_over_budget(), as last said */
	/* A tick under way in slices (TICK_SLICE), begun at tick_at. */
	bool ticking;
	time_t tick_at;
	/* Interfaces this process attached XDP to: a start that fails
	 * detaches them (and only them) again. */
	char attached[NP_MAX_IFACES][IF_NAMESIZE];
	size_t n_attached;
	/* What a reload (SIGHUP) needs again. */
	const char *config_path, *pin_dir;
	enum np_xdp_mode mode;
	struct np_metrics_http *metrics; /* NULL: no endpoint */
	/* The scrapes' media totals, read by a thread (NULL: in the loop),
	 * and the last read's (NULL: none yet). */
	struct np_metrics_read *metrics_read;
	const struct np_counters *metrics_media;
	size_t metrics_media_n; /* its realms: a reload may add some */
	uint64_t state_saves;
	double state_save_seconds;
	struct np_guard_census guard; /* as of the last tick */
	/* Answers to spoofed sources fail to send in floods: one line per
	 * datagram would be a flood of its own. */
	struct np_log_limit send_failures;
	/* Flow writes of the loop's turn (ctl/flowtab.c): flushed before
	 * every datagram sent, so an SDP never leaves before its flows are
	 * in the maps, and at the end of every event handled. */
	struct np_flowq *flowq;
	struct np_log_limit flow_failures, held_back;
	/* Datagrams of the turn (ctl/sendq.c), sent together after the
	 * flows, at the end of every socket batch and event handled. */
	struct np_sendq *sendq;
	/* CLOCK_MONOTONIC ms of the first change not saved yet (0: none). */
	uint64_t unsaved_since_ms;
	/* NULL: a single node (no cluster section). */
	struct np_cluster *cluster;
	char health_path[PATH_MAX + 16];
};

/*
 * Changes are saved at most SAVE_DELAY_MS after the first of them, all
 * together, rather than after every turn of the loop: under load a turn
 * holds a message or two, and a terminal's record (a PBX's, with hundreds
 * of calls) was written again for each. A kill -9 loses at most the
 * changes of the last SAVE_DELAY_MS, as it lost those of the turn before:
 * the flows of a call started meanwhile are recovered as an orphan call
 * (billed at its media timeout), a call ended meanwhile is not adopted
 * (its flows are gone: it was billed), and a registration is refreshed by
 * the terminal.
 */
#define SAVE_DELAY_MS 10

#define TAG_TIMER UINT64_MAX
#define TAG_SIGNAL (UINT64_MAX - 1)
#define TAG_EVENTS (UINT64_MAX - 2)
#define TAG_METRICS (UINT64_MAX - 3)
#define TAG_CLUSTER (UINT64_MAX - 4)
#define TAG_METRICS_READ (UINT64_MAX - 5)

static time_t monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A turn of the event loop longer than SLOW_TURN_MS is logged with what it
 * served: every datagram, the tick and a standby's copy of the active
 * node wait behind it (docs/ha.md; bench/standby.sh counts these lines).
 */
#define SLOW_TURN_MS 20.0

enum { SERVED_TIMER = 1, SERVED_EVENTS = 2, SERVED_METRICS = 4,
       SERVED_CLUSTER = 8, SERVED_SIGNAL = 16, SERVED_SOCKETS = 32 };

/* Where a turn's time went, besides what woke it: the tick and the save
 * (a compaction's whole state) are the loop's own work. */
struct turn {
	double began, tick_ms, save_ms;
	unsigned int served;
	bool compacted, compaction_begun; /* in the turn */
	size_t saved; /* records appended */
};

static void slow_turn(const struct turn *t)
{
	static const char *const names[] = { " timer", " ringbuf",
					     " metrics", " cluster",
					     " signal", " sockets" };
	double ms = np_now_ms() - t->began;
	char what[64] = "";
	size_t i;

	if (ms < SLOW_TURN_MS)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (t->served & (1u << i))
			strncat(what, names[i], sizeof(what) - strlen(what) - 1);
	np_info("event loop: a turn took %.1f ms (served:%s; tick %.1f ms, "
		"%s %.1f ms, %zu records%s)", ms, what, t->tick_ms,
		t->compacted ? "compaction" : "save", t->save_ms, t->saved,
		t->compaction_begun ? ", a compaction begun" : "");
}

/* Opens realm's socket on port (r: that realm, of the configuration being
 * started); 0 if it is open already. */
static int sock_bind(struct daemon *d, const struct np_realm *r, size_t realm,
		     uint16_t port)
{
	struct np_sockaddr local = r->address;
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, err;

	if (!d->socks[realm]) {
		d->socks[realm] = malloc(PORTS * sizeof(int));
		if (!d->socks[realm])
			return -ENOMEM;
		memset(d->socks[realm], 0xff, PORTS * sizeof(int));
	}
	if (d->socks[realm][port] >= 0)
		return 0;
	fd = socket(r->address.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* A cluster node's addresses are virtual (keepalived moves them):
	 * a standby binds them before they are here. */
	np_sigsock_options(fd, r, np_cluster_on(&d->cfg.cluster),
			   NP_SIG_SOCKBUF);
	local.port = port;
	len = np_sockaddr_to(&local, &ss);
	ev.data.u64 = ((uint64_t)realm << 16) | port;
	if (bind(fd, (struct sockaddr *)&ss, len) ||
	    epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		err = -errno;
		np_err("cannot open SIP socket on realm '%s' port %u: %s",
		       r->name, port, strerror(-err));
		close(fd);
		return err;
	}
	d->socks[realm][port] = fd;
	return 0;
}

#define ACCESS_PORTS 3

/* A pair's sockets on its first realm: SIP (if it has a softswitch),
 * MGCP (if it has a call agent) and H.248 (if it has an MGC); 0 for none. */
static void access_ports(const struct np_pair *p, const struct np_realm *r,
			 uint16_t ports[ACCESS_PORTS])
{
	ports[0] = p->softswitch.family ? r->sip_port : 0;
	ports[1] = p->call_agent.family ? r->mgcp_port : 0;
	ports[2] = p->mgc.family ? r->h248_port : 0;
}

/* A terminal's core port: on the realm's shared socket, or one of its own
 * without socket lookup. */
static int sock_open(void *ctx, size_t realm, uint16_t port)
{
	struct daemon *d = ctx;
	const struct np_realm *r = &d->cfg.realms[realm];
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = (uint64_t)realm << 16 };
	int err, fd;

	if (!np_termsock_serves(d->terms, realm))
		return sock_bind(d, r, realm, port);
	err = np_termsock_open(d->terms, realm, r, port, &fd);
	if (err)
		np_err("cannot open SIP port %u on realm '%s': %s", port,
		       r->name, strerror(-err));
	else if (fd >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev))
		np_err("cannot watch realm '%s''s shared SIP socket: %s",
		       r->name, strerror(errno));
	return err;
}

static void sends_flush(struct daemon *d);

static void sock_close(void *ctx, size_t realm, uint16_t port)
{
	struct daemon *d = ctx;

	if (np_termsock_is_open(d->terms, realm, port)) {
		sends_flush(d); /* what it has to send first */
		np_termsock_close(d->terms, realm, port);
		return;
	}
	if (!d->socks[realm] || d->socks[realm][port] < 0)
		return;
	sends_flush(d); /* what it has to send first */
	close(d->socks[realm][port]); /* also leaves the epoll set */
	d->socks[realm][port] = -1;
}

/* What the turn queued goes into the maps; what could not, said. */
static void flows_flush(struct daemon *d)
{
	struct np_flow_key key;
	char addr[INET6_ADDRSTRLEN] = "?";
	int n, err;

	if (!d->flowq || !np_flowq_pending(d->flowq))
		return;
	n = np_flowq_flush(d->flowq);
	if (n <= 0 || !np_log_limit(&d->flow_failures, monotonic_now()))
		return;
	err = np_flowq_last_failure(d->flowq, &key);
	inet_ntop(key.family == NP_AF_INET6 ? AF_INET6 : AF_INET, &key.addr,
		  addr, sizeof(addr));
	np_err("cannot install %d flow%s (the last %s port %u): %s: its media "
	       "is not relayed", n, n > 1 ? "s" : "", addr, ntohs(key.port),
	       strerror(-err));
}

static void send_failed(void *arg, int fd, size_t len, int err)
{
	struct daemon *d = arg;

	(void)fd;
	if (np_log_limit(&d->send_failures, monotonic_now()))
		np_warn("cannot send %zu bytes: %s", len, strerror(-err));
}

/*
 * Whether this node may still send. Asked again where datagrams leave, not
 * only where they were decided: a turn that began while the node acted may
 * end after its acting deadline (a stalled loop), and then another node
 * may be acting already. What was decided too late is held back, counted
 * and said.
 */
static void held_back(struct daemon *d, size_t n)
{
	np_cluster_dropped_output(d->cluster, n);
	if (np_log_limit(&d->held_back, monotonic_now()))
		np_warn("cluster: %zu datagram%s held back: this node stopped "
			"acting before they left", n, n > 1 ? "s" : "");
}

static bool may_send(struct daemon *d, size_t n)
{
	if (!d->cluster || np_cluster_acting(d->cluster))
		return true;
	held_back(d, n);
	return false;
}

/* The turn's flows, then its datagrams: an SDP never leaves before the
 * flows it names are in the maps (media may follow it at once). */
static void sends_flush(struct daemon *d)
{
	flows_flush(d);
	if (!d->sendq || !np_sendq_len(d->sendq))
		return;
	if (may_send(d, np_sendq_len(d->sendq)))
		np_sendq_flush(d->sendq, send_failed, d);
	else
		np_sendq_discard(d->sendq);
}

static int sock_send(void *ctx, size_t realm, uint16_t from_port,
		     const struct np_sockaddr *to, const char *buf, size_t len)
{
	struct daemon *d = ctx;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = d->socks[realm] ? d->socks[realm][from_port] : -1, q;

	if (fd >= 0) {
		sl = np_sockaddr_to(to, &ss);
	} else {
		/* The realm's raw socket, the UDP header ours. */
		const void *frame;
		int err = np_termsock_frame(d->terms, realm, from_port, to,
					    buf, len, &fd, &frame, &len, &ss,
					    &sl);

		if (err)
			return err;
		buf = frame;
	}
	/* A scale-out node: nothing leaves from a share it does not act for
	 * (the flush below asks again, for the node as a whole). */
	if (d->cluster && !np_cluster_acting_realm(d->cluster, realm)) {
		held_back(d, 1);
		return 0;
	}
	q = d->sendq ? np_sendq_add(d->sendq, fd, (struct sockaddr *)&ss, sl,
				    buf, len) :
		       -ENOMEM;
	if (q > 0)
		sends_flush(d);
	if (q >= 0)
		return 0;
	/* Not queued: at once, after what was. */
	sends_flush(d);
	if (!may_send(d, 1))
		return 0;
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0) {
		int err = errno;

		send_failed(d, fd, len, -err);
		return -err;
	}
	return 0;
}

static int flow_put(void *ctx, const struct np_flow_key *key,
		    const struct np_flow *flow)
{
	struct daemon *d = ctx;

	return np_flowq_install(d->flowq, key, flow);
}

static int flow_put_new(void *ctx, const struct np_flow_key *key,
			const struct np_flow *flow)
{
	struct daemon *d = ctx;

	return np_flowq_install_new(d->flowq, key, flow);
}

static int flow_get(void *ctx, const struct np_flow_key *key,
		    struct np_flow *flow)
{
	struct daemon *d = ctx;

	return np_flowq_get(d->flowq, key, flow);
}

static int flow_del(void *ctx, const struct np_flow_key *key,
		    struct np_counters *last)
{
	struct daemon *d = ctx;

	return np_flowq_remove(d->flowq, key, last);
}

static void flows_del(void *ctx, const struct np_flow_key *keys, size_t n,
		      struct np_counters *last, int *err)
{
	struct daemon *d = ctx;

	np_flowq_remove_n(d->flowq, keys, n, last, err);
}

static int counters_get(void *ctx, const struct np_flow_key *key,
			struct np_counters *now)
{
	struct daemon *d = ctx;

	return np_flowq_counters(d->flowq, key, now);
}

static int flows_sum(void *ctx,
		     int (*cls)(const struct np_flow_key *key, void *arg),
		     void *arg, struct np_counters *out, size_t n)
{
	struct daemon *d = ctx;

	flows_flush(d); /* what the maps hold is what is summed */
	return np_flow_totals(&d->maps, cls, arg, out, n);
}

/* A record is in the file whole or not at all, and held in order while
 * it cannot be written (charging_file.c, claim 9). */
static void charge(void *ctx, const char *line, size_t len)
{
	struct daemon *d = ctx;

	/* A cluster node's record waits for Redis to hold its call's end
	 * (np_cluster_charged, below). */
	if (!d->cluster)
		np_charging_append(&d->charging, line, len);
}

static void record(void *ctx, const char *line, size_t len)
{
	struct daemon *d = ctx;

	np_charging_append(&d->charging, line, len);
}

static void charged(void *ctx, const struct np_term *t,
		    const struct np_call *call, const char *line, size_t len)
{
	struct daemon *d = ctx;

	if (d->cluster)
		np_cluster_charged(d->cluster, t, call, line, len);
}

static double wall(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void source_block(void *ctx, const struct np_sockaddr *src,
			 uint8_t prefix_len, uint32_t seconds)
{
	struct daemon *d = ctx;
	char buf[64];
	int err = np_guard_block(&d->maps, src, prefix_len, seconds,
				 np_guard_now_ns());

	bool whole = prefix_len == (src->family == AF_INET6 ? 128 : 32);
	char what[80];

	np_sockaddr_str(src, buf, sizeof(buf));
	/* A mapping (address:port), an address, or a prefix (/len). */
	if (whole)
		snprintf(what, sizeof(what), "%s", buf);
	else
		snprintf(what, sizeof(what), "%s/%u", buf, prefix_len);
	if (err)
		np_warn("cannot block %s in XDP: %s", what, strerror(-err));
	else
		np_info("%s over its limits: dropped in XDP for %us", what,
			seconds);
}

static void source_known(void *ctx, const struct np_sockaddr *nat, bool known)
{
	struct daemon *d = ctx;
	int err = np_guard_known(&d->maps, nat, known);

	if (err && !(err == -ENOENT && !known))
		np_warn("cannot %s a known source in XDP: %s",
			known ? "add" : "remove", strerror(-err));
}

static const struct np_core_io daemon_io = {
	.signal_open = sock_open,
	.signal_close = sock_close,
	.send = sock_send,
	.flow_put = flow_put,
	.flow_put_new = flow_put_new,
	.flow_get = flow_get,
	.flow_del = flow_del,
	.flows_del = flows_del,
	.counters_get = counters_get,
	.flows_sum = flows_sum,
	.charge = charge,
	.charged = charged,
	.wall = wall,
	.source_block = source_block,
	.source_known = source_known,
};

static int on_latch(void *ctx, void *data, size_t len)
{
	const struct np_latch_event *ev = data;
	struct daemon *d = ctx;
	struct np_sockaddr src = {};

	if (len < sizeof(*ev))
		return 0;
	src.family = ev->key.family == NP_AF_INET6 ? AF_INET6 : AF_INET;
	memcpy(&src.addr, &ev->source, src.family == AF_INET6 ? 16 : 4);
	src.port = ntohs(ev->sport);
	np_core_latched(&d->px.core, &ev->key, &src,
			ev->kind == NP_LATCH_TAKEOVER);
	return 0;
}

/* Attaches the relay to every realm interface that does not run it yet,
 * and remembers which it attached. */
static int ensure_attached(struct daemon *d, const struct np_config *cfg,
			   const char *pin_dir, enum np_xdp_mode mode)
{
	__u32 max_flows = np_config_max_flows(cfg, NP_MAX_FLOWS), prog_id;
	struct np_attachment att[NP_MAX_IFACES];
	size_t i;
	int n, j, err;

	for (i = 0; i < cfg->n_realms; i++) {
		const char *ifname = cfg->realms[i].interface;

		err = np_status(pin_dir, &prog_id, att, NP_MAX_IFACES, &n);
		if (err)
			return err;
		for (j = 0; j < n && strcmp(att[j].ifname, ifname); j++)
			;
		if (j < n)
			continue;
		err = np_attach(pin_dir, ifname, mode, max_flows);
		if (err)
			return err;
		if (d->n_attached < NP_MAX_IFACES)
			snprintf(d->attached[d->n_attached++], IF_NAMESIZE,
				 "%s", ifname);
	}
	return 0;
}

/* Undoes ensure_attached() from entry `from` on: XDP that was there
 * before stays. */
static void detach_ours(struct daemon *d, const char *pin_dir, size_t from)
{
	while (d->n_attached > from) {
		const char *ifname = d->attached[--d->n_attached];

		if (!np_detach(pin_dir, ifname))
			np_info("XDP detached from '%s' again", ifname);
	}
}

/*
 * What each realm's interface can do, asked again every tick: a veth peer
 * that gains or loses XDP or GRO changes whether XDP can deliver through
 * it (link.c); checksum verification for new flows follows the link map.
 */
static void links_sync(struct daemon *d)
{
	struct np_link link;
	size_t i;
	int err;

	err = np_links_refresh(d->maps.fd[NP_LINKS], d->maps.fd[NP_EGRESS],
			       d->maps.fd[NP_XMIT_DROPS]);
	if (err < 0)
		np_warn("cannot probe the relay's interfaces: %s",
			strerror(-err));
	for (i = 0; i < d->cfg.n_realms; i++)
		d->px.core.link_flags[i] =
			bpf_map_lookup_elem(d->maps.fd[NP_LINKS],
					    &d->px.core.ifindex[i], &link) ?
				0 :
				link.flags;
}

/* Flows of our media ranges that no adopted call claims. */
struct stale_ctx {
	const struct daemon *d;
	struct np_flow_key *keys;
	size_t n, cap;
};

static int collect_stale(const struct np_flow_key *key,
			 const struct np_flow *flow,
			 const struct np_counters *c, void *arg)
{
	struct stale_ctx *s = arg;
	size_t realm;

	(void)flow, (void)c;
	/* Only our realms' media ports, and only those no call holds. */
	if (!np_core_key_realm(&s->d->px.core, key, &realm) ||
	    np_core_media_port_used(&s->d->px.core, realm, ntohs(key->port)))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		void *k = realloc(s->keys, cap * sizeof(*s->keys));

		if (!k)
			return -ENOMEM;
		s->keys = k;
		s->cap = cap;
	}
	s->keys[s->n++] = *key;
	return 0;
}

static void reconcile_slots(struct daemon *d)
{
	/* No one else installs yet: a slot without its flow is a leak, or a
	 * lease the last run held (flowtab.h) when it was killed. */
	int n = np_slots_reconcile(&d->maps);

	if (n > 0)
		np_info("released %d flow slots no flow holds (leases of a "
			"run that was killed, or flows never installed)", n);
	else if (n < 0)
		np_warn("cannot check flow slots: %s", strerror(-n));
}

/* Only with the state read complete and verified: what it does not name
 * belongs to nothing. */
static void remove_stale_flows(struct daemon *d)
{
	struct stale_ctx s = { .d = d };
	size_t i;

	np_flow_foreach(&d->maps, collect_stale, &s);
	for (i = 0; i < s.n; i++)
		np_flow_remove(&d->maps, &s.keys[i], NULL);
	if (s.n)
		np_info("removed %zu flows left by an earlier run", s.n);
	free(s.keys);
	reconcile_slots(d);
}

/* What the state file gave, for the one line said about it. */
struct adopt_ctx {
	struct daemon *d;
	struct np_term *term;
	bool in_orphan; /* the legs are an orphan record's */
	size_t orphan_pair;
	struct np_sockaddr orphan_media;
	size_t terms, legs, orphans;
	/* Records and calls the file has that were not adopted (a call
	 * ended before the save, a terminal no longer ours). */
	size_t passed_over;
	int err; /* of the read */
	struct np_state_report rep;
	char damaged[PATH_MAX + 64]; /* where a damaged file was put */
};

/*
 * The state could not account for every flow (missing, damaged, of an
 * older format, or for maps made again): no flow is removed. Those no
 * adopted call claims become orphan calls (ctl/core/recover.c) that the
 * media timeout ends and bills. Said in one line.
 */
static void recover_flows(struct daemon *d, const struct adopt_ctx *a,
			  const char *why)
{
	struct stale_ctx s = { .d = d };
	struct np_recovery rec = {};
	int err;

	err = np_flow_foreach(&d->maps, collect_stale, &s);
	if (!err)
		err = np_core_recover(&d->px.core, s.keys, s.n,
				      monotonic_now(), &rec);
	if (err)
		np_warn("cannot go through the flows: %s; every flow is kept",
			strerror(-err));
	if (a->damaged[0] || s.n)
		np_warn("state file '%s' %s (%u records adopted, %u skipped)%s%s%s: "
			"no flow removed; %zu flows no adopted call claims kept "
			"as %zu recovered calls (ended and billed at their media "
			"timeout), %zu kept without a call",
			d->state_path, why, a->rep.good, a->rep.bad,
			a->damaged[0] ? "; kept as '" : "", a->damaged,
			a->damaged[0] ? "'" : "", s.n, rec.calls, rec.kept);
	free(s.keys);
	reconcile_slots(d);
	/* What was adopted may be in no file now (a damaged one is put
	 * aside): written whole at the first turn's save (no journal is
	 * taken up, no old generation holds it). */
	if (a->terms || a->orphans)
		np_core_changed_all(&d->px.core);
}

static int adopt_term(void *arg, const struct np_term *t,
		      const struct np_sockaddr *access,
		      const struct np_sockaddr *core)
{
	struct adopt_ctx *a = arg;
	int err;

	(void)access, (void)core;
	a->in_orphan = false;
	err = np_proxy_adopt_term(&a->d->px, t, monotonic_now(), &a->term);
	if (err) {
		np_warn("state: terminal with core port %u not adopted: %s",
			t->core_port, strerror(-err));
		a->term = NULL;
		a->passed_over++;
		return 0;
	}
	a->terms++;
	return 0;
}

static int adopt_orphan(void *arg, size_t pair,
			const struct np_sockaddr *media)
{
	struct adopt_ctx *a = arg;

	a->term = NULL;
	a->in_orphan = true;
	a->orphan_pair = pair;
	a->orphan_media = *media;
	return 0;
}

/* What became of a terminal's (or gateway's) call, said. */
static void call_adopted(struct adopt_ctx *a, const char *id, int err)
{
	if (err)
		a->passed_over++;
	if (err == -ESTALE)
		np_info("state: call '%s' ended before the state was saved: "
			"already billed, not adopted", id);
	else if (err)
		np_warn("state: call '%s' not adopted: %s", id, strerror(-err));
	else
		a->legs++;
}

static int adopt_leg(void *arg, const struct np_call *leg)
{
	struct adopt_ctx *a = arg;
	int err;

	if (a->in_orphan) {
		err = np_core_adopt_orphan(&a->d->px.core, a->orphan_pair,
					   &a->orphan_media, leg,
					   monotonic_now());
		if (!err)
			a->orphans++;
		else
			a->passed_over++;
		if (err && err != -ESTALE)
			np_warn("state: recovered call '%s' not adopted: %s",
				leg->id, strerror(-err));
		return 0;
	}
	if (a->term)
		call_adopted(a, leg->id,
			     np_proxy_adopt_call(&a->d->px, a->term, leg));
	return 0;
}

static int adopt_gw(void *arg, const char *driver, const struct np_term *t,
		    const struct np_sockaddr *access,
		    const struct np_sockaddr *core, const char *data)
{
	struct adopt_ctx *a = arg;
	int err;

	(void)access, (void)core;
	a->in_orphan = false;
	err = np_proxy_adopt_gw(&a->d->px, driver, t, data, monotonic_now(),
				&a->term);
	if (err) {
		np_warn("state: %s gateway with core port %u not adopted: %s",
			driver, t->core_port, strerror(-err));
		a->term = NULL;
		a->passed_over++;
		return 0;
	}
	a->terms++;
	return 0;
}

static int adopt_gw_call(void *arg, const struct np_call *call,
			 const char *data)
{
	struct adopt_ctx *a = arg;

	if (a->term)
		call_adopted(a, call->id,
			     np_proxy_adopt_gw_call(&a->d->px, a->term, call,
						    data));
	return 0;
}

/* Our identity in the state file: the pin directory and the flow maps. */
static void owner_init(struct daemon *d, const char *pin_dir)
{
	np_state_owner_dir(pin_dir, d->owner.pin_dir, sizeof(d->owner.pin_dir));
	d->owner.map_ids[0] = np_map_id(d->maps.fd[NP_FLOWS4]);
	d->owner.map_ids[1] = np_map_id(d->maps.fd[NP_FLOWS6]);
}

/* Whether the state file may be adopted: -EEXIST when it is another
 * instance's (we must not overwrite it either). */
static int state_owner_check(struct daemon *d)
{
	struct np_state_owner saved;
	int err = np_state_owner_read(d->state_path, &saved);

	if (err == -ENOENT)
		return 0;
	if (err == -ENODATA) {
		np_info("state file '%s' names no owner (older format): "
			"adopting it",
			d->state_path);
		return 0;
	}
	if (err)
		return 0; /* np_state_read() says what is wrong */
	switch (np_state_owner_match(&saved, &d->owner)) {
	case NP_STATE_OTHER:
		np_err("state file '%s' belongs to the natproxyd with pins in "
		       "'%s', not to this one ('%s'): not adopted; give each "
		       "instance its own --state",
		       d->state_path, saved.pin_dir, d->owner.pin_dir);
		return -EEXIST;
	case NP_STATE_OLD_MAPS:
		np_warn("state file '%s' was written for maps since made again "
			"(flow map ids %u/%u, now %u/%u): its calls are gone, "
			"not adopted",
			d->state_path, saved.map_ids[0], saved.map_ids[1],
			d->owner.map_ids[0], d->owner.map_ids[1]);
		return -ESTALE;
	default:
		return 0;
	}
}

/* A damaged state file is put aside, for whoever looks into it: the
 * next save would write over it. */
static void keep_damaged(struct daemon *d, struct adopt_ctx *a)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 96];

	snprintf(a->damaged, sizeof(a->damaged), "%s.damaged.%lld",
		 d->state_path, (long long)time(NULL));
	if (rename(d->state_path, a->damaged)) {
		np_warn("cannot move the damaged state file '%s' aside: %s",
			d->state_path, strerror(errno));
		a->damaged[0] = '\0';
		return;
	}
	/* Its journal with it, under the same name and ".journal". */
	if (!np_journal_path(d->state_path, from, sizeof(from)) &&
	    !np_journal_path(a->damaged, to, sizeof(to)) && rename(from, to) &&
	    errno != ENOENT)
		np_warn("cannot move the journal '%s' aside: %s", from,
			strerror(errno));
}

/* Adopts the good records of the state file; true only if it was read
 * complete and verified, so that what it does not name is stale. */
static bool adopt_state(struct daemon *d, struct adopt_ctx *a)
{
	static const struct np_state_visit visit = {
		.term = adopt_term, .leg = adopt_leg, .orphan = adopt_orphan,
		.gw = adopt_gw, .gw_call = adopt_gw_call
	};

	a->d = d;
	a->err = np_state_read_report(d->state_path, &visit, a, &a->rep);
	if (a->terms || a->orphans)
		np_info("adopted %zu terminals and %zu live calls "
			"(%zu recovered) from '%s'",
			a->terms, a->legs + a->orphans, a->orphans,
			d->state_path);
	if (a->err == -EINVAL || (!a->err && !a->rep.complete))
		keep_damaged(d, a);
	else if (a->err && a->err != -ENOENT)
		np_warn("state file '%s' not read: %s", d->state_path,
			strerror(-a->err));
	return !a->err && a->rep.complete && a->rep.verified;
}

/*
 * After a whole adoption the files hold what memory does: their journal
 * takes the saves again, and the first save after the restart appends its
 * batch instead of writing the whole state in its turn. The whole state
 * again, a slice a turn, when the files have what memory has not (records
 * passed over: none to outlive the next restart), and in a cluster (the
 * stream may lack what was queued for Redis when we were stopped).
 */
static void resume_journal(struct daemon *d, const struct adopt_ctx *a)
{
	int err = np_journal_resume(&d->journal, d->state_path);

	if (err) {
		np_info("state: journal of '%s' not taken up again (%s): the "
			"first save writes the whole state",
			d->state_path, strerror(-err));
		return;
	}
	np_info("state: journal of '%s' taken up again (%zu records): saves "
		"append to it", d->state_path, d->journal.records);
	if (a->passed_over || np_cluster_on(&d->cfg.cluster))
		np_core_rewrite_all(&d->px.core);
}

static void save_state(struct daemon *d)
{
	struct timespec t0, t1;
	int err;

	if (!d->px.core.dirty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = np_state_save_changes(&d->px, d->state_path, &d->owner,
				    &d->journal);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	d->state_saves++;
	d->state_save_seconds += (t1.tv_sec - t0.tv_sec) +
				 (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (err)
		np_warn("cannot save state to '%s': %s", d->state_path,
			strerror(-err));
	np_core_dirty_clear(&d->px.core);
	d->unsaved_since_ms = 0;
}

/* Saves the changes once the first is SAVE_DELAY_MS old; the ms until
 * then (for epoll_wait), or -1 with nothing left to save. */
static int save_state_due(struct daemon *d)
{
	uint64_t now;

	if (!d->px.core.dirty)
		return -1;
	now = monotonic_ms();
	if (!d->unsaved_since_ms)
		d->unsaved_since_ms = now;
	if (now - d->unsaved_since_ms >= SAVE_DELAY_MS) {
		save_state(d);
		return -1;
	}
	return (int)(SAVE_DELAY_MS - (now - d->unsaved_since_ms));
}

/* Terminals a slice of the tick visits: about 5 ms of keepalives (each
 * an OPTIONS made and sent), then the sockets are read again. */
#define TICK_SLICE 256

/*
 * A socket is read in bounded batches (recvmmsg): at most DRAIN_BATCHES of
 * DRAIN_BATCH datagrams per wake-up, then the loop moves on, so a flooded
 * access socket cannot starve the terminals' core sockets or the tick
 * (epoll is level-triggered: what is left is read at the next turn). That
 * is 256 datagrams per socket per turn. Port 0 is the realm's shared
 * socket (termsock.h): each datagram says which port it was for, and one
 * for a port closed since it came is dropped, as a socket's queue is when
 * it closes.
 */
#define DRAIN_BATCH 32
#define DRAIN_BATCHES 8

static int socket_fd(const struct daemon *d, size_t realm, uint16_t port)
{
	if (!port)
		return np_termsock_recv_fd(d->terms, realm);
	return d->socks[realm] ? d->socks[realm][port] : -1;
}

static void drain_socket(struct daemon *d, size_t realm, uint16_t port)
{
	static char bufs[DRAIN_BATCH][65536];
	static struct sockaddr_storage from[DRAIN_BATCH];
	/* IP_ORIGDSTADDR or IPV6_ORIGDSTADDR */
	static char cmsgs[DRAIN_BATCH][CMSG_SPACE(sizeof(struct sockaddr_in6))];
	struct mmsghdr msgs[DRAIN_BATCH];
	struct iovec iov[DRAIN_BATCH];
	struct np_sockaddr src;
	uint16_t to;
	int fd, n, i, round;

	for (round = 0; round < DRAIN_BATCHES; round++) {
		fd = socket_fd(d, realm, port);
		if (fd < 0)
			return;
		memset(msgs, 0, sizeof(msgs));
		for (i = 0; i < DRAIN_BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]) - 1;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			if (!port) {
				msgs[i].msg_hdr.msg_control = cmsgs[i];
				msgs[i].msg_hdr.msg_controllen = sizeof(cmsgs[i]);
			}
		}
		n = recvmmsg(fd, msgs, DRAIN_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++) {
			/* A node that does not act answers nothing. */
			if (!np_cluster_acting_realm(d->cluster, realm)) {
				np_cluster_dropped_input(d->cluster, realm);
				continue;
			}
			to = port ? port :
				    np_termsock_dst_port(&msgs[i].msg_hdr);
			if (!port && !np_termsock_is_open(d->terms, realm, to))
				continue;
			bufs[i][msgs[i].msg_len] = '\0';
			np_sockaddr_from(&from[i], &src);
			np_proxy_input(&d->px, realm, to, &src, bufs[i],
				       msgs[i].msg_len, monotonic_now());
			/* The datagram may have closed this socket. */
			if (socket_fd(d, realm, port) != fd)
				return;
		}
		/* Answers to this batch leave before the next is read. */
		sends_flush(d);
		if (n < DRAIN_BATCH)
			return;
	}
}

/* The pairs' peers, exempt from the terminal ports' budget. */
static void peers_sync(struct daemon *d)
{
	int err = d->terms ? np_termsock_peers(d->terms, &d->cfg) : 0;

	if (err)
		np_warn("cannot exempt the pairs' softswitches from the terminal "
			"ports' budget: %s", strerror(-err));
}

static void reload_note(void *arg, bool warn, const char *text)
{
	(void)arg;
	if (warn)
		np_warn("reload: %s", text);
	else
		np_info("reload: %s", text);
}

static void log_problem(void *arg, const char *text);
static int charging_open(const char *path);

/*
 * SIGHUP: the file read again and merged into the running configuration
 * (ctl/reload.c decides what may change); new interfaces attached, new
 * access sockets opened and the charging file reopened (log rotation)
 * before anything is switched, so that a failure leaves everything as it
 * was.
 */
static void reload(struct daemon *d)
{
	struct np_config next = {}, merged = {}, old;
	size_t n_attached = d->n_attached, n_opened = 0, i, draining = 0;
	size_t old_realms = d->cfg.n_realms;
	struct { size_t realm; uint16_t port; } opened[NP_MAX_IFACES];
	char why[1024];
	int fd = -1, err, problems, **socks;

	np_info("SIGHUP: reloading '%s'", d->config_path);
	if (np_config_load(d->config_path, &next, why, sizeof(why))) {
		np_err("reload refused, running configuration kept: %s", why);
		return;
	}
	if (np_reload_merge(&d->cfg, &next, &merged, reload_note, NULL, why,
			    sizeof(why))) {
		np_err("reload refused, running configuration kept: %s", why);
		np_config_free(&next);
		return;
	}
	problems = np_preflight(&merged, d->pin_dir, NULL, log_problem, NULL);
	if (problems) {
		np_err("reload refused, running configuration kept: %d "
		       "problem%s",
		       problems, problems > 1 ? "s" : "");
		goto undo;
	}
	if (merged.charging_file[0]) {
		fd = charging_open(merged.charging_file);
		if (fd < 0)
			goto refused;
	}
	socks = realloc(d->socks, merged.n_realms * sizeof(*socks));
	if (!socks)
		goto refused;
	memset(socks + old_realms, 0,
	       (merged.n_realms - old_realms) * sizeof(*socks));
	d->socks = socks;
	if (ensure_attached(d, &merged, d->pin_dir, d->mode))
		goto refused;
	if (d->maps.max_flows &&
	    d->maps.max_flows < np_config_max_flows(&merged, NP_MAX_FLOWS) / 2)
		np_warn("reload: the pinned maps hold %u flows, fewer than the "
			"configured media ports: calls past that get 503",
			d->maps.max_flows);
	for (i = 0; i < merged.n_pairs; i++) {
		const struct np_pair *p = &merged.pairs[i];
		const struct np_realm *r = &merged.realms[p->first];
		uint16_t ports[ACCESS_PORTS];
		size_t k;

		if (p->draining) {
			draining++;
			continue;
		}
		access_ports(p, r, ports);
		for (k = 0; k < ACCESS_PORTS; k++) {
			if (!ports[k] || (d->socks[p->first] &&
					  d->socks[p->first][ports[k]] >= 0))
				continue;
			if (sock_bind(d, r, p->first, ports[k]))
				goto refused;
			if (n_opened < NP_MAX_IFACES)
				opened[n_opened++] = (typeof(opened[0])){
					p->first, ports[k]
				};
		}
	}
	err = np_proxy_reconfigure(&d->px, &merged);
	if (err)
		goto refused;
	/* Committed: merged becomes the configuration. */
	old = d->cfg;
	d->cfg = merged;
	d->px.core.cfg = &d->cfg;
	np_config_free(&old);
	np_guard_configure(&d->maps, &d->cfg);
	peers_sync(d);
	for (i = old_realms; i < d->cfg.n_realms; i++)
		d->px.core.ifindex[i] = if_nametoindex(d->cfg.realms[i].interface);
	links_sync(d);
	np_charging_switch(&d->charging, d->cfg.charging_file, fd);
	np_info("reloaded: %zu realms, %zu pairs (%zu draining)%s%s%s",
		d->cfg.n_realms, d->cfg.n_pairs, draining,
		fd >= 0 ? ", charging to '" : "",
		fd >= 0 ? d->cfg.charging_file : "", fd >= 0 ? "'" : "");
	return;
refused:
	np_err("reload refused, running configuration kept");
undo:
	while (n_opened--)
		sock_close(d, opened[n_opened].realm, opened[n_opened].port);
	detach_ours(d, d->pin_dir, n_attached);
	if (fd >= 0)
		close(fd);
	np_config_free(&merged);
}

/* A read of the flows' counters is done: the requests waiting for it are
 * answered (metrics_page). */
static void metrics_read_done(struct daemon *d)
{
	const struct np_counters *media = NULL;
	uint64_t done = np_metrics_read_done(d->metrics_read, &d->px.core,
					     &media);

	if (!done)
		return;
	d->metrics_media = media;
	d->metrics_media_n = d->cfg.n_realms;
	np_metrics_http_ready(d->metrics, done);
}

/* Datagrams the socket lookup dropped as over a port's budget: said once
 * a tick while it goes on (siglookup.h). */
static void over_budget_said(struct daemon *d)
{
	uint64_t n = np_termsock_over_budget(d->terms);

	if (n > d->over_budget)
		np_warn("%llu datagrams to terminals' core ports dropped in "
			"the last second: over a port's budget (a flood)",
			(unsigned long long)(n - d->over_budget));
	d->over_budget = n;
}

/* Datagrams a socket has dropped unread (its receive buffer full). */
static uint64_t socket_drops(int fd)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) ||
	    len <= SK_MEMINFO_DROPS * sizeof(mem[0]))
		return 0;
	return mem[SK_MEMINFO_DROPS];
}

/*
 * What each realm's signaling sockets dropped, told to the core before
 * the tick (keepalives unanswered meanwhile are not held against their
 * terminals) and said once a tick while it goes on. The realm's protocol
 * sockets and its shared terminal socket: with a socket per terminal port
 * (the fallback) those are not read, tens of thousands of them.
 */
static void input_drops(struct daemon *d, time_t now)
{
	struct np_core *core = &d->px.core;
	size_t realm, i;

	for (realm = 0; realm < d->cfg.n_realms; realm++) {
		const struct np_realm *r = &d->cfg.realms[realm];
		const uint16_t ports[] = { r->sip_port, r->mgcp_port,
					   r->h248_port };
		uint64_t sum = 0, before = core->realm_input[realm].dropped;

		for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
			if (ports[i])
				sum += socket_drops(socket_fd(d, realm,
							      ports[i]));
		if (d->terms)
			sum += socket_drops(np_termsock_recv_fd(d->terms, realm));
		np_core_input_drops(core, realm, sum, now);
		if (core->realm_input[realm].dropped > before)
			np_warn("realm '%s': %llu signaling datagrams dropped "
				"unread in the last second (natproxyd "
				"overloaded)", r->name,
				(unsigned long long)(core->realm_input[realm]
							     .dropped -
						     before));
	}
}

static int run(struct daemon *d)
{
	struct epoll_event evs[64];
	int n, i, save_in = -1, timeout;
	struct turn turn;
	unsigned long compactions, appends, begun;
	double at;

	for (;;) {
		timeout = d->metrics ? np_metrics_http_timeout(d->metrics) : -1;
		if (save_in >= 0 && (timeout < 0 || save_in < timeout))
			timeout = save_in;
		if (d->ticking)
			timeout = 0; /* what is ready, then the next slice */
		np_log_flush(); /* the turn's lines, before waiting */
		n = epoll_wait(d->epfd, evs, 64, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		memset(&turn, 0, sizeof(turn));
		turn.began = np_now_ms();
		for (i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64, ticks;

			turn.served |= tag == TAG_TIMER    ? SERVED_TIMER :
				  tag == TAG_EVENTS   ? SERVED_EVENTS :
				  tag == TAG_METRICS ||
						  tag == TAG_METRICS_READ ?
							SERVED_METRICS :
				  tag == TAG_CLUSTER  ? SERVED_CLUSTER :
				  tag == TAG_SIGNAL   ? SERVED_SIGNAL :
							SERVED_SOCKETS;

			if (tag == TAG_TIMER) {
				if (read(d->timerfd, &ticks, sizeof(ticks)) >
				    0) {
					at = np_now_ms();
					links_sync(d);
					np_guard_expire(&d->maps,
							np_guard_now_ns(),
							NP_MAX_BLOCKED,
							&d->guard);
					/* Keepalives and timeouts are the
					 * acting node's alone. */
					input_drops(d, monotonic_now());
					d->tick_at = monotonic_now();
					d->ticking = np_cluster_acting(
							     d->cluster) &&
						     !np_proxy_tick_some(
							     &d->px, d->tick_at,
							     true, TICK_SLICE);
					if (d->cluster)
						np_cluster_tick(d->cluster,
								monotonic_now());
					np_charging_tick(&d->charging);
					over_budget_said(d);
					turn.tick_ms += np_now_ms() - at;
				}
			} else if (tag == TAG_EVENTS) {
				ring_buffer__consume(d->events);
			} else if (tag == TAG_METRICS) {
				continue; /* served below */
			} else if (tag == TAG_METRICS_READ) {
				metrics_read_done(d);
				continue; /* its pages are made below */
			} else if (tag == TAG_CLUSTER) {
				np_cluster_event(d->cluster, monotonic_now());
			} else if (tag == TAG_SIGNAL) {
				struct signalfd_siginfo si;

				if (read(d->sigfd, &si, sizeof(si)) !=
				    sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					reload(d);
					continue;
				}
				np_info("signal received: shutting down");
				return 0;
			} else {
				drain_socket(d, tag >> 16, tag & 0xffff);
			}
			sends_flush(d);
		}
		/* The tick's next slice, after the input that came meanwhile. */
		if (d->ticking && !(turn.served & SERVED_TIMER)) {
			at = np_now_ms();
			d->ticking = np_cluster_acting(d->cluster) &&
				     !np_proxy_tick_some(&d->px, d->tick_at,
							 false, TICK_SLICE);
			turn.tick_ms += np_now_ms() - at;
		}
		sends_flush(d);
		/* Also on its timeouts (idle connections), and after a tick. */
		if (d->metrics)
			np_metrics_http_run(d->metrics);
		at = np_now_ms();
		compactions = d->journal.compactions;
		appends = d->journal.appends;
		begun = d->journal.compactions_begun;
		save_in = save_state_due(d);
		/* A compaction in progress: a slice a turn, the next turn
		 * at once (ctl/state.c). */
		if (d->journal.writer) {
			np_journal_poll(&d->journal);
			save_in = 0;
		}
		turn.save_ms = np_now_ms() - at;
		turn.compacted = d->journal.compactions != compactions;
		turn.compaction_begun = d->journal.compactions_begun != begun;
		if (d->journal.appends != appends)
			turn.saved = d->journal.last_records;
		slow_turn(&turn);
	}
}

static void cluster_metrics(const struct np_cluster *cl, bool scale_out,
			    struct np_metrics *m)
{
	struct np_metrics_cluster *c = &m->cluster;
	struct np_cluster_stats st;
	size_t i;

	np_cluster_stats(cl, &st);
	m->have_cluster = true;
	c->roles = np_role_names;
	c->n_roles = NP_ROLE_MAX;
	c->role = np_role_names[st.role];
	c->leases = np_lease_names;
	c->n_leases = NP_LEASE_MAX;
	c->lease = np_lease_names[st.lease];
	c->redis_up = st.redis.connected;
	c->queued = st.redis.queued;
	c->queue_high = st.redis.queue_high;
	c->sent = st.redis.sent;
	c->refused = st.redis.failed;
	c->dropped = st.redis.dropped;
	c->connects = st.redis.reconnects;
	snprintf(c->redis_master, sizeof(c->redis_master), "%s",
		 st.redis.master);
	c->failovers = st.redis.failovers;
	c->not_master = st.redis.not_master;
	c->promotions = st.promotions;
	c->fencings = st.fencings;
	c->demotions = st.demotions;
	c->isolations = st.isolations;
	c->records_unconfirmed = st.records_unconfirmed;
	c->have_peer = st.have_peer;
	c->peers = np_peer_state_names;
	c->n_peers = NP_PEER_MAX;
	c->peer = np_peer_state_names[st.peer.peer];
	c->beats_sent = st.peer.sent;
	c->beats_heard = st.peer.heard;
	c->beats_bad = st.peer.bad;
	c->refusals = np_peer_refusal_names;
	_Static_assert(NP_PEER_REFUSED_MAX <= sizeof(c->beats_refused) /
					 sizeof(c->beats_refused[0]),
		       "room for every refusal");
	c->n_refusals = NP_PEER_REFUSED_MAX;
	for (size_t i = 0; i < NP_PEER_REFUSED_MAX; i++)
		c->beats_refused[i] = st.peer.refused[i];
	c->entries_applied = st.applied;
	c->records_bad = st.apply_bad;
	c->calls_copied = st.copied_calls;
	c->calls_taken_over = st.taken_over;
	c->calls_not_taken = st.not_taken;
	c->resyncs = st.resyncs;
	c->input_dropped = st.dropped_input;
	c->output_dropped = st.dropped_output;
	c->n_shares = 0;
	for (i = 0; scale_out && i < np_cluster_shares(cl); i++) {
		struct np_metrics_share *s = &c->shares[c->n_shares++];

		s->name = np_cluster_share_stats(cl, i, &st);
		s->role = np_role_names[st.role];
		s->lease = np_lease_names[st.lease];
		s->taken_over = st.taken_over;
		s->input_dropped = st.dropped_input;
	}
}

/* A metrics page, made in the loop: nothing changes the proxy meanwhile.
 * Its media totals are the last read's (metrics_read.h), begun after the
 * request came (metrics_begin). */
static char *metrics_page(void *arg, size_t *len)
{
	struct daemon *d = arg;
	struct np_metrics m;
	char *page;

	if (np_metrics_collect(&m, &d->px,
			       d->metrics_media_n == d->cfg.n_realms ?
				       d->metrics_media :
				       NULL))
		return NULL;
	m.have_verdicts = !np_verdicts_read(&d->maps, m.verdicts);
	for (size_t i = 0; i < m.n_realms; i++) {
		__u32 ifindex = d->px.core.ifindex[i];
		__u64 drops = 0;

		bpf_map_lookup_elem(d->maps.fd[NP_XMIT_DROPS], &ifindex,
				    &drops);
		m.realms[i].xmit_by_xdp = d->px.core.link_flags[i] & NP_LINK_XMIT;
		m.realms[i].verify_checksums =
			d->px.core.link_flags[i] & NP_LINK_VERIFY_CSUM;
		m.realms[i].xmit_drops = drops;
	}
	m.state_saves = d->state_saves;
	m.state_save_seconds = d->state_save_seconds;
	m.charging_written = d->charging.written;
	m.charging_pending = d->charging.pending;
	m.charging_failures = d->charging.failures;
	m.guard_blocked = d->guard.blocked;
	m.port_over_budget = np_termsock_over_budget(d->terms);
	if (d->cluster)
		cluster_metrics(d->cluster, d->cfg.cluster.n_shares > 0, &m);
	page = np_metrics_render(&m, len);
	np_metrics_free(&m);
	return page;
}

/* A request came: a read of the flows' counters that begins after it. */
static uint64_t metrics_begin(void *arg)
{
	struct daemon *d = arg;

	flows_flush(d); /* what the maps hold is what is summed */
	return np_metrics_read_begin(d->metrics_read, &d->px.core);
}

static int start_metrics(struct daemon *d)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_METRICS };
	int err, fd;

	if (!d->cfg.metrics_listen.family)
		return 0;
	err = np_metrics_read_start(&d->metrics_read, &d->maps,
				    d->cfg.n_realms, &fd);
	if (!err) {
		struct epoll_event rev = { .events = EPOLLIN,
					   .data.u64 = TAG_METRICS_READ };

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &rev)) {
			np_metrics_read_stop(d->metrics_read);
			d->metrics_read = NULL;
		}
	}
	if (!d->metrics_read)
		np_warn("metrics: the flows' counters are read in the loop: "
			"no thread for them");
	err = np_metrics_http_start(&d->metrics, &d->cfg.metrics_listen,
				    metrics_page,
				    d->metrics_read ? metrics_begin : NULL, d);
	if (!err && epoll_ctl(d->epfd, EPOLL_CTL_ADD,
			      np_metrics_http_fd(d->metrics), &ev))
		err = -errno;
	return err;
}

static int setup_loop(struct daemon *d)
{
	struct itimerspec tick = { { 1, 0 }, { 1, 0 } };
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (d->epfd < 0 || d->timerfd < 0 || d->sigfd < 0 ||
	    timerfd_settime(d->timerfd, 0, &tick, NULL))
		return -errno;
	ev.data.u64 = TAG_TIMER;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->timerfd, &ev))
		return -errno;
	ev.data.u64 = TAG_SIGNAL;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd, &ev))
		return -errno;
	return 0;
}

static void print_problem(void *arg, const char *text)
{
	(void)arg;
	fprintf(stderr, "%s\n", text);
}

static void log_problem(void *arg, const char *text)
{
	(void)arg;
	np_err("%s", text);
}

/* The charging file, for appending (and reading back its tail); its
 * directory made if only it is missing. -1 (logged) on failure. */
static int charging_open(const char *path)
{
	int fd, err = np_make_parent(path);

	fd = err ? -1 :
		   open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		np_err("cannot open charging file '%s': %s", path,
		       strerror(err ? -err : errno));
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: natproxyd -c FILE [--pin-dir DIR] [--state FILE] "
		   "[--mode native|generic] [--check]\n"
		   "                 [--log-level LEVEL] [--syslog] "
		   "[--version]\n"
		   "  -c, --config FILE  realms and NAT address pairs (YAML)\n"
		   "  --pin-dir DIR      BPF pin directory (default %s)\n"
		   "  --state FILE       live calls and registrations, kept "
		   "across restarts\n"
		   "                     (default " NP_DEFAULT_STATE
		   " for the default pin directory,\n"
		   "                     else " NP_DEFAULT_STATE ".PIN_DIR)\n"
		   "  --mode MODE        XDP attach mode for realm interfaces\n"
		   "  --check            check the configuration, interfaces, "
		   "pin directory and\n"
		   "                     files without changing anything; "
		   "exit 1 on any problem\n"
		   "  --log-level LEVEL  error, warn, info (default) or debug "
		   "(libbpf's too)\n"
		   "  -v, --verbose      the same as --log-level debug\n"
		   "  --syslog           log to syslog (else stderr: timestamped,\n"
		   "                     or with priorities for the journal)\n"
		   "  --version          print the version and exit\n",
		NP_DEFAULT_PIN_DIR);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "state", required_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .maps = NP_MAPS_NONE,
			    .epfd = -1, .timerfd = -1, .sigfd = -1,
			    /* Compactions a slice a turn (ctl/state.c). */
			    .journal = { .fd = -1, .next_fd = -1,
					 .background = true },
			    .charging.fd = -1 };
	const char *config = NULL, *pin_dir = NP_DEFAULT_PIN_DIR;
	enum np_xdp_mode mode = NP_XDP_NATIVE;
	bool check_only = false, started = false, use_syslog = false;
	enum np_log_level level;
	char err_text[512];
	size_t i;
	int opt, err, status = 1, problems, stale;
	struct adopt_ctx adopt = {};

	np_log_set_ident("natproxyd");
	while ((opt = getopt_long(argc, argv, ":c:hv", options, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'p': pin_dir = optarg; break;
		case 's': d.state_path = optarg; break;
		case 'k': check_only = true; break;
		case 'v': np_log_set_level(NP_LOG_DEBUG); break;
		case 'S': use_syslog = true; break;
		case 'V': printf("natproxyd %s\n", np_version); return 0;
		case 'L':
			if (np_log_parse_level(optarg, &level)) {
				fprintf(stderr, "natproxyd: --log-level is error, "
						"warn, info or debug\n");
				return 2;
			}
			np_log_set_level(level);
			break;
		case 'm':
			if (strcmp(optarg, "native") && strcmp(optarg, "generic")) {
				usage(stderr);
				return 2;
			}
			mode = strcmp(optarg, "generic") ? NP_XDP_NATIVE :
							   NP_XDP_GENERIC;
			break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "natproxyd: %s (natproxyd --help)\n",
				np_opt_error(err_text, sizeof(err_text), opt,
					     argv));
			return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	d.config_path = config;
	d.pin_dir = pin_dir;
	d.mode = mode;
	/* A bad file is reported before anything is touched. */
	if (np_config_load(config, &d.cfg, err_text, sizeof(err_text))) {
		fprintf(stderr, "%s\n", err_text);
		return 1;
	}
	np_log_daemon("natproxyd", use_syslog);
	np_log_route_libbpf();
	if (!d.state_path) {
		if (np_state_default_path(pin_dir, d.state_buf,
					  sizeof(d.state_buf))) {
			fprintf(stderr, "pin directory path too long: '%s'\n",
				pin_dir);
			goto out;
		}
		d.state_path = d.state_buf;
	}
	/* Everything that can be known to fail, before anything is done. */
	problems = np_preflight(&d.cfg, pin_dir, d.state_path,
				check_only ? print_problem : log_problem, NULL);
	if (check_only) {
		if (!problems)
			printf("%s: ok (%zu realms, %zu pairs)\n", config,
			       d.cfg.n_realms, d.cfg.n_pairs);
		np_config_free(&d.cfg);
		return problems ? 1 : 0;
	}
	if (problems) {
		np_err("not started: %d problem%s (natproxyd --check lists "
		       "them)",
		       problems, problems > 1 ? "s" : "");
		goto out;
	}
	np_sipmsg_init();
	err = np_make_parent(d.state_path);
	if (err) {
		np_err("cannot create the directory of state file '%s': %s",
		       d.state_path, strerror(-err));
		goto out;
	}
	if (d.cfg.charging_file[0]) {
		char spool[PATH_MAX];
		int fd = charging_open(d.cfg.charging_file);

		if (fd < 0)
			goto out;
		/* Records a previous run could not write wait next to the
		 * state file, and go first. */
		snprintf(spool, sizeof(spool), "%s.charging-spool",
			 d.state_path);
		np_charging_start(&d.charging, d.cfg.charging_file, fd, spool,
				  NULL, NULL);
	}
	d.socks = calloc(d.cfg.n_realms, sizeof(*d.socks));
	if (!d.socks)
		goto out;
	err = np_termsock_start(&d.terms, np_cluster_on(&d.cfg.cluster));
	if (err)
		np_warn("socket lookup not available (%s): every terminal's "
			"core port gets a socket of its own (an open file "
			"each)", strerror(-err));
	else
		peers_sync(&d);
	err = setup_loop(&d);
	/* Served from run() only; a port in use fails before XDP attaches. */
	if (!err)
		err = start_metrics(&d);
	if (!err)
		err = ensure_attached(&d, &d.cfg, pin_dir, mode);
	if (!err)
		err = np_maps_open(pin_dir, &d.maps);
	if (!err) {
		d.flowq = np_flowq_new(&d.maps);
		d.sendq = np_sendq_new();
		err = d.flowq && d.sendq ? 0 : -ENOMEM;
	}
	if (err)
		goto out;
	owner_init(&d, pin_dir);
	stale = state_owner_check(&d);
	if (stale == -EEXIST)
		goto out;
	/* Maps made earlier (by natproxyctl, or for another configuration)
	 * keep their size: say so if they cannot hold every relay port. */
	if (d.maps.max_flows &&
	    d.maps.max_flows < np_config_max_flows(&d.cfg, NP_MAX_FLOWS) / 2)
		np_warn("the pinned maps in '%s' hold %u flows, fewer than the "
			"configured media ports: calls past that get 503; "
			"detach every interface to have them made again",
			pin_dir, d.maps.max_flows);
	d.events = ring_buffer__new(d.maps.fd[NP_EVENTS], on_latch, &d, NULL);
	if (d.events) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = TAG_EVENTS };

		epoll_ctl(d.epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(d.events),
			  &ev);
	} else {
		np_warn("no latch events: %s", strerror(errno));
	}
	for (i = 0; i < d.cfg.n_pairs; i++) {
		size_t first = d.cfg.pairs[i].first, k;
		uint16_t ports[ACCESS_PORTS];

		access_ports(&d.cfg.pairs[i], &d.cfg.realms[first], ports);
		for (k = 0, err = 0; k < ACCESS_PORTS && !err; k++)
			if (ports[k])
				err = sock_bind(&d, &d.cfg.realms[first], first,
						ports[k]);
		if (err)
			goto out;
	}
	/* Known sources are this run's terminals: the adopted ones come
	 * back below; the guard starts with the sockets just opened. */
	np_guard_forget_known(&d.maps);
	err = np_guard_configure(&d.maps, &d.cfg);
	if (!err)
		err = np_proxy_init(&d.px, &d.cfg, &daemon_io, &d);
	if (err)
		goto out;
	for (i = 0; i < d.cfg.n_realms; i++)
		d.px.core.ifindex[i] = if_nametoindex(d.cfg.realms[i].interface);
	links_sync(&d);
	if (!stale && adopt_state(&d, &adopt)) {
		remove_stale_flows(&d);
		resume_journal(&d, &adopt);
	} else
		recover_flows(&d, &adopt,
			      stale                   ? "was for maps made since" :
			      adopt.damaged[0]        ? "is damaged" :
			      adopt.err == -ENOENT    ? "is missing" :
			      adopt.rep.version < 3   ? "has no checksums (older format)" :
							"could not be read");
	sends_flush(&d);
	if (np_cluster_on(&d.cfg.cluster)) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = TAG_CLUSTER };
		int efd;

		err = np_cluster_health_path(d.state_path, d.health_path,
					     sizeof(d.health_path));
		if (!err)
			err = np_cluster_start(&d.cluster, &d.cfg, &d.px,
					       &d.journal, d.health_path, &efd);
		if (!err)
			np_cluster_records(d.cluster, record, &d);
		if (!err && epoll_ctl(d.epfd, EPOLL_CTL_ADD, efd, &ev))
			err = -errno;
		if (err) {
			np_err("cannot start the cluster link: %s",
			       strerror(-err));
			np_proxy_forget(&d.px);
			goto out;
		}
	}
	started = true;
	np_info("natproxyd running: %zu realms, %zu pairs, pins in '%s'",
		d.cfg.n_realms, d.cfg.n_pairs, pin_dir);
	np_log_buffer(true); /* the loop's lines, a turn at a time */
	err = run(&d);
	np_log_buffer(false);
	sends_flush(&d);
	/* Calls outlive us: their flows stay, the state file has them (all
	 * of it again, the journal left empty, in this turn: the process
	 * ends, no datagram waits for it; a compaction in progress is
	 * dropped). */
	np_core_changed_all(&d.px.core);
	save_state(&d);
	np_cluster_stop(d.cluster);
	if (d.cluster)
		unlink(d.health_path);
	np_journal_close(&d.journal);
	np_proxy_forget(&d.px);
	status = err ? 1 : 0;
out:
	/* A start that failed leaves the interfaces as it found them. */
	if (!started)
		detach_ours(&d, pin_dir, 0);
	for (i = 0; d.socks && i < d.cfg.n_realms; i++) {
		for (int p = 0; d.socks[i] && p < PORTS; p++)
			if (d.socks[i][p] >= 0)
				close(d.socks[i][p]);
		free(d.socks[i]);
	}
	free(d.socks);
	np_termsock_stop(d.terms);
	np_metrics_http_stop(d.metrics);
	np_metrics_read_stop(d.metrics_read);
	ring_buffer__free(d.events);
	np_charging_stop(&d.charging, 3);
	np_flowq_free(d.flowq);
	np_sendq_free(d.sendq);
	np_maps_close(&d.maps);
	if (d.epfd >= 0)
		close(d.epfd);
	if (d.timerfd >= 0)
		close(d.timerfd);
	if (d.sigfd >= 0)
		close(d.sigfd);
	np_config_free(&d.cfg);
	return status;
}
