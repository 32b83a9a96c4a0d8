// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration reload decisions: which realms and pairs stay, start or
 * drain, which keys take the file's value and which keep the running one.
 * Pure: everything it learns is returned or noted, natproxyd does the I/O.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reload.h"

struct merge {
	np_reload_note_fn note;
	void *arg;
};

__attribute__((format(printf, 3, 4))) static void note(struct merge *m,
						       bool warn,
						       const char *fmt, ...)
{
	char text[512];
	va_list ap;

	if (!m->note)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	m->note(m->arg, warn, text);
}

static const char *addr_text(const struct np_sockaddr *a, char *buf,
			     size_t len)
{
	char host[INET6_ADDRSTRLEN];

	/* A pair's softswitch or call agent may be absent (family 0). */
	if (!inet_ntop(a->family, &a->addr, host, sizeof(host))) {
		snprintf(buf, len, "none");
		return buf;
	}
	if (a->port)
		snprintf(buf, len, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			 host, a->port);
	else
		snprintf(buf, len, "%s", host);
	return buf;
}

static bool addr_eq(const struct np_sockaddr *a, const struct np_sockaddr *b)
{
	if (a->family != b->family || a->port != b->port)
		return false;
	return a->family == AF_INET ? a->addr.v4.s_addr == b->addr.v4.s_addr :
				      !memcmp(&a->addr.v6, &b->addr.v6, 16);
}

static bool prefixes_eq(const struct np_prefix *a, size_t na,
			const struct np_prefix *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (a[i].family != b[i].family || a[i].len != b[i].len ||
		    memcmp(&a[i].addr, &b[i].addr, sizeof(a[i].addr)))
			return false;
	return true;
}

static int prefixes_dup(struct np_prefix **out, const struct np_prefix *in,
			size_t n)
{
	*out = NULL;
	if (!n)
		return 0;
	*out = malloc(n * sizeof(*in));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, in, n * sizeof(*in));
	return 0;
}

static ssize_t realm_index(const struct np_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_realms; i++)
		if (!strcmp(cfg->realms[i].name, name))
			return (ssize_t)i;
	return -1;
}

/* Port ranges: a realm's fixed part, as "what" (for the notes). */
static bool range_eq(struct np_port_range a, struct np_port_range b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

#define NOTE_UINT(m, r, o, field)                                              \
	do {                                                                   \
		if ((long long)(o)->field != (long long)(r)->field)            \
			note(m, false, "realm '%s': " #field " %lld -> %lld",   \
			     (r)->name, (long long)(o)->field,                 \
			     (long long)(r)->field);                           \
	} while (0)

/*
 * r: the file's realm, its policy kept; its fixed part restored from the
 * running realm o, with a note for each change that was asked for.
 */
static void realm_keep_fixed(struct merge *m, struct np_realm *r,
			     const struct np_realm *o)
{
	char a[64], b[64];

	if (strcmp(r->interface, o->interface))
		note(m, true,
		     "realm '%s': interface '%s' -> '%s' needs a restart: "
		     "kept '%s'",
		     o->name, o->interface, r->interface, o->interface);
	if (!addr_eq(&r->address, &o->address))
		note(m, true,
		     "realm '%s': address %s -> %s needs a restart: kept %s",
		     o->name, addr_text(&o->address, a, sizeof(a)),
		     addr_text(&r->address, b, sizeof(b)), a);
	if (r->sip_port != o->sip_port)
		note(m, true,
		     "realm '%s': sip_port %u -> %u needs a restart: kept %u",
		     o->name, o->sip_port, r->sip_port, o->sip_port);
	if (r->mgcp_port != o->mgcp_port)
		note(m, true,
		     "realm '%s': mgcp_port %u -> %u needs a restart: kept %u",
		     o->name, o->mgcp_port, r->mgcp_port, o->mgcp_port);
	if (r->h248_port != o->h248_port)
		note(m, true,
		     "realm '%s': h248_port %u -> %u needs a restart: kept %u",
		     o->name, o->h248_port, r->h248_port, o->h248_port);
	if (!range_eq(r->sip_ports, o->sip_ports))
		note(m, true,
		     "realm '%s': sip_ports %u-%u -> %u-%u needs a restart: "
		     "kept %u-%u",
		     o->name, o->sip_ports.lo, o->sip_ports.hi, r->sip_ports.lo,
		     r->sip_ports.hi, o->sip_ports.lo, o->sip_ports.hi);
	if (!range_eq(r->media_ports, o->media_ports))
		note(m, true,
		     "realm '%s': media_ports %u-%u -> %u-%u needs a restart: "
		     "kept %u-%u",
		     o->name, o->media_ports.lo, o->media_ports.hi,
		     r->media_ports.lo, r->media_ports.hi, o->media_ports.lo,
		     o->media_ports.hi);
	memcpy(r->interface, o->interface, sizeof(r->interface));
	r->address = o->address;
	r->sip_port = o->sip_port;
	r->mgcp_port = o->mgcp_port;
	r->h248_port = o->h248_port;
	r->sip_ports = o->sip_ports;
	r->media_ports = o->media_ports;

	if (r->latch != o->latch)
		note(m, false, "realm '%s': latch %s -> %s", r->name,
		     np_latch_mode_name(o->latch),
		     np_latch_mode_name(r->latch));
	NOTE_UINT(m, r, o, media_timeout);
	NOTE_UINT(m, r, o, dscp);
	NOTE_UINT(m, r, o, sip_dscp);
	NOTE_UINT(m, r, o, vlan);
	NOTE_UINT(m, r, o, max_calls);
	NOTE_UINT(m, r, o, max_registrations);
	NOTE_UINT(m, r, o, max_stream_kbps);
	NOTE_UINT(m, r, o, deny_drop);
	if (!prefixes_eq(r->allow, r->n_allow, o->allow, o->n_allow))
		note(m, false, "realm '%s': allow list changed (%zu prefixes)",
		     r->name, r->n_allow);
	if (!prefixes_eq(r->deny, r->n_deny, o->deny, o->n_deny))
		note(m, false, "realm '%s': deny list changed (%zu prefixes)",
		     r->name, r->n_deny);
	if (r->sip_dscp != o->sip_dscp)
		note(m, true,
		     "realm '%s': sip_dscp applies to sockets opened from now "
		     "on (new terminals)",
		     r->name);
}

/* Ranges of one realm's ports, for the overlap check. */
static size_t portsets(const struct np_realm *r, struct np_port_range *ps)
{
	size_t n = 0;

	if (r->sip_port)
		ps[n++] = (struct np_port_range){ r->sip_port, r->sip_port };
	if (r->mgcp_port)
		ps[n++] = (struct np_port_range){ r->mgcp_port, r->mgcp_port };
	if (r->h248_port)
		ps[n++] = (struct np_port_range){ r->h248_port, r->h248_port };
	if (r->sip_ports.lo)
		ps[n++] = r->sip_ports;
	ps[n++] = r->media_ports;
	return n;
}

/* Realms from index `from` on (the new ones) against every other. */
static int check_overlaps(const struct np_config *cfg, size_t from, char *err,
			  size_t errlen)
{
	struct np_port_range a[5], b[5];
	size_t i, j, x, y, na, nb;
	char text[64];

	for (j = from; j < cfg->n_realms; j++) {
		nb = portsets(&cfg->realms[j], b);
		for (i = 0; i < j; i++) {
			const struct np_sockaddr *ai = &cfg->realms[i].address;
			const struct np_sockaddr *aj = &cfg->realms[j].address;

			if (ai->family != aj->family ||
			    memcmp(&ai->addr, &aj->addr,
				   ai->family == AF_INET ? 4 : 16))
				continue;
			na = portsets(&cfg->realms[i], a);
			for (y = 0; y < nb; y++)
				for (x = 0; x < na; x++) {
					if (b[y].lo > a[x].hi ||
					    a[x].lo > b[y].hi)
						continue;
					snprintf(err, errlen,
						 "new realm '%s': ports %u-%u "
						 "overlap ports %u-%u of "
						 "running realm '%s' on %s",
						 cfg->realms[j].name, b[y].lo,
						 b[y].hi, a[x].lo, a[x].hi,
						 cfg->realms[i].name,
						 addr_text(aj, text,
							   sizeof(text)));
					return -EINVAL;
				}
		}
	}
	return 0;
}

static void pair_name(const struct np_config *cfg, const struct np_pair *p,
		      char *buf, size_t len)
{
	snprintf(buf, len, "%s->%s", cfg->realms[p->first].name,
		 cfg->realms[p->second].name);
}

int np_reload_merge(const struct np_config *running, struct np_config *next,
		    struct np_config *out, np_reload_note_fn note_fn, void *arg,
		    char *err, size_t errlen)
{
	struct merge m = { note_fn, arg };
	struct np_config res;
	bool *taken_r = NULL, *taken_p = NULL;
	char name[2 * NP_REALM_NAME_MAX + 4], a[2 * NP_REALM_NAME_MAX + 4];
	char b[64];
	size_t i, j, nr = 0, np = 0;
	ssize_t x, y;
	int ret = -ENOMEM;

	res = *next; /* top-level keys: the file's */
	res.realms = calloc(running->n_realms + next->n_realms,
			    sizeof(*res.realms));
	res.pairs = calloc(running->n_pairs + next->n_pairs, sizeof(*res.pairs));
	taken_r = calloc(next->n_realms + 1, sizeof(*taken_r));
	taken_p = calloc(next->n_pairs + 1, sizeof(*taken_p));
	if (!res.realms || !res.pairs || !taken_r || !taken_p)
		goto fail;

	/* Running realms keep their index; the file's keys where it has
	 * them, the running realm whole where it has not. */
	for (i = 0; i < running->n_realms; i++) {
		const struct np_realm *o = &running->realms[i];
		struct np_realm *r = &res.realms[nr++];

		x = realm_index(next, o->name);
		if (x >= 0) {
			*r = next->realms[x];
			taken_r[x] = true;
			realm_keep_fixed(&m, r, o);
			/* Its prefixes are moved below, on success. */
			continue;
		}
		*r = *o;
		if (prefixes_dup(&r->allow, o->allow, o->n_allow) ||
		    prefixes_dup(&r->deny, o->deny, o->n_deny)) {
			free(r->allow);
			r->allow = r->deny = NULL;
			r->n_allow = r->n_deny = 0;
			goto fail;
		}
	}
	for (x = 0; x < (ssize_t)next->n_realms; x++) {
		if (taken_r[x])
			continue;
		res.realms[nr++] = next->realms[x];
	}
	res.n_realms = nr;
	ret = check_overlaps(&res, running->n_realms, err, errlen);
	if (ret)
		goto fail;

	/* Running pairs keep their index: still in the file, or draining. */
	for (i = 0; i < running->n_pairs; i++) {
		const struct np_pair *o = &running->pairs[i];
		struct np_pair *p = &res.pairs[np++];

		*p = *o;
		pair_name(running, o, name, sizeof(name));
		x = realm_index(next, running->realms[o->first].name);
		y = realm_index(next, running->realms[o->second].name);
		for (j = 0; x >= 0 && y >= 0 && j < next->n_pairs; j++)
			if (next->pairs[j].first == (size_t)x &&
			    next->pairs[j].second == (size_t)y)
				break;
		if (x < 0 || y < 0 || j == next->n_pairs) {
			if (!o->draining)
				note(&m, false,
				     "pair %s removed: draining (no new "
				     "terminals, registrations or calls; "
				     "live ones finish)",
				     name);
			p->draining = true;
			continue;
		}
		taken_p[j] = true;
		p->draining = false;
		if (o->draining)
			note(&m, false, "pair %s is back: no longer draining",
			     name);
		if (!addr_eq(&next->pairs[j].softswitch, &o->softswitch))
			note(&m, true,
			     "pair %s: softswitch %s -> %s needs a restart: "
			     "kept %s",
			     name, addr_text(&o->softswitch, a, sizeof(a)),
			     addr_text(&next->pairs[j].softswitch, b,
				       sizeof(b)),
			     a);
		if (!addr_eq(&next->pairs[j].call_agent, &o->call_agent))
			note(&m, true,
			     "pair %s: call_agent %s -> %s needs a restart: "
			     "kept %s",
			     name, addr_text(&o->call_agent, a, sizeof(a)),
			     addr_text(&next->pairs[j].call_agent, b,
				       sizeof(b)),
			     a);
		if (!addr_eq(&next->pairs[j].mgc, &o->mgc))
			note(&m, true,
			     "pair %s: mgc %s -> %s needs a restart: kept %s",
			     name, addr_text(&o->mgc, a, sizeof(a)),
			     addr_text(&next->pairs[j].mgc, b, sizeof(b)), a);
	}
	for (j = 0; j < next->n_pairs; j++) {
		const struct np_pair *n = &next->pairs[j];
		struct np_pair *p;

		if (taken_p[j])
			continue;
		p = &res.pairs[np];
		*p = *n;
		p->draining = false;
		p->first = (size_t)realm_index(&res, next->realms[n->first].name);
		p->second =
			(size_t)realm_index(&res, next->realms[n->second].name);
		pair_name(&res, p, name, sizeof(name));
		/* One access socket, one pair: a draining pair holds it. */
		for (i = 0; i < np; i++)
			if (res.pairs[i].first == p->first) {
				snprintf(err, errlen,
					 "new pair %s: realm '%s' is still "
					 "first of pair %s%s; restart to "
					 "re-pair it",
					 name, res.realms[p->first].name,
					 (pair_name(&res, &res.pairs[i], a,
						    sizeof(a)),
					  a),
					 res.pairs[i].draining ? " (draining)" :
								 "");
				ret = -EINVAL;
				goto fail;
			}
		np++;
		note(&m, false, "pair %s added", name);
	}
	res.n_pairs = np;
	for (i = running->n_realms; i < res.n_realms; i++)
		note(&m, false, "realm '%s' added on '%s'", res.realms[i].name,
		     res.realms[i].interface);
	for (i = 0; i < running->n_realms; i++)
		if (realm_index(next, running->realms[i].name) < 0)
			note(&m, false,
			     "realm '%s' is not in the file: kept while its "
			     "pairs drain",
			     running->realms[i].name);
	if (running->keepalive_method != res.keepalive_method)
		note(&m, false, "keepalive method: %s",
		     res.keepalive_method == NP_KEEPALIVE_CRLF ? "crlf" :
								 "options");
	if (running->keepalive_interval != res.keepalive_interval)
		note(&m, false, "keepalive interval %u -> %u",
		     running->keepalive_interval, res.keepalive_interval);
	/* Who this node is in a cluster, and its Redis, are fixed at start
	 * (the replication and the lease run on them). */
	if (memcmp(&running->cluster, &res.cluster, sizeof(res.cluster)))
		note(&m, true, "the cluster section changes only at a restart: "
			       "kept as it was");
	res.cluster = running->cluster;
	if (strcmp(running->charging_file, res.charging_file))
		note(&m, false, "charging file '%s' -> '%s'",
		     running->charging_file, res.charging_file);

	/* Success: the file's realms (their prefixes now in res) and pairs
	 * are consumed. */
	free(next->realms);
	free(next->pairs);
	memset(next, 0, sizeof(*next));
	free(taken_r);
	free(taken_p);
	*out = res;
	return 0;
fail:
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory merging the configuration");
	/* Only copies made here are freed: realms from the file stay its. */
	for (i = 0; res.realms && i < running->n_realms && i < nr; i++) {
		if (realm_index(next, running->realms[i].name) >= 0)
			continue;
		free(res.realms[i].allow);
		free(res.realms[i].deny);
	}
	free(res.realms);
	free(res.pairs);
	free(taken_r);
	free(taken_p);
	return ret;
}
