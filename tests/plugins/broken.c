/* broken: the test-only plugins check_loader expects the core to refuse, one
 * per BROKEN_* flag, plus 'settings', which is healthy but particular about
 * its one setting and logs through the host from init, prepare and shape.
 * Never installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dcproxy/plugin.h>

#if defined(BROKEN_NO_DESCRIPTOR)

/* A shared object that is not a plugin: it exports a symbol, just not the
 * one the core looks for. */
const int dcproxy_plugin_v2 = 2;

#elif defined(BROKEN_INIT_FAILS)

static int
broken_init(const struct dcp_host *host, const dcp_operation *op,
	    void **state, char *err, size_t errlen)
{
	(void)host;
	(void)op;
	(void)state;
	snprintf(err, errlen, "the upstream credentials file is missing");
	return DCP_FAILED;
}

const struct dcp_plugin dcproxy_plugin = {
	DCP_PLUGIN_HEADER,
	.name = "init_fails",
	.version = "0.0.1",
	.init = broken_init,
};

#elif defined(BROKEN_SETTINGS)

static const char *const colour_settings[] = { "colour", NULL };

struct paint {
	const dcp_operation *op; /* for host->log */
	const char *colour;      /* the registry's, owned by the core */
};

/* Fails unless the registry handed it a colour it knows, which shows the
 * plugin really sees the section's values through the host table. */
static int
colour_init(const struct dcp_host *host, const dcp_operation *op,
	    void **state, char *err, size_t errlen)
{
	const char *colour = host->setting(op, "colour");
	if (colour == NULL || (strcmp(colour, "red") != 0 &&
			       strcmp(colour, "blue") != 0)) {
		snprintf(err, errlen, "colour must be red or blue, not '%s'",
			 colour != NULL ? colour : "(unset)");
		return DCP_FAILED;
	}
	struct paint *paint = malloc(sizeof *paint);
	if (paint == NULL) {
		snprintf(err, errlen, "out of memory");
		return DCP_FAILED;
	}
	*paint = (struct paint){ op, colour };
	*state = paint;
	host->log(op, DCP_LOG_INFO, "init: colour %s", colour);
	return DCP_OK;
}

static void
colour_fini(void *state)
{
	free(state);
}

/* Takes any params; its log lines let the suites see what the core adds
 * to a plugin's own lines during a call. */
static int
colour_prepare(const struct dcp_host *host, void *state, dcp_call *call,
	       const cJSON *params)
{
	const struct paint *paint = state;
	const char *tag = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(params, "tag"));
	(void)call;
	host->log(paint->op, DCP_LOG_INFO, "prepare: painting %s for %s",
		  paint->colour, tag != NULL ? tag : "-");
	return DCP_OK;
}

static cJSON *
colour_shape(const struct dcp_host *host, void *state, cJSON *reply)
{
	const struct paint *paint = state;
	host->log(paint->op, DCP_LOG_INFO, "shape: painted %s", paint->colour);
	return reply;
}

const struct dcp_plugin dcproxy_plugin = {
	DCP_PLUGIN_HEADER,
	.name = "settings",
	.version = "0.0.1",
	.summary = "accepts only the 'colour' setting",
	.settings = colour_settings,
	.init = colour_init,
	.fini = colour_fini,
	.prepare = colour_prepare,
	.shape = colour_shape,
};

#else

/* Descriptors whose header fields are wrong: the core must reject them
 * before reading anything else. */
const struct dcp_plugin dcproxy_plugin = {
#if defined(BROKEN_ABI_MAJOR)
	.abi_major = DCP_ABI_MAJOR + 1,
	.abi_minor = 0,
	.size = sizeof(struct dcp_plugin),
	.name = "abi_major",
#elif defined(BROKEN_ABI_MINOR)
	.abi_major = DCP_ABI_MAJOR,
	.abi_minor = DCP_ABI_MINOR + 1,
	.size = sizeof(struct dcp_plugin),
	.name = "abi_minor",
#elif defined(BROKEN_TINY_SIZE)
	.abi_major = DCP_ABI_MAJOR,
	.abi_minor = DCP_ABI_MINOR,
	.size = 8,
	.name = "tiny_size",
#elif defined(BROKEN_NO_NAME)
	DCP_PLUGIN_HEADER,
	.name = NULL,
#else
#error "define one BROKEN_* flag"
#endif
	.version = "0.0.1",
};

#endif
