/* Client connection state machine: startup, authentication, login; a logged-in client's messages go to its target. */
#include "frontend/client.h"
#include "auth/authfile.h"
#include "frontend/clientauth.h"
#include "io/conn.h"
#include "base/log.h"
#include "frontend/client_metrics.h"
#include "cluster/monitor.h"
#include "io/net.h"
#include "frontend/client_pause.h"
#include "pool/pool.h"
#include "proto/cursor.h"
#include "proto/options.h"
#include "sql/classify.h"
#include "backend/server.h"
#include "io/tls.h"
#include "io/loop.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CL(c) container_of(c, struct client, c)

static const struct conn_ops client_ops;

/* Registered once at startup, before any worker runs: read-only afterwards. */
static const struct client_target *session_target, *console_target;

void client_set_targets(const struct client_target *session, const struct client_target *console)
{
	session_target = session;
	console_target = console;
}

void client_move(struct client *cl, enum client_state state, struct list *onto, int64_t since)
{
	pool_dequeue(&cl->wait); /* with a pool queue's counts when it leaves one */
	list_del(&cl->wait_node); /* off a parking list (PAUSE, read-your-writes, catalog) */
	cl->state = state;
	cl->state_since = since;
	if (onto)
		list_append(onto, &cl->wait_node);
}

void client_set_state(struct client *cl, enum client_state state)
{
	client_move(cl, state, NULL, cl->c.w->now);
}

struct server *client_unlink(struct client *cl)
{
	struct server *sv = cl->server;
	conn_unlink(&cl->c);
	sv->client = NULL;
	cl->server = NULL;
	client_set_state(cl, CL_IDLE);
	return sv;
}

int client_pool_mode(const struct client *cl)
{
	return cl->pool ? cl->pool->pool_mode : POOL_SESSION;
}

static void client_destroy(struct conn *c)
{
	struct client *cl = CL(c);
	clientauth_free(cl);
	cl->target->on_free(cl);
	free(cl->retry);
	params_clear(&cl->params);
	params_clear(&cl->startup);
	free(cl->probe_msg);
	free(cl->held_cls);
	free(cl->user);
	free(cl->dbname);
	free(cl);
}

#define CONSOLE_EXTRA 16 /* console logins allowed past max_client_conn */
#define LOGIN_DROP_WARN_USEC 10000000

/* This worker's share of max_pending_logins: the kernel spreads connections over the workers' listeners. */
static int login_share(const struct worker *w)
{
	int64_t n = g_shared.nworkers > 0 ? g_shared.nworkers : 1;
	return (int)(((int64_t)w->cfg->max_pending_logins + n - 1) / n);
}

/* Make room for one more login in progress: the oldest connections that have not authenticated go first,
   so that silent or slow connections cannot keep anyone out for client_login_timeout. */
static void make_room_for_login(struct worker *w)
{
	int share = login_share(w);
	uint64_t before = w->n_logins_dropped;
	while (w->n_logins >= share && !list_empty(&w->logins)) {
		w->n_logins_dropped++;
		client_close(list_entry(w->logins.next, struct client, login_node), NULL, NULL);
	}
	if (w->n_logins_dropped != before && w->now - w->logins_warned > LOGIN_DROP_WARN_USEC) {
		w->logins_warned = w->now;
		log_warn(NULL,
		         "max_pending_logins = %d reached: closed the oldest connections that had not logged in "
		         "(%llu so far in this worker)",
		         w->cfg->max_pending_logins, (unsigned long long)w->n_logins_dropped);
	}
}

/* The client has authenticated (or is closing): it no longer counts as a login in progress. */
static void login_over(struct client *cl)
{
	if (!cl->logging_in)
		return;
	cl->logging_in = false;
	list_del(&cl->login_node);
	cl->c.w->n_logins--;
}

/* Could a client (console or not) find a max_client_conn slot now? Checked before authentication. */
static bool client_slot_free(const struct config *cfg, bool console)
{
	return atomic_load(&g_shared.nclients) < (int64_t)cfg->max_client_conn + (console ? CONSOLE_EXTRA : 0);
}

/* Take a max_client_conn slot for an authenticated client; false when none is left. */
static bool take_client_slot(struct client *cl, bool console)
{
	int64_t limit = (int64_t)cl->c.w->cfg->max_client_conn + (console ? CONSOLE_EXTRA : 0);
	if (atomic_fetch_add(&g_shared.nclients, 1) + 1 > limit) {
		atomic_fetch_sub(&g_shared.nclients, 1);
		return false;
	}
	cl->counted = true;
	return true;
}

void client_accept(struct worker *w, int fd)
{
	make_room_for_login(w);
	struct client *cl = calloc(1, sizeof *cl);
	if (!cl) {
		close(fd);
		return;
	}
	net_tune(fd, w->cfg);
	conn_init(&cl->c, w, fd, &client_ops, 'c');
	cl->c.destroy = client_destroy;
	cl->c.startup_phase = true;
	cl->c.phase = PHASE_PREAUTH;
	cl->target = session_target; /* until a login chooses the console */
	cl->connect_time = w->now;
	list_init(&cl->wait_node);
	list_init(&cl->wait.node);
	client_set_state(cl, CL_STARTUP);
	list_append(&w->clients, &cl->all_node);
	w->n_clients++;
	list_append(&w->logins, &cl->login_node);
	cl->logging_in = true;
	w->n_logins++;
	if (conn_start(&cl->c) < 0)
		client_close(cl, NULL, NULL);
}

void client_close(struct client *cl, const char *sqlstate, const char *msg)
{
	if (cl->c.closing)
		return;
	struct worker *w = cl->c.w;
	if (msg) {
		conn_send_error(&cl->c, "FATAL", sqlstate, msg);
		if (w->cfg->log_pooler_errors)
			log_info(cl->c.prefix, "closing client: %s", msg);
	}
	pool_dequeue(&cl->wait);
	list_del(&cl->wait_node); /* off a parking list */
	struct server *sv = cl->server;
	if (sv) {
		cl->server = NULL;
		server_client_gone(sv);
	}
	struct server *home = cl->home;
	cl->home = NULL;
	server_release_home(home);
	if (cl->pool)
		cl->pool->n_clients--;
	if (cl->counted) {
		cl->counted = false;
		atomic_fetch_sub(&g_shared.nclients, 1);
	}
	client_set_state(cl, CL_CLOSED);
	list_del(&cl->all_node);
	w->n_clients--;
	login_over(cl);
	if (w->cfg->log_disconnections && cl->user)
		log_info(cl->c.prefix, "client disconnected: db=%s user=%s duration=%.3fs", cl->dbname, cl->user,
		         (double)(w->now - cl->connect_time) / 1e6);
	conn_close(&cl->c);
}

void client_bad_input(struct conn *c, const char *why, const uint8_t *excerpt, size_t n)
{
	char buf[80];
	log_sanitize(buf, sizeof buf, excerpt, n);
	log_warn(c->prefix, "protocol violation: %s (first bytes: %s)", why, buf);
	c->w->n_bad_input++;
	/* Bytes that cannot be a startup packet get no answer from PostgreSQL: there is no protocol
	 * to answer in yet. node-postgres relies on that: a client ended while still connecting
	 * sends Terminate before its startup packet and takes any reply for an error. */
	if (strcmp(why, BAD_STARTUP_LENGTH) == 0) {
		client_close(CL(c), NULL, NULL);
		return;
	}
	char msg[160];
	snprintf(msg, sizeof msg, "protocol violation: %s", why);
	client_close(CL(c), "08P01", msg);
}

static void client_eof(struct conn *c, const char *why)
{
	client_close(CL(c), NULL, NULL);
}

/* GUC-like names only: they end up in SET statements. */
static bool valid_param_name(const char *s)
{
	if (!*s || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.')
			return false;
	return true;
}

/* Add one session setting from the startup packet; 0 or -1 with why. */
static int take_setting(struct client *cl, const char *name, const char *value, const char **why)
{
	const struct config *cfg = cl->c.w->cfg;
	if (list_contains(cfg->ignore_startup_parameters, name, true))
		return 0;
	int own = cl->target->startup_setting(cl, name, value); /* pgrouter.consistency_key and pgrouter.min_lsn */
	if (own != 0)
		return own < 0 ? (*why = "invalid value", -1) : 0;
	const char *canon = param_canonical(name);
	if (!canon && !valid_param_name(name))
		return *why = "not a setting name", -1;
	if (strlen(value) > 1024)
		return *why = "startup parameter value too long", -1;
	/* Any session setting is taken; the server says whether name and value are valid before the login
	   ends (client_finish_login), as it would for a direct connection. */
	if (!canon || strcmp(canon, "application_name") != 0)
		cl->verify_params = true;
	if (canon)
		return params_set(&cl->params, canon, value) < 0 ? (*why = "out of memory", -1) : 0;
	char v[1026];
	snprintf(v, sizeof v, "%c%s", PARAM_GUC, value); /* read as the startup packet reads it */
	return params_set(&cl->startup, name, v) < 0 || params_set(&cl->params, name, v) < 0
	        ? (*why = "out of memory", -1)
	        : 0;
}

struct option_ctx {
	struct client *cl;
	const char *why; /* why take_setting refused one */
};

/* One "-c name=value" of the options parameter: a session setting like any other startup parameter. */
static int take_option(void *ctx, const char *name, const char *value)
{
	struct option_ctx *o = ctx;
	return take_setting(o->cl, name, value, &o->why);
}

/* The options parameter: its -c settings become session settings; 0, or -1 with *why naming the problem. */
static int take_options(struct client *cl, const char *opts, const char **why)
{
	if (list_contains(cl->c.w->cfg->ignore_startup_parameters, "options", true))
		return 0;
	struct option_ctx o = { .cl = cl };
	if (proto_parse_options(opts, take_option, &o, why) == 0)
		return 0;
	if (o.why)
		*why = o.why; /* a setting in it was refused */
	return -1;
}

/* Check and store the startup parameters; returns 0, or -1 after closing the client. */
static int client_read_startup(struct client *cl, const struct startup_pkt *sp)
{
	const char *user = startup_get(sp, "user");
	const char *why = NULL;
	if (!user || !*user) {
		client_close(cl, "28000", "no PostgreSQL user name specified in startup packet");
		return -1;
	}
	const char *db = startup_get(sp, "database");
	cl->user = strdup(user);
	cl->dbname = strdup(db && *db ? db : user);
	if (!cl->user || !cl->dbname) {
		client_close(cl, "53200", "out of memory");
		return -1;
	}
	for (int i = 0; i < sp->nparams; i++) {
		const char *n = sp->name[i], *v = sp->value[i];
		if (strcmp(n, "user") == 0 || strcmp(n, "database") == 0 || strncmp(n, "_pq_.", 5) == 0)
			continue;
		if (strcmp(n, "replication") == 0) {
			client_close(cl, "08P01", "replication connections are not supported by pgrouter");
			return -1;
		}
		int rc = strcmp(n, "options") == 0 ? take_options(cl, v, &why) : take_setting(cl, n, v, &why);
		if (rc < 0) {
			char msg[200];
			snprintf(msg, sizeof msg, "unsupported startup parameter %s: %s", n, why);
			client_close(cl, "08P01", msg);
			return -1;
		}
	}
	return 0;
}

/* A 3.x client newer than 3.0 learns that we speak 3.0 and which options we ignored. */
static void negotiate_version(struct client *cl, const struct startup_pkt *sp)
{
	const char *opts[STARTUP_MAX_PARAMS];
	int n = 0;
	for (int i = 0; i < sp->nparams; i++)
		if (strncmp(sp->name[i], "_pq_.", 5) == 0)
			opts[n++] = sp->name[i];
	if ((sp->code & 0xffff) != 0 || n > 0)
		msg_negotiate_version(conn_out(&cl->c), 0, opts, n);
}

/* Keep the first secret auth_query returned for this pool's user (its server logins use it). */
static void keep_lookup_secret(struct pool_shared *sh, struct authfile_entry *e)
{
	if (!e || !e->secret)
		return;
	pthread_mutex_lock(&sh->lock);
	if (!atomic_load(&sh->has_lookup) && (sh->lookup_entry = malloc(sizeof *e)) != NULL) {
		*sh->lookup_entry = *e;
		e->secret = NULL;
		atomic_store(&sh->has_lookup, true);
	}
	pthread_mutex_unlock(&sh->lock);
	free(e->secret);
	e->secret = NULL;
}

/* An authenticated cl's pool: NULL when cl went to the admin console or was refused (and closed). */
static struct pool *login_pool(struct client *cl)
{
	struct worker *w = cl->c.w;
	bool console = console_target->claims(w->cfg, cl->dbname);
	char msg[200];
	login_over(cl);
	if (!take_client_slot(cl, console)) {
		client_close(cl, "53300", "no more connections allowed (max_client_conn)");
		return NULL;
	}
	if (console) {
		cl->target = console_target;
		cl->target->login(cl);
		return NULL;
	}
	const struct dbconf *db = config_find_db(w->cfg, cl->dbname);
	if (!db) {
		snprintf(msg, sizeof msg, "no such database: %s", cl->dbname);
		client_close(cl, "3D000", msg);
		return NULL;
	}
	if (pause_is_disabled(cl->dbname)) {
		snprintf(msg, sizeof msg, "database \"%s\" is not currently accepting connections (DISABLE)",
		         cl->dbname);
		client_close(cl, "55000", msg);
		return NULL;
	}
	struct pool *p = pool_get(w, db, cl->dbname, cl->user);
	if (!p)
		client_close(cl, "53200", "out of memory");
	return p;
}

void client_login(struct client *cl, const uint8_t *scram_client_key, struct authfile_entry *looked_up)
{
	struct worker *w = cl->c.w;
	cl->pool = login_pool(cl);
	if (!cl->pool) {
		if (looked_up)
			free(looked_up->secret); /* only a pool's server logins use it */
		return;
	}
	if (looked_up)
		keep_lookup_secret(cl->pool->shared, looked_up);
	cl->pool->n_clients++;
	cl->target->login(cl);
	if (scram_client_key && !atomic_load(&cl->pool->shared->has_client_key)) {
		struct pool_shared *sh = cl->pool->shared;
		pthread_mutex_lock(&sh->lock);
		memcpy(sh->client_key, scram_client_key, sizeof sh->client_key);
		atomic_store(&sh->has_client_key, true);
		pthread_mutex_unlock(&sh->lock);
	}
	if (scram_client_key)
		monitor_client_key(cl->user, scram_client_key); /* a SCRAM-only monitor user may log in with it */
	if (w->cfg->log_connections) {
		char peer[64];
		net_peer_name(cl->c.fd, peer, sizeof peer);
		log_info(cl->c.prefix, "login: db=%s user=%s from=%s", cl->dbname, cl->user, peer);
	}
	if (atomic_load(&cl->pool->shared->has_welcome))
		client_finish_login(cl);
	else
		pool_login_wait(cl->pool, &cl->wait);
}

bool client_login_ready(struct client *cl, int err)
{
	struct iobuf **out = conn_out(&cl->c);
	err |= msg_backend_key(out, cl->cancel_pid, cl->cancel_key);
	err |= msg_ready(out, 'I');
	if (err) {
		client_close(cl, "53200", "out of memory");
		return false;
	}
	client_set_state(cl, CL_IDLE);
	cl->c.phase = PHASE_READY;
	return true;
}

void client_finish_login(struct client *cl)
{
	if (cl->verify_params) {
		/* Settings from the startup packet: a server tries them first (client_probe_done ends this). */
		cl->verify_params = false;
		cl->probing = true;
		pool_acquire(cl->pool, &cl->wait, cl->pool->primary);
		return;
	}
	struct iobuf **out = conn_out(&cl->c);
	const struct params *welcome = &cl->pool->shared->welcome;
	int err = msg_auth(out, 0, NULL, 0);
	uint32_t pos = 0;
	const char *name, *value;
	while (params_next(welcome, &pos, &name, &value)) {
		const char *mine = param_is_tracked(name) ? params_get(&cl->params, name) : NULL;
		/* The client's own spelling of the server's value ("utf8"): a server reports its own ("UTF8"). */
		if (mine && param_same_value(name, mine, value) && params_set(&cl->params, name, value) == 0)
			mine = NULL;
		err |= msg_param_status(out, name, mine ? mine : value);
	}
	if (!client_login_ready(cl, err))
		return;
	if (!conn_flush_out(&cl->c)) {
		client_close(cl, NULL, NULL);
		return;
	}
	if (cl->c.paused || iobuf_len(cl->c.in))
		conn_resume(&cl->c);
}

/* pgrouter's own key: worker id in the top byte so any worker can route a CancelRequest. */
static void make_cancel_key(struct client *cl)
{
	struct worker *w = cl->c.w;
	uint32_t rnd[2] = { 0, 0 };
	if (RAND_bytes((unsigned char *)rnd, sizeof rnd) != 1)
		rnd[0] = (uint32_t)w->now, rnd[1] = (uint32_t)(w->now >> 20) ^ 0x5bd1e995u;
	cl->cancel_pid = ((uint32_t)w->id << 24) | ((++w->next_cancel_seq) & 0xffffff);
	cl->cancel_key = rnd[1];
	if (cl->cancel_pid == 0)
		cl->cancel_pid = 1;
}

/* SSLRequest / GSSENCRequest: 'S' and a TLS handshake when configured, otherwise 'N'. */
static enum act client_encryption_request(struct client *cl, bool ssl)
{
	struct conn *c = &cl->c;
	SSL_CTX *ctx = c->w->cfg->client_tls_ctx;
	bool accept = ssl && ctx && !c->tls;
	/* Bytes sent before our answer cannot be trusted to belong to the encrypted session (CVE-2021-3935). */
	if (iobuf_len(c->in)) {
		client_bad_input(c, "unencrypted data after encryption request", c->in->data + c->in->rpos,
		                 iobuf_len(c->in) < 16 ? iobuf_len(c->in) : 16);
		return ACT_CLOSED;
	}
	if (iobuf_append(conn_out(c), accept ? "S" : "N", 1) < 0 || !conn_flush_out(c) || iobuf_len(c->out)) {
		client_close(cl, NULL, NULL);
		return ACT_CLOSED;
	}
	if (!accept)
		return ACT_CONSUMED;
	if (conn_start_tls(c, ctx, true, NULL, false) < 0) {
		client_close(cl, NULL, NULL);
		return ACT_CLOSED;
	}
	return ACT_PAUSE; /* nothing more is read in plaintext; the handshake resumes us */
}

/* Handshake over: continue with the startup packet inside TLS, or drop the client. */
static void client_tls_done(struct conn *c, const char *err)
{
	if (err) {
		log_warn(c->prefix, "client TLS handshake failed: %s", err);
		client_close(CL(c), NULL, NULL);
		return;
	}
	c->paused = false;
}

static enum act client_on_startup(struct conn *c, const uint8_t *pkt, uint32_t len)
{
	struct client *cl = CL(c);
	struct startup_pkt sp;
	const char *why = NULL;
	if (proto_parse_startup(pkt, len, &sp, &why) < 0) {
		client_bad_input(c, why, pkt, len < 16 ? len : 16);
		return ACT_CLOSED;
	}
	if (sp.code == PROTO_SSL_CODE || sp.code == PROTO_GSSENC_CODE)
		return client_encryption_request(cl, sp.code == PROTO_SSL_CODE);
	if (sp.code == PROTO_CANCEL_CODE) {
		worker_post_cancel(sp.cancel_pid, sp.cancel_key);
		client_close(cl, NULL, NULL);
		return ACT_CLOSED;
	}
	c->startup_phase = false;
	if (!c->tls && c->w->cfg->client_tls_sslmode >= TLS_REQUIRE) {
		client_close(cl, "28000", "SSL required: connect with sslmode=require");
		return ACT_CLOSED;
	}
	if (client_read_startup(cl, &sp) < 0)
		return ACT_CLOSED;
	/* Refused early when no slot is free (taken for real once authenticated); the admin console (by the
	   database the login will use: the user's name when none is given) stays reachable past max_client_conn
	   (CONSOLE_EXTRA more logins). */
	if (!client_slot_free(c->w->cfg, console_target->claims(c->w->cfg, cl->dbname))) {
		client_close(cl, "53300", "no more connections allowed (max_client_conn)");
		return ACT_CLOSED;
	}
	negotiate_version(cl, &sp);
	make_cancel_key(cl);
	client_set_state(cl, CL_AUTH);
	clientauth_start(cl);
	return c->closing ? ACT_CLOSED : ACT_CONSUMED;
}

/* Keep m's classification for the next call about the same message (it was held back); without memory that
   call classifies again. Events past n_events are never read: they are not copied. */
static void hold_cls(struct client *cl, const struct fe_msg *m)
{
	if (m->cls != cl->held_cls) {
		if (!cl->held_cls && !(cl->held_cls = malloc(sizeof *cl->held_cls)))
			return;
		int nev = m->cls->n_events < CLS_MAX_EVENTS ? m->cls->n_events : CLS_MAX_EVENTS;
		memcpy(cl->held_cls, m->cls, offsetof(struct cls_result, ev) + (size_t)nev * sizeof m->cls->ev[0]);
	}
	cl->held_seq = m->seq + 1;
}

/* A logged-in client's message, decoded once, to its target. A message held back (pause, more bytes, flush
   first) comes back as the same message (same c.nmsg), with the classification an earlier call made; the next
   message starts without one. */
static enum act target_msg(struct client *cl, uint8_t type, uint32_t len, const uint8_t *body)
{
	struct cls_result scratch; /* where a stage classifies this message: only written when needed */
	struct fe_msg m;
	fe_decode(&m, type, len, body, cl->c.nmsg);
	m.cls_buf = &scratch;
	if (cl->held_seq == m.seq + 1)
		m.cls = cl->held_cls;
	cl->held_seq = 0;
	enum act a = cl->target->on_msg(cl, &m);
	if ((a == ACT_PAUSE || a == ACT_NEED_FULL || a == ACT_FLUSH_FIRST) && m.cls && !cl->c.closing)
		hold_cls(cl, &m);
	return a;
}

static enum act client_on_msg(struct conn *c, uint8_t type, uint32_t len, const uint8_t *body)
{
	struct client *cl = CL(c);
	switch (cl->state) {
	case CL_LINKED:
		if (cl->probing)
			return ACT_PAUSE; /* nothing is due from a client before its login has ended */
		return target_msg(cl, type, len, body);
	case CL_IDLE: return target_msg(cl, type, len, body);
	case CL_LOGIN_WAIT:
	case CL_WAITING:
	case CL_RYW_WAIT: return ACT_PAUSE;
	case CL_AUTH:
		if (type == 'X') {
			client_close(cl, NULL, NULL);
			return ACT_CLOSED;
		}
		if (type != 'p') {
			client_bad_input(c, "unexpected message during authentication", &type, 1);
			return ACT_CLOSED;
		}
		if (!body)
			return ACT_NEED_FULL;
		return clientauth_msg(cl, body, len - 4);
	case CL_STARTUP:
	case CL_CLOSED: return ACT_CLOSED;
	default:
		log_error(c->prefix, "BUG: client in unknown state %d", (int)cl->state);
		client_close(cl, "XX000", "internal error");
		return ACT_CLOSED;
	}
}

void client_probe_done(struct client *cl)
{
	cl->probing = false;
	if (cl->probe_state[0]) {
		client_close(cl, cl->probe_state, cl->probe_msg ? cl->probe_msg : "invalid startup parameter");
		return;
	}
	server_release(client_unlink(cl));
	client_finish_login(cl);
}

bool client_shutdown_spares(const struct client *cl)
{
	/* Bounded like a login: a connection that never sends a query cannot hold the shutdown forever. */
	int64_t limit = cl->c.w->cfg->client_login_timeout;
	return atomic_load(&g_shared.shutdown) == 1 && !cl->served && !cl->is_console &&
	        (limit == 0 || cl->c.w->now - cl->connect_time < limit);
}

void client_link(struct client *cl, struct server *sv)
{
	metrics_linked(cl->c.w, cl);
	cl->server = sv;
	sv->client = cl;
	conn_link(&cl->c, &sv->c);
	client_set_state(cl, CL_LINKED);
	cl->served |= !cl->probing;
	sv->state = SV_ACTIVE;
	sv->state_since = cl->c.w->now;
	if (cl->target->on_linked)
		cl->target->on_linked(sv);
	server_sync_params(sv, &cl->params, &cl->view, &cl->pool->shared->welcome, cl->probing);
	conn_flush_out(&sv->c);
}

void client_cancel_request(struct worker *w, uint32_t pid, uint32_t key)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients)
	{
		struct client *cl = list_entry(it, struct client, all_node);
		if (cl->cancel_pid != pid)
			continue;
		/* Compare without an early exit so timing does not reveal how much of the key matched. */
		if ((cl->cancel_key ^ key) != 0)
			return;
		if (cl->state == CL_LINKED && cl->server && cl->server->expect_z > 0)
			server_cancel(cl->server);
		return;
	}
}

static void client_noop_last(struct conn *c)
{
	(void)c;
}

static const struct conn_ops client_ops = {
	.on_msg = client_on_msg,
	.on_startup = client_on_startup,
	.after_last = client_noop_last,
	.on_eof = client_eof,
	.on_bad_input = client_bad_input,
	.on_writable = NULL,
	.on_tls_done = client_tls_done,
	.dir = FROM_CLIENT,
};
