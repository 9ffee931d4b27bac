/* PAUSE, RESUME, KILL, DISABLE, ENABLE and SHUTDOWN WAIT_FOR_CLIENTS: each worker's part (the shared state: io/pause_state.c). */
#include "admin/pause.h"
#include "io/loop.h"
#include "frontend/client.h"
#include "io/conn.h"
#include "base/log.h"
#include "backend/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pause_open_servers(const char *db)
{
	int n = 0;
	pthread_mutex_lock(&g_shared.pools_lock);
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &g_shared.pools)
	{
		struct pool_shared *ps = list_entry(it, struct pool_shared, node);
		if (db && strcmp(ps->dbname, db) != 0)
			continue;
		for (int i = 0; i < MAX_NODES; i++)
			n += atomic_load(&ps->quota[i].conns);
	}
	pthread_mutex_unlock(&g_shared.pools_lock);
	return n;
}

/* Close the idle and connecting servers of pool p (servers in use close when their client releases them). */
static void close_unused(struct pool *p, const char *why)
{
	for (int n = 0; n < MAX_NODES; n++) {
		struct list *lists[] = { &p->nodes[n].idle, &p->nodes[n].pending };
		for (int l = 0; l < 2; l++) {
			struct list *it, *tmp;
			list_for_each_safe(it, tmp, lists[l])
			{
				struct server *sv = list_entry(it, struct server, pool_node);
				if (!sv->client)
					server_close(sv, why);
			}
		}
	}
}

void pause_kill_local(struct worker *w, const char *db)
{
	/* Closing one client can close another (a server handed over): rescan from the start after each. */
	for (bool again = true; again;) {
		again = false;
		struct list *it, *tmp;
		list_for_each_safe(it, tmp, &w->clients)
		{
			struct client *cl = list_entry(it, struct client, all_node);
			if (cl->is_console || !cl->dbname || (db && strcmp(cl->dbname, db) != 0))
				continue;
			if (cl->state == CL_STARTUP || cl->state == CL_AUTH)
				continue; /* not logged in to a database yet */
			client_close(cl, "57P01", "terminating connection due to administrator command (KILL)");
			again = true;
			break;
		}
	}
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->pools)
	{
		struct pool *p = list_entry(it, struct pool, node);
		if (!db || strcmp(p->dbname, db) == 0)
			close_unused(p, "KILL");
	}
}

void pause_worker_tick(struct worker *w)
{
	if (atomic_load_explicit(&g_shared.pause.npaused, memory_order_relaxed)) {
		struct list *it, *tmp;
		list_for_each_safe(it, tmp, &w->pools)
		{
			struct pool *p = list_entry(it, struct pool, node);
			if (pause_is_paused(p->dbname))
				close_unused(p, "database paused");
		}
	}
	if (list_empty(&w->parked))
		return;
	/* Move the released ones aside first: resuming a client can close others on either list. */
	struct list go, *it, *tmp;
	list_init(&go);
	list_for_each_safe(it, tmp, &w->parked)
	{
		struct client *cl = list_entry(it, struct client, wait_node);
		if (!pause_is_paused(cl->dbname)) {
			list_del(it);
			list_append(&go, it);
		}
	}
	while ((it = list_pop(&go)) != NULL) {
		struct client *cl = list_entry(it, struct client, wait_node);
		conn_resume(&cl->c);
	}
}

void pause_start_drain(void)
{
	for (int i = 0; i < MAX_WORKERS; i++)
		atomic_store(&g_shared.drain_left[i], -1);
	atomic_store(&g_shared.draining, true);
	for (int i = 0; i < g_shared.nworkers; i++)
		worker_kick(&g_shared.workers[i]);
}

void pause_drain_tick(struct worker *w)
{
	int mine = 0;
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients)
	{
		struct client *cl = list_entry(it, struct client, all_node);
		mine += !cl->is_console;
	}
	atomic_store(&g_shared.drain_left[w->id], mine);
	for (int i = 0; i < g_shared.nworkers; i++)
		if (atomic_load(&g_shared.drain_left[i]) != 0)
			return;
	/* Everyone has counted zero: the first to notice starts the exit, as SIGINT does. */
	if (atomic_exchange(&g_shared.draining, false)) {
		log_info(NULL, "SHUTDOWN WAIT_FOR_CLIENTS: the last client has left; shutting down");
		kill(getpid(), SIGINT);
	}
}
