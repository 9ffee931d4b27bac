/* The pool's side of its server connections: where they log in, and what their logins and ends mean to it. */
#include "base/log.h"
#include "pool/pool.h"
#include "backend/server.h"

#include <string.h>

/* Node node of p: its address, and the pool's login names and settings. */
static void pool_dest(const struct pool *p, int node, struct server_dest *out)
{
	out->host = p->host[node];
	out->port = p->port[node];
	out->dbname = p->dbname;
	out->user = p->user;
	out->server_db = p->server_db;
	out->server_user = p->server_user;
	out->password = p->password;
	out->startup_extra = &p->startup_extra;
	out->lookup = strcmp(p->server_user, p->user) == 0 && atomic_load(&p->shared->has_lookup)
	        ? p->shared->lookup_entry /* immutable once published */
	        : NULL;
}

/* A replica connection a session-pooled client used for one read is released as in transaction pooling. */
static int pool_release_mode(const struct server *sv)
{
	const struct pool *p = sv->pool;
	return pool_session_routes(p) && sv->node != p->primary ? POOL_TRANSACTION : p->pool_mode;
}

/* Login finished: publish the parameters for clients of this pool, then offer the server to the pool. */
static void pool_logged_in(struct server *sv)
{
	struct pool *p = sv->pool;
	struct pool_shared *sh = p->shared;
	struct node_pool *np = &p->nodes[sv->node];
	np->backoff = 0;
	np->retry_after = 0;
	np->last_error[0] = 0;
	if (sv->node == p->primary && !atomic_load(&sh->has_welcome)) {
		pthread_mutex_lock(&sh->lock);
		if (!atomic_load(&sh->has_welcome)) {
			params_copy(&sh->welcome, &sv->params);
			atomic_store(&sh->has_welcome, true);
		}
		pthread_mutex_unlock(&sh->lock);
		pool_kick_all();
	}
	log_debug(sv->c.prefix, "logged in to %s:%d (backend pid %u)", p->host[sv->node], p->port[sv->node],
	          sv->be_pid);
	pool_finish_logins(p);
	pool_server_ready(sv);
}

/* sv's connect or login failed: the pool backs off and tells the clients waiting for it. */
static void pool_sv_login_failed(struct server *sv, const char *sqlstate, const char *msg, bool server_said)
{
	pool_login_failed(sv->pool, sv->node, sqlstate, msg, server_said);
}

/* A client's ClientKey proven for this user (SCRAM passthrough), copied under the lock; false when none. */
static bool pool_client_key(const struct server *sv, uint8_t *key)
{
	struct pool_shared *sh = sv->pool->shared;
	if (!atomic_load(&sh->has_client_key))
		return false;
	pthread_mutex_lock(&sh->lock);
	memcpy(key, sh->client_key, sizeof sh->client_key);
	pthread_mutex_unlock(&sh->lock);
	return true;
}

/* A passthrough key that no longer fits (the secret changed) must not be tried forever. */
static void pool_client_key_stale(const struct server *sv)
{
	atomic_store(&sv->pool->shared->has_client_key, false);
}

static const struct server_events pool_server_events = {
	.dest = pool_dest,
	.logged_in = pool_logged_in,
	.login_failed = pool_sv_login_failed,
	.ready = pool_server_ready,
	.gone = pool_server_gone,
	.move = pool_server_move,
	.release_mode = pool_release_mode,
	.client_key = pool_client_key,
	.client_key_stale = pool_client_key_stale,
};

struct server *pool_open_server(struct pool *p, int node)
{
	char err[200];
	struct server *sv = server_connect(p->w, p, node, &pool_server_events, err, sizeof err);
	if (!sv && err[0]) {
		atomic_fetch_sub(&p->shared->quota[node].conns, 1);
		log_warn(NULL, "database %s: %s", p->dbname, err);
		pool_login_failed(p, node, "08006", err, false);
	}
	return sv;
}
