/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Victim for the concurrency tests: busy functions (by instruction pointer
 * and by stack), a temporarily busy function, stress threads checking every
 * result, real-time signal counting, and thread churn.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* old: x + 1; patch A: 2x + 3; patch B: 3x + 5 */
__attribute__((noipa)) int compute(int x)
{
	return x + 1;
}

static volatile int spin_go = 1;

__attribute__((noipa)) void spin_forever(void)
{
	while (spin_go)
		__asm__ volatile("" ::: "memory");
}

__attribute__((noipa)) void hold_forever(void)
{
	for (;;) {
		usleep(1000);
		__asm__ volatile("" ::: "memory");
	}
}

__attribute__((noipa)) int slow_fn(int ms)
{
	usleep((useconds_t)ms * 1000);
	return ms;
}

static atomic_long sigs;
static atomic_int stress_stop;
static atomic_long iters, bad;

static void on_rt(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigs, 1);
}

static bool ok_result(int x, int r)
{
	return r == x + 1 || r == 2 * x + 3 || r == 3 * x + 5;
}

static void *stress_thread(void *arg)
{
	int x = (int)(long)arg;

	while (!atomic_load(&stress_stop)) {
		int r = compute(x);

		if (!ok_result(x, r))
			atomic_fetch_add(&bad, 1);
		atomic_fetch_add(&iters, 1);
		x = (x + 7) & 0xffff;
	}
	return NULL;
}

static void *churn_child(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++)
		if (!ok_result(i, compute(i)))
			atomic_fetch_add(&bad, 1);
	return NULL;
}

static void *churn_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stress_stop)) {
		pthread_t t[4];

		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, churn_child, NULL);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		atomic_fetch_add(&iters, 1);
	}
	return NULL;
}

static void *slow_thread(void *arg)
{
	slow_fn((int)(long)arg);
	return NULL;
}

static void *spin_thread(void *arg)
{
	(void)arg;
	spin_forever();
	return NULL;
}

static void *hold_thread(void *arg)
{
	(void)arg;
	hold_forever();
	return NULL;
}

static void start(void *(*fn)(void *), long arg)
{
	pthread_t t;

	pthread_create(&t, NULL, fn, (void *)arg);
	pthread_detach(t);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_rt, .sa_flags = SA_RESTART };
	pthread_t stress[64];
	int nstress = 0;
	char line[256];

	sigaction(SIGRTMIN, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int n;

		if (sscanf(line, "compute %d", &n) == 1) {
			printf("%d\n", compute(n));
		} else if (!strncmp(line, "spin", 4)) {
			start(spin_thread, 0);
			printf("ok\n");
		} else if (!strncmp(line, "hold", 4)) {
			start(hold_thread, 0);
			printf("ok\n");
		} else if (sscanf(line, "slow %d", &n) == 1) {
			start(slow_thread, n);
			usleep(20000); /* let it enter */
			printf("ok\n");
		} else if (sscanf(line, "stress %d", &n) == 1) {
			atomic_store(&stress_stop, 0);
			for (int i = 0; i < n && nstress < 64; i++)
				pthread_create(&stress[nstress++], NULL, stress_thread, (void *)(long)i);
			printf("ok\n");
		} else if (!strncmp(line, "churn", 5)) {
			atomic_store(&stress_stop, 0);
			pthread_create(&stress[nstress++], NULL, churn_thread, NULL);
			printf("ok\n");
		} else if (!strncmp(line, "stop", 4)) {
			atomic_store(&stress_stop, 1);
			for (int i = 0; i < nstress; i++)
				pthread_join(stress[i], NULL);
			nstress = 0;
			printf("%ld %ld\n", atomic_load(&iters), atomic_load(&bad));
		} else if (!strncmp(line, "sigs", 4)) {
			printf("%ld\n", atomic_load(&sigs));
		} else if (!strncmp(line, "exit", 4)) {
			exit(0);
		} else {
			printf("?\n");
		}
	}
	return 0;
}
