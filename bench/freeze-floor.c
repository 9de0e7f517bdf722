/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The floor under graft's stop time: freeze and thaw a process with the
 * library's stop-the-world (seize, interrupt, wait, read registers, detach)
 * and nothing else: no safety check, no writes. Prints median and max of
 * RUNS rounds in microseconds.
 *
 * usage: freeze-floor PID [RUNS]
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "ptrace/pt.h"

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct sched_param rt = {.sched_priority = 10};
	int runs = argc > 2 ? atoi(argv[2]) : 50;
	uint64_t *t = calloc((size_t)runs, sizeof(*t));
	size_t n = 0;

	if (argc < 2 || !t || runs < 1) {
		fprintf(stderr, "usage: freeze-floor PID [RUNS]\n");
		return 2;
	}
	(void)sched_setscheduler(0, SCHED_FIFO, &rt); /* as graft does */
	for (int i = 0; i < runs; i++) {
		struct graft_pt_world w;
		struct graft_err e = {0};

		if (graft_pt_freeze(atoi(argv[1]), &w, NULL, NULL, &e) < 0) {
			fprintf(stderr, "freeze-floor: %s\n", e.msg);
			return 1;
		}
		graft_pt_thaw(&w);
		t[i] = (w.stop_end_ns - w.stop_start_ns) / 1000;
		n = w.n;
		graft_pt_world_free(&w);
		usleep(10000);
	}
	qsort(t, (size_t)runs, sizeof(*t), cmp);
	printf("freeze+thaw only, %zu threads: median %.3f ms, max %.3f ms (%d runs)\n", n,
	       t[runs / 2] / 1000.0, t[runs - 1] / 1000.0, runs);
	free(t);
	return 0;
}
