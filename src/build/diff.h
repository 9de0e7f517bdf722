/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The object differ: pair the symbols of an original and a patched object
 * of one translation unit, decide which functions changed, and work out
 * what the patch must carry (changed and new functions, new data, the
 * anonymous sections they use) and what it takes from the running target.
 */
#ifndef GRAFT_BUILD_DIFF_H
#define GRAFT_BUILD_DIFF_H

#include "build/obj.h"

enum graft_diff_state {
	GRAFT_DIFF_OTHER = 0, /* not a function or data object */
	GRAFT_DIFF_SAME,
	GRAFT_DIFF_CHANGED,
	GRAFT_DIFF_NEW,
};

enum graft_diff_ref {
	GRAFT_DIFF_REF_NONE = 0,
	GRAFT_DIFF_REF_INCLUDED, /* defined by the patch */
	GRAFT_DIFF_REF_ORIG,	 /* the original's symbol ref_orig[]: resolve in the target */
	GRAFT_DIFF_REF_UNDEF,	 /* undefined in the object: the target or another object */
};

struct graft_diff {
	struct graft_obj *o, *p; /* borrowed */
	int *pair;		 /* per patched symbol: original symbol or -1 */
	uint8_t *state;		 /* per patched symbol: enum graft_diff_state */
	char **why;		 /* per patched symbol: why it changed (CHANGED only) */
	bool *include;		 /* per patched section: copied into the patch */
	uint8_t *ref;		 /* per patched symbol, after close: enum graft_diff_ref */
	int *ref_orig;		 /* per patched symbol: for REF_ORIG */
	char **problems;	 /* what cannot be patched live */
	size_t nproblems;
	char **notes; /* worth telling, not fatal */
	size_t nnotes;
};

/* Pair and compare. Problems found are recorded, not returned as errors. */
int graft_diff_compare(struct graft_obj *o, struct graft_obj *p, struct graft_diff **out,
		       struct graft_err *err);
/* Mark a function changed for a reason found outside the objects. */
int graft_diff_force(struct graft_diff *d, int psym, const char *why);
/* Mark a changed function as unchanged (its only change was __LINE__). */
void graft_diff_unchange(struct graft_diff *d, int psym);
/* Decide what the patch carries and how every reference resolves. */
int graft_diff_close(struct graft_diff *d, struct graft_err *err);
void graft_diff_free(struct graft_diff *d);
static inline void graft_diff_freep(struct graft_diff **d)
{
	graft_diff_free(*d);
}

int graft_diff_problem(struct graft_diff *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int graft_diff_note(struct graft_diff *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Is this patched function one graft should list (not a .cold part)? */
bool graft_diff_is_listed_func(const struct graft_diff *d, size_t psym);

/*
 * The symbol a relocation's symbol stands for: itself when it is a function
 * or data object, the owner of its section for section symbols and local
 * labels, -1 for anonymous sections and undefined symbols.
 */
int graft_diff_owner(const struct graft_obj *o, uint32_t sym);

#endif
