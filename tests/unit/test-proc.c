/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the proc layer's parsers and caches (src/proc/): maps lines
 * as the kernel writes them (paths with spaces, " (deleted)", anonymous and
 * special mappings, 64-bit addresses, device numbers in hex) and malformed
 * ones; this very process's status fields (its signal handlers among them); the build-id cache and its
 * per-mapping facts, from several threads at once; the thread listing of
 * a process with more threads than one directory read returns; the maps of
 * a range asked of the kernel (PROCMAP_QUERY) against the maps text.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc/proc.h"

static int parse(const char *text, struct graft_maps *m)
{
	char *copy = strdup(text);
	int r;

	assert_non_null(copy);
	r = graft_proc_parse_maps(copy, "test maps", m, NULL);
	free(copy);
	return r;
}

static void test_maps_lines(void **state)
{
	struct graft_maps m = {0};

	(void)state;
	assert_int_equal(
		parse("55d0c2a00000-55d0c2a01000 r--p 00000000 fd:01 1054886 /usr/bin/my prog\n"
		      "55d0c2a01000-55d0c2a02000 r-xp 00001000 fd:01 1054886 /usr/bin/my prog\n"
		      "7f3e1c000000-7f3e1c021000 rw-p 00000000 00:00 0 \n"
		      "7f3e1d000000-7f3e1d200000 r-xs 0001f000 103:0a 42     /lib/libx.so "
		      "(deleted)\n"
		      "7f3e1e000000-7f3e1e001000 ---p 00000000 00:00 4294967297\n"
		      "7ffd4c9e1000-7ffd4ca02000 rw-p 00000000 00:00 0                          "
		      "[stack]\n"
		      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  "
		      "[vsyscall]\n",
		      &m),
		0);
	assert_int_equal(m.n, 7);
	assert_int_equal(m.v[4].inode, 4294967297ull); /* ends the line, over 32 bits */
	assert_null(m.v[4].path);
	assert_true(!m.v[4].r && !m.v[4].w && !m.v[4].x);
	assert_int_equal(m.v[0].start, 0x55d0c2a00000ull);
	assert_int_equal(m.v[0].end, 0x55d0c2a01000ull);
	assert_true(m.v[0].r && !m.v[0].w && !m.v[0].x && !m.v[0].shared);
	assert_string_equal(m.v[0].path, "/usr/bin/my prog");
	assert_int_equal(m.v[1].offset, 0x1000);
	assert_true(m.v[1].x);
	assert_int_equal(m.v[0].dev_major, 0xfd);
	assert_int_equal(m.v[0].dev_minor, 1);
	assert_int_equal(m.v[0].inode, 1054886);
	assert_null(m.v[2].path); /* anonymous, a trailing blank */
	assert_true(m.v[2].w);
	assert_true(m.v[3].shared && m.v[3].x);
	assert_int_equal(m.v[3].dev_major, 0x103);
	assert_int_equal(m.v[3].dev_minor, 0xa);
	assert_int_equal(m.v[3].offset, 0x1f000);
	assert_string_equal(m.v[3].path, "/lib/libx.so (deleted)");
	assert_string_equal(m.v[5].path, "[stack]");
	assert_int_equal(m.v[6].start, 0xffffffffff600000ull);
	assert_ptr_equal(graft_maps_find(&m, 0x55d0c2a01800ull), &m.v[1]);
	assert_ptr_equal(graft_maps_find(&m, 0x7ffd4ca01fffull), &m.v[5]);
	assert_null(graft_maps_find(&m, 0x55d0c2a02000ull));
	graft_maps_free(&m);
}

static void test_maps_malformed(void **state)
{
	static const char *const bad[] = {
		"55d0c2a00000 r--p 00000000 fd:01 1 /x\n",		/* no end */
		"55d0c2a00000-55d0c2a01000 r--p\n",			/* cut short */
		"55d0c2a00000-55d0c2a01000 r-p 00000000 fd:01 1 /x\n",	/* perms */
		"55d0c2a00000-55d0c2a01000 r--p zz fd:01 1 /x\n",	/* offset */
		"55d0c2a00000-55d0c2a01000 r--p 00000000 fd01 1 /x\n",	/* device */
		"55d0c2a00000-55d0c2a01000 r--p 00000000 fd:01 x /x\n", /* inode */
		"55d0c2a00000-55d0c2a01000 r--p 00000000 fd:01 1x /x\n",
		"1ffffffffffffffffff-2 r--p 00000000 fd:01 1 /x\n", /* out of range */
		"55d0c2a00000-55d0c2a01000 r--p 00000000 100000000:01 1 /x\n",
	};
	struct graft_err err = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct graft_maps m = {0};
		char *copy = strdup(bad[i]);

		assert_non_null(copy);
		graft_err_clear(&err);
		assert_int_equal(graft_proc_parse_maps(copy, "bad maps", &m, &err), -EINVAL);
		assert_string_equal(err.msg, "cannot parse bad maps");
		assert_int_equal(m.n, 0);
		free(copy);
	}
}

static void on_urg(int sig)
{
	(void)sig;
}

static void test_own_maps_and_status(void **state)
{
	struct graft_maps m = {0};
	struct graft_proc_status st;
	bool stack = false;

	(void)state;
	assert_int_equal(graft_proc_read_maps(getpid(), &m, NULL), 0);
	for (size_t i = 0; i < m.n; i++)
		stack |= m.v[i].path && !strcmp(m.v[i].path, "[stack]");
	assert_true(stack);
	graft_maps_free(&m);
	/* the handlers of the process: graft never stops a thread with a signal it catches */
	assert_int_not_equal(signal(SIGURG, on_urg), SIG_ERR);
	assert_int_equal(graft_proc_status_read(getpid(), &st, NULL), 0);
	assert_true(st.sigcgt & ((uint64_t)1 << (SIGURG - 1)));
	assert_false(st.sigcgt & ((uint64_t)1 << (SIGWINCH - 1)));
	assert_int_not_equal(signal(SIGURG, SIG_DFL), SIG_ERR);
	assert_int_equal(graft_proc_status_read(getpid(), &st, NULL), 0);
	assert_false(st.sigcgt & ((uint64_t)1 << (SIGURG - 1)));
	assert_int_equal(st.pid, getpid());
	assert_int_equal(st.uid, getuid());
	assert_int_equal(st.euid, geteuid());
	assert_true(st.state == 'R' || st.state == 'S');
	assert_int_equal(st.threads, 1);
	assert_false(st.kthread);
	assert_string_equal(st.comm, "test-proc");
	assert_int_equal(graft_proc_status_read(0x7ffffff0, &st, NULL), -ENOENT);
}

static struct graft_objcache *shared;

static void *cache_worker(void *arg)
{
	uintptr_t k = (uintptr_t)arg;

	for (uint64_t ino = 1; ino <= 2000; ino++) {
		struct graft_object o = {.inode = ino * 8 + k, .dev_major = 8, .dev_minor = 1};
		uint64_t v;

		if (!graft_objcache_get(shared, &o, &v)) {
			o.build_id_len = 20;
			memset(o.build_id, (int)(o.inode & 0xff), 20);
			graft_objcache_put(shared, &o, o.inode * 4096);
		}
	}
	return NULL;
}

static void test_objcache(void **state)
{
	struct graft_object o = {.inode = 77, .dev_major = 259, .dev_minor = 3};
	struct graft_map m = {.start = 0x1000,
			      .end = 0x3000,
			      .offset = 0x2000,
			      .inode = 77,
			      .dev_major = 259,
			      .dev_minor = 3};
	uint64_t v = 0, fact[2] = {0x11, 0x22}, got[2] = {0};
	pthread_t th[4];

	(void)state;
	assert_int_equal(graft_objcache_new(&shared), 0);
	assert_false(graft_objcache_get(shared, &o, &v));
	o.build_id_len = 3;
	memcpy(o.build_id, "\x01\x02\x03", 3);
	graft_objcache_put(shared, &o, 0x400000);
	memset(o.build_id, 0, sizeof(o.build_id));
	o.build_id_len = 0;
	assert_true(graft_objcache_get(shared, &o, &v));
	assert_int_equal(v, 0x400000);
	assert_int_equal(o.build_id_len, 3);
	assert_memory_equal(o.build_id, "\x01\x02\x03", 3);
	o.dev_minor = 4; /* another device: another file */
	assert_false(graft_objcache_get(shared, &o, &v));

	/* facts: per tag and per mapped part of the file */
	assert_false(graft_objcache_fact_get(shared, 1, &m, got, sizeof(got)));
	graft_objcache_fact_put(shared, 1, &m, fact, sizeof(fact));
	assert_true(graft_objcache_fact_get(shared, 1, &m, got, sizeof(got)));
	assert_memory_equal(got, fact, sizeof(fact));
	assert_false(graft_objcache_fact_get(shared, 2, &m, got, sizeof(got)));
	m.offset = 0;
	assert_false(graft_objcache_fact_get(shared, 1, &m, got, sizeof(got)));
	m.inode = 0; /* anonymous memory has no facts */
	graft_objcache_fact_put(shared, 1, &m, fact, sizeof(fact));
	assert_false(graft_objcache_fact_get(shared, 1, &m, got, sizeof(got)));

	/* four threads filling and reading it at once (run under TSan/ASan too) */
	for (uintptr_t k = 0; k < 4; k++)
		assert_int_equal(pthread_create(&th[k], NULL, cache_worker, (void *)k), 0);
	for (int k = 0; k < 4; k++)
		assert_int_equal(pthread_join(th[k], NULL), 0);
	for (uint64_t ino = 1; ino <= 2000; ino++)
		for (uint64_t k = 0; k < 4; k++) {
			struct graft_object q = {
				.inode = ino * 8 + k, .dev_major = 8, .dev_minor = 1};

			assert_true(graft_objcache_get(shared, &q, &v));
			assert_int_equal(v, q.inode * 4096);
			assert_int_equal(q.build_id[19], q.inode & 0xff);
		}
	graft_objcache_free(shared);
	graft_objcache_free(NULL);
}

/* Threads that wait until told to end, for the task listing. */
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static bool hold_over;

static void *hold(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hold_lock);
	while (!hold_over)
		pthread_cond_wait(&hold_cond, &hold_lock);
	pthread_mutex_unlock(&hold_lock);
	return NULL;
}

static bool has_tid(const pid_t *v, size_t n, pid_t t)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == t)
			return true;
	return false;
}

/*
 * This process's threads, listed by graft_proc_tasks: more of them than one
 * read of the directory returns (about 680 per 16 KiB), so the listing must
 * take several reads and lose none.
 */
static void test_tasks_many(void **state)
{
	enum { N = 900 };
	static pthread_t th[N];
	pthread_attr_t attr;
	pid_t *tids = NULL;
	size_t n = 0, made = 0;

	(void)state;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (; made < N; made++)
		if (pthread_create(&th[made], &attr, hold, NULL) != 0)
			break;
	pthread_attr_destroy(&attr);
	assert_true(made > 700); /* or the test would not test several reads */
	assert_int_equal(graft_proc_tasks(getpid(), &tids, &n, NULL), 0);
	assert_int_equal(n, made + 1);
	assert_true(has_tid(tids, n, getpid()));
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			assert_int_not_equal(tids[i], tids[k]);
	free(tids);
	{
		/* the count from /proc/PID/stat and a second listing from the same fd agree */
		int sfd = graft_proc_stat_open(getpid(), NULL),
		    tfd = graft_proc_tasks_open(getpid(), NULL);
		unsigned nt = 0;

		assert_true(sfd >= 0 && tfd >= 0);
		assert_int_equal(graft_proc_stat_nthreads(sfd, &nt), 0);
		assert_int_equal(nt, made + 1);
		assert_int_equal(graft_proc_tasks_read(tfd, false, getpid(), &tids, &n, NULL), 0);
		free(tids);
		assert_int_equal(graft_proc_tasks_read(tfd, true, getpid(), &tids, &n, NULL), 0);
		assert_int_equal(n, made + 1);
		free(tids);
		assert_int_equal(graft_proc_stat_nthreads(sfd, &nt), 0); /* read again, from 0 */
		assert_int_equal(nt, made + 1);
		close(sfd);
		close(tfd);
	}
	pthread_mutex_lock(&hold_lock);
	hold_over = true;
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_lock);
	for (size_t i = 0; i < made; i++)
		pthread_join(th[i], NULL);
	/* and a process that is gone */
	assert_true(graft_proc_tasks(999999999, &tids, &n, NULL) < 0);
}

/*
 * The mappings asked of the kernel one by one (PROCMAP_QUERY) are those the
 * maps text shows: over all of this process's file mappings (the heap may
 * grow between the two reads, a file mapping does not), and over a range
 * that starts inside one mapping and ends inside another.
 */
static void test_maps_range(void **state)
{
	struct graft_maps all = {0}, got = {0}, files = {0};
	uint64_t range[1][2];
	size_t k = 0, first = SIZE_MAX, last = 0;
	int r;

	(void)state;
	assert_int_equal(graft_proc_read_maps(getpid(), &all, NULL), 0);
	assert_true(all.n > 3);
	range[0][0] = all.v[0].start;
	range[0][1] = all.v[all.n - 1].end;
	r = graft_proc_maps_range(getpid(), (const uint64_t(*)[2])range, 1, &got, NULL);
	if (r == -ENOTTY) {
		fprintf(stderr, "note: no PROCMAP_QUERY in this kernel (before 6.11): the range "
				"read is not tested\n");
		graft_maps_free(&all);
		return;
	}
	assert_int_equal(r, 0);
	for (size_t i = 0; i < got.n; i++) {
		const struct graft_map *m = &got.v[i], *w;

		if (!m->path || m->path[0] != '/')
			continue;
		w = graft_maps_find(&all, m->start);
		assert_non_null(w);
		assert_int_equal(w->start, m->start);
		assert_int_equal(w->end, m->end);
		assert_int_equal(w->offset, m->offset);
		assert_int_equal(w->inode, m->inode);
		assert_true(w->r == m->r && w->w == m->w && w->x == m->x && w->shared == m->shared);
		assert_string_equal(w->path, m->path);
		k++;
		first = i < first ? i : first;
		last = i;
	}
	assert_true(k >= 3);
	/* from the middle of one file mapping to the middle of a later one */
	range[0][0] = got.v[first].start + 1;
	range[0][1] = got.v[last].start + 1;
	assert_int_equal(
		graft_proc_maps_range(getpid(), (const uint64_t(*)[2])range, 1, &files, NULL), 0);
	assert_true(files.n >= 2);
	assert_int_equal(files.v[0].start, got.v[first].start);
	assert_int_equal(files.v[files.n - 1].start, got.v[last].start);
	graft_maps_free(&files);
	graft_maps_free(&got);
	graft_maps_free(&all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_lines),	    cmocka_unit_test(test_maps_malformed),
		cmocka_unit_test(test_own_maps_and_status), cmocka_unit_test(test_objcache),
		cmocka_unit_test(test_tasks_many),	    cmocka_unit_test(test_maps_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
