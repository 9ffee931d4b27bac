/* Session state confirmed by the server: SET/RESET/DISCARD become a client's state only when committed. */
#include "session/journal.h"
#include "sql/classify.h"
#include "base/log.h"
#include "base/params.h"
#include "frontend/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum sj_kind {
	SJ_SET, /* name = value (value may be PARAM_RAW SQL) */
	SJ_UNSET, /* name back to its default */
	SJ_RESET_ALL, /* every setting back to its default */
	SJ_DISCARD_ALL, /* RESET ALL and every session object gone */
};

struct sj_op {
	uint8_t kind;
	int8_t read_only; /* default_transaction_read_only after this op: 1, 0, or -1 when it does not touch it */
	uint32_t unit; /* the unit whose ReadyForQuery ends it (sess_journal.sent numbering) */
	char *name, *value;
};

/* Append an op for the unit being forwarded; on failure to allocate, the outcome is treated as unknown. */
static void push(struct sess_journal *j, uint8_t kind, const char *name, const char *value, int8_t ro)
{
	if (j->n == j->cap) {
		uint32_t cap = j->cap ? j->cap * 2 : 4;
		struct sj_op *op = realloc(j->op, cap * sizeof *op);
		if (!op) {
			j->unsure = true;
			return;
		}
		j->op = op;
		j->cap = cap;
	}
	struct sj_op *o = &j->op[j->n];
	*o = (struct sj_op){ .kind = kind, .read_only = ro, .unit = j->sent + 1 };
	o->name = name ? strdup(name) : NULL;
	o->value = value ? strdup(value) : NULL;
	if ((name && !o->name) || (value && !o->value)) {
		free(o->name);
		free(o->value);
		j->unsure = true;
		return;
	}
	j->n++;
}

/* True for a setting PostgreSQL reports with ParameterStatus: the server tells pgrouter its value. */
static bool reported(const char *name)
{
	return param_is_tracked(name);
}

/* A SET event (not LOCAL, not pgrouter's own) into the journal. */
static void track_set(struct client *cl, struct server *sv, const struct cls_event *e, const char *sql)
{
	struct sess_journal *j = &sv->sj;
	if (strcmp(e->name, "session characteristics") == 0) {
		/* Isolation level and deferrable defaults are not followed: reset the connection after this client. */
		sv->pinned = true;
		if (e->txn_mode != CLS_TXN_UNSPEC) {
			bool ro = e->txn_mode == CLS_TXN_READ_ONLY;
			push(j, SJ_SET, "default_transaction_read_only", ro ? "on" : "off", ro);
		}
		return;
	}
	int8_t ro = strcasecmp(e->name, "default_transaction_read_only") == 0 ? e->txn_mode == CLS_TXN_READ_ONLY : -1;
	if (e->sub == CLS_SET_VALUE && !(e->flags & (CLS_EVF_MULTI_VALUE | CLS_EVF_TRUNCATED))) {
		push(j, SJ_SET, e->name, e->value_str, ro);
	} else if (e->sub == CLS_SET_VALUE && e->value.len < 1000) {
		/* A list ("a, b") is replayed as the client wrote it: PARAM_RAW marks SQL, not a literal. */
		char raw[1024];
		snprintf(raw, sizeof raw, "%c%.*s", PARAM_RAW, (int)e->value.len, sql + e->value.off);
		push(j, SJ_SET, e->name, raw, ro);
	} else if (e->sub == CLS_SET_DEFAULT) {
		push(j, SJ_UNSET, e->name, NULL, ro < 0 ? -1 : 0);
	} else {
		/* SET … FROM CURRENT, or a value too long to keep: only the backend knows it; stay on it. */
		cl->pins |= CLS_PIN_SET_CONFIG;
		sv->pinned = true;
	}
}

static bool is_txn_end(uint8_t kind)
{
	return kind == CLS_EV_COMMIT || kind == CLS_EV_ROLLBACK || kind == CLS_EV_PREPARE_TXN;
}

void session_track(struct client *cl, struct server *sv, const struct cls_result *r, const char *sql)
{
	struct sess_journal *j = &sv->sj;
	if (r->flags & (CLS_F_SESSION_OPAQUE | CLS_F_EVENTS_OVERFLOW))
		sv->pinned = true; /* it may have changed anything: reset before the next client */
	uint32_t before = j->n;
	for (int i = 0; i < r->n_events && i < CLS_MAX_EVENTS; i++) {
		const struct cls_event *e = &r->ev[i];
		if (j->n != before && is_txn_end(e->kind))
			j->unsure = true; /* "SET x; COMMIT; …" in one Query: which part failed is not told */
		switch (e->kind) {
		case CLS_EV_SET:
			if (!(e->flags & (CLS_EVF_LOCAL | CLS_EVF_PGROUTER)) && !reported(e->name))
				track_set(cl, sv, e, sql);
			break;
		case CLS_EV_RESET:
			if (strncasecmp(e->name, "pgrouter.", 9) != 0 && !reported(e->name))
				push(j, SJ_UNSET, e->name, NULL,
				     strcasecmp(e->name, "default_transaction_read_only") == 0 ? 0 : -1);
			break;
		case CLS_EV_RESET_ALL: push(j, SJ_RESET_ALL, NULL, NULL, 0); break;
		case CLS_EV_DISCARD:
			if (e->sub == CLS_DISCARD_ALL)
				push(j, SJ_DISCARD_ALL, NULL, NULL, 0);
			break;
		case CLS_EV_ROLLBACK: j->rollback = true; break;
		case CLS_EV_SAVEPOINT:
		case CLS_EV_ROLLBACK_TO:
		case CLS_EV_RELEASE: j->savepoint = true; break;
		default: break;
		}
	}
}

/* RESET name committed: back to the value of the client's startup packet, or to the server's default. */
static void reset_one(struct client *cl, struct server *sv, const char *name)
{
	const char *start = params_get(&cl->startup, name);
	if (start)
		params_set(&cl->params, name, start); /* the connection is told at the client's next link */
	else
		params_unset(&cl->params, name);
	params_unset(&sv->extra, name);
}

/* RESET ALL / DISCARD ALL committed: every unreported setting back to the startup packet's or the default. */
static void forget_unreported(struct client *cl, struct server *sv)
{
	uint32_t pos = 0;
	const char *n, *v;
	while (params_next(&cl->params, &pos, &n, &v)) {
		if (!reported(n) && !params_get(&cl->startup, n)) {
			params_unset(&cl->params, n);
			pos = 0; /* the set shrank: restart */
		}
	}
	pos = 0;
	while (params_next(&cl->startup, &pos, &n, &v))
		params_set(&cl->params, n, v);
	params_clear(&sv->extra);
	cl->default_read_only = false;
}

/* A committed op becomes the client's state and what the connection is known to have. */
static void apply(struct client *cl, struct server *sv, const struct sj_op *o)
{
	switch (o->kind) {
	case SJ_SET:
		params_set(&cl->params, o->name, o->value);
		params_set(&sv->extra, o->name, o->value);
		break;
	case SJ_UNSET: reset_one(cl, sv, o->name); break;
	case SJ_RESET_ALL: forget_unreported(cl, sv); break;
	case SJ_DISCARD_ALL:
		/* Temp tables, advisory locks, LISTENs, cursors and prepared statements are gone too. */
		forget_unreported(cl, sv);
		cl->pins = 0;
		sv->pinned = false;
		break;
	default:
		log_error(sv->c.prefix, "BUG: unknown session op %d", o->kind);
		sv->pinned = true;
		break;
	}
	if (o->read_only >= 0)
		cl->default_read_only = o->read_only;
}

/* Settle the ops of units up to j->done for cl (NULL: gone): apply (commit) or drop (rollback); unsure
   applies and pins. */
static void settle(struct server *sv, struct client *cl, bool commit, bool unsure)
{
	struct sess_journal *j = &sv->sj;
	uint32_t k = 0;
	for (; k < j->n && (int32_t)(j->op[k].unit - j->done) <= 0; k++) {
		if (cl && (commit || unsure))
			apply(cl, sv, &j->op[k]);
		free(j->op[k].name);
		free(j->op[k].value);
	}
	memmove(j->op, j->op + k, (j->n - k) * sizeof *j->op);
	j->n -= k;
	if (k && unsure) {
		/* The server alone knows what it kept: this client stays on it, and it is reset after the client. */
		sv->pinned = true;
		if (cl) {
			if (!cl->pins)
				cl->c.w->n_pinned++;
			cl->pins |= CLS_PIN_SET_CONFIG;
		}
	}
}

void session_settle(struct server *sv)
{
	struct sess_journal *j = &sv->sj;
	settle(sv, sv->client, !j->failed && !j->rollback, j->unsure || j->savepoint);
}

void session_drop_pending(struct server *sv)
{
	sv->pinned = true; /* changes whose outcome was never seen: reset the connection */
	settle(sv, NULL, false, false);
}

void session_free(struct sess_journal *j)
{
	for (uint32_t k = 0; k < j->n; k++) {
		free(j->op[k].name);
		free(j->op[k].value);
	}
	free(j->op);
	*j = (struct sess_journal){ 0 };
}
