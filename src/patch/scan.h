/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a process runs that patches are for, and whether they are in it:
 * one process at a time, for 'graft scan' and for choosing the processes
 * of 'graft apply --all'.
 */
#ifndef GRAFT_PATCH_SCAN_H
#define GRAFT_PATCH_SCAN_H

#include "patch/apply.h"
#include "proc/proc.h"

enum graft_scan_state {
	GRAFT_SCAN_APPLIED = 1,	 /* in the process */
	GRAFT_SCAN_NOT_APPLIED,	 /* maps a target; an apply would go ahead */
	GRAFT_SCAN_INTERRUPTED,	 /* a dead graft's attempt is still there */
	GRAFT_SCAN_NOT_PATCHABLE /* maps a target; reason says why graft cannot */
};

struct graft_scan_hit {
	size_t patch; /* index into the patches scanned for */
	enum graft_scan_state state;
	char reason[GRAFT_ERR_MSG_MAX + 64];
};

/* An object the process runs whose file is no longer the one on disk. */
struct graft_scan_stale {
	char *path; /* without " (deleted)" */
	enum graft_disk_state disk;
};

struct graft_scan_proc {
	struct graft_proc_status st;
	char exe[512];
	int error; /* -errno: the process could not be inspected, reason says why */
	char reason[GRAFT_ERR_MSG_MAX + 64];
	struct graft_scan_hit *hits;
	size_t nhits;
	struct graft_scan_stale *stale;
	size_t nstale;
};

struct graft_scan_opts {
	struct graft_objcache *cache;
	bool check; /* ask graft_apply_check whether each unapplied target can be patched */
	bool stale; /* look for objects deleted or replaced on disk */
};

/*
 * Inspect one process. Returns 0 when out describes it (out->error set if
 * it could not be read), 1 when it is not a user process (a kernel thread)
 * or is gone: nothing to report.
 */
int graft_scan_proc(pid_t pid, const struct graft_patch *const *patches, size_t npatches,
		    const struct graft_scan_opts *opts, struct graft_scan_proc *out);
void graft_scan_proc_free(struct graft_scan_proc *p);

const char *graft_scan_state_name(enum graft_scan_state s);
/* Is o (by build-id) one of the objects patch p is for? */
bool graft_patch_is_for(const struct graft_patch *p, const struct graft_object *o);

#endif
