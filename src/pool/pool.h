/* Server connection pools per (database, user, node): limits, queues, hand-off and login parameters. */
#ifndef PGR_POOL_H
#define PGR_POOL_H

#include "proxy.h"
#include "policy/router.h"

/* The worker's pool for a client's (database, user), created on first use; NULL on OOM. */
struct pool *pool_get(struct worker *w, const struct dbconf *db, const char *dbname, const char *user);
/* Re-read settings of every pool of w from its (new) config; marks servers dirty when the target changed. */
void pool_reconfigure(struct worker *w);

/* Link cl to a server of node now if one is idle (true); otherwise queue it and open connections (false). */
bool pool_acquire(struct client *cl, int node);
/* Session pooling that routes reads: p's clients keep a primary connection each, and take replica connections
   per unit of work as in transaction pooling. */
static inline bool pool_session_routes(const struct pool *p)
{
	const struct config *cfg = p->w->cfg;
	return p->pool_mode == POOL_SESSION && cfg->routing && p->target != PREF_REPLICA &&
	        (p->nnodes > 1 || cfg->primary_read_weight > 0);
}
/* Does cl give its server connection back at the end of each transaction (unless pinned)? Not in plain session
   pooling; in session pooling that routes reads its primary connection is kept for it (SV_HELD) instead. */
static inline bool pool_releases_per_unit(const struct client *cl)
{
	return cl->pool && (cl->pool->pool_mode != POOL_SESSION || pool_session_routes(cl->pool));
}
/* Take cl off whatever queue it is on. */
void pool_dequeue(struct client *cl);
/* A server has become clean and free: give it to a waiting client, keep it idle, or close it. */
void pool_server_ready(struct server *sv);
/* Bookkeeping for a server that is going away: frees its quota slot and wakes waiters. */
void pool_server_gone(struct server *sv);
/* Put sv on the idle, used or pending list of its node pool (or take it off all). */
void pool_server_move(struct server *sv, enum sv_list to);
/* Open connections for waiting clients as far as the limits allow. */
void pool_launch(struct pool *p, int node);

/* True unless the monitor's latest look found node (a replica) with all of the primary's WAL replayed. */
bool pool_node_behind(struct pool *p, int node);
/* The node that should take the next read needing lag ≤ max_lag (µs, ≤ 0: any) in rotation class cls (-1: none),
   skipping nodes in the exclude bitmask, and replicas that have not replayed min_lsn (read-your-writes):
   a replica, or the primary when primary_read_weight > 0; -1 if none. */
int pool_pick_replica(struct pool *p, int cls, int64_t max_lag, uint32_t exclude, uint64_t min_lsn);
/* Move the clients queued for node to dest (-1: another eligible replica, else the primary). */
void pool_reroute_waiting(struct pool *p, int node, int dest);
/* Mark every server of a node pool dirty (closed when released); idle ones close now. */
void pool_mark_dirty(struct node_pool *np);
/* Bring p in line with the monitor's newest snapshot: node mapping, write node, nodes that went down. */
void pool_sync(struct pool *p);
/* Sync every pool of w (the monitor saw a change). */
void pool_sync_all(struct worker *w);
/* True when the monitor may still find another primary for p (role = auto and replicas to promote). */
bool pool_failover_possible(const struct pool *p);
/* Wait for the pool's login parameters, starting a server connection to learn them. */
void pool_login_wait(struct client *cl);
/* Complete logins of clients waiting for parameters that are now known. */
void pool_finish_logins(struct pool *p);
/* A server login (or connect) failed: tell clients waiting to log in, back off further attempts. */
void pool_login_failed(struct pool *p, int node, const char *sqlstate, const char *msg, bool server_said);

/* Close idle servers whose slots clients of other workers are queued for. */
void pool_donate_idle(struct worker *w);
/* Periodic work for w: timeouts, min_pool_size, lifetime. */
void pool_janitor(struct worker *w);
/* Process-wide: the pool_shared entry for (dbname, user). */
struct pool_shared *pool_shared_get(const char *dbname, const char *user);
/* Wake every worker so that queued clients re-check the limits. */
void pool_kick_all(void);
/* Free a worker's pools (at exit). */
void pool_free_all(struct worker *w);

#endif
