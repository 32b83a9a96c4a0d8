// SPDX-License-Identifier: GPL-2.0-only
/*
 * The MGCP driver (mgcp.h): a datagram on a pair's MGCP access socket
 * (from a gateway, known or new) or on a gateway's core address (from the
 * call agent) is admitted, parsed into its piggy-backed messages, and each
 * relayed as a command or a response of a transaction that crosses the
 * proxy (transaction.c's SIP counterpart is the table here). What names a
 * gateway is rewritten on the way (docs/mgcp.md), session descriptions go
 * through the core's offer/answer, and the hooks the core calls back
 * (keepalive, a call ended by the core, frees) are at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "mgcp/mgcp.h"

const char *const np_mgcp_verb_names[NP_MGCP_VERB_MAX] = {
	NP_MGCP_VERBS(NP_NAME_ENTRY)
};

#define MAX_DATAGRAM 65535
#define OUT_MAX (NP_MGCP_BODY_MAX + NP_MGCP_PARAMS_MAX * 600 + 512)

/* One datagram's message on its way, with the gateway it concerns. */
struct mctx {
	struct np_mgcp *mg;
	struct np_core *core;
	struct np_term *t;
	struct np_mgcp_gw *gw;
	const struct np_pair *pair;
	size_t acc, cor; /* realm indexes */
	struct np_sockaddr src;
	size_t realm;
	uint16_t port;
	time_t now;
};

/* Copies s into d (size n), cut to fit. */
static void scopy(char *d, size_t n, const char *s)
{
	size_t l = strlen(s);

	if (l >= n)
		l = n - 1;
	memcpy(d, s, l);
	d[l] = 0;
}

static enum np_mgcp_verb verb_index(const char *verb)
{
	int i;

	for (i = 0; i < NP_MGCP_OTHER; i++)
		if (!strcasecmp(verb, np_mgcp_verb_names[i]))
			return i;
	return NP_MGCP_OTHER;
}

static void count(struct np_mgcp *mg, size_t realm,
		  const struct np_mgcp_msg *m, bool out)
{
	struct np_mgcp_counters *rc;

	if (realm >= mg->n_ctr)
		return;
	rc = &mg->ctr[realm];
	if (!m->response)
		(out ? rc->commands_out : rc->commands_in)[verb_index(m->verb)]++;
	else if (m->code >= 0 && m->code <= 699)
		(out ? rc->responses_out : rc->responses_in)[m->code / 100]++;
}

/* "[192.0.2.1]" or "[2001:db8::1]": an address as a domain name. */
static const char *bracket(const struct np_sockaddr *a, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family, &a->addr, host, sizeof(host)))
		host[0] = 0;
	snprintf(out, n, "[%s]", host);
	return out;
}

/* The gateway's identity on the core side: "[CORE_IP]:TPORT". */
static const char *core_domain(const struct mctx *c, char *out, size_t n)
{
	char b[INET6_ADDRSTRLEN + 2];

	snprintf(out, n, "%s:%u",
		 bracket(&c->core->cfg->realms[c->cor].address, b, sizeof(b)),
		 c->t->core_port);
	return out;
}

static void ctx_init(struct mctx *c, struct np_mgcp *mg, struct np_term *t)
{
	memset(c, 0, sizeof(*c));
	c->mg = mg;
	c->core = mg->core;
	c->t = t;
	c->gw = t ? t->signaling : NULL;
	if (t) {
		c->pair = np_core_pair(mg->core, t);
		c->acc = c->pair->first;
		c->cor = c->pair->second;
	}
}

/* --- sending ------------------------------------------------------------- */

static int send_text(struct np_mgcp *mg, size_t realm, uint16_t from_port,
		     const struct np_sockaddr *to, const char *buf, size_t len)
{
	int err = mg->core->io->send(mg->core->io_ctx, realm, from_port, to,
				     buf, len);

	if (!err)
		mg->core->stats.forwarded++;
	return err;
}

/* Serializes m into a new buffer (*out, *len); 0 or -errno. */
static int dump(const struct np_mgcp_msg *m, char **out, size_t *len)
{
	char *buf = malloc(OUT_MAX);
	int n;

	if (!buf)
		return -ENOMEM;
	n = np_mgcp_serialize(m, buf, OUT_MAX);
	if (n < 0) {
		free(buf);
		return n;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* Our own response (RFC 3435 3.4) to a command we do not relay. */
static void answer(struct np_mgcp *mg, size_t realm, uint16_t port,
		   const struct np_sockaddr *to, uint32_t txid, int code,
		   const char *text)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%03d %u %s\r\n", code, txid, text);

	if (n > 0 && (size_t)n < sizeof(buf) &&
	    !send_text(mg, realm, port, to, buf, (size_t)n)) {
		if (realm < mg->n_ctr) {
			mg->ctr[realm].responses_out[code / 100]++;
			mg->ctr[realm].answered++;
		}
		if (code == 400)
			mg->core->stats.answered_400++;
	}
}

/* --- transactions -------------------------------------------------------- */

static struct np_mgcp_txn *txn_by_in(struct np_mgcp *mg, enum np_mgcp_dir dir,
				     const struct np_term *t, uint32_t id)
{
	return (struct np_mgcp_txn *)np_gwtxn_by_in(&mg->txns, dir, t, id);
}

/* The transaction whose command went out to t (or, t NULL, to the call
 * agent on behalf of any gateway) as id. */
static struct np_mgcp_txn *txn_by_out(struct np_mgcp *mg, bool to_gw,
				      const struct np_term *t, uint32_t id)
{
	return (struct np_mgcp_txn *)np_gwtxn_by_out(&mg->txns, to_gw, t, id);
}

/* Ours get a transaction id unique among the open ones: gateways behind
 * the proxy number their commands alike, the call agent must not see two
 * of them as one (nor a gateway two call agents' commands). */
static struct np_mgcp_txn *txn_new(struct mctx *c, enum np_mgcp_dir dir,
				   uint32_t in_txid, const char *verb)
{
	struct np_mgcp_txn *x = (struct np_mgcp_txn *)np_gwtxn_new(
		&c->mg->txns, sizeof(*x), dir,
		dir == NP_MGCP_FROM_CA || dir == NP_MGCP_OWN_GW, c->t, in_txid,
		c->gw ? &c->gw->open_txns : NULL, c->now);

	if (!x)
		return NULL;
	x->base.src = c->src;
	x->base.src_realm = c->realm;
	x->base.src_port = c->port;
	scopy(x->verb, sizeof(x->verb), verb);
	return x;
}

static void txn_free(struct np_mgcp *mg, struct np_mgcp_txn *x)
{
	np_gwtxn_free(&mg->txns, &x->base);
}

/* --- names ----------------------------------------------------------------- */

static bool is_bracketed(const char *domain)
{
	return domain[0] == '[';
}

/* An endpoint name toward the call agent: a bracketed address (the
 * gateway's private one) becomes the gateway's core identity. */
static void ep_to_ca(struct mctx *c, char *ep, size_t size)
{
	char local[NP_MGCP_NAME_MAX], domain[NP_MGCP_NAME_MAX], id[80];

	if (np_mgcp_endpoint_split(ep, local, sizeof(local), domain,
				   sizeof(domain)) ||
	    !is_bracketed(domain))
		return;
	snprintf(ep, size, "%s@%s", local, core_domain(c, id, sizeof(id)));
}

/* Whether domain names the gateway's core identity ("[CORE_IP]:TPORT",
 * or "[CORE_IP]" on its core port). */
static bool names_core(struct mctx *c, const char *domain)
{
	char id[80], b[INET6_ADDRSTRLEN + 2];

	return !strcasecmp(domain, core_domain(c, id, sizeof(id))) ||
	       !strcasecmp(domain,
			   bracket(&c->core->cfg->realms[c->cor].address, b,
				   sizeof(b)));
}

/* An endpoint name toward the gateway: its core identity becomes the
 * domain the gateway wrote. */
static void ep_to_gw(struct mctx *c, char *ep, size_t size)
{
	char local[NP_MGCP_NAME_MAX], domain[NP_MGCP_NAME_MAX];

	if (!c->gw->domain[0] ||
	    np_mgcp_endpoint_split(ep, local, sizeof(local), domain,
				   sizeof(domain)) ||
	    !names_core(c, domain))
		return;
	snprintf(ep, size, "%s@%s", local, c->gw->domain);
}

/* NotifiedEntity ([local@]domain[:port], RFC 3435 3.2.2.5) pointed at
 * addr: the local name is kept. */
static void ne_point(char *value, size_t size, const struct np_sockaddr *addr)
{
	char b[INET6_ADDRSTRLEN + 2], local[NP_MGCP_VALUE_MAX];
	const char *at = strrchr(value, '@');

	local[0] = 0;
	if (at)
		snprintf(local, sizeof(local), "%.*s@", (int)(at - value), value);
	if (!value[0])
		return;
	snprintf(value, size, "%s%s:%u", local, bracket(addr, b, sizeof(b)),
		 addr->port);
}

/* Learns the gateway's own domain and an endpoint to audit from a name it
 * wrote. */
static void learn(struct mctx *c, const char *ep)
{
	char local[NP_MGCP_NAME_MAX], domain[NP_MGCP_NAME_MAX];

	if (np_mgcp_endpoint_split(ep, local, sizeof(local), domain,
				   sizeof(domain)))
		return;
	if (!c->gw->domain[0] && strlen(domain) < sizeof(c->gw->domain)) {
		scopy(c->gw->domain, sizeof(c->gw->domain), domain);
		np_term_changed(c->core, c->t); /* kept in the state file */
	}
	if (!strcasecmp(domain, c->gw->domain) &&
	    (!c->gw->endpoint[0] ||
	     (strpbrk(c->gw->endpoint, "*$") && !strpbrk(local, "*$")))) {
		scopy(c->gw->endpoint, sizeof(c->gw->endpoint), ep);
		np_term_changed(c->core, c->t);
	}
}

/*
 * ResponseAck (K:, RFC 3435 3.2.2.19) in a command from one side: the ids
 * are that side's own earlier commands (dir), which went on as ours.
 * Rewritten to our ids; the acknowledged transactions are done with. The
 * parameter goes when none of its ids is known.
 */
static void map_acks(struct mctx *c, struct np_mgcp_msg *m,
		     enum np_mgcp_dir dir)
{
	struct np_mgcp_param *k = np_mgcp_param(m, "K");
	char out[NP_MGCP_VALUE_MAX];
	struct np_mgcp_txn *x, *next;
	size_t n = 0;
	const char *p;

	if (!k || !k->value[0])
		return;
	out[0] = 0;
	for (x = (struct np_mgcp_txn *)np_gwtxn_next(&c->mg->txns, NULL); x;
	     x = next) {
		unsigned long lo, hi;
		bool hit = false;
		char *end;

		next = (struct np_mgcp_txn *)np_gwtxn_next(&c->mg->txns,
							   &x->base);
		if (x->base.dir != (int)dir || x->base.t != c->t || !x->base.done)
			continue;
		for (p = k->value; *p && !hit;) {
			lo = strtoul(p, &end, 10);
			if (end == p)
				break;
			hi = lo;
			p = end;
			if (*p == '-') {
				hi = strtoul(p + 1, &end, 10);
				p = end;
			}
			hit = x->base.in_id >= lo && x->base.in_id <= hi;
			while (*p == ',' || *p == ' ' || *p == '\t')
				p++;
		}
		if (!hit)
			continue;
		if (n < sizeof(out) - 16)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%u",
					      n ? ", " : "", x->base.out_id);
		txn_free(c->mg, x);
	}
	if (n)
		scopy(k->value, sizeof(k->value), out);
	else
		np_mgcp_param_del(m, "K");
}

/* Z:/Z2: (SpecificEndpointID) and N: in a message toward the call agent
 * (to_ca) or the gateway. */
static void rewrite_names(struct mctx *c, struct np_mgcp_msg *m, bool to_ca)
{
	const struct np_realm *acc = &c->core->cfg->realms[c->acc];
	struct np_sockaddr us = acc->address;
	size_t i;

	us.port = acc->mgcp_port;
	for (i = 0; i < m->n_params; i++) {
		struct np_mgcp_param *p = &m->params[i];

		if (!strcasecmp(p->name, "Z") || !strcasecmp(p->name, "Z2")) {
			if (to_ca) {
				learn(c, p->value);
				ep_to_ca(c, p->value, sizeof(p->value));
			} else {
				ep_to_gw(c, p->value, sizeof(p->value));
			}
		} else if (!strcasecmp(p->name, "N")) {
			ne_point(p->value, sizeof(p->value),
				 to_ca ? &c->pair->call_agent : &us);
		}
	}
}

/* --- connections ----------------------------------------------------------- */

static bool ep_match(const char *pattern, const char *name)
{
	char pl[NP_MGCP_NAME_MAX], pd[NP_MGCP_NAME_MAX];
	char nl[NP_MGCP_NAME_MAX], nd[NP_MGCP_NAME_MAX];
	const char *star;

	if (np_mgcp_endpoint_split(pattern, pl, sizeof(pl), pd, sizeof(pd)) ||
	    np_mgcp_endpoint_split(name, nl, sizeof(nl), nd, sizeof(nd)))
		return false;
	star = strchr(pl, '*');
	if (!star)
		return !strcasecmp(pl, nl);
	return !strncasecmp(pl, nl, (size_t)(star - pl));
}

/* The gateway's calls (connections) a command names: endpoint (gateway
 * view), C: and I: when given. */
static struct np_call *conn_next(struct np_term *t, struct np_call *from,
				 const char *ep, const char *call_id,
				 const char *conn_id)
{
	struct np_call *call;

	for (call = from ? from->next : t->calls; call; call = call->next) {
		const struct np_mgcp_conn *k = call->dialog;

		if (!k || (ep && ep[0] && !ep_match(ep, k->endpoint)) ||
		    (call_id && call_id[0] && strcasecmp(call_id, k->call_id)) ||
		    (conn_id && conn_id[0] && strcasecmp(conn_id, k->conn_id)))
			continue;
		return call;
	}
	return NULL;
}

static const char *param_value(struct np_mgcp_msg *m, const char *name)
{
	struct np_mgcp_param *p = np_mgcp_param(m, name);

	return p ? p->value : "";
}

/* A connection's core call name: C, I (or the pending command) and the
 * endpoint's local name. */
static void conn_name(char *out, size_t n, const struct np_mgcp_conn *k,
		      uint32_t txid)
{
	char local[NP_MGCP_NAME_MAX], domain[NP_MGCP_NAME_MAX];

	if (np_mgcp_endpoint_split(k->endpoint, local, sizeof(local), domain,
				   sizeof(domain)))
		scopy(local, sizeof(local), k->endpoint);
	int w;

	if (k->conn_id[0])
		w = snprintf(out, n, "mgcp:%s/%s@%s", k->call_id, k->conn_id,
			     local);
	else
		w = snprintf(out, n, "mgcp:%s/?%u@%s", k->call_id, txid, local);
	if (w < 0 || (size_t)w >= n)
		out[n - 1] = 0; /* cut: still unique enough to find */
}

/* Ends the gateway's connections that match (DLCX). */
static void conns_end(struct mctx *c, const char *ep, const char *call_id,
		      const char *conn_id, enum np_end_reason why)
{
	struct np_call *call;

	while ((call = conn_next(c->t, NULL, ep, call_id, conn_id)))
		np_call_end(c->core, c->t, call, why, c->now);
}

/* Whether an SDP holds a `$` or CHOOSE placeholder (left alone). */
static bool placeholder(const struct np_mgcp_msg *m)
{
	return strstr(m->body, " $\n") || strstr(m->body, " $\r") ||
	       strstr(m->body, "CHOOSE");
}

/* SDP of the message through the core's offer/answer (offer: whether it
 * goes in as an offer); the body replaced by the rewritten one. */
static int media(struct mctx *c, struct np_call *call, struct np_mgcp_msg *m,
		 enum np_side from, bool offer)
{
	char *out = malloc(NP_MGCP_BODY_MAX);
	const char *why = "";
	size_t len = 0;
	int err;

	if (!out)
		return -ENOMEM;
	if (offer)
		err = np_media_offer(c->core, c->t, call, from, m->body,
				     m->body_len, out, NP_MGCP_BODY_MAX, &len,
				     &why);
	else
		err = np_media_answer(c->core, c->t, call, from, NULL, m->body,
				      m->body_len, out, NP_MGCP_BODY_MAX, &len,
				      &why);
	if (!err && len < sizeof(m->body)) {
		memcpy(m->body, out, len);
		m->body[len] = 0;
		m->body_len = len;
	} else if (!err) {
		err = -E2BIG;
	}
	if (err)
		np_warn("connection '%s': SDP %s: %s", call->id,
			offer ? "offer" : "answer", why ? why : strerror(-err));
	else if (!offer)
		np_call_answered(c->core, c->t, call, c->now);
	free(out);
	return err;
}

static void keep_lcd(struct np_call *call, const struct np_mgcp_msg *m)
{
	struct np_mgcp_conn *k = call->dialog;

	if (m->body_len < sizeof(k->lcd)) {
		memcpy(k->lcd, m->body, m->body_len);
		k->lcd_len = m->body_len;
	}
}

/* --- the call agent's commands, toward a gateway --------------------------- */

static void retransmit(struct mctx *c, struct np_mgcp_txn *x)
{
	const struct np_pair *pair = c->pair;
	bool to_gw = x->base.dir == NP_MGCP_FROM_CA;

	c->mg->ctr[c->realm].retransmissions++;
	if (x->base.resp) {
		/* Answered: the same answer (RFC 3435 3.5.1). */
		send_text(c->mg, x->base.src_realm, x->base.src_port, &x->base.src, x->base.resp,
			  x->base.resp_len);
		return;
	}
	if (x->base.cmd)
		send_text(c->mg, to_gw ? c->acc : c->cor,
			  to_gw ? c->core->cfg->realms[c->acc].mgcp_port :
				  c->t->core_port,
			  to_gw ? &c->t->nat : &pair->call_agent, x->base.cmd,
			  x->base.cmd_len);
}

/* Sends m on as x's command and keeps it for retransmissions. */
static void send_command(struct mctx *c, struct np_mgcp_txn *x,
			 struct np_mgcp_msg *m, bool to_gw)
{
	size_t realm = to_gw ? c->acc : c->cor;

	if (dump(m, &x->base.cmd, &x->base.cmd_len)) {
		txn_free(c->mg, x);
		return;
	}
	if (!send_text(c->mg, realm,
		       to_gw ? c->core->cfg->realms[c->acc].mgcp_port :
			       c->t->core_port,
		       to_gw ? &c->t->nat : &c->pair->call_agent, x->base.cmd,
		       x->base.cmd_len))
		count(c->mg, realm, m, true);
}

static int ca_crcx(struct mctx *c, struct np_mgcp_txn *x,
		   struct np_mgcp_msg *m)
{
	struct np_mgcp_conn *k;
	struct np_call *call;
	char name[256], id[80];
	int err;

	k = calloc(1, sizeof(*k));
	if (!k)
		return 403;
	scopy(k->endpoint, sizeof(k->endpoint), m->endpoint);
	scopy(k->call_id, sizeof(k->call_id), param_value(m, "C"));
	conn_name(name, sizeof(name), k, x->base.out_id);
	call = np_call_new(c->core, c->t, name, false, c->now);
	if (!call) {
		free(k);
		return 403; /* insufficient resources now */
	}
	call->dialog = k;
	scopy(call->from, sizeof(call->from), m->endpoint);
	ep_to_ca(c, call->from, sizeof(call->from));
	np_sockaddr_str(&c->pair->call_agent, id, sizeof(id));
	scopy(call->to, sizeof(call->to), id);
	scopy(x->call_key, sizeof(x->call_key), call->id);
	x->media = NP_MGCP_MEDIA_CREATE;
	if (!m->body_len || placeholder(m))
		return 0;
	err = media(c, call, m, NP_SIDE_FAR, true);
	if (err) {
		np_call_end(c->core, c->t, call, NP_END_REFUSED, c->now);
		return err == -EBUSY ? 403 : 505;
	}
	x->offered = true;
	return 0;
}

static int ca_mdcx(struct mctx *c, struct np_mgcp_txn *x,
		   struct np_mgcp_msg *m)
{
	struct np_call *call = conn_next(c->t, NULL, m->endpoint,
					 param_value(m, "C"),
					 param_value(m, "I"));
	bool offer;
	int err;

	if (!call || !param_value(m, "I")[0]) {
		/* Not ours to rewrite: its SDP must not reach the gateway
		 * (it could bypass the relay). */
		m->body_len = 0;
		return 0;
	}
	scopy(x->call_key, sizeof(x->call_key), call->id);
	x->media = NP_MGCP_MEDIA_MODIFY;
	if (!m->body_len || placeholder(m))
		return 0;
	/* The gateway's SDP (a CRCX response) waits for this one. */
	offer = call->pending != NP_SIDE_TERM;
	err = media(c, call, m, NP_SIDE_FAR, offer);
	if (err)
		return err == -EBUSY ? 403 : 505;
	x->offered = offer;
	return 0;
}

static void ca_command(struct mctx *c, struct np_mgcp_msg *m)
{
	struct np_mgcp_txn *x = txn_by_in(c->mg, NP_MGCP_FROM_CA, c->t, m->txid);
	int code = 0;

	if (x) {
		retransmit(c, x);
		return;
	}
	x = txn_new(c, NP_MGCP_FROM_CA, m->txid, m->verb);
	if (!x) {
		answer(c->mg, c->realm, c->port, &c->src, m->txid, 403,
		       "Insufficient Resources");
		return;
	}
	ep_to_gw(c, m->endpoint, sizeof(m->endpoint));
	rewrite_names(c, m, false);
	map_acks(c, m, NP_MGCP_FROM_CA);
	if (np_mgcp_is(m, "CRCX")) {
		code = ca_crcx(c, x, m);
	} else if (np_mgcp_is(m, "MDCX")) {
		code = ca_mdcx(c, x, m);
	} else if (np_mgcp_is(m, "DLCX")) {
		x->media = NP_MGCP_MEDIA_DELETE;
		scopy(x->endpoint, sizeof(x->endpoint), m->endpoint);
		scopy(x->call_id, sizeof(x->call_id), param_value(m, "C"));
		scopy(x->conn_id, sizeof(x->conn_id), param_value(m, "I"));
	} else if (m->body_len) {
		m->body_len = 0; /* no other command carries SDP we relay */
	}
	if (code) {
		answer(c->mg, c->realm, c->port, &c->src, x->base.in_id, code,
		       code == 403 ? "Insufficient Resources" :
				     "Unsupported RemoteConnectionDescriptor");
		txn_free(c->mg, x);
		return;
	}
	m->txid = x->base.out_id;
	send_command(c, x, m, true);
}

/* --- a gateway's commands, toward the call agent ---------------------------- */

static void gw_command(struct mctx *c, struct np_mgcp_msg *m)
{
	struct np_mgcp_txn *x = txn_by_in(c->mg, NP_MGCP_FROM_GW, c->t, m->txid);
	uint32_t max = c->core->cfg->realms[c->acc].max_transactions_per_terminal;

	if (x) {
		retransmit(c, x);
		return;
	}
	if (max && c->gw->open_txns >= max) {
		c->core->stats.over_limits++;
		answer(c->mg, c->realm, c->port, &c->src, m->txid, 403,
		       "Insufficient Resources");
		return;
	}
	x = txn_new(c, NP_MGCP_FROM_GW, m->txid, m->verb);
	if (!x)
		return;
	learn(c, m->endpoint);
	if (np_mgcp_is(m, "DLCX")) {
		/* The gateway deleted connections itself (RFC 3435 2.3.8). */
		conns_end(c, m->endpoint, param_value(m, "C"),
			  param_value(m, "I"), NP_END_BYE);
	}
	ep_to_ca(c, m->endpoint, sizeof(m->endpoint));
	rewrite_names(c, m, true);
	map_acks(c, m, NP_MGCP_FROM_GW);
	m->body_len = 0; /* gateways' commands carry no SDP to relay */
	m->txid = x->base.out_id;
	send_command(c, x, m, false);
}

/* --- responses ------------------------------------------------------------- */

/* A gateway's final response to the call agent's CRCX. */
static void crcx_done(struct mctx *c, struct np_mgcp_txn *x,
		      struct np_mgcp_msg *m)
{
	struct np_call *call = np_call_find(c->core, c->t, x->call_key);
	struct np_mgcp_conn *k = call ? call->dialog : NULL;
	const char *z = param_value(m, "Z");
	char name[sizeof(call->id)];

	if (!call) {
		m->body_len = 0;
		return;
	}
	if (m->code >= 300) {
		np_call_end(c->core, c->t, call, NP_END_REJECTED, c->now);
		m->body_len = 0;
		return;
	}
	/* A wildcarded CRCX: the response names the endpoint (Z:). */
	if (z[0]) {
		scopy(k->endpoint, sizeof(k->endpoint), z);
		scopy(call->from, sizeof(call->from), z);
		ep_to_ca(c, call->from, sizeof(call->from));
	}
	scopy(k->conn_id, sizeof(k->conn_id), param_value(m, "I"));
	conn_name(name, sizeof(name), k, x->base.out_id);
	np_call_rename(c->core, c->t, call, name);
	if (!m->body_len || placeholder(m))
		return;
	keep_lcd(call, m);
	if (media(c, call, m, NP_SIDE_TERM, !x->offered)) {
		/* Fail closed: no private address reaches the call agent. */
		m->body_len = 0;
		np_call_end(c->core, c->t, call, NP_END_REFUSED, c->now);
	}
}

static void mdcx_done(struct mctx *c, struct np_mgcp_txn *x,
		      struct np_mgcp_msg *m)
{
	struct np_call *call = np_call_find(c->core, c->t, x->call_key);
	char *out;
	size_t len;
	const char *why;

	if (!call) {
		m->body_len = 0;
		return;
	}
	if (m->code >= 300) {
		if (call->pending)
			np_media_rollback(c->core, c->t, call);
		m->body_len = 0;
		return;
	}
	if (m->body_len && !placeholder(m)) {
		keep_lcd(call, m);
		np_call_changed(c->core, c->t, call); /* the call's record */
		if (media(c, call, m, NP_SIDE_TERM,
			  call->pending != NP_SIDE_FAR))
			m->body_len = 0;
		return;
	}
	/* No new LocalConnectionDescriptor: the gateway's last one answers
	 * the call agent's offer. */
	if (call->pending == NP_SIDE_FAR && ((struct np_mgcp_conn *)call->dialog)->lcd_len) {
		struct np_mgcp_conn *k = call->dialog;

		out = malloc(NP_MGCP_BODY_MAX);
		if (out &&
		    !np_media_answer(c->core, c->t, call, NP_SIDE_TERM, NULL,
				     k->lcd, k->lcd_len, out, NP_MGCP_BODY_MAX,
				     &len, &why))
			np_call_answered(c->core, c->t, call, c->now);
		free(out);
	}
}

static void response(struct mctx *c, struct np_mgcp_msg *m, bool from_gw)
{
	struct np_mgcp_txn *x;
	int code = m->code;

	if (code == 0) {
		/* A response acknowledgement (000, RFC 3435 3.5.6) from the
		 * command's sender: on to the receiver. */
		x = txn_by_in(c->mg, from_gw ? NP_MGCP_FROM_GW : NP_MGCP_FROM_CA,
			      c->t, m->txid);
		if (!x) {
			c->core->stats.unmatched++;
			return;
		}
		m->txid = x->base.out_id;
		m->body_len = 0;
		{
			char *buf;
			size_t len;

			if (!dump(m, &buf, &len)) {
				send_text(c->mg, from_gw ? c->cor : c->acc,
					  from_gw ? c->t->core_port :
						    c->core->cfg->realms[c->acc]
							    .mgcp_port,
					  from_gw ? &c->pair->call_agent :
						    &c->t->nat,
					  buf, len);
				free(buf);
			}
		}
		txn_free(c->mg, x);
		return;
	}
	x = txn_by_out(c->mg, from_gw, c->t, m->txid);
	if (!x) {
		c->core->stats.unmatched++;
		return;
	}
	if (x->base.dir == NP_MGCP_OWN_GW || x->base.dir == NP_MGCP_OWN_CA) {
		/* Ours (a keepalive's answer, a DLCX we sent): it ends here. */
		if (code >= 200)
			txn_free(c->mg, x);
		return;
	}
	if (x->base.resp && code >= 200) {
		/* A final response again: the sender missed nothing new. */
		c->mg->ctr[c->realm].retransmissions++;
		send_text(c->mg, x->base.src_realm, x->base.src_port, &x->base.src, x->base.resp,
			  x->base.resp_len);
		return;
	}
	if (from_gw && code >= 200) {
		if (x->media == NP_MGCP_MEDIA_CREATE)
			crcx_done(c, x, m);
		else if (x->media == NP_MGCP_MEDIA_MODIFY)
			mdcx_done(c, x, m);
		else if (x->media == NP_MGCP_MEDIA_DELETE &&
			 (code < 300 || code == 515 || code == 516))
			conns_end(c, x->endpoint, x->call_id, x->conn_id,
				  NP_END_BYE);
	}
	if (from_gw && x->media != NP_MGCP_MEDIA_CREATE &&
	    x->media != NP_MGCP_MEDIA_MODIFY)
		m->body_len = 0; /* AUCX's SDP: not rewritten, not relayed */
	if (!from_gw)
		m->body_len = 0;
	rewrite_names(c, m, from_gw);
	m->txid = x->base.in_id;
	x->code = code;
	if (code >= 200) {
		x->base.done = c->now;
		free(x->base.resp);
		x->base.resp = NULL;
		if (dump(m, &x->base.resp, &x->base.resp_len))
			return;
		if (!send_text(c->mg, x->base.src_realm, x->base.src_port, &x->base.src,
			       x->base.resp, x->base.resp_len))
			count(c->mg, x->base.src_realm, m, true);
		return;
	}
	/* Provisional (1xx): on, the transaction stays open. */
	{
		char *buf;
		size_t len;

		if (!dump(m, &buf, &len)) {
			if (!send_text(c->mg, x->base.src_realm, x->base.src_port,
				       &x->base.src, buf, len))
				count(c->mg, x->base.src_realm, m, true);
			free(buf);
		}
	}
}

/* --- input ----------------------------------------------------------------- */

/* The pair whose MGCP access socket is realm:port, or -1. */
static int access_pair(const struct np_core *core, size_t realm, uint16_t port)
{
	size_t i;

	for (i = 0; i < core->cfg->n_pairs; i++)
		if (core->cfg->pairs[i].first == realm &&
		    core->cfg->pairs[i].call_agent.family &&
		    core->cfg->realms[realm].mgcp_port == port)
			return (int)i;
	return -1;
}

bool np_mgcp_owns(const struct np_mgcp *mg, size_t realm, uint16_t local_port,
		  const char *buf, size_t len)
{
	struct np_term *t;

	if (access_pair(mg->core, realm, local_port) >= 0)
		return true;
	t = np_term_by_core_port(mg->core, realm, local_port);
	if (t)
		return t->driver == &mg->driver;
	return np_core_port_quarantined(mg->core, realm, local_port) &&
	       np_mgcp_looks_like(buf, len);
}

/* A new gateway at src for a command on pair's access socket, or NULL
 * with the command answered. */
static struct np_term *newcomer(struct np_mgcp *mg, size_t realm,
				uint16_t port, int pair,
				const struct np_sockaddr *src,
				const struct np_mgcp_msg *m, time_t now)
{
	struct np_core *core = mg->core;
	struct np_term *t = NULL;
	char where[64];
	int err;

	if (m->response) {
		core->stats.unmatched++;
		return NULL;
	}
	if (!np_term_may_join(core, (size_t)pair, src, false, false) ||
	    core->cfg->pairs[pair].draining) {
		core->stats.over_limits++;
		if (np_log_limit(&mg->log.refused, now))
			np_warn("MGCP %s from %s refused: terminal limit of its "
				"address, core ports down to the reserve, or "
				"pair draining",
				m->verb,
				np_sockaddr_str(src, where, sizeof(where)));
		answer(mg, realm, port, src, m->txid, 403,
		       "Insufficient Resources");
		return NULL;
	}
	err = np_term_new(core, (size_t)pair, src, &mg->driver, now, &t);
	if (!err) {
		t->signaling = calloc(1, sizeof(struct np_mgcp_gw));
		if (!t->signaling) {
			np_term_free(core, t, NP_END_OTHER, 0);
			err = -ENOMEM;
		}
	}
	if (err) {
		np_warn("no core signaling address for gateway %s: %s",
			np_sockaddr_str(src, where, sizeof(where)),
			strerror(-err));
		answer(mg, realm, port, src, m->txid, 403,
		       "Insufficient Resources");
		return NULL;
	}
	np_info("MGCP gateway at %s learnt from its %s",
		np_sockaddr_str(src, where, sizeof(where)), m->verb);
	return t;
}

static void one_message(struct np_mgcp *mg, size_t realm, uint16_t port,
			int pair, struct np_term *t,
			const struct np_sockaddr *src, const char *buf,
			size_t len, time_t now, struct np_mgcp_msg *m)
{
	struct np_core *core = mg->core;
	const char *why = "";
	char where[64];
	struct mctx c;

	if (np_mgcp_parse(buf, len, m, &why)) {
		core->stats.malformed++;
		mg->ctr[realm].malformed++;
		if (np_log_limit(&mg->log.malformed, now))
			np_warn("malformed MGCP (%zu bytes) from %s: %s", len,
				np_sockaddr_str(src, where, sizeof(where)),
				why);
		/* A command whose transaction id could be read gets the
		 * protocol error (RFC 3435 2.4: 510). */
		if (m->txid && !m->response &&
		    (pair >= 0 || t))
			answer(mg, realm, port, src, m->txid, 510,
			       "Protocol Error");
		return;
	}
	count(mg, realm, m, false);
	if (pair < 0 && t) {
		/* Commands and responses on a gateway's core address: from
		 * its call agent only (any port). */
		struct np_sockaddr ca = np_core_pair(core, t)->call_agent;

		ca.port = src->port;
		if (!np_sockaddr_eq(&ca, src)) {
			core->stats.strangers++;
			if (np_log_limit(&mg->log.strangers, now))
				np_warn("MGCP %s to core port %u from %s, not "
					"the call agent: dropped",
					m->response ? "response" : m->verb, port,
					np_sockaddr_str(src, where,
							sizeof(where)));
			return;
		}
	}
	if (pair < 0 && !t) {
		/* A released gateway's address: its endpoints are unknown
		 * now (RFC 3435 500). */
		if (!m->response)
			answer(mg, realm, port, src, m->txid, 500,
			       "Endpoint Unknown");
		return;
	}
	if (!t) {
		t = newcomer(mg, realm, port, pair, src, m, now);
		if (!t)
			return;
	}
	ctx_init(&c, mg, t);
	c.src = *src;
	c.realm = realm;
	c.port = port;
	c.now = now;
	if (pair >= 0) {
		/* Any message from the gateway keeps it known. */
		np_term_alive(t);
		np_term_registered(core, t, now + NP_MGCP_GW_LIFETIME, now);
	}
	if (m->response)
		response(&c, m, pair >= 0);
	else if (pair >= 0)
		gw_command(&c, m);
	else
		ca_command(&c, m);
}

void np_mgcp_input(struct np_mgcp *mg, size_t realm, uint16_t local_port,
		   const struct np_sockaddr *src, const char *buf, size_t len,
		   time_t now)
{
	struct np_core *core = mg->core;
	size_t starts[NP_MGCP_PIGGY_MAX], lens[NP_MGCP_PIGGY_MAX];
	struct np_mgcp_msg *m;
	struct np_term *t;
	char where[64];
	int pair, n, i;

	mg->now = now;
	core->stats.received++;
	pair = access_pair(core, realm, local_port);
	if (pair >= 0 && !np_core_admit(core, realm, src, now)) {
		if (np_log_limit(&mg->log.rate, now))
			np_warn("MGCP from %s over its rate limit: dropped",
				np_sockaddr_str(src, where, sizeof(where)));
		return;
	}
	if (pair >= 0 && !np_realm_admits(&core->cfg->realms[realm], src)) {
		core->stats.denied++;
		return;
	}
	if (len > MAX_DATAGRAM)
		return;
	n = np_mgcp_split(buf, len, starts, lens, NP_MGCP_PIGGY_MAX);
	if (n < 0) {
		core->stats.malformed++;
		return;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return;
	for (i = 0; i < n; i++) {
		/* Each message finds its gateway again: one before it may
		 * have made it, or released it. */
		if (pair >= 0) {
			t = np_term_by_nat(core, (size_t)pair, src);
			if (t && t->driver != &mg->driver) {
				core->stats.unmatched++;
				break;
			}
		} else {
			t = np_term_by_core_port(core, realm, local_port);
			if (t && t->driver != &mg->driver)
				break;
		}
		if (t)
			t->last_heard = now;
		one_message(mg, realm, local_port, pair, t, src,
			    buf + starts[i], lens[i], now, m);
	}
	free(m);
}

void np_mgcp_tick(struct np_mgcp *mg, time_t now)
{
	mg->now = now;
	np_gwtxn_expire(&mg->txns, now, NP_MGCP_T_HIST, NP_MGCP_TXN_LIFETIME);
}

/* --- hooks ------------------------------------------------------------------ */

/* Sends a command of ours (text, with %u for the transaction id) from
 * realm to the gateway (to_gw) or the call agent; remembered, so its
 * response stops here. */
static bool send_own(struct np_mgcp *mg, struct np_term *t, bool to_gw,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static bool send_own(struct np_mgcp *mg, struct np_term *t, bool to_gw,
		     const char *fmt, ...)
{
	struct np_core *core = mg->core;
	const struct np_pair *pair = np_core_pair(core, t);
	struct np_mgcp_txn *x;
	struct mctx c;
	char buf[1024];
	va_list ap;
	int n;

	ctx_init(&c, mg, t);
	c.now = mg->now;
	x = txn_new(&c, to_gw ? NP_MGCP_OWN_GW : NP_MGCP_OWN_CA, 0, "own");
	if (!x)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n <= 0 || (size_t)n >= sizeof(buf)) {
		txn_free(mg, x);
		return false;
	}
	/* The id goes in where the text has "%TX%". */
	{
		char out[1100], *p = strstr(buf, "%TX%");

		if (!p) {
			txn_free(mg, x);
			return false;
		}
		n = snprintf(out, sizeof(out), "%.*s%u%s", (int)(p - buf), buf,
			     x->base.out_id, p + 4);
		if (n <= 0 || (size_t)n >= sizeof(out)) {
			txn_free(mg, x);
			return false;
		}
		if (send_text(mg, to_gw ? pair->first : pair->second,
			      to_gw ? core->cfg->realms[pair->first].mgcp_port :
				      t->core_port,
			      to_gw ? &t->nat : &pair->call_agent, out,
			      (size_t)n)) {
			txn_free(mg, x);
			return false;
		}
	}
	return true;
}

/* The keepalive (claim 3): AUEP on an endpoint the gateway named (Oracle's
 * audit-interval does the same); any answer proves the binding open. */
static bool mgcp_keepalive(void *ctx, struct np_term *t)
{
	struct np_mgcp *mg = ctx;
	const struct np_mgcp_gw *gw = t->signaling;

	if (!gw || !gw->endpoint[0])
		return false;
	if (!send_own(mg, t, true, "AUEP %%TX%% %s MGCP 1.0\r\n", gw->endpoint))
		return false;
	mg->ctr[np_core_pair(mg->core, t)->first].commands_out[NP_MGCP_AUEP]++;
	return true;
}

/*
 * The core ends a connection on its own (media timeout, gateway lost):
 * DLCX to the gateway, and to the call agent as a gateway deleting a
 * connection would (RFC 3435 2.3.8, reason 902: loss of lower layer
 * connectivity).
 */
static void mgcp_call_abort(void *ctx, struct np_term *t, struct np_call *call,
			    enum np_end_reason why)
{
	struct np_mgcp *mg = ctx;
	const struct np_mgcp_conn *k = call->dialog;
	char ep[NP_MGCP_NAME_MAX];
	struct mctx c;

	if (!k || !k->conn_id[0])
		return;
	if (why != NP_END_TERMINAL_LOST && why != NP_END_KEEPALIVE_LOST)
		send_own(mg, t, true,
			 "DLCX %%TX%% %s MGCP 1.0\r\nC: %s\r\nI: %s\r\n",
			 k->endpoint, k->call_id, k->conn_id);
	ctx_init(&c, mg, t);
	scopy(ep, sizeof(ep), k->endpoint);
	ep_to_ca(&c, ep, sizeof(ep));
	send_own(mg, t, false,
		 "DLCX %%TX%% %s MGCP 1.0\r\nC: %s\r\nI: %s\r\nE: 902 %s\r\n",
		 ep, k->call_id, k->conn_id, np_end_reason_names[why]);
}

static void mgcp_term_free(void *ctx, struct np_term *t)
{
	struct np_mgcp *mg = ctx;

	np_gwtxn_drop(&mg->txns, t);
	free(t->signaling);
	t->signaling = NULL;
}

/* The state file's text of a gateway (its domain, the endpoint its
 * keepalive audits) or of a connection (endpoint, call id, connection id,
 * the gateway's last LocalConnectionDescriptor), fields split by US. Open
 * transactions are not kept: the call agent sends its command again.
 * The description goes last: any byte of it is its own. */
#define STATE_SEP '\x1f'

static int mgcp_state_put(void *ctx, const struct np_term *t,
			  const struct np_call *call, char *buf, size_t len)
{
	const struct np_mgcp_gw *gw = t->signaling;
	const struct np_mgcp_conn *k = call ? call->dialog : NULL;
	int n;

	(void)ctx;
	if (call && k)
		n = snprintf(buf, len, "%s\x1f%s\x1f%s\x1f%.*s", k->endpoint,
			     k->call_id, k->conn_id, (int)k->lcd_len, k->lcd);
	else if (call)
		n = snprintf(buf, len, "\x1f\x1f\x1f");
	else
		n = snprintf(buf, len, "%s\x1f%s", gw ? gw->domain : "",
			     gw ? gw->endpoint : "");
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static int mgcp_state_get(void *ctx, bool call, const char *text, void **out)
{
	char copy[NP_MGCP_NAME_MAX + 3 * 64 + 2048 + 8], *f[4];
	struct np_mgcp_conn *k;
	struct np_mgcp_gw *gw;

	(void)ctx;
	if (strlen(text) >= sizeof(copy))
		return -EINVAL;
	strcpy(copy, text);
	if (np_fields_split(copy, STATE_SEP, f, call ? 4 : 2))
		return -EINVAL;
	if (!call) {
		if (strlen(f[0]) >= sizeof(gw->domain) ||
		    strlen(f[1]) >= sizeof(gw->endpoint))
			return -EINVAL;
		gw = calloc(1, sizeof(*gw));
		if (!gw)
			return -ENOMEM;
		strcpy(gw->domain, f[0]);
		strcpy(gw->endpoint, f[1]);
		*out = gw;
		return 0;
	}
	if (strlen(f[0]) >= sizeof(k->endpoint) ||
	    strlen(f[1]) >= sizeof(k->call_id) ||
	    strlen(f[2]) >= sizeof(k->conn_id) ||
	    strlen(f[3]) > sizeof(k->lcd))
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	strcpy(k->endpoint, f[0]);
	strcpy(k->call_id, f[1]);
	strcpy(k->conn_id, f[2]);
	k->lcd_len = strlen(f[3]);
	memcpy(k->lcd, f[3], k->lcd_len);
	*out = k;
	return 0;
}

static int counters_grow(struct np_mgcp *mg, size_t n)
{
	int err = np_array_grow((void **)&mg->ctr, sizeof(*mg->ctr), mg->n_ctr,
				n);

	if (!err && n > mg->n_ctr)
		mg->n_ctr = n;
	return err;
}

int np_mgcp_init(struct np_mgcp *mg, struct np_core *core)
{
	uint32_t first = 0;
	int err;

	memset(mg, 0, sizeof(*mg));
	mg->core = core;
	mg->driver = (struct np_driver){
		.name = "mgcp",
		.keepalive = mgcp_keepalive,
		.call_abort = mgcp_call_abort,
		.term_free = mgcp_term_free,
		.state_put = mgcp_state_put,
		.state_get = mgcp_state_get,
		.ctx = mg,
	};
	if (core->io->wall)
		first = np_gwtxn_first_id(core->io->wall(core->io_ctx));
	err = np_gwtxn_init(&mg->txns, first, NP_MGCP_TXID_MAX);
	return err ? err : counters_grow(mg, core->cfg->n_realms);
}

int np_mgcp_reconfigure(struct np_mgcp *mg)
{
	return counters_grow(mg, mg->core->cfg->n_realms);
}

void np_mgcp_fini(struct np_mgcp *mg)
{
	np_gwtxn_fini(&mg->txns);
	free(mg->ctr);
	mg->ctr = NULL;
	mg->n_ctr = 0;
}
