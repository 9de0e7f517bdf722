/* SPDX-License-Identifier: GPL-2.0-or-later */
extern int lib_weight(int x); /* static in the library */
extern int lib_calls;         /* static in the library */

int lib_check_v2(int x)
{
	lib_calls += 2;
	return lib_weight(x) * 100;
}
