/* Admin console SHOW commands answered from shared state: VERSION, DATABASES, POOLS, STATS, TOTALS, CONFIG,
   ROUTES, NODES, RYW, ROUTE '<sql>' and HELP. */
#include "admin_int.h"
#include "client.h"
#include "clientroute.h"
#include "metrics.h"
#include "pause.h"
#include "pool.h"
#include "ryw_wait.h"
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void show_version(struct iobuf **out)
{
	static const char *const cols[] = { "version" };
	struct result r;
	res_begin(&r, out, cols, 1);
	const char *v[] = { "pgrouter 0.1.0" };
	res_row(&r, v);
	res_complete(out, "SHOW");
}

/* Sums over every worker's published numbers of the pools of one database (NULL: all databases). */
struct db_sums {
	struct pool_stats st;
	int conns;                /* server connections open or opening */
};

static void db_sums(const char *db, struct db_sums *s)
{
	memset(s, 0, sizeof *s);
	s->conns = pause_open_servers(db);
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools) {
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		if (db && strcmp(ps->dbname, db) != 0)
			continue;
		pthread_mutex_lock(&ps->lock);
		for (int w = 0; w < g_shared.nworkers; w++) {
			const struct pool_stats *p = &ps->stats[w];
			s->st.cl_active += p->cl_active;
			s->st.cl_waiting += p->cl_waiting;
			s->st.queries += p->queries;
			s->st.assignments += p->assignments;
			s->st.wait_us += p->wait_us;
			s->st.routed[0] += p->routed[0];
			s->st.routed[1] += p->routed[1];
		}
		pthread_mutex_unlock(&ps->lock);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
}

/* SHOW DATABASES: one row per [databases] entry, PgBouncer's columns first (never the password). */
static void show_databases(struct iobuf **out, const struct config *cfg)
{
	static const char *const cols[] = { "name", "host", "port", "database", "force_user", "pool_size",
	                                    "min_pool_size", "reserve_pool_size", "server_lifetime", "pool_mode",
	                                    "max_connections", "current_connections", "max_client_connections",
	                                    "current_client_connections", "paused", "disabled", "replicas", "target" };
	static const char *const targets[] = { "auto", "primary", "replica" };
	struct result r;
	res_begin(&r, out, cols, 18);
	for (int i = 0; i < cfg->ndbs; i++) {
		const struct dbconf *d = &cfg->dbs[i];
		char port[16], ps[16], mps[16], rps[16], life[24], cur[16], clients[16], reps[1024] = "";
		for (int n = 1; n < d->nnodes; n++) {
			size_t l = strlen(reps);
			snprintf(reps + l, sizeof reps - l, "%s%s:%d@%d", n > 1 ? "," : "", d->nodes[n].host,
			         d->nodes[n].port, d->nodes[n].weight);
		}
		struct db_sums s;
		db_sums(d->name, &s);
		const char *v[] = {
			d->name, d->nodes[0].host, res_int(port, sizeof port, d->nodes[0].port), d->dbname ? d->dbname : d->name,
			d->user, res_int(ps, sizeof ps, d->pool_size >= 0 ? d->pool_size : cfg->default_pool_size),
			res_int(mps, sizeof mps, d->min_pool_size >= 0 ? d->min_pool_size : cfg->min_pool_size),
			res_int(rps, sizeof rps, d->reserve_pool >= 0 ? d->reserve_pool : cfg->reserve_pool_size),
			res_int(life, sizeof life, (long long)(cfg->server_lifetime / 1000000)),
			d->pool_mode >= 0 ? pool_mode_name(d->pool_mode) : NULL,
			"0", res_int(cur, sizeof cur, s.conns), "0",
			res_int(clients, sizeof clients, s.st.cl_active + s.st.cl_waiting),
			pause_is_paused(d->name) ? "1" : "0", "0", reps,
			targets[d->target >= 0 && d->target <= 2 ? d->target : 0],
		};
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* SHOW POOLS: the numbers every worker published for each (database, user), added up. */
static void show_pools(struct iobuf **out, const struct config *cfg)
{
	static const char *const cols[] = { "database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle",
	                                    "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode",
	                                    "paused" };
	struct result r;
	res_begin(&r, out, cols, 13);
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools) {
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		struct pool_stats sum;
		memset(&sum, 0, sizeof sum);
		pthread_mutex_lock(&ps->lock);
		for (int w = 0; w < g_shared.nworkers; w++) {
			sum.cl_active += ps->stats[w].cl_active;
			sum.cl_waiting += ps->stats[w].cl_waiting;
			sum.sv_active += ps->stats[w].sv_active;
			sum.sv_idle += ps->stats[w].sv_idle;
			sum.sv_login += ps->stats[w].sv_login;
			if (ps->stats[w].maxwait_us > sum.maxwait_us)
				sum.maxwait_us = ps->stats[w].maxwait_us;
		}
		pthread_mutex_unlock(&ps->lock);
		char a[16], b[16], c[16], d[16], e[16], f[24], g[24];
		const struct dbconf *db = config_find_db(cfg, ps->dbname);
		const char *mode = pool_mode_name(db && db->pool_mode >= 0 ? db->pool_mode : cfg->pool_mode);
		const char *v[] = { ps->dbname, ps->user, res_int(a, sizeof a, sum.cl_active),
		                    res_int(b, sizeof b, sum.cl_waiting), res_int(c, sizeof c, sum.sv_active),
		                    res_int(d, sizeof d, sum.sv_idle), "0", "0", res_int(e, sizeof e, sum.sv_login),
		                    res_int(f, sizeof f, (long long)(sum.maxwait_us / 1000000)),
		                    res_int(g, sizeof g, (long long)(sum.maxwait_us % 1000000)), mode,
		                    pause_is_paused(ps->dbname) ? "1" : "0" };
		res_row(&r, v);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	res_complete(out, "SHOW");
}

/* SHOW STATS: per database, since start (PgBouncer's totals; pgrouter adds where units were routed). */
static void show_stats(struct iobuf **out)
{
	static const char *const cols[] = { "database", "total_query_count", "total_server_assignment_count",
	                                    "total_wait_time", "total_routed_primary", "total_routed_replica" };
	struct result r;
	res_begin(&r, out, cols, 6);
	/* Databases in pool order, each once. */
	char *seen[256];
	int nseen = 0;
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools) {
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		bool dup = false;
		for (int i = 0; i < nseen && !dup; i++)
			dup = strcmp(seen[i], ps->dbname) == 0;
		if (!dup && nseen < 256)
			seen[nseen++] = ps->dbname;   /* pool_shared entries live until exit */
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	for (int i = 0; i < nseen; i++) {
		struct db_sums s;
		db_sums(seen[i], &s);
		char a[24], b[24], c[24], d[24], e[24];
		const char *v[] = { seen[i], res_uint(a, sizeof a, s.st.queries), res_uint(b, sizeof b, s.st.assignments),
		                    res_uint(c, sizeof c, s.st.wait_us), res_uint(d, sizeof d, s.st.routed[0]),
		                    res_uint(e, sizeof e, s.st.routed[1]) };
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* SHOW TOTALS: process-wide counters as (name, value) rows. */
static void show_totals(struct iobuf **out)
{
	static const char *const cols[] = { "name", "value" };
	struct result r;
	res_begin(&r, out, cols, 2);
	struct metrics_totals t;
	metrics_totals(&t);
	struct db_sums s;
	db_sums(NULL, &s);
	const char *names[] = { "query_count", "server_assignment_count", "wait_time", "server_connects",
	                        "protocol_errors", "auth_failures", "routed_primary", "routed_replica", "retries",
	                        "sessions_pinned", "clients" };
	uint64_t vals[] = { t.queries, s.st.assignments, s.st.wait_us, t.server_connects, t.protocol_errors,
	                    t.auth_failures, t.routed_primary, t.routed_replica, t.retries, t.sessions_pinned,
	                    (uint64_t)atomic_load(&g_shared.nclients) };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		char buf[24];
		const char *v[] = { names[i], res_uint(buf, sizeof buf, vals[i]) };
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* SHOW RYW: read-your-writes counters as (name, value) rows. */
static void show_ryw(struct iobuf **out)
{
	static const char *const cols[] = { "name", "value" };
	struct result r;
	res_begin(&r, out, cols, 2);
	const char *names[] = { "primary_reads_session", "primary_reads_token", "primary_reads_key",
	                        "primary_reads_window", "lsn_learned", "keys", "waited_replica", "waited_primary",
	                        "wait_time" };
	uint64_t vals[] = { ryw_stat_primary(RYW_SCOPE_SESSION), ryw_stat_primary(RYW_SCOPE_TOKEN),
	                    ryw_stat_primary(RYW_SCOPE_KEY), ryw_stat_primary(RYW_SCOPE_WINDOW),
	                    ryw_stat_learned(true) + ryw_stat_learned(false), (uint64_t)ryw_key_count(), ryw_wait_stat(RYW_WAIT_REPLICA), ryw_wait_stat(RYW_WAIT_PRIMARY),
	                    ryw_wait_stat_us() };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		char buf[24];
		const char *v[] = { names[i], res_uint(buf, sizeof buf, vals[i]) };
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* SHOW CONFIG: every setting with its value, default and whether RELOAD/SET may change it. */
static void show_config(struct iobuf **out, const struct config *cfg)
{
	static const char *const cols[] = { "key", "value", "default", "changeable" };
	struct result r;
	res_begin(&r, out, cols, 4);
	struct config_setting_info si;
	for (int i = 0; config_setting_at(cfg, i, &si); i++) {
		const char *v[] = { si.name, si.value, si.def, si.changeable ? "yes" : "no" };   /* secrets come redacted */
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* A lag limit as text: "30s", "500ms", "16777216 bytes", or NULL. */
static const char *lag_text(char *buf, size_t n, int64_t ms, int64_t bytes)
{
	if (ms >= 0 && ms % 1000 == 0)
		snprintf(buf, n, "%llds", (long long)(ms / 1000));
	else if (ms >= 0)
		snprintf(buf, n, "%lldms", (long long)ms);
	else if (bytes >= 0)
		snprintf(buf, n, "%lld bytes", (long long)bytes);
	else
		return NULL;
	return buf;
}

/* SHOW ROUTES: each [routes] rule in file order with its hits and SLO breach seconds. */
static void show_routes(struct iobuf **out, const struct config *cfg)
{
	static const char *const cols[] = { "name", "match", "target", "max_lag", "fallback", "hits",
	                                    "slo_breach_seconds" };
	struct result r;
	res_begin(&r, out, cols, 7);
	struct route_status *rs = calloc((size_t)cfg->nroutes + 1, sizeof *rs);
	int n = rs ? status_routes(cfg, rs, cfg->nroutes) : 0;
	for (int i = 0; i < n; i++) {
		char lag[32], hits[24], breach[32];
		snprintf(breach, sizeof breach, "%.3f", rs[i].slo_breach_seconds);
		const char *v[] = { rs[i].name, rs[i].match, rs[i].target,
		                    lag_text(lag, sizeof lag, rs[i].max_lag_ms, rs[i].max_lag_bytes), rs[i].fallback,
		                    res_uint(hits, sizeof hits, rs[i].hits), breach };
		res_row(&r, v);
	}
	free(rs);
	res_complete(out, "SHOW");
}

/* SHOW NODES: every configured node with role, state, lag, rotation and traffic (see status.h). */
static void show_nodes(struct iobuf **out)
{
	static const char *const cols[] = { "node", "role", "state", "lag_bytes", "lag_seconds", "replay_lsn",
	                                    "in_rotation", "not_in_rotation_reason", "reads", "writes", "errors" };
	struct result r;
	res_begin(&r, out, cols, 11);
	struct node_status *nodes = calloc(MET_NODES, sizeof *nodes);
	int nn = nodes ? status_nodes(nodes, MET_NODES) : 0;
	for (int i = 0; i < nn; i++) {
		const struct node_status *n = &nodes[i];
		char lb[24], ls[32], rd[24], wr[24], er[24];
		if (!isnan(n->lag_seconds))
			snprintf(ls, sizeof ls, "%.3f", n->lag_seconds);
		const char *v[] = { n->name, status_role_name(n->role), status_state_name(n->state),
		                    n->lag_bytes >= 0 ? res_int(lb, sizeof lb, n->lag_bytes) : NULL,
		                    isnan(n->lag_seconds) ? NULL : ls, n->replay_lsn[0] ? n->replay_lsn : NULL,
		                    n->in_rotation ? "yes" : "no", n->in_rotation ? NULL : n->why_not,
		                    res_uint(rd, sizeof rd, n->reads), res_uint(wr, sizeof wr, n->writes),
		                    res_uint(er, sizeof er, n->errors) };
		res_row(&r, v);
	}
	free(nodes);
	res_complete(out, "SHOW");
}

/* The database SHOW ROUTE explains for: the one named, else the only [databases] entry that is not "*". */
static const char *route_db(const struct config *cfg, const char *named, char *err, size_t errlen)
{
	if (named)
		return named;
	const char *only = NULL;
	int n = 0;
	for (int i = 0; i < cfg->ndbs; i++)
		if (strcmp(cfg->dbs[i].name, "*") != 0) {
			only = cfg->dbs[i].name;
			n++;
		}
	if (n == 1)
		return only;
	snprintf(err, errlen, "SHOW ROUTE needs DATABASE <name>: %s", n ? "several databases are configured"
	                                                                 : "no database is configured by name");
	return NULL;
}

/* The nodes a decision can use: the primary, or the replicas with weight (and the primary if it reads). */
static void route_nodes(const struct pool *p, int target, char *buf, size_t n)
{
	size_t l = 0;
	buf[0] = 0;
	for (int i = 0; i < p->nnodes && l < n; i++) {
		int weight = i == 0 ? p->w->cfg->primary_read_weight : p->weight[i];
		bool use = target == ROUTE_PRIMARY ? i == 0 : weight > 0;
		if (use)
			l += (size_t)snprintf(buf + l, n - l, "%s%s:%d", l ? "," : "", p->host[i], p->port[i]);
	}
}

/* SHOW ROUTE '<sql>' [DATABASE db] [USER u] [APPLICATION_NAME a]: where that statement would go for a new
   session of this console's user (or u) on db, decided by the same code as real traffic; nothing runs. */
static void show_route(struct client *cl, const struct admin_cmd *c, struct iobuf **out)
{
	const struct config *cfg = cl->c.w->cfg;
	const char *db = NULL, *user = cl->user, *app = params_get(&cl->params, "application_name");
	char err[200];
	if (c->n < 3 || c->kind[2] != W_STRING) {
		msg_error(out, "ERROR", "42601", "usage: SHOW ROUTE '<sql>' [DATABASE name] [USER name] [APPLICATION_NAME name]");
		return;
	}
	for (int i = 3; i < c->n; i += 2) {
		if (i + 1 >= c->n || c->kind[i + 1] == W_EQ) {
			msg_error(out, "ERROR", "42601", "usage: SHOW ROUTE '<sql>' [DATABASE name] [USER name] [APPLICATION_NAME name]");
			return;
		}
		if (cmd_kw(c, i, "DATABASE"))
			db = c->w[i + 1];
		else if (cmd_kw(c, i, "USER"))
			user = c->w[i + 1];
		else if (cmd_kw(c, i, "APPLICATION_NAME"))
			app = c->w[i + 1];
		else {
			msg_error(out, "ERROR", "42601", "SHOW ROUTE takes DATABASE, USER and APPLICATION_NAME after the statement");
			return;
		}
	}
	if (!(db = route_db(cfg, db, err, sizeof err))) {
		msg_error(out, "ERROR", "42601", err);
		return;
	}
	const struct dbconf *entry = admin_is_console(cfg, db) ? NULL : config_find_db(cfg, db);
	if (!entry) {
		snprintf(err, sizeof err, "no such database: %.100s", db);
		msg_error(out, "ERROR", "3D000", err);
		return;
	}
	/* A stand-in for a new session of (db, user): the decision reads only its session state. */
	struct client stand;
	memset(&stand, 0, sizeof stand);
	stand.c.w = cl->c.w;
	stand.dbname = (char *)db;
	stand.user = (char *)user;
	stand.pool = pool_get(cl->c.w, entry, db, user);
	if (!stand.pool || (app && params_set(&stand.params, "application_name", app) < 0)) {
		params_clear(&stand.params);
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	struct route_explain ex;
	clientroute_explain(&stand, c->w[2], strlen(c->w[2]), &ex);
	params_clear(&stand.params);
	static const char *const cols[] = { "target", "reason", "rule", "max_lag", "fallback", "nodes",
	                                    "statement_class", "statement_reason", "database", "user" };
	struct result r;
	res_begin(&r, out, cols, 10);
	char why[128], nodes[512], cls_reason[128], lag[32];
	route_reason_str(&ex.out, why, sizeof why);
	route_nodes(stand.pool, ex.out.target, nodes, sizeof nodes);
	const char *lagv = ex.out.max_lag_ms >= 0 ? lag_text(lag, sizeof lag, ex.out.max_lag_ms, -1)
	                 : ex.rule ? lag_text(lag, sizeof lag, ex.rule->max_lag_ms, ex.rule->max_lag_bytes) : NULL;
	const char *v[] = { ex.out.target == ROUTE_REPLICA ? "replica" : "primary", why, ex.rule ? ex.rule->name : NULL,
	                    lagv, ex.rule && ex.rule->fallback == FALLBACK_ERROR ? "error" : "primary", nodes,
	                    ex.classified ? cls_target_name(ex.cls.target) : NULL,
	                    ex.classified ? cls_reason_str(&ex.cls, cls_reason, sizeof cls_reason) : NULL, db, user };
	res_row(&r, v);
	res_complete(out, "SHOW");
}

static void show_help(struct iobuf **out)
{
	static const char *const cols[] = { "command", "description" };
	static const char *const rows[][2] = {
		{ "SHOW VERSION|DATABASES|POOLS|CLIENTS|SERVERS|STATS|TOTALS|CONFIG|LISTS", "as PgBouncer" },
		{ "SHOW NODES", "each server node: role, state, lag, rotation, traffic" },
		{ "SHOW RYW", "read-your-writes: reads sent to the primary by scope, LSNs learned, keys, waits (wait_time in µs)" },
		{ "SHOW ROUTES", "each [routes] rule with its hits and SLO breach seconds" },
		{ "SHOW ROUTE '<sql>' [DATABASE d] [USER u] [APPLICATION_NAME a]", "where the statement would go, and why" },
		{ "PAUSE [db] / RESUME [db]", "hold new work until servers are released / let it continue" },
		{ "KILL [db]", "close the database's clients and servers (it stays paused until RESUME)" },
		{ "SET key = value", "change a setting with changeable = yes in SHOW CONFIG" },
		{ "RELOAD", "read the config file again" },
		{ "SHUTDOWN [WAIT_FOR_CLIENTS]", "exit now / once every client has disconnected" },
	};
	struct result r;
	res_begin(&r, out, cols, 2);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		res_row(&r, rows[i]);
	res_complete(out, "SHOW");
}

bool admin_show(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool *deferred)
{
	const struct config *cfg = cl->c.w->cfg;
	*deferred = false;
	if (cmd_kw(c, 1, "ROUTE")) {
		show_route(cl, c, out);
		return true;
	}
	if (c->n != 2)
		return false;
	if (cmd_kw(c, 1, "VERSION"))
		show_version(out);
	else if (cmd_kw(c, 1, "DATABASES"))
		show_databases(out, cfg);
	else if (cmd_kw(c, 1, "POOLS"))
		show_pools(out, cfg);
	else if (cmd_kw(c, 1, "STATS"))
		show_stats(out);
	else if (cmd_kw(c, 1, "TOTALS"))
		show_totals(out);
	else if (cmd_kw(c, 1, "CONFIG"))
		show_config(out, cfg);
	else if (cmd_kw(c, 1, "ROUTES"))
		show_routes(out, cfg);
	else if (cmd_kw(c, 1, "NODES"))
		show_nodes(out);
	else if (cmd_kw(c, 1, "RYW"))
		show_ryw(out);
	else if (cmd_kw(c, 1, "HELP"))
		show_help(out);
	else if (cmd_kw(c, 1, "CLIENTS") || cmd_kw(c, 1, "SERVERS") || cmd_kw(c, 1, "LISTS")) {
		admin_show_conns(cl, c->w[1], out);
		*deferred = admin_pending(cl);   /* false when it could not start and answered with an error */
	} else
		return false;
	return true;
}
