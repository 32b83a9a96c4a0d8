// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for ctl/proxy.c, natproxyd's SIP NAT-traversal logic, driven
 * through a fake struct np_core_io. Messages go in as a UA behind a NAT
 * writes them (private addresses in Via, Contact and SDP, arriving from its
 * NAT mapping) and as a Kamailio softswitch answers them (a UAS copies the
 * Via lines, From, To, Call-ID and CSeq of the request it received, RFC 3261
 * 8.2.6.2). The fake records every datagram sent (realm, source port,
 * destination, bytes), every core socket opened and closed, and keeps the
 * XDP flow entries in a small table, so each case asserts on the exact bytes
 * sent (parsed back with libosip2 or searched as text) and on the map
 * contents: registration and authentication, outgoing and incoming calls,
 * CANCEL, failure responses, several m-lines, rtcp-mux, hold, IPv6, two
 * terminals on one Call-ID, malformed input, port exhaustion, keepalives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "natproxy.h"
#include "core/portpool.h"
#include "proxy.h"
#include "reload.h"
#include "sip/osip_arena.h"
#include "sip/sipmsg.h"
#include "tap.h"

#define ACC 0 /* realm indexes in every config below */
#define CORE 1
#define T0 1000 /* the clock at the start of each case */

#define MAX_SENT 64
#define MAX_SOCKS 32
#define MAX_FLOWS 512
#define MSG_MAX 8192

/* --- configurations ------------------------------------------------------- */

#define CFG_V4(acc_media, core_sip)                                            \
	"realms:\n"                                                            \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.1\n"                                           \
	"    sip_port: 5060\n"                                                 \
	"    media_ports: " acc_media "\n"                                     \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: " core_sip "\n"                                        \
	"    sip_port_quarantine: 0\n"                                        \
	"    media_ports: 40000-40099\n"                                       \
	"pairs:\n"                                                             \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    softswitch: 198.51.100.2:5060\n"                                  \
	"keepalive:\n"                                                         \
	"  method: options\n"                                                  \
	"  interval: 20\n"

#define CFG_MAIN CFG_V4("30000-30099", "20000-20009")

#define CFG_V6                                                                 \
	"realms:\n"                                                            \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 2001:db8:1::1\n"                                         \
	"    sip_port: 5060\n"                                                 \
	"    media_ports: 30000-30099\n"                                       \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 2001:db8:2::1\n"                                         \
	"    sip_ports: 20000-20009\n"                                         \
	"    media_ports: 40000-40099\n"                                       \
	"pairs:\n"                                                             \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    softswitch: \"[2001:db8:2::2]:5060\"\n"                           \
	"keepalive:\n"                                                         \
	"  method: options\n"                                                  \
	"  interval: 20\n"

/* --- messages ------------------------------------------------------------- */

/*
 * A request from a terminal, as sipp's terminal scenarios write it:
 * 1 method, 2 Request-URI, 3 user, 4 its own host as written in SIP,
 * 5 branch, 6 Call-ID, 7 CSeq number, 8 To, 9 further header lines,
 * 10 Content-Length, 11 body.
 */
#define TERM_REQUEST                                                           \
	"%1$s %2$s SIP/2.0\r\n"                                                \
	"Via: SIP/2.0/UDP %4$s:5060;branch=%5$s;rport\r\n"                     \
	"Max-Forwards: 70\r\n"                                                 \
	"From: <sip:%3$s@example.test>;tag=%3$s-tag\r\n"                       \
	"To: %8$s\r\n"                                                         \
	"Call-ID: %6$s\r\n"                                                    \
	"CSeq: %7$d %1$s\r\n"                                                  \
	"Contact: <sip:%3$s@%4$s:5060>\r\n"                                    \
	"User-Agent: sipp-terminal\r\n"                                        \
	"%9$s"                                                                 \
	"Content-Length: %10$zu\r\n"                                           \
	"\r\n"                                                                 \
	"%11$s"

/*
 * A request Kamailio relays to a terminal's core address: 1 method,
 * 2 Request-URI, 3 the Via lines (Kamailio's on top, then those it
 * received), 4 From, 5 To, 6 Call-ID, 7 CSeq number, 8 further header
 * lines, 9 Content-Length, 10 body.
 */
#define CORE_REQUEST                                                           \
	"%1$s %2$s SIP/2.0\r\n"                                                \
	"%3$s"                                                                 \
	"Max-Forwards: 69\r\n"                                                 \
	"From: %4$s\r\n"                                                       \
	"To: %5$s\r\n"                                                         \
	"Call-ID: %6$s\r\n"                                                    \
	"CSeq: %7$d %1$s\r\n"                                                  \
	"%8$s"                                                                 \
	"Content-Length: %9$zu\r\n"                                            \
	"\r\n"                                                                 \
	"%10$s"

#define CT_SDP "Content-Type: application/sdp\r\n"
#define KS_SERVER "Server: kamailio-softswitch\r\n"
#define FAR_FROM "<sip:far@example.test>;tag=far-tag"
#define FAR_CONTACT "Contact: <sip:far@198.51.100.10:5060>\r\n"
#define KS_VIA(branch)                                                         \
	"Via: SIP/2.0/UDP 198.51.100.2:5060;branch=" branch "\r\n"
#define FAR_VIA(branch)                                                        \
	"Via: SIP/2.0/UDP 198.51.100.10:5060;branch=" branch ";rport\r\n"

/* sipp's Authorization (auth.cpp), and Kamailio's challenge. */
#define AUTHZ                                                                  \
	"Digest username=\"alice\",realm=\"example.test\",cnonce=\"6b8b4567\","  \
	"nc=00000001,qop=auth,uri=\"sip:example.test\","                       \
	"nonce=\"Zk3m2WZNAAB4oXh1c2VyQGV4YW1wbGUudGVzdA\","                     \
	"response=\"91f1a6b0d3c2f5e4a7b8c9d0e1f2a3b4\",algorithm=MD5"
#define CHALLENGE                                                              \
	"Digest realm=\"example.test\", "                                      \
	"nonce=\"Zk3m2WZNAAB4oXh1c2VyQGV4YW1wbGUudGVzdA\", qop=\"auth\""

/* The offer of the brief: PCMU, PCMA and telephone-event. */
#define SDP_OFFER(ip, port)                                                    \
	"v=0\r\n"                                                              \
	"o=alice 53655765 2353687637 IN IP4 " ip "\r\n"                        \
	"s=-\r\n"                                                              \
	"c=IN IP4 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " port " RTP/AVP 0 8 101\r\n"                                 \
	"a=rtpmap:0 PCMU/8000\r\n"                                             \
	"a=rtpmap:8 PCMA/8000\r\n"                                             \
	"a=rtpmap:101 telephone-event/8000\r\n"                                \
	"a=fmtp:101 0-15\r\n"                                                  \
	"a=ptime:20\r\n"                                                       \
	"a=sendrecv\r\n"

/* The far end's SDP (an answer, or an offer of an incoming call). */
#define SDP_FAR(ip, port)                                                      \
	"v=0\r\n"                                                              \
	"o=far 2890844527 2890844528 IN IP4 " ip "\r\n"                        \
	"s=-\r\n"                                                              \
	"c=IN IP4 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " port " RTP/AVP 0 101\r\n"                                   \
	"a=rtpmap:0 PCMU/8000\r\n"                                             \
	"a=rtpmap:101 telephone-event/8000\r\n"                                \
	"a=fmtp:101 0-15\r\n"                                                  \
	"a=sendrecv\r\n"

/* A terminal's answer to an incoming call. */
#define SDP_TERM_ANSWER(ip, port)                                              \
	"v=0\r\n"                                                              \
	"o=alice 1234 1234 IN IP4 " ip "\r\n"                                  \
	"s=-\r\n"                                                              \
	"c=IN IP4 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " port " RTP/AVP 0\r\n"                                       \
	"a=rtpmap:0 PCMU/8000\r\n"

#define SDP_AV(ip, aport, vport)                                               \
	"v=0\r\n"                                                              \
	"o=alice 1 1 IN IP4 " ip "\r\n"                                        \
	"s=-\r\n"                                                              \
	"c=IN IP4 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " aport " RTP/AVP 0\r\n"                                      \
	"a=rtpmap:0 PCMU/8000\r\n"                                             \
	"m=video " vport " RTP/AVP 96\r\n"                                     \
	"a=rtpmap:96 H264/90000\r\n"

#define SDP_MUX(ip, port)                                                      \
	"v=0\r\n"                                                              \
	"o=alice 1 1 IN IP4 " ip "\r\n"                                        \
	"s=-\r\n"                                                              \
	"c=IN IP4 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " port " RTP/AVP 0\r\n"                                       \
	"a=rtpmap:0 PCMU/8000\r\n"                                             \
	"a=rtcp-mux\r\n"

/* RFC 2543 hold, as older phones still send it. */
#define SDP_HOLD(ip, port)                                                     \
	"v=0\r\n"                                                              \
	"o=alice 53655765 2353687638 IN IP4 " ip "\r\n"                        \
	"s=-\r\n"                                                              \
	"c=IN IP4 0.0.0.0\r\n"                                                 \
	"t=0 0\r\n"                                                            \
	"m=audio " port " RTP/AVP 0\r\n"                                       \
	"a=rtpmap:0 PCMU/8000\r\n"                                             \
	"a=sendonly\r\n"

#define SDP6(who, ip, port)                                                    \
	"v=0\r\n"                                                              \
	"o=" who " 1 1 IN IP6 " ip "\r\n"                                      \
	"s=-\r\n"                                                              \
	"c=IN IP6 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " port " RTP/AVP 0\r\n"                                       \
	"a=rtpmap:0 PCMU/8000\r\n"

/* The terminal's own top Via, as it wrote it. */
#define ALICE_VIA(branch) "SIP/2.0/UDP 192.168.1.10:5060;branch=" branch ";rport"

/* --- the fake io ---------------------------------------------------------- */

struct sent {
	size_t realm;
	uint16_t from_port;
	struct np_sockaddr to;
	char *buf; /* NUL-terminated copy */
	size_t len;
};

struct sock_ev {
	size_t realm;
	uint16_t port;
};

struct flow_slot {
	bool used;
	struct np_flow_key key;
	struct np_flow flow;
};

struct fake {
	struct sent sent[MAX_SENT];
	size_t n_sent;
	bool overflow;
	struct sock_ev opened[MAX_SOCKS], closed[MAX_SOCKS];
	size_t n_opened, n_closed;
	struct flow_slot flows[MAX_FLOWS];
	size_t n_put, n_del;
	char last_record[16384]; /* the last charging record */
	/* Records handed on with a '\0' in them or not ending the line. */
	size_t bad_records;
	size_t n_records;
	uint64_t last_seen_ns; /* what counters_get reports as last activity */
	/* The signaling guard: blocks asked for, the last one; known
	 * mappings told, the last one and whether added. */
	size_t n_blocks, n_known_told;
	struct np_sockaddr block_src, known_src;
	uint8_t block_len;
	uint32_t block_seconds;
	bool known_added;
	size_t n_counter_reads;
};

static void fake_source_block(void *ctx, const struct np_sockaddr *src,
			      uint8_t prefix_len, uint32_t seconds)
{
	struct fake *f = ctx;

	f->n_blocks++;
	f->block_src = *src;
	f->block_len = prefix_len;
	f->block_seconds = seconds;
}

static void fake_source_known(void *ctx, const struct np_sockaddr *nat,
			      bool known)
{
	struct fake *f = ctx;

	f->n_known_told++;
	f->known_src = *nat;
	f->known_added = known;
}

static int fake_sip_open(void *ctx, size_t realm, uint16_t port)
{
	struct fake *f = ctx;

	if (f->n_opened < MAX_SOCKS)
		f->opened[f->n_opened++] = (struct sock_ev){ realm, port };
	return 0;
}

static void fake_sip_close(void *ctx, size_t realm, uint16_t port)
{
	struct fake *f = ctx;

	if (f->n_closed < MAX_SOCKS)
		f->closed[f->n_closed++] = (struct sock_ev){ realm, port };
}

static int fake_send(void *ctx, size_t realm, uint16_t from_port,
		     const struct np_sockaddr *to, const char *buf, size_t len)
{
	struct fake *f = ctx;
	struct sent *s;

	if (f->n_sent == MAX_SENT) {
		f->overflow = true;
		return 0;
	}
	s = &f->sent[f->n_sent];
	s->buf = malloc(len + 1);
	if (!s->buf)
		return -ENOMEM;
	memcpy(s->buf, buf, len);
	s->buf[len] = '\0';
	s->len = len;
	s->realm = realm;
	s->from_port = from_port;
	s->to = *to;
	f->n_sent++;
	return 0;
}

static struct flow_slot *slot_of(struct fake *f, const struct np_flow_key *k)
{
	size_t i;

	for (i = 0; i < MAX_FLOWS; i++)
		if (f->flows[i].used && !memcmp(&f->flows[i].key, k, sizeof(*k)))
			return &f->flows[i];
	return NULL;
}

static int fake_flow_put(void *ctx, const struct np_flow_key *key,
			 const struct np_flow *flow)
{
	struct fake *f = ctx;
	struct flow_slot *s = slot_of(f, key);
	size_t i;

	for (i = 0; !s && i < MAX_FLOWS; i++)
		if (!f->flows[i].used)
			s = &f->flows[i];
	if (!s)
		return -ENOSPC;
	s->used = true;
	s->key = *key;
	s->flow = *flow;
	f->n_put++;
	return 0;
}

static int fake_flow_get(void *ctx, const struct np_flow_key *key,
			 struct np_flow *flow)
{
	struct flow_slot *s = slot_of(ctx, key);

	if (!s)
		return -ENOENT;
	*flow = s->flow;
	return 0;
}

static int fake_flow_del(void *ctx, const struct np_flow_key *key,
			 struct np_counters *last)
{
	struct fake *f = ctx;
	struct flow_slot *s = slot_of(f, key);

	if (last) {
		memset(last, 0, sizeof(*last));
		last->packets = 50;
		last->bytes = 50 * 200;
	}
	if (!s)
		return -ENOENT;
	s->used = false;
	f->n_del++;
	return 0;
}

/* Live counters: what the fake's flows would have counted so far. */
static int fake_counters_get(void *ctx, const struct np_flow_key *key,
			     struct np_counters *now)
{
	struct fake *f = ctx;

	memset(now, 0, sizeof(*now));
	now->last_seen_ns = f->last_seen_ns;
	f->n_counter_reads++;
	return slot_of(f, key) ? 0 : -ENOENT;
}

static void fake_charge(void *ctx, const char *line, size_t len)
{
	struct fake *f = ctx;

	snprintf(f->last_record, sizeof(f->last_record), "%.*s", (int)len,
		 line);
	f->n_records++;
	f->bad_records += !len || memchr(line, '\0', len) || line[len - 1] != '\n';
}

static double fake_wall(void *ctx)
{
	(void)ctx;
	return 1795593600.25; /* 2026-11-25T08:00:00.250Z */
}

static const struct np_core_io fake_ops = {
	.signal_open = fake_sip_open,
	.signal_close = fake_sip_close,
	.send = fake_send,
	.flow_put = fake_flow_put,
	.flow_get = fake_flow_get,
	.flow_del = fake_flow_del,
	.counters_get = fake_counters_get,
	.charge = fake_charge,
	.wall = fake_wall,
	.source_block = fake_source_block,
	.source_known = fake_source_known,
};

static void sent_clear(struct fake *f)
{
	size_t i;

	for (i = 0; i < f->n_sent; i++)
		free(f->sent[i].buf);
	f->n_sent = 0;
}

/* What was sent, keepalives (OPTIONS, due at the terminal's phase of
 * the interval) aside. */
static size_t sent_besides_keepalives(const struct fake *f)
{
	size_t i, n = 0;

	for (i = 0; i < f->n_sent; i++)
		n += strncmp(f->sent[i].buf, "OPTIONS ", 8) != 0;
	return n;
}

static size_t flow_count(const struct fake *f)
{
	size_t i, n = 0;

	for (i = 0; i < MAX_FLOWS; i++)
		n += f->flows[i].used;
	return n;
}

/* --- addresses ------------------------------------------------------------ */

static struct np_sockaddr sa(const char *ip, uint16_t port)
{
	struct np_sockaddr a;

	memset(&a, 0, sizeof(a));
	a.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	inet_pton(a.family, ip, &a.addr);
	a.port = port;
	return a;
}

static bool sa_is(const struct np_sockaddr *a, const char *ip, uint16_t port)
{
	struct np_sockaddr b = sa(ip, port);

	return np_sockaddr_eq(a, &b);
}

static union np_addr naddr(const char *ip)
{
	union np_addr a;

	memset(&a, 0, sizeof(a));
	inet_pton(strchr(ip, ':') ? AF_INET6 : AF_INET, ip, &a);
	return a;
}

static bool naddr_is(const union np_addr *a, const char *ip)
{
	union np_addr b = naddr(ip);

	return !memcmp(a, &b, sizeof(b));
}

static struct np_flow_key fkey(const char *ip, uint16_t port)
{
	struct np_flow_key k;

	memset(&k, 0, sizeof(k));
	k.family = strchr(ip, ':') ? NP_AF_INET6 : NP_AF_INET;
	k.port = htons(port);
	k.addr = naddr(ip);
	return k;
}

static bool key_is(const struct np_flow_key *k, const char *ip, uint16_t port)
{
	struct np_flow_key want = fkey(ip, port);

	return !memcmp(k, &want, sizeof(want));
}

/* --- one proxy under test ------------------------------------------------- */

struct env {
	struct np_config cfg;
	struct fake io;
	struct np_proxy px;
	bool up;
	time_t now;
};

/* A terminal: its user, its host as it writes it in SIP, its NAT mapping. */
struct ua {
	const char *user;
	const char *host;
	struct np_sockaddr nat;
};

static struct ua alice, bob, carol;

static void ua_init(void)
{
	alice = (struct ua){ "alice", "192.168.1.10",
			     sa("203.0.113.11", 40001) };
	/* Another LAN behind another NAT, with the same private address. */
	bob = (struct ua){ "bob", "192.168.1.10", sa("203.0.113.12", 40002) };
	/* IPv6, no NAT: the IP-header source is the address it writes. */
	carol = (struct ua){ "carol", "[2001:db8:1::10]",
			     sa("2001:db8:1::10", 5060) };
}

/* cfg with text inserted after the first line `after` (a realm key). */
static const char *cfg_with(char *buf, const char *cfg, const char *after,
			    const char *text)
{
	const char *at = strstr(cfg, after);
	size_t head = at ? (size_t)(at - cfg) + strlen(after) : strlen(cfg);

	snprintf(buf, 4096, "%.*s%s%s", (int)head, cfg, text, cfg + head);
	return buf;
}

static bool env_init(struct tap *t, struct env *e, const char *yaml,
		     const char *name)
{
	char err[256];
	int ret;

	memset(e, 0, sizeof(*e));
	e->now = T0;
	ret = np_config_parse(name, yaml, strlen(yaml), &e->cfg, err,
			      sizeof(err));
	if (ret)
		tap_diag("%s", err);
	else
		ret = np_proxy_init(&e->px, &e->cfg, &fake_ops, &e->io);
	e->up = !ret;
	tap_check(t, e->up, "%s: config parsed and proxy initialised", name);
	return e->up;
}

static void env_fini(struct tap *t, struct env *e, const char *name)
{
	if (e->up)
		np_proxy_fini(&e->px);
	tap_check(t, flow_count(&e->io) == 0,
		  "%s: no flow left in the map after np_proxy_fini", name);
	tap_check(t, !e->io.overflow, "%s: the fake's send log never overflowed",
		  name);
	sent_clear(&e->io);
	np_config_free(&e->cfg);
}

static void feed(struct env *e, size_t realm, uint16_t port,
		 const struct np_sockaddr *src, const char *buf, size_t len)
{
	np_proxy_input(&e->px, realm, port, src, buf, len, e->now);
}

static void from_term(struct env *e, const struct ua *u, const char *msg)
{
	feed(e, ACC, 5060, &u->nat, msg, strlen(msg));
}

static void from_core(struct env *e, uint16_t port, const char *msg)
{
	struct np_sockaddr ss = sa("198.51.100.2", 5060);

	if (e->cfg.n_pairs && e->cfg.pairs[0].softswitch.family == AF_INET6)
		ss = sa("2001:db8:2::2", 5060);
	feed(e, CORE, port, &ss, msg, strlen(msg));
}

static const char *term_req(char *out, const struct ua *u, const char *method,
			    const char *ruri, const char *branch,
			    const char *call_id, int cseq, const char *to,
			    const char *extra, const char *body)
{
	snprintf(out, MSG_MAX, TERM_REQUEST, method, ruri, u->user, u->host,
		 branch, call_id, cseq, to, extra, strlen(body), body);
	return out;
}

static const char *core_req(char *out, const char *method, const char *ruri,
			    const char *vias, const char *from,
			    const char *to, const char *call_id, int cseq,
			    const char *extra, const char *body)
{
	snprintf(out, MSG_MAX, CORE_REQUEST, method, ruri, vias, from, to,
		 call_id, cseq, extra, strlen(body), body);
	return out;
}

/* --- reading what was sent ------------------------------------------------ */

static const struct sent no_sent = { .buf = "" };

static const struct sent *sent_at(const struct env *e, size_t i)
{
	return i < e->io.n_sent ? &e->io.sent[i] : &no_sent;
}

/* Checks that exactly one datagram went out and returns it. */
static const struct sent *one_sent(struct tap *t, const struct env *e,
				   const char *what)
{
	tap_check(t, e->io.n_sent == 1, "%s: exactly one datagram sent (%zu)",
		  what, e->io.n_sent);
	return sent_at(e, 0);
}

static bool sent_route(const struct sent *s, size_t realm, uint16_t port,
		       const char *ip, uint16_t to_port)
{
	return s->buf[0] && s->realm == realm && s->from_port == port &&
	       sa_is(&s->to, ip, to_port);
}

/* The nth value of header name (case-insensitive) in a message's header. */
static int hdr_value(const char *msg, const char *name, int nth, char *out,
		     size_t size)
{
	const char *line = strstr(msg, "\r\n"), *end, *colon, *v;
	size_t nlen = strlen(name), n;

	while (line && line[2] != '\r' && line[2]) {
		line += 2;
		end = strstr(line, "\r\n");
		if (!end)
			break;
		colon = memchr(line, ':', (size_t)(end - line));
		if (colon) {
			n = (size_t)(colon - line);
			while (n && line[n - 1] == ' ')
				n--;
			if (n == nlen && !strncasecmp(line, name, n) &&
			    !nth--) {
				for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
					;
				n = (size_t)(end - v);
				if (n >= size)
					n = size - 1;
				memcpy(out, v, n);
				out[n] = '\0';
				return 0;
			}
		}
		line = end;
	}
	out[0] = '\0';
	return -1;
}

static bool hdr_is(const struct sent *s, const char *name, int nth,
		   const char *want)
{
	char v[1024];

	return !hdr_value(s->buf, name, nth, v, sizeof(v)) && !strcmp(v, want);
}

/* The same header has the same value in the message that went in. */
static bool hdr_kept(const char *in, const struct sent *s, const char *name)
{
	char a[1024], b[1024];

	return !hdr_value(in, name, 0, a, sizeof(a)) &&
	       !hdr_value(s->buf, name, 0, b, sizeof(b)) && !strcmp(a, b);
}

static const char *body_of(const struct sent *s)
{
	const char *b = strstr(s->buf, "\r\n\r\n");

	return b ? b + 4 : "";
}

static bool body_is(const struct sent *s, const char *want)
{
	return !strcmp(body_of(s), want);
}

/* Content-Length matches the body actually sent. */
static bool clen_ok(const struct sent *s)
{
	char v[32];

	return s->buf[0] && !hdr_value(s->buf, "Content-Length", 0, v, sizeof(v)) &&
	       strtoul(v, NULL, 10) == strlen(body_of(s));
}

static bool first_line_is(const struct sent *s, const char *want)
{
	size_t n = strlen(want);

	return !strncmp(s->buf, want, n) && !strncmp(s->buf + n, "\r\n", 2);
}

struct via_info {
	int count;
	char host[64], port[8], branch[128];
};

/* The ith Via as libosip2 reads the sent bytes. */
static bool via_of(const struct sent *s, int i, struct via_info *vi)
{
	osip_generic_param_t *br = NULL;
	osip_message_t *m;
	osip_via_t *via;
	bool ok = false;

	memset(vi, 0, sizeof(*vi));
	if (!s->buf[0] || np_sipmsg_parse(s->buf, s->len, &m))
		return false;
	vi->count = osip_list_size(&m->vias);
	via = osip_list_get(&m->vias, i);
	if (via) {
		snprintf(vi->host, sizeof(vi->host), "%s",
			 via->host ? via->host : "");
		snprintf(vi->port, sizeof(vi->port), "%s",
			 via->port ? via->port : "");
		osip_via_param_get_byname(via, "branch", &br);
		snprintf(vi->branch, sizeof(vi->branch), "%s",
			 br && br->gvalue ? br->gvalue : "");
		ok = true;
	}
	osip_message_free(m);
	return ok;
}

static bool via_is(const struct sent *s, int i, const char *host,
		   const char *port, const char *branch)
{
	struct via_info vi;

	return via_of(s, i, &vi) && !strcmp(vi.host, host) &&
	       !strcmp(vi.port, port) && !strcmp(vi.branch, branch);
}

static int via_count(const struct sent *s)
{
	struct via_info vi;

	via_of(s, 0, &vi);
	return vi.count;
}

/*
 * A response to a request we saw sent, as its UAS builds it (RFC 3261
 * 8.2.6.2): the Via lines, From, Call-ID and CSeq copied as received, To
 * copied with to_tag added if it has no tag yet, then extra and the body.
 */
static const char *reply(char *out, const char *req, const char *status,
			 const char *to_tag, const char *extra,
			 const char *body)
{
	char vias[4096] = "", v[1024], from[512], to[512], cid[512], cseq[128];
	size_t n = 0;
	int i;

	for (i = 0; !hdr_value(req, "Via", i, v, sizeof(v)); i++)
		n += (size_t)snprintf(vias + n, sizeof(vias) - n,
				      "Via: %s\r\n", v);
	hdr_value(req, "From", 0, from, sizeof(from));
	hdr_value(req, "To", 0, to, sizeof(to));
	hdr_value(req, "Call-ID", 0, cid, sizeof(cid));
	hdr_value(req, "CSeq", 0, cseq, sizeof(cseq));
	if (to_tag && !strstr(to, ";tag="))
		snprintf(to + strlen(to), sizeof(to) - strlen(to), ";tag=%s",
			 to_tag);
	snprintf(out, MSG_MAX,
		 "SIP/2.0 %s\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
		 "CSeq: %s\r\n%sContent-Length: %zu\r\n\r\n%s",
		 status, vias, from, to, cid, cseq, extra, strlen(body), body);
	return out;
}

static char *dup_sent(const struct sent *s)
{
	return strdup(s->buf);
}

/* --- flows ---------------------------------------------------------------- */

static const struct np_flow *flow_at(const struct env *e, const char *ip,
				     uint16_t port)
{
	struct np_flow_key k = fkey(ip, port);
	size_t i;

	for (i = 0; i < MAX_FLOWS; i++)
		if (e->io.flows[i].used &&
		    !memcmp(&e->io.flows[i].key, &k, sizeof(k)))
			return &e->io.flows[i].flow;
	return NULL;
}

/* The flow at ip:port rewrites to src sip:sport and dst dip:dport. */
static bool flow_is(const struct env *e, const char *ip, uint16_t port,
		    const char *sip, uint16_t sport, const char *dip,
		    uint16_t dport)
{
	const struct np_flow *f = flow_at(e, ip, port);

	if (!f)
		return false;
	if (!naddr_is(&f->new_saddr, sip) || ntohs(f->new_sport) != sport)
		return false;
	if (!dip)
		return f->new_dport == 0;
	return naddr_is(&f->new_daddr, dip) && ntohs(f->new_dport) == dport;
}

static uint32_t flow_flags(const struct env *e, const char *ip, uint16_t port)
{
	const struct np_flow *f = flow_at(e, ip, port);

	return f ? f->flags : 0xffffffffu;
}

/* What XDP does on the terminal's first packet to an access relay: the
 * source is latched as the destination of the reverse flow. */
static void xdp_latch(struct env *e, const char *acc_ip, uint16_t acc_port,
		      const char *src_ip, uint16_t src_port)
{
	struct np_flow_key k = fkey(acc_ip, acc_port);
	struct flow_slot *acc = slot_of(&e->io, &k), *rev;

	if (!acc)
		return;
	acc->flow.flags &= ~NP_F_LATCH_PENDING;
	acc->flow.expect_saddr = naddr(src_ip);
	acc->flow.expect_sport = htons(src_port);
	rev = slot_of(&e->io, &acc->flow.reverse);
	if (rev) {
		rev->flow.new_daddr = naddr(src_ip);
		rev->flow.new_dport = htons(src_port);
	}
}

/* A terminal-side flow as `latch: first-packet` (the default) installs
 * it: only the terminal's signaling address may latch. Its RTP flow also
 * makes the RTCP flow (port + 1, without rtcp-mux) follow its latch. */
#define TERM_FLAGS                                                             \
	(NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE | NP_F_HAS_REVERSE |          \
	 NP_F_LATCH_RESTRICTED)
#define TERM_RTP (TERM_FLAGS | NP_F_RTCP_FOLLOWS)
/* The same with `latch: any`: anyone latches first, the signaling
 * address takes over once. */
#define LATCH_ANY                                                              \
	(NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE | NP_F_HAS_REVERSE |          \
	 NP_F_LATCH_TAKEOVER)

/* Flags XDP changes on a flow: clear, then set. */
static void xdp_flags(struct env *e, const char *ip, uint16_t port,
		      uint32_t clear, uint32_t set)
{
	struct np_flow_key k = fkey(ip, port);
	struct flow_slot *f = slot_of(&e->io, &k);

	if (f)
		f->flow.flags = (f->flow.flags & ~clear) | set;
}

/* Registers u with the given lifetime; returns the core port it got. */
static uint16_t do_register(struct env *e, const struct ua *u, int cseq,
			    int expires)
{
	char m[MSG_MAX], r[MSG_MAX], branch[64], cid[64], to[128];
	char contact[512], extra[600];
	const struct sent *s;
	uint16_t port;

	snprintf(branch, sizeof(branch), "z9hG4bK-reg-%s-%d", u->user, cseq);
	snprintf(cid, sizeof(cid), "reg-%s-0001", u->user);
	snprintf(to, sizeof(to), "<sip:%s@example.test>", u->user);
	snprintf(extra, sizeof(extra), "Expires: %d\r\n", expires);
	sent_clear(&e->io);
	term_req(m, u, "REGISTER", "sip:example.test", branch, cid, cseq, to,
		 extra, "");
	from_term(e, u, m);
	s = sent_at(e, 0);
	port = s->realm == CORE ? s->from_port : 0;
	hdr_value(s->buf, "Contact", 0, contact, sizeof(contact));
	snprintf(extra, sizeof(extra), "Contact: %s;expires=%d\r\n" KS_SERVER,
		 contact, expires);
	reply(r, s->buf, "200 OK", "ks-reg", extra, "");
	sent_clear(&e->io);
	from_core(e, port, r);
	sent_clear(&e->io);
	return port;
}

/* --- 1, 2: REGISTER, challenge, 200 OK ------------------------------------ */

static void test_register(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], contact[512], extra[700];
	const struct sent *s;
	struct env e;
	char *req;

	if (!env_init(t, &e, CFG_MAIN, "register"))
		goto out;
	term_req(m, &alice, "REGISTER", "sip:example.test", "z9hG4bK-reg1",
		 "reg-alice-0001", 1, "<sip:alice@example.test>",
		 "Expires: 60\r\n", "");
	from_term(&e, &alice, m);
	tap_check(t, e.io.n_opened == 1 && e.io.opened[0].realm == CORE &&
			     e.io.opened[0].port == 20000,
		  "register: a core socket opened on realm 1 port 20000");
	s = one_sent(t, &e, "register");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060),
		  "register: sent from realm 1 port 20000 to 198.51.100.2:5060");
	tap_check(t, first_line_is(s, "REGISTER sip:example.test SIP/2.0"),
		  "register: Request-URI kept");
	tap_check(t, via_is(s, 0, "198.51.100.1", "20000", "z9hG4bK-reg1"),
		  "register: top Via sent-by 198.51.100.1:20000, the terminal's branch kept");
	tap_check(t, via_count(s) == 1,
		  "register: the private Via is not passed on (%d Vias)",
		  via_count(s));
	tap_check(t, hdr_is(s, "Contact", 0, "<sip:alice@198.51.100.1:20000>"),
		  "register: Contact is sip:alice@198.51.100.1:20000");
	tap_check(t, hdr_kept(m, s, "From") && hdr_kept(m, s, "To") &&
			     hdr_kept(m, s, "Call-ID") &&
			     hdr_kept(m, s, "CSeq") && hdr_kept(m, s, "Expires"),
		  "register: From, To, Call-ID, CSeq, Expires intact");
	tap_check(t, !strstr(s->buf, "192.168.1.10"),
		  "register: no private address leaves toward the core");
	tap_check(t, clen_ok(s), "register: Content-Length 0 kept");

	/* 2: Kamailio challenges; the 401 goes back intact. */
	req = dup_sent(s);
	reply(r, req, "401 Unauthorized", "ks-401",
	      "WWW-Authenticate: " CHALLENGE "\r\n" KS_SERVER, "");
	free(req);
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "401");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001),
		  "401: sent from realm 0 port 5060 to the NAT mapping 203.0.113.11:40001");
	tap_check(t, first_line_is(s, "SIP/2.0 401 Unauthorized"),
		  "401: status line intact");
	tap_check(t, hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-reg1")) &&
			     via_count(s) == 1,
		  "401: the terminal's own Via restored exactly");
	tap_check(t, hdr_is(s, "WWW-Authenticate", 0, CHALLENGE),
		  "401: WWW-Authenticate byte-identical");
	tap_check(t, hdr_kept(r, s, "To") && hdr_kept(r, s, "Call-ID") &&
			     hdr_kept(r, s, "CSeq") && hdr_kept(r, s, "From"),
		  "401: From, To (with tag), Call-ID, CSeq intact");

	/* 1: the REGISTER with credentials, and its 200 OK. */
	term_req(m, &alice, "REGISTER", "sip:example.test", "z9hG4bK-reg2",
		 "reg-alice-0001", 2, "<sip:alice@example.test>",
		 "Expires: 60\r\nAuthorization: " AUTHZ "\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "register with credentials");
	tap_check(t, e.io.n_opened == 1,
		  "register with credentials: the terminal keeps its core socket");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     via_is(s, 0, "198.51.100.1", "20000",
				    "z9hG4bK-reg2"),
		  "register with credentials: from 198.51.100.1:20000, branch kept");
	tap_check(t, hdr_is(s, "Authorization", 0, AUTHZ),
		  "register with credentials: Authorization byte-identical");
	if (!hdr_is(s, "Authorization", 0, AUTHZ)) {
		hdr_value(s->buf, "Authorization", 0, r, sizeof(r));
		tap_diag("sent:   Authorization: %s", r);
		tap_diag("wanted: Authorization: %s", AUTHZ);
	}
	tap_check(t, hdr_is(s, "Contact", 0, "<sip:alice@198.51.100.1:20000>"),
		  "register with credentials: Contact rewritten");

	req = dup_sent(s);
	hdr_value(req, "Contact", 0, contact, sizeof(contact));
	snprintf(extra, sizeof(extra), "Contact: %s;expires=60\r\n" KS_SERVER,
		 contact);
	reply(r, req, "200 OK", "ks-200", extra, "");
	free(req);
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "register 200");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001),
		  "register 200: sent from realm 0 port 5060 to 203.0.113.11:40001");
	tap_check(t, hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-reg2")) &&
			     via_count(s) == 1,
		  "register 200: the terminal's original top Via restored exactly");
	tap_check(t, hdr_kept(r, s, "From") && hdr_kept(r, s, "To") &&
			     hdr_kept(r, s, "Call-ID") && hdr_kept(r, s, "CSeq"),
		  "register 200: From, To, Call-ID, CSeq intact");
	/* Claim 1 C / DESIGN F2: the recorded Contact is restored. */
	tap_check(t, hdr_is(s, "Contact", 0,
			    "<sip:alice@192.168.1.10:5060>;expires=60"),
		  "register 200: Contact mapped back to the terminal's own (claim 1 C, F2)");
	if (!hdr_is(s, "Contact", 0, "<sip:alice@192.168.1.10:5060>;expires=60")) {
		hdr_value(s->buf, "Contact", 0, r, sizeof(r));
		tap_diag("terminal was handed Contact: %s", r);
	}
	tap_check(t, e.px.core.stats.forwarded == 4 && e.px.core.stats.unmatched == 0 &&
			     e.px.core.stats.malformed == 0,
		  "register: stats forwarded 4, unmatched 0, malformed 0");
out:
	env_fini(t, &e, "register");
	tap_check(t, e.io.n_closed == 1 && e.io.closed[0].realm == CORE &&
			     e.io.closed[0].port == 20000,
		  "register: fini closes the core socket");
}

/* --- 3: outgoing call ----------------------------------------------------- */

static void test_outgoing_call(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], *inv = NULL, *req;
	const char *cid = "call1@192.168.1.10";
	const char *to_tagged = "<sip:bob@example.test>;tag=far-tag";
	const struct np_flow *f;
	const struct sent *s;
	struct env e;

	if (!env_init(t, &e, CFG_MAIN, "outgoing"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv1",
		 cid, 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6000"));
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "outgoing INVITE");
	inv = dup_sent(s);
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060),
		  "outgoing INVITE: sent from realm 1 port 20000 to the softswitch");
	tap_check(t, first_line_is(s, "INVITE sip:bob@example.test SIP/2.0"),
		  "outgoing INVITE: Request-URI kept");
	tap_check(t, via_is(s, 0, "198.51.100.1", "20000", "z9hG4bK-inv1") &&
			     via_count(s) == 1,
		  "outgoing INVITE: one Via, 198.51.100.1:20000, branch kept");
	tap_check(t, hdr_is(s, "Contact", 0, "<sip:alice@198.51.100.1:20000>"),
		  "outgoing INVITE: Contact rewritten");
	tap_check(t, body_is(s, SDP_OFFER("198.51.100.1", "40000")),
		  "outgoing INVITE: SDP c=, o= and m=audio 40000 toward the core, rest intact");
	tap_check(t, clen_ok(s), "outgoing INVITE: Content-Length matches the new body");
	tap_check(t, hdr_is(s, "Content-Type", 0, "application/sdp"),
		  "outgoing INVITE: Content-Type kept");
	tap_check(t, flow_count(&e.io) == 4,
		  "outgoing INVITE: four flows (RTP and RTCP, both ways): %zu",
		  flow_count(&e.io));
	tap_check(t, flow_is(&e, "198.51.100.1", 40000, "203.0.113.1", 30000,
			     NULL, 0),
		  "flow 198.51.100.1:40000 (far->terminal): src 203.0.113.1:30000, no dst yet");
	/* The far end latches too: after its first packet no one else on
	 * the core side may send media toward the terminal. */
	tap_check(t, (flow_flags(&e, "198.51.100.1", 40000) &
		      (NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE)) ==
			     (NP_F_LATCH_PENDING | NP_F_STRICT_SOURCE) &&
			     !(flow_flags(&e, "198.51.100.1", 40000) &
			       NP_F_HAS_REVERSE),
		  "flow 198.51.100.1:40000: latches on the far end's first packet, then strict; moves no other flow");
	tap_check(t, flow_is(&e, "203.0.113.1", 30000, "198.51.100.1", 40000,
			     NULL, 0),
		  "flow 203.0.113.1:30000 (terminal->far): src 198.51.100.1:40000, no dst yet");
	tap_check(t, flow_flags(&e, "203.0.113.1", 30000) == TERM_RTP,
		  "flow 203.0.113.1:30000: LATCH_PENDING|LATCH_RESTRICTED|STRICT_SOURCE|HAS_REVERSE|RTCP_FOLLOWS (0x%x)",
		  flow_flags(&e, "203.0.113.1", 30000));
	f = flow_at(&e, "203.0.113.1", 30000);
	tap_check(t, f && naddr_is(&f->expect_saddr, "203.0.113.11") &&
			     !f->expect_sport &&
			     naddr_is(&f->home_saddr, "203.0.113.11"),
		  "flow 203.0.113.1:30000: only the NAT IP 203.0.113.11 (any port) may latch; home_saddr says so too");
	f = flow_at(&e, "203.0.113.1", 30000);
	tap_check(t, f && key_is(&f->reverse, "198.51.100.1", 40000),
		  "flow 203.0.113.1:30000: reverse key 198.51.100.1:40000");
	tap_check(t, flow_is(&e, "198.51.100.1", 40001, "203.0.113.1", 30001,
			     NULL, 0) &&
			     flow_is(&e, "203.0.113.1", 30001, "198.51.100.1",
				     40001, NULL, 0),
		  "RTCP flows 40001 -> src 30001 and 30001 -> src 40001");
	f = flow_at(&e, "203.0.113.1", 30001);
	tap_check(t, f && f->flags == TERM_FLAGS &&
			     naddr_is(&f->expect_saddr, "203.0.113.11") &&
			     key_is(&f->reverse, "198.51.100.1", 40001),
		  "flow 203.0.113.1:30001: latching from 203.0.113.11 only, no RTCP_FOLLOWS, reverse 198.51.100.1:40001");
	tap_check(t, e.px.core.stats.calls_started == 1, "outgoing: one call started");

	/* Timer A retransmits the INVITE: same relays, nothing new. */
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "INVITE retransmission");
	tap_check(t, body_is(s, SDP_OFFER("198.51.100.1", "40000")) &&
			     via_is(s, 0, "198.51.100.1", "20000",
				    "z9hG4bK-inv1") &&
			     flow_count(&e.io) == 4 &&
			     e.px.core.media_ports[ACC].in_use == 2 &&
			     e.px.core.media_ports[CORE].in_use == 2 &&
			     e.px.core.stats.calls_started == 1,
		  "INVITE retransmission: relayed again on the same relays");

	/* 180 Ringing through Kamailio. */
	reply(r, inv, "180 Ringing", "far-tag", FAR_CONTACT, "");
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "outgoing 180");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "SIP/2.0 180 Ringing"),
		  "outgoing 180: to the NAT mapping from realm 0 port 5060");
	tap_check(t, hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-inv1")) &&
			     via_count(s) == 1,
		  "outgoing 180: the terminal's Via restored exactly");

	/* The terminal's first RTCP packet latches before the answer. */
	xdp_latch(&e, "203.0.113.1", 30001, "203.0.113.11", 50001);

	reply(r, inv, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
	      SDP_FAR("198.51.100.10", "7000"));
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "outgoing 200");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-inv1")),
		  "outgoing 200: to the terminal with its Via restored");
	tap_check(t, body_is(s, SDP_FAR("203.0.113.1", "30000")),
		  "outgoing 200: SDP toward the terminal says 203.0.113.1 and 30000");
	tap_check(t, clen_ok(s), "outgoing 200: Content-Length matches");
	tap_check(t, flow_is(&e, "203.0.113.1", 30000, "198.51.100.1", 40000,
			     "198.51.100.10", 7000),
		  "flow 203.0.113.1:30000 now sends to 198.51.100.10:7000");
	tap_check(t, flow_flags(&e, "203.0.113.1", 30000) == TERM_RTP,
		  "flow 203.0.113.1:30000: latch still pending");
	tap_check(t, flow_is(&e, "203.0.113.1", 30001, "198.51.100.1", 40001,
			     "198.51.100.10", 7001),
		  "flow 203.0.113.1:30001 (RTCP) sends to 198.51.100.10:7001");
	f = flow_at(&e, "203.0.113.1", 30001);
	tap_check(t, f && !(f->flags & NP_F_LATCH_PENDING) &&
			     naddr_is(&f->expect_saddr, "203.0.113.11") &&
			     ntohs(f->expect_sport) == 50001,
		  "the answer keeps a latch XDP already made (RTCP)");
	tap_check(t, flow_is(&e, "198.51.100.1", 40001, "203.0.113.1", 30001,
			     "203.0.113.11", 50001),
		  "the answer keeps the latched return address (RTCP)");
	tap_check(t, flow_is(&e, "198.51.100.1", 40000, "203.0.113.1", 30000,
			     NULL, 0),
		  "flow 198.51.100.1:40000 still waits for the latch");

	/* ACK and BYE from the terminal. */
	term_req(m, &alice, "ACK", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-ack1", cid, 1, to_tagged, "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "outgoing ACK");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     first_line_is(s, "ACK sip:far@198.51.100.10:5060 SIP/2.0") &&
			     via_is(s, 0, "198.51.100.1", "20000",
				    "z9hG4bK-ack1"),
		  "outgoing ACK: to the softswitch from 20000, branch kept");
	tap_check(t, flow_count(&e.io) == 4, "outgoing ACK: flows untouched");

	term_req(m, &alice, "BYE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-bye1", cid, 2, to_tagged, "", "");
	sent_clear(&e.io);
	e.io.n_del = 0;
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "outgoing BYE");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     via_is(s, 0, "198.51.100.1", "20000",
				    "z9hG4bK-bye1"),
		  "outgoing BYE: to the softswitch from 20000");
	tap_check(t, flow_count(&e.io) == 0 && e.io.n_del == 4,
		  "outgoing BYE: all four flows deleted (flow_del found %zu)",
		  e.io.n_del);
	tap_check(t, e.px.core.media_ports[ACC].in_use == 0 &&
			     e.px.core.media_ports[CORE].in_use == 0,
		  "outgoing BYE: relay ports returned (in use %u/%u)",
		  e.px.core.media_ports[ACC].in_use, e.px.core.media_ports[CORE].in_use);
	tap_check(t, e.px.core.stats.calls_ended == 1, "outgoing BYE: call ended");
	{
		const struct np_sip_counters *ra = &e.px.sip.ctr[ACC],
					     *rc = &e.px.sip.ctr[CORE];
		struct np_counters tot;

		/* The INVITE came twice (a retransmission), relayed twice. */
		tap_check(t, ra->requests_in[NP_SIP_INVITE] == 2 &&
				     ra->requests_in[NP_SIP_ACK] == 1 &&
				     ra->requests_in[NP_SIP_BYE] == 1 &&
				     rc->requests_out[NP_SIP_INVITE] == 2 &&
				     rc->requests_out[NP_SIP_ACK] == 1 &&
				     rc->requests_out[NP_SIP_BYE] == 1 &&
				     !ra->requests_out[NP_SIP_INVITE] &&
				     !rc->requests_in[NP_SIP_INVITE],
			  "metrics: INVITE, ACK, BYE counted in on access, out on core (%llu %llu %llu, %llu %llu %llu)",
			  (unsigned long long)ra->requests_in[NP_SIP_INVITE],
			  (unsigned long long)ra->requests_in[NP_SIP_ACK],
			  (unsigned long long)ra->requests_in[NP_SIP_BYE],
			  (unsigned long long)rc->requests_out[NP_SIP_INVITE],
			  (unsigned long long)rc->requests_out[NP_SIP_ACK],
			  (unsigned long long)rc->requests_out[NP_SIP_BYE]);
		tap_check(t, rc->responses_in[1] >= 1 &&
				     rc->responses_in[1] == ra->responses_out[1],
			  "metrics: 2xx in on core = 2xx out on access (%llu)",
			  (unsigned long long)rc->responses_in[1]);
		tap_check(t, e.px.core.pair_ctr[0].calls_started == 1 &&
				     e.px.core.pair_ctr[0].calls_ended[NP_END_BYE] == 1,
			  "metrics: the pair's call started and ended by bye");
		/* The fake's flow_del reports 50 packets per flow. */
		np_core_media_totals(&e.px.core, ACC, &tot);
		tap_check(t, tot.packets == 100 && tot.bytes == 20000 &&
				     e.px.core.realm_media[ACC].packets == 100 &&
				     e.px.core.realm_media[CORE].packets == 100,
			  "metrics: the removed flows' counts stay in the totals (%llu)",
			  (unsigned long long)tot.packets);
	}
	req = dup_sent(s);
	reply(r, req, "200 OK", NULL, KS_SERVER, "");
	free(req);
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "outgoing BYE 200");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-bye1")),
		  "outgoing BYE 200: back to the terminal, Via restored");

	/* A new call gets ports again. */
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv1b",
		 "call1b@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6000"));
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "second call");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     strstr(body_of(s), "m=audio 400") &&
			     flow_count(&e.io) == 4 &&
			     e.px.core.media_ports[ACC].in_use == 2 &&
			     e.px.core.media_ports[CORE].in_use == 2,
		  "second call: relay ports allocated again, four flows");
out:
	free(inv);
	env_fini(t, &e, "outgoing");
}

/* --- 4: incoming call, CANCEL --------------------------------------------- */

static void test_incoming_call(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], our[128] = "", *inv = NULL;
	const char *cid = "call2@198.51.100.10";
	const char *to_tagged = "<sip:alice@example.test>;tag=alice-tag";
	struct via_info vi;
	const struct sent *s;
	struct env e;
	char *req;

	if (!env_init(t, &e, CFG_MAIN, "incoming"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	core_req(m, "INVITE", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-inv2") FAR_VIA("z9hG4bK-far-inv2"), FAR_FROM,
		 "<sip:alice@example.test>", cid, 1, FAR_CONTACT CT_SDP,
		 SDP_FAR("198.51.100.10", "7002"));
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "incoming INVITE");
	inv = dup_sent(s);
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001),
		  "incoming INVITE: to 203.0.113.11:40001 from realm 0 port 5060");
	tap_check(t, first_line_is(s, "INVITE sip:alice@192.168.1.10:5060 SIP/2.0"),
		  "incoming INVITE: Request-URI restored to the terminal's Contact");
	via_of(s, 0, &vi);
	snprintf(our, sizeof(our), "%s", vi.branch);
	tap_check(t, !strcmp(vi.host, "203.0.113.1") &&
			     !strcmp(vi.port, "5060") &&
			     !strncmp(vi.branch, "z9hG4bK-np", 10),
		  "incoming INVITE: our Via on top, 203.0.113.1:5060, branch %s",
		  vi.branch);
	tap_check(t, vi.count == 3 &&
			     via_is(s, 1, "198.51.100.2", "5060",
				    "z9hG4bK-ks-inv2"),
		  "incoming INVITE: Kamailio's and the far end's Vias below ours");
	tap_check(t, body_is(s, SDP_FAR("203.0.113.1", "30000")),
		  "incoming INVITE: SDP points at 203.0.113.1:30000");
	tap_check(t, clen_ok(s), "incoming INVITE: Content-Length matches");
	tap_check(t, flow_count(&e.io) == 4 &&
			     flow_is(&e, "203.0.113.1", 30000, "198.51.100.1",
				     40000, "198.51.100.10", 7002) &&
			     flow_is(&e, "198.51.100.1", 40000, "203.0.113.1",
				     30000, NULL, 0),
		  "incoming INVITE: flows toward the far end, terminal side latching");
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "incoming INVITE retransmission");
	tap_check(t, via_is(s, 0, "203.0.113.1", "5060", our) &&
			     body_is(s, SDP_FAR("203.0.113.1", "30000")) &&
			     flow_count(&e.io) == 4 &&
			     e.px.core.media_ports[ACC].in_use == 2,
		  "incoming INVITE retransmission: the same branch of ours, same relays");

	/* The terminal rings, then answers. */
	reply(r, inv, "180 Ringing", "alice-tag",
	      "Contact: <sip:alice@192.168.1.10:5060>\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	s = one_sent(t, &e, "incoming 180");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060),
		  "incoming 180: from realm 1 port 20000 to 198.51.100.2:5060");
	tap_check(t, via_count(s) == 2 &&
			     via_is(s, 0, "198.51.100.2", "5060",
				    "z9hG4bK-ks-inv2"),
		  "incoming 180: our Via popped");
	tap_check(t, hdr_is(s, "Contact", 0, "<sip:alice@198.51.100.1:20000>"),
		  "incoming 180: Contact rewritten to 198.51.100.1:20000");

	reply(r, inv, "200 OK", "alice-tag",
	      "Contact: <sip:alice@192.168.1.10:5060>\r\n" CT_SDP,
	      SDP_TERM_ANSWER("192.168.1.10", "6002"));
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	s = one_sent(t, &e, "incoming 200");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     via_count(s) == 2 &&
			     via_is(s, 0, "198.51.100.2", "5060",
				    "z9hG4bK-ks-inv2"),
		  "incoming 200: our Via popped, sent to the next Via");
	tap_check(t, body_is(s, SDP_TERM_ANSWER("198.51.100.1", "40000")),
		  "incoming 200: SDP rewritten to 198.51.100.1:40000");
	tap_check(t, clen_ok(s), "incoming 200: Content-Length matches");
	tap_check(t, hdr_is(s, "Contact", 0, "<sip:alice@198.51.100.1:20000>"),
		  "incoming 200: Contact rewritten to 198.51.100.1:20000");
	tap_check(t, flow_is(&e, "198.51.100.1", 40000, "203.0.113.1", 30000,
			     NULL, 0) &&
			     flow_flags(&e, "203.0.113.1", 30000) == TERM_RTP,
		  "incoming 200: terminal behind NAT, its side still latching");

	/* Kamailio relays the far end's ACK, then its BYE. */
	core_req(m, "ACK", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-ack2") FAR_VIA("z9hG4bK-far-ack2"),
		 FAR_FROM, to_tagged, cid, 1, "", "");
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "incoming ACK");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "ACK sip:alice@192.168.1.10:5060 SIP/2.0") &&
			     via_count(s) == 3,
		  "incoming ACK: to the terminal, Request-URI restored, our Via on top");

	core_req(m, "BYE", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-bye2") FAR_VIA("z9hG4bK-far-bye2"),
		 FAR_FROM, to_tagged, cid, 2, "", "");
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "incoming BYE");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "BYE sip:alice@192.168.1.10:5060 SIP/2.0"),
		  "incoming BYE: to the terminal, Request-URI restored");
	tap_check(t, flow_count(&e.io) == 0 &&
			     e.px.core.media_ports[ACC].in_use == 0 &&
			     e.px.core.media_ports[CORE].in_use == 0,
		  "incoming BYE: flows removed, ports returned");
	req = dup_sent(s);
	reply(r, req, "200 OK", NULL, "", "");
	free(req);
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	s = one_sent(t, &e, "incoming BYE 200");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     via_is(s, 0, "198.51.100.2", "5060",
				    "z9hG4bK-ks-bye2") && via_count(s) == 2,
		  "incoming BYE 200: to Kamailio, our Via popped");

	/* A ringing call cancelled by Kamailio. */
	free(inv);
	cid = "call3@198.51.100.10";
	core_req(m, "INVITE", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-inv3") FAR_VIA("z9hG4bK-far-inv3"), FAR_FROM,
		 "<sip:alice@example.test>", cid, 1, FAR_CONTACT CT_SDP,
		 SDP_FAR("198.51.100.10", "7004"));
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "cancelled INVITE");
	inv = dup_sent(s);
	via_of(s, 0, &vi);
	snprintf(our, sizeof(our), "%s", vi.branch);
	tap_check(t, flow_count(&e.io) == 4, "cancelled INVITE: four flows");
	reply(r, inv, "180 Ringing", "alice-tag",
	      "Contact: <sip:alice@192.168.1.10:5060>\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	tap_check(t, e.io.n_sent == 1, "cancelled INVITE: 180 relayed");

	/* tm builds the CANCEL with its INVITE's branch and Request-URI. */
	core_req(m, "CANCEL", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-inv3"), FAR_FROM,
		 "<sip:alice@example.test>", cid, 1, "", "");
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "CANCEL");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "CANCEL sip:alice@192.168.1.10:5060 SIP/2.0"),
		  "CANCEL: to the terminal with the INVITE's Request-URI");
	tap_check(t, via_is(s, 0, "203.0.113.1", "5060", our) &&
			     via_count(s) == 2,
		  "CANCEL: the same Via branch of ours as its INVITE (RFC 3261 9.1)");
	tap_check(t, flow_count(&e.io) == 0 &&
			     e.px.core.media_ports[ACC].in_use == 0 &&
			     e.px.core.media_ports[CORE].in_use == 0,
		  "CANCEL: flows removed, ports returned");

	req = dup_sent(s);
	reply(r, req, "200 OK", "alice-tag", "", "");
	free(req);
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	s = one_sent(t, &e, "CANCEL 200");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     via_count(s) == 1 &&
			     via_is(s, 0, "198.51.100.2", "5060",
				    "z9hG4bK-ks-inv3"),
		  "CANCEL 200: to Kamailio");
	reply(r, inv, "487 Request Terminated", "alice-tag", "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	s = one_sent(t, &e, "487");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     first_line_is(s, "SIP/2.0 487 Request Terminated") &&
			     via_count(s) == 2,
		  "487: to Kamailio, our Via popped");
	/* tm's ACK for the 487: hop by hop, the INVITE's branch. */
	core_req(m, "ACK", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-inv3"), FAR_FROM, to_tagged, cid, 1, "",
		 "");
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "ACK for 487");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     via_is(s, 0, "203.0.113.1", "5060", our),
		  "ACK for 487: to the terminal with the INVITE's branch of ours");
	tap_check(t, e.px.core.stats.unmatched == 0, "incoming: nothing unmatched");
out:
	free(inv);
	env_fini(t, &e, "incoming");
}

/* --- 5: a failure response ends the call ---------------------------------- */

static void test_rejected_call(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], *inv = NULL;
	const struct sent *s;
	struct env e;

	if (!env_init(t, &e, CFG_MAIN, "rejected"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv5",
		 "call5@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6000"));
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "rejected INVITE");
	inv = dup_sent(s);
	tap_check(t, flow_count(&e.io) == 4, "rejected INVITE: four flows");
	reply(r, inv, "486 Busy Here", "far-tag", KS_SERVER, "");
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "486");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "SIP/2.0 486 Busy Here") &&
			     hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-inv5")),
		  "486: to the terminal, Via restored");
	tap_check(t, flow_count(&e.io) == 0, "486: flows removed");
	tap_check(t, e.px.core.media_ports[ACC].in_use == 0 &&
			     e.px.core.media_ports[CORE].in_use == 0,
		  "486: relay ports freed");
	tap_check(t, e.px.core.stats.calls_ended == 1, "486: call counted as ended");
	/* The ACK for a non-2xx final response reuses the INVITE's branch. */
	term_req(m, &alice, "ACK", "sip:bob@example.test", "z9hG4bK-inv5",
		 "call5@192.168.1.10", 1, "<sip:bob@example.test>;tag=far-tag",
		 "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "ACK for 486");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     via_is(s, 0, "198.51.100.1", "20000",
				    "z9hG4bK-inv5"),
		  "ACK for 486: to the softswitch, the INVITE's branch");
out:
	free(inv);
	env_fini(t, &e, "rejected");
}

/* --- 6: several m-lines, rejected streams, rtcp-mux, hold, IPv6 ---------- */

static void test_two_mlines(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], *inv = NULL;
	const struct sent *s;
	struct env e;

	if (!env_init(t, &e, CFG_MAIN, "audio+video"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv6",
		 "call6@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_AV("192.168.1.10", "6000", "6002"));
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "audio+video offer");
	inv = dup_sent(s);
	tap_check(t, body_is(s, SDP_AV("198.51.100.1", "40000", "40002")),
		  "audio+video offer: m=audio 40000, m=video 40002 toward the core");
	tap_check(t, clen_ok(s), "audio+video offer: Content-Length matches");
	tap_check(t, flow_count(&e.io) == 8 &&
			     flow_is(&e, "203.0.113.1", 30002, "198.51.100.1",
				     40002, NULL, 0) &&
			     flow_is(&e, "198.51.100.1", 40003, "203.0.113.1",
				     30003, NULL, 0),
		  "audio+video offer: eight flows, video on 30002/40002");
	/* The far end declines the video. */
	reply(r, inv, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
	      SDP_AV("198.51.100.10", "7000", "0"));
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "video declined");
	tap_check(t, body_is(s, SDP_AV("203.0.113.1", "30000", "0")),
		  "video declined: m=video 0 stays 0 toward the terminal");
	tap_check(t, clen_ok(s), "video declined: Content-Length matches");
	tap_check(t, flow_count(&e.io) == 4 &&
			     !flow_at(&e, "203.0.113.1", 30002) &&
			     !flow_at(&e, "198.51.100.1", 40002) &&
			     !flow_at(&e, "203.0.113.1", 30003) &&
			     !flow_at(&e, "198.51.100.1", 40003),
		  "video declined: its flows removed, audio's kept");
	tap_check(t, e.px.core.media_ports[ACC].in_use == 2 &&
			     e.px.core.media_ports[CORE].in_use == 2,
		  "video declined: its ports returned");
	tap_check(t, flow_is(&e, "203.0.113.1", 30000, "198.51.100.1", 40000,
			     "198.51.100.10", 7000),
		  "video declined: audio flows to 198.51.100.10:7000");

	/* An offer with a stream already refused. */
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv6b",
		 "call6b@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_AV("192.168.1.10", "6004", "0"));
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "offer with m=video 0");
	tap_check(t, strstr(body_of(s), "m=video 0 RTP/AVP 96\r\n") &&
			     strstr(body_of(s), "c=IN IP4 198.51.100.1\r\n"),
		  "offer with m=video 0: port 0 stays 0 toward the core");
	tap_check(t, flow_count(&e.io) == 8 &&
			     e.px.core.media_ports[ACC].in_use == 4 &&
			     e.px.core.media_ports[CORE].in_use == 4,
		  "offer with m=video 0: flows and ports for the audio only");
out:
	free(inv);
	env_fini(t, &e, "audio+video");
}

static void test_rtcp_mux_and_hold(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], *inv = NULL, *req;
	const char *cid = "call6m@192.168.1.10";
	const struct sent *s;
	struct env e;

	if (!env_init(t, &e, CFG_MAIN, "rtcp-mux"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv6m",
		 cid, 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_MUX("192.168.1.10", "6000"));
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "rtcp-mux offer");
	inv = dup_sent(s);
	tap_check(t, body_is(s, SDP_MUX("198.51.100.1", "40000")),
		  "rtcp-mux offer: SDP rewritten, a=rtcp-mux kept");
	tap_check(t, flow_count(&e.io) == 2 &&
			     !flow_at(&e, "203.0.113.1", 30001) &&
			     !flow_at(&e, "198.51.100.1", 40001),
		  "rtcp-mux offer: one flow per direction, no RTCP flows (%zu)",
		  flow_count(&e.io));
	tap_check(t, (flow_flags(&e, "203.0.113.1", 30000) & NP_F_RTCP_MUX) &&
			     (flow_flags(&e, "198.51.100.1", 40000) &
			      NP_F_RTCP_MUX),
		  "rtcp-mux offer: NP_F_RTCP_MUX on both flows");
	reply(r, inv, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
	      SDP_MUX("198.51.100.10", "7000"));
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "rtcp-mux answer");
	tap_check(t, body_is(s, SDP_MUX("203.0.113.1", "30000")),
		  "rtcp-mux answer: SDP toward the terminal");
	tap_check(t, flow_count(&e.io) == 2 &&
			     flow_flags(&e, "203.0.113.1", 30000) ==
				     (TERM_FLAGS | NP_F_RTCP_MUX) &&
			     flow_is(&e, "203.0.113.1", 30000, "198.51.100.1",
				     40000, "198.51.100.10", 7000),
		  "rtcp-mux answer: one flow pair, muxed, to 198.51.100.10:7000");

	/* RFC 2543 hold from the terminal in a re-INVITE. */
	term_req(m, &alice, "ACK", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-ack6m", cid, 1, "<sip:bob@example.test>;tag=far-tag",
		 "", "");
	from_term(&e, &alice, m);
	term_req(m, &alice, "INVITE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-hold6", cid, 2, "<sip:bob@example.test>;tag=far-tag",
		 CT_SDP, SDP_HOLD("192.168.1.10", "6000"));
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "hold");
	tap_check(t, body_is(s, SDP_HOLD("198.51.100.1", "40000")),
		  "hold: c=0.0.0.0 stays 0.0.0.0, o= and m= rewritten, same relay");
	tap_check(t, clen_ok(s), "hold: Content-Length matches");
	tap_check(t, e.px.core.media_ports[ACC].in_use == 2 &&
			     e.px.core.media_ports[CORE].in_use == 2,
		  "hold: no new relay ports");
	/* Flows follow an offer only once it is answered (RFC 3264): the
	 * re-offer alone leaves the running media as it was. */
	tap_check(t, flow_count(&e.io) == 2 &&
			     (flow_flags(&e, "203.0.113.1", 30000) &
			      NP_F_RTCP_MUX),
		  "hold offer: flows unchanged until the answer");
	req = dup_sent(s);
	reply(r, req, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
	      SDP_FAR("198.51.100.10", "7000"));
	free(req);
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "hold answer");
	/* The re-offer dropped a=rtcp-mux: RTCP is back on RTP + 1. */
	tap_check(t, flow_count(&e.io) == 4 &&
			     flow_is(&e, "203.0.113.1", 30001, "198.51.100.1",
				     40001, "198.51.100.10", 7001) &&
			     !(flow_flags(&e, "203.0.113.1", 30000) &
			       NP_F_RTCP_MUX),
		  "hold without a=rtcp-mux: RTCP flows on 30001/40001, mux off");
out:
	free(inv);
	env_fini(t, &e, "rtcp-mux");
}

static void test_ipv6(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], contact[512], *req;
	const struct np_flow *f;
	const struct sent *s;
	struct env e;

	if (!env_init(t, &e, CFG_V6, "ipv6"))
		goto out;
	term_req(m, &carol, "REGISTER", "sip:example.test", "z9hG4bK-reg6",
		 "reg-carol-0001", 1, "<sip:carol@example.test>",
		 "Expires: 3600\r\n", "");
	from_term(&e, &carol, m);
	s = one_sent(t, &e, "ipv6 register");
	tap_check(t, sent_route(s, CORE, 20000, "2001:db8:2::2", 5060),
		  "ipv6 register: from realm 1 port 20000 to [2001:db8:2::2]:5060");
	tap_check(t, hdr_is(s, "Via", 0,
			    "SIP/2.0/UDP [2001:db8:2::1]:20000;branch=z9hG4bK-reg6;rport"),
		  "ipv6 register: top Via [2001:db8:2::1]:20000");
	tap_check(t, hdr_is(s, "Contact", 0, "<sip:carol@[2001:db8:2::1]:20000>"),
		  "ipv6 register: Contact <sip:carol@[2001:db8:2::1]:20000>");
	if (!hdr_is(s, "Contact", 0, "<sip:carol@[2001:db8:2::1]:20000>")) {
		hdr_value(s->buf, "Contact", 0, contact, sizeof(contact));
		tap_diag("sent Contact: %s", contact);
	}
	/* What a registrar stores for a well-formed binding. */
	req = dup_sent(s);
	reply(r, req, "200 OK", "ks-reg",
	      "Contact: <sip:carol@[2001:db8:2::1]:20000>;expires=3600\r\n", "");
	free(req);
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "ipv6 register 200");
	tap_check(t, sent_route(s, ACC, 5060, "2001:db8:1::10", 5060) &&
			     hdr_is(s, "Via", 0,
				    "SIP/2.0/UDP [2001:db8:1::10]:5060;branch=z9hG4bK-reg6;rport"),
		  "ipv6 register 200: to [2001:db8:1::10]:5060, Via restored");

	term_req(m, &carol, "INVITE", "sip:far@example.test", "z9hG4bK-inv6v",
		 "call6v@2001:db8:1::10", 1, "<sip:far@example.test>", CT_SDP,
		 SDP6("carol", "2001:db8:1::10", "6000"));
	sent_clear(&e.io);
	from_term(&e, &carol, m);
	s = one_sent(t, &e, "ipv6 INVITE");
	req = dup_sent(s);
	tap_check(t, body_is(s, SDP6("carol", "2001:db8:2::1", "40000")),
		  "ipv6 INVITE: SDP c=IN IP6 2001:db8:2::1, m=audio 40000");
	tap_check(t, flow_count(&e.io) == 4, "ipv6 INVITE: four flows");
	f = flow_at(&e, "2001:db8:1::1", 30000);
	tap_check(t, f && f->flags == TERM_RTP &&
			     key_is(&f->reverse, "2001:db8:2::1", 40000) &&
			     flow_is(&e, "2001:db8:1::1", 30000,
				     "2001:db8:2::1", 40000, NULL, 0),
		  "ipv6 INVITE: access flow keyed by [2001:db8:1::1]:30000, v6 reverse key");
	/* No NAT: the SDP address is where the terminal's media comes from. */
	tap_check(t, flow_is(&e, "2001:db8:2::1", 40000, "2001:db8:1::1", 30000,
			     "2001:db8:1::10", 6000),
		  "ipv6 INVITE: no NAT, far->terminal goes to [2001:db8:1::10]:6000");
	reply(r, req, "200 OK", "far-tag",
	      "Contact: <sip:far@[2001:db8:2::10]:5060>\r\n" CT_SDP,
	      SDP6("far", "2001:db8:2::10", "7000"));
	free(req);
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "ipv6 200");
	tap_check(t, body_is(s, SDP6("far", "2001:db8:1::1", "30000")),
		  "ipv6 200: SDP c=IN IP6 2001:db8:1::1, m=audio 30000");
	tap_check(t, flow_is(&e, "2001:db8:1::1", 30000, "2001:db8:2::1", 40000,
			     "2001:db8:2::10", 7000) &&
			     flow_is(&e, "2001:db8:1::1", 30001,
				     "2001:db8:2::1", 40001, "2001:db8:2::10",
				     7001),
		  "ipv6 200: terminal->far flows to [2001:db8:2::10]:7000/7001");

	/* An incoming call to carol's core address. */
	core_req(m, "INVITE", "sip:carol@[2001:db8:2::1]:20000",
		 "Via: SIP/2.0/UDP [2001:db8:2::2]:5060;branch=z9hG4bK-ks-inv6i\r\n",
		 FAR_FROM, "<sip:carol@example.test>", "call6i@2001:db8:2::10", 1,
		 CT_SDP, SDP6("far", "2001:db8:2::10", "7002"));
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "ipv6 incoming INVITE");
	tap_check(t, sent_route(s, ACC, 5060, "2001:db8:1::10", 5060) &&
			     first_line_is(s, "INVITE sip:carol@[2001:db8:1::10]:5060 SIP/2.0"),
		  "ipv6 incoming INVITE: Request-URI restored to carol's Contact");
	hdr_value(s->buf, "Via", 0, contact, sizeof(contact));
	tap_check(t, !strncmp(contact,
			      "SIP/2.0/UDP [2001:db8:1::1]:5060;branch=z9hG4bK-np",
			      50) && via_count(s) == 2,
		  "ipv6 incoming INVITE: our Via [2001:db8:1::1]:5060 on top");
	tap_check(t, body_is(s, SDP6("far", "2001:db8:1::1", "30002")),
		  "ipv6 incoming INVITE: SDP points at [2001:db8:1::1]:30002");
out:
	env_fini(t, &e, "ipv6");
}

/* --- 7: two terminals, one Call-ID ---------------------------------------- */

static void test_two_terminals(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], v[1024], vias[1200], contact[512];
	char extra[1200], *inv_a = NULL, *inv_b = NULL, *ok_b = NULL;
	const char *cid = "shared@192.168.1.10";
	const struct sent *s;
	uint16_t pa, pb;
	struct env e;

	if (!env_init(t, &e, CFG_MAIN, "two terminals"))
		goto out;
	pa = do_register(&e, &alice, 1, 3600);
	pb = do_register(&e, &bob, 1, 3600);
	tap_check(t, pa == 20000 && pb == 20001 && e.io.n_opened == 2,
		  "two terminals: distinct core ports %u and %u", pa, pb);

	/* alice calls bob: the first leg. */
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv7",
		 cid, 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6000"));
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "leg A INVITE");
	inv_a = dup_sent(s);
	tap_check(t, body_is(s, SDP_OFFER("198.51.100.1", "40000")),
		  "leg A INVITE: relays 30000/40000");

	/* Kamailio relays it to bob's core address, same Call-ID. */
	hdr_value(inv_a, "Via", 0, v, sizeof(v));
	snprintf(vias, sizeof(vias), KS_VIA("z9hG4bK-ks-inv7") "Via: %s\r\n",
		 v);
	hdr_value(inv_a, "Contact", 0, contact, sizeof(contact));
	snprintf(extra, sizeof(extra), "Contact: %s\r\n" CT_SDP, contact);
	core_req(m, "INVITE", "sip:bob@198.51.100.1:20001", vias,
		 "<sip:alice@example.test>;tag=alice-tag",
		 "<sip:bob@example.test>", cid, 1, extra, body_of(s));
	sent_clear(&e.io);
	from_core(&e, pb, m);
	s = one_sent(t, &e, "leg B INVITE");
	inv_b = dup_sent(s);
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.12", 40002),
		  "leg B INVITE: to bob's NAT mapping");
	tap_check(t, body_is(s, SDP_OFFER("203.0.113.1", "30002")),
		  "leg B INVITE: its own relays, 203.0.113.1:30002");
	tap_check(t, flow_count(&e.io) == 8 &&
			     flow_is(&e, "203.0.113.1", 30002, "198.51.100.1",
				     40002, "198.51.100.1", 40000),
		  "leg B: eight flows, bob's access relay sends to leg A's core relay");

	/* bob answers; Kamailio relays the 200 to alice's leg. */
	reply(r, inv_b, "200 OK", "bob-tag",
	      "Contact: <sip:bob@192.168.1.10:5060>\r\n" CT_SDP,
	      SDP_TERM_ANSWER("192.168.1.10", "6000"));
	sent_clear(&e.io);
	from_term(&e, &bob, r);
	s = one_sent(t, &e, "leg B 200");
	ok_b = dup_sent(s);
	tap_check(t, sent_route(s, CORE, 20001, "198.51.100.2", 5060) &&
			     body_is(s, SDP_TERM_ANSWER("198.51.100.1", "40002")),
		  "leg B 200: from 20001, SDP at 198.51.100.1:40002");
	hdr_value(ok_b, "Contact", 0, contact, sizeof(contact));
	snprintf(extra, sizeof(extra), "Contact: %s\r\n" CT_SDP, contact);
	reply(r, inv_a, "200 OK", "bob-tag", extra, body_of(s));
	sent_clear(&e.io);
	from_core(&e, pa, r);
	s = one_sent(t, &e, "leg A 200");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     body_is(s, SDP_TERM_ANSWER("203.0.113.1", "30000")),
		  "leg A 200: to alice, SDP at 203.0.113.1:30000");
	tap_check(t, flow_is(&e, "203.0.113.1", 30000, "198.51.100.1", 40000,
			     "198.51.100.1", 40002) &&
			     flow_is(&e, "203.0.113.1", 30002, "198.51.100.1",
				     40002, "198.51.100.1", 40000),
		  "both legs: each access relay sends to the other leg's core relay");
	tap_check(t, (flow_flags(&e, "203.0.113.1", 30000) & NP_F_HAIRPIN) &&
			     (flow_flags(&e, "203.0.113.1", 30002) &
			      NP_F_HAIRPIN) &&
			     !(flow_flags(&e, "198.51.100.1", 40000) &
			       NP_F_HAIRPIN) &&
			     !(flow_flags(&e, "198.51.100.1", 40002) &
			       NP_F_HAIRPIN),
		  "both legs: the access flows, which send to our own core relays, carry NP_F_HAIRPIN; the core flows do not");

	/* alice hangs up: only her leg goes. */
	term_req(m, &alice, "BYE", "sip:bob@198.51.100.1:20001",
		 "z9hG4bK-bye7", cid, 2, "<sip:bob@example.test>;tag=bob-tag",
		 "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "leg A BYE");
	tap_check(t, flow_count(&e.io) == 4 &&
			     !flow_at(&e, "203.0.113.1", 30000) &&
			     !flow_at(&e, "198.51.100.1", 40000) &&
			     flow_at(&e, "203.0.113.1", 30002) &&
			     flow_at(&e, "203.0.113.1", 30003) &&
			     flow_at(&e, "198.51.100.1", 40002) &&
			     flow_at(&e, "198.51.100.1", 40003),
		  "leg A BYE: leg A's flows gone, leg B's four still there (DESIGN trap)");
	hdr_value(s->buf, "Via", 0, v, sizeof(v));
	snprintf(vias, sizeof(vias), KS_VIA("z9hG4bK-ks-bye7") "Via: %s\r\n",
		 v);
	core_req(m, "BYE", "sip:bob@198.51.100.1:20001", vias,
		 "<sip:alice@example.test>;tag=alice-tag",
		 "<sip:bob@example.test>;tag=bob-tag", cid, 2, "", "");
	sent_clear(&e.io);
	from_core(&e, pb, m);
	s = one_sent(t, &e, "leg B BYE");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.12", 40002) &&
			     flow_count(&e.io) == 0,
		  "leg B BYE: to bob, leg B's flows gone too");
	tap_check(t, e.px.core.stats.calls_started == 2 &&
			     e.px.core.stats.calls_ended == 2,
		  "two terminals: two legs started and ended");
out:
	free(inv_a);
	free(inv_b);
	free(ok_b);
	env_fini(t, &e, "two terminals");
}

/* --- 8: malformed input ---------------------------------------------------- */

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* Feeds 400 mutations of seed (bytes overwritten, sometimes truncated)
 * from the terminal or from the softswitch. */
static void fuzz(struct env *e, const char *seed, bool core)
{
	struct np_sockaddr ss = sa("198.51.100.2", 5060);
	size_t len = strlen(seed), n;
	char buf[MSG_MAX];
	int i, k;

	for (i = 0; i < 400; i++) {
		memcpy(buf, seed, len);
		n = len;
		for (k = (int)(rnd() % 6); k >= 0; k--)
			buf[rnd() % len] = (char)(rnd() & 0xff);
		if (!(rnd() % 4))
			n = rnd() % len;
		if (core)
			feed(e, CORE, 20000, &ss, buf, n);
		else
			feed(e, ACC, 5060, &alice.nat, buf, n);
		sent_clear(&e->io);
	}
}

static void test_malformed(struct tap *t)
{
	static const char tls[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"
				  "\x00\xff\x00garbage";
	static const char stray_core[] =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP 198.51.100.1:20000;branch=z9hG4bK-nosuch;rport\r\n"
		"From: <sip:alice@example.test>;tag=alice-tag\r\n"
		"To: <sip:bob@example.test>;tag=far-tag\r\n"
		"Call-ID: nosuch@192.168.1.10\r\n"
		"CSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n"
		"\r\n";
	static const char stray_term[] =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-np9999;rport\r\n"
		"Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bK-ks-nosuch\r\n"
		"From: <sip:far@example.test>;tag=far-tag\r\n"
		"To: <sip:alice@example.test>;tag=alice-tag\r\n"
		"Call-ID: nosuch@198.51.100.10\r\n"
		"CSeq: 1 INVITE\r\n"
		"Content-Length: 0\r\n"
		"\r\n";
	struct np_sockaddr stranger = sa("203.0.113.99", 5060);
	char m[MSG_MAX], inv[MSG_MAX], r[MSG_MAX], *req;
	const struct sent *s;
	struct env e;
	size_t len;

	if (!env_init(t, &e, CFG_MAIN, "malformed"))
		goto out;
	feed(&e, ACC, 5060, &stranger, tls, sizeof(tls) - 1);
	feed(&e, ACC, 5060, &stranger, "hello world\r\n\r\n", 15);
	tap_check(t, e.io.n_sent == 0 && e.io.n_opened == 0 &&
			     e.px.core.stats.malformed == 2,
		  "garbage: dropped, no terminal created, malformed 2");

	term_req(inv, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv8",
		 "call8@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6000"));
	len = strlen(inv);
	feed(&e, ACC, 5060, &alice.nat, inv, len / 3);
	feed(&e, ACC, 5060, &alice.nat, inv, len - 20);
	tap_check(t, e.io.n_sent == 0 && flow_count(&e.io) == 0 &&
			     e.px.core.stats.malformed == 4,
		  "truncated INVITE (in the headers, in the body): dropped, malformed 4");

	term_req(m, &alice, "OPTIONS", "sip:bob@example.test", "z9hG4bK-opt8",
		 "call8v@192.168.1.10", 1, "<sip:bob@example.test>", "", "");
	memcpy(strstr(m, "Via:"), "XXX:", 4);
	from_term(&e, &alice, m);
	tap_check(t, e.io.n_sent == 0 && e.px.core.stats.malformed == 5,
		  "request without Via: dropped, malformed 5");

	feed(&e, ACC, 5060, &alice.nat, "\r\n\r\n", 4);
	feed(&e, ACC, 5060, &alice.nat, "\r\n", 2);
	tap_check(t, e.io.n_sent == 0 && e.px.core.stats.malformed == 5,
		  "CRLF keepalives: no output, not malformed");

	/* A branch too long to keep could never match its responses. */
	{
		char branch[NP_BRANCH_MAX + 8];

		memset(branch, 'b', sizeof(branch) - 1);
		memcpy(branch, "z9hG4bK", 7);
		branch[sizeof(branch) - 1] = '\0';
		term_req(m, &alice, "OPTIONS", "sip:bob@example.test", branch,
			 "call8b@192.168.1.10", 1, "<sip:bob@example.test>",
			 "", "");
		from_term(&e, &alice, m);
		s = e.io.n_sent == 1 ? &e.io.sent[0] : NULL;
		tap_check(t, s && s->realm == ACC &&
				     !strncmp(s->buf, "SIP/2.0 400 ", 12) &&
				     sa_is(&s->to, "203.0.113.11", 40001) &&
				     e.px.core.stats.malformed == 6,
			  "Via branch of %d characters: 400 to the terminal, "
			  "nothing forwarded, malformed 6",
			  (int)strlen(branch));
		sent_clear(&e.io);
	}

	/* Malformed SDP: natproxy cannot rewrite it, so it is never
	 * forwarded: 488 to the terminal (docs/sip.md, failing closed). */
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv8s",
		 "call8s@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 "v=0\r\no=broken\r\nc=IN IP4\r\nm=audio six RTP/AVP 0\r\n");
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "bad SDP");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "SIP/2.0 488 Not Acceptable Here"),
		  "bad SDP: 488 Not Acceptable Here to the terminal's NAT mapping");
	tap_check(t, hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-inv8s")) &&
			     via_count(s) == 1,
		  "bad SDP: the 400 carries the terminal's own Via (RFC 3261 8.2.6.2, 18.1.2)");
	if (!hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-inv8s"))) {
		hdr_value(s->buf, "Via", 0, r, sizeof(r));
		tap_diag("400 Via: %s", r);
	}
	tap_check(t, hdr_kept(m, s, "Call-ID") && hdr_kept(m, s, "CSeq") &&
			     clen_ok(s) && !strcmp(body_of(s), ""),
		  "bad SDP: Call-ID, CSeq kept, empty body");
	tap_check(t, flow_count(&e.io) == 0 &&
			     e.px.core.media_ports[ACC].in_use == 0 &&
			     e.px.core.media_ports[CORE].in_use == 0 &&
			     e.px.core.stats.answered_400 == 1 &&
			     e.px.sip.ctr[ACC].rejected[NP_REJECT_488] == 1,
		  "bad SDP: no flows, no port leaked, one 488 (and the long branch's 400)");
	tap_check(t, e.px.core.terms && !e.px.core.terms->calls,
		  "bad SDP: no call leg left behind");

	/* Responses nobody asked for, and a port nobody owns. */
	sent_clear(&e.io);
	from_core(&e, 20000, stray_core);
	tap_check(t, e.io.n_sent == 0 && e.px.core.stats.unmatched == 1,
		  "response with an unknown branch from the core: dropped, unmatched 1");
	from_term(&e, &alice, stray_term);
	tap_check(t, e.io.n_sent == 0 && e.px.core.stats.unmatched == 2,
		  "response with an unknown branch from the terminal: dropped, unmatched 2");
	from_core(&e, 20007, inv);
	tap_check(t, e.io.n_sent == 0 && e.px.core.stats.unmatched == 3,
		  "datagram to a core port no terminal owns: dropped, unmatched 3");
	tap_check(t, e.px.core.stats.malformed == 6, "malformed counted 6 in all");

	/* Mutations of real messages, both ways, each kind: never a crash. */
	np_log_set_level(NP_LOG_ERROR);
	do_register(&e, &alice, 2, 3600);
	fuzz(&e, inv, false);
	from_term(&e, &alice, inv);
	req = dup_sent(sent_at(&e, 0));
	reply(m, req, "200 OK", "far-tag", FAR_CONTACT CT_SDP,
	      SDP_FAR("198.51.100.10", "7000"));
	free(req);
	fuzz(&e, m, true);
	core_req(m, "INVITE", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-inv8i") FAR_VIA("z9hG4bK-far-inv8i"),
		 FAR_FROM, "<sip:alice@example.test>", "call8i@198.51.100.10", 1,
		 FAR_CONTACT CT_SDP, SDP_FAR("198.51.100.10", "7002"));
	fuzz(&e, m, true);
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	req = dup_sent(sent_at(&e, 0));
	reply(r, req, "200 OK", "alice-tag",
	      "Contact: <sip:alice@192.168.1.10:5060>\r\n" CT_SDP,
	      SDP_TERM_ANSWER("192.168.1.10", "6002"));
	free(req);
	fuzz(&e, r, false);
	np_log_set_level(NP_LOG_WARN);
	tap_check(t, e.px.core.stats.received > 1600,
		  "1600 mutated messages survived (malformed %llu, unmatched %llu)",
		  (unsigned long long)e.px.core.stats.malformed,
		  (unsigned long long)e.px.core.stats.unmatched);
out:
	env_fini(t, &e, "malformed");
}

/* --- 9: port exhaustion --------------------------------------------------- */

static void test_exhaustion(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX];
	const struct sent *s;
	struct env e;

	if (!env_init(t, &e, CFG_V4("30000-30001", "20000-20009"), "one pair"))
		goto media_out;
	do_register(&e, &alice, 1, 3600);
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv9a",
		 "call9a@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6000"));
	from_term(&e, &alice, m);
	tap_check(t, e.io.n_sent == 1 && flow_count(&e.io) == 4,
		  "one pair: the first call gets the only access pair");
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv9b",
		 "call9b@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6002"));
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "one pair, second call");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "SIP/2.0 503 Service Unavailable"),
		  "one pair: the second call gets 503 from the proxy, nothing to the core");
	tap_check(t, hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-inv9b")) &&
			     via_count(s) == 1,
		  "one pair: the 503 carries the terminal's own Via");
	if (!hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-inv9b"))) {
		hdr_value(s->buf, "Via", 0, r, sizeof(r));
		tap_diag("503 Via: %s", r);
	}
	tap_check(t, flow_count(&e.io) == 4 &&
			     e.px.core.media_ports[ACC].in_use == 2 &&
			     e.px.core.media_ports[CORE].in_use == 2 &&
			     e.px.core.stats.answered_503 == 1,
		  "one pair: no flow or port leaked by the refused call");
	tap_check(t, e.px.sip.ctr[ACC].rejected[NP_REJECT_503] == 1 &&
			     e.px.sip.ctr[ACC].responses_out[4] >= 1,
		  "one pair: metrics count a 503 rejection, a 5xx sent on access");
	/* The ACK for the proxy's own 503 ends there (RFC 3261 17.2.1). */
	term_req(m, &alice, "ACK", "sip:bob@example.test", "z9hG4bK-inv9b",
		 "call9b@192.168.1.10", 1, "<sip:bob@example.test>;tag=np-reject",
		 "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	tap_check(t, e.io.n_sent == 0,
		  "one pair: the ACK for the proxy's own 503 is absorbed, not sent to the core");
	if (e.io.n_sent)
		tap_diag("sent from realm %zu port %u: %.*s", sent_at(&e, 0)->realm,
			 sent_at(&e, 0)->from_port,
			 (int)strcspn(sent_at(&e, 0)->buf, "\r"),
			 sent_at(&e, 0)->buf);
	term_req(m, &alice, "BYE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-bye9a", "call9a@192.168.1.10", 2,
		 "<sip:bob@example.test>;tag=far-tag", "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	tap_check(t, flow_count(&e.io) == 0 &&
			     e.px.core.media_ports[ACC].in_use == 0,
		  "one pair: the first call's BYE frees the pair");
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-inv9c",
		 "call9c@192.168.1.10", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6004"));
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "one pair, third call");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     strstr(body_of(s), "m=audio 400") &&
			     flow_count(&e.io) == 4,
		  "one pair: the next call works again");
media_out:
	env_fini(t, &e, "one pair");

	if (!env_init(t, &e, CFG_V4("30000-30099", "20000-20000"),
		      "one sip port"))
		goto sip_out;
	do_register(&e, &alice, 1, 60);
	term_req(m, &bob, "REGISTER", "sip:example.test", "z9hG4bK-reg9",
		 "reg-bob-0001", 1, "<sip:bob@example.test>",
		 "Expires: 60\r\n", "");
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "one sip port, second terminal");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.12", 40002) &&
			     first_line_is(s, "SIP/2.0 503 Service Unavailable") &&
			     hdr_is(s, "Via", 0,
				    "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-reg9;rport"),
		  "one sip port: a second terminal gets 503 with its own Via");
	tap_check(t, e.io.n_opened == 1 && e.px.core.stats.answered_503 == 1,
		  "one sip port: no socket opened for it");
	/* alice unregisters and goes idle: her port serves bob. */
	do_register(&e, &alice, 2, 0);
	e.now += 64;
	np_proxy_tick(&e.px, e.now);
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "one sip port, after release");
	tap_check(t, e.io.n_closed == 1 && e.io.n_opened == 2 &&
			     sent_route(s, CORE, 20000, "198.51.100.2", 5060),
		  "one sip port: after alice is released, bob gets port 20000");
sip_out:
	env_fini(t, &e, "one sip port");
}

/* --- 10: keepalives ------------------------------------------------------- */

/* Ticks once a second up to end; counts OPTIONS sent; notes the first
 * second at which a core socket was closed. */
static int tick_until(struct env *e, time_t end, time_t *closed_at,
		      char *last_options)
{
	int n = 0;
	size_t i;

	while (e->now < end) {
		e->now++;
		sent_clear(&e->io);
		np_proxy_tick(&e->px, e->now);
		for (i = 0; i < e->io.n_sent; i++)
			if (!strncmp(e->io.sent[i].buf, "OPTIONS ", 8)) {
				n++;
				if (last_options)
					snprintf(last_options, MSG_MAX, "%s",
						 e->io.sent[i].buf);
			}
		if (closed_at && !*closed_at && e->io.n_closed)
			*closed_at = e->now;
	}
	return n;
}

/*
 * Ticks to end as natproxyd does: first the realm's socket drop count
 * (one more every second while dropping), then the tick. OPTIONS sent
 * counted; *closed_at set when the binding goes.
 */
static int tick_dropping(struct env *e, time_t end, size_t realm,
			 bool dropping,
			 time_t *closed_at)
{
	struct np_core *core = &e->px.core;
	int n = 0;
	size_t i;

	while (e->now < end) {
		e->now++;
		np_core_input_drops(core, realm,
				    core->realm_input[realm].sockets_dropped +
					    dropping,
				    e->now);
		sent_clear(&e->io);
		np_proxy_tick(&e->px, e->now);
		for (i = 0; i < e->io.n_sent; i++)
			n += !strncmp(e->io.sent[i].buf, "OPTIONS ", 8);
		if (closed_at && !*closed_at && e->io.n_closed)
			*closed_at = e->now;
	}
	return n;
}

/* Alice registered in a new env: when her first keepalive is due, and
 * her phase after it. false if the env did not come up. */
static bool alice_registered(struct tap *t, struct env *e, const char *name,
			     time_t *first, time_t *next)
{
	if (!env_init(t, e, CFG_MAIN, name))
		return false;
	do_register(e, &alice, 1, 3600);
	*first = e->px.core.terms ? e->px.core.terms->ka_due : 0;
	*next = e->px.core.terms ?
			np_term_ka_next(&e->px.core, e->px.core.terms, *first) :
			0;
	return true;
}

/*
 * While natproxyd's own access socket drops datagrams, an unanswered
 * keepalive is not the terminal's fault (its answer may be among the
 * drops): it is counted, excused, and the binding kept; once the drops
 * stop, three missed answers drop it as before. Drops found before a
 * keepalive went out, or on another realm, excuse nothing.
 */
static void test_keepalive_input_drops(struct tap *t)
{
	time_t closed = 0, first, next, start;
	struct env e;
	int n;

	if (!alice_registered(t, &e, "keepalive, input drops", &first, &next))
		goto out;
	start = e.now;
	n = tick_dropping(&e, first + 100, ACC, true, &closed);
	tap_check(t, n == 6 && !closed && e.px.core.terms &&
			     e.px.core.stats.keepalives_unanswered == 5 &&
			     e.px.core.stats.keepalive_misses_excused == 5 &&
			     !e.px.core.terms->ka_missed &&
			     e.px.core.stats.bindings_lost == 0,
		  "keepalive, input drops: 6 OPTIONS unanswered over 100 s while the access socket drops, 5 excused, binding kept (%d sent, %llu excused)",
		  n,
		  (unsigned long long)e.px.core.stats.keepalive_misses_excused);
	tap_check(t, e.px.core.realm_input[ACC].dropped ==
				     (uint64_t)(first + 100 - start) &&
			     e.px.core.realm_input[ACC].lost_at == first + 100,
		  "keepalive, input drops: the realm counts one dropped a second, the last at the last tick (%llu in %ld s)",
		  (unsigned long long)e.px.core.realm_input[ACC].dropped,
		  (long)(first + 100 - start));
	/* The drops stop: the keepalive sent last while they went on is
	 * excused too, the next three are held. */
	n = tick_dropping(&e, first + 200, ACC, false, &closed);
	tap_check(t, closed > first + 140 && closed <= first + 180 &&
			     e.px.core.stats.bindings_lost == 1 &&
			     e.px.core.stats.keepalive_misses_excused == 6,
		  "keepalive, input drops: once they stop, three unanswered drop the binding (at +%ld, %llu excused)",
		  closed ? (long)(closed - first) : -1L,
		  (unsigned long long)e.px.core.stats.keepalive_misses_excused);
	env_fini(t, &e, "keepalive, input drops");

	/* Drops the tick found before a keepalive went out excuse nothing
	 * (here in the second the first is due): three unanswered from the
	 * first on drop the binding at its phase +40. */
	closed = 0;
	if (!alice_registered(t, &e, "keepalive, drops before", &first, &next))
		goto out;
	tick_dropping(&e, first - 1, ACC, false, NULL);
	tick_dropping(&e, first, ACC, true, NULL);
	tick_dropping(&e, first + 100, ACC, false, &closed);
	tap_check(t, closed == next + 40 &&
			     e.px.core.realm_input[ACC].lost_at == first &&
			     e.px.core.stats.keepalive_misses_excused == 0,
		  "keepalive, drops before: dropped at +40 of its phase as without drops (+%ld, %llu excused)",
		  closed ? (long)(closed - next) : -1L,
		  (unsigned long long)e.px.core.stats.keepalive_misses_excused);
	env_fini(t, &e, "keepalive, drops before");

	/* Drops on the core realm's sockets: not where the answers come. */
	closed = 0;
	if (!alice_registered(t, &e, "keepalive, core drops", &first, &next))
		goto out;
	tick_dropping(&e, first + 100, CORE, true, &closed);
	tap_check(t, closed == next + 40 &&
			     e.px.core.stats.keepalive_misses_excused == 0,
		  "keepalive, core drops: the access terminal's binding dropped at +40 of its phase (+%ld)",
		  closed ? (long)(closed - next) : -1L);
out:
	env_fini(t, &e, "keepalive, core drops");
}

static void test_keepalive(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], opt[MSG_MAX] = "";
	time_t closed = 0;
	const struct sent *s;
	osip_message_t *parsed = NULL;
	struct via_info vi;
	struct env e;
	time_t due, next;
	int n;

	if (!env_init(t, &e, CFG_MAIN, "keepalive"))
		goto out;
	do_register(&e, &alice, 1, 60);
	/* Each terminal has its own second of the interval (its phase), so
	 * that keepalives are spread over it. */
	due = e.px.core.terms ? e.px.core.terms->ka_due : 0;
	tap_check(t, due >= T0 + 10 && due <= T0 + 20 &&
			     due == np_term_ka_first(&e.px.core, e.px.core.terms,
						     T0),
		  "keepalive: the first in the second half of the interval after registering (+%ld)",
		  (long)(due - T0));
	{
		/* The NAT binding the REGISTER came through must see traffic
		 * again within the interval (a Linux NAT drops a UDP mapping
		 * 30 s after its last datagram): the first keepalive of every
		 * terminal, whatever its phase, within the interval, spread
		 * over its second half. */
		struct np_term one = { .pair = 0 };
		unsigned per_s[11] = { 0 }, late = 0, lo = ~0u;
		uint16_t port;
		time_t first;
		int i;

		for (port = 20000; port < 21000; port++) {
			one.core_port = port;
			first = np_term_ka_first(&e.px.core, &one, T0);
			if (first < T0 + 10 || first > T0 + 20)
				late++;
			else
				per_s[first - T0 - 10]++;
		}
		for (i = 0; i < 11; i++)
			lo = per_s[i] < lo ? per_s[i] : lo;
		tap_check(t, late == 0 && lo >= 40,
			  "keepalive: 1,000 terminals' first within 10-20 s of registering (%u outside; %u at least a second)",
			  late, lo);
	}
	{
		/* 1,000 terminals on consecutive core ports (as they are handed
		 * out), registered in the same second: their keepalives fall
		 * evenly on the 20 seconds of the interval. */
		struct np_term one = { .pair = 0 };
		unsigned per_s[20] = { 0 }, lo = ~0u, hi = 0;
		uint16_t port;
		int i;

		for (port = 20000; port < 21000; port++) {
			one.core_port = port;
			per_s[(np_term_ka_next(&e.px.core, &one, T0) - T0 - 1) %
			      20]++;
		}
		for (i = 0; i < 20; i++) {
			lo = per_s[i] < lo ? per_s[i] : lo;
			hi = per_s[i] > hi ? per_s[i] : hi;
		}
		tap_check(t, lo >= 40 && hi <= 60,
			  "keepalive: 1,000 terminals registered at once spread over the interval (%u to %u a second, 50 even)",
			  lo, hi);
	}
	n = tick_until(&e, due - 1, NULL, NULL);
	tap_check(t, n == 0, "keepalive: nothing before its time");
	e.now++;
	np_proxy_tick(&e.px, e.now);
	s = one_sent(t, &e, "keepalive at its time");
	snprintf(opt, sizeof(opt), "%s", s->buf);
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "OPTIONS sip:alice@192.168.1.10:5060 SIP/2.0"),
		  "keepalive: OPTIONS to the terminal's contact via its NAT mapping from 5060");
	via_of(s, 0, &vi);
	tap_check(t, !strcmp(vi.host, "203.0.113.1") && !strcmp(vi.port, "5060") &&
			     !strncmp(vi.branch, "z9hG4bK-np", 10),
		  "keepalive: Via 203.0.113.1:5060 with a branch of ours");
	tap_check(t, !np_sipmsg_parse(s->buf, s->len, &parsed) && clen_ok(s),
		  "keepalive: a well-formed SIP request");
	if (parsed)
		osip_message_free(parsed);
	tap_check(t, e.px.core.stats.keepalives_sent == 1, "keepalive: counted");
	reply(r, opt, "200 OK", "alice-ka", "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	tap_check(t, e.io.n_sent == 0 && e.px.core.stats.unmatched == 0,
		  "keepalive: the terminal's 200 OK is consumed, not forwarded");

	/* A refresh, then silence: three missed answers drop the binding.
	 * After the first, keepalives come at the terminal's phase. */
	next = e.px.core.terms ? np_term_ka_next(&e.px.core, e.px.core.terms,
						 due) :
				 due;
	do_register(&e, &alice, 2, 3600);
	n = tick_until(&e, next + 59, &closed, NULL);
	tap_check(t, n == 3 && !closed && next > due && next <= due + 20,
		  "keepalive: three unanswered OPTIONS at its phase, +0, +20, +40 (%d, the first of them %ld s after the answered one)",
		  n, (long)(next - due));
	n = tick_until(&e, next + 80, &closed, NULL);
	tap_check(t, closed == next + 60 && n == 0,
		  "keepalive: binding dropped after 3 missed intervals (at +%ld after the first missed)",
		  closed ? (long)(closed - next) : -1L);
	tap_check(t, e.io.n_closed == 1 && e.io.closed[0].realm == CORE &&
			     e.io.closed[0].port == 20000 &&
			     e.px.core.stats.bindings_lost == 1,
		  "keepalive: sip_close(1, 20000), bindings_lost 1");
	tap_check(t, e.px.core.stats.keepalives_unanswered == 3 &&
			     e.px.sip.ctr[ACC].requests_out[NP_SIP_OPTIONS] ==
				     e.px.core.stats.keepalives_sent,
		  "keepalive: 3 counted unanswered, every OPTIONS counted sent (%llu/%llu)",
		  (unsigned long long)e.px.core.stats.keepalives_unanswered,
		  (unsigned long long)e.px.core.stats.keepalives_sent);
	tap_check(t, !e.px.core.terms, "keepalive: the terminal is forgotten");
out:
	env_fini(t, &e, "keepalive");

	/* A REGISTER refresh answers for the binding: keepalives missed
	 * before it do not count against it. */
	if (!env_init(t, &e, CFG_MAIN, "keepalive refresh"))
		goto out_refresh;
	do_register(&e, &alice, 1, 3600);
	due = e.px.core.terms ? e.px.core.terms->ka_due : 0;
	next = e.px.core.terms ? np_term_ka_next(&e.px.core, e.px.core.terms,
						 due) :
				 due;
	n = tick_until(&e, next + 5, &closed, NULL);
	do_register(&e, &alice, 2, 3600);
	tap_check(t, n == 2 && e.px.core.terms &&
			     !e.px.core.terms->ka_missed &&
			     !e.px.core.terms->ka_sent,
		  "keepalive refresh: two unanswered, then a REGISTER: none missed (%d sent)",
		  n);
	closed = 0;
	n = tick_until(&e, next + 79, &closed, NULL);
	tap_check(t, n == 3 && !closed,
		  "keepalive refresh: the binding outlives three more unanswered (%d)",
		  n);
out_refresh:
	env_fini(t, &e, "keepalive refresh");
	test_keepalive_input_drops(t);

	if (!env_init(t, &e, CFG_MAIN, "unregister"))
		goto out2;
	do_register(&e, &alice, 1, 60);
	tick_until(&e, T0 + 20, NULL, opt);
	reply(r, opt, "200 OK", "alice-ka", "", "");
	from_term(&e, &alice, r);
	tick_until(&e, T0 + 30, NULL, NULL);
	term_req(m, &alice, "REGISTER", "sip:example.test", "z9hG4bK-unreg",
		 "reg-alice-0001", 2, "<sip:alice@example.test>",
		 "Expires: 0\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "un-REGISTER");
	snprintf(opt, sizeof(opt), "%s", s->buf);
	reply(r, opt, "200 OK", "ks-reg",
	      "Contact: <sip:alice@198.51.100.1:20000>;expires=0\r\n", "");
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "un-REGISTER 200");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001),
		  "un-REGISTER 200: relayed to the terminal");
	closed = 0;
	n = tick_until(&e, T0 + 93, &closed, NULL);
	tap_check(t, n == 0, "un-REGISTER: no more keepalives (%d)", n);
	tap_check(t, !closed, "un-REGISTER: kept while idle less than 64 s");
	tick_until(&e, T0 + 30 + 64, &closed, NULL);
	tap_check(t, closed == T0 + 30 + 64 && e.io.closed[0].port == 20000 &&
			     e.px.core.stats.bindings_lost == 0,
		  "un-REGISTER: released (sip_close) once idle 64 s");
out2:
	env_fini(t, &e, "unregister");
}

/* --- 11: policy: access control, limits, bandwidth, DSCP, VLAN, latch ---- */

/* CFG_MAIN with extra lines (4-space indented realm keys) per realm. */
#define CFG_POL(acc, core)                                                     \
	"realms:\n"                                                            \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.1\n"                                           \
	"    sip_port: 5060\n"                                                 \
	"    media_ports: 30000-30099\n" acc                                   \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: 20000-20009\n"                                         \
	"    media_ports: 40000-40099\n" core                                  \
	"pairs:\n"                                                             \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    softswitch: 198.51.100.2:5060\n"                                  \
	"keepalive:\n"                                                         \
	"  method: options\n"                                                  \
	"  interval: 20\n"

/* One audio stream with a media-level b=AS (kbit/s). */
#define SDP_BW(who, ip, port, kbps)                                            \
	"v=0\r\n"                                                              \
	"o=" who " 1 1 IN IP4 " ip "\r\n"                                      \
	"s=-\r\n"                                                              \
	"c=IN IP4 " ip "\r\n"                                                  \
	"t=0 0\r\n"                                                            \
	"m=audio " port " RTP/AVP 0\r\n"                                       \
	"b=AS:" kbps "\r\n"                                                    \
	"a=rtpmap:0 PCMU/8000\r\n"

#define ALICE_FROM "<sip:alice@example.test>;tag=alice-tag"
#define BOB_TO "<sip:bob@example.test>"
#define BOB_TO_TAGGED "<sip:bob@example.test>;tag=far-tag"

/* The terminal whose NAT mapping is nat, or NULL. */
static struct np_term *term_of(struct env *e, const struct np_sockaddr *nat)
{
	struct np_term *t;

	for (t = e->px.core.terms; t; t = t->next)
		if (np_sockaddr_eq(&t->nat, nat))
			return t;
	return NULL;
}

/* u calls bob with sdp: returns a copy of the INVITE sent to the core (an
 * empty string if none went there); the caller frees it. */
static char *invite_out(struct env *e, const struct ua *u, const char *cid,
			const char *branch, const char *sdp)
{
	char m[MSG_MAX];
	const struct sent *s;

	term_req(m, u, "INVITE", "sip:bob@example.test", branch, cid, 1, BOB_TO,
		 CT_SDP, sdp);
	sent_clear(&e->io);
	from_term(e, u, m);
	s = sent_at(e, 0);
	return strdup(s->realm == CORE ? s->buf : "");
}

/* The far end answers inv (200 with sdp) and u ACKs it. */
static void answer_out(struct env *e, const struct ua *u, const char *inv,
		       uint16_t core_port, const char *sdp)
{
	char r[MSG_MAX], m[MSG_MAX], cid[256];

	hdr_value(inv, "Call-ID", 0, cid, sizeof(cid));
	reply(r, inv, "200 OK", "far-tag", FAR_CONTACT CT_SDP, sdp);
	sent_clear(&e->io);
	from_core(e, core_port, r);
	term_req(m, u, "ACK", "sip:far@198.51.100.10:5060", "z9hG4bK-ack-auto",
		 cid, 1, BOB_TO_TAGGED, "", "");
	from_term(e, u, m);
	sent_clear(&e->io);
}

static bool flow_rate(const struct env *e, const char *ip, uint16_t port,
		      uint64_t rate)
{
	const struct np_flow *f = flow_at(e, ip, port);

	if (!f)
		return false;
	if (!rate)
		return f->rate_bytes == 0 && f->burst_bytes == 0;
	return f->rate_bytes == rate && f->burst_bytes >= 1514 &&
	       f->burst_bytes >= rate / 10;
}

static void test_access_control(struct tap *t)
{
	struct ua mallory = { "mallory", "192.168.7.7",
			      sa("203.0.113.200", 40009) };
	char m[MSG_MAX];
	const struct sent *s;
	struct env e;

	if (!env_init(t, &e, CFG_POL("    deny: [203.0.113.11/32]\n", ""),
		      "deny"))
		goto out1;
	term_req(m, &alice, "REGISTER", "sip:example.test", "z9hG4bK-deny1",
		 "reg-alice-0001", 1, "<sip:alice@example.test>",
		 "Expires: 60\r\n", "");
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "deny");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "SIP/2.0 403 Forbidden"),
		  "deny: 403 Forbidden to the terminal's NAT mapping from realm 0 port 5060");
	tap_check(t, hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-deny1")) &&
			     via_count(s) == 1,
		  "deny: the 403 carries the terminal's own Via");
	tap_check(t, hdr_kept(m, s, "Call-ID") && hdr_kept(m, s, "CSeq") &&
			     hdr_kept(m, s, "From") && clen_ok(s),
		  "deny: From, Call-ID, CSeq kept, Content-Length 0");
	tap_check(t, e.io.n_opened == 0 && !e.px.core.terms &&
			     e.px.core.signal_ports[CORE].in_use == 0,
		  "deny: no core socket opened, no terminal, no core port taken");
	tap_check(t, e.px.core.stats.denied == 1, "deny: stats.denied 1 (%llu)",
		  (unsigned long long)e.px.core.stats.denied);
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-deny2",
		 "deny2@192.168.1.10", 1, BOB_TO, CT_SDP,
		 SDP_OFFER("192.168.1.10", "6000"));
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "deny INVITE");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "SIP/2.0 403 Forbidden") &&
			     flow_count(&e.io) == 0 &&
			     e.px.core.media_ports[ACC].in_use == 0 &&
			     e.px.core.stats.calls_started == 0 &&
			     e.px.core.stats.denied == 2,
		  "deny: an INVITE gets 403 too, no flows, no ports, no call");
	do_register(&e, &bob, 1, 60);
	tap_check(t, term_of(&e, &bob.nat) &&
			     term_of(&e, &bob.nat)->registered_until,
		  "deny: another source (203.0.113.12) registers normally");
out1:
	env_fini(t, &e, "deny");

	if (!env_init(t, &e,
		      CFG_POL("    deny: [203.0.113.11/32]\n"
			      "    deny_action: drop\n",
			      ""),
		      "deny drop"))
		goto out2;
	term_req(m, &alice, "REGISTER", "sip:example.test", "z9hG4bK-deny3",
		 "reg-alice-0001", 1, "<sip:alice@example.test>",
		 "Expires: 60\r\n", "");
	from_term(&e, &alice, m);
	tap_check(t, e.io.n_sent == 0 && e.io.n_opened == 0 && !e.px.core.terms &&
			     e.px.core.stats.denied == 1,
		  "deny drop: nothing sent at all, no socket, denied 1 (sent %zu)",
		  e.io.n_sent);
out2:
	env_fini(t, &e, "deny drop");

	if (!env_init(t, &e, CFG_POL("    allow: [203.0.113.0/25]\n", ""),
		      "allow"))
		goto out3;
	term_req(m, &mallory, "REGISTER", "sip:example.test", "z9hG4bK-allow1",
		 "reg-mallory-0001", 1, "<sip:mallory@example.test>",
		 "Expires: 60\r\n", "");
	from_term(&e, &mallory, m);
	s = one_sent(t, &e, "allow, outside");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.200", 40009) &&
			     first_line_is(s, "SIP/2.0 403 Forbidden") &&
			     hdr_is(s, "Via", 0,
				    "SIP/2.0/UDP 192.168.7.7:5060;branch=z9hG4bK-allow1;rport"),
		  "allow: 203.0.113.200 (outside 203.0.113.0/25) refused with 403, its own Via");
	tap_check(t, e.io.n_opened == 0 && !e.px.core.terms &&
			     e.px.core.stats.denied == 1,
		  "allow: no terminal for it, denied 1");
	term_req(m, &alice, "REGISTER", "sip:example.test", "z9hG4bK-allow2",
		 "reg-alice-0001", 1, "<sip:alice@example.test>",
		 "Expires: 60\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "allow, inside");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     first_line_is(s, "REGISTER sip:example.test SIP/2.0") &&
			     e.px.core.stats.denied == 1,
		  "allow: 203.0.113.11 admitted, REGISTER relayed to the softswitch");
out3:
	env_fini(t, &e, "allow");
}

static void test_max_registrations(struct tap *t)
{
	/* A second phone behind alice's NAT: same public IP, other port. */
	struct ua alice2 = { "alice2", "192.168.1.11",
			     sa("203.0.113.11", 40005) };
	char m[MSG_MAX];
	const struct sent *s;
	struct np_term *a;
	uint16_t port;
	struct env e;

	if (!env_init(t, &e, CFG_POL("    max_registrations: 1\n", ""),
		      "max_registrations"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	term_req(m, &alice2, "REGISTER", "sip:example.test", "z9hG4bK-mr1",
		 "reg-alice2-0001", 1, "<sip:alice2@example.test>",
		 "Expires: 3600\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &alice2, m);
	s = one_sent(t, &e, "max_registrations, second terminal");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40005) &&
			     !strncmp(s->buf, "SIP/2.0 403 ", 12),
		  "max_registrations: a second terminal from 203.0.113.11 gets 403, nothing to the core");
	tap_check(t, hdr_is(s, "Via", 0,
			    "SIP/2.0/UDP 192.168.1.11:5060;branch=z9hG4bK-mr1;rport") &&
			     via_count(s) == 1,
		  "max_registrations: the 403 carries its own Via");
	tap_check(t, e.px.core.stats.denied == 1,
		  "max_registrations: stats.denied 1 (%llu)",
		  (unsigned long long)e.px.core.stats.denied);
	a = term_of(&e, &alice.nat);
	tap_check(t, a && a->registered_until == T0 + 3600,
		  "max_registrations: the first terminal stays registered");
	tap_check(t, !term_of(&e, &alice2.nat) ||
			     !term_of(&e, &alice2.nat)->registered_until,
		  "max_registrations: the refused terminal is not registered");
	tap_diag("max_registrations: core sockets opened so far %zu, core ports in use %u",
		 e.io.n_opened, e.px.core.signal_ports[CORE].in_use);
	/* The retransmission is refused the same way. */
	sent_clear(&e.io);
	from_term(&e, &alice2, m);
	s = one_sent(t, &e, "max_registrations, retransmission");
	tap_check(t, !strncmp(s->buf, "SIP/2.0 403 ", 12) &&
			     s->realm == ACC,
		  "max_registrations: its retransmission gets 403 again");

	port = do_register(&e, &bob, 1, 3600);
	tap_check(t, port && term_of(&e, &bob.nat) &&
			     term_of(&e, &bob.nat)->registered_until == T0 + 3600,
		  "max_registrations: another IP (203.0.113.12) registers (core port %u)",
		  port);
	term_req(m, &alice, "REGISTER", "sip:example.test", "z9hG4bK-mr2",
		 "reg-alice-0001", 2, "<sip:alice@example.test>",
		 "Expires: 3600\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "max_registrations, refresh");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     first_line_is(s, "REGISTER sip:example.test SIP/2.0"),
		  "max_registrations: the first terminal's refresh is relayed");
	e.now += 10;
	tap_check(t, do_register(&e, &alice, 3, 3600) == 20000 &&
			     term_of(&e, &alice.nat)->registered_until ==
				     T0 + 10 + 3600,
		  "max_registrations: refresh accepted, binding extended");
out:
	env_fini(t, &e, "max_registrations");

	/* A flood from one host: refused REGISTERs from new source ports must
	 * not use up the core signaling ports (10 here) others need. */
	if (!env_init(t, &e, CFG_POL("    max_registrations: 1\n", ""),
		      "registration flood"))
		goto out2;
	do_register(&e, &alice, 1, 3600);
	{
		int i, n403 = 0;

		for (i = 0; i < 12; i++) {
			struct ua f = { "flood", "192.168.1.99",
					sa("203.0.113.11", (uint16_t)(41000 + i)) };
			char branch[64];

			snprintf(branch, sizeof(branch), "z9hG4bK-flood%d", i);
			term_req(m, &f, "REGISTER", "sip:example.test", branch,
				 "reg-flood", 1, "<sip:flood@example.test>",
				 "Expires: 3600\r\n", "");
			sent_clear(&e.io);
			from_term(&e, &f, m);
			n403 += e.io.n_sent == 1 &&
				!strncmp(sent_at(&e, 0)->buf, "SIP/2.0 403 ", 12);
		}
		tap_check(t, n403 == 12,
			  "registration flood: all 12 REGISTERs from 203.0.113.11 refused with 403 (%d)",
			  n403);
	}
	tap_diag("registration flood: core ports in use %u of 10, sockets opened %zu",
		 e.px.core.signal_ports[CORE].in_use, e.io.n_opened);
	port = do_register(&e, &bob, 1, 3600);
	tap_check(t, port != 0,
		  "registration flood: bob (another host) still gets a core port and registers");
out2:
	env_fini(t, &e, "registration flood");
}

/* Two terminals whose stacks happen to pick the same branch (sipp builds
 * it from its pid and call number): their transactions are still two
 * (RFC 3261 17.2.3 matches on sent-by too; here the source tells them
 * apart). */
static void test_branch_collision(struct tap *t)
{
	struct ua u1 = { "alice", "192.168.1.10", sa("203.0.113.11", 40001) };
	struct ua u2 = { "dave", "10.0.0.7", sa("203.0.113.12", 40002) };
	char m[MSG_MAX], r[MSG_MAX], *req1 = NULL, *req2 = NULL;
	const struct sent *s;
	struct np_term *t1, *t2;
	struct env e;

	if (!env_init(t, &e, CFG_MAIN, "same branch"))
		goto out;
	term_req(m, &u1, "REGISTER", "sip:example.test", "z9hG4bK-same",
		 "reg-u1", 1, "<sip:alice@example.test>", "Expires: 3600\r\n",
		 "");
	from_term(&e, &u1, m);
	req1 = dup_sent(sent_at(&e, 0));
	term_req(m, &u2, "REGISTER", "sip:example.test", "z9hG4bK-same",
		 "reg-u2", 1, "<sip:dave@example.test>", "Expires: 3600\r\n",
		 "");
	sent_clear(&e.io);
	from_term(&e, &u2, m);
	req2 = dup_sent(sent_at(&e, 0));
	tap_check(t, sent_route(sent_at(&e, 0), CORE, 20001, "198.51.100.2",
				5060),
		  "same branch: the second terminal's REGISTER leaves from 20001");
	reply(r, req2, "200 OK", "ks-2",
	      "Contact: <sip:dave@198.51.100.1:20001>;expires=3600\r\n", "");
	sent_clear(&e.io);
	from_core(&e, 20001, r);
	s = one_sent(t, &e, "same branch, 200 for the second");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.12", 40002) &&
			     hdr_is(s, "Via", 0,
				    "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK-same;rport"),
		  "same branch: the second terminal gets its 200 with its own Via");
	reply(r, req1, "200 OK", "ks-1",
	      "Contact: <sip:alice@198.51.100.1:20000>;expires=3600\r\n", "");
	sent_clear(&e.io);
	from_core(&e, 20000, r);
	s = one_sent(t, &e, "same branch, 200 for the first");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-same")),
		  "same branch: the first terminal gets its 200 with its own Via, not the other's");
	if (!hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-same"))) {
		hdr_value(s->buf, "Via", 0, r, sizeof(r));
		tap_diag("Via sent to the first terminal: %s", r);
	}
	t1 = term_of(&e, &u1.nat);
	t2 = term_of(&e, &u2.nat);
	tap_check(t, t1 && t2 && t1->registered_until && t2->registered_until,
		  "same branch: both terminals registered");
out:
	free(req1);
	free(req2);
	env_fini(t, &e, "same branch");
}

static void test_max_calls(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], *inv = NULL, *inv2 = NULL;
	const char *cid_x = "callx@198.51.100.10";
	const struct sent *s;
	uint16_t pb;
	struct env e;

	if (!env_init(t, &e, CFG_POL("    max_calls: 1\n", ""), "max_calls"))
		goto out1;
	do_register(&e, &alice, 1, 3600);
	do_register(&e, &bob, 1, 3600);
	inv = invite_out(&e, &alice, "mc1@192.168.1.10", "z9hG4bK-mc1",
			 SDP_OFFER("192.168.1.10", "6000"));
	tap_check(t, inv[0] && flow_count(&e.io) == 4 &&
			     e.px.core.live_calls[ACC] == 1 && e.px.core.live_calls[CORE] == 1,
		  "max_calls: the first call goes through (calls %u/%u)",
		  e.px.core.live_calls[ACC], e.px.core.live_calls[CORE]);
	term_req(m, &bob, "INVITE", "sip:carol@example.test", "z9hG4bK-mc2",
		 "mc2@192.168.1.10", 1, "<sip:carol@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6000"));
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "max_calls, second call");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.12", 40002) &&
			     first_line_is(s, "SIP/2.0 503 Service Unavailable"),
		  "max_calls: a second concurrent call gets 503, nothing to the core");
	tap_check(t, hdr_is(s, "Via", 0, ALICE_VIA("z9hG4bK-mc2")) &&
			     via_count(s) == 1 && hdr_kept(m, s, "Call-ID"),
		  "max_calls: the 503 carries the terminal's own Via");
	tap_check(t, flow_count(&e.io) == 4 &&
			     e.px.core.media_ports[ACC].in_use == 2 &&
			     e.px.core.media_ports[CORE].in_use == 2 &&
			     e.px.core.live_calls[ACC] == 1 && e.px.core.live_calls[CORE] == 1 &&
			     !term_of(&e, &bob.nat)->calls &&
			     e.px.core.stats.calls_started == 1,
		  "max_calls: no flow, port, leg or call count leaked by the refused call");
	term_req(m, &bob, "ACK", "sip:carol@example.test", "z9hG4bK-mc2",
		 "mc2@192.168.1.10", 1, "<sip:carol@example.test>;tag=np-reject",
		 "", "");
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	tap_check(t, e.io.n_sent == 0,
		  "max_calls: the ACK for the proxy's own 503 is absorbed");
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	term_req(m, &alice, "BYE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-mc1bye", "mc1@192.168.1.10", 2, BOB_TO_TAGGED, "", "");
	from_term(&e, &alice, m);
	tap_check(t, flow_count(&e.io) == 0 && e.px.core.live_calls[ACC] == 0 &&
			     e.px.core.live_calls[CORE] == 0,
		  "max_calls: the first call's BYE frees its slot");
	inv2 = invite_out(&e, &bob, "mc3@192.168.1.10", "z9hG4bK-mc3",
			  SDP_OFFER("192.168.1.10", "6000"));
	tap_check(t, inv2[0] && flow_count(&e.io) == 4 &&
			     e.px.core.live_calls[ACC] == 1,
		  "max_calls: after the BYE a new call goes through");
out1:
	free(inv);
	free(inv2);
	inv = inv2 = NULL;
	env_fini(t, &e, "max_calls");

	if (!env_init(t, &e, CFG_POL("", "    max_calls: 1\n"),
		      "max_calls core"))
		goto out2;
	do_register(&e, &alice, 1, 3600);
	pb = do_register(&e, &bob, 1, 3600);
	inv = invite_out(&e, &alice, "mc4@192.168.1.10", "z9hG4bK-mc4",
			 SDP_OFFER("192.168.1.10", "6000"));
	tap_check(t, inv[0] && e.px.core.live_calls[CORE] == 1,
		  "max_calls core: the first call goes through");
	core_req(m, "INVITE", "sip:bob@198.51.100.1:20001",
		 KS_VIA("z9hG4bK-ks-invx") FAR_VIA("z9hG4bK-far-invx"),
		 FAR_FROM, "<sip:bob@example.test>", cid_x, 1,
		 FAR_CONTACT CT_SDP, SDP_FAR("198.51.100.10", "7002"));
	sent_clear(&e.io);
	from_core(&e, pb, m);
	s = one_sent(t, &e, "max_calls core, incoming INVITE");
	tap_check(t, sent_route(s, CORE, pb, "198.51.100.2", 5060) &&
			     first_line_is(s, "SIP/2.0 503 Service Unavailable"),
		  "max_calls core: 503 back to the softswitch from bob's core port, nothing to bob");
	tap_check(t, via_count(s) == 2 &&
			     via_is(s, 0, "198.51.100.2", "5060",
				    "z9hG4bK-ks-invx") &&
			     hdr_kept(m, s, "Call-ID") && hdr_kept(m, s, "CSeq"),
		  "max_calls core: the 503 has Kamailio's Vias, not ours");
	tap_check(t, flow_count(&e.io) == 4 &&
			     e.px.core.media_ports[ACC].in_use == 2 &&
			     e.px.core.live_calls[CORE] == 1 &&
			     !term_of(&e, &bob.nat)->calls &&
			     e.px.core.stats.answered_503 == 1,
		  "max_calls core: nothing leaked by the refused call");
	/* tm's ACK for the 503: hop by hop, the INVITE's branch. It belongs to
	 * the proxy that sent the 503 (RFC 3261 17.2.1). */
	core_req(m, "ACK", "sip:bob@198.51.100.1:20001",
		 KS_VIA("z9hG4bK-ks-invx"), FAR_FROM,
		 "<sip:bob@example.test>;tag=np-reject", cid_x, 1, "", "");
	sent_clear(&e.io);
	from_core(&e, pb, m);
	tap_check(t, e.io.n_sent == 0,
		  "max_calls core: the ACK for the proxy's own 503 is absorbed, not sent to the terminal");
	if (e.io.n_sent)
		tap_diag("sent from realm %zu port %u to port %u: %.*s",
			 sent_at(&e, 0)->realm, sent_at(&e, 0)->from_port,
			 sent_at(&e, 0)->to.port,
			 (int)strcspn(sent_at(&e, 0)->buf, "\r"),
			 sent_at(&e, 0)->buf);
	(void)r;
out2:
	free(inv);
	env_fini(t, &e, "max_calls core");
}

static void test_bandwidth(struct tap *t)
{
	char *inv = NULL, *inv2 = NULL;
	struct env e;

	if (!env_init(t, &e, CFG_POL("    max_stream_kbps: 200\n", ""),
		      "bandwidth"))
		goto out1;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "bw1@192.168.1.10", "z9hG4bK-bw1",
			 SDP_OFFER("192.168.1.10", "6000"));
	tap_check(t, flow_rate(&e, "203.0.113.1", 30000, 25000) &&
			     flow_rate(&e, "198.51.100.1", 40000, 25000),
		  "bandwidth: 200 kbit/s cap: both RTP flows 25000 bytes/s, burst >= 1514 (%llu/%llu)",
		  flow_at(&e, "203.0.113.1", 30000) ?
			  (unsigned long long)flow_at(&e, "203.0.113.1", 30000)->rate_bytes : 0ull,
		  flow_at(&e, "203.0.113.1", 30000) ?
			  (unsigned long long)flow_at(&e, "203.0.113.1", 30000)->burst_bytes : 0ull);
	tap_check(t, flow_rate(&e, "203.0.113.1", 30001, 25000) &&
			     flow_rate(&e, "198.51.100.1", 40001, 25000),
		  "bandwidth: the RTCP flows too");
	inv2 = invite_out(&e, &alice, "bw2@192.168.1.10", "z9hG4bK-bw2",
			  SDP_BW("alice", "192.168.1.10", "6002", "32"));
	/* b=AS leaves out the headers the policer counts: 32 kbit/s is
	 * 4000 B/s, +25% and 100 packets/s of 60 header bytes = 11000. */
	tap_check(t, flow_rate(&e, "203.0.113.1", 30002, 11000) &&
			     flow_rate(&e, "198.51.100.1", 40002, 11000),
		  "bandwidth: b=AS:32 in the offer, under the cap: 11000 bytes/s of IP both ways");
	/* The answer declares even less: the smallest wins. */
	answer_out(&e, &alice, inv2, 20000,
		   SDP_BW("far", "198.51.100.10", "7002", "24"));
	tap_check(t, flow_rate(&e, "203.0.113.1", 30002, 9750) &&
			     flow_rate(&e, "198.51.100.1", 40002, 9750),
		  "bandwidth: b=AS:24 in the answer: 9750 bytes/s both ways");
	tap_check(t, flow_rate(&e, "203.0.113.1", 30000, 25000),
		  "bandwidth: the other call's flows unchanged");
out1:
	free(inv);
	free(inv2);
	inv = inv2 = NULL;
	env_fini(t, &e, "bandwidth");

	if (!env_init(t, &e, CFG_POL("    max_stream_kbps: 16\n", ""),
		      "bandwidth cap"))
		goto out2;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "bw3@192.168.1.10", "z9hG4bK-bw3",
			 SDP_BW("alice", "192.168.1.10", "6000", "32"));
	tap_check(t, flow_rate(&e, "203.0.113.1", 30000, 2000) &&
			     flow_rate(&e, "198.51.100.1", 40000, 2000),
		  "bandwidth cap: 16 kbit/s cap below b=AS:32: 2000 bytes/s");
out2:
	free(inv);
	inv = NULL;
	env_fini(t, &e, "bandwidth cap");

	if (!env_init(t, &e, CFG_MAIN, "no bandwidth limit"))
		goto out3;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "bw4@192.168.1.10", "z9hG4bK-bw4",
			 SDP_OFFER("192.168.1.10", "6000"));
	tap_check(t, flow_rate(&e, "203.0.113.1", 30000, 0) &&
			     flow_rate(&e, "198.51.100.1", 40000, 0) &&
			     flow_rate(&e, "203.0.113.1", 30001, 0),
		  "no bandwidth limit: rate_bytes 0, burst 0");
out3:
	free(inv);
	env_fini(t, &e, "no bandwidth limit");
}

static bool dscp_vlan_ok(const struct env *e, const char *ip, uint16_t port,
			 int dscp, uint8_t vlan_action, uint16_t vlan_id,
			 uint32_t ifindex)
{
	const struct np_flow *f = flow_at(e, ip, port);

	if (!f)
		return false;
	if (dscp < 0 ? (f->flags & NP_F_SET_DSCP) :
		       (!(f->flags & NP_F_SET_DSCP) || f->dscp != dscp))
		return false;
	return f->vlan_action == vlan_action &&
	       (vlan_action != NP_VLAN_SET || f->vlan_id == vlan_id) &&
	       f->egress_ifindex == ifindex;
}

static void test_dscp_vlan(struct tap *t)
{
	char *inv = NULL;
	struct env e;

	if (!env_init(t, &e, CFG_POL("    dscp: 34\n",
				     "    dscp: 46\n    vlan: 100\n"),
		      "dscp/vlan"))
		goto out;
	e.px.core.ifindex[ACC] = 3;
	e.px.core.ifindex[CORE] = 7;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "dv1@192.168.1.10", "z9hG4bK-dv1",
			 SDP_OFFER("192.168.1.10", "6000"));
	tap_check(t, dscp_vlan_ok(&e, "203.0.113.1", 30000, 46, NP_VLAN_SET,
				  100, 7),
		  "dscp/vlan: terminal->far: SET_DSCP 46, VLAN SET 100, egress ifindex 7 (the core's)");
	tap_check(t, dscp_vlan_ok(&e, "198.51.100.1", 40000, 34,
				  NP_VLAN_STRIP, 0, 0),
		  "dscp/vlan: far->terminal: SET_DSCP 34 (the access realm's), VLAN STRIP");
	tap_check(t, dscp_vlan_ok(&e, "203.0.113.1", 30001, 46, NP_VLAN_SET,
				  100, 7) &&
			     dscp_vlan_ok(&e, "198.51.100.1", 40001, 34,
					  NP_VLAN_STRIP, 0, 0),
		  "dscp/vlan: the RTCP flows likewise");
	tap_check(t, (flow_flags(&e, "203.0.113.1", 30000) & ~NP_F_SET_DSCP) ==
			     TERM_RTP,
		  "dscp/vlan: latch flags untouched (0x%x)",
		  flow_flags(&e, "203.0.113.1", 30000));
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	tap_check(t, dscp_vlan_ok(&e, "203.0.113.1", 30000, 46, NP_VLAN_SET,
				  100, 7) &&
			     dscp_vlan_ok(&e, "198.51.100.1", 40000, 34,
					  NP_VLAN_STRIP, 0, 0),
		  "dscp/vlan: the answer keeps both");
out:
	free(inv);
	env_fini(t, &e, "dscp/vlan");

	if (!env_init(t, &e, CFG_MAIN, "no dscp/vlan"))
		goto out2;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "dv2@192.168.1.10", "z9hG4bK-dv2",
			 SDP_OFFER("192.168.1.10", "6000"));
	tap_check(t, dscp_vlan_ok(&e, "203.0.113.1", 30000, -1,
				  NP_VLAN_STRIP, 0, 0) &&
			     dscp_vlan_ok(&e, "198.51.100.1", 40000, -1,
					  NP_VLAN_STRIP, 0, 0),
		  "no dscp/vlan: no SET_DSCP, VLAN STRIP both ways");
out2:
	free(inv);
	env_fini(t, &e, "no dscp/vlan");
}

static void test_latch_modes(struct tap *t)
{
	struct ua dave = { "dave", "203.0.113.20", sa("203.0.113.20", 5060) };
	const struct np_flow *f;
	char *inv = NULL;
	struct env e;

	/* "restricted" is what first-packet latching was called when
	 * first-packet latched onto anyone: old files keep working. */
	if (!env_init(t, &e, CFG_POL("    latch: restricted\n", ""),
		      "latch restricted"))
		goto out1;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "lr1@192.168.1.10", "z9hG4bK-lr1",
			 SDP_OFFER("192.168.1.10", "6000"));
	f = flow_at(&e, "203.0.113.1", 30000);
	tap_check(t, f && f->flags == TERM_RTP,
		  "latch restricted: as first-packet: LATCH_PENDING|LATCH_RESTRICTED|STRICT_SOURCE|HAS_REVERSE|RTCP_FOLLOWS (0x%x)",
		  f ? f->flags : 0);
	tap_check(t, f && naddr_is(&f->expect_saddr, "203.0.113.11") &&
			     f->expect_sport == 0,
		  "latch restricted: expect_saddr is the NAT IP 203.0.113.11, any port");
	f = flow_at(&e, "203.0.113.1", 30001);
	tap_check(t, f && f->flags == TERM_FLAGS &&
			     naddr_is(&f->expect_saddr, "203.0.113.11"),
		  "latch restricted: the RTCP flow likewise");
	tap_check(t, flow_is(&e, "198.51.100.1", 40000, "203.0.113.1", 30000,
			     NULL, 0),
		  "latch restricted: far->terminal waits for the latch");
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	f = flow_at(&e, "203.0.113.1", 30000);
	tap_check(t, f && f->flags == TERM_RTP &&
			     naddr_is(&f->expect_saddr, "203.0.113.11") &&
			     flow_is(&e, "203.0.113.1", 30000, "198.51.100.1",
				     40000, "198.51.100.10", 7000),
		  "latch restricted: the answer keeps the restriction");
out1:
	free(inv);
	inv = NULL;
	env_fini(t, &e, "latch restricted");

	if (!env_init(t, &e, CFG_POL("    latch: any\n", ""), "latch any"))
		goto out4;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "la1@192.168.1.10", "z9hG4bK-la1",
			 SDP_OFFER("192.168.1.10", "6000"));
	f = flow_at(&e, "203.0.113.1", 30000);
	tap_check(t, f && f->flags == (LATCH_ANY | NP_F_RTCP_FOLLOWS) &&
			     naddr_is(&f->home_saddr, "203.0.113.11") &&
			     naddr_is(&f->expect_saddr, "0.0.0.0"),
		  "latch any: RTP: LATCH_PENDING|STRICT_SOURCE|HAS_REVERSE|LATCH_TAKEOVER|RTCP_FOLLOWS, anyone latches, home 203.0.113.11 (0x%x)",
		  f ? f->flags : 0);
	f = flow_at(&e, "203.0.113.1", 30001);
	tap_check(t, f && f->flags == LATCH_ANY &&
			     naddr_is(&f->home_saddr, "203.0.113.11"),
		  "latch any: RTCP: the same without RTCP_FOLLOWS (0x%x)",
		  f ? f->flags : 0);
	/* What XDP does when an attacker latches the RTP first and the
	 * terminal takes it over: latched, takeover spent; the RTCP flow
	 * still pending, restricted to the terminal's address. */
	xdp_latch(&e, "203.0.113.1", 30000, "203.0.113.11", 50000);
	xdp_flags(&e, "203.0.113.1", 30000, NP_F_LATCH_TAKEOVER, 0);
	xdp_latch(&e, "203.0.113.1", 30001, "203.0.113.11", 0);
	xdp_flags(&e, "203.0.113.1", 30001, 0,
		  NP_F_LATCH_PENDING | NP_F_LATCH_RESTRICTED);
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	f = flow_at(&e, "203.0.113.1", 30000);
	tap_check(t, f && f->flags == (LATCH_ANY | NP_F_RTCP_FOLLOWS) -
					      NP_F_LATCH_PENDING -
					      NP_F_LATCH_TAKEOVER &&
			     naddr_is(&f->expect_saddr, "203.0.113.11") &&
			     ntohs(f->expect_sport) == 50000,
		  "latch any: the answer keeps the latch and the spent takeover (0x%x)",
		  f ? f->flags : 0);
	f = flow_at(&e, "203.0.113.1", 30001);
	tap_check(t, f && f->flags == (LATCH_ANY | NP_F_LATCH_RESTRICTED) &&
			     naddr_is(&f->expect_saddr, "203.0.113.11") &&
			     !f->expect_sport,
		  "latch any: ... and the RTCP flow's restriction to the RTP's address (0x%x)",
		  f ? f->flags : 0);
out4:
	free(inv);
	inv = NULL;
	env_fini(t, &e, "latch any");

	/* rtcp-mux offered, the RTP latched, the answer refuses mux: the RTCP
	 * flows come only now, and follow the RTP's latch at once. */
	if (!env_init(t, &e, CFG_POL("    latch: any\n", ""),
		      "latch any, mux refused"))
		goto out5;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "la2@192.168.1.10", "z9hG4bK-la2",
			 SDP_MUX("192.168.1.10", "6000"));
	tap_check(t, flow_count(&e.io) == 2 &&
			     flow_flags(&e, "203.0.113.1", 30000) ==
				     (LATCH_ANY | NP_F_RTCP_MUX),
		  "latch any, mux refused: the muxed RTP flow has no RTCP_FOLLOWS (0x%x)",
		  flow_flags(&e, "203.0.113.1", 30000));
	xdp_latch(&e, "203.0.113.1", 30000, "203.0.113.11", 50000);
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	f = flow_at(&e, "203.0.113.1", 30000);
	tap_check(t, flow_count(&e.io) == 4 && f &&
			     f->flags == ((LATCH_ANY | NP_F_RTCP_FOLLOWS) &
					  ~NP_F_LATCH_PENDING),
		  "latch any, mux refused: RTP latched, now with RTCP_FOLLOWS (0x%x)",
		  f ? f->flags : 0);
	f = flow_at(&e, "203.0.113.1", 30001);
	tap_check(t, f && f->flags == (LATCH_ANY | NP_F_LATCH_RESTRICTED) &&
			     naddr_is(&f->expect_saddr, "203.0.113.11") &&
			     !f->expect_sport,
		  "latch any, mux refused: the new RTCP flow may latch only from the RTP's 203.0.113.11 (0x%x)",
		  f ? f->flags : 0);
out5:
	free(inv);
	inv = NULL;
	env_fini(t, &e, "latch any, mux refused");

	if (!env_init(t, &e, CFG_POL("    latch: off\n", ""), "latch off"))
		goto out2;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "lo1@192.168.1.10", "z9hG4bK-lo1",
			 SDP_OFFER("192.168.1.10", "6000"));
	tap_check(t, flow_flags(&e, "203.0.113.1", 30000) == NP_F_HAS_REVERSE &&
			     flow_flags(&e, "203.0.113.1", 30001) ==
				     NP_F_HAS_REVERSE,
		  "latch off: no latch or strict-source flags (0x%x)",
		  flow_flags(&e, "203.0.113.1", 30000));
	tap_check(t, flow_is(&e, "198.51.100.1", 40000, "203.0.113.1", 30000,
			     "192.168.1.10", 6000) &&
			     flow_is(&e, "198.51.100.1", 40001, "203.0.113.1",
				     30001, "192.168.1.10", 6001),
		  "latch off: far->terminal goes to the SDP address 192.168.1.10:6000/6001 at once");
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	tap_check(t, flow_is(&e, "198.51.100.1", 40000, "203.0.113.1", 30000,
			     "192.168.1.10", 6000) &&
			     flow_is(&e, "203.0.113.1", 30000, "198.51.100.1",
				     40000, "198.51.100.10", 7000) &&
			     flow_flags(&e, "203.0.113.1", 30000) ==
				     NP_F_HAS_REVERSE,
		  "latch off: after the answer both directions set, still no latch");
out2:
	free(inv);
	inv = NULL;
	env_fini(t, &e, "latch off");

	if (!env_init(t, &e, CFG_MAIN, "latch, no NAT"))
		goto out3;
	do_register(&e, &dave, 1, 3600);
	inv = invite_out(&e, &dave, "ln1@203.0.113.20", "z9hG4bK-ln1",
			 SDP_OFFER("203.0.113.20", "6000"));
	tap_check(t, flow_is(&e, "198.51.100.1", 40000, "203.0.113.1", 30000,
			     "203.0.113.20", 6000) &&
			     flow_is(&e, "198.51.100.1", 40001, "203.0.113.1",
				     30001, "203.0.113.20", 6001),
		  "latch, no NAT: SDP c= is the source IP: far->terminal goes to 203.0.113.20:6000/6001 at once");
	tap_check(t, flow_flags(&e, "203.0.113.1", 30000) == TERM_RTP,
		  "latch, no NAT: terminal->far still latches (first-packet)");
	f = flow_at(&e, "203.0.113.1", 30000);
	tap_check(t, f && naddr_is(&f->expect_saddr, "203.0.113.20") &&
			     naddr_is(&f->home_saddr, "203.0.113.20"),
		  "latch, no NAT: ... from the terminal's own address only");
out3:
	free(inv);
	env_fini(t, &e, "latch, no NAT");
}

/* --- 12: charging records --------------------------------------------------- */

/* A tiny JSON syntax checker (RFC 8259), enough for the records. */
static const char *js_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *js_value(const char *p, int depth);

static const char *js_string(const char *p)
{
	int i;

	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF",
						    p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
		p++;
	}
	return p + 1;
}

static const char *js_number(const char *p)
{
	const char *s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		s = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		s = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

static const char *js_value(const char *p, int depth)
{
	bool obj;

	p = js_ws(p);
	if (depth > 32)
		return NULL;
	if (*p == '"')
		return js_string(p);
	if (!strncmp(p, "true", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	if (!strncmp(p, "null", 4))
		return p + 4;
	if (*p != '{' && *p != '[')
		return js_number(p);
	obj = *p == '{';
	p = js_ws(p + 1);
	if (*p == (obj ? '}' : ']'))
		return p + 1;
	for (;;) {
		if (obj) {
			p = js_string(js_ws(p));
			if (!p)
				return NULL;
			p = js_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		p = js_value(p, depth + 1);
		if (!p)
			return NULL;
		p = js_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != (obj ? '}' : ']'))
			return NULL;
		return p + 1;
	}
}

/* One JSON value and a newline, nothing else. */
static bool json_line_ok(const char *s)
{
	const char *end = js_value(s, 0);

	return end && !strcmp(end, "\n") && !strchr(s, '\n')[1];
}

static bool rec_has(const struct env *e, const char *text)
{
	return strstr(e->io.last_record, text) != NULL;
}

#define WALL_ISO "\"2026-11-25T08:00:00.250Z\""

static void test_charging(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], *inv = NULL;
	const char *cid;
	const struct sent *s;
	struct env e;
	size_t n;

	tap_check(t, json_line_ok("{\"a\": [1, -2.5e3, \"x\\\"y\\u00e9\", null, true]}\n") &&
			     !json_line_ok("{\"a\": }\n") &&
			     !json_line_ok("{\"a\": \"b\"}") &&
			     !json_line_ok("{\"a\": \"b\"}\n{}\n") &&
			     !json_line_ok("{\"a\": 01}\n") &&
			     !json_line_ok("{\"a\": \"\t\"}\n"),
		  "charging: the test's JSON checker accepts JSON and refuses non-JSON");
	if (!env_init(t, &e, CFG_MAIN, "charging"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	cid = "charge1@192.168.1.10";
	inv = invite_out(&e, &alice, cid, "z9hG4bK-ch1",
			 SDP_OFFER("192.168.1.10", "6000"));
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	tap_check(t, e.io.n_records == 0,
		  "charging: no record before the call ends (%zu)",
		  e.io.n_records);
	term_req(m, &alice, "BYE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-ch1bye", cid, 2, BOB_TO_TAGGED, "", "");
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "charging BYE");
	snprintf(r, sizeof(r), "%s", s->buf);
	reply(m, r, "200 OK", NULL, "", "");
	from_core(&e, 20000, m);
	tap_check(t, e.io.n_records == 1,
		  "charging: exactly one record after the BYE and its 200 (%zu)",
		  e.io.n_records);
	tap_check(t, json_line_ok(e.io.last_record),
		  "charging: the record is one line of valid JSON");
	if (!json_line_ok(e.io.last_record))
		tap_diag("record: %s", e.io.last_record);
	tap_check(t, rec_has(&e, "\"call_id\": \"charge1@192.168.1.10\""),
		  "charging: call_id");
	tap_check(t, rec_has(&e, "\"from\": \"" ALICE_FROM "\""),
		  "charging: from, with the terminal's tag");
	tap_check(t, rec_has(&e, "\"to\": \"" BOB_TO_TAGGED "\""),
		  "charging: to, with the far end's tag");
	tap_check(t, rec_has(&e, "\"direction\": \"outgoing\"") &&
			     rec_has(&e, "\"pair\": \"access->core\"") &&
			     rec_has(&e, "\"terminal\": \"203.0.113.11:40001\""),
		  "charging: direction outgoing, pair access->core, terminal 203.0.113.11:40001");
	tap_check(t, rec_has(&e, "\"start\": " WALL_ISO) &&
			     rec_has(&e, "\"answer\": " WALL_ISO) &&
			     rec_has(&e, "\"end\": " WALL_ISO),
		  "charging: start, answer, end in ISO 8601 UTC from the wall clock");
	tap_check(t, rec_has(&e, "\"duration\": 0.000") &&
			     rec_has(&e, "\"end_reason\": \"bye\""),
		  "charging: duration 0.000, end_reason bye");
	tap_check(t, rec_has(&e, "\"streams\": [{\"index\": 0, "
				 "\"access_relay\": \"203.0.113.1:30000\", "
				 "\"core_relay\": \"198.51.100.1:40000\", "
				 "\"from_terminal\": {\"packets\": 100, "
				 "\"bytes\": 20000, \"drops\": {"),
		  "charging: streams[0]: relays 203.0.113.1:30000 / 198.51.100.1:40000, from_terminal 100 packets 20000 bytes");
	tap_check(t, rec_has(&e, "\"to_terminal\": {\"packets\": 100, "
				 "\"bytes\": 20000, \"drops\": {\"source\": 0"),
		  "charging: streams[0]: to_terminal 100 packets 20000 bytes");
	tap_check(t, !rec_has(&e, "\"index\": 1"), "charging: one stream");
	if (!rec_has(&e, "\"to_terminal\": {\"packets\": 100"))
		tap_diag("record: %s", e.io.last_record);
	free(inv);
	inv = NULL;

	/* A rejected call. */
	n = e.io.n_records;
	cid = "charge2@192.168.1.10";
	inv = invite_out(&e, &alice, cid, "z9hG4bK-ch2",
			 SDP_OFFER("192.168.1.10", "6000"));
	reply(r, inv, "486 Busy Here", "far-tag", KS_SERVER, "");
	from_core(&e, 20000, r);
	term_req(m, &alice, "ACK", "sip:bob@example.test", "z9hG4bK-ch2", cid, 1,
		 BOB_TO_TAGGED, "", "");
	from_term(&e, &alice, m);
	tap_check(t, e.io.n_records == n + 1 &&
			     json_line_ok(e.io.last_record) &&
			     rec_has(&e, "\"call_id\": \"charge2@192.168.1.10\"") &&
			     rec_has(&e, "\"end_reason\": \"rejected\"") &&
			     rec_has(&e, "\"answer\": null"),
		  "charging: a 486 gives one record, end_reason rejected, answer null");
	free(inv);
	inv = NULL;

	/* A call the terminal cancels. */
	n = e.io.n_records;
	cid = "charge3@192.168.1.10";
	inv = invite_out(&e, &alice, cid, "z9hG4bK-ch3",
			 SDP_OFFER("192.168.1.10", "6000"));
	reply(r, inv, "180 Ringing", "far-tag", FAR_CONTACT, "");
	from_core(&e, 20000, r);
	term_req(m, &alice, "CANCEL", "sip:bob@example.test", "z9hG4bK-ch3",
		 cid, 1, BOB_TO, "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	tap_check(t, e.io.n_records == n + 1 &&
			     json_line_ok(e.io.last_record) &&
			     rec_has(&e, "\"call_id\": \"charge3@192.168.1.10\"") &&
			     rec_has(&e, "\"end_reason\": \"cancel\""),
		  "charging: a CANCEL gives end_reason cancel");
	reply(r, inv, "487 Request Terminated", "far-tag", "", "");
	from_core(&e, 20000, r);
	tap_check(t, e.io.n_records == n + 1 && flow_count(&e.io) == 0,
		  "charging: the 487 after the CANCEL writes no second record");
	free(inv);
	inv = NULL;

	/* An incoming call, hung up by the far end. */
	n = e.io.n_records;
	cid = "charge4@198.51.100.10";
	core_req(m, "INVITE", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-ch4") FAR_VIA("z9hG4bK-far-ch4"), FAR_FROM,
		 "<sip:alice@example.test>", cid, 1, FAR_CONTACT CT_SDP,
		 SDP_FAR("198.51.100.10", "7002"));
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	inv = dup_sent(sent_at(&e, 0));
	reply(r, inv, "200 OK", "alice-tag",
	      "Contact: <sip:alice@192.168.1.10:5060>\r\n" CT_SDP,
	      SDP_TERM_ANSWER("192.168.1.10", "6002"));
	from_term(&e, &alice, r);
	core_req(m, "BYE", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-ch4b") FAR_VIA("z9hG4bK-far-ch4b"), FAR_FROM,
		 "<sip:alice@example.test>;tag=alice-tag", cid, 2, "", "");
	from_core(&e, 20000, m);
	tap_check(t, e.io.n_records == n + 1 &&
			     json_line_ok(e.io.last_record) &&
			     rec_has(&e, "\"direction\": \"incoming\"") &&
			     rec_has(&e, "\"from\": \"" FAR_FROM "\"") &&
			     rec_has(&e, "\"to\": \"<sip:alice@example.test>;tag=alice-tag\"") &&
			     rec_has(&e, "\"end_reason\": \"bye\"") &&
			     rec_has(&e, "\"answer\": " WALL_ISO),
		  "charging: an incoming call: direction incoming, from the far end, to with the terminal's tag");
	if (!rec_has(&e, "\"direction\": \"incoming\""))
		tap_diag("record: %s", e.io.last_record);
	/* Each record built where the one before was (a longer one, the
	 * first): its length its own, no '\0' and no tail of the last. */
	tap_check(t, e.io.n_records == 4 && !e.io.bad_records,
		  "charging: four records, each one whole line (%zu, %zu bad)",
		  e.io.n_records, e.io.bad_records);
out:
	free(inv);
	env_fini(t, &e, "charging");
}

/* --- 13: media timeout ------------------------------------------------------ */

static void test_media_timeout(struct tap *t)
{
	char m[MSG_MAX], r[MSG_MAX], v[512], *inv = NULL, *bye_t = NULL;
	char *bye_c = NULL;
	const char *cid = "mt1@192.168.1.10";
	const struct sent *a, *b;
	osip_message_t *parsed;
	size_t i;
	struct env e;

	if (!env_init(t, &e, CFG_POL("    media_timeout: 5\n", ""),
		      "media timeout"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, cid, "z9hG4bK-mt1",
			 SDP_OFFER("192.168.1.10", "6000"));
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	/* The far end sends something in the dialog: its CSeq 5. */
	core_req(m, "INFO", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-mt1i") FAR_VIA("z9hG4bK-far-mt1i"),
		 BOB_TO_TAGGED, ALICE_FROM, cid, 5, "", "");
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	tap_check(t, e.io.n_sent == 1 && e.io.sent[0].realm == ACC,
		  "media timeout: an in-dialog INFO from the far end relayed");
	e.now = T0 + 4;
	sent_clear(&e.io);
	np_proxy_tick(&e.px, e.now);
	tap_check(t, e.io.n_sent == 0 && flow_count(&e.io) == 4 &&
			     e.io.n_records == 0 &&
			     e.px.core.stats.media_timeouts == 0,
		  "media timeout: 4 s without media: nothing happens");
	e.now = T0 + 5;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, e.io.n_sent == 0 && flow_count(&e.io) == 4,
		  "media timeout: 5 s (the limit): nothing yet");
	e.now = T0 + 6;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, e.io.n_sent == 2,
		  "media timeout: 6 s without media: two BYEs sent (%zu)",
		  e.io.n_sent);
	a = b = &no_sent;
	for (i = 0; i < e.io.n_sent; i++) {
		if (e.io.sent[i].realm == ACC)
			a = &e.io.sent[i];
		else
			b = &e.io.sent[i];
	}
	bye_t = dup_sent(a);
	bye_c = dup_sent(b);
	/* Toward the terminal, as the far end would send it. */
	tap_check(t, sent_route(a, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(a, "BYE sip:alice@192.168.1.10:5060 SIP/2.0"),
		  "media timeout: BYE to the terminal's NAT mapping from 5060, Request-URI its Contact");
	tap_check(t, hdr_is(a, "From", 0, BOB_TO_TAGGED) &&
			     hdr_is(a, "To", 0, ALICE_FROM),
		  "media timeout: BYE to the terminal: From the far end's To (tag), To the terminal's From (tag)");
	tap_check(t, hdr_is(a, "Call-ID", 0, cid), "media timeout: BYE to the terminal: Call-ID");
	hdr_value(a->buf, "CSeq", 0, v, sizeof(v));
	tap_check(t, strtoul(v, NULL, 10) > 5 && strstr(v, " BYE"),
		  "media timeout: BYE to the terminal: CSeq above the far end's 5 (%s)", v);
	tap_check(t, via_count(a) == 1 &&
			     !strncmp(strstr(a->buf, "Via: ") ? strstr(a->buf, "Via: ") : "",
				      "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK", 48),
		  "media timeout: BYE to the terminal: one Via, ours (203.0.113.1:5060)");
	parsed = NULL;
	tap_check(t, !np_sipmsg_parse(a->buf, a->len, &parsed) && clen_ok(a),
		  "media timeout: BYE to the terminal is well-formed SIP");
	if (parsed)
		osip_message_free(parsed);
	/* Toward the softswitch, as the terminal would send it. */
	tap_check(t, sent_route(b, CORE, 20000, "198.51.100.2", 5060) &&
			     first_line_is(b, "BYE sip:far@198.51.100.10:5060 SIP/2.0"),
		  "media timeout: BYE to the softswitch from core port 20000, Request-URI the far end's Contact");
	tap_check(t, hdr_is(b, "From", 0, ALICE_FROM) &&
			     hdr_is(b, "To", 0, BOB_TO_TAGGED) &&
			     hdr_is(b, "Call-ID", 0, cid) &&
			     hdr_is(b, "CSeq", 0, "2 BYE"),
		  "media timeout: BYE to the softswitch: From the terminal's, To with the far tag, CSeq 2");
	tap_check(t, via_count(b) == 1 &&
			     strstr(b->buf, "Via: SIP/2.0/UDP 198.51.100.1:20000;branch=z9hG4bK"),
		  "media timeout: BYE to the softswitch: our Via 198.51.100.1:20000");
	tap_check(t, !strstr(b->buf, "192.168.1.10:"),
		  "media timeout: no private host:port toward the core");
	if (strstr(b->buf, "192.168.1.10:"))
		tap_diag("BYE to the softswitch:\n%s", b->buf);
	parsed = NULL;
	tap_check(t, !np_sipmsg_parse(b->buf, b->len, &parsed) && clen_ok(b),
		  "media timeout: BYE to the softswitch is well-formed SIP");
	if (parsed)
		osip_message_free(parsed);
	tap_check(t, flow_count(&e.io) == 0 &&
			     e.px.core.media_ports[ACC].in_use == 0 &&
			     e.px.core.media_ports[CORE].in_use == 0 &&
			     e.px.core.live_calls[ACC] == 0 && e.px.core.live_calls[CORE] == 0,
		  "media timeout: flows deleted, ports and call slots freed");
	tap_check(t, e.io.n_records == 1 &&
			     rec_has(&e, "\"end_reason\": \"media-timeout\"") &&
			     json_line_ok(e.io.last_record),
		  "media timeout: record with end_reason media-timeout");
	tap_check(t, e.px.core.stats.media_timeouts == 1 &&
			     e.px.core.stats.calls_ended == 1,
		  "media timeout: media_timeouts 1, calls_ended 1");
	tap_check(t, e.px.core.pair_ctr[0].calls_ended[NP_END_MEDIA_TIMEOUT] == 1 &&
			     e.px.sip.ctr[ACC].requests_out[NP_SIP_BYE] == 1 &&
			     e.px.sip.ctr[CORE].requests_out[NP_SIP_BYE] == 1,
		  "media timeout: metrics: ended by media-timeout, our BYE sent on each realm");
	/* Both sides answer our BYEs: consumed here. */
	reply(r, bye_t, "200 OK", NULL, "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	reply(r, bye_c, "200 OK", NULL, KS_SERVER, "");
	from_core(&e, 20000, r);
	tap_check(t, e.io.n_sent == 0 && e.px.core.stats.unmatched == 0,
		  "media timeout: the 200 OKs to our BYEs are consumed, not forwarded");
	e.now = T0 + 20;
	sent_clear(&e.io);
	np_proxy_tick(&e.px, e.now);
	for (i = 0; i < e.io.n_sent; i++)
		if (!strncmp(e.io.sent[i].buf, "BYE ", 4))
			break;
	tap_check(t, i == e.io.n_sent && e.io.n_records == 1,
		  "media timeout: no further BYE or record later");

	/* An incoming call: From and To the other way round. */
	free(inv);
	core_req(m, "INVITE", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-mt4") FAR_VIA("z9hG4bK-far-mt4"), FAR_FROM,
		 "<sip:alice@example.test>", "mt4@198.51.100.10", 3,
		 FAR_CONTACT CT_SDP, SDP_FAR("198.51.100.10", "7002"));
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	inv = dup_sent(sent_at(&e, 0));
	reply(r, inv, "200 OK", "alice-tag",
	      "Contact: <sip:alice@192.168.1.10:5060>\r\n" CT_SDP,
	      SDP_TERM_ANSWER("192.168.1.10", "6002"));
	from_term(&e, &alice, r);
	e.now = T0 + 20 + 6;
	sent_clear(&e.io);
	np_proxy_tick(&e.px, e.now);
	a = b = &no_sent;
	for (i = 0; i < e.io.n_sent; i++) {
		if (e.io.sent[i].realm == ACC)
			a = &e.io.sent[i];
		else
			b = &e.io.sent[i];
	}
	tap_check(t, e.io.n_sent == 2 &&
			     first_line_is(a, "BYE sip:alice@192.168.1.10:5060 SIP/2.0") &&
			     hdr_is(a, "From", 0, FAR_FROM) &&
			     hdr_is(a, "To", 0, ALICE_FROM) &&
			     hdr_is(a, "CSeq", 0, "4 BYE"),
		  "media timeout, incoming: BYE to the terminal From the far end, To the terminal (tag), CSeq 4");
	tap_check(t, sent_route(b, CORE, 20000, "198.51.100.2", 5060) &&
			     first_line_is(b, "BYE sip:far@198.51.100.10:5060 SIP/2.0") &&
			     hdr_is(b, "From", 0, ALICE_FROM) &&
			     hdr_is(b, "To", 0, FAR_FROM) &&
			     hdr_is(b, "CSeq", 0, "1 BYE"),
		  "media timeout, incoming: BYE to the softswitch From the terminal (tag), To the far end, CSeq 1");
	if (e.io.n_sent == 2 && !hdr_is(b, "CSeq", 0, "1 BYE"))
		tap_diag("BYE to the softswitch:\n%s", b->buf);
	tap_check(t, flow_count(&e.io) == 0 && e.io.n_records == 2 &&
			     rec_has(&e, "\"direction\": \"incoming\"") &&
			     rec_has(&e, "\"end_reason\": \"media-timeout\""),
		  "media timeout, incoming: flows gone, record media-timeout");
out:
	free(inv);
	free(bye_t);
	free(bye_c);
	inv = NULL;
	env_fini(t, &e, "media timeout");

	/* Media that moves keeps the call. */
	if (!env_init(t, &e, CFG_POL("    media_timeout: 5\n", ""),
		      "media timeout, media flowing"))
		goto out2;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "mt2@192.168.1.10", "z9hG4bK-mt2",
			 SDP_OFFER("192.168.1.10", "6000"));
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	/* Its counters are read when it could have timed out, not every
	 * tick: not before +6 (silence counts from the answer at the most),
	 * then (moved at +1) not before +7. */
	e.io.n_counter_reads = 0;
	for (e.now = T0 + 1; e.now <= T0 + 5; e.now++) {
		e.io.last_seen_ns = (uint64_t)(T0 + 1) * 1000000000ull;
		np_proxy_tick(&e.px, e.now);
	}
	tap_check(t, e.io.n_counter_reads == 0,
		  "media flowing: no counter read before it could have been "
		  "silent for 5 s since the answer (%zu reads)",
		  e.io.n_counter_reads);
	np_proxy_tick(&e.px, e.now);
	tap_check(t, e.io.n_counter_reads == 4,
		  "media flowing: counters read once in 6 ticks (4 flows), not every tick (%zu reads)",
		  e.io.n_counter_reads);
	e.io.last_seen_ns = (uint64_t)(T0 + 3) * 1000000000ull;
	e.now = T0 + 7;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, e.io.n_counter_reads == 8,
		  "media flowing: read again at +7, when it could have been silent for 5 s (%zu reads)",
		  e.io.n_counter_reads);
	e.now = T0 + 8;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, sent_besides_keepalives(&e.io) == 0 &&
			     flow_count(&e.io) == 4,
		  "media flowing: last packet at +3, tick at +8: call kept");
	e.now = T0 + 9;
	sent_clear(&e.io);
	np_proxy_tick(&e.px, e.now);
	tap_check(t, sent_besides_keepalives(&e.io) == 2 &&
			     flow_count(&e.io) == 0 &&
			     e.px.core.stats.media_timeouts == 1,
		  "media flowing: silent since +3, tick at +9: call ended");
	/* An unanswered call is not subject to the media timeout. */
	sent_clear(&e.io);
	free(inv);
	inv = invite_out(&e, &alice, "mt3@192.168.1.10", "z9hG4bK-mt3",
			 SDP_OFFER("192.168.1.10", "6000"));
	e.now = T0 + 60;
	sent_clear(&e.io);
	np_proxy_tick(&e.px, e.now);
	tap_check(t, flow_count(&e.io) == 4 && e.px.core.stats.media_timeouts == 1,
		  "media timeout: a ringing call is left alone");
out2:
	free(inv);
	env_fini(t, &e, "media timeout, media flowing");
}

/* --- 14: latch events ------------------------------------------------------- */

static void test_latched(struct tap *t)
{
	struct np_flow_key k;
	struct np_sockaddr src = sa("203.0.113.11", 50000);
	char *inv = NULL;
	struct env e;

	if (!env_init(t, &e, CFG_MAIN, "latched"))
		goto out;
	np_log_set_level(NP_LOG_ERROR);
	k = fkey("203.0.113.1", 30000);
	np_core_latched(&e.px.core, &k, &src, false);
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "la1@192.168.1.10", "z9hG4bK-la1",
			 SDP_OFFER("192.168.1.10", "6000"));
	np_log_set_level(NP_LOG_DEBUG);
	np_core_latched(&e.px.core, &k, &src, false);
	k = fkey("203.0.113.1", 30001);
	np_core_latched(&e.px.core, &k, &src, false);
	k = fkey("203.0.113.1", 31000);
	np_core_latched(&e.px.core, &k, &src, false);
	k = fkey("2001:db8::1", 0);
	src = sa("2001:db8::5", 1);
	np_core_latched(&e.px.core, &k, &src, false);
	np_log_set_level(NP_LOG_WARN);
	tap_check(t, flow_count(&e.io) == 4 && e.io.n_sent == 1,
		  "latched: known and unknown keys logged, nothing changed");
	{
		/* A latch finds its call by the relay port, not by a walk
		 * over every call. */
		const struct np_term *tm = e.px.core.terms;
		const struct np_call *call = tm ? tm->calls : NULL;

		tap_check(t, call &&
				     np_portpool_holder(&e.px.core.media_ports[ACC],
							30000) == call &&
				     np_portpool_holder(&e.px.core.media_ports[ACC],
							30001) == call &&
				     np_portpool_holder(&e.px.core.media_ports[CORE],
							call->streams[0].core_port + 1) == call &&
				     !np_portpool_holder(&e.px.core.media_ports[ACC],
							 30002),
			  "latched: the call holds its four relay ports, no other");
		if (call)
			np_call_end(&e.px.core, e.px.core.terms,
				    e.px.core.terms->calls, NP_END_OTHER, e.now);
		tap_check(t, !np_portpool_holder(&e.px.core.media_ports[ACC],
						 30000),
			  "latched: its ports held by no one once it ended");
	}
out:
	free(inv);
	env_fini(t, &e, "latched");
}

/*
 * Many transactions in flight at once (the signaling benchmark keeps tens of
 * thousands: they live 64 s, 300 for an INVITE), answered newest last: each
 * response still finds its own, from the terminal's side and from the
 * core's; and once expired they are gone from the index too.
 */
#define MANY_TXNS 3000

static void test_many_transactions(struct tap *t)
{
	char cfg[4096];
	char m[MSG_MAX], r[MSG_MAX], branch[64], cid[64], want[128];
	char vias[256];
	char **reqs = calloc(MANY_TXNS, sizeof(*reqs));
	size_t i, ok_term = 0, ok_core = 0, ok_retrans = 0;
	uint64_t unmatched;
	const struct sent *s;
	struct env e;

	if (!reqs) {
		tap_check(t, false, "many transactions: memory");
		return;
	}
	/* Thousands in flight from one terminal in one second: what the
	 * per-source limits exist to refuse, switched off here. */
	if (!env_init(t, &e,
		      cfg_with(cfg, CFG_MAIN, "    sip_port: 5060\n",
			       "    max_requests_per_address: 0\n"
			       "    max_requests_per_mapping: 0\n"
			       "    max_transactions_per_terminal: 0\n"),
		      "many transactions"))
		goto out;
	np_log_set_level(NP_LOG_ERROR);
	do_register(&e, &alice, 1, 3600);
	/* From the terminal: REGISTERs of as many users, no answer yet. */
	for (i = 0; i < MANY_TXNS; i++) {
		snprintf(branch, sizeof(branch), "z9hG4bK-many-%zu", i);
		snprintf(cid, sizeof(cid), "many-%zu", i);
		term_req(m, &alice, "REGISTER", "sip:example.test", branch,
			 cid, 1, "<sip:alice@example.test>",
			 "Expires: 3600\r\n", "");
		sent_clear(&e.io);
		from_term(&e, &alice, m);
		reqs[i] = dup_sent(sent_at(&e, 0));
	}
	for (i = MANY_TXNS; i-- > 0;) {
		reply(r, reqs[i], "200 OK", "ks-many",
		      "Contact: <sip:alice@198.51.100.1:20000>;expires=3600\r\n",
		      "");
		sent_clear(&e.io);
		from_core(&e, 20000, r);
		snprintf(branch, sizeof(branch), "z9hG4bK-many-%zu", i);
		snprintf(want, sizeof(want), "SIP/2.0/UDP 192.168.1.10:5060;branch=%s;rport",
			 branch);
		s = sent_at(&e, 0);
		ok_term += e.io.n_sent == 1 &&
			   sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			   hdr_is(s, "Via", 0, want);
		free(reqs[i]);
		reqs[i] = NULL;
	}
	tap_check(t, ok_term == MANY_TXNS,
		  "many transactions: %d REGISTERs in flight, each 200 finds its own Via (%zu)",
		  MANY_TXNS, ok_term);
	/* From the core: as many requests to the terminal, then each one
	 * again (a retransmission keeps the branch we gave it). */
	for (i = 0; i < MANY_TXNS; i++) {
		snprintf(vias, sizeof(vias),
			 KS_VIA("z9hG4bK-ks-%zu") FAR_VIA("z9hG4bK-far-%zu"), i,
			 i);
		snprintf(cid, sizeof(cid), "msg-%zu", i);
		core_req(m, "MESSAGE", "sip:alice@198.51.100.1:20000", vias,
			 FAR_FROM, "<sip:alice@example.test>", cid, 1, "", "");
		sent_clear(&e.io);
		from_core(&e, 20000, m);
		reqs[i] = dup_sent(sent_at(&e, 0));
		sent_clear(&e.io);
		from_core(&e, 20000, m);
		ok_retrans += e.io.n_sent == 1 &&
			      !strcmp(sent_at(&e, 0)->buf, reqs[i]);
	}
	tap_check(t, ok_retrans == MANY_TXNS,
		  "many transactions: a retransmission from the core goes out with the same branch (%zu)",
		  ok_retrans);
	for (i = MANY_TXNS; i-- > 0;) {
		reply(r, reqs[i], "200 OK", "alice-many", "", "");
		sent_clear(&e.io);
		from_term(&e, &alice, r);
		snprintf(branch, sizeof(branch), "z9hG4bK-ks-%zu", i);
		s = sent_at(&e, 0);
		ok_core += e.io.n_sent == 1 &&
			   sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			   via_is(s, 0, "198.51.100.2", "5060", branch) &&
			   via_count(s) == 2;
	}
	tap_check(t, ok_core == MANY_TXNS,
		  "many transactions: %d requests from the core, each answer goes to the softswitch with its Vias (%zu)",
		  MANY_TXNS, ok_core);
	/* Past their lifetime they are gone: a late answer matches nothing. */
	e.now += 65;
	np_proxy_tick(&e.px, e.now);
	unmatched = e.px.core.stats.unmatched;
	reply(r, reqs[0], "200 OK", "alice-many", "", "");
	sent_clear(&e.io);
	from_term(&e, &alice, r);
	tap_check(t, e.io.n_sent == 0 && e.px.core.stats.unmatched == unmatched + 1,
		  "many transactions: expired, a late answer is not relayed");
	np_log_set_level(NP_LOG_WARN);
out:
	for (i = 0; reqs && i < MANY_TXNS; i++)
		free(reqs[i]);
	free(reqs);
	env_fini(t, &e, "many transactions");
}

static void osip_quiet(const char *file, int line, osip_trace_level_t level,
		       const char *fmt, va_list ap)
{
	(void)file;
	(void)line;
	(void)level;
	(void)fmt;
	(void)ap;
}

/* Reloads e's proxy with yaml as natproxyd does: merge, reconfigure, swap. */
static bool reload_env(struct tap *t, struct env *e, const char *yaml,
		       const char *what)
{
	struct np_config next, merged, old;
	char err[256];
	int ret;

	ret = np_config_parse(what, yaml, strlen(yaml), &next, err,
			      sizeof(err));
	if (!ret) {
		ret = np_reload_merge(&e->cfg, &next, &merged, NULL, NULL, err,
				      sizeof(err));
		if (ret)
			np_config_free(&next);
	}
	if (!ret) {
		ret = np_proxy_reconfigure(&e->px, &merged);
		if (ret) {
			np_config_free(&merged);
		} else {
			old = e->cfg;
			e->cfg = merged;
			e->px.core.cfg = &e->cfg;
			np_config_free(&old);
		}
	}
	return tap_check(t, !ret, "%s: reloaded (%d %s)", what, ret,
			 ret ? err : "");
}

#define CFG_DRAIN                                                              \
	"realms:\n"                                                            \
	"  - name: access2\n"                                                  \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.2\n"                                           \
	"    sip_port: 5060\n"                                                 \
	"    media_ports: 30000-30099\n"                                       \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: 20000-20009\n"                                         \
	"    media_ports: 40000-40099\n"                                       \
	"pairs:\n"                                                             \
	"  - first: access2\n"                                                 \
	"    second: core\n"                                                   \
	"    softswitch: 198.51.100.2:5060\n"

/*
 * A reload under live calls (what SIGHUP does, minus the I/O): a prefix
 * denied since refuses new calls of a terminal, not its live call; a pair
 * gone from the file drains: no new terminal, registration or call (503),
 * live calls end as usual, its access socket closes with its last
 * terminal; a new pair's realm gets its port pools.
 */
static void test_reconfigure(struct tap *t)
{
	struct ua dave = { "dave", "192.168.1.30", sa("203.0.113.13", 40003) };
	char m[MSG_MAX], *inv = NULL, *inv_b = NULL;
	const struct sent *s;
	uint16_t pa, pb;
	struct env e;
	size_t i;
	bool closed;

	if (!env_init(t, &e, CFG_POL("", ""), "reconfigure"))
		goto out;
	pa = do_register(&e, &alice, 1, 3600);
	pb = do_register(&e, &bob, 1, 3600);
	inv = invite_out(&e, &alice, "rc1@192.168.1.10", "z9hG4bK-rc1",
			 SDP_OFFER("192.168.1.10", "6000"));
	answer_out(&e, &alice, inv, pa, SDP_FAR("198.51.100.10", "7000"));
	inv_b = invite_out(&e, &bob, "rc2@192.168.1.10", "z9hG4bK-rc2",
			   SDP_OFFER("192.168.1.10", "6002"));
	answer_out(&e, &bob, inv_b, pb, SDP_FAR("198.51.100.10", "7002"));
	tap_check(t, flow_count(&e.io) == 8 && e.px.core.live_calls[ACC] == 2,
		  "reconfigure: two live calls (8 flows)");

	/* alice's NAT denied, at most 5 calls: new values in force. */
	if (!reload_env(t, &e,
			CFG_POL("    deny:\n      - 203.0.113.11/32\n"
				"    max_calls: 5\n",
				""),
			"reconfigure deny"))
		goto out;
	tap_check(t, e.px.core.cfg->realms[ACC].max_calls == 5 &&
			     e.px.core.cfg->realms[ACC].n_deny == 1 &&
			     flow_count(&e.io) == 8,
		  "reconfigure deny: the policy is the file's, the flows untouched");
	term_req(m, &alice, "INVITE", "sip:bob@example.test", "z9hG4bK-rc3",
		 "rc3@192.168.1.10", 1, BOB_TO, CT_SDP,
		 SDP_OFFER("192.168.1.10", "6004"));
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "reconfigure deny, new call");
	tap_check(t, sent_route(s, ACC, 5060, "203.0.113.11", 40001) &&
			     first_line_is(s, "SIP/2.0 403 Forbidden") &&
			     flow_count(&e.io) == 8,
		  "reconfigure deny: a new call from the denied NAT gets 403");
	term_req(m, &alice, "BYE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-rc1bye", "rc1@192.168.1.10", 2, BOB_TO_TAGGED, "",
		 "");
	sent_clear(&e.io);
	from_term(&e, &alice, m);
	s = one_sent(t, &e, "reconfigure deny, BYE of the live call");
	tap_check(t, sent_route(s, CORE, pa, "198.51.100.2", 5060) &&
			     first_line_is(s, "BYE sip:far@198.51.100.10:5060 SIP/2.0") &&
			     flow_count(&e.io) == 4 && e.io.n_records == 1,
		  "reconfigure deny: the live call's BYE still passes, the call ends and is billed");

	/* The pair access->core leaves the file: it drains. */
	if (!reload_env(t, &e, CFG_DRAIN, "reconfigure drain"))
		goto out;
	tap_check(t, e.cfg.n_realms == 3 && e.cfg.n_pairs == 2 &&
			     e.cfg.pairs[0].draining &&
			     e.px.core.media_ports[2].hi == 30099 &&
			     e.px.core.signal_ports[CORE].hi == 20009,
		  "reconfigure drain: pair 0 drains; the new realm (index 2) has its pools");
	term_req(m, &bob, "INVITE", "sip:far@example.test", "z9hG4bK-rc4",
		 "rc4@192.168.1.10", 1, "<sip:far@example.test>", CT_SDP,
		 SDP_OFFER("192.168.1.10", "6006"));
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "reconfigure drain, new call");
	tap_check(t, first_line_is(s, "SIP/2.0 503 Service Unavailable") &&
			     flow_count(&e.io) == 4,
		  "reconfigure drain: a new call in the draining pair gets 503");
	term_req(m, &bob, "REGISTER", "sip:example.test", "z9hG4bK-rc5",
		 "reg-bob-0001", 2, "<sip:bob@example.test>",
		 "Expires: 3600\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "reconfigure drain, re-REGISTER");
	tap_check(t, first_line_is(s, "SIP/2.0 503 Service Unavailable"),
		  "reconfigure drain: a registration refresh gets 503");
	term_req(m, &dave, "REGISTER", "sip:example.test", "z9hG4bK-rc6",
		 "reg-dave-0001", 1, "<sip:dave@example.test>",
		 "Expires: 3600\r\n", "");
	sent_clear(&e.io);
	i = e.io.n_opened;
	from_term(&e, &dave, m);
	s = one_sent(t, &e, "reconfigure drain, new terminal");
	tap_check(t, first_line_is(s, "SIP/2.0 503 Service Unavailable") &&
			     e.io.n_opened == i && !term_of(&e, &dave.nat),
		  "reconfigure drain: a new terminal gets 503, no core socket");
	term_req(m, &bob, "BYE", "sip:far@198.51.100.10:5060",
		 "z9hG4bK-rc2bye", "rc2@192.168.1.10", 2, BOB_TO_TAGGED, "",
		 "");
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "reconfigure drain, BYE");
	tap_check(t, sent_route(s, CORE, pb, "198.51.100.2", 5060) &&
			     flow_count(&e.io) == 0 && e.io.n_records == 2,
		  "reconfigure drain: the live call ends with its BYE and is billed");
	term_req(m, &bob, "REGISTER", "sip:example.test", "z9hG4bK-rc7",
		 "reg-bob-0001", 3, "<sip:bob@example.test>",
		 "Expires: 0\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "reconfigure drain, un-REGISTER");
	tap_check(t, sent_route(s, CORE, pb, "198.51.100.2", 5060),
		  "reconfigure drain: an un-REGISTER passes");
	/* Registrations end, idle terminals go, then the access socket. */
	for (i = 0; i < 4 && e.px.core.terms; i++) {
		e.now += 3700;
		np_proxy_tick(&e.px, e.now);
	}
	closed = false;
	for (i = 0; i < e.io.n_closed; i++)
		closed |= e.io.closed[i].realm == ACC &&
			  e.io.closed[i].port == 5060;
	tap_check(t, !e.px.core.terms && closed,
		  "reconfigure drain: with its last terminal gone, the pair's access socket closes");
out:
	free(inv);
	free(inv_b);
	env_fini(t, &e, "reconfigure");
}

/*
 * A terminal natproxy drops (keepalives unanswered) with a call up: the
 * call ends with BYE to both sides and a record saying terminal-lost.
 */
static void test_terminal_lost(struct tap *t)
{
	int byes_acc = 0, byes_core = 0;
	char *inv = NULL;
	struct env e;
	time_t end;
	size_t i;

	if (!env_init(t, &e, CFG_MAIN, "terminal lost"))
		return;
	do_register(&e, &alice, 1, 3600);
	inv = invite_out(&e, &alice, "lost@192.168.1.10", "z9hG4bK-lost",
			 SDP_OFFER("192.168.1.10", "6000"));
	answer_out(&e, &alice, inv, 20000, SDP_FAR("198.51.100.10", "7000"));
	/* Keep the media alive so only the lost binding ends the call. */
	end = e.now + 1000;
	while (e.px.core.terms && e.now < end) {
		e.now++;
		sent_clear(&e.io);
		e.io.last_seen_ns = (uint64_t)e.now * 1000000000ull;
		np_proxy_tick(&e.px, e.now);
		for (i = 0; i < e.io.n_sent; i++) {
			if (strncmp(e.io.sent[i].buf, "BYE ", 4))
				continue;
			if (e.io.sent[i].realm == ACC)
				byes_acc++;
			else
				byes_core++;
		}
	}
	tap_check(t, !e.px.core.terms && byes_acc == 1 && byes_core == 1,
		  "terminal lost: its call ends with one BYE each way (%d, %d)",
		  byes_acc, byes_core);
	tap_check(t, strstr(e.io.last_record, "\"end_reason\": \"terminal-lost\"") &&
			     e.px.core.pair_ctr[0].calls_ended[NP_END_TERMINAL_LOST] == 1,
		  "terminal lost: one record, end_reason terminal-lost");
	free(inv);
	env_fini(t, &e, "terminal lost");
}

/*
 * A released core port is quarantined (docs/sip.md): it answers 480 to the
 * softswitch and is not given to another terminal until its time is up.
 */
static void test_quarantine(struct tap *t)
{
	char m[MSG_MAX], cfg[4096], *q;
	const struct sent *s;
	struct env e;

	snprintf(cfg, sizeof(cfg), "%s", CFG_V4("30000-30099", "20000-20000"));
	q = strstr(cfg, "sip_port_quarantine: 0");
	if (q)
		memcpy(q, "sip_port_quarantine: 9", 22);
	if (!env_init(t, &e, cfg, "quarantine"))
		return;
	do_register(&e, &alice, 1, 60);
	do_register(&e, &alice, 2, 0);
	e.now += 64;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, !np_term_by_core_port(&e.px.core, CORE, 20000) &&
			     e.io.n_closed == 0,
		  "quarantine: alice released, her core socket still open");
	core_req(m, "OPTIONS", "sip:alice@198.51.100.1:20000",
		 KS_VIA("z9hG4bK-ks-q1"), FAR_FROM, "<sip:alice@example.test>",
		 "q1@example.test", 1, "", "");
	sent_clear(&e.io);
	from_core(&e, 20000, m);
	s = one_sent(t, &e, "quarantine, request for the old address");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060) &&
			     first_line_is(s, "SIP/2.0 480 Temporarily Unavailable"),
		  "quarantine: the softswitch's request for her gets 480 from her old address");
	term_req(m, &bob, "REGISTER", "sip:example.test", "z9hG4bK-regq",
		 "reg-bob-q", 1, "<sip:bob@example.test>", "Expires: 60\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "quarantine, a new terminal");
	tap_check(t, first_line_is(s, "SIP/2.0 503 Service Unavailable") &&
			     e.io.n_opened == 1,
		  "quarantine: the port is not given to bob yet (503)");
	e.now += 9;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, e.io.n_closed == 1,
		  "quarantine: after 9 s the socket is closed, the port free");
	sent_clear(&e.io);
	from_term(&e, &bob, m);
	s = one_sent(t, &e, "quarantine over");
	tap_check(t, sent_route(s, CORE, 20000, "198.51.100.2", 5060),
		  "quarantine: then bob gets port 20000");
	env_fini(t, &e, "quarantine");
}

/*
 * Issue 11: admission before allocation and per-source limits. Only a
 * REGISTER or a new INVITE makes a terminal; a source over its rate is
 * dropped before parsing; a terminal's calls and open transactions, and
 * an address's terminals, are capped.
 */
static void test_limits(struct tap *t)
{
	struct ua mallory = { "mallory", "192.168.9.9",
			      sa("203.0.113.66", 40066) };
	struct ua mallory2 = { "m2", "192.168.9.10",
			       sa("203.0.113.66", 40067) };
	struct ua mallory3 = { "m3", "192.168.9.11",
			       sa("203.0.113.66", 40068) };
	char m[MSG_MAX], cfg[4096], cid[64], br[64];
	const struct sent *s;
	struct env e;
	int i, answered;

	if (!env_init(t, &e,
		      cfg_with(cfg, CFG_MAIN, "    sip_port: 5060\n",
			       "    max_requests_per_mapping: 5\n"
			       "    max_terminals_per_address: 2\n"
			       "    max_calls_per_terminal: 2\n"
			       "    max_transactions_per_terminal: 4\n"),
		      "limits"))
		return;
	term_req(m, &mallory, "OPTIONS", "sip:bob@example.test", "z9hG4bK-l1",
		 "l1@x", 1, "<sip:bob@example.test>", CT_SDP,
		 SDP_OFFER("192.168.9.9", "6000"));
	sent_clear(&e.io);
	from_term(&e, &mallory, m);
	s = one_sent(t, &e, "limits, OPTIONS from a stranger");
	tap_check(t, first_line_is(s, "SIP/2.0 200 OK") && !e.px.core.terms &&
			     e.io.n_opened == 0 &&
			     e.px.core.media_ports[ACC].in_use == 0,
		  "limits: an OPTIONS (with SDP) from an unknown source is answered here: no terminal, port or relay");
	term_req(m, &mallory, "MESSAGE", "sip:bob@example.test", "z9hG4bK-l2",
		 "l2@x", 1, "<sip:bob@example.test>", "", "");
	sent_clear(&e.io);
	from_term(&e, &mallory, m);
	s = one_sent(t, &e, "limits, MESSAGE from a stranger");
	tap_check(t, first_line_is(s, "SIP/2.0 403 Not Registered") &&
			     !e.px.core.terms && e.io.n_opened == 0,
		  "limits: any other request from an unknown source gets 403, costs nothing");
	/* 5 datagrams a second from one mapping: the next ones are dropped
	 * unread; the next second they pass again. */
	for (i = 0, answered = 0; i < 6; i++) {
		sent_clear(&e.io);
		from_term(&e, &mallory, m);
		answered += e.io.n_sent;
	}
	tap_check(t, answered == 3 && e.px.core.stats.rate_limited == 3,
		  "limits: over 5 a second from one mapping, dropped before parsing (answered %d, rate_limited %llu)",
		  answered, (unsigned long long)e.px.core.stats.rate_limited);
	tap_check(t, e.io.n_blocks == 1 &&
			     np_sockaddr_eq(&e.io.block_src, &mallory.nat) &&
			     e.io.block_len == 32 && e.io.block_seconds == 30 &&
			     e.px.core.stats.sources_blocked == 1,
		  "limits: the mapping over its limit is blocked in XDP once, for block_time's default 30s (%zu blocks)",
		  e.io.n_blocks);
	e.now++;
	sent_clear(&e.io);
	from_term(&e, &mallory, m);
	tap_check(t, e.io.n_sent == 1, "limits: the next second it passes again");
	/* Terminals per address: two phones behind one address, not three. */
	do_register(&e, &mallory, 1, 3600);
	tap_check(t, e.io.n_known_told == 1 && e.io.known_added &&
			     np_sockaddr_eq(&e.io.known_src, &mallory.nat) &&
			     e.px.core.known == 1,
		  "limits: a registered terminal's mapping is known to XDP");
	do_register(&e, &mallory2, 1, 3600);
	term_req(m, &mallory3, "REGISTER", "sip:example.test", "z9hG4bK-l3",
		 "l3@x", 1, "<sip:m3@example.test>", "Expires: 3600\r\n", "");
	sent_clear(&e.io);
	from_term(&e, &mallory3, m);
	s = one_sent(t, &e, "limits, a third terminal of one address");
	tap_check(t, first_line_is(s, "SIP/2.0 503 Service Unavailable") &&
			     e.io.n_opened == 2,
		  "limits: a third terminal behind one address gets 503, no core port");
	/* Calls per terminal: two, then 503 without a relay port. */
	for (i = 0, answered = 0; i < 3; i++) {
		snprintf(cid, sizeof(cid), "lc%d@x", i);
		snprintf(br, sizeof(br), "z9hG4bK-lc%d", i);
		e.now++;
		term_req(m, &mallory, "INVITE", "sip:bob@example.test", br,
			 cid, 1, "<sip:bob@example.test>", CT_SDP,
			 SDP_OFFER("192.168.9.9", "6000"));
		sent_clear(&e.io);
		from_term(&e, &mallory, m);
		answered += first_line_is(sent_at(&e, 0),
					  "SIP/2.0 503 Service Unavailable");
	}
	tap_check(t, answered == 1 && e.px.core.media_ports[ACC].in_use == 4,
		  "limits: a terminal's third call gets 503, two calls' relays only (%u)",
		  e.px.core.media_ports[ACC].in_use);
	/* Transactions waiting for a final response: the two INVITEs the
	 * softswitch has not answered (the REGISTER got its 200, the third
	 * INVITE natproxy's 503), two OPTIONS more, then 503. */
	for (i = 0, answered = 0; i < 3; i++) {
		snprintf(br, sizeof(br), "z9hG4bK-lt%d", i);
		e.now++;
		term_req(m, &mallory, "OPTIONS", "sip:bob@example.test", br,
			 "lt@x", i + 1, "<sip:bob@example.test>", "", "");
		sent_clear(&e.io);
		from_term(&e, &mallory, m);
		answered += first_line_is(sent_at(&e, 0),
					  "SIP/2.0 503 Service Unavailable");
	}
	tap_check(t, answered == 1,
		  "limits: past 4 transactions waiting for an answer a terminal's request gets 503");
	env_fini(t, &e, "limits");
}

/*
 * The tick visits only the terminals due (a heap by next due time): at
 * every second, what it did for each terminal must be what a walk over
 * all of them would have done, decided here from each terminal's state
 * before the tick (the walk's own conditions), and no terminal may wait
 * in the heap past its next event.
 */
enum tick_act { ACT_NONE, ACT_KA, ACT_LOST, ACT_EXPIRED, ACT_FREED };

#define TICK_TERMS 48
#define IDLE_LIFETIME 64 /* ctl/core/core.c: IDLE_TERM_LIFETIME */
#define NEWCOMER_LIFETIME_S 16 /* ctl/core/core.c: NEWCOMER_LIFETIME */

static time_t term_keep(const struct np_term *x)
{
	return x->ever_registered ? IDLE_LIFETIME : NEWCOMER_LIFETIME_S;
}

/* What the walk over every terminal would do for x at now. */
static enum tick_act walk_would(const struct np_term *x, time_t now)
{
	if (x->registered_until && x->registered_until <= now)
		return ACT_EXPIRED;
	if (!x->registered_until)
		return !x->calls && now - x->idle_since >= term_keep(x) ?
			       ACT_FREED :
			       ACT_NONE;
	if (now < x->ka_due)
		return ACT_NONE;
	return x->ka_sent && x->ka_missed + 1 >= 3 ? ACT_LOST : ACT_KA;
}

/* x's next event by time (none of these terminals has a call). */
static time_t next_event(const struct np_term *x)
{
	if (x->registered_until)
		return x->registered_until < x->ka_due ? x->registered_until :
							 x->ka_due;
	return x->idle_since + term_keep(x);
}

/* slice: 0 for whole ticks, else np_proxy_tick_some() slices of that
 * many terminals, called until the tick is done (as natproxyd does, with
 * input served in between). */
static void test_tick_visits(struct tap *t, size_t slice)
{
	static char names[TICK_TERMS][16], hosts[TICK_TERMS][24];
	struct ua u[TICK_TERMS];
	struct {
		time_t reg, ka_due;
		enum tick_act act;
	} before[TICK_TERMS];
	unsigned acts[ACT_FREED + 1] = { 0 }, wrong = 0, late = 0, stale = 0;
	unsigned sliced = 0, most = 0, slices;
	char m[MSG_MAX], r[MSG_MAX], opt[MSG_MAX], name[32];
	struct env e;
	size_t i, k, n_opt;
	int j;

	snprintf(name, sizeof(name), slice ? "tick visits, slices" :
					     "tick visits");
	if (!env_init(t, &e, CFG_V4("30000-30099", "20000-20199"), name))
		goto out;
	for (i = 0; i < TICK_TERMS; i++) {
		snprintf(names[i], sizeof(names[i]), "tv%zu", i);
		snprintf(hosts[i], sizeof(hosts[i]), "203.0.113.%zu", 100 + i);
		u[i] = (struct ua){ names[i], "192.168.1.10",
				    sa(hosts[i], (uint16_t)(40000 + i)) };
		/* 0: registered 50 s, then idle; 1: never answers keepalives;
		 * 2: a REGISTER never answered (a newcomer); 3: answers. */
		switch (i % 4) {
		case 0:
			do_register(&e, &u[i], 1, 50);
			break;
		case 2:
			term_req(m, &u[i], "REGISTER", "sip:example.test",
				 "z9hG4bK-tv-new", "tv-new", 1,
				 "<sip:new@example.test>", "Expires: 60\r\n", "");
			from_term(&e, &u[i], m);
			break;
		default:
			do_register(&e, &u[i], 1, 3600);
		}
	}
	sent_clear(&e.io);
	while (e.now < T0 + 200) {
		e.now++;
		/* A change between ticks: half of those answering unregister
		 * (their idle lifetime starts then). */
		if (e.now == T0 + 30)
			for (i = 3; i < TICK_TERMS; i += 8)
				do_register(&e, &u[i], 2, 0);
		for (i = 0; i < TICK_TERMS; i++) {
			const struct np_term *x =
				np_term_by_nat(&e.px.core, 0, &u[i].nat);

			before[i].act = x ? walk_would(x, e.now) : ACT_NONE;
			before[i].reg = x ? x->registered_until : -1;
			before[i].ka_due = x ? x->ka_due : -1;
		}
		sent_clear(&e.io);
		if (!slice)
			np_proxy_tick(&e.px, e.now);
		for (slices = 1;
		     slice && !np_proxy_tick_some(&e.px, e.now, slices == 1,
						  slice);
		     slices++)
			;
		sliced += slice && slices > 1;
		most = slices > most ? slices : most;
		n_opt = 0;
		for (k = 0; k < e.io.n_sent; k++)
			n_opt += !strncmp(e.io.sent[k].buf, "OPTIONS ", 8);
		for (i = 0; i < TICK_TERMS; i++) {
			const struct np_term *x =
				np_term_by_nat(&e.px.core, 0, &u[i].nat);
			bool pinged = false;

			for (k = 0; k < e.io.n_sent; k++)
				pinged |= !strncmp(e.io.sent[k].buf, "OPTIONS ", 8) &&
					  np_sockaddr_eq(&e.io.sent[k].to,
							 &u[i].nat);
			acts[before[i].act]++;
			switch (before[i].act) {
			case ACT_KA:
				wrong += !x || !pinged || x->ka_due <= e.now;
				n_opt--;
				break;
			case ACT_LOST:
			case ACT_FREED:
				wrong += x != NULL;
				break;
			case ACT_EXPIRED:
				wrong += !x || x->registered_until || pinged;
				break;
			case ACT_NONE:
				wrong += before[i].reg >= 0 &&
					 (!x || pinged ||
					  x->registered_until != before[i].reg ||
					  x->ka_due != before[i].ka_due);
				break;
			}
			if (x && (!np_timer_set_p(&x->visit) ||
				  x->visit.due > next_event(x)))
				late++;
		}
		wrong += n_opt != 0; /* an OPTIONS to no one expected */
		stale += e.px.core.term_timers.n &&
			 e.px.core.term_timers.heap[0]->due <= e.now;
		/* Those of kind 3 answer their keepalives. */
		for (k = 0; k < e.io.n_sent; k++) {
			if (strncmp(e.io.sent[k].buf, "OPTIONS ", 8))
				continue;
			for (j = 3; j < TICK_TERMS; j += 4)
				if (np_sockaddr_eq(&e.io.sent[k].to, &u[j].nat))
					break;
			if (j >= TICK_TERMS)
				continue;
			snprintf(opt, sizeof(opt), "%s", e.io.sent[k].buf);
			reply(r, opt, "200 OK", "tv-ka", "", "");
			from_term(&e, &u[j], r);
		}
	}
	tap_check(t, acts[ACT_KA] > 100 && acts[ACT_LOST] == 12 &&
			     acts[ACT_EXPIRED] == 12 && acts[ACT_FREED] == 30,
		  "tick visits: the case has keepalives (%u), bindings lost (%u), registrations run out (%u), idle terminals freed (%u)",
		  acts[ACT_KA], acts[ACT_LOST], acts[ACT_EXPIRED],
		  acts[ACT_FREED]);
	tap_check(t, wrong == 0,
		  "tick visits: every second, each terminal got what the walk over all would have given it (%u differ)",
		  wrong);
	tap_check(t, late == 0 && stale == 0,
		  "tick visits: no terminal waits in the heap past its next event (%u), none due is left after a tick (%u)",
		  late, stale);
	tap_check(t, !e.px.core.terms ||
			     e.px.core.term_timers.n <= e.px.core.n_terms,
		  "tick visits: at most one timer per terminal (%zu for %zu)",
		  e.px.core.term_timers.n, e.px.core.n_terms);
	if (slice)
		tap_check(t, sliced > 0 && most >= TICK_TERMS / slice,
			  "tick visits, slices of %zu: %u ticks took more than one, up to %u",
			  slice, sliced, most);
out:
	env_fini(t, &e, name);
}

/* Alice's calls, as the core holds them. */
static size_t alice_calls(struct env *e)
{
	const struct np_term *x = np_term_by_nat(&e->px.core, 0, &alice.nat);

	return x ? x->n_calls : 0;
}

#define PBX_CALLS 100
#define PBX_ANSWERED 60
#define PBX_SLICE 10

/*
 * A PBX behind one mapping, its calls each timed by itself: a tick in
 * slices of PBX_SLICE looks at no more calls per slice than that (one
 * terminal's hundreds were all walked at each of its visits), ends each
 * call at its second, never before.
 */
static void test_pbx_calls(struct tap *t)
{
	char cid[64], branch[64], *inv;
	unsigned slices, most = 0, early = 0;
	size_t i, ended;
	struct env e;

	if (!env_init(t, &e,
		      "realms:\n"
		      "  - name: access\n"
		      "    interface: acc0\n"
		      "    address: 203.0.113.1\n"
		      "    sip_port: 5060\n"
		      "    media_ports: 30000-30999\n"
		      "    media_timeout: 5\n"
		      "    max_calls_per_terminal: 200\n"
		      "  - name: core\n"
		      "    interface: core0\n"
		      "    address: 198.51.100.1\n"
		      "    sip_ports: 20000-20009\n"
		      "    media_ports: 40000-40999\n"
		      "pairs:\n"
		      "  - first: access\n"
		      "    second: core\n"
		      "    softswitch: 198.51.100.2:5060\n"
		      /* Keepalives that want no answer: the terminal stays. */
		      "keepalive:\n"
		      "  method: crlf\n",
		      "pbx calls"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	/* The first PBX_ANSWERED answered (silent: no media ever), the rest
	 * ringing until their 300 s run out. */
	for (i = 0; i < PBX_CALLS; i++) {
		snprintf(cid, sizeof(cid), "pbx%zu@192.168.1.10", i);
		snprintf(branch, sizeof(branch), "z9hG4bK-pbx%zu", i);
		inv = invite_out(&e, &alice, cid, branch,
				 SDP_OFFER("192.168.1.10", "6000"));
		if (i < PBX_ANSWERED)
			answer_out(&e, &alice, inv, 20000,
				   SDP_FAR("198.51.100.10", "7000"));
		free(inv);
	}
	tap_check(t, alice_calls(&e) == PBX_CALLS,
		  "pbx calls: %d calls up on one terminal (%zu)", PBX_CALLS,
		  alice_calls(&e));
	for (e.now = T0 + 1; e.now <= T0 + 301; e.now++) {
		ended = e.io.n_records;
		for (slices = 1; !np_proxy_tick_some(&e.px, e.now, slices == 1,
						       PBX_SLICE);
		     slices++) {
			most = e.io.n_records - ended > most ?
				       (unsigned)(e.io.n_records - ended) :
				       most;
			ended = e.io.n_records;
			sent_clear(&e.io);
		}
		most = e.io.n_records - ended > most ?
			       (unsigned)(e.io.n_records - ended) :
			       most;
		sent_clear(&e.io);
		if (e.now == T0 + 5 || e.now == T0 + 299)
			early += alice_calls(&e) !=
				 (e.now == T0 + 5 ? PBX_CALLS :
						    PBX_CALLS - PBX_ANSWERED);
		if (e.now == T0 + 6)
			tap_check(t, alice_calls(&e) == PBX_CALLS - PBX_ANSWERED &&
					     e.px.core.stats.media_timeouts ==
						     PBX_ANSWERED,
				  "pbx calls: the answered ones end at 6 s, by the media timeout (%zu left)",
				  alice_calls(&e));
	}
	tap_check(t, !early, "pbx calls: none ends before its second");
	tap_check(t, alice_calls(&e) == 0 &&
			     e.io.n_records == PBX_CALLS &&
			     !e.px.core.call_timers.n &&
			     !e.px.core.call_timers.n_wheel,
		  "pbx calls: the ringing ones end at 300 s; every call billed once, no timer left (%zu records)",
		  e.io.n_records);
	tap_check(t, most > 0 && most <= PBX_SLICE,
		  "pbx calls: a slice of the tick ends at most %d of one terminal's calls (%u)",
		  PBX_SLICE, most);
out:
	env_fini(t, &e, "pbx calls");
}

/* A reload that shortens the media timeout: each call, waiting to be
 * looked at under the old one, is looked at at the next tick. */
static void test_timeout_by_reload(struct tap *t)
{
	char cid[64], branch[64], *inv;
	struct env e;
	size_t i;

	if (!env_init(t, &e, CFG_POL("    media_timeout: 600\n", "    media_timeout: 600\n"),
		      "timeout by reload"))
		goto out;
	do_register(&e, &alice, 1, 3600);
	for (i = 0; i < 3; i++) {
		snprintf(cid, sizeof(cid), "tr%zu@192.168.1.10", i);
		snprintf(branch, sizeof(branch), "z9hG4bK-tr%zu", i);
		inv = invite_out(&e, &alice, cid, branch,
				 SDP_OFFER("192.168.1.10", "6000"));
		answer_out(&e, &alice, inv, 20000,
			   SDP_FAR("198.51.100.10", "7000"));
		free(inv);
	}
	for (e.now = T0 + 1; e.now <= T0 + 30; e.now++)
		np_proxy_tick(&e.px, e.now);
	tap_check(t, alice_calls(&e) == 3 && e.px.core.call_timers.n == 3 &&
			     e.px.core.call_timers.heap[0]->due > T0 + 600,
		  "timeout by reload: a media timeout of 600 s: 3 silent calls stay, looked at again after 600 s (%zu)",
		  alice_calls(&e));
	if (!reload_env(t, &e,
			CFG_POL("    media_timeout: 5\n", ""),
			"timeout by reload"))
		goto out;
	e.now++;
	np_proxy_tick(&e.px, e.now);
	tap_check(t, alice_calls(&e) == 0 &&
			     e.px.core.stats.media_timeouts == 3,
		  "timeout by reload: down to 5 s: the 3 silent for 30 s end at the next tick (%zu left)",
		  alice_calls(&e));
out:
	env_fini(t, &e, "timeout by reload");
}

int main(void)
{
	struct tap t = { 0 };
	struct osip_arena_stats arena;

	np_sipmsg_init();
	/* libosip2 traces parse errors on stdout, in the middle of TAP. */
	osip_trace_initialize_func(OSIP_FATAL, osip_quiet);
	np_log_set_level(NP_LOG_WARN);
	ua_init();
	test_register(&t);
	test_outgoing_call(&t);
	test_incoming_call(&t);
	test_rejected_call(&t);
	test_two_mlines(&t);
	test_rtcp_mux_and_hold(&t);
	test_ipv6(&t);
	test_two_terminals(&t);
	test_malformed(&t);
	test_exhaustion(&t);
	test_keepalive(&t);
	test_tick_visits(&t, 0);
	test_tick_visits(&t, 5);
	test_access_control(&t);
	test_max_registrations(&t);
	test_branch_collision(&t);
	test_max_calls(&t);
	test_bandwidth(&t);
	test_dscp_vlan(&t);
	test_latch_modes(&t);
	test_charging(&t);
	test_media_timeout(&t);
	test_pbx_calls(&t);
	test_timeout_by_reload(&t);
	test_quarantine(&t);
	test_terminal_lost(&t);
	test_limits(&t);
	test_latched(&t);
	test_many_transactions(&t);
	test_reconfigure(&t);
	/* Nothing of libosip2's outlives its message: every block the
	 * arena handed out (osip_arena.c) came back. */
	osip_arena_stats(&arena);
	tap_check(&t, arena.live == 0 && arena.blocks > 0,
		  "no libosip2 block outlives its message (%zu live of %llu)",
		  arena.live, arena.blocks);
	return tap_done(&t);
}
