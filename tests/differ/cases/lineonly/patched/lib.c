#include <stdio.h>

/*
 * A comment added above the function moves its lines.
 */
__attribute__((noinline)) int check(int v)
{
	if (v > 3)
		printf("check failed at line %d\n", __LINE__);
	return v;
}

int run(int x)
{
	return check(x);
}
