/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the builder's text and naming helpers: canonical symbol
 * names, the unified diff reader and the C source scanner. The object
 * differ itself is tested on compiled objects by tests/differ.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/obj.h"
#include "build/srcinfo.h"

static void expect_canon(const char *in, const char *want)
{
	char *c = graft_obj_canon(in);

	assert_non_null(c);
	if (strcmp(c, want) != 0)
		fail_msg("canon('%s') = '%s', want '%s'", in, c, want);
	free(c);
}

static void test_canon(void **state)
{
	(void)state;
	expect_canon("parse", "parse");
	expect_canon("parse.isra.0", "parse.isra");
	expect_canon("parse.constprop.12", "parse.constprop");
	expect_canon("parse.part.0.cold", "parse.part.cold");
	expect_canon("parse.cold", "parse.cold");
	expect_canon("count.3", "count");
	expect_canon("__func__.1", "__func__");
	expect_canon(".LC0", ".LC0");			/* not a numeric component */
	expect_canon(".rodata.str1.1", ".rodata.str1"); /* str1 stays */
	expect_canon("v1.2x", "v1.2x");
	expect_canon("a.lto_priv.0", "a.lto_priv");
	expect_canon("", "");
}

static const char two_files[] = "diff -ru a/lib/x.c b/lib/x.c\n"
				"--- a/lib/x.c\t2026-01-01 00:00:00\n"
				"+++ b/lib/x.c\t2026-01-01 00:00:01\n"
				"@@ -10,4 +10,5 @@ int f(void)\n"
				" a\n"
				"-b\n"
				"+B\n"
				"+C\n"
				" d\n"
				" e\n"
				"--- /dev/null\n"
				"+++ b/new.c\n"
				"@@ -0,0 +1,2 @@\n"
				"+int g;\n"
				"+int h;\n";

static void test_udiff(void **state)
{
	struct graft_udiff *u = NULL;
	struct graft_err err = {0};
	const struct graft_diff_file *f;

	(void)state;
	assert_int_equal(graft_udiff_parse(two_files, 1, &u, &err), 0);
	assert_int_equal(u->nfiles, 2);
	f = graft_udiff_find(u, "lib/x.c");
	assert_non_null(f);
	assert_string_equal(f->old_path, "lib/x.c");
	/* new side: B and C are lines 11 and 12; the removal sits at 11 */
	assert_int_equal(f->nnew, 2);
	assert_int_equal(f->new_lines[0], 11);
	assert_int_equal(f->new_lines[1], 12);
	assert_int_equal(f->nold, 1);
	assert_int_equal(f->old_lines[0], 11);
	/* a longer path matches on a component boundary, a partial name does not */
	assert_non_null(graft_udiff_find(u, "/tmp/tree/lib/x.c"));
	assert_null(graft_udiff_find(u, "/tmp/tree/xlib/x.c"));
	f = graft_udiff_find(u, "new.c");
	assert_non_null(f);
	assert_null(f->old_path);
	assert_int_equal(f->nnew, 2);
	graft_udiff_free(u);

	assert_true(graft_udiff_parse("just some text\n", 1, &u, &err) < 0);
	assert_non_null(strstr(err.msg, "no file changes"));
	graft_err_clear(&err);
	assert_true(graft_udiff_parse("--- a/x\n+++ b/x\n@@ -1 garbage\n", 1, &u, &err) < 0);
	assert_non_null(strstr(err.msg, "malformed hunk header"));
}

static const char source[] = "#include <stdio.h>\n"					/* 1 */
			     "#define BRACE {\n"					/* 2 */
			     "struct conf {\n"						/* 3 */
			     "\tint port; /* the { port } */\n"				/* 4 */
			     "\tint backlog;\n"						/* 5 */
			     "};\n"							/* 6 */
			     "static const char *s = \"{ not a body\";\n"		/* 7 */
			     "__attribute__((noinline)) static int\n"			/* 8 */
			     "parse (const char *p,\n"					/* 9 */
			     "       int n)\n"						/* 10 */
			     "{\n"							/* 11 */
			     "\tif (n) { return p[0] == '}'; }\n"			/* 12 */
			     "\treturn 0;\n"						/* 13 */
			     "}\n"							/* 14 */
			     "int (*table[2])(int) = { 0, 0 };\n"			/* 15 */
			     "typedef union val { int i; long l; } val_t;\n"		/* 16 */
			     "void run(void) { struct conf c = { 1, 2 }; (void)c; }\n"; /* 17 */

static void test_src_scan(void **state)
{
	struct graft_src *s = NULL;
	const struct graft_src_func *f;

	(void)state;
	assert_int_equal(graft_src_scan(source, &s), 0);
	f = graft_src_func(s, "parse");
	assert_non_null(f);
	assert_int_equal(f->first, 8);
	assert_int_equal(f->last, 14);
	assert_string_equal(f->signature, "static int parse (const char *p, int n)");
	f = graft_src_func(s, "run");
	assert_non_null(f);
	assert_int_equal(f->first, 17);
	assert_int_equal(f->last, 17);
	assert_null(graft_src_func(s, "table"));
	assert_null(graft_src_func(s, "__attribute__"));
	assert_int_equal(s->nstructs, 2);
	assert_string_equal(s->structs[0].name, "struct conf");
	assert_int_equal(s->structs[0].line, 3);
	/* comments inside the body are not part of the layout */
	assert_string_equal(s->structs[0].body, "int port; int backlog;");
	assert_string_equal(s->structs[1].name, "union val");
	graft_src_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon),
		cmocka_unit_test(test_udiff),
		cmocka_unit_test(test_src_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
