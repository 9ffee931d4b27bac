/* The session side of a linked server connection: its answers relayed to the client, and its session state. */
#include "session/hooks.h"
#include "backend/server.h"
#include "base/log.h"
#include "cluster/monitor.h"
#include "frontend/client.h"
#include "session/journal.h"
#include "session/prepared_conn.h"
#include "session/retry.h"
#include "session/ryw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void link_after_last(struct server *sv);

/* Statement pooling cannot keep a transaction open across statements; end both sides. */
static enum act statement_mode_violation(struct server *sv)
{
	if (sv->c.pending)
		return ACT_FLUSH_FIRST;
	server_close(sv, "transaction left open in statement pooling mode");
	return ACT_CLOSED;
}

/* A ReadyForQuery for the client: settle its session changes, hold it for the commit LSN, or decide when the
   server goes back to the pool. */
static enum act ready_msg(struct server *sv, struct client *cl, struct be_msg *m)
{
	char z = m->status;
	if (!(m->marks & BE_MARK_READY)) { /* once per message, however often it is looked at */
		m->marks |= BE_MARK_READY;
		session_ready(&sv->sj, sv, z);
		sv->pool->n_xacts += z == 'I'; /* SHOW STATS' transactions: each return to idle ends one */
	}
	/* The unit that wrote has ended: hold its ReadyForQuery until the commit LSN is known (ryw.c). */
	if (sv->ryw.pipelined || (sv->ryw.wrote && z == 'I' && sv->expect_z <= 1 && !sv->unsynced)) {
		/* What came before a held ReadyForQuery goes into the client's buffer (no write of its own:
		   it leaves with the ReadyForQuery); without a client, or memory, flush it as before. */
		if (sv->c.pending && conn_pending_to_peer(&sv->c) < 0)
			return ACT_FLUSH_FIRST;
		if (ryw_unit_done(sv, z))
			return sv->tx_status = z, ACT_CONSUMED;
	}
	sv->tx_status = z;
	if (sv->expect_z > 0)
		sv->expect_z--;
	sv->last_used = sv->c.w->now;
	int mode = cl ? client_pool_mode(cl) : POOL_SESSION;
	if (mode == POOL_STATEMENT && sv->tx_status != 'I' && sv->expect_z == 0)
		return statement_mode_violation(sv);
	/* Bytes before this Z are still pending: release once they and the Z reached the client. */
	if (cl && pool_releases_per_unit(cl) && !cl->pins && server_between_transactions(sv))
		return ACT_SEND_LAST;
	if (cl && cl->reroute && sv->expect_z == 0)
		return ACT_SEND_LAST; /* after_last decides what the held statement does */
	if (cl && mode == POOL_SESSION && atomic_load(&g_shared.shutdown) == 1 && server_between_transactions(sv))
		return ACT_SEND_LAST;
	return ACT_SEND;
}

/* An ErrorResponse for the client: its transaction's session changes will not stay; a FATAL ends the backend, and
   25006 from the primary means it was demoted. */
static enum act error_msg(struct server *sv, struct be_msg *m)
{
	session_error(&sv->sj);
	const struct pg_error *e;
	if (be_msg_error(m, &e) < 0)
		return ACT_SEND;
	if (be_msg_fatal(m))
		sv->fatal_sent = true; /* the backend is going: its own error is the client's last word */
	if (sv->node == sv->pool->primary && e->sqlstate && strcmp(e->sqlstate, "25006") == 0) {
		/* The write node has become read-only (demoted): never reuse this connection, and look again. */
		sv->dirty = true;
		monitor_poke();
	}
	return ACT_SEND;
}

/* Results flowing to a linked client: forwarded, with ReadyForQuery deciding when to release. Each stage is asked
   only when it has work: the tracker when answers are owed, retry when a copy is kept. */
static enum act link_msg(struct server *sv, struct be_msg *m)
{
	struct client *cl = sv->client;
	if (sv->ps && prepared_answer_type(m->type)) {
		/* Answers to prepared statements pgrouter sent on its own are dropped here. */
		enum act a = prepared_server_msg(sv, m);
		if (a != ACT_SEND)
			return a;
	}
	if (cl && cl->retry) {
		enum act a = retry_check(sv, m);
		if (a != ACT_SEND)
			return a;
	}
	switch (m->type) {
	case 'Z': return m->body ? ready_msg(sv, cl, m) : ACT_NEED_FULL;
	case 'E': return m->body ? error_msg(sv, m) : ACT_NEED_FULL;
	case 'S':
		if (!m->body)
			return ACT_NEED_FULL;
		if (m->name) {
			params_set(&sv->params, m->name, m->value);
			/* The client changed a reported setting: it is now part of its session. */
			const char *canon = param_canonical(m->name);
			if (cl && canon)
				params_set(&cl->params, canon, m->value);
		}
		return ACT_SEND;
	default: return ACT_SEND;
	}
}

/* The answer to pgrouter's commit-LSN query; once the held ReadyForQuery went out, release as at any Z. */
static enum act link_ryw_msg(struct server *sv, struct be_msg *m)
{
	bool done = false;
	enum act a = (enum act)ryw_answer_msg(sv, m, &done);
	struct client *cl = sv->client;
	if (!done || !cl || cl->c.closing)
		return a;
	if (pool_releases_per_unit(cl) && !cl->pins && server_between_transactions(sv))
		link_after_last(sv);
	return sv->c.closing ? ACT_CLOSED : a;
}

/* The consistency_store answered for sv's commit: the held ReadyForQuery goes out, then release as at any Z. */
static void link_ryw_stored(struct server *sv)
{
	ryw_stored(sv);
	struct client *cl = sv->client;
	if (cl && !cl->c.closing && pool_releases_per_unit(cl) && !cl->pins && server_between_transactions(sv))
		link_after_last(sv);
}

/* sv has just left cl at the end of a transaction: back to the pool, or kept as cl's home (SV_HELD) when it is
   the primary connection of a session that routes reads. */
static void release_from(struct server *sv, struct client *cl)
{
	struct pool *p = sv->pool;
	if (!pool_session_routes(p) || sv->node != p->primary || sv->dirty || cl->c.closing || cl->home) {
		server_release(sv);
		return;
	}
	/* Its session's primary connection: kept for it, clean between transactions, for its next write. */
	session_unlinked(&sv->sj, sv);
	sv->state = SV_HELD;
	sv->state_since = sv->c.w->now;
	sv->last_used = sv->c.w->now;
	sv->holder = cl;
	cl->home = sv;
}

/* The ReadyForQuery that ended the client's transaction reached it: the server goes back to the pool. */
static void link_after_last(struct server *sv)
{
	struct client *cl = sv->client;
	if (!cl)
		return;
	if (!server_is_clean(sv)) {
		/* A statement held back for another node, but the replica is now inside a transaction: the
		   statement belongs to that transaction, on this node (where a write fails with 25006, as it must). */
		if (cl->reroute && sv->expect_z == 0) {
			cl->reroute = false;
			cl->c.paused = false;
			if (iobuf_len(cl->c.in))
				conn_drive(&cl->c);
		}
		return;
	}
	client_unlink(cl);
	release_from(sv, cl);
	if (atomic_load(&g_shared.shutdown) == 1) {
		client_close(cl, "57P01", "pgrouter is shutting down");
		return;
	}
	/* Input the client sent meanwhile (the next transaction, or a statement held back for
	   another node) is processed now. */
	cl->reroute = false;
	cl->c.paused = false;
	if (iobuf_len(cl->c.in) && !cl->c.closing)
		conn_drive(&cl->c);
}

/* Our SET was the client's wish; the server's spelling of it ("ISO, MDY") is what it now has. */
static void link_own_param(struct server *sv, const char *canon, const char *value)
{
	params_set(&sv->client->params, canon, value);
}

/* pgrouter's own query failed with a client linked: a refused startup setting fails its login, otherwise the
   client is told its session may differ. */
static void link_own_error(struct server *sv, const struct pg_error *e)
{
	struct client *cl = sv->client;
	if (cl->probing) {
		/* A startup setting the server refuses: the login fails with the server's own words. */
		if (!cl->probe_state[0]) {
			snprintf(cl->probe_state, sizeof cl->probe_state, "%s", e->sqlstate ? e->sqlstate : "22023");
			cl->probe_msg = e->message ? strdup(e->message) : NULL;
		}
		return;
	}
	char note[300];
	snprintf(note, sizeof note, "pgrouter could not restore a session setting: %s", e->message ? e->message : "?");
	if (conn_can_inject(&cl->c) && msg_notice(conn_out(&cl->c), "01000", note) == 0)
		conn_flush_out(&cl->c);
}

/* pgrouter's own queries ended with a client linked: a login probe finishes (true), anything else goes on. */
static bool link_own_done(struct server *sv)
{
	if (!sv->client->probing)
		return false;
	client_probe_done(sv->client);
	return true;
}

/* The server under cl closes: cl goes too (sqlstate NULL: without an error message). */
static void link_client_lost(struct client *cl, const char *sqlstate, const char *msg)
{
	cl->server = NULL;
	client_close(cl, sqlstate, msg);
}

/* The primary connection kept for holder's session closes: it takes another when it needs one. */
static void link_home_lost(struct client *holder)
{
	holder->home = NULL;
}

/* sv leaves its client: changes its transaction has not confirmed can no longer be. */
static void link_unlinked(struct server *sv)
{
	session_unlinked(&sv->sj, sv);
}

/* sv is freed: the journal and the prepared-statement tracker go with it. */
static void link_freed(struct server *sv)
{
	session_free(&sv->sj);
	prepared_server_free(sv);
}

static const struct server_link_ops link_ops = {
	.on_msg = link_msg,
	.on_ryw_msg = link_ryw_msg,
	.ryw_stored = link_ryw_stored,
	.after_last = link_after_last,
	.own_param = link_own_param,
	.own_error = link_own_error,
	.own_done = link_own_done,
	.client_lost = link_client_lost,
	.home_lost = link_home_lost,
	.lost = retry_or_fail,
	.unlinked = link_unlinked,
	.forget = prepared_server_forget,
	.release_ok = prepared_server_release_ok,
	.reset = prepared_server_reset,
	.freed = link_freed,
};

void server_link_init(void)
{
	server_set_link_ops(&link_ops);
}
