/* Read retries: a replica's refused, conflicted or lost read is re-run elsewhere before any row reached the client. */
#include "session/retry.h"
#include "frontend/client.h"
#include "session/clientroute.h"
#include "io/conn.h"
#include "base/log.h"
#include "pool/pool_metrics.h"
#include "pool/pool.h"
#include "session/prepared_conn.h"
#include "backend/server.h"

#include <string.h>

bool retry_possible(const struct server *sv)
{
	const struct client *cl = sv->client;
	return cl && cl->retry && sv->node != sv->pool->primary && sv->expect_z == 1 && !sv->unsynced &&
	        sv->c.pending == 0 && cl->c.pending == 0 && cl->c.pkt_remain == 0;
}

/* Run the client's kept unit again: on the primary (a refused write) or on another node. sv goes back to the
   pool when reusable is set and it is clean, else it is closed. */
static void rerun(struct server *sv, bool on_primary, bool reusable, const char *why)
{
	struct client *cl = sv->client;
	struct worker *w = sv->c.w;
	struct iobuf *copy = cl->retry;
	bool keep = reusable && !sv->expect_z && !sv->unsynced && sv->tx_status == 'I';
	if (!keep)
		prepared_server_forget(sv); /* while its client, whose names it may have changed, is still linked */
	cl->retry = NULL;
	sv->retry_swallow = false;
	buf_put(w, sv->held); /* the re-run describes its result again */
	sv->held = NULL;
	client_unlink(cl);
	if (on_primary && sv->retry_learn)
		clientroute_learn_message(w, copy->data, copy->wpos);
	bool ok = conn_unread(&cl->c, copy->data, copy->wpos) == 0;
	buf_put(w, copy);
	w->n_retries++;
	metrics_node_error(w, sv->pool, sv->node);
	cl->retry_exclude |= 1u << sv->node;
	cl->retrying = true;
	cl->force_primary = on_primary;
	if (on_primary && sv->retry_learn)
		log_info(cl->c.prefix,
		         "replica %s:%d refused a statement as a write (25006); re-running it on the primary",
		         sv->pool->host[sv->node], sv->pool->port[sv->node]);
	else if (on_primary)
		log_info(cl->c.prefix,
		         "replica %s:%d does not have an object the read uses yet (%s); re-running it on the primary",
		         sv->pool->host[sv->node], sv->pool->port[sv->node], why);
	else
		log_info(cl->c.prefix,
		         "read on replica %s:%d failed before any row was sent (%s); re-running it elsewhere",
		         sv->pool->host[sv->node], sv->pool->port[sv->node], why);
	if (keep)
		server_release(sv);
	else
		server_close(sv, why);
	if (!ok) {
		client_close(cl, "53200", "out of memory while retrying a read");
		return;
	}
	cl->c.paused = false;
	conn_drive(&cl->c);
}

void retry_or_fail(struct server *sv, const char *why)
{
	if (retry_possible(sv))
		rerun(sv, sv->retry_swallow && sv->retry_to_primary, false, why);
	else
		server_close(sv, why);
}

/* Errors that say "this node cannot run it now", not "this statement is wrong". */
static bool retryable(const char *sqlstate)
{
	return strcmp(sqlstate, "25006") == 0 || strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "57P01") == 0 ||
	        strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
}

/* "Not there yet": an object the replica has not replayed (a table, function or type created a moment ago
   on the primary, or a catalog entry it lacks). The primary always answers for it (if the object does not exist
   there either, the client gets the primary's error): the monitor's last look at the replica's lag predates the
   read, so "caught up" then cannot vouch for the moment the read ran (a table created just before it is missed). */
static bool not_there_yet(const struct pg_error *e)
{
	return strcmp(e->sqlstate, "42P01") == 0 || strcmp(e->sqlstate, "42883") == 0 ||
	        strcmp(e->sqlstate, "42704") == 0 ||
	        (strcmp(e->sqlstate, "XX000") == 0 && e->message && strstr(e->message, "cache lookup failed"));
}

/* The ReadyForQuery after a swallowed error: the server is free again, the unit runs elsewhere. */
static enum act after_swallow(struct server *sv, char z)
{
	sv->tx_status = z;
	if (sv->expect_z > 0)
		sv->expect_z--;
	rerun(sv, sv->retry_to_primary, true,
	      sv->retry_learn                ? "25006 read-only"
	              : sv->retry_to_primary ? "not there yet"
	                                     : "recovery conflict");
	return sv->c.closing ? ACT_CLOSED : ACT_CONSUMED;
}

/* A complete ErrorResponse while the read may still be re-run: ACT_SKIP when it is swallowed (the re-run follows
   its ReadyForQuery), ACT_CLOSED after a FATAL one re-ran it at once, ACT_SEND when it is the client's. */
static enum act retry_error(struct server *sv, struct be_msg *m)
{
	const struct pg_error *e;
	if (be_msg_error(m, &e) < 0 || !e->sqlstate)
		return ACT_SEND;
	bool missing = not_there_yet(e);
	if (!retryable(e->sqlstate) && !missing)
		return ACT_SEND;
	sv->retry_to_primary = strcmp(e->sqlstate, "25006") == 0 || missing;
	sv->retry_learn = strcmp(e->sqlstate, "25006") == 0; /* a write in disguise: remember its shape */
	if (be_msg_fatal(m)) {
		/* The backend is going away: no ReadyForQuery will follow. */
		char why[80];
		snprintf(why, sizeof why, "%s %s", e->severity, e->sqlstate);
		rerun(sv, sv->retry_to_primary, false, why);
		return ACT_CLOSED;
	}
	sv->retry_swallow = true;
	buf_put(sv->c.w, sv->held);
	sv->held = NULL;
	return ACT_SKIP;
}

enum act retry_check(struct server *sv, struct be_msg *m)
{
	struct client *cl = sv->client;
	uint8_t type = m->type;
	if (sv->retry_swallow)
		return type == 'Z' ? (m->body ? after_swallow(sv, m->status) : ACT_NEED_FULL) : ACT_SKIP;
	bool eligible = retry_possible(sv);
	/* Parse/Bind completions and descriptions come before execution: hold them back, they are not rows. */
	bool describes = type == '1' || type == '2' || type == 't' || type == 'T' || type == 'n';
	uint32_t held = sv->held ? sv->held->wpos : 0;
	if (describes && eligible && held + m->len + 1 <= (uint32_t)sv->c.w->cfg->pkt_buf) {
		if (!m->body)
			return ACT_NEED_FULL;
		if (sv->held || (sv->held = buf_get(sv->c.w)) != NULL) {
			memcpy(sv->held->data + held, m->body - PROTO_HDR, m->len + 1);
			sv->held->wpos = held + m->len + 1;
			return ACT_CONSUMED;
		}
	}
	if (type == 'E' && eligible) {
		if (!m->body)
			return ACT_NEED_FULL;
		enum act a = retry_error(sv, m);
		if (a != ACT_SEND)
			return a;
	}
	/* The answer is the client's: release what was held, in order, and forget the copy. */
	if (sv->held) {
		int err = iobuf_append(conn_out(&cl->c), sv->held->data, sv->held->wpos);
		buf_put(sv->c.w, sv->held);
		sv->held = NULL;
		if (err) { /* the rows without their description would desynchronize the client: it gets 08006 */
			server_close(sv, "out of memory");
			return ACT_CLOSED;
		}
	}
	buf_put(sv->c.w, cl->retry);
	cl->retry = NULL;
	return ACT_SEND; /* the caller decides normally */
}
