/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Victim for the basic tests: a changed function, static functions, static
 * globals and static locals, string literals. Answers one line per command
 * read from stdin, so the test can check behaviour before and after.
 */
#include <stdio.h>
#include <string.h>

static int counter = 100;

__attribute__((noipa)) static int scale(int x)
{
	return x * 2;
}

__attribute__((noipa)) static const char *greeting(void)
{
	return "old greeting";
}

__attribute__((noinline)) int compute(int x)
{
	return x + 1;
}

__attribute__((noinline)) int bump(void)
{
	static int calls;

	return ++calls;
}

int main(void)
{
	char line[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", scale(0) + counter * 0);
	while (fgets(line, sizeof(line), stdin)) {
		int n;

		if (sscanf(line, "compute %d", &n) == 1)
			printf("%d\n", compute(n));
		else if (!strncmp(line, "greet", 5))
			printf("%s\n", greeting());
		else if (!strncmp(line, "counter", 7))
			printf("%d\n", counter++);
		else if (!strncmp(line, "bump", 4))
			printf("%d\n", bump());
		else if (!strncmp(line, "quit", 4))
			return 0;
		else
			printf("?\n");
	}
	return 0;
}
