/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft recover: finish what a dead graft left half done.
 */
#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "patch/apply.h"
#include "proc/proc.h"

static const char help[] =
	"usage: graft recover [--pid PID ...] [--timeout SECS] [--state-dir DIR] [--json]\n"
	"\n"
	"Find attempts whose graft died (killed, crashed, the machine's OOM killer) and take\n"
	"them back out, so every patch is wholly in or wholly out of each process: an apply\n"
	"that never finished (its region still \"prepared\", with all, some or none of its jumps\n"
	"in place) is rolled back; a revert that never finished (an applied region missing some\n"
	"jumps) is completed. The facts come from the process itself; the audit log's\n"
	"\"started\" entries for those attempts are closed. An attempt of a graft that is still\n"
	"running is left alone. apply and revert do this first for each process they touch.\n"
	"\n"
	"  --pid PID          only this process (repeatable); default: every process on the host\n"
	"                     that maps a graft region\n"
	"  --timeout SECS     how long to retry while the patch's code is busy (default 10)\n"
	"  --state-dir DIR    where the audit log is (default $GRAFT_STATE_DIR, /var/lib/graft)\n"
	"  --json             one JSON array\n"
	"\n"
	"exit codes: 0 recovered, or nothing to recover; 1 error; 2 refused as unsafe (busy).\n";

int cli_recover_pid(pid_t pid, const struct graft_op_opts *o, struct cli_audit *ca, bool json,
		    json_t *arr, bool quiet_if_nothing, struct graft_recover_result *out)
{
	struct graft_recover_result res;
	struct graft_err err = {0};
	uint64_t start = 0;
	int code = EXIT_DONE;

	if (graft_recover(pid, o, &res, &err) < 0) {
		code = cli_exit_for(&err);
		/* before an apply or revert, which says it better, a missing process is no news */
		if (!json && !(quiet_if_nothing && err.code == -ESRCH))
			(void)cli_fail(&err, "cannot recover pid %d", (int)pid);
	}
	if (res.n)
		(void)graft_proc_start_time(pid, &start); /* to close the dead graft's entries */
	for (size_t i = 0; i < res.n; i++) {
		const struct graft_recover_item *it = &res.items[i];
		const char *what = it->was_apply ? "rolled back an interrupted apply"
						 : "completed an interrupted revert";
		struct graft_audit_event ev;

		if (ca->a &&
		    cli_audit_begin(ca, &ev, "recover", it->patch_id, pid, false) == EXIT_DONE)
			cli_audit_end(ca, &ev, it->was_apply ? "rolled-back" : "reverted",
				      EXIT_DONE, it->stop_ns, NULL);
		if (ca->a)
			(void)graft_audit_resolve_started(ca->a, pid, start, it->patch_id, "died",
							  "graft died during the attempt; see the "
							  "recover entry after it",
							  NULL);
		if (json)
			json_array_append_new(arr,
					      json_pack("{s:i, s:s, s:s, s:I, s:I, s:f}", "pid",
							(int)pid, "patch", it->patch_id, "result",
							it->was_apply ? "rolled-back" : "reverted",
							"functions", (json_int_t)it->nfuncs, "live",
							(json_int_t)it->nlive, "stopped_ms",
							it->stop_ns / 1e6));
		else
			printf("pid %d: %s of '%s' (%zu of %zu function%s live)%s\n", (int)pid,
			       what, it->patch_id, it->nlive, it->nfuncs,
			       it->nfuncs == 1 ? "" : "s",
			       it->nlive ? ", process stopped briefly" : "");
	}
	if (out)
		*out = res;
	if (!json && !quiet_if_nothing && code == EXIT_DONE && !res.n)
		printf("pid %d: nothing to recover%s\n", (int)pid,
		       res.in_progress ? " (an attempt of a running graft left alone)" : "");
	return code;
}

/* Processes that map a graft region. */
static int graft_pids(pid_t **out, size_t *n)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t cap = 0;

	*n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char path[64], line[512];
		pid_t pid;
		FILE *f;
		bool has = false;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)atoi(de->d_name);
		(void)snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
		if (!(f = fopen(path, "re")))
			continue;
		while (!has && fgets(line, sizeof(line), f))
			has = strstr(line, "/memfd:" GRAFT_MEMFD_PREFIX) != NULL;
		fclose(f);
		if (!has)
			continue;
		if (graft_grow((void **)out, &cap, *n + 1, sizeof(**out)) < 0)
			break;
		(*out)[(*n)++] = pid;
	}
	closedir(d);
	return 0;
}

int cmd_recover(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"state-dir", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct graft_op_opts o = {.timeout_ms = 10000};
	_cleanup_free_ pid_t *pids = NULL;
	size_t npids = 0, cap = 0;
	const char *state_dir = NULL;
	struct cli_audit ca;
	bool json = false;
	int c, worst = EXIT_DONE;
	json_t *arr;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_add_pid(&pids, &npids, &cap, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (cli_parse_seconds(optarg, &o.timeout_ms) < 0)
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
	if (optind != argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return cli_usage(help);
	}
	if ((c = cli_audit_open(&ca, state_dir)) != EXIT_DONE)
		return c;
	if (!npids && graft_pids(&pids, &npids) < 0) {
		cli_audit_close(&ca);
		cli_error("cannot read /proc");
		return EXIT_ERROR;
	}
	arr = json_array();
	for (size_t i = 0; i < npids; i++)
		worst = cli_worse(worst, cli_recover_pid(pids[i], &o, &ca, json, arr, false, NULL));
	if (json)
		cli_json_print(json_incref(arr));
	else if (!npids)
		printf("no process carries graft regions: nothing to recover\n");
	json_decref(arr);
	cli_audit_close(&ca);
	return worst;
}
