/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The error record. Fallible functions return >= 0 on success and -errno on
 * failure and fill a struct graft_err when one is given. The innermost failure
 * writes the message; outer layers prefix context. The kind tells the CLI
 * which documented exit code applies.
 */
#ifndef GRAFT_ERR_H
#define GRAFT_ERR_H

#include <stdarg.h>

enum graft_err_kind {
	GRAFT_ERR_ERROR = 1,  /* something failed: exit 1 */
	GRAFT_ERR_UNSAFE = 2, /* refused as unsafe: busy, mismatch: exit 2 */
	GRAFT_ERR_NOOP = 3,   /* nothing to do: exit 3 */
};

#define GRAFT_ERR_MSG_MAX 1024

struct graft_err {
	int code; /* negative errno */
	enum graft_err_kind kind;
	char msg[GRAFT_ERR_MSG_MAX];
};

/* Record a failure (first one wins) and return code (negative errno). */
int graft_err_set(struct graft_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, with a kind other than GRAFT_ERR_ERROR. */
int graft_err_setk(struct graft_err *err, enum graft_err_kind kind, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prefix context to an already recorded message: "ctx: msg". */
int graft_err_prefix(struct graft_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void graft_err_clear(struct graft_err *err);

#endif
