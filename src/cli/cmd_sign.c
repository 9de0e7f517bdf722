/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft sign: sign a patch file with a secret key.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "patch/sig.h"

static const char help[] =
	"usage: graft sign PATCH.graft --key KEY [-o OUT.graft] [--json]\n"
	"\n"
	"Sign a patch file with an Ed25519 secret key made by 'graft keygen'. The signature is a\n"
	"104-byte trailer appended to the file (docs/patch-format.md, \"Signature\"); readelf and\n"
	"graft info still read the file. An existing signature is replaced. The patch is checked\n"
	"with the same reader apply uses before it is signed.\n"
	"\n"
	"  --key KEY          the secret key file (PREFIX.key)\n"
	"  -o, --output FILE  write the signed patch there (default: sign in place)\n"
	"  --json             print the result as JSON\n"
	"\n"
	"'graft pack' and 'graft build' sign what they write when given --sign KEY or when\n"
	"$GRAFT_SIGNING_KEY names a key.\n"
	"\n"
	"exit codes: 0 signed, 1 error, 64 bad command line.\n";

int cli_sign_output(const char *path, const char *key, bool quiet)
{
	struct graft_sig_status st;
	struct graft_err err = {0};

	if (!key || !*key)
		key = getenv("GRAFT_SIGNING_KEY");
	if (!key || !*key)
		return EXIT_DONE;
	if (graft_sig_sign_file(path, key, path, &st, &err) < 0)
		return cli_fail(&err, "cannot sign '%s'", path);
	if (!quiet)
		printf("signed %s with key %s\n", path, st.key_id_hex);
	return EXIT_DONE;
}

int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"output", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *key = NULL, *out = NULL;
	struct graft_sig_status st;
	struct graft_err err = {0};
	bool json = false;
	int c;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cli_usage(help);
		}
	}
	if (optind != argc - 1 || !key) {
		cli_error(key ? "give exactly one patch file" : "with which key? give --key KEY");
		return cli_usage(help);
	}
	if (!out)
		out = argv[optind];
	if (graft_sig_sign_file(argv[optind], key, out, &st, &err) < 0)
		return cli_fail(&err, "cannot sign '%s'", argv[optind]);
	if (json)
		cli_json_print(json_pack("{s:s, s:s, s:I}", "output", out, "key_id", st.key_id_hex,
					 "patch_size", (json_int_t)st.payload_len));
	else
		printf("signed %s with key %s\n", out, st.key_id_hex);
	return EXIT_DONE;
}
