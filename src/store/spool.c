/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit spool: how a run over many processes logs its attempts without
 * an SQLite commit per process.
 *
 * A commit costs about a dozen system calls and a hundred-odd microseconds
 * here (locks, the write-ahead log's frames, an index page or two); over
 * 1000 processes that was 0.08-0.12 s of a 0.6 s run. While a spool is open
 * each attempt's "started" record (with the outcomes held back since the
 * last one) is one append to a file beside the log, written before graft
 * touches the process, as the row was: graft killed after it, the record is
 * in the file. At the end of the run the spool goes into the log in one
 * transaction and the file is removed. Until then a query of the log also
 * reads the spools not in it yet (spool_show_locked): `graft log` shows a
 * run under way.
 *
 * The file: "spool-PID-RANDOM.tsv" in the state directory, one record per
 * line, each written with a newline before it, so that a line cut short by
 * a failed write never runs into the next one. A record is its kind ("b"
 * an attempt, "e" its outcome) and its fields, tab-separated, and "." as
 * its last field, to show it was written whole; in a field, tab, newline,
 * backslash and control bytes are escaped (\t \n \\ \xHH), NULL is \N,
 * every other byte is kept as it is (an executable's path need not be
 * UTF-8). Lines that are not whole records are skipped: an attempt's record
 * cut short was an attempt graft never made (its write failed, so it
 * refused to go on). An outcome only says again what a later copy of it
 * would, so one written twice is harmless.
 *
 * Whose spool is whose: the writer holds an exclusive flock on its file for
 * the whole run. It creates the file as ".new", locks it, then renames it,
 * so an importer never sees an unlocked spool that is still in use. When
 * graft is killed the kernel drops the lock; the next graft to open the log
 * (any command that logs, status and log itself) takes the lock and
 * imports the leftover. The table "spools" remembers each imported name in
 * the same transaction as its rows, so a graft killed between that commit
 * and the unlink does not import it twice.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/audit-priv.h"
#include "util/log.h"

#define SPOOL_PREFIX   "spool-"
#define SPOOL_SUFFIX   ".tsv"
#define SPOOL_NEW      ".new"
#define SPOOL_LINE_MAX (64 * 1024) /* a record is well under 8 KiB */
#define SPOOL_SEQ_MAX  (1 << 24)   /* records in one spool: far more than processes */

/* Is name "spool-...SUFFIX"? */
static bool is_spool_name(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix), p = strlen(SPOOL_PREFIX);

	return n > p + k && !strncmp(name, SPOOL_PREFIX, p) && !strcmp(name + n - k, suffix);
}

/* --- writing ------------------------------------------------------------------- */

/* A growing line; a failed allocation sticks (ok false) and the line is dropped. */
struct line {
	char *p;
	size_t n, cap;
	bool ok;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (!l->ok || graft_grow((void **)&l->p, &l->cap, l->n + n + 1, 1) < 0) {
		l->ok = false;
		return;
	}
	memcpy(l->p + l->n, s, n);
	l->n += n;
}

/* A field: tab first; NULL as \N; tab, newline, backslash, controls escaped; bytes kept. */
static void put_str(struct line *l, const char *v)
{
	put(l, "\t", 1);
	if (!v) {
		put(l, "\\N", 2);
		return;
	}
	for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
		char esc[5];

		if (*c == '\\') {
			put(l, "\\\\", 2);
		} else if (*c == '\t') {
			put(l, "\\t", 2);
		} else if (*c == '\n') {
			put(l, "\\n", 2);
		} else if (*c < 0x20 || *c == 0x7f) {
			int n = snprintf(esc, sizeof(esc), "\\x%02x", *c);

			put(l, esc, (size_t)n);
		} else {
			put(l, (const char *)c, 1);
		}
	}
}

static void put_int(struct line *l, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	put(l, "\t", 1);
	put(l, num, (size_t)n);
}

/* A record: "\n", its kind, its fields, and "\t." to show it was written whole. */
static void put_end(struct line *l, int64_t seq, const char *result, int code, uint64_t stopped_ns,
		    const char *error)
{
	put(l, "\ne", 2);
	put_int(l, seq);
	put_str(l, result);
	put_int(l, code);
	put_int(l, (int64_t)stopped_ns);
	put_str(l, error && *error ? error : NULL);
	put(l, "\t.", 2);
}

static void put_begin(struct line *l, const struct graft_audit_event *ev)
{
	put(l, "\nb", 2);
	put_int(l, ev->id);
	put_int(l, (int64_t)ev->time_ns);
	put_int(l, ev->uid);
	put_str(l, ev->user);
	put_str(l, ev->op);
	put_str(l, ev->patch_id);
	put_str(l, ev->patch_sha256);
	put_str(l, ev->signer);
	put_str(l, ev->exe);
	put_int(l, ev->pid);
	put_int(l, (int64_t)ev->start_time);
	put_str(l, ev->build_ids);
	put(l, "\t.", 2);
}

int spool_write_locked(struct graft_audit *a, const struct graft_audit_event *end,
		       struct graft_audit_event *begin, struct graft_err *err)
{
	struct line l = {.ok = true};
	ssize_t w;

	for (size_t i = 0; i < a->nlater; i++) {
		const struct audit_later *h = &a->later[i];

		put_end(&l, h->id, h->result, h->exit_code, h->stopped_ns, h->error);
	}
	if (end)
		put_end(&l, end->id, end->result, end->exit_code, end->stopped_ns, end->error);
	if (begin) {
		begin->id = a->spool_next;
		put_begin(&l, begin);
	}
	if (!l.ok) {
		free(l.p);
		return graft_err_set(err, -ENOMEM, "audit spool: out of memory");
	}
	if (!l.n)
		return 0;
	/*
	 * O_APPEND: the write lands whole at the end, or fails, or (disk full)
	 * lands short: the next record's leading newline keeps that one apart.
	 */
	w = write(a->spool_fd, l.p, l.n);
	free(l.p);
	if (w != (ssize_t)l.n)
		return graft_err_set(err, w < 0 ? -errno : -EIO, "audit spool '%s/%s': %s", a->dir,
				     a->spool_name,
				     w < 0 ? strerror(errno) : "short write (disk full?)");
	if (begin)
		a->spool_next++;
	audit_later_drop(a);
	return 0;
}

/* --- into the log -------------------------------------------------------------- */

/* A field read back, unescaped in place; NULL for \N. False if malformed. */
static bool field_unescape(char **f)
{
	char *in = *f, *out = *f;

	if (!strcmp(in, "\\N")) {
		*f = NULL;
		return true;
	}
	while (*in) {
		unsigned v;

		if (*in != '\\') {
			*out++ = *in++;
			continue;
		}
		switch (in[1]) {
		case '\\':
		case 't':
		case 'n':
			*out++ = in[1] == 't' ? '\t' : in[1] == 'n' ? '\n' : '\\';
			in += 2;
			break;
		case 'x':
			if (!isxdigit((unsigned char)in[2]) || !isxdigit((unsigned char)in[3]) ||
			    sscanf(in + 2, "%2x", &v) != 1 || !v)
				return false;
			*out++ = (char)v;
			in += 4;
			break;
		default:
			return false;
		}
	}
	*out = '\0';
	return true;
}

/*
 * Split a record into exactly want fields, the last the "." that shows it
 * was written whole, and unescape them. False for anything else: a record
 * cut short by a failed write, or not ours.
 */
static bool record_fields(char *line, char **f, int want)
{
	int n = 0;

	for (char *p = line;;) {
		char *tab = strchr(p, '\t');

		if (n == want)
			return false;
		f[n++] = p;
		if (!tab)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	if (n != want || strcmp(f[want - 1], "."))
		return false;
	for (int i = 1; i < want - 1; i++)
		if (!field_unescape(&f[i]))
			return false;
	return true;
}

static int64_t field_int(const char *s, bool *ok)
{
	char *end;
	long long v;

	errno = 0;
	v = s ? strtoll(s, &end, 10) : 0;
	if (!s || !*s || *end || errno)
		*ok = false;
	return v;
}

#define BEGIN_FIELDS 14
#define END_FIELDS   7

/*
 * The import joins each attempt with its outcome, so it is one INSERT
 * rather than an INSERT and an UPDATE (half the time: ~25 ms per 1000
 * attempts became ~12 here). Outcomes trail their attempts by a few records
 * (the workers' others), so attempts wait in a queue, oldest first, and go
 * into the log in the order they began once the oldest has its outcome, or
 * when the queue is long (an attempt whose outcome never came: graft died
 * in it). An outcome for a row already written (written twice) updates it.
 */
#define IMPORT_QUEUE_MAX 256

struct pending {
	int64_t seq;
	char *line, *end_line; /* own copies: the event points into them */
	struct graft_audit_event ev;
};

struct import {
	struct graft_audit *a;
	/* set: show the attempts (those since since_ns, of pid) instead of writing them */
	graft_audit_fn show;
	void *show_ctx;
	uint64_t since_ns;
	pid_t pid;
	bool shown_enough;
	struct pending *q;
	size_t head, n, cap;
	int64_t *ids; /* a begin record's number -> its row, once written */
	size_t nids;
};

static void pending_free(struct pending *p)
{
	free(p->line);
	free(p->end_line);
}

/* An attempt of a run under way, as the log will have it; true: enough shown */
static bool show_pending(struct import *im, const struct graft_audit_event *ev)
{
	struct graft_audit_event e = *ev;

	if (!e.result)
		e.result = "started";
	return im->show(im->show_ctx, &e) != 0;
}

/* Write the oldest attempts that are complete (all of them: at the end). */
static int import_drain(struct import *im, bool all, struct graft_err *err)
{
	int r = 0;

	while (r == 0 && im->n > 0 &&
	       (all || im->q[im->head].end_line || im->n > IMPORT_QUEUE_MAX)) {
		struct pending *p = &im->q[im->head];

		if (!im->show)
			r = audit_insert_locked(im->a, &p->ev, err);
		else if (!im->shown_enough && p->ev.time_ns >= im->since_ns &&
			 (!im->pid || p->ev.pid == im->pid))
			im->shown_enough = show_pending(im, &p->ev);
		if (r == 0 && (size_t)p->seq < im->nids)
			im->ids[p->seq] = p->ev.id;
		pending_free(p);
		im->head++;
		im->n--;
	}
	if (im->n == 0)
		im->head = 0;
	return r;
}

static int import_begin(struct import *im, const char *line, struct graft_err *err)
{
	char *copy = strdup(line), *f[BEGIN_FIELDS];
	struct graft_audit_event ev;
	bool ok = true;
	int64_t seq;

	if (!copy)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (!record_fields(copy, f, BEGIN_FIELDS))
		goto skip;
	seq = field_int(f[1], &ok);
	ev = (struct graft_audit_event){.time_ns = (uint64_t)field_int(f[2], &ok),
					.uid = (uint32_t)field_int(f[3], &ok),
					.user = f[4],
					.op = f[5],
					.patch_id = f[6],
					.patch_sha256 = f[7],
					.signer = f[8],
					.exe = f[9],
					.pid = (pid_t)field_int(f[10], &ok),
					.start_time = (uint64_t)field_int(f[11], &ok),
					.build_ids = f[12]};
	if (!ok || !ev.op || seq < 0 || seq >= SPOOL_SEQ_MAX)
		goto skip;
	if ((size_t)seq >= im->nids) {
		size_t n = (size_t)seq + 1024;
		int64_t *p = realloc(im->ids, n * sizeof(*p));

		if (!p) {
			free(copy);
			return graft_err_set(err, -ENOMEM, "out of memory");
		}
		memset(p + im->nids, 0, (n - im->nids) * sizeof(*p));
		im->ids = p;
		im->nids = n;
	}
	if (im->head + im->n == im->cap) {
		/* move the queue down first; grow only when it is full */
		if (im->head > 0) {
			memmove(im->q, im->q + im->head, im->n * sizeof(*im->q));
			im->head = 0;
		} else if (graft_grow((void **)&im->q, &im->cap, im->cap + 1, sizeof(*im->q)) < 0) {
			free(copy);
			return graft_err_set(err, -ENOMEM, "out of memory");
		}
	}
	im->q[im->head + im->n++] = (struct pending){.seq = seq, .line = copy, .ev = ev};
	return 0;
skip:
	free(copy);
	return 0;
}

static int import_end(struct import *im, const char *line, struct graft_err *err)
{
	char *copy = strdup(line), *f[END_FIELDS];
	struct graft_audit_event out;
	bool ok = true;
	int64_t seq;
	int r = 0;

	if (!copy)
		return graft_err_set(err, -ENOMEM, "out of memory");
	if (!record_fields(copy, f, END_FIELDS))
		goto done;
	seq = field_int(f[1], &ok);
	out = (struct graft_audit_event){.result = f[2],
					 .exit_code = (int)field_int(f[3], &ok),
					 .stopped_ns = (uint64_t)field_int(f[4], &ok),
					 .error = f[5]};
	if (!ok || !out.result || seq < 0)
		goto done;
	for (size_t i = im->head; i < im->head + im->n; i++) {
		struct pending *p = &im->q[i];

		if (p->seq != seq)
			continue;
		free(p->end_line);
		p->end_line = TAKE_PTR(copy);
		p->ev.result = out.result;
		p->ev.exit_code = out.exit_code;
		p->ev.stopped_ns = out.stopped_ns;
		p->ev.error = out.error;
		goto done;
	}
	if (!im->show && (size_t)seq < im->nids && im->ids[seq] > 0) {
		out.id = im->ids[seq];
		r = audit_update_locked(im->a, &out, err);
	}
	/* else its attempt's record was cut short: there was no attempt */
done:
	free(copy);
	return r;
}

/* One line. Lines that are not whole records are skipped. */
static int import_line(struct import *im, const char *line, struct graft_err *err)
{
	int r = 0;

	if (line[0] == 'b' && line[1] == '\t')
		r = import_begin(im, line, err);
	else if (line[0] == 'e' && line[1] == '\t')
		r = import_end(im, line, err);
	return r ? r : import_drain(im, false, err);
}

static void import_free(struct import *im)
{
	for (size_t i = im->head; i < im->head + im->n; i++)
		pending_free(&im->q[i]);
	free(im->q);
	free(im->ids);
}

/* Every line of f, then what waits in the queue. */
static int import_read(struct import *im, FILE *f, struct graft_err *err)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r = 0;

	while (r == 0 && (n = getline(&line, &cap, f)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 1 && n <= SPOOL_LINE_MAX)
			r = import_line(im, line, err);
	}
	return r ? r : import_drain(im, true, err);
}

/* Spool fd (named name) into the log, in one transaction; 0 if it was in already. */
static int spool_import(struct graft_audit *a, int fd, const char *name, struct graft_err *err)
{
	static const char mark[] = "INSERT OR IGNORE INTO spools (name, time_ns) VALUES (?, ?)";
	struct import im = {.a = a};
	sqlite3_stmt *st = NULL;
	FILE *f;
	int r = 0, dfd = dup(fd);

	if (dfd < 0 || lseek(dfd, 0, SEEK_SET) < 0 || !(f = fdopen(dfd, "r"))) {
		r = graft_err_set(err, -errno, "audit spool '%s/%s': %s", a->dir, name,
				  strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return r;
	}
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		fclose(f);
		return audit_db_fail(a, -EIO, "cannot import a spool", err);
	}
	if (sqlite3_prepare_v2(a->db, mark, -1, &st, NULL) != SQLITE_OK) {
		r = audit_db_fail(a, -EIO, "cannot import a spool", err);
		goto out;
	}
	(void)sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	(void)sqlite3_bind_int64(st, 2, (sqlite3_int64)graft_wall_ns());
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = audit_db_fail(a, -EIO, "cannot import a spool", err);
		goto out;
	}
	if (sqlite3_changes(a->db) == 0)
		goto out; /* imported before; the file outlived it */
	r = import_read(&im, f, err);
out:
	import_free(&im);
	sqlite3_finalize(st);
	fclose(f);
	if (r == 0 && sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = audit_db_fail(a, -EIO, "cannot import a spool", err);
	if (r < 0)
		(void)sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static bool spool_imported(struct graft_audit *a, const char *name)
{
	sqlite3_stmt *st = NULL;
	bool in = false;

	if (sqlite3_prepare_v2(a->db, "SELECT 1 FROM spools WHERE name = ?", -1, &st, NULL) ==
	    SQLITE_OK) {
		(void)sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		in = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return in;
}

int spool_show_locked(struct graft_audit *a, uint64_t since_ns, pid_t pid, graft_audit_fn fn,
		      void *ctx, struct graft_err *err)
{
	DIR *d = opendir(a->dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return 0;
	while (r == 0 && (de = readdir(d))) {
		struct import im = {
			.a = a, .show = fn, .show_ctx = ctx, .since_ns = since_ns, .pid = pid};
		int fd;
		FILE *f;

		if (!is_spool_name(de->d_name, SPOOL_SUFFIX) || spool_imported(a, de->d_name))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (!(f = fdopen(fd, "r"))) {
			close(fd);
			continue;
		}
		r = import_read(&im, f, err);
		import_free(&im);
		fclose(f);
		if (im.shown_enough)
			break;
	}
	closedir(d);
	return r;
}

/*
 * The file is gone: its mark can go too. Only a graft killed between the
 * import's commit and here leaves one behind (to be sure it imports once).
 */
static void spool_forget(struct graft_audit *a, const char *name)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(a->db, "DELETE FROM spools WHERE name = ?", -1, &st, NULL) ==
	    SQLITE_OK) {
		(void)sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		(void)sqlite3_step(st);
	}
	sqlite3_finalize(st);
}

void spool_import_leftovers(struct graft_audit *a)
{
	DIR *d = opendir(a->dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		bool done = is_spool_name(de->d_name, SPOOL_SUFFIX),
		     made = is_spool_name(de->d_name, SPOOL_NEW);
		struct graft_err e = {0};
		struct stat s;
		int fd;

		if (!done && !made)
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		/* locked: its graft is running; unlinked: someone imported it meanwhile */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &s) == 0 && S_ISREG(s.st_mode) &&
		    s.st_nlink > 0) {
			/* a ".new" one died before it was renamed: nothing was written to it */
			if (made)
				(void)unlinkat(dirfd(d), de->d_name, 0);
			else if (spool_import(a, fd, de->d_name, &e) < 0)
				graft_debug("%s", e.msg);
			else if (graft_test_die_at("spool-imported"),
				 unlinkat(dirfd(d), de->d_name, 0) == 0)
				spool_forget(a, de->d_name);
		}
		close(fd);
	}
	closedir(d);
}

/* --- the API ------------------------------------------------------------------- */

int graft_audit_spool_start(struct graft_audit *a, struct graft_err *err)
{
	char base[96], name[128];
	uint64_t rnd = 0;
	int fd, r = 0;

	(void)pthread_mutex_lock(&a->lock);
	if (a->spool_fd >= 0)
		goto out;
	r = audit_commit_locked(a, NULL, err); /* held outcomes belong to rows already in the log */
	if (r < 0)
		goto out;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = graft_now_ns();
	(void)snprintf(base, sizeof(base), "%s/" SPOOL_PREFIX "%d-%016llx", a->dir, (int)getpid(),
		       (unsigned long long)rnd);
	(void)snprintf(name, sizeof(name), "%s" SPOOL_NEW, base);
	fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = graft_err_set(err, -errno, "cannot create the audit spool '%s': %s", name,
				  strerror(errno));
		goto out;
	}
	/* an importer that got to the ".new" first removed it: the rename says so */
	if (flock(fd, LOCK_EX) < 0 || rename(name, strcat(base, SPOOL_SUFFIX)) < 0) {
		r = graft_err_set(err, -errno, "cannot create the audit spool '%s': %s", name,
				  strerror(errno));
		(void)unlink(name);
		close(fd);
		goto out;
	}
	a->spool_name = strdup(strrchr(base, '/') + 1);
	if (!a->spool_name) {
		(void)unlink(base);
		close(fd);
		r = graft_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	a->spool_fd = fd;
	a->spool_next = 0;
out:
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}

int graft_audit_spool_finish(struct graft_audit *a, struct graft_err *err)
{
	int r = 0, ri;

	(void)pthread_mutex_lock(&a->lock);
	if (a->spool_fd < 0)
		goto out;
	r = spool_write_locked(a, NULL, NULL, err);
	/* held outcomes name spool records: they mean nothing to the log */
	audit_later_drop(a);
	ri = spool_import(a, a->spool_fd, a->spool_name, r < 0 ? NULL : err);
	if (ri == 0) {
		char path[PATH_MAX];

		(void)snprintf(path, sizeof(path), "%s/%s", a->dir, a->spool_name);
		graft_test_die_at("spool-imported");
		if (unlink(path) == 0)
			spool_forget(a, a->spool_name);
		else
			graft_debug("cannot remove the imported audit spool '%s': %s", path,
				    strerror(errno));
	} else if (r == 0) {
		r = ri; /* the next graft to open the log imports it */
	}
	close(a->spool_fd); /* the lock goes with it */
	a->spool_fd = -1;
	free(a->spool_name);
	a->spool_name = NULL;
out:
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}
