/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Target memory through /proc/PID/mem. The kernel writes through it with
 * FOLL_FORCE, so read-only text can be patched without mprotect, and a
 * private file mapping gets its own copy of the page (the file is untouched).
 * A short transfer is an error: half-written code is never acceptable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ptrace/pt.h"

int graft_mem_open(pid_t pid, struct graft_err *err)
{
	char path[64];
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return graft_err_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
	return fd;
}

int graft_mem_read(int memfd, uint64_t addr, void *buf, size_t len, struct graft_err *err)
{
	ssize_t n = pread(memfd, buf, len, (off_t)addr);

	if (n == (ssize_t)len)
		return 0;
	if (n < 0)
		return graft_err_set(err, -errno, "cannot read target memory at 0x%" PRIx64 ": %s",
				     addr, strerror(errno));
	return graft_err_set(err, -EIO, "short read of target memory at 0x%" PRIx64, addr);
}

int graft_mem_write(int memfd, uint64_t addr, const void *buf, size_t len, struct graft_err *err)
{
	ssize_t n = pwrite(memfd, buf, len, (off_t)addr);

	if (n == (ssize_t)len)
		return 0;
	if (n < 0)
		return graft_err_set(err, -errno, "cannot write target memory at 0x%" PRIx64 ": %s",
				     addr, strerror(errno));
	return graft_err_set(err, -EIO, "short write of target memory at 0x%" PRIx64, addr);
}
