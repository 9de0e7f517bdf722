/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The object differ, per translation unit (the model is kpatch's
 * create-diff-object, rewritten for userspace objects).
 *
 * Pairing. Symbols pair by canonical name (GCC's .isra.N / .constprop.N /
 * .part.N / static-local .N numbering taken off). Where a canonical name is
 * unique on both sides it pairs at once. Static locals that share a
 * canonical name ("count" in two functions) pair through the functions that
 * use them: the patched f's "count" is the original f's "count". Remaining
 * functions pair by equal contents, then by exact name, then in order.
 *
 * Comparison. Two symbols are equal when their bytes match with every
 * relocated field masked, and their relocations match one for one in
 * offset, type and what they point to. "What they point to" is a key that
 * does not depend on section or symbol numbering: the canonical name of a
 * function or object, the text of a string literal, the bytes of a merged
 * constant, or the name and contents of an anonymous section.
 *
 * Closure. The patch carries every changed and new function, and following
 * their relocations, every new data object, .cold part and anonymous
 * section they use. A reference to an unchanged function or existing data
 * resolves to the running target, so state stays where it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "build/diff.h"

#define KEY_MAX 512

static int add_msg(char ***arr, size_t *n, const char *fmt, va_list ap)
{
	char *m, **na;

	if (vasprintf(&m, fmt, ap) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*arr)[i], m)) {
			free(m);
			return 0;
		}
	na = realloc(*arr, (*n + 1) * sizeof(*na));
	if (!na) {
		free(m);
		return -ENOMEM;
	}
	na[(*n)++] = m;
	*arr = na;
	return 0;
}

int graft_diff_problem(struct graft_diff *d, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = add_msg(&d->problems, &d->nproblems, fmt, ap);
	va_end(ap);
	return r;
}

int graft_diff_note(struct graft_diff *d, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = add_msg(&d->notes, &d->nnotes, fmt, ap);
	va_end(ap);
	return r;
}

int graft_diff_owner(const struct graft_obj *o, uint32_t sym)
{
	const struct graft_obj_sym *s;
	const struct graft_obj_sec *sec;

	if (sym == 0 || sym >= o->nsyms)
		return -1;
	s = &o->syms[sym];
	if (graft_obj_is_func(s) || graft_obj_is_data(s))
		return (int)sym;
	sec = graft_obj_sym_sec(o, sym);
	if (!sec || (s->type != STT_SECTION && s->type != STT_NOTYPE))
		return -1;
	return sec->owner;
}

static uint64_t sec_hash(const struct graft_obj *o, const struct graft_obj_sec *sec, int depth);

/* A numbering-independent description of what a relocation points to. */
static void ref_key(const struct graft_obj *o, const struct graft_obj_rela *r, int depth, char *buf,
		    size_t cap)
{
	const struct graft_obj_sym *s = &o->syms[r->sym];
	const struct graft_obj_sec *sec = graft_obj_sym_sec(o, r->sym);
	int owner = graft_diff_owner(o, r->sym);
	int64_t t;

	if (r->sym == 0) {
		snprintf(buf, cap, "0%+" PRId64, r->addend);
		return;
	}
	if (s->shndx == SHN_UNDEF || !sec) {
		snprintf(buf, cap, "U:%s%+" PRId64, s->name, r->addend);
		return;
	}
	if (owner >= 0) {
		snprintf(buf, cap, "N:%s%+" PRId64, o->syms[owner].canon,
			 (int64_t)(s->value - o->syms[owner].value) + r->addend);
		return;
	}
	t = (int64_t)s->value + r->addend + (graft_obj_reloc_is_pcrel(r->type) ? 4 : 0);
	if ((sec->sh.sh_flags & SHF_STRINGS) && sec->data && t >= 0 &&
	    (uint64_t)t < sec->sh.sh_size) {
		int64_t start = t;
		size_t len;

		while (start > 0 && sec->data[start - 1] != '\0')
			start--;
		len = strnlen((const char *)sec->data + start, sec->sh.sh_size - (uint64_t)start);
		snprintf(buf, cap, "S:%016" PRIx64 "@%" PRId64,
			 graft_fnv1a(GRAFT_FNV1A_INIT, sec->data + start, len), t - start);
		return;
	}
	if ((sec->sh.sh_flags & SHF_MERGE) && sec->sh.sh_entsize && sec->data && t >= 0 &&
	    (uint64_t)t < sec->sh.sh_size) {
		uint64_t n = sec->sh.sh_entsize, at = (uint64_t)t / n * n;

		if (at + n > sec->sh.sh_size)
			n = sec->sh.sh_size - at;
		snprintf(buf, cap, "C:%016" PRIx64 "@%" PRIu64,
			 graft_fnv1a(GRAFT_FNV1A_INIT, sec->data + at, n), (uint64_t)t - at);
		return;
	}
	{
		_cleanup_free_ char *cn = graft_obj_canon(sec->name);

		snprintf(buf, cap, "A:%s%+" PRId64 "#%016" PRIx64, cn ? cn : sec->name,
			 (int64_t)s->value + r->addend,
			 depth > 0 ? sec_hash(o, sec, depth - 1) : 0);
	}
}

static uint64_t sec_hash(const struct graft_obj *o, const struct graft_obj_sec *sec, int depth)
{
	uint64_t h = GRAFT_FNV1A_INIT;
	char key[KEY_MAX];

	h = graft_fnv1a(h, &sec->sh.sh_size, sizeof(sec->sh.sh_size));
	if (sec->data) {
		/* relocated fields are covered by their keys below */
		size_t next = 0;

		for (size_t i = 0; i <= sec->nrela; i++) {
			size_t end = i < sec->nrela ? sec->rela[i].off : sec->sh.sh_size;

			if (end > next)
				h = graft_fnv1a(h, sec->data + next, end - next);
			if (i < sec->nrela) {
				size_t w = graft_obj_reloc_width(sec->rela[i].type);

				if (end + w > next)
					next = end + w;
			}
		}
	}
	for (size_t i = 0; i < sec->nrela; i++) {
		ref_key(o, &sec->rela[i], depth, key, sizeof(key));
		h = graft_fnv1a(h, &sec->rela[i].off, sizeof(sec->rela[i].off));
		h = graft_fnv1a(h, &sec->rela[i].type, sizeof(sec->rela[i].type));
		h = graft_fnv1a(h, key, strlen(key));
	}
	return h;
}

/* The relocations of sec that fall in [lo, hi), as an index range. */
static void rela_range(const struct graft_obj_sec *sec, uint64_t lo, uint64_t hi, size_t *b,
		       size_t *e)
{
	size_t i = 0;

	while (i < sec->nrela && sec->rela[i].off < lo)
		i++;
	*b = i;
	while (i < sec->nrela && sec->rela[i].off < hi)
		i++;
	*e = i;
}

static bool is_masked(const struct graft_obj_sec *sec, size_t b, size_t e, uint64_t off)
{
	for (size_t i = b; i < e; i++)
		if (off >= sec->rela[i].off &&
		    off < sec->rela[i].off + graft_obj_reloc_width(sec->rela[i].type))
			return true;
	return false;
}

static bool sym_equal(const struct graft_obj *o, size_t os, const struct graft_obj *p, size_t ps)
{
	const struct graft_obj_sym *a = &o->syms[os], *b = &p->syms[ps];
	const struct graft_obj_sec *as = graft_obj_sym_sec(o, (uint32_t)os);
	const struct graft_obj_sec *bs = graft_obj_sym_sec(p, (uint32_t)ps);
	size_t ab, ae, bb, be;
	char ka[KEY_MAX], kb[KEY_MAX];

	if (!as || !bs || a->size != b->size || a->type != b->type)
		return false;
	if (!as->data || !bs->data)
		return !as->data && !bs->data;
	if (a->value + a->size > as->sh.sh_size || b->value + b->size > bs->sh.sh_size)
		return false;
	rela_range(as, a->value, a->value + a->size, &ab, &ae);
	rela_range(bs, b->value, b->value + b->size, &bb, &be);
	if (ae - ab != be - bb)
		return false;
	for (size_t i = 0; i < ae - ab; i++) {
		const struct graft_obj_rela *ra = &as->rela[ab + i], *rb = &bs->rela[bb + i];

		if (ra->off - a->value != rb->off - b->value || ra->type != rb->type)
			return false;
		ref_key(o, ra, 2, ka, sizeof(ka));
		ref_key(p, rb, 2, kb, sizeof(kb));
		if (strcmp(ka, kb) != 0)
			return false;
	}
	for (uint64_t k = 0; k < a->size; k++)
		if (as->data[a->value + k] != bs->data[b->value + k] &&
		    !is_masked(as, ab, ae, a->value + k))
			return false;
	return true;
}

static bool same_class(const struct graft_obj_sym *a, const struct graft_obj_sym *b)
{
	return (graft_obj_is_func(a) && graft_obj_is_func(b)) ||
	       (graft_obj_is_data(a) && graft_obj_is_data(b));
}

static bool pairable(const struct graft_obj_sym *s)
{
	return (graft_obj_is_func(s) || graft_obj_is_data(s)) && s->shndx < SHN_LORESERVE;
}

static size_t count_canon(const struct graft_obj *o, const struct graft_obj_sym *like)
{
	size_t n = 0;

	for (size_t i = 1; i < o->nsyms; i++)
		if (pairable(&o->syms[i]) && same_class(&o->syms[i], like) &&
		    !strcmp(o->syms[i].canon, like->canon))
			n++;
	return n;
}

/* Does function f (its section) refer to symbol s, directly or through its section? */
static bool refers_to(const struct graft_obj *o, size_t f, size_t s)
{
	const struct graft_obj_sec *sec = graft_obj_sym_sec(o, (uint32_t)f);

	if (!sec)
		return false;
	for (size_t i = 0; i < sec->nrela; i++)
		if (graft_diff_owner(o, sec->rela[i].sym) == (int)s)
			return true;
	return false;
}

/* Pair a static local through the functions that use it. */
static int pair_by_user(struct graft_diff *d, size_t ps, bool *used)
{
	struct graft_obj *o = d->o, *p = d->p;
	int found = -1;
	bool ambiguous = false, any_paired_user = false;

	for (size_t f = 1; f < p->nsyms; f++) {
		if (!graft_obj_is_func(&p->syms[f]) || d->pair[f] < 0 || !refers_to(p, f, ps))
			continue;
		any_paired_user = true;
		for (size_t j = 1; j < o->nsyms; j++) {
			if (used[j] || !pairable(&o->syms[j]) ||
			    !same_class(&o->syms[j], &p->syms[ps]) ||
			    strcmp(o->syms[j].canon, p->syms[ps].canon) != 0 ||
			    !refers_to(o, (size_t)d->pair[f], j))
				continue;
			if (found >= 0 && found != (int)j)
				ambiguous = true;
			found = (int)j;
		}
		if (found >= 0)
			break;
	}
	if (ambiguous)
		return graft_diff_problem(d,
					  "static local '%s' cannot be paired with the running "
					  "program's: several candidates",
					  p->syms[ps].name) < 0
			       ? -ENOMEM
			       : -1;
	(void)any_paired_user;
	return found;
}

static void set_pair(struct graft_diff *d, bool *used, size_t ps, size_t os)
{
	d->pair[ps] = (int)os;
	used[os] = true;
}

static int pair_all(struct graft_diff *d)
{
	struct graft_obj *o = d->o, *p = d->p;
	_cleanup_free_ bool *used = calloc(o->nsyms, sizeof(bool));

	if (!used)
		return -ENOMEM;
	/* 1: unique canonical names */
	for (size_t i = 1; i < p->nsyms; i++) {
		if (!pairable(&p->syms[i]) || count_canon(p, &p->syms[i]) != 1 ||
		    count_canon(o, &p->syms[i]) != 1)
			continue;
		for (size_t j = 1; j < o->nsyms; j++)
			if (!used[j] && pairable(&o->syms[j]) &&
			    same_class(&o->syms[j], &p->syms[i]) &&
			    !strcmp(o->syms[j].canon, p->syms[i].canon)) {
				set_pair(d, used, i, j);
				break;
			}
	}
	/*
	 * 2: functions by equal contents, then by exact name, then in order:
	 * content first, so a new clone that takes over an old clone's number
	 * (sq.constprop.0 now for another constant) is not taken for it
	 */
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 1; i < p->nsyms; i++) {
			if (d->pair[i] >= 0 || !graft_obj_is_func(&p->syms[i]))
				continue;
			for (size_t j = 1; j < o->nsyms; j++) {
				if (used[j] || !graft_obj_is_func(&o->syms[j]) ||
				    strcmp(o->syms[j].canon, p->syms[i].canon) != 0)
					continue;
				if ((pass == 0 && sym_equal(o, j, p, i)) ||
				    (pass == 1 && !strcmp(o->syms[j].name, p->syms[i].name)) ||
				    pass == 2) {
					set_pair(d, used, i, j);
					break;
				}
			}
		}
	/* 3: data through the functions that use it (static locals) */
	for (size_t i = 1; i < p->nsyms; i++) {
		int j;

		if (d->pair[i] >= 0 || !graft_obj_is_data(&p->syms[i]) ||
		    count_canon(o, &p->syms[i]) == 0)
			continue;
		j = pair_by_user(d, i, used);
		if (j == -ENOMEM)
			return -ENOMEM;
		if (j >= 0)
			set_pair(d, used, i, (size_t)j);
	}
	return 0;
}

static void removed_statics(struct graft_diff *d)
{
	struct graft_obj *o = d->o, *p = d->p;
	_cleanup_free_ bool *paired = calloc(o->nsyms, sizeof(bool));

	if (!paired)
		return;
	for (size_t i = 1; i < p->nsyms; i++)
		if (d->pair[i] >= 0)
			paired[d->pair[i]] = true;
	for (size_t j = 1; j < o->nsyms; j++) {
		const struct graft_obj_sym *s = &o->syms[j];

		if (paired[j] || !graft_obj_is_data(s) || s->bind != STB_LOCAL)
			continue;
		for (size_t f = 1; f < p->nsyms; f++)
			if (graft_obj_is_func(&p->syms[f]) && d->pair[f] >= 0 &&
			    refers_to(o, (size_t)d->pair[f], j)) {
				(void)graft_diff_note(d,
						      "the fix removes the only use of '%s' (in "
						      "'%s'): the running process keeps it, unused",
						      s->canon, p->syms[f].name);
				break;
			}
	}
}

int graft_diff_compare(struct graft_obj *o, struct graft_obj *p, struct graft_diff **out,
		       struct graft_err *err)
{
	_cleanup_(graft_diff_freep) struct graft_diff *d = calloc(1, sizeof(*d));

	if (!d)
		return graft_err_set(err, -ENOMEM, "out of memory");
	d->o = o;
	d->p = p;
	d->pair = malloc(p->nsyms * sizeof(int));
	d->ref_orig = malloc(p->nsyms * sizeof(int));
	d->state = calloc(p->nsyms, 1);
	d->ref = calloc(p->nsyms, 1);
	d->why = calloc(p->nsyms, sizeof(char *));
	d->include = calloc(p->nsecs, sizeof(bool));
	if (!d->pair || !d->ref_orig || !d->state || !d->ref || !d->why || !d->include)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nsyms; i++)
		d->pair[i] = d->ref_orig[i] = -1;
	if (pair_all(d) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 1; i < p->nsyms; i++) {
		const struct graft_obj_sym *s = &p->syms[i];

		if (!pairable(s))
			continue;
		if (d->pair[i] < 0) {
			d->state[i] = GRAFT_DIFF_NEW;
			continue;
		}
		if (sym_equal(o, (size_t)d->pair[i], p, i)) {
			d->state[i] = GRAFT_DIFF_SAME;
			continue;
		}
		d->state[i] = GRAFT_DIFF_CHANGED;
		if (graft_obj_is_func(s)) {
			if (!(d->why[i] = strdup("its code changed")))
				return graft_err_set(err, -ENOMEM, "out of memory");
		}
	}
	removed_statics(d);
	*out = TAKE_PTR(d);
	return 0;
}

int graft_diff_force(struct graft_diff *d, int psym, const char *why)
{
	char *w = strdup(why);

	if (!w)
		return -ENOMEM;
	free(d->why[psym]);
	d->why[psym] = w;
	d->state[psym] = GRAFT_DIFF_CHANGED;
	return 0;
}

void graft_diff_unchange(struct graft_diff *d, int psym)
{
	if (d->state[psym] != GRAFT_DIFF_CHANGED)
		return;
	d->state[psym] = GRAFT_DIFF_SAME;
	free(d->why[psym]);
	d->why[psym] = NULL;
}

bool graft_diff_is_listed_func(const struct graft_diff *d, size_t psym)
{
	return graft_obj_is_func(&d->p->syms[psym]) && !graft_obj_is_cold(&d->p->syms[psym]);
}

/* Has the original function already run for good: main, constructors? */
static bool is_startup(const struct graft_obj *o, size_t os)
{
	const struct graft_obj_sec *sec = graft_obj_sym_sec(o, (uint32_t)os);

	if (!strcmp(o->syms[os].name, "main") || (sec && !strncmp(sec->name, ".text.startup", 13)))
		return true;
	for (size_t i = 1; i < o->nsecs; i++) {
		const char *n = o->secs[i].name;

		if (strncmp(n, ".init_array", 11) != 0 && strncmp(n, ".preinit_array", 14) != 0 &&
		    strncmp(n, ".ctors", 6) != 0)
			continue;
		for (size_t k = 0; k < o->secs[i].nrela; k++)
			if (graft_diff_owner(o, o->secs[i].rela[k].sym) == (int)os)
				return true;
	}
	return false;
}

static int include_sec(struct graft_diff *d, size_t sec, size_t **work, size_t *nwork, size_t *cap)
{
	if (sec == 0 || sec >= d->p->nsecs || d->include[sec])
		return 0;
	d->include[sec] = true;
	if (graft_grow((void **)work, cap, *nwork + 1, sizeof(**work)) < 0)
		return -ENOMEM;
	(*work)[(*nwork)++] = sec;
	return 0;
}

int graft_diff_close(struct graft_diff *d, struct graft_err *err)
{
	struct graft_obj *p = d->p;
	_cleanup_free_ size_t *work = NULL;
	size_t nwork = 0, cap = 0;

	for (size_t i = 1; i < p->nsyms; i++) {
		const struct graft_obj_sym *s = &p->syms[i];

		if (!graft_obj_is_func(s) || graft_obj_is_cold(s) ||
		    (d->state[i] != GRAFT_DIFF_CHANGED && d->state[i] != GRAFT_DIFF_NEW))
			continue;
		if (s->value != 0)
			return graft_err_setk(err, GRAFT_ERR_UNSAFE, -EINVAL,
					      "'%s': function '%s' does not start its section "
					      "(compiled without -ffunction-sections?)",
					      p->path, s->name);
		if (d->state[i] == GRAFT_DIFF_CHANGED && is_startup(d->o, (size_t)d->pair[i]))
			(void)graft_diff_problem(d,
						 "function '%s' runs only at startup (main or a "
						 "constructor): it has already run",
						 s->name);
		if (include_sec(d, s->shndx, &work, &nwork, &cap) < 0)
			return graft_err_set(err, -ENOMEM, "out of memory");
		d->ref[i] = GRAFT_DIFF_REF_INCLUDED;
	}
	for (size_t i = 1; i < p->nsyms; i++) {
		const struct graft_obj_sym *s = &p->syms[i];
		const struct graft_obj_sym *os;

		if (!graft_obj_is_data(s) || d->state[i] != GRAFT_DIFF_CHANGED)
			continue;
		os = &d->o->syms[d->pair[i]];
		if (os->size != s->size)
			(void)graft_diff_problem(d,
						 "data '%s' changes size (%" PRIu64 " -> %" PRIu64
						 " bytes): existing data cannot change live",
						 s->canon, os->size, s->size);
		else
			(void)graft_diff_problem(d,
						 "data '%s' changes its initial value: the running "
						 "process already has its own copy",
						 s->canon);
	}
	while (nwork) {
		const struct graft_obj_sec *sec = &p->secs[work[--nwork]];

		for (size_t k = 0; k < sec->nrela; k++) {
			uint32_t si = sec->rela[k].sym;
			const struct graft_obj_sym *s = &p->syms[si];
			const struct graft_obj_sec *ts = graft_obj_sym_sec(p, si);
			int owner = graft_diff_owner(p, si);
			bool carry;

			if (si == 0)
				continue;
			if (s->shndx == SHN_UNDEF) {
				d->ref[si] = GRAFT_DIFF_REF_UNDEF;
				continue;
			}
			if (!ts) /* absolute */
				continue;
			if (owner < 0) {
				carry = true;
				if ((ts->sh.sh_flags & SHF_WRITE) && !d->include[s->shndx])
					(void)graft_diff_note(d,
							      "anonymous writable data in %s is "
							      "copied fresh into the patch",
							      ts->name);
			} else if (graft_obj_is_cold(&p->syms[owner])) {
				carry = true;
			} else {
				carry = d->state[owner] == GRAFT_DIFF_NEW ||
					(graft_obj_is_func(&p->syms[owner]) &&
					 d->state[owner] == GRAFT_DIFF_CHANGED);
				if (carry && p->syms[owner].type == STT_TLS)
					(void)graft_diff_problem(
						d,
						"new thread-local variable '%s' cannot be added "
						"live",
						p->syms[owner].name);
			}
			if (carry) {
				d->ref[si] = GRAFT_DIFF_REF_INCLUDED;
				if (owner >= 0)
					d->ref[owner] = GRAFT_DIFF_REF_INCLUDED;
				if (include_sec(d, s->shndx, &work, &nwork, &cap) < 0)
					return graft_err_set(err, -ENOMEM, "out of memory");
			} else {
				d->ref[si] = GRAFT_DIFF_REF_ORIG;
				d->ref_orig[si] = d->pair[owner];
			}
		}
	}
	return 0;
}

void graft_diff_free(struct graft_diff *d)
{
	if (!d)
		return;
	if (d->why && d->p)
		for (size_t i = 0; i < d->p->nsyms; i++)
			free(d->why[i]);
	for (size_t i = 0; i < d->nproblems; i++)
		free(d->problems[i]);
	for (size_t i = 0; i < d->nnotes; i++)
		free(d->notes[i]);
	free(d->problems);
	free(d->notes);
	free(d->why);
	free(d->pair);
	free(d->ref_orig);
	free(d->state);
	free(d->ref);
	free(d->include);
	free(d);
}
