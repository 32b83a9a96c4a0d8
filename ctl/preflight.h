/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What natproxyd checks before it touches anything (and all that
 * `natproxyd --check` does): every realm's interface exists and runs no
 * other XDP program, its address is one of this host's, the pin directory
 * is (or can be made) on a bpffs, the charging file and the state file can
 * be written, and the state file is not another instance's. Nothing is
 * created or changed.
 */
#ifndef NATPROXY_PREFLIGHT_H
#define NATPROXY_PREFLIGHT_H

#include "config.h"

/* Called once per problem found, with one line saying what is wrong. */
typedef void (*np_problem_fn)(void *arg, const char *text);

/* How many problems were found (each reported through fn). */
int np_preflight(const struct np_config *cfg, const char *pin_dir,
		 const char *state_path, np_problem_fn fn, void *arg);

/*
 * Whether path could be opened for writing by a process that may create its
 * directory (only the last one, as natproxyd does): 0, or -errno with why
 * in buf. what names the file in the message ("charging file").
 */
int np_writable(const char *what, const char *path, char *why, size_t len);

/* Creates path's directory if it is the only one missing (mode 0750). */
int np_make_parent(const char *path);

#endif
