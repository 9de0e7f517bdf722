/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Victim with a thread that cannot stop: "vfork MS" has a thread vfork() a
 * child that sleeps MS ms before it exits; until then the thread waits in
 * the kernel (state D) and no ptrace interrupt stops it. A ticker thread
 * calls answer() every millisecond and records the longest gap between two
 * of its turns: how long the process was held stopped. Commands: "vfork MS",
 * "vfork-main MS" (the main thread itself: it answers "ok" first, and nothing
 * until the child exits), "gap" (the longest gap in ms since the last
 * "gap"), "answer".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__attribute__((noipa)) int answer(void)
{
	return 1;
}

static atomic_long max_gap_us;

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static void *ticker(void *arg)
{
	long last = now_us();

	(void)arg;
	for (;;) {
		long t, gap;

		usleep(1000);
		(void)answer();
		t = now_us();
		gap = t - last;
		last = t;
		if (gap > atomic_load(&max_gap_us))
			atomic_store(&max_gap_us, gap);
	}
	return NULL;
}

static void *vforker(void *arg)
{
	unsigned ms = (unsigned)(long)arg;

	if (vfork() == 0) {
		usleep(ms * 1000u);
		_exit(0);
	}
	return NULL;
}

int main(void)
{
	char line[64];
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGCHLD, SIG_IGN); /* children reaped as they exit: no zombies to mistake */
	pthread_create(&t, NULL, ticker, NULL);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		unsigned ms;

		if (sscanf(line, "vfork-main %u", &ms) == 1) {
			printf("ok\n");
			if (vfork() == 0) {
				usleep(ms * 1000u);
				_exit(0);
			}
		} else if (sscanf(line, "vfork %u", &ms) == 1) {
			pthread_create(&t, NULL, vforker, (void *)(long)ms);
			pthread_detach(t);
			printf("ok\n");
		} else if (!strncmp(line, "gap", 3)) {
			printf("%ld\n", atomic_exchange(&max_gap_us, 0) / 1000);
		} else if (!strncmp(line, "answer", 6)) {
			printf("%d\n", answer());
		}
	}
	return 0;
}
