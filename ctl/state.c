// SPDX-License-Identifier: GPL-2.0-only
/*
 * The state file: one "term" line per terminal, followed by a "leg" line
 * per live call leg of it and a "stream" line per stream of that leg; a
 * terminal with its calls is one record. Fields are separated by spaces;
 * text fields are percent-escaped, "-" standing for empty. A version line
 * opens the file, an "owner" line (pin directory, flow map ids) follows it.
 *
 * Version 3 makes damage visible per record: every line ends with
 * " #" and the CRC-32 of the text before it (8 hex digits), a term line
 * says how many legs follow it, calls rebuilt from the maps are "orphan"
 * records (pair, the terminal's media address, legs), and an "end" line
 * with the number of records closes the file. A record with any line
 * damaged, cut short, or out of place is skipped whole (never handed on in
 * part); a missing end line, or a count that differs, says records are
 * missing. Versions 1 and 2 (no checksums) are still read.
 *
 * Gateways (MGCP, H.248: a terminal whose driver has state_put) are "gw"
 * records of version 3: "gw DRIVER PAIR NAT_IP NAT_PORT ACC_IP 0 CORE_IP
 * CORE_PORT UNTIL DATA N_CALLS", then per call "gwcall ID FROM TO
 * OUTGOING ANSWERED STARTED EXPIRES ANSWERED_AT WALL_START WALL_ANSWER
 * N_STREAMS DATA" and its stream lines; DATA is the driver's own text
 * (state_put, read back by its state_get), escaped as any text field.
 * This file stays protocol-neutral for them. They come first (in the
 * snapshot; in a journal batch, after its tombstones), so a natproxyd
 * from before them,
 * to which "gw" is an unknown kind, skips each as one damaged record
 * (the file is then read as damaged: its other records adopted, the
 * flows no adopted call claims recovered) and loses no terminal after
 * it: the version stays 3.
 *
 * The journal beside it (path ".journal") holds what changed since: a
 * header "natproxy-journal 2 GEN" naming the snapshot's generation (the
 * owner line's fifth field), then per save (a batch of the event loop):
 *
 *   gone PAIR CORE_PORT               a terminal removed
 *   orphan-gone PAIR ACCESS_PORT      a call rebuilt from the maps ended
 *                                     (named by its stream's access relay
 *                                     port; orphans are written only in
 *                                     snapshots)
 *   call-gone PAIR CORE_PORT ID       a call of that terminal ended (ID: its
 *                                     id, escaped as any text field)
 *   gw-fields DRIVER PAIR NAT         a gateway that changed itself (new,
 *     NAT_PORT ACC 0 CORE CORE_PORT   its lifetime, the driver's data of
 *     UNTIL DATA                      it): a gw line's fields without the
 *                                     count of calls; its calls as they
 *                                     were
 *   gw-call PAIR CORE_PORT            a gateway's call that changed: its
 *     gwcall ... / stream ...         gwcall line (the driver's data of
 *                                     the call is the call's alone) and
 *                                     stream lines, as in a gw record
 *   term-fields PAIR NAT NAT_PORT     a SIP terminal that changed itself
 *     ACC ACC_PORT CORE CORE_PORT     (new, registration, contact): a
 *     UNTIL CONTACT AOR BINDINGS      term line's fields without the count
 *                                     of calls; its calls as they were
 *   call PAIR CORE_PORT               a call that changed: its leg line
 *     leg ... / stream ...            and stream lines, as in a
 *                                     terminal's record; the terminal's
 *                                     key, then the call's id (the leg's
 *                                     first field)
 *   commit N                          N records in the batch
 *
 * in that order (tombstones first: a key or id given again in the same
 * batch is the new one's by its record below; a terminal's or gateway's
 * own fields before its calls: one new in the batch is there before its
 * calls; gateways' records before terminals': a reader from before them
 * takes each for damage, and skips it alone only where no record it knows
 * is being read), every line checksummed. A call-gone names a gateway's
 * call as a terminal's. An event so costs what it changed: a call's
 * lines, or a terminal's or gateway's own line, however many calls the
 * terminal (a PBX) or gateway (a trunk) has. Whole "term" and "gw"
 * records are a snapshot's (and older journals': version 1's, and version
 * 2's from before gw-fields and gw-call, which wrote a gateway whole on
 * each of its events; both still read). The gateway kinds came within
 * version 2, as gw records within the snapshot's version 3: a natproxyd
 * from before them skips each as one damaged record, losing the
 * gateways' changes since the snapshot, not the terminals'.
 *
 * Read after the snapshot, per terminal (or gateway) key: its last whole
 * record or tombstone in the journal replaces the snapshot's record
 * (none: the snapshot's stands); after it, its last term-fields (gw-fields)
 * record replaces the terminal's own line (or makes the terminal, with no
 * calls, where none is), and each call (gw-call) record or call tombstone,
 * the last of each id, replaces, adds or deletes that call; the terminal is
 * handed on once, as it ends up, a whole record (call records of a
 * terminal that is not there, after its tombstone, say nothing; those of
 * the other kind than its own fields, a terminal's under a gateway's or
 * the reverse, are passed over). A damaged record is
 * skipped whole (a call's earlier record stands); lines after the last
 * commit (a save cut short) are dropped whole; a journal of another
 * generation (left by a compaction cut short) is ignored: the snapshot
 * holds it all. Version 1 ("natproxy-journal 1": whole terminals and
 * tombstones only, the format before call records) is read the same way.
 *
 * Compaction off the loop's turns (np_journal.background, natproxyd's):
 * at 100,000 terminals the whole state is 25-33 MB, a second or more to
 * write, and every datagram would wait for it. Once the journal is due,
 * or the whole state is wanted again though the journal holds every
 * change (core->rewrite_all: a reload, a promotion, an HA resync; after a
 * restart, records adoption passed over), the save appends its batch as
 * usual, then makes the new generation's journal (path ".journal.next",
 * its header alone) and begins the snapshot of the new generation in
 * path ".tmp"; each turn of the loop then writes a slice of it
 * (np_journal_poll(), about NP_SNAPSHOT_STEP_MS: the terminals of a few
 * chains of core->by_port, whose key a terminal keeps for life), and
 * every save goes to both journals. After the last slice
 * the snapshot is renamed to path, then ".journal.next" over ".journal".
 * The snapshot is no one moment's state: a terminal is as it was when its
 * slice was written. The new journal makes it whole: it has every change
 * since the snapshot began, and a journal record is what it names at its
 * change (a terminal's own fields, a call, a tombstone), so the last one
 * of each is what it is now, and one the snapshot already has changes
 * nothing; a terminal made after its chain was written, or gone before,
 * is in the journal alone. Whenever a crash comes, the reader finds a
 * whole state:
 *
 *   before the snapshot's rename   old snapshot + ".journal" (old, whole:
 *                                  every batch went there too); ".next"
 *                                  not read (".journal" is the snapshot's)
 *   between the two renames        new snapshot + ".journal.next" (the
 *                                  snapshot's generation; ".journal" is
 *                                  the old one's, stale)
 *   after                          new snapshot + ".journal"
 *
 * Each case holds every save because the old generation stays whole
 * until the new snapshot replaces it: the batch that begins the writer is
 * appended first, and every later save goes to ".journal" as well as to
 * ".journal.next". A rewrite is no exception: what it asks for is no
 * change to any record (a reload keeps every pair's index and addresses;
 * a promotion's takeover and a resync change calls and terminals through
 * their own records), so the old files say all of it; a crash before the
 * rename reads them, as one before the save would have.
 *
 * A restart (natproxyd) that adopted the files whole takes their journal
 * up again (np_journal_resume(): a save cut short by the kill cut off,
 * ".journal.next" renamed where the reader took it): its files are the
 * old generation, its first save appends (before, no journal was open
 * after a start, and that save wrote the whole state in its turn).
 *
 * A writer that fails is dropped with its files (the first case); the
 * next save begins another. Written whole in the save's own turn,
 * dropping a writer in progress: a save with no journal open (none taken
 * up: a state file missing, damaged, of an older format or of other maps,
 * which no old generation on disk holds, small at a first start; or a
 * save whose write failed and closed it), and a change the journal
 * cannot say (dirty_all: orphans made from the maps, a tombstone short of
 * memory), as natproxyd's save at exit (the process ends: no turn waits).
 * (A child process writing a copy-on-write image was tried first: at 300
 * MB of heap its fork took 70-220 ms here, and the loop then paid a page
 * fault for every page it wrote, ~50 us each on this VM.) replicate sees
 * the batches meanwhile as the old generation's (a follower applies them
 * to its copy of it); once the snapshot is in place, the snapshot (read
 * back from the file) and then the saves since it began again, as the new
 * generation's: as above, a follower that applied them already is not
 * misled. A promotion's or a resync's snapshot so reaches the stream
 * once written (a few seconds at 100,000 terminals), not at its first
 * save.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "addr.h"
#include "clock.h"
#include "log.h"
#include "pins.h"
#include "state.h"

#define STATE_VERSION "natproxy-state 3"
#define STATE_VERSION_2 "natproxy-state 2" /* read: no checksums */
#define STATE_VERSION_1 "natproxy-state 1" /* read: no owner line either */
#define JOURNAL_VERSION "natproxy-journal 2"
#define JOURNAL_VERSION_1 "natproxy-journal 1" /* read: records whole */
#define CRC_TEXT 10 /* " #" and 8 hex digits */

/* CRC-32 (IEEE 802.3, reflected): zlib's, many bytes a step (every line
 * saved and read is checked: a table lookup a byte was a save's tenth). */
static uint32_t crc32_of(const char *p, size_t n)
{
	return (uint32_t)crc32_z(0, (const Bytef *)p, n);
}

/* Whether c is written as %XX (the last character of a text: '-'). */
static bool escaped(const char *s)
{
	unsigned char c = (unsigned char)*s;

	return c <= ' ' || c >= 0x7f || c == '%' || (c == '-' && s[1] == 0);
}

static void put_text(FILE *f, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run;

	putc_unlocked(' ', f);
	if (!*s) {
		putc_unlocked('-', f);
		return;
	}
	while (*s) {
		/* Plain characters in one write (a save writes every leg of
		 * a terminal: per-character calls were most of its cost). */
		for (run = 0; s[run] && !escaped(s + run); run++)
			;
		fwrite_unlocked(s, 1, run, f);
		s += run;
		if (*s) {
			putc_unlocked('%', f);
			putc_unlocked(hex[(unsigned char)*s >> 4], f);
			putc_unlocked(hex[(unsigned char)*s & 15], f);
			s++;
		}
	}
}

static void put_addr(FILE *f, const struct np_sockaddr *a)
{
	char text[INET6_ADDRSTRLEN];

	char port[8], *p = port + sizeof(port);
	unsigned v = a->port;

	np_ntop(a->family, &a->addr, text);
	putc_unlocked(' ', f);
	fputs(text, f);
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	*--p = ' ';
	fwrite_unlocked(p, 1, (size_t)(port + sizeof(port) - p), f);
}

/*
 * Numbers written by hand into a line's buffer: a save writes every leg of
 * each terminal that changed (a PBX's hundreds) every SAVE_DELAY_MS under
 * load, a stream line some twenty numbers, and fprintf for each was most
 * of the save's cost. The text is the same as " %llu" writes.
 */
static char *put_u64(char *p, unsigned long long v)
{
	char digits[20];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while (v /= 10);
	*p++ = ' ';
	while (n)
		*p++ = digits[--n];
	return p;
}

/* A time_t as " %lld" writes it. */
static char *put_time(char *p, time_t t)
{
	char *end;

	if (t >= 0)
		return put_u64(p, (unsigned long long)t);
	end = put_u64(p + 1, 0ull - (unsigned long long)t); /* its space at p + 1 */
	p[0] = ' ';
	p[1] = '-';
	return end;
}

/*
 * A wall-clock time (seconds since 1970, or 0 for none) as " %.3f" writes
 * it. From 2^20 to 2^40 seconds a double has at most 32 bits below the
 * point, so (x - floor(x)) * 1000 is exact and rint() rounds it as printf
 * does, halves to even; anything else goes to snprintf.
 */
#define WALL_TEXT 320 /* " %.3f" of any double, with its NUL */

static char *put_wall(char *p, double x)
{
	double whole, ms;

	if (x != 0.0 && !(x >= 0x1p20 && x < 0x1p40))
		return p + snprintf(p, WALL_TEXT, " %.3f", x);
	whole = floor(x);
	ms = rint((x - whole) * 1000.0);
	if (ms >= 1000.0) {
		whole += 1.0;
		ms -= 1000.0;
	}
	p = put_u64(p, (unsigned long long)whole);
	*p++ = '.';
	*p++ = (char)('0' + (int)ms / 100);
	*p++ = (char)('0' + (int)ms / 10 % 10);
	*p++ = (char)('0' + (int)ms % 10);
	return p;
}

/* A stream line's end of media: " known addr rtp rtcp mux bps". */
static char *put_end(char *p, const struct np_media_end *e)
{
	size_t n;

	p = put_u64(p, e->known);
	*p++ = ' ';
	n = e->known ? np_ntop(e->addr.family, &e->addr.addr, p) : 0;
	if (n)
		p += n;
	else
		*p++ = '-';
	p = put_u64(p, e->rtp);
	p = put_u64(p, e->rtcp);
	p = put_u64(p, e->mux);
	return put_u64(p, e->bps);
}

static char *put_volume(char *p, const struct np_volume *v)
{
	int i;

	p = put_u64(p, v->packets);
	p = put_u64(p, v->bytes);
	for (i = 0; i < NP_DROP_MAX; i++)
		p = put_u64(p, v->drops[i]);
	return p;
}

/* A call's stream lines, after its leg (or gwcall) line. */
static void save_streams(FILE *f, const struct np_call *leg)
{
	size_t i;

	/* Numbers of at most 20 digits and a space each, two addresses. */
	char line[64 + 21 * (7 + 8 + 4 * (2 + NP_DROP_MAX)) +
		  2 * INET6_ADDRSTRLEN], *p;

	for (i = 0; i < leg->n_streams; i++) {
		const struct np_stream *s = &leg->streams[i];

		p = line;
		memcpy(p, "stream", 6);
		p += 6;
		p = put_u64(p, i);
		p = put_u64(p, s->active);
		p = put_u64(p, s->access_port);
		p = put_u64(p, s->core_port);
		p = put_u64(p, s->mux);
		p = put_u64(p, leg->access_ports[i]);
		p = put_u64(p, leg->core_ports[i]);
		p = put_end(p, &s->term);
		p = put_end(p, &s->far);
		p = put_volume(p, &leg->gone_up[i]);
		p = put_volume(p, &leg->gone_down[i]);
		*p++ = '\n';
		fwrite_unlocked(line, 1, (size_t)(p - line), f);
	}
}

static void save_leg(FILE *f, const struct np_call *leg)
{
	static const NP_SIP_DIALOG_BUF(none, 0);
	const struct np_sip_dialog *d = leg->dialog ? leg->dialog : &none.d;

	char nums[21 * 8 + 2 * WALL_TEXT], *p = nums;

	fwrite_unlocked("leg", 1, 3, f);
	put_text(f, leg->id);
	put_text(f, leg->from);
	put_text(f, leg->to);
	put_text(f, d->far_target);
	p = put_u64(p, leg->outgoing);
	p = put_u64(p, leg->answered);
	p = put_u64(p, d->term_cseq);
	p = put_u64(p, d->core_cseq);
	p = put_time(p, leg->started);
	p = put_time(p, leg->expires);
	p = put_time(p, leg->answered_at);
	p = put_wall(p, leg->wall_start);
	p = put_wall(p, leg->wall_answer);
	p = put_u64(p, leg->n_streams);
	fwrite_unlocked(nums, 1, (size_t)(p - nums), f);
	put_text(f, d->core_route);
	putc_unlocked('\n', f);
	save_streams(f, leg);
}

static size_t n_legs(const struct np_term *t)
{
	const struct np_call *leg;
	size_t n = 0;

	for (leg = t->calls; leg; leg = leg->next)
		n++;
	return n;
}

/* A terminal's SIP registrations: its address-of-record, then its
 * bindings as one text field, fields split by US (0x1f), bindings by RS
 * (0x1e): uri, user, line, instance, until. */
static void put_bindings(FILE *f, const struct np_sip_term *st)
{
	char text[NP_SIP_BINDINGS * 640] = "", one[640];
	size_t i;

	put_text(f, st ? st->aor : "");
	for (i = 0; st && i < st->n_bindings; i++) {
		const struct np_sip_binding *b = &st->bindings[i];

		snprintf(one, sizeof(one), "%s%s\x1f%s\x1f%s\x1f%s\x1f%lld",
			 i ? "\x1e" : "", b->uri, b->user, b->line, b->instance,
			 (long long)st->binding_until[i]);
		strncat(text, one, sizeof(text) - strlen(text) - 1);
	}
	put_text(f, text);
}

/* Whether t is kept in the file as a SIP terminal ("term"). */
static bool saved_term(const struct np_proxy *px, const struct np_term *t)
{
	return t->driver == &px->sip.driver;
}

/* Whether t is kept as a gateway ("gw"): its driver saves its own data. */
static bool saved_gw(const struct np_term *t)
{
	return t->driver && t->driver->state_put;
}

/* A gateway's "gw" line (the driver's name, pair, NAT mapping, access
 * realm's address (port 0: the driver knows its own access port), core
 * address, until when it stays known, the driver's data, how many calls
 * follow); !calls (a journal's): its own fields alone, a "gw-fields" line
 * (no count). Data the driver cannot write is saved empty: its state_get
 * refuses it, the gateway is not adopted. */
static void save_gw_line(FILE *f, const struct np_proxy *px,
			 const struct np_term *t, bool calls)
{
	const struct np_config *cfg = px->core.cfg;
	const struct np_driver *drv = t->driver;
	const struct np_pair *pair = &cfg->pairs[t->pair];
	struct np_sockaddr acc = cfg->realms[pair->first].address;
	struct np_sockaddr core = cfg->realms[pair->second].address;
	char data[NP_STATE_DRIVER_DATA];

	acc.port = 0;
	core.port = t->core_port;
	fputs(calls ? "gw" : "gw-fields", f);
	put_text(f, drv->name);
	fprintf(f, " %zu", t->pair);
	put_addr(f, &t->nat);
	put_addr(f, &acc);
	put_addr(f, &core);
	fprintf(f, " %lld", (long long)t->registered_until);
	if (drv->state_put(drv->ctx, t, NULL, data, sizeof(data)))
		data[0] = '\0';
	put_text(f, data);
	if (calls)
		fprintf(f, " %zu", n_legs(t));
	putc_unlocked('\n', f);
}

/* One of gateway t's calls: its "gwcall" line (what a leg line holds but
 * the SIP dialog, and the driver's data; data it cannot write is saved
 * empty: the call is not adopted) and its stream lines. */
static void save_gwcall(FILE *f, const struct np_term *t,
			const struct np_call *leg)
{
	const struct np_driver *drv = t->driver;
	char data[NP_STATE_DRIVER_DATA];

	fputs("gwcall", f);
	put_text(f, leg->id);
	put_text(f, leg->from);
	put_text(f, leg->to);
	fprintf(f, " %d %d %lld %lld %lld %.3f %.3f %zu", leg->outgoing,
		leg->answered, (long long)leg->started, (long long)leg->expires,
		(long long)leg->answered_at, leg->wall_start, leg->wall_answer,
		leg->n_streams);
	if (drv->state_put(drv->ctx, t, leg, data, sizeof(data)))
		data[0] = '\0';
	put_text(f, data);
	putc_unlocked('\n', f);
	save_streams(f, leg);
}

/* A gateway's record: its gw line and its calls. */
static void save_gw(FILE *f, const struct np_proxy *px,
		    const struct np_term *t)
{
	const struct np_call *leg;

	save_gw_line(f, px, t, true);
	for (leg = t->calls; leg; leg = leg->next)
		save_gwcall(f, t, leg);
}

/* One terminal's record: its term line and its calls; !calls (a
 * journal's): its own fields alone, a "term-fields" line (no count). */
static void save_term(FILE *f, const struct np_proxy *px,
		      const struct np_term *t, bool v3, bool calls)
{
	const struct np_config *cfg = px->core.cfg;
	const struct np_pair *pair = &cfg->pairs[t->pair];
	const struct np_sip_term *st = t->signaling;
	struct np_sockaddr acc = cfg->realms[pair->first].address;
	struct np_sockaddr core = cfg->realms[pair->second].address;
	const struct np_call *leg;

	acc.port = cfg->realms[pair->first].sip_port;
	core.port = t->core_port;
	fprintf(f, calls ? "term %zu" : "term-fields %zu", t->pair);
	put_addr(f, &t->nat);
	put_addr(f, &acc);
	put_addr(f, &core);
	fprintf(f, " %lld", (long long)t->registered_until);
	put_text(f, st ? st->contact : "");
	if (v3)
		put_bindings(f, st);
	if (v3 && calls)
		fprintf(f, " %zu", n_legs(t));
	putc_unlocked('\n', f);
	for (leg = calls ? t->calls : NULL; leg; leg = leg->next)
		save_leg(f, leg);
}

/* The records: gateways (version 3 only, where v3), terminals with their
 * calls, then orphan calls (version 3 only). Gateways first: a reader
 * that does not know them (before gateway records) takes each for a
 * damaged record and skips it, losing no terminal after it (a line it
 * does not know inside a record would cost it that record). */
/* The calls rebuilt from the maps (orphans), after everything else; how
 * many records. */
static size_t save_orphans(FILE *f, const struct np_proxy *px)
{
	const struct np_term *t;
	const struct np_call *leg;
	size_t n = 0;

	for (t = px->core.orphans; t; t = t->next, n++) {
		fprintf(f, "orphan %zu", t->pair);
		if (t->nat.family)
			put_addr(f, &t->nat);
		else
			fputs(" - 0", f);
		fprintf(f, " %zu\n", n_legs(t));
		for (leg = t->calls; leg; leg = leg->next)
			save_leg(f, leg);
	}
	return n;
}

static size_t save_records(FILE *f, const struct np_proxy *px, bool v3)
{
	const struct np_term *t;
	size_t n = 0;

	for (t = v3 ? px->core.terms : NULL; t; t = t->next) {
		if (saved_gw(t) && !saved_term(px, t)) {
			n++;
			save_gw(f, px, t);
		}
	}
	for (t = px->core.terms; t; t = t->next) {
		if (!saved_term(px, t))
			continue;
		n++;
		save_term(f, px, t, v3, true);
	}
	return v3 ? n + save_orphans(f, px) : n;
}

/*
 * Lines with their checksums (" #%08x" before each newline; a last line
 * without one gets it), in memory: NULL (-ENOMEM) on failure. Made in one
 * block of the size it needs: every save passes through here.
 */
static char *checked_text(const char *text, size_t n, size_t *out)
{
	static const char hex[] = "0123456789abcdef";
	const char *p = text, *end = text + n, *nl;
	size_t lines = 0, len;
	uint32_t crc;
	char *buf, *o;
	int i;

	for (nl = p; nl < end && (nl = memchr(nl, '\n', (size_t)(end - nl)));
	     nl++)
		lines++;
	if (n && text[n - 1] != '\n')
		lines++;
	/* A newline for a last line without one, and a NUL. */
	buf = malloc(n + lines * CRC_TEXT + 2);
	if (!buf)
		return NULL;
	for (o = buf; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		len = (size_t)(nl - p);
		memcpy(o, p, len);
		o += len;
		crc = crc32_of(p, len);
		*o++ = ' ';
		*o++ = '#';
		for (i = 28; i >= 0; i -= 4)
			*o++ = hex[crc >> i & 15];
		*o++ = '\n';
	}
	*o = '\0';
	*out = (size_t)(o - buf);
	return buf;
}

/* The state file; what it holds handed on to j's replicate too. */
static int state_save(const struct np_proxy *px, const char *path,
		      const struct np_state_owner *owner,
		      const struct np_journal *j)
{
	char tmp[4096], *text = NULL, *out;
	size_t len = 0, n;
	FILE *f, *mem;
	int err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* Made in memory, then written with a checksum per line. */
	mem = open_memstream(&text, &len);
	if (!mem)
		return -errno;
	__fsetlocking(mem, FSETLOCKING_BYCALLER);
	if (owner) {
		fprintf(mem, "%s\nowner", STATE_VERSION);
		put_text(mem, owner->pin_dir);
		fprintf(mem, " %u %u", owner->map_ids[0], owner->map_ids[1]);
		if (owner->gen)
			fprintf(mem, " %llu", (unsigned long long)owner->gen);
		fputc('\n', mem);
	} else {
		fprintf(mem, "%s\n", STATE_VERSION_1);
	}
	n = save_records(mem, px, owner != NULL);
	if (owner)
		fprintf(mem, "end %zu\n", n);
	if (fclose(mem) || !text) {
		free(text);
		return -ENOMEM;
	}
	if (owner) {
		out = checked_text(text, len, &len);
		free(text);
		if (!out)
			return -ENOMEM;
		text = out;
	}
	f = fopen(tmp, "we");
	if (!f) {
		err = -errno;
		free(text);
		return err;
	}
	fwrite(text, 1, len, f);
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
	else if (j && j->replicate)
		j->replicate(j->replicate_arg, true, owner->gen, text, len);
	free(text);
	return err;
}

int np_state_save(const struct np_proxy *px, const char *path,
		  const struct np_state_owner *owner)
{
	return state_save(px, path, owner, NULL);
}

void np_journal_init(struct np_journal *j)
{
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	j->next_fd = -1;
}

static int journal_next_path(const char *path, char *buf, size_t len);

/* buf (len bytes) to fd in one write: whole, or cut short at its end. */
static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t w = write(fd, buf, len);

	if (w < 0)
		return -errno;
	return (size_t)w == len ? 0 : -EIO;
}

/* text (n bytes, whole lines) with a checksum per line, written to fd in
 * one write: a save is in the journal whole, or cut short at its end; with
 * a compaction in the background, to the new generation's journal too.
 * What was written is handed on to j's replicate (j NULL: not). */
static int write_checked(int fd, const char *text, size_t n, size_t *out,
			 struct np_journal *j)
{
	size_t len = 0;
	char *buf = checked_text(text, n, &len);
	int err;

	if (!buf)
		return -ENOMEM;
	err = write_all(fd, buf, len);
	if (!err && j && j->writer) {
		err = write_all(j->next_fd, buf, len);
		if (!err)
			j->next_bytes += len;
	}
	/* The old generation's, as far as replicate's followers know: the
	 * new one's snapshot reaches them when it is written, then what was
	 * saved since (journal_adopt()). */
	if (!err && j && j->replicate)
		j->replicate(j->replicate_arg, false, j->gen, buf, len);
	free(buf);
	*out = len;
	return err;
}

/* A generation after j's: the time, unique even within a nanosecond. */
static uint64_t gen_next(const struct np_journal *j)
{
	struct timespec now;
	uint64_t gen;

	clock_gettime(CLOCK_REALTIME, &now);
	gen = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	return gen > j->gen && gen > j->next_gen ? gen :
	       (j->gen > j->next_gen ? j->gen : j->next_gen) + 1;
}

/* An empty journal of gen at jpath (its header alone); its descriptor,
 * -errno on failure. */
static int journal_create(const char *jpath, uint64_t gen, uint64_t *bytes)
{
	char head[64];
	size_t n;
	int err, fd;

	fd = open(jpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
		  0666);
	if (fd < 0)
		return -errno;
	n = (size_t)snprintf(head, sizeof(head), "%s %llu\n", JOURNAL_VERSION,
			     (unsigned long long)gen);
	err = write_checked(fd, head, n, &n, NULL);
	if (err) {
		close(fd);
		return err;
	}
	*bytes = n;
	return fd;
}

/* The file at path whole, in memory (NUL-terminated): NULL on failure. */
static char *file_text(const char *path, size_t *len)
{
	struct stat st;
	char *text = NULL;
	ssize_t r = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (!fstat(fd, &st) && (text = malloc((size_t)st.st_size + 1)))
		r = pread(fd, text, (size_t)st.st_size, 0);
	close(fd);
	if (r != st.st_size) {
		free(text);
		return NULL;
	}
	text[r] = '\0';
	*len = (size_t)r;
	return text;
}

/* A snapshot written a slice at a time (np_journal.background). */
struct np_snapshot_writer {
	const struct np_proxy *px;
	char *path; /* the state file's */
	int fd; /* path ".tmp" */
	enum { W_GW, W_TERMS, W_DONE } pass;
	size_t bucket; /* next of core->by_port to write */
	size_t records;
	unsigned int slices;
	double began; /* np_now_ms() */
};

/* The writer is done, its snapshot in place: its journal (of every save
 * since it began) becomes the journal, and replicate's followers get the
 * snapshot, then those saves again, of the new generation (a follower
 * applied them already to the old one: a journal record replaces what it
 * names, so twice is once). 0; -errno, nothing changed, if its name is
 * too long. */
static int journal_adopt(struct np_journal *j)
{
	const char *path = j->writer->path;
	char jpath[4096], npath[4096], *snap, *saved;
	size_t snap_len = 0, saved_len = 0, head;
	struct stat st;

	if (np_journal_path(path, jpath, sizeof(jpath)) ||
	    journal_next_path(path, npath, sizeof(npath)))
		return -ENAMETOOLONG;
	if (rename(npath, jpath)) {
		/* ".next" is the snapshot's journal: kept, both closed; the
		 * next save compacts in its turn (and removes it). */
		np_warn("state: cannot rename '%s': %s", npath,
			strerror(errno));
		if (j->fd >= 0)
			close(j->fd);
		j->fd = -1;
		close(j->next_fd);
		j->next_fd = -1;
		return 0;
	}
	close(j->fd);
	j->fd = j->next_fd;
	j->next_fd = -1;
	j->gen = j->next_gen;
	j->bytes = j->next_bytes;
	j->records = j->next_records;
	j->snap_bytes = stat(path, &st) ? 0 : (uint64_t)st.st_size;
	j->compactions++;
	if (!j->replicate)
		return 0;
	snap = file_text(path, &snap_len);
	saved = file_text(jpath, &saved_len);
	if (snap)
		j->replicate(j->replicate_arg, true, j->gen, snap, snap_len);
	/* The saves since, after the journal's header line. */
	head = saved ? strcspn(saved, "\n") + 1 : 0;
	if (snap && saved && saved_len > head)
		j->replicate(j->replicate_arg, false, j->gen, saved + head,
			     saved_len - head);
	if (!snap || !saved)
		np_warn("state: the new snapshot not replicated: cannot read "
			"it back");
	free(snap);
	free(saved);
	return 0;
}

/* The writer ended (its files removed unless its snapshot is in place). */
static void writer_free(struct np_journal *j, bool removed)
{
	struct np_snapshot_writer *w = j->writer;
	char name[4200];

	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (removed) {
		snprintf(name, sizeof(name), "%s.tmp", w->path);
		unlink(name);
		if (j->next_fd >= 0)
			close(j->next_fd);
		j->next_fd = -1;
		if (!journal_next_path(w->path, name, sizeof(name)))
			unlink(name);
	}
	free(w->path);
	free(w);
	j->writer = NULL;
}

/* text (n bytes) checksummed, to the writer's file: 0 or -errno. */
static int writer_put(struct np_snapshot_writer *w, const char *text,
		      size_t n)
{
	size_t len = 0;
	char *buf = checked_text(text, n, &len);
	int err;

	if (!buf)
		return -ENOMEM;
	err = write_all(w->fd, buf, len);
	free(buf);
	return err;
}

/*
 * The writer's next slice: terminals of core->by_port, a chain at a time,
 * until about NP_SNAPSHOT_STEP_MS went by (gateways in a first pass, as
 * save_records() puts them first); after the last chain, the orphans and
 * the end line, and the file renamed into place. A chain holds terminals
 * by the one key they keep for life (pair, core port): one made after the
 * writer passed its chain, or gone before it came, is in the new journal
 * (the reader replays it over the snapshot: each record is what it names
 * at its last change, so one the snapshot already has changes nothing).
 * 0 (done: W_DONE), -EAGAIN (more to write), or -errno.
 */
static int writer_step(struct np_snapshot_writer *w, size_t chains)
{
	const struct np_core *core = &w->px->core;
	const struct np_term *t;
	double until = np_now_ms() + NP_SNAPSHOT_STEP_MS;
	char *text = NULL, tmp[4200];
	size_t len = 0, n = 0;
	FILE *mem;
	int err;

	mem = open_memstream(&text, &len);
	if (!mem)
		return -errno;
	__fsetlocking(mem, FSETLOCKING_BYCALLER);
	while (w->pass != W_DONE) {
		for (t = core->by_port[w->bucket]; t; t = t->port_next) {
			if (w->pass == W_GW && saved_gw(t) &&
			    !saved_term(w->px, t)) {
				save_gw(mem, w->px, t);
				n++;
			} else if (w->pass == W_TERMS &&
				   saved_term(w->px, t)) {
				save_term(mem, w->px, t, true, true);
				n++;
			}
		}
		if (++w->bucket == NP_TERM_BUCKETS) {
			w->bucket = 0;
			w->pass++;
		}
		if (chains ? !--chains :
			     !(w->bucket & 63) && np_now_ms() >= until)
			break;
	}
	if (w->pass == W_DONE) {
		/* The orphans (calls rebuilt from the maps: few, and one made
		 * is a change of everything, written in the turn). */
		n += save_orphans(mem, w->px);
		fprintf(mem, "end %zu\n", w->records + n);
	}
	if (fclose(mem) || !text) {
		free(text);
		return -ENOMEM;
	}
	err = len ? writer_put(w, text, len) : 0;
	free(text);
	w->records += n;
	if (err || w->pass != W_DONE)
		return err ? err : -EAGAIN;
	/* Whole before it replaces the old snapshot (no fsync: state_save()
	 * says why). */
	err = close(w->fd) ? -errno : 0;
	w->fd = -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", w->path);
	if (!err && rename(tmp, w->path))
		err = -errno;
	return err;
}

/* A slice of the writer's snapshot; done, its journal takes the old one's
 * place. A writer that fails is dropped (its files removed): the old
 * snapshot and journal hold every save, the next save begins another. */
static void writer_run(struct np_journal *j)
{
	int err;

	if (!j->writer)
		return;
	err = writer_step(j->writer, j->step_chains);
	j->writer->slices++;
	if (err == -EAGAIN)
		return;
	if (!err)
		np_info("state file written whole: %zu records in %u slices "
			"over %.1f s", j->writer->records, j->writer->slices,
			(np_now_ms() - j->writer->began) / 1e3);
	if (!err)
		err = journal_adopt(j);
	if (err) {
		j->background_failed++;
		np_warn("state: writing the state file whole failed: %s",
			strerror(-err));
	}
	writer_free(j, err != 0);
}

void np_journal_poll(struct np_journal *j)
{
	writer_run(j);
}

/* Drops a writer in progress: the old snapshot and journal stay whole. */
static void writer_drop(struct np_journal *j)
{
	writer_free(j, true);
}

void np_journal_close(struct np_journal *j)
{
	writer_drop(j);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

/* The whole state again, of a new generation, and an empty journal of it,
 * in this turn. A journal left by a save cut short between the two names
 * the old generation: the reader ignores it (the snapshot holds it all). */
static int compact(const struct np_proxy *px, const char *path,
		   const struct np_state_owner *owner, struct np_journal *j)
{
	struct np_state_owner o = *owner;
	char jpath[4096];
	struct stat st;
	int err, fd;

	np_journal_close(j); /* a writer in progress too */
	o.gen = gen_next(j);
	err = state_save(px, path, &o, j);
	if (err)
		return err;
	j->gen = o.gen;
	j->compactions++;
	j->records = 0;
	j->snap_bytes = stat(path, &st) ? 0 : (uint64_t)st.st_size;
	err = np_journal_path(path, jpath, sizeof(jpath));
	if (err)
		return err;
	fd = journal_create(jpath, o.gen, &j->bytes);
	if (fd < 0)
		return fd;
	j->fd = fd;
	/* One a background compaction kept when it could not rename it: of
	 * another generation, never read now, but misleading. */
	if (!journal_next_path(path, jpath, sizeof(jpath)))
		unlink(jpath);
	return 0;
}

/*
 * Begins the whole state again, of a new generation, written a slice a
 * turn (writer_step()): the journal of the new generation (path
 * ".journal.next") is made first, and every save until the snapshot is in
 * place goes to both journals. -errno if it could not begin (nothing
 * changed then).
 */
static int compact_background(const struct np_proxy *px, const char *path,
			      const struct np_state_owner *owner,
			      struct np_journal *j)
{
	struct np_snapshot_writer *w;
	char npath[4200], head[4200];
	char *text = NULL;
	size_t len = 0;
	uint64_t gen = gen_next(j);
	FILE *mem;
	int fd, err;

	err = journal_next_path(path, npath, sizeof(npath));
	if (err)
		return err;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(path))) {
		free(w);
		return -ENOMEM;
	}
	w->px = px;
	w->began = np_now_ms();
	snprintf(head, sizeof(head), "%s.tmp", path);
	w->fd = open(head, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	/* The version and owner lines, as state_save() writes them. */
	mem = w->fd >= 0 ? open_memstream(&text, &len) : NULL;
	if (mem) {
		fprintf(mem, "%s\nowner", STATE_VERSION);
		put_text(mem, owner->pin_dir);
		fprintf(mem, " %u %u %llu\n", owner->map_ids[0],
			owner->map_ids[1], (unsigned long long)gen);
		err = fclose(mem) || !text ? -ENOMEM :
					     writer_put(w, text, len);
	} else {
		err = -errno;
	}
	free(text);
	j->writer = w;
	fd = err ? err : journal_create(npath, gen, &j->next_bytes);
	if (fd < 0) {
		writer_free(j, true);
		return fd;
	}
	j->next_fd = fd;
	j->next_gen = gen;
	j->next_records = 0;
	j->compactions_begun++;
	return 0;
}

/* Whether the journal outgrew the snapshot (or max_records). */
static bool compaction_due(const struct np_journal *j)
{
	size_t max = j->max_records ? j->max_records : NP_JOURNAL_MAX_RECORDS;
	uint64_t floor = j->min_bytes ? j->min_bytes : NP_JOURNAL_MIN_BYTES;

	if (j->writer)
		return false; /* one is being written */
	return (j->bytes > j->snap_bytes && j->bytes > floor) ||
	       j->records >= max;
}

int np_state_save_changes(const struct np_proxy *px, const char *path,
			  const struct np_state_owner *owner,
			  struct np_journal *j)
{
	const struct np_core *core = &px->core;
	const struct np_term *t;
	const struct np_call *leg;
	char *text = NULL;
	size_t len = 0, n = 0, i, wrote;
	FILE *mem;
	int err;

	if (!owner)
		return np_state_save(px, path, NULL);
	/* No journal open (no old generation holds what memory does: a
	 * state not adopted whole from disk, np_journal_resume(), or a save
	 * that failed), or a change it cannot say: the whole state, in this
	 * turn. natproxyd's save at exit is one (the process ends: no turn
	 * waits for it). In the background, a due compaction, or a rewrite
	 * (rewrite_all), follows the batch below, a slice a turn. */
	if (j->fd < 0 || core->dirty_all ||
	    (!j->background && (core->rewrite_all || compaction_due(j))))
		return compact(px, path, owner, j);
	mem = open_memstream(&text, &len);
	if (!mem)
		return -errno;
	/* Only this thread writes it: no lock per call (a save is thousands
	 * of them when a terminal has hundreds of calls). */
	__fsetlocking(mem, FSETLOCKING_BYCALLER);
	/* Tombstones first: a key given to a new terminal in the same batch
	 * is that terminal's again by its record below. */
	for (i = 0; i < core->n_tombs; i++, n++)
		fprintf(mem, "gone %zu %u\n", core->tombs[i].pair,
			core->tombs[i].core_port);
	for (i = 0; i < core->n_orphan_tombs; i++, n++)
		fprintf(mem, "orphan-gone %zu %u\n", core->orphan_tombs[i].pair,
			core->orphan_tombs[i].core_port);
	/* Calls ended, after the terminals' tombstones (a call-gone of a
	 * terminal gone names no one) and before any record: an id given to
	 * a new call in the same batch is that call's again below. */
	for (i = 0; i < core->n_call_tombs; i++, n++) {
		fprintf(mem, "call-gone %zu %u", core->call_tombs[i].term.pair,
			core->call_tombs[i].term.core_port);
		put_text(mem, core->call_tombs[i].id);
		putc_unlocked('\n', mem);
	}
	/* Gateways' records before terminals' (a reader from before them
	 * takes each for damage, and one inside a record it knows would cost
	 * it that record): a gateway's own fields, then its calls, each by
	 * itself, after them (a gateway new in this batch is there above). */
	for (t = core->dirty_terms; t; t = t->dirty_next) {
		if (saved_gw(t) && !saved_term(px, t)) {
			save_gw_line(mem, px, t, false);
			n++;
		}
	}
	for (leg = core->dirty_calls; leg; leg = leg->dirty_next) {
		t = leg->id_term;
		if (!saved_gw(t) || saved_term(px, t))
			continue;
		fprintf(mem, "gw-call %zu %u\n", t->pair, t->core_port);
		save_gwcall(mem, t, leg);
		n++;
	}
	/* A terminal's own fields, its calls apart (below). */
	for (t = core->dirty_terms; t; t = t->dirty_next) {
		if (!saved_term(px, t))
			continue;
		save_term(mem, px, t, true, false);
		n++;
	}
	/* Calls, each by itself, after the terminals (one new in this batch
	 * is there above). */
	for (leg = core->dirty_calls; leg; leg = leg->dirty_next) {
		t = leg->id_term;
		if (!saved_term(px, t))
			continue; /* a gateway's: above */
		fprintf(mem, "call %zu %u\n", t->pair, t->core_port);
		save_leg(mem, leg);
		n++;
	}
	fprintf(mem, "commit %zu\n", n);
	if (fclose(mem) || !text) {
		free(text);
		return -ENOMEM;
	}
	/* n 0: nothing the file keeps changed. */
	err = n ? write_checked(j->fd, text, len, &wrote, j) : 0;
	free(text);
	if (err) {
		/* Whatever reached it ends without its commit line: dropped
		 * by the reader. The next save compacts. */
		np_journal_close(j);
		return err;
	}
	if (n) {
		j->bytes += wrote;
		j->records += n;
		if (j->writer)
			j->next_records += n;
		j->appends++;
		j->last_records = n;
	}
	/* After the batch: the old journal has everything up to now, so the
	 * old generation is whole until the new snapshot is in place. A
	 * rewrite with one in progress has it: its snapshot, then every save
	 * since it began, reach replicate once it is in place. One that
	 * cannot begin: in this turn. */
	if (j->background &&
	    (core->rewrite_all ? !j->writer : compaction_due(j)) &&
	    compact_background(px, path, owner, j))
		return compact(px, path, owner, j);
	return 0;
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

/* A call's times and how many streams it has, as a leg (or gwcall) line
 * ends them. */
static void get_leg_times(struct field_reader *r, struct np_call *leg)
{
	leg->started = (time_t)next_num(r, LLONG_MAX);
	leg->expires = (time_t)next_num(r, LLONG_MAX);
	leg->answered_at = (time_t)next_num(r, LLONG_MAX);
	leg->wall_start = next_real(r);
	leg->wall_answer = next_real(r);
	leg->n_streams = next_num(r, NP_SDP_MAX_MEDIA);
	/* Room for the stream lines that follow. */
	if (!r->err && np_call_room(leg, leg->n_streams))
		r->err = -ENOMEM;
}

/* A call and its SIP dialog; a file from before route sets has no route
 * field (15 fields). */
static int parse_leg(char **f, int n, struct np_call *leg,
		     struct np_sip_dialog *d)
{
	struct field_reader r = { f + 5, 0 };

	np_call_streams_free(leg);
	memset(leg, 0, sizeof(*leg));
	memset(d, 0, sizeof(*d) + 1);
	leg->dialog = d;
	if ((n != 15 && n != 16) || get_text(f[1], leg->id, sizeof(leg->id)) ||
	    get_text(f[2], leg->from, sizeof(leg->from)) ||
	    get_text(f[3], leg->to, sizeof(leg->to)) ||
	    get_text(f[4], d->far_target, sizeof(d->far_target)) ||
	    (n == 16 && get_text(f[15], d->core_route, NP_ROUTESET_LEN)))
		return -EINVAL;
	leg->outgoing = next_num(&r, 1);
	leg->answered = next_num(&r, 1);
	d->term_cseq = (uint32_t)next_num(&r, UINT32_MAX);
	d->core_cseq = (uint32_t)next_num(&r, UINT32_MAX);
	get_leg_times(&r, leg);
	return r.err;
}

/* A gateway's call: what a leg line holds but the SIP dialog, and the
 * driver's data of it (13 fields). */
static int parse_gwcall(char **f, int n, struct np_call *leg, char *data)
{
	struct field_reader r = { f + 4, 0 };

	np_call_streams_free(leg);
	memset(leg, 0, sizeof(*leg));
	if (n != 13 || get_text(f[1], leg->id, sizeof(leg->id)) ||
	    get_text(f[2], leg->from, sizeof(leg->from)) ||
	    get_text(f[3], leg->to, sizeof(leg->to)) ||
	    get_text(f[12], data, NP_STATE_DRIVER_DATA))
		return -EINVAL;
	leg->outgoing = next_num(&r, 1);
	leg->answered = next_num(&r, 1);
	get_leg_times(&r, leg);
	return r.err;
}

static int get_bindings(const char *aor, const char *field,
			struct np_sip_term *st)
{
	char text[NP_SIP_BINDINGS * 640], *rec, *save = NULL;

	if (get_text(aor, st->aor, sizeof(st->aor)) ||
	    get_text(field, text, sizeof(text)))
		return -EINVAL;
	for (rec = strtok_r(text, "\x1e", &save); rec;
	     rec = strtok_r(NULL, "\x1e", &save)) {
		struct np_sip_binding *b;
		char *part[5], *p = rec;
		int k;

		if (np_sip_bindings_room(st, st->n_bindings + 1))
			return -EINVAL;
		b = &st->bindings[st->n_bindings];
		/* Empty fields are kept: strsep, not strtok. */
		for (k = 0; k < 5; k++)
			part[k] = strsep(&p, "\x1f");
		if (!part[4] || p)
			return -EINVAL;
		memset(b, 0, sizeof(*b));
		b->expires = -1;
		snprintf(b->uri, sizeof(b->uri), "%s", part[0]);
		snprintf(b->user, sizeof(b->user), "%s", part[1]);
		snprintf(b->line, sizeof(b->line), "%s", part[2]);
		snprintf(b->instance, sizeof(b->instance), "%s", part[3]);
		st->binding_until[st->n_bindings++] =
			(time_t)strtoll(part[4], NULL, 10);
	}
	return 0;
}

static int parse_term(char **f, int n, struct np_term *t,
		      struct np_sip_term *st, struct np_sockaddr *acc,
		      struct np_sockaddr *core)
{
	struct field_reader r = { f + 1, 0 };

	memset(t, 0, sizeof(*t));
	np_sip_term_reset(st);
	t->signaling = st;
	/* 12: with the SIP registrations (aor, bindings); 10: without. */
	if (n != 10 && n != 12)
		return -EINVAL;
	if (n == 12 && get_bindings(f[10], f[11], st))
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
	/* 5: with the generation its journal names. */
	if ((n != 4 && n != 5) || strcmp(f[0], "owner") ||
	    get_text(f[1], o->pin_dir, sizeof(o->pin_dir)))
		return -EINVAL;
	o->map_ids[0] = (uint32_t)next_num(&r, UINT32_MAX);
	o->map_ids[1] = (uint32_t)next_num(&r, UINT32_MAX);
	if (n == 5)
		o->gen = next_num(&r, UINT64_MAX);
	return r.err;
}

/* The text of a version 3 line before its checksum, cut there; NULL if
 * the checksum is missing or wrong. */
static char *checked(char *line)
{
	size_t n = strlen(line);
	unsigned long crc;
	char *end;

	if (n < CRC_TEXT || strncmp(line + n - CRC_TEXT, " #", 2))
		return NULL;
	errno = 0;
	crc = strtoul(line + n - CRC_TEXT + 2, &end, 16);
	if (errno || *end || !isxdigit((unsigned char)line[n - 8]) ||
	    crc != crc32_of(line, n - CRC_TEXT))
		return NULL;
	line[n - CRC_TEXT] = '\0';
	return line;
}

/*
 * One record at a time: its lines are checked (and parsed, visiting
 * nothing) as they come and kept; only when the whole record is there
 * and good are they parsed again and handed to the visitor.
 */
struct reader {
	const struct np_state_visit *v;
	void *arg;
	int version;
	bool visit; /* the second pass: hand on what is parsed */
	enum { REC_NONE, REC_IN, REC_SKIP } state;
	bool orphan; /* the record is an orphan's */
	bool journal; /* a journal's text: call records are read */
	bool callrec; /* the record is a call's (a journal's "call") */
	bool fieldsrec; /* a terminal's own fields ("term-fields") */
	size_t orphan_pair;
	size_t legs_said, legs, streams;
	bool pending; /* a leg whose streams are being read */
	int first_line; /* the record's, in the file */
	char **lines; /* the record's lines, checksums cut */
	size_t n_lines, cap_lines;
	/* What one line at a time fills in. */
	struct np_call leg;
	NP_SIP_DIALOG_BUF(dialog, NP_ROUTESET_LEN);
	struct np_term term;
	struct np_sip_term sterm;
	struct np_sockaddr acc, core;
	/* A gateway's record: its driver's name and data, its call's data. */
	bool gw;
	char driver[32];
	char gw_data[NP_STATE_DRIVER_DATA], call_data[NP_STATE_DRIVER_DATA];
	/* Reading the journal: good records are kept here, not handed on. */
	struct journal *collect;
	/* Reading the snapshot: terminals the journal names are skipped,
	 * or kept in it as the base its call records edit. */
	struct journal *replaced;
	unsigned int n_replaced;
};

/* One record of the journal: a terminal (or gateway) whole, its
 * tombstone, one of its calls, or a call's tombstone. */
enum jrec_kind { JREC_WHOLE, JREC_GONE, JREC_FIELDS, JREC_CALL,
		 JREC_CALL_GONE };

struct jrec {
	struct np_term_key key;
	enum jrec_kind kind;
	bool gw; /* a gateway's (JREC_WHOLE, JREC_FIELDS, JREC_CALL) */
	char *call_id; /* JREC_CALL, JREC_CALL_GONE: escaped, as written */
	int first_line;
	char **lines;
	size_t n_lines;
};

/* What the journal makes of one terminal's key: its last whole record
 * or tombstone (NULL: none, the snapshot's record stands), then after it
 * the last record of the terminal's own fields, and the last call record
 * or call tombstone of each call id (sorted by id): edits to that record;
 * base: the snapshot's record they edit. */
struct jkey {
	struct np_term_key key;
	const struct jrec *whole, *fields;
	const struct jrec **edits;
	size_t n_edits;
	char **base;
	size_t n_base;
};

/* The journal's records up to its last commit line; keys: every key any
 * of them names, sorted (the snapshot's records of these are replaced,
 * or edited). */
struct journal {
	struct jrec *recs;
	size_t n, cap;
	struct jkey *keys;
	size_t n_keys;
	/* Orphan calls ended: pair and access relay port (as core_port). */
	struct np_term_key *orphans_gone;
	size_t n_orphans_gone, cap_orphans_gone;
};

static int key_cmp(const void *a, const void *b)
{
	const struct np_term_key *x = a, *y = b;

	if (x->pair != y->pair)
		return x->pair < y->pair ? -1 : 1;
	return (int)x->core_port - (int)y->core_port;
}

/* Whether the journal says the orphan call leg (of pair) ended. */
static bool journal_ended(const struct journal *j, size_t pair,
			  const struct np_call *leg)
{
	size_t i;

	for (i = 0; j && i < j->n_orphans_gone; i++)
		if (j->orphans_gone[i].pair == pair && leg->n_streams &&
		    j->orphans_gone[i].core_port ==
			    leg->streams[0].access_port)
			return true;
	return false;
}

/* What the journal says of the terminal of pair and port; NULL: nothing. */
static struct jkey *journal_names(const struct journal *j, size_t pair,
				  uint16_t port)
{
	struct jkey k = { .key = { pair, port } };

	return j && j->n_keys ?
		       bsearch(&k, j->keys, j->n_keys, sizeof(k), key_cmp) :
		       NULL;
}

static struct jrec *journal_add(struct journal *j)
{
	struct jrec *rec;

	if (j->n == j->cap) {
		rec = realloc(j->recs, (j->cap * 2 + 16) * sizeof(*rec));
		if (!rec)
			return NULL;
		j->recs = rec;
		j->cap = j->cap * 2 + 16;
	}
	rec = &j->recs[j->n++];
	memset(rec, 0, sizeof(*rec));
	return rec;
}

static void lines_free(char **lines, size_t n)
{
	while (n)
		free(lines[--n]);
	free(lines);
}

static void jrec_free(struct jrec *rec)
{
	lines_free(rec->lines, rec->n_lines);
	rec->lines = NULL;
	rec->n_lines = 0;
	free(rec->call_id);
	rec->call_id = NULL;
}

static void journal_free(struct journal *j)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		jrec_free(&j->recs[i]);
	for (i = 0; i < j->n_keys; i++) {
		free(j->keys[i].edits);
		lines_free(j->keys[i].base, j->keys[i].n_base);
	}
	free(j->recs);
	free(j->keys);
	free(j->orphans_gone);
	memset(j, 0, sizeof(*j));
}

/* The leg being read is handed on when all its streams were read. */
static int flush_leg(struct reader *r)
{
	int err = 0;

	if (r->pending) {
		if (r->streams != r->leg.n_streams)
			err = -EINVAL;
		else if (r->visit && r->gw && r->v->gw_call &&
			 (!r->callrec || r->v->call))
			err = r->v->gw_call(r->arg, &r->leg, r->call_data);
		else if (r->visit && r->orphan &&
			 journal_ended(r->replaced, r->orphan_pair, &r->leg))
			; /* ended (and billed) after the snapshot */
		else if (r->visit && !r->gw && (!r->orphan || r->v->orphan) &&
			 (!r->callrec || r->v->call))
			err = r->v->leg(r->arg, &r->leg);
	}
	r->pending = false;
	r->streams = 0;
	return err;
}

static int parse_orphan(struct reader *r, char **f, int n)
{
	struct field_reader fr = { f + 1, 0 };
	size_t pair;

	if (n != 5)
		return -EINVAL;
	pair = next_num(&fr, SIZE_MAX);
	r->orphan_pair = pair;
	memset(&r->acc, 0, sizeof(r->acc));
	if (strcmp(f[2], "-") || strcmp(f[3], "0"))
		get_addr(&fr, &r->acc);
	else
		fr.f += 2;
	r->legs_said = next_num(&fr, SIZE_MAX);
	if (fr.err)
		return fr.err;
	return r->visit && r->v->orphan ? r->v->orphan(r->arg, pair, &r->acc) :
					  0;
}

/* A gateway's first line (12 fields): the driver's name, pair, NAT
 * mapping, access realm's address, core address, until when it is known,
 * the driver's data, how many calls follow; a journal's "gw-fields" line
 * (r->fieldsrec) is the same without the count (11). */
static int parse_gw(struct reader *r, char **f, int n)
{
	struct field_reader fr = { f + 2, 0 };
	struct np_term *t = &r->term;
	const struct np_state_visit *v = r->v;

	memset(t, 0, sizeof(*t));
	if (n != (r->fieldsrec ? 11 : 12) ||
	    get_text(f[1], r->driver, sizeof(r->driver)) || !r->driver[0] ||
	    get_text(f[10], r->gw_data, sizeof(r->gw_data)))
		return -EINVAL;
	t->pair = next_num(&fr, SIZE_MAX);
	get_addr(&fr, &t->nat);
	get_addr(&fr, &r->acc);
	get_addr(&fr, &r->core);
	t->registered_until = (time_t)next_num(&fr, LLONG_MAX);
	fr.f++; /* the data */
	if (!r->fieldsrec)
		r->legs_said = next_num(&fr, SIZE_MAX);
	if (fr.err)
		return fr.err;
	t->core_port = r->core.port;
	if (!r->visit)
		return 0;
	if (r->fieldsrec)
		return v->gw_fields ? v->gw_fields(r->arg, r->driver, t, &r->acc,
						   &r->core, r->gw_data) :
				      0;
	return v->gw ? v->gw(r->arg, r->driver, t, &r->acc, &r->core,
			     r->gw_data) :
		       0;
}

/* Whether a line of kind f0 starts a record. */
static bool record_start(const char *f0)
{
	return !strcmp(f0, "term") || !strcmp(f0, "orphan") ||
	       !strcmp(f0, "gw") || !strcmp(f0, "call") ||
	       !strcmp(f0, "term-fields") || !strcmp(f0, "gw-call") ||
	       !strcmp(f0, "gw-fields");
}

/* A journal's call record's first line, "call PAIR CORE_PORT" (a
 * gateway's: "gw-call PAIR CORE_PORT"): its one leg (gwcall) line
 * follows. */
static int parse_call(struct reader *r, char **f, int n)
{
	struct field_reader fr = { f + 1, 0 };

	if (n != 3 || !r->journal)
		return -EINVAL; /* a snapshot holds terminals whole */
	memset(&r->term, 0, sizeof(r->term));
	r->term.pair = next_num(&fr, SIZE_MAX);
	r->term.core_port = (uint16_t)next_num(&fr, 65535);
	r->legs_said = 1;
	if (fr.err)
		return fr.err;
	return r->visit && r->v->call ?
		       r->v->call(r->arg, r->term.pair, r->term.core_port) :
		       0;
}

/* One line of a record, fields f: the first line starts it. */
static int record_line(struct reader *r, char **f, int n, bool first)
{
	int err;

	if (first) {
		r->orphan = !strcmp(f[0], "orphan");
		r->gw = !strncmp(f[0], "gw", 2);
		r->callrec = !strcmp(f[0], "call") || !strcmp(f[0], "gw-call");
		r->fieldsrec = !strcmp(f[0], "term-fields") ||
			       !strcmp(f[0], "gw-fields");
		r->legs = r->streams = r->legs_said = 0;
		r->pending = false;
		if (r->callrec)
			return parse_call(r, f, n);
		if (r->gw && r->fieldsrec && !r->journal)
			return -EINVAL; /* a snapshot holds gateways whole */
		if (r->fieldsrec && !r->gw) {
			/* A term line's fields without the count of calls. */
			if (!r->journal || n != 12)
				return -EINVAL;
			err = parse_term(f, n, &r->term, &r->sterm, &r->acc,
					 &r->core);
			if (!err && r->visit && r->v->term_fields)
				err = r->v->term_fields(r->arg, &r->term,
							&r->acc, &r->core);
			return err;
		}
		if (r->gw)
			return r->version >= 3 ? parse_gw(r, f, n) : -EINVAL;
		if (r->orphan)
			return r->version >= 3 ? parse_orphan(r, f, n) : -EINVAL;
		if (r->version >= 3) {
			struct field_reader fr = { f + n - 1, 0 };

			r->legs_said = next_num(&fr, SIZE_MAX);
			if (fr.err)
				return fr.err;
			n--;
		}
		err = parse_term(f, n, &r->term, &r->sterm, &r->acc, &r->core);
		if (!err && r->visit)
			err = r->v->term(r->arg, &r->term, &r->acc, &r->core);
		return err;
	}
	/* A gateway's calls are gwcall lines, a terminal's leg lines. */
	if (!strcmp(f[0], r->gw ? "gwcall" : "leg")) {
		err = flush_leg(r);
		if (!err && r->version >= 3 && ++r->legs > r->legs_said)
			err = -EINVAL;
		if (!err)
			err = r->gw ? parse_gwcall(f, n, &r->leg, r->call_data) :
				      parse_leg(f, n, &r->leg, &r->dialog.d);
		r->pending = !err;
		return err;
	}
	if (!strcmp(f[0], "stream") && r->pending) {
		r->streams++;
		return parse_stream(f, n, &r->leg);
	}
	return -EINVAL;
}

/* A leg (or gwcall) line's id, as written (escaped): its second field;
 * NULL if out of memory. */
static char *leg_id(const char *line)
{
	const char *p = strchr(line, ' '), *end;

	p = p ? p + 1 : line + strlen(line);
	end = strchr(p, ' ');
	return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static void record_drop(struct reader *r)
{
	while (r->n_lines)
		free(r->lines[--r->n_lines]);
}

/* A reader done with: its lines, and what its last record left in the leg
 * and the terminal being filled (np_state_apply freed only the lines: a
 * standby leaked a call's streams with every batch it applied). */
static void reader_free(struct reader *r)
{
	record_drop(r);
	free(r->lines);
	np_sip_term_reset(&r->sterm);
	np_call_streams_free(&r->leg);
	free(r);
}

static int record_keep(struct reader *r, const char *text)
{
	char **l;

	if (r->n_lines == r->cap_lines) {
		l = realloc(r->lines, (r->cap_lines * 2 + 8) * sizeof(*l));
		if (!l)
			return -ENOMEM;
		r->lines = l;
		r->cap_lines = r->cap_lines * 2 + 8;
	}
	r->lines[r->n_lines] = strdup(text);
	return r->lines[r->n_lines] ? (r->n_lines++, 0) : -ENOMEM;
}

/* The record read so far is over: handed on if whole and good. Only a
 * visitor's error is returned. */
static int record_end(struct reader *r, struct np_state_report *rep)
{
	char *f[STREAM_FIELDS + 1];
	struct jkey *jk;
	size_t i;
	int n, err = 0;

	if (r->state != REC_IN)
		return 0;
	r->state = REC_NONE;
	if (flush_leg(r) || (r->version >= 3 && r->legs != r->legs_said)) {
		rep->bad++; /* cut short */
		if (!rep->first_bad_line)
			rep->first_bad_line = r->first_line;
		record_drop(r);
		return 0;
	}
	if (r->collect && r->orphan) {
		rep->bad++; /* orphans are never journaled */
		if (!rep->first_bad_line)
			rep->first_bad_line = r->first_line;
		record_drop(r);
		return 0;
	}
	if (r->collect) {
		struct jrec *rec = journal_add(r->collect);

		if (!rec)
			return -ENOMEM;
		rec->key = (struct np_term_key){ r->term.pair,
						 r->term.core_port };
		rec->kind = r->callrec	 ? JREC_CALL :
			    r->fieldsrec ? JREC_FIELDS :
					   JREC_WHOLE;
		rec->gw = r->gw;
		if (r->callrec && !(rec->call_id = leg_id(r->lines[1]))) {
			r->collect->n--;
			return -ENOMEM;
		}
		rec->first_line = r->first_line;
		rec->lines = r->lines;
		rec->n_lines = r->n_lines;
		r->lines = NULL;
		r->n_lines = r->cap_lines = 0;
		rep->good++;
		return 0;
	}
	if (!r->orphan && !r->callrec &&
	    (jk = journal_names(r->replaced, r->term.pair, r->term.core_port))) {
		r->n_replaced++; /* a later record, or a tombstone */
		if (jk->whole || jk->base) {
			record_drop(r);
			return 0;
		}
		/* Its calls edited: handed on, edited, after the snapshot. */
		jk->base = r->lines;
		jk->n_base = r->n_lines;
		r->lines = NULL;
		r->n_lines = r->cap_lines = 0;
		return 0;
	}
	r->visit = true;
	for (i = 0; i < r->n_lines && !err; i++) {
		n = split(r->lines[i], f, STREAM_FIELDS + 1);
		err = record_line(r, f, n, i == 0);
	}
	if (!err)
		err = flush_leg(r);
	r->visit = false;
	record_drop(r);
	if (!err)
		rep->good++;
	/* What was checked once parses again: only the visitor fails. */
	return err == -EINVAL ? 0 : err;
}

/* A line that cannot be used: the record it belongs to is skipped. */
static void damage(struct reader *r, struct np_state_report *rep, int lineno)
{
	if (!rep->first_bad_line)
		rep->first_bad_line = lineno;
	if (r->state != REC_SKIP)
		rep->bad++;
	r->state = REC_SKIP;
	record_drop(r);
}

/*
 * A line of a record (fields f, its text copy): "term", "orphan" or "gw"
 * ends the record being read and starts one; any other continues it. What can
 * be neither is damage. Only -ENOMEM or a visitor's error is returned.
 */
static int record_feed(struct reader *r, struct np_state_report *rep,
		       char **f, int n, const char *copy, int lineno)
{
	int err;

	if (record_start(f[0])) {
		err = record_end(r, rep);
		if (!err && record_line(r, f, n, true)) {
			damage(r, rep, lineno);
		} else if (!err) {
			r->state = REC_IN;
			r->first_line = lineno;
			err = record_keep(r, copy);
		}
		return err;
	}
	if (r->state == REC_SKIP)
		return 0; /* the rest of a damaged record */
	if (r->state != REC_IN || record_line(r, f, n, false)) {
		damage(r, rep, lineno);
		return 0;
	}
	return record_keep(r, copy);
}

static int version_of(char *line)
{
	if (!strcmp(line, STATE_VERSION_1))
		return 1;
	if (!strcmp(line, STATE_VERSION_2))
		return 2;
	if (checked(line) && !strcmp(line, STATE_VERSION))
		return 3;
	return 0;
}

/* The journal beside path: path ".journal". */
int np_journal_path(const char *path, char *buf, size_t len)
{
	return snprintf(buf, len, "%s.journal", path) >= (int)len ?
		       -ENAMETOOLONG :
		       0;
}

/* Where a compaction in the background puts its journal until its snapshot
 * is in place. */
static int journal_next_path(const char *path, char *buf, size_t len)
{
	return snprintf(buf, len, "%s.journal.next", path) >= (int)len ?
		       -ENAMETOOLONG :
		       0;
}

struct key_idx {
	struct np_term_key key;
	size_t idx;
};

static int key_idx_cmp(const void *a, const void *b)
{
	const struct key_idx *x = a, *y = b;
	int c = key_cmp(&x->key, &y->key);

	return c ? c : x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool jrec_whole(const struct jrec *rec)
{
	return rec->kind == JREC_WHOLE || rec->kind == JREC_GONE;
}

/* Call edits by id, each id's in the journal's order (recs is one array
 * in that order). */
static int edit_cmp(const void *a, const void *b)
{
	const struct jrec *x = *(const struct jrec *const *)a;
	const struct jrec *y = *(const struct jrec *const *)b;
	int c = strcmp(x->call_id, y->call_id);

	return c ? c : x < y ? -1 : x > y;
}

static int edit_id_cmp(const void *id, const void *b)
{
	return strcmp(id, (*(const struct jrec *const *)b)->call_id);
}

/* One key's records (order[from, to), in the journal's order) made into
 * what counts of them: its last whole record or tombstone, and after it
 * the last edit of each call. */
static int jkey_make(struct journal *j, const struct key_idx *order,
		     size_t from, size_t to, struct jkey *jk)
{
	size_t i, n = 0, last = from;
	const struct jrec **edits;

	memset(jk, 0, sizeof(*jk));
	jk->key = order[from].key;
	for (i = to; i > from; i--)
		if (jrec_whole(&j->recs[order[i - 1].idx])) {
			jk->whole = &j->recs[order[i - 1].idx];
			last = i;
			break;
		}
	if (last == to)
		return 0;
	edits = calloc(to - last, sizeof(*edits));
	if (!edits)
		return -ENOMEM;
	for (i = last; i < to; i++) {
		const struct jrec *rec = &j->recs[order[i].idx];

		if (rec->kind == JREC_FIELDS)
			jk->fields = rec; /* the last counts */
		else
			edits[n++] = rec;
	}
	qsort(edits, n, sizeof(*edits), edit_cmp);
	for (i = 0; i < n; i++)
		if (i + 1 == n || strcmp(edits[i]->call_id, edits[i + 1]->call_id))
			edits[jk->n_edits++] = edits[i];
	jk->edits = edits;
	return 0;
}

/* What the journal's records make of each key they name, keys sorted. */
static int journal_finish(struct journal *j)
{
	struct key_idx *order;
	size_t i, from;
	int err = 0;

	if (!j->n)
		return 0;
	order = calloc(j->n, sizeof(*order));
	j->keys = calloc(j->n, sizeof(*j->keys));
	if (!order || !j->keys) {
		free(order);
		return -ENOMEM;
	}
	for (i = 0; i < j->n; i++) {
		order[i].key = j->recs[i].key;
		order[i].idx = i;
	}
	qsort(order, j->n, sizeof(*order), key_idx_cmp);
	for (from = 0, i = 1; i <= j->n && !err; i++) {
		if (i < j->n && !key_cmp(&order[i].key, &order[from].key))
			continue;
		err = jkey_make(j, order, from, i, &j->keys[j->n_keys++]);
		from = i;
	}
	free(order);
	return err;
}

/* Where in the journal the records jk makes of begin. */
static int jkey_first_line(const struct jkey *jk)
{
	return jk->whole ? jk->whole->first_line :
	       jk->fields ? jk->fields->first_line :
	       jk->n_edits ? jk->edits[0]->first_line :
			     0;
}

/* line (a term's or gw's first line) with its last field, the count of
 * calls that follow, made n (added: a line without one). */
static char *with_count(const char *line, size_t n, bool add)
{
	const char *sp = add ? NULL : strrchr(line, ' ');
	size_t keep = sp ? (size_t)(sp - line) : strlen(line);
	char *out = malloc(keep + 24);

	if (out) {
		memcpy(out, line, keep);
		snprintf(out + keep, 24, " %zu", n);
	}
	return out;
}

static int lines_add(char ***lines, size_t *n, size_t *cap, const char *l)
{
	char **more;

	if (*n == *cap) {
		more = realloc(*lines, (*cap * 2 + 8) * sizeof(*more));
		if (!more)
			return -ENOMEM;
		*lines = more;
		*cap = *cap * 2 + 8;
	}
	(*lines)[*n] = strdup(l);
	return (*lines)[*n] ? (++*n, 0) : -ENOMEM;
}

/* A journal's own-fields line ("term-fields ...", "gw-fields ...") as
 * its whole record's first line ("term ...", "gw ...") without the count
 * of calls; NULL if out of memory. */
static char *fields_as_whole(const char *line)
{
	const char *rest = strchr(line, ' ');
	size_t kind = strcspn(line, "-");
	char *out;

	rest = rest ? rest : line + strlen(line);
	out = malloc(kind + strlen(rest) + 1);
	if (out) {
		memcpy(out, line, kind);
		strcpy(out + kind, rest);
	}
	return out;
}

/*
 * The record jk makes: base (its last whole record, or the snapshot's)
 * with each call an edit names taken out and the edits' calls put in,
 * its count of calls made right. NULL in *out: no record (a tombstone,
 * or calls of no terminal). The record is a terminal's or a gateway's as
 * its own fields (the last of them, or base's) say: base's calls and
 * edits of the other kind (a key whose tombstone was lost) are left out,
 * they would make it damaged.
 */
static int jkey_record(const struct jkey *jk, char ***out, size_t *n_out)
{
	bool gone = jk->whole && jk->whole->kind == JREC_GONE;
	char *const *base = gone ? NULL : jk->whole ? jk->whole->lines : jk->base;
	size_t n_base = gone ? 0 : jk->whole ? jk->whole->n_lines : jk->n_base;
	char **lines = NULL, *id, *first;
	size_t n = 0, cap = 0, calls = 0, i, k;
	bool keep = false, gw;
	int err = 0;

	*out = NULL;
	*n_out = 0;
	if (!n_base && !jk->fields)
		return 0; /* gone, or calls of no terminal */
	gw = jk->fields ? jk->fields->gw : !strncmp(base[0], "gw ", 3);
	if (n_base && gw != !strncmp(base[0], "gw ", 3))
		n_base = 1; /* its calls are not of this kind */
	/* Its own fields as a whole record's line (its count made right
	 * below). */
	if (jk->fields) {
		first = fields_as_whole(jk->fields->lines[0]);
		err = first ? lines_add(&lines, &n, &cap, first) : -ENOMEM;
		free(first);
	} else {
		err = lines_add(&lines, &n, &cap, base[0]);
	}
	for (i = 1; i < n_base && !err; i++) {
		if (strncmp(base[i], "stream ", 7)) {
			id = leg_id(base[i]);
			if (!id) {
				err = -ENOMEM;
				break;
			}
			/* bsearch is not to be given a NULL array, even
			 * an empty one. */
			keep = !jk->n_edits ||
			       !bsearch(id, jk->edits, jk->n_edits,
					sizeof(*jk->edits), edit_id_cmp);
			free(id);
			calls += keep;
		}
		if (keep)
			err = lines_add(&lines, &n, &cap, base[i]);
	}
	for (i = 0; i < jk->n_edits && !err; i++) {
		if (jk->edits[i]->kind != JREC_CALL || jk->edits[i]->gw != gw)
			continue;
		calls++;
		for (k = 1; k < jk->edits[i]->n_lines && !err; k++)
			err = lines_add(&lines, &n, &cap, jk->edits[i]->lines[k]);
	}
	if (!err && !(first = with_count(lines[0], calls, jk->fields)))
		err = -ENOMEM;
	if (err) {
		lines_free(lines, n);
		return err;
	}
	free(lines[0]);
	lines[0] = first;
	*out = lines;
	*n_out = n;
	return 0;
}

/* A call tombstone's line, "call-gone PAIR CORE_PORT ID": its
 * terminal's key; -EINVAL if damaged. */
static int parse_call_gone(char **f, int n, struct np_term_key *k)
{
	struct field_reader fr = { f + 1, 0 };
	char id[sizeof(((struct np_call *)0)->id)];

	k->pair = next_num(&fr, SIZE_MAX);
	k->core_port = (uint16_t)next_num(&fr, 65535);
	return n != 4 || fr.err || get_text(f[3], id, sizeof(id)) ? -EINVAL :
								    0;
}

/*
 * Reads the journal of the snapshot of generation gen into j: its records
 * up to its last commit line (a save's batch), each checked as the
 * snapshot's are; a damaged one is skipped whole and counted in rep; what
 * follows the last commit line (a save cut short) is dropped, its lines
 * counted in *torn. -ENOENT: none; -ESTALE: another generation's (from
 * before the snapshot, which holds it all); -EINVAL: its header damaged.
 */
static int journal_read(const char *jpath, uint64_t gen, struct journal *j,
			struct np_state_report *rep, unsigned int *torn)
{
	char *line = NULL, *text, *copy = NULL;
	char *f[STREAM_FIELDS + 1];
	unsigned int tail = 0, bad_then = 0;
	int n, lineno = 0, first_bad_then = 0, err = 0;
	size_t cap = 0, committed = 0, orphans_committed = 0;
	struct reader *r;
	ssize_t len;
	FILE *fp;

	*torn = 0;
	fp = fopen(jpath, "re");
	if (!fp)
		return -errno;
	r = calloc(1, sizeof(*r));
	if (!r) {
		fclose(fp);
		return -ENOMEM;
	}
	r->version = 3;
	r->journal = true;
	r->collect = j;
	while (!err && (len = getline(&line, &cap, fp)) > 0) {
		bool whole = line[len - 1] == '\n';

		lineno++;
		tail++;
		if (whole)
			line[--len] = '\0';
		text = strlen(line) != (size_t)len || !whole ? NULL :
							       checked(line);
		if (lineno == 1) {
			unsigned long long g;
			char *end;

			if (!whole) {
				err = -ENODATA; /* made, its header cut short */
				break;
			}
			/* Version 1 (records whole) reads as 2: its
			 * records are 2's but calls by themselves. */
			if (!text ||
			    (strncmp(text, JOURNAL_VERSION " ",
				     strlen(JOURNAL_VERSION) + 1) &&
			     strncmp(text, JOURNAL_VERSION_1 " ",
				     strlen(JOURNAL_VERSION_1) + 1))) {
				err = -EINVAL;
				break;
			}
			errno = 0;
			g = strtoull(text + strlen(JOURNAL_VERSION) + 1, &end,
				     10);
			if (errno || *end)
				err = -EINVAL;
			else if (g != gen)
				err = -ESTALE;
			tail = 0;
			continue;
		}
		if (!text) {
			damage(r, rep, lineno);
			continue;
		}
		free(copy);
		copy = strdup(text);
		n = copy ? split(text, f, STREAM_FIELDS + 1) : -1;
		if (!copy) {
			err = -ENOMEM;
		} else if (n < 1) {
			damage(r, rep, lineno);
		} else if (!strcmp(f[0], "gone")) {
			struct field_reader fr = { f + 1, 0 };
			struct np_term_key k;
			struct jrec *rec;

			err = record_end(r, rep);
			r->state = REC_NONE;
			k.pair = next_num(&fr, SIZE_MAX);
			k.core_port = (uint16_t)next_num(&fr, 65535);
			if (err) {
				break;
			} else if (n != 3 || fr.err) {
				damage(r, rep, lineno);
				r->state = REC_NONE;
			} else if (!(rec = journal_add(j))) {
				err = -ENOMEM;
			} else {
				rec->key = k;
				rec->kind = JREC_GONE;
				rec->first_line = lineno;
				rep->good++;
			}
		} else if (!strcmp(f[0], "call-gone")) {
			struct np_term_key k;
			struct jrec *rec;

			err = record_end(r, rep);
			r->state = REC_NONE;
			if (err) {
				break;
			} else if (parse_call_gone(f, n, &k)) {
				damage(r, rep, lineno);
				r->state = REC_NONE;
			} else if (!(rec = journal_add(j)) ||
				   !(rec->call_id = strdup(f[3]))) {
				err = -ENOMEM;
			} else {
				rec->key = k;
				rec->kind = JREC_CALL_GONE;
				rec->first_line = lineno;
				rep->good++;
			}
		} else if (!strcmp(f[0], "orphan-gone")) {
			struct field_reader fr = { f + 1, 0 };
			struct np_term_key k, *g;

			err = record_end(r, rep);
			r->state = REC_NONE;
			k.pair = next_num(&fr, SIZE_MAX);
			k.core_port = (uint16_t)next_num(&fr, 65535);
			if (err)
				break;
			if (n != 3 || fr.err) {
				damage(r, rep, lineno);
				continue;
			}
			if (j->n_orphans_gone == j->cap_orphans_gone) {
				g = realloc(j->orphans_gone,
					    (j->cap_orphans_gone * 2 + 16) *
						    sizeof(*g));
				if (!g) {
					err = -ENOMEM;
					break;
				}
				j->orphans_gone = g;
				j->cap_orphans_gone = j->cap_orphans_gone * 2 + 16;
			}
			j->orphans_gone[j->n_orphans_gone++] = k;
		} else if (!strcmp(f[0], "commit")) {
			err = record_end(r, rep);
			r->state = REC_NONE;
			if (n != 2) {
				damage(r, rep, lineno);
				r->state = REC_NONE;
				continue;
			}
			committed = j->n;
			orphans_committed = j->n_orphans_gone;
			bad_then = rep->bad;
			first_bad_then = rep->first_bad_line;
			tail = 0;
		} else {
			err = record_feed(r, rep, f, n, copy, lineno);
		}
	}
	/* After the last commit: a save cut short, never half-adopted. */
	while (j->n > committed)
		jrec_free(&j->recs[--j->n]);
	j->n_orphans_gone = orphans_committed;
	rep->good = (unsigned int)committed;
	rep->bad = bad_then;
	rep->first_bad_line = first_bad_then;
	*torn = tail;
	if (!err)
		err = journal_finish(j);
	reader_free(r);
	free(copy);
	free(line);
	fclose(fp);
	return err;
}

/* A journal record that counts, checked again and handed on. */
static int replay(struct reader *r, struct np_state_report *rep,
		  struct jrec *rec)
{
	char *f[STREAM_FIELDS + 1], *copy;
	size_t i;
	int n, err = 0;

	for (i = 0; i < rec->n_lines && !err; i++) {
		copy = strdup(rec->lines[i]);
		if (!copy)
			return -ENOMEM;
		n = split(copy, f, STREAM_FIELDS + 1);
		err = n < 1 ? -EINVAL : record_line(r, f, n, i == 0);
		free(copy);
	}
	if (err) {
		rep->bad++; /* cannot be: it was checked when read */
		return 0;
	}
	record_drop(r);
	free(r->lines);
	r->lines = rec->lines;
	r->n_lines = r->cap_lines = rec->n_lines;
	rec->lines = NULL;
	rec->n_lines = 0;
	r->state = REC_IN;
	r->first_line = rec->first_line;
	return record_end(r, rep);
}

/*
 * The journal of the snapshot's generation gen: path ".journal", or, if
 * that is another generation's (or none), path ".journal.next" if it is
 * gen's: a compaction written in the background renamed its snapshot but
 * not yet its journal (np_state_save_changes()). journal_read()'s errors
 * (-ESTALE, -ENOENT: ".journal"'s).
 */
static int journal_pick(const char *path, uint64_t gen, struct journal *j,
			struct np_state_report *rep, unsigned int *torn)
{
	char jpath[4096];
	int err, next;

	err = np_journal_path(path, jpath, sizeof(jpath));
	if (err)
		return err;
	err = journal_read(jpath, gen, j, rep, torn);
	if (err != -ESTALE && err != -ENOENT && err != -ENODATA)
		return err;
	if (journal_next_path(path, jpath, sizeof(jpath)))
		return err;
	journal_free(j);
	memset(rep, 0, sizeof(*rep));
	next = journal_read(jpath, gen, j, rep, torn);
	if (!next)
		return 0;
	journal_free(j);
	memset(rep, 0, sizeof(*rep));
	*torn = 0;
	return err;
}

/*
 * Where text (a journal file, len bytes; its lines are cut up) stops
 * holding what the reader takes: after its last commit line, or its
 * header if none; records: those the commits count. 0: its header is not
 * this version's, of gen.
 */
static size_t journal_good_end(char *text, size_t len, uint64_t gen,
			       size_t *records)
{
	char *p, *nl, *line, *end;
	unsigned long long n;
	size_t good = 0;

	*records = 0;
	for (p = text; p < text + len; p = nl + 1) {
		nl = memchr(p, '\n', len - (size_t)(p - text));
		if (!nl)
			break; /* cut short: the reader drops it */
		*nl = '\0';
		/* Only the header and commit lines are checked (a journal
		 * of a large state is MBs, read at every start). */
		line = !good || !strncmp(p, "commit ", 7) ? checked(p) : NULL;
		if (!good) {
			if (!line || strncmp(line, JOURNAL_VERSION " ",
					     strlen(JOURNAL_VERSION) + 1))
				return 0;
			errno = 0;
			n = strtoull(line + strlen(JOURNAL_VERSION) + 1, &end,
				     10);
			if (errno || *end || n != gen)
				return 0;
		} else if (!line || strncmp(line, "commit ", 7)) {
			continue;
		} else {
			n = strtoull(line + 7, &end, 10);
			if (*end)
				continue;
			*records += (size_t)n;
		}
		good = (size_t)(nl + 1 - text);
	}
	return good;
}

int np_journal_resume(struct np_journal *j, const char *path)
{
	char jpath[4096], npath[4200], *text;
	struct np_state_owner o;
	size_t len = 0, good = 0, records = 0;
	struct stat st;
	int err, fd;

	if (j->fd >= 0 || j->writer)
		return -EBUSY;
	err = np_state_owner_read(path, &o);
	if (err)
		return err;
	if (!o.gen)
		return -ENODATA; /* a file written with no journal */
	if (np_journal_path(path, jpath, sizeof(jpath)) ||
	    journal_next_path(path, npath, sizeof(npath)))
		return -ENAMETOOLONG;
	/* The one the reader took (journal_pick()): ".journal", else
	 * ".journal.next" (a compaction cut short between its two renames:
	 * the second done now). */
	text = file_text(jpath, &len);
	if (text)
		good = journal_good_end(text, len, o.gen, &records);
	if (!good) {
		free(text);
		text = file_text(npath, &len);
		if (text)
			good = journal_good_end(text, len, o.gen, &records);
		if (!good || rename(npath, jpath)) {
			err = good ? -errno : -ESTALE;
			free(text);
			return err;
		}
	}
	free(text);
	fd = open(jpath, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A save cut short (lines after the last commit, which the reader
	 * drops): cut off, or the next batch would be read as its end. */
	if (good < len && ftruncate(fd, (off_t)good)) {
		err = -errno;
		close(fd);
		return err;
	}
	/* What a compaction cut short before its snapshot's rename left: of
	 * another generation, never read now. */
	unlink(npath);
	j->fd = fd;
	j->gen = o.gen;
	j->bytes = good;
	j->records = records;
	j->snap_bytes = stat(path, &st) ? 0 : (uint64_t)st.st_size;
	return 0;
}

int np_state_read_report(const char *path, const struct np_state_visit *v,
			 void *arg, struct np_state_report *rep)
{
	char *line = NULL, *text, *copy = NULL, *f[STREAM_FIELDS + 1];
	struct np_state_owner owner;
	struct np_state_report jrep = { 0 };
	struct journal j = { 0 };
	unsigned long long said = 0;
	bool owner_ok = false, end = false;
	size_t cap = 0, i;
	struct reader *r;
	int n, lineno = 0, err = 0, jerr = -ENOENT;
	ssize_t len;
	FILE *fp;

	memset(rep, 0, sizeof(*rep));
	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	r = calloc(1, sizeof(*r));
	if (!r) {
		fclose(fp);
		return -ENOMEM;
	}
	r->v = v;
	r->arg = arg;
	/* The journal first: the snapshot's records it names are replaced
	 * (or deleted) by its own, handed on after the snapshot's. */
	if (!np_state_owner_read(path, &owner) && owner.gen) {
		jerr = journal_pick(path, owner.gen, &j, &jrep,
				    &rep->journal_torn);
		if (jerr == -ENOMEM) {
			err = jerr;
		} else if (jerr == -ENODATA) {
			jerr = -ENOENT;
		} else if (jerr == -EINVAL) {
			jrep.bad++; /* its header: nothing of it is known */
			jrep.first_bad_line = 1;
		}
		rep->journal_stale = jerr == -ESTALE;
		if (!jerr)
			r->replaced = &j;
	}
	while (!err && (len = getline(&line, &cap, fp)) > 0) {
		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (lineno == 1) {
			r->version = rep->version = version_of(line);
			/* A damaged version line: the lines whose checksums
			 * hold are still good (random bytes have none). */
			if (!r->version) {
				r->version = 3;
				rep->first_bad_line = 1;
			}
			owner_ok = r->version == 1;
			continue;
		}
		/* A NUL inside, or a checksum that does not match. */
		text = strlen(line) != (size_t)len ? NULL :
		       r->version >= 3	       ? checked(line) :
						 line;
		if (!text && lineno == 2 && r->version >= 2) {
			rep->first_bad_line = lineno; /* the owner line */
			continue;
		}
		if (!text) {
			damage(r, rep, lineno);
			continue;
		}
		free(copy);
		copy = strdup(text);
		n = copy ? split(text, f, STREAM_FIELDS + 1) : -1;
		if (!copy) {
			err = -ENOMEM;
		} else if (n < 1 || end) {
			damage(r, rep, lineno);
		} else if (lineno == 2 && r->version >= 2) {
			owner_ok = !parse_owner(f, n, &owner);
			if (!owner_ok && !rep->first_bad_line)
				rep->first_bad_line = lineno;
		} else if (record_start(f[0])) {
			err = record_end(r, rep);
			if (!err && record_line(r, f, n, true)) {
				damage(r, rep, lineno);
			} else if (!err) {
				r->state = REC_IN;
				r->first_line = lineno;
				err = record_keep(r, copy);
			}
		} else if (!strcmp(f[0], "end") && r->version >= 3) {
			struct field_reader fr = { f + 1, 0 };

			err = record_end(r, rep);
			said = next_num(&fr, SIZE_MAX);
			if (n != 2 || fr.err)
				damage(r, rep, lineno);
			else
				end = true;
			r->state = REC_NONE;
		} else if (r->state == REC_SKIP) {
			continue; /* the rest of a damaged record */
		} else if (r->state != REC_IN || record_line(r, f, n, false)) {
			damage(r, rep, lineno);
		} else {
			err = record_keep(r, copy);
		}
	}
	if (!err)
		err = record_end(r, rep);
	/* Replaced records were good: the end line counts them. */
	if (end && said > rep->good + r->n_replaced + rep->bad)
		rep->bad = (unsigned int)(said - rep->good - r->n_replaced);
	rep->verified = r->version >= 3;
	rep->complete = !err && r->version && owner_ok && !rep->bad &&
			!rep->first_bad_line &&
			(r->version < 3 ||
			 (end && said == rep->good + r->n_replaced)) &&
			!jrep.bad;
	r->replaced = NULL;
	for (i = 0; !err && i < j.n_keys; i++) {
		struct jrec merged = { .key = j.keys[i].key };

		err = jkey_record(&j.keys[i], &merged.lines, &merged.n_lines);
		if (err || !merged.lines)
			continue;
		merged.first_line = jkey_first_line(&j.keys[i]);
		err = replay(r, &jrep, &merged);
		jrec_free(&merged);
		rep->journal_replayed++;
	}
	rep->journal_records = j.n;
	rep->journal_bad = jrep.bad;
	rep->journal_first_bad_line = jrep.first_bad_line;
	rep->bad += jrep.bad;
	if (!err && !lineno)
		err = -EINVAL; /* empty */
	journal_free(&j);
	reader_free(r);
	free(copy);
	free(line);
	fclose(fp);
	return err;
}

int np_state_read(const char *path, const struct np_state_visit *v, void *arg)
{
	struct np_state_report rep;
	int err = np_state_read_report(path, v, arg, &rep);

	if (err == -EINVAL || (!err && !rep.complete)) {
		np_err("state file '%s' is damaged at line %d", path,
		       rep.first_bad_line);
		err = -EINVAL;
	}
	return err;
}

int np_state_owner_read(const char *path, struct np_state_owner *owner)
{
	char *line = NULL, *f[5];
	size_t cap = 0;
	ssize_t len;
	int n, version, err = -EINVAL;
	FILE *fp;

	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	if ((len = getline(&line, &cap, fp)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		version = version_of(line);
		if (version == 1) {
			err = -ENODATA;
		} else if (version >= 2 && (len = getline(&line, &cap, fp)) > 0) {
			if (line[len - 1] == '\n')
				line[len - 1] = '\0';
			if (version < 3 || checked(line)) {
				n = split(line, f, 5);
				err = n > 0 ? parse_owner(f, n, owner) : -EINVAL;
			}
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

/* A tombstone line's key; -EINVAL if damaged. */
static int parse_gone(char **f, int n, struct np_term_key *k)
{
	struct field_reader fr = { f + 1, 0 };

	k->pair = next_num(&fr, SIZE_MAX);
	k->core_port = (uint16_t)next_num(&fr, 65535);
	return n != 3 || fr.err ? -EINVAL : 0;
}

int np_state_apply(const char *text, size_t len,
		   const struct np_state_visit *v, void *arg,
		   struct np_state_report *rep)
{
	char *buf, *line, *rest, *t, *copy = NULL, *f[STREAM_FIELDS + 1];
	struct np_term_key k;
	struct reader *r;
	int n, lineno = 0, err = 0;

	memset(rep, 0, sizeof(*rep));
	rep->version = 3;
	buf = strndup(text, len);
	r = calloc(1, sizeof(*r));
	if (!buf || !r) {
		free(buf);
		free(r);
		return -ENOMEM;
	}
	r->v = v;
	r->arg = arg;
	r->version = 3;
	r->journal = true;
	for (rest = buf; !err && (line = strsep(&rest, "\n"));) {
		lineno++;
		if (!*line)
			continue;
		t = checked(line);
		if (!t) {
			damage(r, rep, lineno);
			continue;
		}
		free(copy);
		copy = strdup(t);
		n = copy ? split(t, f, STREAM_FIELDS + 1) : -1;
		if (!copy) {
			err = -ENOMEM;
		} else if (n < 1) {
			damage(r, rep, lineno);
		} else if (!strcmp(f[0], "gone")) {
			err = record_end(r, rep);
			r->state = REC_NONE;
			if (!err && parse_gone(f, n, &k))
				damage(r, rep, lineno);
			else if (!err && v->gone)
				err = v->gone(arg, k.pair, k.core_port);
			r->state = REC_NONE;
		} else if (!strcmp(f[0], "call-gone")) {
			char id[sizeof(((struct np_call *)0)->id)];

			err = record_end(r, rep);
			r->state = REC_NONE;
			if (!err && (parse_call_gone(f, n, &k) ||
				     get_text(f[3], id, sizeof(id))))
				damage(r, rep, lineno);
			else if (!err && v->call_gone)
				err = v->call_gone(arg, k.pair, k.core_port, id);
			r->state = REC_NONE;
		} else if (!strcmp(f[0], "commit") || !strcmp(f[0], "end") ||
			   !strcmp(f[0], "owner") ||
			   !strncmp(f[0], "natproxy-", 9)) {
			err = record_end(r, rep);
			r->state = REC_NONE;
		} else {
			err = record_feed(r, rep, f, n, copy, lineno);
		}
	}
	if (!err)
		err = record_end(r, rep);
	rep->verified = true;
	rep->complete = !err && !rep->bad;
	reader_free(r);
	free(copy);
	free(buf);
	return err;
}

int np_state_record_key(const char *text, size_t len, struct np_term_key *k)
{
	char line[256], *f[9], *save = NULL;
	struct field_reader fr;
	int n = 0;
	bool gw;

	/* The key is in the first nine fields: the rest need not be read. */
	len = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	memcpy(line, text, len);
	line[len] = '\0';
	for (f[0] = strtok_r(line, " \n", &save); f[n] && n < 8;)
		f[++n] = strtok_r(NULL, " \n", &save);
	if (n < 8 || !f[8])
		return -EINVAL;
	gw = !strcmp(f[0], "gw");
	/* term PAIR NAT NAT_PORT ACC ACC_PORT CORE CORE_PORT ...;
	 * gw DRIVER PAIR NAT NAT_PORT ACC 0 CORE CORE_PORT ... */
	if (!gw && strcmp(f[0], "term"))
		return -EINVAL;
	fr = (struct field_reader){ f + 1 + gw, 0 };
	k->pair = next_num(&fr, SIZE_MAX);
	fr.f = f + 7 + gw;
	k->core_port = (uint16_t)next_num(&fr, 65535);
	return fr.err;
}
