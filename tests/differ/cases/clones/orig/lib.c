#include <stdio.h>

/*
 * GCC names IPA clones name.isra.N / name.constprop.N and numbers them in
 * the order it creates them, so an unrelated change can renumber them. The
 * asm labels pin the names the way a renumbering would leave them.
 */
static int scale(int v) __asm__("scale.isra.0");
static int twice(int v) __asm__("twice.constprop.0");
static int thrice(int v) __asm__("twice.constprop.1");

__attribute__((noinline)) static int scale(int v)
{
	printf("scale %d\n", v);
	return v * 5;
}

__attribute__((noinline)) static int twice(int v)
{
	printf("twice %d\n", v);
	return v * 2;
}

__attribute__((noinline)) static int thrice(int v)
{
	printf("thrice %d\n", v);
	return v * 3;
}

int run(int x)
{
	printf("run\n");
	return scale(x) + twice(x) + thrice(x) + 1;
}
