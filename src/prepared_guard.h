/* pgrouter's server-side statement names are out of every client's reach. */
#ifndef PGR_PREPARED_GUARD_H
#define PGR_PREPARED_GUARD_H

#include <stdint.h>

struct client;

/* Before a client message (type, body of n bytes, complete) is forwarded: rename in place any reference
   to a name of pgrouter's form that is not the client's own statement (see prepared_guard.c). */
void prepared_guard(struct client *cl, uint8_t type, const uint8_t *body, uint32_t n);

#endif
