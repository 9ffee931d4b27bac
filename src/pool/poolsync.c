/* Keeping a worker's pools in line with the monitor's snapshot: where writes go, and nodes that went down. */
#include "base/log.h"
#include "cluster/monitor.h"
#include "pool/pool.h"
#include "backend/server.h"

#include <string.h>

bool pool_failover_possible(const struct pool *p)
{
	return p->nnodes > 1 && p->w->cfg->role == ROLE_AUTO && monitor_snapshot() != NULL;
}

/* Writes move to node want: old servers close as they are released, queued clients follow. */
static void switch_primary(struct pool *p, int want)
{
	int old = p->primary;
	log_warn(NULL, "database %s: writes now go to %s:%d (was %s:%d)", p->dbname, p->host[want], p->port[want],
	         p->host[old], p->port[old]);
	p->primary = want;
	pool_mark_dirty(&p->nodes[old]);
	p->nodes[want].retry_after = 0;
	p->nodes[want].backoff = 0;
	if (!list_empty(&p->nodes[old].waiting))
		pool_reroute_waiting(p, old, want);
	pool_launch(p, want);
}

/* A node the monitor cannot reach: its connections go (reads in flight are re-run elsewhere), and so do its
   queued reads. A hung replica would otherwise hold its clients until TCP gives up. Work in flight on the
   primary is left alone: it has nowhere else to go, and a slow primary is better than a killed write. */
static void drop_node(struct pool *p, int node)
{
	struct node_pool *np = &p->nodes[node];
	struct list *lists[] = { &np->idle, &np->pending, &np->used };
	for (int i = 0; i < (node == p->primary ? 2 : 3); i++) {
		struct list *it, *tmp;
		list_for_each_safe(it, tmp, lists[i])
		{
			struct server *sv = list_entry(it, struct server, pool_node);
			if (sv->state != SV_CLOSING)
				server_lost(sv, "the node is down");
		}
	}
	if (node != p->primary && !list_empty(&np->waiting))
		pool_reroute_waiting(p, node, -1);
}

void pool_sync(struct pool *p)
{
	const struct mon_snapshot *s = monitor_snapshot();
	if (!s || s->gen == p->snap_gen)
		return;
	p->snap_gen = s->gen;
	for (int i = 0; i < p->nnodes; i++)
		p->mon[i] = monitor_find(s, p->host[i], p->port[i]);
	int want = p->primary;
	int cp = p->mon[0] >= 0 ? s->node[p->mon[0]].cluster_primary : -1;
	for (int i = 0; i < p->nnodes && cp >= 0; i++)
		if (p->mon[i] == cp)
			want = i;
	if (want != p->primary)
		switch_primary(p, want);
	for (int i = 0; i < p->nnodes; i++) {
		if (p->mon[i] < 0)
			continue;
		const struct mon_node *n = &s->node[p->mon[i]];
		struct node_pool *np = &p->nodes[i];
		if (n->state == MS_DOWN && np->n_idle + np->n_used + np->n_pending + np->n_waiting > 0)
			drop_node(p, i);
		else if (n->state != MS_DOWN && np->n_waiting > 0)
			pool_launch(p, i); /* back up: queued clients get their connections */
		/* A node out of recovery that lost the election must not keep a write session either. */
		if (n->role == MR_FENCED && np->n_idle + np->n_used > 0)
			pool_mark_dirty(np);
	}
}

void pool_sync_all(struct worker *w)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->pools)
	{
		struct pool *p = list_entry(it, struct pool, node);
		if (!p->gone)
			pool_sync(p);
	}
}
