/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft status: what is applied, read from each process's graft regions and
 * checked against the bytes at each patched function, so it is true even
 * when the graft that applied a patch died.
 */
#include <ctype.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "patch/region.h"
#include "ptrace/pt.h"

static const char help[] =
	"usage: graft status [--pid PID ...] [--json]\n"
	"\n"
	"List the graft patches in running processes (every process when no pid is given): patch\n"
	"id, target object, replaced functions and when it was applied. The answer is read from\n"
	"each process's memory, where graft keeps a header for every patch, and each function's\n"
	"first bytes are checked: 'live' (the jump is there), 'under PATCH' (a later patch sits "
	"on\n"
	"top), or 'not live' (an interrupted attempt; 'graft revert' removes it).\n"
	"\n"
	"options:\n"
	"  --pid PID   only this process (repeatable)\n"
	"  --json      JSON output\n"
	"\n"
	"exit codes: 0 listed, 1 error, 3 no graft patches found.\n";

static const char *func_state(int memfd, const struct graft_regions *all,
			      const struct graft_region_func *f, const char **under)
{
	uint8_t cur[GRAFT_JUMP_SIZE];
	const struct graft_region *top;

	*under = NULL;
	if (graft_mem_read(memfd, f->old_addr, cur, sizeof(cur), NULL) < 0)
		return "unreadable";
	if (!memcmp(cur, f->jump, sizeof(cur)))
		return "live";
	top = graft_region_owning_jump(all, f->old_addr, cur, NULL);
	if (top) {
		*under = top->hdr->patch_id;
		return "under";
	}
	return "not live";
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	(void)localtime_r(&t, &tm);
	(void)strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Returns the number of patches shown, or -1 when the process is unreadable. */
static int status_pid(pid_t pid, bool json, bool explicit, json_t *out)
{
	struct graft_maps maps = {0};
	struct graft_regions regs = {0};
	struct graft_err err = {0};
	_cleanup_close_ int memfd = -1;
	char comm[64];
	size_t bad = 0;
	json_t *jp;

	if (graft_proc_read_maps(pid, &maps, &err) < 0) {
		if (explicit)
			(void)cli_fail(&err, "cannot read pid %d", (int)pid);
		return -1;
	}
	if (!graft_maps_have_region(&maps, NULL)) {
		graft_maps_free(&maps);
		return 0;
	}
	memfd = graft_mem_open(pid, &err);
	if (memfd < 0 || graft_region_list(memfd, &maps, &regs, &bad, &err) < 0) {
		graft_maps_free(&maps);
		if (explicit)
			(void)cli_fail(&err, "cannot read pid %d", (int)pid);
		return -1;
	}
	graft_proc_comm(pid, comm, sizeof(comm));
	jp = json_array();
	if (!json && regs.n)
		printf("pid %d (%s):\n", (int)pid, comm);
	for (size_t i = 0; i < regs.n; i++) {
		const struct graft_region_hdr *h = regs.v[i].hdr;
		char when[64], bid[2 * GRAFT_BUILD_ID_MAX + 1];
		json_t *jf = json_array();
		const char *state =
			h->state == GRAFT_REGION_APPLIED ? "applied" : "prepared (not live)";

		fmt_time(h->applied_ns, when, sizeof(when));
		graft_hex(h->build_id, h->build_id_len, bid);
		if (!json)
			printf("  %s  %s  %s  applied %s by pid %u, stopped %.3f ms\n", h->patch_id,
			       state, h->target_name, when, h->applier_pid, h->stop_ns / 1e6);
		for (uint32_t k = 0; k < h->nfuncs; k++) {
			const struct graft_region_func *f = &h->funcs[k];
			const char *under, *st = func_state(memfd, &regs, f, &under);

			if (!json)
				printf("    %-24s 0x%" PRIx64 " -> 0x%" PRIx64 "  %s%s%s\n",
				       f->name, f->old_addr, f->new_addr, st, under ? " " : "",
				       under ? under : "");
			{
				char a[24];

				(void)snprintf(a, sizeof(a), "0x%" PRIx64, f->old_addr);
				json_array_append_new(jf, json_pack("{s:o, s:s, s:s, s:o}", "name",
								    cli_json_text(f->name),
								    "address", a, "state", st,
								    "under", cli_json_text(under)));
			}
		}
		json_array_append_new(
			jp, json_pack("{s:o, s:s, s:o, s:s, s:o, s:s, s:I, s:f, s:o}", "id",
				      cli_json_text(h->patch_id), "state",
				      h->state == GRAFT_REGION_APPLIED ? "applied" : "prepared",
				      "target", cli_json_text(h->target_name), "build_id", bid,
				      "description", cli_json_text(h->description), "applied_at",
				      when, "applier_pid", (json_int_t)h->applier_pid, "stopped_ms",
				      h->stop_ns / 1e6, "functions", jf));
	}
	if (bad)
		cli_warn("pid %d: %zu graft region%s with an unreadable header", (int)pid, bad,
			 bad == 1 ? "" : "s");
	if (regs.n)
		json_array_append_new(out, json_pack("{s:i, s:o, s:o}", "pid", (int)pid, "comm",
						     cli_json_text(comm), "patches", jp));
	else
		json_decref(jp);
	{
		int n = (int)regs.n;

		graft_regions_free(&regs);
		graft_maps_free(&maps);
		return n;
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	_cleanup_free_ pid_t *pids = NULL;
	size_t npids = 0, cap = 0;
	bool json = false;
	int c, total = 0, rc = EXIT_DONE;
	json_t *out;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_add_pid(&pids, &npids, &cap, optarg) < 0)
				return EXIT_USAGE;
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
		return EXIT_USAGE;
	}
	out = json_array();
	if (npids) {
		for (size_t i = 0; i < npids; i++) {
			int n = status_pid(pids[i], json, true, out);

			if (n < 0)
				rc = EXIT_ERROR;
			else
				total += n;
			if (n == 0 && !json)
				printf("pid %d: no graft patches\n", (int)pids[i]);
		}
	} else {
		DIR *d = opendir("/proc");
		struct dirent *de;

		if (!d) {
			cli_error("cannot read /proc");
			json_decref(out);
			return EXIT_ERROR;
		}
		while ((de = readdir(d)))
			if (isdigit((unsigned char)de->d_name[0]) && atoi(de->d_name) != getpid()) {
				int n = status_pid((pid_t)atoi(de->d_name), json, false, out);

				total += n > 0 ? n : 0;
			}
		closedir(d);
		if (!json && total == 0)
			printf("no graft patches in any process\n");
	}
	if (json)
		cli_json_print(json_incref(out));
	json_decref(out);
	if (rc == EXIT_DONE && total == 0)
		rc = EXIT_NOTHING;
	return rc;
}
