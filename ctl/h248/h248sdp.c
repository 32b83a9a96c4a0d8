// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fills in and takes out again the SDP lines H.248 lets a sender leave out
 * (h248sdp.h). Lines end in LF or CRLF; a line is its type letter and '='.
 */
#include "h248/h248sdp.h"

#include <errno.h>
#include <string.h>

/* The placeholder lines: the core rewrites o= like any other, and they are
 * taken out before anything goes on. */
#define FILL_V "v=0"
#define FILL_O "o=- 0 0 IN IP4 0.0.0.0"
#define FILL_S "s=-"
#define FILL_T "t=0 0"

/* The end of the line starting at p (past its LF, or len). */
static size_t line_end(const char *sdp, size_t len, size_t p)
{
	const char *nl = memchr(sdp + p, '\n', len - p);

	return nl ? (size_t)(nl - sdp) + 1 : len;
}

static char line_type(const char *sdp, size_t len, size_t p)
{
	return p + 1 < len && sdp[p + 1] == '=' ? sdp[p] : 0;
}

struct obuf {
	char *b;
	size_t n, size;
	bool full;
};

static void put(struct obuf *o, const char *s, size_t n)
{
	if (o->full || n > o->size - o->n) {
		o->full = true;
		return;
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
}

static void put_line(struct obuf *o, const char *s, const char *eol)
{
	put(o, s, strlen(s));
	put(o, eol, strlen(eol));
}

/* The line at [p, e) of sdp, ended with eol if it has no end of its own
 * and more follows (more). */
static void put_src_line(struct obuf *o, const char *sdp, size_t p, size_t e,
			 const char *eol, bool more)
{
	put(o, sdp + p, e - p);
	if (more && (e == p || sdp[e - 1] != '\n'))
		put(o, eol, strlen(eol));
}

int np_h248_sdp_fill(const char *sdp, size_t len, char *out, size_t size,
		     size_t *olen, struct np_h248_sdp_fill *added)
{
	struct obuf o = { .b = out, .size = size };
	size_t p, e, first_end = line_end(sdp, len, 0);
	const char *eol =
		first_end >= 2 && sdp[first_end - 1] == '\n' &&
				sdp[first_end - 2] == '\r' ?
			"\r\n" :
			"\n";
	bool has_o = false, has_s = false, has_t = false, want_s, want_t;

	memset(added, 0, sizeof(*added));
	for (p = 0; p < len; p = line_end(sdp, len, p)) {
		char t = line_type(sdp, len, p);

		if (t == 'm')
			break;
		has_o |= t == 'o';
		has_s |= t == 's';
		has_t |= t == 't';
	}
	added->v = line_type(sdp, len, 0) != 'v';
	added->o = !has_o;
	added->s = want_s = !has_s;
	added->t = want_t = !has_t;
	/* v= first, o= right after it (RFC 4566 5: v o s ... c b t r z k a). */
	p = 0;
	if (added->v) {
		put_line(&o, FILL_V, eol);
	} else {
		p = first_end;
		put_src_line(&o, sdp, 0, p, eol, true);
	}
	if (added->o)
		put_line(&o, FILL_O, eol);
	for (; p < len; p = e) {
		char t = line_type(sdp, len, p);

		e = line_end(sdp, len, p);
		if (want_s && t != 'o') {
			put_line(&o, FILL_S, eol);
			want_s = false;
		}
		if (want_t && t && strchr("rzkam", t)) {
			put_line(&o, FILL_T, eol);
			want_t = false;
		}
		put_src_line(&o, sdp, p, e, eol, want_s || want_t);
	}
	if (want_s)
		put_line(&o, FILL_S, eol);
	if (want_t)
		put_line(&o, FILL_T, eol);
	if (o.full)
		return -E2BIG;
	*olen = o.n;
	return 0;
}

/* Drops the first line of sdp (from `from` on) of type t; the new length. */
static size_t drop_line(char *sdp, size_t len, size_t from, char t)
{
	size_t p, e;

	for (p = from; p < len; p = e) {
		e = line_end(sdp, len, p);
		if (line_type(sdp, len, p) == t) {
			memmove(sdp + p, sdp + e, len - e);
			return len - (e - p);
		}
	}
	return len;
}

size_t np_h248_sdp_unfill(char *sdp, size_t len,
			  const struct np_h248_sdp_fill *added)
{
	if (added->o)
		len = drop_line(sdp, len, 0, 'o');
	if (added->s)
		len = drop_line(sdp, len, 0, 's');
	if (added->t)
		len = drop_line(sdp, len, 0, 't');
	if (added->v)
		len = drop_line(sdp, len, 0, 'v');
	return len;
}
