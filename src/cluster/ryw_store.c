/* consistency_store: consistency keys shared between pgrouter instances through Redis (one connection per worker). */
#include "cluster/ryw_store.h"
#include "config/config.h"
#include "io/loop.h"
#include "io/conn.h"
#include "base/log.h"
#include "cluster/ryw_keys.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_PREFIX "pgrouter:ryw:"
#define BACKOFF_MIN 100000 /* µs before the first reconnect attempt */
#define BACKOFF_MAX 2000000
#define CONNECT_TIMEOUT 1000000

/* Raise the key to ARGV[1] unless it holds more, and keep it ARGV[2] ms. LSNs are 16 hex digits, so
   comparing the strings compares the numbers (Lua numbers are doubles: exact only up to 2^53). */
#define SET_MAX_SCRIPT \
	"local v = redis.call('GET', KEYS[1]) " \
	"if not v or ARGV[1] > v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) " \
	"else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 1"

struct ryw_store {
	struct worker *w;
	char *url; /* the consistency_store this connection follows */
	char host[256];
	int port;
	redisAsyncContext *ac; /* NULL: not connected nor connecting */
	bool up; /* connected and answered a PING: requests may be sent */
	int64_t connect_start, retry_at, backoff;
};

enum store_op { OP_GET, OP_SET, OP_PING };

/* One request in flight. It lives until hiredis calls it back (with a reply, or NULL when the connection
   goes); its owner is detached earlier when the owner goes away. */
struct store_req {
	struct ryw_store *st;
	ryw_store_done done; /* the owner's answer */
	void *owner; /* a read waiting for its key's LSN, or a commit whose ReadyForQuery waits; NULL: detached */
	enum store_op op;
	struct event timer; /* consistency_store_timeout */
};

static _Atomic uint64_t n_gets, n_sets, n_errors, n_skipped;
static atomic_int n_connected;
static atomic_bool outage_logged; /* one log line per outage, for the whole process */

void ryw_store_stats(struct ryw_store_stats *s)
{
	s->gets = atomic_load(&n_gets);
	s->sets = atomic_load(&n_sets);
	s->errors = atomic_load(&n_errors);
	s->skipped = atomic_load(&n_skipped);
	s->connected = atomic_load(&n_connected);
}

/* url as the log may show it (a password in it redacted), in buf. */
static const char *shown_url(const char *url, char *buf, size_t n)
{
	config_redact("consistency_store", url, buf, n);
	return buf;
}

/* The connection is gone or failed: log once per outage and try again after the backoff. */
static void outage(struct ryw_store *st, const char *why)
{
	if (st->up) {
		st->up = false;
		atomic_fetch_sub(&n_connected, 1);
	}
	char shown[300];
	if (!atomic_exchange(&outage_logged, true))
		log_warn(NULL, "consistency_store unreachable, using local keys (%s: %s)",
		         shown_url(st->url, shown, sizeof shown), why);
	st->retry_at = st->w->now + st->backoff;
	st->backoff = st->backoff * 2 < BACKOFF_MAX ? st->backoff * 2 : BACKOFF_MAX;
}

/* Close st's connection on purpose; pending requests are called back with NULL (their owners fall back). */
static void drop(struct ryw_store *st, const char *why)
{
	redisAsyncContext *ac = st->ac;
	if (!ac)
		return;
	st->ac = NULL;
	ac->data = NULL; /* its disconnect callback must not come back to st */
	if (why)
		outage(st, why);
	else if (st->up) {
		st->up = false;
		atomic_fetch_sub(&n_connected, 1);
	}
	redisAsyncFree(ac);
}

static struct store_req *send_req(struct ryw_store *st, enum store_op op, const char *key, uint64_t lsn);

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct ryw_store *st = ac->data;
	if (!st)
		return;
	st->w->now = now_usec();
	if (status != REDIS_OK) {
		st->ac = NULL; /* hiredis frees it after this callback */
		outage(st, ac->errstr[0] ? ac->errstr : "connect failed");
		return;
	}
	/* Up once it answers: a stalled server accepts connections too. */
	if (!send_req(st, OP_PING, NULL, 0))
		drop(st, "cannot send PING");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct ryw_store *st = ac->data;
	if (!st)
		return;
	st->w->now = now_usec();
	st->ac = NULL; /* hiredis frees it after this callback */
	outage(st, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* Start connecting (the answer comes to on_connect). */
static void connect_now(struct ryw_store *st)
{
	redisAsyncContext *ac = redisAsyncConnect(st->host, st->port);
	st->connect_start = st->w->now;
	if (!ac || ac->err || redisLibeventAttach(ac, st->w->base) != REDIS_OK) {
		char why[128];
		snprintf(why, sizeof why, "%s", ac && ac->err ? ac->errstr : "cannot create a connection");
		if (ac)
			redisAsyncFree(ac);
		outage(st, why);
		return;
	}
	ac->data = st;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	st->ac = ac;
}

/* Give r's owner its answer (never inside the owner's own callback: this runs from hiredis or a timer). */
static void complete(struct store_req *r, uint64_t lsn)
{
	event_del(&r->timer);
	void *owner = r->owner;
	r->owner = NULL;
	if (owner)
		r->done(owner, lsn);
}

/* A GET answer: nil (0) or the 16 hex digits SET_MAX_SCRIPT wrote; false when it is neither. */
static bool parse_value(const redisReply *rep, uint64_t *lsn)
{
	*lsn = 0;
	if (rep->type == REDIS_REPLY_NIL)
		return true;
	if (rep->type != REDIS_REPLY_STRING || rep->len != 16)
		return false;
	char *end;
	*lsn = strtoull(rep->str, &end, 16);
	return end == rep->str + 16;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store_req *r = privdata;
	const redisReply *rep = reply;
	uint64_t lsn = 0;
	r->st->w->now = now_usec();
	bool ok = rep && rep->type != REDIS_REPLY_ERROR && (r->op != OP_GET || parse_value(rep, &lsn));
	if (ok && r->op == OP_PING && ac == r->st->ac && !r->st->up) {
		r->st->up = true;
		r->st->backoff = BACKOFF_MIN; /* the next outage starts with a short backoff again */
		atomic_fetch_add(&n_connected, 1);
		char shown[300];
		if (atomic_exchange(&outage_logged, false))
			log_info(NULL, "consistency_store %s reachable again: consistency keys are shared",
			         shown_url(r->st->url, shown, sizeof shown));
	}
	if (!ok)
		atomic_fetch_add(&n_errors, 1);
	if (!ok && rep && rep->type == REDIS_REPLY_ERROR)
		log_debug(NULL, "consistency_store error: %.*s", (int)rep->len, rep->str);
	complete(r, ok ? lsn : 0);
	free(r);
}

/* No answer in time: treat the store as down (every waiting owner falls back), reconnect later. */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct store_req *r = arg;
	struct ryw_store *st = r->st;
	st->w->now = now_usec();
	drop(st, "no answer within consistency_store_timeout"); /* r is called back and freed in there */
}

/* Send GET or the max-set script for key, or PING; NULL when it could not be sent. */
static struct store_req *send_req(struct ryw_store *st, enum store_op op, const char *key, uint64_t lsn)
{
	struct store_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->st = st;
	r->op = op;
	evtimer_assign(&r->timer, st->w->base, on_timeout, r);
	char k[sizeof KEY_PREFIX + RYW_KEY_MAX];
	int kl = snprintf(k, sizeof k, KEY_PREFIX "%s", key ? key : "");
	int rc;
	if (op == OP_PING) {
		rc = redisAsyncCommand(st->ac, on_reply, r, "PING");
	} else if (op == OP_SET) {
		char v[24], ttl[24];
		snprintf(v, sizeof v, "%016" PRIX64, lsn);
		snprintf(ttl, sizeof ttl, "%lld", (long long)(st->w->cfg->ryw_key_ttl / 1000));
		rc = redisAsyncCommand(st->ac, on_reply, r, "EVAL %s 1 %b %s %s", SET_MAX_SCRIPT, k, (size_t)kl, v,
		                       ttl);
	} else {
		rc = redisAsyncCommand(st->ac, on_reply, r, "GET %b", k, (size_t)kl);
	}
	if (rc != REDIS_OK) {
		free(r);
		return NULL;
	}
	int64_t t = st->w->cfg->consistency_store_timeout;
	struct timeval tv = { (time_t)(t / 1000000), (suseconds_t)(t % 1000000) };
	evtimer_add(&r->timer, &tv);
	if (op != OP_PING)
		atomic_fetch_add(op == OP_SET ? &n_sets : &n_gets, 1);
	return r;
}

/* The worker's store when keyed requests should use it; counts the ones it cannot take. */
static struct ryw_store *usable(struct worker *w)
{
	if (!w->cfg->consistency_store[0] || w->cfg->read_your_writes != RYW_LSN)
		return NULL;
	if (w->store && w->store->up)
		return w->store;
	atomic_fetch_add(&n_skipped, 1);
	return NULL;
}

/* Send op for key on w's store with done(owner, ...) to follow; NULL (counted) when the store cannot take it. */
static struct store_req *request(struct worker *w, enum store_op op, const char *key, uint64_t lsn, ryw_store_done done,
                                 void *owner)
{
	struct ryw_store *st = usable(w);
	struct store_req *r = st ? send_req(st, op, key, lsn) : NULL;
	if (!r) {
		if (st)
			atomic_fetch_add(&n_errors, 1);
		return NULL;
	}
	r->done = done;
	r->owner = owner;
	return r;
}

struct store_req *ryw_store_get(struct worker *w, const char *key, ryw_store_done done, void *owner)
{
	return request(w, OP_GET, key, 0, done, owner);
}

struct store_req *ryw_store_set(struct worker *w, const char *key, uint64_t lsn, ryw_store_done done, void *owner)
{
	return request(w, OP_SET, key, lsn, done, owner);
}

void ryw_store_detach(struct store_req *r)
{
	if (r)
		r->owner = NULL;
}

void ryw_store_free(struct worker *w)
{
	struct ryw_store *st = w->store;
	if (!st)
		return;
	w->store = NULL; /* owners falling back inside drop() must not send again */
	drop(st, NULL);
	free(st->url);
	free(st);
}

void ryw_store_tick(struct worker *w)
{
	const char *url = w->cfg->consistency_store;
	struct ryw_store *st = w->store;
	if (st && strcmp(st->url, url) != 0) {
		char shown[300];
		log_info(NULL, "consistency_store changed: %s",
		         *url ? shown_url(url, shown, sizeof shown) : "(local keys only)");
		ryw_store_free(w); /* a reload moved or removed the store */
		st = NULL;
	}
	if (!*url || w->stopping)
		return;
	if (!st) {
		if (!(st = calloc(1, sizeof *st)) || !(st->url = strdup(url))) {
			free(st);
			return;
		}
		st->w = w;
		st->backoff = BACKOFF_MIN;
		if (ryw_store_parse_url(url, st->host, sizeof st->host, &st->port) < 0)
			st->host[0] = 0; /* config validation refuses this: stay down */
		w->store = st;
	}
	if (!st->ac && st->host[0] && w->now >= st->retry_at)
		connect_now(st);
	else if (st->ac && !st->up && w->now - st->connect_start > CONNECT_TIMEOUT)
		drop(st, "connect timed out");
}
