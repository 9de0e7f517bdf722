/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The packer. It reads the manifest, looks each replaced function up in the
 * target's symbol table (the pre-image comes from the target file itself),
 * binds every undefined symbol of the object that the target defines to its
 * offset in the target (so apply does no name lookup there and statics with
 * the same name in two files are caught here as ambiguous), and leaves the
 * rest to be resolved by name in the running process. The output is the
 * object with three .graft.* sections added by libelf, written to a
 * temporary file and renamed into place, so a failed pack leaves nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "patch/format.h"
#include "patch/pack.h"

#define MANIFEST_MAX (1u << 20)

struct strbuf {
	char *b;
	size_t n, cap;
};

static int sb_add(struct strbuf *s, const void *p, size_t len, uint32_t *off)
{
	if (off)
		*off = (uint32_t)s->n;
	if (len == 0)
		return 0;
	if (graft_grow((void **)&s->b, &s->cap, s->n + len, 1) < 0)
		return -ENOMEM;
	if (off)
		*off = (uint32_t)s->n;
	memcpy(s->b + s->n, p, len);
	s->n += len;
	return 0;
}

static int sb_str(struct strbuf *s, const char *str, uint32_t *off)
{
	return sb_add(s, str, strlen(str) + 1, off);
}

struct mtarget {
	char *path, *symbols;
};

struct manifest {
	char *id, *description, *object;
	struct mtarget targets[GRAFT_PATCH_TARGETS_MAX];
	size_t ntargets;
	char *cves[GRAFT_PATCH_CVES_MAX];
	size_t ncves;
	struct {
		char *old, *new_;
		uint64_t at; /* 0: look up by name */
		size_t tgt;  /* the target block it appears in */
	} rep[GRAFT_PATCH_FUNCS_MAX];
	size_t nrep;
	struct {
		char *name;
		char *to; /* target symbol, or NULL with off */
		uint64_t off;
		bool external;
		size_t tgt;
	} bind[GRAFT_PATCH_SYMS_MAX];
	size_t nbind;
};

static void manifest_free(struct manifest *m)
{
	free(m->id);
	free(m->description);
	for (size_t i = 0; i < m->ntargets; i++) {
		free(m->targets[i].path);
		free(m->targets[i].symbols);
	}
	free(m->object);
	for (size_t i = 0; i < m->ncves; i++)
		free(m->cves[i]);
	for (size_t i = 0; i < m->nrep; i++) {
		free(m->rep[i].old);
		free(m->rep[i].new_);
	}
	for (size_t i = 0; i < m->nbind; i++) {
		free(m->bind[i].name);
		free(m->bind[i].to);
	}
	free(m);
}

static char *path_rel(const char *dir, const char *p)
{
	char *out;

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

static int manifest_parse(const char *path, struct manifest **out, struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL, *dircopy = strdup(path);
	struct manifest *m = calloc(1, sizeof(*m));
	char *save = NULL, *dir;
	unsigned lineno = 0;
	int r;

	if (!m || !dircopy) {
		free(m);
		return graft_err_set(err, -ENOMEM, "out of memory");
	}
	dir = dirname(dircopy);
	r = graft_read_file(path, MANIFEST_MAX, &buf, NULL, err);
	if (r < 0) {
		manifest_free(m);
		return r;
	}
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *key, *rest, *a, *b;

		lineno++;
		while (isspace((unsigned char)*line))
			line++;
		if (!*line || *line == '#')
			continue;
		key = line;
		rest = key + strcspn(key, " \t");
		if (*rest)
			*rest++ = '\0';
		while (isspace((unsigned char)*rest))
			rest++;
		for (char *e = rest + strlen(rest); e > rest && isspace((unsigned char)e[-1]);)
			*--e = '\0';
#define DUP_ONCE(field)                                                                          \
	do {                                                                                     \
		if (m->field) {                                                                  \
			r = graft_err_set(err, -EINVAL, "%s:%u: '%s' given twice", path, lineno, \
					  key);                                                  \
			goto fail;                                                               \
		}                                                                                \
		m->field = strdup(rest);                                                         \
	} while (0)
		if (!strcmp(key, "id")) {
			DUP_ONCE(id);
		} else if (!strcmp(key, "description")) {
			DUP_ONCE(description);
		} else if (!strcmp(key, "cve")) {
			if (m->ncves == GRAFT_PATCH_CVES_MAX)
				goto toomany;
			m->cves[m->ncves++] = strdup(rest);
		} else if (!strcmp(key, "target")) {
			/* each target line starts a block: replace/bind/symbols below are its */
			if (m->ntargets == GRAFT_PATCH_TARGETS_MAX)
				goto toomany;
			m->targets[m->ntargets++].path = path_rel(dir, rest);
		} else if (!strcmp(key, "symbols")) {
			if (!m->ntargets) {
				r = graft_err_set(err, -EINVAL, "%s:%u: 'symbols' before 'target'",
						  path, lineno);
				goto fail;
			}
			if (m->targets[m->ntargets - 1].symbols)
				goto twice;
			m->targets[m->ntargets - 1].symbols = path_rel(dir, rest);
		} else if (!strcmp(key, "object")) {
			if (m->object)
				goto twice;
			m->object = path_rel(dir, rest);
		} else if (!strcmp(key, "replace") || !strcmp(key, "bind") ||
			   !strcmp(key, "extern")) {
			char *at;

			a = strtok_r(rest, " \t", &b);
			b = b ? b + strspn(b, " \t") : NULL;
			if (!a || (strcmp(key, "extern") && (!b || !*b)) ||
			    (!strcmp(key, "extern") && b && *b)) {
				r = graft_err_set(
					err, -EINVAL, "%s:%u: usage: %s", path, lineno,
					!strcmp(key, "replace") ? "replace OLD[@0xADDR] NEW"
					: !strcmp(key, "bind")	? "bind NAME TARGET_SYMBOL|0xOFFSET"
								: "extern NAME");
				goto fail;
			}
			if (!strcmp(key, "replace")) {
				if (m->nrep == GRAFT_PATCH_FUNCS_MAX)
					goto toomany;
				at = strchr(a, '@');
				if (at) {
					*at++ = '\0';
					m->rep[m->nrep].at = strtoull(at, NULL, 0);
				}
				m->rep[m->nrep].tgt = m->ntargets ? m->ntargets - 1 : 0;
				m->rep[m->nrep].old = strdup(a);
				m->rep[m->nrep++].new_ = strdup(b);
			} else {
				if (m->nbind == GRAFT_PATCH_SYMS_MAX)
					goto toomany;
				m->bind[m->nbind].tgt = m->ntargets ? m->ntargets - 1 : 0;
				m->bind[m->nbind].name = strdup(a);
				if (!strcmp(key, "extern"))
					m->bind[m->nbind].external = true;
				else if (!strncmp(b, "0x", 2))
					m->bind[m->nbind].off = strtoull(b, NULL, 16);
				else
					m->bind[m->nbind].to = strdup(b);
				m->nbind++;
			}
		} else {
			r = graft_err_set(err, -EINVAL, "%s:%u: unknown key '%s'", path, lineno,
					  key);
			goto fail;
		}
#undef DUP_ONCE
	}
	if (!m->id || !m->ntargets || !m->object || !m->nrep) {
		r = graft_err_set(err, -EINVAL, "%s: missing %s", path,
				  !m->id	 ? "'id'"
				  : !m->ntargets ? "'target'"
				  : !m->object	 ? "'object'"
						 : "'replace' lines");
		goto fail;
	}
	if (!graft_patch_id_is_valid(m->id)) {
		r = graft_err_set(err, -EINVAL,
				  "%s: id '%s' must be 1-64 characters of [A-Za-z0-9._+-]", path,
				  m->id);
		goto fail;
	}
	if (!m->description)
		m->description = strdup("");
	*out = m;
	return 0;
twice:
	r = graft_err_set(err, -EINVAL, "%s:%u: key given twice", path, lineno);
	goto fail;
toomany:
	r = graft_err_set(err, -E2BIG, "%s:%u: too many entries", path, lineno);
fail:
	manifest_free(m);
	return r;
}

static int open_elf_file(const char *path, int *fd, struct graft_elf **e, struct graft_err *err)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return graft_err_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	return graft_elf_open_fd(*fd, path, e, err);
}

struct pack_out {
	struct strbuf meta, str, pre;
	struct graft_fmt_header h;
};

static int add_funcs(struct manifest *m, size_t t, struct graft_elf *tgt, struct graft_elf *symf,
		     struct graft_elf *obj, struct pack_out *o, struct strbuf *funcs,
		     struct graft_err *err)
{
	for (size_t i = 0; i < m->nrep; i++) {
		struct graft_fmt_func f = {.flags = (uint32_t)t << GRAFT_FLAG_TARGET_SHIFT};
		struct graft_elf_sym s, ns;
		_cleanup_free_ uint8_t *img = NULL;
		int n;

		if (m->rep[i].tgt != t)
			continue;
		n = graft_elf_symtab_lookup(symf, m->rep[i].old, &s);

		if (m->rep[i].at) {
			const char *fn = graft_elf_func_at(symf, m->rep[i].at, &s);

			if (!fn || strcmp(fn, m->rep[i].old) != 0 || s.value != m->rep[i].at)
				return graft_err_set(err, -ENOENT,
						     "no function '%s' at 0x%" PRIx64 " in '%s'",
						     m->rep[i].old, m->rep[i].at, tgt->name);
			n = 1;
		}
		if (n == 0)
			return graft_err_set(err, -ENOENT, "function '%s' not found in '%s'",
					     m->rep[i].old, tgt->name);
		if (n > 1)
			return graft_err_set(
				err, -EINVAL,
				"'%s' is defined %d times in '%s'; write 'replace %s@0xADDRESS %s'",
				m->rep[i].old, n, tgt->name, m->rep[i].old, m->rep[i].new_);
		if (s.type != STT_FUNC || s.size == 0)
			return graft_err_set(err, -EINVAL,
					     "'%s' in '%s' is not a function with a size",
					     m->rep[i].old, tgt->name);
		if (s.size > GRAFT_PATCH_FUNC_SIZE_MAX)
			return graft_err_set(err, -E2BIG, "function '%s' is too large",
					     m->rep[i].old);
		if (graft_elf_symtab_lookup(obj, m->rep[i].new_, &ns) != 1 || ns.type != STT_FUNC ||
		    ns.shndx == SHN_UNDEF)
			return graft_err_set(
				err, -ENOENT,
				"replacement '%s' is not a function defined in the object",
				m->rep[i].new_);
		f.old_offset = s.value;
		f.old_size = (uint32_t)s.size;
		f.pre_len = s.size < 5 ? 5 : (uint32_t)s.size;
		img = malloc(f.pre_len);
		if (!img || graft_elf_read_vaddr(tgt, s.value, img, f.pre_len) < 0)
			return graft_err_set(err, -EIO, "cannot read '%s' from '%s'", m->rep[i].old,
					     tgt->name);
		if (s.size < 5) {
			/* alignment padding belongs to no symbol: nothing jumps there */
			for (uint64_t k = s.size; k < 5; k++) {
				struct graft_elf_sym other;

				if (graft_elf_func_at(symf, s.value + k, &other))
					return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EINVAL,
							      "function '%s' is %" PRIu64
							      " bytes, too short for a jump, and "
							      "the bytes after it are not padding",
							      m->rep[i].old, s.size);
			}
			f.flags |= GRAFT_FUNC_PADDED;
		}
		if (sb_add(&o->pre, img, f.pre_len, &f.pre_off) < 0 ||
		    sb_str(&o->str, m->rep[i].old, &f.old_name) < 0 ||
		    sb_str(&o->str, m->rep[i].new_, &f.new_name) < 0 ||
		    sb_add(funcs, &f, sizeof(f), NULL) < 0)
			return graft_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

static int add_syms(struct manifest *m, struct graft_elf **tgts, struct graft_elf *obj,
		    struct pack_out *o, struct strbuf *syms, struct graft_pack_summary *sum,
		    struct graft_err *err)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf_Data *d = NULL;

	while ((scn = elf_nextscn(obj->elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB) {
			d = elf_getdata(scn, NULL);
			break;
		}
	if (!d || !sh.sh_entsize)
		return graft_err_set(err, -EINVAL, "'%s' has no symbol table", obj->name);
	for (size_t i = 1; i < sh.sh_size / sh.sh_entsize; i++) {
		struct graft_fmt_sym fs = {0};
		struct graft_elf_sym ts;
		const char *name;
		GElf_Sym s;
		int n = 0;
		size_t t = 0;
		bool done = false;

		if (!gelf_getsym(d, (int)i, &s) || s.st_shndx != SHN_UNDEF)
			continue;
		name = elf_strptr(obj->elf, sh.sh_link, s.st_name);
		if (!name || !*name || !strcmp(name, "_GLOBAL_OFFSET_TABLE_"))
			continue;
		for (size_t b = 0; b < m->nbind && !done; b++) {
			if (strcmp(m->bind[b].name, name) != 0)
				continue;
			done = true;
			t = m->bind[b].tgt;
			if (m->bind[b].external) {
				n = -1;
			} else if (m->bind[b].to) {
				n = graft_elf_symtab_lookup(tgts[t], m->bind[b].to, &ts);
				if (n != 1)
					return graft_err_set(
						err, -ENOENT, "bind %s: '%s' is %s in '%s'", name,
						m->bind[b].to, n ? "ambiguous" : "not found",
						tgts[t]->name);
			} else {
				ts = (struct graft_elf_sym){.value = m->bind[b].off};
				n = 1;
			}
		}
		if (!done && m->ntargets == 1) {
			/* several targets: only explicit binds, the rest by name at apply */
			n = graft_elf_symtab_lookup(tgts[0], name, &ts);
			if (n > 1)
				return graft_err_set(err, -EINVAL,
						     "'%s' is defined %d times in '%s' (static in "
						     "several files); "
						     "add 'bind %s 0xOFFSET' to the manifest",
						     name, n, tgts[0]->name, name);
		}
		if (n <= 0) {
			sum->nexternal++;
			continue;
		}
		fs.target_offset = ts.value;
		fs.flags = (uint32_t)t << GRAFT_FLAG_TARGET_SHIFT;
		if (ts.type == STT_TLS || GELF_ST_TYPE(s.st_info) == STT_TLS)
			fs.flags |= GRAFT_SYM_TLS;
		if (sb_str(&o->str, name, &fs.name) < 0 || sb_add(syms, &fs, sizeof(fs), NULL) < 0)
			return graft_err_set(err, -ENOMEM, "out of memory");
		sum->nbound++;
	}
	return 0;
}

static int add_section(Elf *elf, size_t shstrndx, struct strbuf *names, const char *name,
		       const struct strbuf *content, struct graft_err *err)
{
	Elf_Scn *scn = elf_newscn(elf), *strscn = elf_getscn(elf, shstrndx);
	Elf_Data *d;
	GElf_Shdr sh, strsh;
	uint32_t name_off;

	if (!scn || !strscn || !gelf_getshdr(strscn, &strsh))
		return graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
	name_off = (uint32_t)(strsh.sh_size + names->n);
	if (sb_str(names, name, NULL) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	d = elf_newdata(scn);
	if (!d || !gelf_getshdr(scn, &sh))
		return graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
	d->d_buf = content->b ? content->b : (char *)"";
	d->d_size = content->n;
	d->d_align = 8;
	d->d_type = ELF_T_BYTE;
	sh.sh_name = name_off;
	sh.sh_type = SHT_PROGBITS;
	sh.sh_flags = 0;
	sh.sh_addralign = 8;
	if (!gelf_update_shdr(scn, &sh))
		return graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
	return 0;
}

static int write_patch(const char *objpath, const char *out, struct pack_out *o, size_t *size,
		       struct graft_err *err)
{
	_cleanup_free_ char *tmp = NULL, *objbuf = NULL;
	struct strbuf names = {0};
	_cleanup_close_ int fd = -1;
	size_t objlen, shstrndx;
	GElf_Ehdr ehdr;
	Elf *elf = NULL;
	struct stat st;
	int r;

	r = graft_read_file(objpath, GRAFT_PATCH_FILE_MAX, &objbuf, &objlen, err);
	if (r < 0)
		return r;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", out) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0)
		return graft_err_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	if (write(fd, objbuf, objlen) != (ssize_t)objlen) {
		r = graft_err_set(err, -errno, "cannot write '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	elf = elf_begin(fd, ELF_C_RDWR, NULL);
	if (!elf || !gelf_getehdr(elf, &ehdr) || elf_getshdrstrndx(elf, &shstrndx) < 0) {
		r = graft_err_set(err, -EINVAL, "'%s': %s", objpath, elf_errmsg(-1));
		goto fail;
	}
	{
		/*
		 * libelf quirk: headers and data of existing sections must be
		 * loaded before elf_newscn, or they become unreadable.
		 */
		Elf_Scn *scn = NULL;
		GElf_Shdr sh;

		while ((scn = elf_nextscn(elf, scn)))
			if (!gelf_getshdr(scn, &sh) ||
			    (sh.sh_type != SHT_NOBITS && !elf_getdata(scn, NULL))) {
				r = graft_err_set(err, -EINVAL, "'%s': %s", objpath,
						  elf_errmsg(-1));
				goto fail;
			}
	}
	if ((r = add_section(elf, shstrndx, &names, GRAFT_FMT_SEC_META, &o->meta, err)) < 0 ||
	    (r = add_section(elf, shstrndx, &names, GRAFT_FMT_SEC_STR, &o->str, err)) < 0 ||
	    (r = add_section(elf, shstrndx, &names, GRAFT_FMT_SEC_PRE, &o->pre, err)) < 0)
		goto fail;
	{
		Elf_Data *nd = elf_newdata(elf_getscn(elf, shstrndx));

		if (!nd) {
			r = graft_err_set(err, -EIO, "libelf: %s", elf_errmsg(-1));
			goto fail;
		}
		nd->d_buf = names.b;
		nd->d_size = names.n;
		nd->d_align = 1;
		nd->d_type = ELF_T_BYTE;
	}
	if (elf_update(elf, ELF_C_WRITE) < 0) {
		r = graft_err_set(err, -EIO, "cannot write '%s': %s", tmp, elf_errmsg(-1));
		goto fail;
	}
	elf_end(elf);
	elf = NULL;
	if (fsync(fd) < 0 || fstat(fd, &st) < 0 || rename(tmp, out) < 0) {
		r = graft_err_set(err, -errno, "cannot write '%s': %s", out, strerror(errno));
		goto fail;
	}
	*size = (size_t)st.st_size;
	free(names.b);
	return 0;
fail:
	if (elf)
		elf_end(elf);
	(void)unlink(tmp);
	free(names.b);
	return r;
}

/* Open target t and its symbols; record it in the target table. */
static int open_target(struct manifest *m, size_t t, struct pack_out *o, struct strbuf *targets,
		       int *fds, struct graft_elf **tgt, struct graft_elf **symf,
		       struct graft_err *err)
{
	struct graft_fmt_target rec = {0};
	int r;

	if ((r = open_elf_file(m->targets[t].path, &fds[0], tgt, err)) < 0)
		return r;
	r = graft_elf_build_id(*tgt, rec.build_id, sizeof(rec.build_id));
	if (r <= 0)
		return graft_err_set(err, -EINVAL,
				     "'%s' has no GNU build-id (link it with -Wl,--build-id)",
				     m->targets[t].path);
	rec.build_id_len = (uint32_t)r;
	if (m->targets[t].symbols) {
		uint8_t bid[GRAFT_BUILD_ID_MAX];

		if ((r = open_elf_file(m->targets[t].symbols, &fds[1], symf, err)) < 0)
			return r;
		r = graft_elf_build_id(*symf, bid, sizeof(bid));
		if (r != (int)rec.build_id_len || memcmp(bid, rec.build_id, rec.build_id_len) != 0)
			return graft_err_set(err, -EINVAL, "symbols '%s' are not from target '%s'",
					     m->targets[t].symbols, m->targets[t].path);
	}
	if (sb_str(&o->str, m->targets[t].path, &rec.name) < 0 ||
	    sb_add(targets, &rec, sizeof(rec), NULL) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (t == 0) {
		/* the header's own target fields mirror the first target */
		o->h.target_name = rec.name;
		o->h.build_id_len = rec.build_id_len;
		memcpy(o->h.build_id, rec.build_id, rec.build_id_len);
	}
	return 0;
}

int graft_pack(const char *manifest, const char *out, struct graft_pack_summary *sum,
	       struct graft_err *err)
{
	struct manifest *m = NULL;
	struct graft_elf *tgt[GRAFT_PATCH_TARGETS_MAX] = {0}, *symf[GRAFT_PATCH_TARGETS_MAX] = {0};
	struct graft_elf *symbols_of[GRAFT_PATCH_TARGETS_MAX] = {0};
	_cleanup_(graft_elf_freep) struct graft_elf *obj = NULL;
	int fds[GRAFT_PATCH_TARGETS_MAX][2];
	_cleanup_close_ int ofd = -1;
	struct pack_out o = {0};
	struct strbuf funcs = {0}, syms = {0}, cves = {0}, targets = {0};
	struct graft_fmt_header *h = &o.h;
	int r;

	memset(sum, 0, sizeof(*sum));
	for (size_t t = 0; t < GRAFT_PATCH_TARGETS_MAX; t++)
		fds[t][0] = fds[t][1] = -1;
	if ((r = manifest_parse(manifest, &m, err)) < 0)
		return r;
	if ((r = open_elf_file(m->object, &ofd, &obj, err)) < 0)
		goto out;
	if (obj->ehdr.e_type != ET_REL) {
		r = graft_err_set(err, -EINVAL,
				  "'%s' is not a relocatable object (compile with -c)", m->object);
		goto out;
	}
	memcpy(h->magic, GRAFT_FMT_MAGIC, sizeof(h->magic));
	h->version = GRAFT_FMT_VERSION;
	h->header_size = sizeof(*h);
	/* offset 0 of .graft.str is the empty string */
	if (sb_str(&o.str, "", NULL) < 0 || sb_str(&o.str, m->id, &h->id) < 0 ||
	    sb_str(&o.str, m->description, &h->description) < 0) {
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->ncves; i++) {
		uint32_t off;

		if (sb_str(&o.str, m->cves[i], &off) < 0 || sb_add(&cves, &off, 4, NULL) < 0) {
			r = graft_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	for (size_t t = 0; t < m->ntargets; t++) {
		if ((r = open_target(m, t, &o, &targets, fds[t], &tgt[t], &symf[t], err)) < 0)
			goto out;
		symbols_of[t] = symf[t] ? symf[t] : tgt[t];
		if ((r = add_funcs(m, t, tgt[t], symbols_of[t], obj, &o, &funcs, err)) < 0)
			goto out;
	}
	if ((r = add_syms(m, symbols_of, obj, &o, &syms, sum, err)) < 0)
		goto out;
	h->nfuncs = (uint32_t)m->nrep;
	h->nsyms = (uint32_t)(syms.n / sizeof(struct graft_fmt_sym));
	h->ncves = (uint32_t)m->ncves;
	h->ntargets = (uint32_t)m->ntargets;
	h->cves_off = sizeof(*h);
	h->targets_off = h->cves_off + (uint32_t)GRAFT_ALIGN_UP(cves.n, 8);
	h->syms_off = h->targets_off + (uint32_t)targets.n;
	h->funcs_off = h->syms_off + (uint32_t)syms.n;
	{
		static const uint8_t zeros[8];

		if (sb_add(&o.meta, h, sizeof(*h), NULL) < 0 ||
		    sb_add(&o.meta, cves.b, cves.n, NULL) < 0 ||
		    sb_add(&o.meta, zeros, GRAFT_ALIGN_UP(cves.n, 8) - cves.n, NULL) < 0 ||
		    sb_add(&o.meta, targets.b, targets.n, NULL) < 0 ||
		    sb_add(&o.meta, syms.b, syms.n, NULL) < 0 ||
		    sb_add(&o.meta, funcs.b, funcs.n, NULL) < 0) {
			r = graft_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	sum->nfuncs = m->nrep;
	r = write_patch(m->object, out, &o, &sum->size, err);
	if (r == 0) {
		/* read it back: pack never writes what apply would refuse */
		struct graft_patch *p = NULL;

		r = graft_patch_load(out, &p, err);
		graft_patch_free(p);
		if (r < 0)
			(void)unlink(out);
	}
out:
	free(o.meta.b);
	free(o.str.b);
	free(o.pre.b);
	free(funcs.b);
	free(syms.b);
	free(cves.b);
	free(targets.b);
	for (size_t t = 0; t < GRAFT_PATCH_TARGETS_MAX; t++) {
		graft_elf_free(tgt[t]);
		graft_elf_free(symf[t]);
		for (int k = 0; k < 2; k++)
			if (fds[t][k] >= 0)
				(void)close(fds[t][k]);
	}
	manifest_free(m);
	return r;
}
