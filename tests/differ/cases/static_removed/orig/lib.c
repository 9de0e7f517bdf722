#include <stdio.h>

__attribute__((noinline)) int count_a(int v)
{
	static int count;

	count += v;
	printf("a %d\n", count);
	return count;
}

__attribute__((noinline)) int count_b(int v)
{
	static int count = 100;

	count -= v;
	printf("b %d\n", count);
	return count;
}

int run(int x)
{
	return count_a(x) + count_b(x);
}
