#include <stdio.h>

__attribute__((noinline)) int helper(int v)
{
	printf("helper %d\n", v);
	return v * 9;
}

int run(int x)
{
	int r = helper(x);

	return helper(r + 1);
}
