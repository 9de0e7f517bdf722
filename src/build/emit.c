/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The patch object writer. For each unit (translation unit) the sections
 * the differ included are copied, in order; the new symbol table holds one
 * section symbol per copied section, every symbol defined in a copied
 * section (made local: nothing outside the patch refers to them by name),
 * then one undefined global per distinct thing resolved outside the patch:
 * a target offset or a name in the process. Target-bound names are the
 * target's own; when the same name means two places (statics of two
 * files), the second becomes NAME@OFFSET. Defined function names that
 * collide across units get a .graft.N suffix so each replacement is found
 * by a unique name.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "build/emit.h"

struct ext {
	char *name;
	unsigned target;
	enum graft_emit_kind kind;
	uint64_t offset;
	uint8_t type;
	size_t idx; /* output symbol index */
};

struct writer {
	Elf *elf;
	char *str; /* .strtab */
	size_t nstr, capstr;
	char *shstr;
	size_t nshstr, capshstr;
	Elf64_Sym *syms;
	size_t nsyms, capsyms;
	struct ext *ext;
	size_t next, capext;
	Elf64_Rela **relas;
	size_t nrelas;
};

static int buf_add(char **b, size_t *n, size_t *cap, const char *s, uint32_t *off)
{
	size_t l = strlen(s) + 1;

	if (graft_grow((void **)b, cap, *n + l, 1) < 0)
		return -ENOMEM;
	memcpy(*b + *n, s, l);
	*off = (uint32_t)*n;
	*n += l;
	return 0;
}

static int sym_add(struct writer *w, const char *name, unsigned char info, uint16_t shndx,
		   uint64_t value, uint64_t size, size_t *idx)
{
	Elf64_Sym s = {.st_info = info, .st_shndx = shndx, .st_value = value, .st_size = size};
	uint32_t off = 0;

	if (name && *name && buf_add(&w->str, &w->nstr, &w->capstr, name, &off) < 0)
		return -ENOMEM;
	s.st_name = off;
	if (graft_grow((void **)&w->syms, &w->capsyms, w->nsyms + 1, sizeof(s)) < 0)
		return -ENOMEM;
	if (idx)
		*idx = w->nsyms;
	w->syms[w->nsyms++] = s;
	return 0;
}

static bool name_used(struct graft_emit_unit *units, size_t nu, const char *name)
{
	for (size_t u = 0; u < nu; u++)
		for (size_t i = 0; units[u].out_name && i < units[u].d->p->nsyms; i++)
			if (units[u].out_name[i] && !strcmp(units[u].out_name[i], name))
				return true;
	return false;
}

static Elf_Scn *new_section(struct writer *w, const char *name, const GElf_Shdr *like, void *buf,
			    size_t size, struct graft_err *err)
{
	Elf_Scn *scn = elf_newscn(w->elf);
	Elf_Data *d;
	GElf_Shdr sh;
	uint32_t off;

	if (!scn || !(d = elf_newdata(scn)) || !gelf_getshdr(scn, &sh)) {
		graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
		return NULL;
	}
	if (buf_add(&w->shstr, &w->nshstr, &w->capshstr, name, &off) < 0) {
		graft_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	d->d_buf = buf;
	d->d_size = size;
	d->d_type = ELF_T_BYTE;
	d->d_align = like->sh_addralign ? like->sh_addralign : 1;
	sh = *like;
	sh.sh_name = off;
	sh.sh_offset = 0;
	sh.sh_flags &= ~(uint64_t)SHF_GROUP;
	if (!gelf_update_shdr(scn, &sh)) {
		graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
		return NULL;
	}
	return scn;
}

/* The outside reference an emitted relocation uses, shared by equal bindings. */
static int ext_symbol(struct writer *w, const struct graft_emit_bind *b, unsigned target,
		      uint8_t type, size_t *eidx)
{
	_cleanup_free_ char *name = NULL;
	bool clash = false;

	for (size_t i = 0; i < w->next; i++) {
		if (strncmp(w->ext[i].name, b->name, strlen(b->name)) != 0 ||
		    (w->ext[i].name[strlen(b->name)] != '\0' &&
		     w->ext[i].name[strlen(b->name)] != '@'))
			continue;
		if (w->ext[i].kind == b->kind &&
		    (b->kind == GRAFT_EMIT_EXTERN ||
		     (w->ext[i].offset == b->offset && w->ext[i].target == target))) {
			*eidx = i;
			return 0;
		}
		clash = true;
	}
	if (clash ? asprintf(&name, "%s@%u:%" PRIx64, b->name, target, b->offset) < 0
		  : !(name = strdup(b->name)))
		return -ENOMEM;
	if (graft_grow((void **)&w->ext, &w->capext, w->next + 1, sizeof(*w->ext)) < 0)
		return -ENOMEM;
	w->ext[w->next] = (struct ext){.name = TAKE_PTR(name),
				       .target = target,
				       .kind = b->kind,
				       .offset = b->offset,
				       .type = type};
	*eidx = w->next++;
	return 0;
}

static void writer_free(struct writer *w)
{
	if (w->elf)
		elf_end(w->elf);
	for (size_t i = 0; i < w->next; i++)
		free(w->ext[i].name);
	for (size_t i = 0; i < w->nrelas; i++)
		free(w->relas[i]);
	free(w->relas);
	free(w->ext);
	free(w->syms);
	free(w->str);
	free(w->shstr);
}

void graft_emit_unit_release(struct graft_emit_unit *u)
{
	if (u->out_name)
		for (size_t i = 0; i < u->d->p->nsyms; i++)
			free(u->out_name[i]);
	free(u->out_name);
	u->out_name = NULL;
}

static int name_units(struct graft_emit_unit *units, size_t n)
{
	unsigned serial = 0;

	for (size_t u = 0; u < n; u++) {
		struct graft_diff *d = units[u].d;

		units[u].out_name = calloc(d->p->nsyms, sizeof(char *));
		if (!units[u].out_name)
			return -ENOMEM;
		for (size_t i = 1; i < d->p->nsyms; i++) {
			const struct graft_obj_sym *s = &d->p->syms[i];
			char *nm;

			if (d->ref[i] != GRAFT_DIFF_REF_INCLUDED || !graft_obj_is_func(s))
				continue;
			if (!name_used(units, n, s->name))
				nm = strdup(s->name);
			else if (asprintf(&nm, "%s.graft.%u", s->name, ++serial) < 0)
				nm = NULL;
			if (!nm)
				return -ENOMEM;
			units[u].out_name[i] = nm;
		}
	}
	return 0;
}

/* A global another unit of the same target defines in the patch: its output symbol. */
static size_t defined_elsewhere(struct graft_emit_unit *units, size_t n, size_t **symmap, size_t u,
				const char *name)
{
	for (size_t k = 0; k < n; k++) {
		const struct graft_obj *p = units[k].d->p;

		if (k == u || units[k].target != units[u].target)
			continue;
		for (size_t i = 1; i < p->nsyms; i++)
			if (p->syms[i].bind != STB_LOCAL && p->syms[i].shndx != SHN_UNDEF &&
			    p->syms[i].shndx < p->nsecs && units[k].d->include[p->syms[i].shndx] &&
			    symmap[k][i] && !strcmp(p->syms[i].name, name))
				return symmap[k][i];
	}
	return 0;
}

int graft_emit(struct graft_emit_unit *units, size_t n, const char *path, FILE **manifests,
	       size_t *size, struct graft_err *err)
{
	struct writer w = {0};
	_cleanup_close_ int fd = -1;
	_cleanup_free_ size_t **symmap = calloc(n ? n : 1, sizeof(size_t *));
	_cleanup_free_ size_t **secmap = calloc(n ? n : 1, sizeof(size_t *));
	Elf64_Ehdr *eh;
	Elf_Scn *symscn, *strscn, *shstrscn;
	GElf_Shdr sh;
	size_t nlocal;
	struct stat st;
	int r = -ENOMEM;

	if (!symmap || !secmap || name_units(units, n) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (elf_version(EV_CURRENT) == EV_NONE)
		return graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return graft_err_set(err, -errno, "cannot create '%s': %s", path, strerror(errno));
	w.elf = elf_begin(fd, ELF_C_WRITE, NULL);
	if (!w.elf || !(eh = elf64_newehdr(w.elf))) {
		r = graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
		goto fail;
	}
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_REL;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	{
		uint32_t z;

		if (buf_add(&w.shstr, &w.nshstr, &w.capshstr, "", &z) < 0 ||
		    buf_add(&w.str, &w.nstr, &w.capstr, "", &z) < 0 ||
		    sym_add(&w, "", 0, SHN_UNDEF, 0, 0, NULL) < 0)
			goto nomem;
	}
	/* sections, and a section symbol for each */
	for (size_t u = 0; u < n; u++) {
		const struct graft_obj *p = units[u].d->p;

		secmap[u] = calloc(p->nsecs, sizeof(size_t));
		symmap[u] = calloc(p->nsyms, sizeof(size_t));
		if (!secmap[u] || !symmap[u])
			goto nomem;
		for (size_t i = 1; i < p->nsecs; i++) {
			Elf_Scn *scn;
			size_t si;

			if (!units[u].d->include[i])
				continue;
			scn = new_section(&w, p->secs[i].name, &p->secs[i].sh,
					  (void *)p->secs[i].data, p->secs[i].sh.sh_size, err);
			if (!scn) {
				r = -EIO;
				goto fail;
			}
			secmap[u][i] = elf_ndxscn(scn);
			if (sym_add(&w, NULL, GELF_ST_INFO(STB_LOCAL, STT_SECTION),
				    (uint16_t)secmap[u][i], 0, 0, &si) < 0)
				goto nomem;
		}
	}
	/* symbols defined in copied sections */
	for (size_t u = 0; u < n; u++) {
		const struct graft_obj *p = units[u].d->p;

		for (size_t i = 1; i < p->nsyms; i++) {
			const struct graft_obj_sym *s = &p->syms[i];

			if (s->shndx == SHN_UNDEF || s->shndx >= p->nsecs ||
			    !units[u].d->include[s->shndx])
				continue;
			if (s->type == STT_SECTION) {
				/* the section symbol added above */
				for (size_t k = 1; k < w.nsyms; k++)
					if (ELF64_ST_TYPE(w.syms[k].st_info) == STT_SECTION &&
					    w.syms[k].st_shndx == secmap[u][s->shndx])
						symmap[u][i] = k;
				continue;
			}
			if (s->type == STT_FILE)
				continue;
			if (sym_add(&w, units[u].out_name[i] ? units[u].out_name[i] : s->name,
				    GELF_ST_INFO(STB_LOCAL, s->type), (uint16_t)secmap[u][s->shndx],
				    s->value, s->size, &symmap[u][i]) < 0)
				goto nomem;
		}
	}
	nlocal = w.nsyms;
	/* outside references, globals after the locals */
	for (size_t u = 0; u < n; u++) {
		const struct graft_diff *d = units[u].d;

		for (size_t i = 1; i < d->p->nsyms; i++) {
			struct graft_emit_bind b = {0};
			size_t code;
			uint8_t type;

			if (d->ref[i] != GRAFT_DIFF_REF_ORIG && d->ref[i] != GRAFT_DIFF_REF_UNDEF)
				continue;
			if (d->ref[i] == GRAFT_DIFF_REF_UNDEF &&
			    (symmap[u][i] =
				     defined_elsewhere(units, n, symmap, u, d->p->syms[i].name)))
				continue;
			if ((r = units[u].resolve(units[u].ctx, &units[u], (uint32_t)i, &b, err)) <
			    0)
				goto fail;
			type = d->p->syms[i].type;
			if (d->ref[i] == GRAFT_DIFF_REF_ORIG) {
				int owner = graft_diff_owner(d->p, (uint32_t)i);

				type = owner >= 0 ? d->p->syms[owner].type : STT_NOTYPE;
			}
			if (type == STT_SECTION)
				type = STT_NOTYPE;
			if (ext_symbol(&w, &b, units[u].target, type, &code) < 0)
				goto nomem;
			/* numbered once all locals are known: keep the ext index, marked */
			symmap[u][i] = SIZE_MAX - code;
		}
	}
	for (size_t e = 0; e < w.next; e++) {
		size_t idx;

		if (sym_add(&w, w.ext[e].name, GELF_ST_INFO(STB_GLOBAL, w.ext[e].type), SHN_UNDEF,
			    0, 0, &idx) < 0)
			goto nomem;
		w.ext[e].idx = idx;
		if (w.ext[e].kind == GRAFT_EMIT_EXTERN)
			fprintf(manifests[w.ext[e].target], "extern %s\n", w.ext[e].name);
		else
			fprintf(manifests[w.ext[e].target], "bind %s 0x%" PRIx64 "\n",
				w.ext[e].name, w.ext[e].offset);
	}
	for (size_t u = 0; u < n; u++)
		for (size_t i = 1; i < units[u].d->p->nsyms; i++)
			if (symmap[u][i] > SIZE_MAX - w.next)
				symmap[u][i] = w.ext[SIZE_MAX - symmap[u][i]].idx;
	/* symbol and string tables */
	memset(&sh, 0, sizeof(sh));
	sh.sh_type = SHT_SYMTAB;
	sh.sh_entsize = sizeof(Elf64_Sym);
	sh.sh_addralign = 8;
	sh.sh_info = (uint32_t)nlocal;
	if (!(symscn = new_section(&w, ".symtab", &sh, w.syms, w.nsyms * sizeof(Elf64_Sym), err))) {
		r = -EIO;
		goto fail;
	}
	elf_getdata(symscn, NULL)->d_type = ELF_T_SYM;
	memset(&sh, 0, sizeof(sh));
	sh.sh_type = SHT_STRTAB;
	sh.sh_addralign = 1;
	if (!(strscn = new_section(&w, ".strtab", &sh, w.str, w.nstr, err))) {
		r = -EIO;
		goto fail;
	}
	if (!gelf_getshdr(symscn, &sh)) {
		r = graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
		goto fail;
	}
	sh.sh_link = (uint32_t)elf_ndxscn(strscn);
	(void)gelf_update_shdr(symscn, &sh);
	/* relocations */
	for (size_t u = 0; u < n; u++) {
		const struct graft_obj *p = units[u].d->p;

		for (size_t i = 1; i < p->nsecs; i++) {
			const struct graft_obj_sec *sec = &p->secs[i];
			_cleanup_free_ char *name = NULL;
			Elf64_Rela *ra, **nr;

			if (!units[u].d->include[i] || !sec->nrela)
				continue;
			ra = calloc(sec->nrela, sizeof(*ra));
			nr = realloc(w.relas, (w.nrelas + 1) * sizeof(*nr));
			if (!ra || !nr) {
				free(ra);
				goto nomem;
			}
			w.relas = nr;
			w.relas[w.nrelas++] = ra;
			for (size_t k = 0; k < sec->nrela; k++) {
				const struct graft_obj_rela *x = &sec->rela[k];

				ra[k].r_offset = x->off;
				ra[k].r_addend = x->addend;
				ra[k].r_info =
					ELF64_R_INFO(x->sym ? symmap[u][x->sym] : 0, x->type);
			}
			if (asprintf(&name, ".rela%s", sec->name) < 0)
				goto nomem;
			memset(&sh, 0, sizeof(sh));
			sh.sh_type = SHT_RELA;
			sh.sh_flags = SHF_INFO_LINK;
			sh.sh_entsize = sizeof(Elf64_Rela);
			sh.sh_addralign = 8;
			sh.sh_link = (uint32_t)elf_ndxscn(symscn);
			sh.sh_info = (uint32_t)secmap[u][i];
			Elf_Scn *rs = new_section(&w, name, &sh, ra, sec->nrela * sizeof(*ra), err);
			if (!rs) {
				r = -EIO;
				goto fail;
			}
			elf_getdata(rs, NULL)->d_type = ELF_T_RELA;
		}
	}
	memset(&sh, 0, sizeof(sh));
	sh.sh_type = SHT_STRTAB;
	sh.sh_addralign = 1;
	{
		uint32_t off;

		/* the name must be in the table before the table is sized */
		if (buf_add(&w.shstr, &w.nshstr, &w.capshstr, ".shstrtab", &off) < 0)
			goto nomem;
		if (!(shstrscn = new_section(&w, ".shstrtab.tmp", &sh, NULL, 0, err))) {
			r = -EIO;
			goto fail;
		}
		w.nshstr -= sizeof(".shstrtab.tmp");
		elf_getdata(shstrscn, NULL)->d_buf = w.shstr;
		elf_getdata(shstrscn, NULL)->d_size = w.nshstr;
		(void)gelf_getshdr(shstrscn, &sh);
		sh.sh_name = off;
		(void)gelf_update_shdr(shstrscn, &sh);
	}
	eh->e_shstrndx = (Elf64_Half)elf_ndxscn(shstrscn);
	(void)elf_flagehdr(w.elf, ELF_C_SET, ELF_F_DIRTY);
	if (elf_update(w.elf, ELF_C_WRITE) < 0) {
		r = graft_err_set(err, -EIO, "cannot write '%s': %s", path, elf_errmsg(-1));
		goto fail;
	}
	elf_end(w.elf);
	w.elf = NULL;
	if (fstat(fd, &st) == 0)
		*size = (size_t)st.st_size;
	r = 0;
	goto out;
nomem:
	r = graft_err_set(err, -ENOMEM, "out of memory");
fail:
	(void)unlink(path);
out:
	for (size_t u = 0; u < n; u++) {
		free(symmap[u]);
		free(secmap[u]);
	}
	writer_free(&w);
	return r;
}
