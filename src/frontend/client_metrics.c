/* The hot-path counter of a client's link to a server: assignments, and how long clients queued for one. */
#include "frontend/client_metrics.h"
#include "frontend/client.h"
#include "pool/pool.h"

void metrics_linked(struct worker *w, struct client *cl)
{
	if (!cl->pool)
		return;
	cl->pool->n_assignments++;
	if (cl->state != CL_WAITING)
		return;
	int64_t waited = w->now - cl->state_since;
	if (waited < 0)
		waited = 0;
	cl->pool->wait_us += (uint64_t)waited;
	met_add(&w->metrics->waits, 1);
	met_add(&w->metrics->wait_us, (uint64_t)waited);
}
