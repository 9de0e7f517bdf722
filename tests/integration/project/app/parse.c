#include <ctype.h>

#include "app.h"

int parse_num(const char *s)
{
	int v = 0, digits = 0;

	/* BUG: accepts any number of digits (overflows) */
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
		digits++;
	}
	return digits ? v : -1;
}
