/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft scan: which processes on this host run code that known patches fix,
 * whether each patch is in them, and which run files that were deleted or
 * replaced on disk since they started.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/host.h"
#include "patch/scan.h"

static const char help[] =
	"usage: graft scan [PATCH.graft ...] [--dir DIR] [--pid PID ...] [--exe PATH]\n"
	"                  [--user NAME] [--keys DIR] [--no-check] [--json]\n"
	"\n"
	"Look at every process on this host, containers and other mount namespaces included, and\n"
	"report:\n"
	"  - for each patch given, the processes that map an object it is for (recognised by GNU\n"
	"    build-id, read through /proc/PID/map_files, never by path) and whether the patch is\n"
	"    'applied', 'not applied', 'interrupted' (a killed graft's attempt: run 'graft\n"
	"    recover'), or 'not patchable' with the reason: no permission, traced by another\n"
	"    tracer, the code differs from the patch's pre-image, a symbol the patch needs is\n"
	"    missing, a seccomp filter or W^X policy that forbids graft's system calls, exiting;\n"
	"  - processes that still run an executable or library deleted or replaced on disk since\n"
	"    they mapped it (an upgrade they have not picked up): they need a restart or a patch;\n"
	"  - processes graft cannot inspect (no permission, zombies), and summary counts. Run\n"
	"    as root: without it, other users' processes are only counted ('graft -v scan'\n"
	"    lists them).\n"
	"Nothing is changed. To tell whether a not yet applied patch could go in, graft checks\n"
	"everything 'graft apply' checks before its first change; for a process under a seccomp\n"
	"filter that means stopping one of its threads for a fraction of a millisecond to read\n"
	"the filter (--no-check skips these checks).\n"
	"\n"
	"options:\n"
	"  --dir DIR      also every *.graft file in DIR\n"
	"  --pid PID      only this process (repeatable)\n"
	"  --exe PATH     only processes running this executable (also an older, replaced one)\n"
	"  --user NAME    only processes of this user (name or uid; real or effective)\n"
	"  --keys DIR     trusted public keys: patches apply would refuse are flagged\n"
	"  --no-check     do not check whether unapplied patches could be applied\n"
	"  --json         one JSON object on stdout\n"
	"\n"
	"exit codes: 0 scanned, 1 error, 64 bad command line.\n";

struct scan_run {
	struct cli_patches ps;
	struct graft_scan_opts o;
	struct cli_select sel;
	pid_t *only;
	size_t nonly;
	bool json;
	/* counts */
	size_t scanned, stale, uninspectable;
	size_t (*per_patch)[5]; /* by enum graft_scan_state */
	json_t *jprocs, *juninspectable;
	bool header_done;
	/* uid -> name, a few entries */
	struct {
		uid_t uid;
		char name[32];
	} users[64];
	size_t nusers;
};

static const char *user_name(struct scan_run *s, uid_t uid)
{
	struct passwd *pw;
	size_t i;

	for (i = 0; i < s->nusers; i++)
		if (s->users[i].uid == uid)
			return s->users[i].name;
	i = s->nusers < GRAFT_ARRAY_SIZE(s->users) ? s->nusers++ : 0;
	s->users[i].uid = uid;
	pw = getpwuid(uid);
	if (pw)
		(void)snprintf(s->users[i].name, sizeof(s->users[i].name), "%s", pw->pw_name);
	else
		(void)snprintf(s->users[i].name, sizeof(s->users[i].name), "%u", (unsigned)uid);
	return s->users[i].name;
}

static void report(struct scan_run *s, const struct graft_scan_proc *p)
{
	const char *user = user_name(s, p->st.uid);
	json_t *jh, *js;

	if (p->error) {
		s->uninspectable++;
		if (s->json)
			json_array_append_new(
				s->juninspectable,
				json_pack("{s:i, s:o, s:o, s:o}", "pid", (int)p->st.pid, "comm",
					  cli_json_text(p->st.comm), "user", cli_json_text(user),
					  "reason", cli_json_text(p->reason)));
		return;
	}
	for (size_t i = 0; i < p->nhits; i++)
		s->per_patch[p->hits[i].patch][p->hits[i].state]++;
	s->stale += p->nstale > 0;
	if (!p->nhits && !p->nstale)
		return;
	if (!s->json) {
		for (size_t i = 0; i < p->nhits; i++) {
			const struct graft_scan_hit *h = &p->hits[i];

			if (!s->header_done) {
				printf("%-7s %-10s %-16s %-24s %s\n", "PID", "USER", "COMMAND",
				       "PATCH", "STATE");
				s->header_done = true;
			}
			printf("%-7d %-10s %-16s %-24s %s%s%s\n", (int)p->st.pid, user, p->st.comm,
			       s->ps.v[h->patch]->id, graft_scan_state_name(h->state),
			       h->reason[0] ? ": " : "", h->reason);
		}
		return;
	}
	jh = json_array();
	js = json_array();
	for (size_t i = 0; i < p->nhits; i++)
		json_array_append_new(
			jh,
			json_pack("{s:s, s:s, s:o}", "id", s->ps.v[p->hits[i].patch]->id, "state",
				  graft_scan_state_name(p->hits[i].state), "reason",
				  cli_json_text(p->hits[i].reason[0] ? p->hits[i].reason : NULL)));
	for (size_t i = 0; i < p->nstale; i++)
		json_array_append_new(
			js,
			json_pack("{s:o, s:s}", "path", cli_json_text(p->stale[i].path), "on_disk",
				  p->stale[i].disk == GRAFT_DISK_DELETED ? "deleted" : "replaced"));
	json_array_append_new(s->jprocs,
			      json_pack("{s:i, s:o, s:o, s:i, s:o, s:o, s:o}", "pid",
					(int)p->st.pid, "comm", cli_json_text(p->st.comm), "user",
					cli_json_text(user), "uid", (int)p->st.uid, "exe",
					cli_json_text(p->exe), "patches", jh, "stale", js));
}

/* Second text section: the stale ones, after the patch table. */
static void report_stale_text(struct scan_run *s, const struct graft_scan_proc *p, bool *first)
{
	for (size_t i = 0; i < p->nstale; i++) {
		if (*first) {
			printf("%sprocesses running files deleted or replaced on disk since they "
			       "started (restart or patch them):\n",
			       s->header_done ? "\n" : "");
			*first = false;
		}
		printf("%-7d %-10s %-16s %s (%s)\n", (int)p->st.pid, user_name(s, p->st.uid),
		       p->st.comm, p->stale[i].path,
		       p->stale[i].disk == GRAFT_DISK_DELETED ? "deleted" : "replaced");
	}
}

static bool wanted(const struct scan_run *s, pid_t pid)
{
	if (!s->nonly)
		return pid != getpid();
	for (size_t i = 0; i < s->nonly; i++)
		if (s->only[i] == pid)
			return true;
	return false;
}

static void summary(struct scan_run *s, double secs)
{
	json_t *jp = json_object();

	for (size_t k = 0; k < s->ps.n; k++) {
		size_t *c = s->per_patch[k];

		if (s->json) {
			json_object_set_new(
				jp, s->ps.v[k]->id,
				json_pack("{s:I, s:I, s:I, s:I}", "applied",
					  (json_int_t)c[GRAFT_SCAN_APPLIED], "not_applied",
					  (json_int_t)c[GRAFT_SCAN_NOT_APPLIED], "not_patchable",
					  (json_int_t)c[GRAFT_SCAN_NOT_PATCHABLE], "interrupted",
					  (json_int_t)c[GRAFT_SCAN_INTERRUPTED]));
			continue;
		}
		printf("%s: %zu applied, %zu not applied, %zu not patchable, %zu interrupted\n",
		       s->ps.v[k]->id, c[GRAFT_SCAN_APPLIED], c[GRAFT_SCAN_NOT_APPLIED],
		       c[GRAFT_SCAN_NOT_PATCHABLE], c[GRAFT_SCAN_INTERRUPTED]);
	}
	if (!s->json) {
		printf("%zu process%s scanned in %.2f s, %zu run%s deleted or replaced files, "
		       "%zu cannot be inspected\n",
		       s->scanned, s->scanned == 1 ? "" : "es", secs, s->stale,
		       s->stale == 1 ? "s" : "", s->uninspectable);
		json_decref(jp);
		return;
	}
	cli_json_print(json_pack(
		"{s:o, s:o, s:{s:I, s:I, s:I, s:f, s:o}}", "processes", json_incref(s->jprocs),
		"uninspectable", json_incref(s->juninspectable), "summary", "scanned",
		(json_int_t)s->scanned, "stale", (json_int_t)s->stale, "uninspectable",
		(json_int_t)s->uninspectable, "seconds", secs, "patches", jp));
}

int cmd_scan(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"pid", required_argument, NULL, 'p'},
		{"exe", required_argument, NULL, 'e'},
		{"user", required_argument, NULL, 'u'},
		{"keys", required_argument, NULL, 'K'},
		{"no-check", no_argument, NULL, 'N'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct scan_run s = {.o = {.check = true, .stale = true}};
	_cleanup_(graft_objcache_freep) struct graft_objcache *cache = NULL;
	_cleanup_free_ pid_t *pids = NULL;
	const char *dir = NULL, *keys = NULL, *exe = NULL, *user = NULL;
	size_t npids = 0, cap = 0;
	struct graft_err err = {0};
	struct graft_scan_proc *procs;
	uint64_t t0 = graft_now_ns();
	bool first_stale = true;
	int c;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:p:e:u:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'p':
			if (cli_add_pid(&s.only, &s.nonly, &cap, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'e':
			exe = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'K':
			keys = optarg;
			break;
		case 'N':
			s.o.check = false;
			break;
		case 'j':
			s.json = true;
			break;
		default:
			return cli_usage(help);
		}
	}
	if ((c = cli_select_init(&s.sel, exe, user)) != EXIT_DONE)
		goto out_only;
	if ((c = cli_patches_load(&s.ps, argv + optind, (size_t)(argc - optind), dir, keys, true,
				  true)) != EXIT_DONE)
		goto out_only;
	if (graft_objcache_new(&cache) < 0 ||
	    !(s.per_patch = calloc(s.ps.n + 1, sizeof(*s.per_patch)))) {
		cli_error("out of memory");
		c = EXIT_ERROR;
		goto out;
	}
	s.o.cache = cache;
	if (graft_proc_list(&pids, &npids, &err) < 0) {
		c = cli_fail(&err, "cannot scan");
		goto out;
	}
	procs = calloc(npids + 1, sizeof(*procs));
	if (!procs) {
		cli_error("out of memory");
		c = EXIT_ERROR;
		goto out;
	}
	s.jprocs = json_array();
	s.juninspectable = json_array();
	for (size_t i = 0; i < npids; i++) {
		struct graft_scan_proc *p = &procs[i];
		struct graft_proc_status st;

		/* filters first: the checks must not touch a process not asked about */
		if (!wanted(&s, pids[i]) || graft_proc_status_read(pids[i], &st, NULL) < 0 ||
		    !cli_select_match(&s.sel, pids[i], &st))
			continue;
		if (graft_scan_proc(pids[i], (const struct graft_patch *const *)s.ps.v, s.ps.n,
				    &s.o, p) != 0) {
			p->st.pid = 0;
			continue;
		}
		s.scanned++;
		report(&s, p);
	}
	if (!s.json) {
		for (size_t i = 0; i < npids; i++)
			if (procs[i].st.pid && !procs[i].error)
				report_stale_text(&s, &procs[i], &first_stale);
		size_t denied = 0;

		for (size_t i = 0, first = 1; i < npids; i++) {
			const struct graft_scan_proc *p = &procs[i];
			bool perm = p->error == -EACCES || p->error == -EPERM;

			if (!p->st.pid || !p->error)
				continue;
			/* without root, that is most of the host: one line says it */
			if (perm && !cli_verbose && geteuid() != 0) {
				denied++;
				continue;
			}
			if (first)
				printf("%scannot inspect:\n",
				       s.header_done || !first_stale ? "\n" : "");
			first = 0;
			printf("%-7d %-10s %-16s %s\n", (int)p->st.pid, user_name(&s, p->st.uid),
			       p->st.comm, p->reason);
		}
		if (denied)
			printf("%s%zu process%s of other users cannot be inspected without root "
			       "('graft -v scan' lists them)\n",
			       s.header_done || !first_stale ? "\n" : "", denied,
			       denied == 1 ? "" : "es");
		if (s.header_done || !first_stale || s.uninspectable)
			printf("\n");
	}
	summary(&s, (double)(graft_now_ns() - t0) / 1e9);
	for (size_t i = 0; i < npids; i++)
		graft_scan_proc_free(&procs[i]);
	free(procs);
	json_decref(s.jprocs);
	json_decref(s.juninspectable);
	c = EXIT_DONE;
out:
	free(s.per_patch);
	cli_patches_free(&s.ps);
out_only:
	free(s.only);
	return c;
}
