/* SPDX-License-Identifier: GPL-2.0-or-later */
int lib_check(int x); /* exported by the library: resolved by name at apply */

int exe_check_v2(int x)
{
	return lib_check(x) + 7;
}
