/* bootstrap: the AWS Lambda custom runtime (provided.al2023).
 *
 * Loads the registry and every plugin once, then loops: fetch the next
 * invocation from the Runtime API, answer it within its deadline, post the
 * answer.  Single-threaded; all state lives in the engine and the API client.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "engine.h"
#include "http.h"
#include "lambda_event.h"
#include "log.h"
#include "runtime_api.h"

/* Time kept back from Lambda's deadline to post the answer. */
#define DEFAULT_DEADLINE_MARGIN_MS 500

static int64_t
epoch_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static long
deadline_margin_ms(void)
{
	const char *text = getenv("DCPROXY_DEADLINE_MARGIN_MS");
	char *end;
	long ms = text != NULL ? strtol(text, &end, 10) : -1;
	return text != NULL && *text != '\0' && *end == '\0' && ms >= 0 && ms <= 60000
		       ? ms
		       : DEFAULT_DEADLINE_MARGIN_MS;
}

/* Report an init failure to Lambda, which then fails the invocation. */
static int
init_failed(struct runtime_api *api, const char *type, const char *message)
{
	char err[512];
	fprintf(stderr, "dcproxy bootstrap: %s: %s\n", type, message);
	if (api != NULL &&
	    runtime_api_fail(api, NULL, type, message, err, sizeof err) != 0)
		fprintf(stderr, "dcproxy bootstrap: cannot report init error: %s\n",
			err);
	return EXIT_FAILURE;
}

/* Load every plugin now, so the first invocation pays nothing and a runtime
 * with no working operation fails at init.  Returns how many loaded. */
static size_t
load_all(struct engine *engine, char *why, size_t whylen)
{
	const struct registry *reg = engine_registry(engine);
	size_t loaded = 0, n = 0;
	why[0] = '\0';
	for (size_t i = 0; i < reg->n_ops; i++) {
		char err[1024];
		if (engine_load_operation(engine, reg->ops[i].name, err,
					  sizeof err) != NULL)
			loaded++;
		else if (n < whylen)
			n += (size_t)snprintf(why + n, whylen - n, "%s%s: %s",
					      n ? "; " : "", reg->ops[i].name, err);
	}
	for (size_t i = 0; i < reg->n_problems; i++)
		if (n < whylen)
			n += (size_t)snprintf(why + n, whylen - n, "%s%s",
					      n ? "; " : "", reg->problems[i]);
	return loaded;
}

int
main(void)
{
	/* Lambda gives every descriptor; a closed one run by hand must not
	 * send the EMF documents or the logs into the Runtime API's socket. */
	if (log_guard_stdio() != 0)
		return EXIT_FAILURE;
	const char *endpoint = getenv("AWS_LAMBDA_RUNTIME_API");
	if (endpoint == NULL || *endpoint == '\0') {
		fprintf(stderr, "dcproxy bootstrap: AWS_LAMBDA_RUNTIME_API is not "
				"set: this program runs inside AWS Lambda "
				"(use `dcproxy invoke` elsewhere)\n");
		return EXIT_FAILURE;
	}
	struct runtime_api *api = runtime_api_new(endpoint);
	if (api == NULL)
		return init_failed(NULL, "Runtime.InitError",
				   "cannot create the Runtime API client");

	char err[4096];
	struct engine_options opts = { .log_stream = stderr,
				       .metrics_stream = stdout };
	struct engine *engine = engine_open(&opts, err, sizeof err);
	if (engine == NULL) {
		int rc = init_failed(api, "Runtime.ConfigurationError", err);
		runtime_api_free(api);
		return rc;
	}
	if (load_all(engine, err, sizeof err) == 0) {
		char message[4200];
		snprintf(message, sizeof message, "no operation could be loaded: %s",
			 err[0] ? err : "the registry declares none");
		int rc = init_failed(api, "Runtime.ConfigurationError", message);
		engine_close(engine);
		runtime_api_free(api);
		return rc;
	}

	struct logger logger = { stderr, DCP_LOG_INFO };
	log_parse_level(engine_settings(engine)->log_level, &logger.level);
	long margin = deadline_margin_ms();
	bool cold = true;
	for (;;) {
		struct invocation inv;
		if (runtime_api_next(api, &inv, err, sizeof err) != 0) {
			struct log_scope scope = { &logger, NULL, NULL };
			log_at(&scope, DCP_LOG_ERROR, "runtime API: %s", err);
			break;
		}
		if (inv.trace_id[0] != '\0')
			setenv("_X_AMZN_TRACE_ID", inv.trace_id, 1);
		else
			unsetenv("_X_AMZN_TRACE_ID");

		struct call_context ctx = {
			.request_id = inv.request_id,
			.trace_id = inv.trace_id[0] ? inv.trace_id : NULL,
			.cold_start = cold,
		};
		if (inv.deadline_epoch_ms > 0) {
			/* On the monotonic clock, which a young sandbox has
			 * counted little of: a deadline past by more than that
			 * is still past, never 0 (none at all). */
			int64_t at = http_now_ms() +
				     (inv.deadline_epoch_ms - epoch_ms()) - margin;
			ctx.deadline_ms = at > 0 ? at : 1;
		}
		cold = false;

		enum lambda_event_kind kind;
		char *answer = lambda_handle_event(engine, inv.event,
						   inv.event_len, &ctx,
						   LAMBDA_MAX_RESPONSE_BYTES, &kind);
		struct log_scope scope = { &logger, inv.request_id, NULL };
		int rc = answer != NULL
				 ? runtime_api_respond(api, inv.request_id, answer,
						       strlen(answer), err, sizeof err)
				 : runtime_api_fail(api, inv.request_id,
						    "Runtime.OutOfMemory",
						    "out of memory building the answer",
						    err, sizeof err);
		free(answer);
		if (rc != 0)
			log_at(&scope, DCP_LOG_ERROR, "cannot post the answer: %s",
			       err);
	}
	engine_close(engine);
	runtime_api_free(api);
	return EXIT_FAILURE;
}
