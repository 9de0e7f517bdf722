#include <stdio.h>

__attribute__((noinline)) static int inc(int v)
{
	printf("inc\n");
	return v + 1;
}

__attribute__((noinline)) static int dec(int v)
{
	printf("dec\n");
	return v - 1;
}

static int (*ops[])(int) = {inc, dec};

int run(int x)
{
	return ops[x & 1](x);
}
