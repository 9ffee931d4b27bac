/* Server connection state machine: connect, log in to PostgreSQL, forward results, reset. */
#ifndef PGR_SERVER_H
#define PGR_SERVER_H

#include "base/params.h"
#include "io/conn.h"
#include "io/loop.h"
#include "io/shared.h"
#include "policy/journal_state.h"
#include "policy/ryw_state.h"
#include "proto/be_msg.h"

struct pool;
struct client;
struct ps_server;
struct scram_client;
struct pg_error;
struct authfile_entry;

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
	const struct server_events *ev; /* its pool's */
	int node; /* index into pool->nodes */
	struct client *client;
	struct client *holder; /* SV_HELD: the session it is kept for (that client's home) */
	struct params params; /* the session settings this backend has now */
	struct tracked_view view; /* its tracked values, cached */
	/* The last client settings found already in place: that view's gen, with params' and extra's versions then.
	   While all three are unchanged nothing needs syncing. */
	uint64_t synced_gen;
	uint32_t synced_params, synced_extra;
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
	struct be_msg msg; /* the message being decided, decoded once per call; its marks last for its seq */
	struct ryw_server ryw; /* commit-LSN learning on a primary connection */
	struct params extra; /* settings pgrouter SET that the server does not report */
	struct sess_journal sj; /* the client's session changes until their transaction ends (session/journal.c) */
	struct list cancels; /* cancel requests in flight for this backend */
	struct scram_client *scram; /* only while logging in with SCRAM */
	struct list pool_node; /* on one of its node pool's lists */
};

/* Where and as whom a server connection logs in, as its pool has it now (asked again each time: a reload may
   change it). The strings belong to the pool. */
struct server_dest {
	const char *host;
	int port;
	const char *dbname, *user; /* the pool's names (log lines) */
	const char *server_db, *server_user, *password; /* password NULL: from auth_file or auth_query */
	const struct params *startup_extra; /* the entry's fixed settings for the startup packet */
	const struct authfile_entry *lookup; /* the server user's secret from auth_query, or NULL */
};

/* What the pool does as its server connections log in, become free or go away; given to server_connect. */
struct server_events {
	/* Node node of pool p: where and as whom to log in. */
	void (*dest)(const struct pool *p, int node, struct server_dest *out);
	/* sv logged in (SV_IDLE, its parameters known): publish them and hand sv out. */
	void (*logged_in)(struct server *sv);
	/* sv's connect or login failed (server_said: the server itself refused, with sqlstate and msg). */
	void (*login_failed)(struct server *sv, const char *sqlstate, const char *msg, bool server_said);
	/* sv is clean and free: give it to a waiting client, keep it idle, or close it. */
	void (*ready)(struct server *sv);
	/* sv is going away: its slot frees. */
	void (*gone)(struct server *sv);
	/* Put sv on its node pool's list to (SL_NONE: off all). */
	void (*move)(struct server *sv, enum sv_list to);
	/* The pool mode sv is reset for when it is released (POOL_*). */
	int (*release_mode)(const struct server *sv);
	/* SCRAM passthrough: copy a client's proven ClientKey for sv's user into key (32 bytes); false: none yet. */
	bool (*client_key)(const struct server *sv, uint8_t *key);
	/* That ClientKey no longer fits the server's secret: do not offer it again. */
	void (*client_key_stale)(const struct server *sv);
};

/*
 * What the session of a linked client does with its server connection: the relay of the server's answers and the
 * session state kept on the connection (prepared statements, journal, read-your-writes, retries). The session
 * layer registers it once at startup; the backend reaches its clients only through it.
 */
struct server_link_ops {
	/* A message for the linked client (SV_ACTIVE, none of pgrouter's own queries pending): the relay action. */
	enum act (*on_msg)(struct server *sv, struct be_msg *m);
	/* A message answering pgrouter's commit-LSN query (sv->ryw.asking): the relay action. */
	enum act (*on_ryw_msg)(struct server *sv, struct be_msg *m);
	/* The consistency_store answered for sv's commit: the held ReadyForQuery goes out. */
	void (*ryw_stored)(struct server *sv);
	/* The message marked ACT_SEND_LAST reached sv's client: the server may go back to the pool. */
	void (*after_last)(struct server *sv);
	/* pgrouter's own query on sv reported a setting (canon: its canonical name) while a client is linked. */
	void (*own_param)(struct server *sv, const char *canon, const char *value);
	/* pgrouter's own query on sv failed while a client is linked. */
	void (*own_error)(struct server *sv, const struct pg_error *e);
	/* pgrouter's own queries on sv ended while a client is linked: true when its session took over. */
	bool (*own_done)(struct server *sv);
	/* The server under cl closes (sqlstate NULL: part of a message went out, send no error). */
	void (*client_lost)(struct client *cl, const char *sqlstate, const char *msg);
	/* The connection kept for holder's session (SV_HELD) closes. */
	void (*home_lost)(struct client *holder);
	/* sv broke, or its node is down, under its client: re-run the unit elsewhere if possible, else close sv. */
	void (*lost)(struct server *sv, const char *why);
	/* sv leaves its client: session changes not yet confirmed are dropped. */
	void (*unlinked)(struct server *sv);
	/* sv closes while its client's prepared statements may still be there: forget them. */
	void (*forget)(struct server *sv);
	/* sv goes back to the pool: false when its prepared statements make it unfit for reuse. */
	bool (*release_ok)(struct server *sv);
	/* pgrouter sends query to reset sv. */
	void (*reset)(struct server *sv, const char *query);
	/* sv is being freed: free the session state kept on it. */
	void (*freed)(struct server *sv);
};

/* Register the session layer's handling of linked servers (once, before any worker runs). */
void server_set_link_ops(const struct server_link_ops *ops);

/* Start a connection in w to p's node, reporting to ev. NULL: the socket could not be opened (err says why, the caller
   reports it), or the connection was closed already (err ""). */
struct server *server_connect(struct worker *w, struct pool *p, int node, const struct server_events *ev, char *err,
                              size_t errlen);
/* Close the server connection (and fail its client's work if it had any). */
void server_close(struct server *sv, const char *reason);
/* Queue pgrouter's own SETs so that sv's session has the settings wanted (wanted_view: their cached view,
   welcome: the pool's defaults); all: send every setting of wanted, even those sv has. */
void server_sync_params(struct server *sv, const struct params *wanted, struct tracked_view *wanted_view,
                        const struct params *welcome, bool all);
/* The client went away while linked: reuse sv if it is clean, otherwise cancel and close it. */
void server_client_gone(struct server *sv);
/* Send a CancelRequest for sv's current query on a new connection. */
void server_cancel(struct server *sv);
/* Answer one authentication request of the server during login; 0, or -1 after closing sv. */
int server_auth(struct server *sv, const uint8_t *body, uint32_t n);
/* Forget the cancel requests in flight for sv (it is going away). */
void server_detach_cancels(struct server *sv);
/* The worker is going away: close the cancel requests still on their way (their connections are freed). */
void cancel_close_all(struct worker *w);
/* Nothing is in flight: the server could be handed to another client. */
bool server_is_clean(const struct server *sv);
/* The protocol state alone says the session is between transactions (bytes may still be in flight). */
bool server_between_transactions(const struct server *sv);
/* sv broke, or its node is down: a unit of its client is re-run elsewhere when it can be, else sv closes. */
void server_lost(struct server *sv, const char *why);
/* Make sv idle: run the reset query when required, then hand it to the pool. */
void server_release(struct server *sv);
/* The session sv was kept for (SV_HELD, its holder's home) ends: sv goes back to the pool (reset as in session
   pooling). The caller has cleared the holder's home; NULL: nothing to do. */
void server_release_home(struct server *sv);
/* The consistency_store answered for sv's commit (ryw_store.c): the held ReadyForQuery goes out, then the
   server is released or reads on, as after any ReadyForQuery. */
void server_ryw_stored(struct server *sv);

#endif
