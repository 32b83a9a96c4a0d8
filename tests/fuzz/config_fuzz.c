// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target for the configuration reader (ctl/config.c): whatever the
 * file holds, np_config_parse() accepts it or refuses it with -EINVAL and a
 * "FILE:LINE:COLUMN: what is wrong" line, and never crashes or leaks.
 * Built with libFuzzer (`make fuzz`), or as a replay of the configuration
 * examples and the unit tests' broken files (`make test`).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = "fuzz.yaml:";
	struct np_config cfg;
	char err[512] = "";
	int ret;

	memset(&cfg, 0, sizeof(cfg));
	ret = np_config_parse("fuzz.yaml", (const char *)data, size, &cfg, err,
			      sizeof(err));
	if (ret == 0)
		np_config_free(&cfg);
	else if (ret != -EINVAL)
		abort(); /* not a verdict on the text */
	else if (strncmp(err, prefix, sizeof(prefix) - 1) || !strchr(err, ' '))
		abort(); /* an error an operator cannot place */
	return 0;
}

#ifndef NP_LIBFUZZER
#include "replay.h"

int main(int argc, char **argv)
{
	static const char *const seeds[] = { "configs", "tests/unit/configs",
					     NULL };

	return fuzz_replay_main(argc, argv, seeds);
}
#endif
