/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the builder's files share: the compile records, the translation
 * units and the build context (build.c drives; units.c diffs and explains;
 * assemble.c resolves, checks and writes the patch).
 */
#ifndef GRAFT_BUILD_BUILD_PRIV_H
#define GRAFT_BUILD_BUILD_PRIV_H

#include "build/build.h"
#include "build/diff.h"
#include "build/srcinfo.h"
#include "build/target.h"

#define CC_LOG_MAX (64u << 20)
#define DIFF_MAX   (16u << 20)
#define SOURCE_MAX (16u << 20)
#define CAND_MAX   16

struct cc_rec {
	char *cwd, *out, *src; /* src: absolute path of the C file */
	char **args;
	size_t nargs;
};

struct cc_log {
	struct cc_rec *recs;
	size_t n;
};

struct tu {
	struct ctx *c;
	const struct cc_rec *rec;
	char *rel; /* source path relative to the tree root */
	char *orig_obj, *patched_obj, *plain_obj;
	struct graft_obj *o, *p;
	struct graft_obj *plain; /* the original compiled as the target was */
	struct graft_diff *d;
	struct graft_target *t;
	struct graft_src *osrc, *psrc;
	struct graft_err *err;
};

struct ctx {
	const struct graft_build_opts *opts;
	struct graft_build_result *res;
	char *src; /* the source tree, absolute */
	char *dir, *orig, *patched, *bin;
	char *lndir; /* line-neutral twins of the patched build's objects */
	char *cc;    /* the real compiler, absolute */
	struct cc_log olog, plog;
	struct graft_udiff *udiff;
	unsigned strip;
	struct graft_target *targets[GRAFT_BUILD_TARGETS_MAX];
	struct tu *tus;
	size_t ntus;
};

/* build.c */
char *build_join(const char *a, const char *b);
int build_push_str(char ***arr, size_t *n, const char *s);
/*
 * Run argv in cwd with output appended to log; env holds NAME=VALUE
 * overrides. Returns the exit status (0-255), 256 + signal, or <0.
 */
int build_run(const char *cwd, const char *const argv[], const char *const env[], const char *log,
	      struct graft_err *err);

/* units.c: the translation units the rebuild recompiled */
const char *build_under(const char *path, const char *root);
void build_tu_release(struct tu *t);
int build_load_source(const char *root, const char *rel, struct graft_src **out);
/* Load and diff every recompiled unit (changes that only move __LINE__ dropped). */
int build_units_open(struct ctx *c, struct graft_err *err);
/* Which target holds each unit's code. */
int build_units_assign(struct ctx *c, struct graft_err *err);
/* Why each function changed; callers pulled in by signature changes; layouts. */
int build_units_explain(struct ctx *c, struct tu *t, struct graft_err *err);
int build_units_signatures(struct ctx *c, struct graft_err *err);
int build_units_layouts(struct ctx *c, struct graft_err *err);
/* The original compiled exactly as the target was, for the run-pre. */
int build_ensure_plain(struct ctx *c, struct tu *t, struct graft_err *err);

/* assemble.c: target resolution, run-pre, the patch object, graft_pack */
int build_emit(struct ctx *c, struct graft_err *err);
int build_add_func(struct graft_build_func **arr, size_t *n, const char *name, const char *file,
		   const char *target, const char *why, uint64_t addr, uint64_t size);

#endif
