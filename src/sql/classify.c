/* classify: entry point, result merging, events, comment hints and statement fingerprints. */
#include "sql/classify_int.h"

#include <stdio.h>
#include <string.h>

/* Every reason the classifier can give (struct cls_result.reason points at one of these). */
const char cls_r_read[] = "read"; /* SELECT / VALUES / TABLE / read-only WITH */
const char cls_r_show[] = "show";
const char cls_r_explain[] = "explain"; /* EXPLAIN, or EXPLAIN ANALYZE of a read */
const char cls_r_copy_to[] = "copy-to"; /* COPY … TO STDOUT */
const char cls_r_empty[] = "empty"; /* nothing but blanks, comments, semicolons */
const char cls_r_declare[] = "declare"; /* DECLARE of a read-only cursor */
const char cls_r_cursor[] = "cursor"; /* FETCH / MOVE / CLOSE */
const char cls_r_begin[] = "begin"; /* BEGIN (read-write or unspecified) */
const char cls_r_begin_ro[] = "begin-read-only";
const char cls_r_commit[] = "commit";
const char cls_r_rollback[] = "rollback";
const char cls_r_savepoint[] = "savepoint";
const char cls_r_release[] = "release";
const char cls_r_rollback_to[] = "rollback-to";
const char cls_r_set[] = "set"; /* SET / SET CONSTRAINTS */
const char cls_r_reset[] = "reset";
const char cls_r_set_txn[] = "set-transaction";
const char cls_r_pgrouter_set[] = "pgrouter-set"; /* SET/RESET pgrouter.*: handled by pgrouter */
const char cls_r_pgrouter_show[] = "pgrouter-show";
const char cls_r_discard[] = "discard";
const char cls_r_deallocate[] = "deallocate";
const char cls_r_prepare[] = "prepare"; /* SQL PREPARE */
const char cls_r_execute[] = "execute"; /* SQL EXECUTE: content unknown here */
const char cls_r_prepare_txn[] = "prepare-transaction";
const char cls_r_two_phase[] = "two-phase"; /* COMMIT/ROLLBACK PREPARED */
const char cls_r_dml[] = "dml"; /* INSERT / UPDATE / DELETE / MERGE / TRUNCATE */
const char cls_r_ddl[] = "ddl";
const char cls_r_temp[] = "temp-table"; /* creates a temporary object (pins) */
const char cls_r_for_update[] = "for-update"; /* detail: update / no-key-update / share / key-share */
const char cls_r_select_into[] = "select-into";
const char cls_r_writable_cte[] = "writable-cte";
const char cls_r_volatile[] = "volatile-function"; /* detail: function name */
const char cls_r_unknown_fn[] = "unknown-function"; /* detail: function name; see cls_result.unknown */
const char cls_r_node_dep[] = "node-dependent"; /* detail: view, function or setting whose answer is the node's */
const char cls_r_serializable[] = "serializable"; /* BEGIN READ ONLY ISOLATION LEVEL SERIALIZABLE */
const char cls_r_lock[] = "lock";
const char cls_r_copy_from[] = "copy-from";
const char cls_r_copy_file[] = "copy-to-file"; /* COPY TO a server file or program */
const char cls_r_listen[] = "listen";
const char cls_r_unlisten[] = "unlisten";
const char cls_r_notify[] = "notify";
const char cls_r_call[] = "call";
const char cls_r_do[] = "do";
const char cls_r_vacuum[] = "vacuum";
const char cls_r_analyze[] = "analyze";
const char cls_r_maintenance[] = "maintenance"; /* CHECKPOINT / CLUSTER / REINDEX / LOAD */
const char cls_r_explain_write[] = "explain-analyze-write"; /* detail: what the statement does */
const char cls_r_hold[] = "hold-cursor";
const char cls_r_unparseable[] = "unparseable"; /* detail: the parser's message */
const char cls_r_other[] = "other"; /* detail: parse-tree node name */

/* Classify sql[0..len): the fast path, and libpg_query when it declines. */
int classify(const char *sql, size_t len, const struct cls_env *env, struct cls_result *out)
{
	if (sql == NULL || out == NULL)
		return -1;
	if (classify_fast(sql, len, env, out))
		return 0;
	return classify_full(sql, len, env, out);
}

/* Reset *out to "empty text": ANY, reason "empty", no hint, no events. */
void cls_init(struct cls_result *out)
{
	memset(out, 0, offsetof(struct cls_result, unknown));
	out->target = CLS_ANY;
	out->reason = cls_r_empty;
	out->hint_max_lag_ms = -1;
	out->hint_max_lag_bytes = -1;
}

/* Set st to target/reason with an optional detail (copied, truncated). */
void cls_stmt_set(struct cls_stmt *st, uint8_t target, const char *reason, const char *detail)
{
	size_t n = 0;
	st->target = target;
	st->reason = reason;
	for (; detail && detail[n] && n + 1 < sizeof(st->detail); n++)
		st->detail[n] = detail[n];
	st->detail[n] = 0;
}

/* Strictness of a (target, reason) pair: node-dependent reads rank below unknown functions (whose lookup
   must still happen), which rank below definite writes. */
static int level(uint8_t target, const char *reason)
{
	if (target == CLS_PRIMARY)
		return reason == cls_r_node_dep ? 2 : reason == cls_r_unknown_fn ? 3 : 4;
	return target;
}

/* Fold one statement into the combined result (strictest target wins; first reason at that level). */
void cls_merge(struct cls_result *out, const struct cls_stmt *st)
{
	bool first = out->n_stmts == 0;
	if (out->n_stmts < UINT16_MAX)
		out->n_stmts++;
	if (!first && level(st->target, st->reason) <= level(out->target, out->reason))
		return;
	out->target = st->target;
	out->reason = st->reason;
	memcpy(out->detail, st->detail, sizeof(out->detail));
}

/* Final touches: drop the unknown-function list when something definite already forces PRIMARY. */
void cls_finish(struct cls_result *out)
{
	if (out->reason != cls_r_unknown_fn) {
		out->n_unknown = 0;
		out->flags &= (uint8_t)~CLS_F_UNKNOWN_OVERFLOW;
	}
}

/* Append an event for the statement text stmt; NULL (and CLS_F_EVENTS_OVERFLOW) when full. */
struct cls_event *cls_add_event(struct cls_result *out, uint8_t kind, struct cls_span stmt)
{
	out->ev_kinds |= CLS_EV_BIT(kind); /* lets consumers skip results without the events they act on */
	if (out->n_events >= CLS_MAX_EVENTS) {
		out->flags |= CLS_F_EVENTS_OVERFLOW;
		return NULL;
	}
	struct cls_event *ev = &out->ev[out->n_events++];
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->stmt = stmt;
	return ev;
}

/* Copy n bytes into a NUL-terminated field of size cap; false if they did not all fit. */
static bool copy_field(char *dst, size_t cap, const char *src, size_t n)
{
	bool fits = n < cap;
	if (!fits)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
	return fits;
}

/* Copy a name into ev->name (CLS_EVF_TRUNCATED if it does not fit). */
void cls_event_name(struct cls_event *ev, const char *name, size_t n)
{
	if (!copy_field(ev->name, sizeof(ev->name), name, n))
		ev->flags |= CLS_EVF_TRUNCATED;
}

/* Copy a decoded value into ev->value_str (CLS_EVF_TRUNCATED if it does not fit). */
void cls_event_value(struct cls_event *ev, const char *value, size_t n)
{
	if (!copy_field(ev->value_str, sizeof(ev->value_str), value, n))
		ev->flags |= CLS_EVF_TRUNCATED;
}

/* ASCII case-insensitive comparison of the first n bytes. */
static bool ieq_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* PostgreSQL's parse_bool: 1 true, 0 false, -1 not a boolean (prefixes allowed, "o" ambiguous). */
int cls_parse_bool(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return -1;
	if ((n <= 4 && ieq_n(s, "true", n)) || (n <= 3 && ieq_n(s, "yes", n)))
		return 1;
	if ((n <= 5 && ieq_n(s, "false", n)) || (n <= 2 && ieq_n(s, "no", n)))
		return 0;
	if (n >= 2 && n <= 3 && ieq_n(s, "off", n))
		return 0;
	if (n == 2 && ieq_n(s, "on", 2))
		return 1;
	if (n == 1 && s[0] == '1')
		return 1;
	if (n == 1 && s[0] == '0')
		return 0;
	return -1;
}

/* Derive txn_mode / SERIALIZABLE / PGROUTER flags of a SET event from its name and value. */
void cls_event_set_flags(struct cls_event *ev)
{
	if (strncmp(ev->name, "pgrouter.", 9) == 0)
		ev->flags |= CLS_EVF_PGROUTER;
	if (ev->kind != CLS_EV_SET || ev->sub != CLS_SET_VALUE || (ev->flags & CLS_EVF_MULTI_VALUE))
		return;
	if (strcmp(ev->name, "default_transaction_read_only") == 0 || strcmp(ev->name, "transaction_read_only") == 0) {
		int b = cls_parse_bool(ev->value_str);
		if (b >= 0)
			ev->txn_mode = b ? CLS_TXN_READ_ONLY : CLS_TXN_READ_WRITE;
	} else if (strcmp(ev->name, "default_transaction_isolation") == 0 ||
	           strcmp(ev->name, "transaction_isolation") == 0) {
		if (strlen(ev->value_str) == 12 && ieq_n(ev->value_str, "serializable", 12))
			ev->flags |= CLS_EVF_SERIALIZABLE;
	}
}

/* Record an unknown function (deduplicated; CLS_F_UNKNOWN_OVERFLOW when full). */
void cls_add_unknown(struct cls_result *out, const char *schema, const char *name)
{
	const char *sch = schema ? schema : "";
	for (unsigned i = 0; i < out->n_unknown; i++)
		if (strcmp(out->unknown[i].name, name) == 0 && strcmp(out->unknown[i].schema, sch) == 0)
			return;
	if (out->n_unknown >= CLS_MAX_UNKNOWN) {
		out->flags |= CLS_F_UNKNOWN_OVERFLOW;
		return;
	}
	struct cls_func *f = &out->unknown[out->n_unknown++];
	copy_field(f->schema, sizeof(f->schema), sch, strlen(sch));
	copy_field(f->name, sizeof(f->name), name, strlen(name));
}

/* Span of the significant tokens in sql[start, end): no surrounding blanks or comments. */
struct cls_span cls_trim_span(const char *sql, size_t start, size_t end)
{
	struct sql_lexer lx;
	struct sql_tok t;
	struct cls_span sp = { (uint32_t)start, 0 };
	sql_lex_init(&lx, sql, end);
	lx.pos = start;
	bool any = false;
	for (;;) {
		sql_lex_next_sig(&lx, &t);
		if (t.type == SQL_T_EOF)
			break;
		if (!any)
			sp.off = t.start;
		any = true;
		sp.len = (t.type == SQL_T_ERROR ? (uint32_t)end : t.end) - sp.off;
		if (t.type == SQL_T_ERROR)
			break;
	}
	return sp;
}

/* Name of a target: "any", "replica", "primary". */
const char *cls_target_name(uint8_t target)
{
	switch (target) {
	case CLS_ANY: return "any";
	case CLS_REPLICA: return "replica";
	case CLS_PRIMARY: return "primary";
	}
	return "?";
}

/* Write "reason" or "reason:detail" into buf (always NUL-terminated); returns buf. */
const char *cls_reason_str(const struct cls_result *r, char *buf, size_t cap)
{
	if (cap == 0)
		return buf;
	const char *reason = r->reason ? r->reason : "?";
	if (r->detail[0])
		snprintf(buf, cap, "%s:%s", reason, r->detail);
	else
		snprintf(buf, cap, "%s", reason);
	return buf;
}

/* ---- comment hints ---- */

/* Cursor over a comment body. */
struct hcur {
	const char *p, *end;
};

static void h_skip_space(struct hcur *c)
{
	while (c->p < c->end &&
	       (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' || *c->p == '\f' || *c->p == ','))
		c->p++;
}

/* Consume a case-insensitive keyword (not followed by a word byte). */
static bool h_word(struct hcur *c, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) < n || !ieq_n(c->p, w, n))
		return false;
	if ((size_t)(c->end - c->p) > n) {
		char nx = c->p[n];
		if ((nx >= 'a' && nx <= 'z') || (nx >= 'A' && nx <= 'Z') || (nx >= '0' && nx <= '9') || nx == '_')
			return false;
	}
	c->p += n;
	return true;
}

/* Consume optional blanks, then ch. */
static bool h_char(struct hcur *c, char ch)
{
	h_skip_space(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* Parse "30s", "500ms", "2min", "1h", "16MB", "100" (seconds) into ms or bytes; false if malformed. */
static bool h_lag(struct hcur *c, int64_t *ms, int64_t *bytes)
{
	int64_t v = 0;
	const char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (v > 1000000000000LL)
			return false;
		v = v * 10 + (*c->p++ - '0');
	}
	if (c->p == start)
		return false;
	static const struct {
		const char *unit;
		int64_t mult;
		bool is_bytes;
	} units[] = { { "ms", 1, false },         { "min", 60000, false }, { "s", 1000, false },
		      { "h", 3600000, false },    { "kb", 1024, true },    { "mb", 1048576, true },
		      { "gb", 1073741824, true }, { "b", 1, true },        { "", 1000, false } };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		struct hcur save = *c;
		if (units[i].unit[0] && !h_word(c, units[i].unit)) {
			*c = save;
			continue;
		}
		if (v > INT64_MAX / units[i].mult)
			return false;
		if (units[i].is_bytes)
			*bytes = v * units[i].mult;
		else
			*ms = v * units[i].mult;
		return true;
	}
	return false;
}

/* "pgrouter: TARGET [max_lag=V]": fill the hint fields, or return false if malformed. */
static bool h_pgrouter(struct hcur *c, struct cls_result *out)
{
	h_skip_space(c);
	uint8_t target;
	if (h_word(c, "primary"))
		target = CLS_HINT_PRIMARY;
	else if (h_word(c, "replica"))
		target = CLS_HINT_REPLICA;
	else if (h_word(c, "auto"))
		target = CLS_HINT_AUTO;
	else
		return false;
	int64_t ms = -1, bytes = -1;
	for (;;) {
		h_skip_space(c);
		if (c->p >= c->end)
			break;
		if (!h_word(c, "max_lag") || !h_char(c, '='))
			return false;
		h_skip_space(c);
		if (!h_lag(c, &ms, &bytes))
			return false;
	}
	out->hint = target;
	out->hint_max_lag_ms = ms;
	out->hint_max_lag_bytes = bytes;
	return true;
}

/* "route: NAME": record the tag span if it is the whole comment. */
static void h_route(struct hcur *c, struct cls_result *out, const char *sql)
{
	h_skip_space(c);
	const char *start = c->p;
	while (c->p < c->end &&
	       ((*c->p >= 'a' && *c->p <= 'z') || (*c->p >= 'A' && *c->p <= 'Z') || (*c->p >= '0' && *c->p <= '9') ||
	        *c->p == '_' || *c->p == '-' || *c->p == '.'))
		c->p++;
	const char *stop = c->p;
	h_skip_space(c);
	if (stop == start || c->p != c->end)
		return;
	out->route_tag.off = (uint32_t)(start - sql);
	out->route_tag.len = (uint32_t)(stop - start);
}

/* Inspect one comment token for a "pgrouter:" hint or "route:" tag (first one of each wins). */
void cls_hint_comment(struct cls_result *out, const char *sql, const struct sql_tok *t)
{
	struct hcur c = { sql + t->start + 2, sql + t->end };
	if (sql[t->start] == '/')
		c.end -= 2; /* strip the closing star-slash */
	h_skip_space(&c);
	struct hcur probe = c;
	if (h_word(&probe, "pgrouter") && h_char(&probe, ':')) {
		if (out->hint != CLS_HINT_NONE)
			return;
		if (!h_pgrouter(&probe, out))
			out->flags |= CLS_F_HINT_INVALID;
		return;
	}
	probe = c;
	if (out->route_tag.len == 0 && h_word(&probe, "route") && h_char(&probe, ':'))
		h_route(&probe, out, sql);
}

/* Run cls_hint_comment over every comment of sql[0..len). */
void cls_scan_hints(struct cls_result *out, const char *sql, size_t len)
{
	struct sql_lexer lx;
	struct sql_tok t;
	sql_lex_init(&lx, sql, len);
	for (;;) {
		sql_lex_next(&lx, &t);
		if (t.type == SQL_T_EOF || t.type == SQL_T_ERROR)
			return;
		if (t.type == SQL_T_COMMENT)
			cls_hint_comment(out, sql, &t);
	}
}

/* ---- fingerprint / normalized text ---- */

/* Visit the normalized pieces of sql: fn(piece, n, arg) per token, literals as "?". */
static void norm_walk(const char *sql, size_t len, void (*fn)(const char *, size_t, bool, void *), void *arg)
{
	struct sql_lexer lx;
	struct sql_tok t;
	char word[256];
	sql_lex_init(&lx, sql, len);
	for (;;) {
		sql_lex_next_sig(&lx, &t);
		switch (t.type) {
		case SQL_T_EOF: return;
		case SQL_T_ERROR: /* keep the unlexable rest verbatim */
			fn(sql + t.start, len - t.start, false, arg);
			return;
		case SQL_T_IDENT: {
			int n = sql_ident_text(sql, &t, word, sizeof(word));
			if (n > 0)
				fn(word, (size_t)n, false, arg);
			else
				fn(sql + t.start, t.end - t.start, false, arg);
			break;
		}
		case SQL_T_STRING:
		case SQL_T_ESTRING:
		case SQL_T_USTRING:
		case SQL_T_BXSTRING:
		case SQL_T_DOLLAR:
		case SQL_T_NUMBER:
		case SQL_T_PARAM: fn("?", 1, true, arg); break;
		default: fn(sql + t.start, t.end - t.start, false, arg); break;
		}
	}
}

/* norm_walk callback: 64-bit FNV-1a over the pieces, each followed by a separator byte. */
static void fp_piece(const char *p, size_t n, bool literal, void *arg)
{
	uint64_t *h = arg;
	for (size_t i = 0; i < n; i++) {
		*h ^= (unsigned char)p[i];
		*h *= 0x100000001b3ULL;
	}
	*h ^= 0x1f;
	*h *= 0x100000001b3ULL;
}

/* 64-bit fingerprint of the statement's shape (see header). */
uint64_t cls_fingerprint(const char *sql, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	if (sql)
		norm_walk(sql, len, fp_piece, &h);
	return h;
}

struct norm_buf {
	char *buf;
	size_t cap, n;
};

/* norm_walk callback: append the piece, space-separated, counting what would be needed. */
static void norm_piece(const char *p, size_t n, bool literal, void *arg)
{
	struct norm_buf *b = arg;
	if (b->n > 0) {
		if (b->n + 1 < b->cap)
			b->buf[b->n] = ' ';
		b->n++;
	}
	for (size_t i = 0; i < n; i++, b->n++)
		if (b->n + 1 < b->cap)
			b->buf[b->n] = p[i];
}

/* Normalized text of the statement's shape into buf (see header); returns the length needed. */
size_t cls_normalize(const char *sql, size_t len, char *buf, size_t cap)
{
	struct norm_buf b = { buf, cap, 0 };
	if (sql)
		norm_walk(sql, len, norm_piece, &b);
	if (cap > 0)
		buf[b.n < cap ? b.n : cap - 1] = 0;
	return b.n;
}

void cls_begin(struct cls_result *out, struct cls_stmt *st, struct cls_span span, uint8_t mode, bool ser)
{
	struct cls_event *ev = cls_add_event(out, CLS_EV_BEGIN, span);
	if (ev) {
		ev->txn_mode = mode;
		ev->flags |= ser ? CLS_EVF_SERIALIZABLE : 0;
	}
	/* A hot standby refuses SERIALIZABLE: such read-only transactions stay on the primary. */
	if (mode == CLS_TXN_READ_ONLY && !ser)
		cls_stmt_set(st, CLS_REPLICA, cls_r_begin_ro, NULL);
	else
		cls_stmt_set(st, CLS_PRIMARY, mode == CLS_TXN_READ_ONLY ? cls_r_serializable : cls_r_begin, NULL);
}
