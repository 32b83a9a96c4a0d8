/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The monotonic clock in milliseconds: what the event loop, the cluster's
 * threads and their deadlines (leases, promises, steps) are measured in.
 */
#ifndef NATPROXY_CLOCK_H
#define NATPROXY_CLOCK_H

#include <time.h>

static inline double np_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#endif
