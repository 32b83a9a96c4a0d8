// SPDX-License-Identifier: GPL-2.0-only
/*
 * The charging file's writer (charging_file.h): a record is in the file
 * whole or not at all. An append that fails (ENOSPC, EIO, a short write,
 * a failed fdatasync) is cut off again with ftruncate to the length the
 * file had before it, and the record waits in a FIFO with those after it;
 * every tick retries the FIFO from its head, so records keep their order.
 * One log line when writing starts failing, one when it works again.
 */
#include "charging_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct np_held {
	struct np_held *next;
	size_t len;
	char line[];
};

#define TAIL_WINDOW (1u << 20) /* bytes read back at start: no record is longer */

/* --- JSON validity (RFC 8259), for telling a whole record from a torn one */

struct jp {
	const char *p, *end;
	int depth;
};

static void ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool lit(struct jp *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
		return false;
	j->p += n;
	return true;
}

static bool digits(struct jp *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool number(struct jp *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digits(j))
			return false;
	}
	return true;
}

static bool string(struct jp *j)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	for (j->p++; j->p < j->end; j->p++) {
		unsigned char c = (unsigned char)*j->p;

		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (++j->p >= j->end)
			return false;
		if (*j->p == 'u') {
			for (int i = 0; i < 4; i++) {
				if (++j->p >= j->end ||
				    !strchr("0123456789abcdefABCDEF", *j->p))
					return false;
			}
		} else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
			return false;
		}
	}
	return false;
}

static bool value(struct jp *j);

static bool members(struct jp *j, char close, bool object)
{
	j->p++;
	ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		if (object) {
			if (!string(j))
				return false;
			ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!value(j))
			return false;
		ws(j);
		if (j->p >= j->end)
			return false;
		if (*j->p == close) {
			j->p++;
			return true;
		}
		if (*j->p++ != ',')
			return false;
		ws(j);
	}
}

static bool value(struct jp *j)
{
	bool ok;

	ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
	case '[':
		if (++j->depth > 64)
			return false;
		ok = members(j, *j->p == '{' ? '}' : ']', *j->p == '{');
		j->depth--;
		return ok;
	case '"': return string(j);
	case 't': return lit(j, "true");
	case 'f': return lit(j, "false");
	case 'n': return lit(j, "null");
	default: return number(j);
	}
}

bool np_json_valid(const char *s, size_t len)
{
	struct jp j = { s, s + len, 0 };

	if (!value(&j))
		return false;
	ws(&j);
	return j.p == j.end;
}

/* --- the FIFO of held records ---------------------------------------------- */

static bool hold(struct np_charging_file *cf, const char *line, size_t len)
{
	struct np_held *h = malloc(sizeof(*h) + len);

	if (!h) {
		/* The one way to lose a record: then the log keeps it. */
		np_err("charging record lost (no memory to hold it): %.*s",
		       (int)(len && line[len - 1] == '\n' ? len - 1 : len),
		       line);
		return false;
	}
	h->next = NULL;
	h->len = len;
	memcpy(h->line, line, len);
	if (cf->tail)
		cf->tail->next = h;
	else
		cf->head = h;
	cf->tail = h;
	cf->pending++;
	cf->pending_bytes += len;
	if (cf->pending_bytes > cf->bound && !cf->over_bound) {
		cf->over_bound = true;
		np_err("charging: %llu records (%llu bytes) held in memory, over "
		       "the bound of %zu bytes: natproxyd keeps holding them "
		       "(none is dropped) but memory grows; free space for "
		       "'%s'",
		       (unsigned long long)cf->pending,
		       (unsigned long long)cf->pending_bytes, cf->bound,
		       cf->path[0] ? cf->path : "(no charging file)");
	}
	return true;
}

static void pop(struct np_charging_file *cf)
{
	struct np_held *h = cf->head;

	cf->head = h->next;
	if (!cf->head)
		cf->tail = NULL;
	cf->pending--;
	cf->pending_bytes -= h->len;
	if (cf->over_bound && cf->pending_bytes <= cf->bound / 2)
		cf->over_bound = false;
	free(h);
}

/* --- writing -------------------------------------------------------------- */

static ssize_t real_write(void *ctx, int fd, const void *buf, size_t len)
{
	(void)ctx;
	return write(fd, buf, len);
}

static int real_sync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd);
}

static const struct np_charging_io real_io = { real_write, real_sync };

/* Appends @len bytes to @fd, looping on short writes (writing the rest is
 * for files we make, not for records). 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENOSPC;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int repair_tail(struct np_charging_file *cf);

/* One record appended, synced, or cut off again. 0, or -errno with *short
 * set when the write came up short without an error. */
static int write_one(struct np_charging_file *cf, const char *line,
		     size_t len, bool *shortw)
{
	struct stat st;
	ssize_t n;
	int err;

	*shortw = false;
	if (cf->fd < 0)
		return -EBADF;
	if (cf->repair && repair_tail(cf))
		return -EIO;
	if (cf->cut_at >= 0) {
		if (ftruncate(cf->fd, cf->cut_at))
			return -errno;
		cf->cut_at = -1;
	}
	if (fstat(cf->fd, &st))
		return -errno;
	n = cf->io->write(cf->io_ctx, cf->fd, line, len);
	err = n < 0 ? errno : 0;
	if (n == (ssize_t)len) {
		if (!cf->io->sync(cf->io_ctx, cf->fd))
			return 0;
		err = errno; /* the record may not be on disk: write it again */
	} else if (n >= 0) {
		*shortw = true;
		err = ENOSPC;
	}
	if (!err)
		err = EIO;
	/* Whatever part of it reached the file goes, now or before the next
	 * write. */
	if (ftruncate(cf->fd, st.st_size))
		cf->cut_at = st.st_size;
	return -err;
}

static void failed(struct np_charging_file *cf, int err, bool shortw)
{
	cf->failures++;
	if (cf->failing)
		return;
	cf->failing = true;
	cf->outages++;
	cf->outage_written = 0;
	np_err("charging file '%s': record not written (%s): holding records "
	       "in memory, in order, and retrying every second",
	       cf->path, shortw ? "short write" : strerror(-err));
}

/* Held records written oldest first, up to the first that fails. */
static void flush(struct np_charging_file *cf)
{
	bool shortw;
	int err;

	while (cf->head) {
		err = write_one(cf, cf->head->line, cf->head->len, &shortw);
		if (err) {
			failed(cf, err, shortw);
			return;
		}
		pop(cf);
		cf->written++;
		cf->outage_written++;
	}
	if (cf->failing) {
		cf->failing = false;
		np_info("charging file '%s': writing again, %llu held records "
			"written (%llu failed attempts so far)",
			cf->path, (unsigned long long)cf->outage_written,
			(unsigned long long)cf->failures);
	}
	if (cf->spool_loaded && cf->spool[0]) {
		if (unlink(cf->spool) && errno != ENOENT)
			np_warn("cannot remove charging spool '%s': %s",
				cf->spool, strerror(errno));
		cf->spool_loaded = false;
	}
}

void np_charging_append(struct np_charging_file *cf, const char *line,
			size_t len)
{
	bool shortw;
	int err;

	if (!cf->path[0] || !len)
		return;
	/* Behind held records (or a file to repair first): in order, at the
	 * next tick. */
	if (cf->head || cf->fd < 0) {
		hold(cf, line, len);
		return;
	}
	err = write_one(cf, line, len, &shortw);
	if (!err) {
		cf->written++;
		return;
	}
	failed(cf, err, shortw);
	hold(cf, line, len);
}

void np_charging_tick(struct np_charging_file *cf)
{
	if (cf->fd >= 0 && (cf->head || cf->repair || cf->cut_at >= 0 ||
			    cf->spool_loaded))
		flush(cf);
}

/* --- start: a torn tail, the spool ------------------------------------------ */

/* Appends @len bytes (and a newline if they lack one) to PATH.torn, synced.
 * 0 or -errno. */
static int save_torn(const char *path, const char *buf, size_t len)
{
	char torn[PATH_MAX + 8];
	int fd, err;

	snprintf(torn, sizeof(torn), "%s.torn", path);
	fd = open(torn, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	err = write_all(fd, buf, len);
	if (!err && len && buf[len - 1] != '\n')
		err = write_all(fd, "\n", 1);
	if (!err && fdatasync(fd))
		err = -errno;
	close(fd);
	return err;
}

/* Reads @len bytes at @off. 0 or -errno. */
static int read_at(int fd, char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * The file's last line lacks its newline, or is not valid JSON (and so on
 * backwards): those bytes go to PATH.torn, the file is cut to its last
 * whole record. 0 (also when nothing was torn) or -errno; on failure
 * cf->repair stays set and records are held until a tick repairs it.
 */
static int repair_tail(struct np_charging_file *cf)
{
	size_t window, end, start;
	struct stat st;
	off_t base;
	char *buf;
	int err;

	if (fstat(cf->fd, &st))
		return -errno;
	if (!st.st_size) {
		cf->repair = false;
		return 0;
	}
	window = st.st_size > TAIL_WINDOW ? TAIL_WINDOW : (size_t)st.st_size;
	base = st.st_size - (off_t)window;
	buf = malloc(window);
	if (!buf)
		return -ENOMEM;
	err = read_at(cf->fd, buf, window, base);
	if (err) {
		if (!cf->repair)
			np_err("cannot read charging file '%s': %s", cf->path,
			       strerror(-err));
		cf->repair = true;
		free(buf);
		return err;
	}
	for (end = window; end;) {
		bool whole = buf[end - 1] == '\n';
		size_t stop = whole ? end - 1 : end;

		for (start = stop; start && buf[start - 1] != '\n'; start--)
			;
		if (!start && base)
			break; /* a line longer than the window: not ours to judge */
		if (whole && np_json_valid(buf + start, stop - start))
			break;
		end = start;
	}
	if (end == window) {
		cf->repair = false;
		free(buf);
		return 0;
	}
	err = save_torn(cf->path, buf + end, window - end);
	if (err) {
		if (!cf->repair)
			np_err("charging file '%s' ends with %zu torn bytes that "
			       "cannot be saved to '%s.torn' (%s): records are "
			       "held until they can",
			       cf->path, window - end, cf->path, strerror(-err));
		cf->repair = true;
		free(buf);
		return err;
	}
	if (ftruncate(cf->fd, base + (off_t)end)) {
		err = -errno;
		np_err("charging file '%s': cannot cut its torn tail: %s",
		       cf->path, strerror(-err));
		cf->repair = true;
		free(buf);
		return err;
	}
	cf->torn_bytes += window - end;
	np_warn("charging file '%s' ended with a torn record (a crash "
		"mid-write?): %zu bytes moved to '%s.torn', the file cut to its "
		"last whole record (%lld bytes)",
		cf->path, window - end, cf->path, (long long)(base + end));
	cf->repair = false;
	free(buf);
	return 0;
}

/* How many bytes at the head of @spool (whole lines) the charging file
 * already ends with: records written before a crash that left the spool. */
static size_t already_written(struct np_charging_file *cf, const char *spool,
			      size_t len)
{
	size_t want, best = 0, l;
	struct stat st;
	char *tail;

	if (cf->fd < 0 || fstat(cf->fd, &st) || !st.st_size)
		return 0;
	want = (size_t)st.st_size > len + 1 ? len + 1 : (size_t)st.st_size;
	tail = malloc(want);
	if (!tail || read_at(cf->fd, tail, want, st.st_size - (off_t)want)) {
		free(tail);
		return 0;
	}
	for (l = 0; l < len; l++) {
		if (spool[l] != '\n')
			continue;
		/* spool[0..l] against the file's last l+1 bytes, which must
		 * start a line. */
		if (l + 1 <= want &&
		    !memcmp(tail + want - (l + 1), spool, l + 1) &&
		    (l + 1 == (size_t)st.st_size ||
		     (l + 1 < want && tail[want - (l + 2)] == '\n')))
			best = l + 1;
	}
	free(tail);
	return best;
}

/* Records a previous natproxyd left in the spool, held before any new one. */
static void load_spool(struct np_charging_file *cf)
{
	size_t len, skip, i, start, bad = 0, n = 0;
	struct stat st;
	char *buf;
	int fd;

	fd = open(cf->spool, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			np_err("cannot read charging spool '%s': %s",
			       cf->spool, strerror(errno));
		return;
	}
	if (fstat(fd, &st) || !(buf = malloc((size_t)st.st_size + 1))) {
		np_err("cannot read charging spool '%s'", cf->spool);
		close(fd);
		return;
	}
	len = (size_t)st.st_size;
	if (read_at(fd, buf, len, 0)) {
		np_err("cannot read charging spool '%s'", cf->spool);
		free(buf);
		close(fd);
		return;
	}
	close(fd);
	skip = already_written(cf, buf, len);
	for (start = i = skip; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (np_json_valid(buf + start, i - start)) {
			hold(cf, buf + start, i + 1 - start);
			n++;
		} else if (!save_torn(cf->path, buf + start, i + 1 - start)) {
			bad++;
		}
		start = i + 1;
	}
	if (start < len && !save_torn(cf->path, buf + start, len - start))
		bad++;
	cf->spool_loaded = true;
	np_info("charging: %zu records re-read from spool '%s'%s%s", n,
		cf->spool, skip ? " (those the file already ended with skipped)" : "",
		bad ? ", torn lines moved to the .torn file" : "");
	free(buf);
}

int np_charging_start(struct np_charging_file *cf, const char *path, int fd,
		      const char *spool, const struct np_charging_io *io,
		      void *io_ctx)
{
	int err = 0;

	memset(cf, 0, sizeof(*cf));
	cf->fd = fd;
	cf->cut_at = -1;
	cf->io = io ? io : &real_io;
	cf->io_ctx = io_ctx;
	cf->bound = NP_CHARGING_HELD_BOUND;
	snprintf(cf->path, sizeof(cf->path), "%s", path ? path : "");
	snprintf(cf->spool, sizeof(cf->spool), "%s", spool ? spool : "");
	if (fd >= 0)
		err = repair_tail(cf);
	if (cf->spool[0] && cf->path[0])
		load_spool(cf);
	np_charging_tick(cf);
	return err;
}

void np_charging_switch(struct np_charging_file *cf, const char *path, int fd)
{
	if (cf->fd >= 0) {
		if (cf->cut_at >= 0 && !ftruncate(cf->fd, cf->cut_at))
			cf->cut_at = -1;
		if (cf->cut_at >= 0)
			np_err("charging file '%s' keeps a torn record at "
			       "offset %lld (it is written whole to '%s')",
			       cf->path, (long long)cf->cut_at, path);
		close(cf->fd);
	}
	cf->fd = fd;
	cf->cut_at = -1;
	snprintf(cf->path, sizeof(cf->path), "%s", path ? path : "");
	cf->repair = fd >= 0;
	np_charging_tick(cf);
}

/* The held records to PATH.tmp, synced, renamed over PATH. 0 or -errno. */
static int save_spool(struct np_charging_file *cf)
{
	char tmp[PATH_MAX + 8];
	struct np_held *h;
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", cf->spool);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	for (h = cf->head; h && !err; h = h->next)
		err = write_all(fd, h->line, h->len);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (!err && rename(tmp, cf->spool))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

uint64_t np_charging_stop(struct np_charging_file *cf, int attempts)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	uint64_t left;
	int err, i;

	for (i = 0; i < attempts && cf->fd >= 0 &&
		    (cf->head || cf->cut_at >= 0);
	     i++) {
		if (i)
			nanosleep(&pause, NULL);
		flush(cf);
	}
	left = cf->pending;
	if (left && cf->spool[0]) {
		err = save_spool(cf);
		if (!err) {
			np_warn("charging: %llu records could not be written to "
				"'%s': saved to '%s', written at the next start",
				(unsigned long long)left, cf->path, cf->spool);
			left = 0;
		} else {
			np_err("charging: cannot save %llu held records to "
			       "'%s': %s; they follow, one a line",
			       (unsigned long long)left, cf->spool,
			       strerror(-err));
		}
	} else if (left) {
		np_err("charging: %llu records could not be written and there "
		       "is no spool; they follow, one a line",
		       (unsigned long long)left);
	}
	while (cf->head) {
		if (left)
			np_err("charging record: %.*s",
			       (int)(cf->head->len - 1), cf->head->line);
		pop(cf);
	}
	if (cf->fd >= 0) {
		if (cf->cut_at >= 0 && ftruncate(cf->fd, cf->cut_at))
			np_err("charging file '%s' keeps a torn record at "
			       "offset %lld: the next start moves it aside",
			       cf->path, (long long)cf->cut_at);
		close(cf->fd);
		cf->fd = -1;
	}
	return left;
}
