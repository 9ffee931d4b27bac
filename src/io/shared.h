/* The process-wide state shared by threads: the current config, client count, shutdown mode, pool quotas. */
#ifndef PGR_SHARED_H
#define PGR_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/list.h"
#include "config/config.h"
#include "io/loop.h"

/* Process-wide state shared by all threads; mutated only as documented in shared.c. */
/* Databases held by PAUSE or KILL (src/admin/pause.c); the hot path reads npaused only. */
#define MAX_PAUSED 64
struct pause_state {
	atomic_int npaused; /* entries below, plus one for "all": 0 means nothing is paused */
	atomic_uint epoch; /* bumped on every change, so waiting PAUSEs notice a RESUME */
	pthread_mutex_t lock;
	bool all;
	char *db[MAX_PAUSED];
	/* Databases refused to new clients by DISABLE (same lock; logins read ndisabled first). */
	atomic_int ndisabled;
	char *disabled[MAX_PAUSED];
};

/* Seconds each [routes] rule's max_lag was not met, by rule name: fed by the cluster monitor (shared.c). */
#define MAX_SLO_ROUTES 128
struct slo_counter {
	atomic_bool used; /* set (release) once name is written; slots are never reused */
	char name[64];
	_Atomic uint64_t breach_us;
};

struct shared {
	_Atomic(struct config *) cfg;
	pthread_mutex_t cfg_lock; /* taking a reference to cfg and replacing it exclude each other */
	atomic_int nclients; /* logged-in clients (max_client_conn counts these) */
	atomic_int shutdown; /* 0 running, 1 safe shutdown (SIGINT), 2 immediate (SIGTERM) */
	atomic_uint reload_gen;
	int nworkers;
	struct worker *workers;
	pthread_mutex_t pools_lock;
	struct list pools; /* struct pool_shared */
	uint8_t mock_key[32]; /* random per process: fake SCRAM salts for unknown users */
	struct pause_state pause;
	atomic_bool draining; /* SHUTDOWN WAIT_FOR_CLIENTS: no new connections, exit when clients are gone */
	atomic_int drain_left[MAX_WORKERS]; /* per worker: its non-console clients (-1: not counted yet) */
	int64_t start_time; /* wall-clock µs at startup */
	pthread_mutex_t slo_lock; /* claiming a slo slot (counting needs no lock) */
	struct slo_counter slo[MAX_SLO_ROUTES];
};

/* A reference to the current config (drop it with config_put); safe from any thread. */
struct config *shared_config_get(void);
/* Make nc the current config (takes over the caller's reference) and drop the old one. */
void shared_config_publish(struct config *nc);

/* The cluster monitor reports that route's max_lag was not met for usec more microseconds. Any thread. */
void shared_slo_breach_add(const char *route, uint64_t usec);
/* Seconds recorded for route so far. Any thread. */
double shared_slo_breach_seconds(const char *route);

extern struct shared g_shared;

#endif
