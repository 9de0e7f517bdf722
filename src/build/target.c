/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Target objects for the builder. Symbols are read once into a flat array
 * with the index of the source file each local came from: ld emits, for
 * every input object, an STT_FILE symbol and then that object's locals, so
 * two statics named "count" in a.c and b.c stay apart.
 *
 * The build-time run-pre compares the original object's function with the
 * target's bytes. Relocated fields are masked; so are the opcode bytes the
 * linker may rewrite when it relaxes a GOT load into a lea, a mov of an
 * immediate or a direct call, and TLS initial-exec into local-exec.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "build/target.h"

void graft_target_free(struct graft_target *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nsyms; i++)
		free(t->syms[i].canon);
	free(t->syms);
	free(t->files);
	if (t->selfp != t->elf)
		graft_elf_free(t->selfp);
	graft_elf_free(t->elf);
	free(t->sbuf);
	free(t->buf);
	free(t->sym_path);
	free(t->path);
	free(t);
}

static Elf_Scn *symtab_of(struct graft_elf *e, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e->elf, scn)))
		if (gelf_getshdr(scn, sh) && sh->sh_type == SHT_SYMTAB)
			return scn;
	return NULL;
}

static int load_symbols(struct graft_target *t, struct graft_err *err)
{
	GElf_Shdr sh;
	Elf_Scn *scn = symtab_of(t->selfp, &sh);
	Elf_Data *d;
	size_t n;
	int file = -1;

	if (!scn || !(d = elf_getdata(scn, NULL)) || !sh.sh_entsize)
		return graft_err_set(err, -ENOENT, "'%s' has no symbol table", t->sym_path);
	n = sh.sh_size / sh.sh_entsize;
	t->syms = calloc(n ? n : 1, sizeof(*t->syms));
	t->files = calloc(n ? n : 1, sizeof(*t->files));
	if (!t->syms || !t->files)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 1; i < n; i++) {
		struct graft_target_sym *s;
		const char *name;
		GElf_Sym gs;

		if (!gelf_getsym(d, (int)i, &gs))
			continue;
		name = elf_strptr(t->selfp->elf, sh.sh_link, gs.st_name);
		if (!name)
			continue;
		if (GELF_ST_TYPE(gs.st_info) == STT_FILE) {
			t->files[t->nfiles] = name;
			file = (int)t->nfiles++;
			continue;
		}
		if (gs.st_shndx == SHN_UNDEF || GELF_ST_TYPE(gs.st_info) == STT_SECTION || !*name)
			continue;
		s = &t->syms[t->nsyms];
		s->name = name;
		s->value = gs.st_value;
		s->size = gs.st_size;
		s->type = GELF_ST_TYPE(gs.st_info);
		s->bind = GELF_ST_BIND(gs.st_info);
		s->file = s->bind == STB_LOCAL ? file : -1;
		if (!(s->canon = graft_obj_canon(name)))
			return graft_err_set(err, -ENOMEM, "out of memory");
		t->nsyms++;
	}
	return 0;
}

static int open_debug_file(struct graft_target *t, const char *debug_root, struct graft_err *err)
{
	char hex[2 * GRAFT_BUILD_ID_MAX + 1];
	_cleanup_free_ char *p = NULL;
	uint8_t bid[GRAFT_BUILD_ID_MAX];
	size_t len;
	int r;

	graft_hex(t->build_id, t->build_id_len, hex);
	if (asprintf(&p, "%s/.build-id/%.2s/%s.debug", debug_root, hex, hex + 2) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (access(p, R_OK) < 0)
		return graft_err_set(err, -ENOENT,
				     "'%s' is stripped and its debug file '%s' is missing (install "
				     "the debug package or give --debug-dir)",
				     t->path, p);
	if ((r = graft_read_file(p, GRAFT_OBJ_FILE_MAX, &t->sbuf, &len, err)) < 0 ||
	    (r = graft_elf_open_mem(t->sbuf, len, p, &t->selfp, err)) < 0)
		return r;
	r = graft_elf_build_id(t->selfp, bid, sizeof(bid));
	if (r != (int)t->build_id_len || memcmp(bid, t->build_id, t->build_id_len) != 0)
		return graft_err_set(err, -EINVAL, "debug file '%s' does not belong to '%s'", p,
				     t->path);
	/* absolute, like path: graft_pack reads it relative to nothing */
	t->sym_path = realpath(p, NULL);
	if (!t->sym_path)
		return graft_err_set(err, -errno, "cannot resolve '%s': %s", p, strerror(errno));
	return 0;
}

int graft_target_open(const char *path, const char *debug_root, struct graft_target **out,
		      struct graft_err *err)
{
	_cleanup_(graft_target_freep) struct graft_target *t = calloc(1, sizeof(*t));
	size_t len;
	GElf_Shdr sh;
	int r;

	if (!t)
		return graft_err_set(err, -ENOMEM, "out of memory");
	/* absolute: the manifest handed to graft_pack lives elsewhere */
	t->path = realpath(path, NULL);
	if (!t->path)
		return graft_err_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	if ((r = graft_read_file(path, GRAFT_OBJ_FILE_MAX, &t->buf, &len, err)) < 0)
		return r;
	if ((r = graft_elf_open_mem(t->buf, len, path, &t->elf, err)) < 0)
		return r;
	if ((t->elf->ehdr.e_type != ET_EXEC && t->elf->ehdr.e_type != ET_DYN) ||
	    t->elf->ehdr.e_machine != EM_X86_64)
		return graft_err_set(err, -EINVAL,
				     "'%s' is not an x86-64 executable or shared library", path);
	r = graft_elf_build_id(t->elf, t->build_id, sizeof(t->build_id));
	if (r <= 0)
		return graft_err_set(err, -EINVAL,
				     "'%s' has no GNU build-id (link it with -Wl,--build-id)",
				     path);
	t->build_id_len = (size_t)r;
	if (symtab_of(t->elf, &sh)) {
		t->selfp = t->elf;
		if (!(t->sym_path = strdup(t->path)))
			return graft_err_set(err, -ENOMEM, "out of memory");
	} else if ((r = open_debug_file(t, debug_root, err)) < 0) {
		return r;
	}
	if ((r = load_symbols(t, err)) < 0)
		return r;
	*out = TAKE_PTR(t);
	return 0;
}

bool graft_target_has_file(const struct graft_target *t, const char *file)
{
	for (size_t i = 0; i < t->nfiles; i++)
		if (!strcmp(t->files[i], file))
			return true;
	return false;
}

static bool kind_matches(const struct graft_target_sym *ts, const struct graft_obj_sym *s)
{
	if (graft_obj_is_func(s))
		return ts->type == STT_FUNC || ts->type == STT_GNU_IFUNC;
	if (s->type == STT_TLS)
		return ts->type == STT_TLS;
	return ts->type == STT_OBJECT;
}

int graft_target_global(const struct graft_target *t, const char *name)
{
	for (size_t i = 0; i < t->nsyms; i++)
		if (t->syms[i].bind != STB_LOCAL && !strcmp(t->syms[i].name, name))
			return (int)i;
	return -1;
}

size_t graft_target_candidates(const struct graft_target *t, const char *file,
			       const struct graft_obj_sym *s, size_t *idx, size_t max)
{
	size_t n = 0;

	if (s->bind != STB_LOCAL) {
		int g = graft_target_global(t, s->name);

		if (g >= 0 && max)
			idx[0] = (size_t)g;
		return g >= 0;
	}
	for (int exact = 1; exact >= 0 && n == 0; exact--)
		for (size_t i = 0; i < t->nsyms; i++) {
			const struct graft_target_sym *ts = &t->syms[i];

			if (ts->bind != STB_LOCAL || ts->file < 0 ||
			    strcmp(t->files[ts->file], file) != 0 || !kind_matches(ts, s))
				continue;
			if (exact ? strcmp(ts->name, s->name) : strcmp(ts->canon, s->canon))
				continue;
			if (n < max)
				idx[n] = i;
			n++;
		}
	return n;
}

/* Bytes the linker may rewrite around a relocated field, [*lo, *hi) from the field. */
static void rewrite_window(uint32_t type, int *lo, int *hi)
{
	*lo = 0;
	*hi = (int)graft_obj_reloc_width(type);
	switch (type) {
	case R_X86_64_GOTPCRELX:
	case R_X86_64_REX_GOTPCRELX:
	case R_X86_64_GOTTPOFF:
		*lo = -3; /* mov->lea / mov $imm, call *->addr32 call, jmp * -> jmp; nop */
		*hi = 5;
		break;
	case R_X86_64_TLSGD:
	case R_X86_64_TLSLD:
		*lo = -4; /* general/local dynamic -> initial/local exec: 16 bytes rewritten */
		*hi = 12;
		break;
	default:
		break;
	}
}

int graft_target_match(const struct graft_target *t, size_t ti, const struct graft_obj *o,
		       size_t osym, uint64_t *at, struct graft_err *err)
{
	const struct graft_target_sym *ts = &t->syms[ti];
	const struct graft_obj_sym *s = &o->syms[osym];
	const struct graft_obj_sec *sec = graft_obj_sym_sec(o, (uint32_t)osym);
	_cleanup_free_ uint8_t *img = NULL;
	_cleanup_free_ bool *mask = NULL;

	if (!sec || !sec->data || s->value + s->size > sec->sh.sh_size)
		return graft_err_set(err, -EINVAL, "'%s': '%s' has no contents", o->path, s->name);
	if (ts->size != s->size) {
		*at = ts->size < s->size ? ts->size : s->size;
		return 1;
	}
	img = malloc(s->size ? s->size : 1);
	mask = calloc(s->size ? s->size : 1, sizeof(bool));
	if (!img || !mask)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (graft_elf_read_vaddr(t->elf, ts->value, img, s->size) < 0)
		return graft_err_set(err, -EIO, "cannot read '%s' at 0x%" PRIx64 " from '%s'",
				     ts->name, ts->value, t->path);
	for (size_t i = 0; i < sec->nrela; i++) {
		const struct graft_obj_rela *r = &sec->rela[i];
		int lo, hi;

		if (r->off < s->value || r->off >= s->value + s->size)
			continue;
		rewrite_window(r->type, &lo, &hi);
		for (int k = lo; k < hi; k++) {
			int64_t at_off = (int64_t)(r->off - s->value) + k;

			if (at_off >= 0 && (uint64_t)at_off < s->size)
				mask[at_off] = true;
		}
	}
	for (uint64_t k = 0; k < s->size; k++)
		if (!mask[k] && img[k] != sec->data[s->value + k]) {
			*at = k;
			return 1;
		}
	return 0;
}
