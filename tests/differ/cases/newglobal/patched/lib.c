#include <stdio.h>

static int threshold = 48;

__attribute__((noinline)) int limit(int n)
{
	if (n > threshold) {
		threshold--;
		puts("too long");
		return -1;
	}
	return n;
}

int run(int x)
{
	return limit(x * 3) + 1;
}
