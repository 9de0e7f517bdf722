/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Remote system calls and function calls on one stopped thread.
 *
 * The thread is seized and interrupted; its registers are saved. For a
 * system call, rip is pointed at any "0f 05" byte pair found in an executable
 * mapping (the CPU decodes from rip, so the bytes need not sit on an
 * instruction boundary of their own code), orig_rax is set to -1 so the
 * kernel's syscall-restart logic keeps its hands off, and the thread is run
 * with PTRACE_SYSCALL to the syscall-exit stop. No code is written into the
 * target for this.
 *
 * Signals: a signal that arrives before our syscall entered is delivered in
 * the thread's own context (registers restored first), then the thread is
 * interrupted again and the call retried, so no signal is lost or delivered
 * with foreign registers. To end, the saved registers are put back and the
 * thread is routed through one more interrupt stop before detaching: leaving
 * from inside get_signal() lets the kernel restart an interrupted blocking
 * syscall (-ERESTARTSYS) exactly as it would have without us.
 *
 * A function call pushes a return address of 0 and runs the thread; the
 * return faults at rip 0, and that SIGSEGV is caught in its delivery stop and
 * discarded.
 *
 * The last calls can be made on the thread's way home, without a stop each
 * (graft_rsys_end_chain, rframe.c). A thread alone in its process can be
 * kept attached while it makes them and stopped once home, for the caller's
 * stop of the world: a signal is queued before it runs, held by the chain's
 * all-blocking mask until the thread's own frame gives its mask back, and its
 * delivery stop is the stop at home, where graft discards it. The signal is
 * one that does nothing if delivered (default action: ignore; no handler in
 * the process; not blocked by the thread, or it would stay pending), so a
 * graft that dies at any moment leaves the thread to run home and drop it.
 * Only the thread itself could install a handler meanwhile, and it is
 * running graft's calls (a process sharing its handlers would share its
 * memory too, which graft refuses).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "ptrace/pt-priv.h"
#include "ptrace/pt.h"
#include "util/log.h"

#define SCAN_CHUNK (256u << 10)
/* the borrowed thread, alone stopped, gets longer to stop than a whole process does */
#define RSYS_STOP_WAIT_NS (1000ull * 1000000)
#define SCAN_MAX	  (16u << 20)
/* scratch below the red zone, for strings and return addresses */
#define SCRATCH_BELOW_SP 1024

static int find_syscall_insn(int memfd, const struct graft_maps *maps, uint64_t *out)
{
	_cleanup_free_ uint8_t *buf = malloc(SCAN_CHUNK);
	size_t scanned = 0;

	if (!buf)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < maps->n; i++) {
			const struct graft_map *m = &maps->v[i];
			bool vdso = m->path && strcmp(m->path, "[vdso]") == 0;

			/* pass 0: vdso and libraries; pass 1: anything executable */
			if (!m->x || (pass == 0 && !vdso && !m->path))
				continue;
			for (uint64_t a = m->start; a < m->end && scanned < SCAN_MAX;
			     a += SCAN_CHUNK - 1) {
				size_t len = m->end - a < SCAN_CHUNK ? m->end - a : SCAN_CHUNK;
				ssize_t n = pread(memfd, buf, len, (off_t)a);
				const uint8_t *p;

				if (n < 2)
					break;
				scanned += (size_t)n;
				p = memmem(buf, (size_t)n, "\x0f\x05", 2);
				if (p) {
					*out = a + (uint64_t)(p - buf);
					return 0;
				}
			}
		}
	}
	return -ENOENT;
}

static pid_t pick_thread(pid_t pid)
{
	_cleanup_free_ pid_t *tids = NULL;
	size_t n = 0;

	if (graft_proc_is_alive(pid))
		return pid;
	/* the main thread may have called pthread_exit */
	if (graft_proc_tasks(pid, &tids, &n, NULL) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (graft_proc_task_alive(pid, tids[i]))
			return tids[i];
	return -1;
}

/*
 * Seize the main thread, or a live one if it is gone (pthread_exit leaves
 * it a zombie): trying first spares a look at /proc in the usual case.
 * rs->tid is the thread tried last, 0 when none lives.
 */
static int seize_thread(struct graft_rsys *rs)
{
	int e;

	rs->tid = rs->pid;
	if (ptrace(PTRACE_SEIZE, rs->tid, 0, (void *)PTRACE_O_TRACESYSGOOD) == 0)
		return 0;
	e = errno;
	if (e != ESRCH && e != EPERM)
		return -e;
	rs->tid = pick_thread(rs->pid);
	if (rs->tid <= 0) {
		rs->tid = 0;
		return -ESRCH;
	}
	if (rs->tid == rs->pid)
		return -e; /* it lives: another tracer holds it */
	if (ptrace(PTRACE_SEIZE, rs->tid, 0, (void *)PTRACE_O_TRACESYSGOOD) == 0)
		return 0;
	return -errno;
}

static int rsys_stop(struct graft_rsys *rs, struct graft_err *err)
{
	enum pt_wait_result w;
	int e = 0, sig = SIGTRAP;

	if (ptrace(PTRACE_INTERRUPT, rs->tid, 0, 0) < 0)
		return graft_err_set(err, -errno, "cannot interrupt thread %d: %s", (int)rs->tid,
				     strerror(errno));
	/* only this thread waits for it: a longer deadline than a stop of the world's */
	w = pt_wait_stop_sig(rs->tid, graft_now_ns() + RSYS_STOP_WAIT_NS, &e, &sig);
	pt_alarm_disarm();
	switch (w) {
	case PT_STOPPED:
		break;
	case PT_GONE:
		rs->gone = true;
		return graft_err_set(err, -ESRCH, "process %d exited", (int)rs->pid);
	case PT_LATE: {
		char where[128];

		rs->late = true;
		pt_straggler_add(rs->pid, rs->tid);
		graft_proc_task_wait(rs->pid, rs->tid, where, sizeof(where));
		return graft_err_setk(
			err, GRAFT_ERR_UNSAFE, -ETIMEDOUT,
			"thread %d did not stop within %llu ms (%s: an uninterruptible "
			"wait?); the process ran on meanwhile",
			(int)rs->tid, RSYS_STOP_WAIT_NS / 1000000, where);
	}
	case PT_ERROR:
		return graft_err_set(err, -e, "cannot stop thread %d: %s", (int)rs->tid,
				     strerror(e));
	}
	rs->group_stop |= sig != SIGTRAP;
	if (ptrace(PTRACE_GETREGS, rs->tid, 0, &rs->saved) < 0)
		return graft_err_set(err, -errno, "cannot read registers of thread %d: %s",
				     (int)rs->tid, strerror(errno));
	rs->in_syscall_stop = false;
	/* the signal mask (for the frame) and the seccomp mode, in one read */
	rs->status_ok = graft_proc_status_read(rs->tid, &rs->status, NULL) == 0;
	if (pt_rframe_snapshot(rs) < 0 && rs->ret_gadget && rs->restorer)
		graft_debug("thread %d: no signal frame for it (vector state or mask unreadable)",
			    (int)rs->tid);
	return 0;
}

/*
 * Under seccomp, graft's calls go through the thread's filters: strict mode
 * kills on any of them, a filter is read and evaluated (ptrace/seccomp.c).
 */
static int rsys_seccomp_allows(struct graft_rsys *rs, struct graft_err *err)
{
	if (!rs->status_ok || rs->status.seccomp == 0)
		return 0;
	if (rs->status.seccomp == 1)
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EPERM,
				      "pid %d runs in seccomp strict mode: graft's system calls "
				      "would kill it",
				      (int)rs->pid);
	return graft_seccomp_check(rs->tid, err);
}

int graft_rsys_begin(pid_t pid, int memfd, const struct graft_maps *maps,
		     struct graft_objcache *cache, struct graft_rsys *rs, struct graft_err *err)
{
	int r;

	memset(rs, 0, sizeof(*rs));
	rs->pid = pid;
	rs->memfd = memfd;
	/* while the target runs: the code graft borrows, and where frames may go */
	pt_rframe_find(rs, maps, cache);
	/* the way-home gadget starts with a syscall instruction: no second scan */
	rs->syscall_insn = rs->ret_gadget;
	if (!rs->syscall_insn && find_syscall_insn(memfd, maps, &rs->syscall_insn) < 0) {
		r = graft_err_set(err, -ENOENT, "no syscall instruction found in process %d",
				  (int)pid);
		goto fail;
	}
	graft_signals_hold(&rs->sigmask);
	r = seize_thread(rs);
	if (r < 0) {
		char why[128];

		graft_signals_release(&rs->sigmask);
		if (rs->tid <= 0) {
			r = graft_err_set(err, -ESRCH, "process %d exited (no live thread)",
					  (int)pid);
			goto fail;
		}
		pt_seize_failure(rs->tid, -r, why, sizeof(why));
		r = graft_err_set(err, r, "cannot attach to pid %d: %s", (int)pid, why);
		goto fail;
	}
	rs->attached = true;
	/* from here on graft_rsys_end frees what was allocated */
	rs->stop_start_ns = graft_now_ns();
	r = rsys_stop(rs, err);
	if (r == 0)
		r = rsys_seccomp_allows(rs, err);
	if (r < 0)
		graft_rsys_end(rs);
	return r;
fail:
	free(rs->stacks);
	rs->stacks = NULL;
	return r;
}

/* Wait for the next stop of the thread; returns the wait status. */
static int rsys_wait(struct graft_rsys *rs, int *status, struct graft_err *err)
{
	for (;;) {
		/* the thread runs graft's call: it comes back (or home) in its own time */
		pid_t r = pt_wait_polling(rs->tid, status, true, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return graft_err_set(err, -errno, "cannot wait for thread %d: %s",
					     (int)rs->tid, strerror(errno));
		if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
			rs->gone = true;
			return graft_err_set(err, -ESRCH, "process %d exited during a remote call",
					     (int)rs->pid);
		}
		if (WIFSTOPPED(*status))
			return 0;
	}
}

/*
 * A signal reached the thread before our code ran: give it back to the
 * thread in its own context, then stop it again for a retry.
 */
static int rsys_deliver_and_restop(struct graft_rsys *rs, int sig, struct graft_err *err)
{
	if (ptrace(PTRACE_SETREGS, rs->tid, 0, &rs->saved) < 0 ||
	    ptrace(PTRACE_CONT, rs->tid, 0, (void *)(long)sig) < 0)
		return graft_err_set(err, -errno, "cannot resume thread %d: %s", (int)rs->tid,
				     strerror(errno));
	return rsys_stop(rs, err);
}

int graft_rsys_syscall(struct graft_rsys *rs, long nr, const uint64_t args[6], int64_t *ret,
		       struct graft_err *err)
{
	for (int tries = 0; tries < 100; tries++) {
		struct user_regs_struct regs = rs->saved;
		uint64_t frame;
		int st, r;

		regs.rip = rs->syscall_insn;
		if (pt_rframe_write(rs, &frame) == 0) {
			/* should graft die from here on, the thread finds its way home */
			regs.rip = rs->ret_gadget;
			regs.rsp = frame;
		}
		regs.rax = (uint64_t)nr;
		regs.orig_rax = (uint64_t)-1;
		regs.rdi = args[0];
		if (rs->scratch) {
			regs.rdi = (rs->saved.rsp - SCRATCH_BELOW_SP) & ~(uint64_t)15;
			r = graft_mem_write(rs->memfd, regs.rdi, rs->scratch, rs->scratch_len, err);
			if (r < 0)
				return r;
		}
		regs.rsi = args[1];
		regs.rdx = args[2];
		regs.r10 = args[3];
		regs.r8 = args[4];
		regs.r9 = args[5];
		if (ptrace(PTRACE_SETREGS, rs->tid, 0, &regs) < 0)
			return graft_err_set(err, -errno, "cannot run a syscall in thread %d: %s",
					     (int)rs->tid, strerror(errno));
		rs->in_syscall_stop = true;
		graft_test_die_at("rsys-set");
		if (ptrace(PTRACE_SYSCALL, rs->tid, 0, 0) < 0)
			return graft_err_set(err, -errno, "cannot run a syscall in thread %d: %s",
					     (int)rs->tid, strerror(errno));
		r = rsys_wait(rs, &st, err);
		if (r < 0)
			return r;
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			/* group stop before entry: run it again from here */
			rs->group_stop |= WSTOPSIG(st) != SIGTRAP;
			continue;
		}
		if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			r = rsys_deliver_and_restop(rs, WSTOPSIG(st), err);
			if (r < 0)
				return r;
			continue;
		}
		/* syscall-enter stop; the exit stop follows without signals */
		graft_test_die_at("rsys-enter");
		if (ptrace(PTRACE_SYSCALL, rs->tid, 0, 0) < 0)
			return graft_err_set(err, -errno, "cannot run a syscall in thread %d: %s",
					     (int)rs->tid, strerror(errno));
		r = rsys_wait(rs, &st, err);
		if (r < 0)
			return r;
		if (WSTOPSIG(st) != (SIGTRAP | 0x80))
			return graft_err_set(err, -EPROTO,
					     "unexpected stop %#x of thread %d in a remote syscall",
					     st, (int)rs->tid);
		if (ptrace(PTRACE_GETREGS, rs->tid, 0, &regs) < 0)
			return graft_err_set(err, -errno, "cannot read registers of thread %d: %s",
					     (int)rs->tid, strerror(errno));
		*ret = (int64_t)regs.rax;
		graft_test_die_at("rsys-exit");
		return 0;
	}
	return graft_err_set(err, -EAGAIN,
			     "thread %d keeps receiving signals; remote syscall not run",
			     (int)rs->tid);
}

/*
 * The old way, for targets without the gadgets a frame needs: return to
 * address 0 and catch the SIGSEGV. A graft killed meanwhile leaves the
 * thread to crash there.
 */
static int funcall_segv(struct graft_rsys *rs, uint64_t fn, uint64_t a0, uint64_t a1, uint64_t *ret,
			struct graft_err *err)
{
	struct user_regs_struct regs = rs->saved;
	uint64_t zero = 0, sp;
	int r, st;

	sp = ((rs->saved.rsp - SCRATCH_BELOW_SP - 4096) & ~(uint64_t)15) - 8;
	r = graft_mem_write(rs->memfd, sp, &zero, sizeof(zero), err);
	if (r < 0)
		return r;
	regs.rsp = sp;
	regs.rip = fn;
	regs.rdi = a0;
	regs.rsi = a1;
	regs.rax = 0;
	regs.orig_rax = (uint64_t)-1;
	if (ptrace(PTRACE_SETREGS, rs->tid, 0, &regs) < 0 || ptrace(PTRACE_CONT, rs->tid, 0, 0) < 0)
		return graft_err_set(err, -errno, "cannot call a function in thread %d: %s",
				     (int)rs->tid, strerror(errno));
	rs->in_syscall_stop = true;
	for (int tries = 0; tries < 1000; tries++) {
		r = rsys_wait(rs, &st, err);
		if (r < 0)
			return r;
		if ((st >> 16) == 0 && WSTOPSIG(st) == SIGSEGV) {
			if (ptrace(PTRACE_GETREGS, rs->tid, 0, &regs) < 0)
				return graft_err_set(err, -errno, "cannot read registers: %s",
						     strerror(errno));
			if (regs.rip != 0)
				return graft_err_set(err, -EFAULT,
						     "function at 0x%" PRIx64
						     " crashed at 0x%llx in the target",
						     fn, regs.rip);
			*ret = regs.rax;
			/* left in the SIGSEGV delivery stop; the next resume drops it */
			return 0;
		}
		/* pass anything else on: a resolver is pure, handlers may run */
		if (ptrace(PTRACE_CONT, rs->tid, 0, (void *)(long)((st >> 16) ? 0 : WSTOPSIG(st))) <
		    0)
			return graft_err_set(err, -errno, "cannot resume thread %d: %s",
					     (int)rs->tid, strerror(errno));
	}
	return graft_err_set(err, -EAGAIN, "remote call did not return");
}

/*
 * The function returns into "syscall ... ret": the syscall-entry stop
 * there hands graft the return value (it is the syscall number, orig_rax),
 * and graft turns that syscall into a no-op. Should graft die first, the
 * bogus syscall fails, "ret" takes the restorer from the frame, and
 * rt_sigreturn brings the thread home.
 */
int graft_rsys_funcall(struct graft_rsys *rs, uint64_t fn, uint64_t a0, uint64_t a1, uint64_t *ret,
		       struct graft_err *err)
{
	struct user_regs_struct regs = rs->saved;
	uint64_t frame, sp;
	int r, st;

	if (rs->status_ok && rs->status.shstk)
		return graft_err_set(err, -ENOTSUP,
				     "thread %d runs with a shadow stack: graft cannot call "
				     "functions in it",
				     (int)rs->tid);
	if (pt_rframe_write(rs, &frame) < 0)
		return funcall_segv(rs, fn, a0, a1, ret, err);
	sp = frame - 8; /* frame is 16-aligned: the callee sees a call's alignment */
	r = graft_mem_write(rs->memfd, sp, &rs->ret_gadget, sizeof(rs->ret_gadget), err);
	if (r < 0)
		return r;
	regs.rsp = sp;
	regs.rip = fn;
	regs.rdi = a0;
	regs.rsi = a1;
	regs.rax = 0;
	regs.orig_rax = (uint64_t)-1;
	if (ptrace(PTRACE_SETREGS, rs->tid, 0, &regs) < 0 ||
	    ptrace(PTRACE_SYSCALL, rs->tid, 0, 0) < 0)
		return graft_err_set(err, -errno, "cannot call a function in thread %d: %s",
				     (int)rs->tid, strerror(errno));
	rs->in_syscall_stop = true;
	graft_test_die_at("rsys-funcall");
	for (int tries = 0; tries < 1000; tries++) {
		int sig = 0;

		r = rsys_wait(rs, &st, err);
		if (r < 0)
			return r;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			if (ptrace(PTRACE_GETREGS, rs->tid, 0, &regs) < 0)
				return graft_err_set(err, -errno, "cannot read registers: %s",
						     strerror(errno));
			if (regs.rip == rs->ret_gadget + 2) {
				/* returned: skip the bogus syscall, stop at its exit */
				*ret = regs.orig_rax;
				regs.orig_rax = (uint64_t)-1;
				if (ptrace(PTRACE_SETREGS, rs->tid, 0, &regs) < 0 ||
				    ptrace(PTRACE_SYSCALL, rs->tid, 0, 0) < 0 ||
				    rsys_wait(rs, &st, err) < 0)
					return graft_err_set(
						err, -EIO,
						"cannot finish a remote call in thread "
						"%d",
						(int)rs->tid);
				return 0;
			}
		} else if ((st >> 16) == 0) {
			sig = WSTOPSIG(st); /* pass it on: a resolver is pure, handlers may run */
			if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL)
				return graft_err_set(
					err, -EFAULT,
					"function at 0x%" PRIx64 " crashed in the target", fn);
		}
		if (ptrace(PTRACE_SYSCALL, rs->tid, 0, (void *)(long)sig) < 0)
			return graft_err_set(err, -errno, "cannot resume thread %d: %s",
					     (int)rs->tid, strerror(errno));
	}
	return graft_err_set(err, -EAGAIN, "remote call did not return");
}

static void rsys_leave(struct graft_rsys *rs)
{
	int e;

	if (rs->in_syscall_stop) {
		if (ptrace(PTRACE_SETREGS, rs->tid, 0, &rs->saved) < 0)
			graft_warn("cannot restore registers of thread %d: %s", (int)rs->tid,
				   strerror(errno));
		/*
		 * Leave through an interrupt stop so the kernel applies its
		 * syscall-restart logic to the restored registers.
		 */
		if (ptrace(PTRACE_INTERRUPT, rs->tid, 0, 0) < 0 ||
		    ptrace(PTRACE_CONT, rs->tid, 0, 0) < 0 ||
		    pt_wait_stop(rs->tid, 0, &e) != PT_STOPPED)
			return;
	}
	if (ptrace(PTRACE_DETACH, rs->tid, 0, 0) < 0)
		graft_warn("cannot detach thread %d: %s", (int)rs->tid, strerror(errno));
}

void graft_rsys_end(struct graft_rsys *rs)
{
	if (!rs->attached)
		return;
	if (!rs->gone && !rs->late)
		rsys_leave(rs);
	rs->attached = false;
	free(rs->xstate);
	rs->xstate = NULL;
	free(rs->frame_img);
	rs->frame_img = NULL;
	free(rs->stacks);
	rs->stacks = NULL;
	rs->nstacks = 0;
	rs->frame_ok = false;
	graft_signals_release(&rs->sigmask);
	graft_debug("thread %d was stopped %" PRIu64 " us for remote calls", (int)rs->tid,
		    (graft_now_ns() - rs->stop_start_ns) / 1000);
}

/*
 * The signal that stops a held thread at home: one whose default action is
 * to ignore it, not caught by the process, not blocked by the thread, so
 * that its delivery without graft (dead) does nothing. 0: none.
 */
static int home_signal(const struct graft_rsys *rs)
{
	static const int candidates[] = {SIGURG, SIGWINCH, SIGCHLD};

	if (!rs->status_ok || rs->status.threads != 1)
		return 0;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		uint64_t bit = (uint64_t)1 << (candidates[i] - 1);

		if (!(rs->status.sigcgt & bit) && !(rs->sigblk & bit))
			return candidates[i];
	}
	return 0;
}

int graft_rsys_end_chain(struct graft_rsys *rs, const struct graft_rsys_call *calls, size_t n,
			 struct graft_rsys_chain *ch, bool hold)
{
	struct user_regs_struct regs;
	uint64_t frame;
	int home = 0;

	if (n == 0 || n > GRAFT_RSYS_CHAIN_MAX || !rs->attached || rs->gone || rs->scratch ||
	    rs->group_stop || pt_rframe_write_chain(rs, calls + 1, n - 1, &frame) < 0) {
		int r = rs->attached && !rs->gone ? 0 : -ESRCH;

		for (size_t i = 0; r == 0 && i < n && i < GRAFT_RSYS_CHAIN_MAX; i++) {
			int64_t ret;

			r = graft_rsys_syscall(rs, calls[i].nr, calls[i].args, &ret, NULL);
		}
		graft_rsys_end(rs);
		return r;
	}
	/*
	 * The calls are made on the way home: "syscall ... ret" runs the first,
	 * "ret" takes the restorer from the frame below, and rt_sigreturn loads
	 * the next call, and so on; the last frame gives the thread back its
	 * registers, vector state and signal mask, restarting a system call it
	 * was in. The path of a graft that dies mid-call, taken on purpose: it
	 * spares each call's two stops and the one of leaving.
	 */
	regs = rs->saved;
	regs.rip = rs->ret_gadget;
	regs.rsp = frame;
	regs.rax = (uint64_t)calls[0].nr;
	regs.orig_rax = (uint64_t)-1;
	regs.rdi = calls[0].args[0];
	regs.rsi = calls[0].args[1];
	regs.rdx = calls[0].args[2];
	regs.r10 = calls[0].args[3];
	regs.r8 = calls[0].args[4];
	regs.r9 = calls[0].args[5];
	if (ptrace(PTRACE_SETREGS, rs->tid, 0, &regs) < 0) {
		int e = errno;

		graft_rsys_end(rs);
		return -e;
	}
	ch->first_frame = frame;
	ch->gadget = rs->ret_gadget;
	ch->home = rs->saved;
	ch->home_mask = rs->sigblk;
	{
		/*
		 * No handler runs on graft's registers: every signal is held
		 * until the last frame gives the thread its own mask back, then
		 * delivered in its own context. Set after the registers: should
		 * graft die in between, the chain runs with the thread's mask,
		 * never the thread's own code with everything blocked.
		 */
		uint64_t all = ~(uint64_t)0;

		if (ptrace(PTRACE_SETSIGMASK, rs->tid, (void *)sizeof(all), &all) < 0)
			graft_debug("thread %d: signals not held for the way home: %s",
				    (int)rs->tid, strerror(errno));
		else if (hold)
			home = home_signal(rs);
	}
	/*
	 * Held: the signal is queued while the thread is stopped and its mask
	 * blocks everything, so nothing can deliver it before the thread's own
	 * frame is back; no one else can unblock it (the thread is alone).
	 */
	if (hold && !home)
		graft_debug("thread %d: let go on its way home (%s)", (int)rs->tid,
			    rs->status_ok && rs->status.threads == 1
				    ? "no signal it ignores and leaves unblocked"
				    : "not alone in its process");
	if (home && syscall(SYS_tgkill, rs->pid, rs->tid, home) == 0) {
		graft_debug("thread %d: held on its way home, to stop there with signal %d",
			    (int)rs->tid, home);
		graft_test_die_at("chain-held");
		/* the test faults: a signal of its own comes first; it is killed */
		if (graft_test_fault("chain-signal"))
			(void)syscall(SYS_tgkill, rs->pid, rs->tid, SIGUSR1);
		if (graft_test_fault("chain-kill"))
			(void)kill(rs->pid, SIGKILL);
		if (ptrace(PTRACE_CONT, rs->tid, 0, 0) == 0) {
			rs->home_sig = home;
			rs->in_syscall_stop = false;
			return 2;
		}
		if (errno == ESRCH) {
			/* killed meanwhile (a SIGKILL wakes a stopped thread to die) */
			rs->gone = true;
			graft_rsys_end(rs);
			return -ESRCH;
		}
		/* not run: let go below, its signal still queued (ignored at home) */
	}
	graft_test_die_at("rsys-end-with");
	if (ptrace(PTRACE_DETACH, rs->tid, 0, 0) < 0)
		graft_warn("cannot detach thread %d: %s", (int)rs->tid, strerror(errno));
	rs->gone = true; /* nothing left to undo: graft_rsys_end only frees */
	graft_rsys_end(rs);
	return 1;
}

/*
 * At a stop after a held chain: the thread's registers now, a new stop's
 * state. Without them the thread is let go (it is where its own code or
 * the chain's frames put it) and the session ends.
 */
static int chain_stopped(struct graft_rsys *rs, struct graft_err *err)
{
	rs->in_syscall_stop = false;
	if (ptrace(PTRACE_GETREGS, rs->tid, 0, &rs->saved) < 0) {
		int r = graft_err_set(err, -errno, "cannot read registers of thread %d: %s",
				      (int)rs->tid, strerror(errno));

		graft_rsys_end(rs);
		return r;
	}
	rs->frame_at = 0; /* frames are written afresh for these registers */
	return 0;
}

int graft_rsys_chain_wait(struct graft_rsys *rs, uint64_t deadline_ns, struct graft_err *err)
{
	bool interrupted = false;

	for (;;) {
		int st, sig, event;
		pid_t r = pt_wait_polling(rs->tid, &st, true, deadline_ns);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ETIMEDOUT && !interrupted) {
			/* not home in time (stopped by someone, a page it waits for) */
			interrupted = true;
			deadline_ns = graft_now_ns() + RSYS_STOP_WAIT_NS;
			if (ptrace(PTRACE_INTERRUPT, rs->tid, 0, 0) == 0)
				continue;
			errno = ESRCH;
			r = -1;
		}
		if (r < 0) {
			int e = errno;

			pt_alarm_disarm();
			if (e == ETIMEDOUT) {
				rs->late = true;
				pt_straggler_add(rs->pid, rs->tid);
			} else {
				rs->gone = true;
			}
			graft_rsys_end(rs);
			return e == ETIMEDOUT ? graft_err_set(err, -ETIMEDOUT,
							      "thread %d did not stop after the "
							      "remote calls",
							      (int)rs->tid)
					      : graft_err_set(err, -ESRCH, "process %d exited",
							      (int)rs->pid);
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			pt_alarm_disarm();
			rs->gone = true;
			graft_rsys_end(rs);
			return graft_err_set(err, -ESRCH, "process %d exited", (int)rs->pid);
		}
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);
		event = st >> 16;
		if (event == 0 && sig == rs->home_sig) {
			pt_alarm_disarm();
			graft_test_die_at("home-stop");
			return chain_stopped(rs, err) < 0 ? -EIO : 1;
		}
		if (event == PTRACE_EVENT_STOP) {
			/*
			 * A group stop, or our interrupt at the deadline. The
			 * home signal stays queued: delivered once the thread
			 * is home, in its own context, it is ignored.
			 */
			pt_alarm_disarm();
			rs->group_stop |= sig != SIGTRAP;
			return chain_stopped(rs, err) < 0 ? -EIO : 0;
		}
		/* another signal first: it is the thread's, delivered as it comes */
		if (ptrace(PTRACE_CONT, rs->tid, 0, (void *)(long)(event ? 0 : sig)) < 0 &&
		    errno == ESRCH) {
			errno = ESRCH;
			continue; /* its exit is reported next */
		}
	}
}

void graft_rsys_hand_over(struct graft_rsys *rs, struct graft_pt_thread *t)
{
	*t = (struct graft_pt_thread){
		.tid = rs->tid, .seized = true, .stopped = true, .regs = rs->saved};
	rs->gone = true; /* the world lets it go: graft_rsys_end only frees */
	graft_rsys_end(rs);
}

int graft_rsys_chain_cancel(struct graft_rsys *rs, const struct graft_rsys_chain *ch)
{
	if (rs->saved.rip != ch->gadget || rs->saved.rsp != ch->first_frame)
		return 0;
	/*
	 * A group stop caught it before the first call: back to its own
	 * registers and its own signal mask (held for the way home).
	 */
	rs->saved = ch->home;
	rs->sigblk = rs->status.sigblk = ch->home_mask;
	rs->frame_at = 0; /* a frame for these registers, if one is needed */
	if (ptrace(PTRACE_SETSIGMASK, rs->tid, (void *)sizeof(ch->home_mask), &ch->home_mask) < 0)
		graft_warn("thread %d: cannot give back its signal mask: %s", (int)rs->tid,
			   strerror(errno));
	return 1;
}

static int rsys_simple(struct graft_rsys *rs, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		       uint64_t a3, uint64_t a4, uint64_t a5, int64_t *ret, struct graft_err *err)
{
	const uint64_t args[6] = {a0, a1, a2, a3, a4, a5};

	return graft_rsys_syscall(rs, nr, args, ret, err);
}

int graft_rsys_mmap(struct graft_rsys *rs, uint64_t addr, uint64_t len, int prot, int flags, int fd,
		    uint64_t off, uint64_t *out, struct graft_err *err)
{
	int64_t ret;
	int r = rsys_simple(rs, SYS_mmap, addr, len, (uint64_t)prot, (uint64_t)flags,
			    (uint64_t)(int64_t)fd, off, &ret, err);

	if (r < 0)
		return r;
	if (ret < 0 && ret > -4096)
		return (int)ret;
	*out = (uint64_t)ret;
	return 0;
}

int graft_rsys_mprotect(struct graft_rsys *rs, uint64_t addr, uint64_t len, int prot,
			struct graft_err *err)
{
	int64_t ret;
	int r = rsys_simple(rs, SYS_mprotect, addr, len, (uint64_t)prot, 0, 0, 0, &ret, err);

	return r < 0 ? r : (int)ret;
}

int graft_rsys_munmap(struct graft_rsys *rs, uint64_t addr, uint64_t len, struct graft_err *err)
{
	int64_t ret;
	int r = rsys_simple(rs, SYS_munmap, addr, len, 0, 0, 0, 0, &ret, err);

	return r < 0 ? r : (int)ret;
}

int graft_rsys_close(struct graft_rsys *rs, int fd, struct graft_err *err)
{
	int64_t ret;
	int r = rsys_simple(rs, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &ret, err);

	return r < 0 ? r : (int)ret;
}

int graft_rsys_memfd_create(struct graft_rsys *rs, const char *name, unsigned int flags,
			    struct graft_err *err)
{
	size_t len = strlen(name) + 1;
	int64_t ret;
	int r;

	if (len > 250)
		return graft_err_set(err, -ENAMETOOLONG, "memfd name too long");
	rs->scratch = name;
	rs->scratch_len = len;
	r = rsys_simple(rs, SYS_memfd_create, 0, flags, 0, 0, 0, 0, &ret, err);
	rs->scratch = NULL;
	return r < 0 ? r : (int)ret;
}
