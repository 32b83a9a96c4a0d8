// SPDX-License-Identifier: GPL-2.0-only
/*
 * The state of one natproxyd at scale: 100,000 registered terminals (each
 * its own NAT mapping, two pairs of 50,000 since a core address has 64k
 * ports) and 10,000 answered calls, made by real SIP through
 * np_proxy_input() (REGISTER / 200, INVITE with SDP / 200 with SDP / ACK)
 * with the sockets and the XDP maps replaced by an in-memory fake (a hashed
 * flow table). Measures, and prints:
 *
 *  - the cost of a registration and of a call set-up at the start and at the
 *    end of the fill (lookups by NAT mapping, core port, transaction and
 *    Call-ID are O(1) when the two are alike);
 *  - heap memory per terminal and per call (mallinfo2), beside the maps';
 *  - keepalives sent per second over one interval (spread, not bursts),
 *    and the tick's cost and counter reads per second;
 *  - the state journal: a snapshot (compaction) and the append per event
 *    (a registration refresh: its terminal's record; a call's change: its
 *    call record);
 *  - a restart: the state file and its journal (those events) read into a
 *    new proxy that adopts every terminal and call (their flows still in
 *    the fake maps).
 *
 * Times are this process's CPU time (user and system). Exits 1 when
 * something that is not a timing is wrong (a terminal or call
 * not made or not adopted, keepalives bunched up). Bounded: the fill and
 * every loop are fixed in count.
 *
 *   statescale [TERMINALS [CALLS [WHOLE_CALLS]]]  default 100000 10000 1000
 */
#define _GNU_SOURCE /* mallinfo2 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proxy.h"
#include "sip/sipmsg.h"
#include "state.h"

#define KEEPALIVE_S 30
#define MEDIA_TIMEOUT_S 60
#define PER_PAIR 50000 /* terminals per pair (core ports 14000-64999) */

#define REALM(name, addr, ports)                                               \
	"  - name: " name "\n"                                                 \
	"    interface: eth0\n"                                                \
	"    address: " addr "\n" ports                                        \
	"    media_timeout: 60\n"                                              \
	"    max_requests_per_address: 0\n"                                    \
	"    max_requests_per_mapping: 0\n"                                    \
	"    max_terminals_per_address: 0\n"                                   \
	"    reserve_percent: 0\n"

#define ACCESS_PORTS "    sip_port: 5060\n    media_ports: 10000-59999\n"
/* A core port per terminal, the rest for media (6,488 calls a pair). */
#define CORE_PORTS "    sip_ports: 14000-64999\n    media_ports: 1024-13999\n"

static const char cfg_text[] =
	"realms:\n" REALM("acc1", "203.0.113.1", ACCESS_PORTS)
		REALM("acc2", "203.0.113.2", ACCESS_PORTS)
			REALM("core1", "198.51.100.1", CORE_PORTS)
				REALM("core2", "198.51.100.3", CORE_PORTS)
	"pairs:\n"
	"  - first: acc1\n"
	"    second: core1\n"
	"    softswitch: 198.51.100.2:5060\n"
	"  - first: acc2\n"
	"    second: core2\n"
	"    softswitch: 198.51.100.2:5060\n"
	"keepalive:\n"
	"  method: options\n"
	"  interval: 30\n";

/* --- the fake io: sockets counted, the last datagram kept, flows hashed */

#define FLOW_SLOTS (1u << 18) /* open addressing, a power of two */

struct fake {
	size_t sockets;
	char last[65536];
	size_t last_len, last_realm;
	uint16_t last_from;
	size_t options_sent; /* keepalives to terminals */
	struct np_flow_key *keys;
	struct np_flow *flows;
	unsigned char *state; /* 0 free, 1 used, 2 deleted */
	size_t n_flows, counter_reads;
	size_t puts, gets, dels, sends; /* map and socket operations */
	uint64_t last_seen_ns;
};

static struct fake io_state;

static uint32_t key_slot(const struct np_flow_key *k)
{
	const unsigned char *p = (const unsigned char *)k;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < sizeof(*k); i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h & (FLOW_SLOTS - 1);
}

/* The slot of k, or (with make) a free one for it; -1 if none. */
static long slot_find(struct fake *f, const struct np_flow_key *k, bool make)
{
	uint32_t s = key_slot(k), i;
	long free_at = -1;

	for (i = 0; i < FLOW_SLOTS; i++, s = (s + 1) & (FLOW_SLOTS - 1)) {
		if (f->state[s] == 1 && !memcmp(&f->keys[s], k, sizeof(*k)))
			return s;
		if (f->state[s] != 1 && free_at < 0)
			free_at = s;
		if (!f->state[s])
			break;
	}
	return make ? free_at : -1;
}

static int io_open(void *ctx, size_t realm, uint16_t port)
{
	(void)realm, (void)port;
	((struct fake *)ctx)->sockets++;
	return 0;
}

static void io_close(void *ctx, size_t realm, uint16_t port)
{
	(void)realm, (void)port;
	((struct fake *)ctx)->sockets--;
}

static int io_send(void *ctx, size_t realm, uint16_t from_port,
		   const struct np_sockaddr *to, const char *buf, size_t len)
{
	struct fake *f = ctx;

	(void)to;
	f->sends++;
	if (!strncmp(buf, "OPTIONS ", 8)) {
		f->options_sent++;
		return 0;
	}
	if (len >= sizeof(f->last))
		len = sizeof(f->last) - 1;
	memcpy(f->last, buf, len);
	f->last[len] = '\0';
	f->last_len = len;
	f->last_realm = realm;
	f->last_from = from_port;
	return 0;
}

static int io_flow_put(void *ctx, const struct np_flow_key *key,
		       const struct np_flow *flow)
{
	struct fake *f = ctx;
	long s = slot_find(f, key, true);

	f->puts++;
	if (s < 0)
		return -ENOSPC;
	if (f->state[s] != 1)
		f->n_flows++;
	f->state[s] = 1;
	f->keys[s] = *key;
	f->flows[s] = *flow;
	return 0;
}

static int io_flow_get(void *ctx, const struct np_flow_key *key,
		       struct np_flow *flow)
{
	struct fake *f = ctx;
	long s = slot_find(f, key, false);

	f->gets++;
	if (s < 0)
		return -ENOENT;
	*flow = f->flows[s];
	return 0;
}

static int io_flow_del(void *ctx, const struct np_flow_key *key,
		       struct np_counters *last)
{
	struct fake *f = ctx;
	long s = slot_find(f, key, false);

	f->dels++;
	if (s < 0)
		return -ENOENT;
	f->state[s] = 2;
	f->n_flows--;
	if (last)
		memset(last, 0, sizeof(*last));
	return 0;
}

static int io_counters(void *ctx, const struct np_flow_key *key,
		       struct np_counters *now)
{
	struct fake *f = ctx;

	f->counter_reads++;
	memset(now, 0, sizeof(*now));
	now->last_seen_ns = f->last_seen_ns;
	return slot_find(f, key, false) < 0 ? -ENOENT : 0;
}

static void io_charge(void *ctx, const char *line, size_t len)
{
	(void)ctx, (void)line, (void)len;
}

static double io_wall(void *ctx)
{
	(void)ctx;
	return 1.7e9;
}

static const struct np_core_io io = {
	.signal_open = io_open,
	.signal_close = io_close,
	.send = io_send,
	.flow_put = io_flow_put,
	.flow_get = io_flow_get,
	.flow_del = io_flow_del,
	.counters_get = io_counters,
	.charge = io_charge,
	.wall = io_wall,
};

/* --- SIP: terminals and the softswitch ------------------------------------- */

static time_t now_mono = 1000;

/* CPU time of this process: the machine is shared, wall time is not ours. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t heap_bytes(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("statescale: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* Terminal i: pair i / PER_PAIR, NAT mapping 203.0.113.(10 + i / 500),
 * port 20000 + i % 500 (distinct for every i). */
static size_t pair_of(size_t i)
{
	return i / PER_PAIR;
}

static struct np_sockaddr nat_of(size_t i)
{
	struct np_sockaddr a = { .family = AF_INET };

	a.addr.v4.s_addr = htonl(0xcb007100u + 10 + (uint32_t)(i / 500));
	a.port = (uint16_t)(20000 + i % 500);
	return a;
}

static void from_term(struct np_proxy *px, size_t i, const char *msg)
{
	struct np_sockaddr nat = nat_of(i);

	io_state.last_len = 0;
	np_proxy_input(px, pair_of(i), 5060, &nat, msg, strlen(msg),
		       now_mono);
}

/* What the terminal's request became toward the softswitch: the core
 * port it left from (0 if it did not go there). */
static uint16_t forwarded(size_t i)
{
	if (!io_state.last_len || io_state.last_realm != 2 + pair_of(i) ||
	    io_state.last[0] == 'S')
		return 0;
	return io_state.last_from;
}

/* Copies the header lines of req named name (case-insensitive) to out. */
static size_t copy_hdr(char *out, size_t room, const char *req,
		       const char *name, const char *append)
{
	size_t n = strlen(name), w = 0;
	const char *p = req, *eol;

	while ((eol = strstr(p, "\r\n")) && eol != p) {
		if ((size_t)(eol - p) > n && !strncasecmp(p, name, n) &&
		    p[n] == ':')
			w += (size_t)snprintf(out + w, room - w, "%.*s%s\r\n",
					      (int)(eol - p), p, append);
		p = eol + 2;
	}
	return w;
}

/* The softswitch's answer to the request it was sent, on that core port. */
static void softswitch_reply(struct np_proxy *px, size_t i, uint16_t port,
			     const char *status, const char *contact_param,
			     const char *extra, const char *body)
{
	static char req[65536], msg[65536];
	struct np_sockaddr ss = { .family = AF_INET, .port = 5060 };
	size_t w;

	memcpy(req, io_state.last, io_state.last_len + 1);
	w = (size_t)snprintf(msg, sizeof(msg), "SIP/2.0 %s\r\n", status);
	w += copy_hdr(msg + w, sizeof(msg) - w, req, "Via", "");
	w += copy_hdr(msg + w, sizeof(msg) - w, req, "From", "");
	w += copy_hdr(msg + w, sizeof(msg) - w, req, "To", ";tag=ss");
	w += copy_hdr(msg + w, sizeof(msg) - w, req, "Call-ID", "");
	w += copy_hdr(msg + w, sizeof(msg) - w, req, "CSeq", "");
	if (contact_param)
		w += copy_hdr(msg + w, sizeof(msg) - w, req, "Contact",
			      contact_param);
	snprintf(msg + w, sizeof(msg) - w, "%sContent-Length: %zu\r\n\r\n%s",
		 extra, strlen(body), body);
	ss.addr.v4.s_addr = htonl(0xc6336402u); /* 198.51.100.2 */
	io_state.last_len = 0;
	np_proxy_input(px, 2 + pair_of(i), port, &ss, msg, strlen(msg),
		       now_mono);
}

static bool terminal_got(const char *status)
{
	return io_state.last_len && io_state.last_realm < 2 &&
	       !strncmp(io_state.last, status, strlen(status));
}

static void do_register(struct np_proxy *px, size_t i, unsigned cseq)
{
	char m[1024];
	uint16_t port;

	snprintf(m, sizeof(m),
		 "REGISTER sip:example.test SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-r%zu-%u;rport\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:u%zu@example.test>;tag=f%zu\r\n"
		 "To: <sip:u%zu@example.test>\r\n"
		 "Call-ID: reg-%zu@192.168.1.10\r\n"
		 "CSeq: %u REGISTER\r\n"
		 "Contact: <sip:u%zu@192.168.1.10:5060>\r\n"
		 "Expires: 3600\r\n"
		 "Content-Length: 0\r\n\r\n",
		 i, cseq, i, i, i, i, cseq, i);
	from_term(px, i, m);
	port = forwarded(i);
	if (!port)
		fail("REGISTER of terminal %zu not forwarded", i);
	softswitch_reply(px, i, port, "200 OK", ";expires=3600", "", "");
	if (!terminal_got("SIP/2.0 200"))
		fail("terminal %zu: no 200 to its REGISTER", i);
}

static void do_call(struct np_proxy *px, size_t i, size_t tag)
{
	char m[2048], sdp[512];
	uint16_t port;

	snprintf(sdp, sizeof(sdp),
		 "v=0\r\no=u 1 1 IN IP4 192.168.1.10\r\ns=-\r\n"
		 "c=IN IP4 192.168.1.10\r\nt=0 0\r\n"
		 "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
	snprintf(m, sizeof(m),
		 "INVITE sip:far@example.test SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-i%zu;rport\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:u%zu@example.test>;tag=c%zu\r\n"
		 "To: <sip:far@example.test>\r\n"
		 "Call-ID: call-%zu@192.168.1.10\r\n"
		 "CSeq: 1 INVITE\r\n"
		 "Contact: <sip:u%zu@192.168.1.10:5060>\r\n"
		 "Content-Type: application/sdp\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 tag, i, tag, tag, i, strlen(sdp), sdp);
	from_term(px, i, m);
	port = forwarded(i);
	if (!port)
		fail("INVITE of terminal %zu not forwarded", i);
	snprintf(sdp, sizeof(sdp),
		 "v=0\r\no=far 1 1 IN IP4 198.51.100.10\r\ns=-\r\n"
		 "c=IN IP4 198.51.100.10\r\nt=0 0\r\n"
		 "m=audio %u RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
		 (unsigned)(7000 + 2 * (i % 20000)));
	softswitch_reply(px, i, port, "200 OK", NULL,
			 "Contact: <sip:far@198.51.100.10:5060>\r\n"
			 "Content-Type: application/sdp\r\n",
			 sdp);
	if (!terminal_got("SIP/2.0 200"))
		fail("terminal %zu: no 200 to its INVITE", i);
	snprintf(m, sizeof(m),
		 "ACK sip:far@198.51.100.10:5060 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-a%zu;rport\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:u%zu@example.test>;tag=c%zu\r\n"
		 "To: <sip:far@example.test>;tag=ss\r\n"
		 "Call-ID: call-%zu@192.168.1.10\r\n"
		 "CSeq: 1 ACK\r\n"
		 "Content-Length: 0\r\n\r\n",
		 tag, i, tag, tag);
	from_term(px, i, m);
	if (!forwarded(i))
		fail("ACK of terminal %zu not forwarded", i);
}

/* The terminal hangs up call `tag` (BYE, the softswitch's 200). */
static void do_bye(struct np_proxy *px, size_t i, size_t tag)
{
	char m[1024];
	uint16_t port;

	snprintf(m, sizeof(m),
		 "BYE sip:far@198.51.100.10:5060 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-b%zu;rport\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:u%zu@example.test>;tag=c%zu\r\n"
		 "To: <sip:far@example.test>;tag=ss\r\n"
		 "Call-ID: call-%zu@192.168.1.10\r\n"
		 "CSeq: 2 BYE\r\n"
		 "Content-Length: 0\r\n\r\n",
		 tag, i, tag, tag);
	from_term(px, i, m);
	port = forwarded(i);
	if (!port)
		fail("BYE of terminal %zu not forwarded", i);
	softswitch_reply(px, i, port, "200 OK", NULL, "", "");
	if (!terminal_got("SIP/2.0 200"))
		fail("terminal %zu: no 200 to its BYE", i);
}

/* --- restart: the state read into a new proxy ----------------------------- */

struct adopt {
	struct np_proxy *px;
	struct np_term *term;
	size_t terms, calls;
};

static int adopt_term(void *arg, const struct np_term *t,
		      const struct np_sockaddr *access,
		      const struct np_sockaddr *core)
{
	struct adopt *a = arg;

	(void)access, (void)core;
	if (np_proxy_adopt_term(a->px, t, now_mono, &a->term))
		a->term = NULL;
	else
		a->terms++;
	return 0;
}

static int adopt_leg(void *arg, const struct np_call *leg)
{
	struct adopt *a = arg;

	if (a->term && !np_proxy_adopt_call(a->px, a->term, leg))
		a->calls++;
	return 0;
}

/* --- the saves that wrote the whole state in one turn ---------------------- */

/* One save of a registration refresh (whole when j asks it): its time. */
static double refresh_saved(struct np_proxy *px, const char *path,
			    const struct np_state_owner *owner,
			    struct np_journal *j, size_t i, unsigned cseq)
{
	double t;

	do_register(px, i, cseq);
	t = now_s();
	if (np_state_save_changes(px, path, owner, j))
		fail("save failed");
	t = now_s() - t;
	np_core_dirty_clear(&px->core);
	return t;
}

/* The slices of j's compaction in progress: their number, the longest. */
static unsigned int slices_run(struct np_journal *j, double *longest)
{
	unsigned int n = 0;
	double t;

	*longest = 0;
	while (j->writer && n < 1000000) {
		t = now_s();
		np_journal_poll(j);
		t = now_s() - t;
		if (t > *longest)
			*longest = t;
		n++;
	}
	return n;
}

/*
 * After the restart (px adopted path whole): the first save as natproxyd
 * made it before np_journal_resume() (no journal open: the whole state in
 * its call) and as it makes it now (its batch appended); a reload's save
 * as it was (dirty_all: whole) and as it is (rewrite_all: the batch, then
 * the compaction a slice a turn, NP_SNAPSHOT_STEP_MS each).
 */
static void first_saves(struct np_proxy *px, const char *path,
			const struct np_state_owner *owner)
{
	struct np_journal j;
	double resume, resumed, whole, sliced, reload_whole, slice;
	unsigned int slices;
	size_t records;

	np_journal_init(&j);
	j.background = true;
	resume = now_s();
	if (np_journal_resume(&j, path))
		fail("journal not taken up again");
	resume = now_s() - resume;
	records = j.records;
	resumed = refresh_saved(px, path, owner, &j, 1, 5);
	np_journal_close(&j);
	np_journal_init(&j);
	j.background = true;
	whole = refresh_saved(px, path, owner, &j, 2, 5);
	printf("restart, 1st save %.1f ms its batch appended (journal of %zu "
	       "records taken up again in %.1f ms); %.1f ms the whole state "
	       "(none open, as before)\n",
	       resumed * 1e3, records, resume * 1e3, whole * 1e3);
	np_core_changed_all(&px->core);
	reload_whole = refresh_saved(px, path, owner, &j, 3, 5);
	np_core_rewrite_all(&px->core);
	sliced = refresh_saved(px, path, owner, &j, 4, 5);
	slices = slices_run(&j, &slice);
	printf("reload save      %.1f ms whole in its call (as before); now "
	       "%.1f ms in its call, then %u slices of at most %.1f ms\n",
	       reload_whole * 1e3, sliced * 1e3, slices, slice * 1e3);
	np_journal_close(&j);
}

/* --- the run ------------------------------------------------------------- */

static double phase_us(double t0, size_t n)
{
	return n ? (now_s() - t0) / (double)n * 1e6 : 0;
}

int main(int argc, char **argv)
{
	static const struct np_state_visit visit = { .term = adopt_term,
						     .leg = adopt_leg };
	struct np_state_owner owner = { .pin_dir = "/sys/fs/bpf/statescale",
					.map_ids = { 1, 2 } };
	size_t n_terms = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	size_t n_calls = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	size_t n_whole = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000;
	size_t sample = 1000, i, h0, h1, h2, lo = (size_t)-1, hi = 0, sum = 0;
	double t = 0, reg_first = 0, reg_last = 0, call_first = 0, call_last = 0;
	double tick_max = 0;
	double tick_sum = 0, idle_sum = 0, snap, append = 0, restart;
	char path[] = "/tmp/np-statescale-XXXXXX", jpath[64], err[256];
	size_t reads_first = 0, reads_max = 0, reads_sum = 0, appends = 0;
	struct np_config cfg;
	struct np_proxy px, px2;
	struct np_journal j;
	struct adopt a = { 0 };
	struct np_state_report rep;
	int fd;

	if (n_terms > 2 * PER_PAIR || n_calls > n_terms || n_calls > 12000 ||
	    n_terms < 2 * sample || n_calls < 2 * sample || !n_whole ||
	    n_whole > 1000000)
		fail("TERMINALS from %zu to %u, CALLS from %zu to 12000 and "
		     "at most TERMINALS, WHOLE_CALLS from 1 to 1000000",
		     2 * sample, 2 * PER_PAIR, 2 * sample);
	np_log_set_level(NP_LOG_ERROR);
	np_sipmsg_init();
	io_state.keys = calloc(FLOW_SLOTS, sizeof(*io_state.keys));
	io_state.flows = calloc(FLOW_SLOTS, sizeof(*io_state.flows));
	io_state.state = calloc(FLOW_SLOTS, 1);
	if (!io_state.keys || !io_state.flows || !io_state.state)
		fail("out of memory");
	if (np_config_parse("statescale", cfg_text, strlen(cfg_text), &cfg,
			    err, sizeof(err)))
		fail("configuration: %s", err);
	h0 = heap_bytes();
	if (np_proxy_init(&px, &cfg, &io, &io_state))
		fail("np_proxy_init");
	h1 = heap_bytes();

	/* Terminals: the first and the last `sample` registrations timed. */
	for (i = 0; i < n_terms; i++) {
		if (i == 0 || i == n_terms - sample)
			t = now_s();
		do_register(&px, i, 1);
		if (i == sample - 1)
			reg_first = phase_us(t, sample);
		if (i == n_terms - 1)
			reg_last = phase_us(t, sample);
	}
	h2 = heap_bytes();
	if (io_state.sockets != n_terms)
		fail("%zu core sockets for %zu terminals", io_state.sockets,
		     n_terms);
	printf("terminals        %zu registered (2 pairs), %zu core sockets\n",
	       n_terms, io_state.sockets);
	printf("registration     %.1f us (first %zu), %.1f us (last %zu): "
	       "ratio %.2f\n",
	       reg_first, sample, reg_last, sample, reg_last / reg_first);
	printf("memory/terminal  %.0f B of heap (index tables %.1f MB "
	       "allocated at start)\n",
	       (double)(h2 - h1) / (double)n_terms, (double)(h1 - h0) / 1e6);

	/* Calls: half on each pair's first terminals. */
	for (i = 0; i < n_calls; i++) {
		size_t term = (i % 2) * (n_terms / 2) + i / 2;

		if (i == 0 || i == n_calls - sample)
			t = now_s();
		do_call(&px, term, term);
		if (i == sample - 1)
			call_first = phase_us(t, sample);
		if (i == n_calls - 1)
			call_last = phase_us(t, sample);
	}
	if (io_state.n_flows != 4 * n_calls)
		fail("%zu flows for %zu calls", io_state.n_flows, n_calls);
	printf("calls            %zu answered, %zu flows\n", n_calls,
	       io_state.n_flows);
	printf("call set-up      %.1f us (first %zu), %.1f us (last %zu): "
	       "ratio %.2f (INVITE, 200, ACK)\n",
	       call_first, sample, call_last, sample, call_last / call_first);
	printf("memory/call      %.0f B of heap, plus 4 flows in the maps\n",
	       (double)(heap_bytes() - h2) / (double)n_calls);

	/* Whole calls (INVITE, 200, ACK, BYE, 200) of one more terminal, as
	 * the signaling benchmark makes them, each state save included. */
	{
		size_t term = n_terms / 2 - 1, tag;
		double save = 0, t1;
		struct np_journal cj;
		char cpath[] = "/tmp/np-statescale-calls-XXXXXX", cjpath[80];

		fd = mkstemp(cpath);
		if (fd < 0)
			fail("mkstemp: %s", strerror(errno));
		close(fd);
		np_journal_path(cpath, cjpath, sizeof(cjpath));
		np_journal_init(&cj);
		np_core_changed_all(&px.core);
		np_state_save_changes(&px, cpath, &owner, &cj);
		np_core_dirty_clear(&px.core);
		io_state.puts = io_state.gets = io_state.dels = 0;
		io_state.sends = io_state.counter_reads = 0;
		t = now_s();
		for (tag = 0; tag < n_whole; tag++) {
			do_call(&px, term, n_terms + tag);
			t1 = now_s();
			np_state_save_changes(&px, cpath, &owner, &cj);
			np_core_dirty_clear(&px.core);
			save += now_s() - t1;
			do_bye(&px, term, n_terms + tag);
			t1 = now_s();
			np_state_save_changes(&px, cpath, &owner, &cj);
			np_core_dirty_clear(&px.core);
			save += now_s() - t1;
		}
		printf("whole call       %.1f us each (INVITE, 200, ACK, BYE, "
		       "200: %.1f us handling, %.1f us saving, 2 saves), %lu "
		       "compactions\n",
		       phase_us(t, n_whole),
		       phase_us(t, n_whole) - save / n_whole * 1e6,
		       save / n_whole * 1e6, cj.compactions);
		printf("                 per call: %.1f datagrams sent, flow "
		       "writes %.1f, reads %.1f, removals %.1f, counter reads "
		       "%.1f\n",
		       (double)io_state.sends / n_whole,
		       (double)io_state.puts / n_whole,
		       (double)io_state.gets / n_whole,
		       (double)io_state.dels / n_whole,
		       (double)io_state.counter_reads / n_whole);
		np_journal_close(&cj);
		unlink(cpath);
		unlink(cjpath);
	}

	/* Two keepalive intervals of ticks, media moving all along: the
	 * first (each terminal's first keepalive comes an interval after it
	 * registered at the earliest) only warms up; the second is measured. */
	io_state.counter_reads = 0;
	for (i = 0; i < KEEPALIVE_S; i++) {
		size_t reads = io_state.counter_reads;

		now_mono++;
		io_state.last_seen_ns = (uint64_t)now_mono * 1000000000ull;
		np_proxy_tick(&px, now_mono);
		if (i == 0)
			reads_first = io_state.counter_reads - reads;
	}
	for (i = 0; i < KEEPALIVE_S; i++) {
		size_t sent = io_state.options_sent, reads = io_state.counter_reads;

		now_mono++;
		io_state.last_seen_ns = (uint64_t)now_mono * 1000000000ull;
		t = now_s();
		np_proxy_tick(&px, now_mono);
		t = now_s() - t;
		sent = io_state.options_sent - sent;
		reads = io_state.counter_reads - reads;
		lo = sent < lo ? sent : lo;
		hi = sent > hi ? sent : hi;
		sum += sent;
		reads_sum += reads;
		reads_max = reads > reads_max ? reads : reads_max;
		tick_sum += t;
		tick_max = t > tick_max ? t : tick_max;
		/* The same second again: nothing is due, so what it costs is
		 * what the tick spends on terminals it has nothing to do for. */
		t = now_s();
		np_proxy_tick(&px, now_mono);
		idle_sum += now_s() - t;
	}
	printf("keepalives       %zu in %d s: %zu to %zu a second (%.0f even)\n",
	       sum, KEEPALIVE_S, lo, hi, (double)n_terms / KEEPALIVE_S);
	/* Per keepalive sent: flat across sizes when the tick visits only
	 * the terminals due, growing with them when it walks them all. */
	printf("tick             %.2f ms mean, %.2f ms max, %.2f us per "
	       "keepalive sent; counter reads: "
	       "%zu at the first tick after the fill, then %.1f a tick (max "
	       "%zu; media timeout %d s)\n",
	       tick_sum / KEEPALIVE_S * 1e3, tick_max * 1e3,
	       sum ? tick_sum / (double)sum * 1e6 : 0.0, reads_first,
	       (double)reads_sum / KEEPALIVE_S, reads_max, MEDIA_TIMEOUT_S);
	printf("tick, none due   %.3f ms mean (the same second ticked again)\n",
	       idle_sum / KEEPALIVE_S * 1e3);
	if (sum != n_terms || hi > 2 * (n_terms / KEEPALIVE_S))
		fail("keepalives not spread: %zu sent, %zu in one second", sum,
		     hi);

	/* Latch events (one comes with every new stream): each finds its
	 * call by the relay port. */
	{
		const struct np_realm *acc = &px.core.cfg->realms[0];
		struct np_sockaddr src = nat_of(0);
		struct np_flow_key key;
		size_t n = 0;

		np_log_set_level(NP_LOG_WARN); /* the log line not timed */
		t = now_s();
		for (i = 0; i < sample; i++) {
			np_core_key(&key, acc, (uint16_t)(10000 + 2 * (i % 5000)));
			np_core_latched(&px.core, &key, &src, false);
			n++;
		}
		printf("latch event      %.2f us each (%zu events)\n",
		       phase_us(t, n), n);
		np_log_set_level(NP_LOG_ERROR);
	}

	/* The state: a snapshot, then one event per save (a refresh). */
	fd = mkstemp(path);
	if (fd < 0)
		fail("mkstemp: %s", strerror(errno));
	close(fd);
	np_journal_path(path, jpath, sizeof(jpath));
	np_journal_init(&j);
	np_core_changed_all(&px.core);
	t = now_s();
	if (np_state_save_changes(&px, path, &owner, &j))
		fail("snapshot not written");
	snap = now_s() - t;
	np_core_dirty_clear(&px.core);
	for (i = 0; i < sample; i++) {
		unsigned long c0 = j.compactions;

		do_register(&px, (i * 7919) % n_terms, 2);
		t = now_s();
		np_state_save_changes(&px, path, &owner, &j);
		t = now_s() - t;
		np_core_dirty_clear(&px.core);
		if (j.compactions == c0) {
			append += t;
			appends++;
		}
	}
	printf("state save       snapshot %.1f ms (%zu terminals, %zu calls); "
	       "%.1f us per event appended (%zu of %zu saves; the rest "
	       "compacted)\n",
	       snap * 1e3, n_terms, n_calls, appends ? append / appends * 1e6 : 0,
	       appends, sample);
	/* A call event per save (as a re-INVITE's answer makes): its call
	 * record alone, whatever else its terminal holds. */
	{
		struct np_term *ct, **with = calloc(n_calls, sizeof(*with));
		size_t n_with = 0, bytes = 0, before;
		double call_append = 0;
		size_t call_appends = 0;
		struct stat st;

		for (ct = px.core.terms; ct && with && n_with < n_calls;
		     ct = ct->next)
			if (ct->calls)
				with[n_with++] = ct;
		for (i = 0; i < sample && n_with; i++) {
			unsigned long c0 = j.compactions;

			ct = with[(i * 7919) % n_with];
			ct->calls->media_limit ^= 1; /* a change */
			np_call_changed(&px.core, ct, ct->calls);
			before = stat(jpath, &st) ? 0 : (size_t)st.st_size;
			t = now_s();
			np_state_save_changes(&px, path, &owner, &j);
			t = now_s() - t;
			np_core_dirty_clear(&px.core);
			if (j.compactions == c0) {
				call_append += t;
				call_appends++;
				bytes += (stat(jpath, &st) ? 0 :
							    (size_t)st.st_size) -
					 before;
			}
		}
		free(with);
		printf("state save       %.1f us per call event appended (%zu "
		       "bytes; %zu of %zu saves; the rest compacted)\n",
		       call_appends ? call_append / call_appends * 1e6 : 0,
		       call_appends ? bytes / call_appends : 0, call_appends,
		       sample);
	}

	/* Restart: the old proxy forgets (flows stay), a new one adopts. */
	np_proxy_forget(&px);
	io_state.sockets = 0;
	if (np_proxy_init(&px2, &cfg, &io, &io_state))
		fail("np_proxy_init (restart)");
	a.px = &px2;
	t = now_s();
	if (np_state_read_report(path, &visit, &a, &rep))
		fail("state not read");
	restart = now_s() - t;
	printf("restart          %.0f ms: state file and journal read, %zu "
	       "terminals and %zu calls adopted (flows %zu, untouched)\n",
	       restart * 1e3, a.terms, a.calls, io_state.n_flows);
	if (a.terms != n_terms || a.calls != n_calls)
		fail("adopted %zu of %zu terminals, %zu of %zu calls", a.terms,
		     n_terms, a.calls, n_calls);
	np_journal_close(&j);
	first_saves(&px2, path, &owner);
	np_proxy_fini(&px2);
	if (io_state.n_flows)
		fail("%zu flows left after np_proxy_fini", io_state.n_flows);
	unlink(path);
	unlink(jpath);
	np_config_free(&cfg);
	return 0;
}
