/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * graft's region in a target process: one memfd named "graft:<patch id>",
 * mapped near the patched object. Its first pages hold this header, which is
 * the source of truth for what is applied: any later graft (or a graft that
 * restarted after dying) finds the patch, its functions and the bytes to put
 * back by reading the target's memory.
 */
#ifndef GRAFT_PATCH_REGION_H
#define GRAFT_PATCH_REGION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc/proc.h"

#define GRAFT_REGION_MAGIC   "GRAFTRGN"
#define GRAFT_REGION_VERSION 1
#define GRAFT_MEMFD_PREFIX   "graft:"
#define GRAFT_JUMP_SIZE	     5

enum graft_region_state {
	GRAFT_REGION_PREPARED = 1, /* mapped, jumps not written (or taken out) */
	GRAFT_REGION_APPLIED = 2,  /* jumps written */
};

struct graft_region_func {
	uint64_t old_addr, new_addr;
	uint32_t old_size, new_size;
	uint8_t saved[8]; /* bytes at old_addr before our jump */
	uint8_t jump[8];  /* our jump */
	char name[64];
};

struct graft_region_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size; /* bytes, including funcs[] */
	uint64_t region_size;
	uint64_t seq;	     /* order of application in this process */
	uint64_t applied_ns; /* CLOCK_REALTIME */
	uint64_t stop_ns;    /* how long the process was stopped to apply */
	uint32_t state;
	uint32_t applier_pid;
	uint64_t target_base;
	uint64_t code_start, code_end; /* executable part of the region */
	uint32_t build_id_len;
	uint32_t nfuncs;
	uint8_t build_id[GRAFT_BUILD_ID_MAX];
	char patch_id[72];
	char target_name[256];
	char description[256];
	struct graft_region_func funcs[];
};

/* A region found in a process. */
struct graft_region {
	uint64_t addr;
	struct graft_region_hdr *hdr; /* heap copy, funcs included */
};

struct graft_regions {
	struct graft_region *v;
	size_t n;
};

/*
 * Find and read graft regions of pid from its maps. Regions whose header is
 * unreadable or inconsistent are skipped (and counted in *bad if non-NULL).
 */
int graft_region_list(int memfd, const struct graft_maps *maps, struct graft_regions *out,
		      size_t *bad, struct graft_err *err);
void graft_regions_free(struct graft_regions *r);
/*
 * The usual start of working on a process's regions: its maps (kept in
 * *maps when maps is not NULL, else freed), /proc/PID/mem open in *memfd,
 * and the regions. On failure nothing is left open.
 */
int graft_region_open(pid_t pid, struct graft_maps *maps, int *memfd, struct graft_regions *regs,
		      struct graft_err *err);
const struct graft_region *graft_region_find(const struct graft_regions *r, const char *patch_id);
/* Does the memory map hold a graft region (of this patch, or of any when NULL)? */
bool graft_maps_have_region(const struct graft_maps *maps, const char *patch_id);
/* Does a maps path (or an fd's link) name a region's memfd, of patch_id (NULL: any)? */
bool graft_region_path_is(const char *path, const char *patch_id);
/* Region whose jump currently sits at addr (an applied patch), or NULL. */
const struct graft_region *graft_region_owning_jump(const struct graft_regions *r, uint64_t addr,
						    const uint8_t *bytes, size_t *func_index);
/* Encode "jmp rel32" from at to dest; -ERANGE if out of reach. */
int graft_jump_encode(uint64_t at, uint64_t dest, uint8_t out[GRAFT_JUMP_SIZE]);

#endif
