/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Safety check. For each stopped thread: its rip must not lie inside a busy
 * range (except exactly at a function's entry for apply: the thread has not
 * begun the function and will take the new jump), and no 8-byte word between
 * its stack pointer and the end of the stack mapping may point into a busy
 * range. The scan is conservative: a stale word left in a frame can refuse a
 * safe patch, never accept an unsafe one. A word equal to a function's entry
 * is a function pointer or the resume address saved in a signal frame, not
 * a return address (which always follows a call): harmless when the code at
 * that entry stays mapped (apply), fatal when it is about to be unmapped
 * (revert), so each range says which (entry_ok).
 *
 * Retries: between attempts the process runs freely; the backoff grows from
 * 1 ms to 50 ms so a briefly busy function is caught idle soon, while a
 * process that is always busy is stopped for only a few hundred microseconds
 * per attempt.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "patch/apply.h"
#include "patch/stw.h"
#include "util/log.h"

#define STACK_SCAN_MAX (64u << 20)

struct busy_hit {
	pid_t tid;
	const char *name;
	bool by_ip;
};

static const struct graft_busy_range *range_hit(const struct graft_stw *s, uint64_t v, bool is_ip)
{
	for (size_t i = 0; i < s->nranges; i++) {
		const struct graft_busy_range *r = &s->ranges[i];

		if (v == r->lo) {
			if (!r->entry_ok)
				return r;
		} else if (v > r->lo && (is_ip ? v < r->hi : v <= r->hi)) {
			/* a return address may be hi itself: a call as last insn */
			return r;
		}
	}
	return NULL;
}

static int check_thread(struct graft_stw *s, const struct graft_maps **maps, struct graft_maps *own,
			const struct graft_pt_thread *t, uint64_t lo_all, uint64_t hi_all,
			uint64_t **bufp, size_t *cap, struct busy_hit *hit, struct graft_err *err)
{
	const struct graft_busy_range *r;
	const struct graft_map *m;
	uint64_t sp = t->regs.rsp & ~(uint64_t)7, len;

	r = range_hit(s, t->regs.rip, true);
	if (r) {
		*hit = (struct busy_hit){t->tid, r->name, true};
		return 1;
	}
	m = graft_maps_find(*maps, sp);
	if (!m) {
		/* a stack mapped after our snapshot: refresh once */
		struct graft_maps fresh;

		if (graft_proc_read_maps(s->pid, &fresh, err) < 0)
			return -EIO;
		graft_maps_free(own);
		*own = fresh;
		*maps = own;
		m = graft_maps_find(*maps, sp);
		if (!m)
			return graft_err_set(err, -EFAULT,
					     "thread %d has its stack pointer 0x%" PRIx64
					     " outside any mapping",
					     (int)t->tid, sp);
	}
	/*
	 * Threads made by the C library (glibc, musl) keep their thread
	 * control block at the top of their stack mapping, with the thread
	 * pointer (fs base) at its start: frames live below it, so the scan
	 * can stop there. Anything else (the main thread, other runtimes)
	 * is scanned to the end of the mapping.
	 */
	len = m->end - sp;
	if (t->regs.fs_base > sp && t->regs.fs_base < m->end)
		len = t->regs.fs_base - sp;
	if (len > STACK_SCAN_MAX)
		return graft_err_set(err, -E2BIG, "thread %d: stack too large to check",
				     (int)t->tid);
	if (len > *cap) {
		uint64_t *nb = realloc(*bufp, len);

		if (!nb)
			return graft_err_set(err, -ENOMEM, "out of memory");
		*bufp = nb;
		*cap = len;
	}
	if (graft_mem_read(s->memfd, sp, *bufp, len, err) < 0)
		return -EIO;
	for (size_t i = 0; i < len / 8; i++) {
		uint64_t w = (*bufp)[i];

		if (w < lo_all || w > hi_all)
			continue;
		r = range_hit(s, w, false);
		if (r) {
			*hit = (struct busy_hit){t->tid, r->name, false};
			return 1;
		}
	}
	return 0;
}

/* State of the safety check, fed one thread at a time as each stops. */
struct check_ctx {
	struct graft_stw *s;
	const struct graft_maps *maps;
	struct graft_maps *own; /* read here: none given, or a refresh */
	uint64_t lo_all, hi_all;
	uint64_t *buf;
	size_t cap;
	struct busy_hit hit;
	bool busy;
};

static int check_stopped(void *ctx, const struct graft_pt_thread *t, struct graft_err *err)
{
	struct check_ctx *c = ctx;
	int r;

	if (c->busy)
		return 0; /* refused already; the others only need to stop */
	r = check_thread(c->s, &c->maps, c->own, t, c->lo_all, c->hi_all, &c->buf, &c->cap, &c->hit,
			 err);
	if (r > 0)
		c->busy = true;
	return r < 0 ? r : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Let the process run a while: 1 ms at first, doubling up to 50 ms. */
static void back_off(unsigned *ms)
{
	sleep_ms(*ms);
	*ms = *ms * 2 > 50 ? 50 : *ms * 2;
}

/* A thread never stopped in time before the deadline: say where it waits. */
static int late_refusal(const struct graft_stw *s, pid_t tid, unsigned times, struct graft_err *err)
{
	char where[128];

	graft_proc_task_wait(s->pid, tid, where, sizeof(where));
	return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ETIMEDOUT,
			      "thread %d did not stop within %llu ms (%s: an uninterruptible "
			      "wait?), %u time%s in %" PRIu64 " ms; the process ran on meanwhile",
			      (int)tid, GRAFT_PT_STOP_WAIT_NS / 1000000, where, times,
			      times == 1 ? "" : "s", s->timeout_ms);
}

int graft_stw_prepare(struct graft_stw *s, struct graft_err *err)
{
	if (s->buf)
		return 0;
	/* the stack buffer: its pages faulted in here (~10 us each on a VM), not in a stop */
	s->cap = 64u << 10;
	s->buf = malloc(s->cap);
	if (!s->buf)
		return graft_err_set(err, -ENOMEM, "out of memory");
	memset(s->buf, 0xa5, s->cap); /* not 0: malloc+memset(0) may become calloc */
	return 0;
}

void graft_stw_free(struct graft_stw *s)
{
	free(s->buf);
	s->buf = NULL;
}

/* The held thread, when the stop ends before it is taken in: let go. */
static void release_held(struct graft_stw *s)
{
	struct graft_pt_thread t;
	struct graft_pt_world w = {.pid = s->pid, .t = &t, .n = 1, .cap = 1};

	if (!s->held)
		return;
	t = *s->held;
	graft_pt_thaw(&w); /* not freed: w.t is on the stack */
	s->held = NULL;
}

int graft_stw_run(struct graft_stw *s, struct graft_err *err)
{
	uint64_t deadline = graft_now_ns() + s->timeout_ms * 1000000ull;
	struct graft_maps own = {0};
	struct check_ctx c = {.s = s, .maps = s->maps, .own = &own, .lo_all = UINT64_MAX};
	unsigned backoff = 1, late_count = 0;
	pid_t late = 0;
	int r;

	if (!c.maps) {
		r = graft_proc_read_maps(s->pid, &own, err);
		if (r < 0) {
			release_held(s);
			return r;
		}
		c.maps = &own;
	}
	for (size_t i = 0; i < s->nranges; i++) {
		if (s->ranges[i].lo < c.lo_all)
			c.lo_all = s->ranges[i].lo;
		if (s->ranges[i].hi > c.hi_all)
			c.hi_all = s->ranges[i].hi;
	}
	if ((r = graft_stw_prepare(s, err)) < 0) {
		graft_maps_free(&own);
		release_held(s);
		return r;
	}
	c.buf = TAKE_PTR(s->buf);
	c.cap = s->cap;
	for (s->attempts = 1;; s->attempts++) {
		struct graft_pt_world w;
		sigset_t sigmask;
		uint64_t t_checked, t_committed;
		bool gated;

		/*
		 * A thread that did not stop last time (an uninterruptible
		 * sleep) is still on its way to its stop: stopping the others
		 * again before it gets there would only hold them for nothing.
		 */
		if (late && graft_pt_stragglers_release(s->pid) > 0) {
			if (graft_now_ns() >= deadline) {
				r = late_refusal(s, late, late_count, err);
				break;
			}
			back_off(&backoff);
			s->attempts--;
			continue;
		}
		c.busy = false;
		gated = s->gate && !s->held;
		if (gated)
			s->gate->enter(s->gate->ctx);
		graft_signals_hold(&sigmask);
		graft_sched_boost();
		r = graft_pt_freeze_held(s->pid, &w, s->held, s->held_since_ns, check_stopped, &c,
					 err);
		s->held = NULL; /* in the world now, let go with it */
		if (r < 0) {
			graft_sched_unboost();
			graft_signals_release(&sigmask);
			if (gated)
				s->gate->leave(s->gate->ctx);
			if (r != -ETIMEDOUT)
				break;
			/* let the process run; try again once the late thread has stopped */
			graft_err_clear(err);
			late = w.late;
			late_count++;
			s->stop_ns = graft_now_ns() - w.stop_start_ns;
			if (graft_now_ns() >= deadline) {
				r = late_refusal(s, late, late_count, err);
				break;
			}
			back_off(&backoff);
			continue;
		}
		s->nthreads = w.n;
		t_checked = graft_now_ns();
		r = c.busy ? 1 : s->commit(s->ctx, &w, err);
		t_committed = graft_now_ns();
		graft_pt_thaw(&w);
		graft_sched_unboost();
		graft_signals_release(&sigmask);
		if (gated)
			s->gate->leave(s->gate->ctx);
		graft_debug("attempt %u: %zu threads stopped and checked in %" PRIu64
			    " us, committed in %" PRIu64 " us, let go in %" PRIu64 " us",
			    s->attempts, w.n, (t_checked - w.stop_start_ns) / 1000,
			    (t_committed - t_checked) / 1000, (w.stop_end_ns - t_committed) / 1000);
		s->stop_ns = w.stop_end_ns - w.stop_start_ns;
		graft_pt_world_free(&w);
		if (r <= 0)
			break;
		/* busy */
		if (graft_now_ns() >= deadline) {
			r = graft_err_setk(
				err, GRAFT_ERR_UNSAFE, -EBUSY,
				"function '%s' is %s in thread %d (still busy after %" PRIu64
				" ms, %u attempts)",
				c.hit.name, c.hit.by_ip ? "running" : "on the stack",
				(int)c.hit.tid, s->timeout_ms, s->attempts);
			break;
		}
		back_off(&backoff);
	}
	graft_maps_free(&own);
	free(c.buf);
	return r;
}
