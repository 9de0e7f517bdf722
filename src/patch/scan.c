/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One process, seen by 'graft scan': which of the given patches target an
 * object it maps, whether each is in it, and if not whether graft could put
 * it there; and which of its objects are no longer the files on disk.
 *
 * Objects are recognised by the build-id read through map_files, never by
 * path, so a container's libc is matched like the host's. The order of the
 * work keeps a busy host cheap: /proc/PID/status and maps for every
 * process, build-ids from the shared cache, and the costly questions (graft
 * regions in its memory, a dry run of the apply) only for a process that
 * maps a target.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "patch/region.h"
#include "patch/scan.h"
#include "ptrace/pt.h"

const char *graft_scan_state_name(enum graft_scan_state s)
{
	switch (s) {
	case GRAFT_SCAN_APPLIED:
		return "applied";
	case GRAFT_SCAN_NOT_APPLIED:
		return "not applied";
	case GRAFT_SCAN_INTERRUPTED:
		return "interrupted";
	case GRAFT_SCAN_NOT_PATCHABLE:
		return "not patchable";
	}
	return "?";
}

void graft_scan_proc_free(struct graft_scan_proc *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nstale; i++)
		free(p->stale[i].path);
	free(p->stale);
	free(p->hits);
	p->stale = NULL;
	p->hits = NULL;
	p->nstale = p->nhits = 0;
}

bool graft_patch_is_for(const struct graft_patch *p, const struct graft_object *o)
{
	for (size_t k = 0; k < p->ntargets; k++)
		if (o->build_id_len && o->build_id_len == p->targets[k].build_id_len &&
		    !memcmp(o->build_id, p->targets[k].build_id, o->build_id_len))
			return true;
	return false;
}

static bool maps_target(const struct graft_objects *objs, const struct graft_patch *p)
{
	for (size_t i = 0; i < objs->n; i++)
		if (graft_patch_is_for(p, &objs->v[i]))
			return true;
	return false;
}

static int scan_stale(pid_t pid, const struct graft_objects *objs, struct graft_scan_proc *out)
{
	size_t cap = 0;

	for (size_t i = 0; i < objs->n; i++) {
		enum graft_disk_state d = graft_proc_object_on_disk(pid, &objs->v[i]);
		char *path, *cut;

		if (d != GRAFT_DISK_DELETED && d != GRAFT_DISK_REPLACED)
			continue;
		if (graft_grow((void **)&out->stale, &cap, out->nstale + 1, sizeof(*out->stale)) <
			    0 ||
		    !(path = strdup(objs->v[i].path)))
			return -ENOMEM;
		if ((cut = strstr(path, " (deleted)")) && cut[10] == '\0')
			*cut = '\0';
		out->stale[out->nstale++] = (struct graft_scan_stale){path, d};
	}
	return 0;
}

/* State of one patch whose target the process maps. */
static void scan_hit(pid_t pid, const struct graft_patch *p, const struct graft_regions *regs,
		     const struct graft_scan_opts *o, struct graft_scan_hit *h)
{
	const struct graft_region *reg = graft_region_find(regs, p->id);
	struct graft_op_opts ao = {.cache = o->cache};
	struct graft_err err = {0};

	if (reg && reg->hdr->state == GRAFT_REGION_APPLIED) {
		h->state = GRAFT_SCAN_APPLIED;
		return;
	}
	if (reg) {
		pid_t by = (pid_t)reg->hdr->applier_pid;
		char comm[32] = "";

		h->state = GRAFT_SCAN_INTERRUPTED;
		if (by > 0 && graft_proc_is_alive(by))
			graft_proc_comm(by, comm, sizeof(comm));
		if (!strcmp(comm, "graft"))
			(void)snprintf(h->reason, sizeof(h->reason),
				       "graft pid %d is working on it right now", (int)by);
		else
			(void)snprintf(h->reason, sizeof(h->reason),
				       "an attempt by graft pid %d that died half way; 'graft "
				       "recover' completes or removes it",
				       (int)by);
		return;
	}
	h->state = GRAFT_SCAN_NOT_APPLIED;
	if (!o->check)
		return;
	if (graft_proc_is_exiting(pid)) {
		h->state = GRAFT_SCAN_NOT_PATCHABLE;
		(void)snprintf(h->reason, sizeof(h->reason), "the process is exiting");
		return;
	}
	if (graft_apply_check(pid, p, &ao, &err) == 0)
		return;
	if (err.kind == GRAFT_ERR_NOOP) {
		h->state = GRAFT_SCAN_APPLIED; /* applied since we looked */
		return;
	}
	h->state = GRAFT_SCAN_NOT_PATCHABLE;
	if (err.kind == GRAFT_ERR_ERROR && (err.code == -EACCES || err.code == -EPERM))
		(void)snprintf(h->reason, sizeof(h->reason), "no permission: %s", err.msg);
	else
		(void)snprintf(h->reason, sizeof(h->reason), "%s", err.msg);
}

int graft_scan_proc(pid_t pid, const struct graft_patch *const *patches, size_t npatches,
		    const struct graft_scan_opts *o, struct graft_scan_proc *out)
{
	struct graft_maps maps = {0};
	struct graft_objects objs = {0};
	struct graft_regions regs = {0};
	struct graft_err err = {0};
	char link[64];
	ssize_t n;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (graft_proc_status_read(pid, &out->st, NULL) < 0)
		return 1; /* gone */
	if (out->st.kthread)
		return 1;
	(void)snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, out->exe, sizeof(out->exe) - 1);
	out->exe[n > 0 ? n : 0] = '\0';
	if (out->st.state == 'Z' || out->st.state == 'X') {
		out->error = -ESRCH;
		(void)snprintf(out->reason, sizeof(out->reason), "a zombie: it runs no code");
		return 0;
	}
	if (graft_proc_read_maps(pid, &maps, &err) < 0) {
		if (!graft_proc_is_alive(pid))
			return 1;
		out->error = err.code;
		(void)snprintf(out->reason, sizeof(out->reason), "%s%s",
			       err.code == -EACCES || err.code == -EPERM ? "no permission: " : "",
			       err.msg);
		return 0;
	}
	if (maps.n == 0) {
		graft_maps_free(&maps);
		return 1; /* exited meanwhile, or a kernel thread on an old kernel */
	}
	if (graft_proc_objects_cached(pid, &maps, o->cache, &objs, &err) < 0) {
		out->error = err.code;
		(void)snprintf(out->reason, sizeof(out->reason), "%s", err.msg);
		goto done;
	}
	if (o->stale && (r = scan_stale(pid, &objs, out)) < 0)
		goto done;
	for (size_t k = 0; k < npatches; k++) {
		if (!maps_target(&objs, patches[k]))
			continue;
		if (!out->hits && !(out->hits = calloc(npatches, sizeof(*out->hits)))) {
			r = -ENOMEM;
			goto done;
		}
		if (out->nhits == 0 && graft_maps_have_region(&maps, NULL)) {
			_cleanup_close_ int memfd = graft_mem_open(pid, NULL);

			if (memfd >= 0)
				(void)graft_region_list(memfd, &maps, &regs, NULL, NULL);
		}
		out->hits[out->nhits].patch = k;
		scan_hit(pid, patches[k], &regs, o, &out->hits[out->nhits]);
		out->nhits++;
	}
done:
	graft_regions_free(&regs);
	graft_objects_free(&objs);
	graft_maps_free(&maps);
	if (r < 0)
		graft_scan_proc_free(out);
	return r;
}
