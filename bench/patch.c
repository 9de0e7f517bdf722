/* SPDX-License-Identifier: GPL-2.0-or-later */
int work_v2(int x)
{
	return x * 5 + 2;
}
