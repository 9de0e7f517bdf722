/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The revert transaction, apply's mirror. Everything needed is read from the
 * region header in the target, so a revert works without the patch file and
 * after the graft that applied it died.
 *
 * Order: a function whose first bytes hold another patch's jump has a later
 * patch on top; that patch must come out first, and the refusal names it.
 * Safety: no thread may run in, or return into, any code of the region (the
 * replacements and any helper the patch brought), because the region is
 * unmapped afterwards. Jumps that are not in place (an attempt interrupted
 * before it went live) need no stop at all: the region is just unmapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "patch/apply.h"
#include "patch/stw.h"
#include "ptrace/pt.h"
#include "util/log.h"

struct revert_ctx {
	pid_t pid;
	int memfd;
	const struct graft_region *reg;
	const bool *live;
};

static int revert_commit(void *ctx, struct graft_pt_world *w, struct graft_err *err)
{
	struct revert_ctx *c = ctx;
	const struct graft_region_hdr *h = c->reg->hdr;
	uint32_t state = GRAFT_REGION_PREPARED, done = 0;
	int r = 0;

	(void)w;
	for (uint32_t i = 0; i < h->nfuncs; i++) {
		uint8_t cur[GRAFT_JUMP_SIZE];

		if (!c->live[i])
			continue;
		r = graft_mem_read(c->memfd, h->funcs[i].old_addr, cur, sizeof(cur), err);
		if (r < 0)
			return r;
		if (memcmp(cur, h->funcs[i].jump, sizeof(cur)) != 0)
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EAGAIN,
					      "function '%s' changed during the revert",
					      h->funcs[i].name);
	}
	for (; done < h->nfuncs; done++) {
		const struct graft_region_func *f = &h->funcs[done];

		if (!c->live[done])
			continue;
		r = graft_mem_write(c->memfd, f->old_addr, f->saved, GRAFT_JUMP_SIZE, err);
		if (r < 0)
			goto undo;
	}
	r = graft_mem_write(c->memfd, c->reg->addr + offsetof(struct graft_region_hdr, state),
			    &state, sizeof(state), err);
	if (r == 0)
		return 0;
undo:
	while (done-- > 0) {
		const struct graft_region_func *f = &h->funcs[done];

		if (c->live[done] &&
		    graft_mem_write(c->memfd, f->old_addr, f->jump, GRAFT_JUMP_SIZE, NULL) < 0)
			graft_warn("cannot put back the jump of '%s' in pid %d", f->name,
				   (int)c->pid);
	}
	return r;
}

static int revert_check_order(pid_t pid, int memfd, const struct graft_regions *all,
			      const struct graft_region *reg, bool *live, size_t *nlive,
			      struct graft_err *err)
{
	const struct graft_region_hdr *h = reg->hdr;

	*nlive = 0;
	for (uint32_t i = 0; i < h->nfuncs; i++) {
		const struct graft_region_func *f = &h->funcs[i];
		const struct graft_region *top;
		uint8_t cur[GRAFT_JUMP_SIZE];
		int r = graft_mem_read(memfd, f->old_addr, cur, sizeof(cur), err);

		if (r < 0)
			return graft_err_prefix(err, r, "function '%s'", f->name);
		if (memcmp(cur, f->jump, sizeof(cur)) == 0) {
			live[i] = true;
			(*nlive)++;
			continue;
		}
		if (memcmp(cur, f->saved, sizeof(cur)) == 0)
			continue; /* never went live, or already restored */
		top = graft_region_owning_jump(all, f->old_addr, cur, NULL);
		if (top)
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EBUSY,
					      "patch '%s' is applied on top of '%s' in function "
					      "'%s'; revert '%s' first",
					      top->hdr->patch_id, h->patch_id, f->name,
					      top->hdr->patch_id);
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EILSEQ,
				      "function '%s' in pid %d was changed by someone other than "
				      "graft; not reverting",
				      f->name, (int)pid);
	}
	return 0;
}

static void revert_unmap(pid_t pid, int memfd, const struct graft_maps *maps,
			 const struct graft_region *reg)
{
	struct graft_rsys rs;
	struct graft_err e = {0};

	if (graft_rsys_begin(pid, memfd, maps, &rs, &e) < 0) {
		graft_warn("pid %d: patch '%s' is out, but its region stays mapped: %s", (int)pid,
			   reg->hdr->patch_id, e.msg);
		return;
	}
	if (graft_rsys_munmap(&rs, reg->addr, reg->hdr->region_size, &e) != 0)
		graft_warn("pid %d: cannot unmap the region of patch '%s'", (int)pid,
			   reg->hdr->patch_id);
	graft_rsys_end(&rs);
}

int graft_revert(pid_t pid, const char *patch_id, const struct graft_op_opts *opts,
		 struct graft_op_result *res, struct graft_err *err)
{
	struct graft_maps maps = {0};
	struct graft_regions regs = {0};
	_cleanup_close_ int memfd = -1;
	_cleanup_free_ bool *live = NULL;
	_cleanup_free_ struct graft_busy_range *ranges = NULL;
	const struct graft_region *reg;
	const struct graft_region_hdr *h;
	size_t nlive = 0;
	char what[160];
	int r;

	memset(res, 0, sizeof(*res));
	(void)snprintf(res->patch_id, sizeof(res->patch_id), "%s", patch_id);
	if (!graft_proc_is_alive(pid))
		return graft_err_set(err, -ESRCH, "no process %d", (int)pid);
	if ((r = graft_proc_read_maps(pid, &maps, err)) < 0)
		return r;
	if ((memfd = graft_mem_open(pid, err)) < 0) {
		r = memfd;
		goto out;
	}
	if ((r = graft_region_list(memfd, &maps, &regs, NULL, err)) < 0)
		goto out;
	reg = graft_region_find(&regs, patch_id);
	if (!reg) {
		r = graft_err_setk(err, GRAFT_ERR_NOOP, -ENOENT, "patch '%s' is not applied",
				   patch_id);
		goto out;
	}
	h = reg->hdr;
	live = calloc(h->nfuncs, sizeof(*live));
	ranges = calloc(h->nfuncs + 1, sizeof(*ranges));
	if (!live || !ranges) {
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = revert_check_order(pid, memfd, &regs, reg, live, &nlive, err);
	if (r < 0)
		goto out;
	if (nlive) {
		struct revert_ctx c = {pid, memfd, reg, live};
		struct graft_stw s;

		for (uint32_t i = 0; i < h->nfuncs; i++) {
			const struct graft_region_func *f = &h->funcs[i];

			ranges[i] = (struct graft_busy_range){
				f->new_addr, f->new_addr + f->new_size, false, f->name};
		}
		(void)snprintf(what, sizeof(what), "code of patch '%s'", h->patch_id);
		/*
		 * code_end is page aligned and the patch's read-only data starts
		 * there: a pointer to its first string is no return address.
		 * Text ends in padding, so no call sits at its very end.
		 */
		ranges[h->nfuncs] =
			(struct graft_busy_range){h->code_start, h->code_end - 1, false, what};
		s = (struct graft_stw){.pid = pid,
				       .memfd = memfd,
				       .ranges = ranges,
				       .nranges = h->nfuncs + 1,
				       .timeout_ms = opts->timeout_ms,
				       .commit = revert_commit,
				       .ctx = &c};
		r = graft_stw_run(&s, err);
		res->stop_ns = s.stop_ns;
		res->attempts = s.attempts;
		res->nthreads = s.nthreads;
		if (r < 0)
			goto out;
	}
	res->nfuncs = h->nfuncs;
	res->region_addr = reg->addr;
	revert_unmap(pid, memfd, &maps, reg);
out:
	if (r < 0 && graft_proc_is_exiting(pid)) {
		graft_err_clear(err);
		r = graft_err_set(err, -ESRCH, "process %d exited during the revert", (int)pid);
	}
	graft_regions_free(&regs);
	graft_maps_free(&maps);
	return r;
}

static int cmp_seq_desc(const void *a, const void *b)
{
	const struct graft_region *x = a, *y = b;

	return x->hdr->seq < y->hdr->seq ? 1 : x->hdr->seq > y->hdr->seq ? -1 : 0;
}

int graft_list_ids(pid_t pid, char ***ids, size_t *n, struct graft_err *err)
{
	struct graft_maps maps = {0};
	struct graft_regions regs = {0};
	_cleanup_close_ int memfd = -1;
	char **v;
	int r;

	*n = 0;
	if ((r = graft_proc_read_maps(pid, &maps, err)) < 0)
		return r;
	if ((memfd = graft_mem_open(pid, err)) < 0) {
		graft_maps_free(&maps);
		return memfd;
	}
	r = graft_region_list(memfd, &maps, &regs, NULL, err);
	graft_maps_free(&maps);
	if (r < 0)
		return r;
	if (regs.n > 1)
		qsort(regs.v, regs.n, sizeof(*regs.v), cmp_seq_desc);
	v = calloc(regs.n + 1, sizeof(*v));
	if (!v) {
		graft_regions_free(&regs);
		return graft_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < regs.n; i++)
		v[i] = strdup(regs.v[i].hdr->patch_id);
	*ids = v;
	*n = regs.n;
	graft_regions_free(&regs);
	return 0;
}
