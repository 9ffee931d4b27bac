/* Admin console SHOW CLIENTS, SERVERS, SOCKETS, LISTS and MEM: each worker describes its own connections, the
   console adds the parts up (connections belong to their worker's thread, so nobody else reads them). */
#include "admin/admin_int.h"
#include "pool/pool.h"
#include "frontend/client.h"
#include "io/conn.h"
#include "io/loop.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* PgBouncer's columns of SHOW CLIENTS, SERVERS and SOCKETS. */
#define CONN_COLS \
	COL_TEXT("type"), COL_TEXT("user"), COL_TEXT("database"), COL_TEXT("state"), COL_TEXT("addr"), \
	        COL_INT4("port"), COL_TEXT("local_addr"), COL_INT4("local_port"), COL_TEXT("connect_time"), \
	        COL_TEXT("request_time"), COL_INT4("wait"), COL_INT4("wait_us"), COL_INT4("close_needed"), \
	        COL_TEXT("ptr"), COL_TEXT("link"), COL_INT4("remote_pid"), COL_TEXT("tls"), \
	        COL_TEXT("application_name")
#define NCONN 18
/* pgrouter's columns after them: the connection id, its worker thread, and the server's node. */
#define CONN_OWN_COLS COL_INT8("id"), COL_INT4("worker"), COL_TEXT("node"), COL_TEXT("role")
#define NOWN 4
/* SHOW SOCKETS' buffer columns: bytes in pgrouter's input buffer, of the current message still to decide, and
   in its output buffer. */
#define BUF_COLS \
	COL_INT4("recv_pos"), COL_INT4("pkt_pos"), COL_INT4("pkt_remain"), COL_INT4("send_pos"), \
	        COL_INT4("send_remain"), COL_INT4("pkt_avail"), COL_INT4("send_avail")
#define NBUF 7

static const struct col conn_cols[] = { CONN_COLS, CONN_OWN_COLS };
static const struct col socket_cols[] = { CONN_COLS, BUF_COLS, CONN_OWN_COLS };
static const struct col list_cols[] = { COL_TEXT("list"), COL_INT4("items") };

/* Address and port of one end of fd (peer or local) as text; "" when unknown. */
static void sock_addr(int fd, bool peer, char *addr, size_t an, char *port, size_t pn)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	addr[0] = port[0] = 0;
	int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) : getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (rc == 0)
		getnameinfo((struct sockaddr *)&ss, sl, addr, (socklen_t)an, port, (socklen_t)pn,
		            NI_NUMERICHOST | NI_NUMERICSERV);
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
	case CL_WAITING:
	case CL_RYW_WAIT: return "waiting";
	case CL_IDLE: return list_empty(&cl->wait_node) ? "idle" : "waiting"; /* parked by PAUSE */
	case CL_STARTUP:
	case CL_AUTH:
	case CL_LOGIN_WAIT: return "login";
	default: return "closed";
	}
}

/* Encode one row: PgBouncer's values v (NCONN), c's buffer numbers when the row is for SOCKETS, then pgrouter's
   values own (NOWN); the state gets PgBouncer's SOCKETS prefix ("cl_" / "sv_") there. 0 or -1. */
static int emit_row(const struct conn *c, bool sockets, const char **v, const char *const *own, struct iobuf **rows)
{
	const char *all[NCONN + NBUF + NOWN];
	char state[32], buf[NBUF][16];
	int n = 0;
	for (int i = 0; i < NCONN; i++)
		all[n++] = v[i];
	if (sockets) {
		snprintf(state, sizeof state, "%s_%s", c->kind == 's' ? "sv" : "cl", v[3]);
		all[3] = state;
		uint32_t in = c->in ? (uint32_t)iobuf_len(c->in) : 0, out = c->out ? (uint32_t)iobuf_len(c->out) : 0;
		const long long nums[NBUF] = { in, 0, c->pkt_remain, 0, out, in, 0 };
		for (int i = 0; i < NBUF; i++)
			all[n++] = res_int(buf[i], sizeof buf[i], nums[i]);
	}
	for (int i = 0; i < NOWN; i++)
		all[n++] = own[i];
	return res_encode_row(rows, all, n);
}

/* One SHOW CLIENTS (or SOCKETS) row for cl (worker w's thread). */
static int client_row(struct worker *w, const struct client *cl, bool sockets, struct iobuf **rows)
{
	char addr[64], port[16], laddr[64], lport[16], ct[40], rt[40], wait[24], wait_us[16], ptr[20], link[20];
	char tls[96], id[16], wid[8], node[300] = "";
	sock_addr(cl->c.fd, true, addr, sizeof addr, port, sizeof port);
	sock_addr(cl->c.fd, false, laddr, sizeof laddr, lport, sizeof lport);
	tls_text(&cl->c, tls, sizeof tls);
	bool waits = cl->state == CL_WAITING || cl->state == CL_RYW_WAIT ||
	        (cl->state == CL_IDLE && !list_empty(&cl->wait_node)); /* parked by PAUSE */
	int64_t waited = waits ? w->now - cl->state_since : 0;
	snprintf(ptr, sizeof ptr, "%s", cl->c.prefix);
	const struct server *sv = cl->server;
	if (sv) {
		snprintf(link, sizeof link, "%s", sv->c.prefix);
		snprintf(node, sizeof node, "%s:%d", cl->pool->host[sv->node], cl->pool->port[sv->node]);
	}
	const char *app = params_get(&cl->params, "application_name");
	const char *v[NCONN] = {
		"C",
		cl->user,
		cl->dbname,
		client_state_name(cl),
		addr,
		port[0] ? port : NULL,
		laddr,
		lport[0] ? lport : NULL,
		res_time(ct, sizeof ct, cl->connect_time, w->now),
		res_time(rt, sizeof rt, cl->state_since, w->now),
		res_int(wait, sizeof wait, (long long)(waited / 1000000)),
		res_int(wait_us, sizeof wait_us, (long long)(waited % 1000000)),
		"0",
		ptr,
		sv ? link : NULL,
		"0",
		tls,
		app ? app : "",
	};
	const char *own[NOWN] = { res_uint(id, sizeof id, cl->c.id), res_int(wid, sizeof wid, w->id), sv ? node : NULL,
		                  sv ? (sv->node == cl->pool->primary ? "primary" : "replica") : NULL };
	return emit_row(&cl->c, sockets, v, own, rows);
}

static const char *server_state_name(const struct server *sv)
{
	switch (sv->state) {
	case SV_ACTIVE:
	case SV_HELD: return "active"; /* held for its session's client, as PgBouncer shows it */
	case SV_IDLE: return "idle";
	case SV_RESET: return "tested"; /* running pgrouter's reset query, as PgBouncer's "tested" */
	case SV_CONNECTING:
	case SV_TLS:
	case SV_LOGIN: return "login";
	case SV_CLOSING: return "closing";
	default: return "closed";
	}
}

/* One SHOW SERVERS (or SOCKETS) row for sv. */
static int server_row(struct worker *w, const struct server *sv, bool sockets, struct iobuf **rows)
{
	const struct pool *p = sv->pool;
	char port[16], laddr[64], lport[16], ct[40], rt[40], ptr[20], link[20], pid[16], tls[96], id[16], wid[8];
	char peer[64], peer_port[16], node[300];
	sock_addr(sv->c.fd, false, laddr, sizeof laddr, lport, sizeof lport);
	sock_addr(sv->c.fd, true, peer, sizeof peer, peer_port, sizeof peer_port);
	tls_text(&sv->c, tls, sizeof tls);
	snprintf(ptr, sizeof ptr, "%s", sv->c.prefix);
	snprintf(node, sizeof node, "%s:%d", p->host[sv->node], p->port[sv->node]);
	if (sv->client)
		snprintf(link, sizeof link, "%s", sv->client->c.prefix);
	const char *app = sv->client ? params_get(&sv->client->params, "application_name") : NULL;
	const char *v[NCONN] = {
		"S",
		p->server_user,
		p->server_db,
		server_state_name(sv),
		peer[0] ? peer : p->host[sv->node],
		res_int(port, sizeof port, p->port[sv->node]),
		laddr,
		lport[0] ? lport : NULL,
		res_time(ct, sizeof ct, sv->connect_time, w->now),
		res_time(rt, sizeof rt, sv->last_used ? sv->last_used : sv->connect_time, w->now),
		"0",
		"0",
		sv->dirty ? "1" : "0",
		ptr,
		sv->client ? link : NULL,
		res_uint(pid, sizeof pid, sv->be_pid),
		tls,
		app ? app : "",
	};
	const char *own[NOWN] = { res_uint(id, sizeof id, sv->c.id), res_int(wid, sizeof wid, w->id), node,
		                  sv->node == p->primary ? "primary" : "replica" };
	return emit_row(&sv->c, sockets, v, own, rows);
}

/* In worker w: rows of its clients (SHOW CLIENTS, SOCKETS). */
static void gather_clients(struct worker *w, struct gather *g)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients)
	{
		const struct client *cl = list_entry(it, struct client, all_node);
		if (!cl->user || !cl->dbname)
			continue; /* has not sent its startup packet yet */
		if (client_row(w, cl, g->cols == socket_cols, &g->rows[w->id]) == 0)
			g->nrows[w->id]++;
	}
}

/* In worker w: rows of its server connections (SHOW SERVERS, SOCKETS). */
static void gather_servers(struct worker *w, struct gather *g)
{
	struct list *pit, *ptmp;
	list_for_each_safe(pit, ptmp, &w->pools)
	{
		struct pool *p = list_entry(pit, struct pool, node);
		for (int n = 0; n < MAX_NODES; n++) {
			struct list *lists[] = { &p->nodes[n].used, &p->nodes[n].idle, &p->nodes[n].pending,
				                 &p->nodes[n].closing };
			for (int l = 0; l < 4; l++) {
				struct list *it, *tmp;
				list_for_each_safe(it, tmp, lists[l])
				{
					const struct server *sv = list_entry(it, struct server, pool_node);
					if (server_row(w, sv, g->cols == socket_cols, &g->rows[w->id]) == 0)
						g->nrows[w->id]++;
				}
			}
		}
	}
}

/* In worker w: rows of SHOW SOCKETS (clients, then server connections). */
static void gather_sockets(struct worker *w, struct gather *g)
{
	gather_clients(w, g);
	gather_servers(w, g);
}

/* In worker w: counts for SHOW LISTS and MEM (clients, clients logging in, server connections, pools). */
static void gather_lists(struct worker *w, struct gather *g)
{
	int64_t *c = g->counts[w->id];
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients)
	{
		const struct client *cl = list_entry(it, struct client, all_node);
		c[0]++;
		c[1] += cl->state == CL_STARTUP || cl->state == CL_AUTH || cl->state == CL_LOGIN_WAIT;
	}
	list_for_each_safe(it, tmp, &w->pools)
	{
		const struct pool *p = list_entry(it, struct pool, node);
		c[3]++;
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

/* The gathered counts of every worker added up (see gather_lists). */
static void count_sums(const struct gather *g, int64_t sum[4])
{
	memset(sum, 0, 4 * sizeof sum[0]);
	for (int i = 0; i < g_shared.nworkers; i++)
		for (int k = 0; k < 4; k++)
			sum[k] += g->counts[i][k];
}

/* SHOW MEM as PgBouncer's (name, size, used, free, memtotal) rows for the objects pgrouter allocates per
   connection and pool; it keeps no free lists of them (free is 0). */
static void answer_mem(struct admin_op *op, struct client *cl, struct iobuf **out)
{
	static const struct col cols[] = { COL_TEXT("name"), COL_INT4("size"), COL_INT4("used"), COL_INT4("free"),
		                           COL_INT4("memtotal") };
	int64_t sum[4];
	count_sums((struct gather *)op, sum);
	const char *names[] = { "client_cache", "server_cache", "pool_cache" };
	const long long size[] = { sizeof(struct client), sizeof(struct server), sizeof(struct pool) };
	const long long used[] = { sum[0], sum[2], sum[3] };
	struct result r;
	res_begin(&r, out, cols, NCOLS(cols));
	for (int i = 0; i < 3; i++) {
		char b[3][24];
		const char *v[] = { names[i], res_int(b[0], 24, size[i]), res_int(b[1], 24, used[i]), "0",
			            res_int(b[2], 24, size[i] * used[i]) };
		res_row(&r, v);
	}
	res_complete(out, "SHOW");
}

/* SHOW LISTS as PgBouncer's (list, items) rows (no DNS cache: its four rows are 0). */
static void answer_lists(struct admin_op *op, struct client *cl, struct iobuf **out)
{
	struct gather *g = (struct gather *)op;
	int64_t sum[4];
	count_sums(g, sum);
	int npools = 0, nusers = 0;
	char users[64][64];
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools)
	{
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
	const char *names[] = { "databases",    "users",         "pools",        "free_clients",
		                "used_clients", "login_clients", "free_servers", "used_servers",
		                "dns_names",    "dns_zones",     "dns_queries",  "dns_pending" };
	long long vals[] = { cfg ? cfg->ndbs : 0, nusers, npools, 0, sum[0], sum[1], 0, sum[2], 0, 0, 0, 0 };
	struct result r;
	res_begin(&r, out, list_cols, NCOLS(list_cols));
	for (int i = 0; i < NCOLS(names); i++) {
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
	g->cols = conn_cols;
	g->ncols = NCOLS(conn_cols);
	if (strcasecmp(what, "CLIENTS") == 0) {
		g->fn = gather_clients;
	} else if (strcasecmp(what, "SERVERS") == 0) {
		g->fn = gather_servers;
	} else if (strcasecmp(what, "SOCKETS") == 0) {
		g->fn = gather_sockets;
		g->cols = socket_cols;
		g->ncols = NCOLS(socket_cols);
	} else {
		g->fn = gather_lists;
		g->op.answer = strcasecmp(what, "MEM") == 0 ? answer_mem : answer_lists;
	}
	if (gather_start(g) < 0) {
		free(g);
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	admin_defer(cl, &g->op);
}
