/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The stop-the-world step shared by apply and revert: stop every thread,
 * check that none is inside a busy range (by instruction pointer and by a
 * conservative scan of its live stack), run a commit callback while all are
 * stopped, let them go. When a thread is inside, the process runs again and
 * the step is retried with backoff until a deadline.
 */
#ifndef GRAFT_PATCH_STW_H
#define GRAFT_PATCH_STW_H

#include <stdbool.h>
#include <stdint.h>

#include "proc/proc.h"
#include "ptrace/pt.h"

struct graft_busy_range {
	uint64_t lo, hi; /* [lo, hi) */
	/*
	 * A thread that will resume exactly at lo (its rip, or a word on its
	 * stack: a function pointer, or the rip saved by a signal frame) is
	 * safe: true for functions that stay mapped (apply), false for code
	 * about to be unmapped (revert).
	 */
	bool entry_ok;
	const char *name; /* for the refusal message */
};

typedef int (*graft_commit_fn)(void *ctx, struct graft_pt_world *w, struct graft_err *err);

struct graft_stop_gate;

struct graft_stw {
	pid_t pid;
	int memfd;
	struct graft_busy_range *ranges;
	size_t nranges;
	uint64_t timeout_ms;
	graft_commit_fn commit;
	void *ctx;
	const struct graft_stop_gate *gate; /* may be NULL */
	/* the process's maps, read just before by the caller; NULL: read them here */
	const struct graft_maps *maps;
	/*
	 * The process's only thread, stopped already (held after its remote
	 * calls) since held_since_ns, or NULL: the first attempt takes it as
	 * it is, without the gate (waiting there would only lengthen its
	 * stop); it is let go with the world in any case.
	 */
	const struct graft_pt_thread *held;
	uint64_t held_since_ns;
	/* the buffer for stacks (graft_stw_prepare), taken by graft_stw_run */
	uint64_t *buf;
	size_t cap;
	/* results */
	uint64_t stop_ns; /* stop time of the attempt that committed */
	unsigned attempts;
	size_t nthreads;
};

/*
 * Allocate what the stop needs, before any thread is stopped: for a caller
 * holding a thread already (held) while the rest is set up. graft_stw_run
 * does it otherwise. graft_stw_free undoes it when graft_stw_run is not
 * reached (it takes the buffer over and frees it).
 */
int graft_stw_prepare(struct graft_stw *s, struct graft_err *err);
void graft_stw_free(struct graft_stw *s);
/*
 * Returns 0 when committed. A thread still busy at the deadline gives
 * -EBUSY with kind GRAFT_ERR_UNSAFE naming the thread and the range.
 */
int graft_stw_run(struct graft_stw *s, struct graft_err *err);

#endif
