/* redis: dcproxyd's small hiredis client (CACHE_REDIS_* settings), owned by
 * the daemon, over TCP, a unix socket or TLS (rediss://, through
 * tls_tunnel).  Thread-safe: a mutex-guarded pool of blocking connections,
 * one per caller at a time; no command holds the mutex while it runs.
 */
#ifndef DCPROXY_REDIS_H
#define DCPROXY_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

/* Where and how to connect, from CACHE_REDIS_URL or the separate settings. */
struct redis_endpoint {
	bool tls;          /* rediss:// (never with path) */
	char *host;        /* NULL when path is set */
	int port;
	char *path;        /* unix socket, or NULL */
	char *user;        /* ACL user for AUTH, or NULL */
	char *password;    /* AUTH, or NULL */
	long db;           /* SELECT when > 0 */
};

/* Parse [redis[s]:]//[[user][:password@]][host][:port][/db][?db=N&password=P]
 * into ep (host 127.0.0.1 and port 6379 when absent; %XX decoded in the
 * user and password; other query options are ignored).  With neither host
 * nor port, a path that is not a number names a unix socket:
 * redis:///run/redis/redis.sock.  Returns 0, or -1 with the reason in err
 * (ep is then empty). */
int
redis_url_parse(const char *url, struct redis_endpoint *ep, char *err,
		size_t errlen);

void
redis_endpoint_clear(struct redis_endpoint *ep);

struct redis_options {
	const char *url;            /* CACHE_REDIS_URL, or NULL/"" */
	const char *path;           /* CACHE_REDIS_PATH, or NULL/"" */
	const char *host;           /* CACHE_REDIS_HOST */
	long port;                  /* CACHE_REDIS_PORT */
	const char *password;       /* CACHE_REDIS_PASSWORD, or NULL/"" */
	long timeout_ms;            /* CACHE_REDIS_TIMEOUT: connect and command */
	long idle_timeout_ms;       /* CACHE_REDIS_CONNECTION_TIMEOUT */
	long max_cooldown_ms;       /* CACHE_REDIS_MAX_RECONNECT_COOLDOWN */
	long max_queued;            /* CACHE_REDIS_MAX_QUEUED_ITEMS */
	size_t max_value_bytes;     /* redis_get reads no more; 0: any size */
	const struct logger *logger;
};

struct redis_client;

/* NULL with the reason in err for a bad URL, or a rediss:// one naming a
 * unix socket.  rediss:// verifies the server's certificate and name
 * against the system trust store (SSL_CERT_FILE / SSL_CERT_DIR override
 * it, read here).  Connects lazily; redis_ping connects now. */
struct redis_client *
redis_new(const struct redis_options *opts, char *err, size_t errlen);

void
redis_free(struct redis_client *r);

/* Where it connects, for the logs ("host:port", "rediss://host:port",
 * "unix:PATH"). */
const char *
redis_describe(const struct redis_client *r);

/* Each returns -1 without waiting when Redis is unavailable (down and
 * within the reconnect cooldown, or MAX_QUEUED_ITEMS callers already in
 * Redis), and never blocks longer than about CACHE_REDIS_TIMEOUT. */

/* 1 and a malloc'd, NUL-terminated *value when found, 0 when absent (or
 * empty, or longer than max_value_bytes: not read past that, and logged). */
int
redis_get(struct redis_client *r, const char *key, char **value);

/* SET key value PX ttl_ms [NX].  1 when set, 0 when NX found the key. */
int
redis_set(struct redis_client *r, const char *key, const char *value,
	  long ttl_ms, bool nx);

/* DEL key (0 whether or not it existed).  Not skipped when
 * MAX_QUEUED_ITEMS callers are in Redis: it ends in-flight markers. */
int
redis_del(struct redis_client *r, const char *key);

/* EVAL script with nkeys keys and nargs arguments; an integer reply into
 * *value.  0, or -1 (unavailable, or another reply). */
int
redis_eval_integer(struct redis_client *r, const char *script, int nkeys,
		   const char *const *keys, int nargs, const char *const *args,
		   long long *value);

/* 1 when key exists, 0 when not. */
int
redis_exists(struct redis_client *r, const char *key);

/* PING: 0 when Redis answers; connects (and logs the state) if needed. */
int
redis_ping(struct redis_client *r);

/* For metrics: whether the last attempt succeeded, and counters. */
struct redis_status {
	bool connected;
	unsigned long failures;     /* connections or commands that failed,
				     * error replies included */
	unsigned long skipped;      /* calls refused: down or queue full */
	unsigned long reconnects;   /* down -> up transitions */
};

struct redis_status
redis_get_status(struct redis_client *r);

struct cache_remote;

/* Make remote the cache's second level on r (GET, SET PX [NX], DEL,
 * EXISTS); r must outlive the cache. */
void
redis_cache_remote(struct redis_client *r, struct cache_remote *remote);

#endif
