/* net: a name lookup and a TCP connect that both end at a deadline. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "net.h"

int
net_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - http_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* A lookup on glibc's thread.  Two hold it: the caller, and the notice
 * glibc sends from its thread when the lookup ends; the last one out frees
 * it, so a caller that stopped waiting leaves nothing behind. */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	atomic_int holders;
	char service[8];
	char name[];
};

static void
lookup_release(struct lookup *l)
{
	if (atomic_fetch_sub(&l->holders, 1) != 1)
		return;
	if (l->cb.ar_result != NULL)
		freeaddrinfo(l->cb.ar_result);
	free(l);
}

static void
lookup_ended(union sigval v)
{
	lookup_release(v.sival_ptr);
}

/* host's addresses for a stream socket to service, by deadline_ms; NULL
 * with the reason in err. */
static struct addrinfo *
resolve(const char *host, const char *service, int64_t deadline_ms,
	long timeout_ms, char *err, size_t errlen)
{
	/* An address literal needs no resolver, nor a thread. */
	struct addrinfo literal = { .ai_family = AF_UNSPEC,
				    .ai_socktype = SOCK_STREAM,
				    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, service, &literal, &res);
	if (rc == 0)
		return res;
	if (rc != EAI_NONAME)
		goto failed;

	size_t len = strlen(host);
	struct lookup *l = calloc(1, sizeof *l + len + 1);
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(l->name, host, len + 1);
	snprintf(l->service, sizeof l->service, "%s", service);
	l->hints = (struct addrinfo){ .ai_family = AF_UNSPEC,
				      .ai_socktype = SOCK_STREAM,
				      .ai_flags = AI_NUMERICSERV };
	l->cb.ar_name = l->name;
	l->cb.ar_service = l->service;
	l->cb.ar_request = &l->hints;
	atomic_init(&l->holders, 2);
	struct sigevent notice = { .sigev_notify = SIGEV_THREAD,
				   .sigev_notify_function = lookup_ended,
				   .sigev_value.sival_ptr = l };
	struct gaicb *list[] = { &l->cb };
	rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &notice);
	if (rc != 0) {
		free(l);
		goto failed;
	}
	while ((rc = gai_error(&l->cb)) == EAI_INPROGRESS) {
		int64_t left = deadline_ms - http_now_ms();
		if (left <= 0)
			break;
		struct timespec ts = { .tv_sec = left / 1000,
				       .tv_nsec = left % 1000 * 1000000 };
		const struct gaicb *wait[] = { &l->cb };
		gai_suspend(wait, 1, &ts);
	}
	if (rc == EAI_INPROGRESS) {
		/* A lookup taken off the queue before it ran sends no notice;
		 * one already running ends on its own and its notice frees it. */
		if (gai_cancel(&l->cb) == EAI_CANCELED)
			lookup_release(l);
		lookup_release(l);
		snprintf(err, errlen, "cannot resolve %s: no answer within %ld ms",
			 host, timeout_ms);
		return NULL;
	}
	res = l->cb.ar_result;
	l->cb.ar_result = NULL;
	lookup_release(l);
	if (rc == 0)
		return res;
failed:
	snprintf(err, errlen, "cannot resolve %s: %s", host,
		 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	return NULL;
}

int
net_fd_not_zero(int fd)
{
	if (fd != 0)
		return fd;
	int copy = fcntl(0, F_DUPFD_CLOEXEC, 1);
	close(0);
	return copy;
}

static void
tcp_tune(int fd)
{
	/* As hiredis sets up its own TCP connections: no Nagle delay on
	 * small commands, and a dead peer noticed in under a minute. */
	int on = 1, idle = 15, intvl = 5, cnt = 3;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

int
net_connect_tcp(const char *host, int port, int64_t deadline_ms,
		long timeout_ms, char *err, size_t errlen)
{
	char service[8];
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo *res = resolve(host, service, deadline_ms, timeout_ms,
				       err, errlen);
	if (res == NULL)
		return -1;
	int fd = -1;
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = net_fd_not_zero(socket(ai->ai_family,
					    ai->ai_socktype | SOCK_NONBLOCK |
						    SOCK_CLOEXEC,
					    ai->ai_protocol));
		if (fd < 0) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			continue;
		}
		int soerr = 0;
		socklen_t len = sizeof soerr;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS)
			soerr = errno;
		else if (net_wait(fd, POLLOUT, deadline_ms) != 0)
			soerr = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
			soerr = errno;
		if (soerr == 0)
			break;
		if (soerr == ETIMEDOUT)
			snprintf(err, errlen, "connect: no answer within %ld ms",
				 timeout_ms);
		else
			snprintf(err, errlen, "connect: %s", strerror(soerr));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		tcp_tune(fd);
	return fd;
}
