/* classify_session: libpg_query path for statements that change session or transaction state. */
#include "sql/classify_int.h"

#include <stdio.h>
#include <string.h>

/* Transaction modes from a DefElem list (last one wins, like PostgreSQL applying them in order). */
static void txn_modes(struct jv list, uint8_t *mode, bool *serializable)
{
	struct jit it;
	struct jv item, type, de, ac, v;
	char name[64], s[64];
	if (!j_iter(list, '[', &it))
		return;
	while (j_arr_next(&it, &item)) {
		if (!j_node(item, &type, &de) || !j_get_str(de, "defname", name, sizeof(name)) ||
		    !j_get_node(de, "arg", "A_Const", &ac))
			continue;
		if (strcmp(name, "transaction_read_only") == 0)
			*mode = (j_get(ac, "ival", &v) && j_get_int(v, "ival", 0) != 0) ? CLS_TXN_READ_ONLY
			                                                                : CLS_TXN_READ_WRITE;
		else if (strcmp(name, "transaction_isolation") == 0)
			*serializable = j_get(ac, "sval", &v) && j_get_str(v, "sval", s, sizeof(s)) &&
			        strcmp(s, "serializable") == 0;
	}
}

/* Add an event named by member key of body (if present). */
struct cls_event *cls_named_event(struct fctx *x, uint8_t kind, struct jv body, const char *key)
{
	char name[1024];
	struct cls_event *ev = cls_add_event(x->out, kind, x->span);
	if (ev && j_get_str(body, key, name, sizeof(name)))
		cls_event_name(ev, name, strlen(name));
	return ev;
}

/* BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE / ROLLBACK TO / two-phase commit. */
void cls_full_txn(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	char kind[40] = "";
	struct jv opts;
	j_get_str(body, "kind", kind, sizeof(kind));
	if (!strcmp(kind, "TRANS_STMT_BEGIN") || !strcmp(kind, "TRANS_STMT_START")) {
		uint8_t mode = CLS_TXN_UNSPEC;
		bool ser = false;
		if (j_get(body, "options", &opts))
			txn_modes(opts, &mode, &ser);
		cls_begin(x->out, st, x->span, mode, ser);
	} else if (!strcmp(kind, "TRANS_STMT_COMMIT") || !strcmp(kind, "TRANS_STMT_ROLLBACK")) {
		bool rb = strcmp(kind, "TRANS_STMT_ROLLBACK") == 0;
		struct cls_event *ev = cls_add_event(x->out, rb ? CLS_EV_ROLLBACK : CLS_EV_COMMIT, x->span);
		if (ev && j_get_bool(body, "chain"))
			ev->flags |= CLS_EVF_CHAIN;
		cls_stmt_set(st, CLS_ANY, rb ? cls_r_rollback : cls_r_commit, NULL);
	} else if (!strcmp(kind, "TRANS_STMT_SAVEPOINT")) {
		cls_named_event(x, CLS_EV_SAVEPOINT, body, "savepoint_name");
		cls_stmt_set(st, CLS_ANY, cls_r_savepoint, NULL);
	} else if (!strcmp(kind, "TRANS_STMT_RELEASE")) {
		cls_named_event(x, CLS_EV_RELEASE, body, "savepoint_name");
		cls_stmt_set(st, CLS_ANY, cls_r_release, NULL);
	} else if (!strcmp(kind, "TRANS_STMT_ROLLBACK_TO")) {
		cls_named_event(x, CLS_EV_ROLLBACK_TO, body, "savepoint_name");
		cls_stmt_set(st, CLS_ANY, cls_r_rollback_to, NULL);
	} else if (!strcmp(kind, "TRANS_STMT_PREPARE")) {
		cls_named_event(x, CLS_EV_PREPARE_TXN, body, "gid");
		cls_stmt_set(st, CLS_PRIMARY, cls_r_prepare_txn, NULL);
	} else {
		cls_stmt_set(st, CLS_PRIMARY, cls_r_two_phase, NULL);
	}
}

/*
 * Integer constant written at sql[loc]: libpg_query 15-4.0.0's JSON output
 * omits negative (and zero) integers, printing "ival":{}, so the sign and
 * digits are read back from the text.  Returns false if it is not [+-]digits.
 */
static bool int_from_text(const struct fctx *x, long long loc, char *buf, size_t cap)
{
	struct sql_lexer lx;
	struct sql_tok t;
	if (loc < 0 || (size_t)loc >= x->len)
		return false;
	sql_lex_init(&lx, x->sql, x->len);
	lx.pos = (size_t)loc;
	sql_lex_next_sig(&lx, &t);
	bool neg = t.type == SQL_T_OP && t.end - t.start == 1 && x->sql[t.start] == '-';
	if (t.type == SQL_T_OP && t.end - t.start == 1 && (neg || x->sql[t.start] == '+'))
		sql_lex_next_sig(&lx, &t);
	if (t.type != SQL_T_NUMBER)
		return false;
	long long v = 0;
	for (uint32_t i = t.start; i < t.end; i++) {
		if (x->sql[i] < '0' || x->sql[i] > '9' || v > 1000000000000LL)
			return false;
		v = v * 10 + (x->sql[i] - '0');
	}
	return snprintf(buf, cap, "%lld", neg ? -v : v) < (int)cap;
}

/* Decode a single SET argument (A_Const) the way PostgreSQL will see it; false if not a constant. */
static bool set_arg_text(const struct fctx *x, struct jv arg, char *buf, size_t cap)
{
	struct jv type, ac, v, iv;
	if (!j_node(arg, &type, &ac) || !j_key_is(type, "A_Const"))
		return false;
	if (j_get(ac, "sval", &v))
		return j_get_str(v, "sval", buf, cap);
	if (j_get(ac, "fval", &v))
		return j_get_str(v, "fval", buf, cap);
	if (j_get(ac, "ival", &v)) {
		if (j_get(v, "ival", &iv))
			return snprintf(buf, cap, "%lld", j_get_int(v, "ival", 0)) < (int)cap;
		return int_from_text(x, j_get_int(ac, "location", -1), buf, cap);
	}
	if (j_get(ac, "boolval", &v))
		return snprintf(buf, cap, "%s", j_get_bool(v, "boolval") ? "true" : "false") < (int)cap;
	return false;
}

/* SET name = value list: value span (from the first value to the statement's end) and decoded value. */
static void set_values(struct fctx *x, struct jv args, struct cls_event *ev)
{
	struct jit it;
	struct jv arg, first = { 0 }, type, body;
	int n = 0;
	if (!j_iter(args, '[', &it))
		return;
	while (j_arr_next(&it, &arg))
		if (n++ == 0)
			first = arg;
	if (n == 0)
		return;
	long long loc = j_node(first, &type, &body) ? j_get_int(body, "location", -1) : -1;
	uint32_t end = x->span.off + x->span.len;
	if (loc >= x->span.off && loc < end) {
		ev->value.off = (uint32_t)loc;
		ev->value.len = end - (uint32_t)loc;
	}
	char value[1024];
	if (n > 1)
		ev->flags |= CLS_EVF_MULTI_VALUE;
	else if (set_arg_text(x, first, value, sizeof(value)))
		cls_event_value(ev, value, strlen(value));
}

/* SET / RESET in all their forms, including SET TRANSACTION and SESSION CHARACTERISTICS. */
void cls_full_set(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	char kind[32] = "", name[1024] = "";
	struct jv args;
	j_get_str(body, "kind", kind, sizeof(kind));
	j_get_str(body, "name", name, sizeof(name));
	bool has_args = j_get(body, "args", &args);
	if (!strcmp(kind, "VAR_SET_MULTI")) {
		bool txn = strncmp(name, "TRANSACTION", 11) == 0;
		for (char *p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		struct cls_event *ev = cls_add_event(x->out, txn ? CLS_EV_SET_TRANSACTION : CLS_EV_SET, x->span);
		if (ev) {
			bool ser = false;
			cls_event_name(ev, name, strlen(name));
			if (has_args)
				txn_modes(args, &ev->txn_mode, &ser);
			ev->flags |= ser ? CLS_EVF_SERIALIZABLE : 0;
		}
		cls_stmt_set(st, CLS_ANY, txn ? cls_r_set_txn : cls_r_set, NULL);
		return;
	}
	if (!strcmp(kind, "VAR_RESET_ALL")) {
		cls_add_event(x->out, CLS_EV_RESET_ALL, x->span);
		cls_stmt_set(st, CLS_ANY, cls_r_reset, NULL);
		return;
	}
	bool reset = !strcmp(kind, "VAR_RESET");
	struct cls_event *ev = cls_add_event(x->out, reset ? CLS_EV_RESET : CLS_EV_SET, x->span);
	if (ev) {
		cls_event_name(ev, name, strlen(name));
		if (!reset) {
			ev->sub = !strcmp(kind, "VAR_SET_DEFAULT") ? CLS_SET_DEFAULT
			        : !strcmp(kind, "VAR_SET_CURRENT") ? CLS_SET_CURRENT
			                                           : CLS_SET_VALUE;
			ev->flags |= j_get_bool(body, "is_local") ? CLS_EVF_LOCAL : 0;
			if (has_args && ev->sub == CLS_SET_VALUE)
				set_values(x, args, ev);
		}
		cls_event_set_flags(ev);
	}
	bool own = strncmp(name, "pgrouter.", 9) == 0;
	cls_stmt_set(st, CLS_ANY, own ? cls_r_pgrouter_set : reset ? cls_r_reset : cls_r_set, NULL);
}

/* SHOW name: a read, unless it is pgrouter's own setting. */
void cls_full_show(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	char name[1024] = "";
	j_get_str(body, "name", name, sizeof(name));
	if (cls_node_setting(name)) {
		cls_stmt_set(st, CLS_PRIMARY, cls_r_node_dep, name);
		return;
	}
	if (strncmp(name, "pgrouter.", 9) != 0) {
		cls_stmt_set(st, CLS_REPLICA, cls_r_show, NULL);
		return;
	}
	cls_named_event(x, CLS_EV_SHOW_PGROUTER, body, "name");
	cls_stmt_set(st, CLS_ANY, cls_r_pgrouter_show, NULL);
}

/* DISCARD ALL / PLANS / SEQUENCES / TEMP. */
void cls_full_discard(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	char t[32] = "";
	j_get_str(body, "target", t, sizeof(t));
	struct cls_event *ev = cls_add_event(x->out, CLS_EV_DISCARD, x->span);
	if (ev)
		ev->sub = !strcmp(t, "DISCARD_PLANS")     ? CLS_DISCARD_PLANS
		        : !strcmp(t, "DISCARD_TEMP")      ? CLS_DISCARD_TEMP
		        : !strcmp(t, "DISCARD_SEQUENCES") ? CLS_DISCARD_SEQUENCES
		                                          : CLS_DISCARD_ALL;
	cls_stmt_set(st, CLS_ANY, cls_r_discard, NULL);
}
