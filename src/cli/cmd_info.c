/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * graft info: describe a patch file.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli/cli.h"
#include "patch/format.h"
#include "patch/sig.h"

static const char help[] =
	"usage: graft info PATCH.graft [--keys DIR] [--json]\n"
	"\n"
	"Show what a patch file contains: id, description, CVE ids, the target object and the\n"
	"GNU build-id it applies to, each replaced function (offset and size in the target, its\n"
	"replacement) and the target symbols the patch code refers to. The file is fully\n"
	"validated; a malformed file is reported with the reason. The signature, if any, is\n"
	"checked against the trusted keys (--keys DIR, else $GRAFT_KEYS_DIR, else\n"
	"/etc/graft/keys.d) and reported: which key, trusted or not, valid or not.\n"
	"\n"
	"exit codes: 0 valid, 1 unreadable or malformed.\n";

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"keys", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct graft_patch *p = NULL;
	const char *keys = NULL;
	struct graft_sig_status sig = {0};
	char sigtext[GRAFT_ERR_MSG_MAX + 64] = "not signed";
	struct graft_err err = {0};
	char bid[2 * GRAFT_BUILD_ID_MAX + 1];
	bool json = false;
	int c;

	if (cli_wants_help(argc, argv, help))
		return EXIT_DONE;
	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'K') {
			keys = optarg;
			continue;
		}
		if (c != 'j')
			return cli_usage(help);
		json = true;
	}
	if (optind != argc - 1) {
		cli_error("give exactly one patch file");
		return EXIT_USAGE;
	}
	if (graft_patch_load(argv[optind], &p, &err) < 0)
		return cli_fail(&err, "cannot read '%s'", argv[optind]);
	graft_hex(p->build_id, p->build_id_len, bid);
	{
		/* the signature: who signed, and whether this host trusts it */
		_cleanup_free_ char *buf = NULL;
		struct graft_err serr = {0};
		size_t len;

		if (graft_read_file(argv[optind], GRAFT_PATCH_FILE_MAX + 4096, &buf, &len, NULL) ==
			    0 &&
		    graft_sig_inspect((uint8_t *)buf, len, &sig, NULL) == 0 && sig.is_signed) {
			if (graft_sig_verify_dir((uint8_t *)buf, len, argv[optind], keys, &sig,
						 &serr) == 0)
				(void)snprintf(sigtext, sizeof(sigtext), "key %s, trusted (%s)",
					       sig.key_id_hex, sig.key_path);
			else
				(void)snprintf(sigtext, sizeof(sigtext), "key %s, NOT accepted: %s",
					       sig.key_id_hex, serr.msg);
		}
	}
	if (json) {
		/* "target" and "build_id" are the first target's, as in format v1 */
		json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:s}", "id", p->id, "description",
				      p->description, "format_version", (int)p->version, "target",
				      p->target_name, "build_id", bid);
		json_t *cves = json_array(), *funcs = json_array(), *syms = json_array();
		json_t *tgts = json_array();

		for (size_t i = 0; i < p->ntargets; i++) {
			char tb[2 * GRAFT_BUILD_ID_MAX + 1];

			graft_hex(p->targets[i].build_id, p->targets[i].build_id_len, tb);
			json_array_append_new(tgts, json_pack("{s:s, s:s}", "name",
							      p->targets[i].name, "build_id", tb));
		}
		json_object_set_new(j, "targets", tgts);
		json_object_set_new(j, "signature",
				    sig.is_signed ? json_pack("{s:b, s:s, s:b, s:s}", "signed", 1,
							      "key_id", sig.key_id_hex, "trusted",
							      sig.trusted, "status", sigtext)
						  : json_pack("{s:b}", "signed", 0));

		for (size_t i = 0; i < p->ncves; i++)
			json_array_append_new(cves, json_string(p->cves[i]));
		for (size_t i = 0; i < p->nfuncs; i++)
			json_array_append_new(funcs,
					      json_pack("{s:s, s:I, s:I, s:s}", "name",
							p->funcs[i].old_name, "offset",
							(json_int_t)p->funcs[i].old_offset, "size",
							(json_int_t)p->funcs[i].old_size,
							"replacement", p->funcs[i].new_name));
		for (size_t i = 0; i < p->nfuncs; i++)
			json_object_set_new(json_array_get(funcs, i), "target",
					    json_string(p->targets[p->funcs[i].target].name));
		for (size_t i = 0; i < p->nsyms; i++)
			json_array_append_new(
				syms, json_pack("{s:s, s:I, s:b}", "name", p->syms[i].name,
						"offset", (json_int_t)p->syms[i].target_offset,
						"tls", (p->syms[i].flags & GRAFT_SYM_TLS) != 0));
		json_object_set_new(j, "cves", cves);
		json_object_set_new(j, "functions", funcs);
		json_object_set_new(j, "target_symbols", syms);
		json_object_set_new(j, "size", json_integer((json_int_t)p->len));
		cli_json_print(j);
	} else {
		printf("patch       %s\n", p->id);
		printf("description %s\n", p->description);
		printf("format      graft patch v%u, %zu bytes\n", p->version, p->len);
		printf("signature   %s\n", sigtext);
		for (size_t i = 0; i < p->ncves; i++)
			printf("cve         %s\n", p->cves[i]);
		for (size_t t = 0; t < p->ntargets; t++) {
			char tb[2 * GRAFT_BUILD_ID_MAX + 1];

			graft_hex(p->targets[t].build_id, p->targets[t].build_id_len, tb);
			printf("target      %s\n", p->targets[t].name);
			printf("build-id    %s\n", tb);
			printf("functions   ");
			{
				size_t n = 0;

				for (size_t i = 0; i < p->nfuncs; i++)
					n += p->funcs[i].target == t;
				printf("%zu\n", n);
			}
			for (size_t i = 0; i < p->nfuncs; i++)
				if (p->funcs[i].target == t)
					printf("  %-24s +0x%-8" PRIx64 " %5u bytes -> %s\n",
					       p->funcs[i].old_name, p->funcs[i].old_offset,
					       p->funcs[i].old_size, p->funcs[i].new_name);
		}
		if (p->nsyms)
			printf("target symbols used by the patch\n");
		for (size_t i = 0; i < p->nsyms; i++)
			printf("  %-24s +0x%" PRIx64 "%s\n", p->syms[i].name,
			       p->syms[i].target_offset,
			       (p->syms[i].flags & GRAFT_SYM_TLS) ? " (thread-local)" : "");
	}
	graft_patch_free(p);
	return EXIT_DONE;
}
