/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libelf wrappers. libelf validates the container (header, section table)
 * but not the meaning of the contents, so every index and offset taken from
 * a section is checked here before use. Objects opened from memory keep a
 * pointer to the caller's buffer.
 */
#include <errno.h>
#include <string.h>

#include "elf/elf.h"

static int elf_lib_init(struct graft_err *err)
{
	static bool done;

	if (done)
		return 0;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return graft_err_set(err, -ENOSYS, "libelf is too old");
	done = true;
	return 0;
}

static int elf_finish_open(Elf *elf, const char *name, struct graft_elf **out,
			   struct graft_err *err)
{
	struct graft_elf *e;

	if (!elf)
		return graft_err_set(err, -EINVAL, "%s: not an ELF file: %s", name, elf_errmsg(-1));
	if (elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		return graft_err_set(err, -EINVAL, "%s: not an ELF file", name);
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		elf_end(elf);
		return graft_err_set(err, -ENOMEM, "out of memory");
	}
	e->elf = elf;
	e->name = strdup(name ? name : "?");
	if (!e->name || !gelf_getehdr(elf, &e->ehdr) || elf_getshdrstrndx(elf, &e->shstrndx) < 0 ||
	    elf_getshdrnum(elf, &e->shnum) < 0) {
		graft_elf_free(e);
		return graft_err_set(err, -EINVAL, "%s: bad ELF header: %s", name, elf_errmsg(-1));
	}
	if (e->ehdr.e_ident[EI_CLASS] != ELFCLASS64 || e->ehdr.e_ident[EI_DATA] != ELFDATA2LSB ||
	    e->ehdr.e_machine != EM_X86_64) {
		graft_elf_free(e);
		return graft_err_set(err, -ENOTSUP, "%s: not an x86-64 little-endian ELF64 object",
				     name);
	}
	*out = e;
	return 0;
}

int graft_elf_open_fd(int fd, const char *name, struct graft_elf **out, struct graft_err *err)
{
	int r = elf_lib_init(err);

	if (r < 0)
		return r;
	return elf_finish_open(elf_begin(fd, ELF_C_READ_MMAP, NULL), name, out, err);
}

int graft_elf_open_mem(const void *buf, size_t len, const char *name, struct graft_elf **out,
		       struct graft_err *err)
{
	int r = elf_lib_init(err);

	if (r < 0)
		return r;
	/* elf_memory does not write to the image when opened for reading */
	return elf_finish_open(elf_memory((char *)buf, len), name, out, err);
}

void graft_elf_free(struct graft_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	free(e->name);
	free(e);
}

const char *graft_elf_section_name(struct graft_elf *e, const GElf_Shdr *shdr)
{
	return elf_strptr(e->elf, e->shstrndx, shdr->sh_name);
}

Elf_Scn *graft_elf_section(struct graft_elf *e, const char *name, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, shdr))
			continue;
		n = graft_elf_section_name(e, shdr);
		if (n && strcmp(n, name) == 0)
			return scn;
	}
	return NULL;
}

int graft_elf_section_data(Elf_Scn *scn, const void **buf, size_t *len)
{
	Elf_Data *d = elf_getdata(scn, NULL);

	if (!d)
		return -EINVAL;
	*buf = d->d_buf;
	*len = d->d_size;
	return 0;
}

static int note_build_id(const void *buf, size_t len, uint8_t *out, size_t cap)
{
	size_t off = 0;

	while (off + 12 <= len) {
		uint32_t namesz, descsz, type;
		size_t name_off, desc_off, next;

		memcpy(&namesz, (const char *)buf + off, 4);
		memcpy(&descsz, (const char *)buf + off + 4, 4);
		memcpy(&type, (const char *)buf + off + 8, 4);
		name_off = off + 12;
		desc_off = name_off + GRAFT_ALIGN_UP((size_t)namesz, 4);
		next = desc_off + GRAFT_ALIGN_UP((size_t)descsz, 4);
		if (namesz > len || descsz > len || desc_off > len || next > len + 3 ||
		    desc_off + descsz > len)
			return 0;
		if (type == NT_GNU_BUILD_ID && namesz == 4 &&
		    memcmp((const char *)buf + name_off, "GNU", 4) == 0) {
			if (descsz == 0 || descsz > cap)
				return 0;
			memcpy(out, (const char *)buf + desc_off, descsz);
			return (int)descsz;
		}
		off = next;
	}
	return 0;
}

int graft_elf_build_id(struct graft_elf *e, uint8_t *buf, size_t cap)
{
	Elf_Scn *scn = NULL;
	size_t phnum;

	/* sections first: relocatable objects have no program headers */
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		const void *d;
		size_t len;
		int r;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		if (graft_elf_section_data(scn, &d, &len) < 0)
			continue;
		r = note_build_id(d, len, buf, cap);
		if (r > 0)
			return r;
	}
	if (elf_getphdrnum(e->elf, &phnum) < 0)
		return 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *d;
		int r;

		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		d = elf_getdata_rawchunk(e->elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
		if (!d)
			continue;
		r = note_build_id(d->d_buf, d->d_size, buf, cap);
		if (r > 0)
			return r;
	}
	return 0;
}

int graft_elf_first_load_vaddr(struct graft_elf *e, uint64_t *vaddr)
{
	size_t phnum;

	if (elf_getphdrnum(e->elf, &phnum) < 0)
		return -EINVAL;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e->elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
			*vaddr = ph.p_vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

int graft_elf_tls(struct graft_elf *e, struct graft_elf_tls *tls)
{
	size_t phnum;

	if (elf_getphdrnum(e->elf, &phnum) < 0)
		return -EINVAL;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e->elf, (int)i, &ph) && ph.p_type == PT_TLS) {
			tls->vaddr = ph.p_vaddr;
			tls->memsz = ph.p_memsz;
			tls->align = ph.p_align ? ph.p_align : 1;
			return 0;
		}
	}
	return -ENOENT;
}

int graft_elf_read_vaddr(struct graft_elf *e, uint64_t vaddr, void *buf, size_t len)
{
	size_t phnum;

	if (elf_getphdrnum(e->elf, &phnum) < 0)
		return -EINVAL;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *d;

		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr < ph.p_vaddr || vaddr - ph.p_vaddr > ph.p_filesz ||
		    len > ph.p_filesz - (vaddr - ph.p_vaddr))
			continue;
		d = elf_getdata_rawchunk(e->elf, (int64_t)(ph.p_offset + (vaddr - ph.p_vaddr)), len,
					 ELF_T_BYTE);
		if (!d)
			return -EIO;
		memcpy(buf, d->d_buf, len);
		return 0;
	}
	return -ENOENT;
}

static Elf_Scn *find_by_type(struct graft_elf *e, Elf64_Word type, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e->elf, scn)))
		if (gelf_getshdr(scn, sh) && sh->sh_type == type)
			return scn;
	return NULL;
}

static void sym_out(const GElf_Sym *s, struct graft_elf_sym *out)
{
	out->value = s->st_value;
	out->size = s->st_size;
	out->type = GELF_ST_TYPE(s->st_info);
	out->bind = GELF_ST_BIND(s->st_info);
	out->shndx = s->st_shndx;
}

int graft_elf_symtab_lookup(struct graft_elf *e, const char *name, struct graft_elf_sym *sym)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_by_type(e, SHT_SYMTAB, &sh);
	Elf_Data *d;
	int found = 0;

	if (!scn || !(d = elf_getdata(scn, NULL)) || !sh.sh_entsize)
		return 0;
	for (size_t i = 1; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym s;
		const char *n;

		if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF)
			continue;
		if (GELF_ST_TYPE(s.st_info) == STT_SECTION || GELF_ST_TYPE(s.st_info) == STT_FILE)
			continue;
		n = elf_strptr(e->elf, sh.sh_link, s.st_name);
		if (!n || strcmp(n, name) != 0)
			continue;
		if (found++ == 0)
			sym_out(&s, sym);
		else if (s.st_value == sym->value)
			found--; /* an alias at the same address is no ambiguity */
	}
	return found;
}

int graft_elf_dynsym_lookup(struct graft_elf *e, const char *name, struct graft_elf_sym *sym)
{
	GElf_Shdr sh, vsh;
	Elf_Scn *scn = find_by_type(e, SHT_DYNSYM, &sh);
	Elf_Scn *vscn = find_by_type(e, SHT_GNU_versym, &vsh);
	Elf_Data *d, *vd = NULL;
	int found = 0;

	if (!scn || !(d = elf_getdata(scn, NULL)) || !sh.sh_entsize)
		return 0;
	if (vscn)
		vd = elf_getdata(vscn, NULL);
	for (size_t i = 1; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym s;
		GElf_Versym vs = 0;
		const char *n;
		int bind;

		if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF)
			continue;
		bind = GELF_ST_BIND(s.st_info);
		if (bind != STB_GLOBAL && bind != STB_WEAK)
			continue;
		n = elf_strptr(e->elf, sh.sh_link, s.st_name);
		if (!n || strcmp(n, name) != 0)
			continue;
		if (vd && gelf_getversym(vd, (int)i, &vs) && (vs & 0x8000))
			continue; /* hidden, non-default version */
		sym_out(&s, sym);
		found = 1;
		if (bind == STB_GLOBAL)
			break;
	}
	return found;
}

const char *graft_elf_func_at(struct graft_elf *e, uint64_t vaddr, struct graft_elf_sym *sym)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_by_type(e, SHT_SYMTAB, &sh);
	Elf_Data *d;

	if (!scn || !(d = elf_getdata(scn, NULL)) || !sh.sh_entsize)
		return NULL;
	for (size_t i = 1; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym s;

		if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC)
			continue;
		if (vaddr >= s.st_value && vaddr < s.st_value + s.st_size) {
			sym_out(&s, sym);
			return elf_strptr(e->elf, sh.sh_link, s.st_name);
		}
	}
	return NULL;
}
