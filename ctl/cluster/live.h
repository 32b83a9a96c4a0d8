/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A live call as the active node publishes it once a second (its field in
 * the media hash, docs/ha.md): per stream the volumes XDP counted so far in
 * each direction and what each of its flows latched onto. A standby puts
 * the latches into its own flows (taking over is then moving addresses),
 * and at takeover carries the volumes into the call's charging record.
 */
#ifndef NATPROXY_CLUSTER_LIVE_H
#define NATPROXY_CLUSTER_LIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

#define NP_LIVE_KEY_MAX 300

/* The call's field name: pair, the terminal's core port, the call id. */
void np_live_key(const struct np_term *t, const struct np_call *call,
		 char *buf, size_t len);

/* The call's field value, from the maps; NULL on no memory (free()). */
char *np_live_text(struct np_core *core, const struct np_term *t,
		   const struct np_call *call);

/* Latches of text put into the call's flows here, where they differ.
 * -EINVAL: text damaged or not of this call's streams. */
int np_live_latch(struct np_core *core, const struct np_term *t,
		  const struct np_call *call, const char *text);

/* Whether texts a and b name the same streams and latches, whatever their
 * volumes: a standby has nothing to put into the flows of a call whose
 * field changed only in its counts (every second, while media flows). */
bool np_live_same_latches(const char *a, const char *b);

/* The volumes of text added to the call's (its record then counts what
 * both nodes relayed). -EINVAL: text damaged. */
int np_live_volumes(const char *text, struct np_call *call);

#endif
