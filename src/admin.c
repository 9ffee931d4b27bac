/* Admin console: the "pgrouter" (or "pgbouncer") database answers SHOW and control commands itself. */
#include "admin.h"
#include "client.h"
#include "conn.h"
#include "log.h"
#include "monitor.h"
#include "proto/cursor.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define OID_TEXT 25
#define OID_INT8 20

bool admin_is_console(const struct config *cfg, const char *dbname)
{
	if (strcmp(dbname, "pgrouter") != 0 && strcmp(dbname, "pgbouncer") != 0)
		return false;
	for (int i = 0; i < cfg->ndbs; i++)
		if (strcmp(cfg->dbs[i].name, dbname) == 0)
			return false;
	return true;
}

void admin_login(struct client *cl)
{
	const struct config *cfg = cl->c.w->cfg;
	bool admin = list_contains(cfg->admin_users, cl->user, false);
	bool stats = list_contains(cfg->stats_users, cl->user, false);
	if (!admin && !stats) {
		client_close(cl, "28000", "not allowed: the admin console is for admin_users and stats_users");
		return;
	}
	cl->is_admin = admin;
	cl->is_console = true;
	struct iobuf **out = conn_out(&cl->c);
	int err = msg_auth(out, 0, NULL, 0);
	err |= msg_param_status(out, "server_version", "15.0 (pgrouter)");
	err |= msg_param_status(out, "client_encoding", "UTF8");
	err |= msg_param_status(out, "server_encoding", "UTF8");
	err |= msg_param_status(out, "DateStyle", "ISO, MDY");
	err |= msg_param_status(out, "integer_datetimes", "on");
	err |= msg_param_status(out, "standard_conforming_strings", "on");
	err |= msg_backend_key(out, cl->cancel_pid, cl->cancel_key);
	err |= msg_ready(out, 'I');
	if (err) {
		client_close(cl, "53200", "out of memory");
		return;
	}
	cl->state = CL_IDLE;
	cl->c.phase = PHASE_READY;
	conn_flush_out(&cl->c);
	log_info(cl->c.prefix, "admin console login: user=%s (%s)", cl->user, admin ? "admin" : "stats");
}

/* --- result set builders --- */

struct result {
	struct iobuf **out;
	int ncols;
	int rows;
	int err;
};

/* RowDescription with the given column names (all text unless the name ends in '#': int8). */
static void begin_result(struct result *r, struct iobuf **out, const char *const *cols, int n)
{
	r->out = out;
	r->ncols = n;
	r->rows = 0;
	r->err = 0;
	int64_t off = msg_begin(out, 'T');
	r->err |= off < 0;
	r->err |= msg_put_u16(out, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		r->err |= msg_put_str(out, cols[i]);
		r->err |= msg_put_u32(out, 0) | msg_put_u16(out, 0) | msg_put_u32(out, OID_TEXT);
		r->err |= msg_put_u16(out, 0xffff) | msg_put_u32(out, 0xffffffff) | msg_put_u16(out, 0);
	}
	if (off >= 0)
		msg_end(*out, off);
}

/* One DataRow of n text values (NULL for SQL NULL). */
static void add_row(struct result *r, const char *const *vals)
{
	int64_t off = msg_begin(r->out, 'D');
	r->err |= off < 0;
	r->err |= msg_put_u16(r->out, (uint16_t)r->ncols);
	for (int i = 0; i < r->ncols; i++) {
		if (!vals[i]) {
			r->err |= msg_put_u32(r->out, 0xffffffff);
			continue;
		}
		uint32_t l = (uint32_t)strlen(vals[i]);
		r->err |= msg_put_u32(r->out, l) | msg_put_bytes(r->out, vals[i], l);
	}
	if (off >= 0)
		msg_end(*r->out, off);
	r->rows++;
}

/* CommandComplete with the tag. */
static void complete(struct iobuf **out, const char *tag)
{
	int64_t off = msg_begin(out, 'C');
	if (off >= 0 && msg_put_str(out, tag) == 0)
		msg_end(*out, off);
}

static void show_version(struct iobuf **out)
{
	static const char *const cols[] = { "version" };
	struct result r;
	begin_result(&r, out, cols, 1);
	const char *v[] = { "pgrouter 0.1.0" };
	add_row(&r, v);
	complete(out, "SHOW");
}

/* Why node i gets no reads now ("" when it does). */
static const char *rotation_reason(const struct mon_snapshot *s, int i, int64_t now, const struct config *cfg)
{
	const struct mon_node *n = &s->node[i];
	if (n->state == MS_DOWN)
		return "down";
	if (n->state == MS_UNKNOWN)
		return "unmonitored";
	if (n->role == MR_PRIMARY)
		return "primary";
	if (n->role == MR_FENCED)
		return "fenced";
	if (n->role != MR_REPLICA || n->behind_since < 0)
		return "lag unknown";
	if (!monitor_readable(s, i, 0, cfg->max_replica_lag, now))
		return "lag";
	return "";
}

/* SHOW NODES: every monitored node with its role, health, lag and what was routed to it. */
static void show_nodes(struct iobuf **out, const struct config *cfg)
{
	static const char *const cols[] = { "node", "role", "state", "timeline", "lag_bytes", "lag_seconds",
	                                    "replay_lsn", "in_rotation", "why_not", "reads", "writes", "errors",
	                                    "last_error" };
	struct result r;
	begin_result(&r, out, cols, 13);
	const struct mon_snapshot *s = monitor_snapshot();
	int64_t now = now_usec();
	for (int i = 0; s && i < s->nnodes; i++) {
		const struct mon_node *n = &s->node[i];
		uint64_t reads = 0, writes = 0, errors = 0;
		for (int w = 0; w < g_shared.nworkers; w++) {
			reads += atomic_load_explicit(&g_shared.workers[w].node_reads[i], memory_order_relaxed);
			writes += atomic_load_explicit(&g_shared.workers[w].node_writes[i], memory_order_relaxed);
			errors += atomic_load_explicit(&g_shared.workers[w].node_errors[i], memory_order_relaxed);
		}
		char name[160], tli[16], lb[24], ls[32], lsn[24], rd[24], wr[24], er[24];
		snprintf(name, sizeof name, "%s:%d", n->host, n->port);
		snprintf(tli, sizeof tli, "%u", n->timeline);
		snprintf(lb, sizeof lb, "%lld", (long long)n->lag_bytes);
		double lag = monitor_lag_now(s, i, now);
		snprintf(ls, sizeof ls, "%.3f", lag);
		snprintf(lsn, sizeof lsn, "%X/%X", (unsigned)(n->replay_lsn >> 32), (unsigned)n->replay_lsn);
		snprintf(rd, sizeof rd, "%llu", (unsigned long long)reads);
		snprintf(wr, sizeof wr, "%llu", (unsigned long long)writes);
		snprintf(er, sizeof er, "%llu", (unsigned long long)(errors + n->poll_errors));
		const char *why = rotation_reason(s, i, now, cfg);
		bool replica = n->role == MR_REPLICA;
		const char *v[] = { name, mon_role_name(n->role), mon_state_name(n->state), tli,
		                    replica && n->lag_bytes >= 0 ? lb : NULL, replica && lag >= 0 ? ls : NULL,
		                    n->replay_lsn ? lsn : NULL, why[0] ? "no" : "yes", why[0] ? why : NULL, rd, wr, er,
		                    n->error[0] ? n->error : NULL };
		add_row(&r, v);
	}
	complete(out, "SHOW");
}

/* SHOW DATABASES: one row per [databases] entry (never the password). */
static void show_databases(struct iobuf **out, const struct config *cfg)
{
	static const char *const cols[] = { "name", "host", "port", "database", "force_user", "pool_size",
	                                    "pool_mode", "replicas", "target" };
	struct result r;
	begin_result(&r, out, cols, 9);
	for (int i = 0; i < cfg->ndbs; i++) {
		const struct dbconf *d = &cfg->dbs[i];
		char port[16], ps[16], reps[512] = "";
		snprintf(port, sizeof port, "%d", d->nodes[0].port);
		snprintf(ps, sizeof ps, "%d", d->pool_size >= 0 ? d->pool_size : cfg->default_pool_size);
		for (int n = 1; n < d->nnodes; n++) {
			size_t l = strlen(reps);
			snprintf(reps + l, sizeof reps - l, "%s%s:%d@%d", n > 1 ? "," : "", d->nodes[n].host,
			         d->nodes[n].port, d->nodes[n].weight);
		}
		static const char *const targets[] = { "auto", "primary", "replica" };
		const char *v[] = { d->name, d->nodes[0].host, port, d->dbname ? d->dbname : d->name, d->user,
		                    ps, pool_mode_name(d->pool_mode >= 0 ? d->pool_mode : cfg->pool_mode), reps,
		                    targets[d->target >= 0 && d->target <= 2 ? d->target : 0] };
		add_row(&r, v);
	}
	complete(out, "SHOW");
}

/* SHOW POOLS: the numbers every worker published for each (database, user), added up. */
static void show_pools(struct iobuf **out)
{
	static const char *const cols[] = { "database", "user", "cl_active", "cl_waiting", "sv_active",
	                                    "sv_idle", "sv_login", "maxwait_us", "pool_mode" };
	struct result r;
	begin_result(&r, out, cols, 9);
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools) {
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		struct pool_stats sum = { 0 };
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
		char a[16], b[16], c[16], d[16], e[16], f[24];
		snprintf(a, sizeof a, "%d", sum.cl_active);
		snprintf(b, sizeof b, "%d", sum.cl_waiting);
		snprintf(c, sizeof c, "%d", sum.sv_active);
		snprintf(d, sizeof d, "%d", sum.sv_idle);
		snprintf(e, sizeof e, "%d", sum.sv_login);
		snprintf(f, sizeof f, "%lld", (long long)sum.maxwait_us);
		const struct dbconf *db = config_find_db(atomic_load(&g_shared.cfg), ps->dbname);
		const struct config *cfg = atomic_load(&g_shared.cfg);
		const char *mode = pool_mode_name(db && db->pool_mode >= 0 ? db->pool_mode : cfg->pool_mode);
		const char *v[] = { ps->dbname, ps->user, a, b, c, d, e, f, mode };
		add_row(&r, v);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	complete(out, "SHOW");
}

/* SHOW STATS: process-wide counters from every worker. */
static void show_stats(struct iobuf **out)
{
	static const char *const cols[] = { "name", "value" };
	struct result r;
	begin_result(&r, out, cols, 2);
	uint64_t q = 0, conns = 0, bad = 0, prim = 0, repl = 0, pinned = 0;
	for (int i = 0; i < g_shared.nworkers; i++) {
		const struct worker *w = &g_shared.workers[i];
		/* Counters only grow; a torn read on another core shows a slightly old value. */
		q += __atomic_load_n(&w->n_queries, __ATOMIC_RELAXED);
		conns += __atomic_load_n(&w->n_server_connects, __ATOMIC_RELAXED);
		bad += __atomic_load_n(&w->n_bad_input, __ATOMIC_RELAXED);
		prim += __atomic_load_n(&w->n_routed_primary, __ATOMIC_RELAXED);
		repl += __atomic_load_n(&w->n_routed_replica, __ATOMIC_RELAXED);
		pinned += __atomic_load_n(&w->n_pinned, __ATOMIC_RELAXED);
	}
	const char *names[] = { "queries", "server_connects", "protocol_errors", "routed_primary",
	                        "routed_replica", "sessions_pinned", "clients" };
	uint64_t vals[] = { q, conns, bad, prim, repl, pinned, (uint64_t)atomic_load(&g_shared.nclients) };
	for (int i = 0; i < 7; i++) {
		char buf[24];
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)vals[i]);
		const char *v[] = { names[i], buf };
		add_row(&r, v);
	}
	complete(out, "SHOW");
}

/* SHOW CONFIG: the settings as pgrouter uses them (no setting holds a secret). */
static void show_config(struct iobuf **out, const struct config *cfg)
{
	static const char *const cols[] = { "key", "value" };
	struct result r;
	begin_result(&r, out, cols, 2);
	char buf[64];
	struct { const char *k; const char *v; } rows[] = {
		{ "listen_addr", cfg->listen_addr }, { "pool_mode", pool_mode_name(cfg->pool_mode) },
		{ "auth_type", auth_type_name(cfg->auth_type) }, { "auth_file", cfg->auth_file },
		{ "admin_users", cfg->admin_users }, { "stats_users", cfg->stats_users },
		{ "server_reset_query", cfg->server_reset_query },
		{ "ignore_startup_parameters", cfg->ignore_startup_parameters },
		{ "track_extra_parameters", cfg->track_extra_parameters },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *v[] = { rows[i].k, rows[i].v ? rows[i].v : "" };
		add_row(&r, v);
	}
	struct { const char *k; long long v; } nums[] = {
		{ "listen_port", cfg->listen_port }, { "max_client_conn", cfg->max_client_conn },
		{ "default_pool_size", cfg->default_pool_size }, { "min_pool_size", cfg->min_pool_size },
		{ "reserve_pool_size", cfg->reserve_pool_size }, { "replica_pool_size", cfg->replica_pool_size },
		{ "workers", g_shared.nworkers },
		{ "query_wait_timeout_ms", (long long)(cfg->query_wait_timeout / 1000) },
		{ "server_idle_timeout_ms", (long long)(cfg->server_idle_timeout / 1000) },
		{ "server_lifetime_ms", (long long)(cfg->server_lifetime / 1000) },
		{ "client_login_timeout_ms", (long long)(cfg->client_login_timeout / 1000) },
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		snprintf(buf, sizeof buf, "%lld", nums[i].v);
		const char *v[] = { nums[i].k, buf };
		add_row(&r, v);
	}
	complete(out, "SHOW");
}

/* Normalise a command: trim, drop a trailing ';', collapse blanks, upper-case. */
static void normalise(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	bool space = true;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (isspace(ch) || ch == ';') {
			if (!space)
				out[o++] = ' ';
			space = true;
			continue;
		}
		out[o++] = (char)toupper(ch);
		space = false;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = 0;
}

/* Changing commands need admin_users. */
static bool require_admin(struct client *cl, struct iobuf **out)
{
	if (cl->is_admin)
		return true;
	msg_error(out, "ERROR", "42501", "permission denied: only admin_users may run this command");
	return false;
}

enum act admin_msg(struct client *cl, uint8_t type, uint32_t len, const uint8_t *body)
{
	if (type == 'X') {
		client_close(cl, NULL, NULL);
		return ACT_CLOSED;
	}
	if (type != 'Q') {
		client_close(cl, "08P01", "the admin console supports the simple query protocol only");
		return ACT_CLOSED;
	}
	if (!body)
		return ACT_NEED_FULL;
	struct cursor c = cur_make(body, len - 4);
	size_t ql;
	const char *q = cur_cstr(&c, &ql);
	char cmd[128];
	normalise(q ? q : "", q ? ql : 0, cmd, sizeof cmd);
	struct iobuf **out = conn_out(&cl->c);
	const struct config *cfg = cl->c.w->cfg;
	if (strcmp(cmd, "SHOW VERSION") == 0)
		show_version(out);
	else if (strcmp(cmd, "SHOW DATABASES") == 0)
		show_databases(out, cfg);
	else if (strcmp(cmd, "SHOW POOLS") == 0)
		show_pools(out);
	else if (strcmp(cmd, "SHOW STATS") == 0)
		show_stats(out);
	else if (strcmp(cmd, "SHOW CONFIG") == 0)
		show_config(out, cfg);
	else if (strcmp(cmd, "SHOW NODES") == 0)
		show_nodes(out, cfg);
	else if (strcmp(cmd, "RELOAD") == 0) {
		if (require_admin(cl, out)) {
			kill(getpid(), SIGHUP);   /* the main thread reloads, exactly as for the signal */
			complete(out, "RELOAD");
		}
	} else if (strcmp(cmd, "SHUTDOWN") == 0 || strcmp(cmd, "SHUTDOWN WAIT_FOR_CLIENTS") == 0) {
		if (require_admin(cl, out)) {
			log_info(cl->c.prefix, "%s requested by %s", cmd, cl->user);
			kill(getpid(), strcmp(cmd, "SHUTDOWN") == 0 ? SIGTERM : SIGINT);
			complete(out, "SHUTDOWN");
		}
	} else {
		char msg[200];
		snprintf(msg, sizeof msg, "unknown admin command '%.60s' (SHOW VERSION|DATABASES|POOLS|STATS|CONFIG|NODES, "
		         "RELOAD, SHUTDOWN [WAIT_FOR_CLIENTS])", cmd);
		msg_error(out, "ERROR", "42601", msg);
	}
	msg_ready(out, 'I');
	conn_flush_out(&cl->c);
	return cl->c.closing ? ACT_CLOSED : ACT_CONSUMED;
}
