/* net: TCP client connections bounded by a deadline, the name lookup
 * included.  getaddrinfo waits as long as the resolver's own timeouts (5 s
 * per server and attempt by default, 20 s and more in all) for a DNS
 * server that does not answer; here the lookup runs on glibc's lookup
 * thread (getaddrinfo_a) and the caller stops waiting at the deadline.  A
 * lookup still running then finishes and frees itself on that thread.
 */
#ifndef DCPROXY_NET_H
#define DCPROXY_NET_H

#include <stddef.h>
#include <stdint.h>

/* 0 when fd is ready for events (poll's) before deadline_ms (http_now_ms's
 * clock), else -1. */
int
net_wait(int fd, short events, int64_t deadline_ms);

/* fd, or when fd is descriptor 0 a close-on-exec copy of it above 0 (0
 * closed): hiredis takes descriptor 0 for none and never closes it.  -1
 * when fd is -1 or the copy fails. */
int
net_fd_not_zero(int fd);

/* A connected socket to host:port (a name or an address literal), each
 * address tried in turn until deadline_ms: non-blocking, close-on-exec,
 * never descriptor 0 (which hiredis takes for none and never closes), no
 * Nagle delay, TCP keep-alive so a dead peer is noticed within a minute.
 * timeout_ms is what the deadline stands for, for the messages.  -1 with
 * the reason in err ("cannot resolve NAME: ...", "connect: ..."). */
int
net_connect_tcp(const char *host, int port, int64_t deadline_ms,
		long timeout_ms, char *err, size_t errlen);

#endif
