/* Per-worker counters summed for /metrics, /status and the console, and the Prometheus exposition. */
#include "admin/metrics.h"
#include "session/ryw.h"
#include "cluster/ryw_store.h"
#include "session/ryw_wait.h"
#include "admin/status.h"
#include "base/textout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain counter another thread updates: a relaxed load shows a value at most slightly old. */
static uint64_t peek(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void metrics_totals(struct metrics_totals *t)
{
	memset(t, 0, sizeof *t);
	for (int i = 0; i < g_shared.nworkers; i++) {
		struct worker *w = &g_shared.workers[i];
		t->queries += peek(&w->n_queries);
		t->server_connects += peek(&w->n_server_connects);
		t->protocol_errors += peek(&w->n_bad_input);
		t->routed_primary += peek(&w->n_routed_primary);
		t->routed_replica += peek(&w->n_routed_replica);
		t->sessions_pinned += peek(&w->n_pinned);
		t->retries += peek(&w->n_retries);
		if (!w->metrics)
			continue;
		t->auth_failures += met_get(&w->metrics->auth_failures);
		t->waits += met_get(&w->metrics->waits);
		t->wait_us += met_get(&w->metrics->wait_us);
	}
}

uint64_t metrics_rule_hits(const char *name)
{
	uint64_t n = 0;
	for (int i = 0; i < g_shared.nworkers; i++) {
		struct wmetrics *m = g_shared.workers[i].metrics;
		for (int k = 0; m && k < MET_RULES && atomic_load_explicit(&m->rule[k].used, memory_order_acquire); k++)
			if (strncmp(m->rule[k].name, name, sizeof m->rule[k].name - 1) == 0)
				n += met_get(&m->rule[k].hits);
	}
	return n;
}

void metrics_node_counts(const char *name, uint64_t *reads, uint64_t *writes, uint64_t *errors)
{
	*reads = *writes = *errors = 0;
	for (int i = 0; i < g_shared.nworkers; i++) {
		struct wmetrics *m = g_shared.workers[i].metrics;
		for (int k = 0; m && k < MET_NODES && atomic_load_explicit(&m->node[k].used, memory_order_acquire);
		     k++) {
			struct met_node *n = &m->node[k];
			if (strcmp(n->name, name) != 0)
				continue;
			*reads += met_get(&n->reads);
			*writes += met_get(&n->writes);
			*errors += met_get(&n->errors);
		}
	}
}

void metrics_each_reason(void (*fn)(void *ctx, const char *reason, int replica, uint64_t n), void *ctx)
{
	/* Merge by text: the same reason may be a different literal in two files. */
	struct {
		const char *key;
		uint64_t n[2];
	} acc[MET_REASONS * 2];
	int nacc = 0;
	for (int i = 0; i < g_shared.nworkers; i++) {
		struct wmetrics *m = g_shared.workers[i].metrics;
		for (int k = 0; m && k < MET_REASONS; k++) {
			struct met_reason *r = &m->reason[k];
			if (!atomic_load_explicit(&r->used, memory_order_acquire))
				continue;
			int j = 0;
			while (j < nacc && strcmp(acc[j].key, r->key) != 0)
				j++;
			if (j == nacc) {
				if (nacc == MET_REASONS * 2)
					continue;
				acc[nacc].key = r->key;
				acc[nacc].n[0] = acc[nacc].n[1] = 0;
				nacc++;
			}
			acc[j].n[0] += met_get(&r->n[0]);
			acc[j].n[1] += met_get(&r->n[1]);
		}
	}
	for (int j = 0; j < nacc; j++)
		for (int where = 0; where < 2; where++)
			if (acc[j].n[where])
				fn(ctx, acc[j].key, where, acc[j].n[where]);
}

/* --- Prometheus text exposition --- */

/* "# HELP" and "# TYPE" lines of one metric family. */
static int family(struct iobuf **out, const char *name, const char *type, const char *help)
{
	return tx_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name{k1="v1",...} value (labels given as alternating key, value; NULL-terminated). */
static int sample(struct iobuf **out, const char *name, double v, const char *const *labels)
{
	int err = tx_printf(out, "%s", name);
	for (int i = 0; labels && labels[i]; i += 2) {
		err |= tx_printf(out, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
		err |= tx_prom_label(out, labels[i + 1]);
		err |= tx_printf(out, "\"%s", labels[i + 2] ? "" : "}");
	}
	if (isnan(v))
		return err | tx_printf(out, " NaN\n");
	if (fabs(v) < 9e15 && v == (double)(int64_t)v)
		return err | tx_printf(out, " %lld\n", (long long)v);
	return err | tx_printf(out, " %.9g\n", v);
}

static int counter1(struct iobuf **out, const char *name, const char *help, uint64_t v)
{
	return family(out, name, "counter", help) | sample(out, name, (double)v, NULL);
}

/* Read-your-writes decisions: reads sent to the primary by scope, commit LSNs learned, keys held. */
static int ryw_metrics(struct iobuf **out)
{
	static const char *const scopes[RYW_NSCOPES] = { "session", "token", "key", "window" };
	int err = family(out, "pgrouter_ryw_primary_reads_total", "counter",
	                 "Reads sent to the primary because no replica had replayed what the client must see.");
	for (int i = 0; i < RYW_NSCOPES; i++) {
		const char *l[] = { "scope", scopes[i], NULL };
		err |= sample(out, "pgrouter_ryw_primary_reads_total", (double)ryw_stat_primary((enum ryw_scope)i), l);
	}
	err |= family(out, "pgrouter_ryw_lsn_learned_total", "counter",
	              "Commit LSNs learned after write transactions, by how: in the same round trip as the "
	              "client's last statement, or with one more.");
	for (int rode = 1; rode >= 0; rode--) {
		const char *l[] = { "how", rode ? "with_statement" : "extra_round_trip", NULL };
		err |= sample(out, "pgrouter_ryw_lsn_learned_total", (double)ryw_stat_learned(rode), l);
	}
	err |= family(out, "pgrouter_ryw_keys", "gauge", "Consistency keys in the table.");
	err |= sample(out, "pgrouter_ryw_keys", (double)ryw_key_count(), NULL);
	struct ryw_store_stats st;
	ryw_store_stats(&st);
	err |= family(out, "pgrouter_ryw_store_requests_total", "counter", "Requests sent to the consistency_store.");
	const char *get[] = { "op", "get", NULL }, *set[] = { "op", "set", NULL };
	err |= sample(out, "pgrouter_ryw_store_requests_total", (double)st.gets, get);
	err |= sample(out, "pgrouter_ryw_store_requests_total", (double)st.sets, set);
	err |= counter1(out, "pgrouter_ryw_store_errors_total",
	                "consistency_store requests (and connection checks) that failed or timed out.", st.errors);
	err |= counter1(
	        out, "pgrouter_ryw_store_skipped_total",
	        "Keyed reads and commits that used local keys only because the consistency_store was unreachable.",
	        st.skipped);
	err |= family(out, "pgrouter_ryw_store_connections", "gauge",
	              "Worker connections to the consistency_store up.");
	err |= sample(out, "pgrouter_ryw_store_connections", (double)st.connected, NULL);
	err |= family(out, "pgrouter_ryw_waited_reads_total", "counter",
	              "Reads parked by ryw_wait, by where they ran: a replica that caught up, or the primary when time "
	              "was up.");
	const char *lr[] = { "result", "replica", NULL }, *lp[] = { "result", "primary", NULL };
	err |= sample(out, "pgrouter_ryw_waited_reads_total", (double)ryw_wait_stat(RYW_WAIT_REPLICA), lr);
	err |= sample(out, "pgrouter_ryw_waited_reads_total", (double)ryw_wait_stat(RYW_WAIT_PRIMARY), lp);
	err |= family(out, "pgrouter_ryw_wait_seconds_total", "counter", "Time reads spent parked by ryw_wait.");
	err |= sample(out, "pgrouter_ryw_wait_seconds_total", (double)ryw_wait_stat_us() / 1e6, NULL);
	return err;
}

struct reason_ctx {
	struct iobuf **out;
	int err;
};

static void reason_sample(void *ctx, const char *reason, int replica, uint64_t n)
{
	struct reason_ctx *rc = ctx;
	const char *l[] = { "target", replica ? "replica" : "primary", "reason", reason, NULL };
	rc->err |= sample(rc->out, "pgrouter_queries_routed_total", (double)n, l);
}

/* One pool's numbers, summed over workers, with the node names of its database entry. */
struct pool_snap {
	char *dbname, *user;
	struct pool_stats sum;
	int nnodes;
	char node[MAX_NODES][MET_NODE_NAME];
};

/* Copy every pool's published numbers out, so that each metric family can be written in one piece. */
static struct pool_snap *pool_snapshot(const struct config *cfg, int *count)
{
	int cap = 16, n = 0;
	struct pool_snap *v = malloc(sizeof *v * (size_t)cap);
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools)
	{
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		if (v && n == cap) {
			struct pool_snap *nv = realloc(v, sizeof *v * (size_t)(cap *= 2));
			if (!nv)
				free(v);
			v = nv;
		}
		if (!v)
			break;
		struct pool_snap *s = &v[n++];
		memset(s, 0, sizeof *s);
		s->dbname = ps->dbname; /* pool_shared entries live until exit */
		s->user = ps->user;
		pthread_mutex_lock(&ps->lock);
		for (int w = 0; w < g_shared.nworkers; w++) {
			const struct pool_stats *st = &ps->stats[w];
			s->sum.cl_active += st->cl_active;
			s->sum.cl_waiting += st->cl_waiting;
			s->sum.queries += st->queries;
			if (st->maxwait_us > s->sum.maxwait_us)
				s->sum.maxwait_us = st->maxwait_us;
			for (int k = 0; k < MAX_NODES; k++) {
				s->sum.node_active[k] += st->node_active[k];
				s->sum.node_idle[k] += st->node_idle[k];
				s->sum.node_login[k] += st->node_login[k];
				s->sum.node_waiting[k] += st->node_waiting[k];
			}
		}
		pthread_mutex_unlock(&ps->lock);
		const struct dbconf *db = config_find_db(cfg, ps->dbname);
		s->nnodes = db ? db->nnodes : 0;
		for (int k = 0; k < s->nnodes; k++)
			snprintf(s->node[k], sizeof s->node[k], "%s:%d", db->nodes[k].host, db->nodes[k].port);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	*count = v ? n : 0;
	return v;
}

/* Pool gauges: clients and server connections per (database, user) and node, summed over workers. */
static int pool_metrics(struct iobuf **out, const struct config *cfg)
{
	int n = 0;
	struct pool_snap *v = pool_snapshot(cfg, &n);
	int err = family(out, "pgrouter_pool_clients", "gauge",
	                 "Clients of the pool: active (linked or idle) or waiting for a server.");
	for (int i = 0; i < n; i++) {
		const char *a[] = { "database", v[i].dbname, "user", v[i].user, "state", "active", NULL };
		const char *w[] = { "database", v[i].dbname, "user", v[i].user, "state", "waiting", NULL };
		err |= sample(out, "pgrouter_pool_clients", v[i].sum.cl_active, a);
		err |= sample(out, "pgrouter_pool_clients", v[i].sum.cl_waiting, w);
	}
	err |= family(out, "pgrouter_pool_maxwait_seconds", "gauge", "How long the oldest queued client has waited.");
	for (int i = 0; i < n; i++) {
		const char *l[] = { "database", v[i].dbname, "user", v[i].user, NULL };
		err |= sample(out, "pgrouter_pool_maxwait_seconds", (double)v[i].sum.maxwait_us / 1e6, l);
	}
	err |= family(out, "pgrouter_pool_queries_total", "counter",
	              "Queries forwarded for the pool (published every 100 ms).");
	for (int i = 0; i < n; i++) {
		const char *l[] = { "database", v[i].dbname, "user", v[i].user, NULL };
		err |= sample(out, "pgrouter_pool_queries_total", (double)v[i].sum.queries, l);
	}
	err |= family(out, "pgrouter_pool_server_connections", "gauge",
	              "Server connections of the pool per node: active (linked or resetting), idle, login.");
	static const char *const states[] = { "active", "idle", "login" };
	for (int i = 0; i < n; i++) {
		const int *vals[] = { v[i].sum.node_active, v[i].sum.node_idle, v[i].sum.node_login };
		for (int k = 0; k < v[i].nnodes; k++)
			for (int s = 0; s < 3; s++) {
				const char *l[] = { "database",   v[i].dbname, "user",    v[i].user, "node",
					            v[i].node[k], "state",     states[s], NULL };
				err |= sample(out, "pgrouter_pool_server_connections", vals[s][k], l);
			}
	}
	err |= family(out, "pgrouter_pool_queued_clients", "gauge", "Clients queued for a server of this node.");
	for (int i = 0; i < n; i++)
		for (int k = 0; k < v[i].nnodes; k++) {
			const char *l[] = { "database", v[i].dbname, "user", v[i].user, "node", v[i].node[k], NULL };
			err |= sample(out, "pgrouter_pool_queued_clients", v[i].sum.node_waiting[k], l);
		}
	free(v);
	return err;
}

/* Node gauges and counters from status_nodes(): role, state, lag (only when known), rotation, traffic. */
static int node_metrics(struct iobuf **out)
{
	struct node_status *nodes = calloc(MET_NODES, sizeof *nodes);
	if (!nodes)
		return -1;
	int nn = status_nodes(nodes, MET_NODES);
	int err = family(out, "pgrouter_node_info", "gauge", "Each configured node with its role and state (value 1).");
	for (int i = 0; i < nn; i++) {
		const char *l[] = { "node",  nodes[i].name,
			            "role",  status_role_name(nodes[i].role),
			            "state", status_state_name(nodes[i].state),
			            NULL };
		err |= sample(out, "pgrouter_node_info", 1, l);
	}
	err |= family(out, "pgrouter_node_up", "gauge",
	              "1 if the node answers, 0 if it is down (absent while unknown).");
	for (int i = 0; i < nn; i++) {
		const char *l[] = { "node", nodes[i].name, NULL };
		if (nodes[i].state != NODE_STATE_UNKNOWN)
			err |= sample(out, "pgrouter_node_up", nodes[i].state == NODE_STATE_UP, l);
	}
	err |= family(out, "pgrouter_node_is_primary", "gauge",
	              "1 for the primary, 0 for a replica (absent while unknown).");
	for (int i = 0; i < nn; i++) {
		const char *l[] = { "node", nodes[i].name, NULL };
		if (nodes[i].role != NODE_ROLE_UNKNOWN)
			err |= sample(out, "pgrouter_node_is_primary", nodes[i].role == NODE_ROLE_PRIMARY, l);
	}
	err |= family(out, "pg_replication_lag_seconds", "gauge",
	              "Replay lag of the node in seconds (absent while unknown).");
	for (int i = 0; i < nn; i++) {
		const char *l[] = { "node", nodes[i].name, NULL };
		if (!isnan(nodes[i].lag_seconds))
			err |= sample(out, "pg_replication_lag_seconds", nodes[i].lag_seconds, l);
	}
	err |= family(out, "pg_replication_lag_bytes", "gauge",
	              "Replay lag of the node in bytes of WAL (absent while unknown).");
	for (int i = 0; i < nn; i++) {
		const char *l[] = { "node", nodes[i].name, NULL };
		if (nodes[i].lag_bytes >= 0)
			err |= sample(out, "pg_replication_lag_bytes", (double)nodes[i].lag_bytes, l);
	}
	err |= family(out, "pgrouter_node_in_rotation", "gauge", "1 if the node takes the traffic of its role.");
	for (int i = 0; i < nn; i++) {
		const char *l[] = { "node", nodes[i].name, NULL };
		err |= sample(out, "pgrouter_node_in_rotation", nodes[i].in_rotation, l);
	}
	err |= family(out, "pgrouter_node_routed_total", "counter",
	              "Units of work routed to the node: kind=read (replica-eligible) or write (primary-only).");
	for (int i = 0; i < nn; i++) {
		const char *r[] = { "node", nodes[i].name, "kind", "read", NULL };
		const char *w[] = { "node", nodes[i].name, "kind", "write", NULL };
		err |= sample(out, "pgrouter_node_routed_total", (double)nodes[i].reads, r);
		err |= sample(out, "pgrouter_node_routed_total", (double)nodes[i].writes, w);
	}
	err |= family(out, "pgrouter_node_errors_total", "counter", "Failed connection or login attempts to the node.");
	for (int i = 0; i < nn; i++) {
		const char *l[] = { "node", nodes[i].name, NULL };
		err |= sample(out, "pgrouter_node_errors_total", (double)nodes[i].errors, l);
	}
	free(nodes);
	return err;
}

/* Per [routes] rule: hits, limit, and the time the limit was not met. */
static int route_metrics(struct iobuf **out, const struct config *cfg)
{
	struct route_status *rs = calloc((size_t)cfg->nroutes + 1, sizeof *rs);
	if (!rs)
		return -1;
	int n = status_routes(cfg, rs, cfg->nroutes);
	int err = family(out, "pgrouter_route_hits_total", "counter", "Units of work each [routes] rule matched.");
	for (int i = 0; i < n; i++) {
		const char *l[] = { "route", rs[i].name, NULL };
		err |= sample(out, "pgrouter_route_hits_total", (double)rs[i].hits, l);
	}
	err |= family(out, "pgrouter_route_max_lag_seconds", "gauge",
	              "The max_lag of each rule that sets one as a time.");
	for (int i = 0; i < n; i++) {
		const char *l[] = { "route", rs[i].name, NULL };
		if (rs[i].max_lag_ms >= 0)
			err |= sample(out, "pgrouter_route_max_lag_seconds", (double)rs[i].max_lag_ms / 1e3, l);
	}
	err |= family(out, "pgrouter_route_slo_breach_seconds_total", "counter",
	              "Time each rule's max_lag was not met (SLO breach seconds), as the cluster monitor measures it.");
	for (int i = 0; i < n; i++) {
		const char *l[] = { "route", rs[i].name, NULL };
		err |= sample(out, "pgrouter_route_slo_breach_seconds_total", rs[i].slo_breach_seconds, l);
	}
	free(rs);
	return err;
}

int metrics_prometheus(struct iobuf **out)
{
	struct config *cfg = shared_config_get();
	if (!cfg)
		return -1;
	struct metrics_totals t;
	metrics_totals(&t);
	const char *ver[] = { "version", "0.1.0", NULL };
	int err = family(out, "pgrouter_info", "gauge", "pgrouter's version (value 1).");
	err |= sample(out, "pgrouter_info", 1, ver);
	err |= family(out, "pgrouter_clients", "gauge", "Client connections, the admin console's included.");
	err |= sample(out, "pgrouter_clients", atomic_load(&g_shared.nclients), NULL);
	err |= counter1(out, "pgrouter_queries_total", "Queries forwarded to servers.", t.queries);
	err |= family(out, "pgrouter_queries_routed_total", "counter",
	              "Units of work (a statement, a batch, or the start of a transaction) by where they ran and why.");
	struct reason_ctx rc = { out, 0 };
	metrics_each_reason(reason_sample, &rc);
	err |= rc.err;
	err |= counter1(out, "pgrouter_retries_total",
	                "Reads re-run elsewhere after a replica refused, conflicted or was lost.", t.retries);
	err |= ryw_metrics(out);
	err |= counter1(out, "pgrouter_sessions_pinned_total", "Sessions pinned to the primary by session state.",
	                t.sessions_pinned);
	err |= counter1(out, "pgrouter_server_connects_total", "Server connections opened.", t.server_connects);
	err |= counter1(out, "pgrouter_protocol_errors_total", "Clients disconnected for malformed protocol messages.",
	                t.protocol_errors);
	err |= counter1(out, "pgrouter_auth_failures_total", "Client logins refused.", t.auth_failures);
	err |= family(out, "pgrouter_client_wait_seconds", "summary", "Time clients queued for a server connection.");
	err |= sample(out, "pgrouter_client_wait_seconds_sum", (double)t.wait_us / 1e6, NULL);
	err |= sample(out, "pgrouter_client_wait_seconds_count", (double)t.waits, NULL);
	err |= pool_metrics(out, cfg);
	err |= node_metrics(out);
	err |= route_metrics(out, cfg);
	config_put(cfg);
	return err ? -1 : 0;
}
