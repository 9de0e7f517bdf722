/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A target object (executable or shared library) as the builder needs it:
 * its build-id, its bytes, and its symbols grouped by the source file they
 * came from (the STT_FILE symbols the linker keeps in front of each input's
 * locals). A stripped target takes its symbols from the separate debug file
 * named by its build-id.
 */
#ifndef GRAFT_BUILD_TARGET_H
#define GRAFT_BUILD_TARGET_H

#include "build/obj.h"
#include "proc/proc.h"

struct graft_target_sym {
	const char *name;
	char *canon;
	uint64_t value, size;
	uint8_t type, bind;
	int file; /* index into files, -1 before any FILE symbol */
};

struct graft_target {
	char *path;
	char *sym_path; /* the file the symbols came from */
	char *buf, *sbuf;
	struct graft_elf *elf, *selfp;
	uint8_t build_id[GRAFT_BUILD_ID_MAX];
	size_t build_id_len;
	struct graft_target_sym *syms;
	size_t nsyms;
	const char **files;
	size_t nfiles;
};

/* debug_root: where .build-id/xx/yyyy.debug files live (/usr/lib/debug). */
int graft_target_open(const char *path, const char *debug_root, struct graft_target **out,
		      struct graft_err *err);
void graft_target_free(struct graft_target *t);
static inline void graft_target_freep(struct graft_target **t)
{
	graft_target_free(*t);
}

/* Does the target hold code compiled from a source file with this base name? */
bool graft_target_has_file(const struct graft_target *t, const char *file);

/*
 * Candidates in the target for a symbol of an object compiled from file:
 * a global by name; a local by exact, else canonical, name among the
 * symbols of that file. Writes up to max indices, returns how many exist.
 */
size_t graft_target_candidates(const struct graft_target *t, const char *file,
			       const struct graft_obj_sym *s, size_t *idx, size_t max);

/* Any defined global (or weak) symbol of that name; -1 if none. */
int graft_target_global(const struct graft_target *t, const char *name);

/*
 * Build-time run-pre: does function osym of o, as compiled, match target
 * symbol ti byte for byte outside relocated fields? Returns 0 when it does,
 * 1 with *at the first differing offset when it does not, <0 on error.
 */
int graft_target_match(const struct graft_target *t, size_t ti, const struct graft_obj *o,
		       size_t osym, uint64_t *at, struct graft_err *err);

#endif
