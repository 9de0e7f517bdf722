/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The apply transaction.
 *
 * While the target runs: find the mapping with the patch's build-id, check
 * every function against its pre-image (or recognise an earlier graft jump
 * on it: stacking), pick an address within +-2 GiB of the object, link the
 * patch for that address, and on one briefly stopped thread create a memfd
 * named "graft:<id>", fill it from our side through /proc/PID/fd (sealed
 * afterwards), map it read-only and mprotect the code part to read+execute
 * and the data part to read+write. Code is never writable in the target.
 *
 * Then stop the world (patch/stw.c): re-check the bytes about to be
 * overwritten, write each 5-byte jump through /proc/PID/mem keeping the
 * bytes it replaces in the region header, mark the header applied, let go.
 * Any failure after the first remote change unwinds in reverse order.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "link/link.h"
#include "patch/apply.h"
#include "patch/stw.h"
#include "ptrace/pt.h"
#include "util/log.h"

#define REACH	  ((uint64_t)0x7ff00000) /* a little under 2 GiB */
#define ADDR_MIN  ((uint64_t)16 << 20)
#define ADDR_MAX  ((uint64_t)0x7ffffffff000)
#define HEAP_ROOM ((uint64_t)256 << 20)

struct apply_ctx {
	pid_t pid;
	const struct graft_patch *patch;
	int memfd;
	struct graft_maps maps;
	struct graft_objects objs;
	const struct graft_object *target;
	struct graft_regions regions;
	struct graft_rsys rs;
	bool rs_active;
	/* per object, opened lazily for symbol lookup */
	struct graft_elf **obj_elf;
	int *obj_fd;
	struct graft_region_hdr *hdr;
	size_t hdr_size;
	uint64_t base;
	bool mapped;
	uint64_t mapped_size;
	struct graft_err *err;
};

static void apply_ctx_free(struct apply_ctx *c)
{
	if (c->rs_active)
		graft_rsys_end(&c->rs);
	for (size_t i = 0; c->obj_elf && i < c->objs.n; i++) {
		graft_elf_free(c->obj_elf[i]);
		if (c->obj_fd[i] >= 0)
			(void)close(c->obj_fd[i]);
	}
	free(c->obj_elf);
	free(c->obj_fd);
	free(c->hdr);
	graft_regions_free(&c->regions);
	graft_objects_free(&c->objs);
	graft_maps_free(&c->maps);
	if (c->memfd >= 0)
		(void)close(c->memfd);
}

static struct graft_elf *obj_elf(struct apply_ctx *c, size_t i)
{
	if (!c->obj_elf[i]) {
		int fd = graft_proc_open_object(c->pid, &c->objs.v[i], NULL);

		if (fd < 0)
			return NULL;
		if (graft_elf_open_fd(fd, c->objs.v[i].path, &c->obj_elf[i], NULL) < 0) {
			(void)close(fd);
			return NULL;
		}
		c->obj_fd[i] = fd;
	}
	return c->obj_elf[i];
}

/* --- finding the target ------------------------------------------------ */

static int find_target(struct apply_ctx *c)
{
	const struct graft_patch *p = c->patch;
	const char *base = strrchr(p->target_name, '/');
	char want[2 * GRAFT_BUILD_ID_MAX + 1];

	base = base ? base + 1 : p->target_name;
	for (size_t i = 0; i < c->objs.n; i++) {
		const struct graft_object *o = &c->objs.v[i];

		if (o->build_id_len == p->build_id_len &&
		    memcmp(o->build_id, p->build_id, p->build_id_len) == 0) {
			c->target = o;
			return 0;
		}
	}
	graft_hex(p->build_id, p->build_id_len, want);
	for (size_t i = 0; i < c->objs.n; i++) {
		const struct graft_object *o = &c->objs.v[i];
		const char *ob = strrchr(o->path, '/');
		char have[2 * GRAFT_BUILD_ID_MAX + 1];

		ob = ob ? ob + 1 : o->path;
		if (strncmp(ob, base, strlen(base)) != 0)
			continue;
		graft_hex(o->build_id, o->build_id_len, have);
		return graft_err_setk(c->err, GRAFT_ERR_UNSAFE, -ENOEXEC,
				      "'%s' in this process has build-id %s, the patch is for "
				      "build-id %s (another build)",
				      o->path, o->build_id_len ? have : "(none)", want);
	}
	return graft_err_set(c->err, -ENOENT,
			     "the process does not map the patch's target '%s' (build-id %s)",
			     p->target_name, want);
}

/* --- run-pre ----------------------------------------------------------- */

/* Check one function; fills the header entry's saved bytes. */
static int runpre_func(struct apply_ctx *c, const struct graft_patch_func *f,
		       struct graft_region_func *rf, const struct graft_region **prev,
		       size_t *prev_idx)
{
	_cleanup_free_ uint8_t *cur = malloc(f->pre_len);
	uint64_t addr = c->target->base + f->old_offset;
	const struct graft_map *m;
	uint32_t start = 0;
	int r;

	*prev = NULL;
	if (!cur)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	/*
	 * A hostile patch could name data as a "function" and supply its
	 * bytes as the pre-image: only code of the target object is patched.
	 */
	m = graft_maps_find(&c->maps, addr);
	if (!m || !m->x || m->inode != c->target->inode || m->dev_major != c->target->dev_major ||
	    m->dev_minor != c->target->dev_minor || addr + f->pre_len < addr ||
	    addr + f->pre_len > m->end)
		return graft_err_setk(c->err, GRAFT_ERR_UNSAFE, -EFAULT,
				      "function '%s' at 0x%" PRIx64
				      " is not inside the code of '%s'; refusing to write there",
				      f->old_name, addr, c->target->path);
	r = graft_mem_read(c->memfd, addr, cur, f->pre_len, c->err);
	if (r < 0)
		return graft_err_prefix(c->err, r, "function '%s'", f->old_name);
	if (memcmp(cur, f->pre, GRAFT_JUMP_SIZE) != 0) {
		*prev = graft_region_owning_jump(&c->regions, addr, cur, prev_idx);
		if (*prev && (*prev)->hdr->state == GRAFT_REGION_APPLIED)
			start = GRAFT_JUMP_SIZE; /* stacking on an earlier patch */
		else
			*prev = NULL;
	}
	for (uint32_t i = start; i < f->pre_len; i++)
		if (cur[i] != f->pre[i])
			return graft_err_setk(
				c->err, GRAFT_ERR_UNSAFE, -EILSEQ,
				"function '%s' differs from the patch's pre-image at offset %u "
				"(another build, code altered by someone else, or a breakpoint)",
				f->old_name, i);
	memcpy(rf->saved, cur, GRAFT_JUMP_SIZE);
	rf->old_addr = addr;
	rf->old_size = f->old_size;
	(void)snprintf(rf->name, sizeof(rf->name), "%s", f->old_name);
	return 0;
}

/* --- symbol resolution --------------------------------------------------- */

static int target_tpoff(struct apply_ctx *c, uint64_t off, uint64_t *out)
{
	struct graft_elf *e;
	struct graft_elf_tls tls;
	size_t ti = (size_t)(c->target - c->objs.v);

	if (!c->target->is_exec)
		return graft_err_set(
			c->err, -ENOTSUP,
			"thread-local variables of shared libraries are not supported yet");
	e = obj_elf(c, ti);
	if (!e || graft_elf_tls(e, &tls) < 0)
		return graft_err_set(c->err, -ENOENT, "the target has no TLS segment");
	/*
	 * Variant II (x86-64): the executable's TLS block ends at the thread
	 * pointer; the static linker computes the same offset for its own
	 * local-exec accesses, so the C library must place it there.
	 */
	*out = off - GRAFT_ALIGN_UP(tls.memsz + (tls.vaddr & (tls.align - 1)), tls.align);
	return 0;
}

/* Stop one thread for remote calls, once. */
static int rsys_ensure(struct apply_ctx *c)
{
	int r;

	if (c->rs_active)
		return 0;
	r = graft_rsys_begin(c->pid, c->memfd, &c->maps, &c->rs, c->err);
	if (r == 0)
		c->rs_active = true;
	return r;
}

static int resolve_external(struct apply_ctx *c, const char *name, uint64_t *out)
{
	for (size_t i = 0; i < c->objs.n; i++) {
		struct graft_elf *e = obj_elf(c, i);
		struct graft_elf_sym s;

		if (!e || graft_elf_dynsym_lookup(e, name, &s) != 1)
			continue;
		if (s.type == STT_TLS)
			return graft_err_set(c->err, -ENOTSUP,
					     "'%s' is thread-local data of '%s'; not supported",
					     name, c->objs.v[i].path);
		*out = c->objs.v[i].base + s.value;
		if (s.type == STT_GNU_IFUNC) {
			uint64_t impl;
			int r = rsys_ensure(c);

			if (r == 0)
				r = graft_rsys_funcall(&c->rs, *out, 0, 0, &impl, c->err);

			if (r < 0)
				return graft_err_prefix(c->err, r, "resolving IFUNC '%s'", name);
			*out = impl;
		}
		return 0;
	}
	return graft_err_set(c->err, -ENOENT,
			     "undefined symbol '%s': not bound to the target and not exported by "
			     "any object in pid %d",
			     name, (int)c->pid);
}

static int apply_resolve(void *ctx, const char *name, enum graft_link_ref ref, uint64_t *value,
			 struct graft_err *err)
{
	struct apply_ctx *c = ctx;
	const struct graft_patch_sym *s = graft_patch_find_sym(c->patch, name);

	(void)err;
	if (s) {
		bool tls = s->flags & GRAFT_SYM_TLS;

		if (tls != (ref == GRAFT_REF_TPOFF))
			return graft_err_set(c->err, -EINVAL,
					     "'%s' is %sthread-local in the target but used as "
					     "%sthread-local by the patch",
					     name, tls ? "" : "not ", tls ? "not " : "");
		if (tls)
			return target_tpoff(c, s->target_offset, value);
		*value = c->target->base + s->target_offset;
		return 0;
	}
	if (ref == GRAFT_REF_TPOFF)
		return graft_err_set(c->err, -ENOTSUP,
				     "thread-local '%s' is not bound to the target", name);
	return resolve_external(c, name, value);
}

/* --- placement ------------------------------------------------------------ */

static bool fits_reach(uint64_t a, uint64_t size, uint64_t lo, uint64_t hi)
{
	uint64_t end = a + size;
	uint64_t span_lo = a < lo ? a : lo, span_hi = end > hi ? end : hi;

	return span_hi - span_lo < REACH;
}

/* Find a free address for size bytes near [lo, hi); 0 if none. */
static uint64_t pick_address(const struct graft_maps *m, uint64_t size, uint64_t lo, uint64_t hi)
{
	uint64_t best = 0, best_dist = UINT64_MAX;

	for (size_t i = 0; i <= m->n; i++) {
		uint64_t g0 = i ? m->v[i - 1].end : ADDR_MIN;
		uint64_t g1 = i < m->n ? m->v[i].start : ADDR_MAX;
		uint64_t a, dist;

		if (i && m->v[i - 1].path && strcmp(m->v[i - 1].path, "[heap]") == 0)
			g0 += HEAP_ROOM; /* leave the heap room to grow */
		if (g0 < ADDR_MIN)
			g0 = ADDR_MIN;
		if (g1 <= g0 || g1 - g0 < size + 2 * GRAFT_PAGE)
			continue;
		/* keep a guard page on each side */
		g0 += GRAFT_PAGE;
		g1 -= GRAFT_PAGE;
		a = g1 <= lo ? g1 - size : g0; /* hug the object */
		if (!fits_reach(a, size, lo, hi))
			continue;
		dist = a < lo ? lo - a : a - hi;
		if (dist < best_dist) {
			best = a;
			best_dist = dist;
		}
	}
	return best;
}

/* --- mapping in the target ----------------------------------------------- */

static int map_region(struct apply_ctx *c, const struct graft_link_plan *plan, const uint8_t *img)
{
	char name[128], fdpath[64];
	_cleanup_close_ int lfd = -1;
	int tfd, r;
	uint64_t got = 0;

	(void)snprintf(name, sizeof(name), GRAFT_MEMFD_PREFIX "%s", c->patch->id);
	tfd = graft_rsys_memfd_create(&c->rs, name, MFD_CLOEXEC | MFD_ALLOW_SEALING, c->err);
	if (tfd < 0)
		return graft_err_set(c->err, tfd, "memfd_create in the target failed: %s",
				     strerror(-tfd));
	(void)snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%d", (int)c->pid, tfd);
	lfd = open(fdpath, O_RDWR | O_CLOEXEC);
	if (lfd < 0) {
		r = graft_err_set(c->err, -errno, "cannot open %s: %s", fdpath, strerror(errno));
		goto close_tfd;
	}
	if (ftruncate(lfd, (off_t)plan->total) < 0 ||
	    pwrite(lfd, img, plan->total, 0) != (ssize_t)plan->total) {
		r = graft_err_set(c->err, -errno, "cannot fill the patch memfd: %s",
				  strerror(errno));
		goto close_tfd;
	}
	/* nobody can change the patch code through the file from now on */
	if (fcntl(lfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		graft_warn("cannot seal the patch memfd: %s", strerror(errno));
	r = graft_rsys_mmap(&c->rs, c->base, plan->total, PROT_READ,
			    MAP_PRIVATE | MAP_FIXED_NOREPLACE, tfd, 0, &got, c->err);
	if (r == 0 && got != c->base) {
		/* an old kernel took NOREPLACE as a hint */
		(void)graft_rsys_munmap(&c->rs, got, plan->total, NULL);
		r = -EEXIST;
	}
	if (r == -EEXIST) {
		/* the address was taken meanwhile: pick again, the caller relinks */
		graft_maps_free(&c->maps);
		if ((r = graft_proc_read_maps(c->pid, &c->maps, c->err)) < 0)
			goto close_tfd;
		c->base = pick_address(&c->maps, plan->total, c->target->lo, c->target->hi);
		r = c->base ? -EAGAIN
			    : graft_err_set(c->err, -ENOMEM, "no free address within 2 GiB of '%s'",
					    c->target->path);
		goto close_tfd;
	}
	if (r < 0) {
		r = graft_err_set(c->err, r, "mmap in the target failed: %s", strerror(-r));
		goto close_tfd;
	}
	c->mapped = true;
	c->mapped_size = plan->total;
	r = graft_rsys_mprotect(&c->rs, c->base + plan->text_off, plan->text_size,
				PROT_READ | PROT_EXEC, c->err);
	if (r == 0 && plan->data_size)
		r = graft_rsys_mprotect(&c->rs, c->base + plan->data_off, plan->data_size,
					PROT_READ | PROT_WRITE, c->err);
	if (r < 0) {
		r = graft_err_set(c->err, r, "mprotect in the target failed: %s", strerror(-r));
		goto close_tfd;
	}
	r = 0;
close_tfd:
	if (graft_rsys_close(&c->rs, tfd, NULL) < 0)
		graft_warn("cannot close fd %d in pid %d", tfd, (int)c->pid);
	return r;
}

static void unmap_region(struct apply_ctx *c)
{
	struct graft_err e = {0};

	if (!c->mapped)
		return;
	if (!c->rs_active) {
		if (graft_rsys_begin(c->pid, c->memfd, &c->maps, &c->rs, &e) < 0) {
			graft_warn("cannot unmap the patch region in pid %d: %s", (int)c->pid,
				   e.msg);
			return;
		}
		c->rs_active = true;
	}
	if (graft_rsys_munmap(&c->rs, c->base, c->mapped_size, &e) != 0)
		graft_warn("cannot unmap the patch region in pid %d: %s", (int)c->pid, e.msg);
	c->mapped = false;
}

/*
 * Going live is allowed only if any later graft can find the patch again
 * from the process alone: read the region back the way status and revert do.
 */
static int verify_discoverable(struct apply_ctx *c)
{
	struct graft_maps maps = {0};
	struct graft_regions regs = {0};
	const struct graft_region *reg;
	int r = graft_proc_read_maps(c->pid, &maps, c->err);

	if (r < 0)
		return r;
	r = graft_region_list(c->memfd, &maps, &regs, NULL, c->err);
	if (r == 0) {
		reg = graft_region_find(&regs, c->patch->id);
		if (!reg || reg->addr != c->base || reg->hdr->nfuncs != c->hdr->nfuncs)
			r = graft_err_set(c->err, -EIO,
					  "the patch region cannot be read back from the process; "
					  "not going live");
	}
	graft_regions_free(&regs);
	graft_maps_free(&maps);
	return r;
}

/* --- the commit, inside the stop ------------------------------------------ */

static int apply_commit(void *ctx, struct graft_pt_world *w, struct graft_err *err)
{
	struct apply_ctx *c = ctx;
	uint32_t n = c->hdr->nfuncs, done = 0, state = GRAFT_REGION_APPLIED;
	int r = 0;

	(void)w;
	for (uint32_t i = 0; i < n; i++) {
		const struct graft_region_func *f = &c->hdr->funcs[i];
		uint8_t cur[GRAFT_JUMP_SIZE];

		r = graft_mem_read(c->memfd, f->old_addr, cur, sizeof(cur), err);
		if (r < 0)
			return r;
		if (memcmp(cur, f->saved, sizeof(cur)) != 0)
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EAGAIN,
					      "function '%s' changed while the patch was prepared",
					      f->name);
	}
	for (; done < n; done++) {
		const struct graft_region_func *f = &c->hdr->funcs[done];

		r = graft_mem_write(c->memfd, f->old_addr, f->jump, GRAFT_JUMP_SIZE, err);
		if (r < 0)
			goto undo;
	}
	r = graft_mem_write(c->memfd, c->base + offsetof(struct graft_region_hdr, state), &state,
			    sizeof(state), err);
	if (r == 0)
		return 0;
undo:
	while (done-- > 0) {
		const struct graft_region_func *f = &c->hdr->funcs[done];

		if (graft_mem_write(c->memfd, f->old_addr, f->saved, GRAFT_JUMP_SIZE, NULL) < 0)
			graft_warn("cannot restore '%s' at 0x%" PRIx64 " in pid %d", f->name,
				   f->old_addr, (int)c->pid);
	}
	return r;
}

/* --- the transaction -------------------------------------------------------- */

static int build_header(struct apply_ctx *c, const struct graft_link_plan *plan)
{
	struct graft_region_hdr *h = c->hdr;
	uint64_t seq = 0;

	memcpy(h->magic, GRAFT_REGION_MAGIC, 8);
	h->version = GRAFT_REGION_VERSION;
	h->hdr_size = (uint32_t)c->hdr_size;
	h->region_size = plan->total;
	for (size_t i = 0; i < c->regions.n; i++)
		if (c->regions.v[i].hdr->seq > seq)
			seq = c->regions.v[i].hdr->seq;
	h->seq = seq + 1;
	h->applied_ns = graft_wall_ns();
	h->state = GRAFT_REGION_PREPARED;
	h->applier_pid = (uint32_t)getpid();
	h->target_base = c->target->base;
	h->code_start = c->base + plan->text_off;
	h->code_end = c->base + plan->text_off + plan->text_size;
	h->build_id_len = (uint32_t)c->patch->build_id_len;
	memcpy(h->build_id, c->patch->build_id, c->patch->build_id_len);
	(void)snprintf(h->patch_id, sizeof(h->patch_id), "%s", c->patch->id);
	(void)snprintf(h->target_name, sizeof(h->target_name), "%s", c->target->path);
	(void)snprintf(h->description, sizeof(h->description), "%s", c->patch->description);
	for (uint32_t i = 0; i < h->nfuncs; i++) {
		struct graft_region_func *f = &h->funcs[i];
		uint64_t addr, size;

		if (graft_link_symbol(plan, c->base, c->patch->funcs[i].new_name, &addr, &size) < 0)
			return graft_err_set(c->err, -ENOENT,
					     "replacement '%s' not found after linking",
					     c->patch->funcs[i].new_name);
		f->new_addr = addr;
		f->new_size = (uint32_t)size;
		if (graft_jump_encode(f->old_addr, addr, f->jump) < 0)
			return graft_err_set(c->err, -ERANGE, "'%s' is out of jump reach", f->name);
	}
	return 0;
}

static int apply_prepare_and_commit(struct apply_ctx *c, const struct graft_op_opts *opts,
				    struct graft_op_result *res)
{
	const struct graft_patch *p = c->patch;
	_cleanup_(graft_link_plan_freep) struct graft_link_plan *plan = NULL;
	_cleanup_free_ const struct graft_region **prev = calloc(p->nfuncs, sizeof(*prev));
	_cleanup_free_ size_t *prev_idx = calloc(p->nfuncs, sizeof(size_t));
	_cleanup_free_ struct graft_busy_range *ranges = calloc(2 * p->nfuncs, sizeof(*ranges));
	size_t nranges = 0;
	struct graft_stw stw = {0};
	int r;

	if (!prev || !prev_idx || !ranges)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	c->hdr_size =
		sizeof(struct graft_region_hdr) + p->nfuncs * sizeof(struct graft_region_func);
	c->hdr = calloc(1, c->hdr_size);
	if (!c->hdr)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	c->hdr->nfuncs = (uint32_t)p->nfuncs;
	for (size_t i = 0; i < p->nfuncs; i++) {
		r = runpre_func(c, &p->funcs[i], &c->hdr->funcs[i], &prev[i], &prev_idx[i]);
		if (r < 0)
			return r;
	}
	r = graft_link_plan(p->elf, c->hdr_size, &plan, c->err);
	if (r < 0)
		return r;
	c->base = pick_address(&c->maps, plan->total, c->target->lo, c->target->hi);
	if (!c->base)
		return graft_err_set(c->err, -ENOMEM, "no free address within 2 GiB of '%s'",
				     c->target->path);
	/*
	 * Link while the target runs; a thread is stopped only for IFUNC
	 * resolvers (lazily, during linking) and the mapping syscalls.
	 */
	for (int tries = 0;; tries++) {
		_cleanup_free_ uint8_t *img = NULL;
		struct graft_link_resolver resolver = {apply_resolve, c};

		r = graft_link_relocate(plan, c->base, &resolver, &img, c->err);
		if (r < 0)
			return graft_err_prefix(c->err, r, "cannot link the patch");
		r = build_header(c, plan);
		if (r < 0)
			return r;
		memcpy(img, c->hdr, c->hdr_size);
		r = rsys_ensure(c);
		if (r < 0)
			return r;
		r = map_region(c, plan, img);
		if (r != -EAGAIN || tries >= 8)
			break;
		graft_err_clear(c->err);
	}
	if (r < 0)
		return r;
	graft_rsys_end(&c->rs);
	c->rs_active = false;
	r = verify_discoverable(c);
	if (r < 0)
		return r;

	/* busy ranges: each old function, and the code currently replacing it */
	for (size_t i = 0; i < p->nfuncs; i++) {
		const struct graft_region_func *f = &c->hdr->funcs[i];

		ranges[nranges++] = (struct graft_busy_range){
			f->old_addr, f->old_addr + f->old_size, true, f->name};
		if (prev[i]) {
			const struct graft_region_func *pf = &prev[i]->hdr->funcs[prev_idx[i]];

			ranges[nranges++] = (struct graft_busy_range){
				pf->new_addr, pf->new_addr + pf->new_size, true, f->name};
		}
	}
	stw = (struct graft_stw){.pid = c->pid,
				 .memfd = c->memfd,
				 .ranges = ranges,
				 .nranges = nranges,
				 .timeout_ms = opts->timeout_ms,
				 .commit = apply_commit,
				 .ctx = c};
	r = graft_stw_run(&stw, c->err);
	res->stop_ns = stw.stop_ns;
	res->attempts = stw.attempts;
	res->nthreads = stw.nthreads;
	if (r < 0)
		return r;
	c->mapped = false; /* live now: it stays */
	c->hdr->stop_ns = stw.stop_ns;
	(void)graft_mem_write(c->memfd, c->base + offsetof(struct graft_region_hdr, stop_ns),
			      &c->hdr->stop_ns, sizeof(c->hdr->stop_ns), NULL);
	res->nfuncs = p->nfuncs;
	res->region_addr = c->base;
	return 0;
}

int graft_apply(pid_t pid, const struct graft_patch *patch, const struct graft_op_opts *opts,
		struct graft_op_result *res, struct graft_err *err)
{
	struct apply_ctx c = {.pid = pid, .patch = patch, .memfd = -1, .err = err};
	int r;

	memset(res, 0, sizeof(*res));
	(void)snprintf(res->patch_id, sizeof(res->patch_id), "%s", patch->id);
	if (!graft_proc_is_alive(pid))
		return graft_err_set(err, -ESRCH, "no process %d", (int)pid);
	if ((r = graft_proc_read_maps(pid, &c.maps, err)) < 0 ||
	    (r = graft_proc_objects(pid, &c.maps, &c.objs, err)) < 0)
		goto out;
	c.obj_elf = calloc(c.objs.n + 1, sizeof(*c.obj_elf));
	c.obj_fd = malloc((c.objs.n + 1) * sizeof(int));
	if (!c.obj_elf || !c.obj_fd) {
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.objs.n; i++)
		c.obj_fd[i] = -1;
	if ((r = find_target(&c)) < 0)
		goto out;
	if ((c.memfd = graft_mem_open(pid, err)) < 0) {
		r = c.memfd;
		goto out;
	}
	if ((r = graft_region_list(c.memfd, &c.maps, &c.regions, NULL, err)) < 0)
		goto out;
	{
		const struct graft_region *same = graft_region_find(&c.regions, patch->id);

		if (same) {
			r = graft_err_setk(err, GRAFT_ERR_NOOP, -EEXIST,
					   same->hdr->state == GRAFT_REGION_APPLIED
						   ? "patch '%s' is already applied"
						   : "an interrupted attempt of patch '%s' is "
						     "still mapped; revert it first",
					   patch->id);
			goto out;
		}
	}
	r = apply_prepare_and_commit(&c, opts, res);
	if (r < 0 && !graft_proc_is_exiting(pid))
		unmap_region(&c);
out:
	if (r < 0 && graft_proc_is_exiting(pid)) {
		/* whatever step noticed it first, the cause is this */
		graft_err_clear(err);
		r = graft_err_set(err, -ESRCH, "process %d exited during the apply", (int)pid);
	}
	apply_ctx_free(&c);
	return r;
}
