/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error records, the log callback, time and bounded file reads. Everything
 * here is free of policy: it neither prints nor exits.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/util.h"

static graft_log_fn log_fn;

void graft_log_set(graft_log_fn fn)
{
	log_fn = fn;
}

void graft_log(enum graft_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_fn)
		return;
	va_start(ap, fmt);
	log_fn(level, fmt, ap);
	va_end(ap);
}

static int err_vset(struct graft_err *err, enum graft_err_kind kind, int code, const char *fmt,
		    va_list ap)
{
	if (code > 0)
		code = -code;
	if (code == 0)
		code = -EINVAL;
	if (!err || err->code)
		return code; /* first message wins */
	err->code = code;
	err->kind = kind;
	(void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int graft_err_set(struct graft_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_vset(err, GRAFT_ERR_ERROR, code, fmt, ap);
	va_end(ap);
	return r;
}

int graft_err_setk(struct graft_err *err, enum graft_err_kind kind, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_vset(err, kind, code, fmt, ap);
	va_end(ap);
	return r;
}

int graft_err_prefix(struct graft_err *err, int code, const char *fmt, ...)
{
	char prefix[256], old[GRAFT_ERR_MSG_MAX];
	va_list ap;

	if (code > 0)
		code = -code;
	if (!err)
		return code;
	if (!err->code) {
		err->code = code ? code : -EINVAL;
		err->kind = GRAFT_ERR_ERROR;
		(void)snprintf(err->msg, sizeof(err->msg), "%s", strerror(-err->code));
	}
	va_start(ap, fmt);
	(void)vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	{
		/* truncation of an over-long message is acceptable */
		size_t pl = strlen(prefix);

		if (pl + 2 >= sizeof(err->msg))
			pl = sizeof(err->msg) - 3;
		memcpy(err->msg, prefix, pl);
		memcpy(err->msg + pl, ": ", 2);
		(void)snprintf(err->msg + pl + 2, sizeof(err->msg) - pl - 2, "%.*s",
			       (int)(sizeof(err->msg) - pl - 3), old);
	}
	return code ? code : err->code;
}

void graft_err_clear(struct graft_err *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

uint64_t graft_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t graft_wall_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static __thread unsigned signals_held;

void graft_signals_hold(sigset_t *old)
{
	sigset_t all;

	if (signals_held++ > 0) {
		(void)sigemptyset(old); /* unused: only the outermost release restores */
		return;
	}
	sigfillset(&all);
	/* faults stay deliverable: holding them would hang or kill anyway */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGABRT);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, GRAFT_WAKE_SIG);
	(void)pthread_sigmask(SIG_BLOCK, &all, old);
}

void graft_signals_release(const sigset_t *old)
{
	if (signals_held > 0 && --signals_held > 0)
		return;
	(void)pthread_sigmask(SIG_SETMASK, old, NULL);
}

static __thread unsigned boost_depth;
static __thread bool boost_on;
static __thread int own_policy = -1; /* only graft changes it, and puts it back: asked once */
static __thread struct sched_param own_param;

void graft_sched_boost(void)
{
	struct sched_param rt = {.sched_priority = 10};

	if (boost_depth++ > 0)
		return;
	if (own_policy < 0 &&
	    ((own_policy = sched_getscheduler(0)) < 0 || sched_getparam(0, &own_param) < 0)) {
		own_policy = -1;
		return;
	}
	boost_on = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &rt) == 0;
}

void graft_sched_unboost(void)
{
	if (boost_depth == 0 || --boost_depth > 0)
		return;
	if (boost_on)
		(void)sched_setscheduler(0, own_policy, &own_param);
	boost_on = false;
}

int graft_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 8;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int graft_read_fd(int fd, const char *what, size_t max, char **out, size_t *len,
		  struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t cap = 0, n = 0;

	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			/* most /proc files of a busy process fit at once: one read, one for EOF */
			size_t ncap = cap ? cap * 2 : 16384;
			char *p;

			if (cap > max + 1)
				return graft_err_set(err, -EFBIG, "%s is larger than %zu bytes",
						     what, max);
			p = realloc(buf, ncap);
			if (!p)
				return graft_err_set(err, -ENOMEM, "out of memory");
			buf = p;
			cap = ncap;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return graft_err_set(err, -errno, "cannot read %s: %s", what,
					     strerror(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max)
			return graft_err_set(err, -EFBIG, "%s is larger than %zu bytes", what, max);
	}
	buf[n] = '\0';
	*out = TAKE_PTR(buf);
	if (len)
		*len = n;
	return 0;
}

int graft_read_proc_single(const char *path, size_t max, char **out, struct graft_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	if (fd < 0)
		return graft_err_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
	buf = malloc(max + 1);
	if (!buf)
		return graft_err_set(err, -ENOMEM, "out of memory");
	do
		n = read(fd, buf, max + 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return graft_err_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
	if ((size_t)n > max)
		return graft_err_set(err, -EFBIG, "%s is larger than %zu bytes", path, max);
	buf[n] = '\0';
	*out = TAKE_PTR(buf);
	return 0;
}

int graft_read_file(const char *path, size_t max, char **out, size_t *len, struct graft_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return graft_err_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	return graft_read_fd(fd, path, max, out, len, err);
}

uint64_t graft_fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * Read once at start-up: the checks sit inside the stop of the world, where
 * even a getenv() walk over the environment measurably adds (20 us here).
 */
static const char *test_die_at, *test_fault;

__attribute__((constructor)) static void test_die_at_init(void)
{
	const char *v = getenv("GRAFT_TEST_DIE_AT");

	test_die_at = v && *v ? v : NULL;
	v = getenv("GRAFT_TEST_FAULT");
	test_fault = v && *v ? v : NULL;
}

bool graft_test_fault(const char *name)
{
	return test_fault && !strcmp(test_fault, name);
}

void graft_test_die_at(const char *point)
{
	static unsigned hits;
	const char *want = test_die_at;
	size_t n;

	if (!want)
		return;
	n = strlen(point);
	/* "POINT" dies at the first pass, "POINT:N" at the N-th */
	if (strncmp(want, point, n) != 0 || (want[n] != '\0' && want[n] != ':'))
		return;
	if (++hits >= (want[n] == ':' ? strtoul(want + n + 1, NULL, 10) : 1))
		(void)raise(SIGKILL);
}

bool graft_poll_until(bool (*done)(const void *ctx), const void *ctx, uint64_t timeout_ns)
{
	uint64_t deadline = graft_now_ns() + timeout_ns;

	for (unsigned i = 0; !done(ctx); i++) {
		struct timespec ts = {0, 100000};

		if (graft_now_ns() > deadline)
			return false;
		/* what is awaited takes a few microseconds, usually: yield first, then sleep */
		if (i < 8)
			(void)sched_yield();
		else
			(void)nanosleep(&ts, NULL);
	}
	return true;
}
