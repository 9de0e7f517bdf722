/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Apply and revert transactions on a live process.
 */
#ifndef GRAFT_PATCH_APPLY_H
#define GRAFT_PATCH_APPLY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "patch/format.h"
#include "patch/region.h"

/*
 * Called around every stop of a whole process: a caller working on many
 * processes at once lets only as many be stopped together as there are
 * CPUs, so no stopped process waits behind another's apply for a CPU.
 */
struct graft_stop_gate {
	void (*enter)(void *ctx);
	void (*leave)(void *ctx);
	void *ctx;
};

struct graft_op_opts {
	uint64_t timeout_ms;		    /* how long to retry while busy; default 10 s */
	struct graft_objcache *cache;	    /* build-ids of files, shared across processes */
	const struct graft_stop_gate *gate; /* may be NULL */
	/*
	 * The caller has made sure no other process shares the target's
	 * address space (a host-wide run compares its candidates); otherwise
	 * apply and revert look at every process for one (a few ms).
	 */
	bool mm_checked;
	/*
	 * Apply: a process with one thread is held from its borrowed thread's
	 * way home through the stop of the world (graft_rsys_end_chain with
	 * hold): one stop, wake-up and stop fewer, ~15 % of a host-wide run on
	 * 2 CPUs, for one longer pause instead of two short ones (a busy
	 * thread sees ~0.5 ms instead of ~0.27 and ~0.1 ms on the test VM).
	 * Host-wide runs, where the CPUs are the limit, set it.
	 */
	bool hold_home;
};

/*
 * Refuse a process whose address space another process shares: a stop of
 * its threads leaves the other's running the same code (GRAFT_ERR_UNSAFE).
 */
int graft_refuse_shared_mm(pid_t pid, pid_t other, struct graft_err *err);

struct graft_op_result {
	uint64_t stop_ns;  /* how long the process was stopped (last attempt) */
	unsigned attempts; /* stop-the-world attempts */
	size_t nthreads;
	size_t nfuncs;
	size_t nlive; /* revert: functions whose jump was in place and was taken out */
	uint64_t region_addr;
	size_t ntargets;	/* in the patch */
	size_t ntargets_mapped; /* of those, mapped by the process: one region each */
	bool touched;		/* graft stopped a thread of it (else it was never touched) */
	char patch_id[72];
};

/*
 * Apply patch to pid. On any failure the process is left running exactly as
 * before: jumps restored, region unmapped. Kinds: GRAFT_ERR_UNSAFE for busy,
 * build-id or pre-image mismatch; GRAFT_ERR_NOOP when already applied.
 */
int graft_apply(pid_t pid, const struct graft_patch *patch, const struct graft_op_opts *opts,
		struct graft_op_result *res, struct graft_err *err);

/*
 * Several patches into one process, all or none: one stop writes every
 * jump. Patches already in it are left out (already[i] set, n entries);
 * GRAFT_ERR_NOOP when all are. Two patches replacing one function are
 * refused. res adds up the patches that went in.
 */
int graft_apply_batch(pid_t pid, const struct graft_patch *const *patches, size_t n,
		      const struct graft_op_opts *opts, struct graft_op_result *res, bool *already,
		      struct graft_err *err);

/*
 * Everything graft_apply checks before its first change, and nothing
 * changed: the process maps the target build, every function holds the
 * expected bytes, every symbol resolves, no other tracer, and its seccomp
 * filters allow graft's system calls (asked of one thread, stopped for a
 * fraction of a millisecond, only when the process has filters). 0 when an
 * apply would go ahead (a function may still turn out busy), else apply's
 * error.
 */
int graft_apply_check(pid_t pid, const struct graft_patch *patch, const struct graft_op_opts *opts,
		      struct graft_err *err);

/*
 * Revert the patch with this id from pid. Refused (GRAFT_ERR_UNSAFE) when a
 * later patch sits on one of its functions or a thread is inside its code;
 * GRAFT_ERR_NOOP when it is not applied.
 */
int graft_revert(pid_t pid, const char *patch_id, const struct graft_op_opts *opts,
		 struct graft_op_result *res, struct graft_err *err);

#define GRAFT_RECOVER_MAX 64

struct graft_recover_item {
	char patch_id[72];
	bool was_apply;	      /* an apply that never finished; else a revert */
	size_t nfuncs, nlive; /* of its functions, those whose jump was in place */
	uint64_t stop_ns;
};

struct graft_recover_result {
	struct graft_recover_item items[GRAFT_RECOVER_MAX];
	size_t n;
	size_t in_progress; /* attempts of a graft still running: left alone */
};

/*
 * Take out what a dead graft left half done in pid (a region still
 * "prepared", or an applied one missing jumps), so each patch is wholly in
 * or wholly out. Nothing to do is success with res->n == 0.
 */
int graft_recover(pid_t pid, const struct graft_op_opts *opts, struct graft_recover_result *res,
		  struct graft_err *err);

/* Ids of patches in pid, newest first (for revert --all). */
int graft_list_ids(pid_t pid, char ***ids, size_t *n, struct graft_err *err);

#endif
