/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * From diffed units to a patch file: each original symbol the patch needs
 * is found in its target (by source file, then by bytes where names repeat),
 * each replaced function is checked against the target's bytes (build-time
 * run-pre), the patch object and its manifest are written (one block per
 * target) and graft_pack turns them into the patch file.
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
#include "build/emit.h"
#include "patch/format.h"
#include "patch/pack.h"

/* ---- target resolution ---------------------------------------------------- */

/* The target symbol for original symbol os of t; for functions prefer a byte match. */
static int map_orig(struct ctx *c, struct tu *t, size_t os, bool need_match, size_t *ti,
		    struct graft_err *err)
{
	size_t idx[CAND_MAX], n;
	const struct graft_obj_sym *s = &t->o->syms[os];
	uint64_t at = 0, first_at = 0;
	int r, ps;

	n = graft_target_candidates(t->t, t->o->file, s, idx, CAND_MAX);
	if (n == 0)
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOENT,
				      "the build does not reproduce %s: '%s' (%s) is not in it",
				      t->t->path, s->name, t->o->file);
	if (n > CAND_MAX)
		n = CAND_MAX;
	if (!graft_obj_is_func(s)) {
		if (n > 1)
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EINVAL,
					      "cannot tell which of %zu '%s' in %s of %s is meant",
					      n, s->name, t->o->file, t->t->path);
		*ti = idx[0];
		return 0;
	}
	if (!need_match && n == 1) {
		*ti = idx[0];
		return 0;
	}
	if ((r = build_ensure_plain(c, t, err)) < 0)
		return r;
	ps = graft_obj_find(t->plain, s->name);
	if (ps < 0 || !graft_obj_is_func(&t->plain->syms[ps]))
		return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOENT,
				      "the build does not reproduce %s: '%s' is missing when %s is "
				      "compiled as the build does",
				      t->t->path, s->name, t->rel);
	for (size_t k = 0; k < n; k++) {
		r = graft_target_match(t->t, idx[k], t->plain, (size_t)ps, &at, err);
		if (r < 0)
			return r;
		if (r == 0) {
			*ti = idx[k];
			return 0;
		}
		if (k == 0)
			first_at = at;
	}
	return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EINVAL,
			      "the build does not reproduce %s: function '%s' differs at offset "
			      "%" PRIu64 " (different compiler or flags?)",
			      t->t->path, t->t->syms[idx[0]].name, first_at);
}

static int resolve_ref(void *vctx, const struct graft_emit_unit *u, uint32_t psym,
		       struct graft_emit_bind *b, struct graft_err *err)
{
	struct tu *t = vctx;
	const struct graft_diff *d = u->d;
	const struct graft_obj_sym *s = &d->p->syms[psym];
	size_t ti;
	int r;

	if (d->ref[psym] == GRAFT_DIFF_REF_UNDEF) {
		int g = graft_target_global(t->t, s->name);

		for (size_t k = 0; g < 0 && k < t->c->ntus; k++) {
			const struct tu *o = &t->c->tus[k];
			int ds = o->t != t->t && o->d ? graft_obj_find(o->p, s->name) : -1;

			if (ds >= 0 && o->d->state[ds] == GRAFT_DIFF_NEW &&
			    o->p->syms[ds].bind != STB_LOCAL)
				return graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOTSUP,
						      "'%s' is new in %s and called from %s: new "
						      "code cannot be called across targets",
						      s->name, o->t ? o->t->path : o->rel,
						      t->t->path);
		}
		if (g < 0 || !strcmp(s->name, "_GLOBAL_OFFSET_TABLE_")) {
			b->kind = GRAFT_EMIT_EXTERN;
			b->name = s->name;
		} else {
			b->kind = GRAFT_EMIT_TARGET;
			b->name = t->t->syms[g].name;
			b->offset = t->t->syms[g].value;
		}
		return 0;
	}
	r = map_orig(t->c, t, (size_t)d->ref_orig[psym], false, &ti, err);
	if (r < 0)
		return r;
	b->kind = GRAFT_EMIT_TARGET;
	b->name = t->t->syms[ti].name;
	{
		int owner = graft_diff_owner(d->p, psym);

		b->offset = t->t->syms[ti].value +
			    (owner >= 0 ? s->value - d->p->syms[owner].value : 0);
	}
	return 0;
}

int build_add_func(struct graft_build_func **arr, size_t *n, const char *name, const char *file,
		   const char *target, const char *why, uint64_t addr, uint64_t size)
{
	struct graft_build_func *na = realloc(*arr, (*n + 1) * sizeof(*na));

	if (!na)
		return -ENOMEM;
	*arr = na;
	na[*n] = (struct graft_build_func){.name = strdup(name),
					   .file = strdup(file),
					   .target = target ? strdup(target) : NULL,
					   .why = why ? strdup(why) : NULL,
					   .addr = addr,
					   .size = size};
	if (!na[*n].name || !na[*n].file)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* ---- emission ------------------------------------------------------------- */

int build_emit(struct ctx *c, struct graft_err *err)
{
	struct graft_build_result *res = c->res;
	_cleanup_free_ struct graft_emit_unit *units =
		calloc(c->ntus ? c->ntus : 1, sizeof(*units));
	_cleanup_free_ size_t *unit_tu = calloc(c->ntus ? c->ntus : 1, sizeof(size_t));
	_cleanup_free_ char *outdir = build_join(c->dir, "out"), *obj = NULL, *man = NULL;
	_cleanup_free_ size_t *rep_of_unit = calloc(c->ntus + 1, sizeof(size_t));
	struct graft_target *tl[GRAFT_BUILD_TARGETS_MAX];
	char *btext[GRAFT_BUILD_TARGETS_MAX] = {0};
	size_t blen[GRAFT_BUILD_TARGETS_MAX] = {0};
	FILE *blocks[GRAFT_BUILD_TARGETS_MAX] = {0};
	struct graft_pack_summary sum;
	size_t nu = 0, nt = 0, objsize = 0;
	FILE *mf = NULL;
	int r = 0;

	if (!units || !unit_tu || !outdir || !rep_of_unit)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t k = 0; k < c->ntus; k++) {
		struct tu *t = &c->tus[k];
		bool any = false;
		size_t ti = 0;

		for (size_t i = 1; i < t->p->nsyms; i++)
			any |= graft_diff_is_listed_func(t->d, i) &&
			       (t->d->state[i] == GRAFT_DIFF_CHANGED);
		if (!any)
			continue;
		if (!t->t) {
			(void)graft_diff_note(
				t->d, "%s changed but is in none of the targets: ignored", t->rel);
			continue;
		}
		while (ti < nt && tl[ti] != t->t)
			ti++;
		if (ti == nt)
			tl[nt++] = t->t;
		units[nu] = (struct graft_emit_unit){
			.d = t->d, .target = (unsigned)ti, .resolve = resolve_ref, .ctx = t};
		unit_tu[nu++] = k;
	}
	if (!nu)
		return graft_err_setk(err, GRAFT_ERR_NOOP, -ENODATA,
				      "the fix changes no function of %s",
				      c->opts->ntargets == 1 ? c->opts->targets[0] : "the targets");
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST)
		return graft_err_set(err, -errno, "cannot create '%s'", outdir);
	if (!(obj = build_join(outdir, "patch.o")) || !(man = build_join(outdir, "patch.manifest")))
		return graft_err_set(err, -ENOMEM, "out of memory");
	/* replacements, each checked against the target's bytes (build-time run-pre) */
	for (size_t u = 0; u < nu && r >= 0; u++) {
		struct tu *t = &c->tus[unit_tu[u]];

		rep_of_unit[u] = res->nreplaced;
		for (size_t i = 1; i < t->p->nsyms; i++) {
			size_t ti;

			if (!graft_diff_is_listed_func(t->d, i))
				continue;
			if (t->d->state[i] == GRAFT_DIFF_NEW && t->d->ref[i]) {
				r = build_add_func(&res->added, &res->nadded, t->p->syms[i].name,
						   t->o->file, t->t->path, NULL, 0,
						   t->p->syms[i].size);
				continue;
			}
			if (t->d->state[i] != GRAFT_DIFF_CHANGED)
				continue;
			if ((r = map_orig(c, t, (size_t)t->d->pair[i], true, &ti, err)) < 0)
				break;
			r = build_add_func(&res->replaced, &res->nreplaced, t->t->syms[ti].name,
					   t->o->file, t->t->path, t->d->why[i],
					   t->t->syms[ti].value, t->t->syms[ti].size);
		}
		for (size_t i = 1; i < t->p->nsyms && r >= 0; i++)
			if (graft_obj_is_data(&t->p->syms[i]) && t->d->state[i] == GRAFT_DIFF_NEW &&
			    t->d->ref[i])
				r = build_add_func(&res->data, &res->ndata, t->p->syms[i].canon,
						   t->o->file, t->t->path, NULL, 0,
						   t->p->syms[i].size);
	}
	rep_of_unit[nu] = res->nreplaced;
	if (r < 0)
		return err && err->msg[0] ? r : graft_err_set(err, r, "out of memory");
	for (size_t k = 0; k < nt; k++)
		if (!(blocks[k] = open_memstream(&btext[k], &blen[k]))) {
			r = graft_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	r = graft_emit(units, nu, obj, blocks, &objsize, err);
	if (r < 0)
		goto out;
	for (size_t k = 0; k < nt; k++) {
		/* replace lines need the emitted names */
		for (size_t u = 0; u < nu; u++) {
			struct tu *t = &c->tus[unit_tu[u]];
			size_t at = rep_of_unit[u];

			if (units[u].target != k)
				continue;
			for (size_t i = 1; i < t->p->nsyms; i++) {
				if (!graft_diff_is_listed_func(t->d, i) ||
				    t->d->state[i] != GRAFT_DIFF_CHANGED)
					continue;
				fprintf(blocks[k], "replace %s@0x%" PRIx64 " %s\n",
					res->replaced[at].name, res->replaced[at].addr,
					units[u].out_name[i]);
				at++;
			}
		}
		if (fclose(blocks[k]) != 0) {
			blocks[k] = NULL;
			r = graft_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		blocks[k] = NULL;
	}
	mf = fopen(man, "we");
	if (!mf) {
		r = graft_err_set(err, -errno, "cannot write '%s'", man);
		goto out;
	}
	fprintf(mf, "# written by graft build\nid %s\nobject %s\n", res->id, obj);
	if (c->opts->description)
		fprintf(mf, "description %s\n", c->opts->description);
	for (size_t i = 0; i < c->opts->ncves; i++)
		fprintf(mf, "cve %s\n", c->opts->cves[i]);
	for (size_t k = 0; k < nt; k++) {
		fprintf(mf, "\ntarget %s\n", tl[k]->path);
		if (strcmp(tl[k]->sym_path, tl[k]->path) != 0)
			fprintf(mf, "symbols %s\n", tl[k]->sym_path);
		fwrite(btext[k], 1, blen[k], mf);
	}
	if (fclose(mf) != 0) {
		mf = NULL;
		r = graft_err_set(err, -EIO, "cannot write '%s'", man);
		goto out;
	}
	mf = NULL;
	r = graft_pack(man, res->out, &sum, err);
	if (r >= 0)
		res->size = sum.size;
out:
	for (size_t u = 0; u < nu; u++)
		graft_emit_unit_release(&units[u]);
	for (size_t k = 0; k < nt; k++) {
		if (blocks[k])
			(void)fclose(blocks[k]);
		free(btext[k]);
	}
	if (mf)
		(void)fclose(mf);
	return r;
}
