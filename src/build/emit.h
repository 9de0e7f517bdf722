/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing the patch object: the sections the differ chose from each
 * translation unit's patched object, one symbol table, relocations
 * renumbered, and the manifest lines (bind / extern) graft_pack needs to
 * turn it into a patch file.
 */
#ifndef GRAFT_BUILD_EMIT_H
#define GRAFT_BUILD_EMIT_H

#include <stdio.h>

#include "build/diff.h"

enum graft_emit_kind {
	GRAFT_EMIT_TARGET, /* an offset in the target object */
	GRAFT_EMIT_EXTERN, /* by name in the running process */
};

struct graft_emit_bind {
	enum graft_emit_kind kind;
	const char *name; /* for TARGET: the target's symbol name (messages, readability) */
	uint64_t offset;  /* TARGET: st_value-style offset in the target */
};

struct graft_emit_unit {
	struct graft_diff *d;
	unsigned target; /* index of the target the unit's code is for */
	/* How a patched symbol with ref ORIG or UNDEF resolves. */
	int (*resolve)(void *ctx, const struct graft_emit_unit *u, uint32_t psym,
		       struct graft_emit_bind *b, struct graft_err *err);
	void *ctx;
	/* out: per patched symbol, its name in the patch object (defined ones) */
	char **out_name;
};

/*
 * Write the object to path, and bind/extern lines to manifests[target] (the
 * manifest block of each unit's target). A reference to a global that
 * another unit of the same target defines in the patch resolves to it. On
 * failure nothing usable is left at path.
 */
int graft_emit(struct graft_emit_unit *units, size_t n, const char *path, FILE **manifests,
	       size_t *size, struct graft_err *err);
void graft_emit_unit_release(struct graft_emit_unit *u);

#endif
