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

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy.h"

/* The state file of the default pin directory; another pin directory's
 * default is derived from it (np_state_default_path). */
#define NP_DEFAULT_STATE_DIR "/run/natproxy"
#define NP_DEFAULT_STATE NP_DEFAULT_STATE_DIR "/state"

/*
 * Whose state a file is: the pin directory of the maps its flows live in
 * and the ids of the pinned flow maps (IPv4, IPv6) when it was written. A
 * natproxyd adopts only a file of its own pin directory; maps with other
 * ids were made again since (detach, reboot): their flows are gone.
 */
struct np_state_owner {
	char pin_dir[PATH_MAX];
	uint32_t map_ids[2];
	/* The snapshot's generation, named by its journal's header (0: none,
	 * the file has no journal). Not part of the owner match. */
	uint64_t gen;
};

enum np_state_match {
	NP_STATE_OURS, /* same pin directory, same maps */
	NP_STATE_UNOWNED, /* a file from before owners were recorded */
	NP_STATE_OLD_MAPS, /* same pin directory, maps made again since */
	NP_STATE_OTHER, /* another instance's (another pin directory) */
};

/* pin_dir as an owner names it: resolved (symbolic links, "..", trailing
 * slashes), also when the directory itself does not exist yet. */
void np_state_owner_dir(const char *pin_dir, char *out, size_t len);

enum np_state_match np_state_owner_match(const struct np_state_owner *saved,
					 const struct np_state_owner *ours);

/* The default state file for pin_dir: NP_DEFAULT_STATE for the default
 * pin directory, else NP_DEFAULT_STATE_DIR/state.<pin dir, '/' as '_'>.
 * 0 or -ENAMETOOLONG. */
int np_state_default_path(const char *pin_dir, char *buf, size_t len);

/* Writes px's terminals and calls, owned by owner (NULL: no owner line). */
int np_state_save(const struct np_proxy *px, const char *path,
		  const struct np_state_owner *owner);

/*
 * The journal beside the state file (np_journal_path(): path ".journal"):
 * each save appends only what changed, a checksum per line: a
 * "term-fields" record per SIP terminal that changed itself (its own
 * fields, not its calls), a "gw-fields" one per gateway (MGCP, H.248) that
 * did, a "call" record per call that changed (its leg and streams; a
 * gateway's: "gw-call", its gwcall line and streams: O(1) per event,
 * however many calls its terminal or gateway has), a "gone" tombstone per
 * terminal removed, a "call-gone" per call ended, and a "commit" line;
 * its header names the generation of the snapshot it
 * follows (the owner line's last field). ctl/state.c says the format.
 * When it outgrows the snapshot and min_bytes (or max_records), or the
 * whole state is wanted again (core->rewrite_all), or something no one
 * terminal holds changed (core->dirty_all), or it is not open (a start
 * that took up no journal, np_journal_resume()), the save compacts: the
 * whole state again, of a new generation, and an empty journal of it.
 * The floor: a small state (hundreds of short calls) is not written whole
 * every few hundred call events; a restart reads at most that much
 * journal more.
 */
#define NP_JOURNAL_MAX_RECORDS 100000
#define NP_SNAPSHOT_STEP_MS 2.0 /* a slice of a compaction in the background */
#define NP_JOURNAL_MIN_BYTES (4u << 20)

struct np_journal {
	int fd; /* -1: the next save compacts */
	uint64_t gen; /* of the snapshot it follows */
	size_t records; /* appended since the last compaction */
	uint64_t bytes, snap_bytes;
	size_t max_records; /* 0: NP_JOURNAL_MAX_RECORDS */
	uint64_t min_bytes; /* 0: NP_JOURNAL_MIN_BYTES */
	unsigned long compactions, appends;
	size_t last_records; /* of the last batch appended */
	unsigned long compactions_begun; /* in the background */
	/* Each snapshot written and each batch appended, as the file has
	 * them (whole lines, each with its checksum), handed on to the
	 * cluster layer (ctl/cluster/, docs/ha.md); NULL: to no one. */
	void (*replicate)(void *arg, bool snapshot, uint64_t gen,
			  const char *text, size_t len);
	void *replicate_arg;
	/* Compactions written a slice at a time (np_journal_poll(), about
	 * NP_SNAPSHOT_STEP_MS each), the loop going on between them
	 * (natproxyd); false: in the save's own turn. Either way a
	 * compaction that something no one terminal holds changed
	 * (dirty_all), or with no journal open, is written in the turn;
	 * a rewrite (rewrite_all) in the background with one in progress
	 * is that one.
	 * ctl/state.c says how the files stay readable throughout. */
	bool background;
	/* A compaction in progress (NULL: none), the new generation and its
	 * journal (path ".journal.next"), which every save appends to as
	 * well until the snapshot is in place. */
	struct np_snapshot_writer *writer;
	int next_fd;
	uint64_t next_gen, next_bytes;
	size_t next_records;
	unsigned long background_failed; /* writers that failed */
	size_t step_chains; /* chains a slice (tests); 0: by time */
};

void np_journal_init(struct np_journal *j);
/* Drops a compaction in progress first (the old files hold every save). */
void np_journal_close(struct np_journal *j);
/* The next slice of a compaction in progress (about NP_SNAPSHOT_STEP_MS):
 * once its snapshot is in place, its journal takes the old one's place
 * (and the snapshot and what was saved since go to replicate). natproxyd
 * calls it every turn while j->writer is set. */
void np_journal_poll(struct np_journal *j);
int np_journal_path(const char *path, char *buf, size_t len);
/*
 * Takes up path's journal again (natproxyd, after adopting path whole:
 * memory holds what the files do): saves append to it as before the
 * restart, instead of the first one writing the whole state again in its
 * turn (1-2 s at 100,000 terminals, just when they all come back). Its
 * lines after the last commit (a save cut short) are cut off; a
 * ".journal.next" the reader took (a compaction cut short between its
 * renames) is renamed first. 0; -errno, the journal left closed (the
 * next save writes the whole state): -ESTALE if no journal of path's
 * generation is there, -ENODATA if path names none.
 */
int np_journal_resume(struct np_journal *j, const char *path);

/* Saves what changed since the last save (px->core's dirty terminals and
 * calls, and tombstones; the caller clears them, np_core_dirty_clear(),
 * after):
 * appended to the journal, or compacted. Without owner: np_state_save(). */
int np_state_save_changes(const struct np_proxy *px, const char *path,
			  const struct np_state_owner *owner,
			  struct np_journal *j);

/* The owner recorded in path: 0, -ENOENT if absent, -ENODATA if the file
 * records none (version 1), -EINVAL if damaged (version 3: its checksum). */
int np_state_owner_read(const char *path, struct np_state_owner *owner);

/* The most text a driver's data of a gateway or of one of its calls
 * (struct np_driver's state_put) takes, unescaped. */
#define NP_STATE_DRIVER_DATA 4096

struct np_state_visit {
	/* A terminal, with the addresses of its pair's access and core
	 * realms (so the file can be read without the configuration). */
	int (*term)(void *arg, const struct np_term *t,
		    const struct np_sockaddr *access,
		    const struct np_sockaddr *core);
	/* One of the last terminal's (or orphan's) calls. The terminal's
	 * signaling and the call's dialog point at the reader's buffers:
	 * copy them. */
	int (*leg)(void *arg, const struct np_call *call);
	/* A call rebuilt from the maps (recover.c) and saved: its pair and
	 * the terminal's media address (family 0: unknown); its calls follow.
	 * NULL: such records are read, their calls not handed on. */
	int (*orphan)(void *arg, size_t pair, const struct np_sockaddr *media);
	/* A gateway (MGCP, H.248): a terminal of the driver named `driver`,
	 * with the addresses of its pair's access realm (port 0) and its core
	 * address, and the driver's data of it (text its state_get reads);
	 * its calls follow, each with the driver's data of it (gw_call;
	 * call->dialog is NULL). Both point at the reader's buffers. NULL:
	 * such records are read, not handed on. */
	int (*gw)(void *arg, const char *driver, const struct np_term *t,
		  const struct np_sockaddr *access,
		  const struct np_sockaddr *core, const char *data);
	int (*gw_call)(void *arg, const struct np_call *call, const char *data);
	/* A journal's record of a gateway's own fields (np_state_apply()
	 * only; as gw hands them on): the gateway of its key takes them,
	 * keeping its calls; made, with none, if there is none. NULL: passed
	 * over. */
	int (*gw_fields)(void *arg, const char *driver, const struct np_term *t,
			 const struct np_sockaddr *access,
			 const struct np_sockaddr *core, const char *data);
	/* A journal's tombstone: the terminal of pair and core_port is gone
	 * (np_state_apply() only; NULL: passed over). */
	int (*gone)(void *arg, size_t pair, uint16_t core_port);
	/* A journal's record of a terminal's own fields (np_state_apply()
	 * only; t as term hands it): the terminal of its key takes them,
	 * keeping its calls; made, with none, if there is none. NULL:
	 * passed over. */
	int (*term_fields)(void *arg, const struct np_term *t,
			   const struct np_sockaddr *access,
			   const struct np_sockaddr *core);
	/* A journal's call record (np_state_apply() only): the one leg (a
	 * gateway's: gw_call) that follows is a call of the terminal of pair
	 * and core_port, replacing its call of the same id if it has one.
	 * NULL: such records are read, their calls not handed on. */
	int (*call)(void *arg, size_t pair, uint16_t core_port);
	/* A journal's call tombstone (np_state_apply() only): the call id
	 * of that terminal ended. NULL: passed over. */
	int (*call_gone)(void *arg, size_t pair, uint16_t core_port,
			 const char *id);
};

/* What a read found. A record is a terminal (or orphan) with its calls:
 * handed on whole or not at all. */
struct np_state_report {
	int version; /* of the file: 1, 2 or 3; 0: version line damaged */
	bool verified; /* version 3: every line's checksum was checked */
	/* Read to its end, every record good, none missing (version 3: the
	 * end line's count); the owner line good. */
	bool complete;
	unsigned int good, bad; /* records handed on, records skipped */
	int first_bad_line; /* 0: none */
	/* The journal (np_journal_path()): its records read (to its last
	 * commit line), the terminals it handed on (each once, as its last
	 * whole record or the snapshot's with the call records after it make
	 * it), records skipped (also in bad), the first of their
	 * lines; lines of a save cut short after the last commit, dropped;
	 * stale: a journal of an earlier snapshot, ignored (the snapshot
	 * holds what it says). */
	unsigned int journal_records, journal_replayed, journal_bad;
	int journal_first_bad_line;
	unsigned int journal_torn;
	bool journal_stale;
};

/*
 * Reads path, then its journal if it names path's generation (its last
 * record of a terminal replaces the snapshot's, a tombstone deletes it;
 * call records after it replace or add that call, call tombstones delete
 * it: each terminal is handed on once, with its calls as they end up),
 * handing every good record to visit; damaged ones are skipped
 * whole and counted in rep. 0 (see rep->complete); -ENOENT if absent;
 * -EINVAL if empty; a visitor's error. A file whose version line is not
 * one of ours is read as version 3 (its lines' checksums decide).
 */
int np_state_read_report(const char *path, const struct np_state_visit *visit,
			 void *arg, struct np_state_report *rep);
/*
 * Text as replicate hands it on (a snapshot or a journal batch: checked
 * lines), applied in order: each good record handed to visit whole (a call
 * record to visit->call, then its leg), each tombstone to visit->gone or
 * visit->call_gone; version, owner, end and commit lines are passed over. A damaged record is skipped whole and counted in rep (good, bad,
 * first_bad_line). 0, or a visitor's error.
 */
int np_state_apply(const char *text, size_t len,
		   const struct np_state_visit *visit, void *arg,
		   struct np_state_report *rep);
/*
 * The key of the record whose first line (checked, with its checksum)
 * starts text: a terminal's or a gateway's pair and core port, read
 * without parsing the rest (a standby passes over records it holds
 * already). -EINVAL: not such a line.
 */
int np_state_record_key(const char *text, size_t len, struct np_term_key *k);
/* The same, -EINVAL (logged) unless the file was read complete. */
int np_state_read(const char *path, const struct np_state_visit *visit,
		  void *arg);

#endif
