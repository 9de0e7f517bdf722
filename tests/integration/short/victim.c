/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Victim with functions shorter than a 5-byte jump. */
#include <stdio.h>
#include <string.h>

__attribute__((noipa)) int ident(int x)
{
	return x; /* mov %edi,%eax; ret: 3 bytes */
}

__attribute__((noipa)) int after(int x)
{
	return x + 100;
}

int main(void)
{
	char line[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int v;

		if (sscanf(line, "ident %d", &v) == 1)
			printf("%d %d\n", ident(v), after(v));
	}
	return 0;
}
