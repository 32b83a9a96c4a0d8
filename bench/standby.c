// SPDX-License-Identifier: GPL-2.0-only
/*
 * What following an active node costs a standby (docs/ha.md), at a given
 * number of live calls: the active node's snapshot applied to an empty
 * standby (every terminal adopted, every call's ports taken and its four
 * flows written), then the snapshot of its next compaction (nothing
 * changed; then a tenth of the calls changed), each applied as natproxyd
 * does, in steps of NP_FOLLOW_STEP_MS, and as it was before (everything
 * dropped, then copied again in one go); then journal batches of 1 and 10
 * changed terminals applied as they come. Per snapshot: the longest step
 * (the loop's longest stall), the time of all steps, the flow writes, the
 * standby's RSS growth and peak (VmHWM growth). Both proxies live in this
 * process; the maps are a counting stub (no kernel map writes: those are
 * measured by bench/media). Prints; asserts nothing.
 *
 *   standby [CALLS...]      default: 1000 10000
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/follow.h"
#include "bench_proxy.h"
#include "config.h"
#include "log.h"
#include "proxy.h"
#include "state.h"

static unsigned long flow_writes;

static int io_open(void *ctx, size_t realm, uint16_t port)
{
	(void)ctx, (void)realm, (void)port;
	return 0;
}

static void io_close(void *ctx, size_t realm, uint16_t port)
{
	(void)ctx, (void)realm, (void)port;
}

static int io_put(void *ctx, const struct np_flow_key *k,
		  const struct np_flow *f)
{
	(void)ctx, (void)k, (void)f;
	flow_writes++;
	return 0;
}

static int io_get(void *ctx, const struct np_flow_key *k, struct np_flow *f)
{
	(void)ctx, (void)k, (void)f;
	return -ENOENT;
}

static int io_del(void *ctx, const struct np_flow_key *k,
		  struct np_counters *c)
{
	(void)ctx, (void)k, (void)c;
	return -ENOENT;
}

static int io_counters(void *ctx, const struct np_flow_key *k,
		       struct np_counters *c)
{
	(void)ctx, (void)k, (void)c;
	return -ENOENT;
}

static double io_wall(void *ctx)
{
	(void)ctx;
	return 1.7e9;
}

static const struct np_core_io io = {
	.signal_open = io_open, .signal_close = io_close,
	.flow_put = io_put,	.flow_get = io_get,
	.flow_del = io_del,	.counters_get = io_counters,
	.wall = io_wall,
};

/* The texts the active node's journal hands on, kept in order. */
struct captured {
	char *text;
	size_t len;
	bool snapshot;
};

static struct captured last;

static void capture(void *arg, bool snapshot, uint64_t gen, const char *text,
		    size_t len)
{
	(void)arg, (void)gen;
	free(last.text);
	last.text = malloc(len);
	memcpy(last.text, text, len);
	last.len = len;
	last.snapshot = snapshot;
}

/* This thread's CPU time, s: a step's own, without the time other
 * processes of a shared machine took the CPU from it. */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* field: "VmRSS:" or "VmHWM:" (the peak) of this process, KiB. */
static long status_kib(const char *field)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			kib = strtol(line + strlen(field), NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

/* The last captured snapshot applied to standby: in steps (as natproxyd),
 * or, at_once, as before the steps (everything dropped, then copied again
 * in one go). Prints the longest step, the total, what it did. */
static void apply_snapshot(struct np_follower *fl, struct np_proxy *standby,
			   const char *what, size_t calls, bool at_once)
{
	struct np_follow_report rep = { 0 };
	double t0, c0, step, total = 0, longest = 0, cpu = 0;
	long rss0 = status_kib("VmRSS:"), hwm0 = status_kib("VmHWM:");
	unsigned long steps = 0;
	char *text = malloc(last.len);
	bool more = true;

	memcpy(text, last.text, last.len);
	flow_writes = 0;
	t0 = bench_now();
	if (at_once)
		np_follow_forget_all(standby);
	np_follower_push(fl, true, text, last.len, 0);
	if (at_once) {
		c0 = cpu_now();
		np_follower_drain(fl, 1000, &rep);
		longest = total = bench_now() - t0;
		cpu = cpu_now() - c0;
		steps = 1;
	}
	while (!at_once && more) {
		t0 = bench_now();
		c0 = cpu_now();
		more = np_follower_step(fl, 1000, NP_FOLLOW_STEP_MS, &rep);
		step = bench_now() - t0;
		cpu = cpu_now() - c0 > cpu ? cpu_now() - c0 : cpu;
		total += step;
		longest = step > longest ? step : longest;
		steps++;
	}
	printf("%6zu calls  %-28s %s: longest stall %7.2f ms (CPU %6.2f ms), "
	       "%7.1f ms in "
	       "%5lu steps; %5u copied, %5u unchanged, %5u removed, %6lu "
	       "flow writes, %u failed; RSS %+7ld KiB, peak %+7ld KiB\n",
	       calls, what, at_once ? "at once " : "in steps", longest * 1e3,
	       cpu * 1e3, total * 1e3, steps, rep.terms, rep.unchanged,
	       rep.swept + rep.gone, flow_writes, rep.failed,
	       status_kib("VmRSS:") - rss0, status_kib("VmHWM:") - hwm0);
}

/* A tenth of the active node's calls changed. */
static void change_tenth(struct np_proxy *active, struct np_term **terms,
			 size_t calls)
{
	size_t i;

	for (i = 0; i < calls; i += 10) {
		terms[i]->calls->expires++;
		np_term_changed(&active->core, terms[i]);
	}
}

/* The active node's whole state again, as at a compaction, captured. */
static void compact(struct np_proxy *active, const char *path,
		    const struct np_state_owner *owner, struct np_journal *j)
{
	np_core_changed_all(&active->core);
	np_state_save_changes(active, path, owner, j);
	np_core_dirty_clear(&active->core);
}

/* The active node: calls terminals, one answered call each, one stream. */
static int fill(struct np_proxy *px, size_t calls, struct np_term ***terms)
{
	struct np_term saved = { 0 }, *t;
	size_t i;
	int err;

	*terms = calloc(calls, sizeof(**terms));
	if (!*terms)
		return -ENOMEM;
	for (i = 0; i < calls; i++) {
		struct np_call c = { 0 };

		saved.pair = 0;
		saved.nat.family = AF_INET;
		saved.nat.addr.v4.s_addr = htonl(0x0a000000u + (uint32_t)i);
		saved.nat.port = 5060;
		saved.core_port = (uint16_t)(10000 + i);
		saved.registered_until = 5000;
		err = np_proxy_adopt_term(px, &saved, 1000, &t);
		if (err)
			return err;
		snprintf(c.id, sizeof(c.id), "call-%zu@bench.example", i);
		snprintf(c.from, sizeof(c.from), "sip:a%zu@example.test", i);
		snprintf(c.to, sizeof(c.to), "sip:b%zu@example.test", i);
		c.answered = true;
		c.started = c.answered_at = 1000;
		c.n_streams = 1;
		if (np_call_room(&c, 1))
			return -ENOMEM;
		c.streams[0].active = true;
		c.streams[0].access_port = (uint16_t)(30000 + 2 * i);
		c.streams[0].core_port = c.streams[0].access_port;
		c.access_ports[0] = c.core_ports[0] = c.streams[0].access_port;
		err = np_proxy_mirror_call(px, t, &c);
		np_call_streams_free(&c);
		if (err)
			return err;
		(*terms)[i] = t;
	}
	return 0;
}

static void run(size_t calls)
{
	static const struct np_state_owner owner = { .pin_dir = "/sys/fs/bpf/x",
						     .map_ids = { 1, 2 } };
	char path[] = "/tmp/np-standby-XXXXXX", jpath[64], errbuf[256];
	struct np_follow_report rep = { 0 };
	struct np_proxy active, standby;
	struct np_follower *fl;
	struct np_term **terms;
	struct np_config cfg;
	struct np_journal j;
	size_t per[] = { 1, 10 }, k, b, i, batches = 1000;
	double t0;
	int fd;

	fd = mkstemp(path);
	if (fd < 0)
		return;
	close(fd);
	np_journal_path(path, jpath, sizeof(jpath));
	if (np_config_parse("bench", BENCH_PROXY_CFG, strlen(BENCH_PROXY_CFG), &cfg, errbuf,
			    sizeof(errbuf)) ||
	    np_proxy_init(&active, &cfg, &io, NULL) ||
	    fill(&active, calls, &terms)) {
		fprintf(stderr, "standby: setup failed: %s\n", errbuf);
		exit(1);
	}
	np_journal_init(&j);
	j.replicate = capture;
	compact(&active, path, &owner, &j);
	np_proxy_init(&standby, &cfg, &io, NULL);
	np_follower_new(&fl, &standby, 0);
	printf("%6zu calls  snapshot of %zu KiB\n", calls, last.len / 1024);
	apply_snapshot(fl, &standby, "first, to an empty standby", calls,
		       false);
	compact(&active, path, &owner, &j);
	apply_snapshot(fl, &standby, "compaction, none changed", calls, false);
	apply_snapshot(fl, &standby, "compaction, none changed", calls, true);
	change_tenth(&active, terms, calls);
	compact(&active, path, &owner, &j);
	apply_snapshot(fl, &standby, "compaction, 1/10 changed", calls,
		       false);
	change_tenth(&active, terms, calls);
	compact(&active, path, &owner, &j);
	apply_snapshot(fl, &standby, "compaction, 1/10 changed", calls,
		       true);
	for (k = 0; k < sizeof(per) / sizeof(per[0]); k++) {
		double apply = 0;
		unsigned int snaps = 0;

		for (b = 0; b < batches; b++) {
			for (i = 0; i < per[k]; i++) {
				struct np_term *tm =
					terms[(b * per[k] + i * 7919) % calls];

				tm->calls->expires++; /* a change */
				np_term_changed(&active.core, tm);
			}
			last.len = 0;
			np_state_save_changes(&active, path, &owner, &j);
			np_core_dirty_clear(&active.core);
			if (!last.len)
				continue;
			snaps += last.snapshot;
			t0 = bench_now();
			np_follower_push(fl, last.snapshot, last.text, last.len,
					 0);
			last.text = NULL; /* the follower's now */
			np_follower_drain(fl, 1000, &rep);
			apply += bench_now() - t0;
		}
		printf("%6zu calls  batches of %2zu changed terminals: %.1f "
		       "us/batch on the standby (%u of %zu were snapshots)\n",
		       calls, per[k], apply / batches * 1e6, snaps, batches);
	}
	np_journal_close(&j);
	np_follower_free(fl);
	np_proxy_forget(&standby);
	np_proxy_forget(&active);
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
