/* The hot-path counter of a client's link to a server (per worker, struct wmetrics in io/wmetrics.h). */
#ifndef PGR_CLIENT_METRICS_H
#define PGR_CLIENT_METRICS_H

#include "io/wmetrics.h"

struct client;

/* A client of w is being linked to a server: count the assignment and, if it queued, its wait. */
void metrics_linked(struct worker *w, struct client *cl);

#endif
