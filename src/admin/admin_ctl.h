/* Admin console control commands and the answers that wait (what a worker needs to know of them). */
#ifndef PGR_ADMIN_CTL_H
#define PGR_ADMIN_CTL_H

#include "frontend/client.h"

/* The console's per-worker state (made by worker_init after the event base); NULL when out of memory. */
struct admin_worker *admin_worker_new(struct worker *w);
/* Free w's console commands still waiting (at exit, after every thread has stopped). */
void admin_worker_free(struct worker *w);

#endif
