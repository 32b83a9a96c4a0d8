// SPDX-License-Identifier: GPL-2.0-only
/*
 * H.248 text messages (h248msg.h): a scanner over RFC 3525 Annex B's
 * generic shape, `name [= value] [{ items }]` with items separated by
 * commas, quoted strings, `;` comments to the end of the line, and the
 * octet strings of Local and Remote (SDP, where `}` is escaped) taken
 * whole. Both the long tokens and the short ones of the compact form read
 * alike: the scanner knows only Local/L and Remote/R by name.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "h248/h248msg.h"

struct scan {
	const char *b;
	size_t len, pos;
	struct np_h248_msg *m;
	const char *why;
};

static bool ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool delim(char c)
{
	return ws(c) || c == '{' || c == '}' || c == ',' || c == '=' ||
	       c == ';' || c == '"';
}

/* Skips white space and comments (and commas, with commas). */
static void skip(struct scan *s, bool commas)
{
	while (s->pos < s->len) {
		char c = s->b[s->pos];

		if (ws(c) || (commas && c == ',')) {
			s->pos++;
		} else if (c == ';') {
			while (s->pos < s->len && s->b[s->pos] != '\n')
				s->pos++;
		} else {
			break;
		}
	}
}

/* A word or a quoted string at pos: its range; false if none. */
static bool word(struct scan *s, size_t *off, size_t *len)
{
	size_t start = s->pos;

	if (s->pos < s->len && s->b[s->pos] == '"') {
		s->pos++;
		while (s->pos < s->len && s->b[s->pos] != '"')
			s->pos++;
		if (s->pos >= s->len) {
			s->why = "unterminated quoted string";
			return false;
		}
		s->pos++;
	} else {
		while (s->pos < s->len && !delim(s->b[s->pos]))
			s->pos++;
	}
	*off = start;
	*len = s->pos - start;
	if (!*len)
		s->why = "a token expected";
	return *len > 0;
}

static bool is_raw(const char *b, size_t off, size_t len)
{
	return (len == 5 && (!strncasecmp(b + off, "Local", 5))) ||
	       (len == 6 && !strncasecmp(b + off, "Remote", 6)) ||
	       (len == 1 && (b[off] == 'L' || b[off] == 'l' || b[off] == 'R' ||
			     b[off] == 'r'));
}

static int list(struct scan *s, int parent, int depth);

static int item(struct scan *s, int parent, int depth)
{
	struct np_h248_msg *m = s->m;
	struct np_h248_node *n;
	int idx;

	if (m->n >= NP_H248_NODES_MAX) {
		s->why = "too many items";
		return -EINVAL;
	}
	idx = (int)m->n++;
	n = &m->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->parent = parent;
	n->depth = depth;
	if (!word(s, &n->name_off, &n->name_len))
		return -EINVAL;
	n->end = s->pos;
	skip(s, false);
	if (s->pos < s->len && s->b[s->pos] == '=') {
		s->pos++;
		skip(s, false);
		if (s->pos < s->len && s->b[s->pos] != '{') {
			if (!word(s, &n->val_off, &n->val_len))
				return -EINVAL;
			n->end = s->pos;
			skip(s, false);
		}
	}
	if (s->pos >= s->len || s->b[s->pos] != '{')
		return 0;
	s->pos++;
	n->body = true;
	n->body_off = s->pos;
	if (is_raw(s->b, n->name_off, n->name_len)) {
		n->raw = true;
		while (s->pos < s->len && s->b[s->pos] != '}') {
			if (s->b[s->pos] == '\\')
				s->pos++;
			s->pos++;
		}
		if (s->pos >= s->len) {
			s->why = "unterminated Local or Remote";
			return -EINVAL;
		}
	} else {
		if (depth + 1 >= NP_H248_DEPTH_MAX) {
			s->why = "nested too deep";
			return -EINVAL;
		}
		if (list(s, idx, depth + 1))
			return -EINVAL;
	}
	m->nodes[idx].body_len = s->pos - m->nodes[idx].body_off;
	s->pos++; /* '}' */
	m->nodes[idx].end = s->pos;
	return 0;
}

/* Items up to the closing brace (depth > 0) or the end. */
static int list(struct scan *s, int parent, int depth)
{
	for (;;) {
		skip(s, true);
		if (s->pos >= s->len) {
			if (depth) {
				s->why = "missing '}'";
				return -EINVAL;
			}
			return 0;
		}
		if (s->b[s->pos] == '}') {
			if (!depth) {
				s->why = "unbalanced '}'";
				return -EINVAL;
			}
			return 0;
		}
		if (s->b[s->pos] == '=' || s->b[s->pos] == '{') {
			s->why = "a token expected";
			return -EINVAL;
		}
		if (item(s, parent, depth))
			return -EINVAL;
	}
}

static bool prefix(const char *b, size_t len, size_t pos, const char *p)
{
	size_t n = strlen(p);

	return pos + n <= len && !strncasecmp(b + pos, p, n);
}

int np_h248_parse(const char *buf, size_t len, struct np_h248_msg *m,
		  const char **why)
{
	struct scan s = { .b = buf, .len = len, .m = m, .why = "" };

	memset(m, 0, offsetof(struct np_h248_msg, nodes));
	m->buf = buf;
	m->len = len;
	skip(&s, false);
	if (prefix(buf, len, s.pos, "MEGACO/"))
		s.pos += 7;
	else if (prefix(buf, len, s.pos, "!/"))
		s.pos += 2;
	else {
		*why = "no MEGACO/ or !/ header (authentication not supported)";
		return -EINVAL;
	}
	if (s.pos >= len || buf[s.pos] < '1' || buf[s.pos] > '3' ||
	    (s.pos + 1 < len && !ws(buf[s.pos + 1]))) {
		*why = "version not 1, 2 or 3";
		return -EINVAL;
	}
	m->version = buf[s.pos] - '0';
	s.pos++;
	skip(&s, false);
	m->mid_off = s.pos;
	while (s.pos < len && !ws(buf[s.pos]) && buf[s.pos] != '{' &&
	       buf[s.pos] != ';')
		s.pos++;
	m->mid_len = s.pos - m->mid_off;
	if (!m->mid_len) {
		*why = "no mId";
		return -EINVAL;
	}
	skip(&s, false);
	m->hdr_end = s.pos;
	if (list(&s, -1, 0)) {
		*why = s.why;
		return -EINVAL;
	}
	if (!m->n) {
		*why = "no transaction";
		return -EINVAL;
	}
	return 0;
}

bool np_h248_named(const struct np_h248_msg *m, int i, const char *lng,
		   const char *shrt)
{
	const struct np_h248_node *n = &m->nodes[i];
	const char *name = m->buf + n->name_off;

	return (strlen(lng) == n->name_len &&
		!strncasecmp(name, lng, n->name_len)) ||
	       (shrt && strlen(shrt) == n->name_len &&
		!strncasecmp(name, shrt, n->name_len));
}

void np_h248_text(const struct np_h248_msg *m, int i, bool name, char *out,
		  size_t size)
{
	const struct np_h248_node *n = &m->nodes[i];
	size_t off = name ? n->name_off : n->val_off;
	size_t len = name ? n->name_len : n->val_len;

	if (len >= size)
		len = size - 1;
	memcpy(out, m->buf + off, len);
	out[len] = 0;
}

int np_h248_child(const struct np_h248_msg *m, int parent, int from)
{
	size_t i;

	for (i = (size_t)(from + 1); i < m->n; i++)
		if (m->nodes[i].parent == parent)
			return (int)i;
	return -1;
}

bool np_h248_looks_like(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && ws(buf[i]))
		i++;
	return prefix(buf, len, i, "MEGACO/") || prefix(buf, len, i, "!/");
}

size_t np_h248_body_off(const struct np_h248_msg *m)
{
	return m->hdr_end;
}

int np_h248_edit(struct np_h248_edits *ed, size_t off, size_t len,
		 const char *text, size_t text_len)
{
	struct np_h248_edit *e;
	size_t i;

	if (ed->n >= NP_H248_EDITS_MAX || text_len >= sizeof(e->text))
		return -E2BIG;
	/* Kept sorted by offset. */
	for (i = ed->n; i > 0 && ed->e[i - 1].off > off; i--)
		ed->e[i] = ed->e[i - 1];
	e = &ed->e[i];
	e->off = off;
	e->len = len;
	memcpy(e->text, text, text_len);
	e->text[text_len] = 0;
	e->text_len = text_len;
	ed->n++;
	return 0;
}

/* Appends [from, to) of the message with the edits inside it. */
static int put(const struct np_h248_msg *m, const struct np_h248_edits *ed,
	       size_t from, size_t to, char *out, size_t size, size_t *at)
{
	size_t pos = from, i;

#define APPEND(p, n)                         \
	do {                                 \
		if (*at + (n) >= size)       \
			return -E2BIG;       \
		memcpy(out + *at, (p), (n)); \
		*at += (n);                  \
	} while (0)
	for (i = 0; ed && i < ed->n; i++) {
		const struct np_h248_edit *e = &ed->e[i];

		if (e->off < from || e->off + e->len > to)
			continue;
		APPEND(m->buf + pos, e->off - pos);
		APPEND(e->text, e->text_len);
		pos = e->off + e->len;
	}
	APPEND(m->buf + pos, to - pos);
#undef APPEND
	return 0;
}

int np_h248_write(const struct np_h248_msg *m, const struct np_h248_edits *ed,
		  size_t from, size_t to, char *out, size_t size)
{
	size_t at = 0;

	if (put(m, ed, 0, m->hdr_end, out, size, &at) ||
	    put(m, ed, from, to, out, size, &at))
		return -E2BIG;
	out[at] = 0;
	return (int)at;
}
