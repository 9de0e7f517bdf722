/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * graft pack: make a patch file from an object file of new function
 * versions and a manifest (docs/patch-format.md describes both).
 */
#ifndef GRAFT_PATCH_PACK_H
#define GRAFT_PATCH_PACK_H

#include <stddef.h>

#include "util/util.h"

struct graft_pack_summary {
	size_t nfuncs, nbound, nexternal;
	size_t size;
};

int graft_pack(const char *manifest, const char *out, struct graft_pack_summary *sum,
	       struct graft_err *err);

#endif
