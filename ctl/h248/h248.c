// SPDX-License-Identifier: GPL-2.0-only
/*
 * The H.248 driver (h248.h): a datagram on a pair's H.248 access socket
 * (from a gateway, known or new) or on a gateway's core address (from the
 * MGC) is admitted, parsed (h248msg.h), and each of its transactions,
 * replies, Pendings and acknowledgements relayed on its own, with the
 * header mId, ServiceChangeAddress, MgcIdToTry and transaction ids
 * rewritten and the SDP of Local/Remote through the core's offer/answer.
 * The hooks the core calls back (keepalive, a call ended by the core,
 * frees) are at the end.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "h248/h248.h"
#include "h248/h248sdp.h"
#include "log.h"

#define OUT_MAX (2 * 65536)
#define SDP_MAX 4096 /* an SDP of Local or Remote, rewritten */

/* One datagram on its way, with the gateway it concerns. */
struct hctx {
	struct np_h248 *h;
	struct np_core *core;
	struct np_term *t;
	struct np_h248_gw *gw;
	const struct np_pair *pair;
	size_t acc, cor;
	struct np_sockaddr src;
	size_t realm;
	uint16_t port;
	bool from_mg;
	time_t now;
	struct np_h248_msg *m;
	struct np_h248_edits *ed;
	/* An edit did not fit: nothing of this message goes on (it could
	 * carry an address that was to be rewritten). */
	bool overflow;
};

static void scopy(char *d, size_t n, const char *s)
{
	size_t l = strlen(s);

	if (l >= n)
		l = n - 1;
	memcpy(d, s, l);
	d[l] = 0;
}

/* "[192.0.2.1]:2944": an address and port as an mId (RFC 3525 B.2). */
static const char *mid_of(const struct np_sockaddr *a, uint16_t port, char *out,
			  size_t n)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family, &a->addr, host, sizeof(host)))
		host[0] = 0;
	snprintf(out, n, "[%s]:%u", host, port);
	return out;
}

/* The gateway's identity on the core side, and ours toward it. */
static const char *core_mid(const struct hctx *c, char *out, size_t n)
{
	return mid_of(&c->core->cfg->realms[c->cor].address, c->t->core_port,
		      out, n);
}

static const char *acc_mid(const struct hctx *c, char *out, size_t n)
{
	const struct np_realm *r = &c->core->cfg->realms[c->acc];

	return mid_of(&r->address, r->h248_port, out, n);
}

static void ctx_init(struct hctx *c, struct np_h248 *h, struct np_term *t)
{
	memset(c, 0, sizeof(*c));
	c->h = h;
	c->core = h->core;
	c->t = t;
	c->gw = t ? t->signaling : NULL;
	if (t) {
		c->pair = np_core_pair(h->core, t);
		c->acc = c->pair->first;
		c->cor = c->pair->second;
	}
}

/* --- sending -------------------------------------------------------------- */

static int send_text(struct np_h248 *h, size_t realm, uint16_t from_port,
		     const struct np_sockaddr *to, const char *buf, size_t len)
{
	int err = h->core->io->send(h->core->io_ctx, realm, from_port, to, buf,
				    len);

	if (!err)
		h->core->stats.forwarded++;
	return err;
}

/* To the gateway (from the access socket) or the MGC (from its core
 * address). */
static int send_to(struct hctx *c, bool to_mg, const char *buf, size_t len)
{
	if (to_mg)
		return send_text(c->h, c->acc,
				 c->core->cfg->realms[c->acc].h248_port,
				 &c->t->nat, buf, len);
	return send_text(c->h, c->cor, c->t->core_port, &c->pair->mgc, buf,
			 len);
}

/* A message-level error of ours (H.248.1 8.2.2, RFC 3525 B.2 errorDescriptor)
 * to src, with mid as our mId. */
static void answer_error(struct np_h248 *h, size_t realm, uint16_t port,
			 const struct np_sockaddr *to, const char *mid,
			 uint32_t id, int code, const char *text)
{
	char buf[512];
	int n;

	if (id)
		n = snprintf(buf, sizeof(buf),
			     "MEGACO/1 %s\r\nReply = %u {\r\n\tError = %d "
			     "{\"%s\"}\r\n}\r\n",
			     mid, id, code, text);
	else
		n = snprintf(buf, sizeof(buf),
			     "MEGACO/1 %s\r\nError = %d {\"%s\"}\r\n", mid,
			     code, text);
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    !send_text(h, realm, port, to, buf, (size_t)n)) {
		if (realm < h->n_ctr)
			h->ctr[realm].answered++;
		if (code == 400)
			h->core->stats.answered_400++;
	}
}

/* --- transactions --------------------------------------------------------- */

static struct np_h248_txn *txn_by_in(struct np_h248 *h, enum np_h248_dir dir,
				     const struct np_term *t, uint32_t id)
{
	return (struct np_h248_txn *)np_gwtxn_by_in(&h->txns, dir, t, id);
}

/* The transaction whose command went out to the gateway t (to_mg) or to
 * the MGC on t's behalf as id. */
static struct np_h248_txn *txn_by_out(struct np_h248 *h, bool to_mg,
				      const struct np_term *t, uint32_t id)
{
	return (struct np_h248_txn *)np_gwtxn_by_out(&h->txns, to_mg, t, id);
}

/* Ours get an id unique among the open transactions: gateways behind the
 * proxy number theirs alike (H.248.1 8.2.1: ids are unique per sender). */
static struct np_h248_txn *txn_new(struct hctx *c, enum np_h248_dir dir,
				   uint32_t in_id)
{
	struct np_h248_txn *x = (struct np_h248_txn *)np_gwtxn_new(
		&c->h->txns, sizeof(*x), dir,
		dir == NP_H248_FROM_MGC || dir == NP_H248_OWN_MG, c->t, in_id,
		c->gw ? &c->gw->open_txns : NULL, c->now);

	if (!x)
		return NULL;
	x->base.src = c->src;
	x->base.src_realm = c->realm;
	x->base.src_port = c->port;
	return x;
}

/* A walk over every transaction (the next one kept before a free). */
static struct np_h248_txn *txn_first(struct np_h248 *h)
{
	return (struct np_h248_txn *)np_gwtxn_next(&h->txns, NULL);
}

static struct np_h248_txn *txn_after(struct np_h248 *h, struct np_h248_txn *x)
{
	return (struct np_h248_txn *)np_gwtxn_next(&h->txns, &x->base);
}

static void txn_free(struct np_h248 *h, struct np_h248_txn *x)
{
	np_gwtxn_free(&h->txns, &x->base);
}

/* --- the message's tree --------------------------------------------------- */

static bool named(const struct hctx *c, int i, const char *l, const char *s)
{
	return np_h248_named(c->m, i, l, s);
}

const char *const np_h248_command_names[NP_H248_COMMAND_MAX] = {
	NP_H248_COMMANDS(NP_NAME_ENTRY)
};

/* The short tokens of the commands (RFC 3525 B.2), in the enum's order. */
static const char *const command_tokens[NP_H248_COMMAND_MAX] = {
	"A", "MF", "S", "MV", "AV", "AC", "N", "SC",
};

/* Which command node i is, its O- and W- prefixes (RFC 3525 B.2) aside;
 * -1 if it is none. */
static int command_of(const struct hctx *c, int i)
{
	const struct np_h248_node *n = &c->m->nodes[i];
	const char *p = c->m->buf + n->name_off;
	size_t len = n->name_len;
	char name[32];
	int k;

	while (len > 2 &&
	       (p[0] == 'O' || p[0] == 'o' || p[0] == 'W' || p[0] == 'w') &&
	       p[1] == '-') {
		p += 2;
		len -= 2;
	}
	if (len >= sizeof(name))
		return -1;
	memcpy(name, p, len);
	name[len] = 0;
	for (k = 0; k < NP_H248_COMMAND_MAX; k++)
		if (!strcasecmp(name, np_h248_command_names[k]) ||
		    !strcasecmp(name, command_tokens[k]))
			return k;
	return -1;
}

/* A command's kind: 'A'dd, 'M'odify, 'V' move, 'S'ubtract, 'C' another
 * command, 0 not a command. */
static char cmd_kind(const struct hctx *c, int i)
{
	switch (command_of(c, i)) {
	case NP_H248_ADD:
		return 'A';
	case NP_H248_MODIFY:
		return 'M';
	case NP_H248_MOVE:
		return 'V';
	case NP_H248_SUBTRACT:
		return 'S';
	case -1:
		return 0;
	default:
		return 'C';
	}
}

/* Counts the commands of transaction node tr into v (a realm's
 * commands_in or commands_out). */
static void count_commands(const struct hctx *c, int tr, uint64_t *v)
{
	int ctx = -1, cmd, k;

	while ((ctx = np_h248_child(c->m, tr, ctx)) >= 0)
		for (cmd = -1; (cmd = np_h248_child(c->m, ctx, cmd)) >= 0;)
			if ((k = command_of(c, cmd)) >= 0)
				v[k]++;
}

static bool descends(const struct hctx *c, int i, int anc)
{
	while (i >= 0 && i != anc)
		i = c->m->nodes[i].parent;
	return i == anc;
}

/* The first descendant of node anc named l/s, or -1. */
static int find_in(const struct hctx *c, int anc, const char *l, const char *s)
{
	size_t i;

	for (i = (size_t)anc + 1; i < c->m->n; i++) {
		if (c->m->nodes[i].depth <= c->m->nodes[anc].depth)
			break;
		if (named(c, (int)i, l, s) && descends(c, (int)i, anc))
			return (int)i;
	}
	return -1;
}

static uint32_t node_id(const struct hctx *c, int i, bool *ok)
{
	char v[16], *end;
	unsigned long id;

	np_h248_text(c->m, i, false, v, sizeof(v));
	id = strtoul(v, &end, 10);
	*ok = v[0] && !*end && id <= 0xffffffffu && c->m->nodes[i].val_len < 11;
	return (uint32_t)id;
}

static int edit_str(struct hctx *c, size_t off, size_t len, const char *s)
{
	int err = np_h248_edit(c->ed, off, len, s, strlen(s));

	if (err)
		c->overflow = true;
	return err;
}

/* mId of the header, ServiceChangeAddress and MgcIdToTry (in a Services
 * descriptor) pointed at the sender's stand-in: toward the MGC the
 * gateway's core identity, toward the gateway our access address. */
static void rewrite_names(struct hctx *c)
{
	char mid[80];
	size_t i;

	if (c->from_mg)
		core_mid(c, mid, sizeof(mid));
	else
		acc_mid(c, mid, sizeof(mid));
	edit_str(c, c->m->mid_off, c->m->mid_len, mid);
	for (i = 0; i < c->m->n; i++) {
		const struct np_h248_node *n = &c->m->nodes[i];

		if (!n->val_len || n->parent < 0 ||
		    !named(c, n->parent, "Services", "SV"))
			continue;
		if (named(c, (int)i, "ServiceChangeAddress", "AD") ||
		    (!c->from_mg && named(c, (int)i, "MgcIdToTry", "MG")))
			edit_str(c, n->val_off, n->val_len, mid);
	}
}

/* --- media ---------------------------------------------------------------- */

/* The SDP in a Local/Remote node: [*off, *off + *len), white space around
 * it left out. */
static void sdp_range(const struct hctx *c, int i, size_t *off, size_t *len)
{
	const struct np_h248_node *n = &c->m->nodes[i];
	size_t a = n->body_off, b = n->body_off + n->body_len;

	size_t end = b;

	while (a < b && strchr(" \t\r\n", c->m->buf[a]))
		a++;
	/* The last line keeps its end; blank lines and the indentation of
	 * the closing brace after it stay out (erlang-megaco's pretty
	 * encoder writes "m=...\r\n\n\t\t\t\t}"). */
	while (b > a && strchr(" \t\r\n", c->m->buf[b - 1]))
		b--;
	if (b < end && c->m->buf[b] == '\r')
		b++;
	if (b < end && c->m->buf[b] == '\n')
		b++;
	*off = a;
	*len = b - a;
}

/* Whether the SDP holds a `$` or CHOOSE placeholder (left alone). */
static bool placeholder(const char *sdp, size_t len)
{
	return memchr(sdp, '$', len) || memmem(sdp, len, "CHOOSE", 6);
}

/* H.248 SDP (sdp, len) from one side through the core's offer (offer) or
 * answer: filled in to what RFC 4566 requires first, the lines filled in
 * taken out of what the core wrote into out (h248sdp.h). */
static int offer_answer(struct hctx *c, struct np_call *call,
			enum np_side from, bool offer, const char *sdp,
			size_t len, char *out, size_t *olen, const char **why)
{
	struct np_h248_sdp_fill added;
	char *full = malloc(SDP_MAX);
	size_t flen;
	int err;

	if (!full)
		return -ENOMEM;
	err = np_h248_sdp_fill(sdp, len, full, SDP_MAX, &flen, &added);
	if (err)
		*why = "SDP too long";
	else if (offer)
		err = np_media_offer(c->core, c->t, call, from, full, flen, out,
				     SDP_MAX, olen, why);
	else
		err = np_media_answer(c->core, c->t, call, from, NULL, full,
				      flen, out, SDP_MAX, olen, why);
	if (!err)
		*olen = np_h248_sdp_unfill(out, *olen, &added);
	free(full);
	return err;
}

/* The SDP of node i through offer/answer; the rewritten SDP replaces it.
 * 0, or -errno (the node left as it was). */
static int media(struct hctx *c, struct np_call *call, int i, enum np_side from,
		 bool offer)
{
	char *out = malloc(SDP_MAX);
	const char *why = "";
	size_t off, len, olen = 0;
	int err;

	if (!out)
		return -ENOMEM;
	sdp_range(c, i, &off, &len);
	err = offer_answer(c, call, from, offer, c->m->buf + off, len, out,
			   &olen, &why);
	if (!err)
		err = np_h248_edit(c->ed, off, len, out, olen);
	if (err)
		np_warn("termination '%s': SDP %s: %s", call->id,
			offer ? "offer" : "answer", why ? why : strerror(-err));
	else if (!offer)
		np_call_answered(c->core, c->t, call, c->now);
	free(out);
	return err;
}

/* The SDP of node i, unless absent or a placeholder. */
static bool has_sdp(const struct hctx *c, int i)
{
	size_t off, len;

	if (i < 0)
		return false;
	sdp_range(c, i, &off, &len);
	return len && !placeholder(c->m->buf + off, len);
}

/* The call named by its context and termination, as the gateway chose
 * them. */
static void call_name(const struct hctx *c, struct np_call *call)
{
	const struct np_h248_term *k = call->dialog;
	char id[sizeof(call->id)];

	if (k->stream > 1)
		snprintf(id, sizeof(id), "h248:%s/%s#%u", k->ctx, k->term,
			 k->stream);
	else
		snprintf(id, sizeof(id), "h248:%s/%s", k->ctx, k->term);
	np_call_rename(c->core, c->t, call, id);
}

/* The calls of a context and termination (`*` and an empty context: any). */
static struct np_call *term_next(struct np_term *t, const char *ctx,
				 const char *term)
{
	struct np_call *call;

	for (call = t->calls; call; call = call->next) {
		const struct np_h248_term *k = call->dialog;
		size_t tl = strlen(term);

		if (!k || (ctx[0] && strcmp(ctx, "*") && strcmp(ctx, k->ctx)))
			continue;
		if (!strcmp(term, "*") || !strcasecmp(term, k->term) ||
		    (tl && term[tl - 1] == '*' &&
		     !strncasecmp(term, k->term, tl - 1)))
			return call;
	}
	return NULL;
}

/* The call of one stream of a termination, or NULL. */
static struct np_call *stream_call(struct np_term *t, const char *ctx,
				   const char *term, unsigned stream)
{
	struct np_call *call;

	for (call = t->calls; call; call = call->next) {
		const struct np_h248_term *k = call->dialog;

		if (k && k->stream == stream && !strcmp(ctx, k->ctx) &&
		    !strcasecmp(term, k->term))
			return call;
	}
	return NULL;
}

static void terms_end(struct hctx *c, const char *ctx, const char *term,
		      enum np_end_reason why)
{
	struct np_call *call;

	while ((call = term_next(c->t, ctx, term)))
		np_call_end(c->core, c->t, call, why, c->now);
}

/*
 * The streams of a command's Media descriptor: each `Stream = N {...}`
 * node and its id, or the Media node itself as stream 1 when it holds
 * Local/Remote without a Stream (a single stream, H.248.1 7.1.4). Their
 * number (at most max); 0 without Media.
 */
static size_t streams_of(const struct hctx *c, int cmd, int *nodes,
			 unsigned *ids, size_t max)
{
	int media = find_in(c, cmd, "Media", "M"), i = -1;
	size_t n = 0;
	bool ok;

	if (media < 0)
		return 0;
	while ((i = np_h248_child(c->m, media, i)) >= 0 && n < max) {
		if (!named(c, i, "Stream", "ST"))
			continue;
		ids[n] = node_id(c, i, &ok);
		if (ok && ids[n]) {
			nodes[n] = i;
			n++;
		}
	}
	if (!n && max) {
		nodes[0] = media;
		ids[0] = 1;
		n = 1;
	}
	return n;
}

/* The node of stream `stream` in a reply's command cmd: its Stream node,
 * or the command itself for stream 1 when the reply names no stream. */
static int reply_stream(const struct hctx *c, int cmd, unsigned stream)
{
	int nodes[NP_H248_OPS_MAX];
	unsigned ids[NP_H248_OPS_MAX];
	size_t n = streams_of(c, cmd, nodes, ids, NP_H248_OPS_MAX), i;

	for (i = 0; i < n; i++)
		if (ids[i] == stream)
			return nodes[i];
	return stream == 1 ? cmd : -1;
}

/* An Add or Move of the MGC's (or a Modify that adds a stream): a new
 * call for the stream at node st, its Remote SDP an offer from the far
 * side. 0, or the error code for the MGC. */
static int mgc_add(struct hctx *c, struct np_h248_txn *x, struct np_h248_op *op,
		   int st)
{
	struct np_h248_term *k = calloc(1, sizeof(*k));
	int remote = find_in(c, st, "Remote", "R");
	struct np_call *call;
	char name[256], to[80];
	int err;

	if (!k)
		return 510;
	scopy(k->ctx, sizeof(k->ctx), op->ctx);
	scopy(k->term, sizeof(k->term), op->term);
	k->stream = op->stream;
	snprintf(name, sizeof(name), "h248:?%u/%d#%u", x->base.out_id, op->cmd,
		 op->stream);
	call = np_call_new(c->core, c->t, name, false, c->now);
	if (!call) {
		free(k);
		return 510;
	}
	call->dialog = k;
	snprintf(call->from, sizeof(call->from), "%s@", op->term);
	core_mid(c, call->from + strlen(call->from),
		 sizeof(call->from) - strlen(call->from));
	scopy(call->to, sizeof(call->to),
	      np_sockaddr_str(&c->pair->mgc, to, sizeof(to)));
	scopy(op->call_key, sizeof(op->call_key), call->id);
	if (!has_sdp(c, remote))
		return 0;
	err = media(c, call, remote, NP_SIDE_FAR, true);
	if (err) {
		np_call_end(c->core, c->t, call, NP_END_REFUSED, c->now);
		return err == -EBUSY ? 510 : 449;
	}
	op->offered = true;
	return 0;
}

/* A Modify of the stream at node st: an offer or the answer; a stream
 * the termination did not have yet (its other streams known) is added. */
static int mgc_modify(struct hctx *c, struct np_h248_txn *x,
		      struct np_h248_op *op, int st)
{
	struct np_call *call;
	int remote = find_in(c, st, "Remote", "R");
	bool offer;
	int err;

	if (!strcmp(op->term, "*") || !strcmp(op->ctx, "*"))
		return 0;
	call = stream_call(c->t, op->ctx, op->term, op->stream);
	if (!call && term_next(c->t, op->ctx, op->term)) {
		op->kind = NP_H248_OP_ADD;
		return mgc_add(c, x, op, st);
	}
	if (!call)
		return 0;
	scopy(op->call_key, sizeof(op->call_key), call->id);
	if (!has_sdp(c, remote))
		return 0;
	offer = call->pending != NP_SIDE_TERM;
	err = media(c, call, remote, NP_SIDE_FAR, offer);
	if (err)
		return err == -EBUSY ? 510 : 449;
	op->offered = offer;
	return 0;
}

/* The MGC's media commands of transaction node tr. 0, or an error code. */
static int mgc_commands(struct hctx *c, struct np_h248_txn *x, int tr)
{
	int ctx = -1, cmd, k = 0, code = 0;

	while ((ctx = np_h248_child(c->m, tr, ctx)) >= 0) {
		if (!named(c, ctx, "Context", "C"))
			continue;
		for (cmd = -1; (cmd = np_h248_child(c->m, ctx, cmd)) >= 0;) {
			char kind = cmd_kind(c, cmd);
			int nodes[NP_H248_OPS_MAX];
			unsigned ids[NP_H248_OPS_MAX];
			size_t n = 1, s;

			if (!kind)
				continue;
			k++;
			if (kind == 'C')
				continue;
			if (kind != 'S') {
				n = streams_of(c, cmd, nodes, ids,
					       NP_H248_OPS_MAX);
				/* An Add without Media still makes the
				 * termination's call (stream 1). */
				if (!n && kind != 'M') {
					nodes[0] = cmd;
					ids[0] = 1;
					n = 1;
				}
			}
			for (s = 0; s < n && x->n_ops < NP_H248_OPS_MAX; s++) {
				struct np_h248_op *op = &x->ops[x->n_ops++];

				memset(op, 0, sizeof(*op));
				op->cmd = k;
				np_h248_text(c->m, ctx, false, op->ctx,
					     sizeof(op->ctx));
				np_h248_text(c->m, cmd, false, op->term,
					     sizeof(op->term));
				if (kind == 'S') {
					op->kind = NP_H248_OP_SUB;
					continue;
				}
				op->stream = ids[s];
				if (kind == 'A' || kind == 'V') {
					op->kind = NP_H248_OP_ADD;
					code = mgc_add(c, x, op, nodes[s]);
				} else {
					op->kind = NP_H248_OP_MODIFY;
					code = mgc_modify(c, x, op, nodes[s]);
				}
				if (code)
					return code;
			}
		}
	}
	return 0;
}

static void keep_lcd(const struct hctx *c, struct np_call *call, int local)
{
	struct np_h248_term *k = call->dialog;
	size_t off, len;

	sdp_range(c, local, &off, &len);
	if (len < sizeof(k->lcd)) {
		memcpy(k->lcd, c->m->buf + off, len);
		k->lcd_len = len;
		np_call_changed(c->core, c->t, call); /* the call's record */
	}
}

/* A gateway's reply to an Add/Move: the call named, its Local SDP the
 * answer (or the offer when the Add had no Remote). */
static void add_done(struct hctx *c, struct np_h248_op *op, int ctx, int cmd)
{
	struct np_call *call = np_call_find(c->core, c->t, op->call_key);
	struct np_h248_term *k = call ? call->dialog : NULL;
	int local;

	if (!call)
		return;
	if (cmd < 0 || find_in(c, cmd, "Error", "ER") >= 0) {
		np_call_end(c->core, c->t, call, NP_END_REJECTED, c->now);
		return;
	}
	np_h248_text(c->m, ctx, false, k->ctx, sizeof(k->ctx));
	np_h248_text(c->m, cmd, false, k->term, sizeof(k->term));
	snprintf(call->from, sizeof(call->from), "%s@", k->term);
	core_mid(c, call->from + strlen(call->from),
		 sizeof(call->from) - strlen(call->from));
	call_name(c, call); /* the journal's record, by its new name */
	local = reply_stream(c, cmd, op->stream);
	local = local < 0 ? -1 : find_in(c, local, "Local", "L");
	if (!has_sdp(c, local))
		return;
	keep_lcd(c, call, local);
	if (media(c, call, local, NP_SIDE_TERM, !op->offered)) {
		/* Fail closed: no private address reaches the MGC. */
		size_t off, len;

		sdp_range(c, local, &off, &len);
		np_h248_edit(c->ed, off, len, "", 0);
		np_call_end(c->core, c->t, call, NP_END_REFUSED, c->now);
	}
}

static void modify_done(struct hctx *c, struct np_h248_op *op, int cmd)
{
	struct np_call *call = np_call_find(c->core, c->t, op->call_key);
	struct np_h248_term *k = call ? call->dialog : NULL;
	char *out;
	const char *why;
	size_t len;
	int local;

	if (!call)
		return;
	if (cmd < 0 || find_in(c, cmd, "Error", "ER") >= 0) {
		if (call->pending)
			np_media_rollback(c->core, c->t, call);
		return;
	}
	local = reply_stream(c, cmd, op->stream);
	local = local < 0 ? -1 : find_in(c, local, "Local", "L");
	if (has_sdp(c, local)) {
		keep_lcd(c, call, local);
		if (media(c, call, local, NP_SIDE_TERM,
			  call->pending != NP_SIDE_FAR)) {
			size_t off;

			sdp_range(c, local, &off, &len);
			np_h248_edit(c->ed, off, len, "", 0);
		}
		return;
	}
	/* No Local in the reply: its last one answers the MGC's offer. */
	if (call->pending == NP_SIDE_FAR && k->lcd_len) {
		out = malloc(SDP_MAX);
		if (out && !offer_answer(c, call, NP_SIDE_TERM, false, k->lcd,
					 k->lcd_len, out, &len, &why))
			np_call_answered(c->core, c->t, call, c->now);
		free(out);
	}
}

/* The gateway's reply (node rp) to the MGC's media commands. */
static void mg_reply_media(struct hctx *c, struct np_h248_txn *x, int rp)
{
	int ctx = -1, cmd, k = 0;
	size_t i;
	int cmds[NP_H248_OPS_MAX * 4], ctxs[NP_H248_OPS_MAX * 4];

	while ((ctx = np_h248_child(c->m, rp, ctx)) >= 0) {
		if (!named(c, ctx, "Context", "C"))
			continue;
		for (cmd = -1; (cmd = np_h248_child(c->m, ctx, cmd)) >= 0;) {
			if (!cmd_kind(c, cmd))
				continue;
			if (k < (int)(sizeof(cmds) / sizeof(cmds[0]))) {
				cmds[k] = cmd;
				ctxs[k] = ctx;
			}
			k++;
		}
	}
	for (i = 0; i < x->n_ops; i++) {
		struct np_h248_op *op = &x->ops[i];
		int n = op->cmd - 1;
		int cm = n < k && n < (int)(sizeof(cmds) / sizeof(cmds[0])) ?
				 cmds[n] :
				 -1;
		int cx = cm >= 0 ? ctxs[n] : -1;

		if (op->kind == NP_H248_OP_ADD) {
			add_done(c, op, cx, cm);
		} else if (op->kind == NP_H248_OP_MODIFY) {
			modify_done(c, op, cm);
		} else if (cm >= 0 && find_in(c, cm, "Error", "ER") < 0) {
			/* Subtract done: the termination's call ends. */
			terms_end(c, op->ctx, op->term, NP_END_BYE);
		}
	}
}

/* --- relaying ------------------------------------------------------------- */

/* Writes the item [from, to) with the header and the edits into a new
 * buffer. */
static int dump(struct hctx *c, size_t from, size_t to, char **out, size_t *len)
{
	char *buf;
	int n;

	if (c->overflow) {
		c->core->stats.malformed++;
		return -E2BIG;
	}
	buf = malloc(OUT_MAX);
	if (!buf)
		return -ENOMEM;
	n = np_h248_write(c->m, c->ed, from, to, buf, OUT_MAX);
	if (n < 0) {
		free(buf);
		return n;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

static void retransmit(struct hctx *c, struct np_h248_txn *x)
{
	c->h->ctr[c->realm].retransmissions++;
	if (x->base.resp)
		send_text(c->h, x->base.src_realm, x->base.src_port, &x->base.src, x->base.resp,
			  x->base.resp_len);
	else if (x->base.cmd)
		send_to(c, !c->from_mg, x->base.cmd, x->base.cmd_len);
}

/* Whether transaction node tr holds a ServiceChange on ROOT: a gateway
 * (re)starting, whose transaction ids start again (H.248.1 11.4). */
static bool root_service_change(const struct hctx *c, int tr)
{
	int i = find_in(c, tr, "ServiceChange", "SC");
	char term[8];

	if (i < 0)
		return false;
	np_h248_text(c->m, i, false, term, sizeof(term));
	return !strcasecmp(term, "ROOT");
}

/* The replied transactions between the gateway and the MGC, forgotten
 * when the gateway restarts: its new ones with the old ids are not
 * retransmissions, nor are the MGC's (erlang-megaco numbers a new
 * connection to the gateway from 1 again). */
static void forget_replied(struct hctx *c)
{
	struct np_h248_txn *x, *next;

	for (x = txn_first(c->h); x; x = next) {
		next = txn_after(c->h, x);
		if ((x->base.dir == NP_H248_FROM_MG || x->base.dir == NP_H248_FROM_MGC) &&
		    x->base.t == c->t && x->base.done)
			txn_free(c->h, x);
	}
}

/* A Transaction (node tr, [from, to)) from either side. */
static void transaction(struct hctx *c, int tr, size_t from, size_t to)
{
	enum np_h248_dir dir = c->from_mg ? NP_H248_FROM_MG : NP_H248_FROM_MGC;
	const struct np_h248_node *n = &c->m->nodes[tr];
	uint32_t max =
		c->core->cfg->realms[c->acc].max_transactions_per_terminal;
	struct np_h248_txn *x;
	char id[16], mid[80];
	bool ok;
	uint32_t in = node_id(c, tr, &ok);
	uint64_t hash;
	bool restart;
	int code;

	if (!ok) {
		c->h->ctr[c->realm].malformed++;
		c->core->stats.malformed++;
		return;
	}
	c->h->ctr[c->realm].transactions_in++;
	count_commands(c, tr, c->h->ctr[c->realm].commands_in);
	hash = np_gwtxn_hash(c->m->buf + from, to - from);
	restart = c->from_mg && root_service_change(c, tr);
	x = txn_by_in(c->h, dir, c->t, in);
	/* A replied id again with other text, or a gateway's ServiceChange
	 * on ROOT again (a rebooted gateway numbers from 1 again, and its
	 * first message may be the very text of its last boot's): a new
	 * transaction. A registration relayed twice costs the MGC nothing. */
	if (x && x->base.done && (x->base.in_hash != hash || restart))
		x = NULL;
	if (x) {
		retransmit(c, x);
		return;
	}
	if (restart)
		forget_replied(c);
	else if ((x = txn_by_in(c->h, dir, c->t, in)))
		txn_free(c->h, x);
	/* Our answers carry our mId toward the sender. */
	if (c->from_mg)
		acc_mid(c, mid, sizeof(mid));
	else
		core_mid(c, mid, sizeof(mid));
	if (c->from_mg && max && c->gw->open_txns >= max) {
		c->core->stats.over_limits++;
		answer_error(c->h, c->realm, c->port, &c->src, mid, in, 510,
			     "Insufficient resources");
		return;
	}
	x = txn_new(c, dir, in);
	if (!x) {
		answer_error(c->h, c->realm, c->port, &c->src, mid, in, 510,
			     "Insufficient resources");
		return;
	}
	x->base.in_hash = hash;
	if (!c->from_mg) {
		code = mgc_commands(c, x, tr);
		if (code) {
			answer_error(c->h, c->realm, c->port, &c->src, mid, in,
				     code,
				     code == 510 ? "Insufficient resources" :
						   "Unsupported SDP");
			txn_free(c->h, x);
			return;
		}
	}
	snprintf(id, sizeof(id), "%u", x->base.out_id);
	edit_str(c, n->val_off, n->val_len, id);
	if (dump(c, from, to, &x->base.cmd, &x->base.cmd_len)) {
		txn_free(c->h, x);
		return;
	}
	if (!send_to(c, !c->from_mg, x->base.cmd, x->base.cmd_len)) {
		size_t r = c->from_mg ? c->cor : c->acc;

		c->h->ctr[r].transactions_out++;
		count_commands(c, tr, c->h->ctr[r].commands_out);
	}
}

/* A Reply or Pending (node rp) to a transaction the other side sent. */
static void reply(struct hctx *c, int rp, size_t from, size_t to, bool pending)
{
	const struct np_h248_node *n = &c->m->nodes[rp];
	struct np_h248_txn *x;
	char id[16], *buf;
	size_t len;
	bool ok;
	uint32_t out = node_id(c, rp, &ok);

	if (!ok) {
		c->core->stats.malformed++;
		return;
	}
	c->h->ctr[c->realm].replies_in += !pending;
	c->h->ctr[c->realm].pendings += pending;
	x = txn_by_out(c->h, c->from_mg, c->t, out);
	if (!x) {
		c->core->stats.unmatched++;
		return;
	}
	if (x->base.dir == NP_H248_OWN_MG || x->base.dir == NP_H248_OWN_MGC) {
		/* Ours (a keepalive's reply): it ends here. */
		if (!pending)
			txn_free(c->h, x);
		return;
	}
	if (x->base.resp && !pending) {
		/* The reply again: the sender missed nothing new. */
		c->h->ctr[c->realm].retransmissions++;
		send_text(c->h, x->base.src_realm, x->base.src_port, &x->base.src, x->base.resp,
			  x->base.resp_len);
		return;
	}
	if (c->from_mg && !pending)
		mg_reply_media(c, x, rp);
	snprintf(id, sizeof(id), "%u", x->base.in_id);
	edit_str(c, n->val_off, n->val_len, id);
	if (dump(c, from, to, &buf, &len))
		return;
	if (!send_text(c->h, x->base.src_realm, x->base.src_port, &x->base.src, buf, len))
		c->h->ctr[x->base.src_realm].replies_out++;
	if (pending) {
		/* Pending (H.248.1 8.2.3): the transaction stays open. */
		free(buf);
		return;
	}
	np_gwtxn_replied(&x->base, buf, len, c->now);
}

/* TransactionResponseAck (node k): the sender's own transactions whose
 * replies it got, renumbered as the receiver knows them; they are done. */
static void response_ack(struct hctx *c, int k, size_t from, size_t to)
{
	enum np_h248_dir dir = c->from_mg ? NP_H248_FROM_MG : NP_H248_FROM_MGC;
	const struct np_h248_node *n = &c->m->nodes[k];
	char ids[1024], v[32], *buf;
	size_t len, w = 0;
	int i = -1;

	c->h->ctr[c->realm].acks++;
	ids[0] = 0;
	while ((i = np_h248_child(c->m, k, i)) >= 0) {
		struct np_h248_txn *x, *next;
		unsigned long lo, hi;
		char *end;

		np_h248_text(c->m, i, true, v, sizeof(v));
		lo = strtoul(v, &end, 10);
		hi = *end == '-' ? strtoul(end + 1, NULL, 10) : lo;
		for (x = txn_first(c->h); x; x = next) {
			next = txn_after(c->h, x);
			if (x->base.dir != (int)dir || x->base.t != c->t || !x->base.done ||
			    x->base.in_id < lo || x->base.in_id > hi)
				continue;
			if (w < sizeof(ids) - 16)
				w += (size_t)snprintf(ids + w, sizeof(ids) - w,
						      "%s%u", w ? ", " : "",
						      x->base.out_id);
			txn_free(c->h, x);
		}
	}
	if (!w || !n->body) {
		c->core->stats.unmatched++;
		return;
	}
	edit_str(c, n->body_off, n->body_len, ids);
	if (!dump(c, from, to, &buf, &len)) {
		send_to(c, !c->from_mg, buf, len);
		free(buf);
	}
}

/* Whether the message holds a ServiceChange (a gateway registering). */
static bool service_change(const struct np_h248_msg *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (np_h248_named(m, (int)i, "ServiceChange", "SC") ||
		    np_h248_named(m, (int)i, "O-ServiceChange", "O-SC"))
			return true;
	return false;
}

/* --- input ---------------------------------------------------------------- */

static int access_pair(const struct np_core *core, size_t realm, uint16_t port)
{
	size_t i;

	for (i = 0; i < core->cfg->n_pairs; i++)
		if (core->cfg->pairs[i].first == realm &&
		    core->cfg->pairs[i].mgc.family &&
		    core->cfg->realms[realm].h248_port == port)
			return (int)i;
	return -1;
}

bool np_h248_owns(const struct np_h248 *h, size_t realm, uint16_t local_port,
		  const char *buf, size_t len)
{
	struct np_term *t;

	if (access_pair(h->core, realm, local_port) >= 0)
		return true;
	t = np_term_by_core_port(h->core, realm, local_port);
	if (t)
		return t->driver == &h->driver;
	return np_core_port_quarantined(h->core, realm, local_port) &&
	       np_h248_looks_like(buf, len);
}

/* A new gateway at src, learnt from its ServiceChange; NULL if refused. */
static struct np_term *newcomer(struct np_h248 *h, size_t realm, uint16_t port,
				int pair, const struct np_sockaddr *src,
				const struct np_h248_msg *m, time_t now)
{
	struct np_core *core = h->core;
	const struct np_realm *r = &core->cfg->realms[realm];
	struct np_term *t = NULL;
	char where[64], mid[80];
	int err;

	mid_of(&r->address, r->h248_port, mid, sizeof(mid));
	if (!service_change(m)) {
		core->stats.unmatched++;
		return NULL;
	}
	if (!np_term_may_join(core, (size_t)pair, src, false, false) ||
	    core->cfg->pairs[pair].draining) {
		core->stats.over_limits++;
		if (np_log_limit(&h->log.refused, now))
			np_warn("H.248 gateway at %s refused: terminal limit "
				"of "
				"its address, core ports down to the reserve, "
				"or pair draining",
				np_sockaddr_str(src, where, sizeof(where)));
		answer_error(h, realm, port, src, mid, 0, 510,
			     "Insufficient resources");
		return NULL;
	}
	err = np_term_new(core, (size_t)pair, src, &h->driver, now, &t);
	if (!err) {
		t->signaling = calloc(1, sizeof(struct np_h248_gw));
		if (!t->signaling) {
			np_term_free(core, t, NP_END_OTHER, 0);
			err = -ENOMEM;
		}
	}
	if (err) {
		np_warn("no core signaling address for H.248 gateway %s: %s",
			np_sockaddr_str(src, where, sizeof(where)),
			strerror(-err));
		answer_error(h, realm, port, src, mid, 0, 510,
			     "Insufficient resources");
		return NULL;
	}
	np_info("H.248 gateway at %s learnt from its ServiceChange",
		np_sockaddr_str(src, where, sizeof(where)));
	return t;
}

void np_h248_input(struct np_h248 *h, size_t realm, uint16_t local_port,
		   const struct np_sockaddr *src, const char *buf, size_t len,
		   time_t now)
{
	struct np_core *core = h->core;
	struct np_h248_msg *m = NULL;
	struct np_h248_edits *ed = NULL;
	const char *why = "";
	char where[64];
	struct np_term *t;
	struct hctx c;
	int pair, i;

	h->now = now;
	core->stats.received++;
	pair = access_pair(core, realm, local_port);
	if (pair >= 0 && !np_core_admit(core, realm, src, now)) {
		if (np_log_limit(&h->log.rate, now))
			np_warn("H.248 from %s over its rate limit: dropped",
				np_sockaddr_str(src, where, sizeof(where)));
		return;
	}
	if (pair >= 0 && !np_realm_admits(&core->cfg->realms[realm], src)) {
		core->stats.denied++;
		return;
	}
	t = pair >= 0 ? np_term_by_nat(core, (size_t)pair, src) :
			np_term_by_core_port(core, realm, local_port);
	if (t && t->driver != &h->driver) {
		core->stats.unmatched++;
		return;
	}
	if (pair < 0 && t) {
		/* On a gateway's core address: from its MGC only (any port). */
		struct np_sockaddr mgc = np_core_pair(core, t)->mgc;

		mgc.port = src->port;
		if (!np_sockaddr_eq(&mgc, src)) {
			core->stats.strangers++;
			if (np_log_limit(&h->log.strangers, now))
				np_warn("H.248 to core port %u from %s, not "
					"the "
					"MGC: dropped",
					local_port,
					np_sockaddr_str(src, where,
							sizeof(where)));
			return;
		}
	}
	m = malloc(sizeof(*m));
	ed = calloc(1, sizeof(*ed));
	if (!m || !ed)
		goto out;
	if (np_h248_parse(buf, len, m, &why)) {
		core->stats.malformed++;
		if (realm < h->n_ctr)
			h->ctr[realm].malformed++;
		if (np_log_limit(&h->log.malformed, now))
			np_warn("malformed H.248 (%zu bytes) from %s: %s", len,
				np_sockaddr_str(src, where, sizeof(where)),
				why);
		/* A syntax error (H.248.1 8.2.2, code 400) to the sender. */
		if (pair >= 0 || t) {
			const struct np_realm *r = &core->cfg->realms[realm];

			mid_of(&r->address,
			       pair >= 0 ? r->h248_port : local_port, where,
			       sizeof(where));
			answer_error(h, realm, local_port, src, where, 0, 400,
				     "Syntax error in message");
		}
		goto out;
	}
	if (pair < 0 && !t)
		goto out; /* a released gateway's port: dropped */
	if (!t) {
		t = newcomer(h, realm, local_port, pair, src, m, now);
		if (!t)
			goto out;
	}
	ctx_init(&c, h, t);
	c.src = *src;
	c.realm = realm;
	c.port = local_port;
	c.now = now;
	c.from_mg = pair >= 0;
	c.m = m;
	c.ed = ed;
	t->last_heard = now;
	if (c.from_mg) {
		np_term_alive(t);
		np_term_registered(core, t, now + NP_H248_MG_LIFETIME, now);
		if (strlen(c.gw->mid) != m->mid_len ||
		    strncmp(c.gw->mid, m->buf + m->mid_off, m->mid_len))
			np_term_changed(core, t); /* kept in the state file */
		snprintf(c.gw->mid, sizeof(c.gw->mid), "%.*s", (int)m->mid_len,
			 m->buf + m->mid_off);
	}
	rewrite_names(&c);
	/* Each top-level item goes on in a message of its own. */
	for (i = np_h248_child(m, -1, -1); i >= 0;) {
		int next = np_h248_child(m, -1, i);
		size_t from = m->nodes[i].name_off;
		size_t to = next >= 0 ? m->nodes[next].name_off : len;

		if (named(&c, i, "Transaction", "T"))
			transaction(&c, i, from, to);
		else if (named(&c, i, "Reply", "P"))
			reply(&c, i, from, to, false);
		else if (named(&c, i, "Pending", "PN"))
			reply(&c, i, from, to, true);
		else if (named(&c, i, "TransactionResponseAck", "K"))
			response_ack(&c, i, from, to);
		else
			core->stats.unmatched++;
		i = next;
	}
out:
	free(m);
	free(ed);
}

void np_h248_tick(struct np_h248 *h, time_t now)
{
	h->now = now;
	np_gwtxn_expire(&h->txns, now, NP_H248_REPLY_HIST,
			NP_H248_TXN_LIFETIME);
}

/* --- hooks ---------------------------------------------------------------- */

/* Sends one transaction of ours (body: what follows "Transaction = ID ")
 * to the gateway (to_mg) or the MGC. */
static bool send_own(struct np_h248 *h, struct np_term *t, bool to_mg,
		     enum np_h248_command what, const char *body)
{
	struct np_h248_txn *x;
	struct hctx c;
	char buf[1024], mid[80];
	int n;

	ctx_init(&c, h, t);
	c.now = h->now;
	x = txn_new(&c, to_mg ? NP_H248_OWN_MG : NP_H248_OWN_MGC, 0);
	if (!x)
		return false;
	n = snprintf(buf, sizeof(buf), "MEGACO/1 %s\r\nTransaction = %u %s",
		     to_mg ? acc_mid(&c, mid, sizeof(mid)) :
			     core_mid(&c, mid, sizeof(mid)),
		     x->base.out_id, body);
	if (n <= 0 || (size_t)n >= sizeof(buf) ||
	    send_to(&c, to_mg, buf, (size_t)n)) {
		txn_free(h, x);
		return false;
	}
	h->ctr[to_mg ? c.acc : c.cor].transactions_out++;
	h->ctr[to_mg ? c.acc : c.cor].commands_out[what]++;
	return true;
}

/* The keepalive (claim 3): AuditValue on ROOT (H.248.1 7.2.5); any reply
 * proves the binding open. */
static bool h248_keepalive(void *ctx, struct np_term *t)
{
	struct np_h248 *h = ctx;

	return send_own(h, t, true, NP_H248_AUDIT_VALUE,
			"{\r\n\tContext = - {\r\n\t\tAuditValue = ROOT "
			"{Audit{}}\r\n\t}\r\n}\r\n");
}

/*
 * The core ends a termination's call on its own (media timeout, gateway
 * lost): Subtract to the gateway, and to the MGC a ServiceChange Forced on
 * the termination, as a gateway taking it out of service would (H.248.1
 * 7.2.8, reason 905).
 */
static void h248_call_abort(void *ctx, struct np_term *t, struct np_call *call,
			    enum np_end_reason why)
{
	struct np_h248 *h = ctx;
	const struct np_h248_term *k = call->dialog;
	char body[512];

	if (!k || !k->ctx[0])
		return;
	if (why != NP_END_TERMINAL_LOST && why != NP_END_KEEPALIVE_LOST) {
		snprintf(body, sizeof(body),
			 "{\r\n\tContext = %s {\r\n\t\tSubtract = %s\r\n\t}"
			 "\r\n}\r\n",
			 k->ctx, k->term);
		send_own(h, t, true, NP_H248_SUBTRACT, body);
	}
	snprintf(body, sizeof(body),
		 "{\r\n\tContext = %s {\r\n\t\tServiceChange = %s {Services "
		 "{Method = Forced, Reason = \"905 %s\"}}\r\n\t}\r\n}\r\n",
		 k->ctx, k->term, np_end_reason_names[why]);
	send_own(h, t, false, NP_H248_SERVICE_CHANGE, body);
}

static void h248_term_free(void *ctx, struct np_term *t)
{
	struct np_h248 *h = ctx;

	np_gwtxn_drop(&h->txns, t);
	free(t->signaling);
	t->signaling = NULL;
}

/* The state file's text of a gateway (its mId) or of a termination's
 * call (ContextID, TerminationID, StreamID, the gateway's last Local
 * SDP), fields split by US, the SDP last: any byte of it is its own.
 * Open transactions are not kept: the MGC sends its command again. */
#define STATE_SEP '\x1f'

static int h248_state_put(void *ctx, const struct np_term *t,
			  const struct np_call *call, char *buf, size_t len)
{
	const struct np_h248_gw *gw = t->signaling;
	const struct np_h248_term *k = call ? call->dialog : NULL;
	int n;

	(void)ctx;
	if (call && k)
		n = snprintf(buf, len, "%s\x1f%s\x1f%u\x1f%.*s", k->ctx,
			     k->term, k->stream, (int)k->lcd_len, k->lcd);
	else if (call)
		n = snprintf(buf, len, "\x1f\x1f" "0\x1f");
	else
		n = snprintf(buf, len, "%s", gw ? gw->mid : "");
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static int h248_state_get(void *ctx, bool call, const char *text, void **out)
{
	char copy[64 + 128 + 16 + 2048 + 8], *f[4], *end;
	struct np_h248_term *k;
	struct np_h248_gw *gw;
	unsigned long stream;

	(void)ctx;
	if (!call) {
		if (strlen(text) >= sizeof(gw->mid))
			return -EINVAL;
		gw = calloc(1, sizeof(*gw));
		if (!gw)
			return -ENOMEM;
		strcpy(gw->mid, text);
		*out = gw;
		return 0;
	}
	if (strlen(text) >= sizeof(copy))
		return -EINVAL;
	strcpy(copy, text);
	if (np_fields_split(copy, STATE_SEP, f, 4) ||
	    strlen(f[0]) >= sizeof(k->ctx) || strlen(f[1]) >= sizeof(k->term) ||
	    strlen(f[3]) > sizeof(k->lcd))
		return -EINVAL;
	errno = 0;
	stream = strtoul(f[2], &end, 10);
	if (errno || end == f[2] || *end || stream > UINT_MAX)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	strcpy(k->ctx, f[0]);
	strcpy(k->term, f[1]);
	k->stream = (unsigned)stream;
	k->lcd_len = strlen(f[3]);
	memcpy(k->lcd, f[3], k->lcd_len);
	*out = k;
	return 0;
}

static int counters_grow(struct np_h248 *h, size_t n)
{
	int err = np_array_grow((void **)&h->ctr, sizeof(*h->ctr), h->n_ctr,
				n);

	if (!err && n > h->n_ctr)
		h->n_ctr = n;
	return err;
}

int np_h248_init(struct np_h248 *h, struct np_core *core)
{
	uint32_t first = 0;
	int err;

	memset(h, 0, sizeof(*h));
	h->core = core;
	h->driver = (struct np_driver){
		.name = "h248",
		.keepalive = h248_keepalive,
		.call_abort = h248_call_abort,
		.term_free = h248_term_free,
		.state_put = h248_state_put,
		.state_get = h248_state_get,
		.ctx = h,
	};
	if (core->io->wall)
		first = np_gwtxn_first_id(core->io->wall(core->io_ctx));
	err = np_gwtxn_init(&h->txns, first, 0x7fffffffu);
	return err ? err : counters_grow(h, core->cfg->n_realms);
}

int np_h248_reconfigure(struct np_h248 *h)
{
	return counters_grow(h, h->core->cfg->n_realms);
}

void np_h248_fini(struct np_h248 *h)
{
	np_gwtxn_fini(&h->txns);
	free(h->ctr);
	h->ctr = NULL;
	h->n_ctr = 0;
}
