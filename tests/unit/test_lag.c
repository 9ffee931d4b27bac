/* Unit tests for lag arithmetic: LSN history, lag in seconds, rotation hysteresis. */
#include "policy/lag.h"
#include "unit.h"

#include <stdlib.h>

#define MS 1000

/* An idle primary: one LSN seen many times; a replica at that LSN has no lag at any time. */
static void test_idle(struct lsn_hist *h)
{
	lag_hist_reset(h);
	for (int i = 0; i < 100; i++)
		lag_hist_add(h, (int64_t)i * 250 * MS, 0x4A96350);
	CHECK_EQ_INT(h->n, 1);
	CHECK_EQ_INT(lag_behind_since(h, 0x4A96350, 30000 * MS), 0);
	CHECK_EQ_INT(lag_hist_lsn_at(h, 30000 * MS), 0x4A96350);
	CHECK(lag_seconds(0, 99 * MS) == 0.0);
}

/* Steady writes: 1000 bytes per 100 ms. A replica stuck at an LSN is behind from when the primary passed it. */
static void test_steady(struct lsn_hist *h)
{
	lag_hist_reset(h);
	for (int i = 1; i <= 50; i++)
		lag_hist_add(h, (int64_t)i * 100 * MS, (uint64_t)i * 1000);
	/* replay 2500: the primary was at 2000 at 200 ms and 3000 at 300 ms: passed 2500 at about 250 ms */
	int64_t since = lag_behind_since(h, 2500, 5000 * MS);
	CHECK(since >= 249 * MS && since <= 251 * MS);
	CHECK(lag_seconds(since, 1250 * MS) > 0.999 && lag_seconds(since, 1250 * MS) < 1.001);
	/* exactly at a sample's LSN: behind from the next sample's span */
	since = lag_behind_since(h, 2000, 5000 * MS);
	CHECK(since >= 200 * MS && since <= 300 * MS);
	/* caught up with everything known at its sample time: no lag, even if the primary moved later */
	CHECK_EQ_INT(lag_behind_since(h, 3000, 300 * MS), 0);
	CHECK_EQ_INT(lag_behind_since(h, 3000, 350 * MS), 0);
	CHECK(lag_behind_since(h, 3000, 400 * MS) > 0);
	/* older than the whole history: at least as old as its oldest sample */
	CHECK_EQ_INT(lag_behind_since(h, 10, 5000 * MS), 100 * MS);
	/* nothing known before the replica's sample */
	CHECK_EQ_INT(lag_behind_since(h, 10, 50 * MS), 0);
}

/* A smaller LSN than the last (another primary, another history) starts over; a full ring drops the oldest. */
static void test_reset_and_wrap(struct lsn_hist *h)
{
	lag_hist_reset(h);
	lag_hist_add(h, 100 * MS, 5000);
	lag_hist_add(h, 200 * MS, 4000);
	CHECK_EQ_INT(h->n, 1);
	CHECK_EQ_INT(lag_hist_lsn_at(h, 300 * MS), 4000);
	lag_hist_reset(h);
	for (int i = 1; i <= LSN_HIST + 10; i++)
		lag_hist_add(h, (int64_t)i * MS, (uint64_t)i * 10);
	CHECK_EQ_INT(h->n, LSN_HIST);
	CHECK_EQ_INT(lag_hist_lsn_at(h, 10 * MS), 0);   /* dropped */
	CHECK_EQ_INT(lag_hist_lsn_at(h, 11 * MS), 110);
	int64_t since = lag_behind_since(h, 20005, 100000 * MS);
	CHECK(since >= 2000 * MS && since <= 2001 * MS);
}

/* Out above the limit at once; back only after `checks` samples under half of it, and a relapse restarts the count. */
static void test_rotation(void)
{
	struct rotation r = { 0 };
	CHECK(!lag_rotation_update(&r, 400 * MS, 0, 500 * MS, 0, 3));
	CHECK(lag_rotation_update(&r, 600 * MS, 0, 500 * MS, 0, 3));
	CHECK(r.out);
	CHECK(!lag_rotation_update(&r, 300 * MS, 0, 500 * MS, 0, 3));   /* under the limit, not under half */
	CHECK(!lag_rotation_update(&r, 100 * MS, 0, 500 * MS, 0, 3));
	CHECK(!lag_rotation_update(&r, 100 * MS, 0, 500 * MS, 0, 3));
	CHECK(!lag_rotation_update(&r, 300 * MS, 0, 500 * MS, 0, 3));   /* relapse: count restarts */
	CHECK(!lag_rotation_update(&r, 0, 0, 500 * MS, 0, 3));
	CHECK(!lag_rotation_update(&r, 0, 0, 500 * MS, 0, 3));
	CHECK(lag_rotation_update(&r, 0, 0, 500 * MS, 0, 3));
	CHECK(!r.out);
	/* byte limits work the same way; a zero limit is not checked */
	CHECK(lag_rotation_update(&r, 0, 2000, 0, 1000, 1));
	CHECK(lag_rotation_update(&r, 0, 100, 0, 1000, 1));
	CHECK(!lag_rotation_update(&r, 999999 * MS, 999999, 0, 0, 1));
}

int main(void)
{
	struct lsn_hist *h = calloc(1, sizeof *h);
	if (!h)
		return 1;
	test_idle(h);
	test_steady(h);
	test_reset_and_wrap(h);
	test_rotation();
	free(h);
	return unit_done("test_lag");
}
