/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The remote linker: lay out the allocatable sections of a relocatable
 * object in one image (header pages, then text, read-only data, writable
 * data), and apply its relocations for a chosen load address. Symbols the
 * object does not define are asked of a resolver callback.
 */
#ifndef GRAFT_LINK_H
#define GRAFT_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "elf/elf.h"

#define GRAFT_PAGE 4096u

enum graft_link_ref {
	GRAFT_REF_ADDR, /* the symbol's address */
	GRAFT_REF_TPOFF /* its offset from the thread pointer (TLS) */
};

struct graft_link_resolver {
	/* Resolve an undefined symbol; >= 0 and *value on success. */
	int (*resolve)(void *ctx, const char *name, enum graft_link_ref ref, uint64_t *value,
		       struct graft_err *err);
	void *ctx;
};

struct graft_link_plan {
	struct graft_elf *obj; /* borrowed */
	uint64_t *sec_off;     /* per section index; UINT64_MAX = not loaded */
	size_t nsec;
	uint64_t hdr_size;
	uint64_t text_off, text_size; /* executable part, page aligned */
	uint64_t ro_off, ro_size;
	uint64_t data_off, data_size;
	uint64_t total;	      /* whole region, page aligned */
	uint64_t plt_off;     /* stubs for far calls, inside text */
	uint64_t got_off;     /* slots, inside read-only data */
	uint32_t *plt_of_sym; /* per symbol index: stub number + 1, or 0 */
	uint32_t *got_of_sym; /* per symbol index: slot number + 1, or 0 */
	size_t nsyms;
};

int graft_link_plan(struct graft_elf *obj, uint64_t hdr_size, struct graft_link_plan **out,
		    struct graft_err *err);
/* The same for the sections i with sel[i] == want only (one target's share). */
int graft_link_plan_subset(struct graft_elf *obj, uint64_t hdr_size, const uint8_t *sel,
			   uint8_t want, struct graft_link_plan **out, struct graft_err *err);
void graft_link_plan_free(struct graft_link_plan *p);
static inline void graft_link_plan_freep(struct graft_link_plan **p)
{
	graft_link_plan_free(*p);
}

/*
 * Produce the image (plan->total bytes, header pages zeroed) for load
 * address base. Fails with a message naming the symbol and relocation when
 * something cannot be resolved or does not fit.
 */
int graft_link_relocate(const struct graft_link_plan *p, uint64_t base,
			const struct graft_link_resolver *res, uint8_t **image,
			struct graft_err *err);

/* Address and size of a function symbol defined by the object. */
int graft_link_symbol(const struct graft_link_plan *p, uint64_t base, const char *name,
		      uint64_t *addr, uint64_t *size);

#endif
