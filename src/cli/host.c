/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the host-wide commands share: loading a set of patch files (named,
 * or every *.graft of a directory), choosing processes (--all, --pid,
 * --exe, --user), and running one job per process on a few worker threads
 * with a progress line on a terminal.
 *
 * Workers: ptrace ties a tracee to the thread that attached, so each job
 * does all of its work on one worker. Signals: every thread blocks the
 * terminating signals and the main thread waits for them with sigtimedwait,
 * so Ctrl-C or a TERM never lands in the middle of a worker's remote call;
 * the workers finish the process in hand, take no new one, and the command
 * reports what was not attempted.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/host.h"

#define DIR_PATCHES_MAX 256
#define JOBS_MAX	64

/* --- patch sets ------------------------------------------------------------ */

void cli_patches_free(struct cli_patches *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		graft_patch_free(ps->v[i]);
		free(ps->paths[i]);
	}
	free(ps->v);
	free(ps->sig);
	free(ps->paths);
	ps->v = NULL;
	ps->sig = NULL;
	ps->paths = NULL;
	ps->n = 0; /* error stays: the caller logs it */
}

static int patches_add(struct cli_patches *ps, const char *path, const char *keys, bool verify,
		       bool lenient)
{
	struct graft_err err = {0};
	struct graft_patch *p = NULL;
	struct graft_sig_status sig = {0};
	size_t i = ps->n;

	if (graft_patch_load_verified(path, keys, verify, &p, &sig, &err) < 0) {
		struct graft_err err2 = {0};

		/* scan reads any patch; it only says which ones apply would refuse */
		if (!lenient || graft_patch_load_verified(path, keys, false, &p, &sig, &err2) < 0) {
			(void)snprintf(ps->error, sizeof(ps->error), "%s", err.msg);
			return cli_fail(&err, "cannot load '%s'", path);
		}
		cli_warn("%s; 'graft apply' would refuse it", err.msg);
	}
	for (size_t k = 0; k < ps->n; k++)
		if (!strcmp(ps->v[k]->id, p->id)) {
			cli_error("'%s' and '%s' are both patch '%s'", ps->paths[k], path, p->id);
			graft_patch_free(p);
			return EXIT_USAGE;
		}
	ps->v = realloc(ps->v, (i + 1) * sizeof(*ps->v));
	ps->sig = realloc(ps->sig, (i + 1) * sizeof(*ps->sig));
	ps->paths = realloc(ps->paths, (i + 1) * sizeof(*ps->paths));
	if (!ps->v || !ps->sig || !ps->paths) {
		graft_patch_free(p);
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	ps->v[i] = p;
	ps->sig[i] = sig;
	ps->paths[i] = strdup(path);
	ps->n++;
	return ps->paths[i] ? EXIT_DONE : EXIT_ERROR;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_patches_load(struct cli_patches *ps, char *const *paths, size_t n, const char *dir,
		     const char *keys, bool verify, bool lenient)
{
	int rc;

	memset(ps, 0, sizeof(*ps));
	for (size_t i = 0; i < n; i++)
		if ((rc = patches_add(ps, paths[i], keys, verify, lenient)) != EXIT_DONE)
			goto fail;
	if (dir) {
		char *names[DIR_PATCHES_MAX];
		size_t nn = 0;
		struct dirent *de;
		DIR *d = opendir(dir);

		if (!d) {
			cli_error("cannot read patch directory '%s': %s", dir, strerror(errno));
			rc = EXIT_ERROR;
			goto fail;
		}
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);

			if (l <= 6 || strcmp(de->d_name + l - 6, ".graft") != 0)
				continue;
			if (nn == DIR_PATCHES_MAX) {
				cli_error("more than %d patch files in '%s'", DIR_PATCHES_MAX, dir);
				rc = EXIT_ERROR;
				break;
			}
			if (asprintf(&names[nn], "%s/%s", dir, de->d_name) < 0) {
				rc = EXIT_ERROR;
				break;
			}
			nn++;
			rc = EXIT_DONE;
		}
		closedir(d);
		qsort(names, nn, sizeof(*names), name_cmp);
		for (size_t i = 0; i < nn; i++) {
			if (rc == EXIT_DONE || rc == EXIT_NOTHING)
				rc = patches_add(ps, names[i], keys, verify, lenient);
			free(names[i]);
		}
		if (nn == 0 && rc != EXIT_ERROR)
			cli_warn("no *.graft files in '%s'", dir);
		if (rc != EXIT_DONE && rc != EXIT_NOTHING && nn)
			goto fail;
	}
	return EXIT_DONE;
fail:
	cli_patches_free(ps);
	return rc;
}

/* --- choosing processes ---------------------------------------------------- */

int cli_select_init(struct cli_select *s, const char *exe, const char *user)
{
	if (exe) {
		struct stat st;

		if (!realpath(exe, s->exe_path) || stat(s->exe_path, &st) < 0) {
			cli_error("cannot use --exe '%s': %s", exe, strerror(errno));
			return EXIT_USAGE;
		}
		s->exe = true;
		s->exe_dev = st.st_dev;
		s->exe_ino = st.st_ino;
	}
	if (user) {
		struct passwd *pw = getpwnam(user);
		char *end;
		unsigned long v = strtoul(user, &end, 10);

		if (pw)
			s->uid = pw->pw_uid;
		else if (*user && !*end)
			s->uid = (uid_t)v;
		else {
			cli_error("no user '%s'", user);
			return EXIT_USAGE;
		}
		s->user = true;
	}
	return EXIT_DONE;
}

bool cli_select_match(const struct cli_select *s, pid_t pid, const struct graft_proc_status *st)
{
	if (s->user && st->uid != s->uid && st->euid != s->uid)
		return false;
	if (s->exe) {
		char link[64], path[4096];
		struct stat es;
		ssize_t n;

		(void)snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
		if (stat(link, &es) == 0 && es.st_dev == s->exe_dev && es.st_ino == s->exe_ino)
			return true;
		/* the file at that path may be newer than the one running: same path counts */
		n = readlink(link, path, sizeof(path) - 1);
		if (n <= 0)
			return false;
		path[n] = '\0';
		if (n > 10 && !strcmp(path + n - 10, " (deleted)"))
			path[n - 10] = '\0';
		return !strcmp(path, s->exe_path);
	}
	return true;
}

/* --- output and progress ------------------------------------------------------ */

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static bool progress_shown;

void cli_job_print(const char *fmt, ...)
{
	va_list ap;

	(void)pthread_mutex_lock(&out_lock);
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		progress_shown = false;
	}
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	(void)pthread_mutex_unlock(&out_lock);
}

void cli_job_lock(void)
{
	(void)pthread_mutex_lock(&out_lock);
}

void cli_job_unlock(void)
{
	(void)pthread_mutex_unlock(&out_lock);
}

/* --- the workers ------------------------------------------------------------- */

struct run {
	size_t n;
	cli_job_fn fn;
	void *ctx;
	atomic_size_t next;
	atomic_size_t done;
	atomic_bool stop;
	pthread_t main;
};

/* Not a terminating signal: the last job's worker wakes the main thread with it. */
#define SIG_ALL_DONE SIGRTMIN

static void *worker(void *arg)
{
	struct run *r = arg;
	sigset_t old;

	/* held (inherited) for the worker's life: its stops need no mask changes */
	graft_signals_hold(&old);
	while (!atomic_load(&r->stop)) {
		size_t i = atomic_fetch_add(&r->next, 1);

		if (i >= r->n)
			break;
		r->fn(r->ctx, i);
		if (atomic_fetch_add(&r->done, 1) + 1 == r->n)
			(void)pthread_kill(r->main, SIG_ALL_DONE); /* no tick to wait out */
	}
	graft_signals_release(&old);
	return NULL;
}

int cli_parse_jobs(const char *s, unsigned *jobs)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v < 1 || v > JOBS_MAX) {
		cli_error("--jobs wants a number from 1 to %d, not '%s'", JOBS_MAX, s);
		return -EINVAL;
	}
	*jobs = (unsigned)v;
	return 0;
}

unsigned cli_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	/* a job mostly waits for its target to stop: twice the CPUs keeps them busy */
	return n < 1 ? 2 : n > JOBS_MAX / 2 ? JOBS_MAX : (unsigned)(2 * n);
}

/*
 * The signals that would end graft (default action: terminate) and that it
 * does not ignore (nohup): each ends a run the way SIGTERM does, after the
 * processes in hand. Not SIGPIPE (a closed stdout makes writes fail), not
 * the faults, not the two signals graft sends itself.
 */
static void terminating_signals(sigset_t *set)
{
	static const int sigs[] = {SIGHUP,    SIGINT,  SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM,
				   SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO,	  SIGPWR};
	struct sigaction sa;

	sigemptyset(set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
			sigaddset(set, sigs[i]);
	for (int sig = SIGRTMIN + 1; sig <= SIGRTMAX; sig++)
		if (sig != GRAFT_WAKE_SIG && sigaction(sig, NULL, &sa) == 0 &&
		    sa.sa_handler == SIG_DFL)
			sigaddset(set, sig);
}

int cli_run_jobs(size_t n, unsigned jobs, cli_job_fn fn, void *ctx, cli_progress_fn progress,
		 size_t *attempted)
{
	pthread_t th[JOBS_MAX];
	struct run r = {.n = n, .fn = fn, .ctx = ctx, .main = pthread_self()};
	sigset_t term, old, wait_for;
	unsigned started = 0;
	int sig = 0;
	bool tty = progress && isatty(STDERR_FILENO);

	if (jobs < 1)
		jobs = 1;
	if (jobs > JOBS_MAX)
		jobs = JOBS_MAX;
	if (jobs > n)
		jobs = n ? (unsigned)n : 1;
	terminating_signals(&term);
	/*
	 * Every asynchronous signal is held in every thread for the run, as
	 * graft_signals_hold does for one stop: held only in the worker, a
	 * signal sent to graft goes to a thread that does not hold it, and a
	 * SIGUSR1 or SIGALRM killed graft inside some worker's stop. The main
	 * thread takes the terminating ones with sigtimedwait: the workers
	 * finish the processes in hand. The rest (SIGTSTP, say) wait for the
	 * end of the run.
	 * This also keeps SIGPIPE (graft apply --all | head: writes fail
	 * instead) and the SIGCHLD each stop of a target sends (queued once,
	 * dropped when the mask is restored; not waking the main thread for
	 * nothing two or three times per process) from doing harm.
	 */
	graft_signals_hold(&old);
	wait_for = term;
	sigaddset(&wait_for, SIG_ALL_DONE);
	for (; started < jobs; started++)
		if (pthread_create(&th[started], NULL, worker, &r) != 0)
			break;
	if (started == 0)
		worker(&r); /* no thread to be had: do it here */
	for (unsigned ticks = 1; started && atomic_load(&r.done) < n && !atomic_load(&r.stop);
	     ticks++) {
		/* short ticks: a run of a few processes ends without waiting for one */
		struct timespec tick = {0, 20 * 1000000L};
		siginfo_t si;
		int s = sigtimedwait(&wait_for, &si, &tick);

		if (s > 0 && s != SIG_ALL_DONE) {
			sig = s;
			atomic_store(&r.stop, true);
		}
		if (tty && ticks % 5 == 0) {
			(void)pthread_mutex_lock(&out_lock);
			progress(ctx, atomic_load(&r.done), n, false);
			progress_shown = true;
			(void)pthread_mutex_unlock(&out_lock);
		}
	}
	for (unsigned i = 0; i < started; i++)
		(void)pthread_join(th[i], NULL);
	{
		/* a wake-up sent after the loop ended must not outlive the mask: it would kill */
		struct timespec now = {0, 0};
		sigset_t done_sig;

		sigemptyset(&done_sig);
		sigaddset(&done_sig, SIG_ALL_DONE);
		while (sigtimedwait(&done_sig, NULL, &now) == SIG_ALL_DONE)
			;
	}
	if (tty) {
		(void)pthread_mutex_lock(&out_lock);
		if (progress_shown)
			fputs("\r\033[K", stderr);
		progress_shown = false;
		(void)pthread_mutex_unlock(&out_lock);
	}
	graft_signals_release(&old);
	*attempted = atomic_load(&r.done);
	return sig;
}
