/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft: live-patch running processes. git-style subcommands; each lives in
 * cmd_<verb>.c. This file dispatches, holds the shared message helpers and
 * installs the library's log callback for -v.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/log.h"

#ifndef GRAFT_VERSION
#define GRAFT_VERSION "0.1.0"
#endif

bool cli_verbose;

static const char usage[] =
	"usage: graft [-v] <command> [<args>]\n"
	"\n"
	"Live-patch running x86-64 Linux processes: replace functions without a restart.\n"
	"\n"
	"commands:\n"
	"  apply PATCH.graft --pid PID    put a patch into a running process\n"
	"  revert PATCH_ID --pid PID      take a patch out again (--all: every patch)\n"
	"  status [--pid PID]             what is applied, read from the processes themselves\n"
	"  scan [PATCH...|--dir DIR]      which processes run code the patches fix, and which\n"
	"                                 run files deleted or replaced on disk\n"
	"  log [--since T] [--pid PID]    every apply and revert attempt on this host\n"
	"  recover [--pid PID]            finish what a killed graft left half done\n"
	"  build --src DIR --diff FIX --target BIN   make a patch from a source fix\n"
	"  pack MANIFEST -o PATCH.graft   make a patch file from an object file and a manifest\n"
	"  info PATCH.graft               what a patch file contains and which build it targets\n"
	"  keygen -o PREFIX               make a key pair for signing patches\n"
	"  sign PATCH.graft --key KEY     sign a patch (apply accepts only trusted signatures)\n"
	"\n"
	"options:\n"
	"  -v, --verbose   trace what the library does, on stderr\n"
	"  -h, --help      this help; 'graft COMMAND --help' for a command\n"
	"  --version       print the version\n"
	"\n"
	"exit codes:\n"
	"  0  done\n"
	"  1  error (bad input, no such process, no permission, system failure)\n"
	"  2  refused as unsafe (function busy, build or code mismatch, patch in the way)\n"
	"  3  nothing to do (already applied, not applied)\n"
	"  64 bad command line\n";

static void log_to_stderr(enum graft_log_level level, const char *fmt, va_list ap)
{
	if (level == GRAFT_LOG_DEBUG && !cli_verbose)
		return;
	fprintf(stderr, level == GRAFT_LOG_WARN ? "warning: " : "graft: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_exit_for(const struct graft_err *err)
{
	switch (err->kind) {
	case GRAFT_ERR_UNSAFE:
		return EXIT_UNSAFE;
	case GRAFT_ERR_NOOP:
		return EXIT_NOTHING;
	default:
		return EXIT_ERROR;
	}
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_fail(const struct graft_err *err, const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", err->msg[0] ? err->msg : strerror(-err->code));
	return cli_exit_for(err);
}

int cli_parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > 0x3fffffff) {
		cli_error("'%s' is not a process id", s);
		return -EINVAL;
	}
	*pid = (pid_t)v;
	return 0;
}

int cli_parse_seconds(const char *s, uint64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v < 0 || v > 86400) {
		cli_error("'%s' is not a number of seconds (0 to 86400)", s);
		return -EINVAL;
	}
	*ms = (uint64_t)(v * 1000.0);
	return 0;
}

void cli_json_print(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s) {
		puts(s);
		free(s);
	}
	json_decref(j);
}

/* Length of the valid UTF-8 sequence at s (as JSON takes it), 0 if none. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80			  ? 1
		   : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		   : (s[0] & 0xf0) == 0xe0	  ? 3
		   : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						  : 0;
	uint32_t cp;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (n < 3)
		return n;
	cp = n == 3 ? (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f)
		    : (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
			      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
	/* no overlong forms, no surrogates, nothing past U+10FFFF */
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

json_t *cli_json_text(const char *s)
{
	json_t *j;
	char *copy, *o;

	if (!s)
		return json_null();
	if ((j = json_string(s)))
		return j;
	/* not UTF-8: each stray byte becomes U+FFFD, the rest is kept */
	o = copy = malloc(3 * strlen(s) + 1);
	if (!copy)
		return json_null();
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = utf8_len(p);

		if (n) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	*o = '\0';
	j = json_string(copy);
	free(copy);
	return j ? j : json_null();
}

int cli_worse(int a, int b)
{
	/* error > refused as unsafe > nothing to do > done */
	static const int rank[] = {
		[EXIT_DONE] = 0, [EXIT_NOTHING] = 1, [EXIT_UNSAFE] = 2, [EXIT_ERROR] = 3};

	if (a < 0 || a > EXIT_NOTHING || b < 0 || b > EXIT_NOTHING)
		return EXIT_ERROR;
	return rank[b] > rank[a] ? b : a;
}

int cli_add_pid(pid_t **pids, size_t *n, size_t *cap, const char *arg)
{
	if (graft_grow((void **)pids, cap, *n + 1, sizeof(**pids)) < 0 ||
	    cli_parse_pid(arg, &(*pids)[*n]) < 0)
		return -1;
	(*n)++;
	return 0;
}

int cli_usage(const char *help)
{
	/* the synopsis lines only; the full text is one --help away */
	for (const char *p = help; *p && *p != '\n';) {
		const char *e = strchr(p, '\n');

		fwrite(p, 1, (size_t)(e - p) + 1, stderr);
		p = e + 1;
		if (strncmp(p, "       graft", 12) != 0)
			break;
	}
	{
		/* "usage: graft VERB ..." names the command */
		const char *verb = help + strlen("usage: graft ");
		int n = (int)strcspn(verb, " \n");

		fprintf(stderr, "see 'graft %.*s --help'\n", n, verb);
	}
	return EXIT_USAGE;
}

bool cli_wants_help(int argc, char **argv, const char *help)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(help, stdout);
			return true;
		}
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{"apply", cmd_apply}, {"revert", cmd_revert},	{"status", cmd_status},
		{"pack", cmd_pack},   {"info", cmd_info},	{"build", cmd_build},
		{"__cc", cmd_cc},     {"keygen", cmd_keygen},	{"sign", cmd_sign},
		{"log", cmd_log},     {"recover", cmd_recover}, {"scan", cmd_scan},
	};
	int i = 1;

	graft_log_set(log_to_stderr);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli_verbose = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return EXIT_DONE;
		} else if (!strcmp(argv[i], "--version")) {
			printf("graft %s\n", GRAFT_VERSION);
			return EXIT_DONE;
		} else {
			cli_error("unknown option '%s'", argv[i]);
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	for (size_t k = 0; k < GRAFT_ARRAY_SIZE(cmds); k++)
		if (!strcmp(argv[i], cmds[k].name))
			return cmds[k].fn(argc - i, argv + i);
	cli_error("'%s' is not a graft command; see 'graft --help'", argv[i]);
	return EXIT_USAGE;
}
