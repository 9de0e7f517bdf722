/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The audit log: every apply and revert attempt, in a local SQLite store
 * (default /var/lib/graft/audit.db). An attempt is written as "started"
 * before graft touches the process and completed with its result after, so
 * an attempt whose graft died stays visible as started.
 */
#ifndef GRAFT_STORE_AUDIT_H
#define GRAFT_STORE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

#define GRAFT_STATE_DIR	    "/var/lib/graft"
#define GRAFT_STATE_DIR_ENV "GRAFT_STATE_DIR"

struct graft_audit;

struct graft_audit_event {
	int64_t id;	  /* filled by begin */
	uint64_t time_ns; /* CLOCK_REALTIME at begin */
	uint32_t uid;
	const char *user;
	const char *op; /* "apply", "revert" */
	const char *patch_id;
	const char *patch_sha256; /* hex; apply only */
	const char *signer;	  /* key id hex, or NULL (unsigned, or revert) */
	pid_t pid;
	uint64_t start_time; /* of the process, clock ticks after boot */
	const char *exe;
	const char *build_ids; /* comma-separated: the objects the patch is for */
	/* the outcome */
	const char *result; /* started, applied, reverted, already, not-applied, refused, failed */
	int exit_code;
	uint64_t stopped_ns;
	const char *error;
};

const char *graft_audit_dir(const char *given);
int graft_audit_open(const char *dir, struct graft_audit **out, struct graft_err *err);
void graft_audit_close(struct graft_audit *a);
static inline void graft_audit_closep(struct graft_audit **a)
{
	graft_audit_close(*a);
}

/* Record an attempt as started; ev->id is set. */
int graft_audit_begin(struct graft_audit *a, struct graft_audit_event *ev, struct graft_err *err);
/* Complete it with result, exit_code, stopped_ns, error. */
int graft_audit_end(struct graft_audit *a, const struct graft_audit_event *ev,
		    struct graft_err *err);

/*
 * The same, written in one commit with the next attempt's "started" row
 * (or by graft_audit_flush, or when GRAFT_AUDIT_LATER_MAX are held): a run
 * over many processes commits once per process instead of twice. Until
 * then the row says "started"; should graft be killed in between, it stays
 * so, as for an attempt cut short (the process itself tells the truth).
 */
#define GRAFT_AUDIT_LATER_MAX 64
int graft_audit_end_later(struct graft_audit *a, const struct graft_audit_event *ev,
			  struct graft_err *err);
/* Write the outcomes held back. graft_audit_close does too, unreported. */
int graft_audit_flush(struct graft_audit *a, struct graft_err *err);

/*
 * A run over many processes: from graft_audit_spool_start on, attempts and
 * outcomes are appended to a spool file beside the log (one write per
 * process instead of an SQLite commit; store/spool.c), and
 * graft_audit_spool_finish moves them into the log in one transaction.
 * Rows keep their times; an event's id is its spool record's number until
 * then, so every end of the run must come before the finish. graft killed
 * meanwhile: the next graft_audit_open imports the spool. Queries show the
 * run's rows from the spool meanwhile. graft_audit_close finishes too.
 */
int graft_audit_spool_start(struct graft_audit *a, struct graft_err *err);
int graft_audit_spool_finish(struct graft_audit *a, struct graft_err *err);

/*
 * Close the attempts on one process (pid and start time) of one patch that
 * were left "started" by a graft that died: they get result and note.
 */
int graft_audit_resolve_started(struct graft_audit *a, pid_t pid, uint64_t start_time,
				const char *patch_id, const char *result, const char *note,
				struct graft_err *err);

/*
 * Events since since_ns (0: all), of pid (0: any), oldest first; then those
 * of runs under way, still in their spools, with id 0.
 */
typedef int (*graft_audit_fn)(void *ctx, const struct graft_audit_event *ev);
int graft_audit_query(struct graft_audit *a, uint64_t since_ns, pid_t pid, graft_audit_fn fn,
		      void *ctx, struct graft_err *err);

#endif
