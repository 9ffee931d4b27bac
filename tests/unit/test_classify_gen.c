/* Differential test: random SQL from a small grammar, fast path vs libpg_query on every decided text. */
#include "sql/classify.h"
#include "sql/classify_int.h"
#include "unit.h"
#include "quiet_check.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ITERATIONS 30000

/* Generator state: output buffer and a deterministic xorshift PRNG (failures reproduce). */
struct gen {
	char out[16384];
	size_t n;
	uint64_t rng;
};

/* Volatility knowledge for the generated names. */
static char volatility(void *ctx, const char *schema, const char *name)
{
	if (strcmp(name, "my_stable_fn") == 0)
		return 's';
	if (strcmp(name, "my_volatile_fn") == 0)
		return 'v';
	return 0;
}

static const struct cls_env env = {volatility, NULL, 1};

/* Uniform-ish number in [0, n). */
static unsigned pick(struct gen *g, unsigned n)
{
	g->rng ^= g->rng << 13;
	g->rng ^= g->rng >> 7;
	g->rng ^= g->rng << 17;
	return (unsigned)(g->rng % n);
}

/* Append formatted text (silently truncated at the buffer's end). */
static void put(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(g->out + g->n, sizeof(g->out) - g->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		g->n += (size_t)k;
	if (g->n >= sizeof(g->out))
		g->n = sizeof(g->out) - 1;
}

#define PICK(g, arr) ((arr)[pick((g), sizeof(arr) / sizeof((arr)[0]))])

static const char *const safe_fns[] = {"lower", "upper", "now", "count", "my_stable_fn", "pg_catalog.lower",
	"\"lower\"", "left", "random", "coalesce", "greatest", "length", "abs", "date_trunc", "to_char",
	"jsonb_build_object", "string_agg", "pg_sleep", "gen_random_uuid", "clock_timestamp", "substring",
	"overlay", "timezone", "public.my_stable_fn", "md5"};
static const char *const other_fns[] = {"nextval", "my_volatile_fn", "unknown_fn", "pg_advisory_lock", "setval",
	"currval", "s.f", "txid_current", "pg_notify", "lo_create", "cube", "treat_me", "set_config"};
static const char *const literals[] = {"1", "'str'", "E'esc\\''", "$$d$$", "'for update'", "-1.5", "NULL", "TRUE",
	"$1", "'a''b'", "U&'\\0041'", "B'01'", "$q$ nextval('s') $q$", "'x'\n'y'", ".5", "1e3"};
static const char *const types[] = {"int", "numeric(10,2)", "varchar(5)", "character varying(3)",
	"timestamptz(3)", "text[]", "double precision", "bigint", "timestamp(3) with time zone", "interval",
	"bpchar(2)"};

static void gen_select(struct gen *g, int depth);

/* Blank, newline or a comment holding a keyword. */
static void gen_space(struct gen *g)
{
	static const char *const spaces[] = {" ", " ", " ", " /* for update */ ", " -- delete\n", "\n"};
	put(g, "%s", PICK(g, spaces));
}

/* A random expression. */
static void gen_expr(struct gen *g, int d)
{
	static const char *const ops[] = {"+", "-", "=", "<>", "||", "->>", "AND", "OR", "*", "/"};
	static const char *const specials[] = {"coalesce", "nullif", "greatest", "row", "position"};
	if (d > 4) {
		put(g, pick(g, 2) ? "%s" : "c%s", pick(g, 2) ? PICK(g, literals) : "1");
		return;
	}
	switch (pick(g, 22)) {
	case 0: case 1: put(g, "%s", PICK(g, literals)); break;
	case 2: case 3: put(g, "t.c%u", pick(g, 5)); break;
	case 4: case 5: {
		put(g, "%s(", pick(g, 5) ? PICK(g, safe_fns) : PICK(g, other_fns));
		for (unsigned i = 0, k = pick(g, 3); i < k; i++) {
			put(g, i ? ", " : "");
			gen_expr(g, d + 1);
		}
		put(g, ")");
		break;
	}
	case 6: gen_expr(g, d + 1); put(g, " %s ", PICK(g, ops)); gen_space(g); gen_expr(g, d + 1); break;
	case 7: put(g, "("); gen_expr(g, d + 1); put(g, ")"); break;
	case 8: put(g, "CASE WHEN "); gen_expr(g, d + 1); put(g, " THEN "); gen_expr(g, d + 1); put(g, " END"); break;
	case 9: gen_expr(g, d + 1); put(g, "::%s", PICK(g, types)); break;
	case 10: put(g, "CAST("); gen_expr(g, d + 1); put(g, " AS %s)", PICK(g, types)); break;
	case 11: put(g, "EXISTS ("); gen_select(g, d + 1); put(g, ")"); break;
	case 12: gen_expr(g, d + 1); put(g, " IN ("); gen_select(g, d + 1); put(g, ")"); break;
	case 13: put(g, "ARRAY["); gen_expr(g, d + 1); put(g, "]"); break;
	case 14: gen_expr(g, d + 1); put(g, " BETWEEN "); gen_expr(g, d + 1); put(g, " AND "); gen_expr(g, d + 1); break;
	case 15: gen_expr(g, d + 1); put(g, " LIKE "); gen_expr(g, d + 1); break;
	case 16: put(g, "NOT "); gen_expr(g, d + 1); break;
	case 17: put(g, "count(*) FILTER (WHERE "); gen_expr(g, d + 1); put(g, ")"); break;
	case 18: put(g, "rank() OVER (PARTITION BY "); gen_expr(g, d + 1); put(g, " ORDER BY "); gen_expr(g, d + 1); put(g, ")"); break;
	case 19: put(g, "%s(", pick(g, 2) ? "trim(both from " : "extract(year from "); gen_expr(g, d + 1); put(g, "))"); break;
	case 20: put(g, "("); gen_select(g, d + 1); put(g, ")"); break;
	default: put(g, "%s(", PICK(g, specials)); gen_expr(g, d + 1); put(g, pick(g, 2) ? ", " : " IN "); gen_expr(g, d + 1); put(g, ")"); break;
	}
}

/* A FROM item. */
static void gen_from(struct gen *g, int d)
{
	switch (pick(g, 7)) {
	case 0: put(g, "t"); break;
	case 1: put(g, "t AS a"); break;
	case 2: put(g, "("); gen_select(g, d + 1); put(g, ") AS s"); break;
	case 3: put(g, "generate_series(1, 3) g"); break;
	case 4: put(g, "t JOIN u ON "); gen_expr(g, d + 1); break;
	case 5: put(g, "t, LATERAL ("); gen_select(g, d + 1); put(g, ") x"); break;
	default: put(g, "%s(", pick(g, 3) ? "unnest" : "nextval"); gen_expr(g, d + 1); put(g, ")"); break;
	}
}

/* A SELECT, sometimes with a (possibly writable) CTE, FOR UPDATE or INTO. */
static void gen_select(struct gen *g, int d)
{
	if (d < 3 && pick(g, 6) == 0) {
		put(g, "WITH w AS %s(", pick(g, 4) == 0 ? "MATERIALIZED " : "");
		if (pick(g, 5) == 0)
			put(g, "DELETE FROM t RETURNING *");
		else
			gen_select(g, d + 1);
		put(g, ") ");
	}
	put(g, "SELECT %s", pick(g, 5) == 0 ? "DISTINCT " : "");
	for (unsigned i = 0, k = 1 + pick(g, 3); i < k; i++) {
		put(g, i ? ", " : "");
		gen_space(g);
		gen_expr(g, d + 1);
		if (pick(g, 4) == 0)
			put(g, " AS a%u", i);
	}
	if (pick(g, 3)) { put(g, " FROM "); gen_from(g, d + 1); }
	if (pick(g, 2)) { put(g, " WHERE "); gen_expr(g, d + 1); }
	if (pick(g, 5) == 0) { put(g, " GROUP BY "); gen_expr(g, d + 1); }
	if (pick(g, 4) == 0) { put(g, " ORDER BY "); gen_expr(g, d + 1); put(g, pick(g, 2) ? " DESC" : ""); }
	if (pick(g, 6) == 0)
		put(g, " LIMIT %u", pick(g, 10));
	if (pick(g, 15) == 0)
		put(g, " FOR UPDATE");
	if (pick(g, 20) == 0)
		put(g, " INTO tmp");
}

/* Session, transaction and DML statements. */
static void gen_other(struct gen *g)
{
	static const char *const scope[] = {"", "LOCAL ", "SESSION "};
	static const char *const vars[] = {"search_path", "x.y", "pgrouter.target", "default_transaction_read_only",
	                                   "\"Q\".v", "statement_timeout"};
	static const char *const vals[] = {"on", "'on'", "1", "-5", "- 7", "+3", "010", "1.5", "DEFAULT", "public",
	                                   "\"Pub\"", "'x'\n'y'", "true", "off", "primary", "99999999999", "E'x'"};
	static const char *const resets[] = {"ALL", "search_path", "pgrouter.target", "x.y", "TIME ZONE"};
	static const char *const begins[] = {"BEGIN", "START TRANSACTION", "BEGIN WORK"};
	static const char *const modes[] = {"", " READ ONLY", " READ WRITE", " ISOLATION LEVEL SERIALIZABLE",
	                                    " ISOLATION LEVEL REPEATABLE READ, READ ONLY", " NOT DEFERRABLE",
	                                    " READ ONLY READ WRITE"};
	static const char *const ends[] = {"COMMIT", "END", "ROLLBACK", "ABORT"};
	static const char *const chains[] = {"", " AND CHAIN", " AND NO CHAIN", " WORK", " TRANSACTION AND CHAIN"};
	static const char *const savepoints[] = {"SAVEPOINT s1", "RELEASE s1", "RELEASE SAVEPOINT \"S 1\"",
	                                         "ROLLBACK TO s1", "ROLLBACK TO SAVEPOINT s1"};
	static const char *const shows[] = {"ALL", "search_path", "pgrouter.target", "x.y"};
	switch (pick(g, 10)) {
	case 0:
		put(g, "SET %s%s %s ", PICK(g, scope), PICK(g, vars), pick(g, 2) ? "=" : "TO");
		for (unsigned i = 0, k = 1 + pick(g, 2); i < k; i++)
			put(g, "%s%s", i ? ", " : "", PICK(g, vals));
		break;
	case 1: put(g, "RESET %s", PICK(g, resets)); break;
	case 2: put(g, "%s%s", PICK(g, begins), PICK(g, modes)); break;
	case 3: put(g, "%s%s", PICK(g, ends), PICK(g, chains)); break;
	case 4: put(g, "%s", PICK(g, savepoints)); break;
	case 5: put(g, "SHOW %s", PICK(g, shows)); break;
	case 6: put(g, "INSERT INTO t VALUES ("); gen_expr(g, 2); put(g, ")"); break;
	case 7: put(g, "UPDATE t SET c = "); gen_expr(g, 2); break;
	case 8: put(g, "DELETE FROM t WHERE "); gen_expr(g, 2); break;
	default: put(g, "VALUES ("); gen_expr(g, 2); put(g, "), (1)"); break;
	}
}

/* Same decision, field by field (the fast-path flag aside). */
static bool same(const struct cls_result *a, const struct cls_result *b)
{
	if (a->target != b->target || strcmp(a->reason, b->reason) || strcmp(a->detail, b->detail) ||
	    a->pins != b->pins || a->n_events != b->n_events || a->n_stmts != b->n_stmts || a->hint != b->hint ||
	    (a->flags & ~CLS_F_FAST) != (b->flags & ~CLS_F_FAST))
		return false;
	for (unsigned i = 0; i < a->n_events; i++) {
		const struct cls_event *x = &a->ev[i], *y = &b->ev[i];
		if (x->kind != y->kind || x->sub != y->sub || x->txn_mode != y->txn_mode || x->flags != y->flags ||
		    strcmp(x->name, y->name) || strcmp(x->value_str, y->value_str) || x->stmt.off != y->stmt.off ||
		    x->stmt.len != y->stmt.len || x->value.off != y->value.off || x->value.len != y->value.len)
			return false;
	}
	return true;
}

int main(void)
{
	static struct gen g = {.rng = 0x9E3779B97F4A7C15ULL};
	long decided = 0, compared = 0, reads = 0, bad = 0;
	struct quiet_stats qs = {0};
	for (int it = 0; it < ITERATIONS; it++) {
		g.n = 0;
		g.out[0] = 0;
		if (pick(&g, 4) == 0)
			put(&g, "/* pgrouter: replica */ ");
		for (unsigned i = 0, k = 1 + (pick(&g, 4) == 0); i < k; i++) {
			put(&g, i ? "; " : "");
			if (pick(&g, 3))
				gen_select(&g, 0);
			else
				gen_other(&g);
		}
		struct cls_result fast, full;
		quiet_check(g.out, g.n, &env, &qs);
		if (!classify_fast(g.out, g.n, &env, &fast))
			continue;
		decided++;
		classify_full(g.out, g.n, &env, &full);
		if (full.reason == cls_r_unparseable)
			continue;
		compared++;
		reads += fast.target == CLS_REPLICA;
		if (!same(&fast, &full) && bad++ < 5) {
			char r1[96], r2[96];
			fprintf(stderr, "differs: %s\n  fast %s %s, libpg_query %s %s\n", g.out, cls_target_name(fast.target),
			        cls_reason_str(&fast, r1, sizeof(r1)), cls_target_name(full.target),
			        cls_reason_str(&full, r2, sizeof(r2)));
		}
	}
	printf("generated %d statements: fast path decided %ld, compared %ld (%ld reads), %ld differ\n", ITERATIONS,
	       decided, compared, reads, bad);
	CHECK(compared > ITERATIONS / 5);
	CHECK(reads > ITERATIONS / 10);
	CHECK_EQ_INT(bad, 0);
	printf("quiet pre-scan: %ld of %ld generated statements quiet (%ld unparseable), %ld wrongly\n", qs.quiet,
	       qs.seen, qs.unparseable, qs.bad);
	CHECK(qs.quiet > ITERATIONS / 100);
	CHECK_EQ_INT(qs.bad, 0);
	return unit_done("test_classify_gen");
}
