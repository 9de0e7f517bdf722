/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fix for sample/httpd.c: the whole token must match, in constant time.
 * admin_token is the service's own static array, bound by 'graft pack'.
 */
#include <string.h>

extern const char admin_token[];

int check_token_fixed(const char *given)
{
	size_t n = strlen(admin_token), g = strlen(given);
	unsigned char diff = (unsigned char)(g != n);

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(admin_token[i] ^ (i < g ? given[i] : 0));
	return diff == 0;
}
