/* dcproxy/plugin.h: the operation plugin ABI, the only header a plugin includes.
 *
 * A plugin is a shared object exporting one symbol, `dcproxy_plugin`, a
 * `struct dcp_plugin` whose version fields come first.  The core checks them
 * before trusting anything else: the major must equal DCP_ABI_MAJOR and the
 * plugin's minor must not exceed the core's.  The core hands the plugin a
 * `struct dcp_host` table; plugins reach the core only through it, so they
 * never link against core internals.
 *
 * Concurrency: init and fini run once, single-threaded.  prepare and shape
 * may run concurrently for different calls; any state a plugin keeps from
 * init must be read-only afterwards.
 */
#ifndef DCPROXY_PLUGIN_H
#define DCPROXY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DCP_ABI_MAJOR 1
#define DCP_ABI_MINOR 0

/* The name of the one symbol every plugin exports. */
#define DCP_PLUGIN_SYMBOL "dcproxy_plugin"

/* Opaque handles owned by the core. */
typedef struct dcp_call dcp_call;           /* one invocation of an operation */
typedef struct dcp_operation dcp_operation; /* one registry entry */

enum dcp_log_level {
	DCP_LOG_ERROR = 0,
	DCP_LOG_WARN,
	DCP_LOG_INFO,
	DCP_LOG_DEBUG,
	DCP_LOG_TRACE
};

/* Return values of dcp_plugin.init and dcp_plugin.prepare. */
enum dcp_status {
	DCP_OK = 0,
	DCP_INVALID = 1, /* the caller's parameters were rejected */
	DCP_FAILED = 2   /* the plugin itself failed */
};

/* Services the core offers a plugin.  Fields are only ever appended; check
 * `size` before using a field added after ABI 1.0. */
struct dcp_host {
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t size;

	/* A per-operation setting from the registry section, or NULL when unset. */
	const char *(*setting)(const dcp_operation *op, const char *key);

	/* Add a query parameter to the upstream request; the core URL-encodes
	 * key and value.  Returns DCP_OK or DCP_FAILED (out of memory). */
	int (*add_query)(dcp_call *call, const char *key, const char *value);

	/* Give the upstream request a JSON body; the core takes ownership. */
	void (*set_body)(dcp_call *call, cJSON *body);

	/* Reject the caller's parameters with a human message; always returns
	 * DCP_INVALID so a plugin can `return host->invalid(call, ...)`. */
	int (*invalid)(dcp_call *call, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));

	/* Log a line attributed to the operation.  A line logged from prepare
	 * or shape, on the thread that called it, also carries the
	 * invocation's request id. */
	void (*log)(const dcp_operation *op, enum dcp_log_level level,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
};

/* The descriptor a plugin exports as `dcproxy_plugin`.  Version fields and
 * size come first and never move. */
struct dcp_plugin {
	uint16_t abi_major; /* DCP_ABI_MAJOR the plugin was built against */
	uint16_t abi_minor; /* DCP_ABI_MINOR the plugin was built against */
	uint32_t size;      /* sizeof(struct dcp_plugin) as the plugin saw it */

	const char *name;    /* short name, e.g. "fetch_ohlcv" */
	const char *version; /* the plugin's own version */
	const char *summary; /* one line for `dcproxy list` */

	/* NULL-terminated list of the per-operation registry keys this plugin
	 * reads; the core rejects any other key as a typo.  May be NULL. */
	const char *const *settings;

	/* Optional.  Called once per registry operation using this plugin.  May
	 * store state in *state; on failure writes a reason to err and returns
	 * DCP_FAILED, which disables that operation only. */
	int (*init)(const struct dcp_host *host, const dcp_operation *op,
		    void **state, char *err, size_t errlen);

	/* Optional.  Releases what init allocated. */
	void (*fini)(void *state);

	/* Optional.  Validates params (a JSON object, never NULL) and shapes the
	 * upstream request through host->add_query / host->set_body.  Returns
	 * DCP_OK, or host->invalid(...) to reject.  NULL: the operation takes no
	 * parameters. */
	int (*prepare)(const struct dcp_host *host, void *state, dcp_call *call,
		       const cJSON *params);

	/* Optional.  Turns the upstream's JSON reply (owned by the plugin from
	 * here on) into the operation result.  NULL: the reply is the result. */
	cJSON *(*shape)(const struct dcp_host *host, void *state,
			cJSON *reply);

	void *spare[4]; /* zero; room to grow without a major bump */
};

/* Every plugin defines this, and exports nothing else. */
extern const struct dcp_plugin dcproxy_plugin;

/* Fill the version fields of a descriptor:
 *   const struct dcp_plugin dcproxy_plugin = { DCP_PLUGIN_HEADER, ... }; */
#define DCP_PLUGIN_HEADER \
	.abi_major = DCP_ABI_MAJOR, .abi_minor = DCP_ABI_MINOR, \
	.size = sizeof(struct dcp_plugin)

#ifdef __cplusplus
}
#endif

#endif
