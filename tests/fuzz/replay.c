/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replays a fuzz target over its checked-in corpus without libFuzzer, so
 * 'make check' runs every input that ever found a bug (or seeds coverage)
 * with the normal compiler. Exit 0 when all inputs ran.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(void)
{
	DIR *d = opendir(CORPUS_DIR);
	struct dirent *de;
	int n = 0;

	if (!d) {
		fprintf(stderr, "no corpus at %s\n", CORPUS_DIR);
		return 1;
	}
	while ((de = readdir(d))) {
		char path[4096];
		char *buf;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, de->d_name);
		if (graft_read_file(path, 64u << 20, &buf, &len, NULL) < 0)
			continue;
		(void)LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		free(buf);
		n++;
	}
	closedir(d);
	printf("replayed %d inputs from %s\n", n, CORPUS_DIR);
	return n > 0 ? 0 : 1;
}
