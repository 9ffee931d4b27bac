/* The worker loop's services for every layer: kicks from any thread, the inbox, running a function in a worker. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/loop.h"
#include "io/shared.h"

static __thread struct worker *this_worker; /* the worker whose loop runs on this thread, or NULL */
static void (*reload_fn)(struct worker *w); /* set once before the workers start, read by them */

void loop_enter(struct worker *w)
{
	this_worker = w;
}

/* Wake w's loop: directly on its own thread, through its eventfd from any other. */
void worker_kick(struct worker *w)
{
	if (this_worker == w) {
		event_active(w->kick_ev, EV_READ, 0);
		return;
	}
	uint64_t one = 1;
	while (write(w->kick_fd, &one, sizeof one) < 0 && errno == EINTR)
		; /* EAGAIN: the counter is saturated, a wake-up is pending anyway */
}

int worker_run(int id, void (*fn)(struct worker *w, void *arg), void *arg)
{
	struct inbox_msg *m = calloc(1, sizeof *m);
	if (!m)
		return -1;
	m->kind = INBOX_RUN;
	m->fn = fn;
	m->arg = arg;
	worker_post(id, m);
	return 0;
}

void worker_post(int id, struct inbox_msg *m)
{
	struct worker *w = &g_shared.workers[id];
	pthread_mutex_lock(&w->inbox_lock);
	list_append(&w->inbox, &m->node);
	pthread_mutex_unlock(&w->inbox_lock);
	worker_kick(w);
}

void worker_post_cancel(uint32_t pid, uint32_t key)
{
	uint32_t id = pid >> 24;
	if ((int)id >= g_shared.nworkers)
		return;
	struct inbox_msg *m = calloc(1, sizeof *m);
	if (!m)
		return;
	m->kind = INBOX_CANCEL;
	m->pid = pid;
	m->key = key;
	worker_post((int)id, m);
}

void loop_on_reload(void (*fn)(struct worker *w))
{
	reload_fn = fn;
}

void loop_adopt_config(struct worker *w)
{
	if (reload_fn)
		reload_fn(w);
}
