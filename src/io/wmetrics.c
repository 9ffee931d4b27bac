/* Per-worker counters: their storage, slots claimed on first use, and the counts the io layer can make. */
#include "io/wmetrics.h"
#include "io/loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wmetrics *metrics_new(void)
{
	return calloc(1, sizeof(struct wmetrics));
}

void metrics_free(struct wmetrics *m)
{
	free(m);
}

struct met_reason *met_reason_slot(struct wmetrics *m, const char *reason)
{
	uint32_t h = (uint32_t)(((uintptr_t)reason >> 3) * 2654435761u) % MET_REASONS;
	for (int i = 0; i < MET_REASONS; i++, h = (h + 1) % MET_REASONS) {
		struct met_reason *r = &m->reason[h];
		if (!atomic_load_explicit(&r->used, memory_order_relaxed)) {
			r->key = reason;
			atomic_store_explicit(&r->used, true, memory_order_release);
			return r;
		}
		if (r->key == reason)
			return r;
	}
	return NULL;
}

struct met_rule *met_rule_slot(struct wmetrics *m, const char *name)
{
	for (int i = 0; i < MET_RULES; i++) {
		struct met_rule *r = &m->rule[i];
		if (!atomic_load_explicit(&r->used, memory_order_relaxed)) {
			snprintf(r->name, sizeof r->name, "%s", name);
			atomic_store_explicit(&r->used, true, memory_order_release);
			return r;
		}
		if (strncmp(r->name, name, sizeof r->name - 1) == 0)
			return r;
	}
	return NULL;
}

/* Compared without formatting (hot path). */
struct met_node *met_node_slot(struct wmetrics *m, const char *host, int port)
{
	for (int i = 0; i < MET_NODES; i++) {
		struct met_node *n = &m->node[i];
		if (!atomic_load_explicit(&n->used, memory_order_relaxed)) {
			n->port = port;
			snprintf(n->host, sizeof n->host, "%s", host);
			snprintf(n->name, sizeof n->name, "%s:%d", host, port);
			atomic_store_explicit(&n->used, true, memory_order_release);
			return n;
		}
		if (n->port == port && strncmp(n->host, host, sizeof n->host - 1) == 0)
			return n;
	}
	return NULL;
}

void metrics_auth_failure(struct worker *w)
{
	met_add(&w->metrics->auth_failures, 1);
}
