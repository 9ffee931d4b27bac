/* A worker's event loop as lower layers see it: its struct, the inbox other threads post to, and kicks. */
#ifndef PGR_LOOP_H
#define PGR_LOOP_H

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/list.h"
#include "config/config.h"

struct iobuf;
struct cls_cache;
struct cls_result;
struct client;
struct ps_intern;
struct str_intern;
struct worker;

#define MAX_WORKERS 64

/* A request handed to a worker from another thread. */
struct inbox_msg {
	struct list node;
	int kind; /* INBOX_CANCEL, INBOX_AUTH, INBOX_RUN */
	void (*fn)(struct worker *w, void *arg); /* INBOX_RUN: call fn(w, arg) in the worker */
	void *arg;
	uint32_t pid, key; /* the client (pgrouter's cancel key identifies it) */
	char *secret; /* INBOX_AUTH: the user's secret from auth_query, or NULL */
	bool failed; /* INBOX_AUTH: the lookup itself failed */
};
#define INBOX_CANCEL 1
#define INBOX_AUTH 2
#define INBOX_RUN 3

struct admin_worker;
struct wmetrics;
struct ryw_store;
struct ryw_waitq;

/* One event-loop thread: owns its clients, servers and pools. */
struct worker {
	int id;
	pthread_t thread;
	struct event_base *base;
	int nlisten;
	int listen_fd[8];
	struct event *listen_ev[8];
	struct event *kick_ev; /* reads kick_fd: other threads wake this loop through the eventfd */
	int kick_fd;
	struct event *janitor_ev;
	struct event *reap_ev;
	struct config *cfg;
	struct list clients;
	struct list pools;
	struct list justfree; /* closed conns, freed by reap_ev after the current callback */
	struct list cancel_reqs; /* cancel requests still on their way to a postmaster (src/backend/cancel.c) */
	struct iobuf **freebufs;
	int nfree, maxfree;
	pthread_mutex_t inbox_lock;
	struct list inbox;
	uint32_t next_id;
	uint32_t next_cancel_seq;
	int64_t now; /* monotonic µs, refreshed at each callback */
	struct cls_cache *cls_cache; /* classification results by query text (this thread only) */
	struct cls_cache *cls_shapes; /* fast-path results by literal-blind shape (classify_shape.c) */
	struct ps_intern *ps_intern; /* prepared statements by content, shared by this thread's clients */
	struct str_intern *param_values; /* session setting values of this worker's clients and servers */
	uint32_t rr; /* round-robin counter for replica choice */
	uint64_t *learned; /* fingerprints of statements a replica refused as writes (open addressing) */
	uint32_t n_learned;
	int reserve_fd; /* spare descriptor released to accept and refuse on EMFILE */
	bool accept_paused; /* listeners unregistered at the descriptor limit until the next janitor run */
	int peak_clients; /* most clients since memory was last trimmed */
	bool trim_due; /* give freed memory back at the next janitor run */
	int n_clients; /* clients of this worker */
	struct list logins; /* clients not authenticated yet, oldest first (by login_node) */
	int n_logins;
	uint64_t n_logins_dropped; /* oldest logins in progress closed to make room for new ones */
	int64_t logins_warned; /* when dropping logins was last logged (µs) */
	bool stopping;
	struct list parked; /* clients held by PAUSE or KILL until RESUME (src/admin/pause.c) */
	struct admin_worker *admin; /* console commands of this worker's clients still running (admin_ctl.c) */
	struct wmetrics *metrics; /* counters for /metrics and the console (metrics.c) */
	struct ryw_store *store; /* its consistency_store connection, or NULL (ryw_store.c) */
	struct list ryw_parked; /* clients in CL_RYW_WAIT, by wait_node (src/session/ryw_wait.c) */
	struct ryw_waitq *ryw_wait; /* the timer that ends ryw_wait's waits, or NULL */
	/* counters */
	uint64_t n_queries, n_server_connects, n_bad_input;
	uint64_t n_routed_primary, n_routed_replica, n_pinned, n_retries;
};

/* This thread runs w's loop from now on (worker_kick from it is a direct activation). */
void loop_enter(struct worker *w);
/* Wake w's loop from any thread. */
void worker_kick(struct worker *w);
/* Hand m to worker id's inbox (any thread; the worker frees m). */
void worker_post(int id, struct inbox_msg *m);
/* Hand a CancelRequest to the worker whose client pgrouter's cancel key pid names. */
void worker_post_cancel(uint32_t pid, uint32_t key);
/* Run fn(w, arg) in worker id's thread; 0, or -1 when it could not be queued. */
int worker_run(int id, void (*fn)(struct worker *w, void *arg), void *arg);
/* In w: adopt the configuration the main thread published last, if w does not have it yet (through the
   function loop_on_reload registered; nothing before that). */
void loop_adopt_config(struct worker *w);
/* Register what loop_adopt_config runs: the worker layer, which knows what a new config rebuilds (once, at startup). */
void loop_on_reload(void (*fn)(struct worker *w));

#endif
