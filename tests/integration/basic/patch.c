/* SPDX-License-Identifier: GPL-2.0-or-later */
/* New versions for basic/victim.c. */
extern int scale(int x); /* static in the target: bound by pack */
extern int counter;	 /* static global of the target */
extern int bump_calls;	 /* static local of bump(): bound in the manifest */

static int helper(int v) /* new helper brought by the patch */
{
	return v * 10;
}

int compute_v2(int x)
{
	counter++;
	return helper(scale(x));
}

/* the patch's own writable data (.data, .bss): mapped rw-, apart from its r-x code */
static char greeting_buf[32] = "new greeting";
static int greetings;

const char *greeting_v2(void)
{
	greetings++;
	greeting_buf[0] = greetings > 0 ? 'n' : '?';
	return greeting_buf;
}

int bump_v2(void)
{
	bump_calls += 100;
	return bump_calls;
}
