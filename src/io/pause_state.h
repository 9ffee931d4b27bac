/* The shared pause state (PAUSE, KILL, DISABLE in g_shared.pause): changed by the console, checked anywhere. */
#ifndef PGR_PAUSE_STATE_H
#define PGR_PAUSE_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "io/shared.h"

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

#endif
