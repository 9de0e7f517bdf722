/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Patch file format v2 (v1 is still read): an x86-64 ELF relocatable object
 * holding the new code and data, plus three sections graft adds:
 *   .graft.meta  a fixed little-endian header and record arrays
 *   .graft.str   NUL-terminated strings the records point into
 *   .graft.pre   pre-images: the expected bytes of each replaced function
 * docs/patch-format.md is the specification; this header is its code.
 */
#ifndef GRAFT_PATCH_FORMAT_H
#define GRAFT_PATCH_FORMAT_H

#include <stdint.h>

#include "elf/elf.h"
#include "proc/proc.h"

#define GRAFT_FMT_MAGIC	  "GRAFTPT\0"
#define GRAFT_FMT_VERSION 2 /* written; 1 and 2 are read */

#define GRAFT_FMT_SEC_META ".graft.meta"
#define GRAFT_FMT_SEC_STR  ".graft.str"
#define GRAFT_FMT_SEC_PRE  ".graft.pre"

/* Limits a reader enforces; a file beyond them is refused. */
#define GRAFT_PATCH_FILE_MAX	  (64u << 20)
#define GRAFT_PATCH_FUNCS_MAX	  4096u
#define GRAFT_PATCH_SYMS_MAX	  4096u
#define GRAFT_PATCH_CVES_MAX	  256u
#define GRAFT_PATCH_FUNC_SIZE_MAX (1u << 20)
#define GRAFT_PATCH_ID_MAX	  64u
#define GRAFT_PATCH_TEXT_MAX	  1024u /* description, names */
#define GRAFT_PATCH_TARGETS_MAX	  16u

#define GRAFT_FUNC_PADDED 1u /* shorter than a jump; bytes after are padding */
#define GRAFT_SYM_TLS	  1u /* offset is within the target's TLS segment */
/* v2: bits 8-15 of a function's or symbol's flags give its target's index */
#define GRAFT_FLAG_TARGET_SHIFT 8
#define GRAFT_FLAG_TARGET_MASK	0xff00u

struct graft_fmt_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint32_t id; /* string offsets into .graft.str */
	uint32_t description;
	uint32_t target_name;
	uint32_t build_id_len;
	uint8_t build_id[GRAFT_BUILD_ID_MAX];
	uint32_t ncves, cves_off; /* cves_off: byte offset in .graft.meta */
	uint32_t nfuncs, funcs_off;
	uint32_t nsyms, syms_off;
	uint32_t flags, reserved;
	/* v2 */
	uint32_t ntargets, targets_off; /* target records in .graft.meta */
};

#define GRAFT_FMT_HEADER_V1_SIZE 128u

struct graft_fmt_target {
	uint32_t name; /* string: the object's path when built (a hint) */
	uint32_t build_id_len;
	uint8_t build_id[GRAFT_BUILD_ID_MAX];
};

struct graft_fmt_func {
	uint64_t old_offset; /* st_value in the target: address = bias + this */
	uint32_t old_size;
	uint32_t old_name;	   /* string */
	uint32_t new_name;	   /* string: a function symbol of this object */
	uint32_t pre_off, pre_len; /* in .graft.pre */
	uint32_t flags;
};

struct graft_fmt_sym {
	uint32_t name; /* an undefined symbol of this object */
	uint32_t flags;
	uint64_t target_offset;
};

/* The parsed, validated view. Strings point into the file buffer. */
struct graft_patch_func {
	uint64_t old_offset;
	uint32_t old_size;
	const char *old_name, *new_name;
	const uint8_t *pre;
	uint32_t pre_len;
	uint32_t flags;
	uint32_t target; /* index into targets */
};

struct graft_patch_sym {
	const char *name;
	uint32_t flags;
	uint32_t target;
	uint64_t target_offset;
};

struct graft_patch_target {
	const char *name;
	uint8_t build_id[GRAFT_BUILD_ID_MAX];
	size_t build_id_len;
};

struct graft_patch {
	char *path;
	uint8_t *buf;
	size_t len;
	struct graft_elf *elf;
	unsigned version;
	const char *id, *description, *target_name; /* target_name: targets[0]'s */
	const char **cves;
	size_t ncves;
	uint8_t build_id[GRAFT_BUILD_ID_MAX]; /* targets[0]'s */
	size_t build_id_len;
	struct graft_patch_target targets[GRAFT_PATCH_TARGETS_MAX];
	size_t ntargets;
	/*
	 * Per section index: the target whose region loads it, found by
	 * following relocations from each target's replacements; 0xff when no
	 * replacement reaches it (not loaded).
	 */
	uint8_t *sec_target;
	struct graft_patch_func *funcs;
	size_t nfuncs;
	struct graft_patch_sym *syms;
	size_t nsyms;
};

/* Parse and validate untrusted bytes; takes ownership of buf on success. */
int graft_patch_parse(uint8_t *buf, size_t len, const char *name, struct graft_patch **out,
		      struct graft_err *err);
int graft_patch_load(const char *path, struct graft_patch **out, struct graft_err *err);
void graft_patch_free(struct graft_patch *p);
static inline void graft_patch_freep(struct graft_patch **p)
{
	graft_patch_free(*p);
}
const struct graft_patch_sym *graft_patch_find_sym(const struct graft_patch *p, const char *name);
bool graft_patch_id_is_valid(const char *id);

#endif
