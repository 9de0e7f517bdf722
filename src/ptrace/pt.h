/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tracing a live process: stop every thread ("freeze") and let them all go
 * ("thaw"), read and write target memory, and run system calls and single
 * function calls inside the target on one stopped thread.
 */
#ifndef GRAFT_PT_H
#define GRAFT_PT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "proc/proc.h"
#include "util/util.h"

/* --- memory ------------------------------------------------------------ */

/* Open /proc/PID/mem read-write (it can write read-only text). */
int graft_mem_open(pid_t pid, struct graft_err *err);
int graft_mem_read(int memfd, uint64_t addr, void *buf, size_t len, struct graft_err *err);
int graft_mem_write(int memfd, uint64_t addr, const void *buf, size_t len, struct graft_err *err);

/* --- stop the world ---------------------------------------------------- */

struct graft_pt_thread {
	pid_t tid;
	bool seized;
	bool stopped;
	struct user_regs_struct regs;
};

struct graft_pt_world {
	pid_t pid;
	struct graft_pt_thread *t;
	size_t n, cap;
	uint64_t stop_start_ns; /* first PTRACE_INTERRUPT */
	uint64_t stop_end_ns;	/* last PTRACE_DETACH */
	uint64_t deadline_ns;	/* every thread stopped by then, or the freeze fails */
	pid_t late;		/* the thread that was not */
	bool poll;		/* poll in waits: fewer threads than other CPUs */
};

/*
 * How long a freeze waits for the threads to stop. A thread in an
 * uninterruptible sleep (state D) stops only when it wakes: rather than
 * hold the others stopped meanwhile, the freeze lets them go and fails with
 * GRAFT_ERR_UNSAFE, -ETIMEDOUT. The late thread stays attached until it
 * stops; graft_pt_stragglers_release() then lets it go.
 */
#define GRAFT_PT_STOP_WAIT_NS (20ull * 1000000)
/*
 * Let go the late threads (of every process) that have stopped since; call
 * it from the thread that froze them. Returns how many of pid's (0: of all
 * processes) are still on their way to a stop.
 */
size_t graft_pt_stragglers_release(pid_t pid);

/*
 * Seize and interrupt every thread of pid, including threads created while
 * doing so, and read their registers. On failure every thread already
 * stopped is let go again. Threads that exit meanwhile are dropped.
 */
typedef int (*graft_pt_stopped_fn)(void *ctx, const struct graft_pt_thread *t,
				   struct graft_err *err);
/*
 * on_stopped (may be NULL) runs for each thread as soon as it is stopped and
 * its registers read, while later threads are still stopping, so per-thread
 * work overlaps the wait. A negative return aborts the freeze.
 */
int graft_pt_freeze(pid_t pid, struct graft_pt_world *w, graft_pt_stopped_fn on_stopped, void *ctx,
		    struct graft_err *err);
/*
 * The same, with one thread already seized and stopped by the caller
 * (graft_rsys_hand_over), since held_since_ns: it joins the world as it is
 * and is let go with it.
 */
int graft_pt_freeze_held(pid_t pid, struct graft_pt_world *w, const struct graft_pt_thread *held,
			 uint64_t held_since_ns, graft_pt_stopped_fn on_stopped, void *ctx,
			 struct graft_err *err);
/*
 * Whether waits for a stopping thread spin briefly before blocking (the
 * default: the stop of one process comes sooner). Off for commands that
 * keep every CPU busy with workers anyway (apply --all).
 */
void graft_pt_set_polling(bool on);
/*
 * Detach from every thread; they run again. Never fails as a whole. Also
 * disarms the freeze's deadline timer (left armed until then so the stop
 * does not pay for it).
 */
void graft_pt_thaw(struct graft_pt_world *w);
void graft_pt_world_free(struct graft_pt_world *w);

/* --- remote system calls ----------------------------------------------- */

struct graft_rsys {
	pid_t pid, tid;
	int memfd;
	uint64_t syscall_insn; /* address of bytes 0f 05 in the target */
	struct user_regs_struct saved;
	bool attached;
	bool gone; /* the thread exited under us */
	bool late; /* it did not stop in time: left to graft_pt_stragglers_release */
	/* A held chain (graft_rsys_end_chain with hold): the signal queued to stop the thread once home. */
	int home_sig;
	sigset_t sigmask; /* graft's own, restored at the end */
	uint64_t stop_start_ns;
	bool in_syscall_stop; /* registers were changed since the interrupt */
	/*
	 * Bytes a syscall needs in target memory (a path, a name). They live
	 * below the stopped thread's red zone and are rewritten before every
	 * try, because a signal handler delivered between tries uses that
	 * stack too. The address is passed as the first syscall argument.
	 */
	const void *scratch;
	size_t scratch_len;
	/*
	 * The way home should graft die mid-call (ptrace/rframe.c): gadgets
	 * in the target, and the thread's vector state and signal mask.
	 */
	uint64_t ret_gadget; /* "syscall ... ret" */
	uint64_t restorer;   /* "mov $15,%rax; syscall" */
	void *xstate;
	size_t xstate_len;
	uint8_t *frame_img; /* where frames are put together before their one write */
	uint64_t sigblk;
	struct graft_proc_status status; /* of the thread, read at each stop */
	bool status_ok;
	bool frame_ok;
	uint64_t frame_at; /* the frame written since the last stop, or 0 */
	uint64_t frame_fp; /* and the vector state it points to */
	/*
	 * The process was seen in a group stop (SIGSTOP and the like): let go,
	 * the thread would stop again before running anything on its way home.
	 */
	bool group_stop;
	/*
	 * Writable stack-like mappings (the main stack, anonymous private
	 * ones), copied at begin: a frame is written only inside the one that
	 * holds the thread's rsp, never across into a neighbour (a thread on
	 * an alternate signal stack carved from the heap gets none).
	 */
	struct {
		uint64_t start, end;
	} * stacks;
	size_t nstacks;
};

/*
 * Stop one thread of pid (the main thread when alive) for remote calls.
 * Other threads keep running. cache (may be NULL) remembers where in a
 * library the code graft borrows is, for the next process mapping it.
 */
int graft_rsys_begin(pid_t pid, int memfd, const struct graft_maps *maps,
		     struct graft_objcache *cache, struct graft_rsys *rs, struct graft_err *err);
/* Run syscall nr with up to six arguments; *ret gets the raw result. */
int graft_rsys_syscall(struct graft_rsys *rs, long nr, const uint64_t args[6], int64_t *ret,
		       struct graft_err *err);
/*
 * Call a function in the target with two arguments and return its rax. Used
 * for IFUNC resolvers, which are pure.
 */
int graft_rsys_funcall(struct graft_rsys *rs, uint64_t fn, uint64_t a0, uint64_t a1, uint64_t *ret,
		       struct graft_err *err);
/* Restore the thread exactly and let it go. Logs what it cannot undo. */
void graft_rsys_end(struct graft_rsys *rs);

/* A system call for graft_rsys_end_chain. */
struct graft_rsys_call {
	long nr;
	uint64_t args[6];
};
#define GRAFT_RSYS_CHAIN_MAX 16

/* Where a chain let go of a thread left it, to take the chain back (graft_rsys_chain_cancel). */
struct graft_rsys_chain {
	uint64_t first_frame;	      /* rsp of the thread as it starts the chain */
	uint64_t gadget;	      /* rip likewise */
	struct user_regs_struct home; /* the thread's own registers */
	uint64_t home_mask;	      /* and signal mask */
};

/*
 * graft_rsys_end after calls[0..n-1] (n <= GRAFT_RSYS_CHAIN_MAX), made in
 * order by the thread on its way home: each returns through a signal frame
 * graft wrote below the thread's stack, which loads the next call, the last
 * one the thread's own context (ptrace/rframe.c). graft does not wait: 1 is
 * returned and the caller learns what the calls did from the process (the
 * calls are ordered so that the last one's effect can be watched for, such
 * as a close). *ch tells where the thread starts. Without frames, or with
 * the process in a group stop (it would not run them until continued), the
 * calls are made one by one now, their results ignored, and 0 is returned.
 * The thread is let go in every case; < 0 when it could not be run.
 */
int graft_rsys_end_chain(struct graft_rsys *rs, const struct graft_rsys_call *calls, size_t n,
			 struct graft_rsys_chain *ch, bool hold);
/*
 * With hold, a thread alone in its process is not let go but kept attached
 * and run: it stops again once home, the chain done, so that the caller
 * finds the process already stopped for what comes next. A signal whose
 * default is to be ignored, that the process does not catch and the thread
 * does not block, is queued (held by the chain's mask until the thread's own
 * frame restores its mask) and its delivery stop catches the thread at home.
 * Should graft die, the signal is delivered and ignored. 2 is returned then,
 * and graft_rsys_chain_wait must follow. A thread not alone, or for which no
 * such signal exists, is let go as without hold.
 */
/*
 * After 2 from graft_rsys_end_chain: wait for the thread, re-delivering
 * signals that come first. 1: stopped at home, chain done, its registers
 * its own; rs is a session as after graft_rsys_begin (more calls,
 * graft_rsys_end, graft_rsys_hand_over). 0: stopped before it got home (a
 * group stop, or interrupted at deadline_ns): a session with the registers
 * it has, for graft_rsys_chain_cancel. < 0: it exited, or did not stop even
 * when interrupted (left to graft_pt_stragglers_release; rs ended).
 */
int graft_rsys_chain_wait(struct graft_rsys *rs, uint64_t deadline_ns, struct graft_err *err);
/*
 * Give a thread held at home to a stop of the world (graft_pt_freeze_held):
 * *t gets it, stopped, and rs ends without touching it.
 */
void graft_rsys_hand_over(struct graft_rsys *rs, struct graft_pt_thread *t);
/*
 * In a new session on the same thread (graft_rsys_begin): if the thread has
 * not started the chain ch yet (a group stop came first), give it back its
 * own registers instead. 1 if taken back, 0 if it had started.
 */
int graft_rsys_chain_cancel(struct graft_rsys *rs, const struct graft_rsys_chain *ch);

/* Conveniences over graft_rsys_syscall; they return -errno of the target. */
int graft_rsys_mmap(struct graft_rsys *rs, uint64_t addr, uint64_t len, int prot, int flags, int fd,
		    uint64_t off, uint64_t *out, struct graft_err *err);
int graft_rsys_mprotect(struct graft_rsys *rs, uint64_t addr, uint64_t len, int prot,
			struct graft_err *err);
int graft_rsys_munmap(struct graft_rsys *rs, uint64_t addr, uint64_t len, struct graft_err *err);
int graft_rsys_close(struct graft_rsys *rs, int fd, struct graft_err *err);
/* memfd_create(name, flags) in the target; returns the target's fd. */
int graft_rsys_memfd_create(struct graft_rsys *rs, const char *name, unsigned int flags,
			    struct graft_err *err);

/*
 * Would the seccomp filters of tid (stopped by us) let every system call
 * graft runs through? GRAFT_ERR_UNSAFE naming the call and the action when
 * not (ptrace/seccomp.c). graft_rsys_begin checks it before any call.
 */
int graft_seccomp_check(pid_t tid, struct graft_err *err);

#endif
