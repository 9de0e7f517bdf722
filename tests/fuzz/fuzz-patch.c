/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the patch file reader and the linker's layout pass, the code
 * that sees untrusted patch files before anything touches a process.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "link/link.h"
#include "patch/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct graft_patch *p = NULL;
	struct graft_link_plan *plan = NULL;
	struct graft_err err = {0};
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (graft_patch_parse(copy, size, "fuzz", &p, &err) < 0) {
		free(copy);
		return 0;
	}
	if (graft_link_plan(p->elf, 4096, &plan, &err) == 0)
		graft_link_plan_free(plan);
	graft_patch_free(p);
	return 0;
}
