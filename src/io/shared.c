/* The process-wide state shared by threads: the current config, client count, shutdown mode, pool quotas. */
#include "io/shared.h"

#include <stdio.h>
#include <string.h>

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

void shared_slo_breach_add(const char *route, uint64_t usec)
{
	for (int i = 0; i < MAX_SLO_ROUTES; i++) {
		struct slo_counter *s = &g_shared.slo[i];
		if (atomic_load_explicit(&s->used, memory_order_acquire) &&
		    strncmp(s->name, route, sizeof s->name - 1) == 0) {
			atomic_fetch_add(&s->breach_us, usec);
			return;
		}
	}
	/* First breach of this route: claim a slot (rare; the lock only orders claimers, readers need none). */
	pthread_mutex_lock(&g_shared.slo_lock);
	struct slo_counter *target = NULL;
	for (int i = 0; i < MAX_SLO_ROUTES && !target; i++) {
		struct slo_counter *s = &g_shared.slo[i];
		if (!atomic_load(&s->used)) {
			snprintf(s->name, sizeof s->name, "%s", route);
			atomic_store_explicit(&s->used, true, memory_order_release);
			target = s;
		} else if (strncmp(s->name, route, sizeof s->name - 1) == 0) {
			target = s;
		}
	}
	if (target)
		atomic_fetch_add(&target->breach_us, usec);
	pthread_mutex_unlock(&g_shared.slo_lock);
}

double shared_slo_breach_seconds(const char *route)
{
	for (int i = 0; i < MAX_SLO_ROUTES; i++) {
		struct slo_counter *s = &g_shared.slo[i];
		if (atomic_load_explicit(&s->used, memory_order_acquire) &&
		    strncmp(s->name, route, sizeof s->name - 1) == 0)
			return (double)atomic_load(&s->breach_us) / 1e6;
	}
	return 0;
}
