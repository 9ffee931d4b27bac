/* Parking a client of a paused database until RESUME (the pause state: io/pause_state.h). */
#ifndef PGR_CLIENT_PAUSE_H
#define PGR_CLIENT_PAUSE_H

#include "frontend/client.h"
#include "io/pause_state.h"

/* The hot-path check before a client's next unit of work: true when cl was parked (its input waits for RESUME). */
bool pause_park_slow(struct client *cl);
static inline bool pause_park(struct client *cl)
{
	return atomic_load_explicit(&g_shared.pause.npaused, memory_order_relaxed) != 0 && pause_park_slow(cl);
}

#endif
