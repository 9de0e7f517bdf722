#include <stdio.h>

__attribute__((noinline)) int limit(int n)
{
	if (n > 64) {
		puts("too long");
		return -1;
	}
	return n;
}

int run(int x)
{
	return limit(x * 3) + 1;
}
