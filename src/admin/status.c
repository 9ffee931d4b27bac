/* Node and route status for SHOW NODES/ROUTES, /metrics and /status: one interface, from the config today,
   from the cluster monitor once it runs. */
#include "admin/status.h"
#include "io/conn.h"
#include "cluster/monitor.h"
#include "admin/pause.h"
#include "frontend/client.h"
#include "base/textout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

const char *status_role_name(enum node_role r)
{
	return r == NODE_ROLE_PRIMARY    ? "primary"
	        : r == NODE_ROLE_REPLICA ? "replica"
	        : r == NODE_ROLE_FENCED  ? "fenced"
	                                 : "unknown";
}

const char *status_state_name(enum node_state s)
{
	return s == NODE_STATE_UP ? "up" : s == NODE_STATE_DOWN ? "down" : "unknown";
}

/* What pgrouter knows of a node's health: the monitor's snapshot when it runs (role after a promotion,
   up/down, lag, replay LSN, rotation), else the config (configured role, state and lag unknown). */
static void node_health(struct node_status *n, bool configured_primary, int weight, const struct config *cfg)
{
	n->role = configured_primary ? NODE_ROLE_PRIMARY : NODE_ROLE_REPLICA;
	n->state = NODE_STATE_UNKNOWN;
	n->lag_seconds = NAN;
	n->lag_bytes = -1;
	n->replay_lsn[0] = 0;
	n->in_rotation = configured_primary || weight > 0;
	snprintf(n->why_not, sizeof n->why_not, "%s", n->in_rotation ? "" : "weight=0");
	const struct mon_snapshot *s = monitor_snapshot();
	char host[MET_NODE_NAME];
	snprintf(host, sizeof host, "%s", n->name);
	char *colon = strrchr(host, ':');
	if (!s || !colon)
		return;
	*colon = 0;
	int i = monitor_find(s, host, atoi(colon + 1));
	if (i < 0)
		return;
	const struct mon_node *m = &s->node[i];
	int64_t now = now_usec();
	n->role = m->role == MR_PRIMARY ? NODE_ROLE_PRIMARY
	        : m->role == MR_REPLICA ? NODE_ROLE_REPLICA
	        : m->role == MR_FENCED  ? NODE_ROLE_FENCED
	                                : NODE_ROLE_UNKNOWN;
	n->state = m->state == MS_UP ? NODE_STATE_UP : m->state == MS_DOWN ? NODE_STATE_DOWN : NODE_STATE_UNKNOWN;
	double lag = monitor_lag_now(s, i, now);
	if (m->role == MR_REPLICA && lag >= 0) {
		n->lag_seconds = lag;
		n->lag_bytes = m->lag_bytes;
	}
	if (m->replay_lsn)
		snprintf(n->replay_lsn, sizeof n->replay_lsn, "%X/%X", (unsigned)(m->replay_lsn >> 32),
		         (unsigned)m->replay_lsn);
	const char *why = m->state == MS_DOWN                           ? "down"
	        : m->state == MS_UNKNOWN                                ? "unmonitored"
	        : m->role == MR_FENCED                                  ? "fenced (out of recovery, not the primary)"
	        : m->role == MR_PRIMARY                                 ? ""
	        : m->role != MR_REPLICA || m->behind_since < 0          ? "lag unknown"
	        : !monitor_readable(s, i, 0, cfg->max_replica_lag, now) ? "lag"
	                                                                : "";
	if (why[0] && m->role == MR_REPLICA && !strcmp(why, "lag"))
		snprintf(n->why_not, sizeof n->why_not, "lag %.3fs > %.3fs", lag, (double)cfg->max_replica_lag / 1e6);
	else if (m->state == MS_UNKNOWN && m->error[0]) /* why the monitor cannot log in, and the fix */
		snprintf(n->why_not, sizeof n->why_not, "unmonitored: %s", m->error);
	else if (why[0])
		snprintf(n->why_not, sizeof n->why_not, "%s", why);
	n->in_rotation = !why[0] && (m->role == MR_PRIMARY || weight > 0);
	if (!n->in_rotation && !why[0])
		snprintf(n->why_not, sizeof n->why_not, "weight=0");
}

int status_nodes(struct node_status *out, int max)
{
	struct config *cfg = shared_config_get();
	if (!cfg)
		return 0;
	int n = 0;
	/* Configured primaries first, then replicas; a node listed twice keeps its first (strongest) role. */
	for (int pass = 0; pass < 2; pass++) {
		for (int d = 0; d < cfg->ndbs; d++) {
			const struct dbconf *db = &cfg->dbs[d];
			for (int k = pass == 0 ? 0 : 1; k < (pass == 0 ? 1 : db->nnodes); k++) {
				char name[MET_NODE_NAME];
				snprintf(name, sizeof name, "%s:%d", db->nodes[k].host, db->nodes[k].port);
				int i = 0;
				while (i < n && strcmp(out[i].name, name) != 0)
					i++;
				if (i < n) {
					/* the same replica in several entries: in rotation if any entry gives it weight */
					if (pass == 1 && out[i].role == NODE_ROLE_REPLICA && db->nodes[k].weight > 0 &&
					    !out[i].in_rotation)
						node_health(&out[i], false, db->nodes[k].weight, cfg);
					continue;
				}
				if (n == max)
					continue;
				memset(&out[n], 0, sizeof out[n]);
				memcpy(out[n].name, name, sizeof name);
				node_health(&out[n], k == 0, db->nodes[k].weight, cfg);
				n++;
			}
		}
	}
	config_put(cfg);
	for (int i = 0; i < n; i++)
		metrics_node_counts(out[i].name, &out[i].reads, &out[i].writes, &out[i].errors);
	return n;
}

int status_routes(const struct config *cfg, struct route_status *out, int max)
{
	static const char *const targets[] = { "auto", "primary", "replica" };
	int n = 0;
	for (int i = 0; i < cfg->nroutes && n < max; i++) {
		const struct routeconf *r = &cfg->routes[i];
		struct route_status *o = &out[n++];
		memset(o, 0, sizeof *o);
		snprintf(o->name, sizeof o->name, "%s", r->name);
		size_t l = 0;
		const char *keys[] = { "database", "user", "application_name", "tag", "regex" };
		const char *vals[] = { r->database, r->user, r->application_name, r->tag, r->regex_src };
		for (int k = 0; k < 5; k++)
			if (vals[k] && l < sizeof o->match)
				l += (size_t)snprintf(o->match + l, sizeof o->match - l, "%s%s=%s", l ? " " : "",
				                      keys[k], vals[k]);
		o->target = targets[r->target >= 0 && r->target <= 2 ? r->target : 0];
		o->fallback = r->fallback == 1 ? "error" : "primary";
		o->max_lag_ms = r->max_lag_ms;
		o->max_lag_bytes = r->max_lag_bytes;
		o->hits = metrics_rule_hits(r->name);
		o->slo_breach_seconds = shared_slo_breach_seconds(r->name);
	}
	return n;
}

/* "nodes": [...] */
static int json_nodes(struct iobuf **out)
{
	struct node_status *nodes = calloc(MET_NODES, sizeof *nodes);
	if (!nodes)
		return -1;
	int nn = status_nodes(nodes, MET_NODES);
	int err = tx_printf(out, "\"nodes\":[");
	for (int i = 0; i < nn; i++) {
		const struct node_status *n = &nodes[i];
		err |= tx_printf(out, "%s{\"name\":", i ? "," : "");
		err |= tx_json_str(out, n->name);
		err |= tx_printf(out, ",\"role\":\"%s\",\"state\":\"%s\",\"lag_seconds\":", status_role_name(n->role),
		                 status_state_name(n->state));
		err |= tx_json_num(out, n->lag_seconds);
		err |= tx_printf(out, ",\"lag_bytes\":");
		err |= tx_json_num(out, n->lag_bytes >= 0 ? (double)n->lag_bytes : NAN);
		err |= tx_printf(out, ",\"replay_lsn\":");
		err |= tx_json_str(out, n->replay_lsn[0] ? n->replay_lsn : NULL);
		err |= tx_printf(out,
		                 ",\"in_rotation\":%s,\"not_in_rotation_reason\":", n->in_rotation ? "true" : "false");
		err |= tx_json_str(out, n->in_rotation ? NULL : n->why_not);
		err |= tx_printf(out, ",\"reads\":%llu,\"writes\":%llu,\"errors\":%llu}", (unsigned long long)n->reads,
		                 (unsigned long long)n->writes, (unsigned long long)n->errors);
	}
	free(nodes);
	return err | tx_printf(out, "]");
}

/* "routes": [...] */
static int json_routes(struct iobuf **out, const struct config *cfg)
{
	struct route_status *rs = calloc((size_t)cfg->nroutes + 1, sizeof *rs);
	if (!rs)
		return -1;
	int n = status_routes(cfg, rs, cfg->nroutes);
	int err = tx_printf(out, "\"routes\":[");
	for (int i = 0; i < n; i++) {
		err |= tx_printf(out, "%s{\"name\":", i ? "," : "");
		err |= tx_json_str(out, rs[i].name);
		err |= tx_printf(out, ",\"match\":");
		err |= tx_json_str(out, rs[i].match);
		err |= tx_printf(out, ",\"target\":\"%s\",\"fallback\":\"%s\",\"max_lag_seconds\":", rs[i].target,
		                 rs[i].fallback);
		err |= tx_json_num(out, rs[i].max_lag_ms >= 0 ? (double)rs[i].max_lag_ms / 1e3 : NAN);
		err |= tx_printf(out, ",\"max_lag_bytes\":");
		err |= tx_json_num(out, rs[i].max_lag_bytes >= 0 ? (double)rs[i].max_lag_bytes : NAN);
		err |= tx_printf(out, ",\"hits\":%llu,\"slo_breach_seconds\":", (unsigned long long)rs[i].hits);
		err |= tx_json_num(out, rs[i].slo_breach_seconds);
		err |= tx_printf(out, "}");
	}
	free(rs);
	return err | tx_printf(out, "]");
}

struct reason_json {
	struct iobuf **out;
	int n, err;
};

static void reason_item(void *ctx, const char *reason, int replica, uint64_t count)
{
	struct reason_json *rj = ctx;
	rj->err |= tx_printf(rj->out, "%s{\"target\":\"%s\",\"reason\":", rj->n++ ? "," : "",
	                     replica ? "replica" : "primary");
	rj->err |= tx_json_str(rj->out, reason);
	rj->err |= tx_printf(rj->out, ",\"count\":%llu}", (unsigned long long)count);
}

/* "pools": [...], per (database, user), summed over workers. */
static int json_pools(struct iobuf **out)
{
	int err = tx_printf(out, "\"pools\":[");
	int n = 0;
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools)
	{
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		struct pool_stats s;
		memset(&s, 0, sizeof s);
		pthread_mutex_lock(&ps->lock);
		for (int w = 0; w < g_shared.nworkers; w++) {
			s.cl_active += ps->stats[w].cl_active;
			s.cl_waiting += ps->stats[w].cl_waiting;
			s.sv_active += ps->stats[w].sv_active;
			s.sv_idle += ps->stats[w].sv_idle;
			s.sv_login += ps->stats[w].sv_login;
			if (ps->stats[w].maxwait_us > s.maxwait_us)
				s.maxwait_us = ps->stats[w].maxwait_us;
		}
		pthread_mutex_unlock(&ps->lock);
		err |= tx_printf(out, "%s{\"database\":", n++ ? "," : "");
		err |= tx_json_str(out, ps->dbname);
		err |= tx_printf(out, ",\"user\":");
		err |= tx_json_str(out, ps->user);
		err |= tx_printf(out,
		                 ",\"cl_active\":%d,\"cl_waiting\":%d,\"sv_active\":%d,\"sv_idle\":%d,\"sv_login\":%d,"
		                 "\"maxwait_seconds\":",
		                 s.cl_active, s.cl_waiting, s.sv_active, s.sv_idle, s.sv_login);
		err |= tx_json_num(out, (double)s.maxwait_us / 1e6);
		err |= tx_printf(out, ",\"paused\":%s}", pause_is_paused(ps->dbname) ? "true" : "false");
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	return err | tx_printf(out, "]");
}

int status_json(struct iobuf **out)
{
	struct config *cfg = shared_config_get();
	if (!cfg)
		return -1;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	double now = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	struct metrics_totals t;
	metrics_totals(&t);
	int err = tx_printf(out, "{\"version\":\"pgrouter 0.1.0\",\"time\":%.3f,\"uptime_seconds\":%.3f,", now,
	                    now - (double)g_shared.start_time / 1e6);
	err |= json_nodes(out);
	err |= tx_printf(out, ",");
	err |= json_routes(out, cfg);
	/* The read/write split: by what the router decided (read = replica-eligible) and where units ran. */
	uint64_t reads = 0, writes = 0;
	struct node_status *nodes = calloc(MET_NODES, sizeof *nodes);
	int nn = nodes ? status_nodes(nodes, MET_NODES) : 0;
	for (int i = 0; i < nn; i++) {
		reads += nodes[i].reads;
		writes += nodes[i].writes;
	}
	free(nodes);
	err |= tx_printf(out,
	                 ",\"routing\":{\"enabled\":%s,\"reads\":%llu,\"writes\":%llu,\"on_primary\":%llu,"
	                 "\"on_replica\":%llu,\"retries\":%llu,\"sessions_pinned\":%llu,\"by_reason\":[",
	                 cfg->routing ? "true" : "false", (unsigned long long)reads, (unsigned long long)writes,
	                 (unsigned long long)t.routed_primary, (unsigned long long)t.routed_replica,
	                 (unsigned long long)t.retries, (unsigned long long)t.sessions_pinned);
	struct reason_json rj = { out, 0, 0 };
	metrics_each_reason(reason_item, &rj);
	err |= rj.err | tx_printf(out, "]},");
	err |= json_pools(out);
	err |= tx_printf(
	        out,
	        ",\"totals\":{\"clients\":%d,\"queries\":%llu,\"server_connects\":%llu,"
	        "\"protocol_errors\":%llu,\"auth_failures\":%llu,\"client_waits\":%llu,\"client_wait_seconds\":",
	        atomic_load(&g_shared.nclients), (unsigned long long)t.queries, (unsigned long long)t.server_connects,
	        (unsigned long long)t.protocol_errors, (unsigned long long)t.auth_failures,
	        (unsigned long long)t.waits);
	err |= tx_json_num(out, (double)t.wait_us / 1e6);
	err |= tx_printf(out, "}}\n");
	config_put(cfg);
	return err ? -1 : 0;
}
