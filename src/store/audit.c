/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit log on SQLite. One table, one row per attempt; written with
 * prepared statements only (patch ids, paths and messages come from
 * outside). Several graft commands may run at once: SQLite's own locking
 * serialises them, with a busy timeout instead of failing at once. The
 * schema carries a version in user_version for later migrations.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/audit-priv.h"

#define SCHEMA_VERSION 1
#define BUSY_MS	       10000

static const char schema[] = "CREATE TABLE IF NOT EXISTS events ("
			     " id INTEGER PRIMARY KEY,"
			     " time_ns INTEGER NOT NULL,"
			     " uid INTEGER NOT NULL,"
			     " user TEXT NOT NULL,"
			     " op TEXT NOT NULL,"
			     " patch_id TEXT,"
			     " patch_sha256 TEXT,"
			     " signer TEXT,"
			     " pid INTEGER,"
			     " start_time INTEGER,"
			     " exe TEXT,"
			     " build_ids TEXT,"
			     " result TEXT NOT NULL,"
			     " exit_code INTEGER,"
			     " stopped_ns INTEGER,"
			     " error TEXT);"
			     "CREATE INDEX IF NOT EXISTS events_time ON events(time_ns);"
			     "CREATE INDEX IF NOT EXISTS events_pid ON events(pid);"
			     /* spools moved into the log (spool.c): never twice */
			     "CREATE TABLE IF NOT EXISTS spools (name TEXT PRIMARY KEY,"
			     " time_ns INTEGER NOT NULL);";

const char *graft_audit_dir(const char *given)
{
	const char *env = getenv(GRAFT_STATE_DIR_ENV);

	if (given && *given)
		return given;
	return env && *env ? env : GRAFT_STATE_DIR;
}

int audit_db_fail(struct graft_audit *a, int code, const char *what, struct graft_err *err)
{
	return graft_err_set(err, code, "audit log '%s': %s: %s", a->path, what,
			     a->db ? sqlite3_errmsg(a->db) : "cannot open");
}

void audit_later_drop(struct graft_audit *a)
{
	for (size_t i = 0; i < a->nlater; i++) {
		free(a->later[i].result);
		free(a->later[i].error);
	}
	a->nlater = 0;
}

void graft_audit_close(struct graft_audit *a)
{
	if (!a)
		return;
	(void)graft_audit_spool_finish(a, NULL);
	(void)graft_audit_flush(a, NULL);
	audit_later_drop(a);
	sqlite3_finalize(a->ins);
	sqlite3_finalize(a->upd);
	if (a->db)
		(void)sqlite3_close(a->db);
	(void)pthread_mutex_destroy(&a->lock);
	free(a->path);
	free(a->dir);
	free(a);
}

int graft_audit_open(const char *dir, struct graft_audit **out, struct graft_err *err)
{
	_cleanup_(graft_audit_closep) struct graft_audit *a = calloc(1, sizeof(*a));
	sqlite3_stmt *st = NULL;
	int version = 0;

	dir = graft_audit_dir(dir);
	if (a) {
		(void)pthread_mutex_init(&a->lock, NULL);
		a->spool_fd = -1;
	}
	if (!a || !(a->dir = strdup(dir)) || asprintf(&a->path, "%s/audit.db", dir) < 0) {
		if (a)
			a->path = NULL;
		return graft_err_set(err, -ENOMEM, "out of memory");
	}
	/* the log says who patched what: only its owner reads it */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return graft_err_set(err, -errno,
				     "cannot create the state directory '%s': %s (give --state-dir "
				     "or set " GRAFT_STATE_DIR_ENV ")",
				     dir, strerror(errno));
	if (sqlite3_open_v2(a->path, &a->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK)
		return audit_db_fail(a, -EIO, "cannot open", err);
	(void)chmod(a->path, 0600);
	(void)sqlite3_busy_timeout(a->db, BUSY_MS);
	/*
	 * Write-ahead log, synced at checkpoints: a commit is one append, not
	 * two fsyncs, which a run over a thousand processes would feel. A row
	 * survives graft being killed (it is in the OS); only a power cut can
	 * lose the last ones, and that also ends every process they are about.
	 */
	(void)sqlite3_exec(a->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL,
			   NULL);
	if (sqlite3_exec(a->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return audit_db_fail(a, -EIO, "cannot create the schema", err);
	if (sqlite3_prepare_v2(a->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION)
		return graft_err_set(err, -ENOTSUP,
				     "audit log '%s' has schema version %d; this graft knows %d",
				     a->path, version, SCHEMA_VERSION);
	if (version < SCHEMA_VERSION &&
	    sqlite3_exec(a->db, "PRAGMA user_version = 1", NULL, NULL, NULL) != SQLITE_OK)
		return audit_db_fail(a, -EIO, "cannot set the schema version", err);
	spool_import_leftovers(a);
	*out = TAKE_PTR(a);
	return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		(void)sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		(void)sqlite3_bind_null(st, i);
}

int audit_insert_locked(struct graft_audit *a, struct graft_audit_event *ev, struct graft_err *err)
{
	static const char sql[] =
		"INSERT INTO events (time_ns, uid, user, op, patch_id, patch_sha256, signer, pid,"
		" start_time, exe, build_ids, result, exit_code, stopped_ns, error)"
		" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
	sqlite3_stmt *st;
	int r;

	if (!a->ins && sqlite3_prepare_v2(a->db, sql, -1, &a->ins, NULL) != SQLITE_OK)
		return audit_db_fail(a, -EIO, "cannot record", err);
	st = a->ins;
	(void)sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->time_ns);
	(void)sqlite3_bind_int64(st, 2, ev->uid);
	bind_text(st, 3, ev->user ? ev->user : "?");
	bind_text(st, 4, ev->op);
	bind_text(st, 5, ev->patch_id);
	bind_text(st, 6, ev->patch_sha256);
	bind_text(st, 7, ev->signer);
	(void)sqlite3_bind_int64(st, 8, ev->pid);
	(void)sqlite3_bind_int64(st, 9, (sqlite3_int64)ev->start_time);
	bind_text(st, 10, ev->exe);
	bind_text(st, 11, ev->build_ids);
	bind_text(st, 12, ev->result ? ev->result : "started");
	if (ev->result) { /* a whole attempt at once (spool.c) */
		(void)sqlite3_bind_int(st, 13, ev->exit_code);
		(void)sqlite3_bind_int64(st, 14, (sqlite3_int64)ev->stopped_ns);
		bind_text(st, 15, ev->error && *ev->error ? ev->error : NULL);
	}
	r = sqlite3_step(st);
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	if (r != SQLITE_DONE)
		return audit_db_fail(a, -EIO, "cannot record", err);
	ev->id = sqlite3_last_insert_rowid(a->db);
	return 0;
}

int audit_update_locked(struct graft_audit *a, const struct graft_audit_event *ev,
			struct graft_err *err)
{
	static const char sql[] = "UPDATE events SET result = ?, exit_code = ?, stopped_ns = ?, "
				  "error = ? WHERE id = ?";
	sqlite3_stmt *st;
	int r;

	if (!a->upd && sqlite3_prepare_v2(a->db, sql, -1, &a->upd, NULL) != SQLITE_OK)
		return audit_db_fail(a, -EIO, "cannot record", err);
	st = a->upd;
	bind_text(st, 1, ev->result);
	(void)sqlite3_bind_int(st, 2, ev->exit_code);
	(void)sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->stopped_ns);
	bind_text(st, 4, ev->error && *ev->error ? ev->error : NULL);
	(void)sqlite3_bind_int64(st, 5, ev->id);
	r = sqlite3_step(st);
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	if (r != SQLITE_DONE)
		return audit_db_fail(a, -EIO, "cannot record", err);
	return 0;
}

/* The outcomes held back, and maybe a new row, in one transaction: one commit. */
int audit_commit_locked(struct graft_audit *a, struct graft_audit_event *begin,
			struct graft_err *err)
{
	int r = 0;

	if (a->spool_fd >= 0)
		return spool_write_locked(a, NULL, begin, err);
	if (a->nlater == 0)
		return begin ? audit_insert_locked(a, begin, err) : 0;
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return audit_db_fail(a, -EIO, "cannot record", err);
	for (size_t i = 0; r == 0 && i < a->nlater; i++) {
		const struct audit_later *l = &a->later[i];
		struct graft_audit_event ev = {.id = l->id,
					       .result = l->result,
					       .exit_code = l->exit_code,
					       .stopped_ns = l->stopped_ns,
					       .error = l->error};

		r = audit_update_locked(a, &ev, err);
	}
	if (r == 0 && begin)
		r = audit_insert_locked(a, begin, err);
	if (r == 0 && sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = audit_db_fail(a, -EIO, "cannot record", err);
	if (r < 0) {
		(void)sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		return r; /* the outcomes stay held for the next try */
	}
	audit_later_drop(a);
	return 0;
}

int graft_audit_begin(struct graft_audit *a, struct graft_audit_event *ev, struct graft_err *err)
{
	int r;

	(void)pthread_mutex_lock(&a->lock);
	ev->time_ns = graft_wall_ns(); /* under the lock: rows in order of time */
	r = audit_commit_locked(a, ev, err);
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}

/* An outcome, now: into the spool while there is one (its rows are there). */
static int audit_end_now_locked(struct graft_audit *a, const struct graft_audit_event *ev,
				struct graft_err *err)
{
	if (a->spool_fd >= 0)
		return spool_write_locked(a, ev, NULL, err);
	return audit_update_locked(a, ev, err);
}

int graft_audit_end_later(struct graft_audit *a, const struct graft_audit_event *ev,
			  struct graft_err *err)
{
	struct audit_later *l;
	int r = 0;

	(void)pthread_mutex_lock(&a->lock);
	if (a->nlater == GRAFT_AUDIT_LATER_MAX)
		r = audit_commit_locked(a, NULL, err);
	if (r == 0) {
		l = &a->later[a->nlater];
		*l = (struct audit_later){.id = ev->id,
					  .result = strdup(ev->result ? ev->result : "?"),
					  .error = ev->error && *ev->error ? strdup(ev->error)
									   : NULL,
					  .exit_code = ev->exit_code,
					  .stopped_ns = ev->stopped_ns};
		if (!l->result || (ev->error && *ev->error && !l->error)) {
			free(l->result);
			free(l->error);
			r = audit_end_now_locked(a, ev, err); /* no memory: now, then */
		} else {
			a->nlater++;
		}
	}
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}

int graft_audit_flush(struct graft_audit *a, struct graft_err *err)
{
	int r;

	(void)pthread_mutex_lock(&a->lock);
	r = audit_commit_locked(a, NULL, err);
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}

int graft_audit_end(struct graft_audit *a, const struct graft_audit_event *ev,
		    struct graft_err *err)
{
	int r;

	(void)pthread_mutex_lock(&a->lock);
	r = audit_end_now_locked(a, ev, err);
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}

static int audit_resolve_locked(struct graft_audit *a, pid_t pid, uint64_t start_time,
				const char *patch_id, const char *result, const char *note,
				struct graft_err *err)
{
	static const char sql[] = "UPDATE events SET result = ?, error = ? WHERE result = 'started'"
				  " AND pid = ? AND start_time = ? AND patch_id = ?";
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
		return audit_db_fail(a, -EIO, "cannot record", err);
	bind_text(st, 1, result);
	bind_text(st, 2, note);
	(void)sqlite3_bind_int64(st, 3, pid);
	(void)sqlite3_bind_int64(st, 4, (sqlite3_int64)start_time);
	bind_text(st, 5, patch_id);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r != SQLITE_DONE)
		return audit_db_fail(a, -EIO, "cannot record", err);
	return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int graft_audit_resolve_started(struct graft_audit *a, pid_t pid, uint64_t start_time,
				const char *patch_id, const char *result, const char *note,
				struct graft_err *err)
{
	int r;

	(void)pthread_mutex_lock(&a->lock);
	r = audit_commit_locked(a, NULL, err); /* no outcome held back left behind */
	if (r == 0)
		r = audit_resolve_locked(a, pid, start_time, patch_id, result, note, err);
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}

int graft_audit_query(struct graft_audit *a, uint64_t since_ns, pid_t pid, graft_audit_fn fn,
		      void *ctx, struct graft_err *err)
{
	static const char sql[] =
		"SELECT id, time_ns, uid, user, op, patch_id, patch_sha256, signer, pid, "
		"start_time,"
		" exe, build_ids, result, exit_code, stopped_ns, error FROM events"
		" WHERE time_ns >= ? AND (? = 0 OR pid = ?) ORDER BY id";
	sqlite3_stmt *st = NULL;
	int r;

	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
		return audit_db_fail(a, -EIO, "cannot read", err);
	(void)sqlite3_bind_int64(st, 1, (sqlite3_int64)since_ns);
	(void)sqlite3_bind_int64(st, 2, pid);
	(void)sqlite3_bind_int64(st, 3, pid);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct graft_audit_event ev = {
			.id = sqlite3_column_int64(st, 0),
			.time_ns = (uint64_t)sqlite3_column_int64(st, 1),
			.uid = (uint32_t)sqlite3_column_int64(st, 2),
			.user = col_text(st, 3),
			.op = col_text(st, 4),
			.patch_id = col_text(st, 5),
			.patch_sha256 = col_text(st, 6),
			.signer = col_text(st, 7),
			.pid = (pid_t)sqlite3_column_int64(st, 8),
			.start_time = (uint64_t)sqlite3_column_int64(st, 9),
			.exe = col_text(st, 10),
			.build_ids = col_text(st, 11),
			.result = col_text(st, 12),
			.exit_code = sqlite3_column_int(st, 13),
			.stopped_ns = (uint64_t)sqlite3_column_int64(st, 14),
			.error = col_text(st, 15),
		};

		if (fn(ctx, &ev) != 0)
			break;
	}
	sqlite3_finalize(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return audit_db_fail(a, -EIO, "cannot read", err);
	if (r == SQLITE_ROW)
		return 0; /* fn had enough */
	(void)pthread_mutex_lock(&a->lock);
	r = spool_show_locked(a, since_ns, pid, fn, ctx, err);
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}
