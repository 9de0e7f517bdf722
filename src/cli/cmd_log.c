/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft log: show the audit log.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static const char help[] =
	"usage: graft log [--since TIME] [--pid PID] [--state-dir DIR] [--json]\n"
	"\n"
	"Show every apply and revert attempt on this host, oldest first: when, who, the\n"
	"operation, the patch (id, SHA-256 of the patch file without its signature, the key that\n"
	"signed it), the process (pid, its start time in clock ticks after boot, which tells a\n"
	"reused pid apart, its executable, the build-ids of the objects patched), the result,\n"
	"how long the process was stopped and the error text. An attempt whose graft was\n"
	"killed stays \"started\". A run over many processes (--all, --exe, --user) enters\n"
	"its attempts into the log when it ends (one that was killed, when the next graft\n"
	"command starts); until then they are shown last, with no id in --json.\n"
	"\n"
	"  --since TIME      only attempts from then on: 2026-11-28, '2026-11-28 10:00',\n"
	"                    2026-11-28T10:00:00 (local time), @EPOCH_SECONDS, or an age:\n"
	"                    30m, 12h, 7d\n"
	"  --pid PID         only attempts on that process\n"
	"  --state-dir DIR   where the log is (default $GRAFT_STATE_DIR, else /var/lib/graft)\n"
	"  --json            one JSON array\n"
	"\n"
	"exit codes: 0 shown (even when empty), 1 error, 64 bad command line.\n";

static int parse_since(const char *s, uint64_t *ns)
{
	static const char *const fmts[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
					   "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
	char *end;

	if (s[0] == '@') {
		unsigned long long v = strtoull(s + 1, &end, 10);

		if (end == s + 1 || *end)
			return -1;
		*ns = v * 1000000000ull;
		return 0;
	}
	if (isdigit((unsigned char)s[0])) {
		unsigned long long v = strtoull(s, &end, 10);
		uint64_t unit = 0;

		if (!strcmp(end, "s"))
			unit = 1;
		else if (!strcmp(end, "m"))
			unit = 60;
		else if (!strcmp(end, "h"))
			unit = 3600;
		else if (!strcmp(end, "d"))
			unit = 86400;
		if (unit) {
			uint64_t now = graft_wall_ns(), age = v * unit * 1000000000ull;

			*ns = age < now ? now - age : 0;
			return 0;
		}
	}
	for (size_t i = 0; i < GRAFT_ARRAY_SIZE(fmts); i++) {
		struct tm tm = {0};
		const char *e = strptime(s, fmts[i], &tm);
		time_t t;

		if (!e || *e)
			continue;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (t == (time_t)-1)
			return -1;
		*ns = (uint64_t)t * 1000000000ull;
		return 0;
	}
	return -1;
}

struct show {
	bool json;
	json_t *arr;
	size_t n;
};

static int show_event(void *vctx, const struct graft_audit_event *ev)
{
	struct show *s = vctx;
	char when[32];
	time_t t = (time_t)(ev->time_ns / 1000000000ull);
	struct tm tm;

	(void)strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	s->n++;
	if (s->json) {
		json_t *j = json_pack("{s:o, s:s, s:I, s:i, s:o, s:o, s:i, s:I, s:o, s:i}", "id",
				      /* a run under way: not in the log yet */
				      ev->id ? json_integer((json_int_t)ev->id) : json_null(),
				      "time", when, "time_ns", (json_int_t)ev->time_ns, "uid",
				      (int)ev->uid, "user", cli_json_text(ev->user ? ev->user : ""),
				      "op", cli_json_text(ev->op ? ev->op : ""), "pid",
				      (int)ev->pid, "start_time", (json_int_t)ev->start_time,
				      "result", cli_json_text(ev->result ? ev->result : ""),
				      "exit_code", ev->exit_code);

#define OPT_STR(key, v) json_object_set_new(j, key, cli_json_text(v))
		OPT_STR("patch_id", ev->patch_id);
		OPT_STR("patch_sha256", ev->patch_sha256);
		OPT_STR("signer", ev->signer);
		OPT_STR("exe", ev->exe);
		OPT_STR("build_ids", ev->build_ids);
		OPT_STR("error", ev->error);
#undef OPT_STR
		json_object_set_new(j, "stopped_ms", json_real((double)ev->stopped_ns / 1e6));
		json_array_append_new(s->arr, j);
		return 0;
	}
	printf("%s  %-8s %-6s %-24s pid %-7d %-11s", when, ev->user ? ev->user : "?",
	       ev->op ? ev->op : "?", ev->patch_id ? ev->patch_id : "-", (int)ev->pid,
	       ev->result ? ev->result : "?");
	if (ev->stopped_ns)
		printf(" stopped %.3f ms", (double)ev->stopped_ns / 1e6);
	if (ev->exe)
		printf("  %s", ev->exe);
	if (ev->error)
		printf("\n    %s", ev->error);
	putchar('\n');
	return 0;
}

int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{"since", required_argument, NULL, 's'},
		{"pid", required_argument, NULL, 'p'},
		{"state-dir", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *state_dir = NULL;
	struct show s = {0};
	struct cli_audit ca;
	struct graft_err err = {0};
	uint64_t since = 0;
	pid_t pid = 0;
	int c;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_since(optarg, &since) < 0) {
				cli_error("--since: cannot read '%s' as a time", optarg);
				return cli_usage(help);
			}
			break;
		case 'p':
			if (cli_parse_pid(optarg, &pid) < 0)
				return EXIT_USAGE;
			break;
		case 'D':
			state_dir = optarg;
			break;
		case 'j':
			s.json = true;
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
	s.arr = json_array();
	if (graft_audit_query(ca.a, since, pid, show_event, &s, &err) < 0) {
		json_decref(s.arr);
		cli_audit_close(&ca);
		return cli_fail(&err, "cannot read the audit log");
	}
	if (s.json)
		cli_json_print(json_incref(s.arr));
	else if (!s.n)
		printf("no attempts logged%s\n", since || pid ? " that match" : "");
	json_decref(s.arr);
	cli_audit_close(&ca);
	return EXIT_DONE;
}
