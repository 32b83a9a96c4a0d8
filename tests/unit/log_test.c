// SPDX-License-Identifier: GPL-2.0-only
/*
 * The logger's turn buffer (ctl/log.c, np_log_buffer): a buffering
 * thread's lines reach stderr only at the flush, whole and in order; an
 * error goes out at once with what was buffered before it; more than the
 * buffer holds goes out in whole lines; another thread writes at once;
 * buffering off flushes. stderr is a pipe here, read back after each step.
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

static int pipe_rd;

/* What reached stderr since the last call (at most size - 1 bytes). */
static size_t drained(char *out, size_t size)
{
	ssize_t n;
	size_t used = 0;

	while (used + 1 < size &&
	       (n = read(pipe_rd, out + used, size - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	return used;
}

static size_t lines_in(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void *other_thread(void *arg)
{
	(void)arg;
	np_info("from another thread");
	return NULL;
}

int main(void)
{
	static char out[1 << 16];
	struct tap t = { 0 };
	int fds[2], saved = dup(STDERR_FILENO);
	pthread_t th;
	size_t i, n;
	bool whole = true;

	if (pipe(fds) || fcntl(fds[0], F_SETFL, O_NONBLOCK) ||
	    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0 ||
	    dup2(fds[1], STDERR_FILENO) < 0) {
		dprintf(saved, "log_test: cannot make the pipe\n");
		return 1;
	}
	pipe_rd = fds[0];
	np_log_set_ident("logtest");

	np_log_buffer(true);
	np_info("one %d", 1);
	np_warn("two");
	tap_check(&t, drained(out, sizeof(out)) == 0,
		  "buffered lines are not written before the flush");
	np_log_flush();
	drained(out, sizeof(out));
	tap_check(&t, !strcmp(out, "logtest: info: one 1\n"
				   "logtest: warning: two\n"),
		  "the flush writes them whole, in order");

	np_info("before the error");
	np_err("the error");
	drained(out, sizeof(out));
	tap_check(&t, !strcmp(out, "logtest: info: before the error\n"
				   "logtest: error: the error\n"),
		  "an error goes out at once, after what was buffered");

	for (i = 0; i < 200; i++)
		np_info("line %zu of a long turn, padded to be a line of some "
			"length", i);
	n = drained(out, sizeof(out));
	tap_check(&t, n > 0 && out[n - 1] == '\n',
		  "a turn longer than the buffer writes whole lines as it fills "
		  "(%zu lines so far)", lines_in(out));
	np_log_flush();
	drained(out + n, sizeof(out) - n);
	tap_check(&t, lines_in(out) == 200, "and all 200 after the flush");
	for (i = 0; i < 200 && whole; i++) {
		char want[128];

		snprintf(want, sizeof(want),
			 "logtest: info: line %zu of a long turn", i);
		whole = strstr(out, want) != NULL;
	}
	tap_check(&t, whole, "each of them once, uncut");

	pthread_create(&th, NULL, other_thread, NULL);
	pthread_join(th, NULL);
	drained(out, sizeof(out));
	tap_check(&t, !strcmp(out, "logtest: info: from another thread\n"),
		  "another thread's line is written at once");

	np_info("last");
	np_log_buffer(false);
	drained(out, sizeof(out));
	tap_check(&t, !strcmp(out, "logtest: info: last\n"),
		  "buffering off writes what was buffered");
	np_info("unbuffered");
	drained(out, sizeof(out));
	tap_check(&t, !strcmp(out, "logtest: info: unbuffered\n"),
		  "and lines go out at once again");

	dup2(saved, STDERR_FILENO);
	return tap_done(&t);
}
