/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The patch builder's driver (the steps are in build.h): the cache, the
 * two builds through the compiler wrapper, then units.c and assemble.c.
 *
 * Cache layout, one directory per (source path, build command, compiler):
 *   orig/      the source as given, built through the wrapper
 *   patched/   orig/ copied with timestamps, the diff applied, rebuilt
 *   bin/cc, bin/gcc   the wrapper (also CC=bin/cc)
 *   orig.cc, patched.cc   one line per compile the wrapper saw
 *   orig.log, patched.log  the build's output
 *   stamp      a signature of the source tree orig/ was built from
 *   ocache/    the original's files compiled again (with __LINE__ fixed; exactly
 *              as the target was built): kept while orig/ is
 *   ln/        the patched build's twins with __LINE__ fixed (the wrapper
 *              makes them), to tell a change that only moves line numbers
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

#include "build/build-priv.h"
#include "patch/format.h"

/* ---- small helpers ------------------------------------------------------ */

char *build_join(const char *a, const char *b)
{
	char *o;

	return asprintf(&o, "%s/%s", a, b) < 0 ? NULL : o;
}

int build_push_str(char ***arr, size_t *n, const char *s)
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
int build_run(const char *cwd, const char *const argv[], const char *const env[], const char *log,
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

	if (build_run("/", argv, NULL, "/dev/null", err) != 0)
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
	if (build_run("/", argv, NULL, "/dev/null", err) != 0)
		return graft_err_set(err, -EIO, "cannot copy '%s' to '%s'", from, to);
	return 0;
}

/* A signature of a tree: names, sizes, modes and modification times. */
static int tree_signature(const char *root, uint64_t *sig, struct graft_err *err)
{
	char *paths[] = {(char *)root, NULL};
	FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
	FTSENT *e;
	uint64_t h = GRAFT_FNV1A_INIT;

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
		h = graft_fnv1a(h, e->fts_path, e->fts_pathlen + 1);
		if (e->fts_statp) {
			h = graft_fnv1a(h, &e->fts_statp->st_size, sizeof(e->fts_statp->st_size));
			h = graft_fnv1a(h, &e->fts_statp->st_mode, sizeof(e->fts_statp->st_mode));
			h = graft_fnv1a(h, &e->fts_statp->st_mtim, sizeof(e->fts_statp->st_mtim));
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
		_cleanup_free_ char *p = build_join(d, prog);

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
			if (build_push_str(&rec.args, &rec.nargs, a) < 0)
				goto nomem;
			if (is_c_source(a) && !rec.src)
				rec.src = a[0] == '/' ? strdup(a) : build_join(rec.cwd, a);
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
		_cleanup_free_ char *p = build_join(c->bin, names[i]);
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

		st = build_run(tree, argv, env, log, err);
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
	if (!(stamp = build_join(c->dir, "stamp")) || asprintf(&cclog, "%s/orig.cc", c->dir) < 0)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (graft_read_file(stamp, 64, &old, NULL, NULL) == 0 && !strcmp(old, sigs) &&
	    access(c->orig, F_OK) == 0) {
		c->res->orig_cached = true;
		return cc_log_read(cclog, &c->olog, err);
	}
	(void)unlink(stamp);
	{
		_cleanup_free_ char *oc = build_join(c->dir, "ocache");

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
		st = build_run(c->patched, dry, NULL, log, err);
		if (st < 0)
			return st;
		if (st != 0)
			continue;
		st = build_run(c->patched, real, NULL, log, err);
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

/* ---- the whole build -------------------------------------------------------- */

static int cache_dir(struct ctx *c, struct graft_err *err)
{
	_cleanup_free_ char *root = NULL;
	const char *src = c->src;
	const char *cmd = c->opts->build_cmd ? c->opts->build_cmd : "make";
	const char *env;
	uint64_t h = GRAFT_FNV1A_INIT;
	char *dir = NULL;

	h = graft_fnv1a(h, src, strlen(src) + 1);
	h = graft_fnv1a(h, cmd, strlen(cmd) + 1);
	h = graft_fnv1a(h, c->cc, strlen(c->cc) + 1);
	if (c->opts->cache_root)
		root = strdup(c->opts->cache_root);
	else if ((env = getenv("GRAFT_CACHE_DIR")) && *env)
		root = strdup(env);
	else if ((env = getenv("XDG_CACHE_HOME")) && *env)
		root = build_join(env, "graft");
	else if ((env = getenv("HOME")) && *env && (asprintf(&root, "%s/.cache/graft", env) < 0))
		root = NULL;
	else if (!env || !*env)
		root = strdup("/var/cache/graft");
	if (root && root[0] != '/') {
		/* helpers run elsewhere: make it absolute now */
		char cwd[PATH_MAX];
		char *abs = getcwd(cwd, sizeof(cwd)) ? build_join(cwd, root) : NULL;

		free(root);
		root = abs;
	}
	if (!root)
		return graft_err_set(err, -ENOMEM, "out of memory");
	{
		const char *argv[] = {"mkdir", "-p", "--", root, NULL};

		if (build_run("/", argv, NULL, "/dev/null", err) != 0)
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
	if (!dir || !(c->orig = build_join(dir, "orig")) || !(c->lndir = build_join(dir, "ln")) ||
	    !(c->patched = build_join(dir, "patched")) || !(c->bin = build_join(dir, "bin")))
		return graft_err_set(err, -errno ?: ENOMEM, "cannot create '%s'", dir);
	{
		_cleanup_free_ char *ln = build_join(dir, "ln");

		if (!ln || (mkdir(ln, 0755) < 0 && errno != EEXIST))
			return graft_err_set(err, -EIO, "cannot create '%s/ln'", dir);
	}
	return 0;
}

static void ctx_release(struct ctx *c)
{
	for (size_t i = 0; i < c->ntus; i++)
		build_tu_release(&c->tus[i]);
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
			if (notes ? build_push_str(&res->notes, &res->nnotes, d->notes[i]) < 0
				  : build_push_str(&res->problems, &res->nproblems,
						   d->problems[i]) < 0)
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
		_cleanup_free_ char *lock = build_join(c.dir, "lock");

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
	if ((r = build_units_open(&c, err)) < 0 || (r = build_units_assign(&c, err)) < 0)
		goto out;
	if (!c.ntus) {
		r = graft_err_setk(err, GRAFT_ERR_NOOP, -ENODATA,
				   "the fix recompiles nothing: no code changes");
		goto out;
	}
	for (size_t k = 0; k < c.ntus; k++)
		if ((r = build_units_explain(&c, &c.tus[k], err)) < 0)
			goto out;
	if ((r = build_units_signatures(&c, err)) < 0 || (r = build_units_layouts(&c, err)) < 0)
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
	r = build_emit(&c, err);
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
