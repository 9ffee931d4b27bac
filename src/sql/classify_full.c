/* classify_full: the authority — PostgreSQL's own parser (libpg_query) and a walk over its parse tree. */
#include "sql/classify_int.h"

#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_OPT_HOLD 0x0020 /* parsenodes.h: DECLARE … WITH HOLD */
#define STACK_COPY 2048 /* statements shorter than this are NUL-terminated on the stack */

/* What a scan over a subtree found. */
struct scan {
	const struct cls_env *env; /* volatility knowledge; NULL when only pins matter */
	bool eval; /* judge every function (reads) or only look for pins (writes) */
	struct cls_result *out;
	bool nested_dml, into, into_temp;
	const char *strength; /* first locking clause, or NULL */
	uint8_t pins;
	bool opaque; /* a function that may change session state (user-defined, or unknown) */
	char write_fn[CLS_DETAIL_MAX];
	char unknown_fn[CLS_DETAIL_MAX];
	char node_dep[CLS_DETAIL_MAX]; /* first view, function or setting whose answer is the node's */
};

typedef void handler_fn(struct fctx *x, struct jv body, struct cls_stmt *st);

static void dispatch(struct fctx *x, struct jv node, struct cls_stmt *st);

/* True if a RangeVar body names a temporary relation (TEMP, or schema pg_temp). */
static bool rangevar_temp(struct jv rv)
{
	char buf[CLS_NAME_MAX];
	struct jv v;
	if (j_get(rv, "relpersistence", &v) && j_str_is(v, "t"))
		return true;
	return j_get_str(rv, "schemaname", buf, sizeof(buf)) && strncmp(buf, "pg_temp", 7) == 0;
}

/* ---- scanning a subtree for functions, locking clauses, INTO and nested DML ---- */

/* Concatenate up to three strings into dst, truncating to cap-1 bytes (details are informational). */
static void join3(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
	size_t n = 0;
	for (const char *parts[3] = { a, b, c }, **p = parts; p < parts + 3; p++)
		for (const char *s = *p; s && *s && n + 1 < cap; s++)
			dst[n++] = *s;
	dst[n] = 0;
}

/* "schema.name" or "name" into buf for a reason detail. */
static void func_display(char *buf, size_t cap, const char *schema, const char *name)
{
	join3(buf, cap, schema, schema ? "." : NULL, name);
}

/* True if set_config's third argument is literally true (transaction-local: nothing to pin). */
static bool set_config_local(struct jv fc)
{
	struct jv args, arg, body, v;
	struct jit it;
	if (!j_get(fc, "args", &args) || !j_iter(args, '[', &it))
		return false;
	for (int i = 0; i < 3; i++)
		if (!j_arr_next(&it, &arg))
			return false;
	struct jv type;
	if (!j_node(arg, &type, &body) || !j_key_is(type, "A_Const"))
		return false;
	if (j_get(body, "boolval", &v))
		return j_get_bool(v, "boolval");
	char s[16];
	return j_get(body, "sval", &v) && j_get_str(v, "sval", s, sizeof(s)) && cls_parse_bool(s) == 1;
}

/* Remember the first node-dependent thing a read looks at. */
static void note_node_dep(struct scan *sc, const char *what)
{
	if (!sc->node_dep[0])
		snprintf(sc->node_dep, sizeof(sc->node_dep), "%s", what);
}

/* current_setting(name …): the setting when the name is a string constant, else "current_setting"
   (any setting, so perhaps one that differs on a standby). */
static void setting_arg(struct jv fc, char *buf, size_t cap)
{
	struct jv args, arg, type, body, v;
	struct jit it;
	snprintf(buf, cap, "current_setting");
	if (!j_get(fc, "args", &args) || !j_iter(args, '[', &it) || !j_arr_next(&it, &arg))
		return;
	if (!j_node(arg, &type, &body) || !j_key_is(type, "A_Const") || !j_get(body, "sval", &v))
		return;
	char name[CLS_NAME_MAX];
	if (j_get_str(v, "sval", name, sizeof(name)))
		snprintf(buf, cap, "%s", name);
}

/* The last two parts of a FuncCall's funcname list; false if malformed. */
static bool func_name(struct jv fc, char schema[CLS_NAME_MAX], char name[CLS_NAME_MAX], bool *qualified)
{
	struct jv list, item, body;
	struct jit it;
	char part[256];
	int n = 0;
	if (!j_get(fc, "funcname", &list) || !j_iter(list, '[', &it))
		return false;
	while (j_arr_next(&it, &item)) {
		struct jv type;
		if (!j_node(item, &type, &body) || !j_key_is(type, "String"))
			return false;
		int k = j_get_str(body, "sval", part, sizeof(part)) ? (int)strlen(part) : -1;
		if (k < 0)
			return false;
		if (n > 0)
			memcpy(schema, name, CLS_NAME_MAX);
		snprintf(name, CLS_NAME_MAX, "%.*s", CLS_NAME_MAX - 1, part);
		n++;
	}
	*qualified = n > 1;
	return n > 0;
}

/* A FuncCall body: judge the function (SQL-syntax calls are always pg_catalog built-ins). */
static void scan_func(struct scan *sc, struct jv fc)
{
	struct jv key, val, format = { NULL, NULL };
	struct jit it;
	char schema[CLS_NAME_MAX] = "", name[CLS_NAME_MAX] = "", disp[CLS_DETAIL_MAX];
	bool qualified;
	if (!j_iter(fc, '{', &it))
		return;
	while (j_obj_next(&it, &key, &val)) /* funcformat comes after the (possibly big) args */
		if (j_key_is(key, "funcformat"))
			format = val;
	if (format.p && j_str_is(format, "COERCE_SQL_SYNTAX"))
		return;
	if (!func_name(fc, schema, name, &qualified))
		return;
	const char *sch = qualified ? schema : NULL;
	struct cls_fn_info fi;
	cls_func_lookup(sc->eval ? sc->env : NULL, sch, name, &fi);
	func_display(disp, sizeof(disp), sch, name);
	if (fi.cls == CLS_FN_SET_CONFIG) {
		if (set_config_local(fc))
			return;
		fi.cls = CLS_FN_WRITE;
		fi.pins = CLS_PIN_SET_CONFIG;
	}
	sc->opaque |= fi.opaque;
	if (fi.cls == CLS_FN_SETTING && sc->eval) {
		char setting[CLS_DETAIL_MAX];
		setting_arg(fc, setting, sizeof(setting));
		if (!strcmp(setting, "current_setting") || cls_node_setting(setting))
			note_node_dep(sc, setting);
	} else if (fi.cls == CLS_FN_NODE && sc->eval) {
		note_node_dep(sc, disp);
	} else if (fi.cls == CLS_FN_WRITE) {
		sc->pins |= fi.pins;
		if (!sc->write_fn[0])
			snprintf(sc->write_fn, sizeof(sc->write_fn), "%s", disp);
	} else if (fi.cls == CLS_FN_UNKNOWN && sc->eval) {
		cls_add_unknown(sc->out, sch, name);
		if (!sc->unknown_fn[0])
			snprintf(sc->unknown_fn, sizeof(sc->unknown_fn), "%s", disp);
	}
}

/* A lockingClause list: remember the first clause's strength. */
static void scan_locking(struct scan *sc, struct jv list)
{
	static const struct {
		const char *lcs, *detail;
	} strengths[] = { { "LCS_FORUPDATE", "update" },
		          { "LCS_FORNOKEYUPDATE", "no-key-update" },
		          { "LCS_FORSHARE", "share" },
		          { "LCS_FORKEYSHARE", "key-share" } };
	struct jit it;
	struct jv item, body, v;
	if (sc->strength || !j_iter(list, '[', &it) || !j_arr_next(&it, &item))
		return;
	sc->strength = "update";
	if (!j_node(item, &v, &body) || !j_get(body, "strength", &v))
		return;
	for (size_t i = 0; i < sizeof(strengths) / sizeof(strengths[0]); i++)
		if (j_str_is(v, strengths[i].lcs))
			sc->strength = strengths[i].detail;
}

/* True if a scan needs to look inside the value of this key (checked before measuring the value). */
static bool interesting_key(struct jv key)
{
	switch (key.end - key.p) {
	case 8: return j_key_is(key, "FuncCall") || j_key_is(key, "RangeVar");
	case 10:
		return j_key_is(key, "InsertStmt") || j_key_is(key, "UpdateStmt") || j_key_is(key, "DeleteStmt") ||
		        j_key_is(key, "intoClause");
	case 9: return j_key_is(key, "MergeStmt");
	case 13: return j_key_is(key, "lockingClause");
	}
	return false;
}

/* j_each_key callback: dispatch on the keys that matter (others cost one length check). */
static void scan_key(struct jv key, const char *val, const char *end, void *arg)
{
	struct scan *sc = arg;
	if (!interesting_key(key))
		return;
	struct jv v = { val, j_skip(val, end) };
	if (v.end == NULL)
		return;
	if (j_key_is(key, "FuncCall")) {
		scan_func(sc, v);
	} else if (j_key_is(key, "RangeVar")) {
		char rel[CLS_NAME_MAX];
		if (sc->eval && j_get_str(v, "relname", rel, sizeof(rel)) && cls_node_relation(rel))
			note_node_dep(sc, rel);
	} else if (j_key_is(key, "lockingClause")) {
		scan_locking(sc, v);
	} else if (j_key_is(key, "intoClause")) {
		struct jv rel;
		sc->into = true;
		if (j_get(v, "rel", &rel) && rangevar_temp(rel))
			sc->into_temp = true;
	} else {
		sc->nested_dml = true;
	}
}

/* Scan a subtree; eval: judge every function, else only look for pinning ones. */
static void scan_tree(struct fctx *x, struct jv v, bool eval, struct scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->env = x->env;
	sc->eval = eval;
	sc->out = x->out;
	j_each_key(v, scan_key, sc);
	x->out->pins |= sc->pins;
	if (sc->opaque)
		x->out->flags |= CLS_F_SESSION_OPAQUE;
}

/* ---- statement handlers ---- */

/* SELECT / VALUES / TABLE / WITH … SELECT. */
static void h_select(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct scan sc;
	scan_tree(x, body, true, &sc);
	if (sc.into_temp)
		x->out->pins |= CLS_PIN_TEMP;
	if (sc.nested_dml)
		cls_stmt_set(st, CLS_PRIMARY, cls_r_writable_cte, NULL);
	else if (sc.into)
		cls_stmt_set(st, CLS_PRIMARY, cls_r_select_into, NULL);
	else if (sc.strength)
		cls_stmt_set(st, CLS_PRIMARY, cls_r_for_update, sc.strength);
	else if (sc.write_fn[0])
		cls_stmt_set(st, CLS_PRIMARY, cls_r_volatile, sc.write_fn);
	else if (sc.unknown_fn[0])
		cls_stmt_set(st, CLS_PRIMARY, cls_r_unknown_fn, sc.unknown_fn);
	else if (sc.node_dep[0])
		cls_stmt_set(st, CLS_PRIMARY, cls_r_node_dep, sc.node_dep);
	else
		cls_stmt_set(st, CLS_REPLICA, cls_r_read, NULL);
}

/* INSERT / UPDATE / DELETE / MERGE: primary; only pins and session changes are of interest inside. */
static void h_dml(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct scan sc;
	struct jv rel;
	char name[CLS_NAME_MAX];
	scan_tree(x, body, false, &sc);
	/* UPDATE pg_settings SET setting = … is set_config() in disguise. */
	if (j_get(body, "relation", &rel) && j_get_str(rel, "relname", name, sizeof(name)) &&
	    strcmp(name, "pg_settings") == 0)
		x->out->flags |= CLS_F_SESSION_OPAQUE;
	cls_stmt_set(st, CLS_PRIMARY, cls_r_dml, NULL);
}

/* DO and CALL: primary, and whatever the code inside does to the session is unknown. */
static void h_opaque(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	x->out->flags |= CLS_F_SESSION_OPAQUE;
	cls_stmt_set(st, CLS_PRIMARY, j_get(body, "funccall", &(struct jv){ 0 }) ? cls_r_call : cls_r_do, NULL);
}

/* Classify an inner statement into a scratch result (events and pins kept apart). */
static void inner(struct fctx *x, struct jv node, struct cls_result *scratch, struct cls_stmt *st)
{
	struct fctx y = *x;
	y.out = scratch;
	cls_init(scratch);
	dispatch(&y, node, st);
}

/* Take over what an executed inner statement does to the session. */
static void absorb(struct cls_result *out, const struct cls_result *in)
{
	out->pins |= in->pins;
	out->flags |= in->flags & (CLS_F_EVENTS_OVERFLOW | CLS_F_UNKNOWN_OVERFLOW | CLS_F_SESSION_OPAQUE);
	for (unsigned i = 0; i < in->n_events; i++) {
		struct cls_event *ev = cls_add_event(out, in->ev[i].kind, in->ev[i].stmt);
		if (ev)
			*ev = in->ev[i];
	}
	for (unsigned i = 0; i < in->n_unknown; i++)
		cls_add_unknown(out, in->unknown[i].schema[0] ? in->unknown[i].schema : NULL, in->unknown[i].name);
}

/* True if an inner statement result is a definite (not unknown-function, not node-dependent) primary. */
static bool hard_primary(const struct cls_stmt *st)
{
	return st->target == CLS_PRIMARY && st->reason != cls_r_unknown_fn && st->reason != cls_r_node_dep;
}

/* EXPLAIN [ANALYZE]: only ANALYZE executes the statement. */
static void h_explain(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv opts, item, db, arg, type, abody, query, qtype, qbody;
	struct jit it;
	bool analyze = false;
	if (j_get(body, "options", &opts) && j_iter(opts, '[', &it)) {
		while (j_arr_next(&it, &item)) {
			char name[32], s[32];
			if (!j_node(item, &type, &db) || !j_get_str(db, "defname", name, sizeof(name)) ||
			    strcmp(name, "analyze") != 0)
				continue;
			analyze = true; /* ANALYZE with no value, or one we cannot read: assume it runs */
			if (j_get(db, "arg", &arg) && j_node(arg, &type, &abody)) {
				if (j_key_is(type, "String") && j_get_str(abody, "sval", s, sizeof(s)))
					analyze = cls_parse_bool(s) != 0;
				else if (j_key_is(type, "Integer"))
					analyze = j_get_int(abody, "ival", 0) != 0;
			}
		}
	}
	if (!j_get(body, "query", &query) || !j_node(query, &qtype, &qbody)) {
		cls_stmt_set(st, CLS_PRIMARY, cls_r_other, "ExplainStmt");
		return;
	}
	if (j_key_is(qtype, "ExecuteStmt")) {
		dispatch(x, query, st); /* needs the prepared statement wherever it lives */
		return;
	}
	if (!analyze) {
		cls_stmt_set(st, CLS_REPLICA, cls_r_explain, NULL);
		return;
	}
	struct cls_result scratch;
	struct cls_stmt in;
	inner(x, query, &scratch, &in);
	absorb(x->out, &scratch);
	if (hard_primary(&in)) {
		char d[CLS_DETAIL_MAX];
		join3(d, sizeof(d), in.reason, in.detail[0] ? ":" : NULL, in.detail);
		cls_stmt_set(st, CLS_PRIMARY, cls_r_explain_write, d);
	} else if (in.target == CLS_PRIMARY) {
		*st = in;
	} else {
		cls_stmt_set(st, CLS_REPLICA, cls_r_explain, NULL);
	}
}

/* COPY … FROM (write), COPY … TO a file/program (server-side effect), COPY … TO STDOUT (read). */
static void h_copy(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv query;
	struct cls_stmt in;
	cls_stmt_set(&in, CLS_REPLICA, cls_r_copy_to, NULL);
	if (j_get_bool(body, "is_from")) {
		cls_stmt_set(st, CLS_PRIMARY, cls_r_copy_from, NULL);
		return;
	}
	if (j_get(body, "query", &query)) {
		struct cls_result scratch;
		inner(x, query, &scratch, &in);
		absorb(x->out, &scratch);
	}
	struct jv v;
	if (hard_primary(&in))
		*st = in;
	else if (j_get(body, "filename", &v) || j_get_bool(body, "is_program"))
		cls_stmt_set(st, CLS_PRIMARY, cls_r_copy_file, NULL);
	else if (in.target == CLS_PRIMARY)
		*st = in;
	else
		cls_stmt_set(st, CLS_REPLICA, cls_r_copy_to, NULL);
}

/* SQL PREPARE: session state; the prepared statement's own target travels in the event. */
static void h_prepare(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv query;
	struct cls_stmt in;
	cls_stmt_set(&in, CLS_PRIMARY, cls_r_other, NULL);
	if (j_get(body, "query", &query)) {
		struct cls_result scratch; /* not executed yet: its effects are not taken over */
		inner(x, query, &scratch, &in);
	}
	struct cls_event *ev = cls_named_event(x, CLS_EV_PREPARE, body, "name");
	if (ev)
		ev->target = in.target;
	x->out->pins |= CLS_PIN_PREPARE;
	cls_stmt_set(st, CLS_PRIMARY, cls_r_prepare, NULL);
}

/* SQL EXECUTE name: runs whatever was prepared, on the connection that has it. */
static void h_execute(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	cls_named_event(x, CLS_EV_EXECUTE, body, "name");
	cls_stmt_set(st, CLS_PRIMARY, cls_r_execute, NULL);
}

/* DEALLOCATE [PREPARE] name | ALL. */
static void h_deallocate(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv v;
	cls_named_event(x, j_get(body, "name", &v) ? CLS_EV_DEALLOCATE : CLS_EV_DEALLOCATE_ALL, body, "name");
	cls_stmt_set(st, CLS_ANY, cls_r_deallocate, NULL);
}

/* DECLARE cursor: its query decides, WITH HOLD pins (the cursor outlives the transaction). */
static void h_declare(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv query;
	struct cls_stmt in;
	cls_stmt_set(&in, CLS_REPLICA, cls_r_declare, NULL);
	if (j_get(body, "query", &query)) {
		struct cls_result scratch;
		inner(x, query, &scratch, &in);
		absorb(x->out, &scratch);
	}
	bool hold = (j_get_int(body, "options", 0) & CURSOR_OPT_HOLD) != 0;
	if (hold) {
		cls_named_event(x, CLS_EV_DECLARE_HOLD, body, "portalname");
		x->out->pins |= CLS_PIN_HOLD;
	}
	if (hard_primary(&in))
		*st = in;
	else if (hold)
		cls_stmt_set(st, CLS_PRIMARY, cls_r_hold, NULL);
	else if (in.target == CLS_PRIMARY)
		*st = in;
	else
		cls_stmt_set(st, CLS_REPLICA, cls_r_declare, NULL);
}

/* LISTEN channel: pins, primary. */
static void h_listen(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	cls_named_event(x, CLS_EV_LISTEN, body, "conditionname");
	x->out->pins |= CLS_PIN_LISTEN;
	cls_stmt_set(st, CLS_PRIMARY, cls_r_listen, NULL);
}

/* UNLISTEN channel | *. */
static void h_unlisten(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct cls_event *ev = cls_named_event(x, CLS_EV_UNLISTEN, body, "conditionname");
	if (ev && !ev->name[0])
		cls_event_name(ev, "*", 1);
	cls_stmt_set(st, CLS_PRIMARY, cls_r_unlisten, NULL);
}

/* VACUUM [ANALYZE] / ANALYZE. */
static void h_vacuum(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	cls_stmt_set(st, CLS_PRIMARY, j_get_bool(body, "is_vacuumcmd") ? cls_r_vacuum : cls_r_analyze, NULL);
}

/* DDL that may create a temporary object: pin unless it is dropped at commit. */
static void create_temp(struct fctx *x, struct jv rel, bool on_commit_drop, struct cls_stmt *st)
{
	if (rel.p == NULL || !rangevar_temp(rel)) {
		cls_stmt_set(st, CLS_PRIMARY, cls_r_ddl, NULL);
		return;
	}
	if (!on_commit_drop)
		x->out->pins |= CLS_PIN_TEMP;
	cls_stmt_set(st, CLS_PRIMARY, cls_r_temp, NULL);
}

/* True if member key of obj is the string ONCOMMIT_DROP. */
static bool on_commit_drop(struct jv obj, const char *key)
{
	struct jv v;
	return j_get(obj, key, &v) && j_str_is(v, "ONCOMMIT_DROP");
}

/* CREATE TABLE: temporary unless ON COMMIT DROP pins. */
static void h_create(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv rel = { 0 };
	j_get(body, "relation", &rel);
	create_temp(x, rel, on_commit_drop(body, "oncommit"), st);
}

/* CREATE TABLE … AS / SELECT … INTO as DDL, CREATE MATERIALIZED VIEW. */
static void h_create_as(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv into = { 0 }, rel = { 0 };
	if (j_get(body, "into", &into))
		j_get(into, "rel", &rel);
	create_temp(x, rel, into.p && on_commit_drop(into, "onCommit"), st);
}

/* CREATE [TEMP] VIEW. */
static void h_create_view(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv rel = { 0 };
	j_get(body, "view", &rel);
	create_temp(x, rel, false, st);
}

/* CREATE [TEMP] SEQUENCE. */
static void h_create_seq(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	struct jv rel = { 0 };
	j_get(body, "sequence", &rel);
	create_temp(x, rel, false, st);
}

/* CREATE FUNCTION pg_temp.f(): a temporary function. */
static void h_create_func(struct fctx *x, struct jv body, struct cls_stmt *st)
{
	char schema[CLS_NAME_MAX], name[CLS_NAME_MAX];
	bool qualified = false;
	if (func_name(body, schema, name, &qualified) && qualified && strncmp(schema, "pg_temp", 7) == 0) {
		x->out->pins |= CLS_PIN_TEMP;
		cls_stmt_set(st, CLS_PRIMARY, cls_r_temp, NULL);
		return;
	}
	cls_stmt_set(st, CLS_PRIMARY, cls_r_ddl, NULL);
}

/* Parse-tree statement node → handler, or a fixed target and reason when nothing needs a closer look. */
static const struct {
	const char *node;
	handler_fn *fn;
	uint8_t target;
	const char *reason;
} handlers[] = {
	{ "SelectStmt", h_select, 0, NULL },
	{ "InsertStmt", h_dml, 0, NULL },
	{ "UpdateStmt", h_dml, 0, NULL },
	{ "DeleteStmt", h_dml, 0, NULL },
	{ "MergeStmt", h_dml, 0, NULL },
	{ "ExplainStmt", h_explain, 0, NULL },
	{ "CopyStmt", h_copy, 0, NULL },
	{ "TransactionStmt", cls_full_txn, 0, NULL },
	{ "VariableSetStmt", cls_full_set, 0, NULL },
	{ "VariableShowStmt", cls_full_show, 0, NULL },
	{ "DiscardStmt", cls_full_discard, 0, NULL },
	{ "PrepareStmt", h_prepare, 0, NULL },
	{ "ExecuteStmt", h_execute, 0, NULL },
	{ "DeallocateStmt", h_deallocate, 0, NULL },
	{ "DeclareCursorStmt", h_declare, 0, NULL },
	{ "ListenStmt", h_listen, 0, NULL },
	{ "UnlistenStmt", h_unlisten, 0, NULL },
	{ "VacuumStmt", h_vacuum, 0, NULL },
	{ "CreateStmt", h_create, 0, NULL },
	{ "CreateTableAsStmt", h_create_as, 0, NULL },
	{ "ViewStmt", h_create_view, 0, NULL },
	{ "CreateSeqStmt", h_create_seq, 0, NULL },
	{ "CreateFunctionStmt", h_create_func, 0, NULL },
	{ "TruncateStmt", NULL, CLS_PRIMARY, cls_r_dml },
	{ "FetchStmt", NULL, CLS_ANY, cls_r_cursor },
	{ "ClosePortalStmt", NULL, CLS_ANY, cls_r_cursor },
	{ "NotifyStmt", NULL, CLS_PRIMARY, cls_r_notify },
	{ "LockStmt", NULL, CLS_PRIMARY, cls_r_lock },
	{ "CallStmt", h_opaque, 0, NULL },
	{ "DoStmt", h_opaque, 0, NULL },
	{ "ConstraintsSetStmt", NULL, CLS_ANY, cls_r_set },
	{ "CheckPointStmt", NULL, CLS_PRIMARY, cls_r_maintenance },
	{ "ClusterStmt", NULL, CLS_PRIMARY, cls_r_maintenance },
	{ "ReindexStmt", NULL, CLS_PRIMARY, cls_r_maintenance },
	{ "LoadStmt", NULL, CLS_PRIMARY, cls_r_maintenance },
};

/* Node names of schema-changing statements that need no closer look. */
static bool is_ddl_node(const char *n)
{
	static const char *const prefixes[] = { "Create",   "Alter",   "Drop",   "Grant",         "Comment",
		                                "SecLabel", "Rename",  "Define", "Index",         "Reassign",
		                                "Import",   "Refresh", "Rule",   "CompositeType", "ReplicaIdentity",
		                                NULL };
	for (const char *const *p = prefixes; *p; p++)
		if (strncmp(n, *p, strlen(*p)) == 0)
			return true;
	return false;
}

/* Classify one parse-tree statement node. */
static void dispatch(struct fctx *x, struct jv node, struct cls_stmt *st)
{
	struct jv type, body;
	char name[64];
	if (!j_node(node, &type, &body)) {
		cls_stmt_set(st, CLS_PRIMARY, cls_r_other, "?");
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(type.end - type.p), type.p);
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strcmp(name, handlers[i].node) == 0) {
			if (handlers[i].fn)
				handlers[i].fn(x, body, st);
			else
				cls_stmt_set(st, handlers[i].target, handlers[i].reason, NULL);
			return;
		}
	}
	if (is_ddl_node(name))
		cls_stmt_set(st, CLS_PRIMARY, cls_r_ddl, NULL);
	else
		cls_stmt_set(st, CLS_PRIMARY, cls_r_other, name);
}

/*
 * libpg_query prints its parse tree recursively (so would protobuf output),
 * one or more C frames per tree level, without PostgreSQL's stack-depth
 * check: "SELECT 1+1+…+1" with 100k terms overflows even an 8 MB stack and
 * would take the whole proxy down.  So before parsing, bound the tree depth
 * from the tokens: each ( [ or CASE opens a level worth NEST_PAREN; each
 * operator, ::, keyword or closed group in the current segment may add one
 * level, where segments are separated by commas, AND/OR and WHEN/THEN/ELSE
 * (siblings separated that way do not nest: AND/OR chains are flattened,
 * lists are lists).  Text over NEST_LIMIT goes to the primary
 * unparsed.  At the limit, every shape measured peaks at under 150 KB of
 * stack, while flat lists (IN (…), long OR chains, VALUES rows) are never
 * limited.
 */
#define NEST_PAREN 4
#define NEST_LIMIT 1000
#define NEST_STACK (NEST_LIMIT / NEST_PAREN + 1)

/* True if the unquoted word t resets the current segment (separates siblings). */
static bool nest_separator(const char *sql, const struct sql_tok *t)
{
	return sql_tok_is(sql, t, "and") || sql_tok_is(sql, t, "or") || sql_tok_is(sql, t, "when") ||
	        sql_tok_is(sql, t, "then") || sql_tok_is(sql, t, "else");
}

/* True if token t may add a tree level: an operator, ::, or a keyword. */
static bool nest_counts(const char *sql, const struct sql_tok *t)
{
	if (t->type == SQL_T_OP || t->type == SQL_T_TYPECAST)
		return true;
	if (t->type != SQL_T_IDENT || t->end - t->start > KW_MAX)
		return false;
	char w[KW_MAX + 1];
	size_t n = t->end - t->start;
	for (size_t i = 0; i < n; i++) {
		char c = sql[t->start + i];
		w[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	return cls_kw_lookup(w, n) != 0;
}

/* False if the parse tree of sql[0..len) might be deeper than NEST_LIMIT levels. */
static bool nesting_ok(const char *sql, size_t len)
{
	uint32_t seg[NEST_STACK];
	bool is_case[NEST_STACK];
	size_t depth = 0, sum = 0;
	struct sql_lexer lx;
	struct sql_tok t;
	seg[0] = 0;
	is_case[0] = false;
	sql_lex_init(&lx, sql, len);
	for (sql_lex_next_sig(&lx, &t); t.type != SQL_T_EOF && t.type != SQL_T_ERROR; sql_lex_next_sig(&lx, &t)) {
		bool open_case = sql_tok_is(sql, &t, "case");
		if (sql_tok_punct(&t, '(') || sql_tok_punct(&t, '[') || open_case) {
			if (++depth >= NEST_STACK)
				return false;
			seg[depth] = 0;
			is_case[depth] = open_case;
		} else if ((sql_tok_punct(&t, ')') || sql_tok_punct(&t, ']') || sql_tok_is(sql, &t, "end")) &&
		           depth > 0 && is_case[depth] == sql_tok_is(sql, &t, "end")) {
			sum -= seg[depth--];
			seg[depth]++; /* the group is one operand of whatever encloses it: a OPERATOR(+) b … */
			sum++;
		} else if (sql_tok_punct(&t, ',') || nest_separator(sql, &t)) {
			sum -= seg[depth];
			seg[depth] = 0;
		} else if (sql_tok_punct(&t, ';') && depth == 0) {
			sum = seg[0] = 0;
		} else if (nest_counts(sql, &t)) {
			seg[depth]++;
			sum++;
		}
		if (sum + depth * NEST_PAREN > NEST_LIMIT)
			return false;
	}
	return true;
}

/* Record text PostgreSQL cannot parse: primary, with the parser's message (printable ASCII only). */
static void unparseable(struct cls_result *out, const char *msg)
{
	struct cls_stmt st;
	char clean[CLS_DETAIL_MAX];
	size_t n = 0;
	for (; msg && *msg && n + 1 < sizeof(clean); msg++)
		clean[n++] = (*msg >= 0x20 && *msg < 0x7f) ? *msg : '?';
	clean[n] = 0;
	cls_stmt_set(&st, CLS_PRIMARY, cls_r_unparseable, clean);
	cls_merge(out, &st);
}

/* Walk {"version":…,"stmts":[{"stmt":…,"stmt_location":…,"stmt_len":…}, …]}. */
static bool walk(struct fctx *x, const char *tree)
{
	struct jv root = { tree, tree + strlen(tree) }, stmts, item, key, val;
	struct jit it, members;
	if (!j_get(root, "stmts", &stmts))
		return j_iter(root, '{', &it); /* no statements: empty text */
	if (!j_iter(stmts, '[', &it))
		return false;
	while (j_arr_next(&it, &item)) {
		struct jv node = { NULL, NULL };
		long long loc = 0, slen = 0;
		if (!j_iter(item, '{', &members))
			return false;
		while (j_obj_next(&members, &key, &val)) { /* one pass: the tree is big, skip it once */
			if (j_key_is(key, "stmt"))
				node = val;
			else if (j_key_is(key, "stmt_location") && !j_int(val, &loc))
				return false;
			else if (j_key_is(key, "stmt_len") && !j_int(val, &slen))
				return false;
		}
		if (node.p == NULL || loc < 0 || (size_t)loc > x->len || slen < 0 ||
		    (size_t)slen > x->len - (size_t)loc)
			return false;
		x->span = cls_trim_span(x->sql, (size_t)loc, slen ? (size_t)(loc + slen) : x->len);
		struct cls_stmt st;
		dispatch(x, node, &st);
		cls_merge(x->out, &st);
	}
	return true;
}

/* libpg_query path only; same contract as classify(). */
int classify_full(const char *sql, size_t len, const struct cls_env *env, struct cls_result *out)
{
	if (sql == NULL || out == NULL)
		return -1;
	cls_init(out);
	cls_scan_hints(out, sql, len);
	if (len >= (1u << 30) || memchr(sql, 0, len) != NULL) {
		unparseable(out, len >= (1u << 30) ? "query too long" : "NUL byte in query");
		return 0;
	}
	if (!nesting_ok(sql, len)) {
		unparseable(out, "nested too deeply to classify");
		return 0;
	}
	char stackbuf[STACK_COPY];
	char *buf = len < sizeof(stackbuf) ? stackbuf : malloc(len + 1);
	if (buf == NULL) {
		unparseable(out, "out of memory");
		return 0;
	}
	memcpy(buf, sql, len);
	buf[len] = 0;
	PgQueryParseResult r = pg_query_parse(buf);
	if (r.error) {
		unparseable(out, r.error->message);
	} else {
		struct fctx x = { .sql = sql, .len = len, .env = env, .out = out };
		if (!walk(&x, r.parse_tree))
			unparseable(out, "unreadable parse tree");
	}
	pg_query_free_parse_result(r);
	if (buf != stackbuf)
		free(buf);
	cls_finish(out);
	return 0;
}
