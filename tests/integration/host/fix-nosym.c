/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A fix that needs a function no object of the victim exports. */
int graft_test_no_such_symbol(void);

int answer_v3(void)
{
	return graft_test_no_such_symbol();
}
