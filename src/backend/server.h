/* Server connection state machine: connect, log in to PostgreSQL, forward results, reset. */
#ifndef PGR_SERVER_H
#define PGR_SERVER_H

#include "proxy.h"

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
