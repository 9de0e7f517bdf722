/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft pack: manifest + object file -> patch file.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "patch/pack.h"

static const char help[] =
	"usage: graft pack MANIFEST -o PATCH.graft [--sign KEY] [--json]\n"
	"\n"
	"Make a patch file from an object file holding new versions of functions (compile it with\n"
	"-c -fPIC -ffunction-sections) and a manifest naming the target. Manifest lines:\n"
	"\n"
	"  id fix-hdr                     patch id: 1-64 of [A-Za-z0-9._+-]\n"
	"  description Reject oversized headers\n"
	"  cve CVE-2026-0001              repeatable\n"
	"  target ./httpd                 executable or shared library to patch (paths are\n"
	"                                 relative to the manifest); its build-id goes in the "
	"patch\n"
	"  object fix.o                   the compiled new code\n"
	"  symbols lib.debug              where the target's symbols are when it is stripped\n"
	"                                 (its separate debug file; the build-ids must match)\n"
	"  replace parse_header parse_header_v2   old function -> its replacement in the object;\n"
	"                                 write OLD@0xADDR when several statics share the name\n"
	"  bind counter counter.1         make the object's undefined NAME refer to a target "
	"symbol\n"
	"  bind table 0x4010              ... or to an offset in the target\n"
	"  extern log                     resolve NAME in the process by name, not in the target\n"
	"\n"
	"Undefined symbols of the object that the target defines (its statics, globals and\n"
	"functions) are bound to their offsets in the target; the rest (puts, memcpy) are "
	"resolved\n"
	"by name in the running process. The pre-image of each replaced function is taken from "
	"the\n"
	"target file so apply can prove the running code is the code the patch was made for.\n"
	"\n"
	"--sign KEY (or $GRAFT_SIGNING_KEY) signs the patch with that secret key, as 'graft "
	"sign'.\n"
	"\n"
	"exit codes: 0 written, 1 error, 2 cannot be patched live (a function too short for a\n"
	"jump), 64 bad command line. Nothing is written on error.\n";

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"sign", required_argument, NULL, 'Z'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct graft_pack_summary sum;
	struct graft_err err = {0};
	const char *out = NULL, *sign_key = NULL;
	bool json = false;
	int c;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
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
	if (optind != argc - 1 || !out) {
		cli_error(out ? "give exactly one manifest" : "where to? give -o PATCH.graft");
		return cli_usage(help);
	}
	if (graft_pack(argv[optind], out, &sum, &err) < 0)
		return cli_fail(&err, "cannot pack '%s'", argv[optind]);
	if ((c = cli_sign_output(out, sign_key, json)) != EXIT_DONE) {
		(void)unlink(out); /* never leave an unsigned file where a signed one was asked */
		return c;
	}
	if (json)
		cli_json_print(json_pack("{s:s, s:I, s:I, s:I, s:I}", "output", out, "functions",
					 (json_int_t)sum.nfuncs, "bound_symbols",
					 (json_int_t)sum.nbound, "external_symbols",
					 (json_int_t)sum.nexternal, "size", (json_int_t)sum.size));
	else
		printf("wrote %s: %zu function%s, %zu symbol%s bound to the target, %zu resolved "
		       "at apply, %zu bytes\n",
		       out, sum.nfuncs, sum.nfuncs == 1 ? "" : "s", sum.nbound,
		       sum.nbound == 1 ? "" : "s", sum.nexternal, sum.size);
	return EXIT_DONE;
}
