/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader of patch files. The input is untrusted: every count is bounded,
 * every offset and size is checked against its section with overflow-safe
 * arithmetic, every string must end inside .graft.str, and each replacement
 * symbol must be a defined function of the object inside an executable
 * section. Records must not overlap or repeat. Messages name the record.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "patch/format.h"
#include "patch/sig.h"

struct fmt_ctx {
	const char *name;
	const uint8_t *meta, *str, *pre;
	size_t meta_len, str_len, pre_len;
	struct graft_err *err;
};

static int fmt_bad(struct fmt_ctx *c, const char *what)
{
	return graft_err_set(c->err, -EINVAL, "malformed patch file '%s': %s", c->name, what);
}

static const char *fmt_str(struct fmt_ctx *c, uint32_t off, const char *what, size_t max)
{
	const char *s;
	size_t n;

	if (off >= c->str_len) {
		char m[128];

		(void)snprintf(m, sizeof(m), "%s string offset %u out of range", what, off);
		(void)fmt_bad(c, m);
		return NULL;
	}
	s = (const char *)c->str + off;
	n = strnlen(s, c->str_len - off);
	if (n == c->str_len - off || n > max) {
		char m[128];

		(void)snprintf(m, sizeof(m), "%s string is unterminated or too long", what);
		(void)fmt_bad(c, m);
		return NULL;
	}
	return s;
}

/* Is [off, off + count * size) inside a section of len bytes? */
static bool range_ok(uint64_t off, uint64_t count, uint64_t size, size_t len)
{
	return off <= len && count <= (len - off) / (size ? size : 1);
}

bool graft_patch_id_is_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > GRAFT_PATCH_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("._-+", id[i]))
			return false;
	return true;
}

static int get_section(struct graft_patch *p, struct fmt_ctx *c, const char *sname,
		       const uint8_t **buf, size_t *len)
{
	GElf_Shdr sh;
	Elf_Scn *scn = graft_elf_section(p->elf, sname, &sh);
	const void *d;

	if (!scn) {
		char m[96];

		(void)snprintf(m, sizeof(m), "section %s is missing (not a graft patch?)", sname);
		return fmt_bad(c, m);
	}
	if (sh.sh_type == SHT_NOBITS || graft_elf_section_data(scn, &d, len) < 0) {
		char m[96];

		(void)snprintf(m, sizeof(m), "section %s cannot be read", sname);
		return fmt_bad(c, m);
	}
	*buf = d;
	return 0;
}

/* The replacement must be a defined function in an executable section. */
static int check_new_symbol(struct graft_patch *p, struct fmt_ctx *c, const char *name)
{
	struct graft_elf_sym s;
	int n = graft_elf_symtab_lookup(p->elf, name, &s);
	Elf_Scn *scn;
	GElf_Shdr sh;
	char m[GRAFT_PATCH_TEXT_MAX + 96];

	if (n != 1) {
		(void)snprintf(m, sizeof(m),
			       n ? "replacement '%s' is defined more than once"
				 : "replacement '%s' is not defined in the object",
			       name);
		return fmt_bad(c, m);
	}
	scn = (s.shndx && s.shndx < SHN_LORESERVE) ? elf_getscn(p->elf->elf, s.shndx) : NULL;
	if (s.type != STT_FUNC || !scn || !gelf_getshdr(scn, &sh) ||
	    !(sh.sh_flags & SHF_EXECINSTR) || s.value > sh.sh_size ||
	    s.size > sh.sh_size - s.value) {
		(void)snprintf(m, sizeof(m),
			       "replacement '%s' is not a function inside an executable section",
			       name);
		return fmt_bad(c, m);
	}
	return 0;
}

static int parse_funcs(struct graft_patch *p, struct fmt_ctx *c, const struct graft_fmt_header *h)
{
	char m[GRAFT_PATCH_TEXT_MAX + 128];

	if (h->nfuncs == 0)
		return fmt_bad(c, "it replaces no function");
	if (h->nfuncs > GRAFT_PATCH_FUNCS_MAX ||
	    !range_ok(h->funcs_off, h->nfuncs, sizeof(struct graft_fmt_func), c->meta_len))
		return fmt_bad(c, "function table out of range");
	p->funcs = calloc(h->nfuncs, sizeof(*p->funcs));
	if (!p->funcs)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < h->nfuncs; i++) {
		struct graft_fmt_func r;
		struct graft_patch_func *f = &p->funcs[i];
		uint32_t want;
		int ret;

		memcpy(&r, c->meta + h->funcs_off + (size_t)i * sizeof(r), sizeof(r));
		f->old_name = fmt_str(c, r.old_name, "function name", GRAFT_PATCH_TEXT_MAX);
		f->new_name = fmt_str(c, r.new_name, "replacement name", GRAFT_PATCH_TEXT_MAX);
		if (!f->old_name || !f->new_name)
			return -EINVAL;
		f->old_offset = r.old_offset;
		f->old_size = r.old_size;
		f->flags = r.flags;
		f->target = (r.flags & GRAFT_FLAG_TARGET_MASK) >> GRAFT_FLAG_TARGET_SHIFT;
		if (f->target >= p->ntargets) {
			(void)snprintf(m, sizeof(m), "function '%s' names target %u of %zu",
				       f->old_name, f->target, p->ntargets);
			return fmt_bad(c, m);
		}
		want = r.old_size < 5 ? 5 : r.old_size;
		if (r.old_size == 0 || r.old_size > GRAFT_PATCH_FUNC_SIZE_MAX ||
		    r.old_offset > UINT64_MAX - GRAFT_PATCH_FUNC_SIZE_MAX) {
			(void)snprintf(m, sizeof(m), "function '%s' has a bad size or offset",
				       f->old_name);
			return fmt_bad(c, m);
		}
		if (r.old_size < 5 && !(r.flags & GRAFT_FUNC_PADDED)) {
			(void)snprintf(m, sizeof(m),
				       "function '%s' is %u bytes, too short for a jump",
				       f->old_name, r.old_size);
			return fmt_bad(c, m);
		}
		if (r.pre_len != want || !range_ok(r.pre_off, r.pre_len, 1, c->pre_len)) {
			(void)snprintf(m, sizeof(m), "pre-image of '%s' out of range", f->old_name);
			return fmt_bad(c, m);
		}
		f->pre = c->pre + r.pre_off;
		f->pre_len = r.pre_len;
		for (uint32_t j = 0; j < i; j++) {
			const struct graft_patch_func *o = &p->funcs[j];

			if (o->target == f->target && f->old_offset < o->old_offset + o->pre_len &&
			    o->old_offset < f->old_offset + f->pre_len) {
				(void)snprintf(m, sizeof(m), "functions '%s' and '%s' overlap",
					       o->old_name, f->old_name);
				return fmt_bad(c, m);
			}
		}
		ret = check_new_symbol(p, c, f->new_name);
		if (ret < 0)
			return ret;
	}
	p->nfuncs = h->nfuncs;
	return 0;
}

static int parse_syms(struct graft_patch *p, struct fmt_ctx *c, const struct graft_fmt_header *h)
{
	if (h->nsyms > GRAFT_PATCH_SYMS_MAX ||
	    !range_ok(h->syms_off, h->nsyms, sizeof(struct graft_fmt_sym), c->meta_len))
		return fmt_bad(c, "symbol table out of range");
	p->syms = calloc(h->nsyms + 1, sizeof(*p->syms));
	if (!p->syms)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < h->nsyms; i++) {
		struct graft_fmt_sym r;
		struct graft_patch_sym *s = &p->syms[i];

		memcpy(&r, c->meta + h->syms_off + (size_t)i * sizeof(r), sizeof(r));
		s->name = fmt_str(c, r.name, "symbol name", GRAFT_PATCH_TEXT_MAX);
		if (!s->name)
			return -EINVAL;
		if (!*s->name)
			return fmt_bad(c, "empty symbol name");
		s->flags = r.flags;
		s->target = (r.flags & GRAFT_FLAG_TARGET_MASK) >> GRAFT_FLAG_TARGET_SHIFT;
		if (s->target >= p->ntargets)
			return fmt_bad(c, "a symbol binding names a target that is not there");
		s->target_offset = r.target_offset;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(p->syms[j].name, s->name) == 0)
				return fmt_bad(c, "a symbol is bound twice");
	}
	p->nsyms = h->nsyms;
	return 0;
}

static int parse_targets(struct graft_patch *p, struct fmt_ctx *c, const struct graft_fmt_header *h)
{
	if (p->version == 1) {
		/* v1: the one target lives in the header */
		p->ntargets = 1;
		p->targets[0].name = p->target_name;
		memcpy(p->targets[0].build_id, p->build_id, p->build_id_len);
		p->targets[0].build_id_len = p->build_id_len;
		return 0;
	}
	if (h->ntargets == 0 || h->ntargets > GRAFT_PATCH_TARGETS_MAX ||
	    !range_ok(h->targets_off, h->ntargets, sizeof(struct graft_fmt_target), c->meta_len))
		return fmt_bad(c, "target table out of range (1-16 targets)");
	for (uint32_t i = 0; i < h->ntargets; i++) {
		struct graft_fmt_target t;
		struct graft_patch_target *pt = &p->targets[i];

		memcpy(&t, c->meta + h->targets_off + (size_t)i * sizeof(t), sizeof(t));
		pt->name = fmt_str(c, t.name, "target name", GRAFT_PATCH_TEXT_MAX);
		if (!pt->name)
			return -EINVAL;
		if (t.build_id_len == 0 || t.build_id_len > GRAFT_BUILD_ID_MAX)
			return fmt_bad(c, "bad target build-id length");
		memcpy(pt->build_id, t.build_id, t.build_id_len);
		pt->build_id_len = t.build_id_len;
		for (uint32_t j = 0; j < i; j++)
			if (p->targets[j].build_id_len == pt->build_id_len &&
			    !memcmp(p->targets[j].build_id, pt->build_id, pt->build_id_len))
				return fmt_bad(c, "a target is listed twice");
	}
	p->ntargets = h->ntargets;
	/* the header's single target mirrors the first, for v1 readers' fields */
	p->target_name = p->targets[0].name;
	memcpy(p->build_id, p->targets[0].build_id, p->targets[0].build_id_len);
	p->build_id_len = p->targets[0].build_id_len;
	return 0;
}

/*
 * Which target's region loads each section: start from each target's
 * replacements and follow relocations (a breadth-first walk, each section
 * once). A section two targets reach is refused: regions are far apart and
 * each target's code must stand on its own.
 */
static int assign_sections(struct graft_patch *p, struct fmt_ctx *c)
{
	size_t n = p->elf->shnum;
	_cleanup_free_ uint32_t *work = calloc(n + 1, sizeof(uint32_t));
	_cleanup_free_ uint32_t *rela_of = calloc(n + 1, sizeof(uint32_t)); /* +1; 0 none */
	_cleanup_free_ uint32_t *next_rela = calloc(n + 1, sizeof(uint32_t));
	Elf_Scn *scn = NULL, *symscn = NULL;
	Elf_Data *syms = NULL;
	GElf_Shdr symsh;
	size_t nw = 0;

	p->sec_target = malloc(n + 1);
	if (!p->sec_target || !work || !rela_of || !next_rela)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	memset(p->sec_target, 0xff, n + 1);
	while ((scn = elf_nextscn(p->elf->elf, scn))) {
		GElf_Shdr sh;
		size_t i = elf_ndxscn(scn);

		if (!gelf_getshdr(scn, &sh) || i > n)
			continue;
		if (sh.sh_type == SHT_SYMTAB && !symscn) {
			symscn = scn;
			symsh = sh;
		} else if (sh.sh_type == SHT_RELA && sh.sh_info < n) {
			/* a chain of relocation sections per target section */
			next_rela[i] = rela_of[sh.sh_info];
			rela_of[sh.sh_info] = (uint32_t)i + 1;
		}
	}
	if (!symscn || !(syms = elf_getdata(symscn, NULL)) || !symsh.sh_entsize)
		return fmt_bad(c, "the object has no symbol table");
	for (size_t i = 0; i < p->nfuncs; i++) {
		struct graft_elf_sym s;

		(void)graft_elf_symtab_lookup(p->elf, p->funcs[i].new_name, &s);
		if (p->sec_target[s.shndx] == 0xff) {
			p->sec_target[s.shndx] = (uint8_t)p->funcs[i].target;
			work[nw++] = s.shndx;
		} else if (p->sec_target[s.shndx] != p->funcs[i].target) {
			return fmt_bad(c, "replacements for two targets share a section");
		}
	}
	while (nw) {
		uint32_t sec = work[--nw];

		for (uint32_t rs = rela_of[sec]; rs; rs = next_rela[rs - 1]) {
			Elf_Scn *rscn = elf_getscn(p->elf->elf, rs - 1);
			Elf_Data *d = rscn ? elf_getdata(rscn, NULL) : NULL;
			GElf_Shdr rsh;

			if (!d || !gelf_getshdr(rscn, &rsh) || !rsh.sh_entsize)
				return fmt_bad(c, "unreadable relocation section");
			for (size_t k = 0; k < rsh.sh_size / rsh.sh_entsize; k++) {
				GElf_Rela r;
				GElf_Sym sym;
				uint16_t x;

				if (!gelf_getrela(d, (int)k, &r) ||
				    !gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &sym))
					return fmt_bad(c, "a relocation names a bad symbol");
				x = sym.st_shndx;
				if (x == SHN_UNDEF || x >= SHN_LORESERVE || x >= n)
					continue;
				if (p->sec_target[x] == 0xff) {
					p->sec_target[x] = p->sec_target[sec];
					work[nw++] = x;
				} else if (p->sec_target[x] != p->sec_target[sec]) {
					return fmt_bad(c, "code for two targets shares a section");
				}
			}
		}
	}
	return 0;
}

static int parse_header(struct graft_patch *p, struct fmt_ctx *c)
{
	struct graft_fmt_header h;

	memset(&h, 0, sizeof(h));
	if (c->meta_len < GRAFT_FMT_HEADER_V1_SIZE)
		return fmt_bad(c, ".graft.meta is too short");
	memcpy(&h, c->meta, c->meta_len < sizeof(h) ? c->meta_len : sizeof(h));
	if (memcmp(h.magic, GRAFT_FMT_MAGIC, sizeof(h.magic)) != 0)
		return fmt_bad(c, "bad magic in .graft.meta");
	if (h.version != 1 && h.version != GRAFT_FMT_VERSION)
		return graft_err_set(
			c->err, -ENOTSUP,
			"patch file '%s' has format version %u; this graft reads versions 1-%u",
			c->name, h.version, GRAFT_FMT_VERSION);
	p->version = h.version;
	if (h.header_size < (h.version == 1 ? GRAFT_FMT_HEADER_V1_SIZE : sizeof(h)) ||
	    h.header_size > c->meta_len)
		return fmt_bad(c, "bad header size");
	if (h.version == 1)
		h.ntargets = h.targets_off = 0; /* not v1 fields: whatever follows */
	p->id = fmt_str(c, h.id, "patch id", GRAFT_PATCH_ID_MAX);
	p->description = fmt_str(c, h.description, "description", GRAFT_PATCH_TEXT_MAX);
	p->target_name = fmt_str(c, h.target_name, "target name", GRAFT_PATCH_TEXT_MAX);
	if (!p->id || !p->description || !p->target_name)
		return -EINVAL;
	if (!graft_patch_id_is_valid(p->id))
		return fmt_bad(c, "patch id must be 1-64 characters of [A-Za-z0-9._+-]");
	if (h.build_id_len == 0 || h.build_id_len > GRAFT_BUILD_ID_MAX)
		return fmt_bad(c, "bad target build-id length");
	memcpy(p->build_id, h.build_id, h.build_id_len);
	p->build_id_len = h.build_id_len;
	if (parse_targets(p, c, &h) < 0)
		return -EINVAL;
	if (h.ncves > GRAFT_PATCH_CVES_MAX ||
	    !range_ok(h.cves_off, h.ncves, sizeof(uint32_t), c->meta_len))
		return fmt_bad(c, "CVE list out of range");
	p->cves = calloc(h.ncves + 1, sizeof(*p->cves));
	if (!p->cves)
		return graft_err_set(c->err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < h.ncves; i++) {
		uint32_t off;

		memcpy(&off, c->meta + h.cves_off + (size_t)i * 4, 4);
		p->cves[i] = fmt_str(c, off, "CVE id", 64);
		if (!p->cves[i])
			return -EINVAL;
	}
	p->ncves = h.ncves;
	if (parse_syms(p, c, &h) < 0 || parse_funcs(p, c, &h) < 0)
		return -EINVAL;
	return assign_sections(p, c) < 0 ? -EINVAL : 0;
}

int graft_patch_parse(uint8_t *buf, size_t len, const char *name, struct graft_patch **out,
		      struct graft_err *err)
{
	struct graft_patch *p;
	struct fmt_ctx c = {.name = name, .err = err};
	int r;

	if (len > GRAFT_PATCH_FILE_MAX)
		return graft_err_set(err, -EFBIG, "patch file '%s' is larger than %u bytes", name,
				     GRAFT_PATCH_FILE_MAX);
	p = calloc(1, sizeof(*p));
	if (!p || !(p->path = strdup(name))) {
		free(p);
		return graft_err_set(err, -ENOMEM, "out of memory");
	}
	r = graft_elf_open_mem(buf, len, name, &p->elf, err);
	if (r < 0) {
		free(p->path);
		free(p);
		return graft_err_prefix(err, r, "cannot read patch file");
	}
	if (p->elf->ehdr.e_type != ET_REL) {
		r = fmt_bad(&c, "not a relocatable object");
		goto fail;
	}
	if ((r = get_section(p, &c, GRAFT_FMT_SEC_META, &c.meta, &c.meta_len)) < 0 ||
	    (r = get_section(p, &c, GRAFT_FMT_SEC_STR, &c.str, &c.str_len)) < 0 ||
	    (r = get_section(p, &c, GRAFT_FMT_SEC_PRE, &c.pre, &c.pre_len)) < 0)
		goto fail;
	r = parse_header(p, &c);
	if (r < 0) {
		r = graft_err_set(err, r, "malformed patch file '%s'", name);
		goto fail;
	}
	p->buf = buf;
	p->len = len;
	*out = p;
	return 0;
fail:
	p->buf = NULL; /* the caller keeps its buffer on failure */
	graft_patch_free(p);
	return r;
}

int graft_patch_load(const char *path, struct graft_patch **out, struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	struct graft_sig_status st;

	r = graft_read_file(path, GRAFT_PATCH_FILE_MAX + sizeof(struct graft_sig_trailer), &buf,
			    &len, err);
	if (r < 0)
		return r;
	/* a signed file: the patch proper ends where the signature trailer starts */
	if (graft_sig_inspect((uint8_t *)buf, len, &st, NULL) == 0)
		len = st.payload_len;
	r = graft_patch_parse((uint8_t *)buf, len, path, out, err);
	if (r == 0)
		buf = NULL; /* owned by the patch now */
	return r;
}

void graft_patch_free(struct graft_patch *p)
{
	if (!p)
		return;
	graft_elf_free(p->elf);
	free(p->funcs);
	free(p->syms);
	free(p->sec_target);
	free(p->cves);
	free(p->buf);
	free(p->path);
	free(p);
}

const struct graft_patch_sym *graft_patch_find_sym(const struct graft_patch *p, const char *name)
{
	for (size_t i = 0; i < p->nsyms; i++)
		if (strcmp(p->syms[i].name, name) == 0)
			return &p->syms[i];
	return NULL;
}
