/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stop the world. Every thread is attached with PTRACE_SEIZE (which does not
 * stop it), then all are interrupted before any is waited for, so the stops
 * overlap and the process is stopped for about the time of one round trip
 * plus the per-thread syscalls. Threads created meanwhile show up in
 * /proc/PID/task; the loop repeats until a scan finds no new thread (only a
 * running thread can create one, and every known thread is stopped).
 * Thaw is PTRACE_DETACH from the stop: detaching clears the pending
 * interrupt and puts a thread back into group stop if the process was
 * stopped, so the target sees nothing but a pause.
 */
#include <errno.h>
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

enum pt_wait_result pt_wait_stop(pid_t tid, int *err_no)
{
	for (;;) {
		int st;
		pid_t r = waitpid(tid, &st, __WALL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			*err_no = errno;
			return errno == ECHILD ? PT_GONE : PT_ERROR;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return PT_GONE;
		if (!WIFSTOPPED(st))
			continue;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			return PT_STOPPED;
		if ((st >> 16) != 0 || WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			/* an event we did not ask for: let it pass */
			(void)ptrace(PTRACE_CONT, tid, 0, 0);
			continue;
		}
		/* signal-delivery-stop: deliver it now, the interrupt follows */
		if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)WSTOPSIG(st)) < 0 && errno == ESRCH)
			return PT_GONE;
	}
}

void pt_seize_failure(pid_t tid, int err_no, char *buf, size_t len)
{
	char path[64], line[256];
	FILE *f;

	(void)snprintf(buf, len, "%s", strerror(err_no));
	if (err_no != EPERM)
		return;
	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		int tracer;

		if (sscanf(line, "TracerPid: %d", &tracer) == 1 && tracer > 0) {
			char comm[64];

			graft_proc_comm(tracer, comm, sizeof(comm));
			(void)snprintf(buf, len, "already traced by pid %d (%s)", tracer, comm);
			break;
		}
	}
	fclose(f);
}

bool pt_thread_alive(pid_t pid, pid_t tid)
{
	char path[64], buf[256];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *p;

	(void)snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
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
		if (!t->stopped && ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) == 0 &&
		    pt_wait_stop(t->tid, &e) == PT_STOPPED)
			t->stopped = true;
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
}

static int freeze_round(struct graft_pt_world *w, const pid_t *tids, size_t nt, size_t *added,
			struct graft_err *err)
{
	size_t first = w->n;

	*added = 0;
	for (size_t i = 0; i < nt; i++) {
		if (world_has(w, tids[i]))
			continue;
		if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) < 0) {
			char why[128];

			if (errno == ESRCH || (errno == EPERM && !pt_thread_alive(w->pid, tids[i])))
				continue; /* exited meanwhile (a zombie thread answers EPERM) */
			pt_seize_failure(tids[i], errno, why, sizeof(why));
			return graft_err_set(err, -errno, "cannot attach to thread %d: %s",
					     (int)tids[i], why);
		}
		if (graft_grow((void **)&w->t, &w->cap, w->n + 1, sizeof(*w->t)) < 0) {
			(void)ptrace(PTRACE_DETACH, tids[i], 0, 0);
			return graft_err_set(err, -ENOMEM, "out of memory");
		}
		memset(&w->t[w->n], 0, sizeof(w->t[0]));
		w->t[w->n].seized = true;
		w->t[w->n++].tid = tids[i];
		(*added)++;
	}
	if (!w->stop_start_ns && w->n > first)
		w->stop_start_ns = graft_now_ns();
	for (size_t i = first; i < w->n; i++)
		(void)ptrace(PTRACE_INTERRUPT, w->t[i].tid, 0, 0);
	for (size_t i = first; i < w->n; i++) {
		struct graft_pt_thread *t = &w->t[i];
		int e = 0;

		switch (pt_wait_stop(t->tid, &e)) {
		case PT_STOPPED:
			t->stopped = true;
			if (ptrace(PTRACE_GETREGS, t->tid, 0, &t->regs) < 0)
				return graft_err_set(err, -errno,
						     "cannot read registers of thread %d: %s",
						     (int)t->tid, strerror(errno));
			break;
		case PT_GONE:
			t->seized = false;
			break;
		case PT_ERROR:
			return graft_err_set(err, -e, "cannot stop thread %d: %s", (int)t->tid,
					     strerror(e));
		}
	}
	return 0;
}

int graft_pt_freeze(pid_t pid, struct graft_pt_world *w, struct graft_err *err)
{
	size_t added = 1;
	int r = 0;

	memset(w, 0, sizeof(*w));
	w->pid = pid;
	for (int round = 0; round < FREEZE_MAX_ROUNDS && added; round++) {
		_cleanup_free_ pid_t *tids = NULL;
		size_t nt = 0;

		r = graft_proc_tasks(pid, &tids, &nt, err);
		if (r < 0)
			break;
		r = freeze_round(w, tids, nt, &added, err);
		if (r < 0)
			break;
	}
	if (r == 0 && added)
		r = graft_err_set(err, -EAGAIN,
				  "threads of process %d appear faster than they can be stopped",
				  (int)pid);
	if (r == 0) {
		size_t live = 0;

		for (size_t i = 0; i < w->n; i++)
			live += w->t[i].stopped;
		if (live == 0)
			r = graft_err_set(err, -ESRCH, "process %d exited", (int)pid);
	}
	if (r < 0) {
		graft_pt_thaw(w);
		graft_pt_world_free(w);
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
