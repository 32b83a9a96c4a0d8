// SPDX-License-Identifier: GPL-2.0-only
/*
 * MGCP message parsing and writing (mgcpmsg.h), after RFC 3435 section 3
 * and its appendix A grammar: a command line "verb txid endpoint MGCP
 * 1.0" or a response line "code txid [commentary]", parameter lines
 * "Name: value", an empty line, then a session description. Lines may end
 * with CRLF or LF; a message is written back with the ending it came with.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mgcp/mgcpmsg.h"

static int bad(const char **why, const char *what)
{
	if (why)
		*why = what;
	return -EINVAL;
}

/* The next line of buf[*pos..len): its start and length without the end
 * of line; false at the end of the text. */
static bool next_line(const char *buf, size_t len, size_t *pos,
		      const char **line, size_t *n, bool *crlf)
{
	const char *nl;
	size_t l;

	if (*pos >= len)
		return false;
	*line = buf + *pos;
	nl = memchr(*line, '\n', len - *pos);
	l = nl ? (size_t)(nl - *line) : len - *pos;
	*pos += nl ? l + 1 : l;
	if (l && (*line)[l - 1] == '\r') {
		l--;
		if (crlf)
			*crlf = true;
	}
	*n = l;
	return true;
}

static bool parse_txid(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!n || n > 9)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!v || v > NP_MGCP_TXID_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Splits line into at most max space-separated tokens (the last one takes
 * the rest of the line). */
static size_t tokens(const char *line, size_t n, const char **tok,
		     size_t *tl, size_t max)
{
	size_t i = 0, k = 0;

	while (k < max) {
		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i >= n)
			break;
		tok[k] = line + i;
		if (k == max - 1) {
			size_t e = n;

			while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t'))
				e--;
			tl[k++] = e - i;
			break;
		}
		while (i < n && line[i] != ' ' && line[i] != '\t')
			i++;
		tl[k] = (size_t)(line + i - tok[k]);
		k++;
	}
	return k;
}

static bool copy_tok(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return false;
	memcpy(dst, s, n);
	dst[n] = 0;
	return true;
}

static int parse_first(const char *line, size_t n, struct np_mgcp_msg *m,
		       uint32_t *txid, const char **why)
{
	const char *tok[4];
	size_t tl[4], k, i;

	k = tokens(line, n, tok, tl, 4);
	if (k < 2)
		return bad(why, "short first line");
	if (!parse_txid(tok[1], tl[1], &m->txid))
		return bad(why, "bad transaction id");
	*txid = m->txid;
	if (tl[0] == 3 && isdigit((unsigned char)tok[0][0]) &&
	    isdigit((unsigned char)tok[0][1]) &&
	    isdigit((unsigned char)tok[0][2])) {
		m->response = true;
		m->code = (tok[0][0] - '0') * 100 + (tok[0][1] - '0') * 10 +
			  (tok[0][2] - '0');
		/* The rest of the line, with the spacing it had. */
		if (k > 2) {
			size_t off = (size_t)(tok[2] - line);

			if (!copy_tok(m->comment, sizeof(m->comment), tok[2],
				      n - off))
				return bad(why, "response commentary too long");
			for (i = strlen(m->comment);
			     i && (m->comment[i - 1] == ' ' ||
				   m->comment[i - 1] == '\t');
			     i--)
				m->comment[i - 1] = 0;
		}
		return 0;
	}
	if (k < 4)
		return bad(why, "command line without endpoint and version");
	if (tl[0] < 1 || tl[0] >= sizeof(m->verb))
		return bad(why, "bad verb");
	for (i = 0; i < tl[0]; i++)
		if (!isalnum((unsigned char)tok[0][i]))
			return bad(why, "bad verb");
	copy_tok(m->verb, sizeof(m->verb), tok[0], tl[0]);
	if (!copy_tok(m->endpoint, sizeof(m->endpoint), tok[2], tl[2]))
		return bad(why, "endpoint name too long");
	if (!strchr(m->endpoint, '@'))
		return bad(why, "endpoint name without '@'");
	if (!copy_tok(m->version, sizeof(m->version), tok[3], tl[3]) ||
	    strncasecmp(m->version, "MGCP ", 5))
		return bad(why, "not MGCP");
	return 0;
}

static int parse_param(const char *line, size_t n, struct np_mgcp_msg *m,
		       const char **why)
{
	struct np_mgcp_param *p;
	const char *colon = memchr(line, ':', n);
	size_t nl, i, v, e;

	if (!colon)
		return bad(why, "parameter line without ':'");
	nl = (size_t)(colon - line);
	while (nl && (line[nl - 1] == ' ' || line[nl - 1] == '\t'))
		nl--;
	if (!nl)
		return bad(why, "parameter without a name");
	if (m->n_params >= NP_MGCP_PARAMS_MAX)
		return bad(why, "too many parameters");
	p = &m->params[m->n_params];
	if (!copy_tok(p->name, sizeof(p->name), line, nl))
		return bad(why, "parameter name too long");
	for (i = 0; i < nl; i++)
		if (!isalnum((unsigned char)line[i]) && line[i] != '-' &&
		    line[i] != '/')
			return bad(why, "bad parameter name");
	v = (size_t)(colon - line) + 1;
	for (i = v; i < n && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (!copy_tok(p->sep, sizeof(p->sep), line + v, i - v))
		return bad(why, "bad parameter spacing");
	e = n;
	while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	if (!copy_tok(p->value, sizeof(p->value), line + i, e - i))
		return bad(why, "parameter value too long");
	m->n_params++;
	return 0;
}

int np_mgcp_parse(const char *buf, size_t len, struct np_mgcp_msg *m,
		  const char **why)
{
	uint32_t txid = 0;
	size_t pos = 0, n;
	const char *line;
	int err;

	memset(m, 0, offsetof(struct np_mgcp_msg, params));
	m->n_params = 0;
	m->crlf = false;
	m->body_len = 0;
	if (memchr(buf, 0, len))
		return bad(why, "NUL in message");
	if (!next_line(buf, len, &pos, &line, &n, &m->crlf))
		return bad(why, "empty message");
	err = parse_first(line, n, m, &txid, why);
	if (err) {
		m->txid = txid;
		return err;
	}
	while (next_line(buf, len, &pos, &line, &n, NULL)) {
		if (!n)
			break; /* the session description follows */
		err = parse_param(line, n, m, why);
		if (err)
			return err;
	}
	while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n') &&
	       !memchr(buf + pos, '=', len - pos))
		pos++; /* only blank lines after the parameters: no SDP */
	if (pos < len) {
		if (len - pos >= sizeof(m->body))
			return bad(why, "session description too long");
		memcpy(m->body, buf + pos, len - pos);
		m->body_len = len - pos;
		m->body[m->body_len] = 0;
	}
	return 0;
}

/* Whether buf[s..e) is a line holding only a period (RFC 3435 3.5.5). */
static bool is_period(const char *buf, size_t s, size_t e)
{
	if (e > s && buf[e - 1] == '\r')
		e--;
	return e == s + 1 && buf[s] == '.';
}

int np_mgcp_split(const char *buf, size_t len, size_t *starts, size_t *lens,
		  size_t max)
{
	size_t pos = 0, start = 0, count = 0, ls;
	const char *nl;

	while (pos <= len) {
		ls = pos;
		nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
		pos = nl ? (size_t)(nl - buf) + 1 : len + 1;
		if (!is_period(buf, ls, nl ? (size_t)(nl - buf) : len))
			continue;
		if (ls > start) {
			if (count >= max)
				return -E2BIG;
			starts[count] = start;
			lens[count++] = ls - start;
		}
		start = pos > len ? len : pos;
	}
	/* What follows the last period (or the whole datagram). */
	ls = start;
	while (ls < len && (buf[ls] == '\r' || buf[ls] == '\n'))
		ls++;
	if (ls < len) {
		if (count >= max)
			return -E2BIG;
		starts[count] = start;
		lens[count++] = len - start;
	}
	return (int)count;
}

int np_mgcp_serialize(const struct np_mgcp_msg *m, char *out, size_t size)
{
	const char *eol = m->crlf ? "\r\n" : "\n";
	size_t i, n;
	int w;

	if (m->response)
		w = snprintf(out, size, "%03d %u%s%s%s", m->code, m->txid,
			     m->comment[0] ? " " : "", m->comment, eol);
	else
		w = snprintf(out, size, "%s %u %s %s%s", m->verb, m->txid,
			     m->endpoint, m->version, eol);
	if (w < 0 || (size_t)w >= size)
		return -E2BIG;
	n = (size_t)w;
	for (i = 0; i < m->n_params; i++) {
		const struct np_mgcp_param *p = &m->params[i];

		w = snprintf(out + n, size - n, "%s:%s%s%s", p->name, p->sep,
			     p->value, eol);
		if (w < 0 || (size_t)w >= size - n)
			return -E2BIG;
		n += (size_t)w;
	}
	if (m->body_len) {
		if (n + strlen(eol) + m->body_len >= size)
			return -E2BIG;
		memcpy(out + n, eol, strlen(eol));
		n += strlen(eol);
		memcpy(out + n, m->body, m->body_len);
		n += m->body_len;
	}
	out[n] = 0;
	return (int)n;
}

struct np_mgcp_param *np_mgcp_param(struct np_mgcp_msg *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n_params; i++)
		if (!strcasecmp(m->params[i].name, name))
			return &m->params[i];
	return NULL;
}

int np_mgcp_param_set(struct np_mgcp_msg *m, const char *name,
		      const char *value)
{
	struct np_mgcp_param *p = np_mgcp_param(m, name);

	if (strlen(value) >= NP_MGCP_VALUE_MAX || strlen(name) >= sizeof(p->name))
		return -E2BIG;
	if (!p) {
		if (m->n_params >= NP_MGCP_PARAMS_MAX)
			return -E2BIG;
		p = &m->params[m->n_params++];
		snprintf(p->name, sizeof(p->name), "%s", name);
		snprintf(p->sep, sizeof(p->sep), " ");
	}
	snprintf(p->value, sizeof(p->value), "%s", value);
	return 0;
}

void np_mgcp_param_del(struct np_mgcp_msg *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n_params; i++) {
		if (strcasecmp(m->params[i].name, name))
			continue;
		memmove(&m->params[i], &m->params[i + 1],
			(m->n_params - i - 1) * sizeof(m->params[0]));
		m->n_params--;
		i--;
	}
}

bool np_mgcp_is(const struct np_mgcp_msg *m, const char *verb)
{
	return !m->response && !strcasecmp(m->verb, verb);
}

bool np_mgcp_looks_like(const char *buf, size_t len)
{
	const char *tok[5];
	size_t tl[5], n, k;
	const char *nl = memchr(buf, '\n', len);
	uint32_t txid;

	n = nl ? (size_t)(nl - buf) : len;
	if (n && buf[n - 1] == '\r')
		n--;
	k = tokens(buf, n, tok, tl, 5);
	if (k >= 2 && tl[0] == 3 && isdigit((unsigned char)tok[0][0]) &&
	    isdigit((unsigned char)tok[0][1]) &&
	    isdigit((unsigned char)tok[0][2]))
		return parse_txid(tok[1], tl[1], &txid);
	return k >= 5 && tl[3] == 4 && !strncasecmp(tok[3], "MGCP", 4) &&
	       parse_txid(tok[1], tl[1], &txid);
}

int np_mgcp_endpoint_split(const char *name, char *local, size_t lsize,
			   char *domain, size_t dsize)
{
	const char *at = strrchr(name, '@');

	if (!at || (size_t)(at - name) >= lsize || strlen(at + 1) >= dsize ||
	    !at[1])
		return -EINVAL;
	memcpy(local, name, (size_t)(at - name));
	local[at - name] = 0;
	strcpy(domain, at + 1);
	return 0;
}
