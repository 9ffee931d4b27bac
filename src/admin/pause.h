/* PAUSE, RESUME, KILL, DISABLE, ENABLE and SHUTDOWN WAIT_FOR_CLIENTS: the shared pause state and each worker's part in it. */
#ifndef PGR_PAUSE_H
#define PGR_PAUSE_H

#include "frontend/client.h"

/* Hold db (NULL: every database); 0, or -1 with err when it is already paused. */
int pause_set(const char *db, char *err, size_t errlen);
/* Release db (NULL: everything); 0, or -1 with err when it was not paused. */
int pause_clear(const char *db, char *err, size_t errlen);
/* True when dbname is held by PAUSE or KILL (any thread; takes the pause lock only while something is paused). */
bool pause_is_paused_slow(const char *dbname);
static inline bool pause_is_paused(const char *dbname)
{
	return atomic_load_explicit(&g_shared.pause.npaused, memory_order_relaxed) != 0 && pause_is_paused_slow(dbname);
}

/* DISABLE (on) or ENABLE (off) new client logins to db; 0, or -1 with err when too many are disabled. */
int pause_disable(const char *db, bool on, char *err, size_t errlen);
/* True when db refuses new client logins (DISABLE); any thread. */
bool pause_is_disabled_slow(const char *dbname);
static inline bool pause_is_disabled(const char *dbname)
{
	return atomic_load_explicit(&g_shared.pause.ndisabled, memory_order_relaxed) != 0 &&
	        pause_is_disabled_slow(dbname);
}

/* The hot-path check before a client's next unit of work: true when cl was parked (its input waits for RESUME). */
bool pause_park_slow(struct client *cl);
static inline bool pause_park(struct client *cl)
{
	return atomic_load_explicit(&g_shared.pause.npaused, memory_order_relaxed) != 0 && pause_park_slow(cl);
}

/* Server connections of db (NULL: all databases) still open or opening, over all workers. */
int pause_open_servers(const char *db);

/* In worker w: close every client and server connection of db (NULL: all but the console). */
void pause_kill_local(struct worker *w, const char *db);
/* In worker w: close idle servers of paused databases, and resume parked clients whose database was resumed. */
void pause_worker_tick(struct worker *w);

/* SHUTDOWN WAIT_FOR_CLIENTS: stop accepting, and shut down (as SIGINT) once no client but the console is left. */
void pause_start_drain(void);
/* In worker w while draining: publish how many non-console clients it still has; the last one out starts the exit. */
void pause_drain_tick(struct worker *w);

#endif
