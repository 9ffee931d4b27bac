/* Microbenchmark: classifier cost per statement — fast path, libpg_query, cache hit. Not a test. */
#include "sql/classify.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const struct {
	const char *label, *sql;
} queries[] = {
	{"pgbench select-only", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"},
	{"ORM read (joins, functions)",
	 "SELECT u.id, u.email, lower(u.name) AS name, count(o.id) AS orders, coalesce(sum(o.total), 0) AS spent "
	 "FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.created_at > now() - interval '30 days' "
	 "WHERE u.org_id = $1 AND u.deleted_at IS NULL GROUP BY u.id, u.email, u.name "
	 "ORDER BY spent DESC LIMIT 50 /* controller='users',action='index' */"},
	{"INSERT ... RETURNING", "INSERT INTO events (user_id, kind, payload) VALUES ($1, $2, $3) RETURNING id"},
	{"BEGIN READ ONLY", "BEGIN READ ONLY"},
	{"SET search_path", "SET search_path = app, public"},
	{"SELECT nextval (full only)", "SELECT nextval('orders_id_seq')"},
	{"SELECT ... FOR UPDATE (full only)", "SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"},
};

/* Monotonic time in nanoseconds. */
static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

enum mode { FAST, FULL, CLASSIFY, HIT };

/* Average ns per call of one mode on one statement. */
static double measure(enum mode m, const char *sql, struct cls_cache *cache)
{
	struct cls_result r;
	size_t len = strlen(sql);
	int iters = m == FULL || m == CLASSIFY ? 20000 : 1000000;
	volatile unsigned sink = 0;
	if (m == HIT)
		classify_cached(cache, sql, len, NULL, &r);
	double t0 = now_ns();
	for (int i = 0; i < iters; i++) {
		switch (m) {
		case FAST:
			sink += classify_fast(sql, len, NULL, &r);
			break;
		case FULL:
			classify_full(sql, len, NULL, &r);
			break;
		case CLASSIFY:
			classify(sql, len, NULL, &r);
			break;
		case HIT:
			classify_cached(cache, sql, len, NULL, &r);
			break;
		}
		sink += r.target;
	}
	(void)sink;
	return (now_ns() - t0) / iters;
}

int main(void)
{
	struct cls_cache *cache = cls_cache_new(1024, 16384);
	if (cache == NULL)
		return 1;
	printf("%-36s %12s %12s %14s %12s\n", "statement", "fast path", "libpg_query", "miss (total)", "cache hit");
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct cls_result r;
		const char *sql = queries[i].sql;
		bool decided = classify_fast(sql, strlen(sql), NULL, &r);
		char fast[32];
		if (decided)
			snprintf(fast, sizeof(fast), "%.0f ns", measure(FAST, sql, cache));
		else
			snprintf(fast, sizeof(fast), "declines");
		printf("%-36s %12s %9.0f ns %11.0f ns %9.0f ns\n", queries[i].label, fast, measure(FULL, sql, cache),
		       measure(CLASSIFY, sql, cache), measure(HIT, sql, cache));
	}
	cls_cache_free(cache);
	return 0;
}
