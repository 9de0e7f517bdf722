/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for util: the scheduling boost nests per thread and puts the
 * thread's own policy back once, at the outermost end.
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/util.h"

static void test_boost_nests(void **state)
{
	int own = sched_getscheduler(0);

	struct sched_param rt = {.sched_priority = 1}, none = {0};

	(void)state;
	/* a real-time policy needs the privilege (a container may deny it even to root) */
	if (sched_setscheduler(0, SCHED_FIFO, &rt) != 0) {
		skip();
		return;
	}
	assert_int_equal(sched_setscheduler(0, SCHED_OTHER, &none), 0);
	own = sched_getscheduler(0);
	assert_int_equal(own & ~SCHED_RESET_ON_FORK, SCHED_OTHER);
	graft_sched_boost();
	assert_int_equal(sched_getscheduler(0) & ~SCHED_RESET_ON_FORK, SCHED_FIFO);
	graft_sched_boost(); /* nested: no change */
	graft_sched_unboost();
	assert_int_equal(sched_getscheduler(0) & ~SCHED_RESET_ON_FORK, SCHED_FIFO);
	graft_sched_unboost();
	assert_int_equal(sched_getscheduler(0), own);
	graft_sched_unboost(); /* one too many: nothing happens */
	assert_int_equal(sched_getscheduler(0), own);
	graft_sched_boost();
	assert_int_equal(sched_getscheduler(0) & ~SCHED_RESET_ON_FORK, SCHED_FIFO);
	graft_sched_unboost();
	assert_int_equal(sched_getscheduler(0), own);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boost_nests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
