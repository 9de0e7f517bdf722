#include <stdio.h>

static int ready;

__attribute__((constructor)) static void setup(void)
{
	ready = 2;
	printf("setup\n");
}

int run(int x)
{
	return x + ready;
}
