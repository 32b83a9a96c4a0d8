// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for ctl/state.c, natproxyd's state file. A proxy driven through
 * a fake struct np_core_io (the same idea as proxy_test.c, trimmed) gets a
 * registered terminal with an answered two-stream call whose video was
 * dropped later, a second terminal with a ringing incoming call, and a third
 * adopted with odd text fields. The file np_state_save() writes is read
 * back with np_state_read() and every field compared; then a second proxy
 * with a fresh fake (holding the first one's flows, as pinned maps would)
 * adopts it all, and the adopted call is driven to its end. Damaged files
 * must give -EINVAL and never crash; a missing one -ENOENT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/follow.h"
#include "cluster/livepub.h"
#include "config.h"
#include "log.h"
#include "natproxy.h"
#include "core/portpool.h"
#include "proxy.h"
#include "sip/sipmsg.h"
#include "state.h"
#include "tap.h"

#define ACC 0
#define CORE 1
#define T0 1000
#define MAX_SENT 32
#define MAX_SOCKS 16
#define MAX_FLOWS 128
#define MAX_DELS 64
#define MSG_MAX 8192

#define CFG                                                                    \
	"realms:\n"                                                            \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.1\n"                                           \
	"    sip_port: 5060\n"                                                 \
	"    media_ports: 30000-30099\n"                                       \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: 20000-20009\n"                                         \
	"    media_ports: 40000-40099\n"                                       \
	"pairs:\n"                                                             \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    softswitch: 198.51.100.2:5060\n"

static const struct np_state_owner test_owner = {
	.pin_dir = "/sys/fs/bpf/nat proxy",
	.map_ids = { 17, 18 },
};

/* --- the fake io ---------------------------------------------------------- */

struct sent {
	size_t realm;
	uint16_t from_port;
	struct np_sockaddr to;
	char *buf;
};

struct sock_ev {
	size_t realm;
	uint16_t port;
};

struct flow_slot {
	bool used;
	struct np_flow_key key;
	struct np_flow flow;
};

struct fake {
	struct sent sent[MAX_SENT];
	size_t n_sent;
	struct sock_ev opened[MAX_SOCKS], closed[MAX_SOCKS];
	size_t n_opened, n_closed;
	struct flow_slot flows[MAX_FLOWS];
	struct np_flow_key dels[MAX_DELS]; /* every flow_del, found or not */
	size_t n_dels;
	char last_record[16384];
	size_t n_records;
};

static int fake_sip_open(void *ctx, size_t realm, uint16_t port)
{
	struct fake *f = ctx;

	if (f->n_opened < MAX_SOCKS)
		f->opened[f->n_opened++] = (struct sock_ev){ realm, port };
	return 0;
}

static void fake_sip_close(void *ctx, size_t realm, uint16_t port)
{
	struct fake *f = ctx;

	if (f->n_closed < MAX_SOCKS)
		f->closed[f->n_closed++] = (struct sock_ev){ realm, port };
}

static int fake_send(void *ctx, size_t realm, uint16_t from_port,
		     const struct np_sockaddr *to, const char *buf, size_t len)
{
	struct fake *f = ctx;
	struct sent *s;

	if (f->n_sent == MAX_SENT)
		return 0;
	s = &f->sent[f->n_sent];
	s->buf = malloc(len + 1);
	if (!s->buf)
		return -ENOMEM;
	memcpy(s->buf, buf, len);
	s->buf[len] = '\0';
	s->realm = realm;
	s->from_port = from_port;
	s->to = *to;
	f->n_sent++;
	return 0;
}

static struct flow_slot *slot_of(struct fake *f, const struct np_flow_key *k)
{
	size_t i;

	for (i = 0; i < MAX_FLOWS; i++)
		if (f->flows[i].used && !memcmp(&f->flows[i].key, k, sizeof(*k)))
			return &f->flows[i];
	return NULL;
}

static int fake_flow_put(void *ctx, const struct np_flow_key *key,
			 const struct np_flow *flow)
{
	struct fake *f = ctx;
	struct flow_slot *s = slot_of(f, key);
	size_t i;

	for (i = 0; !s && i < MAX_FLOWS; i++)
		if (!f->flows[i].used)
			s = &f->flows[i];
	if (!s)
		return -ENOSPC;
	s->used = true;
	s->key = *key;
	s->flow = *flow;
	return 0;
}

static int fake_flow_get(void *ctx, const struct np_flow_key *key,
			 struct np_flow *flow)
{
	struct flow_slot *s = slot_of(ctx, key);

	if (!s)
		return -ENOENT;
	*flow = s->flow;
	return 0;
}

/* Each flow counted 50 packets, 10000 bytes, and a few drops per reason. */
static int fake_flow_del(void *ctx, const struct np_flow_key *key,
			 struct np_counters *last)
{
	struct fake *f = ctx;
	struct flow_slot *s = slot_of(f, key);
	int i;

	if (f->n_dels < MAX_DELS)
		f->dels[f->n_dels++] = *key;
	if (!s)
		return -ENOENT;
	memset(last, 0, sizeof(*last));
	last->packets = 50;
	last->bytes = 10000;
	for (i = 0; i < NP_DROP_MAX; i++)
		last->drops[i] = (uint64_t)i + 1;
	s->used = false;
	return 0;
}

static int fake_counters_get(void *ctx, const struct np_flow_key *key,
			     struct np_counters *now)
{
	memset(now, 0, sizeof(*now));
	return slot_of(ctx, key) ? 0 : -ENOENT;
}

static void fake_charge(void *ctx, const char *line, size_t len)
{
	struct fake *f = ctx;

	snprintf(f->last_record, sizeof(f->last_record), "%.*s", (int)len,
		 line);
	f->n_records++;
}

static double fake_wall(void *ctx)
{
	(void)ctx;
	return 1795593600.25;
}

static const struct np_core_io fake_ops = {
	.signal_open = fake_sip_open,
	.signal_close = fake_sip_close,
	.send = fake_send,
	.flow_put = fake_flow_put,
	.flow_get = fake_flow_get,
	.flow_del = fake_flow_del,
	.counters_get = fake_counters_get,
	.charge = fake_charge,
	.wall = fake_wall,
};

static void sent_clear(struct fake *f)
{
	size_t i;

	for (i = 0; i < f->n_sent; i++)
		free(f->sent[i].buf);
	f->n_sent = 0;
}

static size_t flow_count(const struct fake *f)
{
	size_t i, n = 0;

	for (i = 0; i < MAX_FLOWS; i++)
		n += f->flows[i].used;
	return n;
}

/* --- addresses ------------------------------------------------------------ */

static struct np_sockaddr sa(const char *ip, uint16_t port)
{
	struct np_sockaddr a;

	memset(&a, 0, sizeof(a));
	a.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	inet_pton(a.family, ip, &a.addr);
	a.port = port;
	return a;
}

static struct np_flow_key fkey(const char *ip, uint16_t port)
{
	struct np_flow_key k;

	memset(&k, 0, sizeof(k));
	k.family = NP_AF_INET;
	k.port = htons(port);
	inet_pton(AF_INET, ip, &k.addr);
	return k;
}

static bool deleted(const struct fake *f, const char *ip, uint16_t port)
{
	struct np_flow_key k = fkey(ip, port);
	size_t i;

	for (i = 0; i < f->n_dels; i++)
		if (!memcmp(&f->dels[i], &k, sizeof(k)))
			return true;
	return false;
}

/* --- messages ------------------------------------------------------------- */

struct ua {
	const char *user, *host;
	struct np_sockaddr nat;
};

static struct ua alice, bob, carol; /* carol: the journal tests' */

/* From a terminal: method, Request-URI, branch, Call-ID, CSeq, To, extra
 * header lines, body. */
static const char *term_req(char *out, const struct ua *u, const char *method,
			    const char *ruri, const char *branch,
			    const char *cid, int cseq, const char *to,
			    const char *extra, const char *body)
{
	snprintf(out, MSG_MAX,
		 "%s %s SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP %s:5060;branch=%s;rport\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:%s@example.test>;tag=%s-tag\r\n"
		 "To: %s\r\n"
		 "Call-ID: %s\r\n"
		 "CSeq: %d %s\r\n"
		 "Contact: <sip:%s@%s:5060>\r\n"
		 "%s"
		 "Content-Length: %zu\r\n\r\n%s",
		 method, ruri, u->host, branch, u->user, u->user, to, cid, cseq,
		 method, u->user, u->host, extra, strlen(body), body);
	return out;
}

/* From the softswitch to a terminal's core address. */
static const char *core_req(char *out, const char *method, const char *ruri,
			    const char *branch, const char *from,
			    const char *to, const char *cid, int cseq,
			    const char *extra, const char *body)
{
	snprintf(out, MSG_MAX,
		 "%s %s SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 198.51.100.2:5060;branch=%s\r\n"
		 "Max-Forwards: 69\r\n"
		 "From: %s\r\n"
		 "To: %s\r\n"
		 "Call-ID: %s\r\n"
		 "CSeq: %d %s\r\n"
		 "%s"
		 "Content-Length: %zu\r\n\r\n%s",
		 method, ruri, branch, from, to, cid, cseq, method, extra,
		 strlen(body), body);
	return out;
}

static int hdr_value(const char *msg, const char *name, int nth, char *out,
		     size_t size)
{
	const char *line = strstr(msg, "\r\n"), *end, *colon, *v;
	size_t nlen = strlen(name), n;

	while (line && line[2] != '\r' && line[2]) {
		line += 2;
		end = strstr(line, "\r\n");
		if (!end)
			break;
		colon = memchr(line, ':', (size_t)(end - line));
		if (colon) {
			n = (size_t)(colon - line);
			if (n == nlen && !strncasecmp(line, name, n) &&
			    !nth--) {
				for (v = colon + 1; *v == ' '; v++)
					;
				n = (size_t)(end - v);
				if (n >= size)
					n = size - 1;
				memcpy(out, v, n);
				out[n] = '\0';
				return 0;
			}
		}
		line = end;
	}
	out[0] = '\0';
	return -1;
}

/* A UAS's response to req (RFC 3261 8.2.6.2). */
static const char *reply(char *out, const char *req, const char *status,
			 const char *to_tag, const char *extra,
			 const char *body)
{
	char vias[4096] = "", v[1024], from[512], to[512], cid[512], cseq[128];
	size_t n = 0;
	int i;

	for (i = 0; !hdr_value(req, "Via", i, v, sizeof(v)); i++)
		n += (size_t)snprintf(vias + n, sizeof(vias) - n,
				      "Via: %s\r\n", v);
	hdr_value(req, "From", 0, from, sizeof(from));
	hdr_value(req, "To", 0, to, sizeof(to));
	hdr_value(req, "Call-ID", 0, cid, sizeof(cid));
	hdr_value(req, "CSeq", 0, cseq, sizeof(cseq));
	if (to_tag && !strstr(to, ";tag="))
		snprintf(to + strlen(to), sizeof(to) - strlen(to), ";tag=%s",
			 to_tag);
	snprintf(out, MSG_MAX,
		 "SIP/2.0 %s\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
		 "CSeq: %s\r\n%sContent-Length: %zu\r\n\r\n%s",
		 status, vias, from, to, cid, cseq, extra, strlen(body), body);
	return out;
}

#define CT_SDP "Content-Type: application/sdp\r\n"
#define FAR_CONTACT "Contact: <sip:far@198.51.100.10:5060>\r\n"
#define FAR_FROM "<sip:far@example.test>;tag=far-tag"

#define SDP_AV(who, ip, aport, vport)                                          \
	"v=0\r\n"                                                              \
	"o=" who " 1 1 IN IP4 " ip "\r\n"                                      \
	"s=-\r\n"                                                              \
	"c=IN IP4 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " aport " RTP/AVP 0\r\n"                                      \
	"b=AS:64\r\n"                                                          \
	"a=rtpmap:0 PCMU/8000\r\n"                                             \
	"m=video " vport " RTP/AVP 96\r\n"                                     \
	"a=rtpmap:96 H264/90000\r\n"                                           \
	"a=rtcp-mux\r\n"

#define SDP_A(who, ip, port)                                                   \
	"v=0\r\n"                                                              \
	"o=" who " 1 1 IN IP4 " ip "\r\n"                                      \
	"s=-\r\n"                                                              \
	"c=IN IP4 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " port " RTP/AVP 0\r\n"                                       \
	"a=rtpmap:0 PCMU/8000\r\n"

/* --- one proxy ------------------------------------------------------------ */

struct env {
	struct np_config cfg;
	struct fake io;
	struct np_proxy px;
	bool up;
	time_t now;
};

static bool env_init_cfg(struct tap *t, struct env *e, const char *name,
			 const char *yaml)
{
	char err[256];
	int ret;

	memset(e, 0, sizeof(*e));
	e->now = T0;
	ret = np_config_parse(name, yaml, strlen(yaml), &e->cfg, err,
			      sizeof(err));
	if (ret)
		tap_diag("%s", err);
	else
		ret = np_proxy_init(&e->px, &e->cfg, &fake_ops, &e->io);
	e->up = !ret;
	tap_check(t, e->up, "%s: config parsed and proxy initialised", name);
	return e->up;
}

static bool env_init(struct tap *t, struct env *e, const char *name)
{
	return env_init_cfg(t, e, name, CFG);
}

static void env_free(struct env *e)
{
	sent_clear(&e->io);
	np_config_free(&e->cfg);
}

/* Its proxy (if up) and what env_init made, gone. */
static void env_done(struct env *e)
{
	if (e->up)
		np_proxy_fini(&e->px);
	env_free(e);
}

static void from_term(struct env *e, const struct ua *u, const char *msg)
{
	sent_clear(&e->io);
	np_proxy_input(&e->px, ACC, 5060, &u->nat, msg, strlen(msg), e->now);
}

static void from_core(struct env *e, uint16_t port, const char *msg)
{
	struct np_sockaddr ss = sa("198.51.100.2", 5060);

	sent_clear(&e->io);
	np_proxy_input(&e->px, CORE, port, &ss, msg, strlen(msg), e->now);
}

/* The first datagram sent, copied ("" if none); the caller frees it. */
static char *first_sent(const struct env *e)
{
	return strdup(e->io.n_sent ? e->io.sent[0].buf : "");
}

static uint16_t do_register(struct env *e, const struct ua *u, int expires)
{
	char m[MSG_MAX], r[MSG_MAX], extra[256], to[128], branch[64];
	uint16_t port;
	char *req;

	snprintf(extra, sizeof(extra), "Expires: %d\r\n", expires);
	snprintf(to, sizeof(to), "<sip:%s@example.test>", u->user);
	snprintf(branch, sizeof(branch), "z9hG4bK-reg-%s", u->user);
	term_req(m, u, "REGISTER", "sip:example.test", branch, "reg-1", 1, to,
		 extra, "");
	from_term(e, u, m);
	if (!e->io.n_sent || e->io.sent[0].realm != CORE)
		return 0;
	port = e->io.sent[0].from_port;
	req = first_sent(e);
	snprintf(extra, sizeof(extra),
		 "Contact: <sip:%s@198.51.100.1:%u>;expires=%d\r\n", u->user,
		 port, expires);
	reply(r, req, "200 OK", "ks", extra, "");
	free(req);
	from_core(e, port, r);
	return port;
}

/* --- comparing ------------------------------------------------------------- */

static bool end_eq(const struct np_media_end *a, const struct np_media_end *b)
{
	if (a->known != b->known || a->rtp != b->rtp || a->rtcp != b->rtcp ||
	    a->mux != b->mux || a->bps != b->bps)
		return false;
	if (!a->known)
		return true;
	if (a->addr.family != b->addr.family)
		return false;
	return a->addr.family == AF_INET6 ?
		       !memcmp(&a->addr.addr.v6, &b->addr.addr.v6, 16) :
		       a->addr.addr.v4.s_addr == b->addr.addr.v4.s_addr;
}

static bool vol_eq(const struct np_volume *a, const struct np_volume *b)
{
	int i;

	if (a->packets != b->packets || a->bytes != b->bytes)
		return false;
	for (i = 0; i < NP_DROP_MAX; i++)
		if (a->drops[i] != b->drops[i])
			return false;
	return true;
}

/* Field by field; *why names the first difference. */
static bool leg_eq(const struct np_call *a, const struct np_call *b,
		   const char **why)
{
	size_t i;

#define DIFF(cond, what)                                                       \
	do {                                                                   \
		if (cond) {                                                    \
			*why = what;                                           \
			return false;                                          \
		}                                                              \
	} while (0)
	static const NP_SIP_DIALOG_BUF(none, 0);
	const struct np_sip_dialog *da = a->dialog ? a->dialog : &none.d;
	const struct np_sip_dialog *db = b->dialog ? b->dialog : &none.d;

	DIFF(strcmp(a->id, b->id), "call_id");
	DIFF(strcmp(a->from, b->from), "from");
	DIFF(strcmp(a->to, b->to), "to");
	DIFF(strcmp(da->far_target, db->far_target), "far_target");
	DIFF(a->outgoing != b->outgoing, "outgoing");
	DIFF(a->answered != b->answered, "answered");
	DIFF(da->term_cseq != db->term_cseq, "term_cseq");
	DIFF(da->core_cseq != db->core_cseq, "core_cseq");
	DIFF(strcmp(da->core_route, db->core_route), "core_route");
	DIFF(a->started != b->started, "started");
	DIFF(a->expires != b->expires, "expires");
	DIFF(a->answered_at != b->answered_at, "answered_at");
	DIFF(a->wall_start != b->wall_start, "wall_start");
	DIFF(a->wall_answer != b->wall_answer, "wall_answer");
	DIFF(a->n_streams != b->n_streams, "n_streams");
	for (i = 0; i < a->n_streams; i++) {
		const struct np_stream *x = &a->streams[i], *y = &b->streams[i];

		DIFF(x->active != y->active, "stream active");
		DIFF(x->access_port != y->access_port, "stream access_port");
		DIFF(x->core_port != y->core_port, "stream core_port");
		DIFF(x->mux != y->mux, "stream mux");
		DIFF(!end_eq(&x->term, &y->term), "stream term end");
		DIFF(!end_eq(&x->far, &y->far), "stream far end");
		DIFF(a->access_ports[i] != b->access_ports[i], "access_ports[]");
		DIFF(a->core_ports[i] != b->core_ports[i], "core_ports[]");
		DIFF(!vol_eq(&a->gone_up[i], &b->gone_up[i]), "gone_up");
		DIFF(!vol_eq(&a->gone_down[i], &b->gone_down[i]), "gone_down");
	}
#undef DIFF
	*why = "";
	return true;
}

#define TERM_CONTACT(t) (((struct np_sip_term *)(t)->signaling)->contact)
#define DLG(l) ((struct np_sip_dialog *)(l)->dialog)

/* --- visitors ------------------------------------------------------------- */

#define MAX_REC 8

/* A recorded call with its own copy of the dialog. */
struct rec_call {
	struct np_call call;
	NP_SIP_DIALOG_BUF(dialog, NP_ROUTESET_LEN);
};

struct rec_term {
	struct np_term term;
	struct np_sip_term sterm;
	/* Its bindings: the reader's are gone with its next terminal. */
	struct np_sip_binding bindings[NP_SIP_BINDINGS];
	time_t binding_until[NP_SIP_BINDINGS];
	struct np_sockaddr acc, core;
	struct np_call *legs[MAX_REC];
	size_t n_legs;
};

struct record {
	struct rec_term terms[MAX_REC];
	size_t n_terms, n_legs;
	bool orphan_leg; /* a leg with no terminal before it */
};

static int rec_term(void *arg, const struct np_term *t,
		    const struct np_sockaddr *acc,
		    const struct np_sockaddr *core)
{
	struct record *r = arg;
	struct rec_term *rt = &r->terms[r->n_terms];
	const struct np_sip_term *st = t->signaling;

	if (r->n_terms == MAX_REC)
		return -ENOSPC;

	rt->term = *t;
	rt->sterm = *st;
	if (st->n_bindings) {
		memcpy(rt->bindings, st->bindings,
		       st->n_bindings * sizeof(*st->bindings));
		memcpy(rt->binding_until, st->binding_until,
		       st->n_bindings * sizeof(*st->binding_until));
	}
	rt->sterm.bindings = rt->bindings;
	rt->sterm.binding_until = rt->binding_until;
	rt->term.signaling = &rt->sterm;
	r->terms[r->n_terms].acc = *acc;
	r->terms[r->n_terms].core = *core;
	r->n_terms++;
	return 0;
}

static int rec_leg(void *arg, const struct np_call *leg)
{
	struct record *r = arg;
	struct rec_term *rt;
	struct rec_call *rc;

	if (!r->n_terms) {
		r->orphan_leg = true;
		return 0;
	}
	rt = &r->terms[r->n_terms - 1];
	if (rt->n_legs == MAX_REC)
		return -ENOSPC;
	rc = malloc(sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	/* Its own streams: the reader's go with its next leg. */
	if (np_call_copy(&rc->call, leg)) {
		free(rc);
		return -ENOMEM;
	}
	memcpy(&rc->dialog, leg->dialog,
	       sizeof(rc->dialog.d) +
		       strlen(((const struct np_sip_dialog *)leg->dialog)->core_route) + 1);
	rc->call.dialog = &rc->dialog.d;
	rt->legs[rt->n_legs++] = &rc->call;
	r->n_legs++;
	return 0;
}

static void record_free(struct record *r)
{
	size_t i, j;

	for (i = 0; i < r->n_terms; i++)
		for (j = 0; j < r->terms[i].n_legs; j++) {
			np_call_streams_free(r->terms[i].legs[j]);
			free(r->terms[i].legs[j]);
		}
	memset(r, 0, sizeof(*r));
}

static const struct np_state_visit rec_visit = { .term = rec_term,
						.leg = rec_leg };

static const struct rec_term *rec_find(const struct record *r,
				       const struct np_sockaddr *nat)
{
	size_t i;

	for (i = 0; i < r->n_terms; i++)
		if (np_sockaddr_eq(&r->terms[i].term.nat, nat))
			return &r->terms[i];
	return NULL;
}

static const struct np_call *rec_leg_find(const struct rec_term *rt,
					 const char *call_id)
{
	size_t i;

	for (i = 0; rt && i < rt->n_legs; i++)
		if (!strcmp(rt->legs[i]->id, call_id))
			return rt->legs[i];
	return NULL;
}

struct adopt {
	struct np_proxy *px;
	struct np_term *term;
	time_t now;
	int terms, legs, errors, stale;
};

static int adopt_term(void *arg, const struct np_term *t,
		      const struct np_sockaddr *acc,
		      const struct np_sockaddr *core)
{
	struct adopt *a = arg;

	(void)acc, (void)core;
	if (np_proxy_adopt_term(a->px, t, a->now, &a->term)) {
		a->term = NULL;
		a->errors++;
	} else {
		a->terms++;
	}
	return 0;
}

static int adopt_leg(void *arg, const struct np_call *leg)
{
	struct adopt *a = arg;

	int err = a->term ? np_proxy_adopt_call(a->px, a->term, leg) : -EINVAL;

	if (err == -ESTALE)
		a->stale++;
	else if (err)
		a->errors++;
	else
		a->legs++;
	return 0;
}

static const struct np_state_visit adopt_visit = { .term = adopt_term,
						  .leg = adopt_leg };

/* --- the round trip -------------------------------------------------------- */

/* Text no SIP message would give, for the escaping. */
#define ODD_CONTACT "-"
#define ODD_CALL_ID "-"
#define ODD_FROM "\"Zo\xc3\xab M\xc3\xbcller\" <sip:z%40@x>;tag=a\tb 100%"
#define ODD_FAR "sip:100%25 x@y -"

static struct np_term *px_term(struct np_proxy *px,
			       const struct np_sockaddr *nat)
{
	struct np_term *t;

	for (t = px->core.terms; t; t = t->next)
		if (np_sockaddr_eq(&t->nat, nat))
			return t;
	return NULL;
}

static struct np_call *px_leg(struct np_term *t, const char *call_id)
{
	struct np_call *l;

	for (l = t ? t->calls : NULL; l; l = l->next)
		if (!strcmp(l->id, call_id))
			return l;
	return NULL;
}

static void test_round_trip(struct tap *t, const char *path)
{
	static struct env e1, e2;
	struct np_sockaddr odd_nat = sa("203.0.113.50", 1234);
	const char *cid = "st1@192.168.1.10", *cid_b = "st2@198.51.100.10";
	char m[MSG_MAX], r[MSG_MAX], *inv = NULL, *req;
	struct np_term odd = {}, *ta, *tb, *todd;
	struct np_sip_term odd_st = {};
	static NP_SIP_DIALOG_BUF(odd_buf, 0);
	struct np_sip_dialog *odd_dialog_p = &odd_buf.d;
	struct np_call *odd_leg = NULL, *la, *lb, *lo;
	const struct rec_term *ra, *rb, *ro;
	struct record rec = {};
	struct adopt ad = {};
	const char *why = "";
	uint16_t pa, pb;
	size_t i;
	int err;

	if (!env_init(t, &e1, "round trip"))
		goto out;
	pa = do_register(&e1, &alice, 3600);
	pb = do_register(&e1, &bob, 600);

	/* alice: audio + video, both accepted, answered. */
	term_req(m, &alice, "INVITE", "sip:far@example.test", "z9hG4bK-st1",
		 cid, 1, "<sip:far@example.test>", CT_SDP,
		 SDP_AV("alice", "192.168.1.10", "6000", "6002"));
	from_term(&e1, &alice, m);
	inv = first_sent(&e1);
	reply(r, inv, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
	      SDP_AV("far", "198.51.100.10", "7000", "7002"));
	e1.now = T0 + 2;
	from_core(&e1, pa, r);
	term_req(m, &alice, "ACK", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-st1a", cid, 1, "<sip:far@example.test>;tag=far-tag",
		 "", "");
	from_term(&e1, &alice, m);
	/* The far end's in-dialog request, CSeq 7. */
	core_req(m, "INFO", "sip:alice@198.51.100.1:20000", "z9hG4bK-ks-info",
		 FAR_FROM, "<sip:alice@example.test>;tag=alice-tag", cid, 7,
		 "", "");
	from_core(&e1, pa, m);
	req = first_sent(&e1);
	reply(r, req, "200 OK", NULL, "", "");
	free(req);
	from_term(&e1, &alice, r);
	/* alice drops the video: its volumes go to the leg's record. */
	free(inv);
	term_req(m, &alice, "INVITE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-st1r", cid, 2, "<sip:far@example.test>;tag=far-tag",
		 CT_SDP, SDP_AV("alice", "192.168.1.10", "6000", "0"));
	e1.now = T0 + 5;
	from_term(&e1, &alice, m);
	inv = first_sent(&e1);
	reply(r, inv, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
	      SDP_AV("far", "198.51.100.10", "7000", "0"));
	from_core(&e1, pa, r);
	free(inv);
	inv = NULL;

	/* bob: an incoming call, ringing. */
	core_req(m, "INVITE", "sip:bob@198.51.100.1:20001", "z9hG4bK-ks-st2",
		 FAR_FROM, "<sip:bob@example.test>", cid_b, 4,
		 FAR_CONTACT CT_SDP, SDP_A("far", "198.51.100.10", "7010"));
	from_core(&e1, pb, m);
	inv = first_sent(&e1);
	reply(r, inv, "180 Ringing", "bob-tag", "", "");
	from_term(&e1, &bob, r);

	/* A terminal with odd text, adopted as a restart would. */
	odd.pair = 0;
	odd.nat = odd_nat;
	odd.core_port = 20005;
	odd.signaling = &odd_st;
	snprintf(odd_st.contact, sizeof(odd_st.contact), "%s", ODD_CONTACT);
	err = np_proxy_adopt_term(&e1.px, &odd, e1.now, &todd);
	odd_leg = calloc(1, sizeof(*odd_leg));
	if (!err && odd_leg) {
		odd_leg->dialog = odd_dialog_p;
		snprintf(odd_leg->id, sizeof(odd_leg->id), "%s", ODD_CALL_ID);
		snprintf(odd_leg->from, sizeof(odd_leg->from), "%s", ODD_FROM);
		odd_leg->to[0] = '\0';
		snprintf(odd_dialog_p->far_target, sizeof(odd_dialog_p->far_target),
			 "%s", ODD_FAR);
		odd_leg->outgoing = true;
		odd_leg->answered = true;
		odd_dialog_p->term_cseq = 4000000000u;
		odd_dialog_p->core_cseq = 1;
		odd_leg->started = 1;
		odd_leg->answered_at = 2;
		odd_leg->wall_start = 1700000000.125;
		odd_leg->wall_answer = 1700000001.5;
		err = np_proxy_adopt_call(&e1.px, todd, odd_leg);
	}
	tap_check(t, !err, "round trip: a terminal and a leg with odd text adopted (%d)",
		  err);

	ta = px_term(&e1.px, &alice.nat);
	tb = px_term(&e1.px, &bob.nat);
	la = px_leg(ta, cid);
	lb = px_leg(tb, cid_b);
	lo = px_leg(px_term(&e1.px, &odd_nat), ODD_CALL_ID);
	tap_check(t, ta && tb && la && lb && lo && la->n_streams == 2 &&
			     la->streams[0].active && !la->streams[1].active &&
			     la->gone_up[1].packets == 50 &&
			     la->answered && !lb->answered && !lb->outgoing &&
			     DLG(la)->core_cseq == 7 && DLG(la)->term_cseq == 2,
		  "round trip: the scene is set (2 streams, video gone with volumes, cseqs 2/7, a ringing leg)");
	if (!(ta && tb && la && lb && lo))
		goto out;

	err = np_state_save(&e1.px, path, &test_owner);
	tap_check(t, !err, "np_state_save: 0 (%d)", err);
	{
		char tmp[4200];

		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		tap_check(t, access(tmp, F_OK) != 0,
			  "np_state_save: no .tmp file left behind");
	}
	err = np_state_read(path, &rec_visit, &rec);
	tap_check(t, !err, "np_state_read: 0 (%d)", err);
	tap_check(t, rec.n_terms == 3 && rec.n_legs == 3 && !rec.orphan_leg,
		  "np_state_read: 3 terminals, 3 legs (%zu, %zu)", rec.n_terms,
		  rec.n_legs);

	ra = rec_find(&rec, &alice.nat);
	rb = rec_find(&rec, &bob.nat);
	ro = rec_find(&rec, &odd_nat);
	tap_check(t, ra && ra->term.pair == 0 && ra->term.core_port == pa &&
			     !strcmp(TERM_CONTACT(&ra->term), TERM_CONTACT(ta)) &&
			     ra->term.registered_until == ta->registered_until &&
			     ra->term.registered_until == T0 + 3600,
		  "term alice: pair, NAT, core port %u, contact '%s', registered_until",
		  ra ? ra->term.core_port : 0, ra ? TERM_CONTACT(&ra->term) : "");
	{
		const struct np_sip_term *sa_ = ra ? ra->term.signaling : NULL,
					 *st_ = ta->signaling;

		tap_check(t, sa_ && st_->n_bindings == 1 &&
				     sa_->n_bindings == st_->n_bindings &&
				     !strcmp(sa_->bindings[0].uri,
					     st_->bindings[0].uri) &&
				     !strcmp(sa_->bindings[0].user,
					     st_->bindings[0].user) &&
				     sa_->binding_until[0] ==
					     st_->binding_until[0] &&
				     !strcmp(sa_->aor, st_->aor) && sa_->aor[0],
			  "term alice: her registration bindings and AOR survive the file (%zu, '%s')",
			  sa_ ? sa_->n_bindings : 0, sa_ ? sa_->aor : "");
	}
	{
		struct np_sockaddr acc = sa("203.0.113.1", 5060),
				   core = sa("198.51.100.1", pa);

		tap_check(t, ra && np_sockaddr_eq(&ra->acc, &acc) &&
				     np_sockaddr_eq(&ra->core, &core),
			  "term alice: access 203.0.113.1:5060, core 198.51.100.1:%u",
			  pa);
	}
	tap_check(t, rb && rb->term.core_port == pb &&
			     rb->term.registered_until == T0 + 600 &&
			     !strcmp(TERM_CONTACT(&rb->term), TERM_CONTACT(tb)),
		  "term bob: core port %u, registered_until, contact", pb);
	tap_check(t, ro && ro->term.core_port == 20005 &&
			     ro->term.registered_until == 0 &&
			     !strcmp(TERM_CONTACT(&ro->term), ODD_CONTACT),
		  "term odd: contact '-' alone survives, registered_until 0");

	tap_check(t, leg_eq(la, rec_leg_find(ra, cid) ?
				    rec_leg_find(ra, cid) :
				    &(struct np_call){ 0 },
			    &why),
		  "leg alice: every field equal (first difference: %s)", why);
	tap_check(t, leg_eq(lb, rec_leg_find(rb, cid_b) ?
				    rec_leg_find(rb, cid_b) :
				    &(struct np_call){ 0 },
			    &why),
		  "leg bob: every field equal (first difference: %s)", why);
	tap_check(t, leg_eq(lo, rec_leg_find(ro, ODD_CALL_ID) ?
				    rec_leg_find(ro, ODD_CALL_ID) :
				    &(struct np_call){ 0 },
			    &why),
		  "leg odd: spaces, '%%', tab, UTF-8, '-' alone, empty text survive (first difference: %s)",
		  why);
	{
		const struct np_call *x = rec_leg_find(ra, cid);

		tap_check(t, x && x->streams[0].term.bps == 64000 &&
				     x->streams[0].far.bps == 64000 &&
				     x->streams[0].far.known &&
				     x->streams[0].far.rtp == 7000 &&
				     x->streams[0].term.rtp == 6000 &&
				     x->gone_up[1].packets == 50 &&
				     x->gone_up[1].drops[NP_DROP_MAX - 1] ==
					     NP_DROP_MAX &&
				     x->gone_down[1].bytes == 10000 &&
				     x->answered_at == T0 + 2 &&
				     x->started == T0,
			  "leg alice: bps, ports, gone volumes with drops, times as expected");
		tap_check(t, x && !strcmp(DLG(x)->far_target,
					  "sip:far@198.51.100.10:5060") &&
				     !strcmp(x->to,
					     "<sip:far@example.test>;tag=far-tag"),
			  "leg alice: far_target and tagged To");
	}
	{
		const struct np_call *x = rec_leg_find(rb, cid_b);

		tap_check(t, x && x->expires == T0 + 5 + 300 &&
				     DLG(x)->core_cseq == 4 && !x->answered &&
				     x->wall_answer == 0,
			  "leg bob: ringing: expires, core CSeq 4, not answered");
	}

	/* The daemon stops: flows stay in the maps. */
	np_proxy_forget(&e1.px);
	e1.up = false;
	tap_check(t, flow_count(&e1.io) == 8,
		  "forget: flows left in the maps (%zu)", flow_count(&e1.io));

	/* A new daemon, same pinned maps, adopts the state file. */
	if (!env_init(t, &e2, "adopted"))
		goto out;
	memcpy(e2.io.flows, e1.io.flows, sizeof(e2.io.flows));
	e2.now = T0 + 100;
	ad.px = &e2.px;
	ad.now = e2.now;
	err = np_state_read(path, &adopt_visit, &ad);
	tap_check(t, !err && ad.terms == 3 && ad.legs == 3 && !ad.errors,
		  "adopt: 3 terminals, 3 legs, no error (%d, %d, %d, %d)", err,
		  ad.terms, ad.legs, ad.errors);
	{
		bool a = false, b = false, o = false;

		for (i = 0; i < e2.io.n_opened; i++) {
			a |= e2.io.opened[i].realm == CORE &&
			     e2.io.opened[i].port == pa;
			b |= e2.io.opened[i].realm == CORE &&
			     e2.io.opened[i].port == pb;
			o |= e2.io.opened[i].realm == CORE &&
			     e2.io.opened[i].port == 20005;
		}
		tap_check(t, e2.io.n_opened == 3 && a && b && o,
			  "adopt: core sockets opened at the same ports %u, %u, 20005",
			  pa, pb);
	}
	tap_check(t, e2.px.core.live_calls[ACC] == 3 && e2.px.core.live_calls[CORE] == 3,
		  "adopt: call counts 3/3 (%u/%u)", e2.px.core.live_calls[ACC],
		  e2.px.core.live_calls[CORE]);
	tap_check(t, np_core_media_port_used(&e2.px.core, ACC, 30000) &&
			     np_core_media_port_used(&e2.px.core, ACC, 30001) &&
			     np_core_media_port_used(&e2.px.core, CORE, 40000) &&
			     !np_core_media_port_used(&e2.px.core, ACC, 30002),
		  "adopt: the live stream's ports are taken, the gone stream's are not");
	tap_check(t, e2.px.core.signal_ports[CORE].in_use == 3,
		  "adopt: three core signaling ports taken");

	/* A new call does not get the adopted ports. */
	term_req(m, &alice, "INVITE", "sip:far@example.test", "z9hG4bK-st3",
		 "st3@192.168.1.10", 1, "<sip:far@example.test>", CT_SDP,
		 SDP_A("alice", "192.168.1.10", "6004"));
	from_term(&e2, &alice, m);
	tap_check(t, e2.io.n_sent == 1 && e2.io.sent[0].realm == CORE &&
			     e2.io.sent[0].from_port == pa &&
			     !strstr(e2.io.sent[0].buf, "m=audio 40000 ") &&
			     strstr(e2.io.sent[0].buf, "m=audio 400"),
		  "adopt: a new call from the adopted terminal leaves from port %u with other relay ports",
		  pa);
	tap_check(t, flow_count(&e2.io) == 12 &&
			     e2.px.core.media_ports[ACC].in_use == 6,
		  "adopt: the new call's flows beside the adopted ones (%zu)",
		  flow_count(&e2.io));

	/* The adopted call ends with a BYE. */
	e2.io.n_dels = 0;
	e2.io.n_records = 0;
	term_req(m, &alice, "BYE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-st1b", cid, 3, "<sip:far@example.test>;tag=far-tag",
		 "", "");
	from_term(&e2, &alice, m);
	tap_check(t, e2.io.n_sent == 1 && e2.io.sent[0].realm == CORE &&
			     e2.io.sent[0].from_port == pa,
		  "adopted call BYE: relayed to the softswitch from port %u", pa);
	tap_check(t, e2.io.n_dels == 4 && deleted(&e2.io, "203.0.113.1", 30000) &&
			     deleted(&e2.io, "203.0.113.1", 30001) &&
			     deleted(&e2.io, "198.51.100.1", 40000) &&
			     deleted(&e2.io, "198.51.100.1", 40001),
		  "adopted call BYE: flow_del for its 4 keys (%zu calls)",
		  e2.io.n_dels);
	tap_check(t, flow_count(&e2.io) == 8 &&
			     !np_core_media_port_used(&e2.px.core, ACC, 30000),
		  "adopted call BYE: its flows and ports gone, the others' kept");
	tap_check(t, e2.io.n_records == 1 &&
			     strstr(e2.io.last_record,
				    "\"call_id\": \"st1@192.168.1.10\"") &&
			     strstr(e2.io.last_record, "\"end_reason\": \"bye\""),
		  "adopted call BYE: one charging record, end_reason bye");
	tap_check(t, strstr(e2.io.last_record,
			    "{\"index\": 0, \"access_relay\": \"203.0.113.1:30000\", "
			    "\"core_relay\": \"198.51.100.1:40000\", "
			    "\"from_terminal\": {\"packets\": 100, \"bytes\": 20000") &&
			     strstr(e2.io.last_record,
				    "{\"index\": 1, \"access_relay\": \"203.0.113.1:30002\", "
				    "\"core_relay\": \"198.51.100.1:40002\", "
				    "\"from_terminal\": {\"packets\": 50, \"bytes\": 10000, "
				    "\"drops\": {\"source\": 1, \"latch\": 2, \"rate\": 3, \"no-dest\": 4") &&
			     strstr(e2.io.last_record,
				    "\"start\": \"2026-11-25T08:00:00.250Z\""),
		  "adopted call BYE: the record has both streams, the gone one's volumes from before the restart");
	if (!strstr(e2.io.last_record, "\"index\": 1"))
		tap_diag("record: %s", e2.io.last_record);
	np_proxy_fini(&e2.px);
	e2.up = false;
	tap_check(t, flow_count(&e2.io) == 0,
		  "adopted: np_proxy_fini removes every flow");
out:
	if (e1.up)
		np_proxy_fini(&e1.px);
	if (e2.up)
		np_proxy_fini(&e2.px);
	record_free(&rec);
	free(odd_leg);
	free(inv);
	env_free(&e1);
	env_free(&e2);
}

/* --- calls that ended after the last save --------------------------------- */

/*
 * natproxyd killed after a call's end was billed but before the state file
 * was written again: the file still lists the call, the maps no longer
 * hold its flows. The restarted daemon must not adopt it (and bill it a
 * second time at its media timeout); a leg without media yet is adopted.
 */
static void test_ended_before_save(struct tap *t, const char *path)
{
	struct adopt ad = {};
	struct env e = {};
	int err;

	if (!env_init(t, &e, "ended-before-save"))
		goto out;
	e.now = T0 + 100;
	ad.px = &e.px;
	ad.now = e.now;
	err = np_state_read(path, &adopt_visit, &ad);
	tap_check(t, !err && ad.terms == 3 && ad.stale == 2 && ad.legs == 1 &&
			     !ad.errors,
		  "ended before save: the 2 calls whose flows are gone not adopted, "
		  "the leg without media adopted (%d, %d stale, %d legs, %d errors)",
		  err, ad.stale, ad.legs, ad.errors);
	tap_check(t, !np_core_media_port_used(&e.px.core, ACC, 30000) &&
			     !np_core_media_port_used(&e.px.core, CORE, 40000) &&
			     e.px.core.live_calls[ACC] == 1 && e.px.core.live_calls[CORE] == 1,
		  "ended before save: their relay ports free, one live call (%u/%u)",
		  e.px.core.live_calls[ACC], e.px.core.live_calls[CORE]);
	e.now += 7200;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, e.io.n_records == 1 &&
			     strstr(e.io.last_record, "{\"call_id\": \"-\", "),
		  "ended before save: no second charging record for them, one "
		  "for the adopted leg when it times out (%zu records)",
		  e.io.n_records);
out:
	if (e.up)
		np_proxy_fini(&e.px);
	env_free(&e);
}

/* --- damaged files --------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The line of text starting with prefix, copied without its newline. */
static bool line_of(const char *text, const char *prefix, char *out,
		    size_t size)
{
	const char *p = text;
	size_t n;

	while (p && *p) {
		if (!strncmp(p, prefix, strlen(prefix))) {
			n = strcspn(p, "\n");
			if (n >= size)
				return false;
			memcpy(out, p, n);
			out[n] = '\0';
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

/* line with its field idx (0-based) replaced by value, or cut to idx
 * fields when value is NULL. */
static void field_set(const char *line, int idx, const char *value, char *out,
		      size_t size)
{
	const char *p = line;
	size_t n = 0;
	int i;

	for (i = 0; i < idx && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p) {
		snprintf(out, size, "%s", line);
		return;
	}
	n = (size_t)(p - line);
	if (!value) {
		snprintf(out, size, "%.*s", (int)(n ? n - 1 : 0), line);
		return;
	}
	snprintf(out, size, "%.*s%s%s", (int)n, line, value,
		 strchr(p, ' ') ? strchr(p, ' ') : "");
}

static int read_text(const char *path, const char *text, int *visits)
{
	struct record rec = {};
	int err;

	if (write_file(path, text))
		return -EIO;
	err = np_state_read(path, &rec_visit, &rec);
	if (visits)
		*visits = (int)(rec.n_terms + rec.n_legs);
	record_free(&rec);
	return err;
}

/* A version 3 file as version 2 wrote it: no checksums, no leg counts on
 * term lines, no end line (the parser's cases below are version 2's). */
static char *v2_of(char *text)
{
	char *out, *line, *save = NULL, *o;

	if (!text)
		return NULL;
	out = calloc(1, strlen(text) + 1);
	o = out;
	for (line = strtok_r(text, "\n", &save); out && line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *hash = strstr(line, " #");

		if (hash)
			*hash = '\0';
		if (!strncmp(line, "end ", 4))
			continue;
		if (!strcmp(line, "natproxy-state 3"))
			line = "natproxy-state 2";
		if (!strncmp(line, "term ", 5))
			*strrchr(line, ' ') = '\0';
		o += sprintf(o, "%s\n", line);
	}
	free(text);
	return out;
}

static void test_damaged(struct tap *t, const char *good_path,
			 const char *path)
{
	char *good = v2_of(slurp(good_path));
	char ver[512], owner[256], term[1024], leg[2048], stream[2048];
	char x[2048], text[8192];
	int err, visits;

	/* "ver": the version line and the owner line after it. */
	if (!good || !line_of(good, "natproxy-state", ver, sizeof(ver)) ||
	    !line_of(good, "owner ", owner, sizeof(owner)) ||
	    !line_of(good, "term ", term, sizeof(term)) ||
	    !line_of(good, "leg st1@", leg, sizeof(leg)) ||
	    !line_of(strstr(good, "leg st1@"), "stream 0 ", stream,
		     sizeof(stream))) {
		tap_check(t, false, "damaged: the good file has its lines");
		free(good);
		return;
	}
	/* alice's term line is not necessarily the first: use hers. */
	{
		const char *p = strstr(good, "leg st1@");
		const char *q = p;

		while (q > good && strncmp(q, "term ", 5))
			q--;
		line_of(q, "term ", term, sizeof(term));
	}
	snprintf(ver + strlen(ver), sizeof(ver) - strlen(ver), "\n%s", owner);
	tap_diag("good file:\n%s", good);
	/* The control keeps one stream: its leg line must say so. */
	field_set(leg, 14, "1", x, sizeof(x));
	snprintf(leg, sizeof(leg), "%s", x);

	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, leg, stream);
	err = read_text(path, text, &visits);
	tap_check(t, err == 0 && visits == 2,
		  "damaged: the control (version, term, leg, one stream) reads fine (%d, %d visits)",
		  err, visits);

	err = read_text(path, good, NULL);
	tap_check(t, err == 0, "damaged: the good file as is reads fine (%d)",
		  err);
	field_set(leg, 14, "2", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, x, stream);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: a leg with fewer stream lines than it says: -EINVAL");

	snprintf(text, sizeof(text), "natproxy-state 3\n%s\n%s\n%s\n%s\n",
		 owner, term, leg, stream);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: version line 'natproxy-state 3': -EINVAL");
	snprintf(text, sizeof(text), "natproxy-state 10\n%s\n%s\n%s\n%s\n",
		 owner, term, leg, stream);
	err = read_text(path, text, &visits);
	tap_check(t, err == -EINVAL,
		  "damaged: version line 'natproxy-state 10' is not version 1 or 2: -EINVAL (%d, %d visits)",
		  err, visits);
	snprintf(text, sizeof(text), "%s\n%s\n%s\n", term, leg, stream);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: no version line: -EINVAL");

	field_set(leg, 6, NULL, x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, x, stream);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: leg line cut after 6 fields: -EINVAL");
	field_set(leg, 14, NULL, x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n", ver, term, x);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: leg line missing its last field, at the end of the file: -EINVAL");
	field_set(stream, 20, NULL, x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, leg, x);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: stream line cut: -EINVAL");
	field_set(term, 5, NULL, x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n", ver, x);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: term line cut: -EINVAL");

	field_set(stream, 1, "2", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, leg, x);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: stream index 2 of a 2-stream leg: -EINVAL");
	field_set(stream, 1, "99999999999999999999", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, leg, x);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: stream index 99999999999999999999: -EINVAL");
	field_set(leg, 14, "17", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, x, stream);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: leg with 17 streams (max 16): -EINVAL");

	/* Non-numeric fields. */
	field_set(leg, 7, "two", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, x, stream);
	err = read_text(path, text, NULL);
	tap_check(t, err == -EINVAL,
		  "damaged: leg term_cseq 'two': -EINVAL (%d)", err);
	field_set(stream, 3, "30000x", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, leg, x);
	err = read_text(path, text, NULL);
	tap_check(t, err == -EINVAL,
		  "damaged: stream access port '30000x': -EINVAL (%d)", err);
	field_set(stream, 1, "zero", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, leg, x);
	err = read_text(path, text, NULL);
	tap_check(t, err == -EINVAL,
		  "damaged: stream index 'zero': -EINVAL (%d)", err);
	field_set(term, 8, "never", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n", ver, x);
	err = read_text(path, text, NULL);
	tap_check(t, err == -EINVAL,
		  "damaged: term registered_until 'never': -EINVAL (%d)", err);
	field_set(term, 7, "port", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n", ver, x);
	err = read_text(path, text, NULL);
	tap_check(t, err == -EINVAL,
		  "damaged: term core port 'port': -EINVAL (%d)", err);
	field_set(term, 3, "99999", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n", ver, x);
	err = read_text(path, text, NULL);
	tap_check(t, err == -EINVAL,
		  "damaged: term NAT port 99999 (over 65535): -EINVAL (%d)", err);
	field_set(term, 2, "203.0.113.999", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n", ver, x);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: term NAT address 203.0.113.999: -EINVAL");
	field_set(stream, 9, "not-an-ip", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, leg, x);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: stream end address 'not-an-ip': -EINVAL");

	/* Lines out of order. */
	snprintf(text, sizeof(text), "%s\n%s\n%s\n", ver, term, stream);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: a stream line after a term, before any leg: -EINVAL");
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, stream, term, leg);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: a stream line first: -EINVAL");
	snprintf(text, sizeof(text), "%s\n%s\n%s\n", ver, leg, stream);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: a leg line before any term: -EINVAL");
	snprintf(text, sizeof(text), "%s\n%s\nbogus 1 2 3\n", ver, term);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: an unknown line kind: -EINVAL");

	/* Escapes. */
	field_set(term, 9, "sip:a%4", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s", ver, x);
	err = read_text(path, text, NULL);
	tap_check(t, err == -EINVAL,
		  "damaged: an escape cut short at the end of the file ('%%4'): -EINVAL (%d)",
		  err);
	field_set(leg, 1, "abc%4", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, x, stream);
	err = read_text(path, text, NULL);
	tap_check(t, err == -EINVAL,
		  "damaged: an escape cut short by the next field ('abc%%4'): -EINVAL (%d)",
		  err);
	field_set(leg, 1, "abc%zz", x, sizeof(x));
	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, x, stream);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: a bad escape ('%%zz'): -EINVAL");
	memset(x, 'a', 300);
	x[300] = '\0';
	{
		char y[2048];

		field_set(leg, 1, x, y, sizeof(y));
		snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n", ver, term, y,
			 stream);
	}
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: a Call-ID of 300 characters (max 255): -EINVAL");

	/* Odd shapes. */
	snprintf(text, sizeof(text), "%s\n%s\n\n", ver, term);
	tap_check(t, read_text(path, text, NULL) == -EINVAL,
		  "damaged: an empty line: -EINVAL");
	tap_check(t, read_text(path, "\x01\x02garbage\xff\n\n\n", NULL) ==
			     -EINVAL,
		  "damaged: binary garbage: -EINVAL");
	err = read_text(path, "", NULL);
	tap_diag("an empty file reads as %d", err);
	unlink(path);
	tap_check(t, np_state_read(path, &rec_visit, &(struct record){ 0 }) ==
			     -ENOENT,
		  "missing file: -ENOENT");
	free(good);
}

/*
 * The owner line: which instance's maps a state file describes. Another
 * pin directory's file is never ours; our pin directory with other map ids
 * means the maps were made again; a file of the older format has none.
 */
static void test_owner_line(struct tap *t, const char *path)
{
	struct np_state_owner got, other = test_owner, remade = test_owner;
	struct record rec = { 0 };
	struct env e;
	char buf[PATH_MAX], *text, *nl;
	int err;

	if (!env_init(t, &e, "owner"))
		return;
	do_register(&e, &alice, 3600);
	err = np_state_save(&e.px, path, &test_owner);
	err = err ? err : np_state_owner_read(path, &got);
	tap_check(t, !err && !strcmp(got.pin_dir, test_owner.pin_dir) &&
			     got.map_ids[0] == 17 && got.map_ids[1] == 18,
		  "owner: read back as written (pin dir with a space, ids 17/18) (%d)",
		  err);
	tap_check(t, np_state_owner_match(&got, &test_owner) == NP_STATE_OURS,
		  "owner: same pin dir, same map ids: ours");
	snprintf(other.pin_dir, sizeof(other.pin_dir), "/run/other/bpf/natproxy");
	tap_check(t, np_state_owner_match(&got, &other) == NP_STATE_OTHER,
		  "owner: another pin directory: another instance's");
	remade.map_ids[1] = 99;
	tap_check(t, np_state_owner_match(&got, &remade) == NP_STATE_OLD_MAPS,
		  "owner: same pin dir, a flow map made again: old maps");
	tap_check(t, np_state_owner_match(NULL, &test_owner) == NP_STATE_UNOWNED,
		  "owner: none recorded: unowned");
	err = np_state_read(path, &rec_visit, &rec);
	tap_check(t, !err && rec.n_terms == 1,
		  "owner: the file with an owner line reads whole (%d, %zu terminals)",
		  err, rec.n_terms);
	record_free(&rec);

	/* The older format: no owner line, still read. */
	err = np_state_save(&e.px, path, NULL);
	tap_check(t, !err && np_state_owner_read(path, &got) == -ENODATA,
		  "owner: a file saved without an owner (version 1): -ENODATA");
	memset(&rec, 0, sizeof(rec));
	err = np_state_read(path, &rec_visit, &rec);
	tap_check(t, !err && rec.n_terms == 1,
		  "owner: ... and its terminals are read (%d)", err);
	record_free(&rec);

	/* A damaged or missing owner line in a version 2 file. */
	np_state_save(&e.px, path, &test_owner);
	text = slurp(path);
	if (text && (nl = strchr(text, '\n'))) {
		char *second = strchr(nl + 1, '\n');

		snprintf(buf, sizeof(buf), "%.*sowner /x 12\n%s",
			 (int)(nl + 1 - text), text, second ? second + 1 : "");
		write_file(path, buf);
		tap_check(t, np_state_owner_read(path, &got) == -EINVAL &&
				     np_state_read(path, &rec_visit,
						   &(struct record){ 0 }) ==
					     -EINVAL,
			  "owner: an owner line with a field missing: -EINVAL");
		snprintf(buf, sizeof(buf), "%.*s%s", (int)(nl + 1 - text),
			 text, second ? second + 1 : "");
		write_file(path, buf);
		tap_check(t, np_state_owner_read(path, &got) == -EINVAL,
			  "owner: version 2 without its owner line: -EINVAL");
		snprintf(buf, sizeof(buf), "%.*s", (int)(nl + 1 - text), text);
		write_file(path, buf);
		tap_check(t, np_state_read(path, &rec_visit,
					   &(struct record){ 0 }) == -EINVAL,
			  "owner: version 2, nothing after the version line: -EINVAL");
	} else {
		tap_check(t, false, "owner: the saved file reads back");
	}
	free(text);
	unlink(path);
	tap_check(t, np_state_owner_read(path, &got) == -ENOENT,
		  "owner: missing file: -ENOENT");
	env_done(&e);

	/* Each pin directory has a state file of its own by default. */
	np_state_default_path("/sys/fs/bpf/natproxy", buf, sizeof(buf));
	tap_check(t, !strcmp(buf, "/run/natproxy/state"),
		  "default path: the default pin dir keeps /run/natproxy/state (%s)",
		  buf);
	np_state_default_path("/sys/fs/bpf/natproxy/", buf, sizeof(buf));
	tap_check(t, !strcmp(buf, "/run/natproxy/state"),
		  "default path: ... with a trailing slash too (%s)", buf);
	np_state_default_path("/run/np/bpf/natproxy", buf, sizeof(buf));
	tap_check(t, !strcmp(buf, "/run/natproxy/state.run_np_bpf_natproxy"),
		  "default path: another pin dir gets its own file (%s)", buf);
	np_state_default_path("/run/np/bpf/natproxy2/", buf, sizeof(buf));
	tap_check(t, !strcmp(buf, "/run/natproxy/state.run_np_bpf_natproxy2"),
		  "default path: a second instance another (%s)", buf);
	tap_check(t, np_state_default_path("/x", buf, 10) == -ENAMETOOLONG,
		  "default path: too long for the buffer: -ENAMETOOLONG");

	/* One pin directory, however it is written. */
	np_state_owner_dir("/tmp//", buf, sizeof(buf));
	{
		char real[PATH_MAX], want[PATH_MAX + 32];

		if (!realpath("/tmp", real))
			snprintf(real, sizeof(real), "/tmp");
		tap_check(t, !strcmp(buf, real),
			  "owner dir: '/tmp//' is '%s' (%s)", real, buf);
		snprintf(want, sizeof(want), "%s/np-no-such-dir", real);
		np_state_owner_dir("/tmp/./np-no-such-dir/", buf, sizeof(buf));
		tap_check(t, !strcmp(buf, want),
			  "owner dir: a directory not made yet: its parent resolved (%s)",
			  buf);
	}
}

/* --- checksums: damage found per record ------------------------------------ */

/* What a read handed on: terminals by NAT with their leg counts. */
struct seen {
	struct np_sockaddr nat[MAX_REC];
	int legs[MAX_REC];
	int n, orphans, orphan_legs;
	bool in_orphan;
};

static int seen_term(void *arg, const struct np_term *t,
		     const struct np_sockaddr *acc,
		     const struct np_sockaddr *core)
{
	struct seen *s = arg;

	(void)acc, (void)core;
	if (s->n == MAX_REC)
		return -ENOSPC;
	s->in_orphan = false;
	s->nat[s->n] = t->nat;
	s->legs[s->n++] = 0;
	return 0;
}

static int seen_leg(void *arg, const struct np_call *leg)
{
	struct seen *s = arg;

	(void)leg;
	if (s->in_orphan)
		s->orphan_legs++;
	else if (s->n)
		s->legs[s->n - 1]++;
	return 0;
}

static int seen_orphan(void *arg, size_t pair, const struct np_sockaddr *m)
{
	struct seen *s = arg;

	(void)pair, (void)m;
	s->in_orphan = true;
	s->orphans++;
	return 0;
}

static const struct np_state_visit seen_visit = {
	.term = seen_term, .leg = seen_leg, .orphan = seen_orphan
};

/* Every terminal handed on came with all the legs it has in want. */
static bool whole_records(const struct seen *got, const struct seen *want)
{
	int i, j;

	for (i = 0; i < got->n; i++) {
		for (j = 0; j < want->n; j++)
			if (np_sockaddr_eq(&got->nat[i], &want->nat[j]))
				break;
		if (j == want->n || got->legs[i] != want->legs[j])
			return false;
	}
	return true;
}

static int read_seen(const char *path, const char *text, size_t len,
		     struct seen *s, struct np_state_report *rep)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(text, 1, len, f) != len || fclose(f))
		return -EIO;
	memset(s, 0, sizeof(*s));
	return np_state_read_report(path, &seen_visit, s, rep);
}

static void test_checksums(struct tap *t, const char *good_path,
			   const char *path)
{
	char *good = slurp(good_path), *text, *v2;
	struct np_state_report rep;
	struct seen want, got;
	size_t len, i, cut_bad = 0, cut_part = 0, flip_bad = 0,
		       flip_part = 0, flip_lost = 0, half_good = 0;
	int err;

	if (!good) {
		tap_check(t, false, "checksums: the good file reads back");
		return;
	}
	len = strlen(good);
	text = malloc(len + 1);
	err = read_seen(path, good, len, &want, &rep);
	tap_check(t, !err && rep.version == 3 && rep.verified && rep.complete &&
			     rep.good == 3 && !rep.bad && want.n == 3,
		  "checksums: the file as saved: version 3, verified, complete, "
		  "3 good records (%d, v%d, %u good, %u bad)",
		  err, rep.version, rep.good, rep.bad);
	tap_check(t, !strncmp(good, "natproxy-state 3 #", 18) &&
			     strstr(good, "\nend 3 #"),
		  "checksums: a checksum on the version line, an end line with "
		  "the record count");

	/* Cut anywhere (but its last newline): never read as complete,
	 * never a record in part. */
	for (i = 0; text && i + 1 < len; i++) {
		memcpy(text, good, i);
		err = read_seen(path, text, i, &got, &rep);
		if (!err && rep.complete)
			cut_bad++;
		if (!whole_records(&got, &want))
			cut_part++;
		if (i == len / 2)
			half_good = rep.good;
	}
	tap_check(t, !cut_bad,
		  "checksums: cut at each of %zu offsets: never complete (%zu were)",
		  len, cut_bad);
	tap_check(t, !cut_part,
		  "checksums: ... and no terminal handed on without all its "
		  "calls (%zu cuts did)",
		  cut_part);
	memcpy(text, good, len / 2);
	err = read_seen(path, text, len / 2, &got, &rep);
	tap_diag("cut in half: %u good, %u bad, first bad line %d", rep.good,
		 rep.bad, rep.first_bad_line);
	tap_check(t, !err && !rep.complete && rep.good == half_good &&
			     (int)rep.good == got.n && rep.good + rep.bad >= 1,
		  "checksums: cut in half: the records before the cut read, the "
		  "rest counted as bad or missing (%u good, %u bad)",
		  rep.good, rep.bad);

	/* One byte changed anywhere: found, and only its record lost. */
	for (i = 0; text && i < len; i++) {
		memcpy(text, good, len + 1);
		text[i] ^= 0x04;
		err = read_seen(path, text, len, &got, &rep);
		if (!err && rep.complete)
			flip_bad++;
		if (!whole_records(&got, &want))
			flip_part++;
		/* A changed newline joins two lines: two records at most. */
		if (got.n < 1)
			flip_lost++;
	}
	tap_check(t, !flip_bad,
		  "checksums: one bit flipped at each of %zu bytes: always found "
		  "(%zu missed)",
		  len, flip_bad);
	tap_check(t, !flip_part,
		  "checksums: ... never a terminal without all its calls (%zu)",
		  flip_part);
	tap_check(t, !flip_lost,
		  "checksums: ... and the other records still read, even with "
		  "the version line hit (%zu flips lost all)",
		  flip_lost);
	memcpy(text, good, len + 1);
	text[strstr(good, "\nleg ") - good + 8] ^= 0x01; /* in a leg's id */
	err = read_seen(path, text, len, &got, &rep);
	tap_check(t, !err && !rep.complete && rep.good == 2 && rep.bad == 1 &&
			     got.n == 2 && rep.first_bad_line > 2,
		  "checksums: a flip in a call's line: that terminal skipped "
		  "whole, 2 good, 1 bad, the line named (%u, %u, line %d)",
		  rep.good, rep.bad, rep.first_bad_line);

	/* Random bytes, with and without line breaks. */
	srand(11);
	for (i = 0; text && i < len; i++)
		text[i] = (char)(rand() & 0xff);
	err = read_seen(path, text, len, &got, &rep);
	tap_check(t, (err == 0 || err == -EINVAL) && !rep.complete &&
			     !rep.good && !got.n,
		  "checksums: random bytes: nothing handed on, not complete (%d)",
		  err);
	for (i = 0; text && i < len; i++)
		text[i] = i % 61 == 60 ? '\n' : (char)(' ' + rand() % 95);
	err = read_seen(path, text, len, &got, &rep);
	tap_check(t, !err && !rep.complete && !rep.good && rep.bad && !got.n,
		  "checksums: random printable lines: nothing handed on, "
		  "counted bad (%u)",
		  rep.bad);
	tap_check(t, np_state_read(path, &seen_visit, &got) == -EINVAL,
		  "checksums: ... np_state_read says -EINVAL");
	err = read_seen(path, "", 0, &got, &rep);
	tap_check(t, err == -EINVAL && !rep.complete,
		  "checksums: an empty file: -EINVAL");

	/* Records missing whole: the end line's count says so. */
	{
		const char *second = strstr(good, "\nterm ");
		const char *third = second ? strstr(second + 1, "\nterm ") : NULL;
		char *gap = malloc(len + 1);

		if (gap && third) {
			size_t head = (size_t)(second - good) + 1;

			memcpy(gap, good, head);
			strcpy(gap + head, third + 1);
			err = read_seen(path, gap, strlen(gap), &got, &rep);
			tap_check(t, !err && !rep.complete && rep.good == 2 &&
					     rep.bad == 1 && got.n == 2,
				  "checksums: a whole record taken out: the other 2 "
				  "read, 1 counted missing, not complete (%u, %u)",
				  rep.good, rep.bad);
		} else {
			tap_check(t, false, "checksums: the good file has 3 terms");
		}
		free(gap);
	}

	/* The older formats: read, not verified. */
	v2 = v2_of(strdup(good));
	err = v2 ? read_seen(path, v2, strlen(v2), &got, &rep) : -ENOMEM;
	tap_check(t, !err && rep.version == 2 && !rep.verified &&
			     rep.complete && rep.good == 3 &&
			     whole_records(&got, &want) && got.n == 3,
		  "checksums: the same file in version 2 (no checksums): read "
		  "whole, not verified (%d, v%d)",
		  err, rep.version);
	free(v2);
	free(text);
	free(good);
}

/*
 * Calls rebuilt from the maps: flows no state names (a stream's four, and
 * one core flow whose access side is gone) become an orphan call, saved
 * and adopted again as one, ended at the media timeout with one record.
 */
static void put_stream_flows(struct fake *f, uint16_t ap, uint16_t cp,
			     bool access_side)
{
	struct np_flow_key ak, ck;
	struct np_flow af = {}, cf = {};
	int part;

	for (part = 0; part < 2; part++) {
		np_flow_key_make(&ak, AF_INET, &(union np_addr){ .v4 = inet_addr("203.0.113.1") },
				 ap + part);
		np_flow_key_make(&ck, AF_INET, &(union np_addr){ .v4 = inet_addr("198.51.100.1") },
				 cp + part);
		af.flags = NP_F_HAS_REVERSE;
		af.reverse = ck;
		af.new_saddr = ck.addr;
		af.new_sport = ck.port;
		cf.new_saddr = ak.addr;
		cf.new_sport = ak.port;
		cf.new_daddr.v4 = inet_addr("203.0.113.11");
		cf.new_dport = htons(41000 + part);
		if (access_side)
			fake_flow_put(f, &ak, &af);
		fake_flow_put(f, &ck, &cf);
	}
}

static void test_recover(struct tap *t, const char *path)
{
	static struct env e, e2;
	struct np_flow_key keys[MAX_FLOWS];
	struct np_recovery rec;
	struct seen got;
	struct np_state_report rep;
	struct np_journal j;
	char jpath[4096], *jtext;
	unsigned long compactions;
	size_t n = 0, i;
	int err;

	np_journal_init(&j);
	np_journal_path(path, jpath, sizeof(jpath));
	if (!env_init(t, &e, "recover"))
		return;
	put_stream_flows(&e.io, 30010, 40020, true);
	put_stream_flows(&e.io, 30050, 40050, false); /* core side only */
	for (i = 0; i < MAX_FLOWS; i++)
		if (e.io.flows[i].used)
			keys[n++] = e.io.flows[i].key;
	err = np_core_recover(&e.px.core, keys, n, e.now, &rec);
	tap_check(t, !err && rec.flows == 6 && rec.calls == 1 && rec.kept == 2,
		  "recover: 6 flows: one orphan call, the core-only pair kept "
		  "without a call (%d: %zu flows, %zu calls, %zu kept)",
		  err, rec.flows, rec.calls, rec.kept);
	tap_check(t, np_core_media_port_used(&e.px.core, ACC, 30010) &&
			     np_core_media_port_used(&e.px.core, CORE, 40020) &&
			     e.io.n_dels == 0,
		  "recover: its relay ports taken from the pools, no flow removed");
	tap_check(t, e.px.core.orphans && e.px.core.orphans->calls &&
			     e.px.core.orphans->calls->recovered &&
			     e.px.core.orphans->nat.port == 41000,
		  "recover: the orphan's terminal is where its media went");
	err = np_state_save(&e.px, path, &test_owner);
	{
		char *text = slurp(path);

		err = text ? read_seen(path, text, strlen(text), &got, &rep) : -EIO;
		tap_check(t, !err && rep.complete && got.orphans == 1 &&
				     got.orphan_legs == 1 && text &&
				     strstr(text, "\norphan 0 203.0.113.11 41000 1 #"),
			  "recover: saved as an orphan record, read back (%d)", err);
		free(text);
	}
	np_proxy_forget(&e.px);
	/* A restart: the next natproxyd adopts it from the file. */
	if (!env_init(t, &e2, "recover-again"))
		goto out;
	memcpy(e2.io.flows, e.io.flows, sizeof(e.io.flows));
	{
		struct np_sockaddr media = sa("203.0.113.11", 41000);
		struct np_call call = {};

		call.n_streams = 1;
		np_call_room(&call, 1);
		call.streams[0] = (struct np_stream){ .active = true,
						      .access_port = 30010,
						      .core_port = 40020 };
		call.answered = true;
		call.answered_at = e2.now;
		snprintf(call.id, sizeof(call.id), "recovered-x");
		err = np_core_adopt_orphan(&e2.px.core, 0, &media, &call, e2.now);
		tap_check(t, !err && e2.px.core.live_calls[ACC] == 1,
			  "recover: adopted again after a restart (%d)", err);
		np_call_streams_free(&call);
	}
	err = np_state_save_changes(&e2.px, path, &test_owner, &j);
	np_core_dirty_clear(&e2.px.core);
	compactions = j.compactions;
	tap_check(t, !err && compactions == 1,
		  "recover: the adopted orphan saved in a snapshot (%d)", err);
	e2.now += 30;
	np_proxy_tick(&e2.px, e2.now);
	tap_check(t, e2.io.n_records == 0,
		  "recover: within the media timeout (60 s) it lives on");
	e2.now += 31;
	np_proxy_tick(&e2.px, e2.now);
	tap_diag("record: %s", e2.io.last_record);
	tap_check(t, e2.io.n_records == 1 &&
			     strstr(e2.io.last_record, "\"from\": null, \"to\": null") &&
			     strstr(e2.io.last_record, "\"direction\": \"unknown\"") &&
			     strstr(e2.io.last_record, "\"end_reason\": \"recovered\"") &&
			     strstr(e2.io.last_record, "\"terminal\": \"203.0.113.11:41000\""),
		  "recover: past the media timeout: one record, parties unknown, "
		  "end_reason recovered");
	tap_check(t, e2.io.n_dels == 4 && !e2.px.core.orphans &&
			     !e2.px.core.live_calls[ACC] &&
			     !np_core_media_port_used(&e2.px.core, ACC, 30010),
		  "recover: ... its 4 flows removed then, its ports free (%zu dels)",
		  e2.io.n_dels);
	/* Its end is one journal line, not the whole state again. */
	tap_check(t, e2.px.core.dirty && !e2.px.core.dirty_all,
		  "recover: the orphan's end marks no full save");
	err = np_state_save_changes(&e2.px, path, &test_owner, &j);
	np_core_dirty_clear(&e2.px.core);
	jtext = slurp(jpath);
	tap_check(t, !err && j.compactions == compactions && j.appends == 1 &&
			     jtext && strstr(jtext, "\norphan-gone 0 30010 #"),
		  "recover: its end appended to the journal as orphan-gone 0 30010 (%d)",
		  err);
	free(jtext);
	memset(&got, 0, sizeof(got));
	err = np_state_read_report(path, &seen_visit, &got, &rep);
	tap_check(t, !err && rep.complete && got.orphans == 1 &&
			     got.orphan_legs == 0,
		  "recover: read back, the snapshot's orphan call is not handed on "
		  "(%d: %d orphans, %d legs)",
		  err, got.orphans, got.orphan_legs);
	np_journal_close(&j);
	e2.now += 600;
	np_proxy_tick(&e2.px, e2.now);
	tap_check(t, e2.io.n_records == 1, "recover: billed once");
	np_proxy_fini(&e2.px);
	env_free(&e2);
out:
	env_free(&e);
}

/* --- the journal ------------------------------------------------------------ */

static uint32_t test_crc(const char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= (unsigned char)p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffu;
}

static int append_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* One line with its checksum, appended. */
static int append_checked(const char *path, const char *line)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s #%08x\n", line,
		 test_crc(line, strlen(line)));
	return append_text(path, buf);
}

static int save_batch(struct env *e, const char *path, struct np_journal *j)
{
	int err = np_state_save_changes(&e->px, path, &test_owner, j);

	np_core_dirty_clear(&e->px.core);
	return err;
}

static int read_rec(const char *path, struct record *rec,
		    struct np_state_report *rep)
{
	record_free(rec);
	return np_state_read_report(path, &rec_visit, rec, rep);
}

static time_t until_of(const struct record *rec, const struct ua *u)
{
	const struct rec_term *rt = rec_find(rec, &u->nat);

	return rt ? rt->term.registered_until : -1;
}

static void test_journal(struct tap *t, const char *path)
{
	char jpath[4096], saved[4200], line[64], *text, *p;
	struct np_state_report rep;
	struct record rec = { 0 };
	struct np_journal j;
	struct np_term *ta, *tb;
	struct env e;
	int err;

	np_journal_path(path, jpath, sizeof(jpath));
	snprintf(saved, sizeof(saved), "%s.saved", jpath);
	np_journal_init(&j);
	if (!env_init(t, &e, "journal"))
		return;
	do_register(&e, &alice, 600);
	do_register(&e, &bob, 600);
	ta = px_term(&e.px, &alice.nat);
	tb = px_term(&e.px, &bob.nat);
	tap_check(t, ta && tb && e.px.core.dirty_terms && !e.px.core.dirty_all,
		  "journal: registering marks the terminals dirty, not all");
	if (!ta || !tb)
		goto out;

	err = save_batch(&e, path, &j);
	text = slurp(jpath);
	tap_check(t, !err && j.compactions == 1 && j.appends == 0 && text &&
			     !strncmp(text, "natproxy-journal 2 ", 19) &&
			     !strchr(strchr(text, '\n') + 1, '\n'),
		  "journal: the first save compacts: snapshot, journal of its "
		  "header only (%d)", err);
	free(text);
	tap_check(t, !e.px.core.dirty && !e.px.core.dirty_terms &&
			     !ta->dirty && !tb->dirty,
		  "journal: np_core_dirty_clear() leaves nothing dirty");

	/* Update: alice's record again, in the journal only. */
	ta->registered_until = T0 + 999;
	np_term_changed(&e.px.core, ta);
	err = save_batch(&e, path, &j);
	text = slurp(jpath);
	tap_check(t, !err && j.appends == 1 && j.compactions == 1 && text &&
			     strstr(text, "\nterm-fields ") &&
			     strstr(text, "\ncommit 1 #") &&
			     !strstr(text, "198.51.100.1 0 ") &&
			     strstr(text, "203.0.113.11 40001"),
		  "journal: a change appends that terminal's record and a "
		  "commit line, nothing else (%d)", err);
	free(text);
	err = read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && rep.journal_replayed == 1 &&
			     rec.n_terms == 2 && until_of(&rec, &alice) == T0 + 999 &&
			     until_of(&rec, &bob) > 0,
		  "journal: replay: the later record of a terminal replaces "
		  "the snapshot's (%d, %u terms)", err, (unsigned)rec.n_terms);

	/* Delete: bob's tombstone; carol new in the same batch. */
	np_term_free(&e.px.core, tb, NP_END_IDLE, e.now);
	do_register(&e, &carol, 600);
	tap_check(t, e.px.core.n_tombs == 1, "journal: a removed terminal "
		  "leaves its key (%zu)", e.px.core.n_tombs);
	err = save_batch(&e, path, &j);
	err = err ? err : read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && j.appends == 2 &&
			     rec.n_terms == 2 && until_of(&rec, &bob) == -1 &&
			     until_of(&rec, &alice) == T0 + 999 &&
			     until_of(&rec, &carol) > 0,
		  "journal: replay: a tombstone deletes, a new terminal is "
		  "added (%d)", err);

	/* A torn tail: a whole tombstone and half a line, no commit. */
	text = slurp(jpath);
	write_file(saved, text ? text : "");
	snprintf(line, sizeof(line), "gone 0 %u", ta->core_port);
	append_checked(jpath, line);
	append_text(jpath, "term 0 203.0.113.11 40001 203.0.");
	err = read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && rep.journal_torn == 2 &&
			     until_of(&rec, &alice) == T0 + 999 &&
			     rec.n_terms == 2,
		  "journal: a torn tail (after the last commit) is dropped "
		  "whole, never half-adopted (%d, torn %u)", err,
		  rep.journal_torn);

	/* The next save truncates the torn tail away: a compaction. */
	ta->registered_until = T0 + 1111;
	np_term_changed(&e.px.core, ta);
	np_journal_close(&j); /* as after a failed write */
	err = save_batch(&e, path, &j);
	err = err ? err : read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && j.compactions == 2 &&
			     !rep.journal_torn && !rep.journal_records &&
			     until_of(&rec, &alice) == T0 + 1111,
		  "journal: a closed journal compacts at the next save (%d)",
		  err);

	/* A CRC failure in a committed record: that record skipped. */
	if (text) {
		write_file(jpath, text); /* the old journal: stale now */
		err = read_rec(path, &rec, &rep);
		tap_check(t, !err && rep.complete && rep.journal_stale &&
				     !rep.journal_replayed &&
				     until_of(&rec, &alice) == T0 + 1111,
			  "journal: one of an earlier snapshot is ignored "
			  "(%d)", err);
	}
	free(text);
	np_journal_close(&j); /* it was written over: start again */
	np_term_changed(&e.px.core, ta);
	save_batch(&e, path, &j);
	ta->registered_until = T0 + 2222;
	np_term_changed(&e.px.core, ta);
	err = save_batch(&e, path, &j);
	text = slurp(jpath);
	p = text ? strstr(text, "\nterm-fields ") : NULL;
	if (p)
		p[17] ^= 1; /* a digit of alice's term-fields line */
	if (text)
		write_file(jpath, text);
	free(text);
	err = err ? err : read_rec(path, &rec, &rep);
	tap_check(t, !err && !rep.complete && rep.journal_bad == 1 &&
			     rep.journal_first_bad_line == 2 && rep.bad == 1 &&
			     until_of(&rec, &alice) == T0 + 1111 &&
			     until_of(&rec, &carol) > 0,
		  "journal: a record failing its CRC is skipped whole: the "
		  "snapshot's stands, the read is not complete (%d)", err);
	err = np_state_read(path, &rec_visit, &rec);
	tap_check(t, err == -EINVAL, "journal: np_state_read: -EINVAL (%d)",
		  err);

	/* Compaction by count: past max_records records. */
	np_journal_close(&j);
	np_term_changed(&e.px.core, ta);
	save_batch(&e, path, &j); /* compacts the damaged journal away */
	j.max_records = 2;
	np_term_changed(&e.px.core, ta);
	save_batch(&e, path, &j);
	np_term_changed(&e.px.core, ta);
	np_term_changed(&e.px.core, px_term(&e.px, &carol.nat));
	save_batch(&e, path, &j);
	tap_check(t, j.records == 3, "journal: 3 records appended (%zu)",
		  j.records);
	{
		unsigned long before = j.compactions;

		np_term_changed(&e.px.core, ta);
		err = save_batch(&e, path, &j);
		tap_check(t, !err && j.compactions == before + 1 &&
				     j.records == 0,
			  "journal: past max_records the save compacts (%lu "
			  "compactions)", j.compactions);
	}
	err = read_rec(path, &rec, &rep);
	text = slurp(jpath);
	tap_check(t, !err && rep.complete && !rep.journal_records && text &&
			     !strchr(strchr(text, '\n') + 1, '\n') &&
			     until_of(&rec, &alice) == T0 + 2222 &&
			     until_of(&rec, &carol) > 0 && rec.n_terms == 2,
		  "journal: compaction: the snapshot has it all, the journal "
		  "is empty (%d)", err);
	free(text);

	/* Compaction by size: a journal larger than the snapshot (and than
	 * the floor, made small here). */
	j.max_records = 0;
	j.min_bytes = 1;
	{
		unsigned long before = j.compactions;
		int k;

		for (k = 0; k < 8 && j.compactions == before; k++) {
			np_term_changed(&e.px.core, ta);
			save_batch(&e, path, &j);
		}
		tap_check(t, j.compactions == before + 1 && k > 1,
			  "journal: once it outgrows the snapshot, the save "
			  "compacts (after %d saves)", k);
	}
	np_core_changed_all(&e.px.core);
	{
		unsigned long before = j.compactions;

		save_batch(&e, path, &j);
		tap_check(t, j.compactions == before + 1,
			  "journal: dirty_all compacts");
	}
	np_journal_close(&j);
	record_free(&rec);
	np_proxy_fini(&e.px);
out:
	env_free(&e);
	unlink(jpath);
	unlink(saved);
}

/* What the journal handed on to replicate (a follower's view). */
struct replicated {
	unsigned int snapshots, batches;
	uint64_t snapshot_gen, batch_gen;
	size_t snapshot_len;
	char *batch; /* the last */
};

static void replicated(void *arg, bool snapshot, uint64_t gen,
		       const char *text, size_t len)
{
	struct replicated *r = arg;

	if (snapshot) {
		r->snapshots++;
		r->snapshot_gen = gen;
		r->snapshot_len = len;
		return;
	}
	r->batches++;
	r->batch_gen = gen;
	free(r->batch);
	r->batch = strndup(text, len);
}

/* The generation a journal's header names (0: none, or unreadable). */
static uint64_t journal_gen(const char *jpath)
{
	char *text = slurp(jpath);
	unsigned long long g = 0;

	if (text && sscanf(text, "natproxy-journal 2 %llu", &g) != 1)
		g = 0;
	free(text);
	return g;
}

/* What test_background() left by its saves: alice's registration moved,
 * bob gone, carol and dave made. */
static bool background_now(const struct record *rec, const struct ua *carol,
			   const struct ua *dave)
{
	return rec->n_terms == 3 && until_of(rec, &bob) == -1 &&
	       until_of(rec, &alice) == T0 + 200 && until_of(rec, carol) > 0 &&
	       until_of(rec, dave) > 0;
}

/* The files beside the state file a compaction in the background uses. */
struct bg_paths {
	char journal[4096], next[4200], tmp[4200];
};

/* The background tests' start: the paths, a journal compacting in the
 * background (chains a slice), telling repl; alice and bob registered. */
static bool background_start(struct tap *t, struct env *e, const char *name,
			     const char *path, struct bg_paths *p,
			     struct np_journal *j, size_t chains,
			     struct replicated *repl)
{
	np_journal_path(path, p->journal, sizeof(p->journal));
	snprintf(p->next, sizeof(p->next), "%s.next", p->journal);
	snprintf(p->tmp, sizeof(p->tmp), "%s.tmp", path);
	np_journal_init(j);
	j->background = true;
	j->step_chains = chains;
	j->replicate = replicated;
	j->replicate_arg = repl;
	if (!env_init(t, e, name))
		return false;
	do_register(e, &alice, 600);
	do_register(e, &bob, 600);
	return true;
}

/* And their end: everything background_start() made, and the files. */
static void background_done(struct env *e, struct np_journal *j,
			    struct record *rec, struct replicated *repl,
			    const struct bg_paths *p)
{
	np_journal_close(j);
	record_free(rec);
	np_proxy_fini(&e->px);
	env_free(e);
	free(repl->batch);
	unlink(p->journal);
	unlink(p->next);
	unlink(p->tmp);
	rmdir(p->tmp);
}

/* Slices until the compaction in progress is done: bounded. */
static int until_written(struct np_journal *j)
{
	int i;

	for (i = 0; i < 1000 && j->writer; i++)
		np_journal_poll(j);
	return i;
}

/*
 * Compaction in the background (natproxyd's): the snapshot written a
 * slice at a time (a quarter of the chains each here), terminals changed,
 * made and removed between the slices, and every window a crash could
 * leave read as it is: the old snapshot with both journals, the new
 * snapshot with the old journal and the new one not yet renamed, then the
 * new journal in place.
 */
static void test_background(struct tap *t, const char *path)
{
	struct bg_paths bp;
	const char *jpath = bp.journal, *npath = bp.next, *tmp = bp.tmp;
	char *old = NULL, *text;
	struct replicated repl = { 0 };
	struct np_state_report rep;
	struct record rec = { 0 };
	struct np_journal j;
	struct np_term *ta, *tb;
	struct env e;
	struct ua dave = { "dave", "192.168.1.40", sa("203.0.113.14", 40004) };
	uint64_t g0, g1;
	int err, slices;

	if (!background_start(t, &e, "background", path, &bp, &j,
			      NP_TERM_BUCKETS / 4, &repl))
		return;
	ta = px_term(&e.px, &alice.nat);
	tb = px_term(&e.px, &bob.nat);
	if (!ta || !tb)
		goto out;
	err = save_batch(&e, path, &j);
	g0 = j.gen;
	tap_check(t, !err && j.compactions == 1 && !j.writer &&
			     repl.snapshots == 1 && repl.snapshot_gen == g0,
		  "background: with no journal open, the first save compacts "
		  "in its turn (%d)", err);

	j.max_records = 1;
	ta->registered_until = T0 + 100;
	np_term_changed(&e.px.core, ta);
	err = save_batch(&e, path, &j);
	tap_check(t, !err && j.writer && j.compactions == 1 &&
			     j.appends == 1 && journal_gen(npath) > g0 &&
			     repl.batches == 1 && repl.batch_gen == g0,
		  "background: a due compaction appends the batch, then "
		  "begins; the new generation's journal is made (%d)", err);
	g1 = journal_gen(npath);
	/* The gateways' pass (4 slices) and 3/4 of the terminals' (3): most
	 * chains written before the changes below, so the snapshot alone
	 * would have them as they were. */
	for (slices = 0; slices < 7 && j.writer; slices++)
		np_journal_poll(&j);
	ta->registered_until = T0 + 200;
	np_term_changed(&e.px.core, ta);
	do_register(&e, &carol, 600);
	err = save_batch(&e, path, &j);
	np_term_free(&e.px.core, tb, NP_END_IDLE, e.now);
	do_register(&e, &dave, 600);
	err = err ? err : save_batch(&e, path, &j);
	text = slurp(npath);
	tap_check(t, !err && j.writer && j.appends == 3 && text &&
			     strstr(text, "carol") && strstr(text, "dave") &&
			     j.next_records >= 3 && repl.batches == 3 &&
			     repl.batch_gen == g0,
		  "background: while it writes, a save goes to both journals "
		  "and to replicate as the old generation's (%d)", err);
	free(text);

	/* Window 1: the snapshot not in place yet. */
	err = read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && !rep.journal_stale &&
			     background_now(&rec, &carol, &dave) &&
			     !access(tmp, F_OK),
		  "background: killed before the new snapshot is in place: "
		  "the old snapshot and journal have every save (%d)", err);

	old = slurp(jpath);
	slices += until_written(&j);
	tap_check(t, !j.writer && j.compactions == 2 && j.gen == g1 &&
			     slices >= 4 && journal_gen(jpath) == g1 &&
			     access(npath, F_OK) && access(tmp, F_OK),
		  "background: written in slices (%d), its journal then takes "
		  "the old one's place", slices);
	err = read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete &&
			     background_now(&rec, &carol, &dave),
		  "background: the snapshot, of terminals as each was when "
		  "written, with the new journal is the state now (%d)", err);

	/* Window 2: as if killed between the two renames. */
	if (old && !rename(jpath, npath) && !write_file(jpath, old)) {
		err = read_rec(path, &rec, &rep);
		tap_check(t, !err && rep.complete &&
				     background_now(&rec, &carol, &dave),
			  "background: killed after the snapshot's rename, "
			  "before the journal's: the new snapshot and the new "
			  "journal have every save (%d)", err);
		rename(npath, jpath);
	} else {
		tap_check(t, false, "background: window 2 set up");
	}
	tap_check(t, repl.snapshots == 2 && repl.snapshot_gen == g1 &&
			     repl.batches == 4 && repl.batch_gen == g1 &&
			     repl.batch && strstr(repl.batch, "carol") &&
			     strstr(repl.batch, "dave") &&
			     strstr(repl.batch, "\ngone ") &&
			     strncmp(repl.batch, "natproxy-journal", 16),
		  "background: replicate gets the new snapshot, then the "
		  "saves since it began again, of the new generation");
	j.max_records = 0;
	ta->registered_until = T0 + 300;
	np_term_changed(&e.px.core, ta);
	err = save_batch(&e, path, &j);
	err = err ? err : read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && !j.writer &&
			     until_of(&rec, &alice) == T0 + 300,
		  "background: then saves append to the new journal (%d)",
		  err);

	/* One that cannot begin (its temporary file cannot be made): the
	 * save compacts in its turn, which fails too; the old files hold
	 * every save. */
	mkdir(tmp, 0700);
	j.max_records = 1;
	ta->registered_until = T0 + 400;
	np_term_changed(&e.px.core, ta);
	err = save_batch(&e, path, &j);
	tap_check(t, err && !j.writer && j.fd < 0 && access(npath, F_OK),
		  "background: one that cannot begin: the save fails, "
		  "nothing is left of it (%d)", err);
	err = read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && until_of(&rec, &alice) == T0 + 400,
		  "background: ... the old snapshot and journal have every "
		  "save (%d)", err);
	rmdir(tmp);

	/* dirty_all: in the turn, a writer in progress dropped. */
	np_term_changed(&e.px.core, ta);
	save_batch(&e, path, &j); /* opens a journal: in the turn */
	ta->registered_until = T0 + 600;
	np_term_changed(&e.px.core, ta);
	err = save_batch(&e, path, &j);
	tap_check(t, !err && j.writer, "background: another begun (%d)", err);
	np_core_changed_all(&e.px.core);
	err = err ? err : save_batch(&e, path, &j);
	err = err ? err : read_rec(path, &rec, &rep);
	tap_check(t, !err && !j.writer && rep.complete &&
			     !rep.journal_records && access(npath, F_OK) &&
			     access(tmp, F_OK) &&
			     until_of(&rec, &alice) == T0 + 600,
		  "background: dirty_all compacts in the turn, the writer in "
		  "progress dropped with its files (%d)", err);
out:
	background_done(&e, &j, &rec, &repl, &bp);
	free(old);
}

/* A restart's journal (the last one's, closed as a kill leaves it), taken
 * up from the files: np_journal_resume()'s answer. */
static int restarted(struct np_journal *j, const char *path)
{
	np_journal_close(j);
	np_journal_init(j);
	j->background = true;
	return np_journal_resume(j, path);
}

/*
 * A restart (natproxyd, after adopting the state whole): the journal is
 * taken up again and the first save appends its batch, the snapshot
 * untouched, instead of writing the whole state in its turn; a save cut
 * short by the kill is cut off first (else the next batch would be read
 * as its end, damaged); a ".journal.next" the reader took (killed
 * between a compaction's renames) is renamed first; with no journal of
 * the file's generation the first save is whole, as before.
 */
static void test_resume(struct tap *t, const char *path)
{
	char jpath[4096], npath[4200], *snap = NULL, *old = NULL, *text;
	struct np_state_report rep;
	struct record rec = { 0 };
	struct np_journal j;
	struct np_term *ta;
	struct env e;
	uint64_t g;
	int err, fd;

	np_journal_path(path, jpath, sizeof(jpath));
	snprintf(npath, sizeof(npath), "%s.next", jpath);
	unlink(npath);
	np_journal_init(&j);
	j.background = true;
	if (!env_init(t, &e, "resume"))
		return;
	do_register(&e, &alice, 600);
	do_register(&e, &bob, 600);
	ta = px_term(&e.px, &alice.nat);
	if (!ta)
		goto out;
	save_batch(&e, path, &j); /* whole: no journal open */
	ta->registered_until = T0 + 100;
	np_term_changed(&e.px.core, ta);
	save_batch(&e, path, &j);
	g = j.gen;
	/* Killed: the files as they are, a new process's journal. */
	snap = slurp(path);
	err = restarted(&j, path);
	tap_check(t, !err && j.fd >= 0 && j.gen == g && j.records == 1 &&
			     !j.compactions,
		  "resume: the journal of the file's generation taken up, "
		  "its records counted (%d)", err);
	ta->registered_until = T0 + 200;
	np_term_changed(&e.px.core, ta);
	do_register(&e, &carol, 600);
	err = save_batch(&e, path, &j);
	text = slurp(path);
	tap_check(t, !err && !j.compactions && !j.writer && j.appends == 1 &&
			     text && snap && !strcmp(text, snap),
		  "resume: the restart's first save appends its batch, the "
		  "snapshot untouched: nothing whole in its turn (%d)", err);
	free(text);
	err = read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && rec.n_terms == 3 &&
			     until_of(&rec, &alice) == T0 + 200 &&
			     until_of(&rec, &carol) > 0,
		  "resume: killed then: the snapshot and the journal have "
		  "every save, from before the restart and after (%d)", err);

	/* A save cut short by the kill: its lines after the last commit. */
	np_journal_close(&j);
	fd = open(jpath, O_WRONLY | O_APPEND);
	if (fd >= 0) {
		if (write(fd, "term-fields 0 1 203.0.113.", 26) != 26)
			tap_diag("cannot append to the journal");
		close(fd);
	}
	err = restarted(&j, path);
	ta->registered_until = T0 + 300;
	np_term_changed(&e.px.core, ta);
	err = err ? err : save_batch(&e, path, &j);
	err = err ? err : read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && !rep.journal_torn &&
			     !rep.journal_bad && !j.compactions &&
			     until_of(&rec, &alice) == T0 + 300,
		  "resume: a save cut short is cut off, the batch after it "
		  "read whole (%d)", err);

	/* Killed between a compaction's renames: the new snapshot, its
	 * journal still ".journal.next", the old generation's ".journal". */
	old = slurp(jpath);
	np_core_changed_all(&e.px.core);
	save_batch(&e, path, &j); /* a new generation, in the turn */
	g = j.gen;
	ta->registered_until = T0 + 400;
	np_term_changed(&e.px.core, ta);
	save_batch(&e, path, &j);
	np_journal_close(&j);
	if (!old || rename(jpath, npath) || write_file(jpath, old)) {
		tap_check(t, false, "resume: killed between the renames: set "
				    "up");
		goto out;
	}
	err = restarted(&j, path);
	tap_check(t, !err && j.gen == g && journal_gen(jpath) == g &&
			     access(npath, F_OK),
		  "resume: a \".journal.next\" the reader took is renamed "
		  "and taken up (%d)", err);
	ta->registered_until = T0 + 500;
	np_term_changed(&e.px.core, ta);
	err = err ? err : save_batch(&e, path, &j);
	err = err ? err : read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && !j.compactions &&
			     until_of(&rec, &alice) == T0 + 500,
		  "resume: ... and its saves follow (%d)", err);

	/* No journal of the file's generation: the first save is whole. */
	np_journal_close(&j);
	unlink(jpath);
	err = restarted(&j, path);
	ta->registered_until = T0 + 600;
	np_term_changed(&e.px.core, ta);
	tap_check(t, err == -ESTALE && j.fd < 0 && !save_batch(&e, path, &j) &&
			     j.compactions == 1 && !j.writer,
		  "resume: with no journal of the file's generation, none "
		  "taken up: the first save is whole (%d)", err);
	err = read_rec(path, &rec, &rep);
	tap_check(t, !err && rep.complete && until_of(&rec, &alice) == T0 + 600,
		  "resume: ... and has it all (%d)", err);
out:
	np_journal_close(&j);
	record_free(&rec);
	np_proxy_fini(&e.px);
	env_free(&e);
	free(snap);
	free(old);
	unlink(jpath);
	unlink(npath);
}

/* Reads the files as a kill -9 now would leave them: complete, alice's
 * registration until `until`, n terminals. */
static bool whole_now(const char *path, struct record *rec, time_t until,
		      size_t n)
{
	struct np_state_report rep;
	int err = read_rec(path, rec, &rep);

	return !err && rep.complete && rec->n_terms == n &&
	       until_of(rec, &alice) == until;
}

/*
 * What a reload, a promotion and a resync ask (np_core_rewrite_all()):
 * the whole state again, written a slice a turn; the save's own turn
 * appends its batch and begins it. The files read after every slice, as
 * a kill -9 would leave them, have every save, through both renames. A
 * reload (np_proxy_reconfigure()) asks just that; a rewrite asked with
 * one in progress is that one's (its snapshot and the saves since go
 * out once it is in place).
 */
static void test_rewrite(struct tap *t, const char *path)
{
	struct bg_paths bp;
	const char *jpath = bp.journal, *npath = bp.next, *tmp = bp.tmp;
	char *old = NULL, err_text[256];
	struct replicated repl = { 0 };
	struct np_snapshot_writer *w;
	struct record rec = { 0 };
	struct np_config next;
	struct np_journal j;
	struct np_term *ta;
	struct env e;
	struct ua dave = { "dave", "192.168.1.40", sa("203.0.113.14", 40004) };
	unsigned long begun;
	bool whole = true, next_up = false;
	time_t until = T0 + 100;
	int err, slices = 0, windows = 0;

	if (!background_start(t, &e, "rewrite", path, &bp, &j,
			      NP_TERM_BUCKETS / 8, &repl))
		return;
	ta = px_term(&e.px, &alice.nat);
	if (!ta)
		goto out;
	save_batch(&e, path, &j);

	/* A reload: the same configuration again. */
	err = np_config_parse("rewrite", CFG, strlen(CFG), &next, err_text,
			      sizeof(err_text));
	next_up = !err;
	err = err ? err : np_proxy_reconfigure(&e.px, &next);
	tap_check(t, !err && e.px.core.rewrite_all && !e.px.core.dirty_all,
		  "rewrite: a reload asks for the whole state a slice a turn, "
		  "not in one (%d)", err);
	ta->registered_until = until;
	np_term_changed(&e.px.core, ta);
	err = save_batch(&e, path, &j);
	tap_check(t, !err && j.writer && j.compactions == 1 &&
			     j.compactions_begun == 1 && j.appends == 1 &&
			     !access(tmp, F_OK),
		  "rewrite: the reload's save appends its batch and begins "
		  "the compaction: nothing whole in its turn (%d)", err);
	/* A save between slices, each a change; the files read after each
	 * slice as a kill would leave them. */
	while (j.writer && slices < 100) {
		if (slices == 2)
			do_register(&e, &carol, 600); /* made meanwhile */
		ta->registered_until = ++until;
		np_term_changed(&e.px.core, ta);
		save_batch(&e, path, &j);
		if (j.writer)
			free(old), old = slurp(jpath);
		np_journal_poll(&j);
		slices++;
		windows++;
		whole &= whole_now(path, &rec, until, slices > 2 ? 3 : 2);
	}
	tap_check(t, whole && slices > 8 && !j.writer && j.compactions == 2 &&
			     access(tmp, F_OK) && access(npath, F_OK),
		  "rewrite: written in %d slices, the files read as a kill "
		  "would leave them after each (%d windows) have every save",
		  slices, windows);
	/* The last slice's two renames, one done: the new snapshot with
	 * ".journal.next". */
	if (old && !rename(jpath, npath) && !write_file(jpath, old)) {
		tap_check(t, whole_now(path, &rec, until, 3),
			  "rewrite: killed between the renames: the new "
			  "snapshot and its journal have every save");
		rename(npath, jpath);
	} else {
		tap_check(t, false, "rewrite: window between the renames set "
				    "up");
	}
	tap_check(t, repl.snapshots == 2 && repl.snapshot_gen == j.gen,
		  "rewrite: replicate gets the whole state once it is in "
		  "place");

	/* A promotion's or a resync's, with one in progress: that one's. */
	j.max_records = 1;
	ta->registered_until = ++until;
	np_term_changed(&e.px.core, ta);
	save_batch(&e, path, &j);
	w = j.writer;
	begun = j.compactions_begun;
	np_core_rewrite_all(&e.px.core);
	do_register(&e, &dave, 600);
	err = save_batch(&e, path, &j);
	tap_check(t, !err && w && j.writer == w &&
			     j.compactions_begun == begun,
		  "rewrite: asked with one in progress: that one goes on "
		  "(%d)", err);
	until_written(&j);
	tap_check(t, !j.writer && whole_now(path, &rec, until, 4),
		  "rewrite: ... and has every save once in place");

	/* Without the background (natproxyctl, tests): in the turn. */
	j.background = false;
	j.max_records = 0;
	begun = j.compactions;
	np_core_rewrite_all(&e.px.core);
	err = save_batch(&e, path, &j);
	tap_check(t, !err && !j.writer && j.compactions == begun + 1,
		  "rewrite: not in the background: whole in the turn (%d)",
		  err);
out:
	background_done(&e, &j, &rec, &repl, &bp);
	if (next_up)
		np_config_free(&next); /* after the proxy that used it */
	free(old);
}

/* --- gateways (MGCP, H.248) ------------------------------------------------ */

/* The access realm also takes MGCP and H.248; the pair names a call agent
 * and an MGC. */
#define GW_CFG                                                                 \
	"realms:\n"                                                            \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.1\n"                                           \
	"    sip_port: 5060\n"                                                 \
	"    mgcp_port: 2727\n"                                                \
	"    h248_port: 2944\n"                                                \
	"    media_ports: 30000-30099\n"                                       \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: 20000-20009\n"                                         \
	"    media_ports: 40000-40099\n"                                       \
	"pairs:\n"                                                             \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    softswitch: 198.51.100.2:5060\n"                                  \
	"    call_agent: 198.51.100.2:2727\n"                                  \
	"    mgc: 198.51.100.2:2944\n"                                         \
	"keepalive:\n"                                                         \
	"  interval: 20\n"

#define GW_SDP(ip, port)                                                       \
	"v=0\r\no=- 1 1 IN IP4 " ip "\r\ns=-\r\nc=IN IP4 " ip "\r\nt=0 0\r\n"  \
	"m=audio " port " RTP/AVP 0\r\n"

static struct np_sockaddr mgcp_gw, h248_mg;

static void gw_feed(struct env *e, const struct np_sockaddr *from,
		    uint16_t to_port, const char *msg)
{
	sent_clear(&e->io);
	np_proxy_input(&e->px, to_port >= 20000 ? CORE : ACC, to_port, from,
		       msg, strlen(msg), e->now);
}

/* A command or reply from the core peer at 198.51.100.2:peer_port. */
static void gw_from_core(struct env *e, uint16_t peer_port, uint16_t port,
			 const char *fmt, ...)
{
	struct np_sockaddr peer = sa("198.51.100.2", peer_port);
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gw_feed(e, &peer, port, msg);
}

#define gw_from_ca(e, port, ...) gw_from_core(e, 2727, port, __VA_ARGS__)
#define gw_from_mgc(e, port, ...) gw_from_core(e, 2944, port, __VA_ARGS__)

/* The first datagram sent to `to`, or NULL. */
static const char *sent_to(const struct env *e, const struct np_sockaddr *to)
{
	size_t i;

	for (i = 0; i < e->io.n_sent; i++)
		if (np_sockaddr_eq(&e->io.sent[i].to, to))
			return e->io.sent[i].buf;
	return NULL;
}

/* A transaction id of ours in what went to `to` ("" if none). */
static void sent_txid(const struct env *e, const struct np_sockaddr *to,
		      const char *after, char *out, size_t len)
{
	const char *m = sent_to(e, to), *p = m ? strstr(m, after) : NULL;

	snprintf(out, len, "%.*s", p ? (int)strspn(p + strlen(after), "0123456789") : 0,
		 p ? p + strlen(after) : "");
}

/* An MGCP gateway with a connection (CRCX, MDCX answered) and an H.248
 * gateway with a termination in context 7 (Add answered): *pm, *ph their
 * core ports. */
static bool gw_calls_up(struct tap *t, struct env *e, uint16_t *pm,
			uint16_t *ph)
{
	struct np_sockaddr ca = sa("198.51.100.2", 2727);
	char id[16], m[MSG_MAX];

	gw_feed(e, &mgcp_gw, 2727,
		"RSIP 1000 aaln/1@[192.168.1.10] MGCP 1.0\r\nRM: restart\r\n");
	*pm = e->io.n_sent ? e->io.sent[0].from_port : 0;
	sent_txid(e, &ca, "RSIP ", id, sizeof(id));
	gw_from_ca(e, *pm, "200 %s OK\r\n", id);
	gw_from_ca(e, *pm,
		   "CRCX 300 aaln/1@[198.51.100.1]:%u MGCP 1.0\r\n"
		   "C: A3C47F21456789F0\r\nM: recvonly\r\n",
		   *pm);
	sent_txid(e, &mgcp_gw, "CRCX ", id, sizeof(id));
	snprintf(m, sizeof(m), "200 %s OK\r\nI: FDE234C8\r\n\r\n%s", id,
		 GW_SDP("192.168.1.10", "4000"));
	gw_feed(e, &mgcp_gw, 2727, m);
	gw_from_ca(e, *pm,
		   "MDCX 301 aaln/1@[198.51.100.1]:%u MGCP 1.0\r\n"
		   "C: A3C47F21456789F0\r\nI: FDE234C8\r\n"
		   "M: sendrecv\r\n\r\n%s",
		   *pm, GW_SDP("198.51.100.20", "5000"));
	sent_txid(e, &mgcp_gw, "MDCX ", id, sizeof(id));
	snprintf(m, sizeof(m), "200 %s OK\r\n", id);
	gw_feed(e, &mgcp_gw, 2727, m);

	gw_feed(e, &h248_mg, 2944,
		"MEGACO/1 [192.168.1.20]:2944\r\nTransaction = 9998 {\r\n"
		"\tContext = - {\r\n\t\tServiceChange = ROOT {Services "
		"{Method = Restart, ServiceChangeAddress = "
		"[192.168.1.20]:2944, Profile = ResGW/1}}\r\n\t}\r\n}\r\n");
	*ph = e->io.n_sent ? e->io.sent[0].from_port : 0;
	gw_from_mgc(e, *ph,
		    "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 400 {\r\n"
		    "\tContext = $ {\r\n\t\tAdd = $ {Media {Stream = 1 "
		    "{LocalControl {Mode = SendReceive},\r\n\t\t\tLocal "
		    "{\r\nv=0\r\nc=IN IP4 $\r\nm=audio $ RTP/AVP 0\r\n"
		    "\t\t\t},\r\n\t\t\tRemote {\r\n%s\t\t\t}}}}\r\n\t}\r\n}\r\n",
		    GW_SDP("198.51.100.21", "5002"));
	sent_txid(e, &h248_mg, "Transaction = ", id, sizeof(id));
	snprintf(m, sizeof(m),
		 "MEGACO/1 [192.168.1.20]:2944\r\nReply = %s {\r\n"
		 "\tContext = 7 {\r\n\t\tAdd = rtp/1 {Media {Stream = 1 "
		 "{Local {\r\n%s\t\t\t}}}}\r\n\t}\r\n}\r\n",
		 id, GW_SDP("192.168.1.20", "4002"));
	gw_feed(e, &h248_mg, 2944, m);
	return tap_check(t, *pm && *ph && *pm != *ph && flow_count(&e->io) == 8,
			 "gateways: an MGCP connection and an H.248 termination "
			 "up at core ports %u, %u (%zu flows)",
			 *pm, *ph, flow_count(&e->io));
}

/* The call agent's DLCX of connection conn (call cid) on endpoint ep of
 * the MGCP gateway at core port pm, and the gateway's 250. */
static void gw_dlcx_answered(struct env *e, uint16_t pm, const char *ep,
			     const char *cid, const char *conn)
{
	char id[16], m[MSG_MAX];

	gw_from_ca(e, pm,
		   "DLCX 303 %s@[198.51.100.1]:%u MGCP 1.0\r\n"
		   "C: %s\r\nI: %s\r\n",
		   ep, pm, cid, conn);
	sent_txid(e, &mgcp_gw, "DLCX ", id, sizeof(id));
	snprintf(m, sizeof(m), "250 %s OK\r\n", id);
	gw_feed(e, &mgcp_gw, 2727, m);
}

/* What a read handed on of gateways, and adoption when px is set. */
struct gw_seen {
	struct np_proxy *px;
	time_t now;
	struct np_term *term; /* the last gateway adopted */
	int gws, calls, errors, terms, legs;
	char driver[4][32], data[4][NP_STATE_DRIVER_DATA];
	struct np_term gw[4];
	struct np_sockaddr core[4];
	struct np_call call[4];
	char call_data[4][NP_STATE_DRIVER_DATA];
};

/* Empty again: the calls it copied free their streams. */
static void gw_seen_reset(struct gw_seen *s)
{
	int i;

	for (i = 0; i < s->calls; i++)
		np_call_streams_free(&s->call[i]);
	memset(s, 0, sizeof(*s));
}

static int seen_gw(void *arg, const char *driver, const struct np_term *t,
		   const struct np_sockaddr *acc,
		   const struct np_sockaddr *core, const char *data)
{
	struct gw_seen *s = arg;

	(void)acc;
	if (s->gws == 4)
		return -ENOSPC;
	snprintf(s->driver[s->gws], sizeof(s->driver[0]), "%s", driver);
	snprintf(s->data[s->gws], sizeof(s->data[0]), "%s", data);
	s->gw[s->gws] = *t;
	s->core[s->gws++] = *core;
	if (s->px && np_proxy_adopt_gw(s->px, driver, t, data, s->now,
				       &s->term)) {
		s->term = NULL;
		s->errors++;
	}
	return 0;
}

static int seen_gw_call(void *arg, const struct np_call *call,
			const char *data)
{
	struct gw_seen *s = arg;

	if (s->calls == 4)
		return -ENOSPC;
	if (np_call_copy(&s->call[s->calls], call))
		return -ENOMEM;
	snprintf(s->call_data[s->calls++], sizeof(s->call_data[0]), "%s", data);
	if (s->px && (!s->term ||
		      np_proxy_adopt_gw_call(s->px, s->term, call, data)))
		s->errors++;
	return 0;
}

static int seen_sip_term(void *arg, const struct np_term *t,
			 const struct np_sockaddr *acc,
			 const struct np_sockaddr *core)
{
	(void)t, (void)acc, (void)core;
	((struct gw_seen *)arg)->terms++;
	return 0;
}

static int seen_sip_leg(void *arg, const struct np_call *leg)
{
	(void)leg;
	((struct gw_seen *)arg)->legs++;
	return 0;
}

static const struct np_state_visit gw_visit = { .term = seen_sip_term,
					       .leg = seen_sip_leg,
					       .gw = seen_gw,
					       .gw_call = seen_gw_call };

/* The live call of t, its dialog left out (leg_eq compares SIP's). */
static struct np_call gw_live_call(const struct np_term *t)
{
	struct np_call c = *t->calls;

	c.dialog = NULL;
	return c;
}

static int seen_index(const struct gw_seen *s, const char *driver)
{
	int i;

	for (i = 0; i < s->gws; i++)
		if (!strcmp(s->driver[i], driver))
			return i;
	return -1;
}

/*
 * Both gateways with their calls are saved (in the snapshot and in the
 * journal), read back field by field, adopted by a new proxy at the same
 * core ports with the same relays; the call agent's DLCX and the MGC's
 * Subtract to those core ports reach the gateways at their NAT mappings
 * and end the calls with one charging record each, with the volumes the
 * maps hold; keepalives go on.
 */
static void test_gateways(struct tap *t, const char *path)
{
	static struct env e1, e2;
	static struct gw_seen s1, s2;
	struct np_term *tm = NULL, *th = NULL, *x;
	struct np_state_report rep;
	struct np_journal j;
	struct np_call live;
	const char *why = "", *out;
	uint16_t pm = 0, ph = 0;
	char *text, id[16], m[MSG_MAX];
	int im, ih, err;

	mgcp_gw = sa("203.0.113.50", 2427);
	h248_mg = sa("203.0.113.60", 2944);
	if (!env_init_cfg(t, &e1, "gateways", GW_CFG))
		return;
	if (!gw_calls_up(t, &e1, &pm, &ph))
		goto out;
	for (x = e1.px.core.terms; x; x = x->next) {
		if (x->core_port == pm)
			tm = x;
		if (x->core_port == ph)
			th = x;
	}
	/* Saved through the journal: the first save compacts, the second
	 * (the MGCP gateway changed) appends its record. */
	np_journal_init(&j);
	tap_check(t, !np_state_save_changes(&e1.px, path, &test_owner, &j),
		  "gateways: the state saved");
	np_core_dirty_clear(&e1.px.core);
	np_term_changed(&e1.px.core, tm);
	tap_check(t, !np_state_save_changes(&e1.px, path, &test_owner, &j) &&
			     j.appends == 1,
		  "gateways: the MGCP gateway's record appended to the journal "
		  "(%lu)", j.appends);
	np_core_dirty_clear(&e1.px.core);
	np_journal_close(&j);
	text = slurp(path);
	tap_check(t, text && strstr(text, "\ngw mgcp 0 203.0.113.50 2427 "
					  "203.0.113.1 0 198.51.100.1 ") &&
			     strstr(text, "\ngw h248 0 203.0.113.60 2944 ") &&
			     strstr(text, "\ngwcall ") && strstr(text, "\nend 2 #"),
		  "gateways: two gw records with their gwcall lines, end 2");
	free(text);

	gw_seen_reset(&s1);
	err = np_state_read_report(path, &gw_visit, &s1, &rep);
	tap_check(t, !err && rep.complete && rep.good == 1 &&
			     rep.journal_replayed == 1 && s1.gws == 2 &&
			     s1.calls == 2 && !s1.terms && !s1.legs,
		  "gateways: read complete, 2 gateways (one from the journal), "
		  "2 calls (%d: %d %d, %d, %u, %u, bad %u at %d)",
		  err, rep.complete, s1.gws, s1.calls, rep.good, rep.journal_replayed, rep.bad,
		  rep.first_bad_line);
	im = seen_index(&s1, "mgcp");
	ih = seen_index(&s1, "h248");
	if (!tap_check(t, im >= 0 && ih >= 0 && tm && th,
		       "gateways: one of each driver"))
		goto out;
	tap_check(t, np_sockaddr_eq(&s1.gw[im].nat, &mgcp_gw) &&
			     s1.gw[im].core_port == pm &&
			     s1.core[im].port == pm &&
			     s1.gw[im].registered_until == tm->registered_until &&
			     !strcmp(s1.data[im], "[192.168.1.10]\x1f"
						  "aaln/1@[192.168.1.10]"),
		  "gateways: MGCP: NAT mapping, core port, lifetime, endpoint "
		  "('%s')",
		  s1.data[im]);
	tap_check(t, np_sockaddr_eq(&s1.gw[ih].nat, &h248_mg) &&
			     s1.gw[ih].core_port == ph &&
			     !strcmp(s1.data[ih], "[192.168.1.20]:2944"),
		  "gateways: H.248: NAT mapping, core port, mId ('%s')",
		  s1.data[ih]);
	live = gw_live_call(tm);
	s1.call[im].dialog = NULL;
	tap_check(t, leg_eq(&live, &s1.call[im], &why) &&
			     !strncmp(s1.call_data[im],
				      "aaln/1@[192.168.1.10]\x1f"
				      "A3C47F21456789F0\x1f"
				      "FDE234C8\x1fv=0\r\n",
				      40),
		  "gateways: the MGCP connection as it was (%s)", why);
	live = gw_live_call(th);
	tap_check(t, leg_eq(&live, &s1.call[ih], &why) &&
			     !strncmp(s1.call_data[ih], "7\x1frtp/1\x1f" "1\x1fv=0",
				      13),
		  "gateways: the H.248 termination as it was (%s)", why);

	/* The daemon stops, a new one adopts both. */
	np_proxy_forget(&e1.px);
	e1.up = false;
	if (!env_init_cfg(t, &e2, "gateways adopted", GW_CFG))
		goto out;
	memcpy(e2.io.flows, e1.io.flows, sizeof(e2.io.flows));
	e2.now = T0 + 10;
	gw_seen_reset(&s2);
	s2.px = &e2.px;
	s2.now = e2.now;
	tap_check(t, !np_state_read(path, &gw_visit, &s2) && s2.gws == 2 &&
			     s2.calls == 2 && !s2.errors,
		  "gateways: adopted, no error (%d)", s2.errors);
	tap_check(t, e2.px.core.live_calls[ACC] == 2 &&
			     np_term_by_core_port(&e2.px.core, CORE, pm) &&
			     np_term_by_core_port(&e2.px.core, CORE, ph) &&
			     e2.px.core.signal_ports[CORE].in_use == 2 &&
			     np_core_media_port_used(&e2.px.core, ACC, 30000) &&
			     np_core_media_port_used(&e2.px.core, CORE, 40002),
		  "gateways: adopted at core ports %u, %u with their relays",
		  pm, ph);

	/* Keepalives resume: AUEP on the endpoint, AuditValue on ROOT (the
	 * first at most two intervals after the adoption, at its phase). */
	e2.now += 2 * 20 - 1;
	sent_clear(&e2.io);
	np_proxy_tick(&e2.px, e2.now);
	out = sent_to(&e2, &mgcp_gw);
	tap_check(t, out && !strncmp(out, "AUEP ", 5) &&
			     strstr(out, " aaln/1@[192.168.1.10] MGCP 1.0"),
		  "gateways: AUEP to the adopted MGCP gateway");
	out = sent_to(&e2, &h248_mg);
	tap_check(t, out && strstr(out, "AuditValue = ROOT"),
		  "gateways: AuditValue to the adopted H.248 gateway");

	/* The call agent's DLCX to the same core port. */
	e2.io.n_records = 0;
	gw_from_ca(&e2, pm,
		   "DLCX 303 aaln/1@[198.51.100.1]:%u MGCP 1.0\r\n"
		   "C: A3C47F21456789F0\r\nI: FDE234C8\r\n",
		   pm);
	out = sent_to(&e2, &mgcp_gw);
	tap_check(t, out && strstr(out, "DLCX ") &&
			     strstr(out, " aaln/1@[192.168.1.10] MGCP 1.0\r\n"
					 "C: A3C47F21456789F0\r\nI: FDE234C8\r\n"),
		  "gateways: DLCX after the restart reaches the gateway");
	sent_txid(&e2, &mgcp_gw, "DLCX ", id, sizeof(id));
	snprintf(m, sizeof(m), "250 %s OK\r\n", id);
	gw_feed(&e2, &mgcp_gw, 2727, m);
	tap_check(t, e2.io.n_records == 1 &&
			     strstr(e2.io.last_record,
				    "\"from_terminal\": {\"packets\": 100, "
				    "\"bytes\": 20000"),
		  "gateways: one charging record, the volumes the maps hold");
	if (e2.io.n_records != 1 || !strstr(e2.io.last_record, "\"packets\": 100"))
		tap_diag("record: %s", e2.io.last_record);

	/* The MGC's Subtract to the same core port. */
	gw_from_mgc(&e2, ph,
		    "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 401 "
		    "{Context = 7 {Subtract = rtp/1 {Audit{Statistics}}}}\r\n");
	out = sent_to(&e2, &h248_mg);
	tap_check(t, out && strstr(out, "{Context = 7 {Subtract = rtp/1"),
		  "gateways: Subtract after the restart reaches the gateway");
	sent_txid(&e2, &h248_mg, "Transaction = ", id, sizeof(id));
	snprintf(m, sizeof(m),
		 "MEGACO/1 [192.168.1.20]:2944\r\nReply = %s {Context = 7 "
		 "{Subtract = rtp/1}}\r\n",
		 id);
	gw_feed(&e2, &h248_mg, 2944, m);
	tap_check(t, e2.io.n_records == 2 && flow_count(&e2.io) == 0 &&
			     e2.px.core.live_calls[ACC] == 0,
		  "gateways: Subtract answered: the second record, no flow left");
out:
	env_done(&e1);
	env_done(&e2);
}

/*
 * One gateway record damaged (a byte of its gw line, or of its gwcall
 * line) is skipped whole, the other handed on; a gateway of a driver this
 * natproxyd does not have is not adopted; a gw record in a version 2 file
 * is damage.
 */
static void test_gateways_damaged(struct tap *t, const char *path)
{
	static struct env e;
	static struct gw_seen s;
	static struct flow_slot flows[MAX_FLOWS];
	struct np_state_report rep;
	uint16_t pm = 0, ph = 0;
	char *text = NULL, *p;
	int err;

	mgcp_gw = sa("203.0.113.50", 2427);
	h248_mg = sa("203.0.113.60", 2944);
	if (!env_init_cfg(t, &e, "gateways damaged", GW_CFG))
		return;
	if (!gw_calls_up(t, &e, &pm, &ph) ||
	    np_state_save(&e.px, path, &test_owner))
		goto out;
	/* A damaged line is laid to the record it follows: the first
	 * record's gw line, or a gwcall line inside the other. */
	text = slurp(path);
	p = text ? strstr(text, "\ngw h248 ") : NULL;
	if (!tap_check(t, p && strstr(text, "\ngw mgcp ") > p,
		       "damaged gateway: the file has both, H.248's first"))
		goto out;
	p[4] = 'H'; /* "gw H248": its checksum no longer holds */
	write_file(path, text);
	gw_seen_reset(&s);
	err = np_state_read_report(path, &gw_visit, &s, &rep);
	tap_check(t, !err && !rep.complete && rep.bad == 1 && rep.good == 1 &&
			     s.gws == 1 && !strcmp(s.driver[0], "mgcp") &&
			     s.calls == 1 && !strncmp(s.call[0].id, "mgcp:", 5),
		  "damaged gw line: that gateway skipped whole with its call, "
		  "the other handed on (bad %u, good %u, %d gateways, %d calls)",
		  rep.bad, rep.good, s.gws, s.calls);
	p[4] = 'h';
	p = strstr(text, "\ngwcall mgcp:");
	if (p) {
		p[8] ^= 1;
		write_file(path, text);
		gw_seen_reset(&s);
		err = np_state_read_report(path, &gw_visit, &s, &rep);
		tap_check(t, !err && rep.bad == 1 && rep.good == 1 &&
				     s.gws == 1 && s.calls == 1 &&
				     !strcmp(s.driver[0], "h248") &&
				     !strncmp(s.call[0].id, "h248:", 5),
			  "damaged gwcall line: its gateway skipped whole, the "
			  "other handed on (%d: bad %u at %d, good %u, %d "
			  "gateways, %d calls)",
			  err, rep.bad, rep.first_bad_line, rep.good, s.gws,
			  s.calls);
		p[8] ^= 1;
	}

	/* A kind this reader does not know (as "gw" is to one from before
	 * gateway records), checksum right, first after the owner line: one
	 * damaged record, nothing after it lost. */
	p = strstr(text, "\ngw h248 ");
	if (p) {
		static const char line[] = "gwx sccp 0 203.0.113.70 2000";
		char *mod = malloc(strlen(text) + 512);

		if (mod) {
			sprintf(mod, "%.*s\n%s #%08x%s", (int)(p - text), text,
				line, test_crc(line, strlen(line)), p);
			write_file(path, mod);
		}
		free(mod);
		gw_seen_reset(&s);
		err = np_state_read_report(path, &gw_visit, &s, &rep);
		tap_check(t, !err && !rep.complete && rep.bad == 1 &&
				     rep.good == 2 && s.gws == 2 && s.calls == 2,
			  "unknown kind first: skipped as one damaged record, "
			  "both gateways after it handed on (bad %u, good %u)",
			  rep.bad, rep.good);
		write_file(path, text);
	}

	/* Another driver's name, checksum right: read, not adopted; the
	 * flows stay for the new proxy. */
	np_proxy_forget(&e.px);
	e.up = false;
	memcpy(flows, e.io.flows, sizeof(flows));
	env_free(&e);
	if (!env_init_cfg(t, &e, "gateways unknown driver", GW_CFG))
		goto out;
	memcpy(e.io.flows, flows, sizeof(flows));
	p = strstr(text, "\nend ");
	if (p) {
		static const char line[] =
			"gw sccp 0 203.0.113.70 2000 203.0.113.1 0 "
			"198.51.100.1 20007 0 - 0";
		char *mod = malloc(strlen(text) + 512);

		*p = '\0';
		if (mod) {
			sprintf(mod, "%s\n%s #%08x\nend 3 #%08x\n", text, line,
				test_crc(line, strlen(line)),
				test_crc("end 3", 5));
			write_file(path, mod);
		}
		free(mod);
	}
	gw_seen_reset(&s);
	s.px = &e.px;
	s.now = e.now;
	err = np_state_read_report(path, &gw_visit, &s, &rep);
	tap_check(t, !err && rep.complete && s.gws == 3 && s.errors == 1 &&
			     e.px.core.live_calls[ACC] == 2 &&
			     !np_term_by_core_port(&e.px.core, CORE, 20007),
		  "unknown driver: that gateway not adopted, the others are "
		  "(%d gateways, %d errors)",
		  s.gws, s.errors);
out:
	free(text);
	if (e.up)
		np_proxy_fini(&e.px);
	env_free(&e);
}

static void osip_quiet(const char *file, int line, osip_trace_level_t level,
		       const char *fmt, va_list ap)
{
	(void)file, (void)line, (void)level, (void)fmt, (void)ap;
}

/* --- a standby's copy of gateways (ctl/cluster/follow.c) ----------------- */

/* The last text the active node's journal handed on (its replicate hook). */
static struct {
	char *text;
	size_t len;
	bool snapshot;
} repl;

static void repl_capture(void *arg, bool snapshot, uint64_t gen,
			 const char *text, size_t len)
{
	(void)arg, (void)gen;
	free(repl.text);
	repl.text = malloc(len);
	if (repl.text)
		memcpy(repl.text, text, len);
	repl.len = repl.text ? len : 0;
	repl.snapshot = snapshot;
}

/* What a test of a standby following the journal leaves: the journal, the
 * standby, the text last handed on, both proxies. */
static void standby_done(struct np_journal *j, struct np_follower *fl,
			 struct env *active, struct env *standby)
{
	np_journal_close(j);
	np_follower_free(fl);
	free(repl.text);
	repl.text = NULL;
	env_done(active);
	env_done(standby);
}

/* What the active node's journal handed on, applied by the standby's
 * follower one record a step (budget 0); the steps it took. */
static int repl_follow(struct np_follower *fl, struct env *standby,
		       struct np_follow_report *rep)
{
	int steps = 1;

	memset(rep, 0, sizeof(*rep));
	np_follower_push(fl, repl.snapshot, repl.text, repl.len, 0);
	repl.text = NULL;
	while (np_follower_step(fl, standby->now, 0, rep))
		steps++;
	return steps;
}

/* Whether every flow of a is in b, the same. */
static bool flows_within(const struct fake *a, struct fake *b)
{
	const struct flow_slot *s;
	size_t i;

	for (i = 0; i < MAX_FLOWS; i++) {
		if (!a->flows[i].used)
			continue;
		s = slot_of(b, &a->flows[i].key);
		if (!s || memcmp(&s->flow, &a->flows[i].flow, sizeof(s->flow)))
			return false;
	}
	return true;
}

/*
 * A standby follows an active node's MGCP gateway and H.248 gateway: the
 * snapshot, applied one record a step, makes both gateways ours with
 * their calls and the calls' flows in our maps, the same as the active
 * node's; the next compaction, unchanged, touches none of them (a latch
 * on our copy stays); the call agent's DLCX on the active node reaches
 * the standby as a journal batch and takes the connection's flows away;
 * a snapshot that names neither gateway removes both.
 */
static void test_standby_gateways(struct tap *t, const char *path)
{
	static struct env e1, e2, e3;
	struct np_follower *fl = NULL;
	struct np_follow_report rep;
	struct np_journal j, j3;
	struct np_term *sm, *sh;
	struct flow_slot *latched = NULL;
	uint16_t pm = 0, ph = 0, sport = 0;
	size_t i;
	char id[16], m[MSG_MAX];
	int steps;

	mgcp_gw = sa("203.0.113.50", 2427);
	h248_mg = sa("203.0.113.60", 2944);
	np_journal_init(&j);
	j.replicate = repl_capture;
	if (!env_init_cfg(t, &e1, "standby gateways: active", GW_CFG) ||
	    !env_init_cfg(t, &e2, "standby gateways: standby", GW_CFG) ||
	    !gw_calls_up(t, &e1, &pm, &ph) || np_follower_new(&fl, &e2.px, 0))
		goto out;
	e2.now = T0 + 5;
	np_core_changed_all(&e1.px.core);
	np_state_save_changes(&e1.px, path, &test_owner, &j);
	np_core_dirty_clear(&e1.px.core);
	steps = repl_follow(fl, &e2, &rep);
	sm = np_term_by_core_port(&e2.px.core, CORE, pm);
	sh = np_term_by_core_port(&e2.px.core, CORE, ph);
	tap_check(t, rep.terms == 2 && rep.calls == 2 && !rep.failed &&
			     !rep.bad && steps >= 3,
		  "standby gateways: the snapshot applied in %d steps: %u "
		  "gateways, %u calls copied (%u failed, %u damaged)",
		  steps, rep.terms, rep.calls, rep.failed, rep.bad);
	tap_check(t, sm && sh && sm->driver == &e2.px.mgcp.driver &&
			     sh->driver == &e2.px.h248.driver &&
			     np_sockaddr_eq(&sm->nat, &mgcp_gw) &&
			     np_sockaddr_eq(&sh->nat, &h248_mg) && sm->calls &&
			     sh->calls && e2.px.core.live_calls[ACC] == 2 &&
			     np_core_media_port_used(&e2.px.core, ACC, 30000),
		  "standby gateways: the MGCP and H.248 gateways held at core "
		  "ports %u, %u with their calls and relay ports",
		  pm, ph);
	tap_check(t, flow_count(&e2.io) == 8 && flows_within(&e1.io, &e2.io),
		  "standby gateways: the calls' 8 flows in the standby's maps, "
		  "as the active node's (%zu)",
		  flow_count(&e2.io));

	/* A latch our copy learnt stays through an unchanged compaction. */
	for (i = 0; i < MAX_FLOWS && !latched; i++)
		if (e2.io.flows[i].used)
			latched = &e2.io.flows[i];
	if (latched) {
		sport = latched->flow.expect_sport;
		latched->flow.expect_sport = htons(4321);
	}
	np_core_changed_all(&e1.px.core);
	np_state_save_changes(&e1.px, path, &test_owner, &j);
	np_core_dirty_clear(&e1.px.core);
	repl_follow(fl, &e2, &rep);
	tap_check(t, repl.snapshot && rep.unchanged == 2 && !rep.terms &&
			     !rep.swept && flow_count(&e2.io) == 8 && latched &&
			     latched->used &&
			     latched->flow.expect_sport == htons(4321),
		  "standby gateways: an unchanged compaction passes both over "
		  "(%u unchanged, %u copied): flows and latches untouched",
		  rep.unchanged, rep.terms);
	if (latched)
		latched->flow.expect_sport = sport; /* as the active node's */

	/* The call agent ends the MGCP connection on the active node. */
	gw_dlcx_answered(&e1, pm, "aaln/1", "A3C47F21456789F0", "FDE234C8");
	np_state_save_changes(&e1.px, path, &test_owner, &j);
	np_core_dirty_clear(&e1.px.core);
	repl_follow(fl, &e2, &rep);
	sm = np_term_by_core_port(&e2.px.core, CORE, pm);
	tap_check(t, !repl.snapshot && rep.terms == 1 && sm && !sm->calls &&
			     flow_count(&e1.io) == 4 &&
			     flow_count(&e2.io) == 4 &&
			     flows_within(&e1.io, &e2.io) &&
			     e2.px.core.live_calls[ACC] == 1 &&
			     !e2.io.n_records,
		  "standby gateways: the DLCX's batch: the MGCP gateway held "
		  "without its connection, 4 flows left as on the active node "
		  "(%zu), nothing billed here",
		  flow_count(&e2.io));

	/* A snapshot that names neither (an active node without them). */
	np_journal_init(&j3);
	j3.replicate = repl_capture;
	if (!env_init_cfg(t, &e3, "standby gateways: an empty active node",
			  GW_CFG))
		goto out;
	np_core_changed_all(&e3.px.core);
	np_state_save_changes(&e3.px, path, &test_owner, &j3);
	np_journal_close(&j3);
	repl_follow(fl, &e2, &rep);
	tap_check(t, rep.swept == 2 && !e2.px.core.terms &&
			     flow_count(&e2.io) == 0 &&
			     e2.px.core.live_calls[ACC] == 0,
		  "standby gateways: a snapshot without them removes both "
		  "(%u), no flow left (%zu)",
		  rep.swept, flow_count(&e2.io));
	env_done(&e3);

	/* In order: a's snapshot (the H.248 call up) and, queued behind it,
	 * the batch of the MGC's Subtract: the call ends up gone. */
	np_core_changed_all(&e1.px.core);
	np_state_save_changes(&e1.px, path, &test_owner, &j);
	np_core_dirty_clear(&e1.px.core);
	np_follower_push(fl, true, repl.text, repl.len, 0);
	repl.text = NULL;
	gw_from_mgc(&e1, ph,
		    "MEGACO/1 [198.51.100.2]:2944\r\nTransaction = 401 "
		    "{Context = 7 {Subtract = rtp/1 {Audit{Statistics}}}}\r\n");
	sent_txid(&e1, &h248_mg, "Transaction = ", id, sizeof(id));
	snprintf(m, sizeof(m),
		 "MEGACO/1 [192.168.1.20]:2944\r\nReply = %s {Context = 7 "
		 "{Subtract = rtp/1}}\r\n",
		 id);
	gw_feed(&e1, &h248_mg, 2944, m);
	np_state_save_changes(&e1.px, path, &test_owner, &j);
	np_core_dirty_clear(&e1.px.core);
	memset(&rep, 0, sizeof(rep));
	np_follower_push(fl, repl.snapshot, repl.text, repl.len, 0);
	repl.text = NULL;
	np_follower_step(fl, e2.now, 0, &rep);
	tap_check(t, np_follower_busy(fl) && !e2.px.core.live_calls[ACC],
		  "standby gateways: a snapshot and a batch queued: one step "
		  "applied one record, the rest waits");
	np_follower_drain(fl, e2.now, &rep);
	tap_check(t, !np_follower_busy(fl) &&
			     np_term_by_core_port(&e2.px.core, CORE, pm) &&
			     np_term_by_core_port(&e2.px.core, CORE, ph) &&
			     !e2.px.core.live_calls[ACC] &&
			     flow_count(&e2.io) == 0 && flow_count(&e1.io) == 0,
		  "standby gateways: applied in order: both gateways held, the "
		  "Subtract's batch after the snapshot: no call, no flow (%zu)",
		  flow_count(&e2.io));
out:
	standby_done(&j, fl, &e1, &e2);
}

/* --- the active node's live calls, in steps (cluster/livepub.c) ------------ */

struct pub_seen {
	size_t fields, outs, lasts;
	char key[NP_LIVE_KEY_MAX];
};

static void pub_out(void *arg, char (*keys)[NP_LIVE_KEY_MAX], char **texts,
		    size_t n, bool last)
{
	struct pub_seen *ps = arg;

	ps->outs++;
	ps->lasts += last;
	if (n)
		snprintf(ps->key, sizeof(ps->key), "%s", keys[n - 1]);
	ps->fields += n;
	while (n)
		free(texts[--n]);
}

/* A whole pass (budget per step), what it handed over in ps; its steps. */
static int pub_pass(struct np_livepub *lp, struct np_core *core,
		    uint64_t epoch, double budget, struct pub_seen *ps)
{
	int steps = 1;

	memset(ps, 0, sizeof(*ps));
	np_livepub_begin(lp, core, epoch, NULL, NULL);
	while (np_livepub_step(lp, core, budget, pub_out, ps) && steps < 100)
		steps++;
	return steps;
}

static void test_livepub(struct tap *t)
{
	static struct env e;
	const char *cid = "lp1@192.168.1.10", *cid_b = "lp2@198.51.100.10";
	char m[MSG_MAX], r[MSG_MAX], key[NP_LIVE_KEY_MAX], *inv;
	struct np_livepub *lp = np_livepub_new();
	struct np_term *ta;
	struct pub_seen ps;
	size_t i, calls = 0;
	uint16_t pa, pb;
	int steps;

	if (!lp || !env_init(t, &e, "livepub"))
		goto out;
	pa = do_register(&e, &alice, 3600);
	pb = do_register(&e, &bob, 600);
	term_req(m, &alice, "INVITE", "sip:far@example.test", "z9hG4bK-lp1",
		 cid, 1, "<sip:far@example.test>", CT_SDP,
		 SDP_A("alice", "192.168.1.10", "6000"));
	from_term(&e, &alice, m);
	inv = first_sent(&e);
	reply(r, inv, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
	      SDP_A("far", "198.51.100.10", "7000"));
	free(inv);
	from_core(&e, pa, r);
	core_req(m, "INVITE", "sip:bob@198.51.100.1:20001", "z9hG4bK-ks-lp2",
		 FAR_FROM, "<sip:bob@example.test>", cid_b, 4,
		 FAR_CONTACT CT_SDP, SDP_A("far", "198.51.100.10", "7010"));
	from_core(&e, pb, m);
	for (ta = e.px.core.terms; ta; ta = ta->next)
		for (struct np_call *c = ta->calls; c; c = c->next)
			calls++;
	ta = px_term(&e.px, &alice.nat);

	pub_pass(lp, &e.px.core, 1, 1000, &ps);
	tap_check(t, calls == 2 && ps.fields == 2 && ps.lasts == 1,
		  "livepub: the first pass writes every call (%zu of %zu), "
		  "its end said once",
		  ps.fields, calls);
	pub_pass(lp, &e.px.core, 1, 1000, &ps);
	tap_check(t, !ps.fields && ps.outs == 1 && ps.lasts == 1,
		  "livepub: nothing changed: no field written; the pass's end "
		  "still handed over (the hash's TTL) (%zu fields)",
		  ps.fields);

	/* alice's access flow latches onto another source port. */
	for (i = 0; i < MAX_FLOWS; i++)
		if (e.io.flows[i].used &&
		    ntohs(e.io.flows[i].key.port) == ta->calls->streams[0].access_port)
			e.io.flows[i].flow.expect_sport = htons(6001);
	np_live_key(ta, ta->calls, key, sizeof(key));
	{
		char *text = np_live_text(&e.px.core, ta, ta->calls);
		struct np_flow saved = { 0 };
		struct flow_slot *fs = NULL;
		bool back;

		for (i = 0; i < MAX_FLOWS && !fs; i++)
			if (e.io.flows[i].used &&
			    e.io.flows[i].flow.expect_sport == htons(6001))
				fs = &e.io.flows[i];
		if (fs) {
			saved = fs->flow;
			fs->flow.expect_sport = htons(5000);
			fs->flow.flags &= ~NP_F_LATCH_STATE;
		}
		back = text && fs && !np_live_latch(&e.px.core, ta, ta->calls,
						    text) &&
		       !memcmp(&fs->flow, &saved, sizeof(saved));
		tap_check(t, back && !strncmp(text, "live1 1 0 1 ", 12) &&
				     strstr(text, ",6001,"),
			  "livepub: the call's text (%s) puts its latch back "
			  "into a flow that lost it",
			  text ? text : "none");
		free(text);
	}
	pub_pass(lp, &e.px.core, 1, 1000, &ps);
	tap_check(t, ps.fields == 1 && !strcmp(ps.key, key),
		  "livepub: one call's latch changed: that call alone written "
		  "(%zu fields, %s)",
		  ps.fields, ps.key);
	pub_pass(lp, &e.px.core, 2, 1000, &ps);
	tap_check(t, ps.fields == 2,
		  "livepub: a new epoch (Redis reconnected): every call written "
		  "again (%zu)",
		  ps.fields);
	np_livepub_stop(lp);
	steps = pub_pass(lp, &e.px.core, 2, 0, &ps);
	tap_check(t, ps.fields == 2 && steps == 2 && ps.lasts == 1,
		  "livepub: stopped (no longer active), then a pass with no "
		  "budget: a terminal per step (%d steps), every call again",
		  steps);
	pub_pass(lp, &e.px.core, 2, 1000, &ps);
	tap_check(t, !ps.fields, "livepub: and then nothing again");
out:
	np_livepub_free(lp);
	if (e.up)
		np_proxy_fini(&e.px);
	env_free(&e);
}


/* --- the journal's call records --------------------------------------------- */

/* alice places call cid (media at 192.168.1.10:port), answered (200, ACK)
 * when answer. */
static void jc_call(struct env *e, uint16_t pa, const char *cid,
		    const char *port, bool answer)
{
	char m[MSG_MAX], r[MSG_MAX], branch[64], sdp[512], *inv;

	snprintf(branch, sizeof(branch), "z9hG4bK-jc-%s", cid);
	snprintf(sdp, sizeof(sdp), SDP_A("alice", "192.168.1.10", "%s"), port);
	term_req(m, &alice, "INVITE", "sip:far@example.test", branch, cid, 1,
		 "<sip:far@example.test>", CT_SDP, sdp);
	from_term(e, &alice, m);
	inv = first_sent(e);
	if (answer) {
		reply(r, inv, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
		      SDP_A("far", "198.51.100.10", "7000"));
		from_core(e, pa, r);
		snprintf(branch, sizeof(branch), "z9hG4bK-jca-%s", cid);
		term_req(m, &alice, "ACK", "sip:far@198.51.100.10:5060", branch,
			 cid, 1, "<sip:far@example.test>;tag=far-tag", "", "");
		from_term(e, &alice, m);
	}
	free(inv);
}

/* alice hangs up call cid: BYE, the far end's 200. */
static void jc_bye(struct env *e, uint16_t pa, const char *cid)
{
	char m[MSG_MAX], r[MSG_MAX], branch[64], *bye;

	snprintf(branch, sizeof(branch), "z9hG4bK-jcb-%s", cid);
	term_req(m, &alice, "BYE", "sip:far@198.51.100.10:5060", branch, cid, 2,
		 "<sip:far@example.test>;tag=far-tag", "", "");
	from_term(e, &alice, m);
	bye = first_sent(e);
	reply(r, bye, "200 OK", NULL, "", "");
	free(bye);
	from_core(e, pa, r);
}

/* The journal's text from offset from on (the last batch appended). */
static char *jc_batch(const char *jpath, size_t from)
{
	char *text = slurp(jpath), *out;

	if (!text || strlen(text) < from) {
		free(text);
		return NULL;
	}
	out = strdup(text + from);
	free(text);
	return out;
}

static size_t jc_size(const char *jpath)
{
	struct stat st;

	return stat(jpath, &st) ? 0 : (size_t)st.st_size;
}

static size_t count_of(const char *text, const char *what)
{
	size_t n = 0;

	for (; text && (text = strstr(text, what)); text++)
		n++;
	return n;
}

/*
 * A journal as an older natproxyd wrote one: its header head, the
 * snapshot's record whose first line starts at rec (a term or gw line,
 * with its calls and streams) with field `field` of that line made value,
 * every checksum made again, and a commit line.
 */
static void journal_with_record(const char *jpath, const char *head,
				const char *rec, int field, const char *value)
{
	static char line[MSG_MAX], copy[MSG_MAX];
	const char *p, *nl;
	bool first = true;
	char *end;

	unlink(jpath);
	append_checked(jpath, head);
	for (p = rec; p && *p; p = nl ? nl + 1 : NULL, first = false) {
		nl = strchr(p, '\n');
		if (!first && strncmp(p, "leg ", 4) && strncmp(p, "gwcall ", 7) &&
		    strncmp(p, "stream ", 7))
			break;
		snprintf(line, sizeof(line), "%.*s",
			 (int)(nl ? nl - p : (long)strlen(p)), p);
		end = strstr(line, " #");
		if (end)
			*end = '\0';
		if (first) {
			field_set(line, field, value, copy, sizeof(copy));
			snprintf(line, sizeof(line), "%s", copy);
		}
		append_checked(jpath, line);
	}
	append_checked(jpath, "commit 1");
}

/* The next batch saved, a byte of its first stream line then changed
 * (the stream's index: its CRC fails); whether there was one. */
static bool save_damaged(struct env *e, const char *path,
			 struct np_journal *j)
{
	char jpath[4096], *text, *p;
	size_t from;

	np_journal_path(path, jpath, sizeof(jpath));
	from = jc_size(jpath);
	save_batch(e, path, j);
	text = slurp(jpath);
	p = text && strlen(text) > from ? strstr(text + from, "\nstream ") : NULL;
	if (p) {
		p[8] ^= 1;
		write_file(jpath, text);
	}
	free(text);
	return p != NULL;
}

/* Whether a batch is one own-fields line (starting with head), none of
 * the calls' lines (call_line), and its commit. */
static bool own_fields_alone(const char *batch, const char *head,
			     const char *call_line)
{
	return batch && !strncmp(batch, head, strlen(head)) &&
	       !strstr(batch, call_line) && count_of(batch, "\n") == 2;
}

/* The active node's next batch (e's changes saved), followed by the
 * standby (fl); its text as the journal has it. */
static char *gj_batch(struct env *e, const char *path, struct np_journal *j,
		      struct np_follower *fl, struct env *standby,
		      struct np_follow_report *rep)
{
	char jpath[4096];
	size_t from;

	np_journal_path(path, jpath, sizeof(jpath));
	from = jc_size(jpath);
	save_batch(e, path, j);
	repl_follow(fl, standby, rep);
	return jc_batch(jpath, from);
}

/* call's far end renamed `to` and saved in the next batch, which the
 * standby follows. */
static void call_to_saved(struct env *e, const char *path,
			  struct np_journal *j, struct np_follower *fl,
			  struct env *standby, struct np_term *t,
			  struct np_call *call, const char *to)
{
	struct np_follow_report rep;

	snprintf(call->to, sizeof(call->to), "%s", to);
	np_call_changed(&e->px.core, t, call);
	free(gj_batch(e, path, j, fl, standby, &rep));
}

/* The leg of alice's record with that id, NULL if none. */
static const struct np_call *jc_leg(const struct record *rec, const char *id)
{
	return rec_leg_find(rec_find(rec, &alice.nat), id);
}

/*
 * Call events journal each call alone: a "call" record (its leg and
 * streams) per call changed, a "call-gone" per call ended, no terminal
 * record while the terminal itself did not change; read back after the
 * snapshot in order (the last record of a call wins, a tombstone deletes,
 * an id ended and begun again in one batch is the new call), merged with
 * the terminal's whole records; a damaged call record skipped whole (the
 * call's earlier record stands); a version 1 journal (records whole)
 * still read; and a standby following the batches ends with the active
 * node's calls and flows.
 */
static void test_journal_calls(struct tap *t, const char *path)
{
	static struct env e, e2;
	char jpath[4096], *text = NULL, *p, *batch = NULL;
	struct np_follower *fl = NULL;
	struct np_follow_report frep;
	struct np_state_report rep;
	struct record rec = { 0 };
	struct np_journal j;
	const struct np_call *l = NULL;
	const char *why = "";
	struct np_call *live;
	struct np_term *ta, *sa2;
	size_t from;
	uint16_t pa;
	bool damaged;
	int err;

	np_journal_path(path, jpath, sizeof(jpath));
	np_journal_init(&j);
	j.replicate = repl_capture;
	if (!env_init(t, &e, "journal calls") ||
	    !env_init(t, &e2, "journal calls: standby") ||
	    np_follower_new(&fl, &e2.px, 0))
		goto out;
	pa = do_register(&e, &alice, 3600);
	do_register(&e, &bob, 3600);
	ta = px_term(&e.px, &alice.nat);
	if (!ta || !pa)
		goto out;
	save_batch(&e, path, &j); /* compacts: the snapshot */
	repl_follow(fl, &e2, &frep);
	/* As if the snapshot were large (a node's thousands of terminals):
	 * the journal does not outgrow it here. */
	j.snap_bytes = 1u << 30;

	/* Three calls up: three call records, no terminal record. */
	from = jc_size(jpath);
	jc_call(&e, pa, "jc1", "6000", true);
	jc_call(&e, pa, "jc2", "6002", true);
	jc_call(&e, pa, "jc3", "6004", true);
	tap_check(t, !ta->dirty && e.px.core.dirty_calls,
		  "journal calls: call events mark the calls, not the "
		  "terminal");
	err = save_batch(&e, path, &j);
	repl_follow(fl, &e2, &frep);
	batch = jc_batch(jpath, from);
	tap_check(t, !err && batch && count_of(batch, "\ncall 0 ") + !strncmp(batch, "call 0 ", 7) == 3 &&
			     count_of(batch, "leg ") == 3 &&
			     !strstr(batch, "term ") &&
			     strstr(batch, "commit 3 #"),
		  "journal calls: 3 calls up: 3 call records (a leg each), no "
		  "terminal record (%d)", err);
	free(batch);

	/* One call ends: its tombstone alone, whatever the others. */
	from = jc_size(jpath);
	jc_bye(&e, pa, "jc1");
	err = save_batch(&e, path, &j);
	repl_follow(fl, &e2, &frep);
	batch = jc_batch(jpath, from);
	tap_check(t, !err && batch && !strncmp(batch, "call-gone 0 ", 12) &&
			     strstr(batch, " jc1 #") && !strstr(batch, "leg ") &&
			     count_of(batch, "\n") == 2,
		  "journal calls: a BYE: one call-gone line and the commit, no "
		  "other call written (%d)", err);
	free(batch);
	err = read_rec(path, &rec, &rep);
	l = jc_leg(&rec, "jc2");
	tap_check(t, !err && rep.complete && rep.journal_replayed == 1 &&
			     rec.n_terms == 2 && !jc_leg(&rec, "jc1") &&
			     l && l->answered &&
			     l->n_streams == 1 && jc_leg(&rec, "jc3") &&
			     rec_find(&rec, &alice.nat)->n_legs == 2,
		  "journal calls: replay: the snapshot's alice with the "
		  "journal's calls: jc2, jc3 up, jc1 gone (%d, %u replayed)",
		  err, rep.journal_replayed);
	live = px_leg(ta, "jc2");
	l = jc_leg(&rec, "jc2");
	tap_check(t, live && l && leg_eq(live, l, &why),
		  "journal calls: jc2 read back as it is live (%s)", why);

	/* The last record of a call wins. */
	if (live) {
		call_to_saved(&e, path, &j, fl, &e2, ta, live, "first");
		call_to_saved(&e, path, &j, fl, &e2, ta, live, "second");
	}
	err = read_rec(path, &rec, &rep);
	l = jc_leg(&rec, "jc2");
	tap_check(t, !err && rep.complete && l && !strcmp(l->to, "second"),
		  "journal calls: replay order: the later record of a call "
		  "replaces the earlier (%s)", l ? l->to : "-");

	/* An id ended and begun again in one batch: the new call. */
	jc_bye(&e, pa, "jc3");
	jc_call(&e, pa, "jc3", "6006", false);
	err = save_batch(&e, path, &j);
	repl_follow(fl, &e2, &frep);
	err = err ? err : read_rec(path, &rec, &rep);
	l = jc_leg(&rec, "jc3");
	tap_check(t, !err && rep.complete && l && !l->answered &&
			     rec_find(&rec, &alice.nat)->n_legs == 2,
		  "journal calls: jc3 ended and placed again in one batch: "
		  "the tombstone first, the new call stands (%d)", err);

	/* The standby followed every batch: the same calls and flows. */
	sa2 = np_term_by_core_port(&e2.px.core, CORE, pa);
	tap_check(t, sa2 && sa2->n_calls == 2 && px_leg(sa2, "jc2") &&
			     !strcmp(px_leg(sa2, "jc2")->to, "second") &&
			     px_leg(sa2, "jc3") && !px_leg(sa2, "jc1") &&
			     !px_leg(sa2, "jc3")->answered &&
			     flow_count(&e2.io) == flow_count(&e.io) &&
			     flows_within(&e.io, &e2.io) &&
			     e2.px.core.live_calls[ACC] == 2 && !frep.bad,
		  "journal calls: the standby holds alice's 2 calls as the "
		  "active node does, its flows the same (%zu, %zu)",
		  flow_count(&e2.io), flow_count(&e.io));

	/* alice's registration refreshed: her own fields alone, not her
	 * calls; the standby's alice takes them, keeping her calls. */
	ta->registered_until = T0 + 4321;
	np_term_changed(&e.px.core, ta);
	batch = gj_batch(&e, path, &j, fl, &e2, &frep);
	tap_check(t, own_fields_alone(batch, "term-fields 0 ", "leg "),
		  "journal calls: a registration refresh: one term-fields "
		  "line and the commit, none of alice's calls");
	free(batch);
	batch = NULL;
	sa2 = np_term_by_core_port(&e2.px.core, CORE, pa);
	tap_check(t, sa2 && sa2->registered_until == T0 + 4321 &&
			     sa2->n_calls == 2 && px_leg(sa2, "jc2") &&
			     flow_count(&e2.io) == flow_count(&e.io) &&
			     flows_within(&e.io, &e2.io) && !frep.failed &&
			     np_term_by_nat(&e2.px.core, 0, &alice.nat) == sa2,
		  "journal calls: the standby's alice takes the refresh in "
		  "place: registered until %lld, her 2 calls and their flows "
		  "kept", sa2 ? (long long)sa2->registered_until : -1LL);
	if (live) {
		snprintf(live->to, sizeof(live->to), "third");
		np_call_changed(&e.px.core, ta, live);
	}
	save_batch(&e, path, &j);
	err = read_rec(path, &rec, &rep);
	l = jc_leg(&rec, "jc2");
	tap_check(t, !err && rep.complete && until_of(&rec, &alice) == T0 + 4321 &&
			     l && !strcmp(l->to, "third") &&
			     jc_leg(&rec, "jc3") &&
			     rec_find(&rec, &alice.nat)->n_legs == 2,
		  "journal calls: a whole record of alice, then jc2's record: "
		  "both count (%d)", err);

	/* A damaged call record: skipped whole, the call's earlier stands. */
	if (live) {
		snprintf(live->to, sizeof(live->to), "fourth");
		np_call_changed(&e.px.core, ta, live);
	}
	damaged = save_damaged(&e, path, &j);
	err = read_rec(path, &rec, &rep);
	l = jc_leg(&rec, "jc2");
	tap_check(t, damaged && !err && !rep.complete && rep.journal_bad == 1 &&
			     l && !strcmp(l->to, "third") &&
			     l->n_streams == 1 && jc_leg(&rec, "jc3") &&
			     rec_find(&rec, &alice.nat)->n_legs == 2,
		  "journal calls: a call record failing its CRC is skipped "
		  "whole: its earlier record stands (%d, %u bad)", err,
		  rep.journal_bad);
	free(text);
	text = NULL;

	/* A version 1 journal (a node before call records): alice's whole
	 * record, as such a node writes it, after the snapshot. */
	np_journal_close(&j);
	np_term_changed(&e.px.core, ta);
	save_batch(&e, path, &j); /* compacts: alice with her 2 calls */
	text = slurp(path);
	batch = slurp(jpath);
	p = text ? strstr(text, "\nterm 0 203.0.113.11 40001 ") : NULL;
	if (p && batch && strstr(batch, " #")) {
		char head[64], until[32];

		*strstr(batch, " #") = '\0';
		snprintf(head, sizeof(head), "%s", batch);
		head[strlen("natproxy-journal ")] = '1';
		snprintf(until, sizeof(until), "%d", T0 + 5555);
		journal_with_record(jpath, head, p + 1, 8, until);
		p = text;
	}
	free(batch);
	batch = NULL;
	err = read_rec(path, &rec, &rep);
	tap_check(t, p && !err && rep.complete && rep.journal_replayed == 1 &&
			     until_of(&rec, &alice) == T0 + 5555 &&
			     rec_find(&rec, &alice.nat)->n_legs == 2,
		  "journal calls: a natproxy-journal 1 file (records whole) is "
		  "read (%d)", err);
out:
	free(text);
	record_free(&rec);
	standby_done(&j, fl, &e, &e2);
	unlink(jpath);
}

/* --- the journal's gateway call records ------------------------------------ */

/* The index of the call of that id a read handed on, -1 if none. */
static int gw_seen_call(const struct gw_seen *s, const char *id)
{
	int i;

	for (i = 0; i < s->calls; i++)
		if (!strcmp(s->call[i].id, id))
			return i;
	return -1;
}

static int gw_read(const char *path, struct gw_seen *s,
		   struct np_state_report *rep)
{
	gw_seen_reset(s);
	return np_state_read_report(path, &gw_visit, s, rep);
}

/* The call agent's CRCX of a second connection on aaln/2 of the MGCP
 * gateway (core port pm); the gateway's transaction id in id. */
static void gj_crcx(struct env *e, uint16_t pm, char *id, size_t len)
{
	gw_from_ca(e, pm,
		   "CRCX 310 aaln/2@[198.51.100.1]:%u MGCP 1.0\r\n"
		   "C: B0000000000000002\r\nM: recvonly\r\n",
		   pm);
	sent_txid(e, &mgcp_gw, "CRCX ", id, len);
}

/*
 * A gateway's call events journal that call alone: a "gw-call" record (its
 * gwcall line and streams) per call changed, a "call-gone" per call ended
 * or renamed (a connection the gateway named), a "gw-fields" line when the
 * gateway itself changed; never the gateway whole with its other calls.
 * Read back after the snapshot in order (the last record of a call wins),
 * a damaged record skipped whole, a journal of whole gw records (before
 * these kinds) still read; a standby following the batches holds what the
 * active node does, the gateway refreshed in place.
 */
static void test_journal_gateways(struct tap *t, const char *path)
{
	static struct env e, e2;
	static struct gw_seen s;
	char jpath[4096], id[16], m[MSG_MAX], pending[256] = "", *batch = NULL;
	char *text = NULL, *p;
	const char *newid = "mgcp:B0000000000000002/ABCD0002@aaln/2";
	struct np_follower *fl = NULL;
	struct np_follow_report frep;
	struct np_state_report rep;
	struct np_journal j;
	struct np_term *tm = NULL, *sm, *x;
	struct np_call *live = NULL, *c;
	uint16_t pm = 0, ph = 0;
	bool damaged;
	int i, err;

	mgcp_gw = sa("203.0.113.50", 2427);
	h248_mg = sa("203.0.113.60", 2944);
	np_journal_path(path, jpath, sizeof(jpath));
	np_journal_init(&j);
	j.replicate = repl_capture;
	if (!env_init_cfg(t, &e, "journal gateways", GW_CFG) ||
	    !env_init_cfg(t, &e2, "journal gateways: standby", GW_CFG) ||
	    np_follower_new(&fl, &e2.px, 0) || !gw_calls_up(t, &e, &pm, &ph))
		goto out;
	for (x = e.px.core.terms; x; x = x->next)
		if (x->core_port == pm)
			tm = x;
	live = tm ? tm->calls : NULL;
	if (!tap_check(t, live && !live->next, "journal gateways: the MGCP "
		       "gateway with its one connection"))
		goto out;
	np_core_changed_all(&e.px.core);
	save_batch(&e, path, &j); /* compacts: the snapshot */
	repl_follow(fl, &e2, &frep);
	j.snap_bytes = 1u << 30; /* as if the snapshot were large */

	/* A second connection asked for: its record alone. */
	gj_crcx(&e, pm, id, sizeof(id));
	for (c = tm->calls; c; c = c->next)
		if (c != live)
			snprintf(pending, sizeof(pending), "%s", c->id);
	tap_check(t, !tm->dirty && e.px.core.dirty_calls && pending[0],
		  "journal gateways: a CRCX marks its call, not the gateway "
		  "('%s')", pending);
	batch = gj_batch(&e, path, &j, fl, &e2, &frep);
	tap_check(t, batch && !strncmp(batch, "gw-call 0 ", 10) &&
			     count_of(batch, "gwcall ") == 1 &&
			     !strstr(batch, "gw mgcp") &&
			     !strstr(batch, "FDE234C8") &&
			     strstr(batch, "commit 1 #"),
		  "journal gateways: the CRCX's batch: one gw-call record, "
		  "not the gateway nor its other connection");
	free(batch);

	/* The gateway names the connection: the pending name's record
	 * ends, the new one's is written. */
	snprintf(m, sizeof(m), "200 %s OK\r\nI: ABCD0002\r\n\r\n%s", id,
		 GW_SDP("192.168.1.10", "4004"));
	gw_feed(&e, &mgcp_gw, 2727, m);
	batch = gj_batch(&e, path, &j, fl, &e2, &frep);
	p = batch ? strstr(batch, "gw-fields mgcp 0 ") : NULL;
	tap_check(t, batch && !strncmp(batch, "call-gone 0 ", 12) &&
			     p && p < strstr(batch, "\ngw-call 0 ") &&
			     count_of(batch, "gwcall ") == 1 &&
			     strstr(batch, "gwcall mgcp:B0000000000000002/"
					   "ABCD0002@aaln/2 ") &&
			     !strstr(batch, "FDE234C8") &&
			     !strstr(batch, "gw mgcp"),
		  "journal gateways: the CRCX answered: the pending name's "
		  "call-gone, the gateway's own fields, the connection's "
		  "gw-call under its name, nothing else");
	free(batch);
	batch = NULL;
	tap_check(t, np_call_find(&e.px.core, tm, newid) &&
			     !np_call_find(&e.px.core, tm, pending),
		  "journal gateways: the renamed connection is found by its "
		  "new name, not the pending one");
	err = gw_read(path, &s, &rep);
	i = gw_seen_call(&s, newid);
	tap_check(t, !err && rep.complete && s.gws == 2 && s.calls == 3 &&
			     i >= 0 && gw_seen_call(&s, live->id) >= 0 &&
			     gw_seen_call(&s, pending) < 0 &&
			     s.call[i].n_streams == 1 &&
			     strstr(s.call_data[i], "\x1f" "ABCD0002\x1fv=0"),
		  "journal gateways: replay: the snapshot's gateways with the "
		  "journal's connection, under its name alone (%d, %d calls)",
		  err, s.calls);
	sm = np_term_by_core_port(&e2.px.core, CORE, pm);
	tap_check(t, sm && sm->n_calls == 2 &&
			     np_call_find(&e2.px.core, sm, newid) &&
			     !np_call_find(&e2.px.core, sm, pending) &&
			     flow_count(&e2.io) == flow_count(&e.io) &&
			     flows_within(&e.io, &e2.io) && !frep.failed &&
			     !frep.bad,
		  "journal gateways: the standby holds both connections and "
		  "their flows as the active node does (%zu, %zu)",
		  flow_count(&e2.io), flow_count(&e.io));

	/* The last record of a call wins. */
	call_to_saved(&e, path, &j, fl, &e2, tm, live, "first");
	call_to_saved(&e, path, &j, fl, &e2, tm, live, "second");
	err = gw_read(path, &s, &rep);
	i = gw_seen_call(&s, live->id);
	c = sm ? np_call_find(&e2.px.core, sm, live->id) : NULL;
	tap_check(t, !err && rep.complete && i >= 0 &&
			     !strcmp(s.call[i].to, "second") && c &&
			     !strcmp(c->to, "second"),
		  "journal gateways: replay order: the later record of a "
		  "connection replaces the earlier, here and on the standby "
		  "('%s')", i >= 0 ? s.call[i].to : "-");

	/* The call agent deletes the second connection: its tombstone. */
	gw_dlcx_answered(&e, pm, "aaln/2", "B0000000000000002", "ABCD0002");
	batch = gj_batch(&e, path, &j, fl, &e2, &frep);
	tap_check(t, batch && strstr(batch, "call-gone 0 ") &&
			     strstr(batch, " mgcp:B0000000000000002/ABCD0002"
					   "@aaln/2 #") &&
			     !count_of(batch, "gwcall ") &&
			     !strstr(batch, "gw mgcp"),
		  "journal gateways: a DLCX: the connection's call-gone, no "
		  "gwcall line");
	free(batch);
	batch = NULL;
	err = gw_read(path, &s, &rep);
	sm = np_term_by_core_port(&e2.px.core, CORE, pm);
	tap_check(t, !err && rep.complete && s.calls == 2 &&
			     gw_seen_call(&s, newid) < 0 &&
			     gw_seen_call(&s, live->id) >= 0 && sm &&
			     sm->n_calls == 1 &&
			     !np_call_find(&e2.px.core, sm, newid) &&
			     flow_count(&e2.io) == flow_count(&e.io) &&
			     flows_within(&e.io, &e2.io),
		  "journal gateways: replay: the tombstone deletes the "
		  "connection, the other stays; the standby's too, with its "
		  "flows (%d calls)", s.calls);

	/* The gateway itself changes: its own fields alone; the standby's
	 * copy takes them in place, its connection and flows kept. */
	tm->registered_until = T0 + 4321;
	snprintf(((struct np_mgcp_gw *)tm->signaling)->endpoint,
		 sizeof(((struct np_mgcp_gw *)tm->signaling)->endpoint),
		 "aaln/9@[192.168.1.10]");
	np_term_changed(&e.px.core, tm);
	x = sm;
	batch = gj_batch(&e, path, &j, fl, &e2, &frep);
	tap_check(t, own_fields_alone(batch, "gw-fields mgcp 0 ", "gwcall "),
		  "journal gateways: the gateway changed: one gw-fields line "
		  "and the commit, none of its calls");
	free(batch);
	batch = NULL;
	err = gw_read(path, &s, &rep);
	i = seen_index(&s, "mgcp");
	tap_check(t, !err && rep.complete && i >= 0 &&
			     s.gw[i].registered_until == T0 + 4321 &&
			     !strcmp(s.data[i], "[192.168.1.10]\x1f"
						"aaln/9@[192.168.1.10]") &&
			     s.calls == 2 && gw_seen_call(&s, live->id) >= 0,
		  "journal gateways: replay: the gateway's own fields "
		  "replaced, its connection as it was ('%s')",
		  i >= 0 ? s.data[i] : "-");
	sm = np_term_by_core_port(&e2.px.core, CORE, pm);
	tap_check(t, sm && sm == x && sm->registered_until == T0 + 4321 &&
			     !strcmp(((struct np_mgcp_gw *)sm->signaling)->endpoint,
				     "aaln/9@[192.168.1.10]") &&
			     sm->n_calls == 1 && frep.terms == 1 &&
			     !frep.failed && flow_count(&e2.io) == flow_count(&e.io) &&
			     flows_within(&e.io, &e2.io),
		  "journal gateways: the standby's gateway takes them in "
		  "place: its connection and flows kept (%u copied, %u failed)",
		  frep.terms, frep.failed);

	/* A damaged gw-call record: skipped whole, the earlier stands. */
	snprintf(live->to, sizeof(live->to), "third");
	np_call_changed(&e.px.core, tm, live);
	damaged = save_damaged(&e, path, &j);
	err = gw_read(path, &s, &rep);
	i = gw_seen_call(&s, live->id);
	tap_check(t, damaged && !err && !rep.complete && rep.journal_bad == 1 &&
			     i >= 0 && !strcmp(s.call[i].to, "second") &&
			     s.call[i].n_streams == 1 && s.gws == 2 &&
			     s.calls == 2,
		  "journal gateways: a gw-call record failing its CRC is "
		  "skipped whole: the connection's earlier record stands "
		  "(%d, %u bad)", err, rep.journal_bad);

	/* A journal as natproxyd wrote one before gw-call records: the
	 * gateway whole (its lifetime changed), then a call-gone of its
	 * connection. */
	np_journal_close(&j);
	save_batch(&e, path, &j); /* compacts */
	text = slurp(path);
	batch = slurp(jpath);
	p = text ? strstr(text, "\ngw mgcp 0 ") : NULL;
	if (p && batch && strstr(batch, " #")) {
		char until[32];

		*strstr(batch, " #") = '\0';
		snprintf(until, sizeof(until), "%d", T0 + 7777);
		journal_with_record(jpath, batch, p + 1, 9, until);
		p = text;
	}
	err = gw_read(path, &s, &rep);
	i = seen_index(&s, "mgcp");
	tap_check(t, p && !err && rep.complete && rep.journal_replayed == 1 &&
			     i >= 0 && s.gw[i].registered_until == T0 + 7777 &&
			     s.calls == 2 && gw_seen_call(&s, live->id) >= 0,
		  "journal gateways: a journal of whole gw records (before "
		  "gw-call) is read (%d)", err);
	snprintf(m, sizeof(m), "call-gone 0 %u %s", pm, live->id);
	append_checked(jpath, m);
	append_checked(jpath, "commit 1");
	err = gw_read(path, &s, &rep);
	i = seen_index(&s, "mgcp");
	tap_check(t, p && !err && rep.complete && i >= 0 &&
			     s.gw[i].registered_until == T0 + 7777 &&
			     s.calls == 1 && gw_seen_call(&s, live->id) < 0,
		  "journal gateways: a call-gone after the whole record "
		  "deletes that connection (%d calls)", s.calls);

	/* In a batch with a SIP terminal's records, the gateway's come
	 * first: a natproxyd from before gw-call, to which they are damage,
	 * skips them alone, not the record it is reading. */
	np_journal_close(&j);
	save_batch(&e, path, &j); /* compacts the written-over journal */
	j.snap_bytes = 1u << 30;
	do_register(&e, &alice, 600);
	np_call_changed(&e.px.core, tm, live);
	free(batch);
	batch = gj_batch(&e, path, &j, fl, &e2, &frep);
	p = batch ? strstr(batch, "term-fields ") : NULL;
	tap_check(t, p && strstr(batch, "gw-call 0 ") &&
			     strstr(batch, "gw-call 0 ") < p,
		  "journal gateways: a gateway's call record before a SIP "
		  "terminal's in the batch");
	err = gw_read(path, &s, &rep);
	tap_check(t, !err && rep.complete && s.terms == 1 && s.gws == 2 &&
			     s.calls == 2,
		  "journal gateways: both read back (%d)", err);
out:
	free(text);
	free(batch);
	for (i = 0; i < s.calls; i++)
		np_call_streams_free(&s.call[i]);
	standby_done(&j, fl, &e, &e2);
	unlink(jpath);
}

int main(void)
{
	char path[] = "/tmp/np-state-test-XXXXXX";
	char path2[] = "/tmp/np-state-damaged-XXXXXX";
	struct tap t = { 0 };
	char tmp[64];
	int fd;

	np_sipmsg_init();
	osip_trace_initialize_func(OSIP_FATAL, osip_quiet);
	np_log_set_level(NP_LOG_WARN);
	alice = (struct ua){ "alice", "192.168.1.10", sa("203.0.113.11", 40001) };
	carol = (struct ua){ "carol", "192.168.1.30", sa("203.0.113.13", 40003) };
	bob = (struct ua){ "bob", "192.168.1.20", sa("203.0.113.12", 40002) };

	fd = mkstemp(path);
	if (fd < 0 || close(fd)) {
		tap_check(&t, false, "mkstemp %s", path);
		return tap_done(&t);
	}
	fd = mkstemp(path2);
	if (fd < 0 || close(fd)) {
		tap_check(&t, false, "mkstemp %s", path2);
		unlink(path);
		return tap_done(&t);
	}
	test_round_trip(&t, path);
	test_ended_before_save(&t, path);
	test_checksums(&t, path, path2);
	test_damaged(&t, path, path2);
	test_recover(&t, path);
	test_owner_line(&t, path);
	test_journal(&t, path);
	test_background(&t, path);
	test_resume(&t, path);
	test_rewrite(&t, path);
	test_gateways(&t, path);
	test_gateways_damaged(&t, path);
	test_standby_gateways(&t, path);
	test_journal_calls(&t, path);
	test_journal_gateways(&t, path);
	test_livepub(&t);
	unlink(path);
	unlink(path2);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	/* The journals the saves left beside them. */
	snprintf(tmp, sizeof(tmp), "%s.journal", path);
	unlink(tmp);
	snprintf(tmp, sizeof(tmp), "%s.journal", path2);
	unlink(tmp);
	return tap_done(&t);
}
