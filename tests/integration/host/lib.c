/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The library part of the host-wide victim. */
__attribute__((noinline)) int lib_answer(void)
{
	return 10;
}
