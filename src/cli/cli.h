/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared pieces of the graft command line: exit codes, messages, options.
 */
#ifndef GRAFT_CLI_H
#define GRAFT_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "patch/format.h"
#include "patch/sig.h"
#include "store/audit.h"
#include "util/util.h"

/* Exit codes; documented in graft --help and README. */
enum graft_exit {
	EXIT_DONE = 0,
	EXIT_ERROR = 1,
	EXIT_UNSAFE = 2,  /* refused as unsafe: busy, mismatch, unsupported */
	EXIT_NOTHING = 3, /* nothing to do */
	EXIT_USAGE = 64,  /* bad command line (sysexits EX_USAGE) */
};

extern bool cli_verbose;

int cli_exit_for(const struct graft_err *err);
/* The worse of two exit codes, for commands over several processes. */
int cli_worse(int a, int b);
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "error: <prefix>: <err->msg>" and return the matching exit code. */
int cli_fail(const struct graft_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int cli_parse_pid(const char *s, pid_t *pid);
/* Append a --pid argument to a growing list; <0 (message printed) when it is bad. */
int cli_add_pid(pid_t **pids, size_t *n, size_t *cap, const char *arg);
int cli_parse_seconds(const char *s, uint64_t *ms);
void cli_json_print(json_t *j); /* takes the reference */
/*
 * A JSON string for text that comes from outside and need not be UTF-8 (a
 * process's name, a path, a message quoting them): json_string() refuses
 * such text, which would drop the key or the whole object (a process could
 * hide from graft scan --json by its name). Stray bytes become U+FFFD.
 * NULL gives null.
 */
json_t *cli_json_text(const char *s);
/* Print a command's help when argv asks for it; returns true if it did. */
bool cli_wants_help(int argc, char **argv, const char *help);
/* Print the synopsis on stderr; returns EXIT_USAGE. */
int cli_usage(const char *help);

/* The audit log around each apply and revert (cli/audit.c). */
struct cli_audit {
	struct graft_audit *a;
	uid_t uid;
	char user[64];
	char sha256[65];
	char signer[2 * GRAFT_SIG_KEY_ID_SIZE + 1];
	char build_ids[GRAFT_PATCH_TARGETS_MAX * (2 * GRAFT_BUILD_ID_MAX + 1) + 1];
};
int cli_audit_open(struct cli_audit *ca, const char *state_dir);
/* A run over many processes logs through a spool, moved into the log at its end (store/audit.h) */
void cli_audit_spool(struct cli_audit *ca, bool on);
void cli_audit_close(struct cli_audit *ca);
void cli_audit_patch(struct cli_audit *ca, const struct graft_patch *p,
		     const struct graft_sig_status *sig);
int cli_audit_begin(struct cli_audit *ca, struct graft_audit_event *ev, const char *op,
		    const char *patch_id, pid_t pid, bool with_patch);
/* The same, for a process whose start time (clock ticks, 0: unknown) was just read */
int cli_audit_begin_at(struct cli_audit *ca, struct graft_audit_event *ev, const char *op,
		       const char *patch_id, pid_t pid, bool with_patch, uint64_t start_time);
void cli_audit_end(struct cli_audit *ca, struct graft_audit_event *ev, const char *result, int code,
		   uint64_t stopped_ns, const char *error);
/* The same, written with the next attempt's row (runs over many processes); then flush. */
void cli_audit_end_later(struct cli_audit *ca, struct graft_audit_event *ev, const char *result,
			 int code, uint64_t stopped_ns, const char *error);
void cli_audit_flush(struct cli_audit *ca);

struct graft_op_opts;
/* Recover one process (cmd_recover.c); apply and revert call it first. */
struct graft_recover_result;
int cli_recover_pid(pid_t pid, const struct graft_op_opts *o, struct cli_audit *ca, bool json,
		    json_t *arr, bool quiet_if_nothing, struct graft_recover_result *out);

int cmd_apply(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_revert(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
/* Sign the file just written, with key or $GRAFT_SIGNING_KEY if either is set. */
int cli_sign_output(const char *path, const char *key, bool quiet);
int cmd_cc(int argc, char **argv);

#endif
