/* The process-wide state shared by threads: the current config, client count, shutdown mode, pool quotas. */
#include "io/shared.h"

/* Written by the main thread (cfg, shutdown, workers) or through atomics and pools_lock only. */
struct shared g_shared = {
	.pools_lock = PTHREAD_MUTEX_INITIALIZER,
	.cfg_lock = PTHREAD_MUTEX_INITIALIZER,
	.pools = { &g_shared.pools, &g_shared.pools },
	.pause = { .lock = PTHREAD_MUTEX_INITIALIZER },
	.slo_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* Under cfg_lock a reader's config_get cannot race with the last config_put of the config it loaded. */
struct config *shared_config_get(void)
{
	pthread_mutex_lock(&g_shared.cfg_lock);
	struct config *c = atomic_load(&g_shared.cfg);
	if (c)
		config_get(c);
	pthread_mutex_unlock(&g_shared.cfg_lock);
	return c;
}

void shared_config_publish(struct config *nc)
{
	pthread_mutex_lock(&g_shared.cfg_lock);
	struct config *old = atomic_load(&g_shared.cfg);
	atomic_store(&g_shared.cfg, nc);
	pthread_mutex_unlock(&g_shared.cfg_lock);
	config_put(old);
}
