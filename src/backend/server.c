/* Server connection state machine: connect, log in to PostgreSQL, forward results, reset. */
#include "backend/server.h"
#include "io/conn.h"
#include "base/log.h"
#include "cluster/monitor.h"
#include "io/net.h"
#include "cluster/ryw_store.h"
#include "proto/cursor.h"
#include "auth/scram.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct conn_ops server_ops;
static void send_startup(struct server *sv);
static const struct server_link_ops *sv_link; /* the session layer's, registered at startup */

void server_set_link_ops(const struct server_link_ops *ops)
{
	sv_link = ops;
}

#define SV(c) container_of(c, struct server, c)

bool server_between_transactions(const struct server *sv)
{
	return sv->expect_z == 0 && sv->skip_z == 0 && sv->tx_status == 'I' && !sv->unsynced && !sv->c.closing &&
	        !sv->ryw.asking && !sv->ryw.pipelined;
}

bool server_is_clean(const struct server *sv)
{
	/* Both directions at a message boundary: a client message cut short would be read by the backend
	   as the start of whatever the next user of this connection sends. */
	const struct conn *peer = sv->c.peer;
	return server_between_transactions(sv) && sv->c.pkt_remain == 0 && sv->c.pending == 0 &&
	        (!peer || (peer->pkt_remain == 0 && peer->pending == 0));
}

static void server_destroy(struct conn *c)
{
	struct server *sv = SV(c);
	ryw_store_detach(sv->ryw.store_req);
	params_clear(&sv->params);
	params_clear(&sv->extra);
	sv_link->freed(sv);
	free(sv->held);
	free(sv);
}

struct server *server_connect(struct worker *w, struct pool *p, int node, const struct server_events *ev, char *err,
                              size_t errlen)
{
	struct server_dest d;
	ev->dest(p, node, &d);
	struct server *sv = calloc(1, sizeof *sv);
	int e = 0;
	int fd = sv ? net_connect(d.host, d.port, &e) : -1;
	if (fd < 0) {
		free(sv);
		snprintf(err, errlen, "connect to %s:%d failed: %s", d.host, d.port, e ? strerror(e) : "out of memory");
		return NULL;
	}
	err[0] = 0;
	net_tune(fd, w->cfg);
	conn_init(&sv->c, w, fd, &server_ops, 's');
	sv->c.destroy = server_destroy;
	sv->pool = p;
	sv->ev = ev;
	sv->node = node;
	sv->counted = true;
	sv->state = SV_CONNECTING;
	sv->connect_time = sv->state_since = sv->last_used = w->now;
	sv->tx_status = 'I';
	list_init(&sv->pool_node);
	list_init(&sv->cancels);
	ev->move(sv, SL_PENDING);
	w->n_server_connects++;
	if (conn_start(&sv->c) < 0) {
		server_close(sv, "cannot register event");
		return NULL;
	}
	log_debug(sv->c.prefix, "connecting to %s:%d for %s/%s", d.host, d.port, d.dbname, d.user);
	return sv;
}

/* The SCRAM exchange's secrets are wiped once the login is over, whichever way it ended. */
static void drop_scram(struct server *sv)
{
	if (sv->scram) {
		scram_client_wipe(sv->scram);
		free(sv->scram);
		sv->scram = NULL;
	}
}

void server_close(struct server *sv, const char *reason)
{
	if (sv->c.closing)
		return;
	if (sv->state == SV_CLOSING) {
		/* The backend has gone (or will not): now the slot is free. */
		conn_close(&sv->c);
		sv->ev->gone(sv);
		return;
	}
	struct client *cl = sv->client;
	if (sv->holder) {
		sv_link->home_lost(sv->holder); /* its client takes another primary connection when it needs one */
		sv->holder = NULL;
	}
	bool was_login = sv->state == SV_CONNECTING || sv->state == SV_TLS || sv->state == SV_LOGIN;
	sv_link->forget(sv); /* while its client (whose names it may have changed) is still here */
	drop_scram(sv);
	sv->state = SV_CLOSED;
	if (cl) {
		/* Part of a message already went out: an ErrorResponse now would be read as its rest. */
		bool mid_message = sv->c.pkt_remain && sv->c.pkt_action == ACT_SEND;
		/* After the server's own FATAL (pg_terminate_backend, shutdown) a second error would hide its SQLSTATE. */
		mid_message |= sv->fatal_sent;
		sv->client = NULL;
		conn_unlink(&sv->c);
		char msg[200];
		snprintf(msg, sizeof msg, "server connection lost: %s", reason);
		sv_link->client_lost(cl, mid_message ? NULL : "08006", mid_message ? NULL : msg);
	}
	server_detach_cancels(sv);
	log_debug(sv->c.prefix, "closing server connection: %s", reason);
	if (!was_login && !sv->c.eof && sv->c.fd >= 0 && conn_can_inject(&sv->c) && !cl &&
	    atomic_load(&g_shared.shutdown) != 2 && msg_terminate(conn_out(&sv->c)) == 0 && conn_flush_out(&sv->c)) {
		/* A polite Terminate, and the slot stays taken until the backend has really exited: otherwise
		   the pool's limit could be exceeded on the server for a moment. */
		sv->state = SV_CLOSING;
		sv->state_since = sv->c.w->now;
		sv->ev->move(sv, SL_CLOSING);
		return;
	}
	conn_close(&sv->c);
	sv->ev->gone(sv);
}

/* Messages while logging in: authentication, parameters, key, and the first ReadyForQuery. */
static enum act login_msg(struct server *sv, struct be_msg *m)
{
	if (!m->body)
		return ACT_NEED_FULL;
	uint32_t n = m->len - 4;
	struct cursor cur = cur_make(m->body, n);
	switch (m->type) {
	case 'R':
		if (server_auth(sv, m->body, n) < 0)
			return sv->c.closing ? ACT_CLOSED
			                     : (server_close(sv, "bad authentication request"), ACT_CLOSED);
		conn_flush_out(&sv->c);
		return ACT_CONSUMED;
	case 'S':
		if (m->name)
			params_set(&sv->params, m->name, m->value);
		return ACT_CONSUMED;
	case 'K':
		sv->be_pid = cur_u32(&cur);
		sv->be_key = cur_u32(&cur);
		return ACT_CONSUMED;
	case 'Z':
		sv->tx_status = m->status;
		sv->state = SV_IDLE;
		drop_scram(sv);
		sv->ev->logged_in(sv); /* the pool publishes its parameters and hands it out */
		return sv->c.closing ? ACT_CLOSED : ACT_CONSUMED;
	case 'E': {
		const struct pg_error *e;
		(void)be_msg_error(m, &e);
		char text[300];
		snprintf(text, sizeof text, "%s", e->message ? e->message : "server login failed");
		log_warn(sv->c.prefix, "server login failed: %s (%s)", text, e->sqlstate ? e->sqlstate : "?");
		sv->ev->login_failed(sv, e->sqlstate ? e->sqlstate : "08006", text, true);
		server_close(sv, "login failed");
		return ACT_CLOSED;
	}
	case 'N':
	case 'v': return ACT_CONSUMED;
	default: server_close(sv, "unexpected message during login"); return ACT_CLOSED;
	}
}

/* The end of pgrouter's own queries (their last ReadyForQuery): the linked client's session or the pool goes on. */
static enum act own_query_done(struct server *sv)
{
	if (sv->client && sv_link->own_done(sv))
		return sv->c.closing ? ACT_CLOSED : ACT_CONSUMED;
	if (sv->state == SV_RESET && !sv->client) {
		if (sv->tx_status != 'I') {
			server_close(sv, "reset query left a transaction open");
			return ACT_CLOSED;
		}
		if (sv->cancels_inflight > 0) {
			sv->release_when_cancelled = true;
			return ACT_CONSUMED;
		}
		sv->ev->ready(sv);
		return sv->c.closing ? ACT_CLOSED : ACT_CONSUMED;
	}
	return ACT_CONSUMED;
}

/* Responses to pgrouter's own queries (settings, reset): swallowed; ParameterStatus still tracked. */
static enum act own_query_msg(struct server *sv, struct be_msg *m)
{
	if (m->type != 'Z' && m->type != 'S' && m->type != 'E')
		return ACT_SKIP;
	if (!m->body)
		return ACT_NEED_FULL;
	if (sv->c.pending)
		return ACT_FLUSH_FIRST;
	if (m->type == 'S') {
		if (m->name) {
			params_set(&sv->params, m->name, m->value);
			/* Our SET was the client's wish; the server's spelling of it ("ISO, MDY") is what it now has. */
			const char *canon = param_canonical(m->name);
			if (sv->client && canon)
				sv_link->own_param(sv, canon, m->value);
		}
		return ACT_CONSUMED;
	}
	if (m->type == 'E') {
		const struct pg_error *e;
		(void)be_msg_error(m, &e);
		log_warn(sv->c.prefix, "pgrouter's own query failed: %s (%s)", e->message ? e->message : "?",
		         e->sqlstate ? e->sqlstate : "?");
		sv->pinned = true; /* what it has is no longer what pgrouter thinks: reset it after this client */
		if (sv->client)
			sv_link->own_error(sv, e); /* a login probe's refusal, or a notice to the client */
		return ACT_CONSUMED;
	}
	sv->tx_status = m->status;
	sv->skip_z--;
	return sv->skip_z == 0 ? own_query_done(sv) : ACT_CONSUMED;
}

/* Messages from a server nobody is using: settings changes, notices, or a FATAL before it closes. */
static enum act idle_msg(struct server *sv, struct be_msg *m)
{
	if (!m->body)
		return ACT_NEED_FULL;
	switch (m->type) {
	case 'S':
		if (m->name)
			params_set(&sv->params, m->name, m->value);
		return ACT_CONSUMED;
	case 'N':
	case 'A': return ACT_CONSUMED;
	case 'E': {
		const struct pg_error *e;
		(void)be_msg_error(m, &e);
		log_info(sv->c.prefix, "idle server sent an error: %s", e->message ? e->message : "?");
		sv->dirty = true;
		return ACT_CONSUMED;
	}
	default: server_close(sv, "unexpected message from idle server"); return ACT_CLOSED;
	}
}

/* Each message is decoded once, here, into the server's one message record; the state decides who reads it. */
static enum act server_on_msg(struct conn *c, uint8_t type, uint32_t len, const uint8_t *body)
{
	struct server *sv = SV(c);
	struct be_msg *m = &sv->msg;
	be_msg_decode(m, type, len, body, c->nmsg + 1);
	switch (sv->state) {
	case SV_LOGIN: return login_msg(sv, m);
	case SV_ACTIVE:
		if (sv->ryw.asking)
			return sv_link->on_ryw_msg(sv, m);
		if (sv->skip_z > 0)
			return own_query_msg(sv, m);
		return sv_link->on_msg(sv, m);
	case SV_RESET:
		if (sv->skip_z > 0)
			return own_query_msg(sv, m);
		return idle_msg(sv, m);
	case SV_HELD:
	case SV_IDLE: return idle_msg(sv, m);
	case SV_CLOSING: return ACT_SKIP;
	case SV_CONNECTING:
	case SV_TLS:
	case SV_CLOSED: server_close(sv, "data in an unexpected state"); return ACT_CLOSED;
	default:
		log_error(c->prefix, "BUG: server in unknown state %d", (int)sv->state);
		server_close(sv, "internal error");
		return ACT_CLOSED;
	}
}

void server_ryw_stored(struct server *sv)
{
	bool paused = sv->c.paused;
	sv_link->ryw_stored(sv);
	if (paused && !sv->c.closing)
		conn_resume(&sv->c); /* what arrived behind the held ReadyForQuery (pipelined answers, notices) */
}

/* The message marked ACT_SEND_LAST reached the client: its session decides whether the server goes back. */
static void server_after_last(struct conn *c)
{
	if (SV(c)->client)
		sv_link->after_last(SV(c));
}

void server_release_home(struct server *sv)
{
	if (!sv)
		return;
	sv->holder = NULL;
	server_release(sv);
}

void server_release(struct server *sv)
{
	const struct config *cfg = sv->c.w->cfg;
	int mode = sv->ev->release_mode(sv);
	sv->state = SV_RESET;
	sv->state_since = sv->c.w->now;
	sv_link->unlinked(sv);
	if (!sv_link->release_ok(sv))
		sv->dirty = true;
	if (sv->pinned && !cfg->server_reset_query[0]) {
		server_close(sv, "session state left by a pinned client and no server_reset_query");
		return;
	}
	if (cfg->server_reset_query[0] && (mode == POOL_SESSION || cfg->server_reset_query_always || sv->pinned) &&
	    !sv->dirty && conn_can_inject(&sv->c)) {
		if (msg_query(conn_out(&sv->c), cfg->server_reset_query) == 0) {
			sv->skip_z++;
			sv_link->reset(sv, cfg->server_reset_query);
			sv->pinned = false;
			/* DISCARD ALL and RESET ALL drop every setting: forget what we SET. */
			params_clear(&sv->extra);
			conn_flush_out(&sv->c);
			return;
		}
	}
	if (sv->cancels_inflight > 0) {
		sv->release_when_cancelled = true;
		return;
	}
	sv->ev->ready(sv);
}

void server_lost(struct server *sv, const char *why)
{
	if (sv->state == SV_ACTIVE && sv->client)
		sv_link->lost(sv, why);
	else
		server_close(sv, why);
}

void server_client_gone(struct server *sv)
{
	bool clean = server_is_clean(sv); /* before unlinking: it looks at the client's side too */
	if (!clean)
		sv_link->forget(sv); /* the client's names go with it; the server is closed below */
	conn_unlink(&sv->c);
	sv->client = NULL;
	sv_link->unlinked(sv);
	if (clean) {
		server_release(sv);
		return;
	}
	/* A statement still running (perhaps waiting on a lock) would go on after its client: cancel it, so
	   the backend reads the Terminate behind it at once. */
	if (sv->state == SV_ACTIVE && (sv->expect_z > 0 || sv->unsynced) && sv->be_pid)
		server_cancel(sv);
	server_close(sv, "client disconnected with work in progress");
}

static void server_on_eof(struct conn *c, const char *why)
{
	struct server *sv = SV(c);
	if (sv->state == SV_ACTIVE && sv->client) {
		server_lost(sv, why); /* a read lost with its node is re-run elsewhere; otherwise the client fails */
		return;
	}
	if (sv->state == SV_CONNECTING || sv->state == SV_TLS || sv->state == SV_LOGIN) {
		struct server_dest d;
		sv->ev->dest(sv->pool, sv->node, &d);
		char msg[200];
		snprintf(msg, sizeof msg, "server %s:%d closed the connection during login (%s)", d.host, d.port, why);
		sv->ev->login_failed(sv, "08006", msg, false);
	}
	server_close(sv, why);
}

static void server_on_bad_input(struct conn *c, const char *why, const uint8_t *excerpt, size_t n)
{
	char buf[80];
	log_sanitize(buf, sizeof buf, excerpt, n);
	log_error(c->prefix, "protocol error from server: %s (bytes: %s)", why, buf);
	server_close(SV(c), why);
}

/* A failure before login completed: tell the pool (and its waiting clients), then close. */
static void login_failed(struct server *sv, const char *sqlstate, const char *msg)
{
	log_warn(sv->c.prefix, "%s", msg);
	sv->ev->login_failed(sv, sqlstate, msg, false);
	server_close(sv, msg);
}

/* The connect completed (or failed): send the startup packet. */
static void server_on_writable(struct conn *c)
{
	struct server *sv = SV(c);
	if (sv->state != SV_CONNECTING)
		return;
	int err = 0;
	socklen_t el = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err) {
		struct server_dest d;
		sv->ev->dest(sv->pool, sv->node, &d);
		char msg[200];
		snprintf(msg, sizeof msg, "connect to %s:%d failed: %s", d.host, d.port, strerror(err));
		login_failed(sv, "08006", msg);
		return;
	}
	if (c->w->cfg->server_tls_ctx) {
		/* Ask for TLS first; the one-byte answer is read in byte phase. */
		int64_t off = msg_begin(conn_out(c), 0);
		if (off < 0 || msg_put_u32(conn_out(c), PROTO_SSL_CODE) < 0) {
			server_close(sv, "out of memory");
			return;
		}
		msg_end(c->out, off);
		c->byte_phase = true;
		sv->state = SV_TLS;
		return;
	}
	send_startup(sv);
}

/* The startup packet: the pool's server user and database plus the entry's fixed settings. */
static void send_startup(struct server *sv)
{
	struct server_dest d;
	sv->ev->dest(sv->pool, sv->node, &d);
	struct conn *c = &sv->c;
	const char *names[8], *values[8];
	int n = 0;
	names[n] = "user", values[n++] = d.server_user;
	names[n] = "database", values[n++] = d.server_db;
	uint32_t pos = 0;
	const char *pn, *pv;
	while (n < 8 && params_next(d.startup_extra, &pos, &pn, &pv))
		names[n] = pn, values[n++] = pv;
	if (msg_startup(conn_out(c), names, values, n) < 0) {
		server_close(sv, "out of memory");
		return;
	}
	sv->state = SV_LOGIN;
	conn_flush_out(c);
}

/* The server's answer to SSLRequest. */
static enum act server_on_byte(struct conn *c, const uint8_t *b, uint32_t n)
{
	struct server *sv = SV(c);
	const struct config *cfg = c->w->cfg;
	c->byte_phase = false;
	if (iobuf_len(c->in)) {
		/* Bytes after the answer would be injected into the session (CVE-2021-23222 class). */
		login_failed(sv, "08P01", "server sent unencrypted data after its SSL answer");
		return ACT_CLOSED;
	}
	if (b[0] == 'S') {
		bool full = cfg->server_tls_sslmode == TLS_VERIFY_FULL;
		struct server_dest d;
		sv->ev->dest(sv->pool, sv->node, &d);
		if (conn_start_tls(c, cfg->server_tls_ctx, false, d.host, full) < 0) {
			login_failed(sv, "08006", "cannot start TLS toward server");
			return ACT_CLOSED;
		}
		return ACT_CONSUMED;
	}
	if (b[0] == 'N' && cfg->server_tls_sslmode < TLS_REQUIRE) {
		send_startup(sv);
		return c->closing ? ACT_CLOSED : ACT_CONSUMED;
	}
	login_failed(sv, "08006",
	             b[0] == 'N' ? "server does not support TLS but server_tls_sslmode requires it"
	                         : "unexpected answer to SSLRequest");
	return ACT_CLOSED;
}

static void server_tls_done(struct conn *c, const char *err)
{
	struct server *sv = SV(c);
	if (err) {
		struct server_dest d;
		sv->ev->dest(sv->pool, sv->node, &d);
		char msg[300];
		snprintf(msg, sizeof msg, "TLS to server %s:%d failed: %s", d.host, d.port, err);
		login_failed(sv, "08006", msg);
		return;
	}
	send_startup(sv);
}

static const struct conn_ops server_ops = {
	.on_msg = server_on_msg,
	.on_startup = server_on_byte,
	.on_tls_done = server_tls_done,
	.after_last = server_after_last,
	.on_eof = server_on_eof,
	.on_bad_input = server_on_bad_input,
	.on_writable = server_on_writable,
	.dir = FROM_SERVER,
};

/* Append text as an E'' literal. */
static int append_literal(struct iobuf **b, const char *text)
{
	if (iobuf_append(b, "E'", 2) < 0)
		return -1;
	for (const char *p = text; *p; p++) {
		if ((*p == '\'' || *p == '\\') && iobuf_append(b, "\\", 1) < 0)
			return -1;
		if (iobuf_append(b, p, 1) < 0)
			return -1;
	}
	return iobuf_append(b, "'", 1);
}

/* Append the statement that gives the session name = value: "SET name TO E'value';", the client's own SQL
   for a PARAM_RAW value, set_config() for a PARAM_GUC one. */
static int append_set(struct iobuf **b, const char *name, const char *value)
{
	if (value[0] == PARAM_GUC) {
		static const char fn[] = "SELECT pg_catalog.set_config(";
		return iobuf_append(b, fn, sizeof fn - 1) | append_literal(b, name) | iobuf_append(b, ", ", 2) |
		        append_literal(b, value + 1) | iobuf_append(b, ", false);", 9);
	}
	if (iobuf_append(b, "SET ", 4) < 0 || iobuf_append(b, name, (uint32_t)strlen(name)) < 0)
		return -1;
	if (value[0] == PARAM_RAW)
		return iobuf_append(b, " TO ", 4) | iobuf_append(b, value + 1, (uint32_t)strlen(value + 1)) |
		        iobuf_append(b, ";", 1);
	return iobuf_append(b, " TO ", 4) | append_literal(b, value) | iobuf_append(b, ";", 1);
}

void server_sync_params(struct server *sv, const struct params *wanted, struct tracked_view *wanted_view,
                        const struct params *welcome, bool all)
{
	/* Usually nothing differs, and this server had these very settings checked before: three numbers say so. */
	if (!all && wanted_view->version == wanted->version + 1 && wanted_view->gen == sv->synced_gen &&
	    sv->params.version == sv->synced_params && sv->extra.version == sv->synced_extra)
		return;
	struct iobuf *sql = NULL;
	/* Else compare the cached tracked values before looking closer. */
	params_view(wanted_view, wanted, welcome, sv->c.w->param_values);
	params_view(&sv->view, &sv->params, NULL, sv->c.w->param_values);
	if (!all && !wanted_view->has_extra && sv->extra.len == 0 && params_view_equal(wanted_view, &sv->view)) {
		sv->synced_gen = wanted_view->gen;
		sv->synced_params = sv->params.version;
		sv->synced_extra = sv->extra.version;
		return;
	}
	int err = 0;
	uint32_t pos = 0;
	const char *name, *value;
	/* Reported settings: what the client has (or the pool default) versus what the backend has now. */
	while (params_next(welcome, &pos, &name, &value)) {
		if (!param_is_tracked(name))
			continue;
		const char *want = params_get(wanted, name);
		const char *have = params_get(&sv->params, name);
		if (!want)
			want = value;
		if (!have || strcmp(want, have) != 0 || (all && params_get(wanted, name)))
			err |= append_set(&sql, name, want);
	}
	/* Other settings from the client's startup packet are tracked by pgrouter itself. */
	pos = 0;
	while (params_next(wanted, &pos, &name, &value)) {
		if (param_is_tracked(name))
			continue;
		const char *have = params_get(&sv->extra, name);
		if (!have || strcmp(have, value) != 0 || all) {
			err |= append_set(&sql, name, value);
			params_set(&sv->extra, name, value);
		}
	}
	pos = 0;
	while (params_next(&sv->extra, &pos, &name, &value)) {
		if (params_get(wanted, name))
			continue;
		err |= iobuf_append(&sql, "RESET ", 6) | iobuf_append(&sql, name, (uint32_t)strlen(name)) |
		        iobuf_append(&sql, ";", 1);
		params_unset(&sv->extra, name);
		pos = 0; /* the set shrank: restart */
	}
	if (sql && !err && iobuf_append(&sql, "", 1) == 0 && msg_query(conn_out(&sv->c), (char *)sql->data) == 0) {
		sv->skip_z++;
		log_debug(sv->c.prefix, "restoring settings: %s", (char *)sql->data);
	} else if (sql || err) {
		/* Out of memory: sv->extra already says these settings were made, and the backend never got them.
		   Never hand this connection to anyone after this client. */
		sv->dirty = true;
	}
	free(sql);
}
