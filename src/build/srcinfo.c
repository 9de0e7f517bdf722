/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Source text heuristics for the builder (see srcinfo.h).
 *
 * The C scanner first blanks comments and the insides of string and
 * character literals (newlines kept, so line numbers hold), then walks the
 * text at brace depth 0 collecting the declaration in front of each '{'.
 * One with a parameter list and no '=' is a function definition; one that
 * is just "struct NAME" or "union NAME" is a struct body. Preprocessor
 * lines are skipped at depth 0.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "build/srcinfo.h"

static void strip_path(const char *p, unsigned strip, char **out)
{
	size_t n;

	*out = NULL;
	n = strcspn(p, "\t\n");
	if (n == 9 && !strncmp(p, "/dev/null", 9))
		return;
	for (unsigned i = 0; i < strip; i++) {
		const char *s = memchr(p, '/', n);

		if (!s)
			break;
		n -= (size_t)(s + 1 - p);
		p = s + 1;
	}
	*out = strndup(p, n);
}

static int push_line(unsigned **arr, size_t *n, unsigned line)
{
	unsigned *na;

	if (*n && (*arr)[*n - 1] == line)
		return 0;
	na = realloc(*arr, (*n + 1) * sizeof(*na));
	if (!na)
		return -ENOMEM;
	na[(*n)++] = line;
	*arr = na;
	return 0;
}

void graft_udiff_free(struct graft_udiff *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->nfiles; i++) {
		free(u->files[i].old_path);
		free(u->files[i].new_path);
		free(u->files[i].new_lines);
		free(u->files[i].old_lines);
	}
	free(u->files);
	free(u);
}

int graft_udiff_parse(const char *text, unsigned strip, struct graft_udiff **out,
		      struct graft_err *err)
{
	_cleanup_(graft_udiff_freep) struct graft_udiff *u = calloc(1, sizeof(*u));
	struct graft_diff_file *f = NULL;
	unsigned oline = 0, nline = 0, oleft = 0, nleft = 0;

	if (!u)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (const char *l = text; l && *l;) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);

		if ((oleft || nleft) && len > 0 && strchr(" +-", l[0])) {
			int r = 0;

			if (l[0] == ' ') {
				oline++, nline++, oleft--, nleft--;
			} else if (l[0] == '-') {
				r = push_line(&f->old_lines, &f->nold, oline);
				if (!r)
					r = push_line(&f->new_lines, &f->nnew, nline ? nline : 1);
				oline++, oleft--;
			} else {
				r = push_line(&f->new_lines, &f->nnew, nline);
				nline++, nleft--;
			}
			if (r < 0)
				return graft_err_set(err, -ENOMEM, "out of memory");
		} else if (len == 0 && (oleft || nleft)) {
			/* an empty context line whose leading space was eaten */
			oline++, nline++, oleft--, nleft--;
		} else if (!strncmp(l, "--- ", 4) && eol && !strncmp(eol + 1, "+++ ", 4)) {
			struct graft_diff_file *nf =
				realloc(u->files, (u->nfiles + 1) * sizeof(*nf));

			if (!nf)
				return graft_err_set(err, -ENOMEM, "out of memory");
			u->files = nf;
			f = &u->files[u->nfiles++];
			memset(f, 0, sizeof(*f));
			strip_path(l + 4, strip, &f->old_path);
			strip_path(eol + 5, strip, &f->new_path);
			eol = strchr(eol + 1, '\n');
		} else if (!strncmp(l, "@@ -", 4) && f) {
			unsigned os = 1, ns = 1;
			const char *p = l + 4;
			char *e;

			oline = (unsigned)strtoul(p, &e, 10);
			if (*e == ',')
				os = (unsigned)strtoul(e + 1, &e, 10);
			p = strstr(e, " +");
			if (!p)
				return graft_err_set(err, -EINVAL, "malformed hunk header: %.*s",
						     (int)len, l);
			nline = (unsigned)strtoul(p + 2, &e, 10);
			if (*e == ',')
				ns = (unsigned)strtoul(e + 1, &e, 10);
			oleft = os;
			nleft = ns;
			if (os == 0)
				oline++;
			if (ns == 0)
				nline++;
		}
		l = eol ? eol + 1 : NULL;
	}
	if (!u->nfiles)
		return graft_err_set(err, -EINVAL, "no file changes found (is it a unified diff?)");
	*out = TAKE_PTR(u);
	return 0;
}

const struct graft_diff_file *graft_udiff_find(const struct graft_udiff *u, const char *path)
{
	size_t pl = strlen(path);

	for (size_t i = 0; i < u->nfiles; i++) {
		const char *n = u->files[i].new_path ? u->files[i].new_path : u->files[i].old_path;
		size_t nl = n ? strlen(n) : 0;

		/* path may be longer (absolute): match on a path-component boundary */
		if (n && nl <= pl && !strcmp(path + pl - nl, n) &&
		    (nl == pl || path[pl - nl - 1] == '/'))
			return &u->files[i];
	}
	return NULL;
}

/* Blank comments and literal contents, keeping newlines. */
static char *clean_c(const char *t)
{
	size_t n = strlen(t);
	char *c = strdup(t);

	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (c[i] == '/' && c[i + 1] == '*') {
			size_t j = i;

			while (j < n && !(c[j] == '*' && c[j + 1] == '/'))
				j++;
			for (size_t k = i; k < j + 2 && k < n; k++)
				if (c[k] != '\n')
					c[k] = ' ';
			i = j + 1;
		} else if (c[i] == '/' && c[i + 1] == '/') {
			while (i < n && c[i] != '\n')
				c[i++] = ' ';
		} else if (c[i] == '"' || c[i] == '\'') {
			char q = c[i];

			for (i++; i < n && c[i] != q && c[i] != '\n'; i++) {
				if (c[i] == '\\' && i + 1 < n)
					c[i++] = ' ';
				c[i] = ' ';
			}
		}
	}
	return c;
}

static char *collapse(const char *b, size_t n)
{
	char *o = malloc(n + 1);
	size_t k = 0;
	bool sp = false;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)b[i])) {
			sp = k > 0;
			continue;
		}
		if (sp)
			o[k++] = ' ';
		sp = false;
		o[k++] = b[i];
	}
	o[k] = '\0';
	return o;
}

/* Drop GNU __attribute__((...)) groups: their parentheses are no parameter list. */
static void drop_attributes(char *d)
{
	static const char kw[] = "__attribute__";
	char *a;

	while ((a = strstr(d, kw))) {
		char *p = a + sizeof(kw) - 1;
		int depth = 0;

		while (*p == ' ')
			p++;
		if (*p != '(')
			break;
		do {
			if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			p++;
		} while (*p && depth > 0);
		while (*p == ' ')
			p++;
		memmove(a, p, strlen(p) + 1);
	}
}

static char *func_name(const char *decl)
{
	const char *p = strchr(decl, '('), *e;

	if (!p)
		return NULL;
	while (p > decl && isspace((unsigned char)p[-1]))
		p--;
	e = p;
	while (p > decl && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
		p--;
	if (p == e || isdigit((unsigned char)*p))
		return NULL;
	return strndup(p, (size_t)(e - p));
}

static bool is_keyword_decl(const char *decl, const char *kw)
{
	size_t n = strlen(kw);

	if (!strncmp(decl, "typedef ", 8))
		decl += 8;
	return !strncmp(decl, kw, n) && decl[n] == ' ';
}

/* "struct NAME" or "typedef union NAME": a named body we can compare. */
static bool is_struct_head(const char *d)
{
	const char *sp;

	if (!is_keyword_decl(d, "struct") && !is_keyword_decl(d, "union"))
		return false;
	if (!strncmp(d, "typedef ", 8))
		d += 8;
	sp = strchr(d, ' ');
	return sp && sp[1] && !strpbrk(sp + 1, " (=*");
}

void graft_src_free(struct graft_src *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfuncs; i++) {
		free(s->funcs[i].name);
		free(s->funcs[i].signature);
	}
	for (size_t i = 0; i < s->nstructs; i++) {
		free(s->structs[i].name);
		free(s->structs[i].body);
	}
	free(s->funcs);
	free(s->structs);
	free(s);
}

int graft_src_scan(const char *text, struct graft_src **out)
{
	_cleanup_(graft_src_freep) struct graft_src *s = calloc(1, sizeof(*s));
	_cleanup_free_ char *c = clean_c(text);
	size_t n, decl = 0, body = 0;
	unsigned line = 1, decl_line = 0;
	int depth = 0, kind = 0; /* 1 function, 2 struct */
	bool bol = true, have_decl = false;

	if (!s || !c)
		return -ENOMEM;
	n = strlen(c);
	for (size_t i = 0; i < n; i++) {
		char ch = c[i];

		if (ch == '\n') {
			line++;
			bol = true;
			continue;
		}
		if (bol && ch == '#' && depth == 0) {
			while (i < n && !(c[i] == '\n' && c[i - 1] != '\\'))
				i++;
			i--;
			have_decl = false;
			continue;
		}
		if (!isspace((unsigned char)ch))
			bol = false;
		if (depth == 0) {
			if (ch == ';' || ch == '}') {
				have_decl = false;
				continue;
			}
			if (ch != '{') {
				if (!have_decl && !isspace((unsigned char)ch)) {
					have_decl = true;
					decl = i;
					decl_line = line;
				}
				continue;
			}
			/* '{' at depth 0: what does it open? */
			kind = 0;
			if (have_decl) {
				_cleanup_free_ char *d = collapse(c + decl, i - decl);

				if (!d)
					return -ENOMEM;
				drop_attributes(d);
				if (!strchr(d, '=') && strchr(d, '(') &&
				    !is_keyword_decl(d, "struct") && !is_keyword_decl(d, "union") &&
				    !is_keyword_decl(d, "enum")) {
					struct graft_src_func *nf =
						realloc(s->funcs, (s->nfuncs + 1) * sizeof(*nf));

					if (!nf)
						return -ENOMEM;
					s->funcs = nf;
					nf[s->nfuncs] =
						(struct graft_src_func){.name = func_name(d),
									.first = decl_line,
									.signature = TAKE_PTR(d)};
					if (nf[s->nfuncs].name) {
						s->nfuncs++;
						kind = 1;
					} else {
						free(nf[s->nfuncs].signature);
					}
				} else if (is_struct_head(d)) {
					struct graft_src_struct *ns = realloc(
						s->structs, (s->nstructs + 1) * sizeof(*ns));

					if (!ns)
						return -ENOMEM;
					s->structs = ns;
					ns[s->nstructs++] = (struct graft_src_struct){
						.name = strdup(d +
							       (strncmp(d, "typedef ", 8) ? 0 : 8)),
						.line = decl_line};
					kind = 2;
					body = i + 1;
				}
			}
			have_decl = false;
			depth = 1;
			continue;
		}
		if (ch == '{') {
			depth++;
		} else if (ch == '}' && --depth == 0) {
			if (kind == 1)
				s->funcs[s->nfuncs - 1].last = line;
			else if (kind == 2 &&
				 !(s->structs[s->nstructs - 1].body = collapse(c + body, i - body)))
				return -ENOMEM;
			kind = 0;
		}
	}
	*out = TAKE_PTR(s);
	return 0;
}

const struct graft_src_func *graft_src_func(const struct graft_src *s, const char *name)
{
	for (size_t i = 0; i < s->nfuncs; i++)
		if (!strcmp(s->funcs[i].name, name))
			return &s->funcs[i];
	return NULL;
}
