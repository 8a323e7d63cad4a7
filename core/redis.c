/* redis: CACHE_REDIS_URL parsing and a pool of blocking hiredis connections
 * with a reconnect cooldown.  One mutex guards the pool and the state;
 * commands run unlocked on a connection only their caller holds.  For
 * rediss:// each connection is a tls_tunnel that hiredis talks through,
 * since hiredis 0.14 has no TLS of its own.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cache.h"
#include "http.h"
#include "net.h"
#include "redis.h"
#include "tls_tunnel.h"

/* Idle connections kept for reuse; more concurrent callers open more and
 * close them on return. */
#define REDIS_POOL_IDLE_MAX 16
/* First wait after a failure; doubles up to MAX_RECONNECT_COOLDOWN. */
#define REDIS_FIRST_COOLDOWN_MS 100

/* ---- CACHE_REDIS_URL ---- */

void
redis_endpoint_clear(struct redis_endpoint *ep)
{
	free(ep->host);
	free(ep->path);
	free(ep->user);
	free(ep->password);
	memset(ep, 0, sizeof *ep);
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A malloc'd copy of s[0..len) with %XX decoded; NULL on a bad escape or
 * out of memory. */
static char *
url_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		int hi = i + 1 < len ? hex_value((unsigned char)s[i + 1]) : -1;
		int lo = i + 2 < len ? hex_value((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

static int
parse_number(const char *s, size_t len, long min, long max, long *out)
{
	if (len == 0 || len > 9)
		return -1;
	long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
redis_url_parse(const char *url, struct redis_endpoint *ep, char *err,
		size_t errlen)
{
	memset(ep, 0, sizeof *ep);
	ep->port = 6379;
	const char *p = url;
	if (strncmp(p, "rediss:", 7) == 0) {
		ep->tls = true;
		p += 7;
	} else if (strncmp(p, "redis:", 6) == 0) {
		p += 6;
	}
	if (strncmp(p, "//", 2) != 0) {
		snprintf(err, errlen,
			 "'%s' is not redis://[[user][:password@]][host][:port][/db]",
			 url);
		return -1;
	}
	p += 2;

	/* Authority: up to the path or the query. */
	size_t alen = strcspn(p, "/?");
	const char *auth_end = p + alen;
	const char *at = NULL;
	for (const char *q = p; q < auth_end; q++)
		if (*q == '@')
			at = q; /* the last one: a password may hold '@' only escaped */
	if (at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *uend = colon != NULL ? colon : at;
		if (uend > p && (ep->user = url_decode(p, (size_t)(uend - p))) == NULL)
			goto bad_escape;
		if (colon != NULL && at > colon + 1 &&
		    (ep->password = url_decode(colon + 1,
					       (size_t)(at - colon - 1))) == NULL)
			goto bad_escape;
		p = at + 1;
	}
	const char *hostport = p, *host = p, *host_end;
	if (*p == '[') { /* [IPv6] */
		const char *close = memchr(p, ']', (size_t)(auth_end - p));
		if (close == NULL) {
			snprintf(err, errlen, "'%s': unterminated [IPv6] host", url);
			goto fail;
		}
		host = p + 1;
		host_end = close;
		p = close + 1;
	} else {
		host_end = memchr(p, ':', (size_t)(auth_end - p));
		if (host_end == NULL)
			host_end = auth_end;
		p = host_end;
	}
	if (p < auth_end) {
		long port;
		if (*p != ':' ||
		    parse_number(p + 1, (size_t)(auth_end - p - 1), 1, 65535,
				 &port) != 0) {
			snprintf(err, errlen, "'%s': the port is not 1-65535", url);
			goto fail;
		}
		ep->port = (int)port;
	}
	ep->host = host_end > host ? strndup(host, (size_t)(host_end - host))
				   : strdup("127.0.0.1");
	if (ep->host == NULL)
		goto oom;

	p = auth_end;
	if (*p == '/') {
		size_t dlen = strcspn(p + 1, "?");
		if (hostport == auth_end && strspn(p + 1, "0123456789") < dlen) {
			/* redis:///run/redis.sock: no host or port, so the
			 * path names a unix socket rather than a database. */
			free(ep->host);
			ep->host = NULL;
			if ((ep->path = url_decode(p, 1 + dlen)) == NULL)
				goto bad_escape;
		} else if (dlen > 0 &&
			   parse_number(p + 1, dlen, 0, 1000000, &ep->db) != 0) {
			snprintf(err, errlen, "'%s': the database is not a number",
				 url);
			goto fail;
		}
		p += 1 + dlen;
	}
	if (*p == '?') {
		for (p++; *p != '\0';) {
			size_t len = strcspn(p, "&");
			const char *eq = memchr(p, '=', len);
			if (eq != NULL) {
				size_t nlen = (size_t)(eq - p);
				size_t vlen = len - nlen - 1;
				if (nlen == 2 && strncmp(p, "db", 2) == 0) {
					if (parse_number(eq + 1, vlen, 0, 1000000,
							 &ep->db) != 0) {
						snprintf(err, errlen,
							 "'%s': db= is not a number",
							 url);
						goto fail;
					}
				} else if (nlen == 8 &&
					   strncmp(p, "password", 8) == 0) {
					free(ep->password);
					ep->password = url_decode(eq + 1, vlen);
					if (ep->password == NULL)
						goto bad_escape;
				}
			}
			p += len;
			if (*p == '&')
				p++;
		}
	}
	return 0;
bad_escape:
	snprintf(err, errlen,
		 "'%s': bad %%-escape in the user, the password or the path", url);
	goto fail;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	redis_endpoint_clear(ep);
	return -1;
}

/* ---- the client ---- */

struct redis_conn {
	redisContext *ctx;
	struct tls_tunnel *tunnel;  /* rediss://, else NULL */
	int64_t last_used;
	unsigned generation;        /* the client's, when it connected */
	struct redis_conn *next;
};

enum redis_state { REDIS_UNKNOWN, REDIS_UP, REDIS_DOWN };

struct redis_client {
	struct redis_endpoint ep;
	char where[300];
	long timeout_ms, idle_timeout_ms, max_cooldown_ms, max_queued;
	size_t max_value;           /* redis_get: 0, or the most it reads */
	const struct logger *logger;
	SSL_CTX *tls;               /* rediss://: every tunnel's, else NULL */

	pthread_mutex_t lock;       /* guards everything below */
	struct redis_conn *idle;
	size_t n_idle;
	unsigned generation;        /* bumped on failure: old connections go */
	long busy;                  /* callers inside Redis right now */
	enum redis_state state;
	bool probing;               /* one caller is trying to reconnect */
	int64_t retry_at;
	long cooldown_ms;
	char reason[256];
	unsigned long failures, skipped, reconnects;
};

static char *
dup_nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

struct redis_client *
redis_new(const struct redis_options *o, char *err, size_t errlen)
{
	struct redis_client *r = calloc(1, sizeof *r);
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	char why[400];
	if (o->url != NULL && o->url[0] != '\0') {
		if (redis_url_parse(o->url, &r->ep, why, sizeof why) != 0) {
			snprintf(err, errlen, "CACHE_REDIS_URL: %s", why);
			goto fail;
		}
		if (r->ep.tls && r->ep.path != NULL) {
			snprintf(err, errlen,
				 "CACHE_REDIS_URL: rediss:// cannot name a unix "
				 "socket (%.200s): TLS is for TCP; use "
				 "rediss://host:port, or redis:// for a local socket",
				 r->ep.path);
			goto fail;
		}
	} else if (o->path != NULL && o->path[0] != '\0') {
		r->ep.path = strdup(o->path);
	} else {
		r->ep.host = strdup(o->host != NULL && o->host[0] != '\0'
					    ? o->host
					    : "127.0.0.1");
		r->ep.port = o->port > 0 ? (int)o->port : 6379;
	}
	/* The URL's password wins over CACHE_REDIS_PASSWORD. */
	if (r->ep.password == NULL)
		r->ep.password = dup_nonempty(o->password);
	/* The scheme only for TLS, so that logs say it is in use. */
	if (r->ep.path != NULL)
		snprintf(r->where, sizeof r->where, "unix:%s", r->ep.path);
	else if (r->ep.host != NULL)
		snprintf(r->where, sizeof r->where,
			 strchr(r->ep.host, ':') ? "%s[%s]:%d" : "%s%s:%d",
			 r->ep.tls ? "rediss://" : "", r->ep.host, r->ep.port);
	r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 500;
	r->idle_timeout_ms = o->idle_timeout_ms;
	r->max_cooldown_ms = o->max_cooldown_ms;
	r->max_queued = o->max_queued > 0 ? o->max_queued : 1;
	r->max_value = o->max_value_bytes;
	r->logger = o->logger;
	if ((r->ep.path == NULL && r->ep.host == NULL) ||
	    pthread_mutex_init(&r->lock, NULL) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (r->ep.tls && (r->tls = tls_tunnel_ctx_new(why, sizeof why)) == NULL) {
		snprintf(err, errlen, "CACHE_REDIS_URL: %s", why);
		pthread_mutex_destroy(&r->lock);
		goto fail;
	}
	return r;
fail:
	redis_endpoint_clear(&r->ep);
	free(r);
	return NULL;
}

static void
conn_free(struct redis_conn *c)
{
	if (c == NULL)
		return;
	/* redisFree closes the tunnel's plain end first, so the pump is
	 * already on its way out when the tunnel is closed. */
	redisFree(c->ctx);
	tls_tunnel_close(c->tunnel);
	free(c);
}

void
redis_free(struct redis_client *r)
{
	if (r == NULL)
		return;
	for (struct redis_conn *c = r->idle, *next; c != NULL; c = next) {
		next = c->next;
		conn_free(c);
	}
	pthread_mutex_destroy(&r->lock);
	tls_tunnel_ctx_free(r->tls);
	redis_endpoint_clear(&r->ep);
	free(r);
}

const char *
redis_describe(const struct redis_client *r)
{
	return r->where;
}

static void
redis_log(const struct redis_client *r, enum dcp_log_level level,
	  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
redis_log(const struct redis_client *r, enum dcp_log_level level,
	  const char *fmt, ...)
{
	if (r->logger == NULL)
		return;
	struct log_scope scope = { r->logger, NULL, NULL };
	va_list ap;
	va_start(ap, fmt);
	log_va(&scope, level, fmt, ap);
	va_end(ap);
}

/* Why ctx failed, in words an operator acts on. */
static void
ctx_reason(const struct redis_client *r, const redisContext *ctx, char *why,
	   size_t len)
{
	if (ctx == NULL)
		snprintf(why, len, "out of memory");
	else if (ctx->err == REDIS_ERR_IO &&
		 (strstr(ctx->errstr, "temporarily unavailable") != NULL ||
		  strstr(ctx->errstr, "timed out") != NULL))
		snprintf(why, len, "no answer within CACHE_REDIS_TIMEOUT (%ld ms)",
			 r->timeout_ms);
	else
		snprintf(why, len, "%s", ctx->errstr[0] ? ctx->errstr
							: "connection lost");
}

/* Run a command given as words on ctx; NULL with why on failure (a Redis
 * error reply is a failure too). */
static redisReply *
ctx_run(const struct redis_client *r, redisContext *ctx, int argc,
	const char **argv, char *why, size_t len)
{
	redisReply *reply = redisCommandArgv(ctx, argc, argv, NULL);
	if (reply == NULL) {
		ctx_reason(r, ctx, why, len);
		return NULL;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, len, "%s", reply->str);
		freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

/* A connected redisContext over TCP, through a TLS tunnel for rediss://.
 * Not hiredis's own connect: it would wait on the name lookup for as long
 * as the resolver takes.  NULL with why. */
static redisContext *
tcp_connect(struct redis_client *r, struct redis_conn *c, char *why,
	    size_t len)
{
	char detail[200];
	int fd = -1;
	if (r->tls != NULL)
		c->tunnel = tls_tunnel_open(r->tls, r->ep.host, r->ep.port,
					    r->timeout_ms, &fd, detail,
					    sizeof detail);
	else
		fd = net_connect_tcp(r->ep.host, r->ep.port,
				     http_now_ms() + r->timeout_ms, r->timeout_ms,
				     detail, sizeof detail);
	if (fd < 0) {
		snprintf(why, len, "cannot connect to %.120s: %.150s", r->where,
			 detail);
		return NULL;
	}
	/* hiredis's commands block, each bounded by redisSetTimeout. */
	redisContext *ctx = fcntl(fd, F_SETFL, 0) == 0 ? redisConnectFd(fd)
						       : NULL;
	if (ctx == NULL) {
		snprintf(why, len, "out of memory");
		close(fd);
	}
	return ctx;
}

static struct redis_conn *
conn_open(struct redis_client *r, char *why, size_t len)
{
	struct timeval tv = { .tv_sec = r->timeout_ms / 1000,
			      .tv_usec = (r->timeout_ms % 1000) * 1000 };
	struct redis_conn *c = calloc(1, sizeof *c);
	if (c == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	if (r->ep.path == NULL) {
		if ((c->ctx = tcp_connect(r, c, why, len)) == NULL)
			goto fail;
	} else {
		c->ctx = redisConnectUnixWithTimeout(r->ep.path, tv);
		if (c->ctx == NULL || c->ctx->err) {
			char detail[200];
			ctx_reason(r, c->ctx, detail, sizeof detail);
			snprintf(why, len, "cannot connect to %.120s: %.150s",
				 r->where, detail);
			goto fail;
		}
	}
	/* Every later read and write is bounded the same way; through a
	 * tunnel that bounds the wait for the server as well. */
	redisSetTimeout(c->ctx, tv);
	char detail[200];
	redisReply *reply;
	if (r->ep.password != NULL) {
		const char *auth[] = { "AUTH", r->ep.user, r->ep.password };
		if (r->ep.user == NULL)
			auth[1] = r->ep.password;
		reply = ctx_run(r, c->ctx, r->ep.user != NULL ? 3 : 2, auth,
				detail, sizeof detail);
		if (reply == NULL) {
			snprintf(why, len,
				 "%.120s refused the password (CACHE_REDIS_PASSWORD or the "
				 "URL's): %.150s", r->where, detail);
			goto fail;
		}
		freeReplyObject(reply);
	}
	if (r->ep.db > 0) {
		char db[24];
		snprintf(db, sizeof db, "%ld", r->ep.db);
		const char *select[] = { "SELECT", db };
		reply = ctx_run(r, c->ctx, 2, select, detail, sizeof detail);
		if (reply == NULL) {
			snprintf(why, len, "%.120s: SELECT %s: %.150s", r->where, db,
				 detail);
			goto fail;
		}
		freeReplyObject(reply);
	}
	return c;
fail:
	conn_free(c);
	return NULL;
}

/* Record a failure: the first one of an outage (or a probe failing for a
 * new reason) is logged; pooled connections are dropped, since a restarted
 * server has closed them all. Caller holds the lock. */
static void
locked_fail(struct redis_client *r, const char *why, bool probe)
{
	int64_t now = http_now_ms();
	r->failures++;
	bool news = r->state != REDIS_DOWN ||
		    (probe && strcmp(r->reason, why) != 0);
	if (r->state != REDIS_DOWN || probe) {
		r->cooldown_ms = r->cooldown_ms == 0
			? REDIS_FIRST_COOLDOWN_MS
			: r->cooldown_ms * 2;
		if (r->cooldown_ms > r->max_cooldown_ms)
			r->cooldown_ms = r->max_cooldown_ms;
		r->retry_at = now + r->cooldown_ms;
	}
	if (news)
		redis_log(r, DCP_LOG_ERROR,
			  "Redis is down: %s; serving from the local cache and "
			  "upstream, retrying within %ld ms", why,
			  r->max_cooldown_ms);
	snprintf(r->reason, sizeof r->reason, "%s", why);
	r->state = REDIS_DOWN;
	r->generation++;
	for (struct redis_conn *c = r->idle, *next; c != NULL; c = next) {
		next = c->next;
		conn_free(c);
	}
	r->idle = NULL;
	r->n_idle = 0;
}

static void
locked_up(struct redis_client *r)
{
	if (r->state == REDIS_DOWN) {
		r->reconnects++;
		redis_log(r, DCP_LOG_INFO, "Redis is up again at %s", r->where);
	} else if (r->state == REDIS_UNKNOWN) {
		redis_log(r, DCP_LOG_INFO, "Redis connected at %s", r->where);
	}
	r->state = REDIS_UP;
	r->cooldown_ms = 0;
	r->reason[0] = '\0';
}

/* A new connection for a caller already counted busy, or NULL after
 * recording the failure. */
static struct redis_conn *
conn_fresh(struct redis_client *r, bool probe)
{
	pthread_mutex_lock(&r->lock);
	unsigned generation = r->generation;
	pthread_mutex_unlock(&r->lock);
	char why[400];
	struct redis_conn *c = conn_open(r, why, sizeof why);
	if (c == NULL) {
		pthread_mutex_lock(&r->lock);
		r->busy--;
		if (probe)
			r->probing = false;
		locked_fail(r, why, probe || r->state != REDIS_DOWN);
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	c->generation = generation;
	return c;
}

/* A connection for one command, or NULL to skip Redis this time; *reused
 * when it comes from the pool.  queued: subject to MAX_QUEUED_ITEMS. */
static struct redis_conn *
conn_borrow(struct redis_client *r, bool queued, bool *probe, bool *reused)
{
	int64_t now = http_now_ms();
	struct redis_conn *c = NULL, *stale = NULL;
	*probe = false;
	*reused = false;
	pthread_mutex_lock(&r->lock);
	if ((queued && r->busy >= r->max_queued) ||
	    (r->state == REDIS_DOWN && (now < r->retry_at || r->probing))) {
		r->skipped++;
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	if (r->state == REDIS_DOWN)
		*probe = r->probing = true;
	r->busy++;
	while (r->idle != NULL && c == NULL) {
		c = r->idle;
		r->idle = c->next;
		r->n_idle--;
		/* CACHE_REDIS_CONNECTION_TIMEOUT: an idle socket may have
		 * been cut by a firewall or the server's own timeout. */
		if (r->idle_timeout_ms > 0 &&
		    now - c->last_used > r->idle_timeout_ms) {
			c->next = stale;
			stale = c;
			c = NULL;
		}
	}
	pthread_mutex_unlock(&r->lock);
	while (stale != NULL) {
		struct redis_conn *next = stale->next;
		conn_free(stale);
		stale = next;
	}
	if (c != NULL) {
		*reused = true;
		return c;
	}
	return conn_fresh(r, *probe);
}

/* Whether ctx failed because the server had closed the connection (its
 * idle timeout, CLIENT KILL, a restart) rather than by not answering. */
static bool
closed_by_server(const redisContext *ctx)
{
	return ctx->err == REDIS_ERR_EOF ||
	       (ctx->err == REDIS_ERR_IO &&
		(strstr(ctx->errstr, "reset by peer") != NULL ||
		 strstr(ctx->errstr, "Broken pipe") != NULL));
}

static void
conn_return(struct redis_client *r, struct redis_conn *c, bool probe,
	    const char *failure)
{
	pthread_mutex_lock(&r->lock);
	r->busy--;
	if (probe)
		r->probing = false;
	if (failure != NULL) {
		locked_fail(r, failure, probe);
		conn_free(c);
		c = NULL;
	} else {
		locked_up(r);
		if (c->generation == r->generation &&
		    r->n_idle < REDIS_POOL_IDLE_MAX) {
			c->last_used = http_now_ms();
			c->next = r->idle;
			r->idle = c;
			r->n_idle++;
			c = NULL;
		}
	}
	pthread_mutex_unlock(&r->lock);
	conn_free(c);
}

/* Run one command; NULL when Redis was skipped or failed.  A Redis error
 * reply other than an authentication one leaves the connection in use.
 * queued: skipped when MAX_QUEUED_ITEMS callers are in Redis already. */
static redisReply *
redis_run_as(struct redis_client *r, bool queued, int argc, const char **argv)
{
	bool probe, reused;
	struct redis_conn *c = conn_borrow(r, queued, &probe, &reused);
	if (c == NULL)
		return NULL;
	redisReply *reply = redisCommandArgv(c->ctx, argc, argv, NULL);
	if (reply == NULL && reused && closed_by_server(c->ctx)) {
		/* A pooled connection the server had closed while idle says
		 * nothing about Redis now: once more, on a new one. */
		conn_free(c);
		if ((c = conn_fresh(r, probe)) == NULL)
			return NULL;
		reply = redisCommandArgv(c->ctx, argc, argv, NULL);
	}
	char why[300];
	if (reply == NULL) {
		char detail[200];
		ctx_reason(r, c->ctx, detail, sizeof detail);
		snprintf(why, sizeof why, "%.120s %.10s: %.150s", r->where, argv[0], detail);
		conn_return(r, c, probe, why);
		return NULL;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		bool auth = strncmp(reply->str, "NOAUTH", 6) == 0 ||
			    strncmp(reply->str, "WRONGPASS", 9) == 0;
		snprintf(why, sizeof why, "%.120s %.10s: %.150s", r->where, argv[0],
			 reply->str);
		freeReplyObject(reply);
		if (auth) {
			conn_return(r, c, probe, why);
		} else {
			/* Redis is up, but the command failed all the same
			 * (OOM under maxmemory, WRONGTYPE): a failure to
			 * count, not an outage. */
			conn_return(r, c, probe, NULL);
			pthread_mutex_lock(&r->lock);
			r->failures++;
			pthread_mutex_unlock(&r->lock);
			redis_log(r, DCP_LOG_WARN, "Redis: %s", why);
		}
		return NULL;
	}
	conn_return(r, c, probe, NULL);
	return reply;
}

static redisReply *
redis_run(struct redis_client *r, int argc, const char **argv)
{
	return redis_run_as(r, true, argc, argv);
}

int
redis_get(struct redis_client *r, const char *key, char **value)
{
	/* GETRANGE reads one byte past the limit, to tell a value that
	 * fits from a longer one, and no more: a huge value another
	 * program left under the key costs neither the time to read it
	 * all nor the memory. */
	char last[24];
	snprintf(last, sizeof last, "%zu", r->max_value);
	const char *argv[] = { r->max_value > 0 ? "GETRANGE" : "GET", key, "0",
			       last };
	*value = NULL;
	redisReply *reply = redis_run(r, r->max_value > 0 ? 4 : 2, argv);
	if (reply == NULL)
		return -1;
	int rc = 0;
	if (reply->type == REDIS_REPLY_STRING && r->max_value > 0 &&
	    reply->len > r->max_value) {
		redis_log(r, DCP_LOG_WARN,
			  "Redis: %.200s holds more than %zu bytes, more than "
			  "any entry dcproxyd stores: ignored", key, r->max_value);
	} else if (reply->type == REDIS_REPLY_STRING && reply->len > 0) {
		*value = malloc(reply->len + 1);
		if (*value != NULL) {
			memcpy(*value, reply->str, reply->len);
			(*value)[reply->len] = '\0';
			rc = 1;
		} else {
			rc = -1;
		}
	}
	freeReplyObject(reply);
	return rc;
}

int
redis_set(struct redis_client *r, const char *key, const char *value,
	  long ttl_ms, bool nx)
{
	char px[24];
	snprintf(px, sizeof px, "%ld", ttl_ms > 0 ? ttl_ms : 1);
	const char *argv[] = { "SET", key, value, "PX", px, "NX" };
	redisReply *reply = redis_run(r, nx ? 6 : 5, argv);
	if (reply == NULL)
		return -1;
	/* OK when set; a nil reply when NX found the key. */
	int rc = reply->type == REDIS_REPLY_STATUS ? 1 : 0;
	freeReplyObject(reply);
	return rc;
}

int
redis_del(struct redis_client *r, const char *key)
{
	/* Never skipped for a full queue: the DEL of an in-flight marker
	 * is what spares other callers the wait for its expiry. */
	const char *argv[] = { "DEL", key };
	redisReply *reply = redis_run_as(r, false, 2, argv);
	if (reply == NULL)
		return -1;
	freeReplyObject(reply);
	return 0;
}

int
redis_eval_integer(struct redis_client *r, const char *script, int nkeys,
		   const char *const *keys, int nargs, const char *const *args,
		   long long *value)
{
	enum { MAX_ARGV = 16 };
	const char *argv[MAX_ARGV];
	char count[16];
	if (3 + nkeys + nargs > MAX_ARGV)
		return -1;
	snprintf(count, sizeof count, "%d", nkeys);
	int argc = 0;
	argv[argc++] = "EVAL";
	argv[argc++] = script;
	argv[argc++] = count;
	for (int i = 0; i < nkeys; i++)
		argv[argc++] = keys[i];
	for (int i = 0; i < nargs; i++)
		argv[argc++] = args[i];
	redisReply *reply = redis_run(r, argc, argv);
	if (reply == NULL)
		return -1;
	int rc = reply->type == REDIS_REPLY_INTEGER ? 0 : -1;
	if (rc == 0)
		*value = reply->integer;
	freeReplyObject(reply);
	return rc;
}

int
redis_exists(struct redis_client *r, const char *key)
{
	const char *argv[] = { "EXISTS", key };
	redisReply *reply = redis_run(r, 2, argv);
	if (reply == NULL)
		return -1;
	int rc = reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
	freeReplyObject(reply);
	return rc;
}

int
redis_ping(struct redis_client *r)
{
	const char *argv[] = { "PING" };
	redisReply *reply = redis_run(r, 1, argv);
	if (reply == NULL)
		return -1;
	freeReplyObject(reply);
	return 0;
}

struct redis_status
redis_get_status(struct redis_client *r)
{
	pthread_mutex_lock(&r->lock);
	struct redis_status s = {
		.connected = r->state == REDIS_UP,
		.failures = r->failures,
		.skipped = r->skipped,
		.reconnects = r->reconnects,
	};
	pthread_mutex_unlock(&r->lock);
	return s;
}

/* ---- the cache's second level ---- */

static int
remote_get(void *user, const char *key, char **value)
{
	return redis_get(user, key, value);
}

static int
remote_set(void *user, const char *key, const char *value, long ttl_ms,
	   bool nx)
{
	return redis_set(user, key, value, ttl_ms, nx);
}

static int
remote_del(void *user, const char *key)
{
	return redis_del(user, key);
}

static int
remote_exists(void *user, const char *key)
{
	return redis_exists(user, key);
}

void
redis_cache_remote(struct redis_client *r, struct cache_remote *remote)
{
	remote->user = r;
	remote->get = remote_get;
	remote->set = remote_set;
	remote->del = remote_del;
	remote->exists = remote_exists;
}
