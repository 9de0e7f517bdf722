/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small helpers shared by every layer: cleanup attributes for scope-bound
 * ownership, TAKE_PTR hand-off, monotonic time and bounded file reading.
 */
#ifndef GRAFT_UTIL_H
#define GRAFT_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/err.h"

#define GRAFT_ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define GRAFT_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))

static inline void graft_freep(void *p)
{
	free(*(void **)p);
}

static inline void graft_closep(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
}

#define _cleanup_(f)	__attribute__((cleanup(f)))
#define _cleanup_free_	_cleanup_(graft_freep)
#define _cleanup_close_ _cleanup_(graft_closep)

/* Hand ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                        \
	({                                 \
		__typeof__(p) _took = (p); \
		(p) = NULL;                \
		_took;                     \
	})
#define TAKE_FD(fd)               \
	({                        \
		int _took = (fd); \
		(fd) = -1;        \
		_took;            \
	})

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t graft_now_ns(void);
/* CLOCK_REALTIME in nanoseconds. */
uint64_t graft_wall_ns(void);

/*
 * Read a whole file (regular or /proc) into a NUL-terminated buffer of at
 * most max bytes. A larger file is an error (-EFBIG), never truncated.
 */
int graft_read_file(const char *path, size_t max, char **out, size_t *len, struct graft_err *err);
int graft_read_fd(int fd, const char *what, size_t max, char **out, size_t *len,
		  struct graft_err *err);
/*
 * A /proc file the kernel makes in one go (status, stat: "single_open"
 * files): one read into a buffer larger than the file returns all of it,
 * so a short read is its end and the read graft_read_fd makes to see the
 * end is spared (a host-wide run reads one per process). Larger than max:
 * -EFBIG.
 */
int graft_read_proc_single(const char *path, size_t max, char **out, struct graft_err *err);

/*
 * Hold off asynchronous signals (SIGTERM, SIGINT, SIGHUP, ...) in the
 * calling thread while the target is in a state only graft can undo, so an
 * operator's Ctrl-C or a service manager's stop lands after the undo.
 * SIGKILL cannot be held: see docs/safety.md. Holds nest: inside an outer
 * hold of the same thread (a worker of a run over many processes holds for
 * its whole life) an inner pair changes nothing and costs no system call.
 */
void graft_signals_hold(sigset_t *old);
/*
 * Ends a wait for a thread that does not stop (ptrace/deadline.c): never
 * held, its handler does nothing but interrupt a blocked system call.
 */
#define GRAFT_WAKE_SIG (SIGRTMAX - 2)
void graft_signals_release(const sigset_t *old);
/*
 * While a target is stopped, graft must not wait behind the target's own
 * runnable threads for a CPU: on a loaded machine that alone costs
 * milliseconds. The calling thread runs at a real-time priority until the
 * matching graft_sched_unboost; calls nest per thread, the outermost pair
 * counts. graft never spins while boosted (it blocks in waitpid), and the
 * kernel's RT throttling bounds it anyway. Without the privilege, nothing
 * changes.
 */
void graft_sched_boost(void);
void graft_sched_unboost(void);

/*
 * FNV-1a, 64 bits: a fast hash to tell contents apart (cache keys, the
 * differ's keys). Not for anything an attacker chooses.
 */
#define GRAFT_FNV1A_INIT 0xcbf29ce484222325ull
uint64_t graft_fnv1a(uint64_t h, const void *p, size_t n);

/*
 * Fault injection for tests: when $GRAFT_TEST_DIE_AT names this point
 * ("POINT", or "POINT:N" for its N-th pass), the process kills itself with
 * SIGKILL here (the crash-safety tests).
 */
void graft_test_die_at(const char *point);
/*
 * More fault injection: true when $GRAFT_TEST_FAULT is name, for a race
 * a test cannot time from outside (the caller brings it about).
 */
bool graft_test_fault(const char *name);

/*
 * Wait for something another process does: poll done(ctx) until it holds
 * (true) or timeout_ns pass (false), yielding the CPU a few times, then
 * sleeping 100 us between polls.
 */
bool graft_poll_until(bool (*done)(const void *ctx), const void *ctx, uint64_t timeout_ns);

/* Grow an array by doubling; returns -ENOMEM or 0. */
int graft_grow(void **arr, size_t *cap, size_t need, size_t elem);

#endif
