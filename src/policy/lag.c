/* Replica lag arithmetic: the primary's LSN history, lag in seconds and bytes, rotation hysteresis. */
#include "policy/lag.h"

#include <string.h>

void lag_hist_reset(struct lsn_hist *h)
{
	h->head = 0;
	h->n = 0;
}

/* The i-th sample from the oldest. */
static const struct lsn_sample *at(const struct lsn_hist *h, int i)
{
	return &h->s[(h->head + i) % LSN_HIST];
}

void lag_hist_add(struct lsn_hist *h, int64_t t, uint64_t lsn)
{
	if (h->n) {
		struct lsn_sample *last = &h->s[(h->head + h->n - 1) % LSN_HIST];
		if (lsn == last->lsn) {
			last->last_seen = t;
			return;
		}
		if (lsn < last->lsn || t < last->last_seen)
			lag_hist_reset(h); /* another WAL history (or a clock we cannot order): start over */
	}
	if (h->n == LSN_HIST) {
		h->head = (h->head + 1) % LSN_HIST;
		h->n--;
	}
	struct lsn_sample *s = &h->s[(h->head + h->n) % LSN_HIST];
	s->lsn = lsn;
	s->first_seen = s->last_seen = t;
	h->n++;
}

/* Index of the newest sample first seen at or before t, or -1. */
static int newest_before(const struct lsn_hist *h, int64_t t)
{
	int lo = 0, hi = h->n - 1, found = -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (at(h, mid)->first_seen <= t) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

uint64_t lag_hist_lsn_at(const struct lsn_hist *h, int64_t t)
{
	int i = newest_before(h, t);
	return i < 0 ? 0 : at(h, i)->lsn;
}

int64_t lag_behind_since(const struct lsn_hist *h, uint64_t replay, int64_t t)
{
	int last = newest_before(h, t);
	if (last < 0 || at(h, last)->lsn <= replay)
		return 0;
	/* The oldest sample beyond replay; LSNs increase, so a binary search finds it. */
	int lo = 0, hi = last, first = last;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (at(h, mid)->lsn > replay) {
			first = mid;
			hi = mid - 1;
		} else {
			lo = mid + 1;
		}
	}
	const struct lsn_sample *b = at(h, first);
	if (first == 0)
		return b->first_seen; /* older than the history: at least this old */
	/* Between the last poll that saw the primary at or before replay and the first that saw it beyond,
	   WAL grows roughly evenly: place the crossing proportionally. */
	const struct lsn_sample *a = at(h, first - 1);
	int64_t span = b->first_seen - a->last_seen;
	if (span <= 0)
		return b->first_seen;
	double frac = (double)(replay - a->lsn) / (double)(b->lsn - a->lsn);
	int64_t since = a->last_seen + (int64_t)(frac * (double)span);
	return since > 0 ? since : 1;
}

double lag_seconds(int64_t since, int64_t now)
{
	if (since == 0 || now <= since)
		return 0.0;
	return (double)(now - since) / 1e6;
}

bool lag_rotation_update(struct rotation *r, int64_t lag_us, int64_t lag_bytes, int64_t limit_us, int64_t limit_bytes,
                         int checks)
{
	bool over = (limit_us > 0 && lag_us > limit_us) || (limit_bytes > 0 && lag_bytes > limit_bytes);
	bool well_under = (limit_us <= 0 || lag_us < limit_us / 2) && (limit_bytes <= 0 || lag_bytes < limit_bytes / 2);
	if (!r->out) {
		if (!over)
			return false;
		r->out = true;
		r->good = 0;
		return true;
	}
	r->good = well_under ? r->good + 1 : 0;
	if (r->good < checks)
		return false;
	r->out = false;
	r->good = 0;
	return true;
}
