/* SPDX-License-Identifier: GPL-2.0-or-later */
int compute_a(int x)
{
	return 2 * x + 3;
}

void spin_forever_a(void)
{
}

void hold_forever_a(void)
{
}

int slow_fn_a(int ms)
{
	return -ms;
}
