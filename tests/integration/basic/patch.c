/* SPDX-License-Identifier: GPL-2.0-or-later */
/* New versions for basic/victim.c. */
extern int scale(int x);   /* static in the target: bound by pack */
extern int counter;        /* static global of the target */
extern int bump_calls;     /* static local of bump(): bound in the manifest */

static int helper(int v) /* new helper brought by the patch */
{
	return v * 10;
}

int compute_v2(int x)
{
	counter++;
	return helper(scale(x));
}

const char *greeting_v2(void)
{
	return "new greeting";
}

int bump_v2(void)
{
	bump_calls += 100;
	return bump_calls;
}
