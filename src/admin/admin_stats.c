/* Admin console SHOW POOLS, STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS: PgBouncer's columns added up from
   what every worker published for its pools, then pgrouter's own columns. */
#include "admin/admin_int.h"
#include "admin/metrics.h"
#include "admin/pause.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

/* Sums over every worker's published numbers of the pools of one database (NULL: all databases). */
struct db_sums {
	struct pool_stats st;
	int primary_conns, replica_conns; /* server connections open or opening */
};

/* Add one worker's numbers p into s. */
static void add_stats(struct pool_stats *s, const struct pool_stats *p)
{
	s->cl_active += p->cl_active;
	s->cl_waiting += p->cl_waiting;
	s->queries += p->queries;
	s->xacts += p->xacts;
	s->assignments += p->assignments;
	s->wait_us += p->wait_us;
	s->routed[0] += p->routed[0];
	s->routed[1] += p->routed[1];
	if (p->maxwait_us > s->maxwait_us)
		s->maxwait_us = p->maxwait_us;
}

static void db_sums(const char *db, struct db_sums *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools)
	{
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		if (db && strcmp(ps->dbname, db) != 0)
			continue;
		pthread_mutex_lock(&ps->lock);
		int primary = 0; /* workers without this pool publish 0; those with it agree on the primary */
		for (int w = 0; w < g_shared.nworkers; w++) {
			add_stats(&s->st, &ps->stats[w]);
			if (ps->stats[w].primary > primary)
				primary = ps->stats[w].primary;
		}
		pthread_mutex_unlock(&ps->lock);
		for (int n = 0; n < MAX_NODES; n++)
			*(n == primary ? &s->primary_conns : &s->replica_conns) += atomic_load(&ps->quota[n].conns);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
}

void admin_db_conns(const char *db, int *primary, int *replicas, int *clients)
{
	struct db_sums s;
	db_sums(db, &s);
	*primary = s.primary_conns;
	*replicas = s.replica_conns;
	*clients = s.st.cl_active + s.st.cl_waiting;
}

/* PgBouncer's seven statistics in its order (transactions, queries, bytes received and sent, transaction, query
   and wait time in µs): totals since start and averages. pgrouter counts no bytes and no query or transaction
   time: those are 0. Averages: counts per second since start, wait time per server assignment. */
#define NSTAT 7
static void stat_values(const struct db_sums *s, uint64_t tot[NSTAT], uint64_t avg[NSTAT])
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	int64_t up_s = ((int64_t)tv.tv_sec * 1000000 + tv.tv_usec - g_shared.start_time) / 1000000;
	uint64_t secs = up_s > 0 ? (uint64_t)up_s : 1;
	const uint64_t t[NSTAT] = { s->st.xacts, s->st.queries, 0, 0, 0, 0, s->st.wait_us };
	const uint64_t a[NSTAT] = {
		t[0] / secs, t[1] / secs, 0, 0, 0, 0, s->st.assignments ? s->st.wait_us / s->st.assignments : 0
	};
	memcpy(tot, t, sizeof t);
	memcpy(avg, a, sizeof a);
}

/* The databases that have pools, in pool order, each once; returns how many (pool_shared entries live until exit). */
static int pool_databases(const char **dbs, int max)
{
	int n = 0;
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools)
	{
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		bool dup = false;
		for (int i = 0; i < n && !dup; i++)
			dup = strcmp(dbs[i], ps->dbname) == 0;
		if (!dup && n < max)
			dbs[n++] = ps->dbname;
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	return n;
}

static const struct col stats_cols[] = {
	COL_TEXT("database"),
	COL_NUM("total_xact_count"),
	COL_NUM("total_query_count"),
	COL_NUM("total_received"),
	COL_NUM("total_sent"),
	COL_NUM("total_xact_time"),
	COL_NUM("total_query_time"),
	COL_NUM("total_wait_time"),
	COL_NUM("avg_xact_count"),
	COL_NUM("avg_query_count"),
	COL_NUM("avg_recv"),
	COL_NUM("avg_sent"),
	COL_NUM("avg_xact_time"),
	COL_NUM("avg_query_time"),
	COL_NUM("avg_wait_time"),
	/* pgrouter's own */
	COL_NUM("total_server_assignment_count"),
	COL_NUM("total_routed_primary"),
	COL_NUM("total_routed_replica"),
};
static const struct col stats_totals_cols[] = {
	COL_TEXT("database"),  COL_NUM("xact_count"), COL_NUM("query_count"), COL_NUM("bytes_received"),
	COL_NUM("bytes_sent"), COL_NUM("xact_time"),  COL_NUM("query_time"),  COL_NUM("wait_time"),
};

/* SHOW STATS (which 0), STATS_TOTALS (1) or STATS_AVERAGES (2): one row per database. */
static void show_stats_kind(struct iobuf **out, int which)
{
	struct result r;
	if (which == 0)
		res_begin(&r, out, stats_cols, NCOLS(stats_cols));
	else
		res_begin(&r, out, stats_totals_cols, NCOLS(stats_totals_cols)); /* the averages have the same names */
	const char *dbs[256];
	int n = pool_databases(dbs, 256);
	for (int i = 0; i < n; i++) {
		struct db_sums s;
		uint64_t tot[NSTAT], avg[NSTAT], extra[3];
		db_sums(dbs[i], &s);
		stat_values(&s, tot, avg);
		extra[0] = s.st.assignments;
		extra[1] = s.st.routed[0];
		extra[2] = s.st.routed[1];
		char buf[NCOLS(stats_cols)][24];
		const char *v[NCOLS(stats_cols)] = { dbs[i] };
		int k = 1;
		for (int j = 0; j < NSTAT && which != 2; j++)
			v[k] = res_uint(buf[k], sizeof buf[k], tot[j]), k++;
		for (int j = 0; j < NSTAT && which != 1; j++)
			v[k] = res_uint(buf[k], sizeof buf[k], avg[j]), k++;
		for (int j = 0; j < 3 && which == 0; j++)
			v[k] = res_uint(buf[k], sizeof buf[k], extra[j]), k++;
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

void admin_show_stats(struct iobuf **out, const char *what)
{
	show_stats_kind(out, strcasecmp(what, "STATS") == 0 ? 0 : strcasecmp(what, "STATS_TOTALS") == 0 ? 1 : 2);
}

/* SHOW TOTALS: PgBouncer's (name, value) rows over all databases, then pgrouter's process-wide counters. */
void admin_show_totals(struct iobuf **out)
{
	static const struct col cols[] = { COL_TEXT("name"), COL_NUM("value") };
	static const char *const names[] = { "total_xact_count", "total_query_count", "total_client_bytes",
		                             "total_server_bytes", "total_xact_time", "total_query_time",
		                             "total_wait_time", "avg_xact_count", "avg_query_count", "avg_client_bytes",
		                             "avg_server_bytes", "avg_xact_time", "avg_query_time", "avg_wait_time",
		                             /* pgrouter's own */
		                             "query_count", "server_assignment_count", "wait_time", "server_connects",
		                             "protocol_errors", "auth_failures", "routed_primary", "routed_replica",
		                             "retries", "sessions_pinned", "clients" };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	struct metrics_totals t;
	metrics_totals(&t);
	struct db_sums s;
	db_sums(NULL, &s);
	uint64_t vals[NCOLS(names)];
	stat_values(&s, vals, vals + NSTAT);
	const uint64_t own[] = { t.queries,
		                 s.st.assignments,
		                 s.st.wait_us,
		                 t.server_connects,
		                 t.protocol_errors,
		                 t.auth_failures,
		                 t.routed_primary,
		                 t.routed_replica,
		                 t.retries,
		                 t.sessions_pinned,
		                 (uint64_t)atomic_load(&g_shared.nclients) };
	_Static_assert(2 * NSTAT + sizeof own / sizeof own[0] == sizeof names / sizeof names[0], "a value per name");
	memcpy(vals + 2 * NSTAT, own, sizeof own);
	for (int i = 0; i < NCOLS(names); i++) {
		char buf[24];
		const char *v[] = { names[i], res_uint(buf, sizeof buf, vals[i]) };
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* SHOW POOLS: one row per (database, user). PgBouncer's server columns count the primary's connections (the
   node that takes writes); pgrouter's columns after them count the replicas'. Client columns count the pool. */
void admin_show_pools(struct iobuf **out, const struct config *cfg)
{
	static const struct col cols[] = {
		COL_TEXT("database"),
		COL_TEXT("user"),
		COL_INT4("cl_active"),
		COL_INT4("cl_waiting"),
		COL_INT4("cl_active_cancel_req"),
		COL_INT4("cl_waiting_cancel_req"),
		COL_INT4("sv_active"),
		COL_INT4("sv_active_cancel"),
		COL_INT4("sv_being_canceled"),
		COL_INT4("sv_idle"),
		COL_INT4("sv_used"),
		COL_INT4("sv_tested"),
		COL_INT4("sv_login"),
		COL_INT4("maxwait"),
		COL_INT4("maxwait_us"),
		COL_TEXT("pool_mode"),
		/* pgrouter's own */
		COL_INT4("paused"),
		COL_INT4("cl_waiting_primary"),
		COL_INT4("cl_waiting_replica"),
		COL_INT4("sv_active_replica"),
		COL_INT4("sv_idle_replica"),
		COL_INT4("sv_login_replica"),
	};
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools)
	{
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		struct pool_stats sum;
		long long node[2][4] = { { 0 } }; /* [primary, replicas][active, idle, login, waiting] */
		memset(&sum, 0, sizeof sum);
		pthread_mutex_lock(&ps->lock);
		for (int w = 0; w < g_shared.nworkers; w++) {
			const struct pool_stats *p = &ps->stats[w];
			add_stats(&sum, p);
			for (int n = 0; n < MAX_NODES; n++) {
				long long *k = node[n == p->primary ? 0 : 1];
				k[0] += p->node_active[n], k[1] += p->node_idle[n], k[2] += p->node_login[n],
				        k[3] += p->node_waiting[n];
			}
		}
		pthread_mutex_unlock(&ps->lock);
		const struct dbconf *db = config_find_db(cfg, ps->dbname);
		const char *mode = pool_mode_name(db && db->pool_mode >= 0 ? db->pool_mode : cfg->pool_mode);
		char b[NCOLS(cols)][24];
		const char *v[NCOLS(cols)] = {
			ps->dbname,
			ps->user,
			res_int(b[2], 24, sum.cl_active),
			res_int(b[3], 24, sum.cl_waiting),
			"0",
			"0",
			res_int(b[6], 24, node[0][0]),
			"0",
			"0",
			res_int(b[9], 24, node[0][1]),
			"0",
			"0",
			res_int(b[12], 24, node[0][2]),
			res_int(b[13], 24, (long long)(sum.maxwait_us / 1000000)),
			res_int(b[14], 24, (long long)(sum.maxwait_us % 1000000)),
			mode,
			pause_is_paused(ps->dbname) ? "1" : "0",
			res_int(b[17], 24, node[0][3]),
			res_int(b[18], 24, node[1][3]),
			res_int(b[19], 24, node[1][0]),
			res_int(b[20], 24, node[1][1]),
			res_int(b[21], 24, node[1][2]),
		};
		res_row(&r, v);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	res_complete(out, "SHOW");
}
