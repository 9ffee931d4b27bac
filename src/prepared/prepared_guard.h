/* pgrouter's server-side statement names are out of every client's reach. */
#ifndef PGR_PREPARED_GUARD_H
#define PGR_PREPARED_GUARD_H

#include <stdint.h>

#include "sql/classify.h"

struct client;

/* Before a client's Query or Parse (type, body of n bytes, complete) is forwarded: rename in place the
   names of pgrouter's form its SQL PREPARE, EXECUTE or DEALLOCATE statements use (see prepared_guard.c). */
void prepared_guard(struct client *cl, uint8_t type, const uint8_t *body, uint32_t n);

/* The events whose names prepared_guard looks at: a classification without them needs no call. */
#define GUARDED_EVENTS (CLS_EV_BIT(CLS_EV_PREPARE) | CLS_EV_BIT(CLS_EV_EXECUTE) | CLS_EV_BIT(CLS_EV_DEALLOCATE))

#endif
