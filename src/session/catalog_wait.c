/* Reads held until the catalog thread knows the volatility of the functions they call.

   A read that calls a function pgrouter has not looked up in pg_proc yet would go to the primary; once the
   answer is in, the same read goes to a replica. The first calls of a STABLE function after a start or a
   CREATE FUNCTION would then run on the primary while later ones do not. Instead the read is parked like a
   read-your-writes read (ryw_park, CL_RYW_WAIT, message kept) until the lookup ends — a few milliseconds —
   and is then routed again with the answer; after CAT_WAIT_USEC it goes to the primary as before. */
#include "session/catalog_wait.h"
#include "cluster/catalog.h"
#include "io/conn.h"
#include "frontend/client.h"
#include "session/ryw_wait.h"
#include "io/loop.h"
#include "pool/pool.h"

#define CAT_WAIT_USEC 1000000 /* the longest a read waits for a lookup (µs) */

/* The catalog (cluster/) knows databases by key and login, not pools: these three translate. */
void catalog_env(struct pool *p, struct cls_env *env)
{
	catalog_db_env(p->shared, env);
}

void catalog_request(struct pool *p, const struct cls_result *r)
{
	const struct catalog_db db = { .key = p->shared,
		                       .host = p->host[0],
		                       .port = p->port[0],
		                       .dbname = p->server_db,
		                       .user = p->server_user,
		                       .password = p->password,
		                       .authfile = p->w->cfg->authfile,
		                       .key_lock = &p->shared->lock,
		                       .client_key = p->shared->client_key,
		                       .has_client_key = &p->shared->has_client_key };
	catalog_db_request(&db, r);
}

bool catalog_pending(struct pool *p, const struct cls_result *r)
{
	return catalog_db_pending(p->shared, r);
}

bool catalog_wait_park(struct client *cl, const struct cls_result *r)
{
	struct worker *w = cl->c.w;
	if (atomic_load(&g_shared.shutdown) || !catalog_pending(cl->pool, r))
		return false; /* nothing under way to wait for (answered, failed a moment ago, or no room) */
	if (!cl->cat_wait_until)
		cl->cat_wait_until = w->now + CAT_WAIT_USEC;
	if (w->now >= cl->cat_wait_until)
		return false;
	ryw_park(cl, RYW_PARK_CATALOG);
	return true;
}

void catalog_wait_routed(struct client *cl)
{
	cl->cat_wait_until = 0;
}

/* Worker side of catalog_wait_answered. */
static void answered_in(struct worker *w, void *arg)
{
	(void)arg;
	w->now = now_usec();
	catalog_wait_tick(w, true);
}

void catalog_wait_answered(void)
{
	for (int i = 0; i < g_shared.nworkers; i++)
		worker_run(i, answered_in, NULL); /* lookups are rare: no need to know who waits where */
}

void catalog_wait_tick(struct worker *w, bool all)
{
	if (list_empty(&w->ryw_parked))
		return;
	all = all || atomic_load(&g_shared.shutdown);
	/* Take the catalog waiters aside first: a dispatch may park its client again (another lookup of the
	   same statement still under way) or close other clients. */
	struct list mine, *it, *tmp;
	list_init(&mine);
	list_for_each_safe(it, tmp, &w->ryw_parked)
	{
		struct client *cl = list_entry(it, struct client, wait_node);
		if (cl->ryw.parked == RYW_PARK_CATALOG && (all || w->now >= cl->cat_wait_until)) {
			list_del(it);
			list_append(&mine, it);
		}
	}
	while ((it = list_pop(&mine)) != NULL) {
		struct client *cl = list_entry(it, struct client, wait_node);
		if (cl->c.closing)
			continue;
		if (w->now >= cl->cat_wait_until)
			cl->cat_wait_until = w->now; /* time is up: routed without parking again */
		ryw_unpark(cl);
	}
}
