/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * YAML configuration parser for natproxyd. The file is loaded with libyaml's
 * document API, then walked key by key into a private struct np_config;
 * every value is checked (syntax, ranges, cross references between realms
 * and pairs, port overlaps on a shared address) before the result is handed
 * to the caller. The first problem found ends the parse with one message
 * "FILE:LINE:COLUMN: what" that points at the offending key or value, so an
 * operator can fix the file without guessing.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_SIZE (1 << 20) /* far above any sane config */
#define WHY_MAX 128

/* Where each checked value sat, for messages raised after the walk. */
struct realm_marks {
	yaml_mark_t map, name, sip_port, sip_ports, media_ports, mgcp_port,
		h248_port;
};

struct parser {
	const char *name;
	const char *text;
	size_t len;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct np_config *cfg;
	struct realm_marks *rm;
	/* per pair: the "first" value, to complain about a realm reused */
	yaml_mark_t *first_marks;
};

static void put_err(struct parser *p, size_t line, size_t col,
		    const char *fmt, va_list ap)
{
	size_t i;
	int n;

	if (!p->err || !p->errlen)
		return;
	n = snprintf(p->err, p->errlen, "%s:%zu:%zu: ", p->name, line, col);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	/* Values may hold newlines or escapes; keep the message one line. */
	for (i = 0; p->err[i]; i++)
		if ((unsigned char)p->err[i] < 0x20 || p->err[i] == 0x7f)
			p->err[i] = '?';
}

__attribute__((format(printf, 3, 4))) static int
fail(struct parser *p, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put_err(p, m.line + 1, m.column + 1, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* libyaml gives reader errors (bad encoding) as a byte offset only. */
__attribute__((format(printf, 3, 4))) static int
fail_at_offset(struct parser *p, size_t off, const char *fmt, ...)
{
	size_t i, line = 1, col = 1;
	va_list ap;

	for (i = 0; i < off && i < p->len; i++) {
		if (p->text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)p->text[i] & 0xc0) != 0x80) {
			col++; /* count characters, not UTF-8 bytes */
		}
	}
	va_start(ap, fmt);
	put_err(p, line, col, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- nodes ---- */

static yaml_node_t *node(const struct parser *p, int id)
{
	return yaml_document_get_node(p->doc, id);
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* An empty value, "~" or "null" (unquoted), as YAML's core schema has it. */
static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
	if (is_null(n))
		return "an empty value";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* A non-empty scalar value for @key, as a C string. */
static int want_scalar(struct parser *p, const yaml_node_t *k,
		       const yaml_node_t *v, const char **out)
{
	if (is_null(v))
		return fail(p, k->start_mark, "'%s' has no value", sval(k));
	if (v->type != YAML_SCALAR_NODE)
		return fail(p, v->start_mark, "'%s' must be a scalar, found %s",
			    sval(k), kind(v));
	/* A "\0" escape would silently cut the value short. */
	if (strlen(sval(v)) != v->data.scalar.length)
		return fail(p, v->start_mark, "'%s' contains a NUL character",
			    sval(k));
	*out = sval(v);
	return 0;
}

/* Containers accept an empty value as empty, the way YAML readers do. */
static int want_type(struct parser *p, const yaml_node_t *k,
		     const yaml_node_t *v, yaml_node_type_t type)
{
	if (v->type == type || is_null(v))
		return 0;
	return fail(p, v->start_mark, "'%s' must be %s, found %s", sval(k),
		    type == YAML_MAPPING_NODE ? "a mapping" : "a sequence",
		    kind(v));
}

/* An empty value has no position of its own: point at its key. */
static yaml_mark_t value_mark(const yaml_node_t *k, const yaml_node_t *v)
{
	return is_null(v) ? k->start_mark : v->start_mark;
}

static size_t seq_len(const yaml_node_t *v)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return 0;
	return v->data.sequence.items.top - v->data.sequence.items.start;
}

static yaml_node_t *seq_item(const struct parser *p, const yaml_node_t *v,
			     size_t i)
{
	return node(p, v->data.sequence.items.start[i]);
}

/*
 * Sort the keys of mapping @map into @kn/@vn by their index in @keys,
 * rejecting keys not in @keys and keys given twice; @where names the
 * mapping in messages. Missing keys stay NULL.
 */
static int collect(struct parser *p, const yaml_node_t *map,
		   const char *const *keys, size_t nkeys, yaml_node_t **kn,
		   yaml_node_t **vn, const char *where)
{
	yaml_node_pair_t *pair;
	yaml_node_t *k;
	size_t i;

	memset(kn, 0, nkeys * sizeof(*kn));
	memset(vn, 0, nkeys * sizeof(*vn));
	if (map->type != YAML_MAPPING_NODE)
		return 0;
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		k = node(p, pair->key);
		if (k->type != YAML_SCALAR_NODE || is_null(k))
			return fail(p, k->start_mark,
				    "keys must be plain names, found %s %s",
				    kind(k), where);
		for (i = 0; i < nkeys; i++)
			if (!strcmp(sval(k), keys[i]))
				break;
		if (i == nkeys)
			return fail(p, k->start_mark, "unknown key '%.60s' %s",
				    sval(k), where);
		if (kn[i])
			return fail(p, k->start_mark,
				    "duplicate key '%s' %s (first at line %zu)",
				    keys[i], where, kn[i]->start_mark.line + 1);
		kn[i] = k;
		vn[i] = node(p, pair->value);
	}
	return 0;
}

static int require(struct parser *p, const yaml_node_t *map,
		   yaml_node_t *const *kn, size_t i, const char *const *keys,
		   const char *where)
{
	if (kn[i])
		return 0;
	return fail(p, map->start_mark, "missing required key '%s' %s",
		    keys[i], where);
}

/* The scalar value of @key in mapping @map, for naming it in messages. */
static const char *peek(const struct parser *p, const yaml_node_t *map,
			const char *key)
{
	yaml_node_pair_t *pair;
	yaml_node_t *k, *v;

	if (map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		k = node(p, pair->key);
		v = node(p, pair->value);
		if (k->type == YAML_SCALAR_NODE && !strcmp(sval(k), key) &&
		    v->type == YAML_SCALAR_NODE && !is_null(v))
			return sval(v);
	}
	return NULL;
}

/* ---- scalar syntax; each returns NULL or why the text is wrong ---- */

static const char *scan_uint(const char *s, uint32_t min, uint32_t max,
			     uint32_t *out, char *why)
{
	uint64_t v = 0;
	const char *q = s;

	if (*q < '0' || *q > '9')
		return "is not a decimal number";
	/* YAML 1.1 reads 010 as octal, 1.2 as decimal: refuse to guess. */
	if (q[0] == '0' && q[1] >= '0' && q[1] <= '9')
		return "has a leading zero";
	for (; *q >= '0' && *q <= '9'; q++)
		if (v <= UINT32_MAX)
			v = v * 10 + (*q - '0');
	if (*q)
		return "has trailing characters after the number";
	if (v < min || v > max) {
		snprintf(why, WHY_MAX, "is out of range %u..%u", min, max);
		return why;
	}
	*out = v;
	return NULL;
}

static const char *scan_port(const char *s, uint16_t *out, char *why)
{
	const char *e;
	uint32_t v;

	e = scan_uint(s, 1, 65535, &v, why);
	if (!e)
		*out = v;
	return e;
}

/* "LO-HI", spaces around the dash allowed. */
static const char *scan_range(const char *s, struct np_port_range *r,
			      char *why)
{
	char lo[16], hi[16], tmp[WHY_MAX];
	const char *dash, *e;
	size_t n;

	dash = strchr(s, '-');
	if (!dash)
		return "expected a range LO-HI";
	n = dash - s;
	while (n && s[n - 1] == ' ')
		n--;
	if (!n || n >= sizeof(lo))
		return "expected a range LO-HI";
	memcpy(lo, s, n);
	lo[n] = '\0';
	for (dash++; *dash == ' '; dash++)
		;
	if (!*dash || strlen(dash) >= sizeof(hi))
		return "expected a range LO-HI";
	strcpy(hi, dash);
	e = scan_port(lo, &r->lo, tmp);
	if (e) {
		snprintf(why, WHY_MAX, "start port %s %s", lo, e);
		return why;
	}
	e = scan_port(hi, &r->hi, tmp);
	if (e) {
		snprintf(why, WHY_MAX, "end port %s %s", hi, e);
		return why;
	}
	if (r->lo > r->hi) {
		snprintf(why, WHY_MAX, "start %u is above end %u", r->lo,
			 r->hi);
		return why;
	}
	return NULL;
}

static bool is_unspecified_or_multicast(const struct np_sockaddr *a)
{
	uint32_t v4;

	if (a->family == AF_INET) {
		v4 = ntohl(a->addr.v4.s_addr);
		return !v4 || (v4 >> 28) == 0xe || v4 == 0xffffffff;
	}
	return IN6_IS_ADDR_UNSPECIFIED(&a->addr.v6) ||
	       IN6_IS_ADDR_MULTICAST(&a->addr.v6);
}

static const char *scan_addr(const char *s, struct np_sockaddr *a,
			     bool any_ok)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->addr.v4) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a->addr.v6) == 1)
		a->family = AF_INET6;
	else
		return "not an IPv4 or IPv6 address";
	/* Sockets are bound and SDP is written with it: it must be ours. */
	if (is_unspecified_or_multicast(a) &&
	    !(any_ok && (a->family == AF_INET ? !a->addr.v4.s_addr :
			 IN6_IS_ADDR_UNSPECIFIED(&a->addr.v6))))
		return any_ok ? "not a unicast or wildcard address" :
				"not a unicast address";
	return NULL;
}

/* "A.B.C.D:PORT" or "[V6]:PORT"; @any_ok: 0.0.0.0 or [::] too (a listening
 * socket's wildcard). */
static const char *scan_hostport(const char *s, struct np_sockaddr *a,
				 char *why, bool any_ok)
{
	char host[INET6_ADDRSTRLEN];
	bool bracketed = *s == '[';
	const char *colon, *e;
	size_t n;

	if (bracketed) {
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			return "expected [IPV6]:PORT";
		s++;
		n = colon - s;
		colon++;
	} else {
		colon = strchr(s, ':');
		if (!colon)
			return "missing port, expected ADDRESS:PORT";
		if (strchr(colon + 1, ':'))
			return "an IPv6 address needs brackets: [IPV6]:PORT";
		n = colon - s;
	}
	if (!n || n >= sizeof(host))
		return "not an IPv4 or IPv6 address";
	memcpy(host, s, n);
	host[n] = '\0';
	e = scan_addr(host, a, any_ok);
	if (e)
		return e;
	if (bracketed && a->family != AF_INET6)
		return "brackets are for IPv6 addresses only";
	return scan_port(colon + 1, &a->port, why);
}

/* "ADDR/LEN"; a bare address is a host prefix. */
static const char *scan_prefix(const char *s, struct np_prefix *pfx,
			       char *why)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash, *e;
	unsigned char *b;
	uint32_t len, max;
	size_t n, i;

	memset(pfx, 0, sizeof(*pfx));
	slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (!n || n >= sizeof(host))
		return "expected ADDRESS/LENGTH";
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &pfx->addr.v4) == 1)
		pfx->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &pfx->addr.v6) == 1)
		pfx->family = AF_INET6;
	else
		return "not an IPv4 or IPv6 address";
	max = pfx->family == AF_INET ? 32 : 128;
	len = max;
	if (slash) {
		e = scan_uint(slash + 1, 0, max, &len, why);
		if (e == why) {
			snprintf(why, WHY_MAX, "length %s is out of range 0..%u",
				 slash + 1, max);
			return why;
		}
		if (e) {
			snprintf(why, WHY_MAX, "length %s %s", slash + 1, e);
			return why;
		}
	}
	pfx->len = len;
	/* A set host bit is most often a typo for another prefix. */
	b = pfx->family == AF_INET ? (unsigned char *)&pfx->addr.v4 :
				     pfx->addr.v6.s6_addr;
	for (i = len / 8; i < max / 8; i++) {
		unsigned char keep = i == len / 8 ? 0xff << (8 - len % 8) : 0;

		if (b[i] & ~keep & 0xff) {
			snprintf(why, WHY_MAX, "host bits set beyond /%u", len);
			return why;
		}
	}
	return NULL;
}

static bool scan_enum(const char *s, const char *const *names, size_t n,
		      int *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return true;
		}
	}
	return false;
}

/*
 * ---- typed values: a key's value node into a field ----
 * An absent key (@k NULL) leaves the field alone, so callers preset
 * defaults and chain the calls.
 */

static int get_uint(struct parser *p, const yaml_node_t *k,
		    const yaml_node_t *v, uint32_t min, uint32_t max,
		    uint32_t *out)
{
	char why[WHY_MAX];
	const char *s, *e;
	int ret;

	if (!k)
		return 0;
	ret = want_scalar(p, k, v, &s);
	if (ret)
		return ret;
	e = scan_uint(s, min, max, out, why);
	if (e)
		return fail(p, v->start_mark, "bad %s '%.60s': %s", sval(k), s,
			    e);
	return 0;
}

static int get_port(struct parser *p, const yaml_node_t *k,
		    const yaml_node_t *v, uint16_t *out)
{
	char why[WHY_MAX];
	const char *s, *e;
	int ret;

	if (!k)
		return 0;
	ret = want_scalar(p, k, v, &s);
	if (ret)
		return ret;
	e = scan_port(s, out, why);
	if (e)
		return fail(p, v->start_mark, "bad %s '%.60s': %s", sval(k), s,
			    e);
	return 0;
}

static int get_range(struct parser *p, const yaml_node_t *k,
		     const yaml_node_t *v, struct np_port_range *r)
{
	char why[WHY_MAX];
	const char *s, *e;
	int ret;

	if (!k)
		return 0;
	ret = want_scalar(p, k, v, &s);
	if (ret)
		return ret;
	e = scan_range(s, r, why);
	if (e)
		return fail(p, v->start_mark, "bad %s '%.60s': %s", sval(k), s,
			    e);
	return 0;
}

static int get_string(struct parser *p, const yaml_node_t *k,
		      const yaml_node_t *v, char *out, size_t size)
{
	const char *s;
	int ret;

	ret = want_scalar(p, k, v, &s);
	if (ret)
		return ret;
	if (strlen(s) >= size)
		return fail(p, v->start_mark,
			    "bad %s '%.60s': longer than %zu characters",
			    sval(k), s, size - 1);
	strcpy(out, s);
	return 0;
}

static int get_enum(struct parser *p, const yaml_node_t *k,
		    const yaml_node_t *v, const char *const *names, size_t n,
		    const char *choices, int *out)
{
	const char *s;
	int ret;

	if (!k)
		return 0;
	ret = want_scalar(p, k, v, &s);
	if (ret)
		return ret;
	if (!scan_enum(s, names, n, out))
		return fail(p, v->start_mark, "bad %s '%.60s': expected %s",
			    sval(k), s, choices);
	return 0;
}

static int get_prefixes(struct parser *p, const yaml_node_t *k,
			const yaml_node_t *v, struct np_prefix **out,
			size_t *nout)
{
	char why[WHY_MAX];
	const char *s, *e;
	yaml_node_t *item;
	size_t i, n;
	int ret;

	if (!k)
		return 0;
	ret = want_type(p, k, v, YAML_SEQUENCE_NODE);
	if (ret)
		return ret;
	n = seq_len(v);
	if (!n)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*nout = n;
	for (i = 0; i < n; i++) {
		item = seq_item(p, v, i);
		ret = want_scalar(p, k, item, &s);
		if (ret)
			return ret;
		e = scan_prefix(s, &(*out)[i], why);
		if (e)
			return fail(p, item->start_mark,
				    "bad prefix '%.60s' in %s: %s", s, sval(k),
				    e);
	}
	return 0;
}

/* ---- realms ---- */

enum {
	R_NAME,
	R_INTERFACE,
	R_ADDRESS,
	R_SIP_PORT,
	R_SIP_PORTS,
	R_MEDIA_PORTS,
	R_LATCH,
	R_MEDIA_TIMEOUT,
	R_DSCP,
	R_SIP_DSCP,
	R_VLAN,
	R_ALLOW,
	R_DENY,
	R_MAX_CALLS,
	R_MAX_STREAM_KBPS,
	R_DENY_ACTION,
	R_MAX_REGISTRATIONS,
	R_ICE,
	R_HOLD_TIMEOUT,
	R_CORE_STRANGERS,
	R_SIP_PORT_QUARANTINE,
	R_ADDRESS_RATE,
	R_MAPPING_RATE,
	R_TERMINALS_PER_ADDRESS,
	R_CALLS_PER_TERMINAL,
	R_TRANSACTIONS_PER_TERMINAL,
	R_RESERVE,
	R_MGCP_PORT,
	R_H248_PORT,
	R_PREFIX_RATE,
	R_BLOCK_TIME,
	R_UNKNOWN_RATE,
	R_UNKNOWN_BURST,
	R_COUNT
};

static const char *const realm_keys[R_COUNT] = {
	[R_NAME] = "name",
	[R_INTERFACE] = "interface",
	[R_ADDRESS] = "address",
	[R_SIP_PORT] = "sip_port",
	[R_SIP_PORTS] = "sip_ports",
	[R_MEDIA_PORTS] = "media_ports",
	[R_LATCH] = "latch",
	[R_MEDIA_TIMEOUT] = "media_timeout",
	[R_DSCP] = "dscp",
	[R_SIP_DSCP] = "sip_dscp",
	[R_VLAN] = "vlan",
	[R_ALLOW] = "allow",
	[R_DENY] = "deny",
	[R_MAX_CALLS] = "max_calls",
	[R_MAX_STREAM_KBPS] = "max_stream_kbps",
	[R_DENY_ACTION] = "deny_action",
	[R_MAX_REGISTRATIONS] = "max_registrations",
	[R_ICE] = "ice",
	[R_HOLD_TIMEOUT] = "hold_timeout",
	[R_CORE_STRANGERS] = "core_strangers",
	[R_SIP_PORT_QUARANTINE] = "sip_port_quarantine",
	[R_ADDRESS_RATE] = "max_requests_per_address",
	[R_MAPPING_RATE] = "max_requests_per_mapping",
	[R_TERMINALS_PER_ADDRESS] = "max_terminals_per_address",
	[R_CALLS_PER_TERMINAL] = "max_calls_per_terminal",
	[R_TRANSACTIONS_PER_TERMINAL] = "max_transactions_per_terminal",
	[R_RESERVE] = "reserve_percent",
	[R_MGCP_PORT] = "mgcp_port",
	[R_H248_PORT] = "h248_port",
	[R_PREFIX_RATE] = "max_requests_per_prefix",
	[R_BLOCK_TIME] = "block_time",
	[R_UNKNOWN_RATE] = "unknown_signaling_rate",
	[R_UNKNOWN_BURST] = "unknown_signaling_burst",
};

/* "restricted", the name first-packet latching had when first-packet
 * latched onto any source, stays valid: both mean NP_LATCH_FIRST_PACKET. */
#define LATCH_RESTRICTED 3
static const char *const latch_names[] = {
	[NP_LATCH_FIRST_PACKET] = "first-packet",
	[NP_LATCH_ANY] = "any",
	[NP_LATCH_OFF] = "off",
	[LATCH_RESTRICTED] = "restricted",
};

const char *np_latch_mode_name(enum np_latch_mode mode)
{
	return (unsigned int)mode < LATCH_RESTRICTED ? latch_names[mode] : "?";
}

static const char *const deny_action_names[] = { "403", "drop" };

static const char *const ice_names[] = {
	[NP_SDP_ICE_REMOVE] = "remove",
	[NP_SDP_ICE_RELAY] = "relay",
};

static const char *const core_strangers_names[] = {
	[NP_CORE_STRANGERS_DROP] = "drop",
	[NP_CORE_STRANGERS_REJECT] = "reject",
};

/* Names turn up in logs, CLI arguments and map dumps: keep them plain. */
static bool good_name(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		      *s == '.'))
			return false;
	return true;
}

/* What the kernel's dev_valid_name() accepts. */
static bool good_ifname(const char *s)
{
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || (unsigned char)*s <= ' ' ||
		    *s == 0x7f)
			return false;
	return true;
}

static int get_int(struct parser *p, const yaml_node_t *k,
		   const yaml_node_t *v, uint32_t min, uint32_t max, int *out)
{
	uint32_t x;
	int ret;

	if (!k)
		return 0;
	ret = get_uint(p, k, v, min, max, &x);
	if (!ret)
		*out = x;
	return ret;
}

/* The keys every realm has: who it is, where it lives, its ports. */
static int parse_realm_base(struct parser *p, yaml_node_t *const *kn,
			    yaml_node_t *const *vn, size_t idx)
{
	struct np_realm *r = &p->cfg->realms[idx];
	struct realm_marks *m = &p->rm[idx];
	const char *s, *e;
	size_t i;
	int ret;

	ret = get_string(p, kn[R_NAME], vn[R_NAME], r->name, sizeof(r->name));
	if (ret)
		return ret;
	m->name = vn[R_NAME]->start_mark;
	if (!good_name(r->name))
		return fail(p, m->name,
			    "bad name '%s': use letters, digits, '-', '_' and '.'",
			    r->name);
	for (i = 0; i < idx; i++)
		if (!strcmp(p->cfg->realms[i].name, r->name))
			return fail(p, m->name,
				    "duplicate realm name '%s' (first at line %zu)",
				    r->name, p->rm[i].name.line + 1);

	ret = get_string(p, kn[R_INTERFACE], vn[R_INTERFACE], r->interface,
			 sizeof(r->interface));
	if (ret)
		return ret;
	if (!good_ifname(r->interface))
		return fail(p, vn[R_INTERFACE]->start_mark,
			    "bad interface '%s': not a valid interface name",
			    r->interface);

	ret = want_scalar(p, kn[R_ADDRESS], vn[R_ADDRESS], &s);
	if (ret)
		return ret;
	e = scan_addr(s, &r->address, false);
	if (e)
		return fail(p, vn[R_ADDRESS]->start_mark,
			    "bad address '%.60s': %s", s, e);

	ret = get_port(p, kn[R_SIP_PORT], vn[R_SIP_PORT], &r->sip_port);
	if (!ret)
		ret = get_port(p, kn[R_MGCP_PORT], vn[R_MGCP_PORT],
			       &r->mgcp_port);
	if (!ret)
		ret = get_port(p, kn[R_H248_PORT], vn[R_H248_PORT],
			       &r->h248_port);
	if (!ret)
		ret = get_range(p, kn[R_SIP_PORTS], vn[R_SIP_PORTS],
				&r->sip_ports);
	if (!ret)
		ret = get_range(p, kn[R_MEDIA_PORTS], vn[R_MEDIA_PORTS],
				&r->media_ports);
	if (ret)
		return ret;
	if (kn[R_SIP_PORT])
		m->sip_port = vn[R_SIP_PORT]->start_mark;
	if (kn[R_SIP_PORTS])
		m->sip_ports = vn[R_SIP_PORTS]->start_mark;
	if (kn[R_MGCP_PORT])
		m->mgcp_port = vn[R_MGCP_PORT]->start_mark;
	if (kn[R_H248_PORT])
		m->h248_port = vn[R_H248_PORT]->start_mark;
	m->media_ports = vn[R_MEDIA_PORTS]->start_mark;

	/* One stream takes an RTP port and the RTCP port above it (RFC 3550
	 * section 11): the range must hold a pair and start on an even port. */
	s = sval(vn[R_MEDIA_PORTS]);
	if (r->media_ports.hi == r->media_ports.lo)
		return fail(p, m->media_ports,
			    "bad media_ports '%s': needs at least 2 ports (RTP and RTCP)",
			    s);
	if (r->media_ports.lo & 1)
		return fail(p, m->media_ports,
			    "bad media_ports '%s': must start on an even port (RTP even, RTCP odd)",
			    s);
	return 0;
}

/* Policy keys (issue 4); absent ones keep the defaults set here. */
static int parse_realm_policy(struct parser *p, yaml_node_t *const *kn,
			      yaml_node_t *const *vn, struct np_realm *r)
{
	int latch = NP_LATCH_FIRST_PACKET, deny_drop = 0;
	int ice = NP_SDP_ICE_REMOVE, strangers = NP_CORE_STRANGERS_DROP;
	int ret;

	r->media_timeout = NP_DEFAULT_MEDIA_TIMEOUT;
	r->hold_timeout = NP_DEFAULT_HOLD_TIMEOUT;
	r->sip_port_quarantine = NP_DEFAULT_SIP_PORT_QUARANTINE;
	r->max_address_rate = NP_DEFAULT_ADDRESS_RATE;
	r->max_mapping_rate = NP_DEFAULT_MAPPING_RATE;
	r->max_terminals_per_address = NP_DEFAULT_TERMINALS_PER_ADDRESS;
	r->max_calls_per_terminal = NP_DEFAULT_CALLS_PER_TERMINAL;
	r->max_transactions_per_terminal =
		NP_DEFAULT_TRANSACTIONS_PER_TERMINAL;
	r->reserve_percent = NP_DEFAULT_RESERVE_PERCENT;
	r->dscp = -1;
	r->sip_dscp = -1;
	ret = get_enum(p, kn[R_LATCH], vn[R_LATCH], latch_names,
		       sizeof(latch_names) / sizeof(latch_names[0]),
		       "first-packet, restricted, any or off", &latch);
	if (latch == LATCH_RESTRICTED)
		latch = NP_LATCH_FIRST_PACKET;
	if (!ret)
		ret = get_uint(p, kn[R_MEDIA_TIMEOUT], vn[R_MEDIA_TIMEOUT], 1,
			       86400, &r->media_timeout);
	if (!ret)
		ret = get_int(p, kn[R_DSCP], vn[R_DSCP], 0, 63, &r->dscp);
	if (!ret)
		ret = get_int(p, kn[R_SIP_DSCP], vn[R_SIP_DSCP], 0, 63,
			      &r->sip_dscp);
	/* VLAN ids 0 and 4095 are reserved by IEEE 802.1Q. */
	if (!ret)
		ret = get_int(p, kn[R_VLAN], vn[R_VLAN], 1, 4094, &r->vlan);
	if (!ret)
		ret = get_prefixes(p, kn[R_ALLOW], vn[R_ALLOW], &r->allow,
				   &r->n_allow);
	if (!ret)
		ret = get_prefixes(p, kn[R_DENY], vn[R_DENY], &r->deny,
				   &r->n_deny);
	if (!ret)
		ret = get_uint(p, kn[R_MAX_CALLS], vn[R_MAX_CALLS], 0,
			       UINT32_MAX, &r->max_calls);
	if (!ret)
		ret = get_uint(p, kn[R_MAX_STREAM_KBPS], vn[R_MAX_STREAM_KBPS],
			       0, UINT32_MAX, &r->max_stream_kbps);
	if (!ret)
		ret = get_uint(p, kn[R_MAX_REGISTRATIONS],
			       vn[R_MAX_REGISTRATIONS], 0, UINT32_MAX,
			       &r->max_registrations);
	if (!ret)
		ret = get_enum(p, kn[R_DENY_ACTION], vn[R_DENY_ACTION],
			       deny_action_names, 2, "403 or drop", &deny_drop);
	if (!ret)
		ret = get_enum(p, kn[R_ICE], vn[R_ICE], ice_names, 2,
			       "remove or relay", &ice);
	if (!ret)
		ret = get_uint(p, kn[R_HOLD_TIMEOUT], vn[R_HOLD_TIMEOUT], 0,
			       NP_MAX_HOLD_TIMEOUT, &r->hold_timeout);
	if (!ret)
		ret = get_enum(p, kn[R_CORE_STRANGERS], vn[R_CORE_STRANGERS],
			       core_strangers_names, 2, "drop or reject",
			       &strangers);
	if (!ret)
		ret = get_uint(p, kn[R_SIP_PORT_QUARANTINE],
			       vn[R_SIP_PORT_QUARANTINE], 0,
			       NP_MAX_SIP_PORT_QUARANTINE,
			       &r->sip_port_quarantine);
	if (!ret)
		ret = get_uint(p, kn[R_ADDRESS_RATE], vn[R_ADDRESS_RATE], 0,
			       1000000, &r->max_address_rate);
	if (!ret)
		ret = get_uint(p, kn[R_MAPPING_RATE], vn[R_MAPPING_RATE], 0,
			       1000000, &r->max_mapping_rate);
	if (!ret)
		ret = get_uint(p, kn[R_TERMINALS_PER_ADDRESS],
			       vn[R_TERMINALS_PER_ADDRESS], 0, UINT32_MAX,
			       &r->max_terminals_per_address);
	if (!ret)
		ret = get_uint(p, kn[R_CALLS_PER_TERMINAL],
			       vn[R_CALLS_PER_TERMINAL], 0, UINT32_MAX,
			       &r->max_calls_per_terminal);
	if (!ret)
		ret = get_uint(p, kn[R_TRANSACTIONS_PER_TERMINAL],
			       vn[R_TRANSACTIONS_PER_TERMINAL], 0, UINT32_MAX,
			       &r->max_transactions_per_terminal);
	if (!ret)
		ret = get_uint(p, kn[R_RESERVE], vn[R_RESERVE], 0, 50,
			       &r->reserve_percent);
	r->latch = latch;
	r->deny_drop = deny_drop;
	r->ice = ice;
	r->core_strangers = strangers;
	return ret;
}

/* The signaling guard's keys (issue 11, bpf/guard.h). */
static int parse_realm_guard(struct parser *p, yaml_node_t *const *kn,
			     yaml_node_t *const *vn, struct np_realm *r)
{
	int ret;

	r->max_prefix_rate = NP_DEFAULT_PREFIX_RATE;
	r->block_time = NP_DEFAULT_BLOCK_TIME;
	r->unknown_rate = NP_DEFAULT_UNKNOWN_RATE;
	ret = get_uint(p, kn[R_PREFIX_RATE], vn[R_PREFIX_RATE], 0,
		       NP_MAX_UNKNOWN_RATE, &r->max_prefix_rate);
	if (!ret)
		ret = get_uint(p, kn[R_BLOCK_TIME], vn[R_BLOCK_TIME], 0,
			       NP_MAX_BLOCK_TIME, &r->block_time);
	if (!ret)
		ret = get_uint(p, kn[R_UNKNOWN_RATE], vn[R_UNKNOWN_RATE], 0,
			       NP_MAX_UNKNOWN_RATE, &r->unknown_rate);
	/* One second's worth unless given. */
	r->unknown_burst = r->unknown_rate ? r->unknown_rate : 1;
	if (!ret)
		ret = get_uint(p, kn[R_UNKNOWN_BURST], vn[R_UNKNOWN_BURST], 1,
			       NP_MAX_UNKNOWN_RATE, &r->unknown_burst);
	return ret;
}

static int parse_realm(struct parser *p, const yaml_node_t *map, size_t idx)
{
	yaml_node_t *kn[R_COUNT], *vn[R_COUNT];
	static const int required[] = { R_NAME, R_INTERFACE, R_ADDRESS,
					R_MEDIA_PORTS };
	const char *name;
	char where[64];
	size_t i;
	int ret;

	if (map->type != YAML_MAPPING_NODE)
		return fail(p, map->start_mark,
			    "each realm must be a mapping, found %s",
			    kind(map));
	name = peek(p, map, "name");
	if (name)
		snprintf(where, sizeof(where), "in realm '%.31s'", name);
	else
		snprintf(where, sizeof(where), "in realm %zu", idx + 1);
	ret = collect(p, map, realm_keys, R_COUNT, kn, vn, where);
	for (i = 0; !ret && i < sizeof(required) / sizeof(required[0]); i++)
		ret = require(p, map, kn, required[i], realm_keys, where);
	if (ret)
		return ret;
	p->rm[idx].map = map->start_mark;
	ret = parse_realm_base(p, kn, vn, idx);
	if (ret)
		return ret;
	ret = parse_realm_policy(p, kn, vn, &p->cfg->realms[idx]);
	if (ret)
		return ret;
	return parse_realm_guard(p, kn, vn, &p->cfg->realms[idx]);
}

/* ---- port overlaps on one address ---- */

struct portset {
	const char *key;
	uint16_t lo, hi;
	yaml_mark_t mark;
};

static size_t realm_portsets(const struct np_realm *r,
			     const struct realm_marks *m, struct portset *ps)
{
	size_t n = 0;

	if (r->sip_port)
		ps[n++] = (struct portset){ "sip_port", r->sip_port,
					    r->sip_port, m->sip_port };
	if (r->mgcp_port)
		ps[n++] = (struct portset){ "mgcp_port", r->mgcp_port,
					    r->mgcp_port, m->mgcp_port };
	if (r->h248_port)
		ps[n++] = (struct portset){ "h248_port", r->h248_port,
					    r->h248_port, m->h248_port };
	if (r->sip_ports.lo)
		ps[n++] = (struct portset){ "sip_ports", r->sip_ports.lo,
					    r->sip_ports.hi, m->sip_ports };
	ps[n++] = (struct portset){ "media_ports", r->media_ports.lo,
				    r->media_ports.hi, m->media_ports };
	return n;
}

static void portset_str(const struct portset *s, char *buf, size_t size)
{
	if (s->lo == s->hi)
		snprintf(buf, size, "%s %u", s->key, s->lo);
	else
		snprintf(buf, size, "%s %u-%u", s->key, s->lo, s->hi);
}

static bool same_addr(const struct np_sockaddr *a, const struct np_sockaddr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->addr.v4.s_addr == b->addr.v4.s_addr;
	return !memcmp(&a->addr.v6, &b->addr.v6, sizeof(a->addr.v6));
}

/*
 * Every socket the daemon binds and every relay port XDP claims lives on
 * the realm's address: two users of one port would steal each other's
 * packets, so ranges on one address must be disjoint, across realms too.
 */
static int check_overlaps(struct parser *p)
{
	struct portset a[5], b[5];
	char sa[48], sb[48], addr[INET6_ADDRSTRLEN];
	const struct np_realm *rj, *ri;
	size_t i, j, na, nb, x, y;

	for (j = 0; j < p->cfg->n_realms; j++) {
		rj = &p->cfg->realms[j];
		nb = realm_portsets(rj, &p->rm[j], b);
		for (y = 1; y < nb; y++) {
			for (x = 0; x < y; x++) {
				if (b[y].lo > b[x].hi || b[x].lo > b[y].hi)
					continue;
				portset_str(&b[y], sb, sizeof(sb));
				portset_str(&b[x], sa, sizeof(sa));
				return fail(p, b[y].mark,
					    "%s overlaps %s of the same realm",
					    sb, sa);
			}
		}
		for (i = 0; i < j; i++) {
			ri = &p->cfg->realms[i];
			if (!same_addr(&ri->address, &rj->address))
				continue;
			na = realm_portsets(ri, &p->rm[i], a);
			for (y = 0; y < nb; y++) {
				for (x = 0; x < na; x++) {
					if (b[y].lo > a[x].hi ||
					    a[x].lo > b[y].hi)
						continue;
					portset_str(&b[y], sb, sizeof(sb));
					portset_str(&a[x], sa, sizeof(sa));
					inet_ntop(rj->address.family,
						  &rj->address.addr, addr,
						  sizeof(addr));
					return fail(p, b[y].mark,
						    "%s overlaps %s of realm '%s' on the same address %s",
						    sb, sa, ri->name, addr);
				}
			}
		}
	}
	return 0;
}

/* ---- pairs ---- */

enum { P_FIRST, P_SECOND, P_SOFTSWITCH, P_CALL_AGENT, P_MGC, P_COUNT };

static const char *const pair_keys[P_COUNT] = {
	[P_FIRST] = "first",
	[P_SECOND] = "second",
	[P_SOFTSWITCH] = "softswitch",
	[P_CALL_AGENT] = "call_agent",
	[P_MGC] = "mgc",
};

static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

static int get_realm_ref(struct parser *p, const yaml_node_t *k,
			 const yaml_node_t *v, size_t *out)
{
	const char *s;
	size_t i;
	int ret;

	ret = want_scalar(p, k, v, &s);
	if (ret)
		return ret;
	for (i = 0; i < p->cfg->n_realms; i++) {
		if (!strcmp(p->cfg->realms[i].name, s)) {
			*out = i;
			return 0;
		}
	}
	return fail(p, v->start_mark, "%s names unknown realm '%.60s'", sval(k),
		    s);
}

/* MGCP (RFC 3435) on a pair: the call agent in the second realm, gateways
 * reaching the first realm's mgcp_port. */
static int parse_call_agent(struct parser *p, yaml_node_t *const *kn,
			    yaml_node_t *const *vn, size_t idx)
{
	struct np_pair *pr = &p->cfg->pairs[idx];
	const struct np_realm *first = &p->cfg->realms[pr->first];
	const struct np_realm *second = &p->cfg->realms[pr->second];
	char why[WHY_MAX];
	const char *s, *e;
	int ret;

	if (!first->mgcp_port)
		return fail(p, vn[P_FIRST]->start_mark,
			    "realm '%s' (line %zu) has no mgcp_port, which the first realm of a pair with a call_agent needs",
			    first->name, p->rm[pr->first].map.line + 1);
	ret = want_scalar(p, kn[P_CALL_AGENT], vn[P_CALL_AGENT], &s);
	if (ret)
		return ret;
	e = scan_hostport(s, &pr->call_agent, why, false);
	if (e)
		return fail(p, vn[P_CALL_AGENT]->start_mark,
			    "bad call_agent '%.60s': %s", s, e);
	if (pr->call_agent.family != second->address.family)
		return fail(p, vn[P_CALL_AGENT]->start_mark,
			    "pair %zu (%s -> %s) mixes address families: call_agent '%.60s' is %s but realm '%s' has an %s address",
			    idx + 1, first->name, second->name, s,
			    family_name(pr->call_agent.family), second->name,
			    family_name(second->address.family));
	return 0;
}

static bool in_range(uint16_t port, uint16_t lo, uint16_t hi)
{
	return lo && port >= lo && port <= hi;
}

/* H.248 (RFC 3525) on a pair: the media gateway controller in the second
 * realm, gateways reaching the first realm's h248_port (2944 when not
 * given, RFC 3525 D.1: the text encoding's port). */
static int parse_mgc(struct parser *p, yaml_node_t *const *kn,
		     yaml_node_t *const *vn, size_t idx)
{
	struct np_pair *pr = &p->cfg->pairs[idx];
	struct np_realm *first = &p->cfg->realms[pr->first];
	const struct np_realm *second = &p->cfg->realms[pr->second];
	char why[WHY_MAX];
	const char *s, *e;
	int ret;

	if (!first->h248_port) {
		uint16_t d = NP_DEFAULT_H248_PORT;

		if (d == first->sip_port || d == first->mgcp_port ||
		    in_range(d, first->sip_ports.lo, first->sip_ports.hi) ||
		    in_range(d, first->media_ports.lo, first->media_ports.hi))
			return fail(p, vn[P_MGC]->start_mark,
				    "realm '%s' (line %zu) has no h248_port and its default %u is taken there: give one",
				    first->name, p->rm[pr->first].map.line + 1,
				    d);
		first->h248_port = d;
	}
	ret = want_scalar(p, kn[P_MGC], vn[P_MGC], &s);
	if (ret)
		return ret;
	e = scan_hostport(s, &pr->mgc, why, false);
	if (e)
		return fail(p, vn[P_MGC]->start_mark, "bad mgc '%.60s': %s", s,
			    e);
	if (pr->mgc.family != second->address.family)
		return fail(p, vn[P_MGC]->start_mark,
			    "pair %zu (%s -> %s) mixes address families: mgc '%.60s' is %s but realm '%s' has an %s address",
			    idx + 1, first->name, second->name, s,
			    family_name(pr->mgc.family), second->name,
			    family_name(second->address.family));
	return 0;
}

static int parse_pair(struct parser *p, const yaml_node_t *map, size_t idx)
{
	struct np_pair *pr = &p->cfg->pairs[idx];
	yaml_node_t *kn[P_COUNT], *vn[P_COUNT];
	const struct np_realm *first, *second;
	char where[32], why[WHY_MAX];
	const char *s, *e;
	size_t i;
	int ret;

	if (map->type != YAML_MAPPING_NODE)
		return fail(p, map->start_mark,
			    "each pair must be a mapping, found %s", kind(map));
	snprintf(where, sizeof(where), "in pair %zu", idx + 1);
	ret = collect(p, map, pair_keys, P_COUNT, kn, vn, where);
	if (ret)
		return ret;
	/* A pair carries SIP (softswitch), MGCP (call_agent), H.248 (mgc),
	 * or several. */
	for (i = 0; i < P_SOFTSWITCH; i++) {
		ret = require(p, map, kn, i, pair_keys, where);
		if (ret)
			return ret;
	}
	if (!kn[P_CALL_AGENT] && !kn[P_MGC]) {
		ret = require(p, map, kn, P_SOFTSWITCH, pair_keys, where);
		if (ret)
			return ret;
	}

	ret = get_realm_ref(p, kn[P_FIRST], vn[P_FIRST], &pr->first);
	if (ret)
		return ret;
	first = &p->cfg->realms[pr->first];
	p->first_marks[idx] = vn[P_FIRST]->start_mark;
	ret = get_realm_ref(p, kn[P_SECOND], vn[P_SECOND], &pr->second);
	if (ret)
		return ret;
	second = &p->cfg->realms[pr->second];
	if (pr->first == pr->second)
		return fail(p, vn[P_SECOND]->start_mark,
			    "pair %zu joins realm '%s' to itself", idx + 1,
			    first->name);
	/*
	 * The XDP relay rewrites addresses and ports in place and never
	 * translates between IPv4 and IPv6 (no NAT64): media of a mixed pair
	 * could not be relayed, nor signaling from one socket to the other.
	 */
	if (first->address.family != second->address.family)
		return fail(p, vn[P_SECOND]->start_mark,
			    "pair %zu (%s -> %s) mixes address families: realm '%s' is %s but realm '%s' is %s, and natproxy does not translate between IPv4 and IPv6",
			    idx + 1, first->name, second->name, first->name,
			    family_name(first->address.family), second->name,
			    family_name(second->address.family));
	/*
	 * Requests from the access socket go to the pair's softswitch; a
	 * realm first of two pairs would leave that choice open.
	 */
	for (i = 0; i < idx; i++)
		if (p->cfg->pairs[i].first == pr->first)
			return fail(p, vn[P_FIRST]->start_mark,
				    "realm '%s' is already first of pair %zu (line %zu)",
				    first->name, i + 1,
				    p->first_marks[i].line + 1);
	if (kn[P_SOFTSWITCH] && !first->sip_port)
		return fail(p, vn[P_FIRST]->start_mark,
			    "realm '%s' (line %zu) has no sip_port, which the first realm of a pair needs",
			    first->name, p->rm[pr->first].map.line + 1);
	if (!second->sip_ports.lo)
		return fail(p, vn[P_SECOND]->start_mark,
			    "realm '%s' (line %zu) has no sip_ports, which the second realm of a pair needs",
			    second->name, p->rm[pr->second].map.line + 1);

	if (kn[P_CALL_AGENT]) {
		ret = parse_call_agent(p, kn, vn, idx);
		if (ret)
			return ret;
	}
	if (kn[P_MGC]) {
		ret = parse_mgc(p, kn, vn, idx);
		if (ret)
			return ret;
	}
	if (!kn[P_SOFTSWITCH])
		return 0;
	ret = want_scalar(p, kn[P_SOFTSWITCH], vn[P_SOFTSWITCH], &s);
	if (ret)
		return ret;
	e = scan_hostport(s, &pr->softswitch, why, false);
	if (e)
		return fail(p, vn[P_SOFTSWITCH]->start_mark,
			    "bad softswitch '%.60s': %s", s, e);
	/* The core side sends from the second realm's address. */
	if (pr->softswitch.family != second->address.family)
		return fail(p, vn[P_SOFTSWITCH]->start_mark,
			    "pair %zu (%s -> %s) mixes address families: softswitch '%.60s' is %s but realm '%s' has an %s address",
			    idx + 1, first->name, second->name, s,
			    family_name(pr->softswitch.family), second->name,
			    family_name(second->address.family));
	return 0;
}

/* ---- top level ---- */

enum { K_METHOD, K_INTERVAL, K_COUNT };

static const char *const keepalive_keys[K_COUNT] = {
	[K_METHOD] = "method",
	[K_INTERVAL] = "interval",
};

static const char *const keepalive_names[] = {
	[NP_KEEPALIVE_OPTIONS] = "options",
	[NP_KEEPALIVE_CRLF] = "crlf",
};

static int parse_keepalive(struct parser *p, const yaml_node_t *k,
			   const yaml_node_t *v)
{
	yaml_node_t *kn[K_COUNT], *vn[K_COUNT];
	int ret, mode;

	mode = p->cfg->keepalive_method;
	ret = want_type(p, k, v, YAML_MAPPING_NODE);
	if (!ret)
		ret = collect(p, v, keepalive_keys, K_COUNT, kn, vn,
			      "in keepalive");
	if (!ret)
		ret = get_enum(p, kn[K_METHOD], vn[K_METHOD], keepalive_names,
			       2, "options or crlf", &mode);
	if (!ret)
		ret = get_uint(p, kn[K_INTERVAL], vn[K_INTERVAL], 1, 3600,
			       &p->cfg->keepalive_interval);
	p->cfg->keepalive_method = mode;
	return ret;
}

static int parse_charging(struct parser *p, const yaml_node_t *k,
			  const yaml_node_t *v)
{
	static const char *const keys[] = { "file" };
	yaml_node_t *kn[1], *vn[1];
	int ret;

	ret = want_type(p, k, v, YAML_MAPPING_NODE);
	if (!ret)
		ret = collect(p, v, keys, 1, kn, vn, "in charging");
	if (!ret && !kn[0])
		ret = fail(p, value_mark(k, v),
			   "missing required key 'file' in charging");
	if (!ret)
		ret = get_string(p, kn[0], vn[0], p->cfg->charging_file,
				 sizeof(p->cfg->charging_file));
	return ret;
}

/* The Prometheus endpoint: off unless the section names where to listen. */
static int parse_metrics(struct parser *p, const yaml_node_t *k,
			 const yaml_node_t *v)
{
	static const char *const keys[] = { "listen" };
	yaml_node_t *kn[1], *vn[1];
	char why[WHY_MAX];
	const char *s, *e;
	int ret;

	ret = want_type(p, k, v, YAML_MAPPING_NODE);
	if (!ret)
		ret = collect(p, v, keys, 1, kn, vn, "in metrics");
	if (!ret && !kn[0])
		ret = fail(p, value_mark(k, v),
			   "missing required key 'listen' in metrics");
	if (!ret)
		ret = want_scalar(p, kn[0], vn[0], &s);
	if (ret)
		return ret;
	e = scan_hostport(s, &p->cfg->metrics_listen, why, true);
	if (e)
		return fail(p, vn[0]->start_mark, "bad listen '%.60s': %s", s,
			    e);
	return 0;
}

/* A name that goes into Redis keys: letters, digits, '-', '_', '.'. */
static int get_name(struct parser *p, const yaml_node_t *k,
		    const yaml_node_t *v, char *out, size_t size)
{
	int ret = get_string(p, k, v, out, size);
	const char *c;

	if (ret)
		return ret;
	if (!*out)
		return fail(p, v->start_mark, "bad %s: empty", sval(k));
	for (c = out; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
			return fail(p, v->start_mark,
				    "bad %s '%.60s': letters, digits, '-', "
				    "'_' and '.' only",
				    sval(k), out);
	return 0;
}

enum { C_REDIS, C_SENTINELS, C_MASTER, C_NODE, C_PEER, C_SHARE, C_LEASE,
       C_QUEUE, C_HEARTBEAT, C_PEER_HEARTBEAT, C_SHARES, C_HEARTBEAT_KEY,
       C_MEMBERS, C_COUNT };

static const char *const cluster_keys[C_COUNT] = {
	[C_REDIS] = "redis",	     [C_SENTINELS] = "sentinels",
	[C_MASTER] = "master",	     [C_NODE] = "node",
	[C_PEER] = "peer",	     [C_SHARE] = "share",
	[C_LEASE] = "lease_ms",	     [C_QUEUE] = "queue",
	[C_HEARTBEAT] = "heartbeat", [C_PEER_HEARTBEAT] = "peer_heartbeat",
	[C_SHARES] = "shares",
	[C_HEARTBEAT_KEY] = "heartbeat_key",
	[C_MEMBERS] = "members",
};

/* A sequence of 1 to max items (what: their name in messages; empty:
 * what the message adds when there are none); *n its length. */
static int want_list(struct parser *p, const yaml_node_t *k,
		     const yaml_node_t *v, const char *what, const char *empty,
		     size_t max, size_t *n)
{
	int ret = want_type(p, k, v, YAML_SEQUENCE_NODE);

	if (ret)
		return ret;
	*n = seq_len(v);
	if (!*n)
		return fail(p, value_mark(k, v), "'%s' is empty%s", what,
			    empty);
	if (*n > max)
		return fail(p, v->start_mark, "%zu %s: at most %zu", *n, what,
			    max);
	return 0;
}

/* A list item that is a mapping of keys[0..n), keys[a] and keys[b]
 * required (what: "a share"); its keys and values in kn, vn. */
static int two_keyed(struct parser *p, const yaml_node_t *item,
		     const char *const *keys, size_t n, size_t a, size_t b,
		     const char *what, yaml_node_t **kn, yaml_node_t **vn)
{
	char where[64];
	int ret;

	if (item->type != YAML_MAPPING_NODE)
		return fail(p, item->start_mark,
			    "%s must be a mapping (%s, %s), found %s", what,
			    keys[a], keys[b], kind(item));
	snprintf(where, sizeof(where), "in %s", what);
	ret = collect(p, item, keys, n, kn, vn, where);
	if (!ret && (!kn[a] || !kn[b]))
		ret = fail(p, item->start_mark, "%s needs '%s' and '%s'", what,
			   keys[a], keys[b]);
	return ret;
}

enum { S_NAME, S_REALMS, S_MEMBERS, S_COUNT };

static const char *const share_keys[S_COUNT] = {
	[S_NAME] = "name", [S_REALMS] = "realms", [S_MEMBERS] = "members",
};

/* A share's members: names of c's members (the node itself not among
 * them). Without the key, every member of c: a node left out by mistake
 * could take the share while this one acts on the others' word; one
 * listed by mistake only costs the share its heartbeat's help (it never
 * promises for a share it is not in). */
static int parse_share_members(struct parser *p, const yaml_node_t *k,
			       const yaml_node_t *v,
			       const struct np_cluster_config *c,
			       struct np_cluster_share *sh)
{
	const yaml_node_t *item;
	const char *s;
	size_t i, j, n;
	int ret;

	if (!k) {
		sh->members = (uint32_t)((1ull << c->n_members) - 1);
		return 0;
	}
	if (!c->heartbeat.family)
		return fail(p, k->start_mark,
			    "share '%s': members without a heartbeat in "
			    "cluster",
			    sh->name);
	ret = want_list(p, k, v, "members", ": leave the key out instead",
			NP_CLUSTER_MEMBERS_MAX, &n);
	for (i = 0; !ret && i < n; i++) {
		item = seq_item(p, v, i);
		ret = want_scalar(p, k, item, &s);
		for (j = 0; !ret && j < c->n_members; j++)
			if (!strcmp(c->members[j].node, s))
				break;
		if (!ret && j == c->n_members)
			ret = fail(p, item->start_mark,
				   "share '%s': member '%.60s' is not in "
				   "cluster's members",
				   sh->name, s);
		if (!ret)
			sh->members |= 1u << j;
	}
	return ret;
}

/* One share: a name and its realms (a non-empty list of realm names),
 * none already another share's (taken: the realms listed so far), and
 * its members. */
static int parse_share(struct parser *p, const yaml_node_t *item,
		       const struct np_cluster_config *c,
		       struct np_cluster_share *sh, uint64_t *taken)
{
	yaml_node_t *kn[S_COUNT], *vn[S_COUNT], *r;
	size_t i, n, idx;
	int ret;

	ret = two_keyed(p, item, share_keys, S_COUNT, S_NAME, S_REALMS,
			"a share", kn, vn);
	if (!ret)
		ret = get_name(p, kn[S_NAME], vn[S_NAME], sh->name,
			       sizeof(sh->name));
	if (!ret)
		ret = want_type(p, kn[S_REALMS], vn[S_REALMS],
				YAML_SEQUENCE_NODE);
	if (ret)
		return ret;
	n = seq_len(vn[S_REALMS]);
	if (!n)
		return fail(p, value_mark(kn[S_REALMS], vn[S_REALMS]),
			    "share '%s' has no realms", sh->name);
	for (i = 0; i < n; i++) {
		r = seq_item(p, vn[S_REALMS], i);
		ret = get_realm_ref(p, kn[S_REALMS], r, &idx);
		if (ret)
			return ret;
		if (idx >= 64)
			return fail(p, r->start_mark,
				    "realm '%s' in a share: only the first 64 "
				    "realms can be shared",
				    p->cfg->realms[idx].name);
		if (*taken & 1ull << idx)
			return fail(p, r->start_mark,
				    "realm '%s' is in two shares (or twice in "
				    "one)",
				    p->cfg->realms[idx].name);
		*taken |= 1ull << idx;
		sh->realms |= 1ull << idx;
	}
	return parse_share_members(p, kn[S_MEMBERS], vn[S_MEMBERS], c, sh);
}

/* Scale-out (docs/ha.md): the shares this node takes part in. A pair's
 * realms are in one share (its terminals and calls belong to it). */
static int parse_shares(struct parser *p, const yaml_node_t *k,
			const yaml_node_t *v, struct np_cluster_config *c)
{
	uint64_t taken = 0, a, b;
	size_t i, j, n;
	int ret;

	ret = want_list(p, k, v, "shares", "", NP_CLUSTER_SHARES_MAX, &n);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		ret = parse_share(p, seq_item(p, v, i), c, &c->shares[i],
				  &taken);
		for (j = 0; !ret && j < i; j++)
			if (!strcmp(c->shares[j].name, c->shares[i].name))
				ret = fail(p, seq_item(p, v, i)->start_mark,
					   "share '%s' listed twice",
					   c->shares[i].name);
		if (ret)
			return ret;
	}
	c->n_shares = n;
	for (i = 0; i < p->cfg->n_pairs; i++) {
		const struct np_pair *pr = &p->cfg->pairs[i];

		a = pr->first < 64 ? 1ull << pr->first : 0;
		b = pr->second < 64 ? 1ull << pr->second : 0;
		for (j = 0; j < n; j++)
			if (!(c->shares[j].realms & a) !=
			    !(c->shares[j].realms & b))
				return fail(p, v->start_mark,
					    "pair %s-%s crosses share '%s': "
					    "both its realms go in one share",
					    p->cfg->realms[pr->first].name,
					    p->cfg->realms[pr->second].name,
					    c->shares[j].name);
	}
	return 0;
}

/* An ADDR:PORT of the cluster section, if the key is there. */
static int get_hostport(struct parser *p, const yaml_node_t *k,
			const yaml_node_t *v, struct np_sockaddr *a)
{
	char why[WHY_MAX];
	const char *s, *e;
	int ret;

	if (!k)
		return 0;
	ret = want_scalar(p, k, v, &s);
	if (ret)
		return ret;
	e = scan_hostport(s, a, why, false);
	return e ? fail(p, v->start_mark, "bad %s '%.60s': %s",
			sval(k), s, e) :
		   0;
}

enum { M_NODE, M_HEARTBEAT, M_COUNT };

static const char *const member_keys[M_COUNT] = {
	[M_NODE] = "node", [M_HEARTBEAT] = "heartbeat",
};

/* Scale-out's heartbeat: the other nodes of this node's shares, each a
 * name (not this node's, none twice) and where it hears heartbeats. */
static int parse_members(struct parser *p, const yaml_node_t *k,
			 const yaml_node_t *v, struct np_cluster_config *c)
{
	yaml_node_t *kn[M_COUNT], *vn[M_COUNT], *item;
	struct np_cluster_member *m;
	size_t i, j, n;
	int ret;

	ret = want_list(p, k, v, "members", ": list the other nodes",
			NP_CLUSTER_MEMBERS_MAX, &n);
	for (i = 0; !ret && i < n; i++) {
		item = seq_item(p, v, i);
		m = &c->members[i];
		ret = two_keyed(p, item, member_keys, M_COUNT, M_NODE,
				M_HEARTBEAT, "a member", kn, vn);
		if (!ret)
			ret = get_name(p, kn[M_NODE], vn[M_NODE], m->node,
				       sizeof(m->node));
		if (!ret)
			ret = get_hostport(p, kn[M_HEARTBEAT], vn[M_HEARTBEAT],
					   &m->heartbeat);
		if (!ret && !strcmp(m->node, c->node))
			ret = fail(p, item->start_mark,
				   "member '%.60s': the node itself", m->node);
		for (j = 0; !ret && j < i; j++)
			if (!strcmp(c->members[j].node, m->node))
				ret = fail(p, item->start_mark,
					   "member '%.60s' listed twice",
					   m->node);
	}
	if (!ret)
		c->n_members = n;
	return ret;
}

/* The sentinels: a non-empty list of ADDRESS:PORT, none twice. */
static int get_sentinels(struct parser *p, const yaml_node_t *k,
			 const yaml_node_t *v, struct np_cluster_config *c)
{
	char why[WHY_MAX];
	const char *s, *e;
	yaml_node_t *item;
	size_t i, j, n;
	int ret;

	ret = want_list(p, k, v, "sentinels", ": list at least one ADDRESS:PORT",
			NP_CLUSTER_SENTINELS_MAX, &n);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		item = seq_item(p, v, i);
		ret = want_scalar(p, k, item, &s);
		if (ret)
			return ret;
		e = scan_hostport(s, &c->sentinels[i], why, false);
		if (e)
			return fail(p, item->start_mark,
				    "bad sentinel '%.60s': %s", s, e);
		for (j = 0; j < i; j++)
			if (!memcmp(&c->sentinels[j], &c->sentinels[i],
				    sizeof(c->sentinels[i])))
				return fail(p, item->start_mark,
					    "sentinel '%.60s' listed twice",
					    s);
	}
	c->n_sentinels = n;
	return 0;
}

/* Where the Redis is: one address (redis), or the sentinels that name
 * its master (sentinels and master); exactly one of the two. */
static int get_redis(struct parser *p, const yaml_node_t *k,
		     const yaml_node_t *v, yaml_node_t **kn, yaml_node_t **vn)
{
	struct np_cluster_config *c = &p->cfg->cluster;
	int ret;

	if (kn[C_REDIS] && kn[C_SENTINELS])
		return fail(p, kn[C_SENTINELS]->start_mark,
			    "'redis' and 'sentinels' in cluster: give one "
			    "Redis, or the sentinels that name its master, "
			    "not both");
	if (kn[C_REDIS] && kn[C_MASTER])
		return fail(p, kn[C_MASTER]->start_mark,
			    "'master' in cluster goes with 'sentinels', not "
			    "with 'redis'");
	if (!kn[C_REDIS] && !kn[C_SENTINELS])
		return fail(p, value_mark(k, v),
			    "missing required key 'redis' (or 'sentinels' "
			    "and 'master') in cluster");
	if (kn[C_SENTINELS]) {
		if (!kn[C_MASTER])
			return fail(p, kn[C_SENTINELS]->start_mark,
				    "missing required key 'master' in "
				    "cluster: the name the sentinels "
				    "monitor the Redis master by");
		ret = get_sentinels(p, kn[C_SENTINELS], vn[C_SENTINELS], c);
		if (!ret)
			ret = get_name(p, kn[C_MASTER], vn[C_MASTER],
				       c->master, sizeof(c->master));
		return ret;
	}
	return get_hostport(p, kn[C_REDIS], vn[C_REDIS], &c->redis);
}

/*
 * The heartbeat's key: the bytes of the file heartbeat_key names, less
 * trailing line ends (`openssl rand -hex 32 > FILE` makes one). A file,
 * not the key itself in the config, which is often readable by all and
 * goes into bug reports; and a file only its owner may read or write, as
 * ssh asks of a private key.
 */
static int get_heartbeat_key(struct parser *p, const yaml_node_t *k,
			     const yaml_node_t *v, struct np_cluster_config *c)
{
	unsigned char buf[NP_HEARTBEAT_KEY_MAX + 2];
	const char *path;
	struct stat st;
	ssize_t n;
	int fd, ret;

	ret = want_scalar(p, k, v, &path);
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(p, v->start_mark, "heartbeat_key '%.60s': %s", path,
			    strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(p, v->start_mark,
			    "heartbeat_key '%.60s': not a file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return fail(p, v->start_mark,
			    "heartbeat_key '%.60s' may be read or written by "
			    "others (mode %03o): chmod 600 it",
			    path, (unsigned)(st.st_mode & 0777));
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < NP_HEARTBEAT_KEY_MIN || n > NP_HEARTBEAT_KEY_MAX)
		return fail(p, v->start_mark,
			    "heartbeat_key '%.60s': %zd bytes, want %d to %d "
			    "(openssl rand -hex 32 makes one)",
			    path, n < 0 ? 0 : n, NP_HEARTBEAT_KEY_MIN,
			    NP_HEARTBEAT_KEY_MAX);
	memcpy(c->heartbeat_key, buf, n);
	c->heartbeat_key_len = n;
	return 0;
}

/* High availability: off unless the section is there; node, and redis or
 * sentinels with master, are required with it. */
static int parse_cluster(struct parser *p, const yaml_node_t *k,
			 const yaml_node_t *v)
{
	struct np_cluster_config *c = &p->cfg->cluster;
	yaml_node_t *kn[C_COUNT], *vn[C_COUNT];
	size_t i;
	int ret;

	c->lease_ms = NP_DEFAULT_LEASE_MS;
	c->queue = NP_DEFAULT_CLUSTER_QUEUE;
	snprintf(c->share, sizeof(c->share), "natproxy");
	ret = want_type(p, k, v, YAML_MAPPING_NODE);
	if (!ret)
		ret = collect(p, v, cluster_keys, C_COUNT, kn, vn,
			      "in cluster");
	if (!ret)
		ret = get_redis(p, k, v, kn, vn);
	if (!ret && !kn[C_NODE])
		ret = fail(p, value_mark(k, v),
			   "missing required key 'node' in cluster");
	if (ret)
		return ret;
	ret = get_name(p, kn[C_NODE], vn[C_NODE], c->node, sizeof(c->node));
	if (!ret && kn[C_PEER])
		ret = get_name(p, kn[C_PEER], vn[C_PEER], c->peer,
			       sizeof(c->peer));
	if (!ret && kn[C_SHARE])
		ret = get_name(p, kn[C_SHARE], vn[C_SHARE], c->share,
			       sizeof(c->share));
	if (!ret)
		ret = get_uint(p, kn[C_LEASE], vn[C_LEASE], 300, 60000,
			       &c->lease_ms);
	if (!ret)
		ret = get_uint(p, kn[C_QUEUE], vn[C_QUEUE], 100, 10000000,
			       &c->queue);
	if (!ret && !strcmp(c->node, c->peer))
		ret = fail(p, vn[C_PEER]->start_mark,
			   "bad peer '%.60s': the node itself", c->peer);
	if (!ret)
		ret = get_hostport(p, kn[C_HEARTBEAT], vn[C_HEARTBEAT],
				    &c->heartbeat);
	if (!ret)
		ret = get_hostport(p, kn[C_PEER_HEARTBEAT],
				    vn[C_PEER_HEARTBEAT], &c->peer_heartbeat);
	/* One without the other would hear nothing or be heard by none. */
	if (!ret && !kn[C_SHARES] &&
	    !c->heartbeat.family != !c->peer_heartbeat.family)
		ret = fail(p, value_mark(k, v),
			   "heartbeat and peer_heartbeat go together in cluster");
	if (!ret && !kn[C_SHARES] && c->heartbeat.family && !c->peer[0])
		ret = fail(p, value_mark(k, v),
			   "a heartbeat needs the peer's name in cluster");
	/* With shares, a node follows whoever holds each share's lease: no
	 * one peer, no one lease name; its heartbeat goes to members. */
	for (i = 0; !ret && kn[C_SHARES] && i < C_COUNT; i++)
		if (kn[i] && (i == C_PEER || i == C_SHARE ||
			      i == C_PEER_HEARTBEAT))
			ret = fail(p, kn[i]->start_mark,
				   "'%s' goes with a pair, not with 'shares' "
				   "in cluster",
				   cluster_keys[i]);
	if (!ret && kn[C_MEMBERS] && !kn[C_SHARES])
		ret = fail(p, kn[C_MEMBERS]->start_mark,
			   "'members' goes with 'shares' (a pair: peer, "
			   "peer_heartbeat) in cluster");
	/* One without the other would hear nothing or be heard by none. */
	if (!ret && kn[C_SHARES] && !kn[C_HEARTBEAT] != !kn[C_MEMBERS])
		ret = fail(p, value_mark(k, v),
			   "heartbeat and members go together in cluster");
	if (!ret && kn[C_MEMBERS])
		ret = parse_members(p, kn[C_MEMBERS], vn[C_MEMBERS], c);
	if (!ret && kn[C_SHARES])
		ret = parse_shares(p, kn[C_SHARES], vn[C_SHARES], c);
	if (!ret && kn[C_HEARTBEAT_KEY] && !c->heartbeat.family)
		ret = fail(p, kn[C_HEARTBEAT_KEY]->start_mark,
			   "heartbeat_key without a heartbeat in cluster");
	if (!ret && kn[C_HEARTBEAT_KEY])
		ret = get_heartbeat_key(p, kn[C_HEARTBEAT_KEY],
					vn[C_HEARTBEAT_KEY], c);
	return ret;
}

enum { T_REALMS, T_PAIRS, T_KEEPALIVE, T_CHARGING, T_METRICS, T_CLUSTER,
       T_COUNT };

static const char *const top_keys[T_COUNT] = {
	[T_REALMS] = "realms",
	[T_PAIRS] = "pairs",
	[T_KEEPALIVE] = "keepalive",
	[T_CHARGING] = "charging",
	[T_METRICS] = "metrics",
	[T_CLUSTER] = "cluster",
};

static int parse_root(struct parser *p, const yaml_node_t *root)
{
	yaml_node_t *kn[T_COUNT], *vn[T_COUNT];
	struct np_config *cfg = p->cfg;
	size_t i, n;
	int ret;

	if (root->type != YAML_MAPPING_NODE)
		return fail(p, root->start_mark,
			    "the config must be a mapping, found %s",
			    kind(root));
	cfg->keepalive_method = NP_KEEPALIVE_OPTIONS;
	cfg->keepalive_interval = NP_DEFAULT_KEEPALIVE_INTERVAL;
	ret = collect(p, root, top_keys, T_COUNT, kn, vn, "at top level");
	if (ret)
		return ret;
	ret = require(p, root, kn, T_REALMS, top_keys, "at top level");
	if (!ret)
		ret = require(p, root, kn, T_PAIRS, top_keys, "at top level");
	if (ret)
		return ret;

	ret = want_type(p, kn[T_REALMS], vn[T_REALMS], YAML_SEQUENCE_NODE);
	if (ret)
		return ret;
	n = seq_len(vn[T_REALMS]);
	if (!n)
		return fail(p, value_mark(kn[T_REALMS], vn[T_REALMS]),
			    "no realms defined");
	cfg->realms = calloc(n, sizeof(*cfg->realms));
	p->rm = calloc(n, sizeof(*p->rm));
	if (!cfg->realms || !p->rm)
		return -ENOMEM;
	cfg->n_realms = n;
	for (i = 0; i < n; i++) {
		ret = parse_realm(p, seq_item(p, vn[T_REALMS], i), i);
		if (ret)
			return ret;
	}
	ret = check_overlaps(p);
	if (ret)
		return ret;

	ret = want_type(p, kn[T_PAIRS], vn[T_PAIRS], YAML_SEQUENCE_NODE);
	if (ret)
		return ret;
	n = seq_len(vn[T_PAIRS]);
	if (!n)
		return fail(p, value_mark(kn[T_PAIRS], vn[T_PAIRS]),
			    "no pairs defined");
	cfg->pairs = calloc(n, sizeof(*cfg->pairs));
	p->first_marks = calloc(n, sizeof(*p->first_marks));
	if (!cfg->pairs || !p->first_marks)
		return -ENOMEM;
	cfg->n_pairs = n;
	for (i = 0; i < n; i++) {
		ret = parse_pair(p, seq_item(p, vn[T_PAIRS], i), i);
		if (ret)
			return ret;
	}

	if (kn[T_KEEPALIVE])
		ret = parse_keepalive(p, kn[T_KEEPALIVE], vn[T_KEEPALIVE]);
	if (!ret && kn[T_CHARGING])
		ret = parse_charging(p, kn[T_CHARGING], vn[T_CHARGING]);
	if (!ret && kn[T_METRICS])
		ret = parse_metrics(p, kn[T_METRICS], vn[T_METRICS]);
	if (!ret && kn[T_CLUSTER])
		ret = parse_cluster(p, kn[T_CLUSTER], vn[T_CLUSTER]);
	return ret;
}

static int yaml_error(struct parser *p, const yaml_parser_t *yp)
{
	if (yp->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (yp->error == YAML_READER_ERROR)
		return fail_at_offset(p, yp->problem_offset, "invalid input: %s",
				      yp->problem ? yp->problem : "unreadable");
	if (yp->context)
		return fail(p, yp->problem_mark, "yaml syntax error: %s (%s)",
			    yp->problem, yp->context);
	return fail(p, yp->problem_mark, "yaml syntax error: %s",
		    yp->problem ? yp->problem : "unknown");
}

int np_config_parse(const char *name, const char *text, size_t len,
		    struct np_config *cfg, char *err, size_t errlen)
{
	struct parser p = { .name = name, .text = text, .len = len,
			    .err = err, .errlen = errlen };
	yaml_document_t doc, extra;
	struct np_config tmp = { 0 };
	yaml_parser_t yp;
	yaml_mark_t start = { 0 }; /* reported as 1:1 */
	yaml_node_t *root;
	int ret;

	if (!yaml_parser_initialize(&yp)) {
		ret = -ENOMEM;
		goto out;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	if (!yaml_parser_load(&yp, &doc)) {
		ret = yaml_error(&p, &yp);
		goto out_parser;
	}
	p.doc = &doc;
	p.cfg = &tmp;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		ret = fail(&p, start, "the config is empty");
		goto out_doc;
	}
	ret = parse_root(&p, root);
	if (ret)
		goto out_doc;

	/* A second document would be ignored silently; say so instead. */
	if (!yaml_parser_load(&yp, &extra)) {
		ret = yaml_error(&p, &yp);
		goto out_doc;
	}
	root = yaml_document_get_root_node(&extra);
	if (root)
		ret = fail(&p, root->start_mark,
			   "only one YAML document is allowed");
	yaml_document_delete(&extra);
	if (ret)
		goto out_doc;

	*cfg = tmp;
	memset(&tmp, 0, sizeof(tmp));
out_doc:
	free(p.rm);
	free(p.first_marks);
	np_config_free(&tmp);
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&yp);
out:
	if (ret == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: out of memory", name);
	return ret;
}

/* Read all of @fd; st_size cannot be trusted for pipes and /proc. */
static int read_all(int fd, char **text, size_t *len)
{
	size_t size = 0;
	char *buf;
	ssize_t n;
	int ret;

	buf = malloc(CONFIG_MAX_SIZE + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = read(fd, buf + size, CONFIG_MAX_SIZE + 1 - size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out_free;
		}
		if (!n)
			break;
		size += n;
		if (size > CONFIG_MAX_SIZE) {
			ret = -EFBIG;
			goto out_free;
		}
	}
	*text = buf;
	*len = size;
	return 0;

out_free:
	free(buf);
	return ret;
}

int np_config_load(const char *path, struct np_config *cfg, char *err,
		   size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (err && errlen)
			snprintf(err, errlen, "cannot open config '%s': %s",
				 path, strerror(-ret));
		return ret;
	}
	ret = read_all(fd, &text, &len);
	if (ret) {
		if (err && errlen)
			snprintf(err, errlen, "cannot read config '%s': %s",
				 path, strerror(-ret));
		goto out_close;
	}
	ret = np_config_parse(path, text, len, cfg, err, errlen);
	free(text);
out_close:
	close(fd);
	return ret;
}

uint32_t np_config_max_flows(const struct np_config *cfg, uint32_t limit)
{
	uint64_t ports = 0, want = 1024;
	size_t i;

	for (i = 0; i < cfg->n_realms; i++) {
		const struct np_port_range *r = &cfg->realms[i].media_ports;

		if (r->hi)
			ports += (uint64_t)(r->hi - r->lo) + 1;
	}
	while (want < 2 * ports && want < limit)
		want *= 2;
	return want < limit ? (uint32_t)want : limit;
}

void np_config_free(struct np_config *cfg)
{
	size_t i;

	for (i = 0; cfg->realms && i < cfg->n_realms; i++) {
		free(cfg->realms[i].allow);
		free(cfg->realms[i].deny);
	}
	free(cfg->realms);
	free(cfg->pairs);
	memset(cfg, 0, sizeof(*cfg));
}

const struct np_realm *np_config_realm(const struct np_config *cfg,
				       const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_realms; i++)
		if (!strcmp(cfg->realms[i].name, name))
			return &cfg->realms[i];
	return NULL;
}

bool np_prefix_match(const struct np_prefix *p, const struct np_sockaddr *a)
{
	const unsigned char *pb, *ab;
	unsigned int full, rest;

	if (p->family == AF_INET && a->family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&a->addr.v6)) {
		ab = &a->addr.v6.s6_addr[12];
	} else if (p->family == a->family) {
		ab = a->family == AF_INET ? (const unsigned char *)&a->addr.v4 :
					    a->addr.v6.s6_addr;
	} else {
		return false;
	}
	pb = p->family == AF_INET ? (const unsigned char *)&p->addr.v4 :
				    p->addr.v6.s6_addr;
	full = p->len / 8;
	rest = p->len % 8;
	if (memcmp(pb, ab, full))
		return false;
	return !rest || !((pb[full] ^ ab[full]) & (0xff << (8 - rest)) & 0xff);
}

bool np_realm_admits(const struct np_realm *r, const struct np_sockaddr *src)
{
	size_t i;

	for (i = 0; i < r->n_deny; i++)
		if (np_prefix_match(&r->deny[i], src))
			return false;
	for (i = 0; i < r->n_allow; i++)
		if (np_prefix_match(&r->allow[i], src))
			return true;
	return r->n_allow == 0;
}
