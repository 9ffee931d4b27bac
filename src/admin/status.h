/* Node and route status for SHOW NODES/ROUTES, /metrics and /status: one interface, from the config today,
   from the cluster monitor once it runs. */
#ifndef PGR_STATUS_H
#define PGR_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "base/iobuf.h"
#include "admin/metrics.h"

enum node_role { NODE_ROLE_UNKNOWN = 0, NODE_ROLE_PRIMARY, NODE_ROLE_REPLICA, NODE_ROLE_FENCED };
enum node_state { NODE_STATE_UNKNOWN = 0, NODE_STATE_UP, NODE_STATE_DOWN };

/* One server node: a distinct host:port over all [databases] entries. */
struct node_status {
	char name[MET_NODE_NAME]; /* "host:port" as configured */
	enum node_role role; /* what the node is now (the monitor's view), else its configured role */
	enum node_state state;
	double lag_seconds; /* replay lag; NAN when unknown */
	int64_t lag_bytes; /* replay lag in bytes; -1 when unknown */
	char replay_lsn[24]; /* e.g. "0/3000060"; "" when unknown */
	bool in_rotation; /* takes the traffic of its role (reads for a replica, writes for the primary) */
	char why_not[300]; /* when not in rotation: why (e.g. "weight=0", "down", "lag 12s > 5s") */
	uint64_t reads, writes; /* units of work routed to it: replica-eligible / primary-only */
	uint64_t errors; /* failed connection or login attempts */
};

/* Fill out[0..max) with every configured node (primaries first, in config order); returns how many.
   Any thread. */
int status_nodes(struct node_status *out, int max);

/* One [routes] rule. */
struct route_status {
	char name[64];
	char match[256]; /* "database=app application_name=grafana" */
	const char *target; /* "auto", "primary", "replica" */
	const char *fallback; /* "primary", "error" */
	int64_t max_lag_ms; /* -1: not set */
	int64_t max_lag_bytes; /* -1: not set */
	uint64_t hits; /* units of work it matched, over all workers */
	double slo_breach_seconds; /* time its max_lag was not met (fed by the monitor; 0 until then) */
};

/* Fill out[0..max) with cfg's rules in file order; returns how many. Any thread. */
int status_routes(const struct config *cfg, struct route_status *out, int max);

const char *status_role_name(enum node_role r);
const char *status_state_name(enum node_state s);

/* Append the /status JSON document to *out; 0 or -1. */
int status_json(struct iobuf **out);

#endif
