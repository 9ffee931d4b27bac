/* Unit tests for statement shapes: literals blanked, unsafe texts refused, and no verdict a literal changes. */
#include "sql/classify.h"
#include "unit.h"
#include "corpus.h"

/* Everything is stable except the corpus's known writers: enough for a literal-blindness check. */
static char volatility(void *ctx, const char *schema, const char *name)
{
	(void)ctx;
	(void)schema;
	return strcmp(name, "my_writer") == 0 ? 'v' : 's';
}

static const struct cls_env env = {volatility, NULL, 1};

/* The shape of sql as a string ("<refused>" when cls_shape_key says -1). */
static const char *shape(const char *sql, char *buf, size_t cap)
{
	int n = cls_shape_key(sql, strlen(sql), buf, cap - 1);
	if (n < 0)
		return "<refused>";
	buf[n] = 0;
	return buf;
}

static void test_shapes(void)
{
	char b[256];
	CHECK_EQ_STR(shape("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;", b, sizeof b),
	             "SELECT abalance FROM pgbench_accounts WHERE aid = #;");
	CHECK_EQ_STR(shape("select * from t1 where c2 = 'it''s' and d = -4.5e3", b, sizeof b),
	             "select * from t1 where c2 = '?' and d = -#");
	/* names keep their digits, quoted names keep everything */
	CHECK_EQ_STR(shape("SELECT f1(x2) FROM \"T 42\" WHERE y=.5", b, sizeof b), "SELECT f1(x2) FROM \"T 42\" WHERE y=#");
	CHECK_EQ_STR(shape("INSERT INTO t VALUES (1,'a'),(22,'bb')", b, sizeof b), "INSERT INTO t VALUES (#,'?'),(#,'?')");
	/* refused: comments (hints live there), escapes, dollar quotes and parameters, open quotes */
	CHECK_EQ_STR(shape("SELECT 1 /* pgrouter: primary */", b, sizeof b), "<refused>");
	CHECK_EQ_STR(shape("SELECT 1 -- note", b, sizeof b), "<refused>");
	CHECK_EQ_STR(shape("SELECT E'a\\'b'", b, sizeof b), "<refused>");
	CHECK_EQ_STR(shape("SELECT $$x$$", b, sizeof b), "<refused>");
	CHECK_EQ_STR(shape("SELECT * FROM t WHERE id = $1", b, sizeof b), "<refused>");
	CHECK_EQ_STR(shape("SELECT 'open", b, sizeof b), "<refused>");
	CHECK_EQ_STR(shape("SELECT \"open", b, sizeof b), "<refused>");
	/* too long for the buffer */
	CHECK(cls_shape_key("SELECT 123456", 13, b, 7) < 0);
	CHECK_EQ_INT(cls_shape_key("SELECT 123456", 13, b, 8), 8);
	/* a SET's value is an event: never stored under a shape */
	struct cls_result r;
	CHECK(classify_fast("SET work_mem = 64", 17, &env, &r));
	CHECK(!cls_shape_cacheable(&r));
	CHECK(classify_fast("SELECT 1", 8, &env, &r));
	CHECK(cls_shape_cacheable(&r));
}

/* A copy of sql with every literal changed (digits rotated, string letters swapped), names untouched. */
static void vary(const char *sql, size_t len, char *out)
{
	char quote = 0;
	for (size_t i = 0; i < len; i++) {
		char c = sql[i];
		if (quote) {
			if (c == quote)
				quote = 0;
			else if (quote == '\'' && c >= 'a' && c <= 'y')
				c = (char)(c + 1);
		} else if (c == '\'' || c == '"') {
			quote = c;
		} else if (c >= '0' && c <= '9' && (i == 0 || !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789$", sql[i - 1]) ||
		                                    (sql[i - 1] >= '0' && sql[i - 1] <= '9' && out[i - 1] != sql[i - 1]))) {
			c = (char)('0' + (c - '0' + 3) % 10);
		}
		out[i] = c;
	}
	out[len] = 0;
}

/* Every corpus text with a shape: its variant has the same shape, and if the verdict may be stored under the
   shape, the variant's own verdict is the same. */
static void test_corpus_literal_blind(void)
{
	CHECK(load_corpus());
	int stored = 0;
	for (int i = 0; i < n_corpus; i++) {
		const struct corpus_line *c = &corpus[i];
		char s1[CLS_SHAPE_MAX], s2[CLS_SHAPE_MAX], var[SQL_MAX];
		int n1 = cls_shape_key(c->sql, c->len, s1, sizeof s1);
		struct cls_result r, rv;
		if (n1 < 0 || !classify_fast(c->sql, c->len, &env, &r) || !cls_shape_cacheable(&r))
			continue;
		stored++;
		vary(c->sql, c->len, var);
		int n2 = cls_shape_key(var, c->len, s2, sizeof s2);
		bool same_shape = n2 == n1 && memcmp(s1, s2, (size_t)n1) == 0;
		bool decided = classify_fast(var, c->len, &env, &rv);
		bool same = decided && rv.target == r.target && rv.reason == r.reason && strcmp(rv.detail, r.detail) == 0 &&
		            rv.pins == r.pins && rv.n_stmts == r.n_stmts && rv.flags == r.flags && rv.n_events == 0;
		if (!same_shape || !same)
			fprintf(stderr, "corpus line %d: shape or verdict changed with literals: %s / %s\n", c->lineno, c->sql, var);
		CHECK(same_shape && same);
	}
	CHECK(stored > 50);   /* the check above saw a real part of the corpus */
	for (int i = 0; i < n_corpus; i++) {
		free(corpus[i].header);
		free(corpus[i].sql);
	}
}

int main(void)
{
	test_shapes();
	test_corpus_literal_blind();
	return unit_done("test_classify_shape");
}
