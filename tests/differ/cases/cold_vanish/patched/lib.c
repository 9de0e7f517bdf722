#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int parse(int x)
{
	printf("parse %d\n", x);
	return x * 2;
}

int run(int x)
{
	return parse(x);
}
