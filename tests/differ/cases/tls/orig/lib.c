#include <stdio.h>

static __thread int depth;

__attribute__((noinline)) int enter(int v)
{
	depth++;
	printf("enter %d\n", depth);
	return v;
}

int run(int x)
{
	return enter(x);
}
