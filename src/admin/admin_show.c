/* Admin console SHOW commands answered from the configuration and shared state: VERSION, DATABASES, USERS,
   CONFIG, FDS, DNS_HOSTS, DNS_ZONES, ROUTES, NODES, RYW, ROUTE '<sql>' and HELP. */
#include "session/ryw.h"
#include "admin/admin_int.h"
#include "frontend/client.h"
#include "session/clientroute.h"
#include "admin/metrics.h"
#include "admin/pause.h"
#include "pool/pool.h"
#include "session/ryw_wait.h"
#include "admin/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* qsort order of C strings. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void show_version(struct iobuf **out)
{
	static const struct col cols[] = { COL_TEXT("version") };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	const char *v[] = { "pgrouter 0.1.0" };
	res_row(&r, v);
	res_complete(out, "SHOW");
}

/* SHOW DATABASES: one row per [databases] entry, PgBouncer's columns (host and port, and current_connections,
   are the primary's) then pgrouter's; never the password. */
static void show_databases(struct iobuf **out, const struct config *cfg)
{
	static const struct col cols[] = {
		COL_TEXT("name"),
		COL_TEXT("host"),
		COL_INT4("port"),
		COL_TEXT("database"),
		COL_TEXT("force_user"),
		COL_INT4("pool_size"),
		COL_INT4("min_pool_size"),
		COL_INT4("reserve_pool"),
		COL_TEXT("pool_mode"),
		COL_INT4("max_connections"),
		COL_INT4("current_connections"),
		COL_INT4("paused"),
		COL_INT4("disabled"),
		/* pgrouter's own */
		COL_TEXT("replicas"),
		COL_TEXT("target"),
		COL_INT4("current_replica_connections"),
		COL_INT4("current_client_connections"),
		COL_INT4("server_lifetime"),
	};
	static const char *const targets[] = { "auto", "primary", "replica" };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	for (int i = 0; i < cfg->ndbs; i++) {
		const struct dbconf *d = &cfg->dbs[i];
		char b[NCOLS(cols)][24], reps[1024] = "";
		for (int n = 1; n < d->nnodes; n++) {
			size_t l = strlen(reps);
			snprintf(reps + l, sizeof reps - l, "%s%s:%d@%d", n > 1 ? "," : "", d->nodes[n].host,
			         d->nodes[n].port, d->nodes[n].weight);
		}
		int primary, replicas, clients;
		admin_db_conns(d->name, &primary, &replicas, &clients);
		const char *v[] = {
			d->name,
			d->nodes[0].host,
			res_int(b[2], 24, d->nodes[0].port),
			d->dbname ? d->dbname : d->name,
			d->user,
			res_int(b[5], 24, d->pool_size >= 0 ? d->pool_size : cfg->default_pool_size),
			res_int(b[6], 24, d->min_pool_size >= 0 ? d->min_pool_size : cfg->min_pool_size),
			res_int(b[7], 24, d->reserve_pool >= 0 ? d->reserve_pool : cfg->reserve_pool_size),
			d->pool_mode >= 0 ? pool_mode_name(d->pool_mode) : NULL,
			"0",
			res_int(b[10], 24, primary),
			pause_is_paused(d->name) ? "1" : "0",
			pause_is_disabled(d->name) ? "1" : "0",
			reps,
			targets[d->target >= 0 && d->target <= 2 ? d->target : 0],
			res_int(b[15], 24, replicas),
			res_int(b[16], 24, clients),
			res_int(b[17], 24, (long long)(cfg->server_lifetime / 1000000)),
		};
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* SHOW USERS: each user that has a pool or is a database's forced user, by name; pgrouter has no per-user
   pool_mode (NULL). */
static void show_users(struct iobuf **out, const struct config *cfg)
{
	static const struct col cols[] = { COL_TEXT("name"), COL_TEXT("pool_mode") };
	const char *names[512];
	int n = 0;
	for (int i = 0; i < cfg->ndbs; i++)
		if (cfg->dbs[i].user && n < 512)
			names[n++] = cfg->dbs[i].user;
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools) if (n < 512) names[n++] =
	        list_entry(it, struct pool_shared, node)->user; /* live until exit */
	pthread_mutex_unlock(&g_shared.pools_lock);
	qsort(names, (size_t)n, sizeof names[0], cmp_str);
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	for (int i = 0; i < n; i++) {
		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		const char *v[] = { names[i], NULL };
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* SHOW FDS, DNS_HOSTS, DNS_ZONES: PgBouncer's columns and no rows. pgrouter hands no sockets to a new process
   (FDS is for PgBouncer's online restart) and keeps no DNS cache (each connection resolves its host). */
static void show_no_rows(struct iobuf **out, const char *what)
{
	static const struct col fds[] = {
		COL_INT4("fd"),
		COL_TEXT("task"),
		COL_TEXT("user"),
		COL_TEXT("database"),
		COL_TEXT("addr"),
		COL_INT4("port"),
		COL_INT8("cancel"),
		COL_INT4("link"),
		COL_TEXT("client_encoding"),
		COL_TEXT("std_strings"),
		COL_TEXT("datestyle"),
		COL_TEXT("timezone"),
		COL_TEXT("password"),
		{ "scram_client_key", OID_BYTEA },
		{ "scram_server_key", OID_BYTEA },
	};
	static const struct col hosts[] = { COL_TEXT("hostname"), COL_INT8("ttl"), COL_TEXT("addrs") };
	static const struct col zones[] = { COL_TEXT("zonename"), COL_INT8("serial"), COL_INT4("count") };
	struct result r;
	if (strcasecmp(what, "FDS") == 0)
		res_begin(&r, out, fds, NCOLS(fds));
	else if (strcasecmp(what, "DNS_HOSTS") == 0)
		res_begin(&r, out, hosts, NCOLS(hosts));
	else
		res_begin(&r, out, zones, NCOLS(zones));
	res_complete(out, "SHOW");
}

/* SHOW RYW: read-your-writes counters as (name, value) rows. */
static void show_ryw(struct iobuf **out)
{
	static const struct col cols[] = { COL_TEXT("name"), COL_NUM("value") };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	const char *names[] = { "primary_reads_session", "primary_reads_token", "primary_reads_key",
		                "primary_reads_window",  "lsn_learned",         "keys",
		                "waited_replica",        "waited_primary",      "wait_time" };
	uint64_t vals[] = { ryw_stat_primary(RYW_SCOPE_SESSION),
		            ryw_stat_primary(RYW_SCOPE_TOKEN),
		            ryw_stat_primary(RYW_SCOPE_KEY),
		            ryw_stat_primary(RYW_SCOPE_WINDOW),
		            ryw_stat_learned(true) + ryw_stat_learned(false),
		            (uint64_t)ryw_key_count(),
		            ryw_wait_stat(RYW_WAIT_REPLICA),
		            ryw_wait_stat(RYW_WAIT_PRIMARY),
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
	static const struct col cols[] = { COL_TEXT("key"), COL_TEXT("value"), COL_TEXT("default"),
		                           COL_TEXT("changeable") };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	struct config_setting_info si;
	for (int i = 0; config_setting_at(cfg, i, &si); i++) {
		const char *v[] = { si.name, si.value, si.def,
			            si.changeable ? "yes" : "no" }; /* secrets come redacted */
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
	/* pgrouter's own command: text columns, as it has always answered */
	static const struct col cols[] = { COL_TEXT("name"),
		                           COL_TEXT("match"),
		                           COL_TEXT("target"),
		                           COL_TEXT("max_lag"),
		                           COL_TEXT("fallback"),
		                           COL_TEXT("hits"),
		                           COL_TEXT("slo_breach_seconds") };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	struct route_status *rs = calloc((size_t)cfg->nroutes + 1, sizeof *rs);
	int n = rs ? status_routes(cfg, rs, cfg->nroutes) : 0;
	for (int i = 0; i < n; i++) {
		char lag[32], hits[24], breach[32];
		snprintf(breach, sizeof breach, "%.3f", rs[i].slo_breach_seconds);
		const char *v[] = { rs[i].name,     rs[i].match,
			            rs[i].target,   lag_text(lag, sizeof lag, rs[i].max_lag_ms, rs[i].max_lag_bytes),
			            rs[i].fallback, res_uint(hits, sizeof hits, rs[i].hits),
			            breach };
		res_row(&r, v);
	}
	free(rs);
	res_complete(out, "SHOW");
}

/* SHOW NODES: every configured node with role, state, lag, rotation and traffic (see status.h). */
static void show_nodes(struct iobuf **out)
{
	/* pgrouter's own command: text columns, as it has always answered */
	static const struct col cols[] = { COL_TEXT("node"),        COL_TEXT("role"),
		                           COL_TEXT("state"),       COL_TEXT("lag_bytes"),
		                           COL_TEXT("lag_seconds"), COL_TEXT("replay_lsn"),
		                           COL_TEXT("in_rotation"), COL_TEXT("not_in_rotation_reason"),
		                           COL_TEXT("reads"),       COL_TEXT("writes"),
		                           COL_TEXT("errors") };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	struct node_status *nodes = calloc(MET_NODES, sizeof *nodes);
	int nn = nodes ? status_nodes(nodes, MET_NODES) : 0;
	for (int i = 0; i < nn; i++) {
		const struct node_status *n = &nodes[i];
		char lb[24], ls[32], rd[24], wr[24], er[24];
		if (!isnan(n->lag_seconds))
			snprintf(ls, sizeof ls, "%.3f", n->lag_seconds);
		const char *v[] = { n->name,
			            status_role_name(n->role),
			            status_state_name(n->state),
			            n->lag_bytes >= 0 ? res_int(lb, sizeof lb, n->lag_bytes) : NULL,
			            isnan(n->lag_seconds) ? NULL : ls,
			            n->replay_lsn[0] ? n->replay_lsn : NULL,
			            n->in_rotation ? "yes" : "no",
			            n->in_rotation ? NULL : n->why_not,
			            res_uint(rd, sizeof rd, n->reads),
			            res_uint(wr, sizeof wr, n->writes),
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
	snprintf(err, errlen, "SHOW ROUTE needs DATABASE <name>: %s",
	         n ? "several databases are configured" : "no database is configured by name");
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
/* SHOW ROUTE's words after the statement: DATABASE, USER and APPLICATION_NAME; false after an error answer. */
static bool route_args(const struct admin_cmd *c, const char **db, const char **user, const char **app,
                       struct iobuf **out)
{
	static const char usage[] = "usage: SHOW ROUTE '<sql>' [DATABASE name] [USER name] [APPLICATION_NAME name]";
	if (c->n < 3 || c->kind[2] != W_STRING) {
		msg_error(out, "ERROR", "42601", usage);
		return false;
	}
	for (int i = 3; i < c->n; i += 2) {
		if (i + 1 >= c->n || c->kind[i + 1] == W_EQ) {
			msg_error(out, "ERROR", "42601", usage);
			return false;
		}
		if (cmd_kw(c, i, "DATABASE"))
			*db = c->w[i + 1];
		else if (cmd_kw(c, i, "USER"))
			*user = c->w[i + 1];
		else if (cmd_kw(c, i, "APPLICATION_NAME"))
			*app = c->w[i + 1];
		else {
			msg_error(out, "ERROR", "42601",
			          "SHOW ROUTE takes DATABASE, USER and APPLICATION_NAME after the statement");
			return false;
		}
	}
	return true;
}

static void show_route(struct client *cl, const struct admin_cmd *c, struct iobuf **out)
{
	const struct config *cfg = cl->c.w->cfg;
	const char *db = NULL, *user = cl->user, *app = params_get(&cl->params, "application_name");
	char err[200];
	if (!route_args(c, &db, &user, &app, out))
		return;
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
	static const struct col cols[] = { COL_TEXT("target"),
		                           COL_TEXT("reason"),
		                           COL_TEXT("rule"),
		                           COL_TEXT("max_lag"),
		                           COL_TEXT("fallback"),
		                           COL_TEXT("nodes"),
		                           COL_TEXT("statement_class"),
		                           COL_TEXT("statement_reason"),
		                           COL_TEXT("database"),
		                           COL_TEXT("user") };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	char why[128], nodes[512], cls_reason[128], lag[32];
	route_reason_str(&ex.out, why, sizeof why);
	route_nodes(stand.pool, ex.out.target, nodes, sizeof nodes);
	const char *lagv = ex.out.max_lag_ms >= 0 ? lag_text(lag, sizeof lag, ex.out.max_lag_ms, -1)
	        : ex.rule ? lag_text(lag, sizeof lag, ex.rule->max_lag_ms, ex.rule->max_lag_bytes)
	                  : NULL;
	const char *v[] = { ex.out.target == ROUTE_REPLICA ? "replica" : "primary",
		            why,
		            ex.rule ? ex.rule->name : NULL,
		            lagv,
		            ex.rule && ex.rule->fallback == FALLBACK_ERROR ? "error" : "primary",
		            nodes,
		            ex.classified ? cls_target_name(ex.cls.target) : NULL,
		            ex.classified ? cls_reason_str(&ex.cls, cls_reason, sizeof cls_reason) : NULL,
		            db,
		            user };
	res_row(&r, v);
	res_complete(out, "SHOW");
}

static void show_help(struct iobuf **out)
{
	static const struct col cols[] = { COL_TEXT("command"), COL_TEXT("description") };
	static const char *const rows[][2] = {
		{ "SHOW "
		  "VERSION|DATABASES|USERS|POOLS|CLIENTS|SERVERS|SOCKETS|STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS|"
		  "CONFIG|LISTS|MEM",
		  "PgBouncer's columns, then pgrouter's" },
		{ "SHOW FDS|DNS_HOSTS|DNS_ZONES", "PgBouncer's columns, no rows (no online restart, no DNS cache)" },
		{ "SHOW NODES", "each server node: role, state, lag, rotation, traffic" },
		{ "SHOW RYW",
		  "read-your-writes: reads sent to the primary by scope, LSNs learned, keys, waits (wait_time in µs)" },
		{ "SHOW ROUTES", "each [routes] rule with its hits and SLO breach seconds" },
		{ "SHOW ROUTE '<sql>' [DATABASE d] [USER u] [APPLICATION_NAME a]",
		  "where the statement would go, and why" },
		{ "PAUSE [db] / RESUME [db]", "hold new work until servers are released / let it continue" },
		{ "KILL [db]", "close the database's clients and servers (it stays paused until RESUME)" },
		{ "DISABLE db / ENABLE db", "refuse / accept again new client logins to the database" },
		{ "RECONNECT [db]", "replace the database's server connections as they are released" },
		{ "WAIT_CLOSE [db]", "wait until no server connection of the database is waiting to be replaced" },
		{ "SET key = value", "change a setting with changeable = yes in SHOW CONFIG" },
		{ "RELOAD", "read the config file again" },
		{ "SHUTDOWN [WAIT_FOR_CLIENTS]", "exit now / once every client has disconnected" },
	};
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
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
	else if (cmd_kw(c, 1, "USERS"))
		show_users(out, cfg);
	else if (cmd_kw(c, 1, "POOLS"))
		admin_show_pools(out, cfg);
	else if (cmd_kw(c, 1, "STATS") || cmd_kw(c, 1, "STATS_TOTALS") || cmd_kw(c, 1, "STATS_AVERAGES"))
		admin_show_stats(out, c->w[1]);
	else if (cmd_kw(c, 1, "TOTALS"))
		admin_show_totals(out);
	else if (cmd_kw(c, 1, "FDS") || cmd_kw(c, 1, "DNS_HOSTS") || cmd_kw(c, 1, "DNS_ZONES"))
		show_no_rows(out, c->w[1]);
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
	else if (cmd_kw(c, 1, "CLIENTS") || cmd_kw(c, 1, "SERVERS") || cmd_kw(c, 1, "SOCKETS") ||
	         cmd_kw(c, 1, "LISTS") || cmd_kw(c, 1, "MEM")) {
		admin_show_conns(cl, c->w[1], out);
		*deferred = admin_pending(cl); /* false when it could not start and answered with an error */
	} else
		return false;
	return true;
}
