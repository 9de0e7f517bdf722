/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Victim with thread-local variables the patch reads and writes. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

__thread int tls_a = 5;
__thread int tls_b = 7;

__attribute__((noipa)) int tls_step(void)
{
	tls_a += 1;
	tls_b += 1;
	return tls_a * 1000 + tls_b;
}

static void *in_thread(void *arg)
{
	(void)arg;
	return (void *)(long)tls_step();
}

int main(void)
{
	char line[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "step", 4)) {
			printf("%d\n", tls_step());
		} else if (!strncmp(line, "thread", 6)) {
			pthread_t t;
			void *r;

			pthread_create(&t, NULL, in_thread, NULL);
			pthread_join(t, &r);
			printf("%ld\n", (long)r);
		}
	}
	return 0;
}
