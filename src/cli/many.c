/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * apply and revert over many processes: 'graft apply PATCH... --all' (or
 * --exe, --user, several --pid) and 'graft revert ID --all'.
 *
 * First a quick serial pass picks the processes: /proc/PID/status for the
 * filters, maps, and build-ids from a cache shared by the whole pass (a
 * host's processes map the same few libraries). Then the workers
 * (cli/host.c) take one process each: recover what a dead graft left in it,
 * log the attempt, apply every patch meant for it in one all-or-nothing
 * batch (or revert), log the outcome, print its line. Each process is
 * stopped only for its own apply; the others run meanwhile.
 *
 * Words: APPLIED, ALREADY (it was in), SKIPPED (graft changed nothing:
 * another tracer, a seccomp filter, another build, the process exited...),
 * FAILED (an attempt was made and rolled back: busy until the timeout, an
 * error). Exit code: 0 when every process that needed it got it, 2 when
 * some were refused as unsafe, 1 on errors, 3 when there was nothing to do.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/host.h"
#include "cli/many.h"
#include "patch/apply.h"
#include "patch/region.h"
#include "patch/scan.h"
#include "ptrace/pt.h"

enum outcome { OUT_DONE, OUT_ALREADY, OUT_SKIPPED, OUT_FAILED, OUT_N };

struct item {
	pid_t pid;
	char comm[64];
	size_t *pidx; /* apply: the patches whose targets it maps */
	size_t np;
	bool has_regions;
	const char *why; /* an explicit --pid that needs nothing: why */
	int why_code;	 /* and the exit code it earns */
	int code;
	enum outcome out;
	uint64_t stop_ns;
	uint64_t start_time; /* clock ticks: is it the same process at its turn? */
	uint64_t stack_at;   /* where its [stack] mapping starts: a cheap address-space hint */
	pid_t mm_sharer;     /* another chosen process with the same address space */
};

struct many {
	struct many_args *a;
	pid_t self; /* graft's own pid: not a candidate */
	bool revert;
	struct item *items;
	size_t n;
	struct graft_objcache *cache; /* build-ids of files, for the whole run */
	/* at most one stopped process per two CPUs (patch/apply.h: graft_stop_gate) */
	struct graft_stop_gate gate;
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	unsigned stopped, max_stopped;
	atomic_size_t count[OUT_N];
	json_t *results;
};

static const char *const words[2][OUT_N] = {
	{"APPLIED", "ALREADY", "SKIPPED", "FAILED"},
	{"REVERTED", "NOT APPLIED", "SKIPPED", "FAILED"},
};

/* --- choosing ----------------------------------------------------------------- */

/* Does pid need work? Fills it->pidx for apply. */
static int pick(struct many *m, pid_t pid, struct graft_objcache *cache, struct item *it)
{
	const struct cli_patches *ps = m->a->patches;
	struct graft_maps maps = {0};
	struct graft_objects objs = {0};
	struct graft_proc_status st;
	int r = 0;

	memset(it, 0, sizeof(*it));
	it->pid = pid;
	it->why = "no such process";
	it->why_code = EXIT_ERROR;
	if (graft_proc_status_read(pid, &st, NULL) < 0)
		return 0;
	(void)snprintf(it->comm, sizeof(it->comm), "%s", st.comm);
	it->why = st.kthread ? "a kernel thread" : "not chosen by --exe or --user";
	if (st.kthread || !cli_select_match(&m->a->sel, pid, &st))
		return 0;
	it->why = st.state == 'Z' ? "a zombie" : "its memory map cannot be read";
	if (graft_proc_read_maps(pid, &maps, NULL) < 0)
		return 0; /* gone, a zombie, or not ours to read: nothing of it to patch */
	it->why = "it maps none of the patches' targets";
	it->why_code = EXIT_NOTHING;
	if (m->revert) {
		it->has_regions = graft_maps_have_region(&maps, NULL);
		r = graft_maps_have_region(&maps, m->a->id);
		goto out;
	}
	it->has_regions = graft_maps_have_region(&maps, NULL);
	if (graft_proc_objects_cached(pid, &maps, cache, &objs, NULL) < 0)
		goto out;
	it->pidx = calloc(ps->n, sizeof(*it->pidx));
	if (!it->pidx) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < ps->n; k++)
		for (size_t i = 0; i < objs.n; i++)
			if (graft_patch_is_for(ps->v[k], &objs.v[i])) {
				it->pidx[it->np++] = k;
				break;
			}
	r = it->np > 0;
	if (!r) {
		free(it->pidx);
		it->pidx = NULL;
	}
out:
	if (r > 0) {
		for (size_t i = 0; i < maps.n; i++)
			if (maps.v[i].path && !strcmp(maps.v[i].path, "[stack]"))
				it->stack_at = maps.v[i].start;
		(void)graft_proc_start_time(pid, &it->start_time);
		if (graft_test_fault("pick-pid-reused") && it->start_time)
			it->start_time--; /* as if another process had taken the pid since */
	}
	graft_objects_free(&objs);
	graft_maps_free(&maps);
	return r;
}

/*
 * Between the pick and a process's turn (seconds, when workers wait out
 * busy processes) the process may exit and its pid be given to another,
 * one that --exe or --user did not choose. The start time tells them apart.
 * *now is the start time read (0 if the process is gone: its turn says so).
 */
static int check_same(const struct item *it, uint64_t *now, struct graft_err *err)
{
	*now = 0;
	if (!it->start_time || graft_proc_start_time(it->pid, now) < 0 || *now == it->start_time)
		return 0;
	return graft_err_set(err, -ESRCH,
			     "it exited after it was chosen; pid %d is now another process",
			     (int)it->pid);
}

/* What the pick pass fills for each candidate pid, on the workers. */
struct pick_pass {
	struct many *m;
	const pid_t *pids;
	struct item *cand;
	int *got; /* pick()'s answer per candidate: 1 chosen, 0 not, < 0 error */
};

static void pick_job(void *ctx, size_t i)
{
	struct pick_pass *pp = ctx;

	pp->got[i] = pp->pids[i] == pp->m->self
			     ? 0
			     : pick(pp->m, pp->pids[i], pp->m->cache, &pp->cand[i]);
}

/*
 * Processes that share one address space (a vfork child before its exec,
 * clone(CLONE_VM)) map the same objects, so both are chosen: find them
 * among the chosen, comparing with kcmp only those whose stacks start at
 * the same address (a fork child keeps its parent's layout too, so equal
 * stacks alone prove nothing). Chosen by --pid, a process is checked
 * against every process by the library instead.
 */
static void find_shared_mm(struct many *m)
{
	if (m->a->npids)
		return;
	m->a->o.mm_checked = true;
	for (size_t i = 0; i < m->n; i++)
		for (size_t k = i + 1; k < m->n && m->items[i].stack_at; k++)
			if (m->items[k].stack_at == m->items[i].stack_at &&
			    graft_proc_same_mm(m->items[i].pid, m->items[k].pid) == 1) {
				m->items[i].mm_sharer = m->items[k].pid;
				m->items[k].mm_sharer = m->items[i].pid;
			}
}

static int choose(struct many *m)
{
	_cleanup_free_ pid_t *all = NULL;
	_cleanup_free_ struct item *cand = NULL;
	_cleanup_free_ int *got = NULL;
	const pid_t *pids = m->a->pids;
	size_t npids = m->a->npids, done = 0;
	struct graft_err err = {0};
	struct pick_pass pp;
	int sig;

	if (!npids) {
		if (graft_proc_list(&all, &npids, &err) < 0)
			return cli_fail(&err, "cannot list processes");
		pids = all;
	}
	/*
	 * While a file is mapped its inode is not reused, so (device, inode)
	 * names the same build for the pick and for the workers.
	 */
	if (graft_objcache_new(&m->cache) < 0)
		return EXIT_ERROR;
	m->a->o.cache = m->cache;
	cand = calloc(npids + 1, sizeof(*cand));
	got = calloc(npids + 1, sizeof(*got));
	m->items = calloc(npids + 1, sizeof(*m->items));
	if (!cand || !got || !m->items) {
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	/* a read of a few /proc files per process: on every CPU, not one */
	pp = (struct pick_pass){m, pids, cand, got};
	sig = cli_run_jobs(npids, m->a->jobs, pick_job, &pp, NULL, &done);
	for (size_t i = 0; i < npids; i++) {
		if (i >= done || got[i] < 0 || sig) {
			free(cand[i].pidx);
			continue;
		}
		if (got[i] == 0 && !m->a->npids)
			continue;
		if (got[i] == 0 && pids[i] == m->self)
			continue;
		if (got[i] == 0)
			cand[i].np = 0; /* an explicit --pid that needs nothing: reported */
		m->items[m->n++] = cand[i];
	}
	if (sig) {
		cli_error("interrupted by signal %d before any process was touched", sig);
		return EXIT_ERROR;
	}
	for (size_t i = 0; i < done; i++)
		if (got[i] < 0) {
			cli_error("out of memory");
			return EXIT_ERROR;
		}
	find_shared_mm(m);
	return EXIT_DONE;
}

/* --- one process ---------------------------------------------------------------- */

static void finish(struct many *m, struct item *it, enum outcome out, int code, json_t *j)
{
	it->out = out;
	it->code = code;
	atomic_fetch_add(&m->count[out], 1);
	if (m->a->json) {
		json_object_set_new(j, "pid", json_integer(it->pid));
		json_object_set_new(j, "comm", cli_json_text(it->comm));
		json_object_set_new(j, "result", json_string(words[m->revert][out]));
		cli_job_lock();
		json_array_append_new(m->results, j);
		cli_job_unlock();
	} else {
		json_decref(j);
	}
}

/* What a dead graft left in this process goes first; says what it did. */
static void recover_first(struct many *m, struct item *it, json_t *j)
{
	struct graft_recover_result rec = {0};
	json_t *arr = json_array();

	if (!it->has_regions) {
		json_decref(arr);
		return;
	}
	(void)cli_recover_pid(it->pid, &m->a->o, m->a->audit, true, arr, true, &rec);
	for (size_t i = 0; i < rec.n && !m->a->json; i++)
		cli_job_print("pid %d (%s): RECOVERED %s of '%s'\n", (int)it->pid, it->comm,
			      rec.items[i].was_apply ? "rolled back an interrupted apply"
						     : "completed an interrupted revert",
			      rec.items[i].patch_id);
	if (json_array_size(arr))
		json_object_set(j, "recovered", arr);
	json_decref(arr);
}

static const char *audit_result(int code, bool revert)
{
	switch (code) {
	case EXIT_DONE:
		return revert ? "reverted" : "applied";
	case EXIT_NOTHING:
		return revert ? "not-applied" : "already";
	case EXIT_UNSAFE:
		return "refused";
	default:
		return "failed";
	}
}

/* Were all patches of the batch in already (not: a half-done attempt in the way)? */
static bool old_in(const bool *already, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (!already[k])
			return false;
	return n > 0;
}

static void apply_job(void *ctx, size_t idx)
{
	struct many *m = ctx;
	struct item *it = &m->items[idx];
	const struct cli_patches *ps = m->a->patches;
	const struct graft_patch *batch[MANY_BATCH_MAX];
	struct graft_audit_event ev[MANY_BATCH_MAX];
	bool already[MANY_BATCH_MAX] = {false}, logged[MANY_BATCH_MAX] = {false};
	struct graft_op_result res = {0};
	struct graft_err err = {0};
	size_t n = it->np; /* at most MANY_BATCH_MAX: cmd_apply refuses more files */
	char done_ids[512] = "", old_ids[512] = "";
	json_t *j = json_object(), *jdone = json_array(), *jold = json_array();
	enum outcome out;
	uint64_t start;
	int code = EXIT_DONE, r = -1;

	if (it->np == 0) {
		(void)graft_err_set(&err, -ENOENT, "%s", it->why ? it->why : "nothing to do");
		code = it->why_code ? it->why_code : EXIT_NOTHING;
		out = OUT_SKIPPED;
		goto report;
	}
	if (check_same(it, &start, &err) < 0) {
		out = OUT_SKIPPED; /* exit code: done, the process chosen is gone */
		goto report;
	}
	if (it->mm_sharer) {
		(void)graft_refuse_shared_mm(it->pid, it->mm_sharer, &err);
		code = EXIT_UNSAFE;
		out = OUT_SKIPPED;
		goto report;
	}
	recover_first(m, it, j);
	for (size_t k = 0; k < n; k++) {
		batch[k] = ps->v[it->pidx[k]];
		if (cli_audit_begin_at(&m->a->audit[it->pidx[k]], &ev[k], "apply", batch[k]->id,
				       it->pid, true, start) != EXIT_DONE) {
			(void)graft_err_set(&err, -EIO, "the attempt cannot be logged");
			code = EXIT_ERROR;
			out = OUT_SKIPPED;
			goto log;
		}
		logged[k] = true;
	}
	r = graft_apply_batch(it->pid, batch, n, &m->a->o, &res, already, &err);
	if (r == 0) {
		out = OUT_DONE;
	} else if (err.kind == GRAFT_ERR_NOOP && err.code == -EEXIST && old_in(already, n)) {
		out = OUT_ALREADY;
		code = EXIT_NOTHING;
	} else {
		code = cli_exit_for(&err);
		out = res.touched ? OUT_FAILED : OUT_SKIPPED;
		if (err.code == -ESRCH)
			code = EXIT_DONE; /* it exited: nothing left to patch */
	}
log:
	for (size_t k = 0; k < n; k++) {
		int ck = already[k] ? EXIT_NOTHING : r == 0 ? EXIT_DONE : cli_exit_for(&err);
		char *list = already[k] ? old_ids : done_ids;

		if (logged[k])
			cli_audit_end_later(&m->a->audit[it->pidx[k]], &ev[k],
					    audit_result(ck, false), ck,
					    already[k] ? 0 : res.stop_ns,
					    ck == EXIT_DONE || ck == EXIT_NOTHING ? NULL : err.msg);
		(void)snprintf(list + strlen(list), sizeof(done_ids) - strlen(list), "%s'%s'",
			       list[0] ? ", " : "", batch[k]->id);
		json_array_append_new(already[k] ? jold : jdone, json_string(batch[k]->id));
	}
report:
	it->stop_ns = res.stop_ns;
	if (!m->a->json) {
		if (out == OUT_DONE)
			cli_job_print("pid %d (%s): APPLIED %s (%zu function%s), stopped %.3f "
				      "ms%s%s\n",
				      (int)it->pid, it->comm, done_ids, res.nfuncs,
				      res.nfuncs == 1 ? "" : "s", res.stop_ns / 1e6,
				      old_ids[0] ? "; already in: " : "", old_ids);
		else if (out == OUT_ALREADY)
			cli_job_print("pid %d (%s): ALREADY %s\n", (int)it->pid, it->comm, old_ids);
		else
			cli_job_print("pid %d%s%s%s: %s %s\n", (int)it->pid,
				      it->comm[0] ? " (" : "", it->comm, it->comm[0] ? ")" : "",
				      words[0][out], err.msg);
	}
	if (out == OUT_DONE) {
		json_object_set_new(j, "patches", jdone);
		json_object_set_new(j, "functions", json_integer((json_int_t)res.nfuncs));
		json_object_set_new(j, "stopped_ms", json_real(res.stop_ns / 1e6));
		json_object_set_new(j, "threads", json_integer((json_int_t)res.nthreads));
	} else {
		json_object_set_new(j, "patches", json_incref(jdone));
		json_decref(jdone);
		if (out != OUT_ALREADY)
			json_object_set_new(j, "error", cli_json_text(err.msg));
	}
	json_object_set_new(j, "already", jold);
	finish(m, it, out, code, j);
}

static void revert_job(void *ctx, size_t idx)
{
	struct many *m = ctx;
	struct item *it = &m->items[idx];
	struct graft_op_result res = {0};
	struct graft_recover_result rec = {0};
	struct graft_audit_event ev;
	struct graft_err err = {0};
	json_t *j = json_object(), *arr = json_array();
	enum outcome out = OUT_DONE;
	uint64_t start;
	int code;

	if (it->mm_sharer)
		(void)graft_refuse_shared_mm(it->pid, it->mm_sharer, &err);
	if (it->mm_sharer || check_same(it, &start, &err) < 0) {
		json_decref(arr);
		if (!m->a->json)
			cli_job_print("pid %d (%s): %s %s\n", (int)it->pid, it->comm,
				      words[1][OUT_SKIPPED], err.msg);
		json_object_set_new(j, "error", cli_json_text(err.msg));
		finish(m, it, OUT_SKIPPED, it->mm_sharer ? EXIT_UNSAFE : EXIT_DONE, j);
		return;
	}
	(void)cli_recover_pid(it->pid, &m->a->o, m->a->audit, true, arr, true, &rec);
	json_decref(arr);
	for (size_t i = 0; i < rec.n; i++)
		if (!strcmp(rec.items[i].patch_id, m->a->id)) {
			/* the interrupted attempt of this very patch is out now */
			if (!m->a->json)
				cli_job_print("pid %d (%s): REVERTED '%s' (an interrupted attempt, "
					      "rolled back)\n",
					      (int)it->pid, it->comm, m->a->id);
			json_object_set_new(j, "recovered", json_true());
			finish(m, it, OUT_DONE, EXIT_DONE, j);
			return;
		}
	code = cli_audit_begin_at(m->a->audit, &ev, "revert", m->a->id, it->pid, false, start);
	if (code != EXIT_DONE) {
		(void)graft_err_set(&err, -EIO, "the attempt cannot be logged");
		out = OUT_SKIPPED;
	} else {
		if (graft_revert(it->pid, m->a->id, &m->a->o, &res, &err) < 0) {
			code = cli_exit_for(&err);
			/* a stop attempted means graft was at work in it */
			out = code == EXIT_NOTHING ? OUT_ALREADY
			      : res.attempts	   ? OUT_FAILED
						   : OUT_SKIPPED;
			if (err.code == -ESRCH)
				code = EXIT_DONE;
		}
		cli_audit_end_later(m->a->audit, &ev, audit_result(code, true), code, res.stop_ns,
				    out == OUT_DONE ? NULL : err.msg);
	}
	if (!m->a->json) {
		if (out == OUT_DONE)
			cli_job_print("pid %d (%s): REVERTED '%s' (%zu function%s), stopped %.3f "
				      "ms\n",
				      (int)it->pid, it->comm, m->a->id, res.nfuncs,
				      res.nfuncs == 1 ? "" : "s", res.stop_ns / 1e6);
		else
			cli_job_print("pid %d (%s): %s %s\n", (int)it->pid, it->comm, words[1][out],
				      err.msg);
	}
	if (out == OUT_DONE) {
		json_object_set_new(j, "functions", json_integer((json_int_t)res.nfuncs));
		json_object_set_new(j, "stopped_ms", json_real(res.stop_ns / 1e6));
	} else {
		json_object_set_new(j, "error", cli_json_text(err.msg));
	}
	it->stop_ns = res.stop_ns;
	finish(m, it, out, code, j);
}

static void gate_enter(void *ctx)
{
	struct many *m = ctx;

	(void)pthread_mutex_lock(&m->gate_lock);
	while (m->stopped >= m->max_stopped)
		(void)pthread_cond_wait(&m->gate_cond, &m->gate_lock);
	m->stopped++;
	(void)pthread_mutex_unlock(&m->gate_lock);
}

static void gate_leave(void *ctx)
{
	struct many *m = ctx;

	(void)pthread_mutex_lock(&m->gate_lock);
	m->stopped--;
	(void)pthread_cond_signal(&m->gate_cond);
	(void)pthread_mutex_unlock(&m->gate_lock);
}

/* --- the run ---------------------------------------------------------------------- */

static void progress(void *ctx, size_t done, size_t n, bool final)
{
	struct many *m = ctx;

	(void) final;
	fprintf(stderr, "\r\033[K[%zu/%zu] %zu %s, %zu %s, %zu skipped, %zu failed", done, n,
		atomic_load(&m->count[OUT_DONE]), m->revert ? "reverted" : "applied",
		atomic_load(&m->count[OUT_ALREADY]), m->revert ? "not applied" : "already",
		atomic_load(&m->count[OUT_SKIPPED]), atomic_load(&m->count[OUT_FAILED]));
}

static int run(struct many *m)
{
	uint64_t t0 = graft_now_ns(), longest = 0;
	size_t attempted = 0;
	int rc, sig, worst = EXIT_DONE;
	bool any_work = false;

	if ((rc = choose(m)) != EXIT_DONE)
		return rc;
	if (m->n == 0) {
		if (m->revert)
			cli_error("no process carries patch '%s'", m->a->id);
		else
			cli_error("no process%s maps an object %s",
				  m->a->sel.exe || m->a->sel.user ? " of those selected" : "",
				  m->a->patches->n == 1 ? "the patch is for"
							: "any of the patches are for");
		if (m->a->json)
			cli_json_print(
				json_pack("{s:[], s:{s:i}}", "results", "summary", "processes", 0));
		return EXIT_NOTHING;
	}
	m->results = json_array();
	/* with several processes the workers keep the CPUs busy: no spinning in waits */
	graft_pt_set_polling(m->n <= 1);
	cli_audit_spool(m->a->audit, true);
	sig = cli_run_jobs(m->n, m->a->jobs, m->revert ? revert_job : apply_job, m, progress,
			   &attempted);
	graft_pt_set_polling(true);
	cli_audit_flush(m->a->audit); /* every patch's cli_audit shares one log */
	cli_audit_spool(m->a->audit, false);
	for (size_t i = 0; i < attempted && i < m->n; i++) {
		const struct item *it = &m->items[i];

		if (it->stop_ns > longest)
			longest = it->stop_ns;
		any_work |= it->out == OUT_DONE || it->out == OUT_FAILED;
		if (it->code != EXIT_NOTHING)
			worst = cli_worse(worst, it->code);
	}
	if (!any_work && worst == EXIT_DONE)
		worst = EXIT_NOTHING;
	if (sig) {
		cli_error("interrupted by signal %d: %zu of %zu processes not attempted", sig,
			  m->n - attempted, m->n);
		worst = EXIT_ERROR;
	}
	{
		double secs = (double)(graft_now_ns() - t0) / 1e9;
		size_t c[OUT_N];

		for (int k = 0; k < OUT_N; k++)
			c[k] = atomic_load(&m->count[k]);
		if (m->a->json)
			cli_json_print(json_pack(
				"{s:O, s:{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:i}}", "results",
				m->results, "summary", "processes", (json_int_t)m->n,
				m->revert ? "reverted" : "applied", (json_int_t)c[OUT_DONE],
				m->revert ? "not_applied" : "already", (json_int_t)c[OUT_ALREADY],
				"skipped", (json_int_t)c[OUT_SKIPPED], "failed",
				(json_int_t)c[OUT_FAILED], "seconds", secs, "longest_stop_ms",
				longest / 1e6, "jobs", (int)m->a->jobs));
		else
			printf("summary: %zu %s, %zu %s, %zu skipped, %zu failed, of %zu "
			       "process%s in %.2f s (%u workers); longest stop %.3f ms\n",
			       c[OUT_DONE], m->revert ? "reverted" : "applied", c[OUT_ALREADY],
			       m->revert ? "not applied" : "already", c[OUT_SKIPPED], c[OUT_FAILED],
			       m->n, m->n == 1 ? "" : "es", secs, m->a->jobs, longest / 1e6);
	}
	json_decref(m->results);
	return worst;
}

static int many_run(struct many_args *a, bool revert)
{
	struct many m = {.a = a, .self = getpid(), .revert = revert};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	if (!a->jobs)
		a->jobs = cli_default_jobs();
	/* a stop needs two CPUs: graft's worker, and the target's threads to get into the stop */
	m.max_stopped = ncpu > 3 ? (unsigned)ncpu / 2 : 1;
	m.gate = (struct graft_stop_gate){gate_enter, gate_leave, &m};
	(void)pthread_mutex_init(&m.gate_lock, NULL);
	(void)pthread_cond_init(&m.gate_cond, NULL);
	a->o.gate = &m.gate;
	/* throughput first: a single-threaded process is stopped once, not twice (patch/apply.h) */
	a->o.hold_home = !revert;
	rc = run(&m);
	for (size_t i = 0; i < m.n; i++)
		free(m.items[i].pidx);
	free(m.items);
	graft_objcache_free(m.cache);
	(void)pthread_cond_destroy(&m.gate_cond);
	(void)pthread_mutex_destroy(&m.gate_lock);
	a->o.gate = NULL;
	a->o.hold_home = false;
	return rc;
}

int cli_apply_many(struct many_args *a)
{
	return many_run(a, false);
}

int cli_revert_many(struct many_args *a)
{
	return many_run(a, true);
}
