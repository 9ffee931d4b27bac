/* Server connection pools per (database, user, node): limits, queues, hand-off and login parameters. */
#ifndef PGR_POOL_H
#define PGR_POOL_H

#include <stdatomic.h>

#include "backend/server.h"
#include "policy/router.h"

struct authfile_entry;
struct met_node;

/* A client as its pool sees it while it waits for a server or for the login parameters (embedded in the client;
   the pool reaches the client only through pool_waiter_ops). */
struct pool_waiter {
	struct list node; /* on a node pool's waiting list or the pool's login_wait */
	struct pool *pool; /* the pool it is queued in */
	int want_node; /* node the queued request is for */
	int64_t since; /* when it began waiting (monotonic µs) */
	bool queued; /* on a node pool's waiting list (not login_wait) */
};

/* What a waiter's owner does when the pool moves it; registered once at startup (pool_set_waiter_ops). */
struct pool_waiter_ops {
	/* wt was queued at wt->since (login: for the login parameters, else for a server of wt->want_node). */
	void (*queued)(struct pool_waiter *wt, bool login);
	/* wt left its node's queue to be placed again. */
	void (*unqueued)(struct pool_waiter *wt);
	/* sv (SV_ACTIVE) is wt's now: link them. */
	void (*granted)(struct pool_waiter *wt, struct server *sv);
	/* wt was served while it waited: its held input flows again. */
	void (*woken)(struct pool_waiter *wt);
	/* wt cannot be served: close it with sqlstate and msg. */
	void (*failed)(struct pool_waiter *wt, const char *sqlstate, const char *msg);
	/* The pool's login parameters are known: finish wt's login. */
	void (*login_ready)(struct pool_waiter *wt);
	/* wt's read moves off its node: the replay LSN it needs elsewhere (0: none, UINT64_MAX: the primary only). */
	uint64_t (*required_lsn)(struct pool_waiter *wt);
	/* Link wt to the primary connection kept for its session (SV_HELD) if it is usable for node (true). */
	bool (*take_home)(struct pool_waiter *wt, int node);
};

/* Register what the owner of every waiter does (once, before any worker runs). */
void pool_set_waiter_ops(const struct pool_waiter_ops *ops);

/* Cross-worker accounting for one (database, user, node): the pool_size limit holds across workers. */
struct node_quota {
	atomic_int conns; /* server connections open or opening, all workers */
	atomic_int waiters; /* clients queued for this node, all workers */
	_Atomic int64_t oldest[64]; /* per worker: when its longest-waiting client began waiting (0: none) */
	_Atomic int64_t load[64]; /* per worker: its node_pool demand16 << 32 | servers it holds */
	atomic_int gift[64]; /* per worker: slots another worker closed a server for, kept for it */
	atomic_int gifts; /* the sum of gift[] */
};

/* One worker's numbers for a pool, published by its janitor for the admin console (under pool_shared.lock). */
struct pool_stats {
	int cl_active, cl_waiting, sv_active, sv_idle, sv_login;
	int64_t maxwait_us;
	uint64_t queries, xacts; /* statements, and transactions ended (ReadyForQuery 'I') */
	uint64_t assignments, wait_us; /* servers handed to clients, and the time those clients waited */
	uint64_t routed[2]; /* units of work sent to the primary [0] and to replicas [1] */
	/* per node: server connections active (linked or resetting), idle, logging in; clients queued */
	int node_active[MAX_NODES], node_idle[MAX_NODES], node_login[MAX_NODES], node_waiting[MAX_NODES];
	int primary; /* the node that takes writes (index into the node_* arrays) */
};

/* Shared across workers for one (database, user): limits and the login parameters. */
struct pool_shared {
	struct list node;
	char *dbname, *user;
	pthread_mutex_t lock;
	struct params welcome; /* server parameters sent to clients at login (set once) */
	atomic_bool has_welcome;
	/* SCRAM passthrough: a client's ClientKey proven against the auth_file secret, reused toward servers */
	uint8_t client_key[32];
	atomic_bool has_client_key;
	/* The user's secret as auth_query returned it (set once, then read-only) */
	struct authfile_entry *lookup_entry;
	atomic_bool has_lookup;
	struct node_quota quota[MAX_NODES];
	struct pool_stats stats[MAX_WORKERS];
};

/* One node's server connections inside a worker's pool. */
struct node_pool {
	struct list idle;
	struct list used; /* active, resetting */
	struct list pending; /* connecting or logging in */
	struct list waiting; /* clients queued for a server of this node */
	struct list closing; /* Terminate sent, waiting for the backend to go */
	int n_idle, n_used, n_pending, n_waiting;
	int demand16; /* clients queued or served, smoothed over the janitor's ticks, times 16 */
	int64_t retry_after; /* no new connection attempts before this (after a failure) */
	int64_t backoff;
	char last_error[160];
};

/* A worker's pool for one (client database name, user). */
struct pool {
	struct list node;
	struct worker *w;
	struct pool_shared *shared;
	char *dbname; /* as the client names it */
	char *user; /* as the client names it */
	/* resolved from the [databases] entry at creation and on reload */
	char *server_db, *server_user, *password;
	int pool_size, min_pool_size, reserve_size, pool_mode;
	int target; /* the entry's target= (enum route_pref) */
	struct params startup_extra; /* client_encoding/datestyle/timezone/application_name from the entry */
	int nnodes;
	char *host[MAX_NODES];
	int port[MAX_NODES];
	int weight[MAX_NODES];
	struct met_node *met[MAX_NODES]; /* each node's slot in this worker's metrics (NULL: look it up) */
	struct node_pool nodes[MAX_NODES];
	int primary; /* node that takes writes: node 0 as configured, or whichever the monitor found */
	int mon[MAX_NODES]; /* each node's index in the monitor's snapshot, or -1 */
	uint64_t snap_gen; /* the snapshot the fields above were derived from */
	bool no_replica_logged; /* "no replica qualifies" was logged; cleared when one does again */
	struct list login_wait; /* clients waiting for the welcome parameters */
	int n_clients;
	bool gone; /* its [databases] entry was removed by a reload */
	/* this worker's counters, published by the janitor (pool_stats) */
	uint64_t n_queries, n_xacts, n_assignments, wait_us, n_routed[2];
};

/* The worker's pool for a client's (database, user), created on first use; NULL on OOM. */
struct pool *pool_get(struct worker *w, const struct dbconf *db, const char *dbname, const char *user);
/* Re-read settings of every pool of w from its (new) config; marks servers dirty when the target changed. */
void pool_reconfigure(struct worker *w);

/* Link wt to a server of p's node now if one is idle (true); otherwise queue it and open connections (false). */
bool pool_acquire(struct pool *p, struct pool_waiter *wt, int node);
/* Session pooling that routes reads: p's clients keep a primary connection each, and take replica connections
   per unit of work as in transaction pooling. */
static inline bool pool_session_routes(const struct pool *p)
{
	const struct config *cfg = p->w->cfg;
	return p->pool_mode == POOL_SESSION && cfg->routing && p->target != PREF_REPLICA &&
	        (p->nnodes > 1 || cfg->primary_read_weight > 0);
}
/* Take wt off whatever queue of its pool it is on. */
void pool_dequeue(struct pool_waiter *wt);
/* A server has become clean and free: give it to a waiting client, keep it idle, or close it. */
void pool_server_ready(struct server *sv);
/* Bookkeeping for a server that is going away: frees its quota slot and wakes waiters. */
void pool_server_gone(struct server *sv);
/* Put sv on the idle, used or pending list of its node pool (or take it off all). */
void pool_server_move(struct server *sv, enum sv_list to);
/* Open a connection to p's node (its quota slot already taken); NULL after reporting the failure. */
struct server *pool_open_server(struct pool *p, int node);
/* Open connections for waiting clients as far as the limits allow. */
void pool_launch(struct pool *p, int node);

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
/* wt waits for p's login parameters; a server connection starts to learn them. */
void pool_login_wait(struct pool *p, struct pool_waiter *wt);
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
