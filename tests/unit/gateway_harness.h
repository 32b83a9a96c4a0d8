// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the MGCP and H.248 driver tests share: a fake struct np_core_io that
 * keeps the flows, the datagrams sent and the charging records, the
 * environment (a configuration, a proxy on that io, a clock), and the
 * message tables' plumbing: feed a step's message from a gateway or the
 * agent, then compare what went out, datagram by datagram.
 *
 * The including test defines, before including this:
 *   enum who     its names for gateway 1, gateway 2 and the agent (0, 1, 2),
 *                the agent also named AGENT
 *   GW_PORT      the gateways' own port
 *   AGENT_PORT   the call agent's (MGC's) port
 *   ACCESS_PORT  natproxy's gateway port on the access side
 *   GW_LABEL, AGENT_LABEL   how steps name them ("gw" and "ca" say
 *                "gw1", "gw2" and "ca:PORT")
 *   GW_PAIR      what the pair is, for the set-up check's text
 */
#ifndef NP_TEST_GATEWAY_HARNESS_H
#define NP_TEST_GATEWAY_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "proxy.h"
#include "tap.h"

#define ACC 0
#define CORE 1
#define T0 1000
#define MAX_SENT 32
#define MAX_FLOWS 64

/* --- the fake io ----------------------------------------------------------- */

struct sent {
	size_t realm;
	uint16_t from_port;
	struct np_sockaddr to;
	char buf[16384];
};

struct fake {
	struct sent sent[MAX_SENT];
	size_t n_sent;
	struct {
		bool used;
		struct np_flow_key key;
		struct np_flow flow;
	} flows[MAX_FLOWS];
	char record[8192];
	size_t n_records;
};

static int fake_open(void *ctx, size_t realm, uint16_t port)
{
	(void)ctx, (void)realm, (void)port;
	return 0;
}

static void fake_close(void *ctx, size_t realm, uint16_t port)
{
	(void)ctx, (void)realm, (void)port;
}

static int fake_send(void *ctx, size_t realm, uint16_t from_port,
		     const struct np_sockaddr *to, const char *buf, size_t len)
{
	struct fake *f = ctx;
	struct sent *s;

	if (f->n_sent == MAX_SENT)
		return 0;
	s = &f->sent[f->n_sent++];
	s->realm = realm;
	s->from_port = from_port;
	s->to = *to;
	snprintf(s->buf, sizeof(s->buf), "%.*s", (int)len, buf);
	return 0;
}

static int slot(struct fake *f, const struct np_flow_key *k)
{
	int i;

	for (i = 0; i < MAX_FLOWS; i++)
		if (f->flows[i].used && !memcmp(&f->flows[i].key, k, sizeof(*k)))
			return i;
	return -1;
}

static int fake_put(void *ctx, const struct np_flow_key *key,
		    const struct np_flow *flow)
{
	struct fake *f = ctx;
	int i = slot(f, key);

	for (int j = 0; i < 0 && j < MAX_FLOWS; j++)
		if (!f->flows[j].used)
			i = j;
	if (i < 0)
		return -ENOSPC;
	f->flows[i].used = true;
	f->flows[i].key = *key;
	f->flows[i].flow = *flow;
	return 0;
}

static int fake_get(void *ctx, const struct np_flow_key *key,
		    struct np_flow *flow)
{
	struct fake *f = ctx;
	int i = slot(f, key);

	if (i < 0)
		return -ENOENT;
	*flow = f->flows[i].flow;
	return 0;
}

static int fake_del(void *ctx, const struct np_flow_key *key,
		    struct np_counters *last)
{
	struct fake *f = ctx;
	int i = slot(f, key);

	if (last) {
		memset(last, 0, sizeof(*last));
		last->packets = 100;
		last->bytes = 100 * 172;
	}
	if (i < 0)
		return -ENOENT;
	f->flows[i].used = false;
	return 0;
}

static int fake_counters(void *ctx, const struct np_flow_key *key,
			 struct np_counters *now)
{
	memset(now, 0, sizeof(*now));
	return slot(ctx, key) < 0 ? -ENOENT : 0;
}

static void fake_charge(void *ctx, const char *line, size_t len)
{
	struct fake *f = ctx;

	snprintf(f->record, sizeof(f->record), "%.*s", (int)len, line);
	f->n_records++;
}

static double fake_wall(void *ctx)
{
	(void)ctx;
	return 1795500005.0; /* our transaction ids start at 5001 */
}

static const struct np_core_io fake_io = {
	.signal_open = fake_open,
	.signal_close = fake_close,
	.send = fake_send,
	.flow_put = fake_put,
	.flow_get = fake_get,
	.flow_del = fake_del,
	.counters_get = fake_counters,
	.charge = fake_charge,
	.wall = fake_wall,
};

static size_t n_flows(const struct fake *f)
{
	size_t n = 0;

	for (int i = 0; i < MAX_FLOWS; i++)
		n += f->flows[i].used;
	return n;
}

/* --- environment -------------------------------------------------------------- */

struct env {
	struct np_config cfg;
	struct np_proxy px;
	struct fake f;
	time_t now;
};

static struct np_sockaddr sa(const char *ip, uint16_t port)
{
	struct np_sockaddr a = { .family = AF_INET, .port = port };

	inet_pton(AF_INET, ip, &a.addr.v4);
	return a;
}

static bool env_init(struct tap *t, struct env *e, const char *yaml)
{
	char err[256];

	memset(e, 0, sizeof(*e));
	e->now = T0;
	if (np_config_parse("test", yaml, strlen(yaml), &e->cfg, err,
			    sizeof(err))) {
		tap_check(t, false, "config: %s", err);
		return false;
	}
	return tap_check(t, !np_proxy_init(&e->px, &e->cfg, &fake_io, &e->f),
			 "proxy with " GW_PAIR);
}

static void env_fini(struct env *e)
{
	np_proxy_fini(&e->px);
	np_config_free(&e->cfg);
}

static const char *const who_ip[] = { "203.0.113.50", "203.0.113.60",
				      "198.51.100.2" };
static const uint16_t who_port[] = { GW_PORT, GW_PORT, AGENT_PORT };

struct step {
	const char *what;
	enum who from;
	uint16_t to_port; /* from the agent: the gateway's core port */
	const char *in;
	/* Expected datagrams: GW_LABEL "1", GW_LABEL "2" (from the access
	 * socket) or AGENT_LABEL ":PORT" (from that core port), then '|',
	 * then the exact text;
	 * NULL ends. */
	const char *out[4];
	time_t tick; /* then tick the clock to this (0: no tick) */
};

static void feed(struct env *e, enum who from, uint16_t to_port,
		 const char *msg)
{
	struct np_sockaddr src = sa(who_ip[from], who_port[from]);

	if (from == AGENT)
		np_proxy_input(&e->px, CORE, to_port, &src, msg, strlen(msg),
			       e->now);
	else
		np_proxy_input(&e->px, ACC, ACCESS_PORT, &src, msg, strlen(msg),
			       e->now);
}

static bool sent_is(const struct sent *s, const char *want, char *why,
		    size_t wl)
{
	const char *bar = strchr(want, '|');
	char dest[32], ip[INET_ADDRSTRLEN];
	struct np_sockaddr to;
	size_t realm;
	uint16_t from;

	snprintf(dest, sizeof(dest), "%.*s", (int)(bar - want), want);
	if (!strcmp(dest, GW_LABEL "1") || !strcmp(dest, GW_LABEL "2")) {
		to = sa(who_ip[dest[strlen(GW_LABEL)] - '1'], GW_PORT);
		realm = ACC;
		from = ACCESS_PORT;
	} else {
		to = sa(who_ip[AGENT], AGENT_PORT);
		realm = CORE;
		from = (uint16_t)atoi(dest + strlen(AGENT_LABEL ":"));
	}
	inet_ntop(AF_INET, &s->to.addr.v4, ip, sizeof(ip));
	if (s->realm != realm || s->from_port != from ||
	    s->to.addr.v4.s_addr != to.addr.v4.s_addr || s->to.port != to.port) {
		snprintf(why, wl, "went from realm %zu port %u to %s:%u",
			 s->realm, s->from_port, ip, s->to.port);
		return false;
	}
	if (strcmp(s->buf, bar + 1)) {
		snprintf(why, wl, "text differs");
		return false;
	}
	return true;
}

static void diag_text(const char *label, const char *text)
{
	const char *p = text, *nl;

	printf("#   %s:\n", label);
	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl) {
			printf("#     %s\n", p);
			break;
		}
		printf("#     %.*s\n", (int)(nl - p), p);
	}
}

static void run_steps(struct tap *t, struct env *e, const char *name,
		      const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		size_t k, want = 0;
		char why[128] = "";
		bool ok = true;

		e->f.n_sent = 0;
		if (s->in)
			feed(e, s->from, s->to_port, s->in);
		if (s->tick) {
			e->now = s->tick;
			np_proxy_tick(&e->px, e->now);
		}
		while (want < 4 && s->out[want])
			want++;
		if (e->f.n_sent != want) {
			ok = false;
			snprintf(why, sizeof(why), "%zu datagrams, not %zu",
				 e->f.n_sent, want);
		}
		for (k = 0; ok && k < want; k++)
			ok = sent_is(&e->f.sent[k], s->out[k], why, sizeof(why));
		tap_check(t, ok, "%s: %s%s%s", name, s->what, ok ? "" : ": ",
			  why);
		if (!ok)
			for (k = 0; k < e->f.n_sent; k++)
				diag_text("sent", e->f.sent[k].buf);
	}
}

#endif
