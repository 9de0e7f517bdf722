/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The translation units a rebuild recompiled: each is loaded (original and
 * patched object), diffed, cleared of changes that only move __LINE__
 * (comparing twins compiled with __LINE__ fixed), given to its target, and
 * explained from the source text: whose own lines changed, which callers a
 * signature change pulls in, which struct layouts the fix changes. The
 * original's recompiles (line-neutral, and exactly as the target was built)
 * are cached in ocache/ with the original build.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "build/build-priv.h"

/* ---- translation units ---------------------------------------------------- */

const char *build_under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strncmp(path, root, n) != 0 || path[n] != '/')
		return NULL;
	return path + n + 1;
}

void build_tu_release(struct tu *t)
{
	graft_diff_free(t->d);
	graft_obj_free(t->o);
	graft_obj_free(t->p);
	graft_obj_free(t->plain);
	free(t->plain_obj);
	graft_src_free(t->osrc);
	graft_src_free(t->psrc);
	free(t->rel);
	free(t->orig_obj);
	free(t->patched_obj);
}

enum recompile {
	RECOMPILE_PLAIN,	/* exactly as the build did, without graft's flags */
	RECOMPILE_LINE_NEUTRAL, /* with graft's flags and __LINE__ fixed */
};

const char **graft_cc_recompile_argv(const char *cc, char *const *args, size_t nargs,
				     bool line_neutral, const char *out)
{
	const char **argv = calloc(nargs + 10, sizeof(char *));
	size_t n = 0;

	if (!argv)
		return NULL;
	argv[n++] = cc;
	for (size_t i = 0; i < nargs; i++) {
		const char *a = args[i];

		if (!strcmp(a, "-o") || !strcmp(a, "-MF") || !strcmp(a, "-MT") ||
		    !strcmp(a, "-MQ")) {
			i++;
			continue;
		}
		if (!strncmp(a, "-o", 2) || !strcmp(a, "-MD") || !strcmp(a, "-MMD") ||
		    !strcmp(a, "-MP") || !strncmp(a, "-MF", 3) || !strncmp(a, "-Wp,-M", 6))
			continue;
		argv[n++] = a;
	}
	if (line_neutral) {
		argv[n++] = "-ffunction-sections";
		argv[n++] = "-fdata-sections";
		argv[n++] = "-D__LINE__=0";
		argv[n++] = "-w";
	}
	argv[n++] = "-o";
	argv[n++] = out;
	argv[n] = NULL;
	return argv;
}

char *graft_cc_ln_path(const char *dir, const char *out_path)
{
	char *p;
	uint64_t h = graft_fnv1a(GRAFT_FNV1A_INIT, out_path, strlen(out_path));

	return asprintf(&p, "%s/%016" PRIx64 ".o", dir, h) < 0 ? NULL : p;
}

/* Start compiling rec again into out; returns the child's pid. */
static pid_t recompile_start(struct ctx *c, const struct cc_rec *rec, enum recompile how,
			     const char *out, struct graft_err *err)
{
	_cleanup_free_ const char **argv = graft_cc_recompile_argv(
		c->cc, rec->args, rec->nargs, how == RECOMPILE_LINE_NEUTRAL, out);
	_cleanup_free_ char *log = build_join(c->dir, "recompile.log");
	pid_t pid;

	if (!argv || !log)
		return graft_err_set(err, -ENOMEM, "out of memory");
	pid = fork();
	if (pid < 0)
		return graft_err_set(err, -errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || chdir(rec->cwd) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Wait for a recompile into tmp; rename it to final so a cache never holds half a file. */
static int recompile_wait(pid_t pid, const char *what, const char *tmp, const char *final,
			  struct graft_err *err)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return graft_err_set(err, -errno, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return graft_err_set(
			err, -EIO, "recompiling '%s' failed; see recompile.log in the cache", what);
	if (rename(tmp, final) < 0)
		return graft_err_set(err, -errno, "cannot rename '%s': %s", tmp, strerror(errno));
	return 0;
}

/*
 * Objects compiled from the original tree depend on nothing but it: they are
 * kept in ocache/ (emptied when the original is rebuilt), named by a hash of
 * the object's path.
 */
static char *ocache_path(struct ctx *c, const struct cc_rec *orec, const char *kind)
{
	char *p;
	uint64_t h = graft_fnv1a(GRAFT_FNV1A_INIT, orec->out, strlen(orec->out));

	return asprintf(&p, "%s/ocache/%016" PRIx64 ".%s.o", c->dir, h, kind) < 0 ? NULL : p;
}

/* The original build's record for the object this patched record rebuilt. */
static const struct cc_rec *orig_record(struct ctx *c, const struct tu *t)
{
	const char *rp = build_under(t->rec->out, c->patched);

	for (size_t i = c->olog.n; rp && i-- > 0;) {
		const char *ro = build_under(c->olog.recs[i].out, c->orig);

		if (ro && !strcmp(ro, rp))
			return &c->olog.recs[i];
	}
	return NULL;
}

/*
 * Drop changes that only move __LINE__ constants: compile both sides again
 * with __LINE__ fixed; a function equal there differed only in line numbers.
 * The original is also compiled exactly as the target was (no
 * -ffunction-sections: the assembler then shortens jumps within the section)
 * for the build-time run-pre. The three compiles run in parallel.
 */
static int filter_line_only(struct ctx *c, struct tu *t, struct graft_err *err)
{
	_cleanup_free_ char *lo = NULL, *lp = NULL;
	_cleanup_(graft_obj_freep) struct graft_obj *o = NULL;
	_cleanup_(graft_obj_freep) struct graft_obj *p = NULL;
	_cleanup_(graft_diff_freep) struct graft_diff *d = NULL;
	const struct cc_rec *orec = orig_record(c, t);
	struct {
		const struct cc_rec *rec;
		enum recompile how;
		const char *out;
		char *tmp;
		pid_t pid;
	} jobs[3];
	size_t nj = 0;
	bool any = false;
	int r = 0;

	for (size_t i = 1; i < t->p->nsyms; i++)
		any |= t->d->state[i] == GRAFT_DIFF_CHANGED;
	if (!any || !orec)
		return 0;
	if (!(lo = ocache_path(c, orec, "ln")) || !(t->plain_obj = ocache_path(c, orec, "plain")) ||
	    !(lp = graft_cc_ln_path(c->lndir, t->rec->out)))
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (access(lo, F_OK) < 0)
		jobs[nj++] = (typeof(jobs[0])){orec, RECOMPILE_LINE_NEUTRAL, lo, NULL, -1};
	/* the wrapper compiled it beside the real compile, unless that failed */
	if (access(lp, F_OK) < 0)
		jobs[nj++] = (typeof(jobs[0])){t->rec, RECOMPILE_LINE_NEUTRAL, lp, NULL, -1};
	if (access(t->plain_obj, F_OK) < 0)
		jobs[nj++] = (typeof(jobs[0])){orec, RECOMPILE_PLAIN, t->plain_obj, NULL, -1};
	for (size_t i = 0; i < nj && r == 0; i++) {
		if (asprintf(&jobs[i].tmp, "%s.tmp", jobs[i].out) < 0) {
			jobs[i].tmp = NULL;
			r = graft_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		jobs[i].pid = recompile_start(c, jobs[i].rec, jobs[i].how, jobs[i].tmp, err);
		if (jobs[i].pid < 0)
			r = jobs[i].pid;
	}
	for (size_t i = 0; i < nj; i++) {
		if (jobs[i].pid > 0) {
			int w = recompile_wait(jobs[i].pid, jobs[i].rec->src, jobs[i].tmp,
					       jobs[i].out, err);

			if (r == 0)
				r = w;
		}
		free(jobs[i].tmp);
	}
	if (r < 0 || (r = graft_obj_open(lo, &o, err)) < 0 ||
	    (r = graft_obj_open(lp, &p, err)) < 0 ||
	    (r = graft_obj_open(t->plain_obj, &t->plain, err)) < 0 ||
	    (r = graft_diff_compare(o, p, &d, err)) < 0)
		return r;
	for (size_t i = 1; i < t->p->nsyms; i++) {
		int j;

		if (t->d->state[i] != GRAFT_DIFF_CHANGED)
			continue;
		j = graft_obj_find(p, t->p->syms[i].name);
		if (j >= 0 && d->state[j] == GRAFT_DIFF_SAME) {
			graft_diff_unchange(t->d, (int)i);
			(void)graft_diff_note(t->d,
					      "'%s': only __LINE__ values changed; kept as is",
					      t->p->syms[i].name);
		}
	}
	return 0;
}

/* The original as the target was compiled, for functions pulled in later. */
int build_ensure_plain(struct ctx *c, struct tu *t, struct graft_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	const struct cc_rec *orec;
	pid_t pid;
	int r;

	if (t->plain)
		return 0;
	if (!(orec = orig_record(c, t)))
		return graft_err_set(err, -ENOENT, "no record of how '%s' was compiled", t->rel);
	free(t->plain_obj);
	if (!(t->plain_obj = ocache_path(c, orec, "plain")) ||
	    asprintf(&tmp, "%s.tmp", t->plain_obj) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (access(t->plain_obj, F_OK) < 0) {
		pid = recompile_start(c, orec, RECOMPILE_PLAIN, tmp, err);
		if (pid < 0)
			return pid;
		if ((r = recompile_wait(pid, orec->src, tmp, t->plain_obj, err)) < 0)
			return r;
	}
	return graft_obj_open(t->plain_obj, &t->plain, err);
}

int build_load_source(const char *root, const char *rel, struct graft_src **out)
{
	_cleanup_free_ char *p = build_join(root, rel), *text = NULL;

	*out = NULL;
	if (!p || graft_read_file(p, SOURCE_MAX, &text, NULL, NULL) < 0)
		return 0; /* no text, no explanations: not fatal */
	return graft_src_scan(text, out);
}

int build_units_open(struct ctx *c, struct graft_err *err)
{
	c->tus = calloc(c->plog.n ? c->plog.n : 1, sizeof(*c->tus));
	if (!c->tus)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->plog.n; i++) {
		const struct cc_rec *rec = &c->plog.recs[i];
		const char *rel = build_under(rec->out, c->patched);
		const char *srel = rec->src ? build_under(rec->src, c->patched) : NULL;
		struct tu *t = &c->tus[c->ntus];
		int r;

		if (!rel || !srel)
			continue; /* something outside the tree: not ours to diff */
		/* a file compiled twice (two builds in one make run): keep the last */
		for (size_t k = 0; k < c->ntus; k++)
			if (!strcmp(c->tus[k].patched_obj + strlen(c->patched) + 1, rel)) {
				t = NULL;
				break;
			}
		if (!t)
			continue;
		t->c = c;
		t->rec = rec;
		t->rel = strdup(srel);
		t->patched_obj = strdup(rec->out);
		t->orig_obj = build_join(c->orig, rel);
		if (!t->rel || !t->patched_obj || !t->orig_obj)
			return graft_err_set(err, -ENOMEM, "out of memory");
		c->ntus++;
		if (access(t->orig_obj, F_OK) < 0)
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOTSUP,
					      "the fix adds a new source file '%s': not supported "
					      "yet; put new code in an existing file",
					      srel);
		if ((r = graft_obj_open(t->orig_obj, &t->o, err)) < 0 ||
		    (r = graft_obj_open(t->patched_obj, &t->p, err)) < 0 ||
		    (r = graft_diff_compare(t->o, t->p, &t->d, err)) < 0 ||
		    (r = filter_line_only(c, t, err)) < 0)
			return r;
		if (build_load_source(c->orig, srel, &t->osrc) < 0 ||
		    build_load_source(c->patched, srel, &t->psrc) < 0)
			return graft_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Which target holds this translation unit's code? */
int build_units_assign(struct ctx *c, struct graft_err *err)
{
	for (size_t i = 0; i < c->ntus; i++) {
		struct tu *t = &c->tus[i];
		size_t n = 0;

		for (size_t k = 0; k < c->opts->ntargets; k++)
			if (graft_target_has_file(c->targets[k], t->o->file)) {
				if (!n++)
					t->t = c->targets[k];
			}
		if (n > 1)
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOTSUP,
					      "'%s' is compiled into several targets: one patch "
					      "per target for now",
					      t->rel);
	}
	return 0;
}

/* The function's name in source: the symbol without GCC's suffixes. */
static char *source_name(const char *sym)
{
	return strndup(sym, strcspn(sym, "."));
}

int build_units_explain(struct ctx *c, struct tu *t, struct graft_err *err)
{
	const struct graft_diff_file *df = graft_udiff_find(c->udiff, t->rel);

	for (size_t i = 1; i < t->p->nsyms; i++) {
		_cleanup_free_ char *name = NULL;
		const struct graft_src_func *sf;
		bool own = false;

		if (t->d->state[i] != GRAFT_DIFF_CHANGED || !graft_diff_is_listed_func(t->d, i) ||
		    strcmp(t->d->why[i], "its code changed") != 0)
			continue;
		if (!(name = source_name(t->p->syms[i].name)))
			return graft_err_set(err, -ENOMEM, "out of memory");
		sf = t->psrc ? graft_src_func(t->psrc, name) : NULL;
		if (!sf || !df)
			own = df != NULL && !sf;
		else
			for (size_t k = 0; k < df->nnew && !own; k++)
				own = df->new_lines[k] >= sf->first && df->new_lines[k] <= sf->last;
		if (!own && graft_diff_force(t->d, (int)i, "inlined or included code changed") < 0)
			return graft_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Does object x refer to a function of this name (global) or canonical base (static)? */
static bool calls(const struct graft_obj *x, size_t fsym, const char *name, bool global)
{
	const struct graft_obj_sec *sec = graft_obj_sym_sec(x, (uint32_t)fsym);

	for (size_t k = 0; sec && k < sec->nrela; k++) {
		int o = graft_diff_owner(x, sec->rela[k].sym);
		const struct graft_obj_sym *s = o >= 0 ? &x->syms[o] : &x->syms[sec->rela[k].sym];
		_cleanup_free_ char *base = source_name(s->name);

		if (o == (int)fsym)
			continue;
		if (global ? !strcmp(s->name, name) : (base && !strcmp(base, name)))
			return true;
	}
	return false;
}

static int pull_callers(struct ctx *c, struct tu *t, const char *fname, bool global,
			struct graft_err *err)
{
	_cleanup_free_ char *why = NULL;

	if (asprintf(&why, "calls '%s', whose signature changed", fname) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t k = 0; k < c->ntus; k++) {
		struct tu *u = &c->tus[k];

		if (!global && u != t)
			continue;
		for (size_t i = 1; i < u->p->nsyms; i++) {
			_cleanup_free_ char *base = source_name(u->p->syms[i].name);

			if (!graft_diff_is_listed_func(u->d, i) || !base || !strcmp(base, fname) ||
			    !calls(u->p, i, fname, global))
				continue;
			if (u->d->state[i] == GRAFT_DIFF_SAME &&
			    graft_diff_force(u->d, (int)i, why) < 0)
				return graft_err_set(err, -ENOMEM, "out of memory");
		}
	}
	if (!global)
		return 0;
	/* callers in files the rebuild did not recompile cannot be rebuilt */
	for (size_t i = 0; i < c->olog.n; i++) {
		const char *rel = build_under(c->olog.recs[i].out, c->orig);
		_cleanup_(graft_obj_freep) struct graft_obj *o = NULL;
		bool rebuilt = false;

		for (size_t k = 0; k < c->ntus && rel; k++)
			rebuilt |= !strcmp(c->tus[k].orig_obj + strlen(c->orig) + 1, rel);
		if (!rel || rebuilt || graft_obj_open(c->olog.recs[i].out, &o, NULL) < 0)
			continue;
		for (size_t s = 1; s < o->nsyms; s++)
			if (graft_obj_is_func(&o->syms[s]) && calls(o, s, fname, true)) {
				(void)graft_diff_problem(
					t->d,
					"'%s' in %s calls '%s', whose signature "
					"changed, but the rebuild did not recompile "
					"it (missing header dependency?)",
					o->syms[s].name, rel, fname);
				break;
			}
	}
	return 0;
}

int build_units_signatures(struct ctx *c, struct graft_err *err)
{
	for (size_t k = 0; k < c->ntus; k++) {
		struct tu *t = &c->tus[k];

		if (!t->osrc || !t->psrc)
			continue;
		for (size_t i = 0; i < t->psrc->nfuncs; i++) {
			const struct graft_src_func *nf = &t->psrc->funcs[i];
			const struct graft_src_func *of = graft_src_func(t->osrc, nf->name);
			int s;
			bool global = true;
			int r;

			if (!of || !strcmp(of->signature, nf->signature))
				continue;
			s = graft_obj_find(t->p, nf->name);
			if (s >= 0)
				global = t->p->syms[s].bind != STB_LOCAL;
			if ((r = pull_callers(c, t, nf->name, global, err)) < 0)
				return r;
		}
	}
	return 0;
}

int build_units_layouts(struct ctx *c, struct graft_err *err)
{
	for (size_t i = 0; i < c->udiff->nfiles; i++) {
		const struct graft_diff_file *f = &c->udiff->files[i];
		_cleanup_(graft_src_freep) struct graft_src *os = NULL;
		_cleanup_(graft_src_freep) struct graft_src *ns = NULL;

		if (!f->old_path || !f->new_path)
			continue;
		if (build_load_source(c->orig, f->old_path, &os) < 0 ||
		    build_load_source(c->patched, f->new_path, &ns) < 0)
			return graft_err_set(err, -ENOMEM, "out of memory");
		for (size_t k = 0; os && ns && k < os->nstructs; k++)
			for (size_t j = 0; j < ns->nstructs; j++)
				if (!strcmp(os->structs[k].name, ns->structs[j].name) &&
				    os->structs[k].body && ns->structs[j].body &&
				    strcmp(os->structs[k].body, ns->structs[j].body) != 0 &&
				    c->ntus)
					(void)graft_diff_problem(
						c->tus[0].d,
						"the fix changes the layout of '%s' (%s:%u): data "
						"of "
						"that type in the running process keeps the old "
						"layout",
						ns->structs[j].name, f->new_path,
						ns->structs[j].line);
	}
	return 0;
}
