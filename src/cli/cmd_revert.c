/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft revert: take a patch (or all patches, newest first) out of a process.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/many.h"
#include "patch/apply.h"

static const char help[] =
	"usage: graft revert PATCH_ID --pid PID [--pid PID ...] [options]\n"
	"       graft revert --all --pid PID [options]\n"
	"       graft revert PATCH_ID (--all | --exe PATH | --user NAME) [--jobs N] [options]\n"
	"\n"
	"Take a patch out of a running process: the original functions run again and graft's\n"
	"memory is unmapped. What to undo is read from the process itself, so the patch file is\n"
	"not needed. Patches stacked on the same function come out newest first: reverting an\n"
	"older one while a newer one sits on top is refused, naming the newer patch. No thread\n"
	"may be running inside the patch's code; graft retries until the timeout. What a killed\n"
	"graft left half done in the process is taken out first (see 'graft recover').\n"
	"\n"
	"With a patch id, --all takes it out of every process that carries it (--exe and --user\n"
	"narrow that), several processes at once, one line each (REVERTED, NOT APPLIED,\n"
	"SKIPPED or FAILED with the reason) and a summary. With --pid and no id, --all takes\n"
	"every graft patch out of those processes, newest first.\n"
	"\n"
	"options:\n"
	"  --pid PID        the process (repeatable)\n"
	"  --all            with PATCH_ID: every process carrying it; with --pid: every patch\n"
	"  --exe PATH       processes running this executable\n"
	"  --user NAME      processes of this user (name or uid)\n"
	"  --jobs N         processes reverted at once (default: twice the CPUs)\n"
	"  --timeout SECS   how long to retry while patch code is busy (default 10)\n"
	"  --state-dir DIR  where the audit log is (default $GRAFT_STATE_DIR, else\n"
	"                   /var/lib/graft); every attempt is logged, see 'graft log'\n"
	"  --json           JSON output\n"
	"\n"
	"exit codes: 0 reverted, 1 error, 2 refused (busy, a later patch on top), 3 not applied.\n";

static int revert_one(pid_t pid, const char *id, const struct graft_op_opts *o, bool json,
		      json_t *arr, struct cli_audit *ca)
{
	struct graft_op_result res = {0};
	struct graft_audit_event ev;
	struct graft_err err = {0};
	int code = EXIT_DONE;

	if ((code = cli_audit_begin(ca, &ev, "revert", id, pid, false)) != EXIT_DONE)
		return code;
	if (graft_revert(pid, id, o, &res, &err) < 0) {
		code = cli_exit_for(&err);
		if (!json)
			(void)cli_fail(&err, "cannot revert '%s' from pid %d", id, (int)pid);
	} else if (!json) {
		printf("pid %d: reverted '%s' (%zu function%s), stopped %.3f ms\n", (int)pid, id,
		       res.nfuncs, res.nfuncs == 1 ? "" : "s", res.stop_ns / 1e6);
	}
	cli_audit_end(ca, &ev,
		      code == EXIT_DONE	     ? "reverted"
		      : code == EXIT_NOTHING ? "not-applied"
		      : code == EXIT_UNSAFE  ? "refused"
					     : "failed",
		      code, res.stop_ns, code == EXIT_DONE ? NULL : err.msg);
	if (json) {
		json_t *j = json_pack("{s:i, s:s, s:s}", "pid", (int)pid, "patch", id, "result",
				      code == EXIT_DONE	     ? "reverted"
				      : code == EXIT_NOTHING ? "not-applied"
				      : code == EXIT_UNSAFE  ? "refused"
							     : "failed");
		if (code == EXIT_DONE) {
			json_object_set_new(j, "functions", json_integer((json_int_t)res.nfuncs));
			json_object_set_new(j, "stopped_ms", json_real(res.stop_ns / 1e6));
		} else {
			json_object_set_new(j, "error", cli_json_text(err.msg));
		}
		json_array_append_new(arr, j);
	}
	return code;
}

int cmd_revert(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"all", no_argument, NULL, 'a'},
		{"json", no_argument, NULL, 'j'},
		{"state-dir", required_argument, NULL, 'D'},
		{"exe", required_argument, NULL, 'e'},
		{"user", required_argument, NULL, 'u'},
		{"jobs", required_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *exe = NULL, *user = NULL;
	unsigned jobs = 0;
	const char *state_dir = NULL;
	struct cli_audit ca;
	struct graft_op_opts o = {.timeout_ms = 10000};
	_cleanup_free_ pid_t *pids = NULL;
	size_t npids = 0, cap = 0;
	bool json = false, all = false;
	int c, worst = EXIT_DONE;
	json_t *arr;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:t:ajh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_add_pid(&pids, &npids, &cap, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (cli_parse_seconds(optarg, &o.timeout_ms) < 0)
				return EXIT_USAGE;
			break;
		case 'a':
			all = true;
			break;
		case 'e':
			exe = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'J':
			if (cli_parse_jobs(optarg, &jobs) < 0)
				return EXIT_USAGE;
			break;
		case 'D':
			state_dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cli_usage(help);
		}
	}
	if (optind == argc - 1 && (exe || user || (all && npids == 0))) {
		/* one patch out of every process carrying it */
		struct many_args a = {.id = argv[optind],
				      .o = o,
				      .pids = pids,
				      .npids = npids,
				      .jobs = jobs,
				      .json = json};

		if ((c = cli_select_init(&a.sel, exe, user)) != EXIT_DONE)
			return c;
		if ((c = cli_audit_open(&ca, state_dir)) != EXIT_DONE)
			return c;
		a.audit = &ca;
		c = cli_revert_many(&a);
		cli_audit_close(&ca);
		return c;
	}
	if (npids == 0 || (all ? optind != argc : optind != argc - 1)) {
		cli_error(npids == 0 ? "which process? give --pid PID"
			  : all	     ? "give either a patch id or --all"
				     : "give one patch id, or --all");
		return cli_usage(help);
	}
	if ((c = cli_audit_open(&ca, state_dir)) != EXIT_DONE)
		return c;
	arr = json_array();
	for (size_t i = 0; i < npids; i++) {
		char **ids = NULL;
		size_t n = 0;
		struct graft_err err = {0};
		json_t *recovered = json_array();
		struct graft_recover_result rec;
		bool was_recovered = false;
		int code;

		/* a dead graft's half-done work on this process goes first */
		(void)cli_recover_pid(pids[i], &o, &ca, json, recovered, true, &rec);
		json_decref(recovered);
		for (size_t k = 0; !all && k < rec.n; k++)
			was_recovered |= !strcmp(rec.items[k].patch_id, argv[optind]);
		if (was_recovered) {
			/* the interrupted attempt of this very patch is out now: done */
			code = EXIT_DONE;
			if (json)
				json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:b}", "pid",
								     (int)pids[i], "patch",
								     argv[optind], "result",
								     "reverted", "recovered", 1));
		} else if (!all) {
			code = revert_one(pids[i], argv[optind], &o, json, arr, &ca);
		} else if (graft_list_ids(pids[i], &ids, &n, &err) < 0) {
			code = cli_fail(&err, "cannot revert from pid %d", (int)pids[i]);
		} else if (n == 0) {
			if (!json)
				printf("pid %d: no graft patches\n", (int)pids[i]);
			code = EXIT_NOTHING;
		} else {
			code = EXIT_DONE;
			for (size_t k = 0; k < n; k++) {
				int ck = revert_one(pids[i], ids[k], &o, json, arr, &ca);

				if (ck != EXIT_DONE && code == EXIT_DONE)
					code = ck;
				if (ck != EXIT_DONE && ck != EXIT_NOTHING)
					break; /* an older patch may sit under the one that failed */
			}
		}
		for (size_t k = 0; k < n; k++)
			free(ids[k]);
		free(ids);
		worst = cli_worse(worst, code);
	}
	if (json)
		cli_json_print(
			json_incref(json_array_size(arr) == 1 ? json_array_get(arr, 0) : arr));
	json_decref(arr);
	cli_audit_close(&ca);
	return worst;
}
