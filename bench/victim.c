/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Benchmark victim. While the bench arms it, the main thread loops on
 * clock_gettime at a real-time priority (so the scheduler does not preempt
 * it for other work: a gap is then a stop, not a time slice) and records the
 * largest gap between two readings in a shared file. Between measurements it
 * sleeps, which keeps it within the kernel's real-time throttling budget.
 * N-1 worker threads loop: call work(), sleep 1 ms, like the workers of a
 * server. The benchmark patches work().
 *
 * usage: victim NTHREADS SHMFILE
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct shared {
	volatile uint64_t max_gap_ns;
	volatile uint64_t armed; /* the bench sets it around each measurement */
	volatile uint64_t calls;
};

__attribute__((noipa)) int work(int x)
{
	return x * 3 + 1;
}

static struct shared *sh;

static void *worker(void *arg)
{
	int x = (int)(long)arg;

	for (;;) {
		x = work(x) & 0xffff;
		__atomic_add_fetch(&sh->calls, 1, __ATOMIC_RELAXED);
		usleep(1000);
	}
	return NULL;
}

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 1;
	int fd = argc > 2 ? open(argv[2], O_RDWR) : -1;
	struct sched_param rt = { .sched_priority = 1 };
	uint64_t last;

	if (fd < 0 || (sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		fprintf(stderr, "usage: victim NTHREADS SHMFILE\n");
		return 2;
	}
	for (int i = 1; i < n; i++) {
		pthread_t t;

		pthread_create(&t, NULL, worker, (void *)(long)i);
	}
	if (sched_setscheduler(0, SCHED_FIFO, &rt) < 0)
		perror("sched_setscheduler (gaps will include time slices)");
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		while (!sh->armed)
			usleep(100);
		sh->max_gap_ns = 0;
		last = now();
		while (sh->armed) {
			uint64_t t = now(), gap = t - last;

			last = t;
			if (gap > sh->max_gap_ns)
				sh->max_gap_ns = gap;
		}
	}
}
