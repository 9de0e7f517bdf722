/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Victim for the held way home: a single-threaded process that catches the
 * signals named "cN" on its command line and blocks those named "bN",
 * counting every delivery, so the test can tell whether the signal graft
 * stops the thread with ever reached a handler (it must not). "t" starts a
 * second thread that only sleeps: then the process is not held.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got[65];

static void on_signal(int sig)
{
	got[sig]++;
}

static void *sleeper(void *arg)
{
	for (;;)
		pause();
	return arg;
}

__attribute__((noinline)) int compute(int x)
{
	return x + 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigset_t block;
	char line[256];

	sigemptyset(&block);
	for (int i = 1; i < argc; i++) {
		int sig = atoi(argv[i] + 1);
		pthread_t t;

		if (!strcmp(argv[i], "t")) {
			if (pthread_create(&t, NULL, sleeper, NULL) != 0)
				return 2;
			continue;
		}

		if (sig < 1 || sig > 64)
			return 2;
		if (argv[i][0] == 'c' && sigaction(sig, &sa, NULL) != 0)
			return 2;
		if (argv[i][0] == 'b')
			sigaddset(&block, sig);
	}
	if (sigprocmask(SIG_BLOCK, &block, NULL) != 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int n;

		if (sscanf(line, "compute %d", &n) == 1)
			printf("%d\n", compute(n));
		else if (sscanf(line, "got %d", &n) == 1 && n >= 1 && n <= 64)
			printf("%d\n", (int)got[n]);
		else
			printf("?\n");
	}
	return 0;
}
