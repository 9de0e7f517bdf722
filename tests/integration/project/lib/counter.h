#ifndef COUNTER_H
#define COUNTER_H

/* Add n to slot i of the counter table; returns the slot's new value. */
int counter_add(int i, int n);
/* The sum of all slots. */
long counter_total(void);
/* Two clocks, each with its own static 'ticks'. */
int counter_tick(void);
int counter_tock(void);
/* A label for a value. */
const char *counter_label(int v);

#endif
