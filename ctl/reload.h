/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a configuration reload (SIGHUP) may change, decided without I/O.
 * The running proxy refers to realms and pairs by index, so the merged
 * configuration keeps every running realm and pair at its index: realms
 * and pairs still in the file take its policy keys, new ones are appended,
 * pairs gone from the file are kept but draining (live calls finish, no new
 * ones). What cannot change under live sockets and flows (a realm's
 * interface, address and ports, a pair's softswitch) keeps its running
 * value, and a note says so.
 */
#ifndef NATPROXY_RELOAD_H
#define NATPROXY_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* One line for the log; warn: something asked for was not done. */
typedef void (*np_reload_note_fn)(void *arg, bool warn, const char *text);

/*
 * Merges next (a freshly loaded file) into running. On success returns 0,
 * fills out (free it with np_config_free) and consumes next (freed). On a
 * conflict the merge cannot resolve (ports of a new realm overlapping a
 * kept one, a realm first of a new pair and of a draining one), returns
 * -EINVAL with one line in err; running and next are left as they were.
 */
int np_reload_merge(const struct np_config *running, struct np_config *next,
		    struct np_config *out, np_reload_note_fn note, void *arg,
		    char *err, size_t errlen);

#endif
