/* Worker threads: one event loop each, with its own listeners, clients, pools and periodic janitor. */
#ifndef PGR_WORKER_H
#define PGR_WORKER_H

#include "proxy.h"

/* Set up worker id (event base, listeners, timers) in the main thread; 0 or -1 with err. */
int worker_init(struct worker *w, int id, struct config *cfg, char *err, size_t errlen);
/* Run the worker's loop in a new thread; 0 or -1. */
int worker_start(struct worker *w);
/* Release what worker_init allocated (after the thread ended). */
void worker_free(struct worker *w);
/* Hand a cancel request to the worker that owns the client with this key. */
void worker_post_cancel(uint32_t pid, uint32_t key);
/* Hand a message to worker id (any thread); it is processed, then freed, in that worker. */
void worker_post(int id, struct inbox_msg *m);
/* Wake w from another thread (reload, shutdown, freed quota). */
void worker_kick(struct worker *w);
/* Run fn(w, arg) in worker id's thread soon (any thread); 0, or -1 when out of memory. */
int worker_run(int id, void (*fn)(struct worker *w, void *arg), void *arg);
/* In w: adopt the configuration the main thread published last, if w does not have it yet. */
void worker_maybe_reload(struct worker *w);

#endif
