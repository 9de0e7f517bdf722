/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft keygen: make an Ed25519 key pair for signing patches.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "patch/sig.h"
#include "proc/proc.h"

static const char help[] =
	"usage: graft keygen -o PREFIX [--comment TEXT] [--json]\n"
	"\n"
	"Make an Ed25519 key pair for signing patches: PREFIX.key (the secret key, mode 0600;\n"
	"keep it on the machine that signs) and PREFIX.pub (the public key). Copy PREFIX.pub into\n"
	"the trusted keys directory of every host that should accept patches signed with it\n"
	"(/etc/graft/keys.d, or $GRAFT_KEYS_DIR). Existing files are never overwritten.\n"
	"\n"
	"  -o, --output PREFIX   where to write the two files\n"
	"  --comment TEXT        a one-line note kept in both files (who, what for)\n"
	"  --json                print the key id and paths as JSON\n"
	"\n"
	"exit codes: 0 written, 1 error, 64 bad command line.\n";

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"comment", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *prefix = NULL, *comment = "";
	struct graft_sig_key k;
	struct graft_err err = {0};
	char id[2 * GRAFT_SIG_KEY_ID_SIZE + 1];
	bool json = false;
	int c;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			prefix = optarg;
			break;
		case 'c':
			comment = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cli_usage(help);
		}
	}
	if (optind != argc || !prefix) {
		cli_error(prefix ? "unexpected argument '%s'" : "where to? give -o PREFIX",
			  prefix ? argv[optind] : "");
		return cli_usage(help);
	}
	if (graft_sig_keygen(prefix, comment, &k, &err) < 0)
		return cli_fail(&err, "cannot make a key pair");
	graft_hex(k.key_id, sizeof(k.key_id), id);
	if (json)
		cli_json_print(json_pack("{s:s, s:s+, s:s+}", "key_id", id, "secret", prefix,
					 ".key", "public", prefix, ".pub"));
	else
		printf("key %s: secret key %s.key (keep it private), public key %s.pub (install it "
		       "in /etc/graft/keys.d on the hosts that trust it)\n",
		       id, prefix, prefix);
	return EXIT_DONE;
}
