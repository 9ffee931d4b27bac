/* Admin console control commands (RELOAD, SET, PAUSE, RESUME, KILL, DISABLE, ENABLE, RECONNECT, WAIT_CLOSE,
   SUSPEND, SHUTDOWN) and the answers that wait:
   a command whose answer is not known yet is an admin_op, polled on its client's worker. */
#include "admin/admin_ctl.h"
#include "admin/admin_int.h"
#include "frontend/client.h"
#include "io/conn.h"
#include "admin/control.h"
#include "base/log.h"
#include "admin/pause.h"
#include "pool/pool.h"
#include "io/loop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define TICK_USEC 5000 /* how often waiting commands are looked at */

/* A worker's console commands still waiting for their answer. */
struct admin_worker {
	struct event *tick;
	struct list ops;
};

/* The console client with this connection id, if it is still there. */
static struct client *find_client(struct worker *w, uint32_t id)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients)
	{
		struct client *cl = list_entry(it, struct client, all_node);
		if (cl->c.id == id)
			return cl->c.closing ? NULL : cl;
	}
	return NULL;
}

/* Answer every op that is ready; stop ticking when none is left. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct admin_worker *aw = w->admin;
	w->now = now_usec();
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &aw->ops)
	{
		struct admin_op *op = list_entry(it, struct admin_op, node);
		if (!op->ready(op, w))
			continue;
		list_del(&op->node);
		struct client *cl = find_client(w, op->conn_id);
		if (cl) {
			struct iobuf **out = conn_out(&cl->c);
			op->answer(op, cl, out);
			msg_ready(out, 'I');
			conn_flush_out(&cl->c);
		}
		op->release(op);
		if (cl && !cl->c.closing)
			conn_resume(&cl->c); /* its next command was held back */
	}
	if (list_empty(&aw->ops))
		event_del(aw->tick);
}

struct admin_worker *admin_worker_new(struct worker *w)
{
	struct admin_worker *aw = calloc(1, sizeof *aw);
	if (!aw)
		return NULL;
	list_init(&aw->ops);
	aw->tick = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
	if (!aw->tick) {
		free(aw);
		return NULL;
	}
	return aw;
}

void admin_defer(struct client *cl, struct admin_op *op)
{
	struct worker *w = cl->c.w;
	op->conn_id = cl->c.id;
	list_append(&w->admin->ops, &op->node);
	if (!evtimer_pending(w->admin->tick, NULL)) {
		struct timeval tv = { 0, TICK_USEC };
		event_add(w->admin->tick, &tv);
	}
}

bool admin_pending(const struct client *cl)
{
	struct admin_worker *aw = cl->c.w->admin;
	struct list *it, *tmp;
	list_for_each_safe(it, tmp,
	                   &aw->ops) if (list_entry(it, struct admin_op, node)->conn_id == cl->c.id) return true;
	return false;
}

void admin_worker_free(struct worker *w)
{
	struct admin_worker *aw = w->admin;
	if (!aw)
		return;
	/* At exit every other thread has stopped: what never finished is freed with its worker. */
	struct list *it;
	while ((it = list_pop(&aw->ops)) != NULL)
		list_entry(it, struct admin_op, node)->release(list_entry(it, struct admin_op, node));
	event_free(aw->tick);
	free(aw);
	w->admin = NULL;
}

/* --- gathering from every worker --- */

/* Runs in each worker: its part, then one less to wait for. */
static void gather_run(struct worker *w, void *arg)
{
	struct gather *g = arg;
	g->fn(w, g);
	atomic_fetch_sub_explicit(&g->pending, 1, memory_order_release);
}

int gather_start(struct gather *g)
{
	atomic_store(&g->pending, g_shared.nworkers);
	for (int i = 0; i < g_shared.nworkers; i++) {
		if (worker_run(i, gather_run, g) < 0) {
			/* The workers already asked will still run: count the rest as done so that g can finish. */
			atomic_fetch_sub(&g->pending, g_shared.nworkers - i);
			return i == 0 ? -1 : 0;
		}
	}
	return 0;
}

bool gather_ready(struct admin_op *op, struct worker *w)
{
	return atomic_load_explicit(&((struct gather *)op)->pending, memory_order_acquire) == 0;
}

void gather_release(struct admin_op *op)
{
	struct gather *g = (struct gather *)op;
	for (int i = 0; i < MAX_WORKERS; i++)
		free(g->rows[i]);
	free(g->arg);
	free(g);
}

/* A bare CommandComplete once the gather is done. */
static void answer_tag(struct admin_op *op, struct client *cl, struct iobuf **out)
{
	res_complete(out, ((struct gather *)op)->tag);
}

/* --- RELOAD and SET: the main thread builds and publishes the config, then every worker adopts it --- */

struct reload_op {
	struct gather g; /* phase 2: every worker adopts the new config */
	struct control_req req; /* phase 1: the main thread */
	bool adopting;
};

static void adopt(struct worker *w, struct gather *g)
{
	loop_adopt_config(w);
}

static bool reload_ready(struct admin_op *op, struct worker *w)
{
	struct reload_op *r = (struct reload_op *)op;
	if (r->adopting)
		return gather_ready(op, w);
	if (!atomic_load_explicit(&r->req.done, memory_order_acquire))
		return false;
	if (r->req.rc != 0)
		return true;
	/* Published: answer once every worker runs on it, so the next command sees the change everywhere. */
	r->adopting = true;
	r->g.fn = adopt;
	return gather_start(&r->g) < 0;
}

static void reload_answer(struct admin_op *op, struct client *cl, struct iobuf **out)
{
	struct reload_op *r = (struct reload_op *)op;
	char msg[700];
	if (r->req.rc == 0) {
		res_complete(out, r->req.kind == CTL_RELOAD ? "RELOAD" : "SET");
		return;
	}
	static const char *const states[] = { "00000", "42704", "55P02", "22023" }; /* by -enum config_set_err */
	const char *state = r->req.kind == CTL_RELOAD ? "F0000" : states[-r->req.rc < 4 ? -r->req.rc : 3];
	snprintf(msg, sizeof msg, "%s%s",
	         r->req.kind == CTL_RELOAD ? "reload failed, keeping the running configuration: " : "", r->req.err);
	msg_error(out, "ERROR", state, msg);
}

static void reload_release(struct admin_op *op)
{
	free(op);
}

/* Start RELOAD (key NULL) or SET key = value in the main thread. */
static void start_reload(struct client *cl, const char *key, const char *value, struct iobuf **out, bool *deferred)
{
	struct reload_op *r = calloc(1, sizeof *r);
	if (!r) {
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	r->g.op.ready = reload_ready;
	r->g.op.answer = reload_answer;
	r->g.op.release = reload_release;
	r->req.kind = key ? CTL_SET : CTL_RELOAD;
	if (key) {
		snprintf(r->req.key, sizeof r->req.key, "%s", key);
		snprintf(r->req.value, sizeof r->req.value, "%s", value);
	}
	log_info(cl->c.prefix, "%s%s requested by %s on the admin console", key ? "SET " : "RELOAD", key ? key : "",
	         cl->user);
	admin_defer(cl, &r->g.op);
	control_submit(&r->req);
	*deferred = true;
}

/* SET key = value | SET key TO value (value: a word or a 'string'). */
static void cmd_set(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool *deferred)
{
	bool to = cmd_kw(c, 2, "TO");
	if (c->n != 4 || !cmd_name(c, 1) || (c->kind[2] != W_EQ && !to) || c->kind[3] == W_EQ) {
		msg_error(out, "ERROR", "42601", "usage: SET key = value");
		return;
	}
	if (strlen(c->w[3]) >= sizeof((struct control_req *)0)->value) {
		msg_error(out, "ERROR", "22023", "value too long");
		return;
	}
	start_reload(cl, c->w[1], c->w[3], out, deferred);
}

/* --- PAUSE: answered once every server connection of the database has closed --- */

struct pause_op {
	struct admin_op op;
	char *db; /* NULL: all databases */
	bool resumed; /* RESUME came first */
};

static bool pause_ready(struct admin_op *op, struct worker *w)
{
	struct pause_op *p = (struct pause_op *)op;
	if (!(p->db ? pause_is_paused(p->db) : atomic_load(&g_shared.pause.npaused) != 0)) {
		p->resumed = true;
		return true;
	}
	return pause_open_servers(p->db) == 0;
}

static void pause_answer(struct admin_op *op, struct client *cl, struct iobuf **out)
{
	struct pause_op *p = (struct pause_op *)op;
	if (p->resumed)
		msg_error(out, "ERROR", "57014",
		          "PAUSE canceled: RESUME came before every server connection was released");
	else
		res_complete(out, "PAUSE");
}

static void pause_release(struct admin_op *op)
{
	free(((struct pause_op *)op)->db);
	free(op);
}

/* Kick every worker so that it closes idle servers and re-checks parked clients now. */
static void kick_all(void)
{
	for (int i = 0; i < g_shared.nworkers; i++)
		worker_kick(&g_shared.workers[i]);
}

/* The optional database name of PAUSE/RESUME/KILL: 0 ok (*db NULL for all), -1 after an error answer. */
static int db_arg(struct client *cl, const struct admin_cmd *c, const char **db, struct iobuf **out)
{
	*db = NULL;
	if (c->n == 1)
		return 0;
	if (c->n != 2 || !cmd_name(c, 1)) {
		char msg[120];
		snprintf(msg, sizeof msg, "usage: %s [database]", c->upper);
		msg_error(out, "ERROR", "42601", msg);
		return -1;
	}
	if (admin_is_console(cl->c.w->cfg, c->w[1])) {
		msg_error(out, "ERROR", "22023",
		          "the admin console has no server connections to pause, kill, disable or reconnect");
		return -1;
	}
	if (!config_find_db(cl->c.w->cfg, c->w[1])) {
		char msg[200];
		snprintf(msg, sizeof msg, "no such database: %.100s", c->w[1]);
		msg_error(out, "ERROR", "3D000", msg);
		return -1;
	}
	*db = c->w[1];
	return 0;
}

static void cmd_pause(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool *deferred)
{
	const char *db;
	char err[200];
	if (db_arg(cl, c, &db, out) < 0)
		return;
	struct pause_op *p = calloc(1, sizeof *p);
	if (!p || (db && !(p->db = strdup(db)))) {
		free(p);
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	if (pause_set(db, err, sizeof err) < 0) {
		free(p->db);
		free(p);
		msg_error(out, "ERROR", "55000", err);
		return;
	}
	log_info(cl->c.prefix, "PAUSE %s by %s: new work waits; answering once its servers are released",
	         db ? db : "(all)", cl->user);
	p->op.ready = pause_ready;
	p->op.answer = pause_answer;
	p->op.release = pause_release;
	admin_defer(cl, &p->op);
	kick_all();
	*deferred = true;
}

static void cmd_resume(struct client *cl, const struct admin_cmd *c, struct iobuf **out)
{
	const char *db;
	char err[200];
	if (db_arg(cl, c, &db, out) < 0)
		return;
	if (pause_clear(db, err, sizeof err) < 0) {
		msg_error(out, "ERROR", "55000", err);
		return;
	}
	log_info(cl->c.prefix, "RESUME %s by %s", db ? db : "(all)", cl->user);
	kick_all();
	res_complete(out, "RESUME");
}

static void kill_local(struct worker *w, struct gather *g)
{
	pause_kill_local(w, g->arg);
}

/* KILL [db]: close its clients and servers in every worker; the database stays paused until RESUME. */
static void cmd_kill(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool *deferred)
{
	const char *db;
	char err[200];
	if (db_arg(cl, c, &db, out) < 0)
		return;
	struct gather *g = calloc(1, sizeof *g);
	if (!g || (db && !(g->arg = strdup(db)))) {
		free(g);
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	if (pause_set(db, err, sizeof err) < 0 && !pause_is_paused(db ? db : "")) {
		gather_release(&g->op);
		msg_error(out, "ERROR", "55000", err);
		return;
	}
	log_info(cl->c.prefix, "KILL %s by %s: closing its clients and servers; paused until RESUME", db ? db : "(all)",
	         cl->user);
	g->tag = "KILL";
	g->fn = kill_local;
	g->op.ready = gather_ready;
	g->op.answer = answer_tag;
	g->op.release = gather_release;
	if (gather_start(g) < 0) {
		gather_release(&g->op);
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	admin_defer(cl, &g->op);
	*deferred = true;
}

/* DISABLE db / ENABLE db: new client logins to db are refused with 55000 / accepted again; connected clients stay. */
static void cmd_disable(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool on)
{
	const char *db;
	char err[200];
	if (c->n != 2) {
		snprintf(err, sizeof err, "usage: %s database", on ? "DISABLE" : "ENABLE");
		msg_error(out, "ERROR", "42601", err);
		return;
	}
	if (db_arg(cl, c, &db, out) < 0)
		return;
	if (pause_disable(db, on, err, sizeof err) < 0) {
		msg_error(out, "ERROR", "53400", err);
		return;
	}
	log_info(cl->c.prefix, "%s %s by %s", on ? "DISABLE" : "ENABLE", db, cl->user);
	res_complete(out, on ? "DISABLE" : "ENABLE");
}

/* In worker w: every server connection of db (g->arg, NULL: all) is replaced once released; idle ones now. */
static void reconnect_local(struct worker *w, struct gather *g)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->pools)
	{
		struct pool *p = list_entry(it, struct pool, node);
		if (g->arg && strcmp(p->dbname, g->arg) != 0)
			continue;
		for (int n = 0; n < MAX_NODES; n++)
			pool_mark_dirty(&p->nodes[n]);
	}
}

/* In worker w: how many server connections of db (g->arg, NULL: all) wait to be replaced (close_needed). */
static void count_dirty(struct worker *w, struct gather *g)
{
	int64_t n = 0;
	struct list *pit, *ptmp;
	list_for_each_safe(pit, ptmp, &w->pools)
	{
		struct pool *p = list_entry(pit, struct pool, node);
		if (g->arg && strcmp(p->dbname, g->arg) != 0)
			continue;
		for (int k = 0; k < MAX_NODES; k++) {
			struct list *lists[] = { &p->nodes[k].used, &p->nodes[k].idle, &p->nodes[k].pending };
			for (int l = 0; l < 3; l++) {
				struct list *it, *tmp;
				list_for_each_safe(it, tmp, lists[l]) n +=
				        list_entry(it, struct server, pool_node)->dirty;
			}
		}
	}
	g->counts[w->id][0] = n;
}

/* WAIT_CLOSE: ask every worker again until none has a server connection of the database left to replace. */
static bool wait_close_ready(struct admin_op *op, struct worker *w)
{
	struct gather *g = (struct gather *)op;
	if (!gather_ready(op, w))
		return false;
	int64_t left = 0;
	for (int i = 0; i < g_shared.nworkers; i++)
		left += g->counts[i][0];
	if (left == 0)
		return true;
	memset(g->counts, 0, sizeof g->counts);
	return gather_start(g) < 0; /* (cannot ask the workers: answer rather than wait forever) */
}

/* RECONNECT [db] or WAIT_CLOSE [db]: a gather over every worker, answered with the command's tag. */
static void cmd_reconnect(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool *deferred, bool wait)
{
	const char *db;
	if (db_arg(cl, c, &db, out) < 0)
		return;
	struct gather *g = calloc(1, sizeof *g);
	if (!g || (db && !(g->arg = strdup(db)))) {
		free(g);
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	g->tag = wait ? "WAIT_CLOSE" : "RECONNECT";
	g->fn = wait ? count_dirty : reconnect_local;
	g->op.ready = wait ? wait_close_ready : gather_ready;
	g->op.answer = answer_tag;
	g->op.release = gather_release;
	if (gather_start(g) < 0) {
		gather_release(&g->op);
		msg_error(out, "ERROR", "53200", "out of memory");
		return;
	}
	if (!wait)
		log_info(cl->c.prefix, "RECONNECT %s by %s: server connections are replaced as they are released",
		         db ? db : "(all)", cl->user);
	admin_defer(cl, &g->op);
	*deferred = true;
}

static void cmd_shutdown(struct client *cl, const struct admin_cmd *c, struct iobuf **out)
{
	bool wait = cmd_kw(c, 1, "WAIT_FOR_CLIENTS");
	if (c->n > 2 || (c->n == 2 && !wait)) {
		msg_error(out, "ERROR", "42601", "usage: SHUTDOWN [WAIT_FOR_CLIENTS]");
		return;
	}
	log_info(cl->c.prefix, "SHUTDOWN%s requested by %s", wait ? " WAIT_FOR_CLIENTS" : "", cl->user);
	if (wait)
		pause_start_drain(); /* no new connections; exit once the last client has gone */
	else
		kill(getpid(), SIGTERM);
	res_complete(out, "SHUTDOWN");
}

bool admin_control(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool *deferred)
{
	*deferred = false;
	if (cmd_kw(c, 0, "RELOAD") && c->n == 1)
		start_reload(cl, NULL, NULL, out, deferred);
	else if (cmd_kw(c, 0, "SET"))
		cmd_set(cl, c, out, deferred);
	else if (cmd_kw(c, 0, "PAUSE"))
		cmd_pause(cl, c, out, deferred);
	else if (cmd_kw(c, 0, "RESUME"))
		cmd_resume(cl, c, out);
	else if (cmd_kw(c, 0, "KILL"))
		cmd_kill(cl, c, out, deferred);
	else if (cmd_kw(c, 0, "DISABLE") || cmd_kw(c, 0, "ENABLE"))
		cmd_disable(cl, c, out, cmd_kw(c, 0, "DISABLE"));
	else if (cmd_kw(c, 0, "RECONNECT") || cmd_kw(c, 0, "WAIT_CLOSE"))
		cmd_reconnect(cl, c, out, deferred, cmd_kw(c, 0, "WAIT_CLOSE"));
	else if (cmd_kw(c, 0, "SUSPEND"))
		/* PgBouncer's SUSPEND prepares handing its sockets to a new process; pgrouter has no such restart. */
		msg_error(out, "ERROR", "0A000",
		          "SUSPEND is not supported: pgrouter has no online restart "
		          "(use PAUSE, or SHUTDOWN WAIT_FOR_CLIENTS behind a shared address)");
	else if (cmd_kw(c, 0, "SHUTDOWN"))
		cmd_shutdown(cl, c, out);
	else
		return false;
	return true;
}
