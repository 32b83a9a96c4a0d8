/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Minimal TAP producer for natproxy's C test programs: each check prints
 * "ok N - what" or "not ok N - what", tests/run.sh counts them. A test that
 * cannot run here (no root, missing kernel feature) reports "# SKIP why".
 */
#ifndef NATPROXY_TESTS_TAP_H
#define NATPROXY_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>

struct tap {
	int n;
	int failed;
};

static inline int tap_vcheck(struct tap *t, int cond, const char *fmt,
			     va_list ap)
{
	t->n++;
	if (!cond)
		t->failed++;
	printf("%sok %d - ", cond ? "" : "not ", t->n);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 3, 4))) static inline int
tap_check(struct tap *t, int cond, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = tap_vcheck(t, cond, fmt, ap);
	va_end(ap);
	return r;
}

__attribute__((format(printf, 3, 4))) static inline void
tap_skip(struct tap *t, const char *why, const char *fmt, ...)
{
	va_list ap;

	t->n++;
	printf("ok %d - ", t->n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
	fflush(stdout);
}

/* Diagnostic line, ignored by the counter. */
#define tap_diag(...)                                                          \
	do {                                                                   \
		printf("# ");                                                  \
		printf(__VA_ARGS__);                                           \
		putchar('\n');                                                 \
	} while (0)

static inline int tap_done(const struct tap *t)
{
	printf("1..%d\n", t->n);
	return t->failed ? 1 : 0;
}

#endif
