/* The session pipeline's client target: routing, read-your-writes and statement tracking of a logged-in client. */
#include "session/pipeline.h"
#include "frontend/client_pause.h"
#include "backend/server.h"
#include "io/conn.h"
#include "pool/pool.h"
#include "session/clientroute.h"
#include "session/journal.h"
#include "session/prepared_conn.h"
#include "session/ryw.h"
#include "session/ryw_wait.h"

#include <string.h>

static enum act idle_client_msg(struct client *cl, struct fe_msg *m);

/* Forwarding while linked: count what the server owes us so that release happens at the right Z. */
static enum act linked_msg(struct client *cl, struct fe_msg *m)
{
	struct server *sv = cl->server;
	const uint8_t type = m->type;
	const uint32_t len = m->len;
	if (sv->retry_swallow)
		return ACT_PAUSE; /* a refused statement is about to be re-run elsewhere: keep the order */
	if (!m->body && prepared_wants_full(cl, type, len))
		return ACT_NEED_FULL;
	/* Read-your-writes bookkeeping only where it is on: off, none of it can ever ask for an LSN. */
	const bool ryw = cl->c.w->cfg->read_your_writes != RYW_OFF;
	if (ryw && !sv->unsynced && memchr("PBDECH", type, 6))
		ryw_batch_start(sv);
	if (type == 'Q' || type == 'P' || type == 'B') {
		enum act a = clientroute_linked(cl, m);
		if (a == ACT_PAUSE && cl->reroute && sv->expect_z == 0 && !sv->unsynced && cl->c.pending == 0) {
			/* Nothing was sent on this replica connection yet: give it back and route afresh now
			   (waiting for its work to finish would wait forever). */
			cl->reroute = false;
			client_unlink(cl);
			if (sv->skip_z > 0)
				server_close(sv, "released before pgrouter's own settings completed");
			else
				server_release(sv);
			return cl->c.closing ? ACT_CLOSED : idle_client_msg(cl, m);
		}
		if (a != ACT_SEND)
			return a;
	}
	/* FunctionCall may write; a Bind of a named statement the tracker does not know may too (with the
	   tracker, clientroute_linked notes the statement's own classification). */
	if (ryw && (type == 'F' || (type == 'B' && !cl->ps)))
		ryw_note_message(sv, m);
	/* Named prepared statements get their server-side names (ACT_CONSUMED: pgrouter wrote the message). */
	enum act pa = cl->ps ? prepared_client_msg(cl, m) : ACT_SEND;
	if (pa != ACT_SEND && pa != ACT_CONSUMED)
		return pa;
	switch (type) {
	case 'Q':
	case 'F':
		sv->expect_z++;
		session_unit_sent(&sv->sj);
		cl->c.w->n_queries++;
		cl->pool->n_queries++;
		if (type == 'Q' && sv->ryw.plan) {
			sv->ryw.plan = false; /* a write unit ends here: its commit LSN query rides along */
			return (enum act)ryw_send_with_query(cl, sv, pa, len, m->body);
		}
		return pa;
	case 'S': {
		bool ride = ryw && ryw_sync_ends_unit(sv); /* before this Sync counts as owed */
		sv->expect_z++;
		session_unit_sent(&sv->sj);
		sv->unsynced = false;
		sv->ryw.xvalid = false;
		return ride ? (enum act)ryw_send_with_query(cl, sv, pa, len, m->body) : pa;
	}
	case 'P':
	case 'B':
	case 'D':
	case 'E':
	case 'C':
	case 'H':
		sv->unsynced = true;
		if (type == 'E') {
			cl->c.w->n_queries++;
			cl->pool->n_queries++;
		}
		return pa;
	case 'd':
	case 'c':
	case 'f': return pa;
	case 'X':
		if (cl->c.pending)
			return ACT_FLUSH_FIRST;
		client_close(cl, NULL, NULL);
		return ACT_CLOSED;
	default: client_bad_input(&cl->c, "unexpected message type", &type, 1); return ACT_CLOSED;
	}
}

/* Between transactions: the first message of the next one asks the pool for a server. */
static enum act idle_client_msg(struct client *cl, struct fe_msg *m)
{
	uint8_t type = m->type;
	switch (type) {
	case 'X': client_close(cl, NULL, NULL); return ACT_CLOSED;
	case 'd':
	case 'c':
	case 'f': return ACT_SKIP; /* PostgreSQL ignores COPY messages outside COPY, and so do we */
	case 'Q':
	case 'P':
	case 'B':
	case 'D':
	case 'E':
	case 'C':
	case 'H':
	case 'S':
	case 'F': break;
	default: client_bad_input(&cl->c, "unexpected message type", &type, 1); return ACT_CLOSED;
	}
	/* A parked read was accepted, and a connection accepted before the listeners closed gets its transaction. */
	if (atomic_load(&g_shared.shutdown) && !ryw_resuming(cl) && !client_shutdown_spares(cl)) {
		client_close(cl, "57P01", "pgrouter is shutting down");
		return ACT_CLOSED;
	}
	if (pause_park(cl))
		return ACT_PAUSE; /* its database is paused: RESUME lets this message through */
	int node = 0;
	switch (clientroute_start(cl, m, &node)) {
	case RS_NEED_FULL: return ACT_NEED_FULL;
	case RS_DONE: return ACT_CONSUMED;
	case RS_CLOSED: return ACT_CLOSED;
	case RS_WAIT: return ACT_PAUSE; /* parked: ryw_unpark() dispatches it again */
	case RS_GO: break;
	}
	pool_acquire(cl->pool, &cl->wait, node);
	/* A failed replica may have rerouted and linked the client inside pool_acquire: trust the state. */
	if (cl->c.closing)
		return ACT_CLOSED;
	if (cl->state != CL_LINKED)
		return ACT_PAUSE;
	return linked_msg(cl, m);
}

/* A logged-in client's message while it is idle or linked (client_on_msg has dealt with the other states). */
static enum act session_client_msg(struct client *cl, struct fe_msg *m)
{
	if (cl->state == CL_LINKED)
		return linked_msg(cl, m);
	return idle_client_msg(cl, m);
}

void session_client_free(struct client *cl)
{
	prepared_client_free(cl);
	ryw_client_free(cl);
}

const struct client_target session_pipeline_target = {
	.claims = NULL,
	.startup_setting = ryw_client_set,
	.login = prepared_client_start,
	.on_msg = session_client_msg,
	.on_linked = prepared_server_linked,
	.on_free = session_client_free,
};
