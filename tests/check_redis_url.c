/* check_redis_url: CACHE_REDIS_URL parsing (defaults, user and password
 * with %-escapes, IPv6, db from the path or the query, password from the
 * query, a unix socket path, rediss) and its refusals; redis_new's choice
 * of URL, socket or host and port, rediss:// described as such and
 * refused for a unix socket; a server that never answers, over TCP or
 * TLS, bounds every call by CACHE_REDIS_TIMEOUT and MAX_QUEUED_ITEMS.  No
 * Redis server.
 */
#include "config.h"

#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache.h"
#include "http.h"
#include "redis.h"
#include "testutil.h"

static struct redis_endpoint ep;
static char err[512];

static void
parse_ok(const char *url)
{
	err[0] = '\0';
	ck_assert_msg(redis_url_parse(url, &ep, err, sizeof err) == 0,
		      "%s: %s", url, err);
}

static void
teardown(void)
{
	redis_endpoint_clear(&ep);
}

START_TEST(defaults)
{
	parse_ok("redis://");
	ck_assert_str_eq(ep.host, "127.0.0.1");
	ck_assert_int_eq(ep.port, 6379);
	ck_assert_ptr_null(ep.user);
	ck_assert_ptr_null(ep.password);
	ck_assert_int_eq(ep.db, 0);
	ck_assert(!ep.tls);
	redis_endpoint_clear(&ep);
	parse_ok("//cache.internal");
	ck_assert_str_eq(ep.host, "cache.internal");
	ck_assert_int_eq(ep.port, 6379);
}
END_TEST

START_TEST(full_form)
{
	parse_ok("redis://alice:s%40cret%3A1@redis.example:6380/3");
	ck_assert_str_eq(ep.user, "alice");
	ck_assert_str_eq(ep.password, "s@cret:1");
	ck_assert_str_eq(ep.host, "redis.example");
	ck_assert_int_eq(ep.port, 6380);
	ck_assert_int_eq(ep.db, 3);
}
END_TEST

START_TEST(password_only)
{
	parse_ok("redis://:SUPER_SECRET@10.0.0.5");
	ck_assert_ptr_null(ep.user);
	ck_assert_str_eq(ep.password, "SUPER_SECRET");
	ck_assert_str_eq(ep.host, "10.0.0.5");
	ck_assert_int_eq(ep.port, 6379);
}
END_TEST

START_TEST(ipv6_host)
{
	parse_ok("redis://[::1]:7000");
	ck_assert_str_eq(ep.host, "::1");
	ck_assert_int_eq(ep.port, 7000);
}
END_TEST

START_TEST(query_options)
{
	parse_ok("redis://h:1/2?db=5&password=p%26q&family=IPv4");
	ck_assert_int_eq(ep.db, 5); /* the query wins over the path */
	ck_assert_str_eq(ep.password, "p&q");
	redis_endpoint_clear(&ep);
	parse_ok("redis://h?password=x");
	ck_assert_str_eq(ep.host, "h");
	ck_assert_str_eq(ep.password, "x");
}
END_TEST

START_TEST(tls_scheme)
{
	parse_ok("rediss://:pw@master.cache.amazonaws.com:6379");
	ck_assert(ep.tls);
	ck_assert_str_eq(ep.host, "master.cache.amazonaws.com");
	ck_assert_str_eq(ep.password, "pw");
}
END_TEST

START_TEST(unix_socket_path)
{
	parse_ok("redis:///run/redis/redis%2D1.sock?db=2");
	ck_assert_ptr_null(ep.host);
	ck_assert_str_eq(ep.path, "/run/redis/redis-1.sock");
	ck_assert_int_eq(ep.db, 2);
	redis_endpoint_clear(&ep);
	parse_ok("redis://:pw@/tmp/r.sock");
	ck_assert_str_eq(ep.path, "/tmp/r.sock");
	ck_assert_str_eq(ep.password, "pw");
	redis_endpoint_clear(&ep);
	/* A number is still a database, on the default host. */
	parse_ok("redis:///3");
	ck_assert_ptr_null(ep.path);
	ck_assert_str_eq(ep.host, "127.0.0.1");
	ck_assert_int_eq(ep.db, 3);
}
END_TEST

START_TEST(refusals)
{
	static const char *const bad[] = {
		"http://host:6379",      /* not redis */
		"redis:host",            /* no // */
		"redis://h:0",           /* port out of range */
		"redis://h:65536",
		"redis://h:12x",
		"redis://h:",
		"redis://[::1",          /* unterminated IPv6 */
		"redis://h/notadb",      /* a host: the path is a database */
		"redis://:6380/tmp/r.sock",
		"redis:///tmp/bad%zz",
		"redis://h?db=x",
		"redis://:bad%zz@h",     /* bad escape */
		"redis://:bad%4@h",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_msg(redis_url_parse(bad[i], &ep, err, sizeof err) == -1,
			      "%s accepted", bad[i]);
		ck_assert_msg(err[0] != '\0', "%s: no reason", bad[i]);
		ck_assert_ptr_null(ep.host);
	}
}
END_TEST

START_TEST(client_endpoint_choice)
{
	struct redis_options o = { .host = "10.1.2.3", .port = 6390,
				   .timeout_ms = 100, .max_queued = 1 };
	struct redis_client *r = redis_new(&o, err, sizeof err);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(redis_describe(r), "10.1.2.3:6390");
	redis_free(r);

	o.path = "/run/redis/redis.sock";
	r = redis_new(&o, err, sizeof err);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(redis_describe(r), "unix:/run/redis/redis.sock");
	redis_free(r);

	o.url = "redis://[::1]:7001";
	r = redis_new(&o, err, sizeof err);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(redis_describe(r), "[::1]:7001");
	struct redis_status s = redis_get_status(r);
	ck_assert(!s.connected);
	ck_assert_uint_eq(s.failures, 0);
	redis_free(r);

	o.url = "redis://h:99999";
	ck_assert_ptr_null(redis_new(&o, err, sizeof err));
	ck_assert_msg(strstr(err, "CACHE_REDIS_URL") != NULL, "%s", err);
}
END_TEST

START_TEST(rediss_described_and_unix_socket_refused)
{
	struct redis_options o = { .url = "rediss://h:6379", .timeout_ms = 100,
				   .max_queued = 1 };
	struct redis_client *r = redis_new(&o, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_str_eq(redis_describe(r), "rediss://h:6379");
	redis_free(r);
	o.url = "rediss://[::1]:6380";
	r = redis_new(&o, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_str_eq(redis_describe(r), "rediss://[::1]:6380");
	redis_free(r);

	o.url = "redis:///run/redis.sock";
	r = redis_new(&o, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	ck_assert_str_eq(redis_describe(r), "unix:/run/redis.sock");
	redis_free(r);
	o.url = "rediss:///run/redis.sock";
	err[0] = '\0';
	ck_assert_ptr_null(redis_new(&o, err, sizeof err));
	ck_assert_msg(strstr(err, "rediss:// cannot name a unix socket "
				  "(/run/redis.sock)") != NULL, "%s", err);
}
END_TEST

/* Nothing listens on port 1: the first call fails fast and is counted,
 * later ones are skipped within the cooldown rather than retried. */
START_TEST(down_server_is_skipped_within_cooldown)
{
	struct redis_options o = { .host = "127.0.0.1", .port = 1,
				   .timeout_ms = 200, .max_cooldown_ms = 60000,
				   .max_queued = 4 };
	struct redis_client *r = redis_new(&o, err, sizeof err);
	ck_assert_ptr_nonnull(r);
	char *v = NULL;
	ck_assert_int_eq(redis_get(r, "k", &v), -1);
	ck_assert_int_eq(redis_set(r, "k", "v", 1000, true), -1);
	ck_assert_int_eq(redis_exists(r, "k"), -1);
	struct redis_status s = redis_get_status(r);
	ck_assert(!s.connected);
	ck_assert_uint_eq(s.failures, 1);
	ck_assert_uint_eq(s.skipped, 2);
	redis_free(r);
}
END_TEST

/* A loopback listener that never accepts: the kernel completes the
 * connection, nobody ever answers. */
static int
silent_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

struct timed_get {
	struct redis_client *r;
	int rc;
	int64_t took;
};

static void *
timed_get(void *arg)
{
	struct timed_get *g = arg;
	char *v = NULL;
	int64_t t0 = http_now_ms();
	g->rc = redis_get(g->r, "k", &v);
	g->took = http_now_ms() - t0;
	free(v);
	return NULL;
}

START_TEST(silent_server_bounded_by_timeout_and_queue)
{
	int port;
	int fd = silent_listener(&port);
	struct redis_options o = { .host = "127.0.0.1", .port = port,
				   .timeout_ms = 300, .max_cooldown_ms = 60000,
				   .max_queued = 1 };
	struct redis_client *r = redis_new(&o, err, sizeof err);
	ck_assert_ptr_nonnull(r);
	struct timed_get slow = { .r = r }, quick = { .r = r };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, timed_get, &slow), 0);
	usleep(100000);
	/* The one slot is taken: skipped at once, not queued. */
	timed_get(&quick);
	ck_assert_int_eq(quick.rc, -1);
	ck_assert_int_lt(quick.took, 100);
	pthread_join(t, NULL);
	ck_assert_int_eq(slow.rc, -1);
	ck_assert_int_ge(slow.took, 250);
	ck_assert_int_lt(slow.took, 1500);
	/* Down now: within the cooldown nothing waits. */
	timed_get(&quick);
	ck_assert_int_eq(quick.rc, -1);
	ck_assert_int_lt(quick.took, 100);
	struct redis_status s = redis_get_status(r);
	ck_assert(!s.connected);
	ck_assert_uint_eq(s.failures, 1);
	ck_assert_uint_eq(s.skipped, 2);
	redis_free(r);
	close(fd);
}
END_TEST

/* Over TLS the handshake is what never gets an answer: bounded the same
 * way, and the reason says where it stopped. */
START_TEST(silent_tls_server_bounded_by_timeout)
{
	int port;
	int fd = silent_listener(&port);
	char url[64];
	snprintf(url, sizeof url, "rediss://127.0.0.1:%d", port);
	struct redis_options o = { .url = url, .timeout_ms = 300,
				   .max_cooldown_ms = 60000, .max_queued = 1 };
	struct redis_client *r = redis_new(&o, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	struct timed_get g = { .r = r };
	timed_get(&g);
	ck_assert_int_eq(g.rc, -1);
	ck_assert_int_ge(g.took, 250);
	ck_assert_int_lt(g.took, 1500);
	struct redis_status s = redis_get_status(r);
	ck_assert(!s.connected);
	ck_assert_uint_eq(s.failures, 1);
	redis_free(r);
	close(fd);

	/* Nothing listens: refused at once. */
	snprintf(url, sizeof url, "rediss://127.0.0.1:%u", test_closed_port());
	g.r = r = redis_new(&o, err, sizeof err);
	ck_assert_msg(r != NULL, "%s", err);
	timed_get(&g);
	ck_assert_int_eq(g.rc, -1);
	ck_assert_int_lt(g.took, 250);
	redis_free(r);
}
END_TEST

START_TEST(backoff_grows_and_caps)
{
	struct cache_coalescing co = { .interval_ms = 100,
				       .interval_max_ms = 1000,
				       .coefficient = 2 };
	ck_assert_int_eq(cache_backoff_ms(&co, 1), 100);
	ck_assert_int_eq(cache_backoff_ms(&co, 2), 200);
	ck_assert_int_eq(cache_backoff_ms(&co, 3), 400);
	ck_assert_int_eq(cache_backoff_ms(&co, 4), 800);
	ck_assert_int_eq(cache_backoff_ms(&co, 5), 1000);
	ck_assert_int_eq(cache_backoff_ms(&co, 50), 1000);
	co.coefficient = 1;
	ck_assert_int_eq(cache_backoff_ms(&co, 7), 100);
}
END_TEST

static Suite *
redis_url_suite(void)
{
	Suite *suite = suite_create("redis_url");
	TCase *url = tcase_create("url");
	tcase_add_checked_fixture(url, NULL, teardown);
	tcase_add_test(url, defaults);
	tcase_add_test(url, full_form);
	tcase_add_test(url, password_only);
	tcase_add_test(url, ipv6_host);
	tcase_add_test(url, query_options);
	tcase_add_test(url, tls_scheme);
	tcase_add_test(url, unix_socket_path);
	tcase_add_test(url, refusals);
	suite_add_tcase(suite, url);

	TCase *client = tcase_create("client");
	tcase_add_test(client, client_endpoint_choice);
	tcase_add_test(client, rediss_described_and_unix_socket_refused);
	tcase_add_test(client, down_server_is_skipped_within_cooldown);
	tcase_add_test(client, silent_server_bounded_by_timeout_and_queue);
	tcase_add_test(client, silent_tls_server_bounded_by_timeout);
	tcase_add_test(client, backoff_grows_and_caps);
	suite_add_tcase(suite, client);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(redis_url_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
