/* The pre-scan's contract, judged by libpg_query: what cls_quiet_query lets through is plain and leaves the session alone. */
#ifndef PGR_TEST_QUIET_CHECK_H
#define PGR_TEST_QUIET_CHECK_H

#include "sql/classify.h"
#include "sql/classify_int.h"

#include <stdio.h>

struct quiet_stats {
	long seen, quiet, unparseable, bad;
};

/* Why r is no single plain SELECT/INSERT/UPDATE/DELETE/VALUES/TABLE/WITH statement without session effects,
   or NULL when it is one. */
static const char *quiet_violation(const struct cls_result *r)
{
	if (r->pins)
		return "pins";
	if (r->n_events || r->ev_kinds)
		return "events";
	if (r->flags & ~CLS_F_FAST)
		return "flags (opaque, overflow or invalid hint)";
	if (r->n_unknown)
		return "unknown functions";
	if (r->hint || r->route_tag.len || r->hint_max_lag_ms >= 0 || r->hint_max_lag_bytes >= 0)
		return "hint";
	if (r->n_stmts != 1)
		return "not one statement";
	if (r->reason != cls_r_read && r->reason != cls_r_dml && r->reason != cls_r_for_update &&
	    r->reason != cls_r_writable_cte && r->reason != cls_r_node_dep)
		return "not a plain read or write";
	return NULL;
}

/* Run the pre-scan on sql; when it says quiet, libpg_query must agree.  Text libpg_query cannot parse is
   counted apart: PostgreSQL parses a whole query string before running any of it, so it runs nowhere. */
static void quiet_check(const char *sql, size_t len, const struct cls_env *env, struct quiet_stats *st)
{
	st->seen++;
	if (!cls_quiet_query(sql, len))
		return;
	st->quiet++;
	struct cls_result full;
	classify_full(sql, len, env, &full);
	if (full.reason == cls_r_unparseable) {
		st->unparseable++;
		return;
	}
	const char *why = quiet_violation(&full);
	if (why && st->bad++ < 10) {
		char reason[128];
		fprintf(stderr, "quiet but %s (%s): %.*s\n", why, cls_reason_str(&full, reason, sizeof reason),
		        (int)len, sql);
	}
}

#endif
