/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft apply: put a patch into running processes, one line per process.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/many.h"
#include "patch/apply.h"
#include "patch/sig.h"

static const char help[] =
	"usage: graft apply PATCH.graft --pid PID [--pid PID ...] [options]\n"
	"       graft apply PATCH.graft... (--all | --exe PATH | --user NAME) [--pid PID ...]\n"
	"                   [--jobs N] [options]\n"
	"\n"
	"Put a patch into running processes. Every new call of each replaced function runs the\n"
	"new code from then on; nothing is restarted. graft first checks, while the process runs,\n"
	"that it maps the exact build the patch was made for (GNU build-id) and that every "
	"function\n"
	"still holds the expected bytes. It then stops all threads for a fraction of a "
	"millisecond,\n"
	"checks no thread is inside a function being replaced, writes the jumps and lets them go.\n"
	"If a function is busy, graft lets the process run and tries again until the timeout.\n"
	"What a killed graft left half done in the process is taken out first ('graft recover').\n"
	"\n"
	"Host-wide: --all patches every process that maps an object one of the patches is for\n"
	"(found by build-id, in containers too); --exe and --user narrow the choice, --pid names\n"
	"the processes. Several processes are patched at once, each stopped only for its own\n"
	"apply; a process with one thread is stopped once, from mapping the patch through writing\n"
	"the jumps (a single --pid apply stops it twice, each time more briefly). Several patch\n"
	"files go into each process all or nothing, in one stop; a patch already in a process is\n"
	"left as it is. One line per process:\n"
	"  pid 4242 (httpd): APPLIED 'fix-hdr' (3 functions), stopped 0.080 ms\n"
	"  pid 4243 (httpd): ALREADY 'fix-hdr'\n"
	"  pid 4250 (httpd): SKIPPED thread 4250 is already traced by pid 100 (gdb)\n"
	"  pid 4251 (httpd): FAILED function 'parse' is running in thread 4252 ...\n"
	"SKIPPED: graft changed nothing in it; FAILED: an attempt was made and taken back. A\n"
	"progress line is shown when stderr is a terminal, and a summary at the end.\n"
	"\n"
	"options:\n"
	"  --pid PID        process to patch (repeatable)\n"
	"  --all            every process that maps a target of the patches\n"
	"  --exe PATH       processes running this executable (an older, replaced one too)\n"
	"  --user NAME      processes of this user (name or uid; real or effective)\n"
	"  --jobs N         processes patched at once (default: twice the CPUs)\n"
	"  --timeout SECS   how long to retry while a function is busy (default 10)\n"
	"  --keys DIR       trusted public keys (*.pub, made by 'graft keygen'); default\n"
	"                   $GRAFT_KEYS_DIR, else /etc/graft/keys.d\n"
	"  --state-dir DIR  where the audit log is (default $GRAFT_STATE_DIR, else\n"
	"                   /var/lib/graft); every attempt is logged, see 'graft log'\n"
	"  --insecure-skip-signature\n"
	"                   apply a patch that is unsigned or not signed by a trusted key\n"
	"  --json           JSON on stdout: one object per process (one patch, --pid), or\n"
	"                   {results, summary} (host-wide)\n"
	"\n"
	"output:  pid 4242: applied 'fix-hdr' (3 functions), stopped 0.08 ms   (one patch, --pid)\n"
	"A patch must carry a valid signature by one of the trusted keys: an unsigned patch, an\n"
	"unknown key or a file altered after signing is refused (exit 2) before any process is\n"
	"touched.\n"
	"\n"
	"exit codes: 0 applied everywhere it was needed, 1 error, 2 refused as unsafe (signature,\n"
	"busy, other build, altered code, seccomp, another tracer), 3 nothing to do (already\n"
	"applied, or no process maps a target). With several processes, the worst code wins.\n";

/* --all / --exe / --user, or several patch files: the host-wide path (cli/many.c). */
static int apply_host_wide(struct many_args *a, char *const *files, size_t nfiles, const char *keys,
			   bool verify, const char *state_dir)
{
	struct cli_patches ps;
	struct cli_audit ca, *cas;
	int rc;

	if (nfiles > MANY_BATCH_MAX) {
		cli_error("more than %d patch files in one apply", MANY_BATCH_MAX);
		return EXIT_USAGE;
	}
	if ((rc = cli_audit_open(&ca, state_dir)) != EXIT_DONE)
		return rc;
	if ((rc = cli_patches_load(&ps, files, nfiles, NULL, keys, verify, false)) != EXIT_DONE) {
		struct graft_audit_event ev;

		/* a refused patch file is an attempt too: one line, no process touched */
		if (cli_audit_begin(&ca, &ev, "apply", NULL, 0, false) == EXIT_DONE)
			cli_audit_end(&ca, &ev, rc == EXIT_UNSAFE ? "refused" : "failed", rc, 0,
				      ps.error[0] ? ps.error : "a patch file was refused");
		cli_audit_close(&ca);
		return rc;
	}
	cas = calloc(ps.n, sizeof(*cas));
	if (!cas) {
		cli_error("out of memory");
		rc = EXIT_ERROR;
		goto out;
	}
	for (size_t k = 0; k < ps.n; k++) {
		cas[k] = ca; /* the same log, each patch's own hash and signer */
		cli_audit_patch(&cas[k], ps.v[k], &ps.sig[k]);
		if (!verify)
			cli_warn("applying '%s' without checking its signature "
				 "(--insecure-skip-signature)",
				 ps.paths[k]);
	}
	a->patches = &ps;
	a->audit = cas;
	rc = cli_apply_many(a);
	a->patches = NULL; /* both die here */
	a->audit = NULL;
	free(cas);
out:
	cli_patches_free(&ps);
	cli_audit_close(&ca);
	return rc;
}

int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"keys", required_argument, NULL, 'K'},
		{"insecure-skip-signature", no_argument, NULL, 'S'},
		{"state-dir", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'j'},
		{"all", no_argument, NULL, 'a'},
		{"exe", required_argument, NULL, 'e'},
		{"user", required_argument, NULL, 'u'},
		{"jobs", required_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct graft_op_opts o = {.timeout_ms = 10000};
	const char *exe = NULL, *user = NULL;
	unsigned jobs = 0;
	bool all = false;
	_cleanup_free_ pid_t *pids = NULL;
	struct graft_patch *patch = NULL;
	struct graft_err err = {0};
	size_t npids = 0, cap = 0;
	struct graft_sig_status sig;
	const char *keys = NULL, *state_dir = NULL;
	struct cli_audit ca;
	bool json = false, verify = true;
	int c, worst = EXIT_DONE;
	json_t *arr;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:t:jh", opts, NULL)) != -1) {
		switch (c) {
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
		case 'p':
			if (cli_add_pid(&pids, &npids, &cap, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 't':
			if (cli_parse_seconds(optarg, &o.timeout_ms) < 0)
				return EXIT_USAGE;
			break;
		case 'K':
			keys = optarg;
			break;
		case 'S':
			verify = false;
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
	if (all && npids) {
		cli_error("give --all or --pid, not both");
		return cli_usage(help);
	}
	if (optind >= argc) {
		cli_error("which patch? give a patch file");
		return cli_usage(help);
	}
	if (all || exe || user || argc - optind > 1) {
		struct many_args a = {
			.o = o, .pids = pids, .npids = npids, .jobs = jobs, .json = json};

		if ((c = cli_select_init(&a.sel, exe, user)) != EXIT_DONE)
			return c;
		if (!all && !exe && !user && npids == 0) {
			cli_error("which processes? give --pid PID, --all, --exe or --user");
			return cli_usage(help);
		}
		return apply_host_wide(&a, argv + optind, (size_t)(argc - optind), keys, verify,
				       state_dir);
	}
	if (npids == 0) {
		cli_error("which process? give --pid PID, or --all for every process mapping "
			  "the target");
		return cli_usage(help);
	}
	if ((c = cli_audit_open(&ca, state_dir)) != EXIT_DONE)
		return c;
	if (graft_patch_load_verified(argv[optind], keys, verify, &patch, &sig, &err) < 0) {
		struct graft_audit_event ev;

		/* a refused patch file is an attempt too: one line, no process touched */
		c = cli_fail(&err, "cannot apply '%s'", argv[optind]);
		if (cli_audit_begin(&ca, &ev, "apply", NULL, pids[0], false) == EXIT_DONE)
			cli_audit_end(&ca, &ev, c == EXIT_UNSAFE ? "refused" : "failed", c, 0,
				      err.msg);
		cli_audit_close(&ca);
		return c;
	}
	cli_audit_patch(&ca, patch, &sig);
	if (!verify)
		cli_warn("applying '%s' without checking its signature (--insecure-skip-signature)",
			 argv[optind]);
	arr = json_array();
	for (size_t i = 0; i < npids; i++) {
		struct graft_op_result res = {0};
		struct graft_audit_event ev;
		int code = EXIT_DONE;

		json_t *recovered = json_array();

		graft_err_clear(&err);
		/* a dead graft's half-done work on this process goes first */
		(void)cli_recover_pid(pids[i], &o, &ca, json, recovered, true, NULL);
		if ((code = cli_audit_begin(&ca, &ev, "apply", patch->id, pids[i], true)) !=
		    EXIT_DONE) {
			json_decref(recovered);
			worst = cli_worse(worst, code);
			continue;
		}
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
		cli_audit_end(&ca, &ev,
			      code == EXIT_DONE	     ? "applied"
			      : code == EXIT_NOTHING ? "already"
			      : code == EXIT_UNSAFE  ? "refused"
						     : "failed",
			      code, res.stop_ns, code == EXIT_DONE ? NULL : err.msg);
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
				json_object_set_new(j, "error", cli_json_text(err.msg));
			}
			if (json_array_size(recovered))
				json_object_set(j, "recovered", recovered);
			json_array_append_new(arr, j);
		}
		json_decref(recovered);
		worst = cli_worse(worst, code);
	}
	if (json)
		cli_json_print(npids == 1 ? json_incref(json_array_get(arr, 0)) : json_incref(arr));
	json_decref(arr);
	graft_patch_free(patch);
	cli_audit_close(&ca);
	return worst;
}
