#include <stdio.h>

static inline int norm(int x)
{
	return x < 0 ? -x - 1 : x;
}

__attribute__((noinline)) int dist(int a, int b)
{
	printf("dist\n");
	return norm(a - b);
}

__attribute__((noinline)) int mag(int a)
{
	printf("mag\n");
	return norm(a) * 2;
}

__attribute__((noinline)) int other(int a)
{
	printf("other\n");
	return a + 1;
}

int run(int x)
{
	return dist(x, 3) + mag(x) + other(x);
}
