/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Victim whose main thread (the one graft borrows for remote calls) never
 * blocks: it spins in user code holding known values in vector registers
 * and a non-default rounding mode, and checks them on every round. A thread
 * that was borrowed and restored without its exact vector state, or with
 * its registers wrong, is caught. A second thread answers on stdin:
 *   check        -> "ok ROUNDS" or "corrupt: WHAT"
 *   describe N   -> the function the patch replaces (it calls libc IFUNCs)
 */
#include <fenv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long rounds;
static const char *_Atomic corrupt;

__attribute__((noipa)) int describe(char *out, int n, int v)
{
	out[0] = (char)('0' + v % 10);
	out[1] = '\0';
	(void)n;
	return 1;
}

static void *answer(void *arg)
{
	char line[256], buf[64];

	(void)arg;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int v;

		if (sscanf(line, "describe %d", &v) == 1) {
			int len = describe(buf, sizeof(buf), v);

			printf("%d:%s\n", len, buf);
		} else if (!strncmp(line, "check", 5)) {
			const char *c = atomic_load(&corrupt);

			if (c)
				printf("corrupt: %s\n", c);
			else
				printf("ok %ld\n", atomic_load(&rounds));
		}
	}
	exit(0); /* stdin closed: the test is over */
}

int main(void)
{
	pthread_t t;

	fesetround(FE_TOWARDZERO); /* MXCSR and x87 control: callee-saved state */
	if (pthread_create(&t, NULL, answer, NULL) != 0)
		return 1;
	for (;;) {
		uint64_t lo = 0, hi = 0, ax = 0x1234;

		/* ymm upper halves too, where the CPU has AVX */
		__asm__ volatile("movq %[pat], %%xmm9\n\t"
				 "pshufd $0x44, %%xmm9, %%xmm9\n\t"
				 "movq %[pat2], %%xmm12\n\t"
				 "mov $2000, %%ecx\n"
				 "1: pause\n\t"
				 "dec %%ecx\n\t"
				 "jnz 1b\n\t"
				 "movq %%xmm9, %[lo]\n\t"
				 "pextrq $1, %%xmm9, %[hi]\n\t"
				 "movq %%xmm12, %%rdx\n\t"
				 "cmp %[pat2], %%rdx\n\t"
				 "je 2f\n\t"
				 "xor %[ax], %[ax]\n"
				 "2:"
				 : [lo] "=&r"(lo), [hi] "=&r"(hi), [ax] "+r"(ax)
				 : [pat] "r"(0x0123456789abcdefull), [pat2] "r"(0x5a5a5a5a5a5a5a5aull)
				 : "rcx", "rdx", "xmm9", "xmm12", "cc");
		if (lo != 0x0123456789abcdefull || hi != 0x0123456789abcdefull)
			atomic_store(&corrupt, "xmm9 lost its value");
		else if (ax != 0x1234)
			atomic_store(&corrupt, "xmm12 lost its value");
		else if (fegetround() != FE_TOWARDZERO)
			atomic_store(&corrupt, "the rounding mode was reset");
		atomic_fetch_add(&rounds, 1);
	}
}
