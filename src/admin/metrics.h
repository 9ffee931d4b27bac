/* Per-worker counters for /metrics, /status and the console: written by their worker only, read anywhere. */
#ifndef PGR_METRICS_H
#define PGR_METRICS_H

#include "frontend/client.h"

#define MET_REASONS 128 /* distinct routing reasons (static strings) counted per worker */
#define MET_RULES 128 /* distinct [routes] rule names */
#define MET_NODES 64 /* distinct host:port nodes */
#define MET_NODE_NAME 280

/* One counter with a single writer (its worker): a plain add, published with a relaxed store. */
typedef _Atomic uint64_t met_ctr;
static inline void met_add(met_ctr *c, uint64_t d)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_relaxed);
}
static inline uint64_t met_get(met_ctr *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Slots are claimed once (key written, then used set with release) and never reused, so readers need no lock. */
struct met_reason {
	atomic_bool used;
	const char *key; /* a static reason string from the router or the classifier */
	met_ctr n[2]; /* units that ran on the primary [0] or a replica [1] */
};

struct met_rule {
	atomic_bool used;
	char name[64];
	met_ctr hits; /* units of work the rule matched */
};

struct met_node {
	atomic_bool used;
	int port;
	char host[256];
	char name[MET_NODE_NAME]; /* "host:port" */
	met_ctr reads, writes; /* units routed to it that were replica-eligible / needed the primary */
	met_ctr errors; /* failed connection or login attempts */
};

struct wmetrics {
	struct met_reason reason[MET_REASONS];
	struct met_rule rule[MET_RULES];
	struct met_node node[MET_NODES];
	met_ctr auth_failures; /* client logins refused */
	met_ctr waits, wait_us; /* clients that had to queue for a server, and how long they waited in total */
};

/* A zeroed set of counters, or NULL. */
struct wmetrics *metrics_new(void);
void metrics_free(struct wmetrics *m);

/* A unit of work of pool p was routed to node: read tells whether the router found it replica-eligible. */
void metrics_routed(struct worker *w, struct pool *p, int node, bool read, const char *reason, const char *rule);
/* A client of w is being linked to a server: count the assignment and, if it queued, its wait. */
void metrics_linked(struct worker *w, struct client *cl);
/* Connecting or logging in to node of pool p failed. */
void metrics_node_error(struct worker *w, struct pool *p, int node);
/* A client login was refused (bad password, unknown user, HBA, certificate). */
void metrics_auth_failure(struct worker *w);

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
