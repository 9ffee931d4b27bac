/* classify internals shared by the fast path, the libpg_query path, the function tables and the cache. */
#ifndef PGR_CLASSIFY_INT_H
#define PGR_CLASSIFY_INT_H

#include "sql/classify.h"
#include "sql/sqllex.h"

/* Reason strings: static, compared by address inside the classifier. */
extern const char cls_r_read[], cls_r_show[], cls_r_explain[], cls_r_copy_to[], cls_r_empty[], cls_r_declare[],
        cls_r_cursor[], cls_r_begin[], cls_r_begin_ro[], cls_r_commit[], cls_r_rollback[], cls_r_savepoint[],
        cls_r_release[], cls_r_rollback_to[], cls_r_set[], cls_r_reset[], cls_r_set_txn[], cls_r_pgrouter_set[],
        cls_r_pgrouter_show[], cls_r_discard[], cls_r_deallocate[], cls_r_prepare[], cls_r_execute[],
        cls_r_prepare_txn[], cls_r_two_phase[], cls_r_dml[], cls_r_ddl[], cls_r_temp[], cls_r_for_update[],
        cls_r_select_into[], cls_r_writable_cte[], cls_r_volatile[], cls_r_unknown_fn[], cls_r_node_dep[],
        cls_r_serializable[], cls_r_lock[], cls_r_copy_from[], cls_r_copy_file[], cls_r_listen[], cls_r_unlisten[],
        cls_r_notify[], cls_r_call[], cls_r_do[], cls_r_vacuum[], cls_r_analyze[], cls_r_maintenance[],
        cls_r_explain_write[], cls_r_hold[], cls_r_unparseable[], cls_r_other[];

/* Outcome of one statement before it is merged into the combined result. */
struct cls_stmt {
	uint8_t target; /* enum cls_target */
	const char *reason;
	char detail[CLS_DETAIL_MAX];
};

/* Reset *out to "empty text": ANY, reason "empty", no hint, no events. */
void cls_init(struct cls_result *out);

/* Set st to target/reason with an optional detail (copied, truncated). */
void cls_stmt_set(struct cls_stmt *st, uint8_t target, const char *reason, const char *detail);

/* Fold one statement into the combined result (strictest target wins; first reason at that level). */
void cls_merge(struct cls_result *out, const struct cls_stmt *st);

/* Final touches: drop the unknown-function list when something definite already forces PRIMARY. */
void cls_finish(struct cls_result *out);

/* Append an event for the statement text stmt; NULL (and CLS_F_EVENTS_OVERFLOW) when full. */
struct cls_event *cls_add_event(struct cls_result *out, uint8_t kind, struct cls_span stmt);
/* A BEGIN/START TRANSACTION statement: its event and target (read-only non-serializable → replica). */
void cls_begin(struct cls_result *out, struct cls_stmt *st, struct cls_span span, uint8_t mode, bool ser);

/* Copy a name into ev->name (CLS_EVF_TRUNCATED if it does not fit). */
void cls_event_name(struct cls_event *ev, const char *name, size_t n);

/* Copy a decoded value into ev->value_str (CLS_EVF_TRUNCATED if it does not fit). */
void cls_event_value(struct cls_event *ev, const char *value, size_t n);

/* Derive txn_mode / SERIALIZABLE / PGROUTER flags of a SET event from its name and value. */
void cls_event_set_flags(struct cls_event *ev);

/* PostgreSQL's parse_bool: 1 true, 0 false, -1 not a boolean. */
int cls_parse_bool(const char *s);

/* Record an unknown function (deduplicated; CLS_F_UNKNOWN_OVERFLOW when full). */
void cls_add_unknown(struct cls_result *out, const char *schema, const char *name);

/* Span of the significant tokens in sql[start, end): no surrounding blanks or comments. */
struct cls_span cls_trim_span(const char *sql, size_t start, size_t end);

/* Inspect one comment token for a "pgrouter:" hint or "route:" tag (first one of each wins). */
void cls_hint_comment(struct cls_result *out, const char *sql, const struct sql_tok *t);

/* Run cls_hint_comment over every comment of sql[0..len). */
void cls_scan_hints(struct cls_result *out, const char *sql, size_t len);

/* ---- function knowledge (classify_funcs.c) ---- */

enum cls_fn_class {
	CLS_FN_SAFE = 0, /* immutable/stable, or volatile but read-only (random …) */
	CLS_FN_WRITE, /* writes or changes server state: primary */
	CLS_FN_UNKNOWN, /* nobody knows: primary until looked up */
	CLS_FN_SET_CONFIG, /* set_config: safe only when is_local is literally true */
	CLS_FN_NODE, /* read-only, but each node answers differently (pg_backend_pid …): primary */
	CLS_FN_SETTING, /* current_setting: node-dependent for the settings cls_node_setting lists */
};

struct cls_fn_info {
	uint8_t cls; /* enum cls_fn_class */
	uint8_t pins; /* CLS_PIN_ADVISORY for session-level advisory locks */
	bool opaque; /* not a built-in known to leave the session alone (a user function may SET anything) */
};

/* Classify a call of schema.name (schema NULL if unqualified) from the built-in lists and env. */
void cls_func_lookup(const struct cls_env *env, const char *schema, const char *name, struct cls_fn_info *fi);

/* True if the built-in tables are sorted and free of duplicates (checked by the unit test). */
bool cls_func_tables_ok(void);

/* True for a relation (view) name whose rows differ from node to node (pg_stat_*, pg_locks, …). */
bool cls_node_relation(const char *name);

/* True for a setting whose value differs on a standby (transaction_read_only, in_hot_standby, …). */
bool cls_node_setting(const char *name);

/* ---- keywords for the fast path (classify_kw.c) ---- */

#define KW_MAX 24 /* longer words are not keywords (the longest, current_timestamp, has 17) */

/* Keyword categories (PostgreSQL 15's kwlist.h plus our own groupings). */
enum {
	KW_RESERVED = 0x001, /* reserved: never a function name when unquoted */
	KW_COLNAME = 0x002, /* column-name keyword: "kw(" is special syntax or a type, never a user call */
	KW_TYPEFUNC = 0x004, /* may name a function, but not a variable or savepoint */
	KW_EXPR_BEFORE = 0x008, /* an expression (so a call) may start right after it */
	KW_SPOILER = 0x010, /* makes a read-shaped statement something else */
	KW_TYPMOD = 0x020, /* non-keyword type names taking a typmod after :: or CAST … AS */
	KW_VAR_SPECIAL = 0x040, /* SET/RESET/SHOW forms with their own grammar (TIME ZONE, …) */
	KW_TREAT = 0x080, /* TREAT(x AS t) calls a function named after the type */
	KW_WINDOW_SUFFIX = 0x100, /* OVER / FILTER after a call's ")" */
	KW_VARYING_PREFIX = 0x200, /* CHARACTER / CHAR / BIT before VARYING(n) */
};

/* Keyword flags of a lower-case word of length n >= 1 (0 if it is not one of ours). */
uint16_t cls_kw_lookup(const char *w, size_t n);

/* True if the keyword table is sorted, unique and fully indexed (checked by the unit test). */
bool cls_kw_table_ok(void);

/* True if the pre-scan's word table is fully indexed (checked by the unit test). */
bool cls_quiet_table_ok(void);

/* ---- JSON cursor over libpg_query's parse tree (classify_json.c) ---- */

/* One JSON value: p at its first byte, end one past its last byte. */
struct jv {
	const char *p, *end;
};

/* Iterator over an object's members or an array's elements. */
struct jit {
	const char *p, *end;
	bool first;
};

/* Past the JSON value starting at p (after blanks), or NULL if malformed. */
const char *j_skip(const char *p, const char *end);

/* Start iterating v ('{' for j_obj_next, '[' for j_arr_next); false if v is not that. */
bool j_iter(struct jv v, char open, struct jit *it);

/* Next member: key is the raw text between the quotes.  False at the end or if malformed. */
bool j_obj_next(struct jit *it, struct jv *key, struct jv *val);

/* Next array element.  False at the end or if malformed. */
bool j_arr_next(struct jit *it, struct jv *val);

/* Member key of object v; false if absent (libpg_query omits zero/false/empty fields). */
bool j_get(struct jv v, const char *key, struct jv *val);

/* True if the raw key text equals s. */
bool j_key_is(struct jv key, const char *s);

/* Node {"Type":{body}} (a measured value): its type name and body; false for {} or anything else. */
bool j_node(struct jv v, struct jv *type, struct jv *body);

/* Decode a JSON string value into buf (NUL-terminated); its length, or -1 if not a string or too long. */
int j_str(struct jv v, char *buf, size_t cap);

/* True if v is a string equal to s (after decoding). */
bool j_str_is(struct jv v, const char *s);

/* Integer value of v; false if v is not an integer. */
bool j_int(struct jv v, long long *out);

/* String member key of obj into buf; false if absent or not a string that fits. */
bool j_get_str(struct jv obj, const char *key, char *buf, size_t cap);

/* True if member key of obj is the literal true. */
bool j_get_bool(struct jv obj, const char *key);

/* Integer member key of obj, or dflt if absent (libpg_query omits zeros). */
long long j_get_int(struct jv obj, const char *key, long long dflt);

/* Body of node member key of obj if it is a node of type want (NULL: any type). */
bool j_get_node(struct jv obj, const char *key, const char *want, struct jv *body);

/* Call fn for every "key": value member anywhere inside v, in text order, without recursion. */
void j_each_key(struct jv v, void (*fn)(struct jv key, const char *value, const char *end, void *arg), void *arg);

/* ---- libpg_query path: statement handlers shared between classify_full.c and classify_session.c ---- */

/* One statement being classified. */
struct fctx {
	const char *sql;
	size_t len;
	const struct cls_env *env;
	struct cls_result *out;
	struct cls_span span; /* the statement's text without surrounding blanks/comments */
};

/* Add an event for the current statement, named by member key of body (if present). */
struct cls_event *cls_named_event(struct fctx *x, uint8_t kind, struct jv body, const char *key);

/* TransactionStmt: BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE / ROLLBACK TO / two-phase. */
void cls_full_txn(struct fctx *x, struct jv body, struct cls_stmt *st);

/* VariableSetStmt: SET / RESET in all their forms. */
void cls_full_set(struct fctx *x, struct jv body, struct cls_stmt *st);

/* VariableShowStmt. */
void cls_full_show(struct fctx *x, struct jv body, struct cls_stmt *st);

/* DiscardStmt. */
void cls_full_discard(struct fctx *x, struct jv body, struct cls_stmt *st);

#endif
