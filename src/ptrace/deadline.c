/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bounded waits for a thread to stop, and what to do with one that does not.
 *
 * PTRACE_INTERRUPT stops a thread only on its way back to user space. One in
 * an uninterruptible sleep (state D: a hung NFS or FUSE server, a disk, the
 * parent of a vfork child that has not exec'd yet) stops when the sleep ends,
 * which may be never. Waiting for it with the rest of the process stopped
 * would freeze the process for as long, so every wait for a stop has a
 * deadline: a per-thread POSIX timer sends this thread GRAFT_WAKE_SIG, whose
 * handler does nothing, so the blocked waitpid returns EINTR. The signal is
 * never held (graft_signals_hold leaves it out); a stray one only interrupts
 * a system call graft retries anyway.
 *
 * A thread that missed its deadline stays seized with the interrupt pending:
 * no ptrace request can let a running tracee go. It becomes a straggler of
 * the tracing thread: when it wakes it stops, and the next look at the
 * stragglers (graft_pt_stragglers_release) detaches it. Should graft exit
 * first, the kernel detaches it (and drops the pending interrupt).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "ptrace/pt-priv.h"
#include "ptrace/pt.h"
#include "util/log.h"

static void wake_noop(int sig)
{
	(void)sig;
}

static pthread_once_t wake_once = PTHREAD_ONCE_INIT;
static bool wake_ready;

/* Installed once; no SA_RESTART, so a blocked waitpid returns EINTR. */
static void wake_setup(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_noop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(GRAFT_WAKE_SIG, NULL, &old) < 0)
		return;
	/* the program has its own use for the signal: no deadlines then */
	if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
		return;
	wake_ready = sigaction(GRAFT_WAKE_SIG, &sa, NULL) == 0;
}

static __thread timer_t alarm_id;
static __thread int alarm_made; /* 0 not tried, 1 made, -1 cannot */
static __thread uint64_t alarm_at;

bool pt_alarm_arm(uint64_t deadline_ns)
{
	struct sigevent sev;
	struct itimerspec its;

	if (alarm_at == deadline_ns)
		return true;
	(void)pthread_once(&wake_once, wake_setup);
	if (!wake_ready)
		return false;
	if (alarm_made == 0) {
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = GRAFT_WAKE_SIG;
		sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		alarm_made = timer_create(CLOCK_MONOTONIC, &sev, &alarm_id) == 0 ? 1 : -1;
	}
	if (alarm_made < 0)
		return false;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(deadline_ns / 1000000000u);
	its.it_value.tv_nsec = (long)(deadline_ns % 1000000000u);
	if (timer_settime(alarm_id, TIMER_ABSTIME, &its, NULL) < 0)
		return false;
	alarm_at = deadline_ns;
	return true;
}

void pt_alarm_disarm(void)
{
	struct itimerspec its;

	if (!alarm_at)
		return;
	memset(&its, 0, sizeof(its));
	(void)timer_settime(alarm_id, 0, &its, NULL);
	alarm_at = 0;
}

/* --- stragglers ----------------------------------------------------------- */

struct straggler {
	pid_t pid, tid;
};

static __thread struct straggler *strag;
static __thread size_t nstrag, capstrag;

void pt_straggler_add(pid_t pid, pid_t tid)
{
	for (size_t i = 0; i < nstrag; i++)
		if (strag[i].tid == tid)
			return;
	if (graft_grow((void **)&strag, &capstrag, nstrag + 1, sizeof(*strag)) < 0) {
		/* cannot track it: it is let go when graft exits */
		graft_warn("thread %d stays attached until graft exits", (int)tid);
		return;
	}
	strag[nstrag++] = (struct straggler){pid, tid};
}

size_t graft_pt_stragglers_release(pid_t pid)
{
	size_t left = 0;

	for (size_t i = 0; i < nstrag;) {
		pid_t tid = strag[i].tid;
		int st;
		pid_t r = waitpid(tid, &st, __WALL | WNOHANG);
		bool done = r < 0; /* not ours any more */

		if (r == tid && WIFSTOPPED(st)) {
			/* a signal it stopped to receive goes with it; our interrupt does not */
			int sig = (st >> 16) || WSTOPSIG(st) == (SIGTRAP | 0x80) ? 0 : WSTOPSIG(st);
			unsigned long child = 0;

			/* a thread it made is attached to us (PTRACE_O_TRACECLONE): let it go in turn */
			if ((st >> 16) == PTRACE_EVENT_CLONE &&
			    ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && child)
				pt_straggler_add(strag[i].pid, (pid_t)child);
			done = ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig) == 0 ||
			       errno == ESRCH;
		} else if (r == tid) {
			done = true; /* exited */
		}
		if (done) {
			strag[i] = strag[--nstrag];
			continue;
		}
		left += !pid || strag[i].pid == pid;
		i++;
	}
	return left;
}
