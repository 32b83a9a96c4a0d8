// SPDX-License-Identifier: GPL-2.0-only
/*
 * Media for the standby benchmark (bench/standby.sh): every IPv4 flow of a
 * running natproxy gets one RTP frame a second, run through its own relay
 * program by bpf_prog_test_run_opts as if it arrived on the interface that
 * holds the flow's relay address (so, in the caller's network namespace).
 * Every flow's counters then move every second, as with calls carrying
 * media, without a sender and a NAT mapping per stream; the frames are not
 * sent on. Each comes from the source the flow expects (its latched or
 * strict source, else the terminal's signaling address), so it is relayed,
 * and latches a flow still waiting for its first packet. The seconds are
 * cut in 50 slices, each running its share of the flows. Bounded by
 * SECONDS; prints how many frames each verdict took.
 *
 *   media_pulse PIN_DIR SECONDS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "flowtab.h"
#include "natproxy.h"
#include "pins.h"
#include "rtp_frame.h"

#define SLICES 50
#define ANY_SOURCE_PORT 4000 /* where the flow takes any */

struct pulse {
	__u32 ifindex;
	__u8 frame[RTP_FRAME_LEN];
};

struct pulses {
	struct pulse *v;
	size_t n, room;
	size_t skipped; /* IPv6, or no interface holds the address */
};

/* The interface holding IPv4 address addr in this namespace; 0 if none. */
static __u32 ifindex_of(__be32 addr)
{
	struct ifaddrs *ifs, *i;
	__u32 found = 0;

	if (getifaddrs(&ifs))
		return 0;
	for (i = ifs; i && !found; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == addr)
			found = if_nametoindex(i->ifa_name);
	freeifaddrs(ifs);
	return found;
}

static int add_pulse(const struct np_flow_key *key, const struct np_flow *flow,
		     const struct np_counters *counters, void *arg)
{
	struct pulses *ps = arg;
	__be32 saddr = flow->expect_saddr.v4;
	__be16 sport = flow->expect_sport;
	struct pulse *p;

	(void)counters;
	if (key->family != NP_AF_INET) {
		ps->skipped++;
		return 0;
	}
	if (ps->n == ps->room) {
		p = reallocarray(ps->v, ps->room * 2 + 64, sizeof(*p));
		if (!p)
			return -ENOMEM;
		ps->v = p;
		ps->room = ps->room * 2 + 64;
	}
	p = &ps->v[ps->n];
	p->ifindex = ifindex_of(key->addr.v4);
	if (!p->ifindex) {
		ps->skipped++;
		return 0;
	}
	if (!saddr)
		saddr = flow->home_saddr.v4;
	if (!sport)
		sport = htons(ANY_SOURCE_PORT);
	rtp_frame4(p->frame, (const __u8 *)"\x02\x00\x00\x00\x00\x20", saddr,
		   sport, key->addr.v4, key->port, 64);
	ps->n++;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	double d = t - now_s();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	static const char *const verdict[] = { "aborted", "drop", "pass", "tx",
					       "redirect" };
	unsigned long long runs[5] = { 0 }, failed = 0;
	struct np_maps maps = NP_MAPS_NONE;
	struct pulses ps = { 0 };
	char path[512];
	double start;
	int prog_fd, seconds, s, slice, err;
	size_t i;

	if (argc != 3 || (seconds = atoi(argv[2])) <= 0 || seconds > 3600) {
		fprintf(stderr, "usage: media_pulse PIN_DIR SECONDS (1..3600)\n");
		return 2;
	}
	err = np_maps_open(argv[1], &maps);
	if (!err)
		err = np_pin_path(path, sizeof(path), argv[1], NP_PROG_PIN);
	prog_fd = err ? -1 : bpf_obj_get(path);
	if (!err && prog_fd < 0)
		err = -errno;
	if (!err)
		err = np_flow_foreach(&maps, add_pulse, &ps);
	if (err) {
		fprintf(stderr, "media_pulse: %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	printf("media_pulse: %zu flows, one frame each a second for %d s (%zu passed over)\n",
	       ps.n, seconds, ps.skipped);
	fflush(stdout);
	start = now_s();
	for (s = 0; s < seconds; s++)
		for (slice = 0; slice < SLICES; slice++) {
			sleep_until(start + s + (double)slice / SLICES);
			for (i = ps.n * slice / SLICES; i < ps.n * (slice + 1) / SLICES; i++) {
				struct xdp_md md = { .data_end = RTP_FRAME_LEN,
						     .ingress_ifindex = ps.v[i].ifindex };
				LIBBPF_OPTS(bpf_test_run_opts, opts,
					    .data_in = ps.v[i].frame,
					    .data_size_in = RTP_FRAME_LEN,
					    .ctx_in = &md, .ctx_size_in = sizeof(md));

				if (bpf_prog_test_run_opts(prog_fd, &opts))
					failed++;
				else if (opts.retval < 5)
					runs[opts.retval]++;
			}
		}
	printf("media_pulse: %.1f s;", now_s() - start);
	for (i = 0; i < 5; i++)
		printf(" %s %llu", verdict[i], runs[i]);
	printf(", failed runs %llu\n", failed);
	free(ps.v);
	np_maps_close(&maps);
	return failed ? 1 : 0;
}
