/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Executable using the library; both get patched in one process. */
#include <stdio.h>
#include <string.h>

int lib_check(int x);
int lib_count(void);

__attribute__((noipa)) int exe_check(int x)
{
	return -x;
}

int main(void)
{
	char line[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int v;

		if (sscanf(line, "lib %d", &v) == 1)
			printf("%d\n", lib_check(v));
		else if (sscanf(line, "exe %d", &v) == 1)
			printf("%d\n", exe_check(v));
		else if (!strncmp(line, "count", 5))
			printf("%d\n", lib_count());
	}
	return 0;
}
