// SPDX-License-Identifier: GPL-2.0-only
/* JSON string escaping for natproxy's machine-readable output. */
#include "json.h"

void json_str(FILE *f, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t run;

	putc_unlocked('"', f);
	while (*s) {
		/* Plain characters in one write: a charging record per call
		 * carries three texts, a character a call was most of it. */
		for (run = 0; (unsigned char)s[run] >= 0x20 && s[run] != '"' &&
			      s[run] != '\\';
		     run++)
			;
		fwrite_unlocked(s, 1, run, f);
		s += run;
		if (!*s)
			break;
		putc_unlocked('\\', f);
		if (*s == '"' || *s == '\\') {
			putc_unlocked(*s, f);
		} else {
			fwrite_unlocked("u00", 1, 3, f);
			putc_unlocked(hex[(unsigned char)*s >> 4], f);
			putc_unlocked(hex[(unsigned char)*s & 15], f);
		}
		s++;
	}
	putc_unlocked('"', f);
}

void json_u64(FILE *f, unsigned long long v)
{
	char digits[20];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		putc_unlocked(digits[--n], f);
}
