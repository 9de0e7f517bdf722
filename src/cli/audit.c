/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The CLI's side of the audit log: who runs graft, what the process is
 * (pid, start time, executable), what the patch is (id, SHA-256 of the
 * patch proper, the key that signed it, its targets' build-ids), and the
 * outcome, recorded around each apply and revert.
 */
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "proc/proc.h"
#include "util/log.h"

int cli_audit_open(struct cli_audit *ca, const char *state_dir)
{
	struct graft_err err = {0};
	struct passwd *pw;

	memset(ca, 0, sizeof(*ca));
	ca->uid = getuid();
	pw = getpwuid(ca->uid);
	(void)snprintf(ca->user, sizeof(ca->user), "%s", pw ? pw->pw_name : "?");
	if (graft_audit_open(state_dir, &ca->a, &err) < 0)
		return cli_fail(&err, "cannot open the audit log; nothing was done");
	return EXIT_DONE;
}

void cli_audit_close(struct cli_audit *ca)
{
	graft_audit_close(ca->a);
	ca->a = NULL;
}

void cli_audit_patch(struct cli_audit *ca, const struct graft_patch *p,
		     const struct graft_sig_status *sig)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	size_t at = 0;

	if (sodium_init() >= 0) {
		crypto_hash_sha256(h, p->buf, p->len);
		sodium_bin2hex(ca->sha256, sizeof(ca->sha256), h, sizeof(h));
	}
	ca->signer[0] = '\0';
	if (sig && sig->trusted)
		(void)snprintf(ca->signer, sizeof(ca->signer), "%s", sig->key_id_hex);
	ca->build_ids[0] = '\0';
	for (size_t i = 0;
	     i < p->ntargets && at + 2 * GRAFT_BUILD_ID_MAX + 2 < sizeof(ca->build_ids); i++) {
		if (i)
			ca->build_ids[at++] = ',';
		graft_hex(p->targets[i].build_id, p->targets[i].build_id_len, ca->build_ids + at);
		at += strlen(ca->build_ids + at);
	}
}

int cli_audit_begin(struct cli_audit *ca, struct graft_audit_event *ev, const char *op,
		    const char *patch_id, pid_t pid, bool with_patch)
{
	return cli_audit_begin_at(ca, ev, op, patch_id, pid, with_patch, 0);
}

int cli_audit_begin_at(struct cli_audit *ca, struct graft_audit_event *ev, const char *op,
		       const char *patch_id, pid_t pid, bool with_patch, uint64_t start_time)
{
	struct graft_err err = {0};
	char link[64], exe[4096];
	ssize_t n;
	int r;

	memset(ev, 0, sizeof(*ev));
	ev->uid = (uint32_t)ca->uid;
	ev->user = ca->user;
	ev->op = op;
	ev->patch_id = patch_id;
	ev->pid = pid;
	if (with_patch) {
		ev->patch_sha256 = ca->sha256;
		ev->signer = ca->signer[0] ? ca->signer : NULL;
		ev->build_ids = ca->build_ids;
	}
	ev->start_time = start_time;
	if (!start_time)
		(void)graft_proc_start_time(pid, &ev->start_time);
	(void)snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	ev->exe = exe[0] ? exe : NULL;
	r = graft_audit_begin(ca->a, ev, &err);
	ev->exe = NULL; /* only the row keeps it; jobs on several threads share ca */
	if (r < 0)
		return cli_fail(&err, "pid %d: not touched, the attempt cannot be logged",
				(int)pid);
	return EXIT_DONE;
}

static void audit_end(struct cli_audit *ca, struct graft_audit_event *ev, const char *result,
		      int code, uint64_t stopped_ns, const char *error, bool later)
{
	struct graft_err err = {0};

	ev->result = result;
	ev->exit_code = code;
	ev->stopped_ns = stopped_ns;
	ev->error = error;
	if ((later ? graft_audit_end_later(ca->a, ev, &err) : graft_audit_end(ca->a, ev, &err)) < 0)
		cli_warn("pid %d: the outcome was not logged: %s", (int)ev->pid, err.msg);
}

void cli_audit_end(struct cli_audit *ca, struct graft_audit_event *ev, const char *result, int code,
		   uint64_t stopped_ns, const char *error)
{
	audit_end(ca, ev, result, code, stopped_ns, error, false);
}

void cli_audit_end_later(struct cli_audit *ca, struct graft_audit_event *ev, const char *result,
			 int code, uint64_t stopped_ns, const char *error)
{
	audit_end(ca, ev, result, code, stopped_ns, error, true);
}

void cli_audit_flush(struct cli_audit *ca)
{
	struct graft_err err = {0};

	if (graft_audit_flush(ca->a, &err) < 0)
		cli_warn("some outcomes were not logged: %s", err.msg);
}

void cli_audit_spool(struct cli_audit *ca, bool on)
{
	struct graft_err err = {0};

	if (on) {
		/* without a spool every attempt is committed on its own: slower, as safe */
		if (graft_audit_spool_start(ca->a, &err) < 0)
			graft_debug("%s", err.msg);
	} else if (graft_audit_spool_finish(ca->a, &err) < 0) {
		cli_warn("this run's log entries are not in the log yet (the next graft command "
			 "moves them there): %s",
			 err.msg);
	}
}
