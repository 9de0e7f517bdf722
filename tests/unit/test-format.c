/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the patch file reader (src/patch/format.c) against hostile
 * input: a valid patch is made at test time (gcc + graft_pack), then
 * truncated at every length, its metadata fields set to out-of-range values,
 * and every byte of .graft.meta flipped. The reader must refuse with a
 * message, never crash or read out of bounds (run under ASan with
 * SANITIZE=address,undefined).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "patch/format.h"
#include "patch/pack.h"

static char dir[] = "/tmp/graft-unit.XXXXXX";
static uint8_t *good;
static size_t good_len;
static size_t meta_off, meta_len; /* file offset and size of .graft.meta */

static int run(const char *cmd)
{
	return system(cmd);
}

static int setup(void **state)
{
	char cmd[1024], path[512];
	struct graft_pack_summary sum;
	struct graft_err err = {0};
	struct graft_patch *p = NULL;
	FILE *f;
	char *buf;
	size_t len;

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	(void)snprintf(path, sizeof(path), "%s/t.c", dir);
	f = fopen(path, "w");
	fputs("int g = 3; __attribute__((noipa)) int f(int x) { return x * g + 12345; }\n"
	      "int main(void) { return f(1); }\n",
	      f);
	fclose(f);
	(void)snprintf(path, sizeof(path), "%s/p.c", dir);
	f = fopen(path, "w");
	fputs("extern int g; int f2(int x) { return x + g; }\n", f);
	fclose(f);
	(void)snprintf(
		cmd, sizeof(cmd),
		"cd %s && gcc -O2 -o t t.c && gcc -O2 -c -fPIC -ffunction-sections -o p.o p.c && "
		"printf 'id unit-1\\ndescription d\\ncve CVE-1\\ntarget t\\nobject p.o\\nreplace f "
		"f2\\n' > m",
		dir);
	if (run(cmd) != 0)
		return -1;
	(void)snprintf(path, sizeof(path), "%s/m", dir);
	(void)snprintf(cmd, sizeof(cmd), "%s/p.graft", dir);
	if (graft_pack(path, cmd, &sum, &err) < 0) {
		fprintf(stderr, "pack: %s\n", err.msg);
		return -1;
	}
	if (graft_read_file(cmd, GRAFT_PATCH_FILE_MAX, &buf, &len, &err) < 0)
		return -1;
	good = (uint8_t *)buf;
	good_len = len;
	/* locate .graft.meta in the file */
	{
		uint8_t *copy = malloc(len);

		memcpy(copy, good, len);
		if (graft_patch_parse(copy, len, "good", &p, &err) < 0)
			return -1;
		{
			GElf_Shdr sh;

			if (!graft_elf_section(p->elf, GRAFT_FMT_SEC_META, &sh))
				return -1;
			meta_off = sh.sh_offset;
			meta_len = sh.sh_size;
		}
		graft_patch_free(p);
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	free(good);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return run(cmd);
}

/* Parse a copy; returns 0 or the error code, and checks the message. */
static int parse_copy(const uint8_t *buf, size_t len, struct graft_err *err)
{
	struct graft_patch *p = NULL;
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	graft_err_clear(err);
	r = graft_patch_parse(copy, len, "x.graft", &p, err);
	if (r == 0) {
		graft_patch_free(p); /* owns copy */
		return 0;
	}
	assert_true(r < 0);
	assert_true(err->msg[0] != '\0');
	free(copy);
	return r;
}

static void test_good(void **state)
{
	struct graft_err err;
	struct graft_patch *p = NULL;
	uint8_t *copy = malloc(good_len);

	(void)state;
	memcpy(copy, good, good_len);
	assert_int_equal(graft_patch_parse(copy, good_len, "good", &p, &err), 0);
	assert_string_equal(p->id, "unit-1");
	assert_string_equal(p->description, "d");
	assert_int_equal(p->ncves, 1);
	assert_string_equal(p->cves[0], "CVE-1");
	assert_int_equal(p->nfuncs, 1);
	assert_string_equal(p->funcs[0].old_name, "f");
	assert_string_equal(p->funcs[0].new_name, "f2");
	assert_true(p->funcs[0].pre_len >= 5);
	assert_int_equal(p->nsyms, 1);
	assert_string_equal(p->syms[0].name, "g");
	assert_int_equal(p->build_id_len, 20);
	graft_patch_free(p);
}

static void test_truncated(void **state)
{
	struct graft_err err;

	(void)state;
	for (size_t len = 0; len < good_len; len += len < 1024 ? 1 : 7)
		assert_true(parse_copy(good, len, &err) < 0);
}

static void set_u32(uint8_t *buf, size_t field_off, uint32_t v)
{
	memcpy(buf + meta_off + field_off, &v, 4);
}

static void expect_refused(size_t field_off, uint32_t v, const char *needle)
{
	uint8_t *b = malloc(good_len);
	struct graft_err err;

	memcpy(b, good, good_len);
	set_u32(b, field_off, v);
	assert_true(parse_copy(b, good_len, &err) < 0);
	if (!strstr(err.msg, needle))
		fail_msg("field +%zu = %u: message '%s' lacks '%s'", field_off, v, err.msg, needle);
	free(b);
}

static void test_fields(void **state)
{
	(void)state;
	expect_refused(offsetof(struct graft_fmt_header, version), 3, "format version 3");
	expect_refused(offsetof(struct graft_fmt_header, version), 0, "format version 0");
	expect_refused(offsetof(struct graft_fmt_header, ntargets), 0, "target table out of range");
	expect_refused(offsetof(struct graft_fmt_header, ntargets), 17,
		       "target table out of range");
	expect_refused(offsetof(struct graft_fmt_header, targets_off), 0xfffffff0,
		       "target table out of range");
	expect_refused(offsetof(struct graft_fmt_header, header_size), 4, "bad header size");
	expect_refused(offsetof(struct graft_fmt_header, header_size), 0xffffffff,
		       "bad header size");
	expect_refused(offsetof(struct graft_fmt_header, id), 0xfffffff0, "patch id string offset");
	expect_refused(offsetof(struct graft_fmt_header, build_id_len), 0, "build-id length");
	expect_refused(offsetof(struct graft_fmt_header, build_id_len), 65, "build-id length");
	expect_refused(offsetof(struct graft_fmt_header, nfuncs), 0, "replaces no function");
	expect_refused(offsetof(struct graft_fmt_header, nfuncs), 0x7fffffff,
		       "function table out of range");
	expect_refused(offsetof(struct graft_fmt_header, funcs_off), 0xfffffff0,
		       "function table out of range");
	expect_refused(offsetof(struct graft_fmt_header, nsyms), 0xffffff,
		       "symbol table out of range");
	expect_refused(offsetof(struct graft_fmt_header, syms_off), (uint32_t)meta_len,
		       "symbol table out of range");
	expect_refused(offsetof(struct graft_fmt_header, ncves), 100000, "CVE list out of range");
	expect_refused(0, 0x41414141, "bad magic");
}

static void test_func_records(void **state)
{
	struct graft_fmt_header h;
	size_t f0;

	(void)state;
	memcpy(&h, good + meta_off, sizeof(h));
	f0 = h.funcs_off;
	expect_refused(f0 + offsetof(struct graft_fmt_func, old_size), 0, "bad size");
	expect_refused(f0 + offsetof(struct graft_fmt_func, old_size), 3, "too short for a jump");
	expect_refused(f0 + offsetof(struct graft_fmt_func, pre_len), 0xffffffff, "pre-image");
	expect_refused(f0 + offsetof(struct graft_fmt_func, pre_off), 0xfffffff0, "pre-image");
	expect_refused(f0 + offsetof(struct graft_fmt_func, new_name), 0,
		       "not defined in the object");
	expect_refused(f0 + offsetof(struct graft_fmt_func, old_name), 0xffffff,
		       "function name string offset");
	/* a v2 record naming a target the table does not have */
	expect_refused(f0 + offsetof(struct graft_fmt_func, flags), 5u << GRAFT_FLAG_TARGET_SHIFT,
		       "names target 5 of 1");
	expect_refused(h.syms_off + offsetof(struct graft_fmt_sym, flags),
		       1u << GRAFT_FLAG_TARGET_SHIFT, "names a target that is not there");
}

static void test_target_table(void **state)
{
	struct graft_fmt_header h;
	struct graft_fmt_target t;
	struct graft_patch *p = NULL;
	struct graft_err err;
	uint8_t *b = malloc(good_len);

	(void)state;
	memcpy(&h, good + meta_off, sizeof(h));
	assert_int_equal(h.version, GRAFT_FMT_VERSION);
	assert_int_equal(h.ntargets, 1);
	memcpy(&t, good + meta_off + h.targets_off, sizeof(t));
	expect_refused(h.targets_off + offsetof(struct graft_fmt_target, build_id_len), 0,
		       "bad target build-id length");
	expect_refused(h.targets_off + offsetof(struct graft_fmt_target, name), 0xffffff,
		       "target name string offset");
	/* the same bytes read as v1 take the target from the header */
	memcpy(b, good, good_len);
	set_u32(b, offsetof(struct graft_fmt_header, version), 1);
	assert_int_equal(parse_copy(b, good_len, &err), 0);
	assert_int_equal(graft_patch_parse(b, good_len, "v1", &p, &err), 0);
	assert_int_equal(p->version, 1);
	assert_int_equal(p->ntargets, 1);
	assert_memory_equal(p->targets[0].build_id, t.build_id, t.build_id_len);
	graft_patch_free(p); /* frees b */
}

static void test_every_meta_byte(void **state)
{
	struct graft_err err;
	uint8_t *b = malloc(good_len);

	(void)state;
	for (size_t i = 0; i < meta_len; i++) {
		static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80};

		for (size_t k = 0; k < sizeof(vals); k++) {
			memcpy(b, good, good_len);
			b[meta_off + i] = vals[k];
			(void)parse_copy(b, good_len,
					 &err); /* refused or accepted: never a crash */
		}
	}
	free(b);
}

static void test_not_elf(void **state)
{
	static const uint8_t junk[] = "this is not an ELF file at all, it is text\n";
	struct graft_err err;

	(void)state;
	assert_true(parse_copy(junk, sizeof(junk), &err) < 0);
	assert_non_null(strstr(err.msg, "not an ELF file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_func_records),
		cmocka_unit_test(test_every_meta_byte),
		cmocka_unit_test(test_target_table),
		cmocka_unit_test(test_not_elf),
	};

	return cmocka_run_group_tests_name("format", tests, setup, teardown);
}
