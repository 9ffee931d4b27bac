/* Server connection state machine: connect, log in to PostgreSQL, forward results, reset. */
#ifndef PGR_SERVER_H
#define PGR_SERVER_H

#include "base/params.h"
#include "io/conn.h"
#include "io/loop.h"
#include "io/shared.h"
#include "policy/journal_state.h"
#include "policy/ryw_state.h"

struct pool;
struct client;
struct ps_server;
struct scram_client;

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

/* Start a connection to p's node; returns NULL after reporting the failure to the pool. */
struct server *server_connect(struct pool *p, int node);
/* Close the server connection (and fail its client's work if it had any). */
void server_close(struct server *sv, const char *reason);
/* Queue pgrouter's own SETs so that sv's session matches what cl expects. */
void server_sync_params(struct server *sv, struct client *cl);
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
/* Make sv idle: run the reset query when required, then hand it to the pool. */
void server_release(struct server *sv);
/* sv has just left cl at the end of a transaction: back to the pool, or kept as cl's home (SV_HELD) when it is
   the primary connection of a session that routes reads. */
void server_release_from(struct server *sv, struct client *cl);
/* cl's session ends: the primary connection kept for it goes back to the pool (reset as in session pooling). */
void server_release_home(struct client *cl);
/* The consistency_store answered for sv's commit (ryw_store.c): the held ReadyForQuery goes out, then the
   server is released or reads on, as after any ReadyForQuery. */
void server_ryw_stored(struct server *sv);

#endif
