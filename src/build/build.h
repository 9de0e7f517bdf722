/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * graft build: source tree + fix (unified diff) + running binary -> patch.
 *
 * Steps: copy the source to a cache directory and build it there through
 * graft's compiler wrapper (once; reused while the source is unchanged);
 * copy that to a second tree, apply the diff, rebuild (only what the diff
 * touched recompiles); diff each recompiled object against its original;
 * check the original functions as compiled against the target's bytes;
 * write the patch object and hand it to graft_pack.
 */
#ifndef GRAFT_BUILD_BUILD_H
#define GRAFT_BUILD_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define GRAFT_BUILD_TARGETS_MAX 16

struct graft_build_opts {
	const char *src;
	const char *diff;
	const char *targets[GRAFT_BUILD_TARGETS_MAX];
	size_t ntargets;
	const char *build_cmd; /* NULL: "make" */
	const char *id;	       /* NULL: from the diff's file name */
	const char *description;
	const char *const *cves;
	size_t ncves;
	const char *out;	/* NULL: ID.graft */
	const char *cache_root; /* NULL: $GRAFT_CACHE_DIR, ~/.cache/graft, /var/cache/graft */
	const char *debug_root; /* NULL: /usr/lib/debug */
	const char *cc;		/* the real compiler; NULL: $CC, else gcc */
	const char *wrapper;	/* the program the compiler wrapper runs: graft itself */
	unsigned strip;		/* patch -pN; UINT_MAX: try 1 then 0 */
};

struct graft_build_func {
	char *name;   /* in the target */
	char *file;   /* source file (base name) */
	char *target; /* target path */
	char *why;
	uint64_t addr, size;
};

struct graft_build_result {
	char *id, *out;
	struct graft_build_func *replaced;
	size_t nreplaced;
	struct graft_build_func *added; /* new functions */
	size_t nadded;
	struct graft_build_func *data; /* new data objects */
	size_t ndata;
	char **notes;
	size_t nnotes;
	char **problems; /* why the fix cannot be applied live (err kind UNSAFE) */
	size_t nproblems;
	size_t size;
	bool orig_cached;
	uint64_t ns_orig, ns_patched, ns_diff, ns_total;
	char *cache_dir;
};

int graft_build(const struct graft_build_opts *opts, struct graft_build_result *res,
		struct graft_err *err);
void graft_build_result_release(struct graft_build_result *res);

/*
 * The compiler wrapper's record of one compile, one line in the log:
 * cwd TAB output TAB arg US arg US ... (US = 0x1f).
 */
#define GRAFT_CC_ENV_REAL "GRAFT_CC_REAL"
#define GRAFT_CC_ENV_LOG  "GRAFT_CC_LOG"
#define GRAFT_CC_ENV_LN	  "GRAFT_CC_LN_DIR" /* also compile with __LINE__ fixed, into here */

/*
 * The argument vector (NULL-terminated, strings borrowed) that compiles args
 * again into out: as the build did (plain) or with graft's flags and
 * __LINE__ fixed (line_neutral). Output and dependency-file options of the
 * original are dropped.
 */
const char **graft_cc_recompile_argv(const char *cc, char *const *args, size_t nargs,
				     bool line_neutral, const char *out);
/* Where the line-neutral twin of the object at out_path is kept in dir. */
char *graft_cc_ln_path(const char *dir, const char *out_path);

#endif
