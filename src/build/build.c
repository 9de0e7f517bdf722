/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The patch builder's driver (the steps are in build.h).
 *
 * Cache layout, one directory per (source path, build command, compiler):
 *   orig/      the source as given, built through the wrapper
 *   patched/   orig/ copied with timestamps, the diff applied, rebuilt
 *   bin/cc, bin/gcc   the wrapper (also CC=bin/cc)
 *   orig.cc, patched.cc   one line per compile the wrapper saw
 *   orig.log, patched.log  the build's output
 *   stamp      a signature of the source tree orig/ was built from
 *   ln/        objects recompiled with __LINE__ fixed, to tell a change
 *              that only moves line numbers from a real one
 *   out/       the patch object and manifest handed to graft_pack
 * ELF files and archives are removed from orig/ before its build so every
 * object is compiled through the wrapper, whatever the source tree holds.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "build/build.h"
#include "build/diff.h"
#include "build/emit.h"
#include "build/srcinfo.h"
#include "build/target.h"
#include "patch/format.h"
#include "patch/pack.h"

#define CC_LOG_MAX (64u << 20)
#define DIFF_MAX   (16u << 20)
#define SOURCE_MAX (16u << 20)
#define CAND_MAX   16

struct cc_rec {
	char *cwd, *out, *src; /* src: absolute path of the C file */
	char **args;
	size_t nargs;
};

struct cc_log {
	struct cc_rec *recs;
	size_t n;
};

struct tu {
	struct ctx *c;
	const struct cc_rec *rec;
	char *rel; /* source path relative to the tree root */
	char *orig_obj, *patched_obj, *plain_obj;
	struct graft_obj *o, *p;
	struct graft_obj *plain; /* the original compiled as the target was */
	struct graft_diff *d;
	struct graft_target *t;
	struct graft_src *osrc, *psrc;
	struct graft_err *err;
};

struct ctx {
	const struct graft_build_opts *opts;
	struct graft_build_result *res;
	char *src; /* the source tree, absolute */
	char *dir, *orig, *patched, *bin;
	char *lndir; /* line-neutral twins of the patched build's objects */
	char *cc;    /* the real compiler, absolute */
	struct cc_log olog, plog;
	struct graft_udiff *udiff;
	unsigned strip;
	struct graft_target *targets[GRAFT_BUILD_TARGETS_MAX];
	struct tu *tus;
	size_t ntus;
};

/* ---- small helpers ------------------------------------------------------ */

static char *join(const char *a, const char *b)
{
	char *o;

	return asprintf(&o, "%s/%s", a, b) < 0 ? NULL : o;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int push_str(char ***arr, size_t *n, const char *s)
{
	char **na = realloc(*arr, (*n + 1) * sizeof(*na));

	if (!na)
		return -ENOMEM;
	*arr = na;
	if (!(na[*n] = strdup(s)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

/*
 * Run argv in cwd with output appended to log; env holds NAME=VALUE
 * overrides. Returns the exit status (0-255), 256 + signal, or <0.
 */
static int run(const char *cwd, const char *const argv[], const char *const env[], const char *log,
	       struct graft_err *err)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return graft_err_set(err, -errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || chdir(cwd) < 0)
			_exit(127);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			(void)dup2(fd, 0);
		for (size_t i = 0; env && env[i]; i++)
			(void)putenv((char *)env[i]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return graft_err_set(err, -errno, "waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 256 + WTERMSIG(status);
}

static int rm_rf(const char *path, struct graft_err *err)
{
	const char *argv[] = {"rm", "-rf", "--", (char *)path, NULL};

	if (run("/", argv, NULL, "/dev/null", err) != 0)
		return graft_err_set(err, -EIO, "cannot remove '%s'", path);
	return 0;
}

static int copy_tree(const char *from, const char *to, struct graft_err *err)
{
	_cleanup_free_ char *src = NULL;
	const char *argv[] = {"cp", "-a", "--", NULL, (char *)to, NULL};

	if (asprintf(&src, "%s/.", from) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	argv[3] = src;
	if (mkdir(to, 0755) < 0 && errno != EEXIST)
		return graft_err_set(err, -errno, "cannot create '%s': %s", to, strerror(errno));
	if (run("/", argv, NULL, "/dev/null", err) != 0)
		return graft_err_set(err, -EIO, "cannot copy '%s' to '%s'", from, to);
	return 0;
}

/* A signature of a tree: names, sizes, modes and modification times. */
static int tree_signature(const char *root, uint64_t *sig, struct graft_err *err)
{
	char *paths[] = {(char *)root, NULL};
	FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
	FTSENT *e;
	uint64_t h = 0xcbf29ce484222325ull;

	if (!fts)
		return graft_err_set(err, -errno, "cannot read '%s': %s", root, strerror(errno));
	while ((e = fts_read(fts))) {
		if (e->fts_info == FTS_DP)
			continue;
		if (e->fts_info == FTS_ERR || e->fts_info == FTS_DNR || e->fts_info == FTS_NS) {
			int code = e->fts_errno;

			(void)fts_close(fts);
			return graft_err_set(err, -code, "cannot read '%s': %s", root,
					     strerror(code));
		}
		h = fnv(h, e->fts_path, e->fts_pathlen + 1);
		if (e->fts_statp) {
			h = fnv(h, &e->fts_statp->st_size, sizeof(e->fts_statp->st_size));
			h = fnv(h, &e->fts_statp->st_mode, sizeof(e->fts_statp->st_mode));
			h = fnv(h, &e->fts_statp->st_mtim, sizeof(e->fts_statp->st_mtim));
		}
	}
	(void)fts_close(fts);
	*sig = h;
	return 0;
}

/* Remove ELF files and archives so the build recompiles through the wrapper. */
static int remove_build_outputs(const char *root, struct graft_err *err)
{
	char *paths[] = {(char *)root, NULL};
	FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
	FTSENT *e;

	if (!fts)
		return graft_err_set(err, -errno, "cannot read '%s': %s", root, strerror(errno));
	while ((e = fts_read(fts))) {
		char magic[8] = {0};
		int fd;

		if (e->fts_info != FTS_F)
			continue;
		fd = open(e->fts_accpath, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (read(fd, magic, sizeof(magic)) >= 4 &&
		    (!memcmp(magic, "\177ELF", 4) || !memcmp(magic, "!<arch>\n", 8)))
			(void)unlink(e->fts_accpath);
		(void)close(fd);
	}
	(void)fts_close(fts);
	return 0;
}

static char *find_in_path(const char *prog, const char *skip_dir)
{
	_cleanup_free_ char *path = NULL;
	const char *env = getenv("PATH");
	char *save = NULL;

	if (strchr(prog, '/'))
		return realpath(prog, NULL);
	if (!(path = strdup(env ? env : "/usr/bin:/bin")))
		return NULL;
	for (char *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = join(d, prog);

		if (skip_dir && !strcmp(d, skip_dir))
			continue;
		if (p && access(p, X_OK) == 0)
			return realpath(p, NULL);
	}
	return NULL;
}

/* ---- the wrapper's compile log ------------------------------------------ */

static void cc_log_release(struct cc_log *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (size_t k = 0; k < l->recs[i].nargs; k++)
			free(l->recs[i].args[k]);
		free(l->recs[i].args);
		free(l->recs[i].cwd);
		free(l->recs[i].out);
		free(l->recs[i].src);
	}
	free(l->recs);
	memset(l, 0, sizeof(*l));
}

static bool is_c_source(const char *a)
{
	size_t n = strlen(a);

	return a[0] != '-' && n > 2 && !strcmp(a + n - 2, ".c");
}

static int cc_log_read(const char *path, struct cc_log *l, struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL;
	char *save = NULL;
	int r;

	if (access(path, F_OK) < 0)
		return 0;
	if ((r = graft_read_file(path, CC_LOG_MAX, &buf, NULL, err)) < 0)
		return r;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL, *s2 = NULL;
		struct cc_rec rec = {0}, *nr;

		if (!t2)
			continue;
		*t1 = *t2 = '\0';
		rec.cwd = strdup(line);
		rec.out = strdup(t1 + 1);
		for (char *a = strtok_r(t2 + 1, "\x1f", &s2); a; a = strtok_r(NULL, "\x1f", &s2)) {
			if (push_str(&rec.args, &rec.nargs, a) < 0)
				goto nomem;
			if (is_c_source(a) && !rec.src)
				rec.src = a[0] == '/' ? strdup(a) : join(rec.cwd, a);
		}
		if (!rec.cwd || !rec.out)
			goto nomem;
		nr = realloc(l->recs, (l->n + 1) * sizeof(*nr));
		if (!nr)
			goto nomem;
		l->recs = nr;
		l->recs[l->n++] = rec;
		continue;
	nomem:
		for (size_t k = 0; k < rec.nargs; k++)
			free(rec.args[k]);
		free(rec.args);
		free(rec.cwd);
		free(rec.out);
		free(rec.src);
		return graft_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- building the two trees ---------------------------------------------- */

static int write_wrapper(struct ctx *c, struct graft_err *err)
{
	static const char *const names[] = {"cc", "gcc"};

	if (mkdir(c->bin, 0755) < 0 && errno != EEXIST)
		return graft_err_set(err, -errno, "cannot create '%s': %s", c->bin,
				     strerror(errno));
	for (size_t i = 0; i < GRAFT_ARRAY_SIZE(names); i++) {
		_cleanup_free_ char *p = join(c->bin, names[i]);
		FILE *f;

		if (!p || !(f = fopen(p, "we")))
			return graft_err_set(err, -errno,
					     "cannot write the compiler wrapper in '%s'", c->bin);
		fprintf(f,
			"#!/bin/sh\n# graft build's compiler wrapper: adds -ffunction-sections "
			"-fdata-sections, logs each compile\nexec '%s' __cc \"$@\"\n",
			c->opts->wrapper);
		if (fclose(f) != 0 || chmod(p, 0755) < 0)
			return graft_err_set(err, -EIO, "cannot write '%s'", p);
	}
	return 0;
}

static int run_build(struct ctx *c, const char *tree, const char *which, struct graft_err *err)
{
	_cleanup_free_ char *log = NULL, *cclog = NULL, *e_cc = NULL, *e_real = NULL, *e_log = NULL,
			    *e_path = NULL, *e_ln = NULL;
	bool patched = !strcmp(which, "patched");
	const char *cmd = c->opts->build_cmd ? c->opts->build_cmd : "make";
	const char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	const char *path = getenv("PATH");
	int st;

	if (asprintf(&log, "%s/%s.log", c->dir, which) < 0 ||
	    asprintf(&cclog, "%s/%s.cc", c->dir, which) < 0 ||
	    asprintf(&e_cc, "CC=%s/cc", c->bin) < 0 ||
	    asprintf(&e_real, GRAFT_CC_ENV_REAL "=%s", c->cc) < 0 ||
	    asprintf(&e_log, GRAFT_CC_ENV_LOG "=%s", cclog) < 0 ||
	    asprintf(&e_path, "PATH=%s:%s", c->bin, path ? path : "/usr/bin:/bin") < 0 ||
	    asprintf(&e_ln, "%s=%s", GRAFT_CC_ENV_LN, patched ? c->lndir : "") < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	(void)unlink(cclog);
	if (patched && (rm_rf(c->lndir, err) < 0 || mkdir(c->lndir, 0755) < 0))
		return graft_err_set(err, -EIO, "cannot reset '%s'", c->lndir);
	{
		const char *env[] = {e_cc, e_real, e_log, e_path, e_ln, NULL};

		st = run(tree, argv, env, log, err);
	}
	if (st < 0)
		return st;
	if (st != 0)
		return graft_err_set(err, -EIO, "the %s build ('%s') failed with %s %d; see %s",
				     which, cmd, st > 255 ? "signal" : "exit code",
				     st > 255 ? st - 256 : st, log);
	return 0;
}

static int prepare_orig(struct ctx *c, struct graft_err *err)
{
	_cleanup_free_ char *stamp = NULL, *old = NULL, *cclog = NULL;
	uint64_t sig = 0;
	char sigs[32];
	int r;
	FILE *f;

	if ((r = tree_signature(c->src, &sig, err)) < 0)
		return r;
	snprintf(sigs, sizeof(sigs), "%016" PRIx64, sig);
	if (!(stamp = join(c->dir, "stamp")) || asprintf(&cclog, "%s/orig.cc", c->dir) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (graft_read_file(stamp, 64, &old, NULL, NULL) == 0 && !strcmp(old, sigs) &&
	    access(c->orig, F_OK) == 0) {
		c->res->orig_cached = true;
		return cc_log_read(cclog, &c->olog, err);
	}
	(void)unlink(stamp);
	{
		_cleanup_free_ char *oc = join(c->dir, "ocache");

		if (!oc || rm_rf(oc, err) < 0 || mkdir(oc, 0755) < 0)
			return graft_err_set(err, -EIO, "cannot reset '%s/ocache'", c->dir);
	}
	if ((r = rm_rf(c->orig, err)) < 0 || (r = copy_tree(c->src, c->orig, err)) < 0 ||
	    (r = remove_build_outputs(c->orig, err)) < 0 ||
	    (r = run_build(c, c->orig, "orig", err)) < 0)
		return r;
	if ((r = cc_log_read(cclog, &c->olog, err)) < 0)
		return r;
	if (!c->olog.n)
		return graft_err_set(err, -EINVAL,
				     "no compile went through graft's wrapper: does the build use "
				     "$(CC), or cc/gcc from PATH?");
	if (!(f = fopen(stamp, "we")))
		return graft_err_set(err, -errno, "cannot write '%s'", stamp);
	fputs(sigs, f);
	if (fclose(f) != 0)
		return graft_err_set(err, -EIO, "cannot write '%s'", stamp);
	return 0;
}

static int apply_diff(struct ctx *c, struct graft_err *err)
{
	_cleanup_free_ char *log = NULL, *diff = realpath(c->opts->diff, NULL);
	unsigned levels[2] = {1, 0};
	size_t nlevels = 2;

	if (!diff)
		return graft_err_set(err, -errno, "cannot read the diff '%s': %s", c->opts->diff,
				     strerror(errno));
	if (asprintf(&log, "%s/patched.log", c->dir) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	(void)unlink(log);
	if (c->opts->strip != UINT_MAX) {
		levels[0] = c->opts->strip;
		nlevels = 1;
	}
	for (size_t i = 0; i < nlevels; i++) {
		char p[16];
		const char *dry[] = {"patch",	  p,	"--batch", "--forward",
				     "--dry-run", "-i", diff,	   NULL};
		const char *real[] = {"patch", p, "--batch", "--forward", "-i", diff, NULL};
		int st;

		snprintf(p, sizeof(p), "-p%u", levels[i]);
		st = run(c->patched, dry, NULL, log, err);
		if (st < 0)
			return st;
		if (st != 0)
			continue;
		st = run(c->patched, real, NULL, log, err);
		if (st != 0)
			return graft_err_set(err, -EIO, "cannot apply '%s'; see %s", c->opts->diff,
					     log);
		c->strip = levels[i];
		return 0;
	}
	return graft_err_set(
		err, -EINVAL, "the diff '%s' does not apply to '%s' (tried %s); see %s",
		c->opts->diff, c->opts->src, nlevels == 2 ? "-p1 and -p0" : "-pN", log);
}

static int prepare_patched(struct ctx *c, struct graft_err *err)
{
	_cleanup_free_ char *cclog = NULL, *text = NULL;
	int r;

	if (asprintf(&cclog, "%s/patched.cc", c->dir) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if ((r = rm_rf(c->patched, err)) < 0 || (r = copy_tree(c->orig, c->patched, err)) < 0 ||
	    (r = apply_diff(c, err)) < 0 || (r = run_build(c, c->patched, "patched", err)) < 0 ||
	    (r = cc_log_read(cclog, &c->plog, err)) < 0)
		return r;
	if ((r = graft_read_file(c->opts->diff, DIFF_MAX, &text, NULL, err)) < 0)
		return r;
	return graft_udiff_parse(text, c->strip, &c->udiff, err);
}

/* ---- translation units ---------------------------------------------------- */

static const char *under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strncmp(path, root, n) != 0 || path[n] != '/')
		return NULL;
	return path + n + 1;
}

static void tu_release(struct tu *t)
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
	uint64_t h = fnv(0xcbf29ce484222325ull, out_path, strlen(out_path));

	return asprintf(&p, "%s/%016" PRIx64 ".o", dir, h) < 0 ? NULL : p;
}

/* Start compiling rec again into out; returns the child's pid. */
static pid_t recompile_start(struct ctx *c, const struct cc_rec *rec, enum recompile how,
			     const char *out, struct graft_err *err)
{
	_cleanup_free_ const char **argv = graft_cc_recompile_argv(
		c->cc, rec->args, rec->nargs, how == RECOMPILE_LINE_NEUTRAL, out);
	_cleanup_free_ char *log = join(c->dir, "recompile.log");
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
	uint64_t h = fnv(0xcbf29ce484222325ull, orec->out, strlen(orec->out));

	return asprintf(&p, "%s/ocache/%016" PRIx64 ".%s.o", c->dir, h, kind) < 0 ? NULL : p;
}

/* The original build's record for the object this patched record rebuilt. */
static const struct cc_rec *orig_record(struct ctx *c, const struct tu *t)
{
	const char *rp = under(t->rec->out, c->patched);

	for (size_t i = c->olog.n; rp && i-- > 0;) {
		const char *ro = under(c->olog.recs[i].out, c->orig);

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
static int filter_line_only(struct ctx *c, struct tu *t, size_t k, struct graft_err *err)
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
	(void)k;
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
static int ensure_plain(struct ctx *c, struct tu *t, struct graft_err *err)
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

static int load_source(const char *root, const char *rel, struct graft_src **out)
{
	_cleanup_free_ char *p = join(root, rel), *text = NULL;

	*out = NULL;
	if (!p || graft_read_file(p, SOURCE_MAX, &text, NULL, NULL) < 0)
		return 0; /* no text, no explanations: not fatal */
	return graft_src_scan(text, out);
}

static int open_tus(struct ctx *c, struct graft_err *err)
{
	c->tus = calloc(c->plog.n ? c->plog.n : 1, sizeof(*c->tus));
	if (!c->tus)
		return graft_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < c->plog.n; i++) {
		const struct cc_rec *rec = &c->plog.recs[i];
		const char *rel = under(rec->out, c->patched);
		const char *srel = rec->src ? under(rec->src, c->patched) : NULL;
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
		t->orig_obj = join(c->orig, rel);
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
		    (r = filter_line_only(c, t, i, err)) < 0)
			return r;
		if (load_source(c->orig, srel, &t->osrc) < 0 ||
		    load_source(c->patched, srel, &t->psrc) < 0)
			return graft_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Which target holds this translation unit's code? */
static int assign_targets(struct ctx *c, struct graft_err *err)
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

static int explain(struct ctx *c, struct tu *t, struct graft_err *err)
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
		const char *rel = under(c->olog.recs[i].out, c->orig);
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

static int signature_changes(struct ctx *c, struct graft_err *err)
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

static int layout_changes(struct ctx *c, struct graft_err *err)
{
	for (size_t i = 0; i < c->udiff->nfiles; i++) {
		const struct graft_diff_file *f = &c->udiff->files[i];
		_cleanup_(graft_src_freep) struct graft_src *os = NULL;
		_cleanup_(graft_src_freep) struct graft_src *ns = NULL;

		if (!f->old_path || !f->new_path)
			continue;
		if (load_source(c->orig, f->old_path, &os) < 0 ||
		    load_source(c->patched, f->new_path, &ns) < 0)
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
	if ((r = ensure_plain(c, t, err)) < 0)
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

static int add_func(struct graft_build_func **arr, size_t *n, const char *name, const char *file,
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

static char *default_id(const char *diff)
{
	const char *b = strrchr(diff, '/');
	char *id = strdup(b ? b + 1 : diff), *dot;

	if (!id)
		return NULL;
	dot = strrchr(id, '.');
	if (dot && dot != id && (!strcmp(dot, ".diff") || !strcmp(dot, ".patch")))
		*dot = '\0';
	for (char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._+-", *p))
			*p = '-';
	if (strlen(id) > GRAFT_PATCH_ID_MAX)
		id[GRAFT_PATCH_ID_MAX] = '\0';
	return id;
}

/* ---- emission ------------------------------------------------------------- */

static int emit(struct ctx *c, struct graft_err *err)
{
	struct graft_build_result *res = c->res;
	_cleanup_free_ struct graft_emit_unit *units =
		calloc(c->ntus ? c->ntus : 1, sizeof(*units));
	_cleanup_free_ size_t *unit_tu = calloc(c->ntus ? c->ntus : 1, sizeof(size_t));
	_cleanup_free_ char *outdir = join(c->dir, "out"), *obj = NULL, *man = NULL;
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
	if (!(obj = join(outdir, "patch.o")) || !(man = join(outdir, "patch.manifest")))
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
				r = add_func(&res->added, &res->nadded, t->p->syms[i].name,
					     t->o->file, t->t->path, NULL, 0, t->p->syms[i].size);
				continue;
			}
			if (t->d->state[i] != GRAFT_DIFF_CHANGED)
				continue;
			if ((r = map_orig(c, t, (size_t)t->d->pair[i], true, &ti, err)) < 0)
				break;
			r = add_func(&res->replaced, &res->nreplaced, t->t->syms[ti].name,
				     t->o->file, t->t->path, t->d->why[i], t->t->syms[ti].value,
				     t->t->syms[ti].size);
		}
		for (size_t i = 1; i < t->p->nsyms && r >= 0; i++)
			if (graft_obj_is_data(&t->p->syms[i]) && t->d->state[i] == GRAFT_DIFF_NEW &&
			    t->d->ref[i])
				r = add_func(&res->data, &res->ndata, t->p->syms[i].canon,
					     t->o->file, t->t->path, NULL, 0, t->p->syms[i].size);
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

/* ---- the whole build -------------------------------------------------------- */

static int cache_dir(struct ctx *c, struct graft_err *err)
{
	_cleanup_free_ char *root = NULL;
	const char *src = c->src;
	const char *cmd = c->opts->build_cmd ? c->opts->build_cmd : "make";
	const char *env;
	uint64_t h = 0xcbf29ce484222325ull;
	char *dir = NULL;

	h = fnv(h, src, strlen(src) + 1);
	h = fnv(h, cmd, strlen(cmd) + 1);
	h = fnv(h, c->cc, strlen(c->cc) + 1);
	if (c->opts->cache_root)
		root = strdup(c->opts->cache_root);
	else if ((env = getenv("GRAFT_CACHE_DIR")) && *env)
		root = strdup(env);
	else if ((env = getenv("XDG_CACHE_HOME")) && *env)
		root = join(env, "graft");
	else if ((env = getenv("HOME")) && *env && (asprintf(&root, "%s/.cache/graft", env) < 0))
		root = NULL;
	else if (!env || !*env)
		root = strdup("/var/cache/graft");
	if (root && root[0] != '/') {
		/* helpers run elsewhere: make it absolute now */
		char cwd[PATH_MAX];
		char *abs = getcwd(cwd, sizeof(cwd)) ? join(cwd, root) : NULL;

		free(root);
		root = abs;
	}
	if (!root)
		return graft_err_set(err, -ENOMEM, "out of memory");
	{
		const char *argv[] = {"mkdir", "-p", "--", root, NULL};

		if (run("/", argv, NULL, "/dev/null", err) != 0)
			return graft_err_set(err, -EIO, "cannot create the cache '%s'", root);
	}
	if (asprintf(&dir, "%s/build-%016" PRIx64, root, h) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		free(dir);
		return graft_err_set(err, -errno, "cannot create '%s': %s", root, strerror(errno));
	}
	/* the wrapper logs physical paths: compare like with like */
	c->dir = realpath(dir, NULL);
	free(dir);
	dir = c->dir;
	if (!dir || !(c->orig = join(dir, "orig")) || !(c->lndir = join(dir, "ln")) ||
	    !(c->patched = join(dir, "patched")) || !(c->bin = join(dir, "bin")))
		return graft_err_set(err, -errno ?: ENOMEM, "cannot create '%s'", dir);
	{
		_cleanup_free_ char *ln = join(dir, "ln");

		if (!ln || (mkdir(ln, 0755) < 0 && errno != EEXIST))
			return graft_err_set(err, -EIO, "cannot create '%s/ln'", dir);
	}
	return 0;
}

static void ctx_release(struct ctx *c)
{
	for (size_t i = 0; i < c->ntus; i++)
		tu_release(&c->tus[i]);
	free(c->tus);
	for (size_t i = 0; i < GRAFT_BUILD_TARGETS_MAX; i++)
		graft_target_free(c->targets[i]);
	cc_log_release(&c->olog);
	cc_log_release(&c->plog);
	graft_udiff_free(c->udiff);
	free(c->src);
	free(c->lndir);
	free(c->dir);
	free(c->orig);
	free(c->patched);
	free(c->bin);
	free(c->cc);
}

static int collect_messages(struct ctx *c, bool notes)
{
	struct graft_build_result *res = c->res;

	for (size_t k = 0; k < c->ntus; k++) {
		const struct graft_diff *d = c->tus[k].d;

		for (size_t i = 0; d && i < (notes ? d->nnotes : d->nproblems); i++)
			if (notes ? push_str(&res->notes, &res->nnotes, d->notes[i]) < 0
				  : push_str(&res->problems, &res->nproblems, d->problems[i]) < 0)
				return -ENOMEM;
	}
	return 0;
}

int graft_build(const struct graft_build_opts *opts, struct graft_build_result *res,
		struct graft_err *err)
{
	struct ctx c = {.opts = opts, .res = res};
	const char *cc = opts->cc ? opts->cc : getenv("CC");
	uint64_t t0 = graft_now_ns(), t;
	int fd = -1, r;

	memset(res, 0, sizeof(*res));
	if (!opts->ntargets)
		return graft_err_set(err, -EINVAL, "no --target given");
	res->id = opts->id ? strdup(opts->id) : default_id(opts->diff);
	if (!res->id)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (!graft_patch_id_is_valid(res->id))
		return graft_err_set(err, -EINVAL,
				     "patch id '%s' must be 1-64 characters of [A-Za-z0-9._+-]",
				     res->id);
	if (opts->out)
		res->out = strdup(opts->out);
	else if (asprintf(&res->out, "%s.graft", res->id) < 0)
		res->out = NULL;
	if (!res->out)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (access(opts->diff, R_OK) < 0)
		return graft_err_set(err, -errno, "cannot read the diff '%s': %s", opts->diff,
				     strerror(errno));
	for (size_t i = 0; i < opts->ntargets; i++)
		if ((r = graft_target_open(opts->targets[i],
					   opts->debug_root ? opts->debug_root : "/usr/lib/debug",
					   &c.targets[i], err)) < 0)
			goto out;
	if (!(c.cc = find_in_path(cc && *cc ? cc : "gcc", NULL))) {
		r = graft_err_set(err, -ENOENT, "compiler '%s' not found", cc ? cc : "gcc");
		goto out;
	}
	if (!(c.src = realpath(opts->src, NULL))) {
		r = graft_err_set(err, -errno, "cannot read the source tree '%s': %s", opts->src,
				  strerror(errno));
		goto out;
	}
	if ((r = cache_dir(&c, err)) < 0)
		goto out;
	res->cache_dir = strdup(c.dir);
	{
		_cleanup_free_ char *lock = join(c.dir, "lock");

		fd = lock ? open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
		if (fd < 0 || flock(fd, LOCK_EX) < 0) {
			r = graft_err_set(err, -EIO, "cannot lock the cache '%s'", c.dir);
			goto out;
		}
	}
	if ((r = write_wrapper(&c, err)) < 0 || (r = prepare_orig(&c, err)) < 0)
		goto out;
	t = graft_now_ns();
	res->ns_orig = t - t0;
	if ((r = prepare_patched(&c, err)) < 0)
		goto out;
	res->ns_patched = graft_now_ns() - t;
	t = graft_now_ns();
	if ((r = open_tus(&c, err)) < 0 || (r = assign_targets(&c, err)) < 0)
		goto out;
	if (!c.ntus) {
		r = graft_err_setk(err, GRAFT_ERR_NOOP, -ENODATA,
				   "the fix recompiles nothing: no code changes");
		goto out;
	}
	for (size_t k = 0; k < c.ntus; k++)
		if ((r = explain(&c, &c.tus[k], err)) < 0)
			goto out;
	if ((r = signature_changes(&c, err)) < 0 || (r = layout_changes(&c, err)) < 0)
		goto out;
	for (size_t k = 0; k < c.ntus; k++)
		if ((r = graft_diff_close(c.tus[k].d, err)) < 0)
			goto out;
	if (collect_messages(&c, false) < 0) {
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (res->nproblems) {
		r = graft_err_setk(err, GRAFT_ERR_UNSAFE, -ENOTSUP,
				   "the fix cannot be applied live: %s%s", res->problems[0],
				   res->nproblems > 1 ? " (and more)" : "");
		goto out;
	}
	r = emit(&c, err);
out:
	if (collect_messages(&c, true) < 0 && r >= 0)
		r = graft_err_set(err, -ENOMEM, "out of memory");
	res->ns_diff = graft_now_ns() - t0 - res->ns_orig - res->ns_patched;
	res->ns_total = graft_now_ns() - t0;
	if (fd >= 0)
		(void)close(fd);
	ctx_release(&c);
	return r;
}

static void funcs_release(struct graft_build_func *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].file);
		free(f[i].target);
		free(f[i].why);
	}
	free(f);
}

void graft_build_result_release(struct graft_build_result *res)
{
	funcs_release(res->replaced, res->nreplaced);
	funcs_release(res->added, res->nadded);
	funcs_release(res->data, res->ndata);
	for (size_t i = 0; i < res->nnotes; i++)
		free(res->notes[i]);
	for (size_t i = 0; i < res->nproblems; i++)
		free(res->problems[i]);
	free(res->notes);
	free(res->problems);
	free(res->id);
	free(res->out);
	free(res->cache_dir);
	memset(res, 0, sizeof(*res));
}
