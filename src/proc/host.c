/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's processes, for commands that work on all of them: the list of
 * pids in /proc, one read of /proc/PID/status for what decides whether a
 * process can be patched (state, owner, tracer, seccomp mode), a cache of
 * the objects' build-ids so a host with a thousand processes mapping the
 * same libc opens that libc once, and whether the file a process maps is
 * still the one on disk.
 *
 * Objects are keyed in the cache by (device, inode): while a process maps
 * a file, its inode cannot be reused, so within one walk over the host the
 * key names one file even across mount namespaces. The cache is never kept
 * across walks.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "elf/elf.h"
#include "proc/proc.h"

#define STATUS_MAX    (16u << 10)
#define CACHE_BUCKETS 1024u

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int graft_proc_list(pid_t **out, size_t *n, struct graft_err *err)
{
	_cleanup_free_ pid_t *v = NULL;
	size_t cap = 0, cnt = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return graft_err_set(err, -errno, "cannot read /proc: %s", strerror(errno));
	while ((de = readdir(d))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid > INT32_MAX)
			continue;
		if (graft_grow((void **)&v, &cap, cnt + 1, sizeof(*v)) < 0) {
			closedir(d);
			return graft_err_set(err, -ENOMEM, "out of memory");
		}
		v[cnt++] = (pid_t)pid;
	}
	closedir(d);
	qsort(v, cnt, sizeof(*v), pid_cmp);
	*out = TAKE_PTR(v);
	*n = cnt;
	return 0;
}

static const char *status_field(const char *buf, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	return NULL;
}

int graft_proc_status_read(pid_t pid, struct graft_proc_status *st, struct graft_err *err)
{
	_cleanup_free_ char *buf = NULL;
	char path[64];
	const char *v;
	int r;

	memset(st, 0, sizeof(*st));
	st->pid = pid;
	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	r = graft_read_proc_single(path, STATUS_MAX, &buf, err);
	if (r < 0)
		return r;
	if ((v = status_field(buf, "Name"))) {
		size_t len = strcspn(v, "\n");

		if (len >= sizeof(st->comm))
			len = sizeof(st->comm) - 1;
		memcpy(st->comm, v, len);
		st->comm[len] = '\0';
	}
	if ((v = status_field(buf, "State")))
		st->state = *v;
	if ((v = status_field(buf, "Uid"))) {
		char *end;

		st->uid = (uid_t)strtoul(v, &end, 10);
		st->euid = (uid_t)strtoul(end, NULL, 10);
	}
	if ((v = status_field(buf, "TracerPid")))
		st->tracer = (pid_t)strtol(v, NULL, 10);
	if ((v = status_field(buf, "Threads")))
		st->threads = (unsigned)strtoul(v, NULL, 10);
	if ((v = status_field(buf, "SigBlk")))
		st->sigblk = strtoull(v, NULL, 16);
	/* unknown: as if every signal had a handler */
	st->sigcgt = (v = status_field(buf, "SigCgt")) ? strtoull(v, NULL, 16) : ~(uint64_t)0;
	if ((v = status_field(buf, "Seccomp")))
		st->seccomp = (int)strtol(v, NULL, 10);
	if ((v = status_field(buf, "Seccomp_filters")))
		st->seccomp_filters = (unsigned)strtoul(v, NULL, 10);
	if ((v = status_field(buf, "x86_Thread_features"))) {
		size_t len = strcspn(v, "\n");

		st->shstk = memmem(v, len, "shstk", 5) != NULL;
	}
	/* "Kthread" is new (6.x); before it, a kernel thread has no VmSize */
	if ((v = status_field(buf, "Kthread")))
		st->kthread = *v == '1';
	else
		st->kthread = !status_field(buf, "VmSize") && st->state != 'Z';
	return 0;
}

/* --- the build-id cache ------------------------------------------------------ */

struct objcache_entry {
	struct objcache_entry *next;
	uint64_t inode;
	unsigned dev_major, dev_minor;
	uint64_t first_vaddr;
	uint8_t build_id[GRAFT_BUILD_ID_MAX];
	size_t build_id_len;
};

struct objcache_fact {
	struct objcache_fact *next;
	uint32_t tag;
	unsigned dev_major, dev_minor;
	uint64_t inode, offset, len;
	uint8_t value[GRAFT_OBJCACHE_FACT_MAX];
};

struct graft_objcache {
	pthread_mutex_t lock;
	struct objcache_entry *bucket[CACHE_BUCKETS];
	struct objcache_fact *facts[CACHE_BUCKETS];
	size_t hits, misses;
};

int graft_objcache_new(struct graft_objcache **out)
{
	struct graft_objcache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	(void)pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void graft_objcache_free(struct graft_objcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CACHE_BUCKETS; i++) {
		for (struct objcache_entry *e = c->bucket[i], *n; e; e = n) {
			n = e->next;
			free(e);
		}
		for (struct objcache_fact *f = c->facts[i], *n; f; f = n) {
			n = f->next;
			free(f);
		}
	}
	(void)pthread_mutex_destroy(&c->lock);
	free(c);
}

static size_t objcache_slot(uint64_t inode, unsigned maj, unsigned min)
{
	uint64_t h = inode * 0x9e3779b97f4a7c15ull ^ ((uint64_t)maj << 20 | min);

	return (size_t)(h >> 32) % CACHE_BUCKETS;
}

bool graft_objcache_get(struct graft_objcache *c, struct graft_object *obj, uint64_t *first_vaddr)
{
	bool found = false;

	if (!c)
		return false;
	(void)pthread_mutex_lock(&c->lock);
	for (struct objcache_entry *e =
		     c->bucket[objcache_slot(obj->inode, obj->dev_major, obj->dev_minor)];
	     e; e = e->next)
		if (e->inode == obj->inode && e->dev_major == obj->dev_major &&
		    e->dev_minor == obj->dev_minor) {
			*first_vaddr = e->first_vaddr;
			memcpy(obj->build_id, e->build_id, e->build_id_len);
			obj->build_id_len = e->build_id_len;
			found = true;
			break;
		}
	if (found)
		c->hits++;
	else
		c->misses++;
	(void)pthread_mutex_unlock(&c->lock);
	return found;
}

void graft_objcache_put(struct graft_objcache *c, const struct graft_object *obj,
			uint64_t first_vaddr)
{
	struct objcache_entry *e;
	size_t slot;

	if (!c || !(e = calloc(1, sizeof(*e))))
		return; /* a cache that cannot grow only costs time */
	e->inode = obj->inode;
	e->dev_major = obj->dev_major;
	e->dev_minor = obj->dev_minor;
	e->first_vaddr = first_vaddr;
	memcpy(e->build_id, obj->build_id, obj->build_id_len);
	e->build_id_len = obj->build_id_len;
	slot = objcache_slot(obj->inode, obj->dev_major, obj->dev_minor);
	(void)pthread_mutex_lock(&c->lock);
	e->next = c->bucket[slot];
	c->bucket[slot] = e;
	(void)pthread_mutex_unlock(&c->lock);
}

static bool fact_is(const struct objcache_fact *f, uint32_t tag, const struct graft_map *m)
{
	return f->tag == tag && f->inode == m->inode && f->dev_major == m->dev_major &&
	       f->dev_minor == m->dev_minor && f->offset == m->offset &&
	       f->len == m->end - m->start;
}

bool graft_objcache_fact_get(struct graft_objcache *c, uint32_t tag, const struct graft_map *m,
			     void *value, size_t len)
{
	bool found = false;

	if (!c || !m->inode || len > GRAFT_OBJCACHE_FACT_MAX)
		return false;
	(void)pthread_mutex_lock(&c->lock);
	for (struct objcache_fact *f =
		     c->facts[objcache_slot(m->inode, m->dev_major, m->dev_minor)];
	     f; f = f->next)
		if (fact_is(f, tag, m)) {
			memcpy(value, f->value, len);
			found = true;
			break;
		}
	(void)pthread_mutex_unlock(&c->lock);
	return found;
}

void graft_objcache_fact_put(struct graft_objcache *c, uint32_t tag, const struct graft_map *m,
			     const void *value, size_t len)
{
	struct objcache_fact *f;
	size_t slot;

	if (!c || !m->inode || len > GRAFT_OBJCACHE_FACT_MAX || !(f = calloc(1, sizeof(*f))))
		return;
	*f = (struct objcache_fact){.tag = tag,
				    .dev_major = m->dev_major,
				    .dev_minor = m->dev_minor,
				    .inode = m->inode,
				    .offset = m->offset,
				    .len = m->end - m->start};
	memcpy(f->value, value, len);
	slot = objcache_slot(m->inode, m->dev_major, m->dev_minor);
	(void)pthread_mutex_lock(&c->lock);
	f->next = c->facts[slot];
	c->facts[slot] = f;
	(void)pthread_mutex_unlock(&c->lock);
}

/* --- the file on disk -------------------------------------------------------- */

static bool same_build_at(const char *path, const struct graft_object *obj)
{
	_cleanup_(graft_elf_freep) struct graft_elf *e = NULL;
	uint8_t id[GRAFT_BUILD_ID_MAX];
	int fd, n;

	if (!obj->build_id_len)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	if (graft_elf_open_fd(fd, path, &e, NULL) < 0) {
		(void)close(fd);
		return false;
	}
	n = graft_elf_build_id(e, id, sizeof(id));
	graft_elf_free(TAKE_PTR(e));
	(void)close(fd);
	return n > 0 && (size_t)n == obj->build_id_len && !memcmp(id, obj->build_id, (size_t)n);
}

enum graft_disk_state graft_proc_object_on_disk(pid_t pid, const struct graft_object *obj)
{
	static const char deleted[] = " (deleted)";
	size_t len = strlen(obj->path), dl = sizeof(deleted) - 1;
	bool gone = len > dl && strcmp(obj->path + len - dl, deleted) == 0;
	char path[4200];
	struct stat st;
	int n;

	/*
	 * The path is in the process's mount namespace: look it up through its
	 * root, so a container's /usr/lib is the container's. A package upgrade
	 * renames a new file over the old one: the kernel then calls the mapped
	 * one deleted, and a file is back at its path.
	 */
	n = snprintf(path, sizeof(path), "/proc/%d/root%.*s", (int)pid,
		     (int)(gone ? len - dl : len), obj->path);
	if (n < 0 || (size_t)n >= sizeof(path))
		return GRAFT_DISK_UNKNOWN;
	if (stat(path, &st) < 0) {
		if (gone && errno == ENOENT)
			return GRAFT_DISK_DELETED;
		return GRAFT_DISK_UNKNOWN;
	}
	if (!gone && st.st_ino == obj->inode && major(st.st_dev) == obj->dev_major &&
	    minor(st.st_dev) == obj->dev_minor)
		return GRAFT_DISK_SAME;
	/*
	 * Another file: but is it another build? A reinstall of the same
	 * package, or an overlay filesystem on kernels whose maps show the
	 * lower layer's inode, put the very same code there.
	 */
	return S_ISREG(st.st_mode) && same_build_at(path, obj) ? GRAFT_DISK_SAME
							       : GRAFT_DISK_REPLACED;
}

int graft_proc_same_mm(pid_t a, pid_t b)
{
	long r = syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);

	return r < 0 ? -errno : r == 0;
}

pid_t graft_proc_mm_sharer(pid_t pid)
{
	_cleanup_free_ pid_t *all = NULL;
	size_t n = 0;

	if (graft_proc_list(&all, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (all[i] != pid && graft_proc_same_mm(pid, all[i]) == 1)
			return all[i];
	return 0;
}
