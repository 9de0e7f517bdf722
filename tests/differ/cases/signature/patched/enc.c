#include <stdio.h>
#include "enc.h"

unsigned encode(unsigned v)
{
	printf("encode %u\n", v);
	return v * 3;
}
