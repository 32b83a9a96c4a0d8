/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The main() of a fuzz target built without libFuzzer: feeds it the files
 * named on the command line or, with none, every file of its seed
 * directories, and prints TAP. A crash or an abort() of the target's own
 * checks fails the run.
 */
#ifndef NATPROXY_TESTS_FUZZ_REPLAY_H
#define NATPROXY_TESTS_FUZZ_REPLAY_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_replay_file(const char *path, int n)
{
	static uint8_t buf[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t len;

	if (!f) {
		printf("not ok %d - cannot open '%s'\n", n, path);
		return -errno;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	printf("ok %d - %s: replayed, its checks held\n", n, path);
	return 0;
}

static int fuzz_replay_dir(const char *dir, int *n)
{
	struct dirent **names;
	char path[512];
	int i, count, err = 0;

	count = scandir(dir, &names, NULL, alphasort);
	if (count < 0) {
		printf("not ok %d - cannot read '%s'\n", ++*n, dir);
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir,
				 names[i]->d_name);
			err |= fuzz_replay_file(path, ++*n);
		}
		free(names[i]);
	}
	free(names);
	return err;
}

/* dirs: NULL-terminated. */
static int fuzz_replay_main(int argc, char **argv, const char *const *dirs)
{
	int i, n = 0, err = 0;

	for (i = 1; i < argc; i++)
		err |= fuzz_replay_file(argv[i], ++n);
	for (i = 0; argc == 1 && dirs[i]; i++)
		err |= fuzz_replay_dir(dirs[i], &n);
	printf("1..%d\n", n);
	return err ? 1 : 0;
}

#endif
