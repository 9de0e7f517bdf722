/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stop the world. Every listed thread is attached with PTRACE_SEIZE (which
 * does not stop it) and PTRACE_O_TRACECLONE, then all are interrupted before
 * any is waited for, so the stops overlap and the process is stopped for
 * about one wake-up round trip plus the per-thread syscalls. A thread
 * created meanwhile is attached by the kernel and reported by its creator,
 * or, when its clone() was already under way at the seize, found by listing
 * /proc/PID/task again once the others are stopped (graft_pt_freeze).
 * Thaw is PTRACE_DETACH from the stop: detaching clears the pending
 * interrupt and puts a thread back into group stop if the process was
 * stopped, so the target sees nothing but a pause.
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "ptrace/pt-priv.h"
#include "ptrace/pt.h"
#include "util/log.h"

#define FREEZE_MAX_ROUNDS 1000
#define WAIT_POLL_NS	  50000u

/*
 * waitpid, polling briefly first. A stop usually arrives within tens of
 * microseconds; blocking instead lets graft's CPU go idle, and waking an idle
 * (virtual) CPU costs about as much again. The poll is bounded, so a target
 * thread that needs graft's CPU to reach its stop gets it soon. When there
 * are more threads to stop than other CPUs, the threads need every CPU to
 * reach their stops and polling only gets in the way (measured: 64 threads
 * on 2 CPUs, 1.3 ms blocking, 1.7 ms polling), so the freeze turns it off.
 */

/*
 * Polling pays off when graft has a CPU to itself. A command working on
 * many processes at once has workers (and their targets) for every CPU: a
 * spinning worker there only takes CPU from the threads it waits for.
 */
static atomic_bool polling_off;

void graft_pt_set_polling(bool on)
{
	atomic_store(&polling_off, !on);
}

pid_t pt_wait_polling(pid_t tid, int *st, bool poll, uint64_t deadline_ns)
{
	if (poll && !atomic_load(&polling_off)) {
		uint64_t until = graft_now_ns() + WAIT_POLL_NS;

		do {
			pid_t r = waitpid(tid, st, __WALL | WNOHANG);

			if (r != 0)
				return r;
		} while (graft_now_ns() < until);
	}
	/* no timer to be had (the signal is the program's): wait as long as it takes */
	if (deadline_ns && !pt_alarm_arm(deadline_ns))
		deadline_ns = 0;
	for (;;) {
		pid_t r = waitpid(tid, st, __WALL);

		if (r >= 0 || errno != EINTR || !deadline_ns)
			return r;
		if (graft_now_ns() >= deadline_ns) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
}

enum pt_wait_result pt_wait_stop(pid_t tid, uint64_t deadline_ns, int *err_no)
{
	return pt_wait_stop_sig(tid, deadline_ns, err_no, NULL);
}

enum pt_wait_result pt_wait_stop_sig(pid_t tid, uint64_t deadline_ns, int *err_no, int *stop_sig)
{
	for (;;) {
		int st;
		pid_t r = pt_wait_polling(tid, &st, true, deadline_ns);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			*err_no = errno;
			return errno == ECHILD ? PT_GONE : errno == ETIMEDOUT ? PT_LATE : PT_ERROR;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return PT_GONE;
		if (!WIFSTOPPED(st))
			continue;
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			if (stop_sig)
				*stop_sig = WSTOPSIG(st);
			return PT_STOPPED;
		}
		/*
		 * Another stop came first: an event, or a signal to deliver
		 * (delivered now, in the thread's own context). Any ptrace
		 * stop clears a pending interrupt, so interrupt again after
		 * resuming, or the thread would run on and we would wait
		 * forever. A thread it cloned is attached to us and will stop
		 * (PTRACE_O_TRACECLONE): let it go once it has.
		 */
		if ((st >> 16) == PTRACE_EVENT_CLONE) {
			unsigned long child = 0;

			if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && child)
				pt_straggler_add(0, (pid_t)child);
		}
		if (ptrace(PTRACE_CONT, tid, 0,
			   (void *)(long)(((st >> 16) || WSTOPSIG(st) == (SIGTRAP | 0x80))
						  ? 0
						  : WSTOPSIG(st))) < 0 &&
		    errno == ESRCH)
			return PT_GONE;
		(void)ptrace(PTRACE_INTERRUPT, tid, 0, 0);
	}
}

void pt_seize_failure(pid_t tid, int err_no, char *buf, size_t len)
{
	pid_t tracer = err_no == EPERM ? graft_proc_tracer(tid) : 0;

	if (tracer > 0) {
		char comm[64];

		graft_proc_comm(tracer, comm, sizeof(comm));
		(void)snprintf(buf, len, "already traced by pid %d (%s)", (int)tracer, comm);
	} else {
		(void)snprintf(buf, len, "%s", strerror(err_no));
	}
}

static bool world_has(const struct graft_pt_world *w, pid_t tid)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->t[i].tid == tid)
			return true;
	return false;
}

void graft_pt_world_free(struct graft_pt_world *w)
{
	free(w->t);
	w->t = NULL;
	w->n = w->cap = 0;
}

void graft_pt_thaw(struct graft_pt_world *w)
{
	for (size_t i = 0; i < w->n; i++) {
		struct graft_pt_thread *t = &w->t[i];
		int e;

		if (!t->seized)
			continue;
		/* seized but never stopped (a failure midway): stop it to detach */
		if (!t->stopped && ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) == 0) {
			switch (pt_wait_stop(t->tid, graft_now_ns() + GRAFT_PT_STOP_WAIT_NS, &e)) {
			case PT_STOPPED:
				t->stopped = true;
				break;
			case PT_LATE:
				pt_straggler_add(w->pid, t->tid);
				break;
			default:
				break;
			}
		}
		t->seized = false;
		if (!t->stopped)
			continue;
		if (ptrace(PTRACE_DETACH, t->tid, 0, 0) < 0) {
			int st;

			/* gone meanwhile: reap its notification */
			if (errno == ESRCH)
				(void)waitpid(t->tid, &st, __WALL | WNOHANG);
			else
				graft_warn("cannot detach thread %d: %s", (int)t->tid,
					   strerror(errno));
		}
		t->stopped = false;
	}
	w->stop_end_ns = graft_now_ns();
	/* the freeze's deadline timer, disarmed here, once the threads run again */
	pt_alarm_disarm();
}

static int world_add(struct graft_pt_world *w, pid_t tid, struct graft_err *err)
{
	if (graft_grow((void **)&w->t, &w->cap, w->n + 1, sizeof(*w->t)) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	memset(&w->t[w->n], 0, sizeof(w->t[0]));
	w->t[w->n].seized = true;
	w->t[w->n++].tid = tid;
	return 0;
}

/* Seize the listed threads not seized yet; *added counts them. */
static int seize_new(struct graft_pt_world *w, const pid_t *tids, size_t nt, size_t *added,
		     struct graft_err *err)
{
	*added = 0;
	for (size_t i = 0; i < nt; i++) {
		if (world_has(w, tids[i]))
			continue;
		if (ptrace(PTRACE_SEIZE, tids[i], 0, (void *)PTRACE_O_TRACECLONE) < 0) {
			char why[128];

			if (errno == ESRCH ||
			    (errno == EPERM && !graft_proc_task_alive(w->pid, tids[i])))
				continue; /* exited meanwhile (a zombie thread answers EPERM) */
			/* the tracer is a thread: compare with ours */
			if (errno != EPERM || graft_proc_tracer(tids[i]) != gettid()) {
				pt_seize_failure(tids[i], errno, why, sizeof(why));
				return graft_err_set(err, -errno, "cannot attach to thread %d: %s",
						     (int)tids[i], why);
			}
			/* auto-attached already: created by a thread we hold */
		}
		if (world_add(w, tids[i], err) < 0) {
			(void)ptrace(PTRACE_DETACH, tids[i], 0, 0);
			return -ENOMEM;
		}
		(*added)++;
	}
	return 0;
}

/*
 * Wait until thread i is stopped. A thread that clones meanwhile reports
 * PTRACE_EVENT_CLONE: its child is already attached (PTRACE_O_TRACECLONE)
 * and is added to the world, to be waited for in turn.
 */
static int wait_thread(struct graft_pt_world *w, size_t i, graft_pt_stopped_fn on_stopped,
		       void *ctx, struct graft_err *err)
{
	for (;;) {
		pid_t tid = w->t[i].tid;
		int st;
		pid_t r = pt_wait_polling(tid, &st, w->poll, w->deadline_ns);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ETIMEDOUT) {
			w->late = tid;
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ETIMEDOUT,
					      "thread %d did not stop within %llu ms", (int)tid,
					      GRAFT_PT_STOP_WAIT_NS / 1000000);
		}
		if (r < 0 && errno != ECHILD)
			return graft_err_set(err, -errno, "cannot stop thread %d: %s", (int)tid,
					     strerror(errno));
		if (r < 0 || WIFEXITED(st) || WIFSIGNALED(st)) {
			w->t[i].seized = false;
			return 0;
		}
		if (!WIFSTOPPED(st))
			continue;
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			w->t[i].stopped = true;
			if (ptrace(PTRACE_GETREGS, tid, 0, &w->t[i].regs) < 0)
				return graft_err_set(err, -errno,
						     "cannot read registers of thread %d: %s",
						     (int)tid, strerror(errno));
			return on_stopped ? on_stopped(ctx, &w->t[i], err) : 0;
		}
		if ((st >> 16) == PTRACE_EVENT_CLONE) {
			unsigned long child = 0;

			if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && child &&
			    !world_has(w, (pid_t)child) && world_add(w, (pid_t)child, err) < 0)
				return -ENOMEM;
			/* the clone stop consumed our interrupt: resume, interrupt again */
			(void)ptrace(PTRACE_CONT, tid, 0, 0);
			(void)ptrace(PTRACE_INTERRUPT, tid, 0, 0);
			continue;
		}
		/* another event: let it pass; a signal: deliver it now; then as above */
		if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)((st >> 16) ? 0 : WSTOPSIG(st))) <
			    0 &&
		    errno == ESRCH) {
			w->t[i].seized = false;
			return 0;
		}
		(void)ptrace(PTRACE_INTERRUPT, tid, 0, 0);
	}
}

static unsigned world_stopped(const struct graft_pt_world *w)
{
	unsigned n = 0;

	for (size_t i = 0; i < w->n; i++)
		n += w->t[i].stopped;
	return n;
}

/*
 * List the threads and seize those not held yet; *added counts them. The
 * test switch freeze-late-threads makes the first listing see only the main
 * thread, as if the others had been created just after it.
 */
static int seize_listed(struct graft_pt_world *w, int taskdir, bool again, size_t *added,
			struct graft_err *err)
{
	_cleanup_free_ pid_t *tids = NULL;
	size_t nt = 0;
	int r = graft_proc_tasks_read(taskdir, again, w->pid, &tids, &nt, err);

	if (r < 0)
		return r;
	if (!again && nt > 1 && graft_test_fault("freeze-late-threads"))
		nt = 1;
	return seize_new(w, tids, nt, added, err);
}

int graft_pt_freeze(pid_t pid, struct graft_pt_world *w, graft_pt_stopped_fn on_stopped, void *ctx,
		    struct graft_err *err)
{
	return graft_pt_freeze_held(pid, w, NULL, 0, on_stopped, ctx, err);
}

int graft_pt_freeze_held(pid_t pid, struct graft_pt_world *w, const struct graft_pt_thread *held,
			 uint64_t held_since_ns, graft_pt_stopped_fn on_stopped, void *ctx,
			 struct graft_err *err)
{
	_cleanup_close_ int taskdir = -1, statfd = -1;
	size_t added = 0, waited = 0;
	unsigned nt0 = 0;
	int r;

	memset(w, 0, sizeof(*w));
	w->pid = pid;
	if (held) {
		/* stopped already: in the world first, checked first, never interrupted */
		if (world_add(w, held->tid, err) < 0) {
			(void)ptrace(PTRACE_DETACH, held->tid, 0, 0);
			return -ENOMEM;
		}
		w->t[0] = *held;
		w->stop_start_ns = held_since_ns;
		r = on_stopped ? on_stopped(ctx, &w->t[0], err) : 0;
		if (r < 0) {
			graft_pt_thaw(w);
			graft_pt_world_free(w);
			return r;
		}
	}
	(void)graft_pt_stragglers_release(0); /* late threads of earlier stops that stopped since */
	statfd = graft_proc_stat_open(pid, NULL); /* optional: the listing does without */
	/*
	 * Seizing does not stop a thread. One thread by the count (most
	 * processes of a host): it is the main one (a main thread that exited
	 * before the others stays counted, a zombie, until they are gone), and
	 * the /proc/PID/task listing is spared; a thread made meanwhile is
	 * found by the count's second look below, like any other.
	 */
	if (held) {
		r = 0; /* the count is read once all are stopped (below), as for any */
	} else if (statfd >= 0 && graft_proc_stat_nthreads(statfd, &nt0) == 0 && nt0 == 1) {
		r = seize_new(w, &pid, 1, &added, err);
	} else {
		taskdir = graft_proc_tasks_open(pid, err);
		if (taskdir < 0)
			return taskdir;
		r = seize_listed(w, taskdir, false, &added, err);
	}
	if (r == 0) {
		static atomic_long ncpu; /* sysconf reads a file each time: once is enough */
		long cpus = atomic_load(&ncpu);

		if (!cpus) {
			cpus = sysconf(_SC_NPROCESSORS_ONLN);
			atomic_store(&ncpu, cpus);
		}

		w->poll = (long)w->n < (cpus > 1 ? cpus : 2);
		/* all interrupts before any wait: the stops overlap */
		if (!held)
			w->stop_start_ns = graft_now_ns();
		w->deadline_ns = graft_now_ns() + GRAFT_PT_STOP_WAIT_NS;
		for (size_t i = 0; i < w->n; i++)
			if (!w->t[i].stopped)
				(void)ptrace(PTRACE_INTERRUPT, w->t[i].tid, 0, 0);
	}
	/*
	 * Settle the thread set while the listed threads are stopped. A thread
	 * seized with PTRACE_O_TRACECLONE has the threads it creates attached
	 * for us, reported by its clone event (wait_thread) - but only clones
	 * it begins after the seize: the kernel decides whether to trace the
	 * child when clone() starts (never, with CLONE_UNTRACED), and links
	 * the child into the thread list only near its end, so a clone under
	 * way at the seize yields a thread no one traces, which the listing
	 * above may not show. A pending interrupt does not cancel a clone
	 * (only a fatal signal does), but a thread stops only on its way back
	 * to user space: once its creator is stopped, the new thread is
	 * linked. So a listing made now shows every thread; threads it finds
	 * are seized, stopped and checked like the rest, until a listing
	 * finds nothing new. The listing is skipped when the thread count of
	 * /proc/PID/stat equals the number of threads stopped (it counts every
	 * thread not yet released, so one not ours would make it larger): 6 us
	 * for 64 threads, where listing them takes 25-100 us.
	 */
	for (unsigned round = 0; r == 0; round++) {
		unsigned nt;

		for (; waited < w->n && r == 0; waited++) /* w->n grows with clones */
			if (!w->t[waited].stopped)
				r = wait_thread(w, waited, on_stopped, ctx, err);
		if (r < 0 || (statfd >= 0 && graft_proc_stat_nthreads(statfd, &nt) == 0 &&
			      nt == world_stopped(w)))
			break;
		if (taskdir < 0 && (taskdir = graft_proc_tasks_open(pid, err)) < 0) {
			r = taskdir;
			break;
		}
		r = seize_listed(w, taskdir, true, &added, err);
		if (r < 0 || added == 0)
			break;
		if (round == FREEZE_MAX_ROUNDS) {
			r = graft_err_set(
				err, -EAGAIN,
				"threads of process %d appear faster than they can be attached",
				(int)pid);
			break;
		}
		for (size_t i = w->n - added; i < w->n; i++)
			(void)ptrace(PTRACE_INTERRUPT, w->t[i].tid, 0, 0);
	}
	if (r == 0 && world_stopped(w) == 0)
		r = graft_err_set(err, -ESRCH, "process %d exited", (int)pid);
	if (r < 0) {
		/* the late ones stay attached, interrupt pending, until they stop */
		for (size_t i = 0; r == -ETIMEDOUT && i < w->n; i++)
			if (w->t[i].seized && !w->t[i].stopped) {
				pt_straggler_add(pid, w->t[i].tid);
				w->t[i].seized = false;
			}
		graft_pt_thaw(w);
		graft_pt_world_free(w);
		/* those not waited for yet that did stop: let them go now, not at the retry */
		(void)graft_pt_stragglers_release(0);
		return r;
	}
	/* drop threads that exited while we stopped the others */
	for (size_t i = 0; i < w->n;) {
		if (!w->t[i].stopped)
			w->t[i] = w->t[--w->n];
		else
			i++;
	}
	return 0;
}
