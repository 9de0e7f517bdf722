/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small idle process for the host-wide benchmark: one function to patch,
 * then it waits for signals, like most processes on a host most of the time.
 */
#include <signal.h>
#include <unistd.h>

__attribute__((noinline)) int answer(void)
{
	return 1;
}

int main(void)
{
	volatile int keep = answer();

	(void)keep;
	for (;;)
		pause();
}
