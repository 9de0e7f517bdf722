/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the seccomp check (src/ptrace/seccomp.c): a child installs
 * real filters, is stopped with ptrace, and graft_seccomp_check must judge
 * graft's system calls as the kernel would. The filters use every kind of
 * classic-BPF instruction a seccomp filter can (loads of the number, the
 * architecture and argument halves, immediates, scratch memory, ALU, every
 * conditional jump, RET of A) and several actions, alone and stacked.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ptrace/pt.h"

#define NR	 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ARCH	 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch))
#define ARG(i)	 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]))
#define ARGHI(i) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]) + 4)
#define RET(v)	 BPF_STMT(BPF_RET | BPF_K, (v))
#define ALLOW	 RET(SECCOMP_RET_ALLOW)

struct prog {
	struct sock_filter f[32];
	unsigned short n;
};

#define PROG(...)                                                                             \
	{                                                                                     \
		.f = {__VA_ARGS__},                                                           \
		.n = sizeof((struct sock_filter[]){__VA_ARGS__}) / sizeof(struct sock_filter) \
	}

/*
 * Run the filters in a stopped child and return graft_seccomp_check's
 * verdict; its message in msg.
 */
static int verdict(const struct prog *progs, size_t nprogs, char *msg, size_t len)
{
	struct graft_err err = {0};
	int fds[2], st, r;
	pid_t child;
	char c;

	assert_int_equal(pipe(fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(2);
		for (size_t i = 0; i < nprogs; i++) {
			struct sock_fprog fp = {progs[i].n, (struct sock_filter *)progs[i].f};

			if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) < 0)
				_exit(3);
		}
		if (write(fds[1], "r", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(ptrace(PTRACE_SEIZE, child, 0, 0), 0);
	assert_int_equal(ptrace(PTRACE_INTERRUPT, child, 0, 0), 0);
	assert_int_equal(waitpid(child, &st, __WALL), child);
	assert_true(WIFSTOPPED(st));
	r = graft_seccomp_check(child, &err);
	(void)snprintf(msg, len, "%s", err.msg);
	kill(child, SIGKILL);
	(void)waitpid(child, &st, __WALL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL); /* the check killed nothing */
	if (r < 0)
		assert_int_equal(err.kind, GRAFT_ERR_UNSAFE);
	return r;
}

static void expect_refused(const struct prog *p, size_t n, const char *call, const char *action)
{
	char msg[GRAFT_ERR_MSG_MAX];

	assert_int_equal(verdict(p, n, msg, sizeof(msg)), -EPERM);
	if (!strstr(msg, call) || !strstr(msg, action))
		fail_msg("message '%s' does not name '%s' and '%s'", msg, call, action);
}

static void expect_allowed(const struct prog *p, size_t n)
{
	char msg[GRAFT_ERR_MSG_MAX];
	int r = verdict(p, n, msg, sizeof(msg));

	if (r != 0)
		fail_msg("refused: %s", msg);
}

static void test_allow_and_log(void **state)
{
	const struct prog p[] = {
		PROG(ALLOW),
		/* LOG is allowed: it only writes to the audit log */
		PROG(NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1), RET(SECCOMP_RET_LOG),
		     ALLOW),
	};

	(void)state;
	expect_allowed(p, 2);
}

static void test_kill_on_memfd(void **state)
{
	const struct prog p = PROG(NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
				   RET(SECCOMP_RET_KILL_PROCESS), ALLOW);

	(void)state;
	expect_refused(&p, 1, "memfd_create", "KILL_PROCESS");
}

static void test_wx_policy(void **state)
{
	/*
	 * MemoryDenyWriteExecute= as systemd writes it: mprotect adding
	 * PROT_EXEC and mmap asking for PROT_WRITE|PROT_EXEC fail. graft maps
	 * its code read+execute from a sealed file and never asks for either.
	 */
	const struct prog mdwe =
		PROG(NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 0, 3), ARG(2),
		     BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 7),
		     RET(SECCOMP_RET_ERRNO | EPERM), NR,
		     BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 4), ARG(2),
		     BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
		     BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 0, 1),
		     RET(SECCOMP_RET_ERRNO | EPERM), ALLOW);
	/* stricter: no new executable mapping at all */
	const struct prog noexec =
		PROG(NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 3), ARG(2),
		     BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
		     RET(SECCOMP_RET_ERRNO | EPERM), ALLOW);

	(void)state;
	expect_allowed(&mdwe, 1);
	expect_refused(&noexec, 1, "mmap(PROT_READ|PROT_EXEC)", "ERRNO");
}

static void test_arch_and_ranges(void **state)
{
	/* the usual prologue: another architecture is killed; ours passes */
	const struct prog arch =
		PROG(ARCH, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		     RET(SECCOMP_RET_KILL_PROCESS), ALLOW);
	/* nr >= 400 killed (none of graft's): allowed */
	const struct prog high = PROG(NR, BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 400, 0, 1),
				      RET(SECCOMP_RET_KILL_THREAD), ALLOW);
	/* mmap (9) < nr ... nr > 8 and nr < 12: mmap, mprotect, munmap trap */
	const struct prog mid =
		PROG(NR, BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 8, 0, 2),
		     BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 12, 1, 0), RET(SECCOMP_RET_TRAP), ALLOW);

	(void)state;
	expect_allowed(&arch, 1);
	expect_allowed(&high, 1);
	expect_refused(&mid, 1, "mmap", "TRAP");
}

static void test_alu_memory_and_ret_a(void **state)
{
	/* A = (nr & 0xff) + 1; close (3) + 1 == 4: errno */
	const struct prog alu = PROG(NR, BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff),
				     BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
				     BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close + 1, 0, 1),
				     RET(SECCOMP_RET_ERRNO | EBADF), ALLOW);
	/* the action through scratch memory and X: M[0] = ALLOW; X = M[0]; A = X; ret A */
	const struct prog mem =
		PROG(BPF_STMT(BPF_LD | BPF_IMM, SECCOMP_RET_ALLOW), BPF_STMT(BPF_ST, 0),
		     BPF_STMT(BPF_LD | BPF_IMM, 0), BPF_STMT(BPF_LDX | BPF_MEM, 0),
		     BPF_STMT(BPF_MISC | BPF_TXA, 0), BPF_STMT(BPF_RET | BPF_A, 0));
	/* shifts, X compare: (nr << 4) >> 4 compared with X = SYS_munmap */
	const struct prog shx =
		PROG(BPF_STMT(BPF_LDX | BPF_IMM, SYS_munmap), NR,
		     BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 4), BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
		     BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1), RET(SECCOMP_RET_TRACE), ALLOW);

	(void)state;
	expect_refused(&alu, 1, "close", "ERRNO");
	expect_allowed(&mem, 1);
	expect_refused(&shx, 1, "munmap", "TRACE");
}

static void test_argument_high_word_and_stacking(void **state)
{
	/* memfd_create with a name pointer above 4 GiB: graft's is one: killed */
	const struct prog hi = PROG(NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 3),
				    ARGHI(0), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
				    RET(SECCOMP_RET_KILL_PROCESS), ALLOW);
	/* stacked: the first allows everything, the second kills munmap; the strictest wins */
	const struct prog stack[] = {
		PROG(ALLOW),
		PROG(NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 0, 1),
		     RET(SECCOMP_RET_KILL_PROCESS), ALLOW),
	};

	(void)state;
	expect_refused(&hi, 1, "memfd_create", "KILL_PROCESS");
	expect_refused(stack, 2, "munmap", "KILL_PROCESS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_and_log),
		cmocka_unit_test(test_kill_on_memfd),
		cmocka_unit_test(test_wx_policy),
		cmocka_unit_test(test_arch_and_ranges),
		cmocka_unit_test(test_alu_memory_and_ret_a),
		cmocka_unit_test(test_argument_high_word_and_stacking),
	};

	if (geteuid() != 0) {
		printf("SKIP: reading seccomp filters needs CAP_SYS_ADMIN (run as root)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
