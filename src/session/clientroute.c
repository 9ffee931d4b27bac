/* Per-statement routing for a client: statement text, classification, node choice, session effects. */
#include "session/clientroute.h"
#include "cluster/catalog.h"
#include "session/catalog_wait.h"
#include "proto/resultset.h"
#include "sql/classify.h"
#include "frontend/client.h"
#include "io/conn.h"
#include "base/log.h"
#include "cluster/monitor.h"
#include "pool/pool_metrics.h"
#include "pool/pool.h"
#include "session/prepared_conn.h"
#include "policy/router.h"
#include "session/ryw.h"
#include "cluster/ryw_store.h"
#include "session/ryw_wait.h"
#include "session/journal.h"

#include <regex.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CLASSIFY_MAX_TEXT (1u << 20) /* larger statements are not parsed: they go to the primary */

bool clientroute_classify(struct client *cl, const char *sql, size_t len, struct cls_result *out)
{
	if (len > CLASSIFY_MAX_TEXT)
		return false;
	struct cls_env env;
	catalog_env(cl->pool, &env);
	struct worker *w = cl->c.w;
	/* The same statement seen with other literals (a fast-path verdict no literal can change), else the same
	   text (a libpg_query verdict), else the fast path (kept by shape), else libpg_query (kept by text). */
	char shape[CLS_SHAPE_MAX];
	int sl = w->cls_shapes ? cls_shape_key(sql, len, shape, sizeof shape) : -1;
	bool hit = (sl >= 0 && cls_cache_get(w->cls_shapes, shape, (size_t)sl, env.generation, out)) ||
	        cls_cache_get(w->cls_cache, sql, len, env.generation, out);
	if (!hit && classify_fast(sql, len, &env, out)) {
		if (sl >= 0 && cls_shape_cacheable(out))
			cls_cache_put(w->cls_shapes, shape, (size_t)sl, env.generation, out);
	} else if (!hit) {
		if (classify_full(sql, len, &env, out) != 0)
			return false;
		cls_cache_put(w->cls_cache, sql, len, env.generation, out);
	}
	if (out->n_unknown)
		catalog_request(cl->pool, out);
	return true;
}

/* Is r stricter than the batch's verdict so far (the strictest statement wins)? */
static bool stricter(const struct cls_result *r, const struct cls_result *best)
{
	return !best || r->target > best->target || (r->hint && !best->hint);
}

/* The strictest statement of a batch so far: its classification (NULL: none yet), text and fingerprint. */
struct batch_best {
	const struct cls_result *r;
	const char *sql;
	size_t len;
	uint64_t fp;
	bool own; /* r is one of the batch's own classifications (a Parse of it, or its unnamed statement) */
};

/* One message of a batch: a Parse's text, or the statement a Bind or Describe names (as classified at its
   first use), becomes best when stricter; buf holds a classification made here. False when a Parse cannot be
   classified (the caller stays on the primary). */
static bool batch_step(struct client *cl, struct fe_msg *fm, struct cls_result *buf, struct batch_best *best)
{
	if (fm->type == 'P') {
		struct cls_result r;
		if (!fm->sql || !clientroute_classify(cl, fm->sql, fm->sql_len, &r))
			return false;
		if (stricter(&r, best->r)) {
			*buf = r;
			*best = (struct batch_best){ buf, fm->sql, fm->sql_len, 0, true };
		}
		return true;
	}
	if (fm->type != 'B' && fm->type != 'D')
		return true;
	struct ps_stmt *st = prepared_named(cl, fm);
	const char *sql;
	size_t tl;
	const struct cls_result *r = st ? prepared_cls(cl, st, &sql, &tl) : NULL;
	uint32_t ul;
	if (!st && fe_unnamed_stmt(fm) && (sql = prepared_unnamed_text(cl, &ul)) != NULL && !best->own) {
		/* The unnamed statement of an earlier batch: what it does decides, as if parsed here (when the batch
		   parsed a statement already, that Parse is the statement the Bind uses). */
		if (!clientroute_classify(cl, sql, ul, buf))
			return false;
		r = buf;
		tl = ul;
	}
	if (r && stricter(r, best->r))
		*best = (struct batch_best){ r, sql, tl, st ? prepared_fingerprint(st) : 0, r == buf };
	return true;
}

/* Combine the statements of an extended-protocol batch buffered up to its Sync, starting with m (whole): the
   strictest wins. The first Parse is classified into m's own room (forwarding it reuses that), the others into
   buf. Fills *best and *batch_len; false when the batch is not all buffered (then the caller stays on the
   primary). */
static bool classify_batch(struct client *cl, struct fe_msg *m, struct cls_result *buf, struct batch_best *best,
                           uint32_t *batch_len)
{
	memset(best, 0, sizeof *best);
	if (!m->body)
		return false;
	if (m->type == 'P') {
		if (!m->sql || !clientroute_classify(cl, m->sql, m->sql_len, m->cls_buf))
			return false;
		m->cls = m->cls_buf;
		*best = (struct batch_best){ m->cls, m->sql, m->sql_len, 0, true };
	} else if (!batch_step(cl, m, buf, best)) {
		return false;
	}
	const uint8_t *start = m->body - PROTO_HDR, *p = start + m->len + 1;
	size_t left = iobuf_len(cl->c.in) - cl->c.pending - (m->len + 1);
	while (left >= PROTO_HDR) {
		struct fe_msg fm;
		uint8_t type;
		uint32_t len;
		if (proto_frame(p, left, FROM_CLIENT, PHASE_READY, (uint32_t)cl->c.w->cfg->max_packet_size, &type,
		                &len) != FRAME_OK ||
		    left - PROTO_HDR < len - 4)
			return false;
		if (type == 'S') {
			*batch_len = (uint32_t)(p - start) + len + 1;
			return true;
		}
		if (type == 'Q')
			return false; /* mixing protocols in one batch: keep it simple and safe */
		/* Only these name a statement (a Describe of a portal, as most drivers send, does not). */
		if (type == 'P' || type == 'B' || (type == 'D' && len > 4 && p[PROTO_HDR] == 'S')) {
			fe_decode(&fm, type, len, p + PROTO_HDR, 0);
			if (!batch_step(cl, &fm, buf, best))
				return false;
		}
		p += len + 1;
		left -= len + 1;
	}
	return false;
}

/* What applying a SET pgrouter.* did. */
enum own_set { OWN_OK, OWN_BAD_VALUE, OWN_UNKNOWN, OWN_READ_ONLY };

/* pgrouter's own settings: SET pgrouter.target = primary | replica | auto, consistency_key, min_lsn. */
static enum own_set apply_pgrouter_set(struct client *cl, const struct cls_event *e)
{
	if (e->flags & CLS_EVF_TRUNCATED)
		return strncasecmp(e->name, "pgrouter.", 9) == 0 ? OWN_BAD_VALUE : OWN_UNKNOWN;
	if (strcasecmp(e->name, "pgrouter.target") == 0) {
		if (e->sub != CLS_SET_VALUE || strcasecmp(e->value_str, "auto") == 0)
			cl->session_pref = PREF_AUTO;
		else if (strcasecmp(e->value_str, "primary") == 0)
			cl->session_pref = PREF_PRIMARY;
		else if (strcasecmp(e->value_str, "replica") == 0)
			cl->session_pref = PREF_REPLICA;
		else
			return OWN_BAD_VALUE;
		return OWN_OK;
	}
	if (strcasecmp(e->name, "pgrouter.lsn") == 0)
		return OWN_READ_ONLY;
	int own = ryw_client_set(cl, e->name, e->sub == CLS_SET_VALUE ? e->value_str : NULL);
	return own > 0 ? OWN_OK : own < 0 ? OWN_BAD_VALUE : OWN_UNKNOWN;
}

/* What SHOW pgrouter.<name> answers (buf may hold it); NULL for a name pgrouter does not have. */
static const char *pgrouter_setting(const struct client *cl, const char *name, char *buf, size_t n)
{
	if (strcasecmp(name, "pgrouter.target") == 0)
		return cl->session_pref == PREF_PRIMARY    ? "primary"
		        : cl->session_pref == PREF_REPLICA ? "replica"
		                                           : "auto";
	if (strcasecmp(name, "pgrouter.consistency_key") == 0)
		return cl->ryw.key ? cl->ryw.key : "";
	if (strcasecmp(name, "pgrouter.min_lsn") == 0)
		return cl->ryw.min_lsn ? ryw_format_lsn(cl->ryw.min_lsn, buf, n) : "";
	if (strcasecmp(name, "pgrouter.lsn") == 0) /* the token of the session's last commit (ParameterStatus) */
		return cl->ryw.lsn ? ryw_format_lsn(cl->ryw.lsn, buf, n) : "";
	return NULL;
}

/* Is r made only of SET and SHOW pgrouter.* statements (SHOWs only, when shows_only)? */
static bool only_own_statements(const struct cls_result *r, bool shows_only)
{
	if (r->n_stmts == 0 || r->n_events != r->n_stmts || (r->flags & CLS_F_EVENTS_OVERFLOW))
		return false;
	for (int i = 0; i < r->n_events; i++) {
		const struct cls_event *e = &r->ev[i];
		bool show = e->kind == CLS_EV_SHOW_PGROUTER && !(e->flags & CLS_EVF_TRUNCATED);
		bool set = e->kind == CLS_EV_SET && (e->flags & CLS_EVF_PGROUTER);
		if (!(show || (set && !shows_only)))
			return false;
	}
	return true;
}

/* One own statement's answer into out (an error ends the Query); false after an error. */
static bool answer_own(struct client *cl, const struct cls_event *e, struct iobuf **out)
{
	char msg[300], buf[64];
	if (e->kind == CLS_EV_SHOW_PGROUTER) {
		const char *v = pgrouter_setting(cl, e->name, buf, sizeof buf);
		if (!v) {
			snprintf(msg, sizeof msg, "unrecognized configuration parameter \"%.200s\"", e->name);
			return msg_error(out, "ERROR", "42704", msg), false;
		}
		struct result res;
		const struct col col = COL_TEXT(e->name);
		res_begin(&res, out, &col, 1);
		res_row(&res, &v);
		res_complete(out, "SHOW");
		return true;
	}
	switch (apply_pgrouter_set(cl, e)) {
	case OWN_OK: res_complete(out, "SET"); return true;
	case OWN_UNKNOWN:
		snprintf(msg, sizeof msg, "unrecognized configuration parameter \"%.200s\"", e->name);
		return msg_error(out, "ERROR", "42704", msg), false;
	case OWN_READ_ONLY:
		snprintf(msg, sizeof msg, "parameter \"%.200s\" cannot be changed", e->name);
		return msg_error(out, "ERROR", "55P02", msg), false;
	case OWN_BAD_VALUE: break;
	}
	bool target = strcasecmp(e->name, "pgrouter.target") == 0;
	snprintf(msg, sizeof msg, "invalid value for parameter \"%.200s\": \"%.60s\"%s", e->name, e->value_str,
	         target ? " (use primary, replica or auto)" : "");
	return msg_error(out, "ERROR", "22023", msg), false;
}

/* Events among which pgrouter's own SET / SHOW pgrouter.* are. */
#define OWN_EVENTS (CLS_EV_BIT(CLS_EV_SET) | CLS_EV_BIT(CLS_EV_SHOW_PGROUTER))

/* A Query made only of SET/SHOW pgrouter.* statements is answered here and never reaches a server; tx is the
   transaction status to report. Inside a transaction block only SHOWs are answered (an error there would
   have to abort the server's transaction too). */
static enum route_step answer_pgrouter_sets(struct client *cl, const struct cls_result *r, char tx)
{
	if (!only_own_statements(r, tx != 'I'))
		return RS_GO;
	struct iobuf **out = conn_out(&cl->c);
	for (int i = 0; i < r->n_events; i++)
		if (!answer_own(cl, &r->ev[i], out))
			break;
	msg_ready(out, tx);
	conn_flush_out(&cl->c);
	return RS_DONE;
}

/* What keeps a session on its primary connection, for the route's reason (the first pin taken counts). */
static const char *pin_name(uint8_t pins)
{
	return pins & CLS_PIN_TEMP        ? "temp table"
	        : pins & CLS_PIN_ADVISORY ? "advisory lock"
	        : pins & CLS_PIN_LISTEN   ? "listen"
	        : pins & CLS_PIN_HOLD     ? "cursor with hold"
	        : pins & CLS_PIN_PREPARE  ? "prepare"
	                                  : "session state";
}

#define LEARNED_CAP 1024 /* fingerprints of statements replicas refused; a full table learns no more */

/* Is this statement shape one a replica refused before? */
static bool learned_contains(const struct worker *w, uint64_t fp)
{
	if (!w->learned)
		return false;
	for (uint32_t i = 0, h = (uint32_t)fp % LEARNED_CAP; i < LEARNED_CAP; i++, h = (h + 1) % LEARNED_CAP) {
		if (w->learned[h] == fp)
			return true;
		if (w->learned[h] == 0)
			return false;
	}
	return false;
}

void clientroute_learn_message(struct worker *w, const uint8_t *msg, uint32_t n)
{
	/* A batch that starts with a Bind is learned when it is routed again (its statement is the client's). */
	struct fe_msg m;
	if (n > PROTO_HDR && (msg[0] == 'Q' || msg[0] == 'P') && fe_decode(&m, msg[0], n - 1, msg + PROTO_HDR, 0))
		clientroute_learn_write(w, m.sql, m.sql_len);
}

/* Remember a statement shape by its fingerprint. */
static void learn_fp(struct worker *w, uint64_t fp)
{
	if (!fp || learned_contains(w, fp) || w->n_learned >= LEARNED_CAP * 3 / 4)
		return;
	if (!w->learned && !(w->learned = calloc(LEARNED_CAP, sizeof *w->learned)))
		return;
	uint32_t h = (uint32_t)fp % LEARNED_CAP;
	while (w->learned[h])
		h = (h + 1) % LEARNED_CAP;
	w->learned[h] = fp;
	w->n_learned++;
}

void clientroute_learn_write(struct worker *w, const char *sql, size_t len)
{
	learn_fp(w, cls_fingerprint(sql, len));
}

/* Case-insensitive equality of a NUL-terminated pattern with a span. */
static bool span_eq(const char *pat, const char *s, uint32_t n)
{
	return strlen(pat) == n && strncasecmp(pat, s, n) == 0;
}

/* The first [routes] rule matching this client and statement, or NULL. */
static const struct routeconf *match_rule(struct client *cl, const struct cls_result *r, const char *sql, size_t len)
{
	const struct config *cfg = cl->c.w->cfg;
	for (int i = 0; i < cfg->nroutes; i++) {
		const struct routeconf *rt = &cfg->routes[i];
		if (rt->database && strcmp(rt->database, cl->dbname) != 0)
			continue;
		if (rt->user && strcmp(rt->user, cl->user) != 0)
			continue;
		if (rt->application_name) {
			const char *app = params_get(&cl->params, "application_name");
			if (!app || strcmp(app, rt->application_name) != 0)
				continue;
		}
		if (rt->tag && (!r || !sql || !span_eq(rt->tag, sql + r->route_tag.off, r->route_tag.len)))
			continue;
		if (rt->regex) {
			/* regexec needs a terminated string: match on a bounded copy of the statement. */
			char buf[4096];
			if (!sql)
				continue;
			snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf - 1 ? len : sizeof buf - 1), sql);
			if (regexec(rt->regex, buf, 0, NULL, 0) != 0)
				continue;
		}
		return rt;
	}
	return NULL;
}

/* A replica for a read: the lag limit comes from a hint, else the rule, else max_replica_lag. Logs once
   per pool when none qualifies. */
static int pick_for_route(struct pool *p, const struct routeconf *rule, const struct route_out *out, uint32_t exclude,
                          uint64_t min_lsn)
{
	const struct config *cfg = p->w->cfg;
	int cls = 0;
	int64_t limit = cfg->max_replica_lag;
	if (out->max_lag_ms >= 0) {
		cls = -1; /* a hint's own limit: checked against the lag right now, without hysteresis */
		limit = out->max_lag_ms * 1000;
	} else if (rule) {
		int idx = (int)(rule - cfg->routes);
		bool own = rule->max_lag_ms >= 0 || rule->max_lag_bytes >= 0;
		cls = idx + 1 < MON_CLASSES ? idx + 1 : own ? -1 : 0;
		limit = rule->max_lag_ms >= 0 ? rule->max_lag_ms * 1000 : own ? 0 : cfg->max_replica_lag;
	}
	int pick = pool_pick_replica(p, cls, limit, exclude, min_lsn);
	if ((pick < 0 || pick == p->primary) && min_lsn)
		return pick; /* read-your-writes held the replicas back: not a replica problem worth a log line */
	if (pick < 0 && !exclude && !p->no_replica_logged) {
		p->no_replica_logged = true;
		log_warn(NULL,
		         "database %s: no replica qualifies for reads (down, lagging or unknown); reads use the "
		         "route's fallback",
		         p->dbname);
	} else if (pick >= 0 && pick != p->primary && p->no_replica_logged) {
		p->no_replica_logged = false;
		log_info(NULL, "database %s: replicas take reads again", p->dbname);
	}
	return pick;
}

/* fallback=error: the route wanted a replica and none is available. */
static enum route_step refuse_no_replica(struct client *cl, const struct routeconf *rt)
{
	char msg[200];
	snprintf(msg, sizeof msg, "no replica available for route \"%s\" (fallback = error)", rt->name);
	struct iobuf **out = conn_out(&cl->c);
	msg_error(out, "ERROR", "57P03", msg);
	msg_ready(out, 'I');
	conn_flush_out(&cl->c);
	return RS_DONE;
}

const struct routeconf *clientroute_decide(struct client *cl, uint8_t type, const struct cls_result *r, const char *sql,
                                           size_t tl, uint64_t fp, uint32_t batch_len, struct route_out *out,
                                           bool *have_replicas)
{
	struct pool *p = cl->pool;
	const struct routeconf *rule = p->w->cfg->nroutes ? match_rule(cl, r, sql, tl) : NULL;
	struct route_in in = {
		.cls = r,
		.rule_pref = rule ? (enum route_pref)rule->target : PREF_AUTO,
		.rule_name = rule ? rule->name : NULL,
		.session_pref = (enum route_pref)cl->session_pref,
		.entry_pref = (enum route_pref)p->target,
		.pinned = cl->pins != 0,
		.default_read_only = cl->default_read_only,
		.have_replicas = p->nnodes > 1 || p->w->cfg->primary_read_weight > 0,
	};
	/* Plain session pooling (routing off) keeps one server for the whole session. */
	if (client_pool_mode(cl) == POOL_SESSION && p->target != PREF_REPLICA && !pool_session_routes(p))
		in.have_replicas = false;
	route_decide(&in, out);
	if (in.pinned && in.have_replicas && strcmp(out->reason, "pinned") == 0)
		snprintf(out->detail, sizeof out->detail, "%s", pin_name(cl->pins));
	if (have_replicas)
		*have_replicas = in.have_replicas;
	if ((type == 'P' || (type == 'B' && !batch_len)) && !r && out->target == ROUTE_PRIMARY && in.have_replicas &&
	    !in.pinned)
		out->reason = "incomplete-batch"; /* its Sync was not buffered yet: the rest could write */
	if (out->target == ROUTE_REPLICA && r && sql && p->w->n_learned &&
	    learned_contains(p->w, fp ? fp : cls_fingerprint(sql, tl))) {
		out->target = ROUTE_PRIMARY;
		out->reason = "learned-write";
		out->detail[0] = 0;
	}
	return rule;
}

void clientroute_explain(struct client *cl, const char *sql, size_t len, struct route_explain *ex)
{
	memset(ex, 0, sizeof *ex);
	if (!cl->c.w->cfg->routing) {
		ex->out.target = ROUTE_PRIMARY;
		ex->out.reason = "routing-off";
		ex->out.max_lag_ms = -1;
		return;
	}
	ex->classified = clientroute_classify(cl, sql, len, &ex->cls);
	ex->rule = clientroute_decide(cl, 'Q', ex->classified ? &ex->cls : NULL, sql, len, 0, 0, &ex->out,
	                              &ex->have_replicas);
}

/* The verbose line for one routing decision: node, reason, the LSN the client needs and the node's lag. */
static void log_route(struct client *cl, int node, const struct route_out *out, uint64_t need)
{
	struct pool *p = cl->pool;
	char why[100], lag[32] = "unknown", lsn[24] = "none", waited[32] = "";
	const struct mon_snapshot *s = monitor_snapshot();
	if (s && p->mon[node] >= 0 && monitor_lag_now(s, p->mon[node], cl->c.w->now) >= 0)
		snprintf(lag, sizeof lag, "%.3fs", monitor_lag_now(s, p->mon[node], cl->c.w->now));
	if (need && need != UINT64_MAX)
		snprintf(lsn, sizeof lsn, "%X/%X", (unsigned)(need >> 32), (unsigned)need);
	if (cl->ryw.wait_start)
		snprintf(waited, sizeof waited, " ryw_waited=%.1fms",
		         (double)(cl->c.w->now - cl->ryw.wait_start) / 1000);
	log_debug(cl->c.prefix, "route: node=%d (%s:%d) reason=%s required_lsn=%s node_lag=%s%s", node, p->host[node],
	          p->port[node], route_reason_str(out, why, sizeof why), lsn, node == p->primary ? "0.000s" : lag,
	          waited);
}

/* What routing knows of a unit: its statement's classification (NULL: none), text, fingerprint, batch. */
struct unit {
	const struct cls_result *cls;
	const char *sql;
	size_t tl;
	uint64_t fp; /* the statement's fingerprint when already known (prepared statements) */
	uint32_t batch_len; /* an extended-protocol batch up to its Sync, when all of it is buffered */
	bool retrying; /* a re-run of a unit that failed elsewhere */
	struct cls_result *batch; /* room for a batch's strictest statement (left unwritten until needed) */
};

/* cl was parked with its unit (ryw_park): the same unit is routed again later, as a re-run if it was one, and
   classified afresh then (a pg_proc answer may have come). */
static enum route_step parked(struct client *cl, struct fe_msg *m, const struct unit *u)
{
	cl->retrying = u->retrying;
	m->cls = NULL;
	return RS_WAIT;
}

/* The unit's text and classification (into m's own room for a Query). RS_GO goes on to the decision;
   *primary_now: too large to read, it runs on the primary without more ado. */
static enum route_step unit_text(struct client *cl, struct fe_msg *m, struct unit *u, bool *primary_now)
{
	uint8_t type = m->type;
	if ((type == 'Q' || type == 'P') && !m->body) {
		*primary_now = m->len - 4 > CLASSIFY_MAX_TEXT;
		return *primary_now ? RS_GO : RS_NEED_FULL;
	}
	if (type == 'Q') {
		u->sql = m->sql;
		u->tl = m->sql_len;
		m->cls = NULL; /* classified afresh: a re-routed message may have waited for the catalog */
		if (u->sql && clientroute_classify(cl, u->sql, u->tl, m->cls_buf)) {
			const struct cls_result *r = u->cls = m->cls = m->cls_buf;
			if ((r->ev_kinds & OWN_EVENTS) && (r->flags & CLS_F_EVENTS_OVERFLOW) == 0)
				return answer_pgrouter_sets(cl, r, 'I');
		}
	} else if (type == 'P' || ((type == 'B' || type == 'D') && cl->ps)) {
		/* A batch that starts with a Bind of a named statement is routed by what that statement does. */
		struct batch_best best;
		m->cls = NULL;
		if (classify_batch(cl, m, u->batch, &best, &u->batch_len)) {
			u->cls = best.r;
			u->sql = best.sql;
			u->tl = best.len;
			u->fp = best.fp;
		} else { /* the batch stays on the primary; a statement read so far still meets the rules */
			u->cls = NULL;
			u->sql = best.sql;
			u->tl = best.len;
			u->fp = best.fp;
			u->batch_len = 0;
		}
		if (type == 'P') { /* rules and learned writes look at the batch's first statement, as before */
			u->sql = m->sql;
			u->tl = m->sql_len;
			u->fp = 0;
		}
	}
	return RS_GO;
}

/* A read that may use a replica: read-your-writes and the replica pick set *node and out's reason. RS_GO, or
   RS_WAIT (parked until the replica or the store answers) or RS_DONE (refused: fallback = error). */
static enum route_step unit_replica(struct client *cl, struct fe_msg *m, struct unit *u, const struct routeconf *rule,
                                    struct route_out *out, uint64_t *need, int *node)
{
	struct pool *p = cl->pool;
	if (cl->ryw.key && ryw_store_fetch(cl))
		return parked(cl, m, u); /* back once the store has answered */
	enum ryw_scope scope = RYW_SCOPE_SESSION;
	*need = ryw_required(cl, &scope);
	if (*need == UINT64_MAX) {
		out->target = ROUTE_PRIMARY; /* window mode, or a commit whose LSN is unknown */
		out->reason = "read-your-writes";
		snprintf(out->detail, sizeof out->detail, "window");
		ryw_count_primary(scope);
		return RS_GO;
	}
	int pick = pick_for_route(p, rule, out, cl->retry_exclude, *need);
	if (pick >= 0)
		*node = pick;
	if (*need && (pick < 0 || pick == p->primary) && pool_pick_replica(p, 0, 0, cl->retry_exclude, 0) >= 0) {
		/* A replica is up but has not replayed what this client needs (as far as the snapshot shows). */
		if (ryw_wait_park(cl, *need))
			return parked(cl, m, u);
		out->reason = "read-your-writes";
		snprintf(out->detail, sizeof out->detail, "%s%s",
		         scope == RYW_SCOPE_KEY             ? "key"
		                 : scope == RYW_SCOPE_TOKEN ? "token"
		                                            : "session",
		         cl->ryw.wait_start ? "-after-wait" : "");
		ryw_count_primary(scope);
	} else if (pick < 0 && rule && rule->fallback == FALLBACK_ERROR) {
		return refuse_no_replica(cl, rule);
	} else if (pick < 0) {
		out->reason = cl->retry_exclude ? "retry" : "no-replica-available";
	}
	return RS_GO;
}

/* The unit goes to node: counters, the copy a replica's refusal re-runs, metrics and the debug line. */
static void unit_routed(struct client *cl, const struct fe_msg *m, const struct unit *u, int node,
                        const struct route_out *out, const struct routeconf *rule, uint64_t need)
{
	struct pool *p = cl->pool;
	if (node == p->primary) {
		cl->c.w->n_routed_primary++;
	} else {
		cl->c.w->n_routed_replica++;
		/* Keep the Query (or the whole batch) until the replica's first answer: a refusal, a recovery
		   conflict or a lost connection re-runs it elsewhere. */
		uint32_t keep = m->type == 'Q' ? m->len + 1 : m->type != 'F' ? u->batch_len : 0;
		if (keep && keep <= (uint32_t)p->w->cfg->pkt_buf && !cl->retry && (cl->retry = buf_get(p->w)) != NULL) {
			memcpy(cl->retry->data, m->body - PROTO_HDR, keep);
			cl->retry->wpos = keep;
		}
	}
	metrics_routed(p->w, p, node, out->target == ROUTE_REPLICA, out->reason, rule ? rule->name : NULL);
	if (log_get_level() >= LOG_DEBUG)
		log_route(cl, node, out, need);
}

/* clientroute_start without the end of a ryw_wait. */
static enum route_step route_unit(struct client *cl, struct fe_msg *m, int *node)
{
	struct pool *p = cl->pool;
	pool_sync(p); /* where writes go, after a failover: usually one comparison */
	*node = p->primary;
	if (!p->w->cfg->routing) {
		p->w->n_routed_primary++; /* a plain pooler, as PgBouncer */
		metrics_routed(p->w, p, 0, false, "routing-off", NULL);
		return RS_GO;
	}
	/* A re-run keeps the nodes it failed on; a new unit starts afresh. */
	struct cls_result batch;
	struct unit u = { .retrying = cl->retrying, .batch = &batch };
	if (!u.retrying)
		cl->retry_exclude = 0;
	cl->retrying = false;
	bool primary_now = false;
	enum route_step s = unit_text(cl, m, &u, &primary_now);
	if (s != RS_GO || primary_now)
		return s;
	struct route_out out;
	const struct routeconf *rule =
	        clientroute_decide(cl, m->type, u.cls, u.sql, u.tl, u.fp, u.batch_len, &out, NULL);
	if (cl->force_primary) {
		cl->force_primary = false;
		if (u.fp)
			learn_fp(p->w, u.fp); /* a prepared statement a replica refused as a write */
		out.target = ROUTE_PRIMARY;
		out.reason = "retry-after-read-only-error";
		out.detail[0] = 0;
	}
	/* Primary only for want of a pg_proc answer that is on its way: wait for it, then route as later calls. */
	if (out.target == ROUTE_PRIMARY && u.cls && u.cls->n_unknown && strcmp(out.reason, "unknown-function") == 0 &&
	    catalog_wait_park(cl, u.cls))
		return parked(cl, m, &u);
	uint64_t need = 0;
	if (out.target == ROUTE_REPLICA && (s = unit_replica(cl, m, &u, rule, &out, &need, node)) != RS_GO)
		return s;
	unit_routed(cl, m, &u, *node, &out, rule, need);
	return RS_GO;
}

enum route_step clientroute_start(struct client *cl, struct fe_msg *m, int *node)
{
	enum route_step s = route_unit(cl, m, node);
	if (s == RS_GO || s == RS_DONE || s == RS_CLOSED) { /* a read's waits are over, however it ended */
		ryw_wait_routed(cl, s == RS_GO && *node != cl->pool->primary);
		catalog_wait_routed(cl);
	}
	return s;
}

/* Remember what a forwarded statement does to the session so that it can be replayed elsewhere. */
static void track_effects(struct client *cl, struct server *sv, const struct cls_result *r, const char *sql)
{
	if (r->pins) {
		if (!cl->pins) {
			cl->c.w->n_pinned++;
			if (log_get_level() >= LOG_DEBUG)
				log_debug(cl->c.prefix,
				          "session-pinned: %s: the session stays on its primary connection",
				          pin_name(r->pins));
		}
		cl->pins |= r->pins;
		sv->pinned = true;
	}
	for (int i = 0; i < r->n_events && i < CLS_MAX_EVENTS; i++) {
		const struct cls_event *e = &r->ev[i];
		if (e->kind == CLS_EV_SET && (e->flags & CLS_EVF_PGROUTER))
			apply_pgrouter_set(cl, e); /* pgrouter's own: answered by pgrouter, nothing to confirm */
		else if (e->kind == CLS_EV_RESET)
			ryw_client_set(cl, e->name, NULL); /* RESET pgrouter.consistency_key / pgrouter.min_lsn */
	}
	if (r->flags & (CLS_F_SESSION_OPAQUE | CLS_F_EVENTS_OVERFLOW))
		prepared_server_unsure(sv); /* statements may be gone: prepare them again before their next use */
	if ((r->ev_kinds & SESSION_EVENTS) || (r->flags & (CLS_F_SESSION_OPAQUE | CLS_F_EVENTS_OVERFLOW)))
		session_track(cl, sv, r, sql);
}

enum act clientroute_linked(struct client *cl, struct fe_msg *m)
{
	struct server *sv = cl->server;
	sv->ryw.plan = false;
	/* Without routing, statements are still read for what they do to the session (never handed on). */
	bool routing = cl->c.w->cfg->routing;
	uint8_t type = m->type;
	size_t tl = m->sql_len;
	const char *sql = m->sql;
	const struct cls_result *rp = m->cls;
	if (type == 'B') {
		/* Executing a named prepared statement: what it does was classified at its first use. */
		struct ps_stmt *st = prepared_named(cl, m);
		if (!st || !(rp = prepared_cls(cl, st, &sql, &tl))) {
			if (routing)
				ryw_batch_bind(sv);
			return ACT_SEND;
		}
	} else if (!m->body) {
		if (m->len - 4 > CLASSIFY_MAX_TEXT) {
			sv->pinned = true; /* too large to read: it may change the session, reset after this client */
			if (routing)
				ryw_note_statement(sv, NULL); /* and it may write */
		}
		return m->len - 4 > CLASSIFY_MAX_TEXT ? ACT_SEND : ACT_NEED_FULL;
	} else if (rp) {
		/* Routed just now (or before it was held back): same message, same answer. */
	} else if (!sql) {
		if (routing) {
			ryw_batch_bind(sv); /* not a statement pgrouter can read: no LSN query behind this batch */
			sv->ryw.xvalid = false;
		}
		return ACT_SEND;
	} else {
		/* Not routed just now: classify into the message's own room, where the prepared-statement tracker
		   finds it for this same message. */
		if (!clientroute_classify(cl, sql, tl, m->cls_buf)) {
			sv->pinned = true; /* unread: reset after this client */
			if (routing)
				ryw_note_statement(sv, NULL);
			return ACT_SEND;
		}
		rp = m->cls = m->cls_buf;
	}
	/* SET/SHOW pgrouter.* between transactions of a session (or SHOW inside one): pgrouter answers, in order
	   with what the server already answered. */
	if (type == 'Q' && (rp->ev_kinds & OWN_EVENTS) && sv->expect_z == 0 && !sv->unsynced && cl->c.pending == 0 &&
	    (sv->tx_status == 'I' || sv->tx_status == 'T') && answer_pgrouter_sets(cl, rp, sv->tx_status) == RS_DONE)
		return ACT_CONSUMED;
	/* A statement that needs the primary while a replica is linked (a pipeline or batch that mixes reads
	   and writes): hold it until the replica's work is done, then route it afresh. */
	bool ro_begin = cl->default_read_only && route_is_lone_begin(rp);
	if (routing && sv->node != sv->pool->primary && route_definite_write(rp) && !ro_begin && sv->tx_status == 'I' &&
	    !cl->pins && pool_releases_per_unit(cl)) {
		cl->reroute = true;
		return ACT_PAUSE;
	}
	track_effects(cl, sv, rp, sql);
	if (!routing)
		return ACT_SEND;
	ryw_note_statement(sv, rp);
	sv->ryw.plan = type == 'Q' && ryw_query_ends_unit(sv, rp);
	return ACT_SEND;
}
