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
#include <sys/syscall.h>

#include "patch/apply.h"
#include "patch/stw.h"
#include "ptrace/pt.h"
#include "util/log.h"

struct revert_ctx {
	pid_t pid;
	int memfd;
	const struct graft_region **regs; /* every region of the patch (one per target) */
	bool **live;
	size_t n;
};

static void revert_undo(struct revert_ctx *c, size_t unit, uint32_t done)
{
	for (size_t k = unit + 1; k-- > 0;) {
		const struct graft_region_hdr *h = c->regs[k]->hdr;
		uint32_t n = k == unit ? done : h->nfuncs;

		while (n-- > 0) {
			const struct graft_region_func *f = &h->funcs[n];

			if (c->live[k][n] && graft_mem_write(c->memfd, f->old_addr, f->jump,
							     GRAFT_JUMP_SIZE, NULL) < 0)
				graft_warn("cannot put back the jump of '%s' in pid %d", f->name,
					   (int)c->pid);
		}
	}
}

static int revert_commit(void *ctx, struct graft_pt_world *w, struct graft_err *err)
{
	struct revert_ctx *c = ctx;
	uint32_t state = GRAFT_REGION_PREPARED, done = 0;
	size_t k;
	int r = 0;

	(void)w;
	for (k = 0; k < c->n; k++) {
		const struct graft_region_hdr *h = c->regs[k]->hdr;

		for (uint32_t i = 0; i < h->nfuncs; i++) {
			uint8_t cur[GRAFT_JUMP_SIZE];

			if (!c->live[k][i])
				continue;
			r = graft_mem_read(c->memfd, h->funcs[i].old_addr, cur, sizeof(cur), err);
			if (r < 0)
				return r;
			if (memcmp(cur, h->funcs[i].jump, sizeof(cur)) != 0)
				return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EAGAIN,
						      "function '%s' changed during the revert",
						      h->funcs[i].name);
		}
	}
	for (k = 0; k < c->n; k++) {
		const struct graft_region_hdr *h = c->regs[k]->hdr;

		for (done = 0; done < h->nfuncs; done++) {
			const struct graft_region_func *f = &h->funcs[done];

			if (!c->live[k][done])
				continue;
			r = graft_mem_write(c->memfd, f->old_addr, f->saved, GRAFT_JUMP_SIZE, err);
			if (r < 0)
				goto undo;
			graft_test_die_at("revert-restore");
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		r = graft_mem_write(c->memfd,
				    c->regs[i]->addr + offsetof(struct graft_region_hdr, state),
				    &state, sizeof(state), err);
		if (r < 0) {
			uint32_t applied = GRAFT_REGION_APPLIED;

			while (i-- > 0)
				(void)graft_mem_write(
					c->memfd,
					c->regs[i]->addr + offsetof(struct graft_region_hdr, state),
					&applied, sizeof(applied), NULL);
			k = c->n - 1;
			done = c->regs[k]->hdr->nfuncs;
			goto undo;
		}
	}
	return 0;
undo:
	revert_undo(c, k, done);
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

struct unmapping {
	pid_t pid;
	const struct graft_region *const *regs;
	size_t n;
};

static bool regions_gone(const void *ctx)
{
	const struct unmapping *u = ctx;
	struct graft_maps maps = {0};
	bool gone = true;

	if (graft_proc_read_maps(u->pid, &maps, NULL) < 0)
		return true; /* the process is gone, or will be */
	for (size_t k = 0; k < u->n; k++) {
		const struct graft_map *m = graft_maps_find(&maps, u->regs[k]->addr);

		gone &= !m || m->start != u->regs[k]->addr;
	}
	graft_maps_free(&maps);
	return gone;
}

/*
 * The patch is out; its regions go. The munmaps are made by the borrowed
 * thread on its way home (one stop instead of four per region); graft
 * waits until the maps show them gone, so what follows sees the truth.
 */
static void revert_unmap(pid_t pid, int memfd, const struct graft_maps *maps,
			 struct graft_objcache *cache, const struct graft_region *const *regs,
			 size_t n /* <= GRAFT_RSYS_CHAIN_MAX */)
{
	struct graft_rsys_call calls[GRAFT_RSYS_CHAIN_MAX];
	struct graft_rsys_chain ch;
	struct graft_rsys rs;
	struct graft_err e = {0};
	int r;

	if (graft_rsys_begin(pid, memfd, maps, cache, &rs, &e) < 0) {
		graft_warn("pid %d: patch '%s' is out, but its region stays mapped: %s", (int)pid,
			   regs[0]->hdr->patch_id, e.msg);
		return;
	}
	for (size_t k = 0; k < n; k++)
		calls[k] = (struct graft_rsys_call){SYS_munmap,
						    {regs[k]->addr, regs[k]->hdr->region_size}};
	r = graft_rsys_end_chain(&rs, calls, n, &ch, false);
	if (r < 0) {
		graft_warn("pid %d: cannot unmap the region of patch '%s'", (int)pid,
			   regs[0]->hdr->patch_id);
		return;
	}
	if (!graft_poll_until(regions_gone, &(struct unmapping){pid, regs, n}, 2000ull * 1000000))
		graft_warn("pid %d: patch '%s' is out; its region goes when the process runs again",
			   (int)pid, regs[0]->hdr->patch_id);
}

int graft_revert(pid_t pid, const char *patch_id, const struct graft_op_opts *opts,
		 struct graft_op_result *res, struct graft_err *err)
{
	struct graft_maps maps = {0};
	struct graft_regions regs = {0};
	_cleanup_close_ int memfd = -1;
	_cleanup_free_ const struct graft_region **mine = NULL;
	_cleanup_free_ bool **live = NULL;
	_cleanup_free_ struct graft_busy_range *ranges = NULL;
	_cleanup_free_ char *whats = NULL;
	struct revert_ctx c = {0};
	size_t n = 0, nlive = 0, nranges = 0, nfuncs = 0;
	int r;

	memset(res, 0, sizeof(*res));
	(void)snprintf(res->patch_id, sizeof(res->patch_id), "%s", patch_id);
	/* an exited process has no maps to read, a zombie an empty one */
	r = graft_region_open(pid, &maps, &memfd, &regs, err);
	if ((r < 0 || maps.n == 0) && !graft_proc_is_alive(pid)) {
		graft_err_clear(err);
		graft_regions_free(&regs);
		graft_maps_free(&maps);
		return graft_err_set(err, -ESRCH, "no process %d", (int)pid);
	}
	if (r < 0)
		goto out;
	if (!opts->mm_checked && !graft_test_fault("no-mm-check")) {
		pid_t other = graft_proc_mm_sharer(pid);

		if (other > 0) {
			r = graft_refuse_shared_mm(pid, other, err);
			goto out;
		}
	}
	/* a patch for several targets has one region per target: all come out */
	mine = calloc(regs.n + 1, sizeof(*mine));
	live = calloc(regs.n + 1, sizeof(*live));
	whats = calloc(regs.n + 1, 160);
	if (!mine || !live || !whats) {
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < regs.n; i++)
		if (!strcmp(regs.v[i].hdr->patch_id, patch_id)) {
			mine[n] = &regs.v[i];
			nfuncs += regs.v[i].hdr->nfuncs;
			n++;
		}
	if (!n) {
		r = graft_err_setk(err, GRAFT_ERR_NOOP, -ENOENT, "patch '%s' is not applied",
				   patch_id);
		goto out;
	}
	ranges = calloc(nfuncs + n, sizeof(*ranges));
	if (!ranges) {
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		const struct graft_region_hdr *h = mine[k]->hdr;
		char *what = whats + k * 160;
		size_t nl = 0;

		live[k] = calloc(h->nfuncs + 1, sizeof(bool));
		if (!live[k]) {
			r = graft_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		r = revert_check_order(pid, memfd, &regs, mine[k], live[k], &nl, err);
		if (r < 0)
			goto out;
		nlive += nl;
		for (uint32_t i = 0; i < h->nfuncs; i++) {
			const struct graft_region_func *f = &h->funcs[i];

			ranges[nranges++] = (struct graft_busy_range){
				f->new_addr, f->new_addr + f->new_size, false, f->name};
		}
		(void)snprintf(what, 160, "code of patch '%s'", h->patch_id);
		/*
		 * code_end is page aligned and the patch's read-only data starts
		 * there: a pointer to its first string is no return address.
		 * Text ends in padding, so no call sits at its very end.
		 */
		ranges[nranges++] =
			(struct graft_busy_range){h->code_start, h->code_end - 1, false, what};
	}
	c = (struct revert_ctx){pid, memfd, mine, live, n};
	if (nlive) {
		struct graft_stw s = {.pid = pid,
				      .memfd = memfd,
				      .ranges = ranges,
				      .nranges = nranges,
				      .timeout_ms = opts->timeout_ms,
				      .commit = revert_commit,
				      .gate = opts->gate,
				      .maps = &maps,
				      .ctx = &c};

		r = graft_stw_run(&s, err);
		res->stop_ns = s.stop_ns;
		res->attempts = s.attempts;
		res->nthreads = s.nthreads;
		if (r < 0)
			goto out;
	}
	res->nfuncs = nfuncs;
	res->nlive = nlive;
	res->region_addr = mine[0]->addr;
	res->ntargets = res->ntargets_mapped = n;
	for (size_t k = 0; k < n; k += GRAFT_RSYS_CHAIN_MAX) /* one chain holds a patch's targets */
		revert_unmap(pid, memfd, &maps, opts->cache, mine + k,
			     n - k < GRAFT_RSYS_CHAIN_MAX ? n - k : GRAFT_RSYS_CHAIN_MAX);
out:
	if (r < 0 && graft_proc_is_exiting(pid)) {
		graft_err_clear(err);
		r = graft_err_set(err, -ESRCH, "process %d exited during the revert", (int)pid);
	}
	for (size_t k = 0; live && k < n; k++)
		free(live[k]);
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
	struct graft_regions regs = {0};
	_cleanup_close_ int memfd = -1;
	char **v;
	int r;

	*n = 0;
	if ((r = graft_region_open(pid, NULL, &memfd, &regs, err)) < 0)
		return r;
	if (regs.n > 1)
		qsort(regs.v, regs.n, sizeof(*regs.v), cmp_seq_desc);
	v = calloc(regs.n + 1, sizeof(*v));
	if (!v) {
		graft_regions_free(&regs);
		return graft_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < regs.n; i++) {
		bool seen = false;

		/* one id per patch, though it may have a region per target */
		for (size_t k = 0; k < *n && !seen; k++)
			seen = !strcmp(v[k], regs.v[i].hdr->patch_id);
		if (!seen)
			v[(*n)++] = strdup(regs.v[i].hdr->patch_id);
	}
	*ids = v;
	graft_regions_free(&regs);
	return 0;
}
