/* Cluster monitor: polls every node, measures lag, finds the primary, publishes immutable snapshots. */
#ifndef PGR_MONITOR_H
#define PGR_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

struct config;

#define MON_MAX_NODES 32
#define MON_CLASSES 32 /* rotation classes: 0 is max_replica_lag, 1 + i is [routes] rule i with its own max_lag */

/* What a node is, as the servers say (role = auto) or the config says (role = config). */
enum mon_role {
	MR_UNKNOWN, /* not polled successfully yet */
	MR_PRIMARY, /* takes the cluster's writes */
	MR_REPLICA, /* in recovery: may take reads */
	MR_FENCED, /* out of recovery but lost the election (split brain): no reads, no writes */
};

/* Whether the monitor can reach a node. */
enum mon_state { MS_UNKNOWN, MS_UP, MS_DOWN };

/* One node as of the snapshot. */
struct mon_node {
	char host[128];
	int port;
	int cluster; /* nodes named together in a [databases] entry form one cluster */
	int cluster_primary; /* index of this cluster's write node, or -1 */
	enum mon_role role;
	enum mon_state state;
	uint32_t timeline;
	uint64_t wal_lsn; /* primary: pg_current_wal_lsn() */
	uint64_t receive_lsn, replay_lsn;
	int64_t lag_bytes; /* replica: primary's LSN - replay LSN; -1 unknown */
	int64_t behind_since; /* replica: monotonic µs when it stopped having the primary's data; 0 caught up; -1 unknown */
	double lag_s; /* lag in seconds when the snapshot was taken (-1 unknown) */
	uint32_t out_mask; /* rotation classes the node is out of for lag */
	int streaming; /* primary: replicas streaming from it */
	int64_t sampled_at; /* monotonic µs of the last successful poll */
	int64_t state_since;
	uint64_t polls, poll_errors;
	char error[256]; /* last poll failure (and, for a login it cannot perform, the fix) */
};

/* Everything workers need to route, published as a whole and never changed afterwards. */
struct mon_snapshot {
	uint64_t gen;
	int64_t taken_at;
	int64_t interval_us;
	int nnodes;
	struct mon_node node[MON_MAX_NODES];
};

/* Start the monitor for cfg's nodes (does nothing when monitor_interval is 0); 0 or -1. routing_changed runs
   (on the monitor's thread) after a snapshot that changed routing or answered a poke: it wakes the workers. */
int monitor_start(struct config *cfg, void (*routing_changed)(void));
/* A reloaded configuration: new nodes, limits and timings apply from the next poll. */
void monitor_reconfigure(struct config *cfg);
/* A client proved its SCRAM ClientKey for user (any thread): the monitor may log in with it when user is its
   login user and its auth_file entry is a SCRAM secret (as the pools do). */
void monitor_client_key(const char *user, const uint8_t key[32]);
/* Stop the threads (at exit). */
void monitor_stop(void);
/* Ask for a poll of every node now (e.g. a write was refused with 25006, or reads wait for a replay LSN): the
   answers are published at once and wake the workers. */
void monitor_poke(void);

/* The current snapshot, NULL when no monitor runs. Valid for the current callback only: do not keep it. */
const struct mon_snapshot *monitor_snapshot(void);
/* Index of host:port in s, or -1. */
int monitor_find(const struct mon_snapshot *s, const char *host, int port);
/* May node i take a read needing lag ≤ limit_us (≤ 0: no limit) in rotation class cls (-1: none)? */
bool monitor_readable(const struct mon_snapshot *s, int i, int cls, int64_t limit_us, int64_t now);
/* Current lag in seconds of node i (0 when caught up, -1 unknown). */
double monitor_lag_now(const struct mon_snapshot *s, int i, int64_t now);

/* Names for logs and the console. */
const char *mon_role_name(enum mon_role r);
const char *mon_state_name(enum mon_state s);

#endif
