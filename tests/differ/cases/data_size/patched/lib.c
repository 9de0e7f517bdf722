#include <stdio.h>

static int limits[8] = {1, 2, 3, 4};

__attribute__((noinline)) int lookup(int i)
{
	printf("lookup %d\n", i);
	return limits[i & 7]++;
}

int run(int x)
{
	return lookup(x);
}
