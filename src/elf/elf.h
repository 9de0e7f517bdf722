/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ELF model over libelf: open an object from a file descriptor or from
 * memory, find sections, symbols, the GNU build-id and the TLS segment.
 * The Elf handle is exposed for modules that walk sections themselves.
 */
#ifndef GRAFT_ELF_H
#define GRAFT_ELF_H

#include <gelf.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/util.h"

struct graft_elf {
	Elf *elf;
	GElf_Ehdr ehdr;
	size_t shstrndx;
	size_t shnum;
	char *name; /* for messages */
};

int graft_elf_open_fd(int fd, const char *name, struct graft_elf **out, struct graft_err *err);
/* The buffer must outlive the object. */
int graft_elf_open_mem(const void *buf, size_t len, const char *name, struct graft_elf **out,
		       struct graft_err *err);
void graft_elf_free(struct graft_elf *e);
static inline void graft_elf_freep(struct graft_elf **e)
{
	graft_elf_free(*e);
}

/* Find a section by name; returns NULL if absent. */
Elf_Scn *graft_elf_section(struct graft_elf *e, const char *name, GElf_Shdr *shdr);
const char *graft_elf_section_name(struct graft_elf *e, const GElf_Shdr *shdr);
/* Whole contents of a section; -EINVAL when absent or unreadable. */
int graft_elf_section_data(Elf_Scn *scn, const void **buf, size_t *len);

/* Returns the build-id length written to buf, 0 if none, <0 on error. */
int graft_elf_build_id(struct graft_elf *e, uint8_t *buf, size_t cap);
int graft_elf_first_load_vaddr(struct graft_elf *e, uint64_t *vaddr);

struct graft_elf_tls {
	uint64_t vaddr, memsz, align;
};
int graft_elf_tls(struct graft_elf *e, struct graft_elf_tls *tls);

struct graft_elf_sym {
	uint64_t value, size;
	unsigned char type, bind;
	uint16_t shndx;
};

/*
 * Look a defined symbol up by name in .symtab (locals included). Returns the
 * number of matching definitions (0, 1, or more for ambiguous statics) and
 * the first match in *sym.
 */
int graft_elf_symtab_lookup(struct graft_elf *e, const char *name, struct graft_elf_sym *sym);
/*
 * Look an exported (global or weak, defined) symbol up in .dynsym, taking the
 * default version when several versions exist. Returns 1 when found.
 */
int graft_elf_dynsym_lookup(struct graft_elf *e, const char *name, struct graft_elf_sym *sym);
/* Find the function symbol containing vaddr in .symtab; name or NULL. */
const char *graft_elf_func_at(struct graft_elf *e, uint64_t vaddr, struct graft_elf_sym *sym);

/* File contents at a virtual address, through the PT_LOAD segments. */
int graft_elf_read_vaddr(struct graft_elf *e, uint64_t vaddr, void *buf, size_t len);

#endif
