/* PAUSE, RESUME, KILL, DISABLE, ENABLE and SHUTDOWN WAIT_FOR_CLIENTS: the shared pause state and each worker's part in it. */
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

/* Index of db among the paused names, or -1 (caller holds the lock). */
static int find_locked(const char *db)
{
	for (int i = 0; i < MAX_PAUSED; i++)
		if (g_shared.pause.db[i] && strcmp(g_shared.pause.db[i], db) == 0)
			return i;
	return -1;
}

/* Recount npaused and bump the epoch after a change (caller holds the lock). */
static void changed_locked(void)
{
	int n = g_shared.pause.all ? 1 : 0;
	for (int i = 0; i < MAX_PAUSED; i++)
		n += g_shared.pause.db[i] != NULL;
	atomic_store(&g_shared.pause.npaused, n);
	atomic_fetch_add(&g_shared.pause.epoch, 1);
}

int pause_set(const char *db, char *err, size_t errlen)
{
	struct pause_state *ps = &g_shared.pause;
	int rc = 0;
	pthread_mutex_lock(&ps->lock);
	if (ps->all) {
		snprintf(err, errlen, "all databases are already paused");
		rc = -1;
	} else if (!db) {
		ps->all = true;
	} else if (find_locked(db) >= 0) {
		snprintf(err, errlen, "database %s is already paused", db);
		rc = -1;
	} else {
		int slot = -1;
		for (int i = 0; slot < 0 && i < MAX_PAUSED; i++)
			if (!ps->db[i])
				slot = i;
		if (slot < 0 || !(ps->db[slot] = strdup(db))) {
			snprintf(err, errlen, "too many paused databases");
			rc = -1;
		}
	}
	if (rc == 0)
		changed_locked();
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

int pause_clear(const char *db, char *err, size_t errlen)
{
	struct pause_state *ps = &g_shared.pause;
	int rc = 0;
	pthread_mutex_lock(&ps->lock);
	if (!db) {
		bool any = ps->all;
		ps->all = false;
		for (int i = 0; i < MAX_PAUSED; i++) {
			any |= ps->db[i] != NULL;
			free(ps->db[i]);
			ps->db[i] = NULL;
		}
		if (!any) {
			snprintf(err, errlen, "nothing is paused");
			rc = -1;
		}
	} else {
		int i = find_locked(db);
		if (i >= 0) {
			free(ps->db[i]);
			ps->db[i] = NULL;
		} else if (ps->all) {
			snprintf(err, errlen, "all databases are paused: RESUME without a name resumes them");
			rc = -1;
		} else {
			snprintf(err, errlen, "database %s is not paused", db);
			rc = -1;
		}
	}
	if (rc == 0)
		changed_locked();
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

bool pause_is_paused_slow(const char *dbname)
{
	pthread_mutex_lock(&g_shared.pause.lock);
	bool held = g_shared.pause.all || find_locked(dbname) >= 0;
	pthread_mutex_unlock(&g_shared.pause.lock);
	return held;
}

/* Index of db among the disabled names, or -1 (caller holds the lock). */
static int find_disabled_locked(const char *db)
{
	for (int i = 0; i < MAX_PAUSED; i++)
		if (g_shared.pause.disabled[i] && strcmp(g_shared.pause.disabled[i], db) == 0)
			return i;
	return -1;
}

int pause_disable(const char *db, bool on, char *err, size_t errlen)
{
	struct pause_state *ps = &g_shared.pause;
	int rc = 0;
	pthread_mutex_lock(&ps->lock);
	int i = find_disabled_locked(db);
	if (!on && i >= 0) {
		free(ps->disabled[i]);
		ps->disabled[i] = NULL;
		atomic_fetch_sub(&ps->ndisabled, 1);
	} else if (on && i < 0) {
		for (i = 0; i < MAX_PAUSED && ps->disabled[i]; i++)
			;
		if (i == MAX_PAUSED || !(ps->disabled[i] = strdup(db))) {
			snprintf(err, errlen, "too many disabled databases");
			rc = -1;
		} else {
			atomic_fetch_add(&ps->ndisabled, 1);
		}
	}
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

bool pause_is_disabled_slow(const char *dbname)
{
	pthread_mutex_lock(&g_shared.pause.lock);
	bool off = find_disabled_locked(dbname) >= 0;
	pthread_mutex_unlock(&g_shared.pause.lock);
	return off;
}

bool pause_park_slow(struct client *cl)
{
	if (!pause_is_paused_slow(cl->dbname))
		return false;
	if (list_empty(&cl->wait_node)) {
		list_append(&cl->c.w->parked, &cl->wait_node);
		log_debug(cl->c.prefix, "database %s is paused: the client waits for RESUME", cl->dbname);
	}
	return true;
}

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
