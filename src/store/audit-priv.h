/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log's insides, shared by audit.c (SQLite) and spool.c (runs over many processes). */
#ifndef GRAFT_STORE_AUDIT_PRIV_H
#define GRAFT_STORE_AUDIT_PRIV_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/audit.h"

/* an outcome waiting to be written with the next row (graft_audit_end_later) */
struct audit_later {
	int64_t id;
	char *result, *error;
	int exit_code;
	uint64_t stopped_ns;
};

struct graft_audit {
	sqlite3 *db;
	char *path, *dir;
	/* a row id and an error message are per connection: one writer at a time */
	pthread_mutex_t lock;
	/* prepared once: a run over many processes writes two rows each */
	sqlite3_stmt *ins, *upd;
	struct audit_later later[GRAFT_AUDIT_LATER_MAX];
	size_t nlater;
	/* while a spool is open (graft_audit_spool_start), rows go there; ids are its lines' */
	int spool_fd;
	char *spool_name;
	int64_t spool_next;
};

int audit_db_fail(struct graft_audit *a, int code, const char *what, struct graft_err *err);
/* One row at ev->time_ns, "started" unless ev->result says otherwise; ev->id is set. */
int audit_insert_locked(struct graft_audit *a, struct graft_audit_event *ev, struct graft_err *err);
/* The outcome of row ev->id. */
int audit_update_locked(struct graft_audit *a, const struct graft_audit_event *ev,
			struct graft_err *err);

void audit_later_drop(struct graft_audit *a);
/* The held outcomes and begin (if any): one commit, or one spool write. */
int audit_commit_locked(struct graft_audit *a, struct graft_audit_event *begin,
			struct graft_err *err);

/*
 * The held outcomes, then end and begin (each if given), appended to the
 * spool in one write; begin->id is set, the held outcomes are dropped.
 */
int spool_write_locked(struct graft_audit *a, const struct graft_audit_event *end,
		       struct graft_audit_event *begin, struct graft_err *err);
/*
 * The attempts of spools not in the log yet (a run under way, or one whose
 * import failed), after the log's own, for graft_audit_query; their id is 0.
 */
int spool_show_locked(struct graft_audit *a, uint64_t since_ns, pid_t pid, graft_audit_fn fn,
		      void *ctx, struct graft_err *err);
/* Spools of earlier runs whose graft is gone, into the log. */
void spool_import_leftovers(struct graft_audit *a);

#endif
