/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A victim under a seccomp filter. argv[1]: "kill" (memfd_create kills the
 * process), "wx" (systemd's MemoryDenyWriteExecute=: mprotect adding
 * PROT_EXEC and writable+executable mmaps fail with EPERM), "noexec" (no
 * new executable mapping at all), "allow" (a filter that lets everything
 * through, only logging getpid). It says "ready", then answers each line
 * with the value of answer(), like the basic victim.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) int answer(void)
{
	return 1;
}

#define LD_NR   BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARG2 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2]))
#define ALLOW	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

int main(int argc, char **argv)
{
	struct sock_filter kill[] = {
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		ALLOW,
	};
	struct sock_filter wx[] = {
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 0, 3),
		LD_ARG2,
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 7),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 4),
		LD_ARG2,
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		ALLOW,
	};
	struct sock_filter noexec[] = {
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 3),
		LD_ARG2,
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		ALLOW,
	};
	struct sock_filter allow[] = {
		LD_NR,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_LOG),
		ALLOW,
	};
	struct sock_fprog prog;
	char line[64];

	if (argc < 2)
		return 64;
	if (!strcmp(argv[1], "kill"))
		prog = (struct sock_fprog){sizeof(kill) / sizeof(kill[0]), kill};
	else if (!strcmp(argv[1], "wx"))
		prog = (struct sock_fprog){sizeof(wx) / sizeof(wx[0]), wx};
	else if (!strcmp(argv[1], "noexec"))
		prog = (struct sock_fprog){sizeof(noexec) / sizeof(noexec[0]), noexec};
	else
		prog = (struct sock_fprog){sizeof(allow) / sizeof(allow[0]), allow};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("seccomp");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		printf("%d\n", answer());
		fflush(stdout);
	}
	return 0;
}
