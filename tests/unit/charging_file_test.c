/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit test of the charging file's writer (ctl/charging_file.c) on a real
 * file in a temporary directory, with a fake write(2): short writes, ENOSPC
 * after part of a record reached the file, EIO, a failed fdatasync. After
 * each, the file holds whole records only (every line valid JSON), the
 * failed records are held and written on a later tick, in order, once; a
 * torn tail left by a crash is moved to FILE.torn at start; records left at
 * shutdown go to the spool and come back at the next start, without the
 * ones the file already ends with.
 */
#include "charging_file.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum fake_mode { OK, SHORT, ENOSPC_PART, EIO_NONE, SYNC_EIO };

struct fake {
	enum fake_mode mode;
	int fail_next; /* attempts that fail; -1: all */
	int writes, syncs;
};

static ssize_t fake_write(void *ctx, int fd, const void *buf, size_t len)
{
	struct fake *f = ctx;
	ssize_t n;

	f->writes++;
	if (!f->fail_next || f->mode == OK || f->mode == SYNC_EIO)
		return write(fd, buf, len);
	if (f->fail_next > 0)
		f->fail_next--;
	switch (f->mode) {
	case SHORT:
		return write(fd, buf, len / 2);
	case ENOSPC_PART:
		n = write(fd, buf, len / 3);
		(void)n;
		errno = ENOSPC;
		return -1;
	default:
		errno = EIO;
		return -1;
	}
}

static int fake_sync(void *ctx, int fd)
{
	struct fake *f = ctx;

	f->syncs++;
	if (f->mode == SYNC_EIO && f->fail_next) {
		if (f->fail_next > 0)
			f->fail_next--;
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

static const struct np_charging_io fake_io = { fake_write, fake_sync };

static char dir[64], path[128], spool[128], torn[160];

static int open_file(void)
{
	return open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "r");
	char *buf = NULL;
	size_t size = 0;

	*len = 0;
	if (!f)
		return calloc(1, 1);
	buf = malloc(1 << 20);
	size = fread(buf, 1, (1 << 20) - 1, f);
	buf[size] = '\0';
	fclose(f);
	*len = size;
	return buf;
}

/* The record of call N: a JSON line of a few hundred bytes. */
static size_t record(char *buf, size_t size, int n)
{
	return (size_t)snprintf(buf, size,
				"{\"call_id\": \"call-%d@test\", \"from\": "
				"\"sip:a@example.test\", \"streams\": [{\"index\": 0, "
				"\"from_terminal\": {\"packets\": %d, \"bytes\": %d}}], "
				"\"pad\": \"%0*d\"}\n",
				n, n * 10, n * 1720, 120, n);
}

static void append(struct np_charging_file *cf, int n)
{
	char buf[512];

	np_charging_append(cf, buf, record(buf, sizeof(buf), n));
}

/* The file is exactly records @from..@to, each once, in order, each line
 * whole and valid. */
static bool file_is(const char *p, int from, int to)
{
	size_t len, off = 0;
	char *text = slurp(p, &len), want[512];
	bool ok = true;
	int n;

	for (n = from; n <= to && ok; n++) {
		size_t l = record(want, sizeof(want), n);

		ok = off + l <= len && !memcmp(text + off, want, l);
		if (!ok)
			tap_diag("record %d not at offset %zu of '%s' (%zu bytes)",
				 n, off, p, len);
		off += l;
	}
	if (ok && off != len) {
		tap_diag("'%s': %zu bytes more than records %d..%d", p,
			 len - off, from, to);
		ok = false;
	}
	free(text);
	return ok;
}

static bool all_lines_valid(const char *p)
{
	size_t len, start = 0, i;
	char *text = slurp(p, &len);
	bool ok = !len || text[len - 1] == '\n';

	for (i = 0; i < len && ok; i++) {
		if (text[i] != '\n')
			continue;
		ok = np_json_valid(text + start, i - start);
		start = i + 1;
	}
	free(text);
	return ok;
}

static void reset(void)
{
	unlink(path);
	unlink(spool);
	unlink(torn);
}

static void test_json(struct tap *t)
{
	static const struct { const char *text; bool valid; } cases[] = {
		{ "{}", true },
		{ "{\"a\": [1, -2.5e3, true, false, null, \"x\\n\\u00e9\"]}", true },
		{ " {\"a\": {\"b\": []}} ", true },
		{ "{\"a\": 1", false },
		{ "{\"a\": 1}}", false },
		{ "{\"a\": \"unterminated}", false },
		{ "{\"a\": 01}", false },
		{ "{\"a\" 1}", false },
		{ "{\"a\": [1,]}", false },
		{ "{\"a\": tru}", false },
		{ "", false },
		{ "{\"call_id\": \"x\", \"streams\": [{\"index\": 0, \"from_t", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tap_check(t,
			  np_json_valid(cases[i].text, strlen(cases[i].text)) ==
				  cases[i].valid,
			  "json: '%s' is %s", cases[i].text,
			  cases[i].valid ? "valid" : "not valid");
}

/* @mode fails records 4..6 (three attempts), then the disk recovers. */
static void test_failure(struct tap *t, enum fake_mode mode, const char *what)
{
	struct np_charging_file cf;
	struct fake f = { .mode = mode };
	int n;

	reset();
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	for (n = 1; n <= 3; n++)
		append(&cf, n);
	f.fail_next = -1;
	for (n = 4; n <= 10; n++) {
		append(&cf, n);
		np_charging_tick(&cf);
	}
	tap_check(t, file_is(path, 1, 3) && all_lines_valid(path),
		  "%s: the file holds records 1-3 whole, nothing of the "
		  "failed one", what);
	tap_check(t, cf.pending == 7 && cf.written == 3 && cf.failures == 8 &&
			     cf.outages == 1 && cf.failing,
		  "%s: 7 records pending, 3 written, 8 failed attempts (one a "
		  "tick, none for records behind the head), one outage (got "
		  "%llu, %llu, %llu, %llu)",
		  what, (unsigned long long)cf.pending,
		  (unsigned long long)cf.written,
		  (unsigned long long)cf.failures,
		  (unsigned long long)cf.outages);
	f.fail_next = 0;
	append(&cf, 11); /* held behind the others, not written ahead */
	tap_check(t, file_is(path, 1, 3) && cf.pending == 8,
		  "%s: a new record waits behind the held ones", what);
	np_charging_tick(&cf);
	tap_check(t, file_is(path, 1, 11) && cf.pending == 0 &&
			     cf.pending_bytes == 0 && cf.written == 11 &&
			     !cf.failing,
		  "%s: recovered: records 1-11 each once, in order", what);
	append(&cf, 12);
	tap_check(t, file_is(path, 1, 12) && cf.pending == 0,
		  "%s: the next record is written at once", what);
	tap_check(t, np_charging_stop(&cf, 3) == 0 && access(spool, F_OK),
		  "%s: nothing to spool at shutdown", what);
}

/* Fails at random; at the end every record is there once, in order. */
static void test_intermittent(struct tap *t)
{
	struct np_charging_file cf;
	struct fake f = { .mode = ENOSPC_PART };
	int n, max_pending = 0, ticks;

	reset();
	srand(11);
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	for (n = 1; n <= 500; n++) {
		f.mode = (enum fake_mode)(1 + rand() % 4);
		f.fail_next = rand() % 3 ? 0 : 1 + rand() % 3;
		append(&cf, n);
		if (n % 3 == 0)
			np_charging_tick(&cf);
		if ((int)cf.pending > max_pending)
			max_pending = (int)cf.pending;
		if (!all_lines_valid(path))
			break;
	}
	f.fail_next = 0;
	for (ticks = 0; cf.pending && ticks < 3; ticks++)
		np_charging_tick(&cf);
	tap_check(t, n == 501 && file_is(path, 1, 500),
		  "intermittent short writes, ENOSPC, EIO, failed syncs: 500 "
		  "records, each once, in order, the file whole after every "
		  "one (at most %d held, %llu failed attempts, %llu outages)",
		  max_pending, (unsigned long long)cf.failures,
		  (unsigned long long)cf.outages);
	np_charging_stop(&cf, 1);
}

static void test_torn_tail(struct tap *t)
{
	static const char *const tails[] = {
		"{\"call_id\": \"crash\", \"streams\": [{\"ind", /* no newline */
		"{\"call_id\": \"crash\", \"str\n", /* a newline, not JSON */
		"{\"call_id\": \"x\"}{\"call_id\n", /* two records merged */
	};
	struct np_charging_file cf;
	char buf[512];
	size_t i, len;
	int fd;

	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		char *saved;

		reset();
		fd = open_file();
		for (int n = 1; n <= 2; n++)
			if (write(fd, buf, record(buf, sizeof(buf), n)) < 0)
				break;
		if (write(fd, tails[i], strlen(tails[i])) < 0)
			break;
		close(fd);
		np_charging_start(&cf, path, open_file(), spool, NULL, NULL);
		saved = slurp(torn, &len);
		tap_check(t, file_is(path, 1, 2) && cf.torn_bytes == strlen(tails[i]),
			  "torn tail %zu: the file is cut to its 2 whole records",
			  i + 1);
		tap_check(t, !strncmp(saved, tails[i], strlen(tails[i])) &&
				     saved[len - 1] == '\n' &&
				     len - strlen(tails[i]) <= 1,
			  "torn tail %zu: its bytes are in FILE.torn (ended by a "
			  "newline)", i + 1);
		free(saved);
		append(&cf, 3);
		tap_check(t, file_is(path, 1, 3),
			  "torn tail %zu: the next record follows the last whole "
			  "one", i + 1);
		np_charging_stop(&cf, 1);
	}
	/* A whole file is left alone. */
	np_charging_start(&cf, path, open_file(), spool, NULL, NULL);
	tap_check(t, cf.torn_bytes == 0 && file_is(path, 1, 3),
		  "a file of whole records is left as it is");
	np_charging_stop(&cf, 1);
}

static void test_spool(struct tap *t)
{
	struct np_charging_file cf;
	struct fake f = { .mode = EIO_NONE };
	int n;

	reset();
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	append(&cf, 1);
	f.fail_next = -1;
	for (n = 2; n <= 6; n++)
		append(&cf, n);
	tap_check(t, np_charging_stop(&cf, 3) == 0 && file_is(spool, 2, 6),
		  "shutdown with the disk failing: records 2-6 saved to the "
		  "spool, in order");
	tap_check(t, f.writes == 1 + 1 + 3,
		  "... after 3 attempts at shutdown (%d writes)", f.writes);
	/* The next start writes them first, then new records follow. */
	f.fail_next = 0;
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	tap_check(t, file_is(path, 1, 6) && cf.pending == 0 &&
			     access(spool, F_OK),
		  "the next start writes the spooled records and removes the "
		  "spool");
	append(&cf, 7);
	tap_check(t, file_is(path, 1, 7), "new records follow them");
	np_charging_stop(&cf, 1);

	/* A crash after part of the spool was written: no record twice. */
	reset();
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	append(&cf, 1);
	f.fail_next = -1;
	for (n = 2; n <= 6; n++)
		append(&cf, n);
	np_charging_stop(&cf, 1);
	f.fail_next = 0;
	{
		char buf[512];
		int fd = open_file();

		for (n = 2; n <= 4; n++)
			if (write(fd, buf, record(buf, sizeof(buf), n)) < 0)
				break;
		close(fd);
	}
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	tap_check(t, file_is(path, 1, 6),
		  "a spool whose first records the file already ends with: "
		  "records 1-6 once each");
	np_charging_stop(&cf, 1);

	/* The disk still full at the next start: held, then written. */
	reset();
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	f.fail_next = -1;
	for (n = 1; n <= 3; n++)
		append(&cf, n);
	np_charging_stop(&cf, 1);
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	append(&cf, 4);
	tap_check(t, cf.pending == 4 && !access(spool, F_OK),
		  "still failing at the next start: the spool's 3 records and "
		  "a new one held, the spool kept");
	f.fail_next = 0;
	np_charging_tick(&cf);
	tap_check(t, file_is(path, 1, 4) && access(spool, F_OK),
		  "then written in order, and the spool removed");
	np_charging_stop(&cf, 1);
}

static void test_bound(struct tap *t)
{
	struct np_charging_file cf;
	struct fake f = { .mode = EIO_NONE, .fail_next = -1 };
	int n;

	reset();
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	cf.bound = 4096;
	for (n = 1; n <= 100; n++)
		append(&cf, n);
	tap_check(t, cf.over_bound && cf.pending == 100,
		  "over the memory bound: said (once), and all 100 records "
		  "still held");
	f.fail_next = 0;
	np_charging_tick(&cf);
	tap_check(t, file_is(path, 1, 100) && !cf.over_bound,
		  "then written, each once, in order");
	np_charging_stop(&cf, 1);
}

static void test_switch(struct tap *t)
{
	struct np_charging_file cf;
	struct fake f = { .mode = SHORT };
	char rotated[160];
	int n;

	reset();
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	unlink(rotated);
	np_charging_start(&cf, path, open_file(), spool, &fake_io, &f);
	append(&cf, 1);
	f.fail_next = -1;
	append(&cf, 2);
	append(&cf, 3);
	rename(path, rotated);
	f.fail_next = 0;
	np_charging_switch(&cf, path, open_file());
	for (n = 4; n <= 5; n++)
		append(&cf, n);
	tap_check(t, file_is(rotated, 1, 1) && file_is(path, 2, 5),
		  "rotation while records are held: the old file whole, the held "
		  "records first in the new one");
	np_charging_stop(&cf, 1);
	unlink(rotated);
}

int main(void)
{
	struct tap t = { 0 };

	snprintf(dir, sizeof(dir), "/tmp/np_charging_XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/charging.log", dir);
	snprintf(spool, sizeof(spool), "%s/state.charging-spool", dir);
	snprintf(torn, sizeof(torn), "%s.torn", path);
	test_json(&t);
	test_failure(&t, SHORT, "short writes");
	test_failure(&t, ENOSPC_PART, "ENOSPC after part of the record");
	test_failure(&t, EIO_NONE, "EIO");
	test_failure(&t, SYNC_EIO, "fdatasync EIO");
	test_intermittent(&t);
	test_torn_tail(&t);
	test_spool(&t);
	test_bound(&t);
	test_switch(&t);
	reset();
	rmdir(dir);
	return tap_done(&t);
}
