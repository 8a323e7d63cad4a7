/* tls_tunnel: TLS for a client library that only speaks plain sockets
 * (hiredis 0.14 has no TLS).  A tunnel owns a TCP connection, its OpenSSL
 * session and a pump thread that copies bytes both ways between the TLS
 * connection and one end of a socketpair; the caller gets the other end.
 *
 * Threading: the SSL_CTX from tls_tunnel_ctx_new is shared, read-only, by
 * every tunnel made with it and must outlive them.  tls_tunnel_open
 * connects and handshakes in the calling thread; after that only the pump
 * touches the session.  The owner closes the fd it was handed (redisFree
 * does), then calls tls_tunnel_close once, from any thread.  As for
 * hiredis itself, the process ignores SIGPIPE: a write to a connection the
 * server has reset must fail, not kill it.
 */
#ifndef DCPROXY_TLS_TUNNEL_H
#define DCPROXY_TLS_TUNNEL_H

#include <stddef.h>

#include <openssl/ssl.h>

/* A client context: TLS 1.2 or later, the server's certificate verified
 * against the system trust store (SSL_CERT_FILE and SSL_CERT_DIR, read
 * now, override it).  NULL with the reason in err. */
SSL_CTX *
tls_tunnel_ctx_new(char *err, size_t errlen);

void
tls_tunnel_ctx_free(SSL_CTX *ctx);

struct tls_tunnel;

/* Connect to host:port (name lookup included) and handshake, both within
 * timeout_ms, checking that the certificate names host (a DNS
 * name, also sent as SNI, or an IP address).  Returns the tunnel and in
 * *fd the plain end: blocking, close-on-exec, never 0, the caller's to
 * close.  NULL with the reason in err. */
struct tls_tunnel *
tls_tunnel_open(SSL_CTX *ctx, const char *host, int port, long timeout_ms,
		int *fd, char *err, size_t errlen);

/* Stop the pump (sending close_notify when the connection is still
 * sound), wait for it and free the tunnel.  Never waits on the server. */
void
tls_tunnel_close(struct tls_tunnel *t);

#endif
