/* Admin console SHOW CLIENTS, SERVERS and LISTS: each worker describes its own connections, the console adds
   the parts up (connections belong to their worker's thread, so nobody else reads them). */
#include "admin_int.h"
#include "pool.h"
#include "client.h"
#include "conn.h"
#include "worker.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static const char *const client_cols[] = { "type", "user", "database", "replication", "state", "addr", "port",
                                           "local_addr", "local_port", "connect_time", "request_time", "wait",
                                           "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls",
                                           "application_name", "id", "worker", "node" };
#define CLIENT_COLS 22

static const char *const server_cols[] = { "type", "user", "database", "replication", "state", "addr", "port",
                                           "local_addr", "local_port", "connect_time", "request_time", "wait",
                                           "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls",
                                           "application_name", "id", "worker", "role" };
#define SERVER_COLS 22

static const char *const list_cols[] = { "list", "items" };

/* Address and port of one end of fd (peer or local) as text; "" when unknown. */
static void sock_addr(int fd, bool peer, char *addr, size_t an, char *port, size_t pn)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	addr[0] = port[0] = 0;
	int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) : getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (rc == 0)
		getnameinfo((struct sockaddr *)&ss, sl, addr, (socklen_t)an, port, (socklen_t)pn, NI_NUMERICHOST | NI_NUMERICSERV);
}

/* "TLSv1.3/TLS_AES_256_GCM_SHA384" or "" for a plain connection. */
static void tls_text(const struct conn *c, char *buf, size_t n)
{
	buf[0] = 0;
	if (c->tls)
		snprintf(buf, n, "%s/%s", SSL_get_version(c->tls), SSL_get_cipher_name(c->tls));
}

static const char *client_state_name(const struct client *cl)
{
	switch (cl->state) {
	case CL_LINKED: return "active";
	case CL_WAITING: case CL_RYW_WAIT: return "waiting";
	case CL_IDLE: return list_empty(&cl->wait_node) ? "idle" : "waiting";   /* parked by PAUSE */
	case CL_STARTUP: case CL_AUTH: case CL_LOGIN_WAIT: return "login";
	default: return "closed";
	}
}

/* One SHOW CLIENTS row for cl (worker w's thread). */
static int client_row(struct worker *w, const struct client *cl, struct iobuf **rows)
{
	char addr[64], port[16], laddr[64], lport[16], ct[40], rt[40], wait[24], wait_us[16], ptr[20], link[20];
	char pid[16], tls[96], id[16], wid[8], node[300] = "";
	sock_addr(cl->c.fd, true, addr, sizeof addr, port, sizeof port);
	sock_addr(cl->c.fd, false, laddr, sizeof laddr, lport, sizeof lport);
	tls_text(&cl->c, tls, sizeof tls);
	bool waits = cl->state == CL_WAITING || cl->state == CL_RYW_WAIT ||
	             (cl->state == CL_IDLE && !list_empty(&cl->wait_node));   /* parked by PAUSE */
	int64_t waited = waits ? w->now - cl->state_since : 0;
	snprintf(ptr, sizeof ptr, "%s", cl->c.prefix);
	if (cl->server) {
		snprintf(link, sizeof link, "%s", cl->server->c.prefix);
		snprintf(node, sizeof node, "%s:%d", cl->pool->host[cl->server->node], cl->pool->port[cl->server->node]);
	}
	const char *v[CLIENT_COLS] = {
		"C", cl->user, cl->dbname, "none", client_state_name(cl), addr, port, laddr, lport,
		res_time(ct, sizeof ct, cl->connect_time, w->now), res_time(rt, sizeof rt, cl->state_since, w->now),
		res_int(wait, sizeof wait, (long long)(waited / 1000000)), res_int(wait_us, sizeof wait_us, (long long)(waited % 1000000)),
		"0", ptr, cl->server ? link : NULL, res_int(pid, sizeof pid, 0), tls,
		params_get(&cl->params, "application_name"), res_uint(id, sizeof id, cl->c.id), res_int(wid, sizeof wid, w->id),
		cl->server ? node : NULL,
	};
	if (!v[18])
		v[18] = "";
	return res_encode_row(rows, v, CLIENT_COLS);
}

static const char *server_state_name(const struct server *sv)
{
	switch (sv->state) {
	case SV_ACTIVE: case SV_HELD: return "active";   /* held for its session's client, as PgBouncer shows it */
	case SV_IDLE: return "idle";
	case SV_RESET: return "tested";   /* running pgrouter's reset query, as PgBouncer's "tested" */
	case SV_CONNECTING: case SV_TLS: case SV_LOGIN: return "login";
	case SV_CLOSING: return "closing";
	default: return "closed";
	}
}

/* One SHOW SERVERS row for sv. */
static int server_row(struct worker *w, const struct server *sv, struct iobuf **rows)
{
	const struct pool *p = sv->pool;
	char port[16], laddr[64], lport[16], ct[40], rt[40], ptr[20], link[20], pid[16], tls[96], id[16], wid[8];
	char peer[64], peer_port[16];
	sock_addr(sv->c.fd, false, laddr, sizeof laddr, lport, sizeof lport);
	sock_addr(sv->c.fd, true, peer, sizeof peer, peer_port, sizeof peer_port);
	tls_text(&sv->c, tls, sizeof tls);
	snprintf(ptr, sizeof ptr, "%s", sv->c.prefix);
	if (sv->client)
		snprintf(link, sizeof link, "%s", sv->client->c.prefix);
	const char *app = sv->client ? params_get(&sv->client->params, "application_name") : NULL;
	const char *v[SERVER_COLS] = {
		"S", p->server_user, p->server_db, "none", server_state_name(sv), peer[0] ? peer : p->host[sv->node],
		res_int(port, sizeof port, p->port[sv->node]), laddr, lport, res_time(ct, sizeof ct, sv->connect_time, w->now),
		res_time(rt, sizeof rt, sv->last_used ? sv->last_used : sv->connect_time, w->now), "0", "0",
		sv->dirty ? "1" : "0", ptr, sv->client ? link : NULL, res_uint(pid, sizeof pid, sv->be_pid), tls,
		app ? app : "", res_uint(id, sizeof id, sv->c.id), res_int(wid, sizeof wid, w->id),
		sv->node == 0 ? "primary" : "replica",
	};
	return res_encode_row(rows, v, SERVER_COLS);
}

/* In worker w: rows for SHOW CLIENTS. */
static void gather_clients(struct worker *w, struct gather *g)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients) {
		const struct client *cl = list_entry(it, struct client, all_node);
		if (!cl->user || !cl->dbname)
			continue;   /* has not sent its startup packet yet */
		if (client_row(w, cl, &g->rows[w->id]) == 0)
			g->nrows[w->id]++;
	}
}

/* In worker w: rows for SHOW SERVERS. */
static void gather_servers(struct worker *w, struct gather *g)
{
	struct list *pit, *ptmp;
	list_for_each_safe(pit, ptmp, &w->pools) {
		struct pool *p = list_entry(pit, struct pool, node);
		for (int n = 0; n < MAX_NODES; n++) {
			struct list *lists[] = { &p->nodes[n].used, &p->nodes[n].idle, &p->nodes[n].pending, &p->nodes[n].closing };
			for (int l = 0; l < 4; l++) {
				struct list *it, *tmp;
				list_for_each_safe(it, tmp, lists[l]) {
					const struct server *sv = list_entry(it, struct server, pool_node);
					if (server_row(w, sv, &g->rows[w->id]) == 0)
						g->nrows[w->id]++;
				}
			}
		}
	}
}

/* In worker w: counts for SHOW LISTS (clients, clients logging in, server connections). */
static void gather_lists(struct worker *w, struct gather *g)
{
	int64_t *c = g->counts[w->id];
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients) {
		const struct client *cl = list_entry(it, struct client, all_node);
		c[0]++;
		c[1] += cl->state == CL_STARTUP || cl->state == CL_AUTH || cl->state == CL_LOGIN_WAIT;
	}
	list_for_each_safe(it, tmp, &w->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		for (int n = 0; n < MAX_NODES; n++)
			c[2] += p->nodes[n].n_idle + p->nodes[n].n_used + p->nodes[n].n_pending;
	}
}

/* The rows of every worker after the RowDescription. */
static void answer_rows(struct admin_op *op, struct client *cl, struct iobuf **out)
{
	struct gather *g = (struct gather *)op;
	struct result r;
	res_begin(&r, out, g->cols, g->ncols);
	for (int i = 0; i < g_shared.nworkers; i++)
		res_raw_rows(&r, g->rows[i], g->nrows[i]);
	res_complete(out, g->tag);
}

/* SHOW LISTS as PgBouncer's (list, items) rows. */
static void answer_lists(struct admin_op *op, struct client *cl, struct iobuf **out)
{
	struct gather *g = (struct gather *)op;
	int64_t sum[3] = { 0, 0, 0 };
	for (int i = 0; i < g_shared.nworkers; i++)
		for (int k = 0; k < 3; k++)
			sum[k] += g->counts[i][k];
	int npools = 0, nusers = 0;
	char users[64][64];
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools) {
		const struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		npools++;
		bool seen = false;
		for (int u = 0; u < nusers && !seen; u++)
			seen = strncmp(users[u], ps->user, sizeof users[u] - 1) == 0;
		if (!seen && nusers < 64)
			snprintf(users[nusers++], sizeof users[0], "%s", ps->user);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	const struct config *cfg = cl ? cl->c.w->cfg : NULL;
	const char *names[] = { "databases", "users", "pools", "free_clients", "used_clients", "login_clients",
	                        "free_servers", "used_servers" };
	long long vals[] = { cfg ? cfg->ndbs : 0, nusers, npools, 0, sum[0], sum[1], 0, sum[2] };
	struct result r;
	res_begin(&r, out, list_cols, 2);
	for (int i = 0; i < 8; i++) {
		char buf[24];
		const char *v[] = { names[i], res_int(buf, sizeof buf, vals[i]) };
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

void admin_show_conns(struct client *cl, const char *what, struct iobuf **out)
{
	struct gather *g = calloc(1, sizeof *g);
	if (!g) {
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	g->tag = "SHOW";
	g->op.ready = gather_ready;
	g->op.release = gather_release;
	g->op.answer = answer_rows;
	if (strcasecmp(what, "CLIENTS") == 0) {
		g->fn = gather_clients;
		g->cols = client_cols;
		g->ncols = CLIENT_COLS;
	} else if (strcasecmp(what, "SERVERS") == 0) {
		g->fn = gather_servers;
		g->cols = server_cols;
		g->ncols = SERVER_COLS;
	} else {
		g->fn = gather_lists;
		g->op.answer = answer_lists;
	}
	if (gather_start(g) < 0) {
		free(g);
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	admin_defer(cl, &g->op);
}
