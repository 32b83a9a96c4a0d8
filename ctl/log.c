// SPDX-License-Identifier: GPL-2.0-only
/*
 * The logger: messages go to stderr as "natproxy: level: text". The level is
 * the only state, set once at start-up (tests may set it again).
 */
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "log.h"

static enum np_log_level log_level = NP_LOG_INFO;
/* The last error, for callers that report it another way (JSON). */
static char last_error[512];

static const char *const level_names[] = {
	[NP_LOG_ERROR] = "error",
	[NP_LOG_WARN] = "warning",
	[NP_LOG_INFO] = "info",
	[NP_LOG_DEBUG] = "debug",
};

void np_log_set_level(enum np_log_level level)
{
	log_level = level;
}

static void np_vlog(enum np_log_level level, const char *fmt, va_list ap)
{
	size_t n = strlen(fmt);
	va_list copy;

	if (level == NP_LOG_ERROR) {
		va_copy(copy, ap);
		vsnprintf(last_error, sizeof(last_error), fmt, copy);
		va_end(copy);
	}
	if (level > log_level)
		return;
	fprintf(stderr, "natproxy: %s: ", level_names[level]);
	vfprintf(stderr, fmt, ap);
	if (!n || fmt[n - 1] != '\n')
		fputc('\n', stderr);
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
