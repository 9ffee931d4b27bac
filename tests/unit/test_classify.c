/* Unit tests for the SQL classifier: corpus, fast-vs-libpg_query differential, lexer, hints, cache, threads. */
#include "sql/classify.h"
#include "sql/classify_int.h"
#include "sql/sqllex.h"
#include "unit.h"
#include "corpus.h"
#include "quiet_check.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Volatility knowledge used by the corpus (as if looked up in pg_proc). */
static char test_volatility(void *ctx, const char *schema, const char *name)
{
	static const struct {
		const char *schema, *name;
		char v;
	} known[] = {{NULL, "my_stable_fn", 's'}, {"public", "my_stable_fn", 's'}, {NULL, "f_immutable", 'i'},
	             {NULL, "my_volatile_fn", 'v'}, {"app", "lookup", 's'}, {"app", "writer", 'v'}};
	int *calls = ctx;
	if (calls)
		(*calls)++;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		bool same_schema = (schema == NULL && known[i].schema == NULL) ||
		                   (schema && known[i].schema && strcmp(schema, known[i].schema) == 0);
		if (same_schema && strcmp(name, known[i].name) == 0)
			return known[i].v;
	}
	return 0;
}

static const struct cls_env test_env = {test_volatility, NULL, 1};

/* ---- comparing two results field by field ---- */

/* Describe the first difference between a and b into why; true if they are the same decision. */
static bool same_result(const struct cls_result *a, const struct cls_result *b, char *why, size_t cap)
{
#define DIFF(cond, ...) do { if (cond) { snprintf(why, cap, __VA_ARGS__); return false; } } while (0)
	DIFF(a->target != b->target, "target %s vs %s", cls_target_name(a->target), cls_target_name(b->target));
	DIFF(strcmp(a->reason, b->reason) != 0, "reason %s vs %s", a->reason, b->reason);
	DIFF(strcmp(a->detail, b->detail) != 0, "detail %s vs %s", a->detail, b->detail);
	DIFF(a->pins != b->pins, "pins %x vs %x", a->pins, b->pins);
	DIFF((a->flags & ~CLS_F_FAST) != (b->flags & ~CLS_F_FAST), "flags %x vs %x", a->flags, b->flags);
	DIFF(a->n_stmts != b->n_stmts, "n_stmts %d vs %d", a->n_stmts, b->n_stmts);
	DIFF(a->hint != b->hint || a->hint_max_lag_ms != b->hint_max_lag_ms ||
	         a->hint_max_lag_bytes != b->hint_max_lag_bytes, "hint differs");
	DIFF(a->route_tag.off != b->route_tag.off || a->route_tag.len != b->route_tag.len, "route tag differs");
	DIFF(a->n_unknown != b->n_unknown, "n_unknown %d vs %d", a->n_unknown, b->n_unknown);
	for (unsigned i = 0; i < a->n_unknown; i++)
		DIFF(strcmp(a->unknown[i].name, b->unknown[i].name) || strcmp(a->unknown[i].schema, b->unknown[i].schema),
		     "unknown[%u] differs", i);
	DIFF(a->n_events != b->n_events, "n_events %d vs %d", a->n_events, b->n_events);
	for (unsigned i = 0; i < a->n_events; i++) {
		const struct cls_event *x = &a->ev[i], *y = &b->ev[i];
		DIFF(x->kind != y->kind || x->sub != y->sub || x->txn_mode != y->txn_mode || x->flags != y->flags ||
		         x->target != y->target, "event %u kind/sub/mode/flags/target differ", i);
		DIFF(x->stmt.off != y->stmt.off || x->stmt.len != y->stmt.len, "event %u stmt span %u+%u vs %u+%u", i,
		     x->stmt.off, x->stmt.len, y->stmt.off, y->stmt.len);
		DIFF(x->value.off != y->value.off || x->value.len != y->value.len, "event %u value span %u+%u vs %u+%u",
		     i, x->value.off, x->value.len, y->value.off, y->value.len);
		DIFF(strcmp(x->name, y->name) != 0, "event %u name '%s' vs '%s'", i, x->name, y->name);
		DIFF(strcmp(x->value_str, y->value_str) != 0, "event %u value '%s' vs '%s'", i, x->value_str, y->value_str);
	}
#undef DIFF
	return true;
}

/* ---- corpus ---- */

/* Record one corpus expectation; print the line on failure. */
static void expect(bool ok, const struct corpus_line *c, const char *fmt, const char *a, const char *b)
{
	if (ok) {
		unit_passed++;
		return;
	}
	unit_failed++;
	fprintf(stderr, "corpus line %d: %s: ", c->lineno, c->sql);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
}

static const char *const event_names[] = {"?", "begin", "commit", "rollback", "prepare_txn", "savepoint",
	"release", "rollback_to", "set_transaction", "set", "reset", "reset_all", "show_pgrouter", "discard",
	"prepare", "execute", "deallocate", "deallocate_all", "declare_hold", "listen", "unlisten"};

/* "kind[:name],…" for the result's events. */
static void events_str(const struct cls_result *r, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = 0;
	for (unsigned i = 0; i < r->n_events && n < cap; i++) {
		const struct cls_event *e = &r->ev[i];
		n += (size_t)snprintf(buf + n, cap - n, "%s%s%s%s", i ? "," : "", event_names[e->kind],
		                      e->name[0] ? ":" : "", e->name);
	}
}

/* Comma list of names for a bit set. */
static void bits_str(unsigned bits, const char *const *names, int count, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = 0;
	for (int i = 0; i < count; i++)
		if (bits & (1u << i))
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : "", names[i]);
}

static const char *const pin_names[] = {"temp", "advisory", "listen", "hold", "prepare", "set_config"};
static const char *const evf_names[] = {"local", "pgrouter", "chain", "serializable", "multi", "truncated"};

/* Value of one check key for result r, printed the way the corpus writes it. */
static bool check_value(const struct cls_result *r, const char *sql, const char *key, char *buf, size_t cap)
{
	static const char *const modes[] = {"unspec", "ro", "rw"};
	static const char *const hints[] = {"none", "primary", "replica", "auto"};
	static const char *const subs_set[] = {"value", "default", "current"};
	static const char *const subs_discard[] = {"all", "plans", "temp", "sequences"};
	const struct cls_event *e0 = r->n_events ? &r->ev[0] : NULL;
	buf[0] = 0;
	if (!strcmp(key, "pins")) {
		bits_str(r->pins, pin_names, 6, buf, cap);
		if (!buf[0])
			snprintf(buf, cap, "none");
	} else if (!strcmp(key, "ev")) {
		events_str(r, buf, cap);
	} else if (!strcmp(key, "value0")) {
		snprintf(buf, cap, "%s", e0 ? e0->value_str : "");
	} else if (!strcmp(key, "mode0")) {
		snprintf(buf, cap, "%s", e0 ? modes[e0->txn_mode] : "");
	} else if (!strcmp(key, "flags0")) {
		if (e0)
			bits_str(e0->flags, evf_names, 6, buf, cap);
	} else if (!strcmp(key, "sub0")) {
		if (e0)
			snprintf(buf, cap, "%s", e0->kind == CLS_EV_DISCARD ? subs_discard[e0->sub] : subs_set[e0->sub]);
	} else if (!strcmp(key, "evtarget0")) {
		snprintf(buf, cap, "%s", e0 ? cls_target_name(e0->target) : "");
	} else if (!strcmp(key, "hint")) {
		snprintf(buf, cap, "%s", hints[r->hint]);
	} else if (!strcmp(key, "lag_ms")) {
		snprintf(buf, cap, "%lld", (long long)r->hint_max_lag_ms);
	} else if (!strcmp(key, "lag_bytes")) {
		snprintf(buf, cap, "%lld", (long long)r->hint_max_lag_bytes);
	} else if (!strcmp(key, "route")) {
		snprintf(buf, cap, "%.*s", (int)r->route_tag.len, sql + r->route_tag.off);
	} else if (!strcmp(key, "hint_invalid")) {
		snprintf(buf, cap, "%d", (r->flags & CLS_F_HINT_INVALID) ? 1 : 0);
	} else if (!strcmp(key, "opaque")) {
		snprintf(buf, cap, "%d", (r->flags & CLS_F_SESSION_OPAQUE) ? 1 : 0);
	} else if (!strcmp(key, "unknown")) {
		size_t n = 0;
		for (unsigned i = 0; i < r->n_unknown; i++)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s%s%s", i ? "," : "", r->unknown[i].schema,
			                      r->unknown[i].schema[0] ? "." : "", r->unknown[i].name);
	} else if (!strcmp(key, "n")) {
		snprintf(buf, cap, "%d", r->n_stmts);
	} else {
		return false;
	}
	return true;
}

/* Run one corpus line: expected target/reason/checks, then fast path vs libpg_query. */
static void run_line(const struct corpus_line *c, int *fast_decided, int *compared)
{
	char hdr[SQL_MAX], buf[SQL_MAX], got[SQL_MAX], why[256];
	struct cls_result r, fast, full;
	snprintf(hdr, sizeof(hdr), "%s", c->header);
	char *save = NULL, *target = strtok_r(hdr, " ", &save), *reason = strtok_r(NULL, " ", &save);
	if (target == NULL || reason == NULL) {
		expect(false, c, "%s%s", "malformed header", "");
		return;
	}
	CHECK_EQ_INT(classify(c->sql, c->len, &test_env, &r), 0);
	expect(strcmp(cls_target_name(r.target), target) == 0, c, "target %s, expected %s",
	       cls_target_name(r.target), target);
	cls_reason_str(&r, got, sizeof(got));
	size_t rl = strlen(reason);
	bool wild = rl >= 2 && strcmp(reason + rl - 2, ":*") == 0;
	expect(wild ? strncmp(got, reason, rl - 1) == 0 : strcmp(got, reason) == 0, c, "reason %s, expected %s",
	       got, reason);
	bool decided = classify_fast(c->sql, c->len, &test_env, &fast);
	classify_full(c->sql, c->len, &test_env, &full);
	for (char *chk; (chk = strtok_r(NULL, " ", &save));) {
		char *eq = strchr(chk, '=');
		if (eq == NULL) {
			expect(false, c, "bad check %s%s", chk, "");
			continue;
		}
		*eq = 0;
		const char *want = eq + 1;
		snprintf(buf, sizeof(buf), "%s", want);
		unescape(buf);
		if (!strcmp(chk, "fast")) {
			expect(decided == (buf[0] == '1'), c, "fast path decided=%s, expected %s", decided ? "1" : "0", buf);
			continue;
		}
		if (!check_value(&r, c->sql, chk, got, sizeof(got))) {
			expect(false, c, "unknown check %s%s", chk, "");
			continue;
		}
		expect(strcmp(got, buf) == 0, c, "got '%s', expected '%s'", got, buf);
	}
	if (decided) {
		(*fast_decided)++;
		if (full.reason != cls_r_unparseable) {
			(*compared)++;
			bool same = same_result(&fast, &full, why, sizeof(why));
			expect(same, c, "fast path and libpg_query differ: %s%s", why, "");
		}
	}
}

/* The corpus: at least 300 statements, every one as expected, the fast path never disagreeing. */
static void test_corpus(void)
{
	int decided = 0, compared = 0;
	CHECK(load_corpus());
	CHECK(n_corpus >= 300);
	for (int i = 0; i < n_corpus; i++)
		run_line(&corpus[i], &decided, &compared);
	printf("corpus: %d statements, fast path decided %d, %d compared with libpg_query\n", n_corpus, decided,
	       compared);
	CHECK(decided >= 150);
}

/* ---- differential on variants of the corpus ---- */

/* Deterministic xorshift PRNG so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Classify text both ways; whenever the fast path decides on parseable text, they must agree. */
static void differential_one(const char *sql, size_t len, int *compared, int *failures)
{
	struct cls_result fast, full;
	char why[256];
	if (!classify_fast(sql, len, &test_env, &fast))
		return;
	classify_full(sql, len, &test_env, &full);
	if (full.reason == cls_r_unparseable)
		return;
	(*compared)++;
	if (!same_result(&fast, &full, why, sizeof(why))) {
		if ((*failures)++ < 10)
			fprintf(stderr, "differential: %.*s: %s\n", (int)len, sql, why);
	}
}

/* Build a variant of s into out: case changes, comments, joins, token drops and truncations. */
static size_t make_variant(const char *s, size_t len, const char *other, size_t olen, int kind, uint64_t *rng,
                           char *out, size_t cap)
{
	size_t n = 0;
	switch (kind) {
	case 0: /* upper case */
	case 1: /* lower case */
		for (size_t i = 0; i < len && n + 1 < cap; i++) {
			char ch = s[i];
			if (kind == 0 && ch >= 'a' && ch <= 'z')
				ch = (char)(ch - 32);
			if (kind == 1 && ch >= 'A' && ch <= 'Z')
				ch = (char)(ch + 32);
			out[n++] = ch;
		}
		return n;
	case 2:
		return (size_t)snprintf(out, cap, "/* c */ %.*s -- tail", (int)len, s);
	case 3:
		return (size_t)snprintf(out, cap, "%.*s;\n%.*s", (int)len, s, (int)olen, other);
	default: {
		/* drop one random token, or cut the text after a random token */
		struct sql_lexer lx;
		struct sql_tok t;
		size_t ntok = 0, pick, cut_at = len, drop_s = 0, drop_e = 0;
		sql_lex_init(&lx, s, len);
		for (sql_lex_next(&lx, &t); t.type != SQL_T_EOF && t.type != SQL_T_ERROR; sql_lex_next(&lx, &t))
			ntok++;
		if (ntok == 0)
			return 0;
		pick = (size_t)(rng_next(rng) % ntok);
		sql_lex_init(&lx, s, len);
		for (size_t i = 0; i <= pick; i++)
			sql_lex_next(&lx, &t);
		if (kind == 4) {
			drop_s = t.start;
			drop_e = t.end;
		} else {
			cut_at = t.end;
		}
		for (size_t i = 0; i < cut_at && n + 1 < cap; i++)
			if (i < drop_s || i >= drop_e)
				out[n++] = s[i];
		return n;
	}
	}
}

/* Thousands of corpus variants through both paths. */
static void test_differential_variants(void)
{
	char buf[2 * SQL_MAX + 16];
	uint64_t rng = 0x2545F4914F6CDD1DULL;
	int compared = 0, failures = 0;
	struct quiet_stats qs = {0};
	for (int i = 0; i < n_corpus; i++) {
		const struct corpus_line *c = &corpus[i], *o = &corpus[(i * 7 + 3) % n_corpus];
		for (int kind = 0; kind < 6; kind++) {
			int reps = kind >= 4 ? 4 : 1;
			for (int r = 0; r < reps; r++) {
				size_t n = make_variant(c->sql, c->len, o->sql, o->len, kind, &rng, buf, sizeof(buf));
				differential_one(buf, n, &compared, &failures);
				quiet_check(buf, n, NULL, &qs);
			}
		}
	}
	printf("differential: %d fast-path decisions on corpus variants compared with libpg_query\n", compared);
	CHECK(compared > 1000);
	CHECK_EQ_INT(failures, 0);
	printf("quiet pre-scan: %ld of %ld corpus variants quiet (%ld unparseable), %ld wrongly\n", qs.quiet, qs.seen,
	       qs.unparseable, qs.bad);
	CHECK(qs.quiet > 300);
	CHECK_EQ_INT(qs.bad, 0);
}

/* ---- lexer ---- */

/* Token types of s, as a compact string (one letter per token). */
static void lex_types(const char *s, char *out, size_t cap)
{
	static const char letters[] = "$!CIQUSEuBDNPOTp";
	struct sql_lexer lx;
	struct sql_tok t;
	size_t n = 0;
	sql_lex_init(&lx, s, strlen(s));
	do {
		sql_lex_next(&lx, &t);
		if (n + 1 < cap)
			out[n++] = t.type == SQL_T_PUNCT ? t.ch : letters[t.type];
	} while (t.type != SQL_T_EOF && t.type != SQL_T_ERROR);
	out[n] = 0;
}

static void test_lexer(void)
{
	static const struct {
		const char *sql, *types;
	} cases[] = {
		{"SELECT 'a''b' x", "ISI$"},
		{"E'\\'' x", "EI$"},
		{"e'\\\\' x", "EI$"},
		{"'a'\n'b' x", "SI$"},          /* continuation: one literal */
		{"'a'\n-- c\n'b'", "S$"},       /* continuation across a comment line */
		{"'a' 'b'", "SS$"},             /* no newline: two literals */
		{"'a' -- c\n'b'", "SCS$"},
		{"E'a'\n'\\' x' y", "EI$"},     /* continued E'' string keeps backslash escapes */
		{"'a\\' x", "SI$"},             /* standard_conforming_strings: backslash is literal */
		{"$a$ x $b$ $a$ y", "DI$"},
		{"$$it's$$", "D$"},
		{"$1 $23", "PP$"},
		{"a$b $x", "I!"},
		{"/* /* */ */x", "CI$"},
		{"--c\nx", "CI$"},
		{"a*/*c*/b", "IOCI$"},
		{"a--b\nc", "ICI$"},
		{"=-1", "OON$"},
		{"@-1", "ON$"},
		{"x::int", "ITI$"},
		{"a := 1", "ION$"},
		{"U&\"x\" U&'y' u&z", "UuIOI$"},
		{"x'ff' B'01' n'x'", "BBIS$"},
		{"1.5e3 .5 1. 1e", "NNNNI$"},
		{"f(a[1], b.c);", "I(I[N],I.I);$"},
		{"'open", "!"},
		{"\"open", "!"},
		{"\"\"", "!"},
		{"/* open", "!"},
		{"$q$ open", "!"},
		{"E'\\", "!"},
		{"\\d", "!"},
		{"{", "!"},
	};
	char got[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lex_types(cases[i].sql, got, sizeof(got));
		if (strcmp(got, cases[i].types) != 0)
			fprintf(stderr, "lexer: %s\n", cases[i].sql);
		CHECK_EQ_STR(got, cases[i].types);
	}
	/* identifier and string decoding */
	char buf[64];
	struct sql_lexer lx;
	struct sql_tok t;
	const char *s = "FooBar \"Fo\"\"o\" 'a''b'\n'c'";
	sql_lex_init(&lx, s, strlen(s));
	sql_lex_next(&lx, &t);
	CHECK_EQ_INT(sql_ident_text(s, &t, buf, sizeof(buf)), 6);
	CHECK_EQ_STR(buf, "foobar");
	sql_lex_next(&lx, &t);
	CHECK_EQ_INT(sql_ident_text(s, &t, buf, sizeof(buf)), 4);
	CHECK_EQ_STR(buf, "Fo\"o");
	sql_lex_next(&lx, &t);
	CHECK_EQ_INT(sql_string_text(s, &t, buf, sizeof(buf)), 4);
	CHECK_EQ_STR(buf, "a'bc");
	CHECK_EQ_INT(sql_string_text(s, &t, buf, 3), -1);
	CHECK(sql_lex_table_ok());
	CHECK(sql_tok_is("SeLeCt", &(struct sql_tok){SQL_T_IDENT, 0, 0, 6}, "select"));
	CHECK(!sql_tok_is("selects", &(struct sql_tok){SQL_T_IDENT, 0, 0, 7}, "select"));
}

/* ---- spans, events, hints, odd inputs ---- */

/* Text of a span of sql. */
static const char *span_text(const char *sql, struct cls_span sp, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.*s", (int)sp.len, sql + sp.off);
	return buf;
}

static void test_spans_and_events(void)
{
	const char *sql = "  BEGIN ; /* c */ SET search_path = a, \"B\" /* t */ ;\n-- x\nSET LOCAL x TO 'v' ; COMMIT AND CHAIN";
	struct cls_result a, b;
	char buf[128];
	CHECK(classify_fast(sql, strlen(sql), NULL, &a));
	classify_full(sql, strlen(sql), NULL, &b);
	for (int pass = 0; pass < 2; pass++) {
		const struct cls_result *r = pass ? &b : &a;
		CHECK_EQ_INT(r->n_events, 4);
		CHECK_EQ_STR(span_text(sql, r->ev[0].stmt, buf, sizeof(buf)), "BEGIN");
		CHECK_EQ_STR(span_text(sql, r->ev[1].stmt, buf, sizeof(buf)), "SET search_path = a, \"B\"");
		CHECK_EQ_STR(span_text(sql, r->ev[1].value, buf, sizeof(buf)), "a, \"B\"");
		CHECK(r->ev[1].flags & CLS_EVF_MULTI_VALUE);
		CHECK_EQ_STR(span_text(sql, r->ev[2].stmt, buf, sizeof(buf)), "SET LOCAL x TO 'v'");
		CHECK_EQ_STR(span_text(sql, r->ev[2].value, buf, sizeof(buf)), "'v'");
		CHECK_EQ_STR(r->ev[2].value_str, "v");
		CHECK(r->ev[2].flags & CLS_EVF_LOCAL);
		CHECK_EQ_INT(r->ev[3].kind, CLS_EV_COMMIT);
		CHECK(r->ev[3].flags & CLS_EVF_CHAIN);
		CHECK_EQ_INT(r->n_stmts, 4);
	}
	/* more events than fit: the overflow is flagged */
	const char *many = "SET a=1; SET b=2; SET c=3; SET d=4; SET e=5; SET f=6; SET g=7; SET h=8; SET i=9";
	CHECK(classify_fast(many, strlen(many), NULL, &a));
	CHECK_EQ_INT(a.n_events, CLS_MAX_EVENTS);
	CHECK(a.flags & CLS_F_EVENTS_OVERFLOW);
	classify_full(many, strlen(many), NULL, &b);
	CHECK(b.flags & CLS_F_EVENTS_OVERFLOW);
	/* a value longer than value_str: truncated, span still exact */
	char longset[400];
	snprintf(longset, sizeof(longset), "SET pgrouter.consistency_key = '%0200d'", 7);
	CHECK(classify_fast(longset, strlen(longset), NULL, &a));
	CHECK(a.ev[0].flags & CLS_EVF_TRUNCATED);
	CHECK_EQ_INT(strlen(a.ev[0].value_str), CLS_VALUE_MAX - 1);
	CHECK_EQ_INT(a.ev[0].value.len, 202);
	classify_full(longset, strlen(longset), NULL, &b);
	CHECK(same_result(&a, &b, buf, sizeof(buf)));
	/* route tag span points into the text */
	const char *routed = "SELECT 1 /* route:  dash_2 */";
	classify(routed, strlen(routed), NULL, &a);
	CHECK_EQ_STR(span_text(routed, a.route_tag, buf, sizeof(buf)), "dash_2");
	CHECK_EQ_INT(a.route_tag.off, 20);
}

static void test_odd_inputs(void)
{
	struct cls_result r;
	char buf[128];
	/* not NUL-terminated: only len bytes count */
	const char text[] = "SELECT 1; DELETE FROM t";
	CHECK_EQ_INT(classify(text, 8, NULL, &r), 0);
	CHECK_EQ_STR(r.reason, "read");
	CHECK_EQ_INT(classify_full(text, 8, NULL, &r), 0);
	CHECK_EQ_STR(r.reason, "read");
	/* an embedded NUL never reaches a replica */
	const char nul[] = "SELECT 1\0; DELETE FROM t";
	CHECK_EQ_INT(classify(nul, sizeof(nul) - 1, NULL, &r), 0);
	CHECK_EQ_INT(r.target, CLS_PRIMARY);
	CHECK_EQ_STR(r.reason, "unparseable");
	/* bad arguments */
	CHECK_EQ_INT(classify(NULL, 0, NULL, &r), -1);
	CHECK_EQ_INT(classify("SELECT 1", 8, NULL, NULL), -1);
	CHECK(!classify_fast(NULL, 0, NULL, &r));
	/* without volatility knowledge a user function is unknown */
	classify("SELECT my_stable_fn(1)", 22, NULL, &r);
	CHECK_EQ_STR(cls_reason_str(&r, buf, sizeof(buf)), "unknown-function:my_stable_fn");
	CHECK_EQ_INT(r.n_unknown, 1);
	/* the deny list wins over the environment; the environment wins over the built-in list */
	int calls = 0;
	struct cls_env liar = {test_volatility, &calls, 0};
	classify("SELECT nextval('s')", 19, &liar, &r);
	CHECK_EQ_STR(r.reason, "volatile-function");
	CHECK_EQ_INT(calls, 0);
	classify("SELECT lower('a')", 17, &liar, &r);
	CHECK_EQ_STR(r.reason, "read");
	CHECK(calls > 0);
	/* reason formatting */
	CHECK_EQ_STR(cls_target_name(CLS_ANY), "any");
	CHECK_EQ_STR(cls_target_name(CLS_REPLICA), "replica");
	CHECK_EQ_STR(cls_target_name(CLS_PRIMARY), "primary");
	classify("SELECT nextval('s')", 19, NULL, &r);
	CHECK_EQ_STR(cls_reason_str(&r, buf, 12), "volatile-fu");
	CHECK(cls_func_tables_ok());
	CHECK(cls_kw_table_ok());
	CHECK_EQ_INT(cls_parse_bool("of"), 0);
	CHECK_EQ_INT(cls_parse_bool("o"), -1);
	CHECK_EQ_INT(cls_parse_bool("ON"), 1);
	CHECK_EQ_INT(cls_parse_bool("tr"), 1);
}

/* Build "head" + n × "unit" + tail into a fresh buffer; returns its length. */
static size_t repeat_text(char **out, const char *head, const char *unit, int n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), len = hl + ul * (size_t)n + tl;
	char *p = malloc(len + 1);
	memcpy(p, head, hl);
	for (int i = 0; i < n; i++)
		memcpy(p + hl + ul * (size_t)i, unit, ul);
	memcpy(p + len - tl, tail, tl + 1);
	*out = p;
	return len;
}

/* Parse trees deep enough to overflow libpg_query's recursive printer never reach it; flat lists do. */
static void test_nesting_guard(void)
{
	static const struct {
		const char *head, *unit, *tail;
		int n;
		bool rejected;
	} cases[] = {
		{"SELECT 1", "+1", "", 100000, true},          /* crashed libpg_query even on an 8 MB stack */
		{"SELECT 1", " OPERATOR(pg_catalog.+) 1", "", 5000, true},
		{"SELECT ", "NOT ", "true", 5000, true},
		{"SELECT 1", " UNION SELECT 1", "", 5000, true},
		{"SELECT 1 FROM t0", " JOIN t ON a = b", "", 2000, true},
		{"SELECT 1 WHERE a = 1", " OR a = 2", "", 20000, false},
		{"SELECT 1 WHERE a IN (1", ", 2", ")", 50000, false},
		{"VALUES (1)", ", (2)", "", 20000, false},
		{"SELECT 1", "+1", "", 500, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cls_result r;
		char *sql;
		size_t len = repeat_text(&sql, cases[i].head, cases[i].unit, cases[i].n, cases[i].tail);
		CHECK_EQ_INT(classify_full(sql, len, NULL, &r), 0);
		bool rejected = r.reason == cls_r_unparseable && strncmp(r.detail, "nested", 6) == 0;
		if (rejected != cases[i].rejected)
			fprintf(stderr, "nesting guard: %s%s… (%d)\n", cases[i].head, cases[i].unit, cases[i].n);
		CHECK(rejected == cases[i].rejected);
		CHECK_EQ_INT(r.target, cases[i].rejected ? CLS_PRIMARY : CLS_REPLICA);
		free(sql);
	}
	/* nested subqueries: accepted up to the bound, refused beyond it */
	for (int depth = 150; depth <= 300; depth += 150) {
		char *open, *close, *sql;
		struct cls_result r;
		repeat_text(&open, "SELECT ", "(SELECT ", depth, "1");
		repeat_text(&close, open, ")", depth, "");
		size_t len = strlen(close);
		sql = close;
		classify_full(sql, len, NULL, &r);
		CHECK_EQ_INT(r.target, depth == 150 ? CLS_REPLICA : CLS_PRIMARY);
		free(open);
		free(close);
	}
}

static void test_fingerprint(void)
{
	char buf[128];
	CHECK(cls_fingerprint("SELECT f(1)", 11) == cls_fingerprint("select f( 2 ) -- x", 18));
	CHECK(cls_fingerprint("SELECT f(1)", 11) == cls_fingerprint("SELECT /* c */ F($1)", 20));
	CHECK(cls_fingerprint("SELECT f(1)", 11) != cls_fingerprint("SELECT g(1)", 11));
	CHECK(cls_fingerprint("SELECT \"A\"", 10) != cls_fingerprint("SELECT a", 8));
	const char *q = "SELECT * FROM t WHERE a = 'x' AND b = 3.5 AND c = $$y$$ -- c";
	size_t need = cls_normalize(q, strlen(q), buf, sizeof(buf));
	CHECK_EQ_STR(buf, "select * from t where a = ? and b = ? and c = ?");
	CHECK_EQ_INT(need, strlen(buf));
	CHECK_EQ_INT(cls_normalize(q, strlen(q), buf, 7), need);
	CHECK_EQ_STR(buf, "select");
}

/* ---- cache ---- */

static void test_cache(void)
{
	struct cls_cache *c = cls_cache_new(4, 64);
	struct cls_cache_stats st;
	struct cls_result r, fresh;
	char sql[64], why[128];
	CHECK(c != NULL);
	CHECK(cls_cache_new(0, 64) == NULL);
	for (int i = 0; i < 6; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		CHECK_EQ_INT(classify_cached(c, sql, strlen(sql), &test_env, &r), 0);
	}
	cls_cache_get_stats(c, &st);
	CHECK_EQ_INT(st.misses, 6);
	CHECK_EQ_INT(st.inserts, 6);
	CHECK_EQ_INT(st.evictions, 2);
	CHECK_EQ_INT(st.used, 4);
	CHECK_EQ_INT(st.capacity, 4);
	/* a hit returns exactly what classification returns */
	CHECK(cls_cache_get(c, "SELECT 5", 8, 1, &r));
	classify("SELECT 5", 8, &test_env, &fresh);
	CHECK(same_result(&r, &fresh, why, sizeof(why)));
	CHECK(!cls_cache_get(c, "SELECT 0", 8, 1, &r)); /* evicted first */
	CHECK(!cls_cache_get(c, "SELECT 5 ", 9, 1, &r)); /* exact text only */
	/* CLOCK: a referenced entry survives the next eviction */
	cls_cache_clear(c);
	const char *keys[] = {"SELECT 'a'", "SELECT 'b'", "SELECT 'c'", "SELECT 'd'", "SELECT 'e'"};
	for (int i = 0; i < 4; i++)
		classify_cached(c, keys[i], strlen(keys[i]), &test_env, &r);
	CHECK(cls_cache_get(c, keys[0], strlen(keys[0]), 1, &r));
	classify_cached(c, keys[4], strlen(keys[4]), &test_env, &r);
	CHECK(cls_cache_get(c, keys[0], strlen(keys[0]), 1, &r));
	CHECK(!cls_cache_get(c, keys[1], strlen(keys[1]), 1, &r));
	CHECK(cls_cache_get(c, keys[4], strlen(keys[4]), 1, &r));
	/* events survive the round trip */
	const char *tx = "BEGIN READ ONLY; SET LOCAL work_mem = '8MB'";
	classify_cached(c, tx, strlen(tx), &test_env, &fresh);
	CHECK(cls_cache_get(c, tx, strlen(tx), 1, &r));
	CHECK(same_result(&r, &fresh, why, sizeof(why)));
	CHECK_EQ_STR(r.ev[1].value_str, "8MB");
	/* unknown functions and over-long texts are not stored */
	classify("SELECT unknown_fn()", 19, &test_env, &r);
	CHECK_EQ_INT(cls_cache_put(c, "SELECT unknown_fn()", 19, 1, &r), -1);
	char longq[100];
	memset(longq, ' ', sizeof(longq));
	memcpy(longq, "SELECT 1", 8);
	classify(longq, sizeof(longq), &test_env, &r);
	CHECK_EQ_INT(cls_cache_put(c, longq, sizeof(longq), 1, &r), -1);
	/* new volatility knowledge drops everything */
	CHECK(!cls_cache_get(c, keys[0], strlen(keys[0]), 2, &r));
	cls_cache_get_stats(c, &st);
	CHECK_EQ_INT(st.used, 0);
	CHECK(st.clears >= 2);
	cls_cache_free(c);
	cls_cache_free(NULL);
	/* a working set a bit larger than the cache: hits always match their own text */
	c = cls_cache_new(64, 4096);
	int bad = 0, hits = 0;
	uint64_t rng = 42;
	for (int k = 0; k < 5000; k++) {
		const struct corpus_line *cl = &corpus[rng_next(&rng) % 80];
		if (!cls_cache_get(c, cl->sql, cl->len, 1, &r)) {
			classify(cl->sql, cl->len, &test_env, &r);
			cls_cache_put(c, cl->sql, cl->len, 1, &r);
			continue;
		}
		hits++;
		classify(cl->sql, cl->len, &test_env, &fresh);
		bad += !same_result(&r, &fresh, why, sizeof(why));
	}
	cls_cache_get_stats(c, &st);
	CHECK(hits > 1000);
	CHECK(st.evictions > 0);
	CHECK_EQ_INT(bad, 0);
	cls_cache_free(c);
}

/* ---- threads ---- */

static struct cls_result *thread_ref; /* single-threaded full-path results, one per corpus line */

/* Classify the whole corpus repeatedly and count answers that differ from the reference. */
static void *thread_main(void *p)
{
	int *mismatches = p;
	struct cls_result r;
	char why[128];
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < n_corpus; i++) {
			classify_full(corpus[i].sql, corpus[i].len, &test_env, &r);
			if (!same_result(&r, &thread_ref[i], why, sizeof(why)))
				(*mismatches)++;
		}
	return NULL;
}

/* libpg_query keeps per-thread state: two threads at once must get the single-threaded answers. */
static void test_threads(void)
{
	pthread_t th[2];
	int mismatches[2] = {0, 0};
	thread_ref = calloc((size_t)n_corpus, sizeof(*thread_ref));
	CHECK(thread_ref != NULL);
	if (thread_ref == NULL)
		return;
	for (int i = 0; i < n_corpus; i++)
		classify_full(corpus[i].sql, corpus[i].len, &test_env, &thread_ref[i]);
	for (int i = 0; i < 2; i++)
		CHECK_EQ_INT(pthread_create(&th[i], NULL, thread_main, &mismatches[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(mismatches[i], 0);
	}
	free(thread_ref);
}

int main(void)
{
	test_lexer();
	test_corpus();
	test_differential_variants();
	test_spans_and_events();
	test_odd_inputs();
	test_nesting_guard();
	test_fingerprint();
	test_cache();
	test_threads();
	for (int i = 0; i < n_corpus; i++) {
		free(corpus[i].header);
		free(corpus[i].sql);
	}
	return unit_done("test_classify");
}
