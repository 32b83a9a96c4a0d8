/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The charging file's writer: each record (one JSON line) is appended whole
 * or not at all, also on a full or failing disk. A write that fails or
 * comes up short is cut off again (ftruncate to the length before it) and
 * the record is held, in order, in memory; the held records are retried on
 * every tick, oldest first, and nothing is dropped while natproxyd runs.
 * At start a torn tail (a crash mid-write) is moved to FILE.torn and the
 * file cut to its last whole record; at shutdown what cannot be written is
 * saved to a spool file next to the state file and re-read at the next
 * start, skipping any record the charging file already ends with (so a
 * record arrives once, also after a crash between the two).
 *
 * Pure logic over a file descriptor: the write and sync calls go through
 * an io table, so tests fake a full disk without one.
 */
#ifndef NATPROXY_CHARGING_FILE_H
#define NATPROXY_CHARGING_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Memory the held records may take before natproxyd says so loudly (it
 * keeps holding them: a record is never dropped while it runs). About
 * 30,000 records of one stream. */
#define NP_CHARGING_HELD_BOUND (32u << 20)

struct np_charging_io {
	ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len);
	int (*sync)(void *ctx, int fd); /* 0 or -1 with errno */
};

struct np_held; /* one record waiting, in a FIFO */

struct np_charging_file {
	char path[PATH_MAX]; /* "" : no charging file (records are not kept) */
	char spool[PATH_MAX]; /* "" : no spool (records left at exit are lost) */
	int fd;
	const struct np_charging_io *io;
	void *io_ctx;
	struct np_held *head, *tail;
	uint64_t pending, pending_bytes;
	uint64_t written, failures; /* records written; failed attempts */
	uint64_t outages; /* times writing started failing */
	size_t bound; /* NP_CHARGING_HELD_BOUND unless a test sets it */
	bool failing; /* the last attempt failed (logged once) */
	bool over_bound; /* pending_bytes > bound (logged once) */
	bool spool_loaded; /* the spool's records are held: remove it when done */
	off_t cut_at; /* >= 0: our torn bytes from here on, not cut off yet */
	bool repair; /* a torn tail found at start is not moved aside yet */
	uint64_t outage_written; /* held records written since the outage began */
	uint64_t torn_bytes; /* moved aside at start */
};

/* Valid JSON text (RFC 8259), the whole of s[0..len). */
bool np_json_valid(const char *s, size_t len);

/*
 * Starts the writer on @fd (opened O_RDWR | O_APPEND, or -1 for none) at
 * @path, @spool the spool file's path (NULL: none), @io NULL for write(2)
 * and fdatasync(2). Repairs a torn tail, loads the spool and writes what
 * it held. 0, or -errno when the file could not be read; the writer holds
 * records anyway.
 */
int np_charging_start(struct np_charging_file *cf, const char *path, int fd,
		      const char *spool, const struct np_charging_io *io,
		      void *io_ctx);
/* A new file for the records to come (SIGHUP, rotation): the old fd is
 * closed, held records go to the new file. */
void np_charging_switch(struct np_charging_file *cf, const char *path, int fd);
/* One record, a whole line ending in '\n': written now if nothing is
 * held, else held behind the others. */
void np_charging_append(struct np_charging_file *cf, const char *line,
			size_t len);
/* Once a second: held records retried in order. */
void np_charging_tick(struct np_charging_file *cf);
/* Shutdown: held records retried @attempts times, then saved to the spool;
 * the file closed. Returns the records left unsaved (0 when none). */
uint64_t np_charging_stop(struct np_charging_file *cf, int attempts);

#endif
