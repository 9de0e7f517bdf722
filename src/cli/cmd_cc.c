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

struct compile {
	bool loggable; /* one C file compiled to an object */
	const char *out, *src;
	char *dflt_out;
};

static void parse_compile(int argc, char **argv, struct compile *c)
{
	int nsrc = 0;
	bool compile = false;

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strpbrk(a, "\t\n\x1f"))
			return; /* cannot be logged faithfully */
		if (!strcmp(a, "-c"))
			compile = true;
		else if (!strcmp(a, "-E") || !strcmp(a, "-S") || !strcmp(a, "-M") ||
			 !strcmp(a, "-MM"))
			return;
		else if (!strcmp(a, "-o") && i + 1 < argc)
			c->out = argv[++i];
		else if (!strncmp(a, "-o", 2) && a[2])
			c->out = a + 2;
		else if (!strcmp(a, "-MF") || !strcmp(a, "-MT") || !strcmp(a, "-MQ") ||
			 !strcmp(a, "-include") || !strcmp(a, "-x"))
			i++;
		else if (is_c_file(a))
			c->src = a, nsrc++;
	}
	if (!compile || nsrc != 1)
		return;
	if (!c->out) {
		const char *b = strrchr(c->src, '/');

		b = b ? b + 1 : c->src;
		if (asprintf(&c->dflt_out, "%.*so", (int)strlen(b) - 1, b) < 0)
			return;
		c->out = c->dflt_out;
	}
	c->loggable = true;
}

static void log_compile(const char *log, int argc, char **argv, const char *outabs)
{
	_cleanup_free_ char *rec = NULL;
	char cwd[PATH_MAX];
	size_t len = 0;
	FILE *m;
	int fd;

	if (!getcwd(cwd, sizeof(cwd)) || !(m = open_memstream(&rec, &len)))
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

static pid_t spawn(const char *prog, char *const *argv, bool quiet)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				(void)dup2(fd, 1);
				(void)dup2(fd, 2);
			}
		}
		execv(prog, argv);
		if (!quiet)
			fprintf(stderr, "error: cannot run '%s': %s\n", prog, strerror(errno));
		_exit(127);
	}
	return pid;
}

static int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

int cmd_cc(int argc, char **argv)
{
	const char *real = getenv(GRAFT_CC_ENV_REAL), *log = getenv(GRAFT_CC_ENV_LOG);
	const char *lndir = getenv(GRAFT_CC_ENV_LN);
	_cleanup_free_ char **args = calloc((size_t)argc + 3, sizeof(char *));
	_cleanup_free_ char *lntmp = NULL, *outabs = NULL;
	_cleanup_free_ const char **lnargv = NULL;
	struct compile c;
	pid_t pid, lnpid = -1;
	int status;

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
	parse_compile(argc - 1, argv + 1, &c);
	/*
	 * graft build compares objects with __LINE__ fixed too; compiling that
	 * twin beside the real compile keeps it off the critical path.
	 */
	if (c.loggable && lndir && *lndir &&
	    asprintf(&lntmp, "%s/tmp.%d.o", lndir, (int)getpid()) >= 0 &&
	    (lnargv = graft_cc_recompile_argv(real, argv + 1, (size_t)argc - 1, true, lntmp)))
		lnpid = spawn(real, (char *const *)lnargv, true);
	pid = spawn(real, args, false);
	if (pid < 0) {
		cli_error("fork: %s", strerror(errno));
		return EXIT_ERROR;
	}
	status = wait_status(pid);
	if (lnpid > 0) {
		int ls = wait_status(lnpid);
		_cleanup_free_ char *final = NULL;

		if (status == 0 && ls == 0 && (outabs = realpath(c.out, NULL)) &&
		    (final = graft_cc_ln_path(lndir, outabs)))
			(void)rename(lntmp, final);
		else
			(void)unlink(lntmp);
	}
	free(c.dflt_out);
	if (status < 0)
		return EXIT_ERROR;
	if (!WIFEXITED(status))
		return 128 + WTERMSIG(status);
	if (WEXITSTATUS(status) == 0 && log && *log && c.loggable &&
	    (outabs || (outabs = realpath(c.out, NULL))))
		log_compile(log, argc - 1, argv + 1, outabs);
	return WEXITSTATUS(status);
}
