/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny HTTP service for the graft demo, with a deliberate security bug:
 * check_token() compares only as many bytes as the client sent, so an empty
 * or partial token opens the admin page. sample/fix.c is the fix, applied
 * live by 'make demo'.
 *
 * usage: httpd PORT     (listens on 127.0.0.1)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char admin_token[] = "s3cret-t0ken";
static unsigned long requests;

/* BUG: strncmp over the client's length: "" and "s3c" both pass */
__attribute__((noinline)) int check_token(const char *given)
{
	return strncmp(given, admin_token, strlen(given)) == 0;
}

static void reply(int fd, const char *status, const char *body)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
			 status, strlen(body), body);

	if (write(fd, buf, (size_t)n) < 0)
		perror("write");
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char req[1024] = "", token[256] = "";
	size_t n = 0;
	ssize_t r;

	/* read the request head: up to the blank line */
	while (n < sizeof(req) - 1 && (r = read(fd, req + n, sizeof(req) - 1 - n)) > 0) {
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	if (n > 0) {
		__atomic_add_fetch(&requests, 1, __ATOMIC_RELAXED);
		if (strncmp(req, "GET /admin", 10) == 0) {
			const char *t = strstr(req, "token=");

			if (t)
				(void)sscanf(t + 6, "%255[^ &\r\n]", token);
			if (check_token(token))
				reply(fd, "200 OK", "welcome, admin\n");
			else
				reply(fd, "403 Forbidden", "bad token\n");
		} else {
			reply(fd, "200 OK", "hello from the sample service\n");
		}
	}
	/* close gently: unread input at close() would reset the connection */
	shutdown(fd, SHUT_WR);
	while (read(fd, req, sizeof(req)) > 0)
		;
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1, s;

	if (argc != 2) {
		fprintf(stderr, "usage: httpd PORT\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0) {
		perror("httpd");
		return 1;
	}
	printf("listening on 127.0.0.1:%s\n", argv[1]);
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);
		pthread_t t;

		if (c < 0)
			continue;
		if (pthread_create(&t, NULL, serve, (void *)(long)c) == 0)
			pthread_detach(t);
		else
			close(c);
	}
}
