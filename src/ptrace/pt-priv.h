/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GRAFT_PT_PRIV_H
#define GRAFT_PT_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum pt_wait_result { PT_STOPPED, PT_GONE, PT_ERROR, PT_LATE };

/*
 * Wait until tid reaches a ptrace event stop (PTRACE_INTERRUPT or group
 * stop). A signal that arrives first is delivered on the spot (never lost),
 * after which the pending interrupt stops the thread again. PT_LATE: not
 * stopped by deadline_ns (CLOCK_MONOTONIC; 0: no deadline).
 */
enum pt_wait_result pt_wait_stop(pid_t tid, uint64_t deadline_ns, int *err_no);
/* The same; *stop_sig gets SIGTRAP for our interrupt, the stop signal in a group stop. */
enum pt_wait_result pt_wait_stop_sig(pid_t tid, uint64_t deadline_ns, int *err_no, int *stop_sig);
/*
 * waitpid(tid, __WALL), polling briefly before blocking; past deadline_ns
 * (0: none) it fails with ETIMEDOUT. The deadline's timer stays armed for
 * further waits until pt_alarm_disarm().
 */
pid_t pt_wait_polling(pid_t tid, int *st, bool poll, uint64_t deadline_ns);

/* deadline.c */
bool pt_alarm_arm(uint64_t deadline_ns);
void pt_alarm_disarm(void);
/* tid (of pid, 0: not known) stays seized, on its way to a stop: let it go once it stops */
void pt_straggler_add(pid_t pid, pid_t tid);
/* Why PTRACE_SEIZE failed, in words ("traced by pid 12 (gdb)"). */
void pt_seize_failure(pid_t tid, int err_no, char *buf, size_t len);

/* rframe.c: the signal frame that brings a borrowed thread home */
struct graft_rsys;
struct graft_maps;
struct graft_objcache;
void pt_rframe_find(struct graft_rsys *rs, const struct graft_maps *maps,
		    struct graft_objcache *cache);
int pt_rframe_snapshot(struct graft_rsys *rs);
int pt_rframe_write(struct graft_rsys *rs, uint64_t *frame_out);
struct graft_rsys_call;
int pt_rframe_write_chain(struct graft_rsys *rs, const struct graft_rsys_call *next, size_t n,
			  uint64_t *first_out);

#endif
