/* Reads parked by read-your-writes (CL_RYW_WAIT): for a consistency_store answer, or by ryw_wait for a replica. */
#ifndef PGR_RYW_WAIT_H
#define PGR_RYW_WAIT_H

#include <stdbool.h>
#include <stdint.h>

struct client;
struct worker;

/* Why a client is parked. */
enum ryw_park { RYW_PARK_NONE, RYW_PARK_STORE, RYW_PARK_REPLAY, RYW_PARK_CATALOG };

/* How a read parked by ryw_wait ended (counters). */
enum ryw_wait_end { RYW_WAIT_REPLICA, RYW_WAIT_PRIMARY, RYW_WAIT_NENDS };

/* Park idle cl with its message buffered (the router then returns RS_WAIT, the client ACT_PAUSE). */
void ryw_park(struct client *cl, enum ryw_park why);
/* Unpark cl and dispatch its message again through the normal routing path (never from cl's own callback). */
void ryw_unpark(struct client *cl);
/* True while the message being dispatched is a parked one coming back (it was accepted before a shutdown). */
bool ryw_resuming(const struct client *cl);

/* A keyed read that could use a replica: true when cl now waits (CL_RYW_WAIT, its message kept buffered)
   for its key's LSN from the consistency_store; false when it routes now (store off or down, or the LSN
   just arrived). */
bool ryw_store_fetch(struct client *cl);

/* No replica shows the LSN (need) cl must read: park it for ryw_wait and true, or false when it may not wait
   (ryw_wait = 0, no monitor, shutting down, or its wait is over). */
bool ryw_wait_park(struct client *cl, uint64_t need);
/* cl's unit is routed (replica: to a replica): counts and clears its wait, if it waited. */
void ryw_wait_routed(struct client *cl, bool replica);
/* Dispatch again the reads of w parked by ryw_wait that may go now (new snapshot, time up, reload, shutdown). */
void ryw_wait_tick(struct worker *w);
/* Free w's timer (worker exit; its clients were closed first). */
void ryw_wait_free(struct worker *w);

/* Reads that waited, by how they ended; and the total time they waited (µs). */
uint64_t ryw_wait_stat(enum ryw_wait_end e);
uint64_t ryw_wait_stat_us(void);

#endif
