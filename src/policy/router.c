/* Routing decision: (classification, session state, overrides) → primary or replica, with the reason. */
#include "policy/router.h"

#include <stdio.h>
#include <string.h>

/* Statements that must never run on a replica, whatever a hint or setting says. */
bool route_definite_write(const struct cls_result *c)
{
	if (c->target != CLS_PRIMARY)
		return false;
	/* Unknown functions are primary only for want of knowledge: a user's explicit override may vouch for them.
	   Node-dependent reads are primary because the client most likely means the primary's state; a user who
	   asks for a replica's (pg_stat_activity of that replica, its pg_is_in_recovery) may say so. */
	return strcmp(c->reason, "unknown-function") != 0 && strcmp(c->reason, "node-dependent") != 0;
}

/* Transactions that begin read-only may use a replica; anything else that begins a transaction may write. */
static bool begins_read_only(const struct cls_result *c, bool default_ro)
{
	for (int i = 0; i < c->n_events && i < CLS_MAX_EVENTS; i++) {
		const struct cls_event *e = &c->ev[i];
		if (e->kind == CLS_EV_BEGIN)
			return e->txn_mode == CLS_TXN_READ_ONLY || (e->txn_mode == CLS_TXN_UNSPEC && default_ro);
	}
	return false;
}

/* A lone plain BEGIN is primary only because it may write later; the session's read-only default decides. */
static bool lone_begin(const struct cls_result *c)
{
	return c->n_stmts == 1 && c->n_events >= 1 && c->ev[0].kind == CLS_EV_BEGIN;
}

/* True when the unit deallocates or discards: the client's own statements and session, which live on no
   replica, so a replica picked at random would only be an unrelated node doing needless work. */
static bool touches_own_session(const struct cls_result *c)
{
	for (int i = 0; i < c->n_events && i < CLS_MAX_EVENTS; i++)
		if (c->ev[i].kind == CLS_EV_DEALLOCATE || c->ev[i].kind == CLS_EV_DEALLOCATE_ALL ||
		    c->ev[i].kind == CLS_EV_DISCARD)
			return true;
	return false;
}

/* True when the unit opens an explicit transaction. */
static bool begins_transaction(const struct cls_result *c)
{
	for (int i = 0; i < c->n_events && i < CLS_MAX_EVENTS; i++)
		if (c->ev[i].kind == CLS_EV_BEGIN)
			return true;
	return false;
}

static void set(struct route_out *o, enum route_target t, const char *reason, const char *detail)
{
	o->target = t;
	o->reason = reason;
	/* Once per statement: a bounded copy, not snprintf. */
	size_t n = detail ? strnlen(detail, sizeof o->detail - 1) : 0;
	if (n)
		memcpy(o->detail, detail, n);
	o->detail[n] = 0;
}

void route_decide(const struct route_in *in, struct route_out *out)
{
	const struct cls_result *c = in->cls;
	out->max_lag_ms = -1;
	if (!in->have_replicas)
		return set(out, ROUTE_PRIMARY, "no-replicas", NULL);
	if (in->pinned)
		return set(out, ROUTE_PRIMARY, "pinned", NULL);
	if (!c)
		return set(out, ROUTE_PRIMARY, "no-statement", NULL);
	if (touches_own_session(c))
		return set(out, ROUTE_PRIMARY, "own-session", c->reason);
	bool must_primary = route_definite_write(c);
	/* 1. a hint in the statement's comment */
	if (c->hint == CLS_HINT_PRIMARY)
		return set(out, ROUTE_PRIMARY, "hint", "primary");
	if (c->hint == CLS_HINT_REPLICA && !must_primary) {
		set(out, ROUTE_REPLICA, "hint", "replica");
		out->max_lag_ms = c->hint_max_lag_ms;
		return;
	}
	/* 2. SET pgrouter.target, 3. a [routes] rule, then the database entry's target */
	enum route_pref pref = c->hint == CLS_HINT_AUTO ? PREF_AUTO : in->session_pref;
	const char *why = "session-target", *detail = NULL;
	if (pref == PREF_AUTO && c->hint != CLS_HINT_AUTO && in->rule_name) {
		pref = in->rule_pref;
		why = "rule";
		detail = in->rule_name;
	}
	if (pref == PREF_AUTO && c->hint != CLS_HINT_AUTO && !in->rule_name) {
		pref = in->entry_pref;
		why = "database-target";
	}
	if (pref == PREF_PRIMARY)
		return set(out, ROUTE_PRIMARY, why, detail ? detail : "primary");
	if (pref == PREF_REPLICA && !must_primary)
		return set(out, ROUTE_REPLICA, why, detail ? detail : "replica");
	/* 4. the classifier */
	if (begins_transaction(c)) {
		if ((c->target != CLS_PRIMARY || lone_begin(c)) && begins_read_only(c, in->default_read_only))
			return set(out, ROUTE_REPLICA, "read-only-transaction", NULL);
		return set(out, ROUTE_PRIMARY, "explicit-transaction", NULL);
	}
	if (c->target == CLS_PRIMARY)
		return set(out, ROUTE_PRIMARY, c->reason, c->detail);
	/* Statements that touch no data (SET, SHOW, …) may run anywhere; a replica keeps the primary free. */
	return set(out, ROUTE_REPLICA, c->reason, c->detail);
}

const char *route_reason_str(const struct route_out *r, char *buf, size_t n)
{
	if (r->detail[0])
		snprintf(buf, n, "%s:%s", r->reason, r->detail);
	else
		snprintf(buf, n, "%s", r->reason);
	return buf;
}

bool route_is_lone_begin(const struct cls_result *c)
{
	return lone_begin(c);
}
