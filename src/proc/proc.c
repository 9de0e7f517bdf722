/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parsers for /proc/PID/maps, /proc/PID/task and /proc/PID/stat.
 *
 * Objects are found by grouping file-backed mappings by (device, inode). The
 * load bias is derived from the mapping at file offset 0 and the first
 * PT_LOAD segment of the file read through /proc/PID/map_files, so a file
 * replaced on disk after the process mapped it still yields the bytes the
 * process runs. Every read of a possibly hostile /proc file is bounded.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "elf/elf.h"
#include "proc/proc.h"

#define MAPS_MAX (64u << 20)

void graft_hex(const uint8_t *b, size_t len, char *buf)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		buf[2 * i] = digits[b[i] >> 4];
		buf[2 * i + 1] = digits[b[i] & 15];
	}
	buf[2 * len] = '\0';
}

void graft_maps_free(struct graft_maps *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/*
 * Parse a hex or decimal number ending at a given separator; NULL if
 * malformed or over 64 bits. By hand: strtoull's locale and errno handling
 * was the largest user-space cost of a host-wide run.
 */
static char *maps_number(char *p, int base, char sep, uint64_t *out)
{
	uint64_t v = 0;
	char *q = p;

	for (;; q++) {
		unsigned d;

		if (*q >= '0' && *q <= '9')
			d = (unsigned)(*q - '0');
		else if (base == 16 && *q >= 'a' && *q <= 'f')
			d = (unsigned)(*q - 'a' + 10);
		else if (base == 16 && *q >= 'A' && *q <= 'F')
			d = (unsigned)(*q - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / (unsigned)base)
			return NULL;
		v = v * (unsigned)base + d;
	}
	if (q == p || *q != sep)
		return NULL;
	*out = v;
	return q + 1;
}

/*
 * "start-end perms offset major:minor inode   path". Parsed by hand: it runs
 * for every line of every process a host-wide command looks at, and
 * sscanf was a tenth of graft's time there.
 */
static int maps_parse_line(char *line, struct graft_map *m)
{
	uint64_t maj, min;
	char *p = line;

	memset(m, 0, sizeof(*m));
	if (!(p = maps_number(p, 16, '-', &m->start)) || !(p = maps_number(p, 16, ' ', &m->end)) ||
	    strlen(p) < 5 || p[4] != ' ')
		return -EINVAL;
	m->r = p[0] == 'r';
	m->w = p[1] == 'w';
	m->x = p[2] == 'x';
	m->shared = p[3] == 's';
	p += 5;
	if (!(p = maps_number(p, 16, ' ', &m->offset)) || !(p = maps_number(p, 16, ':', &maj)) ||
	    !(p = maps_number(p, 16, ' ', &min)) || maj > UINT32_MAX || min > UINT32_MAX)
		return -EINVAL;
	m->dev_major = (unsigned int)maj;
	m->dev_minor = (unsigned int)min;
	/* the inode ends in the padding before the path, or with the line */
	line = maps_number(p, 10, ' ', &m->inode);
	if (!line) {
		line = maps_number(p, 10, '\0', &m->inode);
		if (!line)
			return -EINVAL;
		line--; /* back onto the end */
	}
	p = line;
	while (*p == ' ')
		p++;
	if (*p) {
		m->path = strdup(p);
		if (!m->path)
			return -ENOMEM;
	}
	return 0;
}

int graft_proc_parse_maps(char *text, const char *what, struct graft_maps *out,
			  struct graft_err *err)
{
	struct graft_maps m = {0};
	size_t cap = 0;
	char *save = NULL;
	int r;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (graft_grow((void **)&m.v, &cap, m.n + 1, sizeof(*m.v)) < 0) {
			graft_maps_free(&m);
			return graft_err_set(err, -ENOMEM, "out of memory");
		}
		r = maps_parse_line(line, &m.v[m.n]);
		if (r < 0) {
			graft_maps_free(&m);
			return graft_err_set(err, r, "cannot parse %s", what);
		}
		m.n++;
	}
	*out = m;
	return 0;
}

int graft_proc_read_maps(pid_t pid, struct graft_maps *out, struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL;
	char path[64];
	int r;

	(void)snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	r = graft_read_file(path, MAPS_MAX, &buf, NULL, err);
	if (r < 0)
		return r;
	return graft_proc_parse_maps(buf, path, out, err);
}

/*
 * struct procmap_query and its ioctl, as Linux 6.11 defines them in
 * linux/fs.h (older headers lack them); the size field lets the kernel
 * tell versions of the struct apart.
 */
struct pm_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define PM_QUERY		_IOWR('f', 17, struct pm_query)
#define PM_READABLE		0x01
#define PM_WRITABLE		0x02
#define PM_EXECUTABLE		0x04
#define PM_SHARED		0x08
#define PM_COVERING_OR_NEXT_VMA 0x10

static int proc_open(pid_t pid, const char *name, int flags, struct graft_err *err);

static int map_cmp(const void *a, const void *b)
{
	const struct graft_map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int graft_proc_maps_range(pid_t pid, const uint64_t (*ranges)[2], size_t n, struct graft_maps *out,
			  struct graft_err *err)
{
	static atomic_bool unsupported;
	_cleanup_close_ int fd = -1;
	struct graft_maps m = {0};
	size_t cap = 0;
	char name[4096];
	int r = 0;

	if (atomic_load(&unsupported) || graft_test_fault("no-procmap-query"))
		return -ENOTTY;
	if ((fd = proc_open(pid, "maps", 0, err)) < 0)
		return fd;
	for (size_t i = 0; r == 0 && i < n; i++)
		for (uint64_t at = ranges[i][0]; at < ranges[i][1];) {
			struct pm_query q = {.size = sizeof(q),
					     .query_flags = PM_COVERING_OR_NEXT_VMA,
					     .query_addr = at,
					     .vma_name_size = sizeof(name),
					     .vma_name_addr = (uintptr_t)name};
			struct graft_map *v;

			if (ioctl(fd, PM_QUERY, &q) < 0) {
				if (errno == ENOENT)
					break; /* nothing there or above */
				if (errno == ENOTTY)
					atomic_store(&unsupported, true);
				r = graft_err_set(err, -errno,
						  "cannot query the maps of pid %d: %s", (int)pid,
						  strerror(errno));
				break;
			}
			if (q.vma_start >= ranges[i][1])
				break;
			if (graft_grow((void **)&m.v, &cap, m.n + 1, sizeof(*m.v)) < 0) {
				r = graft_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			v = &m.v[m.n++];
			*v = (struct graft_map){.start = q.vma_start,
						.end = q.vma_end,
						.offset = q.vma_offset,
						.inode = q.inode,
						.dev_major = q.dev_major,
						.dev_minor = q.dev_minor,
						.r = q.vma_flags & PM_READABLE,
						.w = q.vma_flags & PM_WRITABLE,
						.x = q.vma_flags & PM_EXECUTABLE,
						.shared = q.vma_flags & PM_SHARED};
			if (q.vma_name_size && !(v->path = strndup(name, sizeof(name) - 1))) {
				r = graft_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			at = q.vma_end;
		}
	if (r < 0) {
		graft_maps_free(&m);
		return r;
	}
	qsort(m.v, m.n, sizeof(*m.v), map_cmp);
	*out = m;
	return 0;
}

const struct graft_map *graft_maps_find(const struct graft_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}

void graft_objects_free(struct graft_objects *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].path);
	free(o->v);
	o->v = NULL;
	o->n = 0;
}

int graft_proc_open_object(pid_t pid, const struct graft_object *obj, struct graft_err *err)
{
	char path[96];
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid,
		       obj->map0_start, obj->map0_end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return graft_err_set(err, -errno, "cannot open %s (%s): %s", path,
				     obj->path ? obj->path : "?", strerror(errno));
	return fd;
}

static bool is_pseudo_path(const char *p)
{
	return !p || p[0] != '/' || strncmp(p, "/memfd:", 7) == 0 || strncmp(p, "/dev/", 5) == 0;
}

#define NOT_ELF UINT64_MAX /* cached: this file is no ELF object (a locale file...) */

static int object_fill(pid_t pid, struct graft_object *obj, struct graft_objcache *cache)
{
	_cleanup_(graft_elf_freep) struct graft_elf *e = NULL;
	_cleanup_close_ int fd = -1;
	uint64_t first_vaddr;
	int r;

	if (graft_objcache_get(cache, obj, &first_vaddr)) {
		if (first_vaddr == NOT_ELF)
			return -ENOEXEC;
		obj->base = obj->map0_start - (first_vaddr & ~(uint64_t)0xfff);
		return 0;
	}
	fd = graft_proc_open_object(pid, obj, NULL);
	if (fd < 0)
		return fd; /* about this process (permission, gone), not the file */
	r = graft_elf_open_fd(fd, obj->path, &e, NULL);
	if (r == 0)
		r = graft_elf_first_load_vaddr(e, &first_vaddr);
	if (r < 0) {
		obj->build_id_len = 0;
		graft_objcache_put(cache, obj, NOT_ELF);
		return r;
	}
	obj->base = obj->map0_start - (first_vaddr & ~(uint64_t)0xfff);
	r = graft_elf_build_id(e, obj->build_id, sizeof(obj->build_id));
	obj->build_id_len = r > 0 ? (size_t)r : 0;
	graft_objcache_put(cache, obj, first_vaddr);
	return 0;
}

int graft_proc_objects(pid_t pid, const struct graft_maps *maps, struct graft_objects *out,
		       struct graft_err *err)
{
	return graft_proc_objects_cached(pid, maps, NULL, out, err);
}

int graft_proc_objects_cached(pid_t pid, const struct graft_maps *maps,
			      struct graft_objcache *cache, struct graft_objects *out,
			      struct graft_err *err)
{
	struct graft_objects o = {0};
	size_t cap = 0;
	char exe[4096];
	char link[64];
	ssize_t n;

	(void)snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';

	for (size_t i = 0; i < maps->n; i++) {
		const struct graft_map *m = &maps->v[i];
		struct graft_object *obj = NULL;

		if (is_pseudo_path(m->path) || m->inode == 0)
			continue;
		for (size_t j = 0; j < o.n; j++)
			if (o.v[j].inode == m->inode && o.v[j].dev_major == m->dev_major &&
			    o.v[j].dev_minor == m->dev_minor)
				obj = &o.v[j];
		if (obj) {
			if (m->end > obj->hi)
				obj->hi = m->end;
			continue;
		}
		if (m->offset != 0)
			continue; /* not an ELF image start (or a data file) */
		if (graft_grow((void **)&o.v, &cap, o.n + 1, sizeof(*o.v)) < 0)
			goto oom;
		obj = &o.v[o.n];
		memset(obj, 0, sizeof(*obj));
		obj->path = strdup(m->path);
		if (!obj->path)
			goto oom;
		obj->inode = m->inode;
		obj->dev_major = m->dev_major;
		obj->dev_minor = m->dev_minor;
		obj->lo = m->start;
		obj->hi = m->end;
		obj->map0_start = m->start;
		obj->map0_end = m->end;
		if (object_fill(pid, obj, cache) < 0) {
			free(obj->path);
			continue;
		}
		{
			/* exe may carry " (deleted)"; compare the prefix */
			size_t el = strlen(exe);
			obj->is_exec = el && strncmp(obj->path, exe, el) == 0 && o.n == 0;
		}
		o.n++;
	}
	*out = o;
	return 0;
oom:
	graft_objects_free(&o);
	return graft_err_set(err, -ENOMEM, "out of memory");
}

/* /proc/PID/name, opened to be read again and again */
static int proc_open(pid_t pid, const char *name, int flags, struct graft_err *err)
{
	char path[64];
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | flags);
	if (fd < 0)
		return graft_err_set(err, -errno, "no process %d: %s", (int)pid, strerror(errno));
	return fd;
}

int graft_proc_tasks_open(pid_t pid, struct graft_err *err)
{
	return proc_open(pid, "task", O_DIRECTORY, err);
}

int graft_proc_tasks_read(int dirfd, bool again, pid_t pid, pid_t **out, size_t *n,
			  struct graft_err *err)
{
	_cleanup_free_ pid_t *v = NULL;
	size_t cap = 0, cnt = 0;
	/* struct linux_dirent64 records, read straight: no opendir stat, no last empty read */
	union {
		char b[16384];
		uint64_t align;
	} buf;
	long got;

	/* procfs lists the threads as they are at each read from offset 0 */
	if (again && lseek(dirfd, 0, SEEK_SET) < 0)
		return graft_err_set(err, -errno, "cannot list the threads of %d: %s", (int)pid,
				     strerror(errno));
	do {
		got = syscall(SYS_getdents64, dirfd, buf.b, sizeof(buf.b));
		if (got < 0)
			return graft_err_set(err, -errno, "cannot list the threads of %d: %s",
					     (int)pid, strerror(errno));
		for (long at = 0; at < got;) {
			uint16_t reclen;
			const char *name = buf.b + at + 19; /* d_ino, d_off, d_reclen, d_type */

			memcpy(&reclen, buf.b + at + 16, sizeof(reclen));
			if (reclen < 20 || at + reclen > got)
				break;
			at += reclen;
			if (!isdigit((unsigned char)name[0]))
				continue;
			if (graft_grow((void **)&v, &cap, cnt + 1, sizeof(*v)) < 0)
				return graft_err_set(err, -ENOMEM, "out of memory");
			v[cnt++] = (pid_t)atoi(name);
		}
		/*
		 * procfs stops filling early only when the next entry does not
		 * fit: a read that left room for one more was the last.
		 */
	} while (got > (long)sizeof(buf.b) - 512);
	*out = TAKE_PTR(v);
	*n = cnt;
	return 0;
}

int graft_proc_tasks(pid_t pid, pid_t **out, size_t *n, struct graft_err *err)
{
	_cleanup_close_ int fd = graft_proc_tasks_open(pid, err);

	if (fd < 0)
		return fd;
	return graft_proc_tasks_read(fd, false, pid, out, n, err);
}

/* Field n (as numbered in proc(5)) of a stat line, given p at field 3 (state). */
static const char *stat_field(const char *p, int n)
{
	for (int f = 3; f < n && p; f++) {
		p = strchr(p, ' ');
		p = p ? p + 1 : NULL;
	}
	return p;
}

/* One stat line read whole into buf; returns field 3 (after comm, which may hold ") "). */
static const char *stat_parse(char *buf, ssize_t n)
{
	char *p;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return NULL;
	return p + 2;
}

static int stat_fields_at(const char *path, char *state, uint64_t *flags, uint64_t *start)
{
	char buf[1024];
	_cleanup_close_ int fd = -1;
	const char *p, *q;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	p = stat_parse(buf, read(fd, buf, sizeof(buf) - 1));
	if (!p)
		return -EIO;
	*state = *p;
	if (flags) {
		q = stat_field(p, 9); /* flags */
		*flags = q ? strtoull(q, NULL, 10) : 0;
	}
	if (start) {
		q = stat_field(p, 22); /* start time, in clock ticks after boot */
		*start = q ? strtoull(q, NULL, 10) : 0;
	}
	return 0;
}

int graft_proc_stat_open(pid_t pid, struct graft_err *err)
{
	return proc_open(pid, "stat", 0, err);
}

int graft_proc_stat_nthreads(int statfd, unsigned *n)
{
	char buf[1024];
	const char *p = stat_parse(buf, pread(statfd, buf, sizeof(buf) - 1, 0));

	p = p ? stat_field(p, 20) : NULL; /* num_threads */
	if (!p)
		return -EIO;
	*n = (unsigned)strtoul(p, NULL, 10);
	return 0;
}

static int stat_fields(pid_t pid, char *state, uint64_t *flags)
{
	char path[64];

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_fields_at(path, state, flags, NULL);
}

int graft_proc_start_time(pid_t pid, uint64_t *ticks)
{
	char path[64], state;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_fields_at(path, &state, NULL, ticks);
}

void graft_proc_task_wait(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64], wchan[64] = "";
	char state = '?';
	ssize_t n = -1;
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	(void)stat_fields_at(path, &state, NULL, NULL);
	(void)snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, wchan, sizeof(wchan) - 1);
		close(fd);
	}
	wchan[n > 0 ? n : 0] = '\0';
	if (!wchan[0] || !strcmp(wchan, "0"))
		(void)snprintf(buf, len, "state %c", state);
	else
		(void)snprintf(buf, len, "state %c, in %s", state, wchan);
}

bool graft_proc_task_alive(pid_t pid, pid_t tid)
{
	char path[64], state = 0;

	(void)snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if (stat_fields_at(path, &state, NULL, NULL) < 0)
		return false;
	return state != 'Z' && state != 'X';
}

pid_t graft_proc_tracer(pid_t tid)
{
	char path[64], line[256];
	pid_t tracer = -1;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		int t;

		if (sscanf(line, "TracerPid: %d", &t) == 1) {
			tracer = (pid_t)t;
			break;
		}
	}
	fclose(f);
	return tracer;
}

bool graft_proc_is_alive(pid_t pid)
{
	char state = 0;

	if (stat_fields(pid, &state, NULL) < 0)
		return false;
	return state != 'Z' && state != 'X';
}

bool graft_proc_is_exiting(pid_t pid)
{
	uint64_t flags = 0;
	char state = 0;

	if (stat_fields(pid, &state, &flags) < 0)
		return true;
	/* PF_EXITING: the process is tearing down, its memory may be gone */
	return state == 'Z' || state == 'X' || (flags & 0x4);
}

void graft_proc_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	buf[0] = '\0';
	(void)snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
}
