// SPDX-License-Identifier: GPL-2.0-only
/*
 * The state file: one "term" line per terminal, followed by a "leg" line
 * per live call leg of it and a "stream" line per stream of that leg.
 * Fields are separated by spaces; text fields are percent-escaped, "-"
 * standing for empty. A version line opens the file, an "owner" line
 * (pin directory, flow map ids) follows it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pins.h"
#include "state.h"

#define STATE_VERSION "natproxy-state 2"
#define STATE_VERSION_1 "natproxy-state 1" /* read: no owner line */

static void put_text(FILE *f, const char *s)
{
	fputc(' ', f);
	if (!*s) {
		fputc('-', f);
		return;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '%' || (c == '-' && s[1] == 0))
			fprintf(f, "%%%02X", c);
		else
			fputc(c, f);
	}
}

static void put_addr(FILE *f, const struct np_sockaddr *a)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(a->family, &a->addr, text, sizeof(text));
	fprintf(f, " %s %u", text, a->port);
}

static void put_end(FILE *f, const struct np_media_end *e)
{
	char text[INET6_ADDRSTRLEN] = "-";

	if (e->known)
		inet_ntop(e->addr.family, &e->addr.addr, text, sizeof(text));
	fprintf(f, " %d %s %u %u %d %u", e->known, text, e->rtp, e->rtcp,
		e->mux, e->bps);
}

static void put_volume(FILE *f, const struct np_volume *v)
{
	int i;

	fprintf(f, " %llu %llu", (unsigned long long)v->packets,
		(unsigned long long)v->bytes);
	for (i = 0; i < NP_DROP_MAX; i++)
		fprintf(f, " %llu", (unsigned long long)v->drops[i]);
}

static void save_leg(FILE *f, const struct np_call *leg)
{
	static const struct np_sip_dialog none;
	const struct np_sip_dialog *d = leg->dialog ? leg->dialog : &none;
	size_t i;

	fputs("leg", f);
	put_text(f, leg->id);
	put_text(f, leg->from);
	put_text(f, leg->to);
	put_text(f, d->far_target);
	fprintf(f, " %d %d %u %u %lld %lld %lld %.3f %.3f %zu",
		leg->outgoing, leg->answered, d->term_cseq, d->core_cseq,
		(long long)leg->started, (long long)leg->expires,
		(long long)leg->answered_at, leg->wall_start, leg->wall_answer,
		leg->n_streams);
	put_text(f, d->core_route);
	fputc('\n', f);
	for (i = 0; i < leg->n_streams; i++) {
		const struct np_stream *s = &leg->streams[i];

		fprintf(f, "stream %zu %d %u %u %d %u %u", i, s->active,
			s->access_port, s->core_port, s->mux,
			leg->access_ports[i], leg->core_ports[i]);
		put_end(f, &s->term);
		put_end(f, &s->far);
		put_volume(f, &leg->gone_up[i]);
		put_volume(f, &leg->gone_down[i]);
		fputc('\n', f);
	}
}

int np_state_save(const struct np_proxy *px, const char *path,
		  const struct np_state_owner *owner)
{
	char tmp[4096];
	const struct np_config *cfg = px->core.cfg;
	const struct np_term *t;
	const struct np_call *leg;
	FILE *f;
	int err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	if (owner) {
		fprintf(f, "%s\nowner", STATE_VERSION);
		put_text(f, owner->pin_dir);
		fprintf(f, " %u %u\n", owner->map_ids[0], owner->map_ids[1]);
	} else {
		fprintf(f, "%s\n", STATE_VERSION_1);
	}
	for (t = px->core.terms; t; t = t->next) {
		const struct np_pair *pair = &cfg->pairs[t->pair];
		const struct np_sip_term *st = t->signaling;
		struct np_sockaddr acc = cfg->realms[pair->first].address;
		struct np_sockaddr core = cfg->realms[pair->second].address;

		acc.port = cfg->realms[pair->first].sip_port;
		core.port = t->core_port;
		fprintf(f, "term %zu", t->pair);
		put_addr(f, &t->nat);
		put_addr(f, &acc);
		put_addr(f, &core);
		fprintf(f, " %lld", (long long)t->registered_until);
		put_text(f, st ? st->contact : "");
		fputc('\n', f);
		for (leg = t->calls; leg; leg = leg->next)
			save_leg(f, leg);
	}
	/* Written out before it replaces the old state. No fsync: the file
	 * must survive the daemon, not the machine, whose reboot ends the
	 * flows too. */
	if (fflush(f))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* A decimal field within [0, max]; -EINVAL for anything else. */
static int num(const char *text, unsigned long long max,
	       unsigned long long *out)
{
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	*out = strtoull(text, &end, 10);
	return errno || *end || *out > max ? -EINVAL : 0;
}

/* Reads fields in order into unsigned integers, checked against max. */
struct field_reader {
	char **f;
	int err;
};

static unsigned long long next_num(struct field_reader *r,
				   unsigned long long max)
{
	unsigned long long v = 0;

	if (!r->err)
		r->err = num(*r->f, max, &v);
	r->f++;
	return v;
}

static double next_real(struct field_reader *r)
{
	char *end;
	double v = 0;

	if (!r->err) {
		v = strtod(*r->f, &end);
		if (*end || v < 0)
			r->err = -EINVAL;
	}
	r->f++;
	return v;
}

/* Splits line into at most max space-separated fields, in place. */
static int split(char *line, char **field, int max)
{
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(line, " \n", &save); tok && n < max;
	     tok = strtok_r(NULL, " \n", &save))
		field[n++] = tok;
	return tok ? -1 : n;
}

static int hex(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       isxdigit((unsigned char)c) ? tolower((unsigned char)c) - 'a' + 10 :
					    -1;
}

static int get_text(const char *in, char *out, size_t len)
{
	size_t n = 0;

	if (!strcmp(in, "-")) {
		out[0] = '\0';
		return 0;
	}
	for (; *in; in++) {
		if (n + 1 >= len)
			return -EINVAL;
		if (*in == '%') {
			if (hex(in[1]) < 0 || hex(in[2]) < 0)
				return -EINVAL;
			out[n++] = (char)(hex(in[1]) << 4 | hex(in[2]));
			in += 2;
		} else {
			out[n++] = *in;
		}
	}
	out[n] = '\0';
	return 0;
}

static int get_ip(const char *text, int *family, void *addr)
{
	if (inet_pton(AF_INET, text, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, text, addr) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

static int get_addr(struct field_reader *r, struct np_sockaddr *a)
{
	memset(a, 0, sizeof(*a));
	if (!r->err)
		r->err = get_ip(*r->f, &a->family, &a->addr);
	r->f++;
	a->port = (uint16_t)next_num(r, 65535);
	return r->err;
}

static void get_end(struct field_reader *r, struct np_media_end *e)
{
	memset(e, 0, sizeof(*e));
	e->known = next_num(r, 1);
	if (e->known && !r->err)
		r->err = get_ip(*r->f, &e->addr.family, &e->addr.addr);
	r->f++;
	e->rtp = (uint16_t)next_num(r, 65535);
	e->rtcp = (uint16_t)next_num(r, 65535);
	e->mux = next_num(r, 1);
	e->bps = (uint32_t)next_num(r, UINT32_MAX);
}

static void get_volume(struct field_reader *r, struct np_volume *v)
{
	int i;

	v->packets = next_num(r, ULLONG_MAX);
	v->bytes = next_num(r, ULLONG_MAX);
	for (i = 0; i < NP_DROP_MAX; i++)
		v->drops[i] = next_num(r, ULLONG_MAX);
}

#define VOLUME_FIELDS (2 + NP_DROP_MAX)
#define STREAM_FIELDS (8 + 6 + 6 + 2 * VOLUME_FIELDS)

static int parse_stream(char **f, int n, struct np_call *leg)
{
	struct field_reader r = { f + 1, 0 };
	unsigned long long i = next_num(&r, NP_SDP_MAX_MEDIA - 1);
	struct np_stream *s;

	if (n != STREAM_FIELDS || r.err || i >= leg->n_streams)
		return -EINVAL;
	s = &leg->streams[i];
	s->active = next_num(&r, 1);
	s->access_port = (uint16_t)next_num(&r, 65534);
	s->core_port = (uint16_t)next_num(&r, 65534);
	s->mux = next_num(&r, 1);
	leg->access_ports[i] = (uint16_t)next_num(&r, 65534);
	leg->core_ports[i] = (uint16_t)next_num(&r, 65534);
	get_end(&r, &s->term);
	get_end(&r, &s->far);
	get_volume(&r, &leg->gone_up[i]);
	get_volume(&r, &leg->gone_down[i]);
	return r.err;
}

/* A call and its SIP dialog; a file from before route sets has no route
 * field (15 fields). */
static int parse_leg(char **f, int n, struct np_call *leg,
		     struct np_sip_dialog *d)
{
	struct field_reader r = { f + 5, 0 };

	memset(leg, 0, sizeof(*leg));
	memset(d, 0, sizeof(*d));
	leg->dialog = d;
	if ((n != 15 && n != 16) || get_text(f[1], leg->id, sizeof(leg->id)) ||
	    get_text(f[2], leg->from, sizeof(leg->from)) ||
	    get_text(f[3], leg->to, sizeof(leg->to)) ||
	    get_text(f[4], d->far_target, sizeof(d->far_target)) ||
	    (n == 16 && get_text(f[15], d->core_route, sizeof(d->core_route))))
		return -EINVAL;
	leg->outgoing = next_num(&r, 1);
	leg->answered = next_num(&r, 1);
	d->term_cseq = (uint32_t)next_num(&r, UINT32_MAX);
	d->core_cseq = (uint32_t)next_num(&r, UINT32_MAX);
	leg->started = (time_t)next_num(&r, LLONG_MAX);
	leg->expires = (time_t)next_num(&r, LLONG_MAX);
	leg->answered_at = (time_t)next_num(&r, LLONG_MAX);
	leg->wall_start = next_real(&r);
	leg->wall_answer = next_real(&r);
	leg->n_streams = next_num(&r, NP_SDP_MAX_MEDIA);
	return r.err;
}

static int parse_term(char **f, int n, struct np_term *t,
		      struct np_sip_term *st, struct np_sockaddr *acc,
		      struct np_sockaddr *core)
{
	struct field_reader r = { f + 1, 0 };

	memset(t, 0, sizeof(*t));
	memset(st, 0, sizeof(*st));
	t->signaling = st;
	if (n != 10)
		return -EINVAL;
	t->pair = next_num(&r, SIZE_MAX);
	get_addr(&r, &t->nat);
	get_addr(&r, acc);
	get_addr(&r, core);
	t->registered_until = (time_t)next_num(&r, LLONG_MAX);
	if (r.err || get_text(f[9], st->contact, sizeof(st->contact)))
		return -EINVAL;
	t->core_port = core->port;
	return 0;
}

static int parse_owner(char **f, int n, struct np_state_owner *o)
{
	struct field_reader r = { f + 2, 0 };

	memset(o, 0, sizeof(*o));
	if (n != 4 || strcmp(f[0], "owner") ||
	    get_text(f[1], o->pin_dir, sizeof(o->pin_dir)))
		return -EINVAL;
	o->map_ids[0] = (uint32_t)next_num(&r, UINT32_MAX);
	o->map_ids[1] = (uint32_t)next_num(&r, UINT32_MAX);
	return r.err;
}

/* The leg being read is handed on when all its streams were read. */
static int flush_leg(const struct np_state_visit *v, void *arg,
		     struct np_call *leg, bool *pending, size_t *streams)
{
	int err = 0;

	if (*pending)
		err = *streams != leg->n_streams ? -EINVAL : v->leg(arg, leg);
	*pending = false;
	*streams = 0;
	return err;
}

int np_state_read(const char *path, const struct np_state_visit *v, void *arg)
{
	char *line = NULL, *f[STREAM_FIELDS + 1];
	struct np_sockaddr acc, core;
	bool have_term = false, pending = false, owned = false;
	struct np_state_owner owner;
	/* What one line at a time fills in, handed to the visitor. */
	struct reading {
		struct np_call leg;
		struct np_sip_dialog dialog;
		struct np_term term;
		struct np_sip_term sterm;
	} *rd;
	size_t cap = 0, streams = 0;
	int n, lineno = 0, err = 0;
	FILE *fp;

	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	rd = malloc(sizeof(*rd));
	if (!rd) {
		err = -ENOMEM;
		goto out;
	}
	while (!err && getline(&line, &cap, fp) > 0) {
		if (++lineno == 1) {
			line[strcspn(line, "\n")] = '\0';
			owned = !strcmp(line, STATE_VERSION);
			if (!owned && strcmp(line, STATE_VERSION_1))
				err = -EINVAL;
			continue;
		}
		n = split(line, f, STREAM_FIELDS + 1);
		if (n < 1) {
			err = -EINVAL;
		} else if (lineno == 2 && owned) {
			err = parse_owner(f, n, &owner);
		} else if (!strcmp(f[0], "term")) {
			err = flush_leg(v, arg, &rd->leg, &pending, &streams);
			if (!err)
				err = parse_term(f, n, &rd->term, &rd->sterm,
						 &acc, &core);
			if (!err)
				err = v->term(arg, &rd->term, &acc, &core);
			have_term = !err;
		} else if (!strcmp(f[0], "leg") && have_term) {
			err = flush_leg(v, arg, &rd->leg, &pending, &streams);
			if (!err)
				err = parse_leg(f, n, &rd->leg, &rd->dialog);
			pending = !err;
		} else if (!strcmp(f[0], "stream") && pending) {
			err = parse_stream(f, n, &rd->leg);
			streams++;
		} else {
			err = -EINVAL;
		}
	}
	if (!err && (!lineno || (owned && lineno < 2)))
		err = -EINVAL; /* not even a version (and owner) line */
	if (!err)
		err = flush_leg(v, arg, &rd->leg, &pending, &streams);
	if (err == -EINVAL)
		np_err("state file '%s' is damaged at line %d", path, lineno);
out:
	free(rd);
	free(line);
	fclose(fp);
	return err;
}

int np_state_owner_read(const char *path, struct np_state_owner *owner)
{
	char *line = NULL, *f[5];
	size_t cap = 0;
	int n, err = -EINVAL;
	FILE *fp;

	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	if (getline(&line, &cap, fp) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, STATE_VERSION_1)) {
			err = -ENODATA;
		} else if (!strcmp(line, STATE_VERSION) &&
			   getline(&line, &cap, fp) > 0) {
			n = split(line, f, 5);
			err = n > 0 ? parse_owner(f, n, owner) : -EINVAL;
		}
	}
	free(line);
	fclose(fp);
	return err;
}

void np_state_owner_dir(const char *pin_dir, char *out, size_t len)
{
	char dir[PATH_MAX], real[PATH_MAX], *slash;
	size_t n;

	snprintf(dir, sizeof(dir), "%s", pin_dir);
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	if (realpath(dir, real)) {
		snprintf(out, len, "%s", real);
		return;
	}
	/* Not there yet: its parent resolved, its own name kept. */
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (realpath(dir, real)) {
			snprintf(out, len, "%s/%s", real, slash + 1);
			return;
		}
		*slash = '/';
	}
	snprintf(out, len, "%s", dir);
}

enum np_state_match np_state_owner_match(const struct np_state_owner *saved,
					 const struct np_state_owner *ours)
{
	if (!saved)
		return NP_STATE_UNOWNED;
	if (strcmp(saved->pin_dir, ours->pin_dir))
		return NP_STATE_OTHER;
	if (saved->map_ids[0] != ours->map_ids[0] ||
	    saved->map_ids[1] != ours->map_ids[1])
		return NP_STATE_OLD_MAPS;
	return NP_STATE_OURS;
}

int np_state_default_path(const char *pin_dir, char *buf, size_t len)
{
	size_t n, i;

	while (pin_dir[0] == '/' && pin_dir[1] == '/')
		pin_dir++;
	if (!strcmp(pin_dir, NP_DEFAULT_PIN_DIR) ||
	    !strcmp(pin_dir, NP_DEFAULT_PIN_DIR "/"))
		n = (size_t)snprintf(buf, len, "%s", NP_DEFAULT_STATE);
	else
		n = (size_t)snprintf(buf, len, "%s.%s", NP_DEFAULT_STATE,
				     pin_dir + (pin_dir[0] == '/'));
	if (n >= len)
		return -ENAMETOOLONG;
	/* Everything after the directory: one file name. */
	for (i = strlen(NP_DEFAULT_STATE_DIR) + 1; buf[i]; i++)
		if (buf[i] == '/')
			buf[i] = '_';
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '_')
		buf[--n] = '\0';
	return 0;
}
