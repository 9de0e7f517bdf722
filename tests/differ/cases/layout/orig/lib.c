#include <stdio.h>

struct conf {
	int port;
	int backlog;
};

struct conf cfg = {80, 16};

__attribute__((noinline)) int listen_on(int x)
{
	printf("port %d\n", cfg.port);
	return cfg.backlog + x;
}

int run(int x)
{
	return listen_on(x);
}
