/* A client waiting in its pool: what it does when the pool queues, serves, moves or fails it. */
#include "backend/server.h"
#include "frontend/client.h"
#include "pool/pool.h"
#include "session/hooks.h"
#include "session/ryw.h"

#define CL(wt) container_of(wt, struct client, wait)

/* Queued for the login parameters or for a server: its state shows the wait, since it began. */
static void waiter_queued(struct pool_waiter *wt, bool login)
{
	client_move(CL(wt), login ? CL_LOGIN_WAIT : CL_WAITING, NULL, wt->since);
}

/* Off its node's queue, about to be placed again. */
static void waiter_unqueued(struct pool_waiter *wt)
{
	client_set_state(CL(wt), CL_IDLE);
}

static void waiter_granted(struct pool_waiter *wt, struct server *sv)
{
	client_link(CL(wt), sv);
}

static void waiter_woken(struct pool_waiter *wt)
{
	conn_resume(&CL(wt)->c);
}

static void waiter_failed(struct pool_waiter *wt, const char *sqlstate, const char *msg)
{
	client_close(CL(wt), sqlstate, msg);
}

static void waiter_login_ready(struct pool_waiter *wt)
{
	client_finish_login(CL(wt));
}

/* The replay LSN its read needs (read-your-writes), UINT64_MAX when only the primary will do. */
static uint64_t waiter_required_lsn(struct pool_waiter *wt)
{
	enum ryw_scope scope;
	return ryw_required(CL(wt), &scope);
}

/* Link the client to the primary connection kept for its session: true, or false when it has none usable for
   node (a dirty one, or one to a node that is no longer the primary, closes). */
static bool waiter_take_home(struct pool_waiter *wt, int node)
{
	struct client *cl = CL(wt);
	struct server *sv = cl->home;
	if (!sv)
		return false;
	if (sv->node != node || sv->dirty) {
		server_close(sv,
		             sv->dirty ? "server connection is dirty" : "the primary changed"); /* clears cl->home */
		return false;
	}
	cl->home = NULL;
	sv->holder = NULL;
	sv->state = SV_ACTIVE;
	client_link(cl, sv);
	return true;
}

static const struct pool_waiter_ops waiter_ops = {
	.queued = waiter_queued,
	.unqueued = waiter_unqueued,
	.granted = waiter_granted,
	.woken = waiter_woken,
	.failed = waiter_failed,
	.login_ready = waiter_login_ready,
	.required_lsn = waiter_required_lsn,
	.take_home = waiter_take_home,
};

void client_waiter_init(void)
{
	pool_set_waiter_ops(&waiter_ops);
}
