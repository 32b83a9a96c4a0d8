/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Charging records waiting for Redis to confirm their call's end (docs/ha.md,
 * "Ended calls stay ended"), kept on disk beside the state file
 * (STATE.unfiled) so that a node killed in that moment files them when it
 * starts again, if Redis says the call was billed by it; else its successor
 * took the call over and bills it. Each record: its call's key (live.h) on
 * a line, then the record's line.
 */
#ifndef NATPROXY_CLUSTER_UNFILED_H
#define NATPROXY_CLUSTER_UNFILED_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct np_unfiled {
	struct np_unfiled *next;
	char *key, *line;
	size_t len;
	uint64_t txn; /* the node's: its transaction's number in the queue */
};

/* Writes the list (replacing the file; none: removed). -errno. */
int np_unfiled_save(const char *path, const struct np_unfiled *list);

/*
 * At start: the records a previous run left; each whose call Redis says
 * this node billed goes to record(), the others are dropped (logged). With
 * Redis unreachable the file stays for the next start. Returns how many
 * were filed, or -errno (Redis unreachable: -EAGAIN).
 */
int np_unfiled_reconcile(const char *path, const struct np_cluster_config *cfg,
			 void (*record)(void *arg, const char *line,
					size_t len),
			 void *arg);

#endif
