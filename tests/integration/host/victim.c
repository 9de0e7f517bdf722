/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Victim for the host-wide tests, made to be run by the hundred: no pipes.
 * usage: victim DIR. It writes "<answer()> <lib_answer()>" to DIR/<pid>
 * when it starts and again on every SIGUSR1, so the test can check every
 * victim's behaviour after a host-wide apply or revert. answer() is in the
 * executable, lib_answer() in libhost.so. With GRAFT_TEST_HOLD set, a second
 * thread enters answer() and never leaves it: answer() is always busy.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int lib_answer(void);

static __thread int hold;

__attribute__((noinline)) int answer(void)
{
	while (hold)
		pause();
	return 1;
}

static void *holder(void *arg)
{
	(void)arg;
	hold = 1;
	return (void *)(long)answer();
}

static volatile sig_atomic_t asked = 1;

static void on_usr1(int sig)
{
	(void)sig;
	asked = 1;
}

int main(int argc, char **argv)
{
	char path[4096], tmp[4200], text[64];
	sigset_t none, usr1;

	if (argc != 2)
		return 64;
	(void)snprintf(path, sizeof(path), "%s/%d", argv[1], (int)getpid());
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	signal(SIGUSR1, on_usr1);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &none);
	if (getenv("GRAFT_TEST_HOLD")) {
		pthread_t t;

		/* made after the mask: SIGUSR1 goes to the main thread only */
		if (pthread_create(&t, NULL, holder, NULL) != 0)
			return 1;
	}
	for (;;) {
		while (!asked)
			sigsuspend(&none);
		asked = 0;
		int n = snprintf(text, sizeof(text), "%d %d\n", answer(), lib_answer());
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* written whole, then renamed: the test never reads half a line */
		if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0)
			return 1;
	}
}
