/* Session state a client asks for, made its own only once the server has confirmed it (committed). */
#ifndef PGR_SESSION_H
#define PGR_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/journal_state.h"
#include "sql/classify.h"

struct client;
struct server;
struct cls_result;

/* The events session_track acts on: a classification without them (and not opaque) needs no call. */
#define SESSION_EVENTS \
	(CLS_EV_BIT(CLS_EV_SET) | CLS_EV_BIT(CLS_EV_RESET) | CLS_EV_BIT(CLS_EV_RESET_ALL) | \
	 CLS_EV_BIT(CLS_EV_DISCARD) | CLS_EV_BIT(CLS_EV_ROLLBACK) | CLS_EV_BIT(CLS_EV_SAVEPOINT) | \
	 CLS_EV_BIT(CLS_EV_RELEASE) | CLS_EV_BIT(CLS_EV_ROLLBACK_TO))

/* Record what a statement forwarded on sv asks of the session (r: its classification, sql: its text). */
void session_track(struct client *cl, struct server *sv, const struct cls_result *r, const char *sql);

/* A unit (Query, FunctionCall or Sync) was forwarded on sv. */
static inline void session_unit_sent(struct sess_journal *j)
{
	j->sent++;
}

/* An ErrorResponse for the client arrived on sv. */
static inline void session_error(struct sess_journal *j)
{
	j->failed = true;
}

/* The transaction on sv ended: apply or drop what it changed. */
void session_settle(struct server *sv);
/* The client's ReadyForQuery with this status arrived on sv: settle the transaction's changes if it ended. */
static inline void session_ready(struct sess_journal *j, struct server *sv, char status)
{
	j->done++;
	if (status != 'I')
		return; /* the transaction goes on: its changes wait for its end */
	if (j->n)
		session_settle(sv);
	j->failed = j->rollback = j->savepoint = j->unsure = false;
}

/* sv leaves its client: whatever is still pending can no longer be confirmed (the connection is reset). */
void session_drop_pending(struct server *sv);
static inline void session_unlinked(struct sess_journal *j, struct server *sv)
{
	j->done = j->sent; /* answers never seen (a retried read's) must not shift the next client's units */
	if (j->n)
		session_drop_pending(sv);
	j->failed = j->rollback = j->savepoint = j->unsure = false;
}

/* Free the journal's memory. */
void session_free(struct sess_journal *j);

#endif
