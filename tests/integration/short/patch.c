/* SPDX-License-Identifier: GPL-2.0-or-later */
int ident_v2(int x)
{
	return 2 * x;
}
