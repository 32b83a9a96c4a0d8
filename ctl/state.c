// SPDX-License-Identifier: GPL-2.0-only
/*
 * The state file: one "term" line per terminal, followed by a "leg" line
 * per live call leg of it and a "stream" line per stream of that leg.
 * Fields are separated by spaces; text fields are percent-escaped, "-"
 * standing for empty. A version line opens the file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "state.h"

#define STATE_VERSION "natproxy-state 1"

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

static void save_leg(FILE *f, const struct np_leg *leg)
{
	size_t i;

	fputs("leg", f);
	put_text(f, leg->call_id);
	put_text(f, leg->from);
	put_text(f, leg->to);
	put_text(f, leg->far_target);
	fprintf(f, " %d %d %u %u %lld %lld %lld %.3f %.3f %zu\n",
		leg->outgoing, leg->answered, leg->term_cseq, leg->core_cseq,
		(long long)leg->started, (long long)leg->expires,
		(long long)leg->answered_at, leg->wall_start, leg->wall_answer,
		leg->n_streams);
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

int np_state_save(const struct np_proxy *px, const char *path)
{
	char tmp[4096];
	const struct np_term *t;
	const struct np_leg *leg;
	FILE *f;
	int err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", STATE_VERSION);
	for (t = px->terms; t; t = t->next) {
		const struct np_pair *pair = &px->cfg->pairs[t->pair];
		struct np_sockaddr acc = px->cfg->realms[pair->first].address;
		struct np_sockaddr core = px->cfg->realms[pair->second].address;

		acc.port = px->cfg->realms[pair->first].sip_port;
		core.port = t->core_port;
		fprintf(f, "term %zu", t->pair);
		put_addr(f, &t->nat);
		put_addr(f, &acc);
		put_addr(f, &core);
		fprintf(f, " %lld", (long long)t->registered_until);
		put_text(f, t->contact);
		fputc('\n', f);
		for (leg = t->legs; leg; leg = leg->next)
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

static int get_text(const char *in, char *out, size_t len)
{
	size_t n = 0;
	unsigned int c;

	if (!strcmp(in, "-")) {
		out[0] = '\0';
		return 0;
	}
	for (; *in; in++) {
		if (n + 1 >= len)
			return -EINVAL;
		if (*in == '%') {
			if (sscanf(in + 1, "%2x", &c) != 1)
				return -EINVAL;
			out[n++] = (char)c;
			in += 2;
		} else {
			out[n++] = *in;
		}
	}
	out[n] = '\0';
	return 0;
}

static int get_addr(const char *addr, const char *port, struct np_sockaddr *a)
{
	memset(a, 0, sizeof(*a));
	a->port = (uint16_t)strtoul(port, NULL, 10);
	if (inet_pton(AF_INET, addr, &a->addr.v4) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &a->addr.v6) == 1)
		a->family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

static int get_end(char **f, struct np_media_end *e)
{
	memset(e, 0, sizeof(*e));
	e->known = atoi(f[0]);
	if (e->known) {
		if (inet_pton(AF_INET, f[1], &e->addr.addr.v4) == 1)
			e->addr.family = AF_INET;
		else if (inet_pton(AF_INET6, f[1], &e->addr.addr.v6) == 1)
			e->addr.family = AF_INET6;
		else
			return -EINVAL;
	}
	e->rtp = (uint16_t)atoi(f[2]);
	e->rtcp = (uint16_t)atoi(f[3]);
	e->mux = atoi(f[4]);
	e->bps = (uint32_t)strtoul(f[5], NULL, 10);
	return 0;
}

static void get_volume(char **f, struct np_volume *v)
{
	int i;

	v->packets = strtoull(f[0], NULL, 10);
	v->bytes = strtoull(f[1], NULL, 10);
	for (i = 0; i < NP_DROP_MAX; i++)
		v->drops[i] = strtoull(f[2 + i], NULL, 10);
}

#define VOLUME_FIELDS (2 + NP_DROP_MAX)
#define STREAM_FIELDS (8 + 6 + 6 + 2 * VOLUME_FIELDS)

static int parse_stream(char **f, int n, struct np_leg *leg)
{
	unsigned long i = strtoul(f[1], NULL, 10);
	struct np_stream *s;

	if (n != STREAM_FIELDS || i >= leg->n_streams)
		return -EINVAL;
	s = &leg->streams[i];
	s->active = atoi(f[2]);
	s->access_port = (uint16_t)atoi(f[3]);
	s->core_port = (uint16_t)atoi(f[4]);
	s->mux = atoi(f[5]);
	leg->access_ports[i] = (uint16_t)atoi(f[6]);
	leg->core_ports[i] = (uint16_t)atoi(f[7]);
	if (get_end(f + 8, &s->term) || get_end(f + 14, &s->far))
		return -EINVAL;
	get_volume(f + 20, &leg->gone_up[i]);
	get_volume(f + 20 + VOLUME_FIELDS, &leg->gone_down[i]);
	return 0;
}

static int parse_leg(char **f, int n, struct np_leg *leg)
{
	memset(leg, 0, sizeof(*leg));
	if (n != 15 || get_text(f[1], leg->call_id, sizeof(leg->call_id)) ||
	    get_text(f[2], leg->from, sizeof(leg->from)) ||
	    get_text(f[3], leg->to, sizeof(leg->to)) ||
	    get_text(f[4], leg->far_target, sizeof(leg->far_target)))
		return -EINVAL;
	leg->outgoing = atoi(f[5]);
	leg->answered = atoi(f[6]);
	leg->term_cseq = (uint32_t)strtoul(f[7], NULL, 10);
	leg->core_cseq = (uint32_t)strtoul(f[8], NULL, 10);
	leg->started = strtoll(f[9], NULL, 10);
	leg->expires = strtoll(f[10], NULL, 10);
	leg->answered_at = strtoll(f[11], NULL, 10);
	leg->wall_start = strtod(f[12], NULL);
	leg->wall_answer = strtod(f[13], NULL);
	leg->n_streams = strtoul(f[14], NULL, 10);
	return leg->n_streams > NP_SDP_MAX_MEDIA ? -EINVAL : 0;
}

static int parse_term(char **f, int n, struct np_term *t,
		      struct np_sockaddr *acc, struct np_sockaddr *core)
{
	memset(t, 0, sizeof(*t));
	if (n != 10 || get_addr(f[2], f[3], &t->nat) ||
	    get_addr(f[4], f[5], acc) || get_addr(f[6], f[7], core) ||
	    get_text(f[9], t->contact, sizeof(t->contact)))
		return -EINVAL;
	t->pair = strtoul(f[1], NULL, 10);
	t->core_port = core->port;
	t->registered_until = strtoll(f[8], NULL, 10);
	return 0;
}

/* The leg being read is handed on when its streams are complete. */
static int flush_leg(const struct np_state_visit *v, void *arg,
		     struct np_leg *leg, bool *pending)
{
	int err = *pending ? v->leg(arg, leg) : 0;

	*pending = false;
	return err;
}

int np_state_read(const char *path, const struct np_state_visit *v, void *arg)
{
	char *line = NULL, *f[STREAM_FIELDS + 1];
	struct np_sockaddr acc, core;
	struct np_leg *leg = NULL;
	bool have_term = false, pending = false;
	struct np_term term;
	size_t cap = 0;
	int n, lineno = 0, err = 0;
	FILE *fp;

	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	leg = malloc(sizeof(*leg));
	if (!leg) {
		err = -ENOMEM;
		goto out;
	}
	while (!err && getline(&line, &cap, fp) > 0) {
		lineno++;
		if (lineno == 1) {
			if (strncmp(line, STATE_VERSION, strlen(STATE_VERSION)))
				err = -EINVAL;
			continue;
		}
		n = split(line, f, STREAM_FIELDS + 1);
		if (n < 1) {
			err = -EINVAL;
		} else if (!strcmp(f[0], "term")) {
			err = flush_leg(v, arg, leg, &pending);
			if (!err)
				err = parse_term(f, n, &term, &acc, &core);
			if (!err)
				err = v->term(arg, &term, &acc, &core);
			have_term = !err;
		} else if (!strcmp(f[0], "leg") && have_term) {
			err = flush_leg(v, arg, leg, &pending);
			if (!err)
				err = parse_leg(f, n, leg);
			pending = !err;
		} else if (!strcmp(f[0], "stream") && pending) {
			err = parse_stream(f, n, leg);
		} else {
			err = -EINVAL;
		}
	}
	if (!err)
		err = flush_leg(v, arg, leg, &pending);
	if (err == -EINVAL)
		np_err("state file '%s' is damaged at line %d", path, lineno);
out:
	free(leg);
	free(line);
	fclose(fp);
	return err;
}
