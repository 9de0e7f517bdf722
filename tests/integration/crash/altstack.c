/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Victim whose main thread (the one graft borrows) lives in a signal
 * handler on an alternate signal stack: carved from the heap (argv[1] =
 * "heap", guarded by canary bytes on both sides) or mmap'd ("mmap"). The
 * handler answers on stdin:
 *   describe N   -> the function the patch replaces
 *   check        -> "ok" when the canaries around the stack are intact
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALT    (64u << 10)
#define GUARD  (16u << 10)
#define CANARY 0x5c

static unsigned char *block;

__attribute__((noipa)) int describe(char *out, int n, int v)
{
	out[0] = (char)('0' + v % 10);
	out[1] = '\0';
	(void)n;
	return 1;
}

static int canaries_ok(void)
{
	for (size_t i = 0; i < GUARD; i++)
		if (block[i] != CANARY || block[GUARD + ALT + i] != CANARY)
			return 0;
	return 1;
}

static void handler(int sig)
{
	char line[256], buf[64];
	stack_t cur;

	(void)sig;
	if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_ONSTACK))
		_exit(3);
	printf("ready on the alternate stack\n");
	while (fgets(line, sizeof(line), stdin)) {
		int v;

		if (sscanf(line, "describe %d", &v) == 1) {
			int len = describe(buf, sizeof(buf), v);

			printf("%d:%s\n", len, buf);
		} else if (!strncmp(line, "check", 5)) {
			printf("%s\n", canaries_ok() ? "ok" : "canary overwritten");
		}
	}
	exit(0);
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_ONSTACK};
	stack_t ss;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "mmap"))
		block = mmap(NULL, GUARD + ALT + GUARD, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
		block = malloc(GUARD + ALT + GUARD);
	if (!block || block == MAP_FAILED)
		return 1;
	memset(block, CANARY, GUARD + ALT + GUARD);
	ss = (stack_t){.ss_sp = block + GUARD, .ss_size = ALT};
	if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
		return 1;
	raise(SIGUSR1);
	return 2;
}
