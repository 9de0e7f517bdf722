/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A way home for a thread graft borrows, should graft die.
 *
 * While one thread of the target runs a system call or a function for
 * graft, its registers are graft's. If graft is killed then (SIGKILL cannot
 * be held), the kernel detaches the thread and it runs on from there. So
 * before each remote call a signal frame is written below the thread's
 * stack, exactly as the kernel would write one for a signal handler: the
 * thread's own registers (with the kernel's syscall-restart adjustment
 * applied), its FPU/vector state (from PTRACE_GETREGSET NT_X86_XSTATE, in
 * the layout rt_sigreturn checks: the software bytes and the trailing
 * magic), its signal mask, and an alternate-stack entry rt_sigreturn ignores.
 * The call is then made so that whatever follows it ends in rt_sigreturn:
 *
 *   system call:   rip = "syscall ... ret" in the target's libc
 *                  rsp = frame; [frame] = libc's restorer ("mov $15,%rax; syscall")
 *   function call: the function returns into the same "syscall ... ret", whose
 *                  syscall-entry stop hands graft the return value (orig_rax)
 *
 * With graft alive the extra code never runs: graft puts the registers back
 * itself at the syscall stop. Without graft the thread completes the call,
 * returns into the restorer, and rt_sigreturn restores everything it had.
 * Found nothing to build on (no such gadgets, no room on the stack)? The
 * caller falls back to the plain way and says so in the debug log.
 */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "ptrace/pt-priv.h"
#include "ptrace/pt.h"
#include "util/log.h"

#define XSTATE_MAX	       (64u << 10)
#define FP_MAGIC1	       0x46505853u
#define FP_MAGIC2	       0x46505845u
#define FP_SW_OFF	       464 /* struct _fpx_sw_bytes in the fxsave area */
#define UC_FP_XSTATE	       0x1
#define UC_SIGCTX_SS	       0x2
#define UC_STRICT_SS	       0x4
#define BELOW_SP	       2048 /* red zone and the scratch strings stay above */
#define ERESTARTSYS_	       512
#define ERESTARTNOINTR_	       513
#define ERESTARTNOHAND_	       514
#define ERESTART_RESTARTBLOCK_ 516
#define NR_RESTART_SYSCALL     219

/* The kernel's x86-64 struct rt_sigframe up to the signal mask (uapi layout). */
struct kframe {
	uint64_t pretcode;
	/* struct ucontext */
	uint64_t uc_flags, uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, pad;
	uint64_t ss_size;
	/* struct sigcontext_64 */
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t di, si, bp, bx, dx, ax, cx, sp, ip, flags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t reserved1[8];
	uint64_t uc_sigmask;
	uint8_t siginfo[128];
};

_Static_assert(offsetof(struct kframe, r8) == 8 + 40, "sigcontext inside ucontext");
_Static_assert(offsetof(struct kframe, uc_sigmask) == 8 + 296, "uc_sigmask");

/* room for one chained frame (pt_rframe_write_chain), keeping 16-byte alignment */
#define CHAIN_STEP ((sizeof(struct kframe) + 15) & ~(size_t)15)

static const uint8_t pat_ret_plain[] = {0x0f, 0x05, 0xc3}; /* syscall; ret */
/* glibc syscall(): syscall; cmp $-4095,%rax; jae err; ret (err: set errno; ret) */
static const uint8_t pat_ret_glibc[] = {0x0f, 0x05, 0x48, 0x3d, 0x01, 0xf0,
					0xff, 0xff, 0x73, 0x01, 0xc3};
static const uint8_t pat_restorer_glibc[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
static const uint8_t pat_restorer_musl[] = {0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};

struct pattern {
	const uint8_t *bytes;
	size_t len;
	uint64_t *found;
};

#define CHUNK (256u << 10)

#define GADGET_FACT  0x67616467u /* "gadg": pattern offsets in one mapping */
#define PATTERNS_MAX 4

/*
 * Every pattern's first offset in mapping m (+1; 0 when absent), by reading
 * it; true when that answer is complete (all found, or all of it read).
 */
static bool scan_mapping(int memfd, const struct graft_map *m, uint8_t *buf,
			 const struct pattern *pats, size_t n, uint64_t *off, size_t *scanned)
{
	size_t left = n;

	for (uint64_t a = m->start; a < m->end && left && *scanned < (64u << 20); a += CHUNK - 16) {
		size_t len = m->end - a < CHUNK ? m->end - a : CHUNK;
		ssize_t got = pread(memfd, buf, len, (off_t)a);

		if (got < 16)
			return false;
		*scanned += (size_t)got;
		for (size_t k = 0; k < n; k++) {
			const uint8_t *p;

			if (off[k])
				continue;
			p = memmem(buf, (size_t)got, pats[k].bytes, pats[k].len);
			if (p) {
				off[k] = a + (uint64_t)(p - buf) - m->start + 1;
				left--;
			}
		}
		if ((size_t)got == len && a + len == m->end)
			return true; /* read to its end */
	}
	return !left;
}

/*
 * Find each pattern (any hit) in the executable file mappings of the
 * target. What one process's libc holds, every process mapping the same
 * part of the same file holds at the same offset: the cache keeps it, and
 * the bytes are read back before a cached offset is used.
 */
static void scan_patterns(int memfd, const struct graft_maps *maps, struct graft_objcache *cache,
			  struct pattern *pats, size_t n)
{
	_cleanup_free_ uint8_t *buf = malloc(CHUNK);
	size_t left = n, scanned = 0;

	if (!buf || n > PATTERNS_MAX)
		return;
	for (size_t i = 0; i < maps->n && left; i++) {
		const struct graft_map *m = &maps->v[i];
		uint64_t off[PATTERNS_MAX] = {0};
		bool cached;

		if (!m->x || !m->path || m->path[0] != '/')
			continue;
		cached = graft_objcache_fact_get(cache, GADGET_FACT, m, off, sizeof(off));
		if (!cached && scan_mapping(memfd, m, buf, pats, n, off, &scanned))
			graft_objcache_fact_put(cache, GADGET_FACT, m, off, sizeof(off));
		for (size_t k = 0; k < n; k++) {
			uint8_t check[16];
			uint64_t at = m->start + off[k] - 1;

			if (*pats[k].found || !off[k])
				continue;
			if (cached &&
			    (pread(memfd, check, pats[k].len, (off_t)at) != (ssize_t)pats[k].len ||
			     memcmp(check, pats[k].bytes, pats[k].len) != 0))
				continue; /* not what the cache said: this process gets no frame */
			*pats[k].found = at;
			left--;
		}
	}
}

void pt_rframe_find(struct graft_rsys *rs, const struct graft_maps *maps,
		    struct graft_objcache *cache)
{
	uint64_t plain = 0, glibc = 0, r_glibc = 0, r_musl = 0;
	struct pattern pats[] = {
		{pat_ret_plain, sizeof(pat_ret_plain), &plain},
		{pat_ret_glibc, sizeof(pat_ret_glibc), &glibc},
		{pat_restorer_glibc, sizeof(pat_restorer_glibc), &r_glibc},
		{pat_restorer_musl, sizeof(pat_restorer_musl), &r_musl},
	};

	scan_patterns(rs->memfd, maps, cache, pats, GRAFT_ARRAY_SIZE(pats));
	free(rs->stacks);
	rs->nstacks = 0;
	rs->stacks = calloc(maps->n ? maps->n : 1, sizeof(*rs->stacks));
	for (size_t i = 0; rs->stacks && i < maps->n; i++) {
		const struct graft_map *m = &maps->v[i];

		if (!m->w || m->shared || m->x || (m->path && strcmp(m->path, "[stack]") != 0))
			continue;
		rs->stacks[rs->nstacks].start = m->start;
		rs->stacks[rs->nstacks++].end = m->end;
	}
	rs->ret_gadget = glibc ? glibc : plain;
	rs->restorer = r_glibc ? r_glibc : r_musl;
	if (!rs->ret_gadget || !rs->restorer)
		graft_debug("pid %d: no 'syscall; ret' or no signal restorer found: a graft killed "
			    "during a remote call would leave a thread it cannot restore",
			    (int)rs->pid);
}

/*
 * Snapshot what a frame needs right after the thread stopped: its vector
 * state and signal mask. Failing leaves the rsys without frames.
 */
int pt_rframe_snapshot(struct graft_rsys *rs)
{
	struct iovec iov;

	rs->frame_ok = false;
	rs->frame_at = 0; /* a new stop: the frame is written again */
	if (!rs->ret_gadget || !rs->restorer)
		return -ENOENT;
	if (!rs->xstate && !(rs->xstate = malloc(XSTATE_MAX)))
		return -ENOMEM;
	iov = (struct iovec){rs->xstate, XSTATE_MAX};
	if (ptrace(PTRACE_GETREGSET, rs->tid, (void *)NT_X86_XSTATE, &iov) < 0)
		return -errno;
	rs->xstate_len = iov.iov_len;
	if (rs->xstate_len < 576)
		return -EINVAL;
	{
		/*
		 * ptrace's layout keeps XCR0 where a signal frame keeps its
		 * software bytes (struct _fpx_sw_bytes): write those as the
		 * kernel does when it builds a frame, for rt_sigreturn to check.
		 */
		uint8_t *sw = (uint8_t *)rs->xstate + FP_SW_OFF;
		uint64_t xcr0;
		uint32_t magic1 = FP_MAGIC1, ext = (uint32_t)rs->xstate_len + 4,
			 size = (uint32_t)rs->xstate_len;

		memcpy(&xcr0, sw, 8);
		if (!(xcr0 & 3)) {
			graft_debug("thread %d: no usable xstate (XCR0 %#" PRIx64 ")", (int)rs->tid,
				    xcr0);
			return -EINVAL;
		}
		memset(sw, 0, 48);
		memcpy(sw, &magic1, 4);
		memcpy(sw + 4, &ext, 4);
		memcpy(sw + 8, &xcr0, 8);
		memcpy(sw + 16, &size, 4);
	}
	if (!rs->status_ok)
		return -ENOENT;
	if (rs->status.shstk) {
		/* a shadow stack faults on any "ret" to an address graft put there */
		graft_debug("thread %d has a shadow stack: no signal frame for it", (int)rs->tid);
		return -ENOTSUP;
	}
	rs->sigblk = rs->status.sigblk;
	rs->frame_ok = true;
	return 0;
}

/* A frame that rt_sigreturn turns into the context regs, vector state at fp. */
static void frame_fill(const struct graft_rsys *rs, struct kframe *f,
		       const struct user_regs_struct *s, uint64_t fp)
{
	f->pretcode = rs->restorer;
	f->uc_flags = UC_FP_XSTATE | UC_SIGCTX_SS | UC_STRICT_SS;
	/* rt_sigreturn ignores an invalid alternate stack (the thread keeps its own) */
	f->ss_flags = 3;
	f->r8 = s->r8, f->r9 = s->r9, f->r10 = s->r10, f->r11 = s->r11;
	f->r12 = s->r12, f->r13 = s->r13, f->r14 = s->r14, f->r15 = s->r15;
	f->di = s->rdi, f->si = s->rsi, f->bp = s->rbp, f->bx = s->rbx, f->dx = s->rdx;
	f->ax = s->rax, f->cx = s->rcx, f->sp = s->rsp, f->ip = s->rip, f->flags = s->eflags;
	f->cs = (uint16_t)s->cs, f->ss = (uint16_t)s->ss;
	f->fpstate = fp;
	f->uc_sigmask = rs->sigblk;
}

/* Is [lo, rsp) inside the stack mapping that holds rsp, a page to spare below? */
static bool frame_fits(const struct graft_rsys *rs, uint64_t rsp, uint64_t lo)
{
	for (size_t i = 0; i < rs->nstacks; i++)
		if (rsp > rs->stacks[i].start && rsp <= rs->stacks[i].end &&
		    lo >= rs->stacks[i].start + 4096 + 64)
			return true;
	return false;
}

/*
 * Write the frame for the current saved registers below the thread's
 * stack; *frame_out is where rsp must point (its pretcode slot). Written
 * again after every new stop: a signal handler run between tries uses that
 * stack.
 */
int pt_rframe_write(struct graft_rsys *rs, uint64_t *frame_out)
{
	const struct user_regs_struct *s = &rs->saved;
	struct kframe f = {0};
	uint64_t fp, frame;
	uint32_t magic2 = FP_MAGIC2;
	int64_t ax = (int64_t)s->rax;

	if (!rs->frame_ok)
		return -ENOENT;
	/*
	 * Written once per stop: between remote calls only the kernel runs on
	 * the thread (a called function's stack lies below the frame), and
	 * every new stop (a signal delivered in between) starts afresh.
	 */
	if (rs->frame_at) {
		*frame_out = rs->frame_at;
		return 0;
	}
	fp = (s->rsp - BELOW_SP - rs->xstate_len - 64) & ~(uint64_t)63;
	frame = (fp - sizeof(struct kframe) - 64) & ~(uint64_t)15;
	/* the frame, and a page for a called function, inside rsp's own mapping */
	if (!frame_fits(rs, s->rsp, frame)) {
		graft_debug("thread %d: no room for a signal frame below rsp %#llx", (int)rs->tid,
			    s->rsp);
		return -ENOSPC;
	}
	frame_fill(rs, &f, s, fp);
	/*
	 * rt_sigreturn sets orig_ax to -1: no restart happens after it. A
	 * thread stopped inside an interrupted system call must restart it,
	 * so the frame holds the registers as the kernel's restart would leave
	 * them (the case of no handler: back to the syscall instruction).
	 */
	if ((int64_t)s->orig_rax >= 0 &&
	    (ax == -ERESTARTSYS_ || ax == -ERESTARTNOINTR_ || ax == -ERESTARTNOHAND_ ||
	     ax == -ERESTART_RESTARTBLOCK_)) {
		f.ip = s->rip - 2;
		f.ax = ax == -ERESTART_RESTARTBLOCK_ ? NR_RESTART_SYSCALL : s->orig_rax;
	}
	{
		/*
		 * One write: the frame, the vector state and its end magic, and
		 * the few unused bytes between them (dead stack below the red
		 * zone), as one image.
		 */
		size_t len = fp + rs->xstate_len + sizeof(magic2) - frame;

		if (!rs->frame_img && !(rs->frame_img = malloc(XSTATE_MAX + 4096)))
			return -ENOMEM;
		if (len > XSTATE_MAX + 4096)
			return -EINVAL;
		memset(rs->frame_img, 0, fp - frame);
		memcpy(rs->frame_img, &f, sizeof(f));
		memcpy(rs->frame_img + (fp - frame), rs->xstate, rs->xstate_len);
		memcpy(rs->frame_img + (fp - frame) + rs->xstate_len, &magic2, sizeof(magic2));
		if (graft_mem_write(rs->memfd, frame, rs->frame_img, len, NULL) < 0)
			return -EFAULT;
	}
	rs->frame_fp = fp;
	rs->frame_at = *frame_out = frame;
	return 0;
}

/*
 * Frames for system calls made one after another on the way home: frame k
 * holds a context that is "syscall ... ret" with call k+1's number and
 * arguments, its stack pointer at frame k+1; the last one's is the thread's
 * own frame. rt_sigreturn after each call loads the next. Every signal is
 * blocked until the thread's own frame restores its mask (the first call's
 * mask is set with PTRACE_SETSIGMASK), so no handler sees graft's context;
 * should one run anyway (a synchronous signal), the frames lie below the
 * thread's, the first lowest, and its frame (below the current rsp)
 * overwrites only frames already used. All share the thread's vector
 * state, which is only read.
 */
int pt_rframe_write_chain(struct graft_rsys *rs, const struct graft_rsys_call *next, size_t n,
			  uint64_t *first_out)
{
	struct kframe f;
	uint64_t own, at, fp;
	int r = pt_rframe_write(rs, &own);

	if (r < 0)
		return r;
	fp = rs->frame_fp;
	at = own - n * CHAIN_STEP;
	if (n && !frame_fits(rs, rs->saved.rsp, at)) {
		graft_debug("thread %d: no room for %zu chained frames", (int)rs->tid, n);
		return -ENOSPC;
	}
	if (n * CHAIN_STEP > XSTATE_MAX + 4096 || !rs->frame_img)
		return -EINVAL;
	for (size_t k = 0; k < n; k++) {
		struct user_regs_struct ctx = rs->saved;
		uint64_t here = at + k * CHAIN_STEP;

		ctx.rip = rs->ret_gadget;
		ctx.rsp = here + CHAIN_STEP; /* the next frame; the last: the thread's own */
		ctx.rax = (uint64_t)next[k].nr;
		ctx.rdi = next[k].args[0];
		ctx.rsi = next[k].args[1];
		ctx.rdx = next[k].args[2];
		ctx.r10 = next[k].args[3];
		ctx.r8 = next[k].args[4];
		ctx.r9 = next[k].args[5];
		memset(&f, 0, sizeof(f));
		frame_fill(rs, &f, &ctx, fp);
		f.uc_sigmask = ~(uint64_t)0; /* held until the thread's own frame */
		memset(rs->frame_img + k * CHAIN_STEP, 0, CHAIN_STEP);
		memcpy(rs->frame_img + k * CHAIN_STEP, &f, sizeof(f));
	}
	/* all of them in one write (the image buffer is free again: the own frame is out) */
	if (n && graft_mem_write(rs->memfd, at, rs->frame_img, n * CHAIN_STEP, NULL) < 0)
		return -EFAULT;
	*first_out = n ? at : own;
	return 0;
}
