/* Replica lag arithmetic: the primary's LSN history, lag in seconds and bytes, rotation hysteresis. Pure: no I/O, no clock. */
#ifndef PGR_LAG_H
#define PGR_LAG_H

#include <stdbool.h>
#include <stdint.h>

#define LSN_HIST 4096 /* distinct primary LSNs remembered (at 250 ms polls with steady writes: 17 minutes) */

/* One primary LSN and the span of polls that saw it. */
struct lsn_sample {
	uint64_t lsn;
	int64_t first_seen, last_seen; /* monotonic µs */
};

/* Ring of the primary's LSNs in poll order; LSNs never decrease within one history. */
struct lsn_hist {
	struct lsn_sample s[LSN_HIST];
	int head; /* index of the oldest sample */
	int n;
};

/* Forget everything (a new primary starts a new history). */
void lag_hist_reset(struct lsn_hist *h);

/* Record that the primary was at lsn at time t; a smaller LSN than the last one resets the history. */
void lag_hist_add(struct lsn_hist *h, int64_t t, uint64_t lsn);

/* The primary's newest LSN seen at or before time t (0: none). */
uint64_t lag_hist_lsn_at(const struct lsn_hist *h, int64_t t);

/* When the primary moved past replay (interpolated between polls), judged with what was known at time t:
   0 when the replica had replayed everything the primary had at t (caught up). The replica misses data
   written after the returned moment, so its lag at any later time `now` is now - result. */
int64_t lag_behind_since(const struct lsn_hist *h, uint64_t replay, int64_t t);

/* Lag in seconds at time now of a replica whose lag_behind_since() is since (0: caught up). */
double lag_seconds(int64_t since, int64_t now);

/* Rotation state of one replica against one limit: out above the limit, back in only after `checks`
   consecutive samples under half of it. */
struct rotation {
	bool out;
	int good; /* consecutive samples under half the limit while out */
};

/* Feed one sample (lag in µs, bytes); limits ≤ 0 are not checked. Returns true when the state changed. */
bool lag_rotation_update(struct rotation *r, int64_t lag_us, int64_t lag_bytes, int64_t limit_us, int64_t limit_bytes,
                         int checks);

#endif
