/* Per-worker counters (struct wmetrics): written by their worker only, on the hot path; read anywhere. */
#ifndef PGR_WMETRICS_H
#define PGR_WMETRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct worker;

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

/* The slot counting reason (a static string, so its address identifies it), claimed on first use; NULL if full. */
struct met_reason *met_reason_slot(struct wmetrics *m, const char *reason);
/* The slot of the rule named name (as far as a slot holds it), claimed on first use; NULL if full. */
struct met_rule *met_rule_slot(struct wmetrics *m, const char *name);
/* The slot of node host:port, claimed on first use; NULL if full. */
struct met_node *met_node_slot(struct wmetrics *m, const char *host, int port);

/* A client login was refused (bad password, unknown user, HBA, certificate). */
void metrics_auth_failure(struct worker *w);

#endif
