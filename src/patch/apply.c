/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The apply transaction.
 *
 * While the target runs: find the mapping with the patch's build-id, check
 * every function against its pre-image (or recognise an earlier graft jump
 * on it: stacking), pick an address within +-2 GiB of the object, link the
 * patch for that address, and on one briefly stopped thread create a memfd
 * named "graft:<id>", fill it from our side through /proc/PID/fd (sealed
 * afterwards), map it read+execute, as the dynamic loader maps a library's
 * text, and mprotect the data part, if any, to read+write. Code is never
 * writable in the target, and nothing is ever made executable after the
 * fact: W^X policies (MemoryDenyWriteExecute=, PR_SET_MDWE) allow both.
 *
 * Then stop the world (patch/stw.c): re-check the bytes about to be
 * overwritten, write each 5-byte jump through /proc/PID/mem keeping the
 * bytes it replaces in the region header, mark the header applied, let go.
 * Any failure after the first remote change unwinds in reverse order.
 *
 * In a host-wide run (opts->hold_home), a process with a single thread
 * (most of a host's) is not let go between the two: its thread maps the
 * region on its way home and stops there (graft_rsys_end_chain with hold),
 * so the region is read back and the world is stopped without another
 * interrupt, wake-up and stop. On 2 CPUs that is ~15 % of a host-wide
 * apply (docs/benchmarks.md, session 7), for one longer pause instead of
 * two short ones; a single process is spared that.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "link/link.h"
#include "patch/apply.h"
#include "patch/stw.h"
#include "ptrace/pt.h"
#include "util/log.h"

#define REACH	  ((uint64_t)0x7ff00000) /* a little under 2 GiB */
#define ADDR_MIN  ((uint64_t)16 << 20)
#define ADDR_MAX  ((uint64_t)0x7ffffffff000)
#define HEAP_ROOM ((uint64_t)256 << 20)

/* One target object of a patch mapped by this process: one region. */
struct apply_unit {
	const struct graft_patch *patch;
	size_t pi;   /* index of the patch in the batch */
	uint32_t ti; /* index in patch->targets */
	const struct graft_object *target;
	size_t *fidx; /* the patch's functions for this target */
	size_t nfuncs;
	const struct graft_region **prev; /* per function: the patch it stacks on */
	size_t *prev_idx;
	struct graft_link_plan *plan;
	struct graft_region_hdr *hdr;
	size_t hdr_size;
	uint64_t base;
	bool mapped;
	uint64_t mapped_size;
	int queued_fd; /* its memfd in the target, mapped by the chain on the way home; or -1 */
};

struct apply_ctx {
	pid_t pid;
	const struct graft_patch *const *patches; /* the batch: all or none go in */
	size_t npatches;
	bool *skip; /* per patch: already applied, left out */
	int memfd;
	struct graft_maps maps;
	struct graft_objects objs;
	struct apply_unit *units;
	size_t nunits;
	const struct apply_unit *linking; /* the unit being linked, for the resolver */
	const struct graft_op_opts *opts;
	struct graft_regions regions;
	struct graft_rsys rs;
	bool rs_active;
	int rs_fd; /* the last region's memfd in the target, closed on the way out */
	/* calls the borrowed thread makes on its way home (graft_rsys_end_chain) */
	struct graft_rsys_call tail[GRAFT_RSYS_CHAIN_MAX];
	size_t ntail;
	bool chained;		       /* it was let go to make them */
	bool chain_held;	       /* ... still attached, to stop once home */
	bool held_home;		       /* ... where it stopped: rs is that stop */
	uint64_t held_since_ns;	       /* since then it has not run its own code */
	bool boosted;		       /* graft_sched_boost for the held thread's sake */
	bool no_chain;		       /* every call made and checked on the spot */
	struct graft_rsys_chain chain; /* from where, to take them back */
	int chain_fd;		       /* the fd its last call closes */
	bool dry;		       /* graft_apply_check: stop before the first change */
	bool touched;		       /* a thread of the process was stopped */
	/* per object, opened lazily for symbol lookup */
	struct graft_elf **obj_elf;
	int *obj_fd;
	struct graft_err *err;
};

static void close_target_fd(struct apply_ctx *c)
{
	if (c->rs_fd >= 0 && graft_rsys_close(&c->rs, c->rs_fd, NULL) < 0)
		graft_warn("cannot close fd %d in pid %d", c->rs_fd, (int)c->pid);
	c->rs_fd = -1;
}

static void tail_add(struct apply_ctx *c, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		     uint64_t a3, uint64_t a4, uint64_t a5)
{
	assert(c->ntail < GRAFT_RSYS_CHAIN_MAX);
	c->tail[c->ntail++] = (struct graft_rsys_call){nr, {a0, a1, a2, a3, a4, a5}};
}

/*
 * Let the borrowed thread go. The mappings queued by map_region are made
 * on its way home, then every memfd still open in it is closed, the last
 * close last: when that fd is gone, the chain is done (chain_done).
 */
static void sched_unboost(struct apply_ctx *c)
{
	if (c->boosted)
		graft_sched_unboost();
	c->boosted = false;
}

static void rsys_finish(struct apply_ctx *c, bool hold)
{
	int last = -1, r;

	for (size_t i = 0; i < c->nunits; i++)
		if (c->units[i].queued_fd >= 0) {
			last = c->units[i].queued_fd;
			tail_add(c, SYS_close, (uint64_t)last, 0, 0, 0, 0, 0);
		}
	if (c->rs_fd >= 0) {
		last = c->rs_fd;
		tail_add(c, SYS_close, (uint64_t)last, 0, 0, 0, 0, 0);
	}
	if (c->ntail == 0) {
		graft_rsys_end(&c->rs);
	} else {
		if (graft_test_fault("chain-stopped"))
			(void)kill(c->pid, SIGSTOP); /* stopped as the thread is let go */
		/* held: the process stays stopped until the stop of the world ends */
		if (hold && !c->boosted) {
			graft_sched_boost();
			c->boosted = true;
		}
		if (hold)
			c->held_since_ns = graft_now_ns();
		r = graft_rsys_end_chain(&c->rs, c->tail, c->ntail, &c->chain, hold);
		if (r < 0 && r != -ESRCH) /* gone: what follows says the process exited */
			graft_warn("pid %d: the last remote calls were not made: %s", (int)c->pid,
				   strerror(-r));
		c->chained = r > 0;
		c->chain_held = r == 2;
		if (!c->chain_held)
			sched_unboost(c);
		c->chain_fd = last;
	}
	c->ntail = 0;
	c->rs_fd = -1;
	c->rs_active = c->held_home = false;
}

static void apply_ctx_free(struct apply_ctx *c)
{
	if (c->rs_active)
		rsys_finish(c, false);
	sched_unboost(c);
	for (size_t i = 0; c->obj_elf && i < c->objs.n; i++) {
		graft_elf_free(c->obj_elf[i]);
		if (c->obj_fd[i] >= 0)
			(void)close(c->obj_fd[i]);
	}
	free(c->obj_elf);
	free(c->obj_fd);
	for (size_t i = 0; i < c->nunits; i++) {
		free(c->units[i].fidx);
		free(c->units[i].prev);
		free(c->units[i].prev_idx);
		free(c->units[i].hdr);
		graft_link_plan_free(c->units[i].plan);
	}
	free(c->units);
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

static const struct graft_object *object_with_build_id(struct apply_ctx *c,
						       const struct graft_patch_target *t)
{
	for (size_t i = 0; i < c->objs.n; i++) {
		const struct graft_object *o = &c->objs.v[i];

		if (o->build_id_len == t->build_id_len &&
		    memcmp(o->build_id, t->build_id, t->build_id_len) == 0)
			return o;
	}
	return NULL;
}

/*
 * Each target the process maps gets a unit. A target it does not map is
 * skipped (a library fix reaches programs without the patched executable),
 * but one it maps in another build refuses the whole patch.
 */
static int find_targets_of(struct apply_ctx *c, size_t pi)
{
	const struct graft_patch *p = c->patches[pi];
	char want[2 * GRAFT_BUILD_ID_MAX + 1];
	size_t before = c->nunits;

	for (uint32_t k = 0; k < p->ntargets; k++) {
		const struct graft_patch_target *t = &p->targets[k];
		const struct graft_object *o = object_with_build_id(c, t);
		const char *base = strrchr(t->name, '/');

		if (o) {
			c->units[c->nunits++] = (struct apply_unit){
				.patch = p, .pi = pi, .ti = k, .target = o, .queued_fd = -1};
			continue;
		}
		base = base ? base + 1 : t->name;
		graft_hex(t->build_id, t->build_id_len, want);
		for (size_t i = 0; i < c->objs.n; i++) {
			const struct graft_object *x = &c->objs.v[i];
			const char *ob = strrchr(x->path, '/');
			char have[2 * GRAFT_BUILD_ID_MAX + 1];

			ob = ob ? ob + 1 : x->path;
			if (strncmp(ob, base, strlen(base)) != 0)
				continue;
			graft_hex(x->build_id, x->build_id_len, have);
			return graft_err_setk(c->err, GRAFT_ERR_UNSAFE, -ENOEXEC,
					      "'%s' in this process has build-id %s, the patch is "
					      "for build-id %s (another build)",
					      x->path, x->build_id_len ? have : "(none)", want);
		}
	}
	if (c->nunits > before)
		return 0;
	graft_hex(p->targets[0].build_id, p->targets[0].build_id_len, want);
	if (p->ntargets == 1)
		return graft_err_set(
			c->err, -ENOENT,
			"the process does not map the patch's target '%s' (build-id %s)",
			p->targets[0].name, want);
	return graft_err_set(c->err, -ENOENT,
			     "the process maps none of the patch's %zu targets ('%s', ...)",
			     p->ntargets, p->targets[0].name);
}

static int find_targets(struct apply_ctx *c)
{
	size_t max = 0;
	int r;

	for (size_t i = 0; i < c->npatches; i++)
		max += c->patches[i]->ntargets;
	c->units = calloc(max + 1, sizeof(*c->units));
	if (!c->units)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->npatches; i++) {
		if (c->skip[i])
			continue;
		r = find_targets_of(c, i);
		if (r < 0)
			return c->npatches > 1 ? graft_err_prefix(c->err, r, "patch '%s'",
								  c->patches[i]->id)
					       : r;
	}
	return 0;
}

/*
 * Two patches of one batch must not replace the same function: which one
 * would be on top is the order they are applied in, so apply them one
 * after the other instead.
 */
static int batch_overlap(struct apply_ctx *c)
{
	for (size_t a = 0; a < c->nunits; a++)
		for (size_t b = a + 1; b < c->nunits; b++) {
			const struct apply_unit *ua = &c->units[a], *ub = &c->units[b];

			if (ua->pi == ub->pi || ua->target != ub->target)
				continue;
			for (size_t i = 0; i < ua->patch->nfuncs; i++)
				for (size_t k = 0; k < ub->patch->nfuncs; k++) {
					const struct graft_patch_func *fa = &ua->patch->funcs[i];
					const struct graft_patch_func *fb = &ub->patch->funcs[k];

					if (fa->target != ua->ti || fb->target != ub->ti ||
					    fa->old_offset != fb->old_offset)
						continue;
					return graft_err_setk(
						c->err, GRAFT_ERR_UNSAFE, -EINVAL,
						"patches '%s' and '%s' both replace '%s'; apply "
						"them one after the other",
						ua->patch->id, ub->patch->id, fa->old_name);
				}
		}
	return 0;
}

/* --- run-pre ----------------------------------------------------------- */

/* Check one function; fills the header entry's saved bytes. */
static int runpre_func(struct apply_ctx *c, const struct apply_unit *u,
		       const struct graft_patch_func *f, struct graft_region_func *rf,
		       const struct graft_region **prev, size_t *prev_idx)
{
	_cleanup_free_ uint8_t *cur = malloc(f->pre_len);
	const struct graft_object *target = u->target;
	uint64_t addr = target->base + f->old_offset;
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
	if (!m || !m->x || m->inode != target->inode || m->dev_major != target->dev_major ||
	    m->dev_minor != target->dev_minor || addr + f->pre_len < addr ||
	    addr + f->pre_len > m->end)
		return graft_err_setk(c->err, GRAFT_ERR_UNSAFE, -EFAULT,
				      "function '%s' at 0x%" PRIx64
				      " is not inside the code of '%s'; refusing to write there",
				      f->old_name, addr, target->path);
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

static int target_tpoff(struct apply_ctx *c, const struct graft_object *target, uint64_t off,
			uint64_t *out)
{
	struct graft_elf *e;
	struct graft_elf_tls tls;
	size_t ti = (size_t)(target - c->objs.v);

	if (!target->is_exec)
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
	r = graft_rsys_begin(c->pid, c->memfd, &c->maps, c->opts->cache, &c->rs, c->err);
	if (r == 0)
		c->rs_active = c->touched = true;
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
		if (s.type == STT_GNU_IFUNC && !c->dry) {
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
	const struct graft_patch *p = c->linking->patch;
	const struct graft_patch_sym *s = graft_patch_find_sym(p, name);

	(void)err;
	if (s) {
		bool tls = s->flags & GRAFT_SYM_TLS;
		const struct graft_object *target = NULL;

		for (size_t i = 0; i < c->nunits; i++)
			if (c->units[i].patch == p && c->units[i].ti == s->target)
				target = c->units[i].target;
		if (!target)
			return graft_err_set(c->err, -ENOENT,
					     "'%s' is bound to target '%s', which pid %d does not "
					     "map",
					     name, p->targets[s->target].name, (int)c->pid);
		if (tls != (ref == GRAFT_REF_TPOFF))
			return graft_err_set(c->err, -EINVAL,
					     "'%s' is %sthread-local in the target but used as "
					     "%sthread-local by the patch",
					     name, tls ? "" : "not ", tls ? "not " : "");
		if (tls)
			return target_tpoff(c, target, s->target_offset, value);
		*value = target->base + s->target_offset;
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

/*
 * Before Linux 4.17 MAP_FIXED_NOREPLACE is an unknown flag and the address
 * only a hint: a mapping made on the way home could land elsewhere unseen.
 * Call by call, graft sees where it landed and takes it back.
 */
static bool kernel_has_noreplace(void)
{
	static atomic_int known; /* 0 not asked, 1 yes, 2 no */
	int k = atomic_load(&known);

	if (!k) {
		struct utsname u;
		unsigned major = 0, minor = 0;

		k = uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
				    (major > 4 || (major == 4 && minor >= 17))
			    ? 1
			    : 2;
		atomic_store(&known, k);
	}
	return k == 1;
}

static int map_region(struct apply_ctx *c, struct apply_unit *u, const uint8_t *img)
{
	const struct graft_link_plan *plan = u->plan;
	char name[128], fdpath[64];
	_cleanup_close_ int lfd = -1;
	int tfd, r;
	uint64_t got = 0;

	close_target_fd(c); /* the previous region's */
	(void)snprintf(name, sizeof(name), GRAFT_MEMFD_PREFIX "%s", u->patch->id);
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
	/* the write sizes the file: no ftruncate first */
	if (pwrite(lfd, img, plan->total, 0) != (ssize_t)plan->total) {
		r = graft_err_set(c->err, -errno, "cannot fill the patch memfd: %s",
				  strerror(errno));
		goto close_tfd;
	}
	/* nobody can change the patch code through the file from now on */
	if (fcntl(lfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		graft_warn("cannot seal the patch memfd: %s", strerror(errno));
	/*
	 * The header shares the text's protection (it is sealed, like all of
	 * the file): one call fewer per process, where a host-wide run spends
	 * its time, and the way older ELF layouts map their headers too.
	 */
	if (!c->no_chain && kernel_has_noreplace() &&
	    c->ntail + 3 + c->nunits <= GRAFT_RSYS_CHAIN_MAX) {
		/* made by the thread on its way home; check_mapped sees the result */
		/* (the test fault: the first one's address is taken by the time it gets there) */
		tail_add(c, SYS_mmap,
			 graft_test_fault("chain-mmap-taken") && !c->ntail ? c->maps.v[0].start
									   : u->base,
			 plan->total, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED_NOREPLACE,
			 (uint64_t)tfd, 0);
		if (plan->data_size)
			tail_add(c, SYS_mprotect, u->base + plan->data_off, plan->data_size,
				 PROT_READ | PROT_WRITE, 0, 0, 0);
		u->queued_fd = tfd;
		return 0;
	}
	r = graft_rsys_mmap(&c->rs, u->base, plan->total, PROT_READ | PROT_EXEC,
			    MAP_PRIVATE | MAP_FIXED_NOREPLACE, tfd, 0, &got, c->err);
	if (r == 0 && got != u->base) {
		/* an old kernel took NOREPLACE as a hint */
		(void)graft_rsys_munmap(&c->rs, got, plan->total, NULL);
		r = -EEXIST;
	}
	if (r == -EEXIST) {
		/* the address was taken meanwhile: pick again, the caller relinks */
		graft_maps_free(&c->maps);
		if ((r = graft_proc_read_maps(c->pid, &c->maps, c->err)) < 0)
			goto close_tfd;
		u->base = pick_address(&c->maps, plan->total, u->target->lo, u->target->hi);
		r = u->base ? -EAGAIN
			    : graft_err_set(c->err, -ENOMEM, "no free address within 2 GiB of '%s'",
					    u->target->path);
		goto close_tfd;
	}
	if (r < 0) {
		r = graft_err_set(c->err, r, "mmap in the target failed: %s", strerror(-r));
		goto close_tfd;
	}
	u->mapped = true;
	u->mapped_size = plan->total;
	r = 0;
	if (plan->data_size)
		r = graft_rsys_mprotect(&c->rs, u->base + plan->data_off, plan->data_size,
					PROT_READ | PROT_WRITE, c->err);
	if (r < 0) {
		r = graft_err_set(c->err, r, "mprotect in the target failed: %s", strerror(-r));
		goto close_tfd;
	}
	/* closed with the next region's work, or as the thread goes home */
	c->rs_fd = tfd;
	return 0;
close_tfd:
	if (graft_rsys_close(&c->rs, tfd, NULL) < 0)
		graft_warn("cannot close fd %d in pid %d", tfd, (int)c->pid);
	return r;
}

static void unmap_regions(struct apply_ctx *c)
{
	struct graft_err e = {0};
	bool any = false;

	for (size_t i = 0; i < c->nunits; i++)
		any |= c->units[i].mapped || c->units[i].queued_fd >= 0;
	if (!any)
		return;
	if (!c->rs_active) {
		if (graft_rsys_begin(c->pid, c->memfd, &c->maps, c->opts->cache, &c->rs, &e) < 0) {
			graft_warn("cannot unmap the patch region in pid %d: %s", (int)c->pid,
				   e.msg);
			return;
		}
		c->rs_active = true;
	}
	close_target_fd(c);
	c->ntail = 0; /* the queued mappings are not made */
	for (size_t i = c->nunits; i-- > 0;) {
		struct apply_unit *u = &c->units[i];

		if (u->queued_fd >= 0 && graft_rsys_close(&c->rs, u->queued_fd, NULL) < 0)
			graft_warn("cannot close fd %d in pid %d", u->queued_fd, (int)c->pid);
		u->queued_fd = -1;
		if (!u->mapped)
			continue;
		if (graft_rsys_munmap(&c->rs, u->base, u->mapped_size, &e) != 0)
			graft_warn("cannot unmap the patch region in pid %d: %s", (int)c->pid,
				   e.msg);
		u->mapped = false;
	}
}

/* --- the chain's outcome ---------------------------------------------------- */

#define CHAIN_WAIT_NS (2000ull * 1000000)

/* Has the thread made the chain's last call, the close of chain_fd? */
static bool chain_done(const void *ctx)
{
	const struct apply_ctx *c = ctx;
	char path[64], link[256];
	ssize_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)c->pid, c->chain_fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return true; /* closed (or the process is gone: the maps will say) */
	link[n] = '\0';
	return !graft_region_path_is(link, NULL); /* the number was reused */
}

/*
 * The borrowed thread was let go to map the regions and close their
 * memfds on its way home (rsys_finish): wait until it has. A held thread
 * (alone in its process) is waited for until it stops at home, and stays
 * stopped there for the stop of the world; any other is watched for the
 * close of the last memfd. A thread that does not get there (a SIGSTOP
 * came just before it ran) is stopped again and, not having begun, given
 * back its own registers: then nothing was mapped and the memfds are still
 * open for unmap_regions to close.
 */
static int chain_settle(struct apply_ctx *c)
{
	int r;

	if (!c->chained)
		goto done;
	c->chained = false;
	if (c->chain_held) {
		/* it stops at home, or is stopped where it is by the deadline */
		c->chain_held = false;
		r = graft_rsys_chain_wait(&c->rs, graft_now_ns() + CHAIN_WAIT_NS, c->err);
		if (r < 0)
			return graft_err_prefix(c->err, r, "the thread mapping the patch");
		c->rs_active = true;
		c->held_home = r == 1;
		if (c->held_home)
			goto done;
	} else if (graft_poll_until(chain_done, c, CHAIN_WAIT_NS)) {
		goto done;
	}
	r = rsys_ensure(c);
	if (r < 0)
		return graft_err_prefix(c->err, r, "the thread mapping the patch did not run");
	if (graft_rsys_chain_cancel(&c->rs, &c->chain))
		return graft_err_set(c->err, -ETIMEDOUT,
				     "process %d did not run to map the patch (is it stopped?); "
				     "nothing was mapped",
				     (int)c->pid);
	/* it had begun: let it finish */
	for (size_t i = 0; i < c->nunits; i++)
		c->units[i].queued_fd = -1;
	graft_rsys_end(&c->rs);
	c->rs_active = false;
	if (!graft_poll_until(chain_done, c, CHAIN_WAIT_NS)) {
		graft_warn("pid %d stopped while mapping patch '%s'; the region appears when it "
			   "runs again, and 'graft recover' removes it",
			   (int)c->pid, c->units[0].patch->id);
		return graft_err_set(c->err, -ETIMEDOUT,
				     "process %d stopped while the patch was being mapped",
				     (int)c->pid);
	}
done:
	for (size_t i = 0; i < c->nunits; i++)
		c->units[i].queued_fd = -1; /* closed by the chain */
	return 0;
}

/*
 * What the chain mapped, read from the maps: each unit's region where it
 * was meant to be, its code r-x and its data rw-. A unit found mapped is
 * marked so, for unmap_regions should anything fail.
 */
static int check_mapped(struct apply_ctx *c, const struct graft_maps *maps)
{
	/* all marked first: what was mapped must be found again to be taken out */
	for (size_t i = 0; i < c->nunits; i++) {
		struct apply_unit *u = &c->units[i];
		const struct graft_map *h = graft_maps_find(maps, u->base);

		if (!u->mapped && h && h->start == u->base &&
		    graft_region_path_is(h->path, u->patch->id)) {
			u->mapped = true;
			u->mapped_size = u->plan->total;
		}
	}
	for (size_t i = 0; i < c->nunits; i++) {
		const struct apply_unit *u = &c->units[i];
		const struct graft_link_plan *plan = u->plan;
		const struct graft_map *t, *d;

		if (!u->mapped)
			return graft_err_set(c->err, -EADDRNOTAVAIL,
					     "the patch region was not mapped at 0x%" PRIx64
					     " in the process",
					     u->base);
		t = graft_maps_find(maps, u->base + plan->text_off);
		d = plan->data_size ? graft_maps_find(maps, u->base + plan->data_off) : NULL;
		if (!t || !t->x || t->w || (plan->data_size && (!d || !d->w || d->x)))
			return graft_err_set(c->err, -EIO,
					     "the patch region at 0x%" PRIx64
					     " did not get its protections (code r-x, data rw-)",
					     u->base);
	}
	return 0;
}

/*
 * The mappings where the units were to be mapped: asked of the kernel for
 * just those addresses where it can (about 10 us, where reading and parsing
 * a small process's whole maps took ~40), else the whole maps.
 */
static int read_units_maps(struct apply_ctx *c, struct graft_maps *maps)
{
	uint64_t(*ranges)[2] = calloc(c->nunits + 1, sizeof(*ranges));
	int r;

	if (!ranges)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->nunits; i++) {
		ranges[i][0] = c->units[i].base;
		ranges[i][1] = c->units[i].base + c->units[i].plan->total;
	}
	r = graft_proc_maps_range(c->pid, (const uint64_t(*)[2])ranges, c->nunits, maps, NULL);
	free(ranges);
	return r == 0 ? 0 : graft_proc_read_maps(c->pid, maps, c->err);
}

/*
 * Going live is allowed only if any later graft can find the patch again
 * from the process alone: read the regions back the way status and revert do.
 */
static int verify_discoverable(struct apply_ctx *c)
{
	struct graft_maps maps = {0}; /* the units' mappings, read back */
	struct graft_regions regs = {0};
	int r;

	r = read_units_maps(c, &maps);
	if (r < 0)
		return r;
	r = check_mapped(c, &maps);
	if (r == 0)
		r = graft_region_list(c->memfd, &maps, &regs, NULL, c->err);
	graft_maps_free(&maps);
	for (size_t i = 0; r == 0 && i < c->nunits; i++) {
		const struct apply_unit *u = &c->units[i];
		bool found = false;

		for (size_t k = 0; k < regs.n; k++)
			found |= regs.v[k].addr == u->base &&
				 !strcmp(regs.v[k].hdr->patch_id, u->patch->id) &&
				 regs.v[k].hdr->nfuncs == u->hdr->nfuncs;
		if (!found)
			r = graft_err_set(c->err, -EIO,
					  "the patch region cannot be read back from the process; "
					  "not going live");
	}
	graft_regions_free(&regs);
	return r;
}

/* --- the commit, inside the stop ------------------------------------------ */

static void undo_jumps(struct apply_ctx *c, size_t unit, uint32_t done)
{
	for (size_t k = unit + 1; k-- > 0;) {
		const struct graft_region_hdr *h = c->units[k].hdr;
		uint32_t n = k == unit ? done : h->nfuncs;

		while (n-- > 0) {
			const struct graft_region_func *f = &h->funcs[n];

			if (graft_mem_write(c->memfd, f->old_addr, f->saved, GRAFT_JUMP_SIZE,
					    NULL) < 0)
				graft_warn("cannot restore '%s' at 0x%" PRIx64 " in pid %d",
					   f->name, f->old_addr, (int)c->pid);
		}
	}
}

/* Every unit's jumps, all or none; then every header says applied. */
static int apply_commit(void *ctx, struct graft_pt_world *w, struct graft_err *err)
{
	struct apply_ctx *c = ctx;
	uint32_t state = GRAFT_REGION_APPLIED, done = 0;
	size_t k;
	int r = 0;

	(void)w;
	for (k = 0; k < c->nunits; k++)
		for (uint32_t i = 0; i < c->units[k].hdr->nfuncs; i++) {
			const struct graft_region_func *f = &c->units[k].hdr->funcs[i];
			uint8_t cur[GRAFT_JUMP_SIZE];

			r = graft_mem_read(c->memfd, f->old_addr, cur, sizeof(cur), err);
			if (r < 0)
				return r;
			if (memcmp(cur, f->saved, sizeof(cur)) != 0)
				return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EAGAIN,
						      "function '%s' changed while the patch was "
						      "prepared",
						      f->name);
		}
	graft_test_die_at("apply-stopped");
	for (k = 0; k < c->nunits; k++) {
		const struct graft_region_hdr *h = c->units[k].hdr;

		for (done = 0; done < h->nfuncs; done++) {
			r = graft_mem_write(c->memfd, h->funcs[done].old_addr, h->funcs[done].jump,
					    GRAFT_JUMP_SIZE, err);
			if (r < 0)
				goto undo;
			graft_test_die_at("apply-jump");
		}
	}
	graft_test_die_at("apply-jumps-done");
	for (size_t i = 0; i < c->nunits; i++) {
		r = graft_mem_write(c->memfd,
				    c->units[i].base + offsetof(struct graft_region_hdr, state),
				    &state, sizeof(state), err);
		if (r < 0) {
			/* the headers written so far go back to prepared */
			uint32_t prepared = GRAFT_REGION_PREPARED;

			while (i-- > 0)
				(void)graft_mem_write(
					c->memfd,
					c->units[i].base + offsetof(struct graft_region_hdr, state),
					&prepared, sizeof(prepared), NULL);
			k = c->nunits - 1;
			done = c->units[k].hdr->nfuncs;
			goto undo;
		}
	}
	return 0;
undo:
	undo_jumps(c, k, done);
	return r;
}

/* --- the transaction -------------------------------------------------------- */

static int build_header(struct apply_ctx *c, struct apply_unit *u)
{
	const struct graft_patch *p = u->patch;
	const struct graft_patch_target *t = &p->targets[u->ti];
	struct graft_region_hdr *h = u->hdr;
	uint64_t seq = 0;

	memcpy(h->magic, GRAFT_REGION_MAGIC, 8);
	h->version = GRAFT_REGION_VERSION;
	h->hdr_size = (uint32_t)u->hdr_size;
	h->region_size = u->plan->total;
	for (size_t i = 0; i < c->regions.n; i++)
		if (c->regions.v[i].hdr->seq > seq)
			seq = c->regions.v[i].hdr->seq;
	/* the same for every region of a patch; a batch goes in its order */
	h->seq = seq + 1 + u->pi;
	h->applied_ns = graft_wall_ns();
	h->state = GRAFT_REGION_PREPARED;
	h->applier_pid = (uint32_t)getpid();
	h->target_base = u->target->base;
	h->code_start = u->base + u->plan->text_off;
	h->code_end = u->base + u->plan->text_off + u->plan->text_size;
	h->build_id_len = (uint32_t)t->build_id_len;
	memcpy(h->build_id, t->build_id, t->build_id_len);
	(void)snprintf(h->patch_id, sizeof(h->patch_id), "%s", p->id);
	(void)snprintf(h->target_name, sizeof(h->target_name), "%s", u->target->path);
	(void)snprintf(h->description, sizeof(h->description), "%s", p->description);
	for (uint32_t i = 0; i < h->nfuncs; i++) {
		struct graft_region_func *f = &h->funcs[i];
		const char *new_name = p->funcs[u->fidx[i]].new_name;
		uint64_t addr, size;

		if (graft_link_symbol(u->plan, u->base, new_name, &addr, &size) < 0)
			return graft_err_set(c->err, -ENOENT,
					     "replacement '%s' not found after linking", new_name);
		f->new_addr = addr;
		f->new_size = (uint32_t)size;
		if (graft_jump_encode(f->old_addr, addr, f->jump) < 0)
			return graft_err_set(c->err, -ERANGE, "'%s' is out of jump reach", f->name);
	}
	return 0;
}

/* Run-pre and layout of one unit: everything decided before the process is touched. */
static int check_unit(struct apply_ctx *c, struct apply_unit *u)
{
	const struct graft_patch *p = u->patch;
	int r;

	u->fidx = calloc(p->nfuncs, sizeof(size_t));
	u->prev = calloc(p->nfuncs, sizeof(*u->prev));
	u->prev_idx = calloc(p->nfuncs, sizeof(size_t));
	if (!u->fidx || !u->prev || !u->prev_idx)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nfuncs; i++)
		if (p->funcs[i].target == u->ti)
			u->fidx[u->nfuncs++] = i;
	u->hdr_size =
		sizeof(struct graft_region_hdr) + u->nfuncs * sizeof(struct graft_region_func);
	u->hdr = calloc(1, u->hdr_size);
	if (!u->hdr)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	u->hdr->nfuncs = (uint32_t)u->nfuncs;
	for (size_t i = 0; i < u->nfuncs; i++) {
		r = runpre_func(c, u, &p->funcs[u->fidx[i]], &u->hdr->funcs[i], &u->prev[i],
				&u->prev_idx[i]);
		if (r < 0)
			return r;
	}
	r = graft_link_plan_subset(p->elf, u->hdr_size, p->sec_target, (uint8_t)u->ti, &u->plan,
				   c->err);
	if (r < 0)
		return r;
	u->base = pick_address(&c->maps, u->plan->total, u->target->lo, u->target->hi);
	if (!u->base)
		return graft_err_set(c->err, -ENOMEM, "no free address within 2 GiB of '%s'",
				     u->target->path);
	return 0;
}

/* Link and map one checked unit's region while the process runs. */
static int map_unit(struct apply_ctx *c, struct apply_unit *u)
{
	int r;

	/*
	 * Link while the target runs; a thread is stopped only for IFUNC
	 * resolvers (lazily, during linking) and the mapping syscalls.
	 */
	for (int tries = 0;; tries++) {
		_cleanup_free_ uint8_t *img = NULL;
		struct graft_link_resolver resolver = {apply_resolve, c};

		c->linking = u;
		r = graft_link_relocate(u->plan, u->base, &resolver, &img, c->err);
		if (r < 0)
			return graft_err_prefix(c->err, r, "cannot link the patch");
		r = build_header(c, u);
		if (r < 0)
			return r;
		memcpy(img, u->hdr, u->hdr_size);
		if (c->dry)
			return 0;
		r = rsys_ensure(c);
		if (r < 0)
			return r;
		r = map_region(c, u, img);
		if (r != -EAGAIN || tries >= 8)
			break;
		graft_err_clear(c->err);
	}
	return r;
}

/*
 * A dry run changes nothing, but what only a stopped thread can tell is
 * asked of one: whether the process would let graft run its system calls
 * (seccomp, checked in graft_rsys_begin), and whether a tracer holds it.
 */
static int dry_run_finish(struct apply_ctx *c)
{
	_cleanup_free_ pid_t *tids = NULL;
	size_t n = 0;
	bool seccomp = false;
	int r = graft_proc_tasks(c->pid, &tids, &n, c->err);

	for (size_t i = 0; r == 0 && i < n; i++) {
		struct graft_proc_status st;
		char comm[64];

		if (graft_proc_status_read(tids[i], &st, NULL) < 0)
			continue;
		seccomp |= st.seccomp != 0;
		if (st.tracer <= 0 || st.tracer == getpid())
			continue;
		graft_proc_comm(st.tracer, comm, sizeof(comm));
		r = graft_err_setk(c->err, GRAFT_ERR_UNSAFE, -EBUSY,
				   "thread %d is already traced by pid %d (%s)", (int)tids[i],
				   (int)st.tracer, comm);
	}
	if (r == 0 && seccomp && (r = rsys_ensure(c)) == 0) {
		graft_rsys_end(&c->rs);
		c->rs_active = false;
	}
	return r;
}

static int unit_fail(struct apply_ctx *c, const struct apply_unit *u, int r)
{
	return c->npatches > 1 ? graft_err_prefix(c->err, r, "patch '%s'", u->patch->id) : r;
}

/* Link and map every unit, let the thread go, and see that all is in place. */
static int map_all(struct apply_ctx *c)
{
	int r;

	for (size_t i = 0; i < c->nunits; i++) {
		r = map_unit(c, &c->units[i]);
		if (r < 0)
			return unit_fail(c, &c->units[i], r);
	}
	if (c->dry)
		return dry_run_finish(c);
	rsys_finish(c, c->opts->hold_home);
	r = chain_settle(c);
	return r < 0 ? r : verify_discoverable(c);
}

/* The stop's busy ranges: each old function, and the code currently replacing it. */
static size_t busy_ranges(const struct apply_ctx *c, struct graft_busy_range *ranges)
{
	size_t n = 0;

	for (size_t k = 0; k < c->nunits; k++) {
		const struct apply_unit *u = &c->units[k];

		for (size_t i = 0; i < u->nfuncs; i++) {
			const struct graft_region_func *f = &u->hdr->funcs[i];

			ranges[n++] = (struct graft_busy_range){
				f->old_addr, f->old_addr + f->old_size, true, f->name};
			if (u->prev[i]) {
				const struct graft_region_func *pf =
					&u->prev[i]->hdr->funcs[u->prev_idx[i]];

				ranges[n++] = (struct graft_busy_range){
					pf->new_addr, pf->new_addr + pf->new_size, true, f->name};
			}
		}
	}
	return n;
}

static int apply_prepare_and_commit(struct apply_ctx *c, const struct graft_op_opts *opts,
				    struct graft_op_result *res)
{
	_cleanup_free_ struct graft_busy_range *ranges = NULL;
	size_t nfuncs = 0;
	struct graft_stw stw = {0};
	struct graft_pt_thread held;
	int r;

	/* every unit's checks before any unit touches the process */
	for (size_t i = 0; i < c->nunits; i++) {
		r = check_unit(c, &c->units[i]);
		if (r < 0)
			return unit_fail(c, &c->units[i], r);
		nfuncs += c->units[i].nfuncs;
	}
	ranges = calloc(2 * nfuncs + 1, sizeof(*ranges));
	if (!ranges)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	/* set up before the process is touched: a held thread waits for none of it */
	stw = (struct graft_stw){
		.pid = c->pid,
		.memfd = c->memfd,
		.ranges = ranges,
		.nranges = busy_ranges(c, ranges),
		.timeout_ms = opts->timeout_ms,
		.commit = apply_commit,
		.gate = opts->gate,
		/* for the threads' stacks: what the mapping added does not matter */
		.maps = &c->maps,
		.ctx = c};
	if (!c->dry && (r = graft_stw_prepare(&stw, c->err)) < 0)
		return r;
	r = map_all(c);
	if (r == -EADDRNOTAVAIL && !c->no_chain) {
		/*
		 * A mapping made on the way home found its address taken
		 * meanwhile (the process mapped something there): do it again
		 * the slow way, which sees the error and picks another address.
		 */
		graft_debug("pid %d: %s; mapping again call by call", (int)c->pid, c->err->msg);
		unmap_regions(c);
		rsys_finish(c, false);
		graft_err_clear(c->err);
		c->no_chain = true;
		for (size_t i = 0; i < c->nunits; i++)
			c->units[i].mapped = false;
		r = map_all(c);
	}
	if (r < 0 || c->dry) {
		graft_stw_free(&stw);
		return r;
	}
	if (c->held_home && c->rs_active) {
		/* held at home after its remote calls (the process's one thread): stopped already */
		graft_rsys_hand_over(&c->rs, &held);
		c->rs_active = c->held_home = false;
		stw.held = &held;
		stw.held_since_ns = c->held_since_ns;
	}
	r = graft_stw_run(&stw, c->err);
	sched_unboost(c);
	res->stop_ns = stw.stop_ns;
	res->attempts = stw.attempts;
	res->nthreads = stw.nthreads;
	if (r < 0)
		return r;
	for (size_t k = 0; k < c->nunits; k++) {
		struct apply_unit *u = &c->units[k];

		u->mapped = false; /* live now: it stays */
		u->hdr->stop_ns = stw.stop_ns;
		(void)graft_mem_write(c->memfd,
				      u->base + offsetof(struct graft_region_hdr, stop_ns),
				      &u->hdr->stop_ns, sizeof(u->hdr->stop_ns), NULL);
		res->nfuncs += u->nfuncs;
	}
	res->region_addr = c->units[0].base;
	for (size_t i = 0; i < c->npatches; i++)
		res->ntargets += c->skip[i] ? 0 : c->patches[i]->ntargets;
	res->ntargets_mapped = c->nunits;
	return 0;
}

int graft_refuse_shared_mm(pid_t pid, pid_t other, struct graft_err *err)
{
	return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EBUSY,
			      "pid %d shares its memory with pid %d (a vfork child that has not "
			      "exec'd yet, or clone(CLONE_VM)): graft cannot stop both; try again "
			      "when one has exec'd or exited",
			      (int)pid, (int)other);
}

static int apply_run(pid_t pid, const struct graft_patch *const *patches, size_t npatches,
		     const struct graft_op_opts *opts, bool dry, struct graft_op_result *res,
		     bool *already, struct graft_err *err)
{
	struct apply_ctx c = {.pid = pid,
			      .patches = patches,
			      .npatches = npatches,
			      .skip = already,
			      .memfd = -1,
			      .rs_fd = -1,
			      .dry = dry,
			      .opts = opts,
			      .err = err};
	size_t nskip = 0;
	int r;

	memset(res, 0, sizeof(*res));
	memset(already, 0, npatches * sizeof(*already));
	(void)snprintf(res->patch_id, sizeof(res->patch_id), "%s", patches[0]->id);
	/* an exited process has no maps to read, a zombie an empty one */
	r = graft_proc_read_maps(pid, &c.maps, err);
	if ((r < 0 || c.maps.n == 0) && !graft_proc_is_alive(pid)) {
		graft_err_clear(err);
		graft_maps_free(&c.maps);
		return graft_err_set(err, -ESRCH, "no process %d", (int)pid);
	}
	if (r < 0 || (r = graft_proc_objects_cached(pid, &c.maps, opts->cache, &c.objs, err)) < 0)
		goto out;
	if (!dry && !opts->mm_checked && !graft_test_fault("no-mm-check")) {
		pid_t other = graft_proc_mm_sharer(pid);

		if (other > 0) {
			r = graft_refuse_shared_mm(pid, other, err);
			goto out;
		}
	}
	c.obj_elf = calloc(c.objs.n + 1, sizeof(*c.obj_elf));
	c.obj_fd = malloc((c.objs.n + 1) * sizeof(int));
	if (!c.obj_elf || !c.obj_fd) {
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.objs.n; i++)
		c.obj_fd[i] = -1;
	if ((c.memfd = graft_mem_open(pid, err)) < 0) {
		r = c.memfd;
		goto out;
	}
	if ((r = graft_region_list(c.memfd, &c.maps, &c.regions, NULL, err)) < 0)
		goto out;
	/* patches already in are left out of the batch; a half-done one stops it */
	for (size_t i = 0; i < npatches; i++) {
		const struct graft_region *same = graft_region_find(&c.regions, patches[i]->id);

		if (!same)
			continue;
		if (same->hdr->state != GRAFT_REGION_APPLIED) {
			r = graft_err_setk(err, GRAFT_ERR_NOOP, -EEXIST,
					   "an interrupted attempt of patch '%s' is still mapped; "
					   "revert it first",
					   patches[i]->id);
			goto out;
		}
		already[i] = true;
		nskip++;
	}
	if (nskip == npatches) {
		r = npatches == 1 ? graft_err_setk(err, GRAFT_ERR_NOOP, -EEXIST,
						   "patch '%s' is already applied", patches[0]->id)
				  : graft_err_setk(err, GRAFT_ERR_NOOP, -EEXIST,
						   "all %zu patches are already applied", npatches);
		goto out;
	}
	if ((r = find_targets(&c)) < 0 || (r = batch_overlap(&c)) < 0)
		goto out;
	r = apply_prepare_and_commit(&c, opts, res);
	if (r < 0 && !dry && !graft_proc_is_exiting(pid))
		unmap_regions(&c);
out:
	if (r < 0 && graft_proc_is_exiting(pid)) {
		/* whatever step noticed it first, the cause is this */
		graft_err_clear(err);
		r = graft_err_set(err, -ESRCH, "process %d exited during the apply", (int)pid);
	}
	res->touched = c.touched;
	apply_ctx_free(&c);
	return r;
}

int graft_apply_batch(pid_t pid, const struct graft_patch *const *patches, size_t n,
		      const struct graft_op_opts *opts, struct graft_op_result *res, bool *already,
		      struct graft_err *err)
{
	return apply_run(pid, patches, n, opts, false, res, already, err);
}

int graft_apply(pid_t pid, const struct graft_patch *patch, const struct graft_op_opts *opts,
		struct graft_op_result *res, struct graft_err *err)
{
	bool already;

	return apply_run(pid, &patch, 1, opts, false, res, &already, err);
}

int graft_apply_check(pid_t pid, const struct graft_patch *patch, const struct graft_op_opts *opts,
		      struct graft_err *err)
{
	struct graft_op_result res;
	bool already;

	return apply_run(pid, &patch, 1, opts, true, &res, &already, err);
}
