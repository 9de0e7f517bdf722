/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The new compute() for held/victim.c. */
int compute_v2(int x)
{
	return x * 20;
}
