/* PAUSE, RESUME, KILL, DISABLE, ENABLE and SHUTDOWN WAIT_FOR_CLIENTS: each worker's part (the shared state: io/pause_state.h). */
#ifndef PGR_PAUSE_H
#define PGR_PAUSE_H

#include "frontend/client.h"
#include "frontend/client_pause.h"
#include "io/pause_state.h"

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
