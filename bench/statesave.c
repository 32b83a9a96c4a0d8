// SPDX-License-Identifier: GPL-2.0-only
/*
 * What one event-loop batch costs to persist, at a given number of live
 * calls: the whole state file rewritten (np_state_save(), as natproxyd did
 * before the journal) against the journal (np_state_save_changes(): the
 * records of the terminals the batch changed appended, compactions counted
 * in the average). A proxy is filled with terminals, one call each, that no
 * signaling made (no sockets, no flows: the save reads only the structs).
 * Prints; asserts nothing.
 *
 *   statesave [CALLS...]      default: 1000 10000
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_proxy.h"
#include "config.h"
#include "log.h"
#include "proxy.h"
#include "state.h"

static int io_open(void *ctx, size_t realm, uint16_t port)
{
	(void)ctx, (void)realm, (void)port;
	return 0;
}

static double io_wall(void *ctx)
{
	(void)ctx;
	return 1.7e9;
}

static const struct np_core_io io = { .signal_open = io_open,
				      .wall = io_wall };

static int fill(struct np_proxy *px, size_t calls, struct np_term ***terms)
{
	struct np_term saved = { 0 }, *t;
	size_t i;
	int err;

	*terms = calloc(calls, sizeof(**terms));
	if (!*terms)
		return -ENOMEM;
	for (i = 0; i < calls; i++) {
		struct np_call *c = calloc(1, sizeof(*c));

		if (!c || np_call_room(c, 1))
			return -ENOMEM;
		saved.pair = 0;
		saved.nat.family = AF_INET;
		saved.nat.addr.v4.s_addr = htonl(0x0a000000u + (uint32_t)i);
		saved.nat.port = 5060;
		saved.core_port = (uint16_t)(10000 + i);
		saved.registered_until = 5000;
		err = np_core_adopt_term(&px->core, &saved, &px->sip.driver,
					 1000, &t);
		if (err)
			return err;
		snprintf(c->id, sizeof(c->id), "call-%zu@bench.example", i);
		snprintf(c->from, sizeof(c->from), "sip:a%zu@example.test", i);
		snprintf(c->to, sizeof(c->to), "sip:b%zu@example.test", i);
		c->answered = true;
		c->started = c->answered_at = 1000;
		c->n_streams = 1;
		c->streams[0].active = true;
		c->streams[0].access_port = (uint16_t)(30000 + 2 * (i % 15000));
		c->streams[0].core_port = c->streams[0].access_port;
		c->next = t->calls;
		t->calls = c;
		(*terms)[i] = t;
	}
	return 0;
}

static void run(size_t calls)
{
	static const struct np_state_owner owner = { .pin_dir = "/sys/fs/bpf/x",
						     .map_ids = { 1, 2 } };
	char path[] = "/tmp/np-statesave-XXXXXX", jpath[64];
	struct np_config cfg;
	struct np_proxy px;
	struct np_journal j;
	struct np_term **terms;
	char errbuf[256];
	size_t i, b, batches = 2000, per[] = { 1, 10 }, k;
	double t0, full;
	int fd;

	fd = mkstemp(path);
	if (fd < 0)
		return;
	close(fd);
	np_journal_path(path, jpath, sizeof(jpath));
	if (np_config_parse("bench", BENCH_PROXY_CFG, strlen(BENCH_PROXY_CFG), &cfg, errbuf,
			    sizeof(errbuf)) ||
	    np_proxy_init(&px, &cfg, &io, NULL) || fill(&px, calls, &terms)) {
		fprintf(stderr, "statesave: setup failed: %s\n", errbuf);
		exit(1);
	}
	/* Before: the whole file per batch. */
	t0 = bench_now();
	for (b = 0; b < 20; b++)
		np_state_save(&px, path, &owner);
	full = (bench_now() - t0) / 20;
	printf("%6zu calls  full rewrite          %9.1f us/batch\n", calls,
	       full * 1e6);
	for (k = 0; k < sizeof(per) / sizeof(per[0]); k++) {
		unsigned long c0;
		double append = 0, comp = 0, t;
		size_t n_app = 0, n_comp = 0;

		np_journal_init(&j);
		np_core_changed_all(&px.core);
		np_state_save_changes(&px, path, &owner, &j);
		np_core_dirty_clear(&px.core);
		for (b = 0; b < batches; b++) {
			for (i = 0; i < per[k]; i++) {
				struct np_term *tm =
					terms[(b * per[k] + i * 7919) % calls];

				tm->calls->expires++; /* a change */
				np_term_changed(&px.core, tm);
			}
			c0 = j.compactions;
			t = bench_now();
			np_state_save_changes(&px, path, &owner, &j);
			t = bench_now() - t;
			np_core_dirty_clear(&px.core);
			if (j.compactions != c0) {
				comp += t;
				n_comp++;
			} else {
				append += t;
				n_app++;
			}
		}
		printf("%6zu calls  journal, %2zu changed  %9.1f us/batch append, "
		       "%.1f us/batch with compactions (%zu of %zu batches "
		       "compacted)\n",
		       calls, per[k], n_app ? append / n_app * 1e6 : 0,
		       (append + comp) / batches * 1e6, n_comp, batches);
		np_journal_close(&j);
	}
	unlink(path);
	unlink(jpath);
}

int main(int argc, char **argv)
{
	int i;

	np_log_set_level(NP_LOG_ERROR);
	if (argc < 2) {
		run(1000);
		run(10000);
	}
	for (i = 1; i < argc; i++)
		run(strtoul(argv[i], NULL, 10));
	return 0;
}
