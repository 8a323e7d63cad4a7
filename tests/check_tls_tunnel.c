/* check_tls_tunnel: the TLS tunnel against an in-process OpenSSL server on
 * loopback with certificates made here: bytes both ways (a megabyte each
 * way at once included), the name or address checked and SNI sent for
 * names only, an untrusted or misnamed certificate refused with OpenSSL's
 * reason, a refused connection and a silent listener bounded by the
 * timeout, a stalled server bounded by the socket timeout the caller sets
 * (as hiredis does), the server's orderly and abrupt close seen as
 * end-of-file, close_notify sent on close, and closing never waiting on
 * the server, whether it floods the client or reads nothing.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "http.h"
#include "testutil.h"
#include "tls_tunnel.h"

/* Made once in main, before the tests fork. */
static EVP_PKEY *key;
static X509 *good_cert;         /* IP:127.0.0.1, DNS:localhost */
static X509 *other_cert;        /* DNS:other.example only */
static SSL_CTX *trusting;       /* trusts both */
static SSL_CTX *untrusting;     /* trusts neither */
static char err[512];

static X509 *
make_cert(const char *san, long serial)
{
	X509 *x = X509_new();
	if (x == NULL)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)san, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3,
						  NID_subject_alt_name, san);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1 ||
	    X509_sign(x, key, EVP_sha256()) <= 0)
		abort();
	X509_EXTENSION_free(ext);
	return x;
}

static void
make_certificates(void)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	if (kc == NULL || EVP_PKEY_keygen_init(kc) != 1 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kc, NID_X9_62_prime256v1) != 1 ||
	    EVP_PKEY_keygen(kc, &key) != 1)
		abort();
	EVP_PKEY_CTX_free(kc);
	good_cert = make_cert("IP:127.0.0.1, DNS:localhost", 1);
	other_cert = make_cert("DNS:other.example", 2);

	char *dir = test_tmpdir();
	char *empty = test_write_file(dir, "empty.pem", "");
	setenv("SSL_CERT_FILE", empty, 1);
	setenv("SSL_CERT_DIR", dir, 1);
	untrusting = tls_tunnel_ctx_new(err, sizeof err);
	char *ca = test_write_file(dir, "ca.pem", "");
	FILE *f = fopen(ca, "w");
	if (f == NULL || PEM_write_X509(f, good_cert) != 1 ||
	    PEM_write_X509(f, other_cert) != 1 || fclose(f) != 0)
		abort();
	setenv("SSL_CERT_FILE", ca, 1);
	trusting = tls_tunnel_ctx_new(err, sizeof err);
	if (trusting == NULL || untrusting == NULL)
		abort();
	free(empty);
	free(ca);
	test_rmdir(dir);
}

/* ---- a one-connection TLS server ---- */

enum server_mode {
	SERVE_ECHO,     /* answer every byte, until the client closes */
	SERVE_STALL,    /* read, never answer */
	SERVE_BYE,      /* send "bye", then close_notify and close */
	SERVE_RESET,    /* close at once with a reset, no close_notify */
	SERVE_FLOOD,    /* send until the client goes */
	SERVE_DEAF,     /* read nothing, wait for the client to go */
};

struct server {
	int listener;
	int port;
	X509 *cert;
	enum server_mode mode;
	pthread_t thread;
	/* What the server saw, read after the join. */
	bool handshaken;
	bool close_notify;
	char sni[64];
};

static void
serve(struct server *s, SSL *ssl)
{
	unsigned char buf[16384];
	memset(buf, 'x', sizeof buf);
	switch (s->mode) {
	case SERVE_ECHO:
	case SERVE_STALL:
		for (;;) {
			int n = SSL_read(ssl, buf, sizeof buf);
			if (n <= 0) {
				s->close_notify = SSL_get_error(ssl, n) ==
						  SSL_ERROR_ZERO_RETURN;
				return;
			}
			if (s->mode == SERVE_ECHO && SSL_write(ssl, buf, n) != n)
				return;
		}
	case SERVE_BYE:
		SSL_write(ssl, "bye", 3);
		SSL_shutdown(ssl);
		return;
	case SERVE_RESET: {
		struct linger off = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(SSL_get_fd(ssl), SOL_SOCKET, SO_LINGER, &off,
			   sizeof off);
		return;
	}
	case SERVE_FLOOD:
		while (SSL_write(ssl, buf, sizeof buf) > 0)
			;
		return;
	case SERVE_DEAF: {
		struct pollfd p = { .fd = SSL_get_fd(ssl), .events = POLLRDHUP };
		poll(&p, 1, 5000);
		return;
	}
	}
}

static void *
server_main(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->listener, NULL, NULL);
	if (fd < 0)
		return NULL;
	/* A safety net: no test leaves the server blocked for long. */
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl = NULL;
	if (ctx != NULL && SSL_CTX_use_certificate(ctx, s->cert) == 1 &&
	    SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
	    (ssl = SSL_new(ctx)) != NULL && SSL_set_fd(ssl, fd) == 1 &&
	    SSL_accept(ssl) == 1) {
		s->handshaken = true;
		const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
		snprintf(s->sni, sizeof s->sni, "%s", sni != NULL ? sni : "");
		serve(s, ssl);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	ERR_clear_error();
	return NULL;
}

/* A loopback listener; the serving thread only when mode >= 0. */
static void
server_start(struct server *s, X509 *cert, int mode)
{
	memset(s, 0, sizeof *s);
	s->cert = cert;
	s->mode = (enum server_mode)mode;
	s->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	ck_assert_int_ge(s->listener, 0);
	ck_assert_int_eq(bind(s->listener, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(s->listener, 4), 0);
	ck_assert_int_eq(getsockname(s->listener, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	if (mode >= 0)
		ck_assert_int_eq(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void
server_join(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->listener);
}

static struct tls_tunnel *
open_ok(SSL_CTX *ctx, const char *host, int port, int *fd)
{
	err[0] = '\0';
	struct tls_tunnel *t = tls_tunnel_open(ctx, host, port, 2000, fd, err,
					       sizeof err);
	ck_assert_msg(t != NULL, "%s:%d: %s", host, port, err);
	ck_assert_int_gt(*fd, 0);
	return t;
}

/* The reason a tunnel to host:port is refused. */
static const char *
open_fails(SSL_CTX *ctx, const char *host, int port, long timeout_ms)
{
	int fd = -1;
	err[0] = '\0';
	struct tls_tunnel *t = tls_tunnel_open(ctx, host, port, timeout_ms, &fd,
					       err, sizeof err);
	ck_assert_msg(t == NULL, "%s:%d: a tunnel", host, port);
	ck_assert_int_eq(fd, -1);
	ck_assert_msg(err[0] != '\0', "no reason");
	return err;
}

static void
read_exactly(int fd, char *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = read(fd, buf + got, len - got);
		ck_assert_msg(n > 0, "read: %zd after %zu of %zu bytes (%s)", n,
			      got, len, strerror(errno));
		got += (size_t)n;
	}
}

static void
write_all(int fd, const char *buf, size_t len)
{
	for (size_t put = 0; put < len;) {
		ssize_t n = write(fd, buf + put, len - put);
		if (n <= 0)
			return;
		put += (size_t)n;
	}
}

struct writer {
	int fd;
	const char *buf;
	size_t len;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	write_all(w->fd, w->buf, w->len);
	return NULL;
}

START_TEST(echo_by_address_then_a_megabyte_each_way)
{
	struct server s;
	server_start(&s, good_cert, SERVE_ECHO);
	int fd;
	struct tls_tunnel *t = open_ok(trusting, "127.0.0.1", s.port, &fd);
	char buf[16];
	write_all(fd, "PING\r\n", 6);
	read_exactly(fd, buf, 6);
	ck_assert_int_eq(memcmp(buf, "PING\r\n", 6), 0);

	/* More than every buffer on the way holds: only a pump that moves
	 * both directions independently gets it all back. */
	size_t len = 1 << 20;
	char *out = malloc(len), *in = malloc(len);
	for (size_t i = 0; i < len; i++)
		out[i] = (char)(i * 7 + i / 4096);
	struct writer w = { fd, out, len };
	pthread_t wt;
	ck_assert_int_eq(pthread_create(&wt, NULL, writer_main, &w), 0);
	read_exactly(fd, in, len);
	pthread_join(wt, NULL);
	ck_assert_int_eq(memcmp(in, out, len), 0);
	free(out);
	free(in);

	close(fd);
	tls_tunnel_close(t);
	server_join(&s);
	ck_assert(s.handshaken);
	ck_assert_msg(s.close_notify, "the server saw no close_notify");
	ck_assert_str_eq(s.sni, ""); /* never for an address */
}
END_TEST

START_TEST(echo_by_name_with_sni)
{
	struct server s;
	server_start(&s, good_cert, SERVE_ECHO);
	int fd;
	struct tls_tunnel *t = open_ok(trusting, "localhost", s.port, &fd);
	char buf[4];
	write_all(fd, "abc", 3);
	read_exactly(fd, buf, 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
	close(fd);
	tls_tunnel_close(t);
	server_join(&s);
	ck_assert_str_eq(s.sni, "localhost");
}
END_TEST

START_TEST(untrusted_certificate)
{
	struct server s;
	server_start(&s, good_cert, SERVE_ECHO);
	const char *why = open_fails(untrusting, "127.0.0.1", s.port, 2000);
	ck_assert_msg(strstr(why, "certificate verify failed: self-signed certificate") != NULL ||
		      strstr(why, "certificate verify failed: self signed certificate") != NULL,
		      "%s", why);
	server_join(&s);
	ck_assert(!s.handshaken);
}
END_TEST

START_TEST(certificate_for_another_name)
{
	struct server s;
	server_start(&s, other_cert, SERVE_ECHO);
	const char *why = open_fails(trusting, "127.0.0.1", s.port, 2000);
	ck_assert_msg(strstr(why, "certificate verify failed: IP address mismatch") != NULL,
		      "%s", why);
	server_join(&s);

	server_start(&s, other_cert, SERVE_ECHO);
	why = open_fails(trusting, "localhost", s.port, 2000);
	ck_assert_msg(strstr(why, "certificate verify failed: hostname mismatch") != NULL,
		      "%s", why);
	server_join(&s);
}
END_TEST

START_TEST(connection_refused)
{
	const char *why = open_fails(trusting, "127.0.0.1", test_closed_port(),
				     2000);
	ck_assert_msg(strstr(why, "connect: Connection refused") != NULL, "%s",
		      why);
	why = open_fails(trusting, "no-such-host.invalid", 6379, 2000);
	ck_assert_msg(strstr(why, "cannot resolve no-such-host.invalid") != NULL,
		      "%s", why);
}
END_TEST

/* The kernel completes the connection; nobody ever answers the hello. */
START_TEST(silent_listener_bounded_by_timeout)
{
	struct server s;
	server_start(&s, good_cert, -1);
	int64_t t0 = http_now_ms();
	const char *why = open_fails(trusting, "127.0.0.1", s.port, 300);
	int64_t took = http_now_ms() - t0;
	ck_assert_msg(strstr(why, "TLS handshake: no answer within 300 ms") != NULL,
		      "%s", why);
	ck_assert_int_ge(took, 250);
	ck_assert_int_lt(took, 1500);
	close(s.listener);
}
END_TEST

/* As redisSetTimeout does: the socket timeout on the plain end bounds a
 * command, and closing after it does not wait for the server. */
START_TEST(stalled_server_bounded_by_socket_timeout)
{
	struct server s;
	server_start(&s, good_cert, SERVE_STALL);
	int fd;
	struct tls_tunnel *t = open_ok(trusting, "127.0.0.1", s.port, &fd);
	struct timeval tv = { .tv_usec = 200000 };
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	write_all(fd, "PING\r\n", 6);
	char c;
	int64_t t0 = http_now_ms();
	ck_assert_int_eq(read(fd, &c, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);
	int64_t took = http_now_ms() - t0;
	ck_assert_int_ge(took, 150);
	ck_assert_int_lt(took, 1500);
	t0 = http_now_ms();
	close(fd);
	tls_tunnel_close(t);
	ck_assert_int_lt(http_now_ms() - t0, 500);
	server_join(&s);
	ck_assert(s.close_notify);
}
END_TEST

START_TEST(server_close_is_end_of_file)
{
	struct server s;
	server_start(&s, good_cert, SERVE_BYE);
	int fd;
	struct tls_tunnel *t = open_ok(trusting, "127.0.0.1", s.port, &fd);
	char buf[8];
	read_exactly(fd, buf, 3);
	ck_assert_int_eq(memcmp(buf, "bye", 3), 0);
	ck_assert_int_eq(read(fd, buf, sizeof buf), 0);
	close(fd);
	tls_tunnel_close(t);
	server_join(&s);

	server_start(&s, good_cert, SERVE_RESET);
	t = open_ok(trusting, "127.0.0.1", s.port, &fd);
	ck_assert_int_eq(read(fd, buf, sizeof buf), 0);
	close(fd);
	tls_tunnel_close(t);
	server_join(&s);
}
END_TEST

/* The server keeps sending while the client reads nothing: the pump is
 * stuck writing to the plain end, and closing must still end it, whether
 * the client's end is closed first (as redisFree does) or still open. */
START_TEST(close_while_the_server_floods)
{
	for (int fd_first = 1; fd_first >= 0; fd_first--) {
		struct server s;
		server_start(&s, good_cert, SERVE_FLOOD);
		int fd;
		struct tls_tunnel *t = open_ok(trusting, "127.0.0.1", s.port, &fd);
		usleep(200000);
		int64_t t0 = http_now_ms();
		if (fd_first)
			close(fd);
		tls_tunnel_close(t);
		if (!fd_first)
			close(fd);
		ck_assert_int_lt(http_now_ms() - t0, 500);
		server_join(&s);
		ck_assert(s.handshaken);
	}
}
END_TEST

/* The server reads nothing: every buffer on the way fills, the pump is
 * stuck writing to the server with the client's bytes in hand, and the
 * client's close must still end it. */
START_TEST(close_while_the_server_reads_nothing)
{
	struct server s;
	server_start(&s, good_cert, SERVE_DEAF);
	int fd;
	struct tls_tunnel *t = open_ok(trusting, "127.0.0.1", s.port, &fd);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	static char chunk[65536];
	size_t put = 0, before;
	do {
		before = put;
		ssize_t n;
		while (put < (64u << 20) && (n = write(fd, chunk, sizeof chunk)) > 0)
			put += (size_t)n;
		usleep(100000);
	} while (put != before);
	ck_assert_uint_lt(put, 64u << 20);
	int64_t t0 = http_now_ms();
	close(fd);
	tls_tunnel_close(t);
	ck_assert_int_lt(http_now_ms() - t0, 500);
	server_join(&s);
}
END_TEST

static Suite *
tls_tunnel_suite(void)
{
	Suite *suite = suite_create("tls_tunnel");
	TCase *tc = tcase_create("tunnel");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, echo_by_address_then_a_megabyte_each_way);
	tcase_add_test(tc, echo_by_name_with_sni);
	tcase_add_test(tc, untrusted_certificate);
	tcase_add_test(tc, certificate_for_another_name);
	tcase_add_test(tc, connection_refused);
	tcase_add_test(tc, silent_listener_bounded_by_timeout);
	tcase_add_test(tc, stalled_server_bounded_by_socket_timeout);
	tcase_add_test(tc, server_close_is_end_of_file);
	tcase_add_test(tc, close_while_the_server_floods);
	tcase_add_test(tc, close_while_the_server_reads_nothing);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	/* As dcproxyd does: a write to a reset connection fails instead. */
	signal(SIGPIPE, SIG_IGN);
	make_certificates();
	SRunner *sr = srunner_create(tls_tunnel_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tls_tunnel_ctx_free(trusting);
	tls_tunnel_ctx_free(untrusting);
	X509_free(good_cert);
	X509_free(other_cert);
	EVP_PKEY_free(key);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
