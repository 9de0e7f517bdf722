#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int parse(int x)
{
	if (__builtin_expect(x < 0, 0)) {
		fprintf(stderr, "negative input %d: refusing it and everything after it\n", x);
		fflush(stderr);
		abort();
	}
	printf("parse %d\n", x);
	return x * 2;
}

int run(int x)
{
	return parse(x);
}
