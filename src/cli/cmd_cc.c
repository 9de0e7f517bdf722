/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft __cc: the compiler wrapper graft build puts in front of the
 * project's compiler (as CC and as cc/gcc on PATH). It runs the real
 * compiler with -ffunction-sections -fdata-sections added, and after each
 * successful compile of one C file to an object appends a record to the
 * log: cwd TAB output TAB the arguments as given, separated by 0x1f. The
 * builder replays these to recompile a file with __LINE__ fixed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "build/build.h"
#include "cli/cli.h"

static bool is_c_file(const char *a)
{
	size_t n = strlen(a);

	return a[0] != '-' && n > 2 && !strcmp(a + n - 2, ".c");
}

static void log_compile(const char *log, int argc, char **argv)
{
	const char *out = NULL, *src = NULL;
	_cleanup_free_ char *outabs = NULL, *rec = NULL, *dflt = NULL;
	char cwd[PATH_MAX];
	size_t len = 0;
	FILE *m;
	int fd, nsrc = 0;
	bool compile = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-c"))
			compile = true;
		else if (!strcmp(a, "-E") || !strcmp(a, "-S") || !strcmp(a, "-M") ||
			 !strcmp(a, "-MM"))
			return;
		else if (!strcmp(a, "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strncmp(a, "-o", 2) && a[2])
			out = a + 2;
		else if (!strcmp(a, "-MF") || !strcmp(a, "-MT") || !strcmp(a, "-MQ") ||
			 !strcmp(a, "-include") || !strcmp(a, "-x"))
			i++;
		else if (is_c_file(a))
			src = a, nsrc++;
		if (strpbrk(a, "\t\n\x1f"))
			return;
	}
	if (!compile || nsrc != 1 || !getcwd(cwd, sizeof(cwd)))
		return;
	if (!out) {
		const char *b = strrchr(src, '/');

		if (asprintf(&dflt, "%.*so", (int)strlen(b ? b + 1 : src) - 1, b ? b + 1 : src) < 0)
			return;
		out = dflt;
	}
	if (!(outabs = realpath(out, NULL)))
		return;
	m = open_memstream(&rec, &len);
	if (!m)
		return;
	fprintf(m, "%s\t%s\t", cwd, outabs);
	for (int i = 0; i < argc; i++)
		fprintf(m, "%s%s", i ? "\x1f" : "", argv[i]);
	fputc('\n', m);
	if (fclose(m) != 0)
		return;
	/* one O_APPEND write per record: parallel makes do not interleave */
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, rec, len);
		(void)close(fd);
	}
}

int cmd_cc(int argc, char **argv)
{
	const char *real = getenv(GRAFT_CC_ENV_REAL), *log = getenv(GRAFT_CC_ENV_LOG);
	_cleanup_free_ char **args = calloc((size_t)argc + 3, sizeof(char *));
	int status;
	pid_t pid;

	if (!real || !*real) {
		cli_error("graft __cc is graft build's compiler wrapper; " GRAFT_CC_ENV_REAL
			  " is not set");
		return EXIT_ERROR;
	}
	if (!args)
		return EXIT_ERROR;
	args[0] = (char *)real;
	for (int i = 1; i < argc; i++)
		args[i] = argv[i];
	args[argc] = (char *)"-ffunction-sections";
	args[argc + 1] = (char *)"-fdata-sections";
	pid = fork();
	if (pid < 0) {
		cli_error("fork: %s", strerror(errno));
		return EXIT_ERROR;
	}
	if (pid == 0) {
		execv(real, args);
		fprintf(stderr, "error: cannot run '%s': %s\n", real, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EXIT_ERROR;
	if (!WIFEXITED(status))
		return 128 + WTERMSIG(status);
	if (WEXITSTATUS(status) == 0 && log && *log)
		log_compile(log, argc - 1, argv + 1);
	return WEXITSTATUS(status);
}
