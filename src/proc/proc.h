/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /proc/PID views: the memory map, the thread list, and the ELF objects a
 * process maps, identified by GNU build-id read through map_files (never by
 * path, which may have been replaced or deleted on disk since mapping).
 */
#ifndef GRAFT_PROC_H
#define GRAFT_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

#define GRAFT_BUILD_ID_MAX 64

struct graft_map {
	uint64_t start, end, offset;
	uint64_t inode;
	unsigned int dev_major, dev_minor;
	bool r, w, x, shared;
	char *path; /* NULL for anonymous mappings */
};

struct graft_maps {
	struct graft_map *v;
	size_t n;
};

int graft_proc_read_maps(pid_t pid, struct graft_maps *out, struct graft_err *err);
/*
 * Only the mappings that meet the ranges [lo, hi), sorted, asked of the
 * kernel one by one (PROCMAP_QUERY, Linux 6.11): no text made and parsed for
 * the whole process, whose maps may run to thousands of lines. -ENOTTY on
 * older kernels: read the maps then.
 */
int graft_proc_maps_range(pid_t pid, const uint64_t (*ranges)[2], size_t n, struct graft_maps *out,
			  struct graft_err *err);
/* Parse the text of a maps file (modified in place); what names it in errors. */
int graft_proc_parse_maps(char *text, const char *what, struct graft_maps *out,
			  struct graft_err *err);
void graft_maps_free(struct graft_maps *m);
const struct graft_map *graft_maps_find(const struct graft_maps *m, uint64_t addr);

/* An ELF object (executable or shared library) mapped in a process. */
struct graft_object {
	char *path; /* as the kernel names it; a hint only */
	uint64_t inode;
	unsigned int dev_major, dev_minor;
	uint64_t base;		       /* load bias: runtime address = base + st_value */
	uint64_t lo, hi;	       /* lowest and highest address of its mappings */
	uint64_t map0_start, map0_end; /* the mapping at file offset 0 */
	uint8_t build_id[GRAFT_BUILD_ID_MAX];
	size_t build_id_len;
	bool is_exec; /* the process's main executable */
};

struct graft_objects {
	struct graft_object *v;
	size_t n;
};

/*
 * List the ELF objects of pid in map order (executable first as it is
 * mapped first). Objects whose ELF header cannot be read are skipped.
 */
int graft_proc_objects(pid_t pid, const struct graft_maps *maps, struct graft_objects *out,
		       struct graft_err *err);
void graft_objects_free(struct graft_objects *o);
/* Open the object's file through /proc/PID/map_files. */
int graft_proc_open_object(pid_t pid, const struct graft_object *obj, struct graft_err *err);

/* Thread ids from /proc/PID/task. */
int graft_proc_tasks(pid_t pid, pid_t **out, size_t *n, struct graft_err *err);
/*
 * The same, for listing a process's threads again and again: open
 * /proc/PID/task once (returns the fd), then each read lists the threads
 * as they are at that moment; again: not the first read of this fd.
 */
int graft_proc_tasks_open(pid_t pid, struct graft_err *err);
int graft_proc_tasks_read(int dirfd, bool again, pid_t pid, pid_t **out, size_t *n,
			  struct graft_err *err);
/*
 * How many threads the process has now (live ones, and exited ones not yet
 * released), from /proc/PID/stat opened once: cheaper than a listing when
 * there are many.
 */
int graft_proc_stat_open(pid_t pid, struct graft_err *err);
/* Where a thread waits, in words ("state D, in kernel_clone"), for messages. */
void graft_proc_task_wait(pid_t pid, pid_t tid, char *buf, size_t len);
int graft_proc_stat_nthreads(int statfd, unsigned *n);
/* Does the process exist (and is not a zombie)? */
bool graft_proc_is_alive(pid_t pid);
/* Does thread tid of pid exist and is not a zombie? */
bool graft_proc_task_alive(pid_t pid, pid_t tid);
/* TracerPid of a thread (0: not traced, -1: unreadable). */
pid_t graft_proc_tracer(pid_t tid);
/* Gone, a zombie, or tearing down (PF_EXITING)? */
bool graft_proc_is_exiting(pid_t pid);
/* "comm" of the process, for messages. */
void graft_proc_comm(pid_t pid, char *buf, size_t len);
/* Start time in clock ticks after boot: with the pid, names one process for good. */
int graft_proc_start_time(pid_t pid, uint64_t *ticks);

/* Format a build-id as lowercase hex into buf (2*len+1 bytes). */
void graft_hex(const uint8_t *b, size_t len, char *buf);

/* --- the host's processes (proc/host.c) ----------------------------------- */

/* Every pid in /proc, ascending. */
int graft_proc_list(pid_t **out, size_t *n, struct graft_err *err);
/*
 * Do two processes share one address space (kcmp KCMP_VM)? A vfork child
 * until it execs, or clone(CLONE_VM) without CLONE_THREAD: its threads run
 * the target's code but are not threads of the target. 1 yes, 0 no, -errno.
 */
int graft_proc_same_mm(pid_t a, pid_t b);
/* Another process sharing pid's address space (a scan of every process), or 0. */
pid_t graft_proc_mm_sharer(pid_t pid);

/* What /proc/PID/status says that decides whether graft can work on it. */
struct graft_proc_status {
	pid_t pid;
	char comm[64];
	char state;	 /* R S D T t Z X I ... */
	uid_t uid, euid; /* real, effective */
	pid_t tracer;
	unsigned threads;
	int seccomp; /* 0 none, 1 strict, 2 filter */
	unsigned seccomp_filters;
	uint64_t sigblk; /* blocked signals (of this thread, when pid is a tid) */
	uint64_t sigcgt; /* signals with a handler (of the process) */
	bool kthread;
	bool shstk; /* an x86 user shadow stack is on: no return graft did not call */
};
int graft_proc_status_read(pid_t pid, struct graft_proc_status *st, struct graft_err *err);

/*
 * Build-ids and load offsets of files by (device, inode), for one walk over
 * many processes; thread-safe. NULL is a valid, empty cache.
 */
struct graft_objcache;
int graft_objcache_new(struct graft_objcache **out);
void graft_objcache_free(struct graft_objcache *c);
static inline void graft_objcache_freep(struct graft_objcache **c)
{
	graft_objcache_free(*c);
}
bool graft_objcache_get(struct graft_objcache *c, struct graft_object *obj, uint64_t *first_vaddr);
void graft_objcache_put(struct graft_objcache *c, const struct graft_object *obj,
			uint64_t first_vaddr);
/*
 * Small facts a layer learned about one file-backed mapping (the same file
 * part, mapped the same size, in any process), under a tag it picks: e.g.
 * where in a library's code a byte pattern is. Values up to
 * GRAFT_OBJCACHE_FACT_MAX bytes; a caller checks a fact before relying on it.
 */
#define GRAFT_OBJCACHE_FACT_MAX 64
bool graft_objcache_fact_get(struct graft_objcache *c, uint32_t tag, const struct graft_map *m,
			     void *value, size_t len);
void graft_objcache_fact_put(struct graft_objcache *c, uint32_t tag, const struct graft_map *m,
			     const void *value, size_t len);
/* graft_proc_objects, asking the cache before opening a file. */
int graft_proc_objects_cached(pid_t pid, const struct graft_maps *maps,
			      struct graft_objcache *cache, struct graft_objects *out,
			      struct graft_err *err);

/*
 * Is the file an object was mapped from still the one at its path (or at
 * least the same build: equal GNU build-ids count as the same)?
 */
enum graft_disk_state {
	GRAFT_DISK_SAME,
	GRAFT_DISK_DELETED,  /* unlinked, nothing at its path */
	GRAFT_DISK_REPLACED, /* another file at its path (an upgrade) */
	GRAFT_DISK_UNKNOWN,  /* cannot tell */
};
enum graft_disk_state graft_proc_object_on_disk(pid_t pid, const struct graft_object *obj);

#endif
