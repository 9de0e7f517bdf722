/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A shared library the victim loads. */
static int lib_calls;

__attribute__((noipa)) static int lib_weight(int x)
{
	return x * 3;
}

__attribute__((noipa)) int lib_check(int x)
{
	lib_calls++;
	return lib_weight(x) + 1;
}

int lib_count(void)
{
	return lib_calls;
}
