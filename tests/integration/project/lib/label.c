#include "counter.h"

const char *counter_label(int v)
{
	if (v < 0)
		return "negative";
	if (v < 100)
		return "small";
	return "large";
}
