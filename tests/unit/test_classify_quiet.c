/* Unit tests for the pre-scan cls_quiet_query: pgbench's statements pass, every session effect refuses, the corpus proves it. */
#include "sql/classify.h"
#include "sql/classify_int.h"
#include "unit.h"
#include "corpus.h"
#include "quiet_check.h"

/* No volatility knowledge: every function is unknown to libpg_query's side, the strictest judge. */
static const struct cls_env *const env = NULL;

/* The pre-scan on a NUL-terminated text. */
static bool quiet(const char *sql)
{
	return cls_quiet_query(sql, strlen(sql));
}

/* What routing without a replica may skip: pgbench's statements and plain reads and writes. */
static void test_quiet(void)
{
	static const char *const yes[] = {
		"SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
		"UPDATE pgbench_accounts SET abalance = abalance + -2911 WHERE aid = 48213;",
		"UPDATE pgbench_tellers SET tbalance = tbalance + -2911 WHERE tid = 5;",
		"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (5, 1, 48213, -2911, "
		"CURRENT_TIMESTAMP);",
		"SELECT abalance FROM pgbench_accounts WHERE aid = $1",
		"select * from t where id in (1, 2) and (a = 'x''y' or b <> -1.5e3) -- a comment\n",
		"INSERT INTO s.t (a) VALUES ($1), ($2) ON CONFLICT DO UPDATE SET a = excluded.a RETURNING a",
		"DELETE FROM t WHERE x = (SELECT y FROM u WHERE z = 1 /* nested /* comment */ */)",
		"SELECT * FROM t FOR UPDATE",
		"VALUES (1, 'a')",
		"TABLE t",
		"  SELECT 1 ;  \n",
	};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (!quiet(yes[i])) {
			CHECK(false);
			fprintf(stderr, "not quiet: %s\n", yes[i]);
		}
	static const char *const no[] = {
		"BEGIN;",
		"END;",
		"COMMIT",
		"ROLLBACK",
		"START TRANSACTION",
		"SAVEPOINT a",
		"RELEASE a",
		"PREPARE TRANSACTION 'x'",
		"SET x = 1",
		"RESET ALL",
		"DISCARD ALL",
		"DEALLOCATE ALL",
		"PREPARE p AS SELECT 1",
		"EXECUTE p",
		"LISTEN c",
		"UNLISTEN *",
		"NOTIFY c",
		"LOAD 'x'",
		"DO $$ BEGIN END $$",
		"CALL p()",
		"COPY t TO STDOUT",
		"DECLARE c CURSOR FOR SELECT 1",
		"FETCH c",
		"MOVE c",
		"CLOSE c",
		"LOCK t",
		"SELECT 1 INTO TEMP t",
		"SELECT * INTO t FROM u",
		"CREATE TEMP TABLE t (a int)",
		"SHOW x",
		"SELECT set_config('a', 'b', false)",
		"SELECT pg_advisory_lock(1)",
		"SELECT nextval('s')",
		"SELECT my_fn()",
		"SELECT count(*) FROM t",
		"SELECT s.select(1)",
		"SELECT x FROM t WHERE s.in (1)",
		"INSERT INTO t VALUES (f(1))",
		"INSERT INTO t AS a (x) VALUES (1)",
		"/* pgrouter: replica */ SELECT 1",
		"SELECT 1 -- route: reports",
		"-- PgRouter: primary\nSELECT 1",
		"SELECT 1; SELECT 2",
		"SELECT 1;;",
		"SELECT * FROM pg_settings",
		"UPDATE pg_settings SET setting = '1' WHERE name = 'x'",
		"UPDATE \"PG_SETTINGS\" SET setting = 'x'",
		"SELECT $$x$$",
		"SELECT $a$x$a$",
		"SELECT a$b FROM t",
		"SELECT E'\\x'",
		"SELECT '\\'",
		"SELECT 'x' '\\'",
		"SELECT 1 /* open",
		"SELECT 'open",
		"SELECT \"open",
		"(SELECT 1)",
		"SELECT SET",
		"DELETE FROM t SET",
		"SELECT 1\v",
		"SELECT x::numeric(10, 2) FROM t",
		"SELECT ARRAY(SELECT 1)",
		"WITH w AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM w",
		"SELECT 1 FROM t TEMPORARY",
		"",
		"   ",
		";",
		"/* c */",
		"MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE",
		"TRUNCATE t",
		"EXPLAIN SELECT 1",
		"SELECT $1a",
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (quiet(no[i])) {
			CHECK(false);
			fprintf(stderr, "quiet: %s\n", no[i]);
		}
	CHECK(!cls_quiet_query("SELECT 1\0x", 10));
	CHECK(cls_quiet_query("SELECT 1;x", 8));
}

/* Every corpus statement: whatever the pre-scan lets through, libpg_query finds plain and without effects. */
static void test_quiet_corpus(void)
{
	struct quiet_stats st = { 0 };
	CHECK(load_corpus());
	for (int i = 0; i < n_corpus; i++)
		quiet_check(corpus[i].sql, corpus[i].len, env, &st);
	printf("quiet pre-scan: %ld of %ld corpus statements quiet (%ld unparseable), %ld wrongly\n", st.quiet, st.seen,
	       st.unparseable, st.bad);
	CHECK(st.quiet >= 50);
	CHECK_EQ_INT(st.bad, 0);
}

int main(void)
{
	CHECK(cls_quiet_table_ok());
	test_quiet();
	test_quiet_corpus();
	for (int i = 0; i < n_corpus; i++) {
		free(corpus[i].header);
		free(corpus[i].sql);
	}
	return unit_done("test_classify_quiet");
}
