#include <pthread.h>

#include "counter.h"

#define SLOTS 8

static int slots[SLOTS + 8];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int counter_add(int i, int n)
{
	int v;

	/* BUG: no bounds check on i */
	pthread_mutex_lock(&lock);
	slots[i] += n;
	v = slots[i];
	pthread_mutex_unlock(&lock);
	return v;
}

long counter_total(void)
{
	long t = 0;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < SLOTS; i++)
		t += slots[i];
	pthread_mutex_unlock(&lock);
	return t;
}

int counter_tick(void)
{
	static int ticks;

	return ++ticks;
}

int counter_tock(void)
{
	static int ticks = 1000;

	return ++ticks;
}
