/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Library tracing goes through one callback the program installs. With no
 * callback installed the library is silent.
 */
#ifndef GRAFT_LOG_H
#define GRAFT_LOG_H

#include <stdarg.h>

enum graft_log_level { GRAFT_LOG_WARN, GRAFT_LOG_INFO, GRAFT_LOG_DEBUG };

typedef void (*graft_log_fn)(enum graft_log_level level, const char *fmt, va_list ap);

void graft_log_set(graft_log_fn fn);
void graft_log(enum graft_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define graft_warn(...)	 graft_log(GRAFT_LOG_WARN, __VA_ARGS__)
#define graft_info(...)	 graft_log(GRAFT_LOG_INFO, __VA_ARGS__)
#define graft_debug(...) graft_log(GRAFT_LOG_DEBUG, __VA_ARGS__)

#endif
