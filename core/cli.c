/* cli: the `dcproxy` command for developers and operators.
 *
 *   dcproxy invoke [EVENT|-]   run one event, print the envelope
 *   dcproxy list               show every registered operation
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "envelope.h"
#include "log.h"
#include "router.h"
#include "settings.h"

enum { EXIT_USAGE = 2 };

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: dcproxy [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Run data-collection proxy operations from the command line.\n"
		"\n"
		"Commands:\n"
		"  invoke [EVENT|-]   run one event such as\n"
		"                     '{\"operation\":\"health\",\"params\":{}}' (from\n"
		"                     standard input when EVENT is '-' or absent) and\n"
		"                     print the response envelope on standard output;\n"
		"                     exit 0 on success, 1 when the result is an error\n"
		"  list               show each operation: status, method and route,\n"
		"                     service URL and plugin; exit 1 if any failed\n"
		"\n"
		"Options:\n"
		"  -r, --registry PATH  operation registry (overrides DCPROXY_REGISTRY)\n"
		"  -h, --help           show this help\n"
		"  -V, --version        show the version and plugin ABI\n"
		"\n"
		"Environment:\n");
	settings_print_help(out);
	/* Not in the settings table: one variable per registry service. */
	fprintf(out, "  %-28s %s\n", "DATA_COLLECTION_URL",
		"direct URL of data-collection, used instead of its Cloud Map "
		"name; every service has one (url_env, default NAME_URL)");
	fprintf(out, "\nLogs are JSON lines on standard error, as are the "
		     "CloudWatch EMF metrics.\n");
}

/* Read all of stdin, up to limit + 1 bytes so an oversize event is seen. */
static char *
read_stdin(size_t limit, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		if (n == cap) {
			if (cap > limit)
				break;
			char *grown = realloc(buf, cap * 2);
			if (grown == NULL) {
				free(buf);
				return NULL;
			}
			buf = grown;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0)
			break;
	}
	*len = n;
	return buf;
}

static int
print_json(cJSON *doc)
{
	char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
	if (text == NULL) {
		fprintf(stderr, "dcproxy: out of memory\n");
		return -1;
	}
	puts(text);
	free(text);
	return fflush(stdout) == 0 ? 0 : -1;
}

/* What a command printed and could not write (a full disk, a closed
 * descriptor) is a failure, said on standard error. */
static int
stdout_checked(int status)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return status;
	fprintf(stderr, "dcproxy: cannot write to standard output%s%s\n",
		errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
	return EXIT_FAILURE;
}

static int
cmd_invoke(const struct engine_options *opts, int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "dcproxy: invoke takes one EVENT (see --help)\n");
		return EXIT_USAGE;
	}
	char err[1024];
	struct engine *engine = engine_open(opts, err, sizeof err);
	if (engine == NULL) {
		/* Still answer with an envelope, so callers parse one shape. */
		const char *env = getenv("ENVIRONMENT");
		cJSON *result = cJSON_CreateObject();
		cJSON_AddStringToObject(result, "error", err);
		cJSON_AddStringToObject(result, "error_kind",
					call_error_name(CALL_CONFIGURATION));
		cJSON *envelope = envelope_wrap(NULL, result,
						env && *env ? env : "dev");
		print_json(envelope);
		cJSON_Delete(envelope);
		fprintf(stderr, "dcproxy: %s\n", err);
		return EXIT_FAILURE;
	}

	size_t len;
	char *text;
	if (argc == 0 || strcmp(argv[0], "-") == 0)
		text = read_stdin((size_t)engine_settings(engine)->max_event_bytes,
				  &len);
	else {
		len = strlen(argv[0]);
		text = strdup(argv[0]);
	}
	int status = EXIT_FAILURE;
	if (text != NULL) {
		enum call_error error;
		cJSON *envelope = engine_invoke_event(engine, text, len, NULL,
						      &error);
		if (print_json(envelope) == 0 && error == CALL_OK)
			status = EXIT_SUCCESS;
		cJSON_Delete(envelope);
		free(text);
	} else {
		fprintf(stderr, "dcproxy: out of memory reading the event\n");
	}
	engine_close(engine);
	return status;
}

static int
cmd_list(const struct engine_options *opts, int argc)
{
	if (argc > 0) {
		fprintf(stderr, "dcproxy: list takes no arguments\n");
		return EXIT_USAGE;
	}
	char err[1024];
	struct engine *engine = engine_open(opts, err, sizeof err);
	if (engine == NULL) {
		fprintf(stderr, "dcproxy: %s\n", err);
		return EXIT_FAILURE;
	}
	const struct registry *reg = engine_registry(engine);
	int status = EXIT_SUCCESS;

	printf("registry: %s\n", reg->path);
	printf("plugins:  %s\n\n", engine_settings(engine)->plugin_path);
	for (size_t i = 0; i < reg->n_ops; i++) {
		const struct reg_operation *op = &reg->ops[i];
		char url[1024], why[1024];
		bool resolved = engine_service_url(engine, op, url, sizeof url,
						   why, sizeof why) == 0;
		const struct loaded_plugin *lp =
			engine_load_operation(engine, op->name, err, sizeof err);

		const struct reg_operation *owner = router_route_owner(reg, op);
		printf("%s\n", op->name);
		printf("  route:   %s %s%s%s%s\n", op->method, op->route,
		       op->cache ? " (cacheable)" : "",
		       owner != op ? "; over HTTP that is " : "",
		       owner != op ? owner->name : "");
		if (owner != op)
			printf("           (this operation answers events only)\n");
		printf("  service: %s -> %s%s%s\n", op->service,
		       resolved ? url : "unresolved (", resolved ? "" : why,
		       resolved ? "" : ")");
		if (lp != NULL) {
			printf("  plugin:  %s (%s %s, ABI %u.%u)\n", lp->path,
			       lp->desc->name,
			       lp->desc->version ? lp->desc->version : "?",
			       lp->desc->abi_major, lp->desc->abi_minor);
			printf("  status:  loaded%s%s\n",
			       lp->desc->summary ? ": " : "",
			       lp->desc->summary ? lp->desc->summary : "");
		} else {
			printf("  plugin:  %s\n", op->plugin);
			printf("  status:  FAILED: %s\n", err);
			status = EXIT_FAILURE;
		}
		printf("  defined: %s:%d\n\n", op->file, op->line);
	}
	if (reg->n_ops == 0)
		printf("no operations registered\n\n");
	for (size_t i = 0; i < reg->n_problems; i++) {
		printf("problem: %s\n", reg->problems[i]);
		status = EXIT_FAILURE;
	}
	engine_close(engine);
	return status;
}

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "registry", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct engine_options opts = {
		.log_stream = stderr,
		.metrics_stream = stderr,
	};
	int c;
	if (log_guard_stdio() != 0) {
		fprintf(stderr, "dcproxy: cannot open /dev/null: %s\n",
			strerror(errno));
		return EXIT_FAILURE;
	}
	while ((c = getopt_long(argc, argv, "r:hV", long_options, NULL)) != -1) {
		switch (c) {
		case 'r':
			opts.registry = optarg;
			break;
		case 'h':
			usage(stdout);
			return stdout_checked(EXIT_SUCCESS);
		case 'V':
			printf("dcproxy %s (plugin ABI %d.%d)\n", PACKAGE_VERSION,
			       DCP_ABI_MAJOR, DCP_ABI_MINOR);
			return stdout_checked(EXIT_SUCCESS);
		default:
			fprintf(stderr, "Try 'dcproxy --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *command = argv[optind];
	int rest = argc - optind - 1;
	char **args = argv + optind + 1;
	if (strcmp(command, "invoke") == 0)
		return stdout_checked(cmd_invoke(&opts, rest, args));
	if (strcmp(command, "list") == 0)
		return stdout_checked(cmd_list(&opts, rest));
	fprintf(stderr, "dcproxy: unknown command '%s'. Try 'dcproxy --help'.\n",
		command);
	return EXIT_USAGE;
}
