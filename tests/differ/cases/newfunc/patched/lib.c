#include <stdio.h>

__attribute__((noinline)) static int clamp(int n)
{
	printf("clamping %d\n", n);
	return n > 64 ? 64 : n;
}

__attribute__((noinline)) int limit(int n)
{
	if (n > 64) {
		puts("too long");
		return clamp(n);
	}
	return n;
}

int run(int x)
{
	return limit(x * 3) + 1;
}
