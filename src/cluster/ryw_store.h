/* consistency_store: consistency keys shared between pgrouter instances through Redis (one connection per worker). */
#ifndef PGR_RYW_STORE_H
#define PGR_RYW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config/ryw_store_url.h"

struct worker;
struct store_req;

/* Janitor of worker w: follow consistency_store after a reload, reconnect with backoff. */
void ryw_store_tick(struct worker *w);
/* Drop w's store connection; waiting owners get their answer (0) at once (shutdown, worker exit). */
void ryw_store_free(struct worker *w);

/* A request's answer, in the worker's thread and never inside the owner's own callback: the key's LSN for a
   GET (0: unknown, or the store failed or timed out); 0 for a SET, whether or not the store took it. */
typedef void (*ryw_store_done)(void *owner, uint64_t lsn);
/* Ask w's store for key's LSN: the request (done(owner, lsn) follows), or NULL when the store is off
   (consistency_store unset, read_your_writes not lsn), down, or the request could not be sent. */
struct store_req *ryw_store_get(struct worker *w, const char *key, ryw_store_done done, void *owner);
/* Raise key to at least lsn in w's store: the request (done follows), or NULL as for ryw_store_get. */
struct store_req *ryw_store_set(struct worker *w, const char *key, uint64_t lsn, ryw_store_done done, void *owner);
/* The owner of r (NULL: none) is being freed: its answer goes nowhere. */
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
