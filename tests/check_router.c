/* check_router: router_match over the in-tree registry and a scratch one
 * (base paths, trailing slashes, wrong methods, shared routes), the Allow
 * list router_allowed_methods writes, and router_http_status for every
 * call_error.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "testutil.h"

static struct registry reg;
static bool loaded;

static void
setup(void)
{
	char path[4096], err[1024];
	const char *top = getenv("TOP_SRCDIR");
	ck_assert_msg(top != NULL, "TOP_SRCDIR is not set");
	snprintf(path, sizeof path, "%s/etc/operations.ini", top);
	ck_assert_msg(registry_load(&reg, path, err, sizeof err) == 0, "%s", err);
	loaded = true;
	ck_assert_uint_eq(reg.n_problems, 0);
}

static void
teardown(void)
{
	if (loaded)
		registry_free(&reg);
	loaded = false;
}

/* The Allow list for path under base, from the fixture's registry. */
static const char *
allowed(const char *base, const char *path)
{
	static char buf[ROUTER_ALLOW_LEN];
	return router_allowed_methods(&reg, base, path, buf, sizeof buf);
}

/* Replace the fixture's registry with one read from ini text. */
static void
load_text(const char *ini)
{
	char *dir = test_tmpdir();
	char err[1024];
	char *path = test_write_file(dir, "operations.ini", ini);
	teardown();
	ck_assert_msg(registry_load(&reg, path, err, sizeof err) == 0, "%s", err);
	loaded = true;
	free(path);
	test_rmdir(dir);
}

/* The name of the operation the match settled on, or "" for none. */
static const char *
match(const char *base, const char *method, const char *path,
      enum route_match *how)
{
	const struct reg_operation *op = (const void *)&reg; /* poison */
	*how = router_match(&reg, base, method, path, &op);
	return op != NULL ? op->name : "";
}

static const struct {
	const char *base, *method, *path;
	enum route_match how;
	const char *op;
} cases[] = {
	/* no base: NULL, "" and "/" all mean none */
	{ NULL, "GET", "/api/v1/health", ROUTE_FOUND, "health" },
	{ "", "GET", "/api/v1/health", ROUTE_FOUND, "health" },
	{ "/", "GET", "/api/v1/health", ROUTE_FOUND, "health" },
	{ NULL, "GET", "/api/v1/ohlcv", ROUTE_FOUND, "fetch_ohlcv" },
	{ NULL, "GET", "/api/v1/symbols", ROUTE_FOUND, "symbols" },
	{ NULL, "GET", "/api/v1/status", ROUTE_FOUND, "status" },
	{ NULL, "POST", "/api/v1/sync", ROUTE_FOUND, "ensure-data" },
	/* one trailing slash is ignored, nothing else is */
	{ NULL, "GET", "/api/v1/health/", ROUTE_FOUND, "health" },
	{ "/", "POST", "/api/v1/sync/", ROUTE_FOUND, "ensure-data" },
	{ NULL, "GET", "/api/v1/health//", ROUTE_NOT_FOUND, "" },
	{ NULL, "GET", "/api/v1/healthz", ROUTE_NOT_FOUND, "" },
	{ NULL, "GET", "/api/v1/health/x", ROUTE_NOT_FOUND, "" },
	{ NULL, "GET", "/api/v1", ROUTE_NOT_FOUND, "" },
	{ NULL, "GET", "/api/v1/", ROUTE_NOT_FOUND, "" },
	{ NULL, "GET", "/", ROUTE_NOT_FOUND, "" },
	{ NULL, "GET", "", ROUTE_NOT_FOUND, "" },
	{ NULL, "GET", "api/v1/health", ROUTE_NOT_FOUND, "" },
	{ NULL, "GET", "/API/V1/HEALTH", ROUTE_NOT_FOUND, "" },
	/* a base is stripped from the front, with or without its slash */
	{ "/ea", "GET", "/ea/api/v1/health", ROUTE_FOUND, "health" },
	{ "/ea/", "GET", "/ea/api/v1/health", ROUTE_FOUND, "health" },
	{ "/ea", "GET", "/ea/api/v1/health/", ROUTE_FOUND, "health" },
	{ "/ea", "POST", "/ea/api/v1/sync", ROUTE_FOUND, "ensure-data" },
	{ "/ea", "GET", "/api/v1/health", ROUTE_NOT_FOUND, "" },
	{ "/ea", "GET", "/eax/api/v1/health", ROUTE_NOT_FOUND, "" },
	{ "/ea", "GET", "/ea", ROUTE_NOT_FOUND, "" },
	{ "/ea", "GET", "/ea/", ROUTE_NOT_FOUND, "" },
	{ "/prod/ea", "GET", "/prod/ea/api/v1/status", ROUTE_FOUND, "status" },
	{ "/prod/ea", "GET", "/prod/api/v1/status", ROUTE_NOT_FOUND, "" },
	/* the path exists for another method: its owner is named */
	{ NULL, "POST", "/api/v1/health", ROUTE_WRONG_METHOD, "health" },
	{ NULL, "GET", "/api/v1/sync", ROUTE_WRONG_METHOD, "ensure-data" },
	{ NULL, "DELETE", "/api/v1/sync/", ROUTE_WRONG_METHOD, "ensure-data" },
	{ "/ea", "PUT", "/ea/api/v1/ohlcv", ROUTE_WRONG_METHOD, "fetch_ohlcv" },
	{ NULL, "get", "/api/v1/health", ROUTE_WRONG_METHOD, "health" },
	{ NULL, "", "/api/v1/health", ROUTE_WRONG_METHOD, "health" },
};

START_TEST(test_match)
{
	enum route_match how;
	const char *op = match(cases[_i].base, cases[_i].method, cases[_i].path,
			       &how);
	ck_assert_msg(how == cases[_i].how && strcmp(op, cases[_i].op) == 0,
		      "base '%s' %s '%s': got %d '%s', want %d '%s'",
		      cases[_i].base ? cases[_i].base : "(null)",
		      cases[_i].method, cases[_i].path, how, op, cases[_i].how,
		      cases[_i].op);
}
END_TEST

/* Two operations on one path, one per method, as a REST resource has. */
START_TEST(test_shared_route)
{
	load_text(
		"[service data-collection]\nport = 8002\n"
		"[operation read]\nplugin = health\nmethod = GET\n"
		"route = /api/v1/thing\nservice = data-collection\n"
		"[operation write]\nplugin = health\nmethod = POST\n"
		"route = /api/v1/thing\nservice = data-collection\n");
	ck_assert_uint_eq(reg.n_ops, 2);

	enum route_match how;
	ck_assert_str_eq(match(NULL, "GET", "/api/v1/thing", &how), "read");
	ck_assert_int_eq(how, ROUTE_FOUND);
	ck_assert_str_eq(match(NULL, "POST", "/api/v1/thing/", &how), "write");
	ck_assert_int_eq(how, ROUTE_FOUND);
	match(NULL, "PUT", "/api/v1/thing", &how);
	ck_assert_int_eq(how, ROUTE_WRONG_METHOD);
	ck_assert_str_eq(match(NULL, "GET", "/api/v1/things", &how), "");
	ck_assert_int_eq(how, ROUTE_NOT_FOUND);
}
END_TEST

/* The Allow header of a 405 lists every method the path takes (RFC 9110
 * section 15.5.6), not just the last operation router_match saw. */
START_TEST(test_allowed_methods_shared_route)
{
	load_text(
		"[service data-collection]\nport = 8002\n"
		"[operation read]\nplugin = health\nmethod = GET\n"
		"route = /api/v1/thing\nservice = data-collection\n"
		"[operation other]\nplugin = health\nmethod = GET\n"
		"route = /api/v1/other\nservice = data-collection\n"
		"[operation write]\nplugin = health\nmethod = POST\n"
		"route = /api/v1/thing\nservice = data-collection\n"
		"[operation reread]\nplugin = health\nmethod = GET\n"
		"route = /api/v1/thing\nservice = data-collection\n");
	ck_assert_uint_eq(reg.n_ops, 4);

	/* a 405 on the shared path: both methods, each once */
	enum route_match how;
	match(NULL, "DELETE", "/api/v1/thing", &how);
	ck_assert_int_eq(how, ROUTE_WRONG_METHOD);
	ck_assert_str_eq(allowed(NULL, "/api/v1/thing"), "GET, HEAD, POST");
	/* the same matching as router_match: trailing slash, base */
	ck_assert_str_eq(allowed(NULL, "/api/v1/thing/"), "GET, HEAD, POST");
	ck_assert_str_eq(allowed("/ea/", "/ea/api/v1/thing"), "GET, HEAD, POST");
	ck_assert_str_eq(allowed("/ea", "/api/v1/thing"), "");
	ck_assert_str_eq(allowed(NULL, "/api/v1/thing//"), "");
	/* a path of its own */
	ck_assert_str_eq(allowed(NULL, "/api/v1/other"), "GET, HEAD");
	ck_assert_str_eq(allowed(NULL, "/api/v1/nope"), "");
	/* a short buffer gets whole methods only */
	char small[12];
	ck_assert_str_eq(router_allowed_methods(&reg, NULL, "/api/v1/thing",
						small, sizeof small),
			 "GET, HEAD");
	ck_assert_str_eq(router_allowed_methods(&reg, NULL, "/api/v1/thing",
						small, 9),
			 "");
}
END_TEST

/* Over the in-tree registry each path has one method. */
START_TEST(test_allowed_methods_in_tree)
{
	ck_assert_str_eq(allowed(NULL, "/api/v1/health"), "GET, HEAD");
	ck_assert_str_eq(allowed("/prod/ea", "/prod/ea/api/v1/sync/"), "POST");
	ck_assert_str_eq(allowed(NULL, "/"), "");
}
END_TEST

START_TEST(test_empty_registry)
{
	struct registry empty = { 0 };
	const struct reg_operation *op = (const void *)&empty;
	ck_assert_int_eq(router_match(&empty, NULL, "GET", "/api/v1/health", &op),
			 ROUTE_NOT_FOUND);
	ck_assert_ptr_null(op);
	char allow[ROUTER_ALLOW_LEN];
	ck_assert_str_eq(router_allowed_methods(&empty, NULL, "/api/v1/health",
						allow, sizeof allow),
			 "");
}
END_TEST

static const struct {
	enum call_error error;
	long upstream_status;
	int http;
} statuses[] = {
	{ CALL_OK, 200, 200 },
	{ CALL_BAD_EVENT, 0, 400 },
	{ CALL_UNKNOWN_OPERATION, 0, 404 },
	{ CALL_PLUGIN_UNAVAILABLE, 0, 503 },
	{ CALL_INVALID_PARAMS, 0, 400 },
	{ CALL_SERVICE_UNRESOLVED, 0, 502 },
	{ CALL_CONNECTION, 0, 502 },
	{ CALL_TIMEOUT, 0, 504 },
	/* the service's own 4xx is passed on, anything else is a bad gateway */
	{ CALL_UPSTREAM_CLIENT_ERROR, 400, 400 },
	{ CALL_UPSTREAM_CLIENT_ERROR, 404, 404 },
	{ CALL_UPSTREAM_CLIENT_ERROR, 422, 422 },
	{ CALL_UPSTREAM_CLIENT_ERROR, 499, 499 },
	{ CALL_UPSTREAM_CLIENT_ERROR, 0, 502 },
	{ CALL_UPSTREAM_CLIENT_ERROR, 399, 502 },
	{ CALL_UPSTREAM_CLIENT_ERROR, 500, 502 },
	{ CALL_UPSTREAM_SERVER_ERROR, 503, 502 },
	{ CALL_BAD_UPSTREAM_REPLY, 302, 502 },
	{ CALL_CONFIGURATION, 0, 500 },
	{ CALL_INTERNAL, 0, 500 },
};

START_TEST(test_http_status)
{
	struct call_outcome out = { .error = statuses[_i].error,
				    .upstream_status = statuses[_i].upstream_status };
	ck_assert_msg(router_http_status(&out) == statuses[_i].http,
		      "%s (upstream %ld): %d, want %d",
		      call_error_name(statuses[_i].error),
		      statuses[_i].upstream_status, router_http_status(&out),
		      statuses[_i].http);
}
END_TEST

/* Every error kind is in the table above: a new one must be mapped. */
START_TEST(test_http_status_covers_every_error)
{
	for (int e = CALL_OK; e <= CALL_INTERNAL; e++) {
		bool seen = false;
		for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
			seen = seen || statuses[i].error == (enum call_error)e;
		ck_assert_msg(seen, "no status case for %s",
			      call_error_name((enum call_error)e));
	}
}
END_TEST

#define N_OF(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *
router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("match");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_match, 0, N_OF(cases));
	tcase_add_test(tc, test_shared_route);
	tcase_add_test(tc, test_allowed_methods_shared_route);
	tcase_add_test(tc, test_allowed_methods_in_tree);
	tcase_add_test(tc, test_empty_registry);
	suite_add_tcase(s, tc);

	tc = tcase_create("status");
	tcase_add_loop_test(tc, test_http_status, 0, N_OF(statuses));
	tcase_add_test(tc, test_http_status_covers_every_error);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(router_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
