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
 * transaction and the file is removed.
 *
 * The file: "spool-PID-RANDOM.jsonl" in the state directory, one JSON
 * object per line, each written with a newline before it, so that a line
 * cut short by a failed write never swallows the next one. Lines that do not
 * parse are skipped: a begin record cut short was an attempt graft never
 * made (its write failed, so it refused to go on). Outcome records only
 * repeat what a later one may say again, so writing one twice is harmless.
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
#define SPOOL_SUFFIX   ".jsonl"
#define SPOOL_NEW      ".new"
#define SPOOL_LINE_MAX (64 * 1024) /* a record is well under 8 KiB */
#define SPOOL_SEQ_MAX  (1 << 24)   /* records in one spool: far more than processes */

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/* --- writing ------------------------------------------------------------------- */

static json_t *end_record(int64_t id, const char *result, int code, uint64_t stopped_ns,
			  const char *error)
{
	return json_pack("{s:s, s:I, s:s?, s:i, s:I, s:s?}", "k", "e", "s", (json_int_t)id, "r",
			 result, "c", code, "ns", (json_int_t)stopped_ns, "err",
			 error && *error ? error : NULL);
}

static json_t *begin_record(const struct graft_audit_event *ev)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:s?}",
			 "k", "b", "s", (json_int_t)ev->id, "t", (json_int_t)ev->time_ns, "uid",
			 (json_int_t)ev->uid, "user", ev->user, "op", ev->op, "patch", ev->patch_id,
			 "sha", ev->patch_sha256, "signer", ev->signer, "exe", ev->exe, "pid",
			 (json_int_t)ev->pid, "st", (json_int_t)ev->start_time, "bids",
			 ev->build_ids);
}

/* "\n" + the record, onto buf (a growing string) */
static int append_record(char **buf, size_t *len, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n;
	char *p;

	json_decref(j);
	if (!s)
		return -ENOMEM;
	n = strlen(s);
	p = realloc(*buf, *len + n + 2);
	if (!p) {
		free(s);
		return -ENOMEM;
	}
	p[*len] = '\n';
	memcpy(p + *len + 1, s, n + 1);
	*len += n + 1;
	*buf = p;
	free(s);
	return 0;
}

int spool_write_locked(struct graft_audit *a, const struct graft_audit_event *end,
		       struct graft_audit_event *begin, struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	ssize_t w;
	int r = 0;

	for (size_t i = 0; r == 0 && i < a->nlater; i++) {
		const struct audit_later *l = &a->later[i];

		r = append_record(
			&buf, &len,
			end_record(l->id, l->result, l->exit_code, l->stopped_ns, l->error));
	}
	if (r == 0 && end)
		r = append_record(&buf, &len,
				  end_record(end->id, end->result, end->exit_code, end->stopped_ns,
					     end->error));
	if (r == 0 && begin) {
		begin->id = a->spool_next;
		r = append_record(&buf, &len, begin_record(begin));
	}
	if (r < 0)
		return graft_err_set(err, r, "audit spool: out of memory");
	if (!len)
		return 0;
	/* O_APPEND: one write lands whole at the end, or fails */
	w = write(a->spool_fd, buf, len);
	if (w != (ssize_t)len)
		return graft_err_set(err, w < 0 ? -errno : -EIO, "audit spool '%s/%s': %s", a->dir,
				     a->spool_name,
				     w < 0 ? strerror(errno) : "short write (disk full?)");
	if (begin)
		a->spool_next++;
	audit_later_drop(a);
	return 0;
}

/* --- into the log -------------------------------------------------------------- */

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int64_t jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

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

struct import {
	struct graft_audit *a;
	struct pending {
		int64_t seq;
		json_t *begin, *end;
	} * q;
	size_t head, n, cap;
	int64_t *ids; /* a begin record's number -> its row, once written */
	size_t nids;
};

static int import_write(struct import *im, struct pending *p, struct graft_err *err)
{
	json_t *b = p->begin, *e = p->end;
	struct graft_audit_event ev = {
		.time_ns = (uint64_t)jint(b, "t"),
		.uid = (uint32_t)jint(b, "uid"),
		.user = jstr(b, "user"),
		.op = jstr(b, "op"),
		.patch_id = jstr(b, "patch"),
		.patch_sha256 = jstr(b, "sha"),
		.signer = jstr(b, "signer"),
		.pid = (pid_t)jint(b, "pid"),
		.start_time = (uint64_t)jint(b, "st"),
		.exe = jstr(b, "exe"),
		.build_ids = jstr(b, "bids"),
		.result = jstr(e, "r"),
		.exit_code = (int)jint(e, "c"),
		.stopped_ns = (uint64_t)jint(e, "ns"),
		.error = jstr(e, "err"),
	};
	int r = audit_insert_locked(im->a, &ev, err);

	if (r == 0 && (size_t)p->seq < im->nids)
		im->ids[p->seq] = ev.id;
	json_decref(b);
	json_decref(e);
	return r;
}

/* Write the oldest attempts that are complete (all of them: at the end). */
static int import_drain(struct import *im, bool all, struct graft_err *err)
{
	int r = 0;

	while (r == 0 && im->n > 0 && (all || im->q[im->head].end || im->n > IMPORT_QUEUE_MAX)) {
		r = import_write(im, &im->q[im->head], err);
		im->head++;
		im->n--;
	}
	if (im->n == 0)
		im->head = 0;
	return r;
}

static int import_begin(struct import *im, int64_t seq, json_t *o, struct graft_err *err)
{
	if ((size_t)seq >= im->nids) {
		size_t n = (size_t)seq + 1024;
		int64_t *p = realloc(im->ids, n * sizeof(*p));

		if (!p)
			return graft_err_set(err, -ENOMEM, "out of memory");
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
			return graft_err_set(err, -ENOMEM, "out of memory");
		}
	}
	im->q[im->head + im->n++] = (struct pending){seq, json_incref(o), NULL};
	return 0;
}

static int import_end(struct import *im, int64_t seq, json_t *o, struct graft_err *err)
{
	for (size_t i = im->head; i < im->head + im->n; i++)
		if (im->q[i].seq == seq) {
			json_decref(im->q[i].end);
			im->q[i].end = json_incref(o);
			return 0;
		}
	if ((size_t)seq < im->nids && im->ids[seq] > 0) {
		struct graft_audit_event ev = {
			.id = im->ids[seq],
			.result = jstr(o, "r"),
			.exit_code = (int)jint(o, "c"),
			.stopped_ns = (uint64_t)jint(o, "ns"),
			.error = jstr(o, "err"),
		};

		return audit_update_locked(im->a, &ev, err);
	}
	return 0; /* its attempt's record was cut short: there was no attempt */
}

/* One line. Lines that are not records are skipped. */
static int import_line(struct import *im, const char *line, struct graft_err *err)
{
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	const char *kind = jstr(o, "k");
	int64_t seq = jint(o, "s");
	int r = 0;

	if (kind && seq >= 0 && seq < SPOOL_SEQ_MAX) {
		if (!strcmp(kind, "b") && jstr(o, "op"))
			r = import_begin(im, seq, o, err);
		else if (!strcmp(kind, "e") && jstr(o, "r"))
			r = import_end(im, seq, o, err);
	}
	json_decref(o);
	return r ? r : import_drain(im, false, err);
}

static void import_free(struct import *im)
{
	for (size_t i = im->head; i < im->head + im->n; i++) {
		json_decref(im->q[i].begin);
		json_decref(im->q[i].end);
	}
	free(im->q);
	free(im->ids);
}

/* Spool fd (named name) into the log, in one transaction; 0 if it was in already. */
static int spool_import(struct graft_audit *a, int fd, const char *name, struct graft_err *err)
{
	static const char mark[] = "INSERT OR IGNORE INTO spools (name, time_ns) VALUES (?, ?)";
	struct import im = {.a = a};
	_cleanup_free_ char *line = NULL;
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	ssize_t n;
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
	while (r == 0 && (n = getline(&line, &cap, f)) >= 0)
		if (n > 1 && n <= SPOOL_LINE_MAX)
			r = import_line(&im, line, err);
	if (r == 0)
		r = import_drain(&im, true, err);
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
		bool done = has_suffix(de->d_name, SPOOL_SUFFIX),
		     made = has_suffix(de->d_name, SPOOL_NEW);
		struct graft_err e = {0};
		struct stat s;
		int fd;

		if (strncmp(de->d_name, SPOOL_PREFIX, strlen(SPOOL_PREFIX)) || (!done && !made))
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
