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
	printf("b %d\n", v);
	return v;
}

int run(int x)
{
	return count_a(x) + count_b(x);
}
