// SPDX-License-Identifier: GPL-2.0-only
/*
 * The logger: one line per message, "IDENT: level: text", on stderr. A
 * daemon's lines carry a UTC timestamp; when stderr is the systemd journal
 * they carry a "<N>" priority prefix instead (sd-daemon(3)), and with
 * --syslog they go to syslog(3). The level, the ident and the sink are the
 * only state, set once at start-up (tests may set the level again).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <paths.h>
#include <syslog.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>

#include "log.h"

static enum np_log_level log_level = NP_LOG_INFO;
static const char *log_ident = "natproxy";
static enum np_log_sink log_sink = NP_LOG_PLAIN;
/* The last error, for callers that report it another way (JSON). */
static char last_error[512];

/*
 * A daemon's event loop buffers its lines (np_log_buffer) and writes them
 * at the end of its turn (np_log_flush): a call's lines cost one write()
 * per turn rather than one each. Only the thread that asked buffers (the
 * cluster's threads write at once), and the buffer is at most PIPE_BUF of
 * whole lines, so a write is whole even into a pipe another process
 * shares. Errors are written at once, with what is buffered before them.
 */
static __thread bool log_buffering;
static char log_buf[PIPE_BUF];
static size_t log_buf_len;

/* The second a timestamp was made for, and its text up to the seconds. */
static __thread time_t stamp_second = -1;
static __thread char stamp_text[32];

static const char *const level_names[] = {
	[NP_LOG_ERROR] = "error",
	[NP_LOG_WARN] = "warning",
	[NP_LOG_INFO] = "info",
	[NP_LOG_DEBUG] = "debug",
};

static const int syslog_priority[] = {
	[NP_LOG_ERROR] = LOG_ERR,
	[NP_LOG_WARN] = LOG_WARNING,
	[NP_LOG_INFO] = LOG_INFO,
	[NP_LOG_DEBUG] = LOG_DEBUG,
};

void np_log_set_level(enum np_log_level level)
{
	log_level = level;
}

int np_log_parse_level(const char *name, enum np_log_level *level)
{
	static const char *const names[] = {
		[NP_LOG_ERROR] = "error",
		[NP_LOG_WARN] = "warn",
		[NP_LOG_INFO] = "info",
		[NP_LOG_DEBUG] = "debug",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i]) ||
		    !strcmp(name, level_names[i])) {
			*level = (enum np_log_level)i;
			return 0;
		}
	}
	return -1;
}

void np_log_set_ident(const char *ident)
{
	log_ident = ident;
}

/* systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected to
 * stderr; a child that inherited it with another stderr must not believe
 * it. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

enum np_log_sink np_log_daemon(const char *ident, bool use_syslog)
{
	log_ident = ident;
	/* syslog(3) drops what it cannot deliver: without a syslog daemon,
	 * stderr is better than nothing. */
	if (use_syslog && access(_PATH_LOG, W_OK)) {
		log_sink = NP_LOG_TIMESTAMPED;
		np_warn("no syslog socket '%s': logging to stderr", _PATH_LOG);
	} else if (use_syslog) {
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_sink = NP_LOG_SYSLOG;
	} else if (stderr_is_journal()) {
		log_sink = NP_LOG_JOURNAL;
	} else {
		log_sink = NP_LOG_TIMESTAMPED;
	}
	return log_sink;
}

static void write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(STDERR_FILENO, p, n);
		if (w <= 0)
			return; /* nowhere to say it */
		p += w;
		n -= (size_t)w;
	}
}

void np_log_flush(void)
{
	if (!log_buf_len)
		return;
	write_all(log_buf, log_buf_len);
	log_buf_len = 0;
}

void np_log_buffer(bool on)
{
	np_log_flush();
	log_buffering = on;
}

/* One whole line out: into the turn's buffer, or written at once. */
static void line_out(enum np_log_level level, const char *line, size_t n)
{
	if (!log_buffering) {
		fwrite(line, 1, n, stderr);
		return;
	}
	if (log_buf_len + n > sizeof(log_buf))
		np_log_flush();
	memcpy(log_buf + log_buf_len, line, n);
	log_buf_len += n;
	if (level == NP_LOG_ERROR)
		np_log_flush();
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ " of now into out (26 bytes at least), its
 * length; the date made once a second, the rest by hand (a line under
 * load is a call's: printf twice a line was most of the line's cost). */
static size_t stamp_now(char *out)
{
	struct timespec now;
	struct tm tm;
	int ms;

	if (clock_gettime(CLOCK_REALTIME, &now))
		return 0;
	if (now.tv_sec != stamp_second) {
		if (!gmtime_r(&now.tv_sec, &tm) ||
		    strftime(stamp_text, sizeof(stamp_text),
			     "%Y-%m-%dT%H:%M:%S", &tm) != 19)
			return 0;
		stamp_second = now.tv_sec;
	}
	ms = (int)(now.tv_nsec / 1000000);
	memcpy(out, stamp_text, 19);
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = ' ';
	return 25;
}

/* s at p, within end; the new end of what was written. */
static char *put_str(char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	if (n > (size_t)(end - p))
		n = (size_t)(end - p);
	memcpy(p, s, n);
	return p + n;
}

static void np_vlog(enum np_log_level level, const char *fmt, va_list ap)
{
	char line[1024], *p;
	va_list copy;
	size_t n;
	int head, body;

	if (level == NP_LOG_ERROR) {
		va_copy(copy, ap);
		vsnprintf(last_error, sizeof(last_error), fmt, copy);
		va_end(copy);
		n = strlen(last_error);
		if (n && last_error[n - 1] == '\n')
			last_error[n - 1] = '\0';
	}
	if (level > log_level)
		return;
	if (log_sink == NP_LOG_SYSLOG) {
		vsyslog(syslog_priority[level], fmt, ap);
		return;
	}
	/* The whole line in one write: lines of two processes sharing a log
	 * file (or of libbpf and ours) never interleave. */
	if (log_sink == NP_LOG_JOURNAL) {
		/* The journal keeps the priority and the unit's name. */
		head = snprintf(line, sizeof(line), "<%d>",
				syslog_priority[level]);
	} else {
		/* "[stamp ]ident: level: ", the ident's length bounded. */
		p = line;
		if (log_sink == NP_LOG_TIMESTAMPED)
			p += stamp_now(p);
		p = put_str(p, line + 256, log_ident);
		p = put_str(p, line + 256, ": ");
		p = put_str(p, line + 256, level_names[level]);
		p = put_str(p, line + 256, ": ");
		head = (int)(p - line);
	}
	if (head < 0 || (size_t)head >= sizeof(line))
		head = 0;
	body = vsnprintf(line + head, sizeof(line) - head, fmt, ap);
	if (body < 0)
		body = 0;
	n = (size_t)head + (size_t)body;
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2; /* truncated: room for the newline */
	if (!n || line[n - 1] != '\n')
		line[n++] = '\n';
	line_out(level, line, n);
}

const char *np_log_last_error(void)
{
	return last_error;
}

void np_log(enum np_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	np_vlog(level, fmt, ap);
	va_end(ap);
}

/* libbpf's warnings are ours; its info and debug lines (every relocation,
 * every map it creates) only at debug, the most verbose level. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	enum np_log_level ours = level == LIBBPF_WARN ? NP_LOG_WARN :
							NP_LOG_DEBUG;

	np_vlog(ours, fmt, ap);
	return 0;
}

void np_log_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

bool np_log_limit(struct np_log_limit *l, long now)
{
	if (now / NP_LOG_WINDOW != l->window) {
		if (l->suppressed)
			np_warn("%u more like the next line suppressed in %ds",
				l->suppressed, NP_LOG_WINDOW);
		l->window = now / NP_LOG_WINDOW;
		l->shown = 0;
		l->suppressed = 0;
	}
	if (l->shown < NP_LOG_BURST) {
		l->shown++;
		return true;
	}
	l->suppressed++;
	return false;
}
