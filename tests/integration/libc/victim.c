/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Victim for patches that call libc: puts, snprintf, IFUNCs, stderr. */
#include <stdio.h>
#include <string.h>

__attribute__((noipa)) int describe(char *out, int n, int v)
{
	/* the "bug": no bounds, no formatting */
	out[0] = (char)('0' + v % 10);
	out[1] = '\0';
	(void)n;
	return 1;
}

__attribute__((noipa)) void announce(void)
{
	printf("old announce\n");
}

int main(void)
{
	char line[256], buf[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int v;

		if (sscanf(line, "describe %d", &v) == 1) {
			int len = describe(buf, sizeof(buf), v);

			printf("%d:%s\n", len, buf);
		} else if (!strncmp(line, "announce", 8)) {
			announce();
		}
	}
	return 0;
}
