/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the in-process proxy benchmarks (statesave, standby) share: one
 * pair with room for tens of thousands of terminals and calls, and a
 * monotonic clock in seconds.
 */
#ifndef NATPROXY_BENCH_PROXY_H
#define NATPROXY_BENCH_PROXY_H

#include <time.h>

#define BENCH_PROXY_CFG                                                        \
	"realms:\n"                                                            \
	"  - name: access\n"                                                   \
	"    interface: acc0\n"                                                \
	"    address: 203.0.113.1\n"                                           \
	"    sip_port: 5060\n"                                                 \
	"    media_ports: 30000-59999\n"                                       \
	"  - name: core\n"                                                     \
	"    interface: core0\n"                                               \
	"    address: 198.51.100.1\n"                                          \
	"    sip_ports: 10000-29999\n"                                         \
	"    media_ports: 30000-59999\n"                                       \
	"pairs:\n"                                                             \
	"  - first: access\n"                                                  \
	"    second: core\n"                                                   \
	"    softswitch: 198.51.100.2:5060\n"

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
