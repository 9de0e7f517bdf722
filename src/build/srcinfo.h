/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the builder reads from source text: which lines a unified diff
 * changes, where each function definition of a C file starts and ends, its
 * signature, and the member lists of named structs and unions. These are
 * text heuristics (the ones diff -p uses to name functions): they explain
 * changes and catch signature and layout changes; the object differ, not
 * these, decides what changed.
 */
#ifndef GRAFT_BUILD_SRCINFO_H
#define GRAFT_BUILD_SRCINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "util/util.h"

struct graft_diff_file {
	char *old_path, *new_path; /* as in the diff, prefix components stripped */
	unsigned *new_lines;	   /* changed lines of the new file, sorted */
	size_t nnew;
	unsigned *old_lines; /* changed (removed) lines of the old file */
	size_t nold;
};

struct graft_udiff {
	struct graft_diff_file *files;
	size_t nfiles;
};

/* Parse a unified diff; strip removes that many leading path components. */
int graft_udiff_parse(const char *text, unsigned strip, struct graft_udiff **out,
		      struct graft_err *err);
void graft_udiff_free(struct graft_udiff *u);
static inline void graft_udiff_freep(struct graft_udiff **u)
{
	graft_udiff_free(*u);
}
const struct graft_diff_file *graft_udiff_find(const struct graft_udiff *u, const char *path);

struct graft_src_func {
	char *name;
	unsigned first, last; /* lines, 1-based, inclusive */
	char *signature;      /* declarator text up to '{', whitespace collapsed */
};

struct graft_src_struct {
	char *name; /* "struct foo" */
	unsigned line;
	char *body; /* members, comments dropped, whitespace collapsed */
};

struct graft_src {
	struct graft_src_func *funcs;
	size_t nfuncs;
	struct graft_src_struct *structs;
	size_t nstructs;
};

int graft_src_scan(const char *text, struct graft_src **out);
void graft_src_free(struct graft_src *s);
static inline void graft_src_freep(struct graft_src **s)
{
	graft_src_free(*s);
}
const struct graft_src_func *graft_src_func(const struct graft_src *s, const char *name);

#endif
