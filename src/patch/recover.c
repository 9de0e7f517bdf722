/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Recovery of attempts whose graft died. Everything needed is in the
 * process: a region still marked "prepared" is an apply that never
 * finished (its jumps may be all, some or none in place); a region marked
 * "applied" with functions whose jump is gone is a revert that never
 * finished. Both are taken back out with the normal revert, which restores
 * exactly the jumps that are in place and unmaps the regions, so the
 * process ends wholly unpatched by that patch. A region whose applier is
 * still a running graft is work in progress, and left alone.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "patch/apply.h"
#include "ptrace/pt.h"
#include "util/log.h"

/* Is the graft that wrote this region still at work? */
static bool applier_running(const struct graft_region_hdr *h)
{
	char comm[32];

	if (h->applier_pid == 0 || (pid_t)h->applier_pid == getpid())
		return false;
	if (!graft_proc_is_alive((pid_t)h->applier_pid))
		return false;
	graft_proc_comm((pid_t)h->applier_pid, comm, sizeof(comm));
	return !strcmp(comm, "graft");
}

/* Does an applied region have a function whose jump is not in place (an unfinished revert)? */
static bool revert_unfinished(int memfd, const struct graft_regions *all,
			      const struct graft_region *reg)
{
	for (uint32_t i = 0; i < reg->hdr->nfuncs; i++) {
		const struct graft_region_func *f = &reg->hdr->funcs[i];
		uint8_t cur[GRAFT_JUMP_SIZE];

		if (graft_mem_read(memfd, f->old_addr, cur, sizeof(cur), NULL) < 0)
			continue;
		if (!memcmp(cur, f->jump, sizeof(cur)))
			continue;
		if (graft_region_owning_jump(all, f->old_addr, cur, NULL))
			continue; /* a later patch sits on it */
		if (!memcmp(cur, f->saved, sizeof(cur)))
			return true;
	}
	return false;
}

int graft_recover(pid_t pid, const struct graft_op_opts *opts, struct graft_recover_result *res,
		  struct graft_err *err)
{
	struct graft_regions regs = {0};
	_cleanup_close_ int memfd = -1;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = graft_region_open(pid, NULL, &memfd, &regs, err)) < 0) {
		if (graft_proc_is_alive(pid))
			return r;
		graft_err_clear(err);
		return graft_err_set(err, -ESRCH, "no process %d", (int)pid);
	}
	if (regs.n == 0 && !graft_proc_is_alive(pid)) {
		graft_regions_free(&regs);
		return graft_err_set(err, -ESRCH, "no process %d", (int)pid); /* a zombie */
	}
	for (size_t i = 0; i < regs.n && r == 0; i++) {
		const struct graft_region_hdr *h = regs.v[i].hdr;
		struct graft_recover_item *it;
		struct graft_op_result or ;
		bool seen = false, prepared;

		for (size_t k = 0; k < res->n && !seen; k++)
			seen = !strcmp(res->items[k].patch_id, h->patch_id);
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(regs.v[k].hdr->patch_id, h->patch_id);
		if (seen)
			continue; /* one decision per patch, over all its regions */
		prepared = false;
		for (size_t k = i; k < regs.n; k++)
			if (!strcmp(regs.v[k].hdr->patch_id, h->patch_id) &&
			    regs.v[k].hdr->state != GRAFT_REGION_APPLIED) {
				prepared = true;
				if (applier_running(regs.v[k].hdr)) {
					res->in_progress++;
					seen = true;
				}
			}
		if (seen)
			continue;
		if (!prepared && !revert_unfinished(memfd, &regs, &regs.v[i]))
			continue;
		if (res->n == GRAFT_RECOVER_MAX)
			break;
		it = &res->items[res->n];
		(void)snprintf(it->patch_id, sizeof(it->patch_id), "%s", h->patch_id);
		it->was_apply = prepared;
		r = graft_revert(pid, h->patch_id, opts, & or, err);
		if (r < 0)
			break;
		it->stop_ns = or.stop_ns;
		it->nfuncs = or.nfuncs;
		it->nlive = or.nlive;
		res->n++;
	}
	graft_regions_free(&regs);
	return r;
}
