// SPDX-License-Identifier: GPL-2.0-only
/*
 * A live call's field in the media hash (live.h). The text:
 *
 *   live1 N (I ACTIVE ACCESS_PORT CORE_PORT UP_PACKETS UP_BYTES
 *            DOWN_PACKETS DOWN_BYTES FLOW FLOW FLOW FLOW) * N
 *
 * FLOW, for the access RTP, access RTCP, core RTP and core RTCP flows in
 * that order: "-" (none), or FLAGS,EXPECT,EXPECT_PORT,DEST,DEST_PORT: the
 * flow's latch flags (hex), the source it latched onto and where it sends
 * (addresses as 32 hex digits, ports in host order).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/live.h"

#define FLOWS 4 /* access RTP, access RTCP, core RTP, core RTCP */
/* A stream's words in the text: I ACTIVE ACCESS_PORT CORE_PORT, the four
 * volumes, the four flows. */
#define STREAM_WORDS (4 + 4 + FLOWS)
#define FIRST_VOLUME 4

void np_live_key(const struct np_term *t, const struct np_call *call,
		 char *buf, size_t len)
{
	snprintf(buf, len, "%zu:%u:%s", t->pair, t->core_port, call->id);
}

static void flow_keys(struct np_core *core, const struct np_term *t,
		      const struct np_stream *s, struct np_flow_key k[FLOWS])
{
	const struct np_pair *pair = np_core_pair(core, t);

	np_core_key(&k[0], &core->cfg->realms[pair->first], s->access_port);
	np_core_key(&k[1], &core->cfg->realms[pair->first],
		    s->access_port + 1);
	np_core_key(&k[2], &core->cfg->realms[pair->second], s->core_port);
	np_core_key(&k[3], &core->cfg->realms[pair->second], s->core_port + 1);
}

/*
 * The text is built by hand, not with stdio: at ten thousand calls a
 * second the active node formats 280,000 numbers and 40,000 flows a
 * second, and fprintf was a quarter of its CPU (bench/README.md).
 */
#define STREAM_TEXT_MAX 512 /* 8 numbers and 4 flows: under 460 bytes */

static char *put_u64(char *o, unsigned long long v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*o++ = tmp[--n];
	return o;
}

static char *put_num(char *o, unsigned long long v)
{
	*o++ = ' ';
	return put_u64(o, v);
}

static char *put_hex(char *o, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		*o++ = digits[b[i] >> 4];
		*o++ = digits[b[i] & 15];
	}
	return o;
}

/* FLAGS,EXPECT,EXPECT_PORT,DEST,DEST_PORT (live.c's head), after a space. */
static char *put_flow(char *o, const struct np_flow *flow)
{
	static const char digits[] = "0123456789abcdef";
	unsigned int flags = flow->flags & NP_F_LATCH_STATE;
	char tmp[8];
	int n = 0;

	*o++ = ' ';
	do
		tmp[n++] = digits[flags & 15];
	while ((flags >>= 4));
	while (n)
		*o++ = tmp[--n];
	*o++ = ',';
	o = put_hex(o, &flow->expect_saddr, sizeof(flow->expect_saddr));
	*o++ = ',';
	o = put_u64(o, ntohs(flow->expect_sport));
	*o++ = ',';
	o = put_hex(o, &flow->new_daddr, sizeof(flow->new_daddr));
	*o++ = ',';
	return put_u64(o, ntohs(flow->new_dport));
}

static int get_hex(const char *s, void *p, size_t n)
{
	unsigned char *b = p;
	unsigned int v;
	size_t i;

	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		b[i] = (unsigned char)v;
	}
	return 0;
}

char *np_live_text(struct np_core *core, const struct np_term *t,
		   const struct np_call *call)
{
	struct np_flow_key keys[FLOWS];
	struct np_flow flows[FLOWS];
	bool have[FLOWS];
	struct np_volume up, down;
	char *text = malloc(32 + call->n_streams * STREAM_TEXT_MAX), *o;
	size_t i;
	int k;

	if (!text)
		return NULL;
	o = text + 5;
	memcpy(text, "live1", 5);
	o = put_num(o, call->n_streams);
	for (i = 0; i < call->n_streams; i++) {
		const struct np_stream *s = &call->streams[i];

		memset(&up, 0, sizeof(up));
		memset(&down, 0, sizeof(down));
		/* The flows first: their counters are then read with the
		 * entries this turn already holds (np_flowq_counters). */
		flow_keys(core, t, s, keys);
		for (k = 0; k < FLOWS; k++)
			have[k] = s->active &&
				  !core->io->flow_get(core->io_ctx, &keys[k],
						      &flows[k]);
		if (s->active)
			np_stream_volumes(core, t->pair, s, false, &up, &down);
		o = put_num(o, i);
		o = put_num(o, s->active);
		o = put_num(o, s->access_port);
		o = put_num(o, s->core_port);
		o = put_num(o, up.packets);
		o = put_num(o, up.bytes);
		o = put_num(o, down.packets);
		o = put_num(o, down.bytes);
		for (k = 0; k < FLOWS; k++) {
			if (!have[k]) {
				memcpy(o, " -", 2);
				o += 2;
				continue;
			}
			o = put_flow(o, &flows[k]);
		}
	}
	*o = '\0';
	return text;
}

/* One stream of the text, parsed. */
struct live_stream {
	unsigned int index, active, access_port, core_port;
	unsigned long long up_packets, up_bytes, down_packets, down_bytes;
	char flows[FLOWS][128];
};

/* The next stream from *p; -EINVAL if damaged. */
static int next_stream(const char **p, struct live_stream *ls)
{
	int used = 0, k;

	if (sscanf(*p, " %u %u %u %u %llu %llu %llu %llu%n", &ls->index,
		   &ls->active, &ls->access_port, &ls->core_port,
		   &ls->up_packets, &ls->up_bytes, &ls->down_packets,
		   &ls->down_bytes, &used) != 8)
		return -EINVAL;
	*p += used;
	for (k = 0; k < FLOWS; k++) {
		if (sscanf(*p, " %127s%n", ls->flows[k], &used) != 1)
			return -EINVAL;
		*p += used;
	}
	return ls->index < NP_SDP_MAX_MEDIA ? 0 : -EINVAL;
}

static int stream_count(const char **p, size_t *n)
{
	int used = 0;

	if (sscanf(*p, "live1 %zu%n", n, &used) != 1 || *n > NP_SDP_MAX_MEDIA)
		return -EINVAL;
	*p += used;
	return 0;
}

/* A flow's latches from its FLOW field into flow; false: "-" or damaged. */
static bool flow_latch(const char *text, struct np_flow *flow)
{
	char expect[40], dest[40];
	unsigned int flags, eport, dport;

	if (sscanf(text, "%x,%39[0-9a-f],%u,%39[0-9a-f],%u", &flags, expect,
		   &eport, dest, &dport) != 5 ||
	    get_hex(expect, &flow->expect_saddr, sizeof(flow->expect_saddr)) ||
	    eport > 65535 || dport > 65535)
		return false;
	flow->flags = (flow->flags & ~NP_F_LATCH_STATE) |
		      (flags & NP_F_LATCH_STATE);
	flow->expect_sport = htons((uint16_t)eport);
	/* Where it sends only once known there: never back to unknown. */
	if (dport && !get_hex(dest, &flow->new_daddr, sizeof(flow->new_daddr)))
		flow->new_dport = htons((uint16_t)dport);
	return true;
}

int np_live_latch(struct np_core *core, const struct np_term *t,
		  const struct np_call *call, const char *text)
{
	struct np_flow_key keys[FLOWS];
	struct np_flow flow, old;
	struct live_stream ls;
	const char *p = text;
	size_t n, i;
	int k, err;

	err = stream_count(&p, &n);
	for (i = 0; !err && i < n; i++) {
		const struct np_stream *s;

		err = next_stream(&p, &ls);
		if (err)
			break;
		/* The call holds only the streams its SDPs named. */
		if (ls.index >= call->n_streams)
			continue;
		s = &call->streams[ls.index];
		if (!ls.active || !s->active)
			continue;
		if (s->access_port != ls.access_port ||
		    s->core_port != ls.core_port)
			return -EINVAL;
		flow_keys(core, t, s, keys);
		for (k = 0; k < FLOWS; k++) {
			if (core->io->flow_get(core->io_ctx, &keys[k], &old))
				continue;
			flow = old;
			if (!flow_latch(ls.flows[k], &flow) ||
			    !memcmp(&flow, &old, sizeof(flow)))
				continue;
			core->io->flow_put(core->io_ctx, &keys[k], &flow);
		}
	}
	return err;
}

/* Word by word, passing over the volumes' words of each stream (after
 * "live1 N"): no parsing, as a standby compares every call's field every
 * second. */
bool np_live_same_latches(const char *a, const char *b)
{
	size_t word, la, lb, at;

	for (word = 0;; word++) {
		la = strcspn(a, " ");
		lb = strcspn(b, " ");
		at = (word - 2) % STREAM_WORDS;
		if ((word < 2 || at < FIRST_VOLUME || at >= FIRST_VOLUME + 4) &&
		    (la != lb || memcmp(a, b, la)))
			return false;
		a += la;
		b += lb;
		if (!*a || !*b)
			return !*a && !*b;
		a++;
		b++;
	}
}

int np_live_volumes(const char *text, struct np_call *call)
{
	struct live_stream ls;
	const char *p = text;
	size_t n, i;
	int err;

	err = stream_count(&p, &n);
	for (i = 0; !err && i < n; i++) {
		err = next_stream(&p, &ls);
		if (err || !ls.active || ls.index >= call->n_streams)
			continue;
		call->gone_up[ls.index].packets += ls.up_packets;
		call->gone_up[ls.index].bytes += ls.up_bytes;
		call->gone_down[ls.index].packets += ls.down_packets;
		call->gone_down[ls.index].bytes += ls.down_bytes;
	}
	return err;
}
