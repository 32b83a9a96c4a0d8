// SPDX-License-Identifier: GPL-2.0-only
/*
 * Charging records (claim 9): one JSON line per call, written when the call
 * ends, from what XDP counted per stream and direction. Written by a
 * single append, so a record is in the file whole or not at all.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <time.h>

#include "addr.h"
#include "core/core.h"
#include "json.h"
#include "log.h"

/* n digits of v, leading zeros. */
static char *put_digits(char *p, unsigned v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", quoted; null for 0. By hand: strftime and
 * fprintf for three times a call were a good part of a record. */
static void put_time(FILE *f, double t)
{
	time_t sec = (time_t)t;
	struct tm tm;
	char text[32], *p = text;

	if (!t || !gmtime_r(&sec, &tm)) {
		fputs("null", f);
		return;
	}
	*p++ = '"';
	p = put_digits(p, (unsigned)tm.tm_year + 1900, 4);
	*p++ = '-';
	p = put_digits(p, (unsigned)tm.tm_mon + 1, 2);
	*p++ = '-';
	p = put_digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_sec, 2);
	*p++ = '.';
	p = put_digits(p, (unsigned)((t - (double)sec) * 1000), 3);
	*p++ = 'Z';
	*p++ = '"';
	fwrite_unlocked(text, 1, (size_t)(p - text), f);
}

static void put_volume(FILE *f, const struct np_volume *v)
{
	static const char *const names[] = { NP_DROP_REASONS(NP_NAME_ENTRY) };
	int i;

	fputs("{\"packets\": ", f);
	json_u64(f, v->packets);
	fputs(", \"bytes\": ", f);
	json_u64(f, v->bytes);
	fputs(", \"drops\": {", f);
	for (i = 0; i < NP_DROP_MAX; i++) {
		if (i)
			fputs(", ", f);
		putc_unlocked('"', f);
		fputs(names[i], f);
		fputs("\": ", f);
		json_u64(f, v->drops[i]);
	}
	fputs("}}", f);
}

/* The stream to build a record in, emptied (see np_core.charge_buf);
 * NULL without memory. */
static FILE *charge_buf_begin(struct np_charge_buf *b)
{
	if (b->f && !ferror(b->f)) {
		rewind(b->f);
		return b->f;
	}
	if (b->f)
		fclose(b->f);
	free(b->text);
	b->text = NULL;
	b->f = open_memstream(&b->text, &b->len);
	if (b->f)
		__fsetlocking(b->f, FSETLOCKING_BYCALLER); /* this thread's alone */
	return b->f;
}

/* Whether the record is whole in b->text, b->len bytes and a '\0' (a
 * rewound stream leaves the end of a longer record after the new one). */
static bool charge_buf_end(struct np_charge_buf *b)
{
	if (putc_unlocked('\0', b->f) == EOF || fflush(b->f) || !b->text ||
	    !b->len)
		return false;
	b->len--;
	return true;
}

/* Who, where, when, why it ended, and per stream and direction what XDP
 * counted (the volumes of streams already released: every stream is by
 * the time a call ends). */
void np_charge(struct np_core *core, const struct np_term *t,
	       const struct np_call *call, const char *reason)
{
	const struct np_pair *pair = np_core_pair(core, t);
	const struct np_realm *access = &core->cfg->realms[pair->first];
	const struct np_realm *corer = &core->cfg->realms[pair->second];
	double end = core->io->wall(core->io_ctx);
	char where[64], text[64];
	FILE *f = charge_buf_begin(&core->charge_buf);
	size_t i;

	if (!f) {
		np_err("call '%s': no memory for its charging record", call->id);
		return;
	}
	fputs("{\"call_id\": ", f);
	json_str(f, call->id);
	fputs(", \"from\": ", f);
	if (call->recovered)
		fputs("null, \"to\": null", f);
	else
		json_str(f, call->from);
	if (!call->recovered) {
		fputs(", \"to\": ", f);
		json_str(f, call->to);
	}
	/* A call rebuilt from the maps (recover.c) knows neither its
	 * direction nor its parties; its terminal is the media address the
	 * flows had, if any. */
	fprintf(f, ", \"direction\": \"%s\", \"pair\": ",
		call->recovered ? "unknown" :
		call->outgoing	? "outgoing" :
				  "incoming");
	fprintf(f, "\"%s->%s\", \"terminal\": ", access->name, corer->name);
	if (t->nat.family)
		json_str(f, np_sockaddr_str(&t->nat, where, sizeof(where)));
	else
		fputs("null", f);
	fputs(", \"start\": ", f);
	put_time(f, call->wall_start);
	fputs(", \"answer\": ", f);
	put_time(f, call->wall_answer);
	fputs(", \"end\": ", f);
	put_time(f, end);
	fprintf(f, ", \"duration\": %.3f, \"end_reason\": ",
		call->wall_answer ? end - call->wall_answer : 0.0);
	json_str(f, reason);
	/* A call taken over from another node: its volumes there are in
	 * the streams' counts (docs/ha.md). */
	fputs(", \"takeover\": ", f);
	if (call->takeover_at) {
		fputs("{\"at\": ", f);
		put_time(f, call->takeover_at);
		fputs(", \"from\": ", f);
		json_str(f, call->takeover_from);
		fputs("}", f);
	} else {
		fputs("null", f);
	}
	fputs(", \"streams\": [", f);
	for (i = 0; i < call->n_streams; i++) {
		fprintf(f,
			"%s{\"index\": %zu, \"access_relay\": \"%s:%u\", "
			"\"core_relay\": \"%s:%u\", \"from_terminal\": ",
			i ? ", " : "", i,
			np_sipaddr_host(&access->address, where, sizeof(where)),
			call->access_ports[i],
			np_sipaddr_host(&corer->address, text, sizeof(text)),
			call->core_ports[i]);
		put_volume(f, &call->gone_up[i]);
		fputs(", \"to_terminal\": ", f);
		put_volume(f, &call->gone_down[i]);
		fputs("}", f);
	}
	fputs("]}\n", f);
	if (!charge_buf_end(&core->charge_buf)) {
		np_err("call '%s': charging record not built", call->id);
		return;
	}
	core->io->charge(core->io_ctx, core->charge_buf.text,
			 core->charge_buf.len);
	if (core->io->charged)
		core->io->charged(core->io_ctx, t, call, core->charge_buf.text,
				  core->charge_buf.len);
}
