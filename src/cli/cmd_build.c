/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft build: source tree + fix + running binary -> patch file.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "build/build.h"
#include "cli/cli.h"

static const char help[] =
	"usage: graft build --src DIR --diff FIX.diff --target PATH [--target PATH ...]\n"
	"                   [--build 'CMD'] [--id ID] [--cve ID ...] [--description TEXT]\n"
	"                   [-o OUT.graft] [--sign KEY] [--json]\n"
	"\n"
	"Turn a source fix into a patch for the binary that is running, or say precisely why\n"
	"the fix cannot be applied live.\n"
	"\n"
	"  --src DIR           the unpatched source tree the target was built from; never\n"
	"                      modified: graft builds copies under its cache directory\n"
	"  --diff FILE         the fix, a unified diff (patch -p1, else -p0; or give -p N)\n"
	"  --target PATH       the executable or shared library the patch is for; its symbols\n"
	"                      come from its symbol table or, when stripped, from\n"
	"                      DEBUG_DIR/.build-id/xx/yyyy.debug\n"
	"  --build 'CMD'       how the project builds (default: make), run by /bin/sh in the\n"
	"                      tree, with the flags the target was built with. graft's compiler\n"
	"                      wrapper is CC and cc/gcc on PATH; it adds -ffunction-sections\n"
	"                      -fdata-sections and records each compile\n"
	"  --id ID             patch id (default: the diff's file name without .diff/.patch)\n"
	"  --cve ID            a CVE the fix addresses; repeatable\n"
	"  --description TEXT  one line for 'graft info' and 'graft status'\n"
	"  -o, --output FILE   where to write the patch (default: ID.graft)\n"
	"  -p, --strip N       strip N leading path components from the diff's file names\n"
	"  --cache-dir DIR     where the built trees are kept between runs (default:\n"
	"                      $GRAFT_CACHE_DIR, $XDG_CACHE_HOME/graft or ~/.cache/graft); the\n"
	"                      original build is reused while the source tree is unchanged\n"
	"  --debug-dir DIR     where separate debug files live (default: /usr/lib/debug)\n"
	"  --sign KEY          sign the patch with this secret key (also $GRAFT_SIGNING_KEY)\n"
	"  --json              print the result as JSON\n"
	"\n"
	"How: build the original; apply the diff to a copy; rebuild (only what the diff touched\n"
	"recompiles); compare each recompiled object with its original, function by function\n"
	"(GCC's .isra/.constprop/.part/.cold numbering and __LINE__-only changes are no change);\n"
	"check that each original function as compiled matches the target's bytes; write the\n"
	"patch. Changed functions become replacements, new functions and data are carried in\n"
	"the patch, everything else resolves to the running program (its statics keep their\n"
	"values).\n"
	"\n"
	"Refused (exit 2), naming the symbol: changed size or initial value of existing data,\n"
	"a changed struct layout, a change to code that already ran (main, constructors), a\n"
	"new thread-local, a function too short for a jump, and a build that does not\n"
	"reproduce the target (different compiler or flags).\n"
	"\n"
	"exit codes: 0 written, 1 error (build failed, diff does not apply, bad input),\n"
	"2 cannot be patched live, 3 the fix changes no code, 64 bad command line.\n";

static json_t *funcs_json(const struct graft_build_func *f, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s, s:s, s:I}", "name", f[i].name, "file", f[i].file,
				      "size", (json_int_t)f[i].size);

		if (f[i].why)
			json_object_set_new(o, "why", json_string(f[i].why));
		if (f[i].addr)
			json_object_set_new(o, "offset", json_integer((json_int_t)f[i].addr));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *strings_json(char **s, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

static void print_text(const struct graft_build_result *r)
{
	printf("wrote %s: patch '%s', %zu bytes\n", r->out, r->id, r->size);
	for (size_t i = 0; i < r->nreplaced; i++)
		printf("  replace   %-28s %-16s %s\n", r->replaced[i].name, r->replaced[i].file,
		       r->replaced[i].why ? r->replaced[i].why : "");
	for (size_t i = 0; i < r->nadded; i++)
		printf("  new func  %-28s %s\n", r->added[i].name, r->added[i].file);
	for (size_t i = 0; i < r->ndata; i++)
		printf("  new data  %-28s %s\n", r->data[i].name, r->data[i].file);
	for (size_t i = 0; i < r->nnotes; i++)
		printf("  note: %s\n", r->notes[i]);
	printf("built in %.2f s (original build %s%.2f s, patched rebuild %.2f s, diff %.2f s)\n",
	       (double)r->ns_total / 1e9, r->orig_cached ? "cached, " : "",
	       (double)r->ns_orig / 1e9, (double)r->ns_patched / 1e9, (double)r->ns_diff / 1e9);
}

int cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{"src", required_argument, NULL, 's'},
		{"diff", required_argument, NULL, 'd'},
		{"target", required_argument, NULL, 't'},
		{"build", required_argument, NULL, 'b'},
		{"id", required_argument, NULL, 'i'},
		{"cve", required_argument, NULL, 'c'},
		{"description", required_argument, NULL, 'D'},
		{"output", required_argument, NULL, 'o'},
		{"strip", required_argument, NULL, 'p'},
		{"cache-dir", required_argument, NULL, 'C'},
		{"debug-dir", required_argument, NULL, 'G'},
		{"sign", required_argument, NULL, 'Z'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct graft_build_opts o = {.strip = UINT_MAX};
	struct graft_build_result res;
	struct graft_err err = {0};
	const char *cves[256];
	_cleanup_free_ char *self = NULL;
	const char *sign_key = NULL;
	bool json = false;
	int c, r;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.src = optarg;
			break;
		case 'd':
			o.diff = optarg;
			break;
		case 't':
			if (o.ntargets == GRAFT_BUILD_TARGETS_MAX) {
				cli_error("at most %d targets", GRAFT_BUILD_TARGETS_MAX);
				return EXIT_USAGE;
			}
			o.targets[o.ntargets++] = optarg;
			break;
		case 'b':
			o.build_cmd = optarg;
			break;
		case 'i':
			o.id = optarg;
			break;
		case 'c':
			if (o.ncves == GRAFT_ARRAY_SIZE(cves)) {
				cli_error("too many --cve");
				return EXIT_USAGE;
			}
			cves[o.ncves++] = optarg;
			break;
		case 'D':
			o.description = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'p': {
			char *e;
			unsigned long v = strtoul(optarg, &e, 10);

			if (*e || e == optarg || v > 64) {
				cli_error("--strip wants a small number, not '%s'", optarg);
				return EXIT_USAGE;
			}
			o.strip = (unsigned)v;
			break;
		}
		case 'C':
			o.cache_root = optarg;
			break;
		case 'G':
			o.debug_root = optarg;
			break;
		case 'Z':
			sign_key = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cli_usage(help);
		}
	}
	if (optind != argc || !o.src || !o.diff || !o.ntargets) {
		cli_error(optind != argc ? "unexpected argument '%s'" : "missing %s",
			  optind != argc ? argv[optind]
			  : !o.src	 ? "--src DIR"
			  : !o.diff	 ? "--diff FILE"
					 : "--target PATH");
		return cli_usage(help);
	}
	o.cves = cves;
	self = realpath("/proc/self/exe", NULL);
	if (!self) {
		cli_error("cannot find graft's own executable");
		return EXIT_ERROR;
	}
	o.wrapper = self;
	r = graft_build(&o, &res, &err);
	if (r < 0) {
		int code = cli_fail(&err, "cannot build a patch from '%s'", o.diff);

		for (size_t i = 1; i < res.nproblems; i++)
			fprintf(stderr, "error: also: %s\n", res.problems[i]);
		if (json) {
			json_t *j = json_pack("{s:b, s:s, s:i}", "ok", 0, "error", err.msg,
					      "exit_code", code);

			json_object_set_new(j, "problems",
					    strings_json(res.problems, res.nproblems));
			json_object_set_new(j, "notes", strings_json(res.notes, res.nnotes));
			cli_json_print(j);
		}
		graft_build_result_release(&res);
		return code;
	}
	if ((c = cli_sign_output(res.out, sign_key, true)) != EXIT_DONE) {
		(void)unlink(res.out);
		graft_build_result_release(&res);
		return c;
	}
	if (json) {
		json_t *j = json_pack("{s:b, s:s, s:s, s:I}", "ok", 1, "id", res.id, "output",
				      res.out, "size", (json_int_t)res.size);

		json_object_set_new(j, "replaced", funcs_json(res.replaced, res.nreplaced));
		json_object_set_new(j, "new_functions", funcs_json(res.added, res.nadded));
		json_object_set_new(j, "new_data", funcs_json(res.data, res.ndata));
		json_object_set_new(j, "notes", strings_json(res.notes, res.nnotes));
		json_object_set_new(
			j, "seconds",
			json_pack("{s:f, s:f, s:f, s:f, s:b}", "total", (double)res.ns_total / 1e9,
				  "original_build", (double)res.ns_orig / 1e9, "patched_build",
				  (double)res.ns_patched / 1e9, "diff", (double)res.ns_diff / 1e9,
				  "original_cached", res.orig_cached));
		json_object_set_new(j, "cache", json_string(res.cache_dir));
		cli_json_print(j);
	} else {
		print_text(&res);
	}
	graft_build_result_release(&res);
	return EXIT_DONE;
}
