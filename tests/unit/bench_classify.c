/* Microbenchmark: classifier cost per statement — pre-scan, fast path, libpg_query, cache hits. Not a test. */
#include "sql/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
	const char *label, *sql;
} queries[] = {
	{ "pgbench select-only", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;" },
	{ "pgbench select-only (simple)", "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;" },
	{ "pgbench update (simple)", "UPDATE pgbench_accounts SET abalance = abalance + -2911 WHERE aid = 48213;" },
	{ "ORM read (joins, functions)",
	  "SELECT u.id, u.email, lower(u.name) AS name, count(o.id) AS orders, coalesce(sum(o.total), 0) AS spent "
	  "FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.created_at > now() - interval '30 days' "
	  "WHERE u.org_id = $1 AND u.deleted_at IS NULL GROUP BY u.id, u.email, u.name "
	  "ORDER BY spent DESC LIMIT 50 /* controller='users',action='index' */" },
	{ "INSERT ... RETURNING", "INSERT INTO events (user_id, kind, payload) VALUES ($1, $2, $3) RETURNING id" },
	{ "BEGIN READ ONLY", "BEGIN READ ONLY" },
	{ "SET search_path", "SET search_path = app, public" },
	{ "SELECT nextval (full only)", "SELECT nextval('orders_id_seq')" },
	{ "SELECT ... FOR UPDATE (full only)",
	  "SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED" },
};

/* Monotonic time in nanoseconds. */
static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

enum mode { FAST, FULL, CLASSIFY, HIT, QUIET, SHAPED };

/* The routing path's lookup (session/clientroute.c): the literal-blind shape cache, else the text cache, else
   classify and remember.  true on a hit. */
static __attribute__((noinline)) bool shaped(struct cls_cache *shapes, struct cls_cache *texts, const char *sql,
                                             size_t len, struct cls_result *out)
{
	char shape[CLS_SHAPE_MAX];
	int sl = cls_shape_key(sql, len, shape, sizeof shape);
	if ((sl >= 0 && cls_cache_get(shapes, shape, (size_t)sl, 0, out)) || cls_cache_get(texts, sql, len, 0, out))
		return true;
	if (classify_fast(sql, len, NULL, out)) {
		if (sl >= 0 && cls_shape_cacheable(out))
			cls_cache_put(shapes, shape, (size_t)sl, 0, out);
	} else {
		classify_full(sql, len, NULL, out);
		cls_cache_put(texts, sql, len, 0, out);
	}
	return false;
}

static struct cls_cache *shape_cache;

/* Average ns per call of one mode on one statement. */
static double measure(enum mode m, const char *sql, struct cls_cache *cache)
{
	struct cls_result r;
	size_t len = strlen(sql);
	int iters = m == FULL || m == CLASSIFY ? 20000 : 1000000;
	if (getenv("BENCH_ITERS"))
		iters = atoi(getenv("BENCH_ITERS"));
	volatile unsigned sink = 0;
	if (m == HIT)
		classify_cached(cache, sql, len, NULL, &r);
	if (m == SHAPED)
		shaped(shape_cache, cache, sql, len, &r);
	double t0 = now_ns();
	for (int i = 0; i < iters; i++) {
		switch (m) {
		case FAST: sink += classify_fast(sql, len, NULL, &r); break;
		case FULL: classify_full(sql, len, NULL, &r); break;
		case CLASSIFY: classify(sql, len, NULL, &r); break;
		case HIT: classify_cached(cache, sql, len, NULL, &r); break;
		case QUIET: sink += cls_quiet_query(sql, len); break;
		case SHAPED: sink += shaped(shape_cache, cache, sql, len, &r); break;
		}
		sink += r.target;
	}
	(void)sink;
	return (now_ns() - t0) / iters;
}

/* Run the routing path's lookup and the pre-scan of one statement BENCH_ITERS times, nothing else: under
   callgrind (--callgrind), the inclusive cost of shaped() and cls_quiet_query over the count is the cost of one. */
static int callgrind_run(struct cls_cache *cache)
{
	const char *sql = queries[1].sql;
	measure(SHAPED, sql, cache);
	measure(QUIET, sql, cache);
	return 0;
}

int main(int argc, char **argv)
{
	struct cls_cache *cache = cls_cache_new(1024, 16384);
	shape_cache = cls_cache_new(1024, CLS_SHAPE_MAX);
	if (cache == NULL || shape_cache == NULL)
		return 1;
	if (argc > 1 && strcmp(argv[1], "--callgrind") == 0)
		return callgrind_run(cache);
	printf("%-30s %9s %9s %11s %12s %9s %11s %9s\n", "statement", "pre-scan", "fast path", "libpg_query",
	       "miss (total)", "cache hit", "shaped hit", "quiet");
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct cls_result r;
		const char *sql = queries[i].sql;
		bool decided = classify_fast(sql, strlen(sql), NULL, &r);
		char fast[32];
		if (decided)
			snprintf(fast, sizeof(fast), "%.0f ns", measure(FAST, sql, cache));
		else
			snprintf(fast, sizeof(fast), "declines");
		printf("%-30s %6.1f ns %9s %8.0f ns %9.0f ns %6.0f ns %8.0f ns %9s\n", queries[i].label,
		       measure(QUIET, sql, cache), fast, measure(FULL, sql, cache), measure(CLASSIFY, sql, cache),
		       measure(HIT, sql, cache), measure(SHAPED, sql, cache),
		       cls_quiet_query(sql, strlen(sql)) ? "yes" : "no");
	}
	cls_cache_free(cache);
	cls_cache_free(shape_cache);
	return 0;
}
