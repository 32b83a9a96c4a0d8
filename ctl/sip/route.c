// SPDX-License-Identifier: GPL-2.0-only
/*
 * Route and Record-Route edits for the SIP driver: what docs/sip.md's
 * "Headers" table asks of the Route and Record-Route rows, as functions over
 * libosip2's message. libosip2 keeps one list entry per name-addr whatever
 * the header lines and commas were, and prints one header line per entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/route.h"
#include "sip/sipwrite.h"

static int parse_route(const char *text, osip_route_t **r)
{
	if (osip_route_init(r))
		return -ENOMEM;
	if (osip_route_parse(*r, text) || !(*r)->url) {
		osip_route_free(*r);
		*r = NULL;
		return -EINVAL;
	}
	return 0;
}

static void free_routes(osip_route_t **r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		osip_route_free(r[i]);
}

/* Parses n entries into r[] (all or none). */
static int parse_routes(char *const *uris, size_t n, osip_route_t **r)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = uris[i] ? parse_route(uris[i], &r[i]) : -EINVAL;
		if (err) {
			free_routes(r, i);
			return err;
		}
	}
	return 0;
}

static bool has_lr(const osip_uri_t *uri)
{
	osip_uri_param_t *lr = NULL;

	osip_uri_param_get_byname((osip_list_t *)&uri->url_params, "lr", &lr);
	return lr != NULL;
}

int np_route_pop_ours(osip_message_t *m, np_names_us_fn ours, void *arg)
{
	osip_route_t *r;
	osip_uri_t *uri;
	int removed = 0, last;

	/* RFC 3261 16.4: a strict router put our Record-Route URI in the
	 * Request-URI and the remote target at the end of the Route list. A
	 * Request-URI naming us without lr is a terminal's Contact at its core
	 * address (a request from the core), not a strict router's doing. */
	last = osip_list_size(&m->routes) - 1;
	if (MSG_IS_REQUEST(m) && m->req_uri && last >= 0 &&
	    has_lr(m->req_uri) && ours(arg, m->req_uri)) {
		r = osip_list_get(&m->routes, last);
		if (r && r->url) {
			if (osip_uri_clone(r->url, &uri))
				return -ENOMEM;
			osip_uri_free(m->req_uri);
			m->req_uri = uri;
			osip_list_remove(&m->routes, last);
			osip_route_free(r);
			removed++;
		}
	}
	while ((r = osip_list_get(&m->routes, 0)) && r->url &&
	       ours(arg, r->url)) {
		osip_list_remove(&m->routes, 0);
		osip_route_free(r);
		removed++;
	}
	return removed;
}

int np_route_prepend(osip_message_t *m, char *const *uris, size_t n)
{
	osip_route_t *r[NP_ROUTESET_MAX];
	size_t i;
	int err;

	if (n > NP_ROUTESET_MAX)
		return -ENOSPC;
	err = parse_routes(uris, n, r);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		osip_list_add(&m->routes, r[i], (int)i);
	return 0;
}

int np_route_prepend_set(osip_message_t *m, const char *routeset)
{
	char *list[NP_ROUTESET_MAX];
	size_t n = 0;
	int err;

	err = np_routeset_split(routeset, list, NP_ROUTESET_MAX, &n);
	if (err)
		return err;
	err = np_route_prepend(m, list, n);
	np_rr_free(list, n);
	return err;
}

void np_rr_free(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i]);
		list[i] = NULL;
	}
}

int np_rr_get(const osip_message_t *m, char **out, size_t max, size_t *n)
{
	osip_record_route_t *rr;
	char *text;
	int i;

	*n = 0;
	if ((size_t)osip_list_size(&m->record_routes) > max)
		return -ENOSPC;
	for (i = 0; (rr = osip_list_get(&m->record_routes, i)); i++) {
		text = NULL;
		if (np_sipwrite_name_addr(rr, &text) || !text) {
			np_rr_free(out, *n);
			*n = 0;
			return -EINVAL;
		}
		out[*n] = strdup(text);
		osip_free(text);
		if (!out[*n]) {
			np_rr_free(out, *n);
			*n = 0;
			return -ENOMEM;
		}
		(*n)++;
	}
	return 0;
}

int np_rr_set(osip_message_t *m, char *const *uris, size_t n)
{
	osip_route_t *r[NP_ROUTESET_MAX];
	size_t i;
	int err;

	if (n > NP_ROUTESET_MAX)
		return -ENOSPC;
	err = parse_routes(uris, n, r);
	if (err)
		return err;
	osip_list_special_free(&m->record_routes,
			       (void (*)(void *))osip_record_route_free);
	for (i = 0; i < n; i++)
		osip_list_add(&m->record_routes, r[i], -1);
	return 0;
}

size_t np_rr_index_of_ours(const osip_message_t *m, np_names_us_fn ours,
			   void *arg)
{
	osip_record_route_t *rr;
	size_t i;

	for (i = 0; (rr = osip_list_get(&m->record_routes, (int)i)); i++)
		if (rr->url && ours(arg, rr->url))
			return i;
	return i;
}

/*
 * Walks text's comma-separated entries, commas inside a quoted display name
 * or inside <> not counting (RFC 3261 25.1: name-addr, quoted-string with
 * quoted-pair). Each entry is trimmed; when out is given it is copied there
 * (malloc). Returns the number of entries, or -errno.
 */
static int walk_entries(const char *text, char **out, size_t max)
{
	const char *p = text, *start = text, *end;
	bool quoted = false, angle = false;
	size_t n = 0, len;
	char *copy;

	for (;; p++) {
		if (p - text >= NP_ROUTESET_LEN)
			goto nospc;
		if (*p == '\r' || *p == '\n')
			goto inval;
		if (quoted) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				quoted = false;
			else if (!*p)
				goto inval;
			continue;
		}
		if (*p == '"' && !angle) {
			quoted = true;
		} else if (*p == '<') {
			if (angle)
				goto inval;
			angle = true;
		} else if (*p == '>') {
			if (!angle)
				goto inval;
			angle = false;
		} else if (!*p || (*p == ',' && !angle)) {
			if (angle)
				goto inval;
			while (*start == ' ' || *start == '\t')
				start++;
			end = p;
			while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			len = (size_t)(end - start);
			/* "" alone is the empty set; an empty entry otherwise
			 * is malformed. */
			if (!len && !*p && !n)
				return 0;
			if (!len)
				goto inval;
			if (n >= max)
				goto nospc;
			if (out) {
				copy = malloc(len + 1);
				if (!copy) {
					np_rr_free(out, n);
					return -ENOMEM;
				}
				memcpy(copy, start, len);
				copy[len] = '\0';
				out[n] = copy;
			}
			n++;
			if (!*p)
				return (int)n;
			start = p + 1;
		}
	}
inval:
	if (out)
		np_rr_free(out, n);
	return -EINVAL;
nospc:
	if (out)
		np_rr_free(out, n);
	return -ENOSPC;
}

int np_routeset_split(const char *text, char **out, size_t max, size_t *n)
{
	int got;

	*n = 0;
	got = walk_entries(text, out, max);
	if (got < 0)
		return got;
	*n = (size_t)got;
	return 0;
}

int np_routeset_join(char *const *uris, size_t n, char *out, size_t len)
{
	size_t i, used = 0, l, sep;
	int got, err;

	if (!len)
		return -ENOSPC;
	out[0] = '\0';
	if (n > NP_ROUTESET_MAX)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		err = -EINVAL;
		if (!uris[i])
			goto fail;
		/* Exactly one well-formed entry, so split gives it back. */
		got = walk_entries(uris[i], NULL, NP_ROUTESET_MAX);
		if (got == -ENOSPC)
			err = -ENOSPC;
		if (got != 1)
			goto fail;
		l = strlen(uris[i]);
		sep = i ? 2 : 0;
		err = -ENOSPC;
		if (used + sep + l >= len || used + sep + l >= NP_ROUTESET_LEN)
			goto fail;
		memcpy(out + used, ", ", sep);
		memcpy(out + used + sep, uris[i], l + 1);
		used += sep + l;
	}
	return 0;
fail:
	out[0] = '\0';
	return err;
}
