/* Per-worker counters summed for /metrics, /status and the console; the Prometheus exposition. Their writers
   are io/wmetrics.c, pool/pool_metrics.c and frontend/client_metrics.c. */
#ifndef PGR_METRICS_H
#define PGR_METRICS_H

#include "frontend/client.h"
#include "frontend/client_metrics.h"
#include "io/wmetrics.h"
#include "pool/pool_metrics.h"

/* Sums over all workers, for readers on any thread. */
struct metrics_totals {
	uint64_t queries, server_connects, protocol_errors, routed_primary, routed_replica, sessions_pinned, retries;
	uint64_t auth_failures, waits, wait_us;
};
void metrics_totals(struct metrics_totals *t);
/* Hits of the rule named name, over all workers. */
uint64_t metrics_rule_hits(const char *name);
/* Reads, writes and errors counted for node "host:port", over all workers. */
void metrics_node_counts(const char *name, uint64_t *reads, uint64_t *writes, uint64_t *errors);
/* Call fn once per (reason, ran-on-replica) with the count over all workers (reasons merged by text). */
void metrics_each_reason(void (*fn)(void *ctx, const char *reason, int replica, uint64_t n), void *ctx);

/* Append the Prometheus text exposition of everything to *out; 0 or -1 on allocation failure. */
int metrics_prometheus(struct iobuf **out);

#endif
