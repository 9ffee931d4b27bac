/* The hot-path counters of a pool's work (per worker, struct wmetrics in io/wmetrics.h). */
#ifndef PGR_POOL_METRICS_H
#define PGR_POOL_METRICS_H

#include <stdbool.h>

#include "io/wmetrics.h"

struct pool;

/* A unit of work of pool p was routed to node: read tells whether the router found it replica-eligible. */
void metrics_routed(struct worker *w, struct pool *p, int node, bool read, const char *reason, const char *rule);
/* Connecting or logging in to node of pool p failed. */
void metrics_node_error(struct worker *w, struct pool *p, int node);

#endif
