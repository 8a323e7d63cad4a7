/* tls_tunnel: a TCP connection and TLS handshake bounded by a deadline,
 * then a pump thread between the TLS session and a socketpair.  The pump
 * owns the session after the handshake; closing either side ends it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "http.h"
#include "net.h"
#include "tls_tunnel.h"

/* One TLS record's worth each way. */
#define PUMP_BUF 16384

struct pump_buf {
	size_t off, len;
	unsigned char data[PUMP_BUF];
};

struct tls_tunnel {
	SSL *ssl;
	int tcp;                    /* the TLS connection's socket */
	int local;                  /* the pump's end of the socketpair */
	pthread_t pump;
	struct pump_buf up;         /* from the client, for the server */
	struct pump_buf down;       /* from the server, for the client */
};

SSL_CTX *
tls_tunnel_ctx_new(char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		const char *why = ERR_reason_error_string(ERR_peek_last_error());
		snprintf(err, errlen, "cannot set up TLS: %s",
			 why != NULL ? why : "out of memory");
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	/* A missing SSL_CERT_FILE is queued as an error and otherwise
	 * ignored: the handshake then says the certificate is untrusted. */
	ERR_clear_error();
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

void
tls_tunnel_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/* Why the handshake failed, the certificate's fault first. */
static void
handshake_reason(SSL *ssl, int rc, char *err, size_t errlen)
{
	int saved = errno;
	long verify = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_last_error();
	if (verify != X509_V_OK)
		snprintf(err, errlen, "TLS handshake: certificate verify failed: %s",
			 X509_verify_cert_error_string(verify));
	else if (e != 0 && ERR_reason_error_string(e) != NULL)
		snprintf(err, errlen, "TLS handshake: %s",
			 ERR_reason_error_string(e));
	else if (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && saved != 0)
		snprintf(err, errlen, "TLS handshake: %s", strerror(saved));
	else
		snprintf(err, errlen,
			 "TLS handshake: the server closed the connection "
			 "(is it a TLS port?)");
	ERR_clear_error();
}

static int
tls_handshake(SSL *ssl, int fd, const char *host, long timeout_ms,
	      int64_t deadline, char *err, size_t errlen)
{
	unsigned char addr[sizeof(struct in6_addr)];
	bool ip = inet_pton(AF_INET, host, addr) == 1 ||
		  inet_pton(AF_INET6, host, addr) == 1;
	/* SNI is for names only (RFC 6066); an address is matched against
	 * the certificate's IP entries instead of its DNS ones. */
	int set = SSL_set_fd(ssl, fd);
	if (set == 1 && ip)
		set = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	else if (set == 1)
		set = SSL_set_tlsext_host_name(ssl, host) == 1 &&
		      SSL_set1_host(ssl, host) == 1;
	if (set != 1) {
		snprintf(err, errlen, "cannot set up TLS for %s", host);
		ERR_clear_error();
		return -1;
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int rc = SSL_connect(ssl);
		if (rc == 1)
			return 0;
		int e = SSL_get_error(ssl, rc);
		short events = e == SSL_ERROR_WANT_READ    ? POLLIN
			       : e == SSL_ERROR_WANT_WRITE ? POLLOUT
							   : 0;
		if (events == 0) {
			handshake_reason(ssl, rc, err, errlen);
			return -1;
		}
		if (net_wait(fd, events, deadline) != 0) {
			snprintf(err, errlen,
				 "TLS handshake: no answer within %ld ms",
				 timeout_ms);
			return -1;
		}
	}
}

/* The events to wait for after SSL_read or SSL_write returned rc <= 0;
 * 0, with *open cleared, when the TLS connection has ended (close_notify,
 * a reset, or a protocol error). */
static short
tls_wait_events(SSL *ssl, int rc, bool *open)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	default:
		*open = false;
		return 0;
	}
}

/* Copy until the client goes, or the server goes and everything it sent
 * has been handed on.  Each round moves what it can without blocking and
 * only then polls, for what the stuck steps wait on; so bytes OpenSSL has
 * already decrypted (SSL_pending) are always read before the socket is
 * polled again. */
static void *
tunnel_pump(void *arg)
{
	struct tls_tunnel *t = arg;
	struct pump_buf *up = &t->up, *down = &t->down;
	bool tls_open = true;
	for (;;) {
		short local_events, tcp_events;
		bool moved;
		do {
			local_events = tcp_events = 0;
			moved = false;
			if (up->len == 0) {
				ssize_t n = recv(t->local, up->data, PUMP_BUF, 0);
				if (n > 0) {
					up->off = 0;
					up->len = (size_t)n;
					moved = true;
				} else if (n < 0 && errno == EAGAIN) {
					local_events |= POLLIN;
				} else if (n < 0 && errno == EINTR) {
					moved = true;
				} else {
					goto client_gone; /* closed or reset */
				}
			}
			if (up->len > 0 && tls_open) {
				ERR_clear_error();
				int n = SSL_write(t->ssl, up->data + up->off,
						  (int)(up->len - up->off));
				if (n > 0) {
					up->off += (size_t)n;
					if (up->off == up->len)
						up->len = 0;
					moved = true;
				} else {
					tcp_events |= tls_wait_events(t->ssl, n,
								      &tls_open);
				}
			}
			if (down->len == 0 && tls_open) {
				ERR_clear_error();
				int n = SSL_read(t->ssl, down->data, PUMP_BUF);
				if (n > 0) {
					down->off = 0;
					down->len = (size_t)n;
					moved = true;
				} else {
					tcp_events |= tls_wait_events(t->ssl, n,
								      &tls_open);
				}
			}
			if (down->len > 0) {
				ssize_t n = send(t->local, down->data + down->off,
						 down->len - down->off,
						 MSG_NOSIGNAL);
				if (n > 0) {
					down->off += (size_t)n;
					if (down->off == down->len)
						down->len = 0;
					moved = true;
				} else if (errno == EAGAIN) {
					local_events |= POLLOUT;
				} else if (errno == EINTR) {
					moved = true;
				} else {
					goto client_gone;
				}
			}
			if (!tls_open && down->len == 0) {
				/* The client reads end-of-file, as from a
				 * plain connection the server closed. */
				shutdown(t->local, SHUT_WR);
				ERR_clear_error();
				return NULL;
			}
		} while (moved);

		/* The local end is always watched: a hang-up there (redisFree,
		 * or tls_tunnel_close) ends the pump whatever else waits. */
		struct pollfd p[2] = {
			{ .fd = t->local, .events = local_events },
			{ .fd = tcp_events != 0 ? t->tcp : -1,
			  .events = tcp_events },
		};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			break;
	}
client_gone:
	/* Nobody waits for an answer any more: tell the server, once and
	 * without waiting, and drop whatever was still on its way. */
	if (tls_open) {
		ERR_clear_error();
		SSL_shutdown(t->ssl);
	}
	ERR_clear_error();
	return NULL;
}

struct tls_tunnel *
tls_tunnel_open(SSL_CTX *ctx, const char *host, int port, long timeout_ms,
		int *fd, char *err, size_t errlen)
{
	int64_t deadline = http_now_ms() + timeout_ms;
	struct tls_tunnel *t = calloc(1, sizeof *t);
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->local = -1;
	t->tcp = net_connect_tcp(host, port, deadline, timeout_ms, err, errlen);
	if (t->tcp < 0)
		goto fail;
	t->ssl = SSL_new(ctx);
	if (t->ssl == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (tls_handshake(t->ssl, t->tcp, host, timeout_ms, deadline, err,
			  errlen) != 0)
		goto fail;

	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto fail;
	}
	t->local = pair[0];
	pair[1] = net_fd_not_zero(pair[1]);
	int rc = pair[1] < 0 || fcntl(t->local, F_SETFL, O_NONBLOCK) != 0
		? errno
		: pthread_create(&t->pump, NULL, tunnel_pump, t);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the TLS pump: %s",
			 strerror(rc));
		if (pair[1] >= 0)
			close(pair[1]);
		goto fail;
	}
	*fd = pair[1];
	return t;
fail:
	SSL_free(t->ssl);
	if (t->tcp >= 0)
		close(t->tcp);
	if (t->local >= 0)
		close(t->local);
	free(t);
	return NULL;
}

void
tls_tunnel_close(struct tls_tunnel *t)
{
	if (t == NULL)
		return;
	/* Wakes the pump's poll even when the client still holds its end. */
	shutdown(t->local, SHUT_RDWR);
	pthread_join(t->pump, NULL);
	SSL_free(t->ssl);
	close(t->tcp);
	close(t->local);
	free(t);
}
