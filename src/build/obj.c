/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Loading a relocatable object for the differ. The whole file is read into
 * memory (bounded) and opened with libelf; sections, symbols and RELA
 * entries are copied into flat arrays indexed like the file, so the differ
 * can walk them without libelf calls. The owner of a section is the
 * function or object symbol defined at its start: GCC's section symbols and
 * .LC labels resolve to it.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "build/obj.h"

char *graft_obj_canon(const char *name)
{
	size_t n = strlen(name), o = 0;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		if (name[i] == '.' && i > 0 && isdigit((unsigned char)name[i + 1])) {
			size_t j = i + 1;

			while (j < n && isdigit((unsigned char)name[j]))
				j++;
			if (j == n || name[j] == '.') {
				i = j;
				continue;
			}
		}
		out[o++] = name[i++];
	}
	out[o] = '\0';
	return out;
}

bool graft_obj_is_func(const struct graft_obj_sym *s)
{
	return (s->type == STT_FUNC || s->type == STT_GNU_IFUNC) && s->shndx != SHN_UNDEF;
}

bool graft_obj_is_data(const struct graft_obj_sym *s)
{
	return (s->type == STT_OBJECT || s->type == STT_TLS) && s->shndx != SHN_UNDEF &&
	       s->shndx < SHN_LORESERVE;
}

bool graft_obj_is_cold(const struct graft_obj_sym *s)
{
	size_t n = strlen(s->canon);

	return graft_obj_is_func(s) && n > 5 && !strcmp(s->canon + n - 5, ".cold");
}

unsigned graft_obj_reloc_width(uint32_t type)
{
	switch (type) {
	case R_X86_64_64:
	case R_X86_64_PC64:
	case R_X86_64_DTPOFF64:
	case R_X86_64_TPOFF64:
	case R_X86_64_GOTOFF64:
		return 8;
	case R_X86_64_PC32:
	case R_X86_64_PLT32:
	case R_X86_64_32:
	case R_X86_64_32S:
	case R_X86_64_GOTPCREL:
	case R_X86_64_GOTPCRELX:
	case R_X86_64_REX_GOTPCRELX:
	case R_X86_64_TPOFF32:
	case R_X86_64_GOTTPOFF:
	case R_X86_64_TLSGD:
	case R_X86_64_TLSLD:
	case R_X86_64_DTPOFF32:
	case R_X86_64_GOTPC32:
	case R_X86_64_GOT32:
		return 4;
	case R_X86_64_16:
	case R_X86_64_PC16:
		return 2;
	case R_X86_64_8:
	case R_X86_64_PC8:
		return 1;
	default:
		return 0;
	}
}

bool graft_obj_reloc_is_pcrel(uint32_t type)
{
	switch (type) {
	case R_X86_64_PC32:
	case R_X86_64_PLT32:
	case R_X86_64_GOTPCREL:
	case R_X86_64_GOTPCRELX:
	case R_X86_64_REX_GOTPCRELX:
	case R_X86_64_GOTTPOFF:
	case R_X86_64_TLSGD:
	case R_X86_64_TLSLD:
	case R_X86_64_GOTPC32:
		return true;
	default:
		return false;
	}
}

const struct graft_obj_sec *graft_obj_sym_sec(const struct graft_obj *o, uint32_t sym)
{
	uint16_t ndx;

	if (sym >= o->nsyms)
		return NULL;
	ndx = o->syms[sym].shndx;
	if (ndx == SHN_UNDEF || ndx >= SHN_LORESERVE || ndx >= o->nsecs)
		return NULL;
	return &o->secs[ndx];
}

int graft_obj_find(const struct graft_obj *o, const char *name)
{
	for (size_t i = 1; i < o->nsyms; i++)
		if (o->syms[i].shndx != SHN_UNDEF && !strcmp(o->syms[i].name, name))
			return (int)i;
	return -1;
}

void graft_obj_free(struct graft_obj *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->nsecs; i++)
		free(o->secs[i].rela);
	for (size_t i = 0; i < o->nsyms; i++)
		free(o->syms[i].canon);
	free(o->secs);
	free(o->syms);
	graft_elf_free(o->elf);
	free(o->buf);
	free(o->path);
	free(o);
}

static int load_syms(struct graft_obj *o, Elf_Scn *scn, const GElf_Shdr *sh, struct graft_err *err)
{
	Elf_Data *d = elf_getdata(scn, NULL);

	if (!d || !sh->sh_entsize || sh->sh_size / sh->sh_entsize > (1u << 24))
		return graft_err_set(err, -EINVAL, "'%s': bad symbol table", o->path);
	o->nsyms = sh->sh_size / sh->sh_entsize;
	o->syms = calloc(o->nsyms ? o->nsyms : 1, sizeof(*o->syms));
	if (!o->syms)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < o->nsyms; i++) {
		struct graft_obj_sym *s = &o->syms[i];
		GElf_Sym gs;
		const char *n;

		if (!gelf_getsym(d, (int)i, &gs))
			return graft_err_set(err, -EINVAL, "'%s': bad symbol %zu", o->path, i);
		n = elf_strptr(o->elf->elf, sh->sh_link, gs.st_name);
		s->type = GELF_ST_TYPE(gs.st_info);
		s->bind = GELF_ST_BIND(gs.st_info);
		s->shndx = gs.st_shndx;
		s->value = gs.st_value;
		s->size = gs.st_size;
		if (s->type == STT_SECTION && gs.st_shndx < o->nsecs)
			n = o->secs[gs.st_shndx].name;
		s->name = n ? n : "";
		s->canon = graft_obj_canon(s->name);
		if (!s->canon)
			return graft_err_set(err, -ENOMEM, "out of memory");
		if (s->type == STT_FILE && !o->file)
			o->file = s->name;
	}
	return 0;
}

static int load_rela(struct graft_obj *o, Elf_Scn *scn, const GElf_Shdr *sh, struct graft_err *err)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	struct graft_obj_sec *t;
	size_t n;

	if (sh->sh_info >= o->nsecs || !d || !sh->sh_entsize)
		return graft_err_set(err, -EINVAL, "'%s': bad relocation section", o->path);
	t = &o->secs[sh->sh_info];
	n = sh->sh_size / sh->sh_entsize;
	t->rela = calloc(n ? n : 1, sizeof(*t->rela));
	if (!t->rela)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		GElf_Rela r;

		if (!gelf_getrela(d, (int)i, &r))
			return graft_err_set(err, -EINVAL, "'%s': bad relocation", o->path);
		if (GELF_R_SYM(r.r_info) >= o->nsyms ||
		    r.r_offset + graft_obj_reloc_width((uint32_t)GELF_R_TYPE(r.r_info)) >
			    t->sh.sh_size)
			return graft_err_set(err, -EINVAL, "'%s': relocation out of range in %s",
					     o->path, t->name);
		t->rela[i] = (struct graft_obj_rela){
			.off = r.r_offset,
			.type = (uint32_t)GELF_R_TYPE(r.r_info),
			.sym = (uint32_t)GELF_R_SYM(r.r_info),
			.addend = r.r_addend,
		};
	}
	t->nrela = n;
	/* the differ walks relocations in offset order */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && t->rela[j - 1].off > t->rela[j].off; j--) {
			struct graft_obj_rela x = t->rela[j];

			t->rela[j] = t->rela[j - 1];
			t->rela[j - 1] = x;
		}
	return 0;
}

int graft_obj_open(const char *path, struct graft_obj **out, struct graft_err *err)
{
	_cleanup_(graft_obj_freep) struct graft_obj *o = calloc(1, sizeof(*o));
	Elf_Scn *scn = NULL;
	int r;

	if (!o || !(o->path = strdup(path)))
		return graft_err_set(err, -ENOMEM, "out of memory");
	r = graft_read_file(path, GRAFT_OBJ_FILE_MAX, &o->buf, &o->len, err);
	if (r < 0)
		return r;
	r = graft_elf_open_mem(o->buf, o->len, path, &o->elf, err);
	if (r < 0)
		return r;
	if (o->elf->ehdr.e_type != ET_REL || o->elf->ehdr.e_machine != EM_X86_64)
		return graft_err_set(err, -EINVAL, "'%s' is not an x86-64 relocatable object",
				     path);
	o->nsecs = o->elf->shnum;
	o->secs = calloc(o->nsecs ? o->nsecs : 1, sizeof(*o->secs));
	if (!o->secs)
		return graft_err_set(err, -ENOMEM, "out of memory");
	while ((scn = elf_nextscn(o->elf->elf, scn))) {
		size_t i = elf_ndxscn(scn);
		struct graft_obj_sec *s = &o->secs[i];
		const void *buf;
		size_t len;

		if (i >= o->nsecs || !gelf_getshdr(scn, &s->sh))
			return graft_err_set(err, -EINVAL, "'%s': bad section header", path);
		s->name = graft_elf_section_name(o->elf, &s->sh);
		if (!s->name)
			s->name = "";
		s->owner = -1;
		if (s->sh.sh_type != SHT_NOBITS && s->sh.sh_size) {
			if (graft_elf_section_data(scn, &buf, &len) < 0 || len != s->sh.sh_size)
				return graft_err_set(err, -EINVAL, "'%s': cannot read section %s",
						     path, s->name);
			s->data = buf;
		}
	}
	scn = NULL;
	while ((scn = elf_nextscn(o->elf->elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB) {
			if ((r = load_syms(o, scn, &sh, err)) < 0)
				return r;
			break;
		}
	}
	if (!o->syms)
		return graft_err_set(err, -EINVAL, "'%s' has no symbol table", path);
	scn = NULL;
	while ((scn = elf_nextscn(o->elf->elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_RELA &&
		    (sh.sh_flags & SHF_INFO_LINK))
			if ((r = load_rela(o, scn, &sh, err)) < 0)
				return r;
	}
	for (size_t i = 1; i < o->nsyms; i++) {
		struct graft_obj_sym *s = &o->syms[i];

		if ((graft_obj_is_func(s) || graft_obj_is_data(s)) && s->value == 0 &&
		    s->shndx < o->nsecs && o->secs[s->shndx].owner < 0)
			o->secs[s->shndx].owner = (int)i;
	}
	if (!o->file)
		o->file = "";
	*out = TAKE_PTR(o);
	return 0;
}
