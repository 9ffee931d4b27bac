/* Read-your-writes hooks: learn commit LSNs on primary connections, and say which replay LSN a read needs. */
#include "session/ryw.h"
#include "pool/pool.h"
#include "sql/classify.h"
#include "frontend/client.h"
#include "io/conn.h"
#include "base/log.h"
#include "base/iobuf.h"
#include "proto/codec.h"
#include "proto/cursor.h"
#include "frontend/client.h"
#include "cluster/ryw_store.h"
#include "backend/server.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Run on the primary after a committed write: insert LSN ≥ the commit record's end, even with
   synchronous_commit = off (the commit record is inserted before the function can run). */
#define LSN_QUERY "SELECT pg_current_wal_insert_lsn()"

int ryw_client_set(struct client *cl, const char *name, const char *value)
{
	if (strcasecmp(name, "pgrouter.consistency_key") == 0) {
		if (value && strlen(value) > RYW_KEY_MAX)
			return -1;
		free(cl->ryw.key);
		cl->ryw.key = value && *value ? strdup(value) : NULL;
		cl->ryw.store_lsn = 0; /* what the store said was about the old key */
		return 1;
	}
	if (strcasecmp(name, "pgrouter.min_lsn") == 0) {
		uint64_t lsn = 0;
		if (value && *value && ryw_parse_lsn(value, strlen(value), &lsn) < 0)
			return -1;
		cl->ryw.min_lsn = lsn;
		return 1;
	}
	return 0;
}

void ryw_client_free(struct client *cl)
{
	ryw_store_detach(cl->ryw.store_req);
	cl->ryw.store_req = NULL;
	free(cl->ryw.key);
	cl->ryw.key = NULL;
}

uint64_t ryw_required(struct client *cl, enum ryw_scope *scope)
{
	const struct config *cfg = cl->c.w->cfg;
	int64_t now = cl->c.w->now;
	if (cfg->read_your_writes == RYW_OFF)
		return 0;
	if (cl->ryw.until && now < cl->ryw.until) {
		*scope = RYW_SCOPE_WINDOW;
		return UINT64_MAX;
	}
	uint64_t need = cl->ryw.lsn;
	*scope = RYW_SCOPE_SESSION;
	if (cl->ryw.min_lsn > need) {
		need = cl->ryw.min_lsn;
		*scope = RYW_SCOPE_TOKEN;
	}
	if (cl->ryw.key) {
		uint64_t k = ryw_key_get(cl->ryw.key, now, cfg->ryw_key_ttl);
		if (cl->ryw.store_lsn > k)
			k = cl->ryw.store_lsn; /* other instances' commits, from the consistency_store */
		if (k > need) {
			need = k;
			*scope = RYW_SCOPE_KEY;
		}
	}
	return need;
}

/* Statements that only steer the transaction (BEGIN, COMMIT, SAVEPOINT, SET …) write nothing themselves. */
static bool only_control(const struct cls_result *r)
{
	if (r->n_stmts != r->n_events || (r->flags & CLS_F_EVENTS_OVERFLOW))
		return false;
	for (int i = 0; i < r->n_events && i < CLS_MAX_EVENTS; i++) {
		switch (r->ev[i].kind) {
		case CLS_EV_BEGIN:
		case CLS_EV_COMMIT:
		case CLS_EV_ROLLBACK:
		case CLS_EV_SAVEPOINT:
		case CLS_EV_RELEASE:
		case CLS_EV_ROLLBACK_TO:
		case CLS_EV_SET_TRANSACTION:
		case CLS_EV_SET:
		case CLS_EV_RESET: break;
		default: return false;
		}
	}
	return true;
}

/* Only primary connections of pools with replicas whose reads are routed (not plain session pooling) learn LSNs. */
static bool tracked(const struct server *sv)
{
	const struct pool *p = sv->pool;
	return sv->c.w->cfg->read_your_writes != RYW_OFF && p->nnodes > 1 && sv->node == p->primary &&
	        (p->pool_mode != POOL_SESSION || pool_session_routes(p));
}

/* Whether a transaction is open after rp runs, given whether one was open before. */
static bool open_after(bool open, const struct cls_result *rp)
{
	for (int i = 0; i < rp->n_events && i < CLS_MAX_EVENTS; i++) {
		if (rp->ev[i].kind == CLS_EV_BEGIN)
			open = true;
		else if (rp->ev[i].kind == CLS_EV_COMMIT || rp->ev[i].kind == CLS_EV_ROLLBACK ||
		         rp->ev[i].kind == CLS_EV_PREPARE_TXN)
			open = false;
	}
	return open;
}

/* COPY FROM STDIN reads client data after its statement: nothing of pgrouter's may follow it. */
static bool reads_copy_data(const struct cls_result *rp)
{
	return strcmp(rp->reason, "copy-from") == 0;
}

void ryw_note_statement(struct server *sv, const struct cls_result *rp)
{
	if (!tracked(sv))
		return;
	if (!rp) {
		sv->ryw.wrote = true; /* unknown text: assume it writes */
		sv->ryw.xvalid = false;
		return;
	}
	sv->ryw.xparsed = true;
	if ((rp->flags & CLS_F_EVENTS_OVERFLOW) || rp->n_stmts != 1 || reads_copy_data(rp))
		sv->ryw.xvalid = false;
	sv->ryw.xopen = open_after(sv->ryw.xopen, rp);
	/* A lone ROLLBACK commits nothing: what the transaction wrote is gone. */
	if (rp->n_stmts == 1 && rp->n_events == 1 && rp->ev[0].kind == CLS_EV_ROLLBACK) {
		sv->ryw.wrote = false;
		return;
	}
	if (rp->target == CLS_PRIMARY && !only_control(rp))
		sv->ryw.wrote = true;
}

void ryw_note_message(struct server *sv, const struct fe_msg *m)
{
	if (!tracked(sv))
		return;
	if (m->type == 'F') {
		sv->ryw.wrote = true;
		return;
	}
	if (m->type != 'B')
		return;
	/* Bind of a named statement: its Parse (and classification) came in an earlier unit. */
	if (!m->stmt || m->stmt_len > 0)
		sv->ryw.wrote = true;
}

bool ryw_query_ends_unit(const struct server *sv, const struct cls_result *rp)
{
	/* One statement only: a multi-statement string may hold a COPY FROM STDIN, which would take the LSN
	   query for COPY data. Those ask after the ReadyForQuery instead. */
	if (!sv->ryw.wrote || sv->c.w->cfg->read_your_writes != RYW_LSN || sv->expect_z != 0 || sv->unsynced ||
	    sv->ryw.asking || sv->ryw.pipelined || rp->n_stmts != 1 || (rp->flags & CLS_F_EVENTS_OVERFLOW) ||
	    reads_copy_data(rp))
		return false;
	return !open_after(sv->tx_status != 'I', rp);
}

void ryw_batch_start(struct server *sv)
{
	/* Only a batch that starts with nothing owed knows the transaction state it starts from. */
	sv->ryw.xvalid = sv->expect_z == 0 && !sv->ryw.asking && !sv->ryw.pipelined;
	sv->ryw.xopen = sv->tx_status != 'I';
	sv->ryw.xparsed = false;
}

void ryw_batch_bind(struct server *sv)
{
	if (sv->ryw.xparsed || !tracked(sv))
		return; /* runs the statement this batch parsed (and noted) */
	/* A statement parsed in an earlier batch (PQprepare then PQexecPrepared with an unnamed statement):
	   it may write, and it may be a COPY that nothing of pgrouter's may follow. */
	sv->ryw.xvalid = false;
	sv->ryw.wrote = true;
}

bool ryw_sync_ends_unit(const struct server *sv)
{
	return sv->ryw.xvalid && sv->unsynced && !sv->ryw.xopen && sv->ryw.wrote && sv->expect_z == 0 &&
	        !sv->ryw.asking && !sv->ryw.pipelined && sv->c.w->cfg->read_your_writes == RYW_LSN;
}

int ryw_send_with_query(struct client *cl, struct server *sv, int pa, uint32_t len, const uint8_t *body)
{
	if (pa == ACT_SEND && !body)
		return ACT_SEND; /* not buffered whole: the ReadyForQuery asks instead */
	struct iobuf **out = conn_out(&sv->c);
	/* The client's bytes already decided, then its Query, then ours: one write, one round trip. */
	if (pa == ACT_SEND && (conn_pending_to_peer(&cl->c) < 0 || iobuf_append(out, body - PROTO_HDR, len + 1) < 0)) {
		client_close(cl, "53200", "out of memory");
		return ACT_CLOSED;
	}
	if (msg_query(out, LSN_QUERY) == 0)
		sv->ryw.pipelined = true; /* otherwise the ReadyForQuery asks, as without pipelining */
	return ACT_CONSUMED;
}

/* Start waiting for the LSN query's answer; hold: the client's ReadyForQuery waits for it. */
static void await_answer(struct server *sv, bool hold, char z, bool rode)
{
	sv->ryw.rode = rode;
	sv->ryw.asking = true;
	sv->ryw.discard = !hold;
	sv->ryw.failed = false;
	sv->ryw.answer = 0;
	sv->ryw.held_z = z;
}

bool ryw_unit_done(struct server *sv, char z)
{
	struct client *cl = sv->client;
	if (sv->ryw.pipelined) {
		/* The LSN query is already on its way. A transaction the client left open (a failed COMMIT
		   prediction) gets its ReadyForQuery now, and the answer is dropped: the COMMIT will ask again. */
		sv->ryw.pipelined = false;
		bool hold = cl && z == 'I';
		if (hold)
			sv->ryw.wrote = false;
		await_answer(sv, hold, z, true);
		return hold;
	}
	if (!sv->ryw.wrote || !cl || z != 'I')
		return false; /* still inside the transaction: its COMMIT is the commit point */
	sv->ryw.wrote = false;
	const struct config *cfg = sv->c.w->cfg;
	if (cfg->read_your_writes == RYW_WINDOW) {
		cl->ryw.until = sv->c.w->now + cfg->ryw_window;
		return false;
	}
	if (cfg->read_your_writes != RYW_LSN)
		return false;
	if (!conn_can_inject(&sv->c) || msg_query(conn_out(&sv->c), LSN_QUERY) < 0) {
		/* Cannot ask: keep this client on the primary for a while rather than risk a stale read. */
		cl->ryw.until = sv->c.w->now + 1000000;
		return false;
	}
	conn_flush_out(&sv->c);
	await_answer(sv, true, z, false);
	return true;
}

/* The single text column of the LSN query's DataRow. */
static void read_row(struct server *sv, const uint8_t *body, uint32_t n)
{
	struct cursor c = cur_make(body, n);
	uint16_t cols = cur_u16(&c);
	uint32_t len = cur_u32(&c);
	const uint8_t *v = cols == 1 && len != 0xffffffffu ? cur_bytes(&c, len) : NULL;
	if (!v || ryw_parse_lsn((const char *)v, len, &sv->ryw.answer) < 0)
		sv->ryw.failed = true;
}

/* The consistency_store took (or failed to take) the commit LSN of server owner: its held ReadyForQuery goes out. */
static void store_answered(void *owner, uint64_t lsn)
{
	struct server *sv = owner;
	sv->ryw.store_req = NULL;
	if (!sv->c.closing)
		server_ryw_stored(sv);
}

/* The answer is complete: record the LSN everywhere it is needed. 1 when the held ReadyForQuery now waits
   for the consistency_store, 0 when it goes out now, -1 out of memory. */
static int learn(struct server *sv)
{
	struct client *cl = sv->client;
	struct worker *w = sv->c.w;
	if (!cl)
		return 0;
	if (sv->ryw.failed || !sv->ryw.answer) {
		cl->ryw.until = w->now + 1000000; /* no LSN: the primary serves this client for a second */
		log_warn(sv->c.prefix, "could not learn the commit LSN; client reads use the primary for 1s");
		return 0;
	}
	uint64_t lsn = sv->ryw.answer;
	char txt[32];
	if (lsn > cl->ryw.lsn)
		cl->ryw.lsn = lsn;
	if (cl->ryw.key)
		ryw_key_note(cl->ryw.key, lsn, w->now, w->cfg->ryw_key_ttl, w->cfg->ryw_key_max);
	ryw_count_learned(sv->ryw.rode);
	if (msg_param_status(conn_out(&cl->c), "pgrouter.lsn", ryw_format_lsn(lsn, txt, sizeof txt)))
		return -1;
	/* Other instances may read this key as soon as the client has its ReadyForQuery: store it first. */
	if (cl->ryw.key && (sv->ryw.store_req = ryw_store_set(w, cl->ryw.key, lsn, store_answered, sv))) {
		sv->ryw.storing = true;
		return 1;
	}
	return 0;
}

/* Give the client the held ReadyForQuery (err: out of memory already, close it instead). */
static void release_z(struct server *sv, int err)
{
	struct client *cl = sv->client;
	sv->ryw.asking = false;
	if (!cl)
		return;
	err |= msg_ready(conn_out(&cl->c), sv->ryw.held_z);
	if (err)
		client_close(cl, "53200", "out of memory");
	else
		conn_flush_out(&cl->c);
}

void ryw_stored(struct server *sv)
{
	sv->ryw.storing = false;
	if (sv->expect_z > 0)
		sv->expect_z--; /* kept until now so that the server is not handed back while the store works */
	release_z(sv, 0);
}

int ryw_answer_msg(struct server *sv, struct be_msg *m, bool *done)
{
	*done = false;
	if (sv->ryw.storing)
		return ACT_PAUSE; /* answers to pipelined statements wait behind the held ReadyForQuery */
	if (m->type == 'A' || m->type == 'N')
		return ACT_SEND; /* notifications and notices still belong to the client */
	if (!m->body)
		return ACT_NEED_FULL;
	if (sv->c.pending)
		return ACT_FLUSH_FIRST; /* consumed messages must not overtake bytes already decided */
	switch (m->type) {
	case 'D': read_row(sv, m->body, m->len - 4); break;
	case 'E': sv->ryw.failed = true; break;
	case 'S':
		if (m->name)
			params_set(&sv->params, m->name, m->value);
		break;
	case 'Z': {
		sv->tx_status = m->status;
		if (sv->ryw.discard) { /* the transaction stayed open: the client has its ReadyForQuery, the answer is dropped */
			sv->ryw.discard = false;
			sv->ryw.asking = false;
			*done = true;
			break;
		}
		int r = learn(sv);
		if (r > 0)
			break; /* server_ryw_stored finishes the unit */
		if (sv->expect_z > 0)
			sv->expect_z--; /* the client's held ReadyForQuery is delivered now */
		release_z(sv, r);
		*done = true;
		break;
	}
	default: break; /* RowDescription, CommandComplete */
	}
	return ACT_CONSUMED;
}
