/* The hot-path counters of a pool's work: units routed to its nodes, and its nodes' connection failures. */
#include "pool/pool_metrics.h"
#include "pool/pool.h"

void metrics_routed(struct worker *w, struct pool *p, int node, bool read, const char *reason, const char *rule)
{
	struct wmetrics *m = w->metrics;
	int where = node != 0;
	p->n_routed[where]++;
	struct met_reason *r = reason ? met_reason_slot(m, reason) : NULL;
	if (r)
		met_add(&r->n[where], 1);
	struct met_rule *ru = rule ? met_rule_slot(m, rule) : NULL;
	if (ru)
		met_add(&ru->hits, 1);
	struct met_node *n = NULL;
	if (node < p->nnodes && !(n = p->met[node]))
		n = p->met[node] = met_node_slot(m, p->host[node], p->port[node]);
	if (n)
		met_add(read ? &n->reads : &n->writes, 1);
}

void metrics_node_error(struct worker *w, struct pool *p, int node)
{
	struct met_node *n = node < p->nnodes ? met_node_slot(w->metrics, p->host[node], p->port[node]) : NULL;
	if (n)
		met_add(&n->errors, 1);
}
