/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading graft regions back from a process. A region is a mapping of a
 * memfd whose name starts with "graft:"; its header sits at the mapping with
 * file offset 0. The header comes from target memory, which a hostile or
 * corrupted process controls, so its counts and sizes are checked like any
 * other untrusted input.
 */
#include <errno.h>
#include <string.h>

#include "patch/region.h"
#include "ptrace/pt.h"

#define REGION_FUNCS_MAX 4096u

void graft_regions_free(struct graft_regions *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].hdr);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

int graft_region_open(pid_t pid, struct graft_maps *maps, int *memfd, struct graft_regions *regs,
		      struct graft_err *err)
{
	struct graft_maps local = {0}, *m = maps ? maps : &local;
	int r;

	*memfd = -1;
	if ((r = graft_proc_read_maps(pid, m, err)) < 0)
		return r;
	if ((*memfd = graft_mem_open(pid, err)) < 0) {
		r = *memfd;
		goto fail;
	}
	if ((r = graft_region_list(*memfd, m, regs, NULL, err)) < 0) {
		(void)close(*memfd);
		*memfd = -1;
		goto fail;
	}
	graft_maps_free(&local);
	return 0;
fail:
	graft_maps_free(m);
	return r;
}

bool graft_region_path_is(const char *path, const char *patch_id)
{
	static const char pfx[] = "/memfd:" GRAFT_MEMFD_PREFIX;
	size_t idl = patch_id ? strlen(patch_id) : 0;

	if (!path || strncmp(path, pfx, sizeof(pfx) - 1) != 0)
		return false;
	path += sizeof(pfx) - 1;
	/* the kernel names it "/memfd:graft:ID (deleted)" */
	return !patch_id ||
	       (!strncmp(path, patch_id, idl) && (path[idl] == '\0' || path[idl] == ' '));
}

static bool is_region_map(const struct graft_map *m)
{
	return m->offset == 0 && graft_region_path_is(m->path, NULL);
}

/*
 * Read the header at addr, in a mapping of map_len bytes. A header with its
 * table fits in a page unless it names very many functions: one read of
 * the mapping's first page (at most) gets it all, the rest comes after.
 */
static int region_read(int memfd, uint64_t addr, uint64_t map_len, struct graft_region_hdr **out)
{
	_cleanup_free_ struct graft_region_hdr *full = NULL;
	struct graft_region_hdr *h;
	size_t got = map_len < 4096 ? (size_t)map_len : 4096, need;

	if (got < sizeof(*h))
		return -EINVAL;
	full = malloc(got);
	if (!full)
		return -ENOMEM;
	if (graft_mem_read(memfd, addr, full, got, NULL) < 0)
		return -EIO;
	h = full;
	if (memcmp(h->magic, GRAFT_REGION_MAGIC, 8) != 0 || h->version != GRAFT_REGION_VERSION ||
	    h->nfuncs == 0 || h->nfuncs > REGION_FUNCS_MAX)
		return -EINVAL;
	need = sizeof(*h) + (size_t)h->nfuncs * sizeof(struct graft_region_func);
	if (h->hdr_size < need || h->hdr_size > h->region_size ||
	    h->build_id_len > GRAFT_BUILD_ID_MAX)
		return -EINVAL;
	if (need > got) {
		struct graft_region_hdr *more = realloc(full, need);

		if (!more)
			return -ENOMEM;
		full = more;
		if (graft_mem_read(memfd, addr + got, (uint8_t *)full + got, need - got, NULL) < 0)
			return -EIO;
	}
	full->patch_id[sizeof(full->patch_id) - 1] = '\0';
	full->target_name[sizeof(full->target_name) - 1] = '\0';
	full->description[sizeof(full->description) - 1] = '\0';
	for (uint32_t i = 0; i < full->nfuncs; i++)
		full->funcs[i].name[sizeof(full->funcs[i].name) - 1] = '\0';
	*out = TAKE_PTR(full);
	return 0;
}

bool graft_maps_have_region(const struct graft_maps *maps, const char *patch_id)
{
	for (size_t i = 0; i < maps->n; i++)
		if (maps->v[i].offset == 0 && graft_region_path_is(maps->v[i].path, patch_id))
			return true;
	return false;
}

int graft_region_list(int memfd, const struct graft_maps *maps, struct graft_regions *out,
		      size_t *bad, struct graft_err *err)
{
	struct graft_regions r = {0};
	size_t cap = 0;

	if (bad)
		*bad = 0;
	for (size_t i = 0; i < maps->n; i++) {
		const struct graft_map *m = &maps->v[i];
		struct graft_region_hdr *h = NULL;

		if (!is_region_map(m))
			continue;
		if (region_read(memfd, m->start, m->end - m->start, &h) < 0) {
			if (bad)
				(*bad)++;
			continue;
		}
		if (graft_grow((void **)&r.v, &cap, r.n + 1, sizeof(*r.v)) < 0) {
			free(h);
			graft_regions_free(&r);
			return graft_err_set(err, -ENOMEM, "out of memory");
		}
		r.v[r.n].addr = m->start;
		r.v[r.n++].hdr = h;
	}
	*out = r;
	return 0;
}

const struct graft_region *graft_region_find(const struct graft_regions *r, const char *patch_id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].hdr->patch_id, patch_id) == 0)
			return &r->v[i];
	return NULL;
}

const struct graft_region *graft_region_owning_jump(const struct graft_regions *r, uint64_t addr,
						    const uint8_t *bytes, size_t *func_index)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct graft_region_hdr *h = r->v[i].hdr;

		for (uint32_t k = 0; k < h->nfuncs; k++)
			if (h->funcs[k].old_addr == addr &&
			    memcmp(h->funcs[k].jump, bytes, GRAFT_JUMP_SIZE) == 0) {
				if (func_index)
					*func_index = k;
				return &r->v[i];
			}
	}
	return NULL;
}

int graft_jump_encode(uint64_t at, uint64_t dest, uint8_t out[GRAFT_JUMP_SIZE])
{
	int64_t rel = (int64_t)(dest - (at + GRAFT_JUMP_SIZE));
	int32_t r32 = (int32_t)rel;

	if (rel != (int64_t)r32)
		return -ERANGE;
	out[0] = 0xe9;
	memcpy(out + 1, &r32, 4);
	return 0;
}
