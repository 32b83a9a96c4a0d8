// SPDX-License-Identifier: GPL-2.0-only
/*
 * What one call event costs to persist, for a terminal (a PBX) with 1, 100
 * or 1000 live calls, and for an MGCP gateway (a trunk) with as many
 * connections, beside a background of terminals with one call each:
 * each event-loop batch holds one event of the PBX (a call placed, answered
 * or ended, by the core's own functions, in turn), saved by
 * np_state_save_changes() (the journal; compactions counted in the
 * average, and apart) and, for scale, the whole state file rewritten once
 * (np_state_save()). No sockets, no flows: the save reads only the structs.
 * The same source builds against an older tree (it uses only the core's
 * call functions and np_proxy_adopt_gw), so a before/after is two builds
 * run side by side.
 * Prints; asserts nothing.
 *
 *   statesave [CALLS...]          default: 1 100 1000 (a PBX, a gateway,
 *                                 a gateway heard at each event: as many)
 *   STATESAVE_BACKGROUND=N        terminals beside it (default 1000)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void io_charge(void *ctx, const char *line, size_t len)
{
	(void)ctx, (void)line, (void)len;
}

static const struct np_core_io io = { .signal_open = io_open,
				      .wall = io_wall,
				      .charge = io_charge };

/* An MGCP connection's driver data, as the gateway's CRCX answer leaves
 * it (its LocalConnectionDescriptor: a short SDP). */
static struct np_mgcp_conn *conn_of(size_t k)
{
	struct np_mgcp_conn *conn = calloc(1, sizeof(*conn));
	int n;

	if (!conn)
		return NULL;
	snprintf(conn->endpoint, sizeof(conn->endpoint), "ds/ds1-1/%zu@[10.9.0.1]",
		 k % 1000 + 1);
	snprintf(conn->call_id, sizeof(conn->call_id), "%016zX", k + 1);
	snprintf(conn->conn_id, sizeof(conn->conn_id), "%08zX", k + 1);
	n = snprintf(conn->lcd, sizeof(conn->lcd),
		     "v=0\r\nc=IN IP4 10.9.0.1\r\nm=audio %zu RTP/AVP 0 8\r\n",
		     4000 + 2 * (k % 1000));
	conn->lcd_len = (size_t)n;
	return conn;
}

/* A terminal at 10.x.y.z (gw: an MGCP gateway) with `calls` answered calls
 * of one stream, made as a restart adopts them (no signaling). */
static struct np_term *term_with(struct np_proxy *px, uint32_t i, size_t calls,
				 bool gw)
{
	struct np_term saved = { 0 }, *t;
	size_t k;

	saved.pair = 0;
	saved.nat.family = AF_INET;
	saved.nat.addr.v4.s_addr = htonl(0x0a000000u + i);
	saved.nat.port = gw ? 2427 : 5060;
	saved.core_port = (uint16_t)(10000 + i);
	saved.registered_until = 5000;
	if (gw ? np_proxy_adopt_gw(px, "mgcp", &saved,
				   "[10.9.0.1]\x1f" "ds/ds1-1/1@[10.9.0.1]", 1000,
				   &t) :
		 np_core_adopt_term(&px->core, &saved, &px->sip.driver, 1000,
				    &t))
		return NULL;
	for (k = 0; k < calls; k++) {
		struct np_call *c = calloc(1, sizeof(*c));

		if (!c || np_call_room(c, 1) || (gw && !(c->dialog = conn_of(k))))
			return NULL;
		snprintf(c->id, sizeof(c->id), "call-%u-%zu@bench.example", i, k);
		snprintf(c->from, sizeof(c->from), "sip:a%zu@example.test", k);
		snprintf(c->to, sizeof(c->to), "sip:b%zu@example.test", k);
		c->answered = true;
		c->started = c->answered_at = 1000;
		c->n_streams = 1;
		c->streams[0].active = true;
		c->streams[0].access_port = (uint16_t)(30000 + 2 * (k % 15000));
		c->streams[0].core_port = c->streams[0].access_port;
		c->next = t->calls;
		t->calls = c;
	}
	return t;
}

static size_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (size_t)st.st_size;
}

/* What holds the calls: a SIP terminal, a gateway, or a gateway whose
 * every event also comes with its lifetime renewed (as each message from
 * it renews it, np_term_registered: its own fields saved too). */
enum holder { PBX, GATEWAY, GATEWAY_HEARD };

static const char *const holder_names[] = { "PBX", "gateway",
					    "gateway, lifetime renewed" };

static void run(size_t pbx_calls, size_t background, enum holder kind)
{
	bool gw = kind != PBX;
	static const struct np_state_owner owner = { .pin_dir = "/sys/fs/bpf/x",
						     .map_ids = { 1, 2 } };
	char path[] = "/tmp/np-statesave-XXXXXX", jpath[64], id[64];
	struct np_config cfg;
	struct np_proxy px;
	struct np_journal j;
	struct np_term *pbx = NULL;
	struct np_call *call = NULL;
	char errbuf[256] = "";
	size_t i, b, events = 3000, n_app = 0, n_comp = 0, bytes = 0, before;
	double t0, full, append = 0, comp = 0, t;
	unsigned long c0;
	int fd;

	fd = mkstemp(path);
	if (fd < 0)
		return;
	close(fd);
	np_journal_path(path, jpath, sizeof(jpath));
	if (np_config_parse("bench", BENCH_PROXY_CFG, strlen(BENCH_PROXY_CFG),
			    &cfg, errbuf, sizeof(errbuf)) ||
	    np_proxy_init(&px, &cfg, &io, NULL)) {
		fprintf(stderr, "statesave: setup failed: %s\n", errbuf);
		exit(1);
	}
	for (i = 0; i < background; i++)
		if (!term_with(&px, (uint32_t)i + 1, 1, false)) {
			fprintf(stderr, "statesave: no memory\n");
			exit(1);
		}
	pbx = term_with(&px, 0, pbx_calls, gw);
	if (!pbx) {
		fprintf(stderr, "statesave: no memory\n");
		exit(1);
	}
	/* For scale: the whole file, as natproxyd wrote it per batch before
	 * the journal. */
	t0 = bench_now();
	for (b = 0; b < 20; b++)
		np_state_save(&px, path, &owner);
	full = (bench_now() - t0) / 20;

	np_journal_init(&j);
	np_core_changed_all(&px.core);
	np_state_save_changes(&px, path, &owner, &j);
	np_core_dirty_clear(&px.core);
	for (b = 0; b < events; b++) {
		/* One event a batch, in turn: placed, answered, ended. */
		switch (b % 3) {
		case 0:
			snprintf(id, sizeof(id), "new-%zu@bench.example", b);
			call = np_call_new(&px.core, pbx, id, true, 1000);
			if (call && gw)
				call->dialog = conn_of(pbx_calls + b);
			break;
		case 1:
			if (call)
				np_call_answered(&px.core, pbx, call, 1001);
			break;
		default:
			if (call)
				np_call_end(&px.core, pbx, call, NP_END_BYE,
					    1002);
			call = NULL;
		}
		if (kind == GATEWAY_HEARD)
			np_term_registered(&px.core, pbx, 5000 + (time_t)b, 1000);
		c0 = j.compactions;
		before = file_size(jpath);
		t = bench_now();
		np_state_save_changes(&px, path, &owner, &j);
		t = bench_now() - t;
		np_core_dirty_clear(&px.core);
		if (j.compactions != c0) {
			comp += t;
			n_comp++;
		} else {
			append += t;
			bytes += file_size(jpath) - before;
			n_app++;
		}
	}
	printf("%-25s with %4zu calls (+%zu terminals of 1 call): per event "
	       "%8.1f us appended (%zu bytes), %8.1f us with compactions "
	       "(%zu of %zu events compacted, %.0f us each); whole file "
	       "%.0f us\n",
	       holder_names[kind], pbx_calls, background,
	       n_app ? append / n_app * 1e6 : 0,
	       n_app ? bytes / n_app : 0, (append + comp) / events * 1e6,
	       n_comp, events, n_comp ? comp / n_comp * 1e6 : 0, full * 1e6);
	np_journal_close(&j);
	unlink(path);
	unlink(jpath);
}

int main(int argc, char **argv)
{
	const char *bg = getenv("STATESAVE_BACKGROUND");
	size_t background = bg ? strtoul(bg, NULL, 10) : 1000;
	enum holder kind;
	int i;

	np_log_set_level(NP_LOG_ERROR);
	for (kind = PBX; kind <= GATEWAY_HEARD; kind++) {
		if (argc < 2) {
			run(1, background, kind);
			run(100, background, kind);
			run(1000, background, kind);
		}
		for (i = 1; i < argc; i++)
			run(strtoul(argv[i], NULL, 10), background, kind);
	}
	return 0;
}
