/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * natproxyd's persistent state: terminals, their registrations and live
 * call legs, in a text file replaced atomically (write, rename) on
 * every change. Flows live in pinned maps and keep relaying while the daemon
 * is down; with this file a restarted natproxyd adopts what it had, and
 * natproxyctl lists live calls. Times are CLOCK_MONOTONIC seconds, which
 * survive a daemon restart (not a reboot, nor do the flows).
 */
#ifndef NATPROXY_STATE_H
#define NATPROXY_STATE_H

#include "proxy.h"

#define NP_DEFAULT_STATE "/run/natproxy/state"

int np_state_save(const struct np_proxy *px, const char *path);

struct np_state_visit {
	/* A terminal, with the addresses of its pair's access and core
	 * realms (so the file can be read without the configuration). */
	int (*term)(void *arg, const struct np_term *t,
		    const struct np_sockaddr *access,
		    const struct np_sockaddr *core);
	/* One of the last terminal's legs. */
	int (*leg)(void *arg, const struct np_leg *leg);
};

/* Reads path; -ENOENT if absent, -EINVAL with a log line if damaged. */
int np_state_read(const char *path, const struct np_state_visit *visit,
		  void *arg);

#endif
