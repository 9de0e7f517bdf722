/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * apply and revert over many processes (cli/many.c).
 */
#ifndef GRAFT_CLI_MANY_H
#define GRAFT_CLI_MANY_H

#include "cli/cli.h"
#include "cli/host.h"
#include "patch/apply.h"

#define MANY_BATCH_MAX 64 /* patch files in one apply */

struct many_args {
	struct cli_patches *patches; /* apply */
	const char *id;		     /* revert */
	struct cli_audit *audit;     /* apply: one per patch; revert: one */
	struct graft_op_opts o;
	struct cli_select sel;
	const pid_t *pids; /* only these (all processes when none) */
	size_t npids;
	unsigned jobs; /* 0: twice the CPUs */
	bool json;
};

/* Returns the command's exit code; prints every line. */
int cli_apply_many(struct many_args *a);
int cli_revert_many(struct many_args *a);

#endif
