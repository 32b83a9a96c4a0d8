/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One printf-checked logger with levels for natproxyctl and natproxyd;
 * libbpf's own messages are routed through it so they share its format.
 */
#ifndef NATPROXY_LOG_H
#define NATPROXY_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum np_log_level { NP_LOG_ERROR, NP_LOG_WARN, NP_LOG_INFO, NP_LOG_DEBUG };

/* Where lines go: stderr as they are (a tool), stderr with a timestamp (a
 * daemon), stderr with a "<N>" priority prefix (the journal), syslog(3). */
enum np_log_sink { NP_LOG_PLAIN, NP_LOG_TIMESTAMPED, NP_LOG_JOURNAL,
		   NP_LOG_SYSLOG };

void np_log_set_level(enum np_log_level level);
/* "error", "warn" (or "warning"), "info", "debug": 0, else -1. */
int np_log_parse_level(const char *name, enum np_log_level *level);
/* The program's name at the head of each line (default "natproxy"). */
void np_log_set_ident(const char *ident);
/* A daemon's logging: syslog if asked, "<N>" prefixes when stderr is the
 * journal (JOURNAL_STREAM names it), else timestamps; the sink chosen. */
enum np_log_sink np_log_daemon(const char *ident, bool use_syslog);
__attribute__((format(printf, 2, 3))) void np_log(enum np_log_level level,
						  const char *fmt, ...);
/* The text of the last error logged, "" if none (for --json output). */
const char *np_log_last_error(void);
/*
 * The calling thread's lines buffered (on) until np_log_flush, a daemon's
 * loop turn at a time; errors are written at once. Off flushes.
 */
void np_log_buffer(bool on);
void np_log_flush(void);
/* Installs np_log as libbpf's printer (warnings and up, debug at DEBUG). */
void np_log_route_libbpf(void);

/*
 * Lines about repeated bad input (a flood of malformed datagrams) are
 * rate-limited per kind: at most NP_LOG_BURST lines per NP_LOG_WINDOW
 * seconds; the first line after that says how many were suppressed.
 */
#define NP_LOG_BURST 10
#define NP_LOG_WINDOW 10
struct np_log_limit {
	long window;
	unsigned shown, suppressed;
};
/* Whether one more line of this kind may be logged at now (seconds). */
bool np_log_limit(struct np_log_limit *l, long now);

#define np_err(...) np_log(NP_LOG_ERROR, __VA_ARGS__)
#define np_warn(...) np_log(NP_LOG_WARN, __VA_ARGS__)
#define np_info(...) np_log(NP_LOG_INFO, __VA_ARGS__)
#define np_debug(...) np_log(NP_LOG_DEBUG, __VA_ARGS__)

#endif
