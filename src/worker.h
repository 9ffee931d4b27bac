/* Worker threads: one event loop each, with its own listeners, clients, pools and periodic janitor. */
#ifndef PGR_WORKER_H
#define PGR_WORKER_H

#include "frontend/client.h"

/* Set up worker id (event base, listeners, timers) in the main thread; 0 or -1 with err. */
int worker_init(struct worker *w, int id, struct config *cfg, char *err, size_t errlen);
/* Run the worker's loop in a new thread; 0 or -1. */
int worker_start(struct worker *w);
/* Release what worker_init allocated (after the thread ended). */
void worker_free(struct worker *w);
/* In w: adopt the configuration the main thread published last, if w does not have it yet. */
void worker_maybe_reload(struct worker *w);

#endif
