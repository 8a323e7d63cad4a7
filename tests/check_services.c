/* check_services: a registry service to a base URL: the direct-URL variable
 * first, else the Cloud Map name; malformed direct URLs refused.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "services.h"

static const char *const url_variables[] = {
	"DATA_COLLECTION_URL", "STRATEGY_SERVICE_URL", "MLFLOW_URL",
	"BACKEND_API_URL", "TRACKING_URL",
};

static struct reg_service data_collection = {
	.name = "data-collection", .host = "data-collection",
	.url_env = "DATA_COLLECTION_URL", .port = 8002,
};

static char url[1024], err[512];

static void
setup(void)
{
	for (size_t i = 0; i < sizeof url_variables / sizeof url_variables[0]; i++)
		unsetenv(url_variables[i]);
	strcpy(url, "untouched");
	err[0] = '\0';
}

static void
resolve_ok(const struct reg_service *svc, const char *namespace,
	   const char *want)
{
	ck_assert_msg(service_resolve_url(svc, namespace, url, sizeof url, err,
					  sizeof err) == 0,
		      "%s: %s", svc->name, err);
	ck_assert_str_eq(url, want);
}

START_TEST(cloud_map_name)
{
	resolve_ok(&data_collection, "tradai.local",
		   "http://data-collection.tradai.local:8002");
	resolve_ok(&data_collection, "prod.internal",
		   "http://data-collection.prod.internal:8002");
	setenv("DATA_COLLECTION_URL", "", 1); /* empty is unset */
	resolve_ok(&data_collection, "tradai.local",
		   "http://data-collection.tradai.local:8002");
}
END_TEST

START_TEST(host_differs_from_name)
{
	struct reg_service svc = { .name = "ml.flow", .host = "mlflow",
				   .url_env = "TRACKING_URL", .port = 5000 };
	resolve_ok(&svc, "tradai.local", "http://mlflow.tradai.local:5000");
	setenv("TRACKING_URL", "https://tracking.example.com/", 1);
	resolve_ok(&svc, "tradai.local", "https://tracking.example.com");
}
END_TEST

static const struct {
	const char *value, *want;
} direct[] = {
	{ "http://localhost:8002", "http://localhost:8002" },
	{ "http://localhost:8002/", "http://localhost:8002" },
	{ "http://localhost:8002///", "http://localhost:8002" },
	{ "https://dc.example.com", "https://dc.example.com" },
	{ "HTTP://127.0.0.1:9", "HTTP://127.0.0.1:9" },
	{ "http://gw.example.com/stage/", "http://gw.example.com/stage" },
	{ "http://[::1]:8002/", "http://[::1]:8002" },
};

START_TEST(direct_url_wins)
{
	setenv("DATA_COLLECTION_URL", direct[_i].value, 1);
	resolve_ok(&data_collection, "tradai.local", direct[_i].want);
}
END_TEST

static const char *const malformed[] = {
	"ftp://x", "localhost:8002", "http://local host:8002",
	"http://x:8002?debug=1", "http://x:8002/#frag", "http://x\n",
	"http://", "https://", "http:///", "http:///path", "http:/x",
	"//x:8002", "x", " http://x",
};

START_TEST(malformed_direct_url)
{
	setenv("DATA_COLLECTION_URL", malformed[_i], 1);
	ck_assert_msg(service_resolve_url(&data_collection, "tradai.local", url,
					  sizeof url, err, sizeof err) == -1,
		      "'%s' accepted as '%s'", malformed[_i], url);
	char want[256];
	snprintf(want, sizeof want, "DATA_COLLECTION_URL='%s'", malformed[_i]);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	ck_assert_ptr_nonnull(strstr(err, "http:// or https://"));
}
END_TEST

START_TEST(direct_url_too_long)
{
	char long_url[2048];
	memset(long_url, 'a', sizeof long_url - 1);
	memcpy(long_url, "http://", 7);
	long_url[sizeof long_url - 1] = '\0';
	setenv("DATA_COLLECTION_URL", long_url, 1);
	ck_assert_int_eq(service_resolve_url(&data_collection, "tradai.local",
					     url, sizeof url, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "DATA_COLLECTION_URL="));
}
END_TEST

/* Every service of the repository's registry, each with its own variable;
 * setting one service's variable leaves the others alone. */
START_TEST(repository_services)
{
	const char *top = getenv("TOP_SRCDIR");
	ck_assert_msg(top != NULL, "TOP_SRCDIR is not set: run from make check");
	char path[4096];
	struct registry reg;
	snprintf(path, sizeof path, "%s/etc/operations.ini", top);
	ck_assert_msg(registry_load(&reg, path, err, sizeof err) == 0, "%s", err);

	static const struct {
		const char *name, *env, *cloud_map, *direct;
	} services[] = {
		{ "data-collection", "DATA_COLLECTION_URL",
		  "http://data-collection.tradai.local:8002", "http://127.0.0.1:18002" },
		{ "strategy-service", "STRATEGY_SERVICE_URL",
		  "http://strategy-service.tradai.local:8003", "http://127.0.0.1:18003" },
		{ "mlflow", "MLFLOW_URL", "http://mlflow.tradai.local:5000",
		  "http://127.0.0.1:15000" },
		{ "backend-api", "BACKEND_API_URL",
		  "http://backend-api.tradai.local:8000", "http://127.0.0.1:18000" },
	};
	const size_t n = sizeof services / sizeof services[0];
	for (size_t i = 0; i < n; i++) {
		const struct reg_service *svc =
			registry_find_service(&reg, services[i].name);
		ck_assert_msg(svc != NULL, "no service %s", services[i].name);
		resolve_ok(svc, "tradai.local", services[i].cloud_map);
	}
	for (size_t i = 0; i < n; i++) {
		setenv(services[i].env, services[i].direct, 1);
		for (size_t j = 0; j < n; j++)
			resolve_ok(registry_find_service(&reg, services[j].name),
				   "tradai.local",
				   j <= i ? services[j].direct
					  : services[j].cloud_map);
	}
	registry_free(&reg);
}
END_TEST

static Suite *
services_suite(void)
{
	Suite *s = suite_create("services");
	TCase *tc = tcase_create("resolve");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, cloud_map_name);
	tcase_add_test(tc, host_differs_from_name);
	tcase_add_loop_test(tc, direct_url_wins, 0,
			    (int)(sizeof direct / sizeof direct[0]));
	tcase_add_loop_test(tc, malformed_direct_url, 0,
			    (int)(sizeof malformed / sizeof malformed[0]));
	tcase_add_test(tc, direct_url_too_long);
	tcase_add_test(tc, repository_services);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(services_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
