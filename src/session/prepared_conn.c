/* Prepared statements on real connections: feeds client messages and server answers to the tracker. */
#include "session/prepared_conn.h"
#include "pool/pool.h"
#include "session/catalog_wait.h"
#include "sql/classify.h"
#include "frontend/client.h"
#include "session/clientroute.h"
#include "io/conn.h"
#include "base/log.h"
#include "prepared/prepared.h"
#include "prepared/prepared_guard.h"
#include "proto/cursor.h"
#include "backend/server.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PS_SCAN_MAX 65536 /* longer Query / unnamed Parse texts are not searched for DEALLOCATE */

void prepared_client_start(struct client *cl)
{
	const struct config *cfg = cl->c.w->cfg;
	if (cfg->max_prepared_statements > 0 && cl->pool && pool_releases_per_unit(cl) && !cl->ps)
		cl->ps = ps_client_new(); /* without memory the client simply is not tracked */
}

void prepared_client_free(struct client *cl)
{
	ps_client_free(cl->ps);
	cl->ps = NULL;
}

bool prepared_wants_full(const struct client *cl, uint8_t type, uint32_t len)
{
	if (!cl->ps)
		return false;
	/* What is buffered of the message so far: its statement name comes (almost) first. */
	const struct conn *c = &cl->c;
	uint32_t avail = iobuf_len(c->in) - c->pending;
	avail = avail > PROTO_HDR ? avail - PROTO_HDR : 0;
	struct cursor cur = cur_make(c->in->data + c->in->rpos + c->pending + PROTO_HDR, avail);
	switch (type) {
	case 'P': /* a named Parse is interned; an unnamed one may be a DEALLOCATE worth reading */
		return len - 4 <= PS_SCAN_MAX || cur_u8(&cur) != 0 || cur.err;
	case 'B': /* portal, then the statement name: only a named statement is rewritten */
		cur_cstr(&cur, NULL);
		return cur_u8(&cur) != 0 || cur.err;
	case 'Q': return len - 4 <= PS_SCAN_MAX;
	case 'D':
	case 'C': return true; /* small messages */
	default: return false;
	}
}

/* The first 'd' or 'D' in [p, end), or NULL (memchr is vectorised: every simple Query passes here). */
static const char *next_d(const char *p, const char *end)
{
	const char *lo = memchr(p, 'd', (size_t)(end - p));
	const char *up = memchr(p, 'D', (size_t)((lo ? lo : end) - p));
	return up ? up : lo;
}

/* Case-insensitive "dealloc" or "discard" somewhere in the text (cheap test before classifying). */
static bool mentions_dealloc(const char *s, size_t n)
{
	const char *end = s + n;
	for (const char *p = s; (p = next_d(p, end)) != NULL && end - p >= 7; p++)
		if (strncasecmp(p + 1, "ealloc", 6) == 0 || strncasecmp(p + 1, "iscard", 6) == 0)
			return true;
	return false;
}

/* DEALLOCATE [ALL] / DISCARD ALL statements in a Query or unnamed Parse text; false when there are none. */
static bool find_sql(struct client *cl, const struct fe_msg *m, struct ps_sql *out, char *name, size_t cap)
{
	if (m->type == 'P' && (!m->stmt || m->stmt_len > 0))
		return false; /* a named statement is never executed by its Parse */
	struct cls_result own;
	/* This very message, classified for routing: most have no events, and need no second look at the text. */
	const struct cls_result *rp = m->cls;
	if (rp && rp->n_events == 0)
		return false;
	if (!m->sql || m->sql_len > PS_SCAN_MAX)
		return false;
	if (!rp) {
		if (!mentions_dealloc(m->sql, m->sql_len) || !clientroute_classify(cl, m->sql, m->sql_len, &own))
			return false;
		rp = &own;
	}
	out->n = 0;
	out->name = NULL;
	for (int i = 0; i < rp->n_events && i < CLS_MAX_EVENTS && out->n < PS_SQL_MAX; i++) {
		const struct cls_event *e = &rp->ev[i];
		if (e->kind == CLS_EV_DEALLOCATE_ALL)
			out->kind[out->n++] = PS_SQL_DEALLOCATE_ALL;
		else if (e->kind == CLS_EV_DISCARD && e->sub == CLS_DISCARD_ALL)
			out->kind[out->n++] = PS_SQL_DISCARD_ALL;
		else if (e->kind == CLS_EV_DEALLOCATE)
			out->kind[out->n++] = PS_SQL_DEALLOCATE;
	}
	/* A lone "DEALLOCATE name" can be rewritten; inside a longer text it is left to the server. */
	if (out->n == 1 && out->kind[0] == PS_SQL_DEALLOCATE && rp->n_stmts == 1 && rp->n_events == 1 &&
	    !(rp->ev[0].flags & CLS_EVF_TRUNCATED)) {
		snprintf(name, cap, "%s", rp->ev[0].name);
		out->name = name;
	}
	return out->n > 0;
}

/* The tracker's writes go after everything already decided for the server. */
static struct iobuf **server_out(void *ctx)
{
	struct client *cl = ctx;
	if (conn_pending_to_peer(&cl->c) < 0)
		return NULL;
	return conn_out(&cl->server->c);
}

/* A named Parse went out: classify its statement now, once, for every later Bind (routing). */
static void classify_at_parse(struct client *cl, const struct fe_msg *m)
{
	struct ps_stmt *st = m->stmt && m->stmt_len ? ps_client_find(cl->ps, m->stmt, m->stmt_len) : NULL;
	const char *sql;
	size_t len;
	if (st)
		(void)prepared_cls(cl, st, &sql, &len);
}

/* prepared_guard's classifier: routing's, for the client ctx. */
static bool guard_classify(void *ctx, const char *sql, size_t len, struct cls_result *out)
{
	return clientroute_classify(ctx, sql, len, out);
}

enum act prepared_client_msg(struct client *cl, const struct fe_msg *m)
{
	uint8_t type = m->type;
	const uint8_t *body = m->body;
	struct server *sv = cl->server;
	struct worker *w = cl->c.w;
	if (!cl->ps)
		return ACT_SEND;
	if (!sv->ps && !(sv->ps = ps_server_new()))
		goto nomem;
	if (!w->ps_intern && !(w->ps_intern = ps_intern_new(w->id)))
		goto nomem;
	/* Other clients' server-side names stay out of reach (a statement classified just now without events
	   names none). */
	const struct cls_result *routed = m->cls;
	/* The bytes are the client's own and not forwarded yet: the guard may change them in place. */
	if (m->sql && !(routed && !(routed->ev_kinds & GUARDED_EVENTS)))
		prepared_guard((char *)m->sql, m->sql_len, routed, guard_classify, cl);
	struct ps_sql sql;
	char name[CLS_NAME_MAX + 1];
	bool has_sql = body && (type == 'Q' || type == 'P') && find_sql(cl, m, &sql, name, sizeof name);
	/* Only a Parse interns a statement, under the session's search_path. */
	struct ps_env env = { .intern = w->ps_intern,
		              .max_stmts = w->cfg->max_prepared_statements,
		              .scope = type == 'P' ? params_get(&cl->params, "search_path") : NULL };
	struct ps_out out = { server_out, cl };
	switch (ps_client_message(&env, cl->ps, sv->ps, m, has_sql ? &sql : NULL, &out)) {
	case PS_FORWARD: return ACT_SEND;
	case PS_REPLACED:
		if (type == 'P' && w->cfg->routing)
			classify_at_parse(cl, m);
		return ACT_CONSUMED;
	case PS_WAIT:
		/* Held until the server answers an earlier group; what is already decided must reach it. */
		ps_client_set_waiting(cl->ps);
		log_debug(cl->c.prefix, "prepared statements: %c waits for the server's answers", type);
		conn_flush_out(&sv->c);
		return ACT_PAUSE;
	case PS_NOMEM: break;
	}
nomem:
	client_close(cl, "53200", "out of memory while tracking prepared statements");
	return ACT_CLOSED;
}

enum act prepared_server_msg(struct server *sv, struct be_msg *m)
{
	uint8_t type = m->type;
	/* Later handlers may ask for the same message again (need it whole, flush first): decide once. This comes
	   first: deciding may have used up what the tracker owed, so the test below could answer otherwise. */
	if (m->marks & BE_MARK_PS)
		return m->marks & BE_MARK_PS_HIDE ? ACT_SKIP : ACT_SEND;
	/* Nothing owed about it (a CommandComplete when no DEALLOCATE is pending, anything when nothing is owed): the
	   tracker has no work. */
	if (!ps_server_wants(sv->ps, type))
		return ACT_SEND;
	enum ps_answer a = ps_server_answer(sv->ps, type, m->body, m->body ? m->len - 4 : 0);
	if (a == PSA_NEED_BODY)
		return ACT_NEED_FULL;
	if (ps_server_broken(sv->ps)) {
		log_error(sv->c.prefix, "BUG: the server's answers do not match the prepared statements sent (type %c)",
		          type);
		server_close(sv, "prepared statement bookkeeping lost track of the server's answers");
		return ACT_CLOSED;
	}
	m->marks |= BE_MARK_PS | (a == PSA_HIDE ? BE_MARK_PS_HIDE : 0);
	/* A client held for these answers goes on, from the event loop (not inside this server's handler). */
	struct client *cl = sv->client;
	if (ps_server_take_progress(sv->ps) && cl && cl->ps && ps_client_take_waiting(cl->ps) && !cl->c.closing) {
		cl->c.paused = false;
		event_active(&cl->c.ev, EV_READ, 0);
	}
	return a == PSA_HIDE ? ACT_SKIP : ACT_SEND;
}

void prepared_server_forget(struct server *sv)
{
	ps_server_forget(sv->ps);
}

void prepared_server_unsure(struct server *sv)
{
	ps_server_unsure(sv->ps);
}

void prepared_server_linked(struct server *sv)
{
	ps_server_unnamed_gone(sv->ps);
}

void prepared_server_free(struct server *sv)
{
	ps_server_free(sv->ps);
	sv->ps = NULL;
}

bool prepared_server_release_ok(struct server *sv)
{
	if (!sv->ps || (ps_server_quiet(sv->ps) && !ps_server_broken(sv->ps)))
		return true;
	log_error(sv->c.prefix, "BUG: released while answers about prepared statements are owed");
	ps_server_forget(sv->ps);
	return false;
}

void prepared_server_reset(struct server *sv, const char *query)
{
	if (!sv->ps || !ps_server_count(sv->ps))
		return;
	struct cls_result r;
	if (classify(query, strlen(query), NULL, &r) != 0)
		return;
	for (int i = 0; i < r.n_events && i < CLS_MAX_EVENTS; i++) {
		const struct cls_event *e = &r.ev[i];
		if (e->kind == CLS_EV_DEALLOCATE_ALL || (e->kind == CLS_EV_DISCARD && e->sub == CLS_DISCARD_ALL))
			ps_server_dropped_all(sv->ps);
	}
}

const char *prepared_unnamed_text(const struct client *cl, uint32_t *len)
{
	return cl->ps ? ps_client_unnamed_text(cl->ps, len) : NULL;
}

struct ps_stmt *prepared_named(const struct client *cl, struct fe_msg *m)
{
	if (!cl->ps || !m->stmt || !m->stmt_len || (m->type != 'B' && m->type != 'D'))
		return NULL;
	return ps_client_named(cl->ps, m);
}

const struct cls_result *prepared_cls(struct client *cl, struct ps_stmt *st, const char **sql, size_t *len)
{
	uint32_t tl;
	*sql = ps_stmt_text(st, &tl);
	*len = tl;
	uint64_t *gen;
	struct cls_result **slot = ps_stmt_cls_slot(st, &gen);
	/* Classified at its first use; again only if it named functions of unknown volatility and the
	   catalog has learned more since. */
	if (*slot && (*slot)->n_unknown) {
		struct cls_env env;
		catalog_env(cl->pool, &env);
		if (env.generation != *gen) {
			free(*slot);
			*slot = NULL;
		}
	}
	if (!*slot) {
		struct cls_result *r = malloc(sizeof *r);
		if (!r || !clientroute_classify(cl, *sql, *len, r)) {
			free(r);
			return NULL;
		}
		struct cls_env env;
		catalog_env(cl->pool, &env);
		*gen = env.generation;
		*slot = r;
	}
	return *slot;
}

uint64_t prepared_fingerprint(struct ps_stmt *st)
{
	uint64_t *fp = ps_stmt_fp_slot(st);
	if (!*fp) {
		uint32_t tl;
		const char *sql = ps_stmt_text(st, &tl);
		*fp = cls_fingerprint(sql, tl);
	}
	return *fp;
}
