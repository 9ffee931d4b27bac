/* Server connection pools per (database, user, node): limits, queues, hand-off and login parameters. */
#include "pool/pool.h"
#include "io/conn.h"
#include "base/log.h"
#include "cluster/monitor.h"
#include "pool/pool_metrics.h"
#include "io/pause_state.h"
#include "policy/router.h"
#include "backend/server.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN 100000 /* first retry after a failed connect: 100 ms */
#define HANDOFF_USEC 20000 /* imbalance between workers' queues that moves a server slot */

static const struct pool_waiter_ops *wops; /* the owner of every waiter, registered at startup */

void pool_set_waiter_ops(const struct pool_waiter_ops *ops)
{
	wops = ops;
}

/* The waiter a list node of a pool queue belongs to. */
#define WAITER(it) list_entry(it, struct pool_waiter, node)

static void publish_oldest(struct pool *p, int node);

struct pool_shared *pool_shared_get(const char *dbname, const char *user)
{
	struct pool_shared *ps = NULL;
	struct list *it, *tmp;
	pthread_mutex_lock(&g_shared.pools_lock);
	list_for_each_safe(it, tmp, &g_shared.pools)
	{
		struct pool_shared *e = list_entry(it, struct pool_shared, node);
		if (strcmp(e->dbname, dbname) == 0 && strcmp(e->user, user) == 0) {
			ps = e;
			break;
		}
	}
	if (!ps && (ps = calloc(1, sizeof *ps)) != NULL) {
		ps->dbname = strdup(dbname);
		ps->user = strdup(user);
		pthread_mutex_init(&ps->lock, NULL);
		list_append(&g_shared.pools, &ps->node);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	return ps;
}

void pool_kick_all(void)
{
	for (int i = 0; i < g_shared.nworkers; i++)
		worker_kick(&g_shared.workers[i]);
}

/* Copy the entry's settings into the pool; returns true when the server target changed. */
static bool pool_apply_conf(struct pool *p, const struct dbconf *db, const struct config *cfg)
{
	const char *sdb = db->dbname ? db->dbname : p->dbname;
	const char *suser = db->user ? db->user : p->user;
	bool changed = !p->server_db || strcmp(p->server_db, sdb) != 0 || strcmp(p->server_user, suser) != 0 ||
	        p->nnodes != db->nnodes;
	for (int i = 0; !changed && i < db->nnodes; i++)
		changed = strcmp(p->host[i], db->nodes[i].host) != 0 || p->port[i] != db->nodes[i].port;
	if ((p->password || db->password) && (!p->password || !db->password || strcmp(p->password, db->password)))
		changed = true;
	free(p->server_db);
	free(p->server_user);
	free(p->password);
	p->server_db = strdup(sdb);
	p->server_user = strdup(suser);
	p->password = db->password ? strdup(db->password) : NULL;
	p->pool_size = db->pool_size >= 0 ? db->pool_size : cfg->default_pool_size;
	p->min_pool_size = db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size;
	p->reserve_size = db->reserve_pool >= 0 ? db->reserve_pool : cfg->reserve_pool_size;
	p->pool_mode = db->pool_mode >= 0 ? db->pool_mode : cfg->pool_mode;
	p->target = db->target;
	for (int i = 0; i < MAX_NODES; i++) {
		p->met[i] = NULL; /* the node at i may be another one now */
		if (i < db->nnodes && (!p->host[i] || strcmp(p->host[i], db->nodes[i].host))) {
			free(p->host[i]);
			p->host[i] = strdup(db->nodes[i].host);
		}
		if (i < db->nnodes) {
			p->port[i] = db->nodes[i].port;
			p->weight[i] = db->nodes[i].weight;
		}
	}
	p->nnodes = db->nnodes;
	if (changed) {
		p->primary = 0; /* the monitor's next snapshot says again where writes go */
		p->snap_gen = 0;
	}
	params_clear(&p->startup_extra);
	if (db->client_encoding)
		params_set(&p->startup_extra, "client_encoding", db->client_encoding);
	if (db->datestyle)
		params_set(&p->startup_extra, "DateStyle", db->datestyle);
	if (db->timezone)
		params_set(&p->startup_extra, "TimeZone", db->timezone);
	if (db->application_name)
		params_set(&p->startup_extra, "application_name", db->application_name);
	return changed;
}

struct pool *pool_get(struct worker *w, const struct dbconf *db, const char *dbname, const char *user)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->pools)
	{
		struct pool *p = list_entry(it, struct pool, node);
		if (!p->gone && strcmp(p->dbname, dbname) == 0 && strcmp(p->user, user) == 0)
			return p;
	}
	struct pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->w = w;
	for (int i = 0; i < MAX_NODES; i++)
		p->mon[i] = -1; /* unknown until the first snapshot is applied */
	p->dbname = strdup(dbname);
	p->user = strdup(user);
	list_init(&p->login_wait);
	for (int i = 0; i < MAX_NODES; i++) {
		struct node_pool *np = &p->nodes[i];
		list_init(&np->idle);
		list_init(&np->used);
		list_init(&np->pending);
		list_init(&np->waiting);
		list_init(&np->closing);
	}
	pool_apply_conf(p, db, w->cfg);
	p->shared = pool_shared_get(dbname, user);
	if (!p->shared || !p->dbname || !p->user) {
		free(p);
		return NULL;
	}
	list_append(&w->pools, &p->node);
	return p;
}

void pool_mark_dirty(struct node_pool *np)
{
	struct list *lists[] = { &np->idle, &np->used, &np->pending };
	for (int i = 0; i < 3; i++) {
		struct list *it, *tmp;
		list_for_each_safe(it, tmp, lists[i])
		{
			struct server *sv = list_entry(it, struct server, pool_node);
			sv->dirty = true;
			if (sv->state == SV_IDLE)
				server_close(sv, "configuration changed");
		}
	}
}

void pool_reconfigure(struct worker *w)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->pools)
	{
		struct pool *p = list_entry(it, struct pool, node);
		const struct dbconf *db = config_find_db(w->cfg, p->dbname);
		if (!db) {
			/* Existing clients finish on the old settings; no new ones find this pool. */
			p->gone = true;
			continue;
		}
		int old_nnodes = p->nnodes;
		bool changed = pool_apply_conf(p, db, w->cfg);
		/* Clients queued for a node the reload removed go to the remaining ones. */
		for (int k = p->nnodes; k < old_nnodes; k++)
			if (!list_empty(&p->nodes[k].waiting))
				pool_reroute_waiting(p, k, -1);
		if (changed) {
			log_info(NULL, "database %s: server settings changed; reconnecting pooled servers", p->dbname);
			for (int i = 0; i < MAX_NODES; i++)
				pool_mark_dirty(&p->nodes[i]);
		}
		for (int i = 0; i < p->nnodes; i++)
			pool_launch(p, i);
	}
}

/* The configured ceiling for one node, with the reserve when a client has waited long enough. */
static int node_limit(const struct pool *p, int node, bool reserve)
{
	int lim = p->pool_size;
	if (node != p->primary && p->w->cfg->replica_pool_size > 0)
		lim = p->w->cfg->replica_pool_size;
	return reserve ? lim + p->reserve_size : lim;
}

/* Drop up to n of the slots kept for worker me. */
static void quota_ungift(struct node_quota *q, int me, int n)
{
	int cur = atomic_load(&q->gift[me]), k;
	do {
		k = cur < n ? cur : n;
		if (k <= 0)
			return;
	} while (!atomic_compare_exchange_weak(&q->gift[me], &cur, cur - k));
	atomic_fetch_sub(&q->gifts, k);
}

/* Claim one connection slot of the cross-worker quota for worker me; slots kept for other workers are not
   free (else the worker that closed a server for another would often open it again itself). */
static bool quota_take(struct node_quota *q, int limit, int me)
{
	int mine = atomic_load(&q->gift[me]);
	limit -= atomic_load(&q->gifts) - mine;
	int cur = atomic_load(&q->conns);
	while (cur < limit) {
		if (atomic_compare_exchange_weak(&q->conns, &cur, cur + 1)) {
			if (mine > 0)
				quota_ungift(q, me, 1);
			return true;
		}
	}
	return false;
}

/* True when the oldest queued client has waited past reserve_pool_timeout. */
static bool reserve_allowed(const struct pool *p, int node)
{
	const struct node_pool *np = &p->nodes[node];
	if (p->reserve_size <= 0 || list_empty(&np->waiting))
		return false;
	return p->w->now - WAITER(np->waiting.next)->since >= p->w->cfg->reserve_pool_timeout;
}

void pool_launch(struct pool *p, int node)
{
	struct node_pool *np = &p->nodes[node];
	struct worker *w = p->w;
	if (node >= p->nnodes || w->now < np->retry_after || atomic_load(&g_shared.shutdown) == 2)
		return;
	/* A node the monitor cannot reach gets no new connections: its clients wait or go elsewhere. */
	const struct mon_snapshot *s = monitor_snapshot();
	if (s && p->snap_gen && p->mon[node] >= 0 && s->node[p->mon[node]].state == MS_DOWN)
		return;
	int want = np->n_waiting;
	if (node == p->primary && !list_empty(&p->login_wait) && !atomic_load(&p->shared->has_welcome))
		want = want ? want : 1;
	bool reserve = reserve_allowed(p, node);
	while (np->n_pending < want) {
		if (!quota_take(&p->shared->quota[node], node_limit(p, node, reserve), w->id))
			break;
		struct server *sv = pool_open_server(p, node);
		if (!sv)
			break;
	}
}

/* Clients waiting to log in share the fate of the first connection attempt. */
void pool_login_failed(struct pool *p, int node, const char *sqlstate, const char *msg, bool server_said)
{
	struct node_pool *np = &p->nodes[node];
	struct worker *w = p->w;
	snprintf(np->last_error, sizeof np->last_error, "%s", msg);
	np->backoff = np->backoff ? np->backoff * 2 : BACKOFF_MIN;
	if (np->backoff > w->cfg->server_login_retry)
		np->backoff = w->cfg->server_login_retry;
	np->retry_after = w->now + np->backoff;
	metrics_node_error(w, p, node);
	if (node != p->primary) {
		log_warn(NULL, "database %s: replica %s:%d unavailable (%s); reads go elsewhere for %.1f s", p->dbname,
		         p->host[node], p->port[node], msg, (double)np->backoff / 1e6);
		pool_reroute_waiting(p, node, -1);
		return;
	}
	/* The monitor may find a new primary: clients wait for it (up to query_wait_timeout) instead of failing. */
	if (!server_said && pool_failover_possible(p))
		return;
	char text[256];
	if (server_said)
		snprintf(text, sizeof text, "%s", msg);
	else
		snprintf(text, sizeof text, "pgrouter cannot connect to server: %s", msg);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &p->login_wait)
	{
		wops->failed(WAITER(it), sqlstate, text);
	}
	/* A server that refuses the login (wrong database, auth) fails queued queries too. */
	if (server_said) {
		list_for_each_safe(it, tmp, &np->waiting)
		{
			wops->failed(WAITER(it), sqlstate, text);
		}
	}
}

int pool_pick_replica(struct pool *p, int cls, int64_t max_lag, uint32_t exclude, uint64_t min_lsn)
{
	struct worker *w = p->w;
	const struct mon_snapshot *s = monitor_snapshot();
	if (s && s->gen != p->snap_gen)
		pool_sync(p);
	int cand[MAX_NODES], nc = 0;
	for (int node = 0; node < p->nnodes; node++) {
		int weight = node == p->primary ? w->cfg->primary_read_weight : p->weight[node];
		if (weight <= 0 || w->now < p->nodes[node].retry_after || (exclude & (1u << node)))
			continue;
		/* Replicas need the monitor's word that they are up, replicas, and recent enough. */
		if (s && node != p->primary &&
		    (p->mon[node] < 0 || !monitor_readable(s, p->mon[node], cls, max_lag, w->now)))
			continue;
		/* Without a snapshot nothing vouches for a replica's replay LSN. */
		if (min_lsn && node != p->primary && (!s || s->node[p->mon[node]].replay_lsn < min_lsn))
			continue;
		cand[nc++] = node;
	}
	if (nc == 0)
		return -1;
	/* Least outstanding work per unit of weight; ties rotate over the eligible nodes only. */
	uint32_t start = w->rr++;
	int best = -1;
	uint64_t best_load = UINT64_MAX;
	for (int k = 0; k < nc; k++) {
		int node = cand[(start + (uint32_t)k) % (uint32_t)nc];
		int weight = node == p->primary ? w->cfg->primary_read_weight : p->weight[node];
		const struct node_pool *np = &p->nodes[node];
		uint64_t load =
		        (uint64_t)(np->n_used + np->n_waiting + np->n_pending + 1) * 1000000u / (uint64_t)weight;
		if (load < best_load) {
			best_load = load;
			best = node;
		}
	}
	return best;
}

void pool_reroute_waiting(struct pool *p, int node, int dest)
{
	struct node_pool *np = &p->nodes[node];
	struct list moved, *it;
	list_init(&moved);
	while ((it = list_pop(&np->waiting)) != NULL) {
		np->n_waiting--;
		atomic_fetch_sub(&p->shared->quota[node].waiters, 1);
		list_append(&moved, it);
	}
	publish_oldest(p, node);
	while ((it = list_pop(&moved)) != NULL) {
		struct pool_waiter *wt = WAITER(it);
		list_init(&wt->node);
		wt->queued = false;
		uint64_t need = wops->required_lsn(wt);
		int other = dest >= 0        ? dest
		        : need == UINT64_MAX ? -1
		                             : pool_pick_replica(p, 0, p->w->cfg->max_replica_lag, 1u << node, need);
		wops->unqueued(wt);
		if (pool_acquire(p, wt, other >= 0 ? other : p->primary))
			wops->woken(wt);
	}
}

void pool_login_wait(struct pool *p, struct pool_waiter *wt)
{
	wt->pool = p;
	wt->since = p->w->now;
	wops->queued(wt, true);
	list_append(&p->login_wait, &wt->node);
	pool_launch(p, p->primary);
}

void pool_finish_logins(struct pool *p)
{
	if (!atomic_load(&p->shared->has_welcome))
		return;
	/* Popping one at a time: finishing a login may close other waiting clients. */
	struct list *it;
	while ((it = list_pop(&p->login_wait)) != NULL)
		wops->login_ready(WAITER(it));
}

void pool_dequeue(struct pool_waiter *wt)
{
	if (list_empty(&wt->node))
		return;
	list_del(&wt->node);
	if (wt->queued) {
		wt->queued = false;
		struct node_pool *np = &wt->pool->nodes[wt->want_node];
		np->n_waiting--;
		atomic_fetch_sub(&wt->pool->shared->quota[wt->want_node].waiters, 1);
		publish_oldest(wt->pool, wt->want_node);
	}
}

/* Publish when this worker's longest-waiting client for node began waiting (for fair hand-offs). */
static void publish_oldest(struct pool *p, int node)
{
	struct node_pool *np = &p->nodes[node];
	int64_t t = 0;
	if (!list_empty(&np->waiting))
		t = WAITER(np->waiting.next)->since;
	atomic_store(&p->shared->quota[node].oldest[p->w->id], t ? t : 0);
}

/* Server connections of np that count against the quota: in use, idle or logging in. */
static int64_t held_servers(const struct node_pool *np)
{
	return np->n_used + np->n_idle + np->n_pending;
}

/* Publish this worker's smoothed demand for node and how many servers it holds (when either changes: the
   janitor's ticks, a server opened or closed; not per transaction). */
static void publish_load(const struct pool *p, int node)
{
	const struct node_pool *np = &p->nodes[node];
	int64_t held = held_servers(np);
	atomic_store_explicit(&p->shared->quota[node].load[p->w->id], (int64_t)np->demand16 << 32 | held,
	                      memory_order_relaxed);
}

/* True when handing one of node's slots to another worker evens the pools out: another worker with queued
   clients holds no server at all, or this worker holds more than half a slot over its share of the
   (smoothed) demand. Without the share test, queues that are merely both long trade connections back and
   forth, and every trade is a new PostgreSQL login. */
static bool hand_off_evens_out(const struct pool *p, int node)
{
	const struct node_pool *np = &p->nodes[node];
	const struct node_quota *q = &p->shared->quota[node];
	int64_t mine = np->demand16, all = mine, held = held_servers(np);
	for (int i = 0; i < g_shared.nworkers; i++) {
		if (i == p->w->id)
			continue;
		int64_t v = atomic_load_explicit(&q->load[i], memory_order_relaxed);
		if ((v & 0xffffffff) == 0 && atomic_load_explicit(&q->oldest[i], memory_order_relaxed))
			return true; /* its clients would otherwise wait for ever */
		all += v >> 32;
	}
	return all > 0 && (2 * held - 1) * all > 2 * (int64_t)node_limit(p, node, false) * mine;
}

/* The earliest wait start among other workers' clients for node, or 0. */
static int64_t remote_oldest(const struct pool *p, int node, int *who)
{
	int64_t best = 0;
	for (int i = 0; i < g_shared.nworkers; i++) {
		if (i == p->w->id)
			continue;
		int64_t t = atomic_load(&p->shared->quota[node].oldest[i]);
		if (t && (!best || t < best)) {
			best = t;
			*who = i;
		}
	}
	return best;
}

/* Close sv so that worker `to` can open a connection in its place (the slot is kept for it). */
static void hand_slot(struct server *sv, int to)
{
	struct node_quota *q = &sv->pool->shared->quota[sv->node];
	atomic_fetch_add(&q->gift[to], 1);
	atomic_fetch_add(&q->gifts, 1);
	server_close(sv, "slot handed to another worker");
}

/* Move sv onto one of its node pool's lists (or none), keeping the counters exact. */
void pool_server_move(struct server *sv, enum sv_list to)
{
	struct node_pool *np = &sv->pool->nodes[sv->node];
	bool was_held = sv->on_list == SL_IDLE || sv->on_list == SL_USED || sv->on_list == SL_PENDING;
	switch (sv->on_list) {
	case SL_IDLE: np->n_idle--; break;
	case SL_USED: np->n_used--; break;
	case SL_PENDING: np->n_pending--; break;
	case SL_CLOSING:
	case SL_NONE: break;
	}
	list_del(&sv->pool_node);
	sv->on_list = to;
	switch (to) {
	case SL_IDLE:
		list_prepend(&np->idle, &sv->pool_node);
		np->n_idle++;
		break; /* LIFO keeps hot backends hot */
	case SL_USED:
		list_append(&np->used, &sv->pool_node);
		np->n_used++;
		break;
	case SL_PENDING:
		list_append(&np->pending, &sv->pool_node);
		np->n_pending++;
		break;
	case SL_CLOSING: list_append(&np->closing, &sv->pool_node); break;
	case SL_NONE: break;
	}
	if (was_held != (to == SL_IDLE || to == SL_USED || to == SL_PENDING))
		publish_load(sv->pool, sv->node); /* opened or closed: other workers' hand-off decisions see it */
}

bool pool_acquire(struct pool *p, struct pool_waiter *wt, int node)
{
	struct node_pool *np = &p->nodes[node];
	if (node == p->primary && wops->take_home(wt, node))
		return true;
	if (!list_empty(&np->idle)) {
		struct server *sv = list_entry(np->idle.next, struct server, pool_node);
		pool_server_move(sv, SL_USED);
		sv->state = SV_ACTIVE;
		wops->granted(wt, sv);
		return true;
	}
	wt->pool = p;
	wt->want_node = node;
	wt->since = p->w->now;
	wt->queued = true;
	wops->queued(wt, false);
	list_append(&np->waiting, &wt->node);
	np->n_waiting++;
	atomic_fetch_add(&p->shared->quota[node].waiters, 1);
	if (np->n_waiting == 1)
		publish_oldest(p, node);
	pool_launch(p, node);
	return false;
}

/* A server may only be reused while its settings and age still qualify. */
static bool server_reusable(const struct server *sv)
{
	const struct config *cfg = sv->pool->w->cfg;
	if (sv->dirty || sv->pool->gone || atomic_load(&g_shared.shutdown) == 2)
		return false;
	if (pause_is_paused(sv->pool->dbname))
		return false; /* PAUSE waits for every server of the database to close */
	if (cfg->server_lifetime && sv->pool->w->now - sv->connect_time > cfg->server_lifetime)
		return false;
	return true;
}

void pool_server_ready(struct server *sv)
{
	struct pool *p = sv->pool;
	struct node_pool *np = &p->nodes[sv->node];
	if (!server_reusable(sv)) {
		server_close(sv, sv->dirty ? "server connection is dirty" : "server_lifetime reached");
		return;
	}
	sv->client = NULL;
	sv->last_used = p->w->now;
	/* The slot goes to whoever has waited longest, in this worker or another (fair across workers). */
	int to = -1;
	int64_t other = g_shared.nworkers > 1 ? remote_oldest(p, sv->node, &to) : 0;
	struct pool_waiter *first = list_empty(&np->waiting) ? NULL : WAITER(np->waiting.next);
	/* Only a clear imbalance moves a slot (it costs a new connection): another worker's client has waited
	   HANDOFF_USEC longer than anyone here. Balanced queues keep their servers. */
	if (other && p->w->now - other >= HANDOFF_USEC && (!first || other + HANDOFF_USEC <= first->since) &&
	    hand_off_evens_out(p, sv->node)) {
		hand_slot(sv, to);
		return;
	}
	if (first) {
		list_del(&first->node);
		first->queued = false;
		np->n_waiting--;
		atomic_fetch_sub(&p->shared->quota[sv->node].waiters, 1);
		publish_oldest(p, sv->node);
		pool_server_move(sv, SL_USED);
		sv->state = SV_ACTIVE;
		wops->granted(first, sv);
		wops->woken(first);
		return;
	}
	sv->state = SV_IDLE;
	sv->state_since = p->w->now;
	pool_server_move(sv, SL_IDLE);
}

void pool_server_gone(struct server *sv)
{
	struct pool *p = sv->pool;
	pool_server_move(sv, SL_NONE);
	if (sv->counted) {
		sv->counted = false;
		int left = atomic_fetch_sub(&p->shared->quota[sv->node].conns, 1) - 1;
		(void)left;
		if (atomic_load(&p->shared->quota[sv->node].waiters) > p->nodes[sv->node].n_waiting)
			pool_kick_all();
	}
	pool_launch(p, sv->node);
}

/* Close clients that waited longer than query_wait_timeout (and logins past client_login_timeout). */
static void expire_waiters(struct pool *p)
{
	const struct config *cfg = p->w->cfg;
	int64_t now = p->w->now;
	for (int n = 0; n < p->nnodes; n++) {
		struct node_pool *np = &p->nodes[n];
		struct list *it, *tmp;
		list_for_each_safe(it, tmp, &np->waiting)
		{
			struct pool_waiter *wt = WAITER(it);
			if (!cfg->query_wait_timeout || now - wt->since < cfg->query_wait_timeout)
				break; /* FIFO: the rest waited less */
			char msg[300];
			snprintf(msg, sizeof msg,
			         "query_wait_timeout (%.1f s): no server connection to %s became available "
			         "(pool_size %d reached)%s%s",
			         (double)cfg->query_wait_timeout / 1e6, p->dbname, node_limit(p, n, false),
			         np->last_error[0] ? "; last server error: " : "", np->last_error);
			wops->failed(wt, "08P01", msg);
		}
		if (!list_empty(&np->waiting))
			pool_launch(p, n);
	}
	int64_t lt = cfg->client_login_timeout;
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &p->login_wait)
	{
		struct pool_waiter *wt = WAITER(it);
		int64_t limit =
		        lt && (!cfg->query_wait_timeout || lt < cfg->query_wait_timeout) ? lt : cfg->query_wait_timeout;
		if (limit && now - wt->since >= limit)
			wops->failed(wt, "08P01", "login timed out waiting for a server connection");
	}
	if (!list_empty(&p->login_wait))
		pool_launch(p, p->primary);
}

/* Idle servers past server_idle_timeout or server_lifetime close; min_pool_size is topped up. */
static void tend_idle(struct pool *p)
{
	const struct config *cfg = p->w->cfg;
	int64_t now = p->w->now;
	for (int n = 0; n < p->nnodes; n++) {
		struct node_pool *np = &p->nodes[n];
		struct list *it, *tmp;
		list_for_each_safe(it, tmp, &np->idle)
		{
			struct server *sv = list_entry(it, struct server, pool_node);
			int total = atomic_load(&p->shared->quota[n].conns);
			bool idle_expired = cfg->server_idle_timeout &&
			        now - sv->last_used > cfg->server_idle_timeout && total > p->min_pool_size;
			bool too_old = cfg->server_lifetime && now - sv->connect_time > cfg->server_lifetime;
			if (idle_expired || too_old)
				server_close(sv, idle_expired ? "server_idle_timeout" : "server_lifetime");
		}
		struct list *cit, *ctmp;
		list_for_each_safe(cit, ctmp, &np->closing)
		{
			struct server *sv = list_entry(cit, struct server, pool_node);
			if (now - sv->state_since > 1000000)
				server_close(sv, "backend did not close after Terminate");
		}
		struct list *pit, *ptmp;
		list_for_each_safe(pit, ptmp, &np->pending)
		{
			struct server *sv = list_entry(pit, struct server, pool_node);
			if (cfg->server_connect_timeout && now - sv->connect_time > cfg->server_connect_timeout) {
				pool_login_failed(p, n, "08006", "server_connect_timeout: server did not answer",
				                  false);
				server_close(sv, "server_connect_timeout");
			}
		}
		/* min_pool_size counts connections of all workers; the primary only, as PgBouncer's pools. */
		if (n == p->primary && p->min_pool_size > 0 && !p->gone && now >= np->retry_after &&
		    atomic_load(&g_shared.shutdown) == 0 && !pause_is_paused(p->dbname)) {
			while (atomic_load(&p->shared->quota[n].conns) < p->min_pool_size) {
				if (!quota_take(&p->shared->quota[n], p->min_pool_size, p->w->id))
					break;
				if (!pool_open_server(p, n))
					break;
			}
		}
	}
}

void pool_donate_idle(struct worker *w)
{
	struct list *pit, *ptmp;
	list_for_each_safe(pit, ptmp, &w->pools)
	{
		struct pool *p = list_entry(pit, struct pool, node);
		for (int n = 0; n < p->nnodes; n++) {
			struct node_pool *np = &p->nodes[n];
			int remote = atomic_load(&p->shared->quota[n].waiters) - np->n_waiting;
			int to = -1;
			while (remote-- > 0 && np->n_idle > 0 && remote_oldest(p, n, &to) && hand_off_evens_out(p, n)) {
				/* The least recently used idle server is at the tail; one in use again soon stays. */
				struct server *sv = list_entry(np->idle.prev, struct server, pool_node);
				if (w->now - sv->state_since < 10000)
					break;
				hand_slot(sv, to);
			}
		}
	}
}

/* Publish this worker's numbers for p so that the admin console can add them up. */
static void publish_stats(struct pool *p)
{
	struct pool_stats st = { 0 };
	int64_t now = p->w->now;
	for (int n = 0; n < p->nnodes; n++) {
		struct node_pool *np = &p->nodes[n];
		st.cl_waiting += np->n_waiting;
		st.sv_active += np->n_used;
		st.sv_idle += np->n_idle;
		st.sv_login += np->n_pending;
		st.node_active[n] = np->n_used;
		st.node_idle[n] = np->n_idle;
		st.node_login[n] = np->n_pending;
		st.node_waiting[n] = np->n_waiting;
		np->demand16 = (3 * np->demand16 + 16 * (np->n_waiting + np->n_used)) / 4;
		if (!np->n_waiting)
			quota_ungift(&p->shared->quota[n], p->w->id, INT_MAX); /* kept for clients that are served */
		publish_load(p, n);
		if (!list_empty(&np->waiting)) {
			const struct pool_waiter *first = WAITER(np->waiting.next);
			if (now - first->since > st.maxwait_us)
				st.maxwait_us = now - first->since;
		}
	}
	st.cl_active = p->n_clients - st.cl_waiting;
	st.queries = p->n_queries;
	st.xacts = p->n_xacts;
	st.primary = p->primary;
	st.assignments = p->n_assignments;
	st.wait_us = p->wait_us;
	st.routed[0] = p->n_routed[0];
	st.routed[1] = p->n_routed[1];
	pthread_mutex_lock(&p->shared->lock);
	p->shared->stats[p->w->id] = st;
	pthread_mutex_unlock(&p->shared->lock);
}

void pool_janitor(struct worker *w)
{
	pool_donate_idle(w);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->pools)
	{
		struct pool *p = list_entry(it, struct pool, node);
		pool_sync(p);
		expire_waiters(p);
		tend_idle(p);
		publish_stats(p);
	}
}

void pool_free_all(struct worker *w)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->pools)
	{
		struct pool *p = list_entry(it, struct pool, node);
		list_del(&p->node);
		free(p->dbname);
		free(p->user);
		free(p->server_db);
		free(p->server_user);
		free(p->password);
		for (int i = 0; i < MAX_NODES; i++)
			free(p->host[i]);
		params_clear(&p->startup_extra);
		free(p);
	}
}
