/* Client connection state machine: startup, authentication, login; a logged-in client's messages go to its target. */
#ifndef PGR_CLIENT_H
#define PGR_CLIENT_H

#include "pool/pool.h"
#include "policy/ryw_state.h"
#include "proto/femsg.h"

struct client;
struct client_auth;
struct ps_client;

/* What a logged-in client's messages go to: the session pipeline (filled in session/) or the admin console
   (filled in admin/). Every client starts on the session pipeline's table; a login to the console switches. */
struct client_target {
	/* Does a login to dbname go to this target? (NULL on the session pipeline's: it takes the others.) */
	bool (*claims)(const struct config *cfg, const char *dbname);
	/* A startup-packet setting, offered before the login chooses a target (so only the session pipeline's is
	   asked): 1 taken, 0 not one of its own, -1 bad value. */
	int (*startup_setting)(struct client *cl, const char *name, const char *value);
	/* cl authenticated and holds a client slot (and its pool, on the session pipeline): take it; may close cl. */
	void (*login)(struct client *cl);
	/* A message from a logged-in client in CL_IDLE or CL_LINKED, decoded once: the relay action. m->cls is its
	   classification when an earlier call for the same message (same m->seq) made one; a stage that makes one
	   puts it in m->cls_buf and sets m->cls, and it is kept for the next call if the message is held back. */
	enum act (*on_msg)(struct client *cl, struct fe_msg *m);
	/* sv was just linked to its client (NULL: the target's clients are never linked). */
	void (*on_linked)(struct server *sv);
	/* The client is being freed: release what the target keeps in it. */
	void (*on_free)(struct client *cl);
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
	struct cls_result *held_cls; /* the classification of a message held back (pause, more bytes), or NULL */
	uint32_t held_seq; /* c.nmsg + 1 of that message (0: none held) */
	const struct client_target *target; /* where its messages go once logged in */
	struct client_auth *auth; /* exchange state, only while authenticating */
	struct pool_waiter wait; /* queued in its pool for a server or for the login parameters */
	struct list wait_node; /* parked: by PAUSE, or for read-your-writes or a pg_proc lookup */
	struct list all_node; /* on the worker's client list */
	struct list login_node; /* on the worker's logins in progress, oldest first, while logging_in */
};

/* Does cl give its server connection back at the end of each transaction (unless pinned)? Not in plain session
   pooling; in session pooling that routes reads its primary connection is kept for it (SV_HELD) instead. */
static inline bool pool_releases_per_unit(const struct client *cl)
{
	return cl->pool && (cl->pool->pool_mode != POOL_SESSION || pool_session_routes(cl->pool));
}
/* Register the two targets a client may log in to; called once at startup, before any worker runs. */
void client_set_targets(const struct client_target *session, const struct client_target *console);
/* Take ownership of an accepted socket. */
void client_accept(struct worker *w, int fd);
/* Link cl with sv and let cl's queued input flow. */
void client_link(struct client *cl, struct server *sv);
struct authfile_entry;
/* Authenticated: find cl's pool (keeping a proven SCRAM ClientKey, and a secret auth_query returned, for
   logins toward the server) and log in. Takes ownership of looked_up->secret. */
void client_login(struct client *cl, const uint8_t *scram_client_key, struct authfile_entry *looked_up);
/* End cl's login: BackendKeyData and ReadyForQuery after the messages already in its output (err: building
   those failed); cl is idle and ready. false when it was closed instead (out of memory). */
bool client_login_ready(struct client *cl, int err);
/* Finish the login of cl with the pool's parameters. */
void client_finish_login(struct client *cl);
/* pgrouter's SETs of cl's startup settings were answered on its server: refuse the login with the server's
   error, or give the server back and finish the login. */
void client_probe_done(struct client *cl);
/* Send an error (if msg) and close cl, releasing or closing its server. */
void client_close(struct client *cl, const char *sqlstate, const char *msg);
/* True while a safe shutdown still owes cl its first transaction: it was accepted before the listeners closed. */
bool client_shutdown_spares(const struct client *cl);
/* Handle a CancelRequest that names one of this worker's clients. */
void client_cancel_request(struct worker *w, uint32_t pid, uint32_t key);
/* One disconnect path for all malformed client input: ErrorResponse 08P01, sanitized log line, close. */
void client_bad_input(struct conn *c, const char *why, const uint8_t *excerpt, size_t n);
/* The one place a client's state changes (PgBouncer's change_client_state): cl leaves the wait list it is on (a
   pool's queue, with its counts, or a parking list), enters state at since (µs) and joins onto (NULL: no list).
   pool/, below this layer, still sets its own states (CL_WAITING, CL_LOGIN_WAIT, CL_IDLE on a reroute). */
void client_move(struct client *cl, enum client_state state, struct list *onto, int64_t since);
/* client_move to state, on no list, from now. */
void client_set_state(struct client *cl, enum client_state state);
/* Unlink cl from its server (cl->server, linked): both forget each other, bytes decided for the other side are
   dropped, cl becomes CL_IDLE. Returns the server, for the caller to release or close. */
struct server *client_unlink(struct client *cl);
/* The pool mode in force for cl. */
int client_pool_mode(const struct client *cl);

#endif
