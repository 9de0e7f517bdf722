/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A relocatable object as the patch builder sees it: sections with their
 * bytes and relocations, symbols with GCC's invented numbering taken off
 * (the canonical name), and for each section the function or data object
 * that owns it (with -ffunction-sections -fdata-sections each function and
 * each object sits alone in its section).
 */
#ifndef GRAFT_BUILD_OBJ_H
#define GRAFT_BUILD_OBJ_H

#include <stdbool.h>
#include <stdint.h>

#include "elf/elf.h"

#define GRAFT_OBJ_FILE_MAX (256u << 20)

struct graft_obj_rela {
	uint64_t off;
	uint32_t type;
	uint32_t sym;
	int64_t addend;
};

struct graft_obj_sec {
	const char *name;
	GElf_Shdr sh;
	const uint8_t *data; /* NULL for SHT_NOBITS */
	struct graft_obj_rela *rela;
	size_t nrela;
	int owner; /* FUNC/OBJECT/TLS symbol at offset 0, or -1 (anonymous) */
};

struct graft_obj_sym {
	const char *name;
	char *canon; /* name without GCC's numeric suffixes */
	uint64_t value, size;
	uint8_t type, bind;
	uint16_t shndx;
};

struct graft_obj {
	char *path;
	char *buf;
	size_t len;
	struct graft_elf *elf;
	const char *file; /* the STT_FILE name: the source file's base name */
	struct graft_obj_sec *secs;
	size_t nsecs;
	struct graft_obj_sym *syms;
	size_t nsyms;
};

int graft_obj_open(const char *path, struct graft_obj **out, struct graft_err *err);
void graft_obj_free(struct graft_obj *o);
static inline void graft_obj_freep(struct graft_obj **o)
{
	graft_obj_free(*o);
}

/*
 * "foo.isra.0" -> "foo.isra", "count.3" -> "count", "f.part.0.cold" ->
 * "f.part.cold": every dot-separated component made only of digits goes.
 */
char *graft_obj_canon(const char *name);

/* Does the symbol name a function, a data object, a thread-local? */
bool graft_obj_is_func(const struct graft_obj_sym *s);
bool graft_obj_is_data(const struct graft_obj_sym *s);
bool graft_obj_is_cold(const struct graft_obj_sym *s);

/* Width of the field a relocation type writes, 0 if unknown. */
unsigned graft_obj_reloc_width(uint32_t type);

/* Is the relocation PC-relative (the field is followed by the next instruction)? */
bool graft_obj_reloc_is_pcrel(uint32_t type);

/* The section a symbol is defined in, or NULL (undefined, absolute, common). */
const struct graft_obj_sec *graft_obj_sym_sec(const struct graft_obj *o, uint32_t sym);

/* Symbol index by exact name among defined symbols, -1 if none. */
int graft_obj_find(const struct graft_obj *o, const char *name);

#endif
