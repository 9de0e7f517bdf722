/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layout: allocatable sections are grouped by permission (executable,
 * read-only, writable) so each group can be mapped with exactly its rights:
 * code is never writable, data never executable. .eh_frame and notes are
 * not loaded (nothing unwinds through patch code in v1).
 *
 * Relocation: every relocation type the object uses must be one we know;
 * unknown types are refused rather than guessed. GOT-relative references get
 * a slot in the read-only GOT filled at link time (no lazy binding, no
 * relaxation needed). A call (PLT32) whose destination is beyond +-2 GiB goes
 * through a 16-byte stub "jmp *slot(%rip)". A direct 32-bit data reference
 * that does not fit is an error naming the symbol: the region is placed near
 * the target object, so this only happens for far external data, and
 * compiling the patch with -fPIC avoids it.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "link/link.h"

#define PLT_STUB_SIZE 16u

static bool is_loaded_section(struct graft_elf *e, const GElf_Shdr *sh)
{
	const char *n = graft_elf_section_name(e, sh);

	if (!(sh->sh_flags & SHF_ALLOC) || sh->sh_type == SHT_NOTE)
		return false;
	if (sh->sh_type == SHT_X86_64_UNWIND || (n && strcmp(n, ".eh_frame") == 0))
		return false;
	return true;
}

void graft_link_plan_free(struct graft_link_plan *p)
{
	if (!p)
		return;
	free(p->sec_off);
	free(p->plt_of_sym);
	free(p->got_of_sym);
	free(p);
}

static Elf_Data *symtab_data(struct graft_elf *e, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e->elf, scn)))
		if (gelf_getshdr(scn, sh) && sh->sh_type == SHT_SYMTAB)
			return elf_getdata(scn, NULL);
	return NULL;
}

static bool rel_needs_got(unsigned type)
{
	return type == R_X86_64_GOTPCREL || type == R_X86_64_GOTPCRELX ||
	       type == R_X86_64_REX_GOTPCRELX || type == R_X86_64_GOTTPOFF;
}

/* Place sections of one permission class; returns the class size. */
static int place_class(struct graft_link_plan *p, int cls, uint64_t start, uint64_t *end,
		       struct graft_err *err)
{
	uint64_t off = start;

	for (size_t i = 1; i < p->nsec; i++) {
		Elf_Scn *scn = elf_getscn(p->obj->elf, i);
		GElf_Shdr sh;
		int c;
		uint64_t align;

		if (p->sec_off[i] == UINT64_MAX || !scn || !gelf_getshdr(scn, &sh))
			continue;
		c = (sh.sh_flags & SHF_EXECINSTR) ? 0 : (sh.sh_flags & SHF_WRITE) ? 2 : 1;
		if (c != cls)
			continue;
		if (sh.sh_flags & SHF_TLS)
			return graft_err_set(err, -ENOTSUP,
					     "the patch defines thread-local data (%s); new TLS "
					     "variables are not supported",
					     graft_elf_section_name(p->obj, &sh));
		align = sh.sh_addralign ? sh.sh_addralign : 1;
		if (align & (align - 1) || align > GRAFT_PAGE || sh.sh_size > (256u << 20))
			return graft_err_set(err, -EINVAL, "section %s has a bad size or alignment",
					     graft_elf_section_name(p->obj, &sh));
		off = GRAFT_ALIGN_UP(off, align);
		p->sec_off[i] = off;
		off += sh.sh_size;
	}
	*end = off;
	return 0;
}

/* Count GOT slots and PLT stubs the relocations need. */
static int plan_slots(struct graft_link_plan *p, uint32_t *nplt, uint32_t *ngot,
		      struct graft_err *err)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr symsh;
	Elf_Data *syms = symtab_data(p->obj, &symsh);

	if (!syms || !symsh.sh_entsize)
		return graft_err_set(err, -EINVAL, "the patch object has no symbol table");
	p->nsyms = symsh.sh_size / symsh.sh_entsize;
	p->plt_of_sym = calloc(p->nsyms + 1, sizeof(uint32_t));
	p->got_of_sym = calloc(p->nsyms + 1, sizeof(uint32_t));
	if (!p->plt_of_sym || !p->got_of_sym)
		return graft_err_set(err, -ENOMEM, "out of memory");
	while ((scn = elf_nextscn(p->obj->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_REL)
			return graft_err_set(
				err, -ENOTSUP,
				"REL relocations are not supported (x86-64 uses RELA)");
		if (sh.sh_type != SHT_RELA || sh.sh_info >= p->nsec ||
		    p->sec_off[sh.sh_info] == UINT64_MAX)
			continue;
		if (!(d = elf_getdata(scn, NULL)) || !sh.sh_entsize)
			return graft_err_set(err, -EINVAL, "unreadable relocation section");
		for (size_t k = 0; k < sh.sh_size / sh.sh_entsize; k++) {
			GElf_Rela r;
			size_t si;
			unsigned type;

			if (!gelf_getrela(d, (int)k, &r))
				return graft_err_set(err, -EINVAL, "unreadable relocation");
			si = GELF_R_SYM(r.r_info);
			type = GELF_R_TYPE(r.r_info);
			if (si >= p->nsyms)
				return graft_err_set(err, -EINVAL,
						     "relocation names symbol %zu of %zu", si,
						     p->nsyms);
			if (rel_needs_got(type) && !p->got_of_sym[si])
				p->got_of_sym[si] = ++*ngot;
			if ((type == R_X86_64_PLT32 || type == R_X86_64_PC32) &&
			    !p->plt_of_sym[si]) {
				GElf_Sym s;

				if (gelf_getsym(syms, (int)si, &s) && s.st_shndx == SHN_UNDEF) {
					p->plt_of_sym[si] = ++*nplt;
					if (!p->got_of_sym[si])
						p->got_of_sym[si] = ++*ngot;
				}
			}
		}
	}
	return 0;
}

int graft_link_plan(struct graft_elf *obj, uint64_t hdr_size, struct graft_link_plan **out,
		    struct graft_err *err)
{
	return graft_link_plan_subset(obj, hdr_size, NULL, 0, out, err);
}

int graft_link_plan_subset(struct graft_elf *obj, uint64_t hdr_size, const uint8_t *sel,
			   uint8_t want, struct graft_link_plan **out, struct graft_err *err)
{
	struct graft_link_plan *p = calloc(1, sizeof(*p));
	uint32_t nplt = 0, ngot = 0;
	uint64_t end;
	int r;

	if (!p)
		return graft_err_set(err, -ENOMEM, "out of memory");
	p->obj = obj;
	p->nsec = obj->shnum;
	p->hdr_size = GRAFT_ALIGN_UP(hdr_size, (uint64_t)GRAFT_PAGE);
	p->sec_off = malloc((p->nsec + 1) * sizeof(*p->sec_off));
	if (!p->sec_off) {
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i <= p->nsec; i++) {
		Elf_Scn *scn = i ? elf_getscn(obj->elf, i) : NULL;
		GElf_Shdr sh;

		/* 0 marks "loaded, not placed yet" for plan_slots */
		p->sec_off[i] = (scn && gelf_getshdr(scn, &sh) && is_loaded_section(obj, &sh) &&
				 (!sel || sel[i] == want))
					? 0
					: UINT64_MAX;
	}
	if ((r = plan_slots(p, &nplt, &ngot, err)) < 0)
		goto fail;
	p->text_off = p->hdr_size;
	if ((r = place_class(p, 0, p->text_off, &end, err)) < 0)
		goto fail;
	/* stubs for far calls follow the code */
	p->plt_off = GRAFT_ALIGN_UP(end, 16);
	end = p->plt_off + (uint64_t)nplt * PLT_STUB_SIZE;
	p->text_size = GRAFT_ALIGN_UP(end, (uint64_t)GRAFT_PAGE) - p->text_off;
	p->ro_off = p->text_off + p->text_size;
	if ((r = place_class(p, 1, p->ro_off, &end, err)) < 0)
		goto fail;
	p->got_off = GRAFT_ALIGN_UP(end, 8);
	end = p->got_off + (uint64_t)ngot * 8;
	p->ro_size = GRAFT_ALIGN_UP(end, (uint64_t)GRAFT_PAGE) - p->ro_off;
	p->data_off = p->ro_off + p->ro_size;
	if ((r = place_class(p, 2, p->data_off, &end, err)) < 0)
		goto fail;
	p->data_size = GRAFT_ALIGN_UP(end, (uint64_t)GRAFT_PAGE) - p->data_off;
	p->total = p->data_off + p->data_size;
	if (p->text_size == 0) {
		r = graft_err_set(err, -EINVAL, "the patch object has no code");
		goto fail;
	}
	*out = p;
	return 0;
fail:
	graft_link_plan_free(p);
	return r;
}

struct link_ctx {
	const struct graft_link_plan *p;
	uint64_t base;
	const struct graft_link_resolver *res;
	uint8_t *img;
	Elf_Data *syms;
	size_t strndx;
	uint64_t *sym_val; /* resolved values, computed once */
	uint8_t *sym_done;
	struct graft_err *err;
};

static const char *sym_name(struct link_ctx *c, const GElf_Sym *s)
{
	const char *n;

	if (GELF_ST_TYPE(s->st_info) == STT_SECTION) {
		Elf_Scn *scn = elf_getscn(c->p->obj->elf, s->st_shndx);
		GElf_Shdr sh;

		if (scn && gelf_getshdr(scn, &sh))
			return graft_elf_section_name(c->p->obj, &sh);
	}
	n = elf_strptr(c->p->obj->elf, c->strndx, s->st_name);
	return n ? n : "?";
}

/* Value of symbol si: an address, or a TP offset when ref says so. */
static int sym_value(struct link_ctx *c, size_t si, enum graft_link_ref ref, uint64_t *out)
{
	GElf_Sym s;
	const char *name;
	int r;

	if (!gelf_getsym(c->syms, (int)si, &s))
		return graft_err_set(c->err, -EINVAL, "unreadable symbol %zu", si);
	name = sym_name(c, &s);
	if (s.st_shndx == SHN_UNDEF) {
		if (si == 0)
			return graft_err_set(c->err, -EINVAL, "relocation against the null symbol");
		if (c->sym_done[si] == ref + 1) {
			*out = c->sym_val[si];
			return 0;
		}
		r = c->res->resolve(c->res->ctx, name, ref, out, c->err);
		if (r < 0)
			return r;
		c->sym_val[si] = *out;
		c->sym_done[si] = (uint8_t)(ref + 1);
		return 0;
	}
	if (ref == GRAFT_REF_TPOFF)
		return graft_err_set(c->err, -ENOTSUP,
				     "'%s' is thread-local data of the patch itself; not supported",
				     name);
	if (s.st_shndx == SHN_ABS) {
		*out = s.st_value;
		return 0;
	}
	if (s.st_shndx == SHN_COMMON)
		return graft_err_set(c->err, -ENOTSUP,
				     "'%s' is a common symbol; compile the patch with -fno-common",
				     name);
	if (s.st_shndx >= c->p->nsec || c->p->sec_off[s.st_shndx] == UINT64_MAX)
		return graft_err_set(c->err, -EINVAL,
				     "'%s' is defined in a section that is not loaded", name);
	*out = c->base + c->p->sec_off[s.st_shndx] + s.st_value;
	return 0;
}

static bool fits_s32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static int put32(struct link_ctx *c, uint8_t *where, int64_t v, bool is_signed, const char *name,
		 unsigned type)
{
	uint32_t u = (uint32_t)v;

	if (is_signed ? !fits_s32(v) : (v < 0 || v > (int64_t)UINT32_MAX))
		return graft_err_set(c->err, -ERANGE,
				     "relocation type %u against '%s' does not fit in 32 bits "
				     "(target too far; compile the patch with -fPIC)",
				     type, name);
	memcpy(where, &u, 4);
	return 0;
}

static int apply_one(struct link_ctx *c, size_t tsec, const GElf_Rela *r, uint64_t tsec_size)
{
	const struct graft_link_plan *p = c->p;
	unsigned type = GELF_R_TYPE(r->r_info);
	size_t si = GELF_R_SYM(r->r_info);
	uint64_t P = c->base + p->sec_off[tsec] + r->r_offset;
	uint8_t *where = c->img + p->sec_off[tsec] + r->r_offset;
	int64_t A = r->r_addend;
	uint64_t S = 0, slot;
	unsigned width = (type == R_X86_64_64 || type == R_X86_64_PC64) ? 8 : 4;
	GElf_Sym s;
	const char *name;
	int ret;

	if (type == R_X86_64_NONE)
		return 0;
	if (r->r_offset > tsec_size || width > tsec_size - r->r_offset)
		return graft_err_set(c->err, -EINVAL, "relocation offset out of its section");
	if (!gelf_getsym(c->syms, (int)si, &s))
		return graft_err_set(c->err, -EINVAL, "unreadable symbol %zu", si);
	name = sym_name(c, &s);
	switch (type) {
	case R_X86_64_64:
		if ((ret = sym_value(c, si, GRAFT_REF_ADDR, &S)) < 0)
			return ret;
		S += (uint64_t)A;
		memcpy(where, &S, 8);
		return 0;
	case R_X86_64_PC64:
		if ((ret = sym_value(c, si, GRAFT_REF_ADDR, &S)) < 0)
			return ret;
		S = S + (uint64_t)A - P;
		memcpy(where, &S, 8);
		return 0;
	case R_X86_64_32:
	case R_X86_64_32S:
		if ((ret = sym_value(c, si, GRAFT_REF_ADDR, &S)) < 0)
			return ret;
		return put32(c, where, (int64_t)(S + (uint64_t)A), type == R_X86_64_32S, name,
			     type);
	case R_X86_64_PC32:
	case R_X86_64_PLT32: {
		int64_t v;

		if ((ret = sym_value(c, si, GRAFT_REF_ADDR, &S)) < 0)
			return ret;
		v = (int64_t)(S + (uint64_t)A - P);
		if (!fits_s32(v) && p->plt_of_sym[si] &&
		    (type == R_X86_64_PLT32 || GELF_ST_TYPE(s.st_info) == STT_FUNC)) {
			uint64_t stub = c->base + p->plt_off +
					(uint64_t)(p->plt_of_sym[si] - 1) * PLT_STUB_SIZE;
			v = (int64_t)(stub + (uint64_t)A - P);
		}
		return put32(c, where, v, true, name, type);
	}
	case R_X86_64_GOTPCREL:
	case R_X86_64_GOTPCRELX:
	case R_X86_64_REX_GOTPCRELX:
		slot = c->base + p->got_off + (uint64_t)(p->got_of_sym[si] - 1) * 8;
		return put32(c, where, (int64_t)(slot + (uint64_t)A - P), true, name, type);
	case R_X86_64_TPOFF32:
		if ((ret = sym_value(c, si, GRAFT_REF_TPOFF, &S)) < 0)
			return ret;
		return put32(c, where, (int64_t)(S + (uint64_t)A), true, name, type);
	case R_X86_64_GOTTPOFF:
		slot = c->base + p->got_off + (uint64_t)(p->got_of_sym[si] - 1) * 8;
		return put32(c, where, (int64_t)(slot + (uint64_t)A - P), true, name, type);
	default:
		return graft_err_set(c->err, -ENOTSUP,
				     "unsupported relocation type %u against '%s'", type, name);
	}
}

/* Fill GOT slots and PLT stubs. */
static int fill_slots(struct link_ctx *c)
{
	const struct graft_link_plan *p = c->p;

	for (size_t si = 0; si < p->nsyms; si++) {
		uint64_t v;
		int r;

		if (p->got_of_sym[si]) {
			/* a GOTTPOFF slot holds a TP offset, the others an address */
			enum graft_link_ref ref = GRAFT_REF_ADDR;
			GElf_Sym s;

			if (gelf_getsym(c->syms, (int)si, &s) && GELF_ST_TYPE(s.st_info) == STT_TLS)
				ref = GRAFT_REF_TPOFF;
			if ((r = sym_value(c, si, ref, &v)) < 0)
				return r;
			memcpy(c->img + p->got_off + (p->got_of_sym[si] - 1) * 8ull, &v, 8);
		}
		if (p->plt_of_sym[si]) {
			uint64_t at =
				p->plt_off + (p->plt_of_sym[si] - 1) * (uint64_t)PLT_STUB_SIZE;
			uint64_t slot = p->got_off + (p->got_of_sym[si] - 1) * 8ull;
			/* jmp *rel32(%rip); rel is from the end of the 6-byte insn */
			int32_t rel = (int32_t)(int64_t)(slot - (at + 6));
			uint8_t stub[PLT_STUB_SIZE] = {0xff, 0x25};

			memcpy(stub + 2, &rel, 4);
			memset(stub + 6, 0xcc, PLT_STUB_SIZE - 6);
			memcpy(c->img + at, stub, sizeof(stub));
		}
	}
	return 0;
}

int graft_link_relocate(const struct graft_link_plan *p, uint64_t base,
			const struct graft_link_resolver *res, uint8_t **image,
			struct graft_err *err)
{
	struct link_ctx c = {.p = p, .base = base, .res = res, .err = err};
	_cleanup_free_ uint8_t *img = calloc(1, p->total);
	_cleanup_free_ uint64_t *vals = calloc(p->nsyms + 1, sizeof(uint64_t));
	_cleanup_free_ uint8_t *done = calloc(p->nsyms + 1, 1);
	Elf_Scn *scn = NULL;
	GElf_Shdr symsh;
	int r;

	if (!img || !vals || !done)
		return graft_err_set(err, -ENOMEM, "out of memory");
	c.img = img;
	c.sym_val = vals;
	c.sym_done = done;
	c.syms = symtab_data(p->obj, &symsh);
	c.strndx = symsh.sh_link;
	if (!c.syms)
		return graft_err_set(err, -EINVAL, "the patch object has no symbol table");
	/* copy section contents */
	for (size_t i = 1; i < p->nsec; i++) {
		Elf_Scn *s = elf_getscn(p->obj->elf, i);
		GElf_Shdr sh;
		Elf_Data *d;

		if (p->sec_off[i] == UINT64_MAX || !s || !gelf_getshdr(s, &sh) ||
		    sh.sh_type == SHT_NOBITS)
			continue;
		d = elf_getdata(s, NULL);
		if (!d || d->d_size != sh.sh_size)
			return graft_err_set(err, -EINVAL, "unreadable section %s",
					     graft_elf_section_name(p->obj, &sh));
		if (d->d_size) /* an empty section has no buffer */
			memcpy(img + p->sec_off[i], d->d_buf, d->d_size);
	}
	if ((r = fill_slots(&c)) < 0)
		return r;
	while ((scn = elf_nextscn(p->obj->elf, scn))) {
		GElf_Shdr sh, tsh;
		Elf_Data *d;
		Elf_Scn *ts;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || sh.sh_info >= p->nsec ||
		    p->sec_off[sh.sh_info] == UINT64_MAX)
			continue;
		ts = elf_getscn(p->obj->elf, sh.sh_info);
		if (!ts || !gelf_getshdr(ts, &tsh) || tsh.sh_type == SHT_NOBITS)
			return graft_err_set(err, -EINVAL,
					     "relocations for a section without contents");
		d = elf_getdata(scn, NULL);
		for (size_t k = 0; d && sh.sh_entsize && k < sh.sh_size / sh.sh_entsize; k++) {
			GElf_Rela rel;

			if (!gelf_getrela(d, (int)k, &rel))
				return graft_err_set(err, -EINVAL, "unreadable relocation");
			if (GELF_R_SYM(rel.r_info) >= p->nsyms)
				return graft_err_set(err, -EINVAL, "relocation names a bad symbol");
			r = apply_one(&c, sh.sh_info, &rel, tsh.sh_size);
			if (r < 0)
				return graft_err_prefix(err, r, "section %s",
							graft_elf_section_name(p->obj, &tsh));
		}
	}
	*image = TAKE_PTR(img);
	return 0;
}

int graft_link_symbol(const struct graft_link_plan *p, uint64_t base, const char *name,
		      uint64_t *addr, uint64_t *size)
{
	struct graft_elf_sym s;

	if (graft_elf_symtab_lookup(p->obj, name, &s) != 1 || s.shndx >= p->nsec ||
	    p->sec_off[s.shndx] == UINT64_MAX)
		return -ENOENT;
	*addr = base + p->sec_off[s.shndx] + s.value;
	*size = s.size;
	return 0;
}
