/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SDP parsing and relay rewriting for natproxyd. Parsing has three layers.
 * A byte scan bounds the input: length, NULs, line ends, the type=value
 * shape, the m= count. It also checks the o=, c=, m= and a=rtcp lines that
 * the rewrite edits, so a body that parses can always be rewritten.
 * libosip2's sdp_message_parse() then checks the RFC 4566 grammar (required
 * v/o/s/t lines, line order, known type letters) and splits the fields.
 * Finally we check the values libosip2 keeps as plain strings (ports,
 * addresses, bandwidths). The rewrite is a line pass over the original
 * bytes, not sdp_message_to_str(). That function would rebuild the whole
 * body from libosip2's model, normalising or dropping what the model does
 * not hold, but a relay must change only addresses and ports. libosip2's SDP
 * parser does not use the SIP header tables that parser_init() builds, so
 * no global initialisation is needed.
 */
#include "addr.h"
#include "core/sdp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/sdp_message.h>

#define SDP_COPY_PAD 8
/* Length of "IN IP4 " or "IN IP6 " in relay_conn()'s text: what follows is the address. */
#define CONN_ADDR_AT 7

/* One line of the body, without its CRLF or LF; type 0 for an empty line. */
struct sdp_line {
	char type;
	const char *val;
	size_t n;
};

/* What the session level contributes to every media description. */
struct sdp_session {
	bool has_c;
	struct np_sdp_addr c;
	enum np_sdp_dir dir;
	uint32_t bw, as_kbps, tias_bps;
	bool ice;
};

/* Output cursor: keeps counting past the end so overflow is seen once, at the end. */
struct obuf {
	char *p;
	size_t size;
	size_t len;
};

static int fail(const char **why, const char *reason, int err)
{
	if (why)
		*why = reason;
	return err;
}

static bool eq(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(s, lit, n);
}

/* Decimal digits only, no sign or space; at most 10 digits so no overflow. */
static bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (!n || n > 10)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

static bool parse_port(const char *s, size_t n, bool allow_zero, uint16_t *port)
{
	uint64_t v;

	if (!parse_uint(s, n, 65535, &v) || (!v && !allow_zero))
		return false;
	*port = (uint16_t)v;
	return true;
}

/*
 * Next token of [*p, end) up to a single SP; advances past that SP.
 * RFC 4566 section 5 separates fields by exactly one SP, so an empty token
 * means a malformed line.
 */
static bool next_tok(const char **p, const char *end, const char **tok, size_t *n)
{
	const char *s = *p, *sp;

	if (s >= end)
		return false;
	sp = memchr(s, ' ', (size_t)(end - s));
	*tok = s;
	*n = (size_t)((sp ? sp : end) - s);
	*p = sp ? sp + 1 : end;
	return *n > 0 && !(sp && sp + 1 == end);
}

/*
 * Unicast IPv4 or IPv6 address of the given RFC 4566 addrtype: NULL, or why
 * not (worded for c=; a=rtcp says only "bad a=rtcp"). FQDNs (RFC 4566 allows them) and multicast (with its /ttl suffix)
 * are refused: the relay needs one unicast peer address per stream, and
 * natproxy resolves no names.
 */
static const char *addr_problem(const char *atype, size_t an, const char *s, size_t n,
				struct np_sdp_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	memset(a, 0, sizeof(*a));
	if (eq(atype, an, "IP4"))
		a->family = AF_INET;
	else if (eq(atype, an, "IP6"))
		a->family = AF_INET6;
	else
		return "c= address type is not IP4 or IP6";
	if (memchr(s, '/', n))
		return "multicast c= not supported";
	if (!n || n >= sizeof(buf) || (memcpy(buf, s, n), buf[n] = '\0',
				       inet_pton(a->family, buf, &a->addr) != 1))
		return a->family == AF_INET ?
			       "c= address is not an IPv4 literal (an FQDN cannot be relayed)" :
			       "c= address is not an IPv6 literal (an FQDN cannot be relayed)";
	if (a->family == AF_INET ? IN_MULTICAST(ntohl(a->addr.v4.s_addr)) :
				   IN6_IS_ADDR_MULTICAST(&a->addr.v6))
		return "multicast c= not supported";
	return NULL;
}

/*
 * "IN IP4 192.0.2.1": RFC 4566 section 5.7 connection data, also the tail
 * of a=rtcp. NULL, or why it cannot be relayed.
 */
static const char *conn_problem(const char *s, size_t n, struct np_sdp_addr *a)
{
	const char *p = s, *end = s + n, *net, *at, *addr;
	size_t nn, atn, addrn;

	memset(a, 0, sizeof(*a));
	if (!next_tok(&p, end, &net, &nn) || !next_tok(&p, end, &at, &atn) ||
	    !next_tok(&p, end, &addr, &addrn) || p != end)
		return "bad c= line: not <nettype> <addrtype> <address>";
	if (!eq(net, nn, "IN"))
		return "c= network type is not IN";
	return addr_problem(at, atn, addr, addrn, a);
}

static bool parse_conn(const char *s, size_t n, struct np_sdp_addr *a)
{
	return !conn_problem(s, n, a);
}

/* RFC 3605: a=rtcp:<port> [<nettype> <addrtype> <address>], value after "rtcp:". */
static bool parse_rtcp(const char *s, size_t n, uint16_t *port, bool *has_addr,
		       struct np_sdp_addr *a)
{
	const char *sp = memchr(s, ' ', n);
	size_t pn = sp ? (size_t)(sp - s) : n;

	if (!parse_port(s, pn, false, port))
		return false;
	*has_addr = sp != NULL;
	if (!sp)
		return true;
	return parse_conn(sp + 1, n - pn - 1, a);
}

static bool is_unspec(const struct np_sdp_addr *a)
{
	if (a->family == AF_INET)
		return a->addr.v4.s_addr == htonl(INADDR_ANY);
	if (a->family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->addr.v6);
	return false;
}

static bool is_rtcp_attr(const struct sdp_line *l)
{
	return l->type == 'a' && l->n >= 5 && !memcmp(l->val, "rtcp:", 5);
}

/*
 * "<media> <port>[/<count>] <proto> <fmt> ...": RFC 4566 section 5.14 needs
 * at least one fmt (libosip2 5.3 also reads past the end of its buffer on an
 * m= line that stops after the proto). Locates the port token.
 */
static bool media_port_tok(const struct sdp_line *l, const char **port, size_t *n)
{
	const char *end = l->val + l->n, *p = l->val, *t;
	size_t tn;
	int i;

	for (i = 0; p < end; i++) {
		if (!next_tok(&p, end, &t, &tn))
			return false;
		if (i == 1) {
			*port = t;
			for (*n = 0; *n < tn && t[*n] != '/'; (*n)++)
				;
		}
	}
	return i >= 4;
}

/*
 * Next line of body from *pos: 1 with a line, 0 at the end, or negative
 * errno. Lines end in LF, optionally preceded by CR. The last line may have
 * neither: RFC 4566 wants CRLF, but an SDP part of a multipart body often
 * ends without one (the CRLF before the boundary is the delimiter's, RFC
 * 2046 section 5.1.1), and some phones send such bodies alone. A CR alone
 * is never a line end.
 */
static int next_line(const char *body, size_t len, size_t *pos, struct sdp_line *l,
		     const char **why)
{
	size_t i = *pos, start = *pos, end;

	if (i >= len)
		return 0;
	for (; i < len && body[i] != '\n'; i++) {
		/* Room for the CR: the limit is on the text of the line. */
		if (i - start > NP_SDP_MAX_LINE)
			return fail(why, "line too long", -E2BIG);
		if (body[i] == '\0')
			return fail(why, "embedded NUL", -EINVAL);
		if (body[i] == '\r' && (i + 1 >= len || body[i + 1] != '\n'))
			return fail(why, "bare CR", -EINVAL);
	}
	end = (i < len && i > start && body[i - 1] == '\r') ? i - 1 : i;
	if (end - start > NP_SDP_MAX_LINE)
		return fail(why, "line too long", -E2BIG);
	*pos = i < len ? i + 1 : len;
	l->type = 0;
	l->val = body + end;
	l->n = 0;
	if (end == start)
		return 1;
	if (end - start < 2 || body[start] < 'a' || body[start] > 'z' || body[start + 1] != '=')
		return fail(why, "malformed line", -EINVAL);
	l->type = body[start];
	l->val = body + start + 2;
	l->n = end - start - 2;
	return 1;
}

/* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>: six tokens. */
static bool origin_ok(const struct sdp_line *l, size_t *keep)
{
	const char *p = l->val, *end = l->val + l->n, *t;
	size_t tn;
	int i;

	for (i = 0; i < 6; i++) {
		if (!next_tok(&p, end, &t, &tn))
			return false;
		if (i == 2)
			*keep = (size_t)(p - l->val);
	}
	return p == end;
}

/*
 * Byte-level checks over the whole body, including the shape of every line
 * the rewrite will edit.
 */
static int prescan(const char *body, size_t len, size_t *n_media, const char **why)
{
	struct np_sdp_addr a;
	struct sdp_line l;
	size_t pos = 0, nm = 0, keep, pn;
	const char *port, *problem;
	uint16_t p16;
	bool has_addr, first = true, blank = false;
	int r;

	if (!len)
		return fail(why, "empty body", -EINVAL);
	if (len > NP_SDP_MAX_BODY)
		return fail(why, "body too large", -E2BIG);
	while ((r = next_line(body, len, &pos, &l, why)) > 0) {
		if (first && !(l.type == 'v' && eq(l.val, l.n, "0")))
			return fail(why, "first line is not v=0", -EINVAL);
		first = false;
		/*
		 * Not in the RFC 4566 grammar, but tolerated at the very end.
		 * libosip2 stops at an empty line, so text after one would be
		 * rewritten without having been checked.
		 */
		if (blank && l.type)
			return fail(why, "empty line inside body", -EINVAL);
		blank = !l.type;
		switch (l.type) {
		case 'o':
			if (!origin_ok(&l, &keep))
				return fail(why, "bad o= line", -EINVAL);
			break;
		case 'c':
			problem = conn_problem(l.val, l.n, &a);
			if (problem)
				return fail(why, problem, -EINVAL);
			break;
		case 'm':
			if (++nm > NP_SDP_MAX_MEDIA)
				return fail(why, "too many m= lines", -E2BIG);
			if (!media_port_tok(&l, &port, &pn))
				return fail(why, "bad m= line", -EINVAL);
			if (!parse_port(port, pn, true, &p16))
				return fail(why, "bad m= port", -EINVAL);
			break;
		case 'a':
			/* a=rtcp is media-level only (RFC 3605 section 2.1). */
			if (nm && is_rtcp_attr(&l) &&
			    !parse_rtcp(l.val + 5, l.n - 5, &p16, &has_addr, &a))
				return fail(why, "bad a=rtcp", -EINVAL);
			break;
		}
	}
	if (r < 0)
		return r;
	*n_media = nm;
	return 0;
}

static int conn_from_osip(const sdp_connection_t *c, struct np_sdp_addr *a, const char **why)
{
	const char *problem;

	if (c->c_addr_multicast_ttl || c->c_addr_multicast_int)
		return fail(why, "multicast c= not supported", -EINVAL);
	if (!c->c_nettype || strcmp(c->c_nettype, "IN"))
		return fail(why, "c= network type is not IN", -EINVAL);
	if (!c->c_addrtype || !c->c_addr)
		return fail(why, "bad c= line: not <nettype> <addrtype> <address>", -EINVAL);
	problem = addr_problem(c->c_addrtype, strlen(c->c_addrtype), c->c_addr,
			       strlen(c->c_addr), a);
	return problem ? fail(why, problem, -EINVAL) : 0;
}

/* RFC 3264 section 5.1: the last direction attribute of a level wins over dflt. */
static enum np_sdp_dir dir_from_osip(const osip_list_t *attrs, enum np_sdp_dir dflt)
{
	const sdp_attribute_t *at;
	int i;

	for (i = 0; (at = osip_list_get(attrs, i)); i++) {
		if (!at->a_att_field)
			continue;
		if (!strcmp(at->a_att_field, "sendrecv"))
			dflt = NP_SDP_SENDRECV;
		else if (!strcmp(at->a_att_field, "sendonly"))
			dflt = NP_SDP_SENDONLY;
		else if (!strcmp(at->a_att_field, "recvonly"))
			dflt = NP_SDP_RECVONLY;
		else if (!strcmp(at->a_att_field, "inactive"))
			dflt = NP_SDP_INACTIVE;
	}
	return dflt;
}

/* a=ice-ufrag / a=ice-pwd (RFC 8839 section 5.4), and at media level a=candidate. */
static bool ice_from_osip(const osip_list_t *attrs, bool media)
{
	const sdp_attribute_t *at;
	int i;

	for (i = 0; (at = osip_list_get(attrs, i)); i++) {
		if (!at->a_att_field)
			continue;
		if (!strcmp(at->a_att_field, "ice-ufrag") || !strcmp(at->a_att_field, "ice-pwd") ||
		    (media && !strcmp(at->a_att_field, "candidate")))
			return true;
	}
	return false;
}

/*
 * b=AS is kbit/s (RFC 4566 section 5.8), b=TIAS bit/s (RFC 3890); the
 * smallest value of one level applies. *bps is the smaller of the two in
 * bit/s; each stays 0 if the level has none.
 */
static int bw_from_osip(const osip_list_t *bws, uint32_t *bps, uint32_t *as_kbps,
			uint32_t *tias_bps, const char **why)
{
	const sdp_bandwidth_t *b;
	uint64_t v, best = UINT64_MAX, as = UINT64_MAX, tias = UINT64_MAX;
	int i;

	for (i = 0; (b = osip_list_get(bws, i)); i++) {
		bool is_as = b->b_bwtype && !strcasecmp(b->b_bwtype, "AS");
		bool is_tias = b->b_bwtype && !strcasecmp(b->b_bwtype, "TIAS");

		if (!is_as && !is_tias)
			continue;
		if (!b->b_bandwidth ||
		    !parse_uint(b->b_bandwidth, strlen(b->b_bandwidth),
				is_as ? UINT32_MAX / 1000 : UINT32_MAX, &v))
			return fail(why, "bad b= value", -EINVAL);
		if (is_as && v < as)
			as = v;
		if (is_tias && v < tias)
			tias = v;
		if (is_as)
			v *= 1000;
		if (v < best)
			best = v;
	}
	*bps = best == UINT64_MAX ? 0 : (uint32_t)best;
	*as_kbps = as == UINT64_MAX ? 0 : (uint32_t)as;
	*tias_bps = tias == UINT64_MAX ? 0 : (uint32_t)tias;
	return 0;
}

static int media_from_osip(const sdp_media_t *md, const struct sdp_session *ses,
			   struct np_sdp_media *m, const char **why)
{
	const sdp_connection_t *c;
	const sdp_attribute_t *at;
	bool has_rtcp = false, has_addr = false;
	int i, err;

	if (!md->m_media || strlen(md->m_media) >= sizeof(m->type))
		return fail(why, "bad m= media type", -EINVAL);
	strcpy(m->type, md->m_media);
	if (!md->m_port || !parse_port(md->m_port, strlen(md->m_port), true, &m->port))
		return fail(why, "bad m= port", -EINVAL);
	/* RFC 4566 "<port>/<number of ports>": one relay pair cannot stand for several. */
	if (md->m_number_of_port)
		return fail(why, "m= port count not supported", -EINVAL);

	if (osip_list_size(&md->c_connections) > 1)
		return fail(why, "several c= in one media", -EINVAL);
	c = osip_list_get(&md->c_connections, 0);
	if (c) {
		err = conn_from_osip(c, &m->addr, why);
		if (err)
			return err;
	} else if (ses->has_c) {
		m->addr = ses->c;
	} else if (m->port) {
		/* RFC 4566 section 5.7: c= at session level or in every media. */
		return fail(why, "no c= for media", -EINVAL);
	}

	for (i = 0; (at = osip_list_get(&md->a_attributes, i)); i++) {
		if (!at->a_att_field)
			continue;
		if (!strcmp(at->a_att_field, "rtcp-mux")) {
			m->rtcp_mux = true;
		} else if (!strcmp(at->a_att_field, "rtcp")) {
			if (!at->a_att_value ||
			    !parse_rtcp(at->a_att_value, strlen(at->a_att_value),
					&m->rtcp_port, &has_addr, &m->rtcp_addr))
				return fail(why, "bad a=rtcp", -EINVAL);
			has_rtcp = true;
		}
	}
	if (!has_addr)
		m->rtcp_addr = m->addr;
	if (!m->port)
		m->rtcp_port = 0;	/* rejected: nothing flows (RFC 3264 section 6) */
	else if (!has_rtcp)
		m->rtcp_port = m->rtcp_mux ? m->port : (uint16_t)(m->port + 1);

	m->dir = dir_from_osip(&md->a_attributes, ses->dir);
	m->hold = is_unspec(&m->addr) || m->dir == NP_SDP_SENDONLY || m->dir == NP_SDP_INACTIVE;
	m->ice = ses->ice || ice_from_osip(&md->a_attributes, true);

	err = bw_from_osip(&md->b_bandwidths, &m->bandwidth_bps, &m->as_kbps, &m->tias_bps, why);
	if (err)
		return err;
	if (!m->bandwidth_bps) {
		m->bandwidth_bps = ses->bw;
		m->as_kbps = ses->as_kbps;
		m->tias_bps = ses->tias_bps;
	}
	return 0;
}

int np_sdp_parse(const char *body, size_t len, struct np_sdp *out, const char **why)
{
	sdp_message_t *sdp = NULL;
	const sdp_media_t *md;
	struct sdp_session ses = { 0 };
	char *copy = NULL;
	size_t n_media = 0, i;
	int err;

	if (!body || !out)
		return fail(why, "no body", -EINVAL);
	memset(out, 0, sizeof(*out));

	err = prescan(body, len, &n_media, why);
	if (err)
		goto out;

	/*
	 * libosip2 wants a C string; the prescan has ruled out embedded NULs.
	 * Spare NULs after the end contain any look-ahead like the m= one
	 * above. libosip2 wants every line ended, the last one too.
	 */
	copy = calloc(1, len + SDP_COPY_PAD);
	if (!copy) {
		err = fail(why, "out of memory", -ENOMEM);
		goto out;
	}
	memcpy(copy, body, len);
	if (body[len - 1] != '\n')
		memcpy(copy + len, "\r\n", 2);

	if (sdp_message_init(&sdp)) {
		err = fail(why, "out of memory", -ENOMEM);
		goto out_copy;
	}
	if (sdp_message_parse(sdp, copy)) {
		err = fail(why, "sdp syntax error", -EINVAL);
		goto out_sdp;
	}
	if ((size_t)osip_list_size(&sdp->m_medias) != n_media) {
		err = fail(why, "m= lines not understood", -EINVAL);
		goto out_sdp;
	}

	if (sdp->c_connection) {
		err = conn_from_osip(sdp->c_connection, &ses.c, why);
		if (err)
			goto out_sdp;
		ses.has_c = true;
	}
	ses.dir = dir_from_osip(&sdp->a_attributes, NP_SDP_SENDRECV);
	ses.ice = ice_from_osip(&sdp->a_attributes, false);
	err = bw_from_osip(&sdp->b_bandwidths, &ses.bw, &ses.as_kbps, &ses.tias_bps, why);
	if (err)
		goto out_sdp;

	for (i = 0; i < n_media; i++) {
		md = osip_list_get(&sdp->m_medias, (int)i);
		err = md ? media_from_osip(md, &ses, &out->media[i], why) :
			   fail(why, "m= lines not understood", -EINVAL);
		if (err)
			goto out_sdp;
	}
	out->n_media = n_media;

out_sdp:
	sdp_message_free(sdp);
out_copy:
	free(copy);
out:
	if (err)
		memset(out, 0, sizeof(*out));
	return err;
}

uint64_t np_sdp_police_rate(uint32_t as_kbps, uint32_t tias_bps)
{
	uint64_t bits = tias_bps ? tias_bps : (uint64_t)as_kbps * 1000;

	if (!bits)
		return 0;
	/* bits / 8 * 5 / 4: at most 671 MB/s from 32-bit inputs, no overflow. */
	return bits * 5 / 32 + NP_SDP_POLICE_PPS * NP_SDP_POLICE_HDR_BYTES;
}

static void put(struct obuf *o, const void *s, size_t n)
{
	if (o->len <= o->size && n <= o->size - o->len)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_str(struct obuf *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_port(struct obuf *o, uint16_t port)
{
	char buf[8];

	snprintf(buf, sizeof(buf), "%u", (unsigned int)port);
	put_str(o, buf);
}

static void put_line(struct obuf *o, const struct sdp_line *l)
{
	char t[2] = { l->type, '=' };

	if (!l->type)
		return;
	put(o, t, 2);
	put(o, l->val, l->n);
}

/*
 * Relay "IN IP4 <addr>" text, once per rewrite. The relay must be a real
 * address: 0.0.0.0 or :: would read as hold (RFC 3264 section 8.4).
 */
static int relay_conn(const struct np_sdp_relay *relay, const struct np_sdp *sdp,
		      char *buf, size_t size, const char **why)
{
	char addr[INET6_ADDRSTRLEN];
	size_t i;

	if ((relay->addr.family != AF_INET && relay->addr.family != AF_INET6) ||
	    is_unspec(&relay->addr) ||
	    !np_ntop(relay->addr.family, &relay->addr.addr, addr))
		return fail(why, "bad relay address", -EINVAL);
	for (i = 0; i < sdp->n_media; i++)
		if (sdp->media[i].port &&
		    (!relay->rtp_port[i] || relay->rtp_port[i] == UINT16_MAX))
			return fail(why, "bad relay port", -EINVAL);
	snprintf(buf, size, "IN %s %s", relay->addr.family == AF_INET ? "IP4" : "IP6", addr);
	return 0;
}

/* m= with the relay RTP port; a rejected stream keeps port 0 (RFC 3264 section 6). */
static int emit_media(struct obuf *o, const struct sdp_line *l, const struct np_sdp_media *m,
		      uint16_t rtp, const char **why)
{
	const char *port;
	size_t pn;
	uint16_t p16;

	if (!media_port_tok(l, &port, &pn) || !parse_port(port, pn, true, &p16) ||
	    p16 != m->port)
		return fail(why, "m= line changed under us", -EINVAL);
	if (!m->port) {
		put_line(o, l);
		return 0;
	}
	put(o, "m=", 2);
	put(o, l->val, (size_t)(port - l->val));
	put_port(o, rtp);
	put(o, port + pn, l->n - (size_t)(port - l->val) - pn);
	return 0;
}

/*
 * a=rtcp (RFC 3605) gets the relay RTCP port: the relay RTP port when the
 * original already named the RTP port (mux, RFC 5761 / RFC 8858), else
 * RTP + 1. Its address, if any, becomes the relay's unless it is a hold
 * address.
 */
static void emit_rtcp(struct obuf *o, const struct sdp_line *l, const struct np_sdp_media *m,
		      uint16_t rtp, const char *conn)
{
	struct np_sdp_addr a;
	const char *sp;
	uint16_t p16;
	bool has_addr;

	if (!m->port || !parse_rtcp(l->val + 5, l->n - 5, &p16, &has_addr, &a)) {
		put_line(o, l);
		return;
	}
	put(o, "a=rtcp:", 7);
	put_port(o, m->rtcp_port == m->port ? rtp : (uint16_t)(rtp + 1));
	if (!has_addr)
		return;
	put(o, " ", 1);
	if (is_unspec(&a)) {
		sp = memchr(l->val, ' ', l->n);
		put(o, sp + 1, l->n - (size_t)(sp + 1 - l->val));
	} else {
		put_str(o, conn);
	}
}

/* ICE lines: the ones RELAY keeps (credentials, options, lite) and the ones both modes drop. */
enum ice_attr { ICE_NONE, ICE_KEEP, ICE_DROP };

static enum ice_attr ice_attr(const struct sdp_line *l)
{
	static const char *const keep[] = { "ice-ufrag", "ice-pwd", "ice-options", "ice-lite" };
	static const char *const drop[] = { "candidate", "remote-candidates", "ice-mismatch",
					    "end-of-candidates" };
	const char *colon;
	size_t n, i;

	if (l->type != 'a')
		return ICE_NONE;
	colon = memchr(l->val, ':', l->n);
	n = colon ? (size_t)(colon - l->val) : l->n;
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (eq(l->val, n, keep[i]))
			return ICE_KEEP;
	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (eq(l->val, n, drop[i]))
			return ICE_DROP;
	return ICE_NONE;
}

/*
 * RFC 8839 section 5.1 host candidates at the relay, closing a media
 * section. One foundation for both: same type, base address and transport
 * (RFC 8445 section 5.1.1.3). Priority per RFC 8445 section 5.1.2.1 with
 * type preference 126 (host) and local preference 65535.
 */
static void emit_ice(struct obuf *o, const struct np_sdp_media *m, uint16_t rtp,
		     const char *addr)
{
	char buf[160];
	int comp;

	for (comp = 1; comp <= (m->rtcp_mux ? 1 : 2); comp++) {
		uint32_t prio = (126u << 24) | (65535u << 8) | (uint32_t)(256 - comp);
		uint16_t port = comp == 1 ? rtp :
				m->rtcp_port == m->port ? rtp : (uint16_t)(rtp + 1);

		snprintf(buf, sizeof(buf), "a=candidate:np %d UDP %u %s %u typ host\r\n", comp,
			 (unsigned int)prio, addr, (unsigned int)port);
		put_str(o, buf);
	}
	put_str(o, "a=end-of-candidates\r\n");
}

/* The arguments both rewrites check before any work. */
static int rewrite_args(const struct np_sdp_relay *relay, char *out, size_t out_size,
			const size_t *out_len, const char **why)
{
	if (!relay || !out || !out_len)
		return fail(why, "no output buffer", -EINVAL);
	if (out_size)
		out[0] = '\0';
	if (relay->ice != NP_SDP_ICE_REMOVE && relay->ice != NP_SDP_ICE_RELAY)
		return fail(why, "bad relay ice mode", -EINVAL);
	return 0;
}

int np_sdp_rewrite(const char *body, size_t len, const struct np_sdp_relay *relay,
		   char *out, size_t out_size, size_t *out_len, const char **why)
{
	struct np_sdp sdp;
	int err;

	err = rewrite_args(relay, out, out_size, out_len, why);
	if (!err)
		err = np_sdp_parse(body, len, &sdp, why);
	return err ? err : np_sdp_rewrite_parsed(body, len, &sdp, relay, out, out_size,
						 out_len, why);
}

int np_sdp_rewrite_parsed(const char *body, size_t len, const struct np_sdp *sdp,
			  const struct np_sdp_relay *relay, char *out, size_t out_size,
			  size_t *out_len, const char **why)
{
	struct obuf o = { .p = out, .size = out_size, .len = 0 };
	char conn[sizeof("IN IP6 ") + INET6_ADDRSTRLEN];
	struct np_sdp_addr a;
	struct sdp_line l;
	size_t pos = 0, keep, mi = 0;
	bool ice_done = true;	/* the candidates of media mi - 1 are written */
	enum ice_attr ia;
	int r, err;

	err = rewrite_args(relay, out, out_size, out_len, why);
	if (err)
		return err;
	err = relay_conn(relay, sdp, conn, sizeof(conn), why);
	if (err)
		goto out;

	/* mi counts m= lines seen: 0 is the session level, i + 1 is media i. */
	while ((r = next_line(body, len, &pos, &l, why)) > 0) {
		/* A media section ends at the next m=, the tolerated final empty line or the end. */
		if (!ice_done && (l.type == 'm' || !l.type)) {
			emit_ice(&o, &sdp->media[mi - 1], relay->rtp_port[mi - 1], conn + CONN_ADDR_AT);
			ice_done = true;
		}
		ia = ice_attr(&l);
		if (ia == ICE_DROP || (ia == ICE_KEEP && (relay->ice == NP_SDP_ICE_REMOVE ||
							  (mi && !sdp->media[mi - 1].port))))
			continue;
		switch (l.type) {
		case 'o':
			/* RFC 4566 section 5.2: keep username, sess-id and sess-version. */
			if (!origin_ok(&l, &keep)) {
				err = fail(why, "bad o= line", -EINVAL);
				goto out;
			}
			put(&o, "o=", 2);
			put(&o, l.val, keep);
			put_str(&o, conn);
			break;
		case 'c':
			/* RFC 2543 hold (c=0.0.0.0) must survive the relay. */
			if (parse_conn(l.val, l.n, &a) && is_unspec(&a)) {
				put_line(&o, &l);
			} else {
				put(&o, "c=", 2);
				put_str(&o, conn);
			}
			break;
		case 'm':
			/* The prescan counted these same lines into sdp->n_media. */
			if (mi >= sdp->n_media) {
				err = fail(why, "m= line changed under us", -EINVAL);
				goto out;
			}
			err = emit_media(&o, &l, &sdp->media[mi], relay->rtp_port[mi], why);
			if (err)
				goto out;
			ice_done = relay->ice != NP_SDP_ICE_RELAY || !sdp->media[mi].port ||
				   !sdp->media[mi].ice;
			mi++;
			break;
		case 'a':
			if (mi && is_rtcp_attr(&l)) {
				emit_rtcp(&o, &l, &sdp->media[mi - 1], relay->rtp_port[mi - 1],
					  conn);
				break;
			}
			/* fall through */
		default:
			put_line(&o, &l);
			break;
		}
		/* RFC 4566 section 5: CRLF out, whatever came in. */
		put(&o, "\r\n", 2);
	}
	if (r < 0) {
		err = r;
		goto out;
	}
	if (!ice_done)
		emit_ice(&o, &sdp->media[mi - 1], relay->rtp_port[mi - 1], conn + CONN_ADDR_AT);
	if (o.len >= out_size) {
		err = fail(why, "output buffer too small", -ENOSPC);
		goto out;
	}
	out[o.len] = '\0';
	*out_len = o.len;
out:
	if (err && out_size)
		out[0] = '\0';
	return err;
}

/* ---- multipart bodies (RFC 2046 section 5.1) ---- */

#define MP_BOUNDARY_MAX 70

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_ws(const char *s)
{
	while (is_ws(*s))
		s++;
	return s;
}

/* RFC 2046 bchars: a boundary is 1 to 70 of these and does not end in a space. */
static bool good_boundary(const char *b, size_t n)
{
	size_t i;

	if (!n || n > MP_BOUNDARY_MAX || b[n - 1] == ' ')
		return false;
	for (i = 0; i < n; i++)
		if (!((b[i] >= '0' && b[i] <= '9') || (b[i] >= 'a' && b[i] <= 'z') ||
		      (b[i] >= 'A' && b[i] <= 'Z') || strchr("'()+_,-./:=? ", b[i])))
			return false;
	return true;
}

/*
 * "multipart/mixed; boundary=xyz" or boundary="x y z" (RFC 2045 section
 * 5.1 parameter syntax, names case-insensitive). Fills b (room for
 * MP_BOUNDARY_MAX + 1 bytes).
 */
static int mp_boundary(const char *ct, char *b, size_t *bn, const char **why)
{
	const char *p = skip_ws(ct), *name, *val;
	size_t n, nn;
	bool found = false;

	for (n = 0; p[n] && p[n] != ';' && !is_ws(p[n]); n++)
		;
	if (!((n == 15 && !strncasecmp(p, "multipart/mixed", n)) ||
	      (n == 21 && !strncasecmp(p, "multipart/alternative", n))))
		return fail(why, "not a multipart/mixed or multipart/alternative body", -ENOTSUP);
	p = skip_ws(p + n);
	while (*p) {
		if (*p != ';')
			return fail(why, "bad Content-Type parameters", -EINVAL);
		p = skip_ws(p + 1);
		name = p;
		while (*p && *p != '=' && *p != ';' && !is_ws(*p))
			p++;
		nn = (size_t)(p - name);
		p = skip_ws(p);
		if (*p != '=' || !nn)
			return fail(why, "bad Content-Type parameters", -EINVAL);
		p = skip_ws(p + 1);
		n = 0;
		if (*p == '"') {
			/* quoted-string; bchars have no '"' or '\\', so no quoted-pair either */
			val = ++p;
			while (*p && *p != '"' && *p != '\\')
				p++;
			if (*p != '"')
				return fail(why, "bad quoted Content-Type parameter", -EINVAL);
			n = (size_t)(p - val);
			p++;
		} else {
			val = p;
			while (*p && *p != ';' && !is_ws(*p))
				p++;
			n = (size_t)(p - val);
		}
		p = skip_ws(p);
		if (nn != 8 || strncasecmp(name, "boundary", 8))
			continue;
		if (found)
			return fail(why, "two boundary parameters", -EINVAL);
		if (!good_boundary(val, n))
			return fail(why, "bad multipart boundary", -EINVAL);
		memcpy(b, val, n);
		b[n] = '\0';
		*bn = n;
		found = true;
	}
	if (!found)
		return fail(why, "multipart without a boundary parameter", -EINVAL);
	return 0;
}

/* "--boundary" at the start of a line of [from, len): its offset, or len. */
static size_t mp_next_delim(const char *s, size_t len, size_t from, const char *b, size_t bn)
{
	size_t q;

	for (q = from; q + 2 + bn <= len; q++)
		if ((!q || s[q - 1] == '\n') && s[q] == '-' && s[q + 1] == '-' &&
		    !memcmp(s + q + 2, b, bn))
			return q;
	return len;
}

/* Start of the line break before the delimiter at d: it belongs to the delimiter. */
static size_t mp_part_end(const char *s, size_t start, size_t d)
{
	if (d > start && s[d - 1] == '\n')
		d--;
	if (d > start && s[d - 1] == '\r')
		d--;
	return d;
}

/* A header line "Name: value" of a part; value trimmed of leading blanks. */
static bool mp_header(const char *l, size_t n, const char *name, const char **val, size_t *vn)
{
	size_t nn = strlen(name);

	if (n <= nn || strncasecmp(l, name, nn))
		return false;
	l += nn;
	n -= nn;
	while (n && is_ws(*l)) {
		l++;
		n--;
	}
	if (!n || *l != ':')
		return false;
	l++;
	n--;
	while (n && is_ws(*l)) {
		l++;
		n--;
	}
	*val = l;
	*vn = n;
	return true;
}

static bool mp_token_is(const char *v, size_t n, const char *want)
{
	size_t i;

	for (i = 0; i < n && v[i] != ';' && !is_ws(v[i]); i++)
		;
	return i == strlen(want) && !strncasecmp(v, want, i);
}

/*
 * Headers of the part [s, e): whether it is application/sdp, and where its
 * body starts (after the empty line; e if there is none).
 */
static int mp_part(const char *s, size_t start, size_t e, bool *sdp, size_t *body,
		   const char **why)
{
	size_t p = start, nl, ln;
	const char *v;
	size_t vn;
	bool encoded = false;

	*sdp = false;
	*body = e;
	while (p < e) {
		const char *lf = memchr(s + p, '\n', e - p);

		nl = lf ? (size_t)(lf - s) : e;
		ln = nl - p;
		if (ln && s[p + ln - 1] == '\r')
			ln--;
		if (!ln) {
			*body = lf ? nl + 1 : e;
			break;
		}
		if (mp_header(s + p, ln, "Content-Type", &v, &vn))
			*sdp = mp_token_is(v, vn, "application/sdp");
		else if (mp_header(s + p, ln, "Content-Transfer-Encoding", &v, &vn))
			encoded = !mp_token_is(v, vn, "7bit") && !mp_token_is(v, vn, "8bit") &&
				  !mp_token_is(v, vn, "binary");
		p = lf ? nl + 1 : e;
	}
	if (*sdp && encoded)
		return fail(why, "SDP part has a Content-Transfer-Encoding", -EINVAL);
	if (*sdp && *body >= e)
		return fail(why, "SDP part without a body", -EINVAL);
	return 0;
}

static int mp_find(const char *b, size_t bn, const char *body, size_t len, size_t *off,
		   size_t *sdp_len, const char **why)
{
	size_t d, start, next, end, pb;
	bool sdp, found = false;
	int err;

	if (!body)
		return fail(why, "no body", -EINVAL);
	if (len > NP_SDP_MAX_BODY)
		return fail(why, "body too large", -E2BIG);
	d = mp_next_delim(body, len, 0, b, bn);
	if (d == len)
		return fail(why, "multipart body without its boundary", -EINVAL);
	for (;;) {
		start = d + 2 + bn;
		if (start + 2 <= len && body[start] == '-' && body[start + 1] == '-')
			break;	/* close delimiter; the epilogue is ignored */
		while (start < len && is_ws(body[start]))
			start++;	/* transport padding */
		if (start < len && body[start] == '\r')
			start++;
		if (start >= len || body[start] != '\n')
			return fail(why, "bad multipart boundary line", -EINVAL);
		start++;
		next = mp_next_delim(body, len, start, b, bn);
		if (next == len)
			return fail(why, "multipart body without its closing boundary", -EINVAL);
		end = mp_part_end(body, start, next);
		err = mp_part(body, start, end, &sdp, &pb, why);
		if (err)
			return err;
		if (sdp) {
			if (found)
				return fail(why, "several application/sdp parts", -EINVAL);
			found = true;
			*off = pb;
			*sdp_len = end - pb;
		}
		d = next;
	}
	if (!found)
		return fail(why, "no application/sdp part", -ENOENT);
	return 0;
}

int np_sdp_multipart_find(const char *content_type, const char *body, size_t len,
			  size_t *off, size_t *sdp_len, const char **why)
{
	char b[MP_BOUNDARY_MAX + 1];
	size_t bn = 0;
	int err;

	if (!content_type || !off || !sdp_len)
		return fail(why, "no Content-Type", -EINVAL);
	err = mp_boundary(content_type, b, &bn, why);
	if (err)
		return err;
	return mp_find(b, bn, body, len, off, sdp_len, why);
}

int np_sdp_multipart_replace(const char *content_type, const char *body, size_t len,
			     const char *sdp, size_t sdp_len, char *out, size_t out_size,
			     size_t *out_len, const char **why)
{
	struct obuf o = { .p = out, .size = out_size, .len = 0 };
	char b[MP_BOUNDARY_MAX + 1];
	size_t bn = 0, off = 0, n = 0;
	int err;

	if (!out || !out_len || !content_type || (!sdp && sdp_len))
		return fail(why, "no output buffer", -EINVAL);
	if (out_size)
		out[0] = '\0';
	err = mp_boundary(content_type, b, &bn, why);
	if (!err)
		err = mp_find(b, bn, body, len, &off, &n, why);
	if (err)
		return err;
	/* The new part must not end the part early (RFC 2046 section 5.1.1). */
	if (mp_next_delim(sdp, sdp_len, 0, b, bn) != sdp_len)
		return fail(why, "new SDP holds the multipart boundary", -EINVAL);
	put(&o, body, off);
	put(&o, sdp, sdp_len);
	put(&o, body + off + n, len - off - n);
	if (o.len >= out_size) {
		if (out_size)
			out[0] = '\0';
		return fail(why, "output buffer too small", -ENOSPC);
	}
	out[o.len] = '\0';
	*out_len = o.len;
	return 0;
}
