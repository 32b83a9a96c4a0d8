/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The body every protocol fuzz target shares (proxy_fuzz.c for SIP,
 * mgcp_fuzz.c, h248_fuzz.c): a fake io that keeps flows and counts
 * sockets, the input loop (datagrams separated by NUL bytes, each led by
 * a control byte: the side it arrives on, one of four NAT mappings, how
 * far the clock moves), and the teardown checks (no flow or socket may
 * outlive the proxy). The including file defines fuzz_config[] (its YAML),
 * FUZZ_PORT (the access port its protocol listens on, also the core peer's)
 * and FUZZ_SEEDS (its seed directory).
 */
#ifndef NATPROXY_TESTS_FUZZ_DRIVE_H
#define NATPROXY_TESTS_FUZZ_DRIVE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "proxy.h"
#include "sip/sipmsg.h"

struct fuzz_io {
	struct np_flow_key keys[FUZZ_MAX_FLOWS];
	struct np_flow flows[FUZZ_MAX_FLOWS];
	int used[FUZZ_MAX_FLOWS];
	int sockets; /* opened minus closed */
	uint16_t core_port; /* the last core socket opened */
	int known; /* mappings told known minus told unknown */
};

static int find(struct fuzz_io *f, const struct np_flow_key *k)
{
	int i;

	for (i = 0; i < FUZZ_MAX_FLOWS; i++)
		if (f->used[i] && !memcmp(&f->keys[i], k, sizeof(*k)))
			return i;
	return -1;
}

static int io_open(void *ctx, size_t realm, uint16_t port)
{
	struct fuzz_io *f = ctx;

	(void)realm;
	f->sockets++;
	f->core_port = port;
	return 0;
}

static void io_close(void *ctx, size_t realm, uint16_t port)
{
	(void)realm;
	(void)port;
	((struct fuzz_io *)ctx)->sockets--;
}

/* FUZZ_EACH_DATAGRAM(buf, len): the including target's check of every
 * datagram in and out, if it has one. */
#ifndef FUZZ_EACH_DATAGRAM
#define FUZZ_EACH_DATAGRAM(buf, len) ((void)(buf), (void)(len))
#endif

static int io_send(void *ctx, size_t realm, uint16_t from_port,
		   const struct np_sockaddr *to, const char *buf, size_t len)
{
	(void)ctx, (void)realm, (void)from_port, (void)to;
	FUZZ_EACH_DATAGRAM(buf, len);
	return 0;
}

static int io_flow_put(void *ctx, const struct np_flow_key *key,
		       const struct np_flow *flow)
{
	struct fuzz_io *f = ctx;
	int i = find(f, key);

	for (int j = 0; i < 0 && j < FUZZ_MAX_FLOWS; j++)
		if (!f->used[j])
			i = j;
	if (i < 0)
		return -ENOSPC;
	f->used[i] = 1;
	f->keys[i] = *key;
	f->flows[i] = *flow;
	return 0;
}

static int io_flow_get(void *ctx, const struct np_flow_key *key,
		       struct np_flow *flow)
{
	struct fuzz_io *f = ctx;
	int i = find(f, key);

	if (i < 0)
		return -ENOENT;
	*flow = f->flows[i];
	return 0;
}

static int io_flow_del(void *ctx, const struct np_flow_key *key,
		       struct np_counters *last)
{
	struct fuzz_io *f = ctx;
	int i = find(f, key);

	if (last)
		memset(last, 0, sizeof(*last));
	if (i < 0)
		return -ENOENT;
	f->used[i] = 0;
	return 0;
}

static int io_counters(void *ctx, const struct np_flow_key *key,
		       struct np_counters *now)
{
	memset(now, 0, sizeof(*now));
	return find(ctx, key) < 0 ? -ENOENT : 0;
}

static void io_charge(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	/* A record is one JSON line. */
	if (!len || line[len - 1] != '\n' || memchr(line, '\n', len) != line + len - 1)
		abort();
}

static double io_wall(void *ctx)
{
	(void)ctx;
	return 1796040000.0;
}

/* A block names a mapping, an address (port 0) or a prefix (port 0, host
 * bits zero), never anything else. */
static void io_source_block(void *ctx, const struct np_sockaddr *src,
			    uint8_t prefix_len, uint32_t seconds)
{
	(void)ctx;
	if (src->family != AF_INET || !seconds ||
	    (prefix_len != 32 && prefix_len != 24) ||
	    (prefix_len == 24 && (src->port || (ntohl(src->addr.v4.s_addr) & 0xff))))
		abort();
}

/* Told once each way: a terminal known twice, or forgotten while not
 * known, would leave the guard's map out of step. */
static void io_source_known(void *ctx, const struct np_sockaddr *nat,
			    bool known)
{
	struct fuzz_io *f = ctx;

	(void)nat;
	f->known += known ? 1 : -1;
	if (f->known < 0)
		abort();
}

static const struct np_core_io fuzz_ops = {
	.signal_open = io_open,
	.signal_close = io_close,
	.send = io_send,
	.flow_put = io_flow_put,
	.flow_get = io_flow_get,
	.flow_del = io_flow_del,
	.counters_get = io_counters,
	.charge = io_charge,
	.wall = io_wall,
	.source_block = io_source_block,
	.source_known = io_source_known,
};

static struct np_sockaddr v4(uint32_t host_order, uint16_t port)
{
	struct np_sockaddr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	a.addr.v4.s_addr = htonl(host_order);
	a.port = port;
	return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct np_config cfg;
	static int cfg_ok;
	struct fuzz_io *io;
	struct np_proxy px;
	time_t now = 1000;
	char err[256];
	size_t pos = 0;

	if (!cfg_ok) {
		np_sipmsg_init();
		/* Refusals of hostile input are the point here, not news. */
		if (!getenv("NP_FUZZ_STATS"))
			np_log_set_level(NP_LOG_ERROR);
		if (np_config_parse("fuzz.yaml", fuzz_config,
				    sizeof(fuzz_config) - 1, &cfg, err,
				    sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
		cfg_ok = 1;
	}
	io = calloc(1, sizeof(*io));
	if (!io || np_proxy_init(&px, &cfg, &fuzz_ops, io))
		abort();
	while (pos < size) {
		const uint8_t *end = memchr(data + pos, 0, size - pos);
		size_t len = (end ? (size_t)(end - data) : size) - pos;
		uint8_t ctl = len ? data[pos] : 0;

		if (len > 1) {
			FUZZ_EACH_DATAGRAM((const char *)data + pos + 1, len - 1);
			now += ctl >> 3;
			np_proxy_tick(&px, now);
			if (ctl & 1) {
				struct np_sockaddr ss = v4(0xc6336402, FUZZ_PORT);

				np_proxy_input(&px, 1, io->core_port, &ss,
					       (const char *)data + pos + 1,
					       len - 1, now);
			} else {
				/* Four NATs on the access network. */
				struct np_sockaddr nat =
					v4(0xcb00710b + ((ctl >> 1) & 3),
					   40000 + ((ctl >> 1) & 3));

				np_proxy_input(&px, 0, FUZZ_PORT, &nat,
					       (const char *)data + pos + 1,
					       len - 1, now);
			}
		}
		pos += len + 1;
	}
	if (getenv("NP_FUZZ_STATS"))
		fprintf(stderr, "calls started %llu ended %llu, forwarded %llu, "
			"malformed %llu, unmatched %llu, rate-limited %llu, "
			"blocked %llu\n",
			(unsigned long long)px.core.stats.calls_started,
			(unsigned long long)px.core.stats.calls_ended,
			(unsigned long long)px.core.stats.forwarded,
			(unsigned long long)px.core.stats.malformed,
			(unsigned long long)px.core.stats.unmatched,
			(unsigned long long)px.core.stats.rate_limited,
			(unsigned long long)px.core.stats.sources_blocked);
	/* Two hours on, every registration has expired, every call has
	 * ended (media timeout at the latest) and every transaction is gone:
	 * nothing may still hold a port or a flow. */
	for (time_t t = now; t <= now + 7200; t += 5)
		np_proxy_tick(&px, t);
	for (size_t r = 0; r < cfg.n_realms; r++)
		if (px.core.media_ports[r].in_use ||
		    (px.core.signal_ports[r].used && px.core.signal_ports[r].in_use))
			abort(); /* a port outlived its call or terminal */
	if (px.core.terms || io->known || px.core.known)
		abort(); /* a terminal, or the guard's note of one, outlived it */
	np_proxy_fini(&px);
	for (int i = 0; i < FUZZ_MAX_FLOWS; i++)
		if (io->used[i])
			abort(); /* a flow outlived the proxy */
	if (io->sockets)
		abort(); /* a core socket was never closed */
	free(io);
	return 0;
}

#ifndef NP_LIBFUZZER
#include "replay.h"

int main(int argc, char **argv)
{
	static const char *const seeds[] = { FUZZ_SEEDS, NULL };

	return fuzz_replay_main(argc, argv, seeds);
}
#endif

#endif
