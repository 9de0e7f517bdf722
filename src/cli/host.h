/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host-wide commands: patch sets, process selection, parallel jobs.
 */
#ifndef GRAFT_CLI_HOST_H
#define GRAFT_CLI_HOST_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "patch/format.h"
#include "patch/sig.h"
#include "proc/proc.h"

struct cli_patches {
	struct graft_patch **v;
	struct graft_sig_status *sig;
	char **paths;
	size_t n;
	char error[GRAFT_ERR_MSG_MAX]; /* why a file was refused, for the audit log */
};

/*
 * Load the named patch files and every *.graft in dir (may be NULL), in
 * that order, refusing two with one id. lenient: a patch whose signature
 * fails is still loaded, with a warning (scan). Returns an exit code.
 */
int cli_patches_load(struct cli_patches *ps, char *const *paths, size_t n, const char *dir,
		     const char *keys, bool verify, bool lenient);
void cli_patches_free(struct cli_patches *ps);

/* --exe and --user filters; a process must pass both when given. */
struct cli_select {
	bool exe, user;
	char exe_path[PATH_MAX];
	dev_t exe_dev;
	ino_t exe_ino;
	uid_t uid;
};
int cli_select_init(struct cli_select *s, const char *exe, const char *user);
bool cli_select_match(const struct cli_select *s, pid_t pid, const struct graft_proc_status *st);

/*
 * Run fn(ctx, i) for i in [0, n) on up to jobs threads. progress (may be
 * NULL) redraws a line on stderr when it is a terminal, under the output
 * lock. Returns the terminating signal that stopped it early, else 0;
 * *attempted says how many jobs ran.
 */
typedef void (*cli_job_fn)(void *ctx, size_t i);
typedef void (*cli_progress_fn)(void *ctx, size_t done, size_t n, bool final);
int cli_run_jobs(size_t n, unsigned jobs, cli_job_fn fn, void *ctx, cli_progress_fn progress,
		 size_t *attempted);
unsigned cli_default_jobs(void);
/* --jobs N: 1 to 64; <0 (message printed) otherwise. */
int cli_parse_jobs(const char *s, unsigned *jobs);
/* Print a result line on stdout from a job, clearing the progress line. */
void cli_job_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The output lock, for jobs that write JSON or the audit log. */
void cli_job_lock(void);
void cli_job_unlock(void);

#endif
