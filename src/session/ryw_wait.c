/* Reads parked by read-your-writes (CL_RYW_WAIT), and ryw_wait: a read may wait for a replica to replay what
   it must see rather than go to the primary at once.

   Both kinds of parked client keep their message buffered (ACT_PAUSE), sit on the worker's ryw_parked list
   (closing unlinks them like any waiting client) and come back through ryw_unpark(), which dispatches the
   message through the normal routing path: one for a consistency_store GET (ryw_store.c calls back), one for
   ryw_wait (ryw_wait_tick, on every new monitor snapshot and at the end of its wait). While a read waits for
   a replica the monitor is poked (at most every POKE_GAP, process-wide) so that the replicas' replay LSNs
   are polled now rather than at the next monitor_interval; one poll answers every waiting client. */
#include "session/ryw_wait.h"
#include "config/config.h"
#include "io/conn.h"
#include "cluster/monitor.h"
#include "pool/pool.h"
#include "frontend/client.h"
#include "cluster/ryw_store.h"

#include <event2/event.h>
#include <stdlib.h>

#define POKE_GAP 5000 /* µs between monitor pokes while reads wait: bounds the extra polling load */

/* The store's answer for parked client owner (lsn 0: nothing known, or the store failed): route the parked
   message now. Only the dispatch made right now skips asking again (ryw_resuming): a message held once more
   (PAUSE) asks afresh later, since the key may have moved meanwhile. */
static void store_answered(void *owner, uint64_t lsn)
{
	struct client *cl = owner;
	cl->ryw.store_req = NULL;
	if (cl->c.closing)
		return;
	if (lsn > cl->ryw.store_lsn)
		cl->ryw.store_lsn = lsn;
	ryw_unpark(cl);
}

bool ryw_store_fetch(struct client *cl)
{
	/* A parked message dispatched again (store_answered, or ryw_wait after the store answered): it routes
	   with what the store said. One that waited for a pg_proc lookup has not asked the store yet. */
	if (!cl->ryw.key || (ryw_resuming(cl) && cl->ryw.resumed_from != RYW_PARK_CATALOG))
		return false;
	struct store_req *r = ryw_store_get(cl->c.w, cl->ryw.key, store_answered, cl);
	if (!r)
		return false;
	cl->ryw.store_req = r;
	ryw_park(cl, RYW_PARK_STORE);
	return true;
}

/* The timer that ends one worker's waits. */
struct ryw_waitq {
	struct event *timer;
	int64_t due; /* when the timer fires (0: not armed) */
};

static _Atomic uint64_t n_end[RYW_WAIT_NENDS], n_wait_us;
static _Atomic int64_t last_poke;

uint64_t ryw_wait_stat(enum ryw_wait_end e)
{
	return atomic_load_explicit(&n_end[e], memory_order_relaxed);
}

uint64_t ryw_wait_stat_us(void)
{
	return atomic_load_explicit(&n_wait_us, memory_order_relaxed);
}

void ryw_park(struct client *cl, enum ryw_park why)
{
	struct worker *w = cl->c.w;
	cl->ryw.parked = (uint8_t)why;
	/* SHOW CLIENTS shows the wait of the read, not of its latest look at a snapshot */
	client_move(cl, CL_RYW_WAIT, &w->ryw_parked,
	            why == RYW_PARK_REPLAY && cl->ryw.wait_start ? cl->ryw.wait_start : w->now);
}

void ryw_unpark(struct client *cl)
{
	list_del(&cl->wait_node);
	if (cl->c.closing)
		return;
	cl->ryw.resumed_from = cl->ryw.parked;
	cl->ryw.parked = RYW_PARK_NONE;
	client_set_state(cl, CL_IDLE);
	cl->ryw.resumed = cl->c.nmsg + 1;
	conn_resume(&cl->c);
	cl->ryw.resumed = 0; /* cl is freed only after this callback, even if it closed */
}

bool ryw_resuming(const struct client *cl)
{
	return cl->ryw.resumed == cl->c.nmsg + 1;
}

/* Poke the monitor unless some worker did within POKE_GAP. */
static void poke(int64_t now)
{
	int64_t last = atomic_load_explicit(&last_poke, memory_order_relaxed);
	if (now - last >= POKE_GAP && atomic_compare_exchange_strong(&last_poke, &last, now))
		monitor_poke();
}

/* A deadline, or the next look at the snapshot while reads wait, is due. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	w->now = now_usec();
	w->ryw_wait->due = 0;
	ryw_wait_tick(w);
}

/* Make sure w's timer fires by at (µs). */
static void arm(struct worker *w, int64_t at)
{
	struct ryw_waitq *q = w->ryw_wait;
	if (q->due && q->due <= at)
		return;
	int64_t d = at > w->now ? at - w->now : 0;
	struct timeval tv = { (time_t)(d / 1000000), (suseconds_t)(d % 1000000) };
	q->due = at;
	evtimer_add(q->timer, &tv);
}

/* w's timer, created on first use; NULL when out of memory. */
static struct ryw_waitq *queue(struct worker *w)
{
	if (w->ryw_wait)
		return w->ryw_wait;
	struct ryw_waitq *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->timer = evtimer_new(w->base, timer_cb, w);
	if (!q->timer) {
		free(q);
		return NULL;
	}
	return w->ryw_wait = q;
}

/* Until when cl may still wait: its deadline, shortened by a reload that lowered ryw_wait. */
static int64_t deadline(const struct client *cl)
{
	int64_t cut = cl->ryw.wait_start + cl->c.w->cfg->ryw_wait;
	return cut < cl->ryw.wait_until ? cut : cl->ryw.wait_until;
}

bool ryw_wait_park(struct client *cl, uint64_t need)
{
	struct worker *w = cl->c.w;
	int64_t wait = w->cfg->ryw_wait;
	const struct mon_snapshot *s = monitor_snapshot();
	if (wait <= 0 || !s || atomic_load(&g_shared.shutdown))
		return false; /* nothing would tell us that a replica caught up, or nobody should wait */
	if (!cl->ryw.wait_start) {
		cl->ryw.wait_start = w->now;
		cl->ryw.wait_until = w->now + wait;
	}
	if (w->now >= deadline(cl) || !queue(w))
		return false;
	cl->ryw.wait_gen = s->gen;
	cl->ryw.wait_lsn = need;
	ryw_park(cl, RYW_PARK_REPLAY);
	poke(w->now);
	int64_t end = deadline(cl);
	arm(w, end < w->now + POKE_GAP ? end : w->now + POKE_GAP);
	return true;
}

void ryw_wait_routed(struct client *cl, bool replica)
{
	if (!cl->ryw.wait_start)
		return;
	int64_t waited = cl->c.w->now - cl->ryw.wait_start;
	atomic_fetch_add_explicit(&n_end[replica ? RYW_WAIT_REPLICA : RYW_WAIT_PRIMARY], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n_wait_us, (uint64_t)(waited > 0 ? waited : 0), memory_order_relaxed);
	cl->ryw.wait_start = cl->ryw.wait_until = 0;
}

/* Should parked cl be dispatched again now (gen: the current snapshot's)? */
static bool may_go(struct client *cl, uint64_t gen, bool end_all)
{
	if (end_all || cl->c.w->now >= deadline(cl)) {
		cl->ryw.wait_until = cl->c.w->now; /* over: it is routed without parking again */
		return true;
	}
	return gen != cl->ryw.wait_gen && cl->pool &&
	        pool_pick_replica(cl->pool, 0, 0, cl->retry_exclude, cl->ryw.wait_lsn) >= 0;
}

void ryw_wait_tick(struct worker *w)
{
	if (list_empty(&w->ryw_parked) || !w->ryw_wait)
		return; /* nobody ever waited for a replica here: store reads come back through ryw_store.c */
	const struct mon_snapshot *s = monitor_snapshot();
	uint64_t gen = s ? s->gen : 0;
	const struct config *cfg = w->cfg;
	bool end_all = !s || cfg->ryw_wait <= 0 || cfg->read_your_writes != RYW_LSN || atomic_load(&g_shared.shutdown);
	/* Take the replica waiters aside, then look at one at a time: a look (pool_pick_replica may follow a
	   failover) or a dispatch can close other clients, and a dispatch can park its client again. */
	struct list mine, *it, *tmp;
	list_init(&mine);
	list_for_each_safe(it, tmp, &w->ryw_parked)
	{
		if (list_entry(it, struct client, wait_node)->ryw.parked == RYW_PARK_REPLAY) {
			list_del(it);
			list_append(&mine, it);
		}
	}
	int64_t next = 0;
	while ((it = list_pop(&mine)) != NULL) {
		struct client *cl = list_entry(it, struct client, wait_node);
		if (cl->c.closing)
			continue;
		if (may_go(cl, gen, end_all)) {
			ryw_unpark(cl);
			continue;
		}
		list_append(&w->ryw_parked, it);
		if (!next || deadline(cl) < next)
			next = deadline(cl);
	}
	if (!next)
		return;
	/* Still waiting: keep the replicas' replay LSNs coming, and wake up for the earliest deadline. */
	poke(w->now);
	arm(w, next < w->now + POKE_GAP ? next : w->now + POKE_GAP);
}

void ryw_wait_free(struct worker *w)
{
	struct ryw_waitq *q = w->ryw_wait;
	if (!q)
		return;
	event_free(q->timer);
	free(q);
	w->ryw_wait = NULL;
}
