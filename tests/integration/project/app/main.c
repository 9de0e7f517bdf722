/*
 * The victim: worker threads keep calling the library and the parser while
 * the main thread answers commands on stdin, one line each:
 *   add I N   -> counter_add(I, N)      label V -> counter_label(V)
 *   parse S   -> parse_num(S)           total   -> counter_total()
 *   tick, tock -> counter_tick(), counter_tock()
 *   workers   -> how many worker calls so far (they must keep running)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "counter.h"

static atomic_long calls;

static void *worker(void *arg)
{
	char buf[16];
	int id = (int)(long)arg;

	for (;;) {
		snprintf(buf, sizeof(buf), "%d", id);
		counter_add(4 - id, parse_num(buf) >= 0 ? 0 : 1);
		(void)counter_label(id);
		atomic_fetch_add(&calls, 1);
		usleep(100); /* busy, but not inside the library all the time */
	}
	return NULL;
}

int main(void)
{
	char line[256], arg[128];
	pthread_t t;
	int a, b;

	for (long i = 0; i < 4; i++)
		if (pthread_create(&t, NULL, worker, (void *)i) != 0)
			return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "add %d %d", &a, &b) == 2)
			printf("%d\n", counter_add(a, b));
		else if (sscanf(line, "label %d", &a) == 1)
			printf("%s\n", counter_label(a));
		else if (sscanf(line, "parse %127s", arg) == 1)
			printf("%d\n", parse_num(arg));
		else if (!strncmp(line, "total", 5))
			printf("%ld\n", counter_total());
		else if (!strncmp(line, "tick", 4))
			printf("%d\n", counter_tick());
		else if (!strncmp(line, "tock", 4))
			printf("%d\n", counter_tock());
		else if (!strncmp(line, "workers", 7))
			printf("%ld\n", atomic_load(&calls));
		else
			printf("?\n");
	}
	return 0;
}
