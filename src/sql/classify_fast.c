/* classify_fast: lexer-only classification of the common statement shapes; declines anything else. */
#include "sql/classify_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * Contract: decide only when libpg_query would reach the same result.  So the
 * fast path recognises a handful of shapes exactly and declines (returns
 * false) at the first token it is not sure about: a function it cannot prove
 * read-only, FOR / INTO / a DML keyword inside a read, an identifier
 * followed by "(" in a position where it might or might not be a call, a
 * literal it does not decode the way PostgreSQL does, unbalanced parentheses.
 * Declining is always safe; the full parser takes over.
 *
 * Cost: every token is lexed once (a two-token lookahead buffer serves the
 * peeks) and every short unquoted word is looked up once in the keyword
 * table (classify_kw.c), which carries all the categories used here.
 */

#define FAST_MAX_DEPTH 64
#define IDENT_MAX 63 /* NAMEDATALEN - 1: longer identifiers get truncated by PostgreSQL */

/* A significant token with its keyword flags and lower-cased text (short unquoted words only). */
struct ftok {
	struct sql_tok t;
	uint16_t kw;
	char word[KW_MAX + 1];
};

struct fast {
	const char *sql;
	size_t len;
	const struct cls_env *env;
	struct cls_result *out;
	struct sql_lexer lx;
	struct ftok cur; /* current token */
	struct ftok prev; /* the one before it; type EOF at the start of a statement */
	struct ftok la[2]; /* lookahead */
	int nla;
	uint32_t stmt_start;
};

/* Up to three parts of a dotted name; n counts all parts seen (saturating at 4). */
struct qname {
	struct ftok part[3];
	int n;
};

/* Lex the next significant token into ft, feeding comments to the hint parser. */
static void lex_sig(struct fast *f, struct ftok *ft)
{
	for (;;) {
		sql_lex_next(&f->lx, &ft->t);
		if (ft->t.type != SQL_T_COMMENT)
			break;
		cls_hint_comment(f->out, f->sql, &ft->t);
	}
	ft->kw = 0;
	ft->word[0] = 0;
	size_t n = ft->t.end - ft->t.start;
	if (ft->t.type != SQL_T_IDENT || n > KW_MAX)
		return;
	for (size_t i = 0; i < n; i++) {
		char c = f->sql[ft->t.start + i];
		ft->word[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	ft->word[n] = 0;
	ft->kw = cls_kw_lookup(ft->word, n);
}

/* Advance to the next significant token. */
static void f_next(struct fast *f)
{
	f->prev = f->cur;
	if (f->nla > 0) {
		f->cur = f->la[0];
		f->la[0] = f->la[1];
		f->nla--;
	} else {
		lex_sig(f, &f->cur);
	}
}

/* The k-th token after the current one (k = 1 or 2), without consuming it. */
static const struct ftok *f_peek(struct fast *f, int k)
{
	while (f->nla < k)
		lex_sig(f, &f->la[f->nla++]);
	return &f->la[k - 1];
}

/* True at the end of the current statement (";" or end of text). */
static bool f_at_end(const struct fast *f)
{
	return f->cur.t.type == SQL_T_EOF || sql_tok_punct(&f->cur.t, ';');
}

/* True if token ft is the unquoted keyword kw (given in lower case). */
static bool is_word(const struct ftok *ft, const char *kw)
{
	return ft->t.type == SQL_T_IDENT && strcmp(ft->word, kw) == 0;
}

/* True if the current token is the unquoted keyword kw. */
static bool f_is(const struct fast *f, const char *kw)
{
	return is_word(&f->cur, kw);
}

/* Consume the keyword kw if it is the current token. */
static bool f_accept(struct fast *f, const char *kw)
{
	if (!f_is(f, kw))
		return false;
	f_next(f);
	return true;
}

/* True if the current token is a one-byte operator c. */
static bool f_op(const struct fast *f, char c)
{
	return f->cur.t.type == SQL_T_OP && f->cur.t.end - f->cur.t.start == 1 && f->sql[f->cur.t.start] == c;
}

/* The current statement's text once at its end (from first to last significant token). */
static struct cls_span f_stmt_span(const struct fast *f)
{
	return (struct cls_span){ f->stmt_start, f->prev.t.end - f->stmt_start };
}

static bool is_name_tok(const struct sql_tok *t)
{
	return t->type == SQL_T_IDENT || t->type == SQL_T_QIDENT || t->type == SQL_T_UIDENT;
}

/* Consume a dotted name starting at the current token; leaves the last part current. */
static void f_name_chain(struct fast *f, struct qname *q)
{
	q->part[0] = f->cur;
	q->n = 1;
	while (sql_tok_punct(&f_peek(f, 1)->t, '.') && is_name_tok(&f_peek(f, 2)->t)) {
		f_next(f);
		f_next(f);
		if (q->n < 3)
			q->part[q->n] = f->cur;
		if (q->n < 4)
			q->n++;
	}
}

/* Text of one name part as PostgreSQL sees it; -1 if it is U&"" or longer than NAMEDATALEN-1. */
static int part_text(const struct fast *f, const struct sql_tok *t, char *buf, size_t cap)
{
	int n = sql_ident_text(f->sql, t, buf, cap);
	return (n < 0 || n > IDENT_MAX) ? -1 : n;
}

enum call_kind { NOT_CALL, CALL, DECLINE };

/* "name(" after :: or CAST … AS: a type modifier for the known typmod type names, else unsure. */
static enum call_kind typmod_position(const struct qname *q)
{
	return (q->n == 1 && (q->part[0].kw & KW_TYPMOD)) ? NOT_CALL : DECLINE;
}

/* Decide whether q followed by "(" is a function call, from the name and the token before it. */
static enum call_kind call_kind(const struct qname *q, const struct ftok *before, bool in_cast)
{
	const struct ftok *p0 = &q->part[0];
	if (q->n == 1 && p0->t.type == SQL_T_IDENT) {
		if (p0->kw & KW_RESERVED)
			return NOT_CALL;
		if (p0->kw & KW_TREAT)
			return DECLINE;
		if (p0->kw & KW_COLNAME)
			return NOT_CALL;
		if (is_word(p0, "varying") && (before->kw & KW_VARYING_PREFIX))
			return NOT_CALL;
	}
	switch (before->t.type) {
	case SQL_T_EOF:
	case SQL_T_OP: return CALL;
	case SQL_T_TYPECAST: return typmod_position(q);
	case SQL_T_PUNCT:
		switch (before->t.ch) {
		case '(':
		case ',':
		case '[':
		case ':': return CALL;
		case ')': return (q->n == 1 && (p0->kw & KW_WINDOW_SUFFIX)) ? NOT_CALL : DECLINE;
		}
		return DECLINE;
	case SQL_T_IDENT:
		if (is_word(before, "as"))
			return in_cast ? typmod_position(q) : DECLINE;
		return (before->kw & KW_EXPR_BEFORE) ? CALL : DECLINE;
	default: return DECLINE;
	}
}

/* True if the call q(...) is known to be read-only (safe on a replica, no pins). */
static bool call_is_safe(const struct fast *f, const struct qname *q)
{
	char schema[CLS_NAME_MAX], name[CLS_NAME_MAX];
	if (q->n > 2)
		return false;
	if (part_text(f, &q->part[q->n - 1].t, name, sizeof(name)) < 0)
		return false;
	if (q->n == 2 && part_text(f, &q->part[0].t, schema, sizeof(schema)) < 0)
		return false;
	struct cls_fn_info fi;
	cls_func_lookup(f->env, q->n == 2 ? schema : NULL, name, &fi);
	return fi.cls == CLS_FN_SAFE && fi.pins == 0;
}

/* True if the last part of q may name a node-dependent view (pg_stat_activity, pg_locks, …). */
static bool names_node_relation(const struct fast *f, const struct qname *q)
{
	const struct sql_tok *t = &q->part[(q->n > 3 ? 3 : q->n) - 1].t;
	char c = f->sql[t->start];
	if (c != 'p' && c != 'P' && c != '"')
		return false; /* cheap: most names cannot be one */
	char name[CLS_NAME_MAX];
	return part_text(f, t, name, sizeof(name)) < 0 || cls_node_relation(name);
}

/* SELECT / VALUES / TABLE / WITH / "(": read unless something spoils it. */
static bool f_read(struct fast *f, struct cls_stmt *st)
{
	bool cast[FAST_MAX_DEPTH];
	int depth = 0;
	for (; !(f_at_end(f) && depth == 0); f_next(f)) {
		const struct sql_tok *t = &f->cur.t;
		if (t->type == SQL_T_ERROR || t->type == SQL_T_EOF || sql_tok_punct(t, ';'))
			return false;
		if (sql_tok_punct(t, '(')) {
			if (depth >= FAST_MAX_DEPTH)
				return false;
			cast[depth++] = is_word(&f->prev, "cast");
			continue;
		}
		if (sql_tok_punct(t, ')')) {
			if (depth == 0)
				return false;
			depth--;
			continue;
		}
		if (!is_name_tok(t))
			continue;
		if (f->cur.kw & KW_SPOILER)
			return false;
		struct ftok before = f->prev;
		struct qname q;
		f_name_chain(f, &q);
		if (names_node_relation(f, &q))
			return false; /* the full parser tells a relation from a column of that name */
		if (!sql_tok_punct(&f_peek(f, 1)->t, '('))
			continue;
		enum call_kind k = call_kind(&q, &before, depth > 0 && cast[depth - 1]);
		if (k == DECLINE || (k == CALL && !call_is_safe(f, &q)))
			return false;
	}
	cls_stmt_set(st, CLS_REPLICA, cls_r_read, NULL);
	return true;
}

/* Functions whose presence in DML changes the session (pins): leave those to the full parser. */
static bool is_pin_func(const char *name)
{
	static const char *const pin_funcs[] = { "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
		                                 "pg_try_advisory_lock_shared", "set_config" };
	for (size_t i = 0; i < sizeof(pin_funcs) / sizeof(pin_funcs[0]); i++)
		if (strcasecmp(name, pin_funcs[i]) == 0)
			return true;
	return false;
}

/* True if the call q(...) in DML may change session state (not a built-in known to leave it alone). */
static bool dml_call_opaque(const struct fast *f, const struct qname *q)
{
	char schema[CLS_NAME_MAX], name[CLS_NAME_MAX];
	if (q->n > 2 || part_text(f, &q->part[q->n - 1].t, name, sizeof(name)) < 0 ||
	    (q->n == 2 && part_text(f, &q->part[0].t, schema, sizeof(schema)) < 0))
		return true;
	struct cls_fn_info fi;
	cls_func_lookup(NULL, q->n == 2 ? schema : NULL, name, &fi); /* DML: the full parser judges without env too */
	return fi.opaque;
}

/* INSERT / UPDATE / DELETE / MERGE: primary; decline if a pinning or session-changing function appears. */
static bool f_dml(struct fast *f, struct cls_stmt *st)
{
	int depth = 0;
	for (; !(f_at_end(f) && depth == 0); f_next(f)) {
		const struct sql_tok *t = &f->cur.t;
		if (t->type == SQL_T_ERROR || t->type == SQL_T_EOF || sql_tok_punct(t, ';'))
			return false;
		if (sql_tok_punct(t, '(')) {
			depth++;
		} else if (sql_tok_punct(t, ')')) {
			if (depth-- == 0)
				return false;
		} else if (is_name_tok(t)) {
			struct ftok before = f->prev;
			struct qname q;
			f_name_chain(f, &q);
			char name[CLS_NAME_MAX];
			if (sql_ident_text(f->sql, &q.part[q.n > 3 ? 2 : q.n - 1].t, name, sizeof(name)) < 0)
				return false;
			if (!sql_tok_punct(&f_peek(f, 1)->t, '(')) {
				if (strcmp(name, "pg_settings") == 0)
					return false; /* UPDATE pg_settings changes the session: the full parser flags it */
				continue;
			}
			if (is_pin_func(name))
				return false;
			/* INSERT INTO t (cols) and ON CONFLICT (cols) are column lists; other calls must be built-ins. */
			bool cols =
			        is_word(&before, "into") || (is_word(&before, "on") && strcmp(name, "conflict") == 0);
			if (!cols && call_kind(&q, &before, false) != NOT_CALL && dml_call_opaque(f, &q))
				return false;
		}
	}
	cls_stmt_set(st, CLS_PRIMARY, cls_r_dml, NULL);
	return true;
}

/* Read a savepoint / variable name part (ColId) into buf; false to decline. */
static bool f_colid(struct fast *f, char *buf, size_t cap)
{
	if (f->cur.t.type == SQL_T_IDENT && (f->cur.kw & (KW_RESERVED | KW_TYPEFUNC)))
		return false;
	if (f->cur.t.type != SQL_T_IDENT && f->cur.t.type != SQL_T_QIDENT)
		return false;
	if (part_text(f, &f->cur.t, buf, cap) < 0)
		return false;
	f_next(f);
	return true;
}

/* BEGIN/START modes: ISOLATION LEVEL …, READ ONLY|WRITE, [NOT] DEFERRABLE, optionally comma-separated. */
static bool f_txn_modes(struct fast *f, uint8_t *mode, bool *serializable)
{
	bool first = true;
	while (!f_at_end(f)) {
		if (!first && sql_tok_punct(&f->cur.t, ','))
			f_next(f);
		first = false;
		if (f_accept(f, "isolation")) {
			if (!f_accept(f, "level"))
				return false;
			if (f_accept(f, "serializable")) {
				*serializable = true;
			} else if (f_accept(f, "repeatable")) {
				if (!f_accept(f, "read"))
					return false;
				*serializable = false;
			} else if (f_accept(f, "read")) {
				if (!f_accept(f, "committed") && !f_accept(f, "uncommitted"))
					return false;
				*serializable = false;
			} else {
				return false;
			}
		} else if (f_accept(f, "read")) {
			if (f_accept(f, "only"))
				*mode = CLS_TXN_READ_ONLY;
			else if (f_accept(f, "write"))
				*mode = CLS_TXN_READ_WRITE;
			else
				return false;
		} else if (f_accept(f, "not")) {
			if (!f_accept(f, "deferrable"))
				return false;
		} else if (!f_accept(f, "deferrable")) {
			return false;
		}
	}
	return true;
}

/* BEGIN [WORK|TRANSACTION] modes / START TRANSACTION modes. */
static bool f_begin(struct fast *f, struct cls_stmt *st)
{
	bool start = f_is(f, "start");
	f_next(f);
	if (start) {
		if (!f_accept(f, "transaction"))
			return false;
	} else if (!f_accept(f, "work")) {
		f_accept(f, "transaction");
	}
	uint8_t mode = CLS_TXN_UNSPEC;
	bool ser = false;
	if (!f_txn_modes(f, &mode, &ser))
		return false;
	cls_begin(f->out, st, f_stmt_span(f), mode, ser);
	return true;
}

/* [AND [NO] CHAIN] at the end of COMMIT / ROLLBACK; sets *chain. */
static bool f_chain(struct fast *f, bool *chain)
{
	*chain = false;
	if (f_accept(f, "and")) {
		*chain = !f_accept(f, "no");
		if (!f_accept(f, "chain"))
			return false;
	}
	return f_at_end(f);
}

/* COMMIT/END/ROLLBACK/ABORT [WORK|TRANSACTION] [AND [NO] CHAIN] | ROLLBACK … TO [SAVEPOINT] name. */
static bool f_end(struct fast *f, struct cls_stmt *st)
{
	bool rollback = f_is(f, "rollback") || f_is(f, "abort");
	bool can_to = f_is(f, "rollback");
	f_next(f);
	if (!f_accept(f, "work"))
		f_accept(f, "transaction");
	if (can_to && f_accept(f, "to")) {
		char name[CLS_NAME_MAX];
		if (f_is(f, "savepoint")) {
			f_next(f);
			if (f_at_end(f))
				return false;
		}
		if (!f_colid(f, name, sizeof(name)) || !f_at_end(f))
			return false;
		struct cls_event *ev = cls_add_event(f->out, CLS_EV_ROLLBACK_TO, f_stmt_span(f));
		if (ev)
			cls_event_name(ev, name, strlen(name));
		cls_stmt_set(st, CLS_ANY, cls_r_rollback_to, NULL);
		return true;
	}
	bool chain;
	if (!f_chain(f, &chain))
		return false;
	struct cls_event *ev = cls_add_event(f->out, rollback ? CLS_EV_ROLLBACK : CLS_EV_COMMIT, f_stmt_span(f));
	if (ev && chain)
		ev->flags |= CLS_EVF_CHAIN;
	cls_stmt_set(st, CLS_ANY, rollback ? cls_r_rollback : cls_r_commit, NULL);
	return true;
}

/* SAVEPOINT name / RELEASE [SAVEPOINT] name. */
static bool f_savepoint(struct fast *f, struct cls_stmt *st)
{
	bool release = f_is(f, "release");
	f_next(f);
	if (release && f_is(f, "savepoint")) {
		f_next(f);
		if (f_at_end(f))
			return false;
	}
	char name[CLS_NAME_MAX];
	if (!f_colid(f, name, sizeof(name)) || !f_at_end(f))
		return false;
	struct cls_event *ev = cls_add_event(f->out, release ? CLS_EV_RELEASE : CLS_EV_SAVEPOINT, f_stmt_span(f));
	if (ev)
		cls_event_name(ev, name, strlen(name));
	cls_stmt_set(st, CLS_ANY, release ? cls_r_release : cls_r_savepoint, NULL);
	return true;
}

/* A variable name a[.b…] for SET/RESET/SHOW into buf; declines the special forms (TIME ZONE, …). */
static bool f_var_name(struct fast *f, char *buf, size_t cap)
{
	if (f->cur.kw & KW_VAR_SPECIAL)
		return false;
	char part[CLS_NAME_MAX];
	size_t n = 0;
	for (;;) {
		if (!f_colid(f, part, sizeof(part)))
			return false;
		size_t pn = strlen(part);
		if (n + pn + 2 > cap)
			return false;
		if (n > 0)
			buf[n++] = '.';
		memcpy(buf + n, part, pn + 1);
		n += pn;
		if (!sql_tok_punct(&f->cur.t, '.'))
			return true;
		f_next(f);
	}
}

/* Decode a numeric SET value the way the grammar does (Iconst → decimal text, else verbatim). */
static bool f_number_value(const struct fast *f, const struct sql_tok *t, bool neg, char *buf, size_t cap)
{
	const char *p = f->sql + t->start;
	size_t n = t->end - t->start;
	bool integer = true;
	long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9') {
			integer = false;
			break;
		}
		if (v <= 2147483647LL)
			v = v * 10 + (p[i] - '0');
	}
	if (integer && v <= 2147483647LL)
		return snprintf(buf, cap, "%s%lld", neg && v != 0 ? "-" : "", v) < (int)cap;
	if (n + 2 > cap)
		return false;
	return snprintf(buf, cap, "%s%.*s", neg ? "-" : "", (int)n, p) < (int)cap;
}

/*
 * One SET value into buf (decoded as PostgreSQL's grammar would); false to
 * decline.  own: a pgrouter.* setting, which pgrouter handles itself, so a
 * reserved word such as primary is accepted although PostgreSQL would
 * reject it unquoted.
 */
static bool f_set_value(struct fast *f, bool own, char *buf, size_t cap)
{
	bool neg = false;
	if (f_op(f, '-') || f_op(f, '+')) {
		neg = f_op(f, '-');
		f_next(f);
		if (f->cur.t.type != SQL_T_NUMBER)
			return false;
	}
	const struct sql_tok *t = &f->cur.t;
	if (t->type == SQL_T_NUMBER) {
		if (!f_number_value(f, t, neg, buf, cap))
			return false;
	} else if (t->type == SQL_T_STRING) {
		if (sql_string_text(f->sql, t, buf, cap) < 0)
			return false;
	} else if (t->type == SQL_T_IDENT || t->type == SQL_T_QIDENT) {
		if (t->type == SQL_T_IDENT && !own && (f->cur.kw & KW_RESERVED) && !f_is(f, "on") && !f_is(f, "true") &&
		    !f_is(f, "false"))
			return false;
		if (part_text(f, t, buf, cap) < 0)
			return false;
	} else {
		return false;
	}
	f_next(f);
	return true;
}

/* SET [SESSION|LOCAL] name {TO|=} value[, …] | DEFAULT. */
static bool f_set(struct fast *f, struct cls_stmt *st)
{
	char name[2 * CLS_NAME_MAX], value[1024];
	bool local = false;
	f_next(f);
	if (f_is(f, "local") || f_is(f, "session")) {
		local = f_is(f, "local");
		f_next(f);
	}
	if (!f_var_name(f, name, sizeof(name)))
		return false;
	if (!f_accept(f, "to")) {
		if (!f_op(f, '='))
			return false;
		f_next(f);
	}
	uint8_t sub = CLS_SET_VALUE;
	struct cls_span vspan = { 0, 0 };
	int nvalues = 0;
	if (f_is(f, "default")) {
		f_next(f);
		sub = CLS_SET_DEFAULT;
	} else {
		vspan.off = f->cur.t.start;
		for (;;) {
			if (!f_set_value(f, strncmp(name, "pgrouter.", 9) == 0, value, sizeof(value)))
				return false;
			nvalues++;
			if (!sql_tok_punct(&f->cur.t, ','))
				break;
			f_next(f);
		}
		vspan.len = f->prev.t.end - vspan.off;
	}
	if (!f_at_end(f))
		return false;
	struct cls_event *ev = cls_add_event(f->out, CLS_EV_SET, f_stmt_span(f));
	if (ev) {
		ev->sub = sub;
		ev->value = vspan;
		ev->flags |= (local ? CLS_EVF_LOCAL : 0) | (nvalues > 1 ? CLS_EVF_MULTI_VALUE : 0);
		cls_event_name(ev, name, strlen(name));
		if (nvalues == 1)
			cls_event_value(ev, value, strlen(value));
		cls_event_set_flags(ev);
	}
	bool own = strncmp(name, "pgrouter.", 9) == 0;
	cls_stmt_set(st, CLS_ANY, own ? cls_r_pgrouter_set : cls_r_set, NULL);
	return true;
}

/* RESET name | RESET ALL. */
static bool f_reset(struct fast *f, struct cls_stmt *st)
{
	char name[2 * CLS_NAME_MAX];
	f_next(f);
	bool all = f_is(f, "all");
	if (all)
		f_next(f);
	else if (!f_var_name(f, name, sizeof(name)))
		return false;
	if (!f_at_end(f))
		return false;
	struct cls_event *ev = cls_add_event(f->out, all ? CLS_EV_RESET_ALL : CLS_EV_RESET, f_stmt_span(f));
	if (ev && !all) {
		cls_event_name(ev, name, strlen(name));
		cls_event_set_flags(ev);
	}
	bool own = !all && strncmp(name, "pgrouter.", 9) == 0;
	cls_stmt_set(st, CLS_ANY, own ? cls_r_pgrouter_set : cls_r_reset, NULL);
	return true;
}

/* SHOW name | SHOW ALL. */
static bool f_show(struct fast *f, struct cls_stmt *st)
{
	char name[2 * CLS_NAME_MAX];
	f_next(f);
	if (f_is(f, "all")) {
		f_next(f);
		snprintf(name, sizeof(name), "all");
	} else if (!f_var_name(f, name, sizeof(name))) {
		return false;
	}
	if (!f_at_end(f))
		return false;
	if (cls_node_setting(name)) {
		cls_stmt_set(st, CLS_PRIMARY, cls_r_node_dep, name);
		return true;
	}
	if (strncmp(name, "pgrouter.", 9) != 0) {
		cls_stmt_set(st, CLS_REPLICA, cls_r_show, NULL);
		return true;
	}
	struct cls_event *ev = cls_add_event(f->out, CLS_EV_SHOW_PGROUTER, f_stmt_span(f));
	if (ev)
		cls_event_name(ev, name, strlen(name));
	cls_stmt_set(st, CLS_ANY, cls_r_pgrouter_show, NULL);
	return true;
}

/* Classify one statement starting at the current token; false to decline. */
static bool fast_stmt(struct fast *f, struct cls_stmt *st)
{
	const char *w = f->cur.word;
	if (sql_tok_punct(&f->cur.t, '(') || !strcmp(w, "select") || !strcmp(w, "values") || !strcmp(w, "table") ||
	    !strcmp(w, "with"))
		return f_read(f, st);
	if (!strcmp(w, "insert") || !strcmp(w, "update") || !strcmp(w, "delete") || !strcmp(w, "merge"))
		return f_dml(f, st);
	if (!strcmp(w, "begin") || !strcmp(w, "start"))
		return f_begin(f, st);
	if (!strcmp(w, "commit") || !strcmp(w, "end") || !strcmp(w, "rollback") || !strcmp(w, "abort"))
		return f_end(f, st);
	if (!strcmp(w, "savepoint") || !strcmp(w, "release"))
		return f_savepoint(f, st);
	if (!strcmp(w, "set"))
		return f_set(f, st);
	if (!strcmp(w, "reset"))
		return f_reset(f, st);
	if (!strcmp(w, "show"))
		return f_show(f, st);
	return false;
}

/* Fast path only: true and *out filled if it decided, false if undecided. */
bool classify_fast(const char *sql, size_t len, const struct cls_env *env, struct cls_result *out)
{
	if (sql == NULL || out == NULL || len >= (1u << 30))
		return false;
	cls_init(out);
	struct fast f = { .sql = sql, .len = len, .env = env, .out = out };
	sql_lex_init(&f.lx, sql, len);
	for (;;) {
		memset(&f.cur, 0, sizeof(f.cur)); /* type EOF: "no previous token" for the next statement */
		f_next(&f);
		if (f.cur.t.type == SQL_T_EOF)
			break;
		if (f.cur.t.type == SQL_T_ERROR)
			return false;
		if (sql_tok_punct(&f.cur.t, ';'))
			continue;
		f.stmt_start = f.cur.t.start;
		struct cls_stmt st;
		if (!fast_stmt(&f, &st))
			return false;
		cls_merge(out, &st);
		if (f.cur.t.type == SQL_T_EOF)
			break;
		if (!sql_tok_punct(&f.cur.t, ';'))
			return false;
	}
	cls_finish(out);
	out->flags |= CLS_F_FAST;
	return true;
}
