/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Patch code calling libc: snprintf, memcpy and strlen (IFUNCs), puts, stderr. */
#include <stdio.h>
#include <string.h>

int describe_v2(char *out, int n, int v)
{
	char tmp[64];
	int len = snprintf(tmp, sizeof(tmp), "value=%d", v);

	if (len >= n)
		len = n - 1;
	memcpy(out, tmp, (size_t)len);
	out[len] = '\0';
	return (int)strlen(out);
}

void announce_v2(void)
{
	fputs("announce on stderr\n", stderr);
	puts("new announce");
	fflush(stdout);
}
