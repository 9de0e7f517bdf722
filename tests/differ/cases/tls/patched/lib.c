#include <stdio.h>

static __thread int depth;
static __thread int max_depth;

__attribute__((noinline)) int enter(int v)
{
	depth++;
	if (depth > max_depth)
		max_depth = depth;
	printf("enter %d\n", depth);
	return v;
}

int run(int x)
{
	return enter(x);
}
