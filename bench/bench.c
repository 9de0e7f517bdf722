/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stop-time benchmark driver (make bench). For each victim size it starts
 * bench/victim, then RUNS times: arms the victim's gap recorder, runs
 * 'graft apply --json', disarms, and records graft's own stop time and the
 * largest gap the victim saw; the same for revert; and an idle baseline
 * (armed 5 ms, no graft). Prints median / p99 / max per row.
 *
 * usage: bench GRAFT VICTIM PATCH RUNS NTHREADS...
 */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct shared {
	volatile uint64_t max_gap_ns;
	volatile uint64_t armed;
	volatile uint64_t calls;
};

static struct shared *sh;

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* Run argv, capture stdout, return graft's stopped_ms (or -1). */
static double run_graft(char **argv)
{
	int p[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	char buf[8192];
	size_t n = 0;
	ssize_t r;
	int st;
	json_t *j;
	double ms = -1;

	if (pipe(p) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		return -1;
	close(p[1]);
	while ((r = read(p[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench: %s %s failed\n", argv[0], argv[1]);
		exit(1);
	}
	j = json_loads(buf, 0, NULL);
	if (j) {
		ms = json_number_value(json_object_get(j, "stopped_ms"));
		json_decref(j);
	}
	return ms;
}

static double measure(char **argv, double *graft_ms)
{
	sh->armed = 1;
	sleep_us(2000); /* the victim is spinning now */
	if (argv)
		*graft_ms = run_graft(argv);
	else
		sleep_us(5000);
	sh->armed = 0;
	sleep_us(1000);
	return (double)sh->max_gap_ns / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void stats(double *v, int n, char *out, size_t len)
{
	int r = (99 * n + 99) / 100; /* nearest rank */

	qsort(v, (size_t)n, sizeof(*v), cmp);
	snprintf(out, len, "%.3f / %.3f / %.3f",
		 n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[r - 1], v[n - 1]);
}

int main(int argc, char **argv)
{
	const char *graft, *victim, *patch;
	char shmpath[] = "/tmp/graft-bench-shm.XXXXXX";
	int runs, fd;

	if (argc < 6) {
		fprintf(stderr, "usage: bench GRAFT VICTIM PATCH RUNS NTHREADS...\n");
		return 2;
	}
	graft = argv[1];
	victim = argv[2];
	patch = argv[3];
	runs = atoi(argv[4]);
	fd = mkstemp(shmpath);
	if (fd < 0 || ftruncate(fd, 4096) < 0)
		return 1;
	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unlink(shmpath);
	printf("%-8s %-8s %-26s %-26s %-26s\n", "threads", "op", "graft-measured stop",
	       "victim-seen gap", "idle baseline gap");
	for (int a = 5; a < argc; a++) {
		double *ag = calloc((size_t)runs, sizeof(double)), *av = calloc((size_t)runs, sizeof(double));
		double *rg = calloc((size_t)runs, sizeof(double)), *rv = calloc((size_t)runs, sizeof(double));
		double *base = calloc((size_t)runs, sizeof(double));
		char pidbuf[16], fdpath[64], s1[64], s2[64], s3[64];
		char *vargv[] = { (char *)victim, argv[a], fdpath, NULL };
		pid_t vp;

		snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%d", getpid(), fd);
		if (posix_spawn(&vp, victim, NULL, NULL, vargv, environ) != 0)
			return 1;
		sleep_us(500000);
		snprintf(pidbuf, sizeof(pidbuf), "%d", vp);
		for (int i = 0; i < runs; i++) {
			char *ap[] = { (char *)graft, "apply", (char *)patch, "--pid", pidbuf, "--json", NULL };
			char *rp[] = { (char *)graft, "revert", "bench", "--pid", pidbuf, "--json", NULL };

			base[i] = measure(NULL, NULL);
			av[i] = measure(ap, &ag[i]);
			rv[i] = measure(rp, &rg[i]);
		}
		stats(base, runs, s3, sizeof(s3));
		stats(ag, runs, s1, sizeof(s1));
		stats(av, runs, s2, sizeof(s2));
		printf("%-8s %-8s %-26s %-26s %-26s\n", argv[a], "apply", s1, s2, s3);
		stats(rg, runs, s1, sizeof(s1));
		stats(rv, runs, s2, sizeof(s2));
		printf("%-8s %-8s %-26s %-26s %-26s\n", argv[a], "revert", s1, s2, s3);
		fflush(stdout);
		kill(vp, SIGKILL);
		waitpid(vp, NULL, 0);
		free(ag), free(av), free(rg), free(rv), free(base);
	}
	return 0;
}
