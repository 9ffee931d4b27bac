/* The process-wide state shared by threads: the current config, client count, shutdown mode, pool quotas. */
#include "proxy.h"

/* Written by the main thread (cfg, shutdown, workers) or through atomics and pools_lock only. */
struct shared g_shared = {
	.pools_lock = PTHREAD_MUTEX_INITIALIZER,
	.pools = { &g_shared.pools, &g_shared.pools },
};
