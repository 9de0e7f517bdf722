/* SPDX-License-Identifier: GPL-2.0-or-later */
int compute_b(int x)
{
	return 3 * x + 5;
}
