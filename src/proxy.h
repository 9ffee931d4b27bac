/* Core types shared by the connection state machines, the pools and the workers. */
#ifndef PGR_PROXY_H
#define PGR_PROXY_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "base/iobuf.h"
#include "base/list.h"
#include "base/params.h"
#include "proto/codec.h"
#include "session/ryw.h"
#include "backend/journal.h"

struct worker;
struct pool;
struct client_auth;
struct ssl_st;
struct cls_cache;
struct authfile_entry;
struct scram_client;
struct ps_client;
struct ps_server;
struct ps_intern;
struct client;
struct server;

/* What a message handler tells the relay to do with the message at the scan position. */
enum act {
	ACT_SEND, /* forward the whole message to the peer */
	ACT_SEND_LAST, /* forward it, and once it has reached the peer call ops->after_last */
	ACT_SKIP, /* drop it */
	ACT_CONSUMED, /* the handler used the (complete) message; drop it */
	ACT_NEED_FULL, /* call again once the whole message is buffered */
	ACT_FLUSH_FIRST, /* call again once bytes already decided have been written */
	ACT_PAUSE, /* stop reading this connection until conn_resume() */
	ACT_CLOSED, /* the handler closed the connection */
};

struct conn;

/* on_bad_input's why for a startup packet whose length is out of bounds. */
#define BAD_STARTUP_LENGTH "invalid startup packet length"

/* Per-kind behaviour plugged into the relay. */
struct conn_ops {
	/* Decide about one message; body is the message after the length word when it is fully buffered, else NULL. */
	enum act (*on_msg)(struct conn *c, uint8_t type, uint32_t len, const uint8_t *body);
	/* A startup-phase (untyped) packet, complete. */
	enum act (*on_startup)(struct conn *c, const uint8_t *pkt, uint32_t len);
	/* The message marked ACT_SEND_LAST has been written to the peer. */
	void (*after_last)(struct conn *c);
	/* The socket hit EOF or an error after all buffered input was processed. */
	void (*on_eof)(struct conn *c, const char *why);
	/* Malformed input: send an error and close (one path for all bad input). why is
	 * BAD_STARTUP_LENGTH when the first packet's length is impossible. */
	void (*on_bad_input)(struct conn *c, const char *why, const uint8_t *excerpt, size_t n);
	/* The socket became writable (e.g. a connect completed); may be NULL. */
	void (*on_writable)(struct conn *c);
	/* The TLS handshake finished (err NULL) or failed (err says why). */
	void (*on_tls_done)(struct conn *c, const char *err);
	enum proto_dir dir;
};

/* The part every socket has: buffers, relay position and its one persistent event. */
struct conn {
	int fd;
	uint32_t id;
	const struct conn_ops *ops;
	struct worker *w;
	struct conn *peer; /* where ACT_SEND bytes go */
	struct iobuf *in; /* bytes read from fd; NULL when empty */
	struct iobuf *out; /* bytes pgrouter generated for fd; NULL when empty */
	uint32_t pending; /* bytes at in->rpos already decided for the peer */
	uint32_t nmsg; /* messages decided so far: a handler can tell a repeated call from a new message */
	uint32_t pkt_remain; /* bytes of the current message not yet decided */
	uint8_t pkt_action; /* ACT_SEND or ACT_SKIP for the rest of the current message */
	bool send_last; /* after_last is due once pending reaches the peer */
	bool startup_phase; /* untyped packets (clients before the startup message) */
	bool byte_phase; /* single bytes (a server's answer to SSLRequest) */
	bool tls_handshaking; /* TLS handshake in progress: no application data yet */
	enum proto_phase phase;
	bool want_read; /* edge-triggered: the socket may still hold unread bytes */
	bool closing; /* closed; memory is freed later from the worker's free list */
	bool paused;
	bool in_drive; /* guards against recursive driving */
	bool redrive; /* a resume arrived while driving: loop again */
	bool blocked; /* stopped because the peer could not take more bytes */
	bool eof; /* the socket reported EOF or an error */
	bool rdhup; /* the peer shut down its side: read until recv() says so */
	char kind; /* 'c' client, 's' server, 'x' cancel request */
	void (*destroy)(struct conn *c); /* frees the containing object */
	struct list free_node; /* on the worker's just-free list */
	struct event ev; /* persistent, edge-triggered, read and write */
	struct ssl_st *tls; /* TLS session when the connection is encrypted */
	char prefix[16]; /* log prefix, e.g. "c12" / "s4" */
};

/* Client states; each line is what the client is doing now. */
enum client_state {
	CL_STARTUP, /* expecting its startup packet (SSL/GSSENC requests are answered here) */
	CL_AUTH, /* exchanging authentication messages */
	CL_LOGIN_WAIT, /* authenticated, waiting for the pool's server parameters to finish its login */
	CL_IDLE, /* logged in with no server linked (between transactions) */
	CL_WAITING, /* has a query and is queued for a server connection */
	CL_RYW_WAIT, /* a read parked until read-your-writes (src/session/ryw_wait.c) or a pg_proc lookup (src/session/catalog_wait.c)
	                   knows where it may run; message kept */
	CL_LINKED, /* a server connection is linked; bytes flow both ways */
	CL_CLOSED, /* closed; waiting to be freed */
};

struct client {
	struct conn c;
	enum client_state state;
	struct pool *pool;
	struct server *server;
	struct server *home; /* session pooling with routing: its primary connection while unlinked (SV_HELD) */
	int want_node; /* node the queued request is for */
	struct params params; /* what this client's session should look like on any server */
	struct params startup; /* unreported settings from its startup packet: what RESET goes back to */
	struct tracked_view view; /* its tracked values (or the pool's defaults), cached */
	char *user;
	char *dbname;
	uint32_t cancel_pid, cancel_key;
	int64_t state_since; /* monotonic µs when the current state began */
	int64_t connect_time;
	bool counted; /* holds a max_client_conn slot */
	bool is_admin; /* console user in admin_users (may change things) */
	bool is_console; /* logged in to the admin console */
	bool logging_in; /* on its worker's list of logins in progress (max_pending_logins) */
	bool served; /* has had a server for a transaction (a safe shutdown spares it until then) */
	bool verify_params; /* startup settings only a server can judge: tried on one before the login ends */
	bool probing; /* linked only to try its startup settings (no AuthenticationOk sent yet) */
	char probe_state[6]; /* SQLSTATE of the server's refusal of a startup setting ("" while none) */
	char *probe_msg; /* and its message */
	uint8_t pins; /* CLS_PIN_* that keep this session on its primary connection */
	uint8_t session_pref; /* enum route_pref from SET pgrouter.target */
	bool default_read_only; /* SET default_transaction_read_only = on */
	bool reroute; /* paused until its replica connection is released, then routed again */
	bool force_primary; /* the next unit goes to the primary (a replica refused it with 25006) */
	bool retrying; /* the next unit is a re-run: keep retry_exclude */
	uint32_t retry_exclude; /* nodes this unit already failed on (a re-run goes elsewhere) */
	struct iobuf *retry; /* copy of a Query sent to a replica, until its first answer arrives */
	int64_t cat_wait_until; /* its read waits for a pg_proc lookup until then (µs; 0: not waiting) */
	struct ps_client *ps; /* its named prepared statements (transaction/statement pooling), or NULL */
	struct ryw_client ryw; /* what its reads must see (read-your-writes) */
	struct client_auth *auth; /* exchange state, only while authenticating */
	struct list wait_node; /* on a pool's waiting or login-wait list */
	struct list all_node; /* on the worker's client list */
	struct list login_node; /* on the worker's logins in progress, oldest first, while logging_in */
};

/* Server states; each line is what the server connection is doing now. */
enum server_state {
	SV_CONNECTING, /* TCP connect in progress */
	SV_TLS, /* SSLRequest sent: waiting for 'S'/'N', then the TLS handshake */
	SV_LOGIN, /* startup sent; authenticating and collecting parameters */
	SV_IDLE, /* clean, in its pool's idle list */
	SV_ACTIVE, /* linked to a client */
	SV_RESET, /* running pgrouter's own reset query with no client */
	SV_HELD, /* a session-pooled client's primary connection, kept for it while its reads use replicas */
	SV_CLOSING, /* Terminate sent: keeps its pool slot until the backend has closed the connection */
	SV_CLOSED, /* closed; waiting to be freed */
};

/* Which node-pool list a server is on. */
enum sv_list { SL_NONE, SL_IDLE, SL_USED, SL_PENDING, SL_CLOSING };

struct server {
	struct conn c;
	enum sv_list on_list;
	enum server_state state;
	struct pool *pool;
	int node; /* index into pool->nodes */
	struct client *client;
	struct client *holder; /* SV_HELD: the session it is kept for (that client's home) */
	struct params params; /* the session settings this backend has now */
	struct tracked_view view; /* its tracked values, cached */
	uint32_t be_pid, be_key;
	int64_t connect_time, last_used, state_since;
	int expect_z; /* ReadyForQuery messages still owed to the client */
	int skip_z; /* ReadyForQuery messages of pgrouter's own queries still to swallow */
	char tx_status; /* from the last ReadyForQuery */
	bool dirty; /* never reuse: close when released */
	bool counted; /* holds a slot in the node quota */
	int cancels_inflight; /* cancel requests sent for this backend not yet acknowledged */
	bool release_when_cancelled;
	bool unsynced; /* extended-protocol messages forwarded since the last Sync */
	bool pinned; /* held session state for a client: reset before reuse */
	bool fatal_sent; /* a FATAL ErrorResponse of the backend went to the client: it closes next */
	bool retry_armed; /* the client's Query copy may still be re-run elsewhere */
	bool retry_swallow; /* dropping a replica's refusal up to its ReadyForQuery */
	bool retry_to_primary; /* the refusal was 25006 or "not there yet": the re-run goes to the primary */
	bool retry_learn; /* the refusal was 25006: the statement's shape is a write from now on */
	struct iobuf *held; /* a RowDescription held back while a retry is still possible */
	struct ps_server *ps; /* prepared statements on this connection and the answers owed about them */
	uint32_t ps_seen; /* c.nmsg + 1 of the answer the tracker last decided about */
	uint8_t ps_seen_act;
	struct ryw_server ryw; /* commit-LSN learning on a primary connection */
	struct params extra; /* settings pgrouter SET that the server does not report */
	struct sess_journal sj; /* the client's session changes until their transaction ends (session.c) */
	uint32_t sj_seen; /* c.nmsg + 1 of the ReadyForQuery session_ready last saw */
	struct list cancels; /* cancel requests in flight for this backend */
	struct scram_client *scram; /* only while logging in with SCRAM */
	struct list pool_node; /* on one of its node pool's lists */
};

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

#define MAX_WORKERS 64

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

/* A request handed to a worker from another thread. */
struct inbox_msg {
	struct list node;
	int kind; /* INBOX_CANCEL, INBOX_AUTH, INBOX_RUN */
	void (*fn)(struct worker *w, void *arg); /* INBOX_RUN: call fn(w, arg) in the worker */
	void *arg;
	uint32_t pid, key; /* the client (pgrouter's cancel key identifies it) */
	char *secret; /* INBOX_AUTH: the user's secret from auth_query, or NULL */
	bool failed; /* INBOX_AUTH: the lookup itself failed */
};
#define INBOX_CANCEL 1
#define INBOX_AUTH 2
#define INBOX_RUN 3

struct admin_worker;
struct wmetrics;
struct ryw_store;
struct ryw_waitq;

/* One event-loop thread: owns its clients, servers and pools. */
struct worker {
	int id;
	pthread_t thread;
	struct event_base *base;
	int nlisten;
	int listen_fd[8];
	struct event *listen_ev[8];
	struct event *kick_ev; /* reads kick_fd: other threads wake this loop through the eventfd */
	int kick_fd;
	struct event *janitor_ev;
	struct event *reap_ev;
	struct config *cfg;
	struct list clients;
	struct list pools;
	struct list justfree; /* closed conns, freed by reap_ev after the current callback */
	struct list cancel_reqs; /* cancel requests still on their way to a postmaster (src/backend/cancel.c) */
	struct iobuf **freebufs;
	int nfree, maxfree;
	pthread_mutex_t inbox_lock;
	struct list inbox;
	uint32_t next_id;
	uint32_t next_cancel_seq;
	int64_t now; /* monotonic µs, refreshed at each callback */
	struct cls_cache *cls_cache; /* classification results by query text (this thread only) */
	struct cls_cache *cls_shapes; /* fast-path results by literal-blind shape (classify_shape.c) */
	struct ps_intern *ps_intern; /* prepared statements by content, shared by this thread's clients */
	struct str_intern *param_values; /* session setting values of this worker's clients and servers */
	struct cls_result *last_cls; /* the statement just routed, reused when it is forwarded */
	const struct client *last_cls_client;
	const uint8_t *last_cls_body;
	uint32_t rr; /* round-robin counter for replica choice */
	uint64_t *learned; /* fingerprints of statements a replica refused as writes (open addressing) */
	uint32_t n_learned;
	int reserve_fd; /* spare descriptor released to accept and refuse on EMFILE */
	bool accept_paused; /* listeners unregistered at the descriptor limit until the next janitor run */
	int peak_clients; /* most clients since memory was last trimmed */
	bool trim_due; /* give freed memory back at the next janitor run */
	int n_clients; /* clients of this worker */
	struct list logins; /* clients not authenticated yet, oldest first (by login_node) */
	int n_logins;
	uint64_t n_logins_dropped; /* oldest logins in progress closed to make room for new ones */
	int64_t logins_warned; /* when dropping logins was last logged (µs) */
	bool stopping;
	struct list parked; /* clients held by PAUSE or KILL until RESUME (src/admin/pause.c) */
	struct admin_worker *admin; /* console commands of this worker's clients still running (admin_ctl.c) */
	struct wmetrics *metrics; /* counters for /metrics and the console (metrics.c) */
	struct ryw_store *store; /* its consistency_store connection, or NULL (ryw_store.c) */
	struct list ryw_parked; /* clients in CL_RYW_WAIT, by wait_node (src/session/ryw_wait.c) */
	struct ryw_waitq *ryw_wait; /* the timer that ends ryw_wait's waits, or NULL */
	/* counters */
	uint64_t n_queries, n_server_connects, n_bad_input;
	uint64_t n_routed_primary, n_routed_replica, n_pinned, n_retries;
};

/* Process-wide state shared by all threads; mutated only as documented in shared.c. */
/* Databases held by PAUSE or KILL (src/admin/pause.c); the hot path reads npaused only. */
#define MAX_PAUSED 64
struct pause_state {
	atomic_int npaused; /* entries below, plus one for "all": 0 means nothing is paused */
	atomic_uint epoch; /* bumped on every change, so waiting PAUSEs notice a RESUME */
	pthread_mutex_t lock;
	bool all;
	char *db[MAX_PAUSED];
	/* Databases refused to new clients by DISABLE (same lock; logins read ndisabled first). */
	atomic_int ndisabled;
	char *disabled[MAX_PAUSED];
};

/* Seconds each [routes] rule's max_lag was not met, by rule name: fed by the cluster monitor (status.c). */
#define MAX_SLO_ROUTES 128
struct slo_counter {
	atomic_bool used; /* set (release) once name is written; slots are never reused */
	char name[64];
	_Atomic uint64_t breach_us;
};

struct shared {
	_Atomic(struct config *) cfg;
	pthread_mutex_t cfg_lock; /* taking a reference to cfg and replacing it exclude each other */
	atomic_int nclients; /* logged-in clients (max_client_conn counts these) */
	atomic_int shutdown; /* 0 running, 1 safe shutdown (SIGINT), 2 immediate (SIGTERM) */
	atomic_uint reload_gen;
	int nworkers;
	struct worker *workers;
	pthread_mutex_t pools_lock;
	struct list pools; /* struct pool_shared */
	uint8_t mock_key[32]; /* random per process: fake SCRAM salts for unknown users */
	struct pause_state pause;
	atomic_bool draining; /* SHUTDOWN WAIT_FOR_CLIENTS: no new connections, exit when clients are gone */
	atomic_int drain_left[MAX_WORKERS]; /* per worker: its non-console clients (-1: not counted yet) */
	int64_t start_time; /* wall-clock µs at startup */
	pthread_mutex_t slo_lock; /* claiming a slo slot (counting needs no lock) */
	struct slo_counter slo[MAX_SLO_ROUTES];
};

/* A reference to the current config (drop it with config_put); safe from any thread. */
struct config *shared_config_get(void);
/* Make nc the current config (takes over the caller's reference) and drop the old one. */
void shared_config_publish(struct config *nc);

extern struct shared g_shared;

#endif
