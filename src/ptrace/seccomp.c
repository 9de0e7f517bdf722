/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Would the target's seccomp filters let graft's system calls through?
 *
 * graft runs memfd_create, mmap, mprotect, munmap and close on a thread of
 * the target, and those calls pass that thread's seccomp filters like any
 * other. A filter that answers KILL would kill the very process graft is
 * meant to keep running; one that answers ERRNO is a policy graft must
 * respect, not get around. (systemd's MemoryDenyWriteExecute= refuses
 * mprotect(PROT_EXEC) and writable+executable mmaps; graft asks for
 * neither: its code is mapped read+execute from a sealed file, as the
 * dynamic loader maps a library.) So before the first call, graft fetches the
 * stopped thread's filters (PTRACE_SECCOMP_GET_FILTER, root only, tracee in
 * a ptrace-stop) and runs each call, with the arguments graft will pass,
 * through a small classic-BPF interpreter. As in the kernel, every filter
 * runs and the strictest action wins; anything but ALLOW or LOG refuses.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "ptrace/pt.h"

#define FILTERS_MAX 64 /* the kernel allows more; no real process has them */
#define INSNS_MAX   BPF_MAXINSNS

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

struct seccomp_call {
	const char *name;
	struct seccomp_data d;
};

/*
 * The calls graft makes, with arguments as it makes them: a plausible
 * address stands for the ones chosen at apply time (filters look at flags
 * and protections, not at where a mapping goes).
 */
static void seccomp_calls(struct seccomp_call *c, size_t *n)
{
	const uint64_t addr = 0x7f0000000000ull, len = 0x4000, fd = 3;
	size_t i = 0;

#define CALL(nm, nr_, a0, a1, a2, a3, a4, a5)                             \
	c[i++] = (struct seccomp_call)                                    \
	{                                                                 \
		nm,                                                       \
		{                                                         \
			.nr = (nr_), .arch = AUDIT_ARCH_X86_64, .args = { \
				(a0),                                     \
				(a1),                                     \
				(a2),                                     \
				(a3),                                     \
				(a4),                                     \
				(a5)                                      \
			}                                                 \
		}                                                         \
	}
	CALL("memfd_create", SYS_memfd_create, addr, MFD_CLOEXEC | MFD_ALLOW_SEALING, 0, 0, 0, 0);
	CALL("mmap(PROT_READ|PROT_EXEC)", SYS_mmap, addr, len, PROT_READ | PROT_EXEC,
	     MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
	CALL("mprotect(PROT_READ|PROT_WRITE)", SYS_mprotect, addr, len, PROT_READ | PROT_WRITE, 0,
	     0, 0);
	CALL("munmap", SYS_munmap, addr, len, 0, 0, 0, 0);
	CALL("close", SYS_close, fd, 0, 0, 0, 0, 0);
	CALL("rt_sigreturn", SYS_rt_sigreturn, 0, 0, 0, 0, 0, 0);
#undef CALL
	*n = i;
}

static bool load_word(const struct seccomp_data *d, uint32_t off, uint32_t *out)
{
	if (off % 4 || off + 4 > sizeof(*d))
		return false;
	memcpy(out, (const uint8_t *)d + off, 4);
	return true;
}

/*
 * Run one classic-BPF seccomp program; false if it is not one the kernel
 * would have accepted (then the caller refuses: graft cannot tell).
 */
static bool bpf_run(const struct sock_filter *f, size_t n, const struct seccomp_data *d,
		    uint32_t *ret)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *in = &f[pc];
		uint32_t k = in->k, src = BPF_SRC(in->code) == BPF_X ? x : k;

		switch (BPF_CLASS(in->code)) {
		case BPF_LD:
		case BPF_LDX: {
			uint32_t v;

			switch (BPF_MODE(in->code)) {
			case BPF_ABS:
				if (BPF_SIZE(in->code) != BPF_W || !load_word(d, k, &v))
					return false;
				break;
			case BPF_IMM:
				v = k;
				break;
			case BPF_MEM:
				if (k >= BPF_MEMWORDS)
					return false;
				v = mem[k];
				break;
			case BPF_LEN:
				v = sizeof(*d);
				break;
			default:
				return false;
			}
			if (BPF_CLASS(in->code) == BPF_LD)
				a = v;
			else
				x = v;
			break;
		}
		case BPF_ST:
		case BPF_STX:
			if (k >= BPF_MEMWORDS)
				return false;
			mem[k] = BPF_CLASS(in->code) == BPF_ST ? a : x;
			break;
		case BPF_ALU:
			switch (BPF_OP(in->code)) {
			case BPF_ADD:
				a += src;
				break;
			case BPF_SUB:
				a -= src;
				break;
			case BPF_MUL:
				a *= src;
				break;
			case BPF_DIV:
				if (!src)
					return false;
				a /= src;
				break;
			case BPF_MOD:
				if (!src)
					return false;
				a %= src;
				break;
			case BPF_OR:
				a |= src;
				break;
			case BPF_AND:
				a &= src;
				break;
			case BPF_XOR:
				a ^= src;
				break;
			case BPF_LSH:
				a = src < 32 ? a << src : 0;
				break;
			case BPF_RSH:
				a = src < 32 ? a >> src : 0;
				break;
			case BPF_NEG:
				a = -a;
				break;
			default:
				return false;
			}
			break;
		case BPF_JMP: {
			bool t;

			if (BPF_OP(in->code) == BPF_JA) {
				if (k >= n - pc - 1)
					return false;
				pc += k;
				break;
			}
			switch (BPF_OP(in->code)) {
			case BPF_JEQ:
				t = a == src;
				break;
			case BPF_JGT:
				t = a > src;
				break;
			case BPF_JGE:
				t = a >= src;
				break;
			case BPF_JSET:
				t = (a & src) != 0;
				break;
			default:
				return false;
			}
			if ((t ? in->jt : in->jf) >= n - pc - 1)
				return false;
			pc += t ? in->jt : in->jf;
			break;
		}
		case BPF_RET:
			*ret = BPF_RVAL(in->code) == BPF_A ? a : k;
			return true;
		case BPF_MISC:
			if (BPF_MISCOP(in->code) == BPF_TAX)
				x = a;
			else
				a = x;
			break;
		default:
			return false;
		}
	}
	return false; /* fell off the end: the kernel refuses such a program */
}

/* The kernel's order: a lower action value (as signed) wins. */
static bool action_stricter(uint32_t a, uint32_t b)
{
	return (int32_t)(a & SECCOMP_RET_ACTION_FULL) < (int32_t)(b & SECCOMP_RET_ACTION_FULL);
}

static const char *action_name(uint32_t act)
{
	switch (act & SECCOMP_RET_ACTION_FULL) {
	case SECCOMP_RET_KILL_PROCESS:
		return "KILL_PROCESS: the process would die";
	case SECCOMP_RET_KILL_THREAD:
		return "KILL_THREAD: the thread would die";
	case SECCOMP_RET_TRAP:
		return "TRAP: the thread would get SIGSYS";
	case SECCOMP_RET_ERRNO:
		return "ERRNO";
	case SECCOMP_RET_USER_NOTIF:
		return "USER_NOTIF: a supervisor would decide";
	case SECCOMP_RET_TRACE:
		return "TRACE";
	default:
		return "an unknown action";
	}
}

int graft_seccomp_check(pid_t tid, struct graft_err *err)
{
	struct seccomp_call calls[8];
	uint32_t verdict[8];
	struct sock_filter *prog;
	size_t ncalls;
	long idx;

	seccomp_calls(calls, &ncalls);
	for (size_t i = 0; i < ncalls; i++)
		verdict[i] = SECCOMP_RET_ALLOW;
	prog = malloc(INSNS_MAX * sizeof(*prog));
	if (!prog)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (idx = 0; idx < FILTERS_MAX; idx++) {
		long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, NULL);

		if (n < 0 && errno == ENOENT)
			break; /* no more filters */
		if (n < 0 || n > INSNS_MAX ||
		    ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)idx, prog) != n) {
			int e = errno;

			free(prog);
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EPERM,
					      "thread %d runs under a seccomp filter graft cannot "
					      "read (%s); it might kill the process on graft's "
					      "system calls",
					      (int)tid, n < 0 ? strerror(e) : "too long");
		}
		for (size_t i = 0; i < ncalls; i++) {
			uint32_t act;

			if (!bpf_run(prog, (size_t)n, &calls[i].d, &act)) {
				free(prog);
				return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EPERM,
						      "thread %d runs under a seccomp filter graft "
						      "cannot evaluate",
						      (int)tid);
			}
			if (action_stricter(act, verdict[i]))
				verdict[i] = act;
		}
	}
	free(prog);
	if (idx == FILTERS_MAX)
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EPERM,
				      "thread %d has more than %d seccomp filters", (int)tid,
				      FILTERS_MAX);
	for (size_t i = 0; i < ncalls; i++) {
		uint32_t act = verdict[i] & SECCOMP_RET_ACTION_FULL;

		if (act == SECCOMP_RET_ALLOW || act == SECCOMP_RET_LOG)
			continue;
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EPERM,
				      "its seccomp filter answers graft's %s with %s%s",
				      calls[i].name, action_name(act),
				      i == 1 ? " (a policy against new executable memory)" : "");
	}
	return 0;
}
