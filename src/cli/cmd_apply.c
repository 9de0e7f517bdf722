/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft apply: put a patch into running processes, one line per process.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "patch/apply.h"

static const char help[] =
	"usage: graft apply PATCH.graft --pid PID [--pid PID ...] [--timeout SECS] [--json]\n"
	"\n"
	"Put a patch into running processes. Every new call of each replaced function runs the\n"
	"new code from then on; nothing is restarted. graft first checks, while the process runs,\n"
	"that it maps the exact build the patch was made for (GNU build-id) and that every "
	"function\n"
	"still holds the expected bytes. It then stops all threads for a fraction of a "
	"millisecond,\n"
	"checks no thread is inside a function being replaced, writes the jumps and lets them go.\n"
	"If a function is busy, graft lets the process run and tries again until the timeout.\n"
	"\n"
	"options:\n"
	"  --pid PID        process to patch (repeatable)\n"
	"  --timeout SECS   how long to retry while a function is busy (default 10)\n"
	"  --json           one JSON object per process on stdout\n"
	"\n"
	"output:  pid 4242: applied 'fix-hdr' (3 functions), stopped 0.08 ms\n"
	"exit codes: 0 applied everywhere, 1 error, 2 refused as unsafe (busy, other build,\n"
	"altered code), 3 already applied. With several pids, the worst code wins.\n";

int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct graft_op_opts o = {.timeout_ms = 10000};
	_cleanup_free_ pid_t *pids = NULL;
	struct graft_patch *patch = NULL;
	struct graft_err err = {0};
	size_t npids = 0, cap = 0;
	bool json = false;
	int c, worst = EXIT_DONE;
	json_t *arr;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (graft_grow((void **)&pids, &cap, npids + 1, sizeof(*pids)) < 0 ||
			    cli_parse_pid(optarg, &pids[npids]) < 0)
				return EXIT_USAGE;
			npids++;
			break;
		case 't':
			if (cli_parse_seconds(optarg, &o.timeout_ms) < 0)
				return EXIT_USAGE;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cli_usage(help);
		}
	}
	if (optind != argc - 1 || npids == 0) {
		cli_error(npids ? "give exactly one patch file" : "which process? give --pid PID");
		return cli_usage(help);
	}
	if (graft_patch_load(argv[optind], &patch, &err) < 0)
		return cli_fail(&err, "cannot apply '%s'", argv[optind]);
	arr = json_array();
	for (size_t i = 0; i < npids; i++) {
		struct graft_op_result res;
		int code = EXIT_DONE;

		graft_err_clear(&err);
		if (graft_apply(pids[i], patch, &o, &res, &err) < 0) {
			code = cli_exit_for(&err);
			if (!json)
				(void)cli_fail(&err, "cannot apply '%s' to pid %d", patch->id,
					       (int)pids[i]);
		} else if (!json) {
			char objs[128] = "";

			if (res.ntargets_mapped < res.ntargets)
				(void)snprintf(objs, sizeof(objs),
					       " in %zu of its %zu objects; the process maps no "
					       "others",
					       res.ntargets_mapped, res.ntargets);
			else if (res.ntargets > 1)
				(void)snprintf(objs, sizeof(objs), " in %zu objects", res.ntargets);
			printf("pid %d: applied '%s' (%zu function%s%s), stopped %.3f ms\n",
			       (int)pids[i], patch->id, res.nfuncs, res.nfuncs == 1 ? "" : "s",
			       objs, res.stop_ns / 1e6);
		}
		if (json) {
			json_t *j = json_pack("{s:i, s:s, s:s}", "pid", (int)pids[i], "patch",
					      patch->id, "result",
					      code == EXIT_DONE	     ? "applied"
					      : code == EXIT_NOTHING ? "already"
					      : code == EXIT_UNSAFE  ? "refused"
								     : "failed");
			if (code == EXIT_DONE) {
				json_object_set_new(j, "functions",
						    json_integer((json_int_t)res.nfuncs));
				json_object_set_new(j, "objects",
						    json_integer((json_int_t)res.ntargets_mapped));
				json_object_set_new(j, "stopped_ms", json_real(res.stop_ns / 1e6));
				json_object_set_new(j, "attempts", json_integer(res.attempts));
				json_object_set_new(j, "threads",
						    json_integer((json_int_t)res.nthreads));
			} else {
				json_object_set_new(j, "error", json_string(err.msg));
			}
			json_array_append_new(arr, j);
		}
		worst = cli_worse(worst, code);
	}
	if (json)
		cli_json_print(npids == 1 ? json_incref(json_array_get(arr, 0)) : json_incref(arr));
	json_decref(arr);
	graft_patch_free(patch);
	return worst;
}
