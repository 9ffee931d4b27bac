/* consistency_store: consistency keys shared between pgrouter instances through Redis (one connection per worker). */
#ifndef PGR_RYW_STORE_H
#define PGR_RYW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config/ryw_store_url.h"

struct worker;
struct client;
struct server;
struct store_req;

/* Janitor of worker w: follow consistency_store after a reload, reconnect with backoff. */
void ryw_store_tick(struct worker *w);
/* Drop w's store connection; waiting owners fall back to local keys (shutdown, worker exit). */
void ryw_store_free(struct worker *w);

/* A keyed read that could use a replica: true when cl now waits (CL_RYW_WAIT, its message kept buffered)
   for its key's LSN from the store; false when it routes now (store off or down, or the LSN just arrived). */
bool ryw_store_fetch(struct client *cl);
/* A keyed commit at lsn on sv: true when the held ReadyForQuery now waits for the store (ryw_stored follows). */
bool ryw_store_commit(struct server *sv, const char *key, uint64_t lsn);
/* The owner of r (a client or server) is being freed: its answer goes nowhere. */
void ryw_store_detach(struct store_req *r);

/* Process-wide counters for /metrics. */
struct ryw_store_stats {
	uint64_t gets, sets; /* requests sent */
	uint64_t errors; /* requests (PINGs of new connections too) that failed or timed out */
	uint64_t skipped; /* keyed reads and commits that did not use the store: it was unreachable */
	int connected; /* worker connections up */
};
void ryw_store_stats(struct ryw_store_stats *s);

#endif
