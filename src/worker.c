/* Worker threads: one event loop each, with its own listeners, clients, pools and periodic janitor. */
#include "worker.h"
#include "sql/classify.h"
#include "frontend/client.h"
#include "frontend/clientauth.h"
#include "io/conn.h"
#include "admin/admin_ctl.h"
#include "session/catalog_wait.h"
#include "base/log.h"
#include "base/sdnotify.h"
#include "admin/metrics.h"
#include "io/net.h"
#include "admin/pause.h"
#include "pool/pool.h"
#include "cluster/ryw_store.h"
#include "prepared/prepared.h"
#include "session/ryw_wait.h"
#include "backend/server.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define JANITOR_USEC 100000 /* timeouts are checked ten times a second */

/* Free connections closed during earlier callbacks: never inside their own callback. */
static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct list *it;
	while ((it = list_pop(&w->justfree)) != NULL) {
		struct conn *c = container_of(it, struct conn, free_node);
		c->destroy(c);
	}
}

/* Out of descriptors: refuse one pending connection with the spare descriptor, or stop accepting briefly. */
static void accept_emfile(struct worker *w, int lfd, struct event *ev)
{
	if (w->reserve_fd >= 0) {
		close(w->reserve_fd);
		w->reserve_fd = -1;
		int fd = accept(lfd, NULL, NULL);
		if (fd >= 0) {
			close(fd);
			log_warn(NULL,
			         "out of file descriptors: refused a connection (raise ulimit -n, or lower "
			         "max_client_conn or max_pending_logins)");
		}
		w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && w->reserve_fd >= 0)
			return;
	}
	/* No spare (another thread took the slot) or nothing was waiting: do not spin, retry from the janitor. */
	event_del(ev);
	w->accept_paused = true;
}

/* Accept up to 256 connections queued on lfd; true when more may be waiting. An immediate shutdown closes them;
   otherwise they are served (a safe shutdown too: they came before the listeners closed). */
static bool accept_queued(struct worker *w, int lfd, struct event *ev)
{
	for (int i = 0; i < 256; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				accept_emfile(w, lfd, ev);
			return false;
		}
		if (atomic_load(&g_shared.shutdown) == 2) {
			close(fd);
			continue;
		}
		client_accept(w, fd);
	}
	return true;
}

/* Accept every pending connection; on EMFILE give up the spare descriptor to refuse one cleanly. */
static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct worker *w = arg;
	struct event *ev = NULL;
	for (int i = 0; i < w->nlisten; i++)
		if (w->listen_fd[i] == lfd)
			ev = w->listen_ev[i];
	w->now = now_usec();
	/* More may be waiting: come back after other events had their turn. */
	if (accept_queued(w, lfd, ev) && ev)
		event_active(ev, EV_READ, 0);
}

/* Resume accepting after a pause at the descriptor limit, and return memory after a flood of clients. */
static void accept_resume(struct worker *w)
{
	if (w->reserve_fd < 0)
		w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (w->accept_paused && !w->stopping) {
		w->accept_paused = false;
		for (int i = 0; i < w->nlisten; i++)
			event_add(w->listen_ev[i], NULL);
	}
}

/* glibc keeps freed memory of a connection flood; give it back once most of those clients are gone. */
static void trim_after_flood(struct worker *w)
{
	int n = w->n_clients;
	if (n > w->peak_clients)
		w->peak_clients = n;
	/* Every 200 departures of a flood, and once more when the last of them has gone. */
	/* Closed connections are freed after this callback (reap_cb): trim on the next tick. */
	if (w->trim_due) {
		malloc_trim(0);
		w->trim_due = false;
	}
	if (w->peak_clients - n >= 200 || (n == 0 && w->peak_clients >= 20)) {
		w->trim_due = true;
		w->peak_clients = n;
	}
}

/* Stop listening. Unless shutting down at once, what the kernel already queued is accepted first: closing a
   listener resets the connections in its queue (with so_reuseport they would have gone to another process). */
static void close_listeners(struct worker *w)
{
	bool drain = atomic_load(&g_shared.shutdown) != 2;
	for (int i = 0; i < w->nlisten; i++) {
		/* Bounded: a flood arriving faster than it is accepted cannot keep the listener open. */
		for (int round = 0; drain && w->listen_fd[i] >= 0 && round < 64; round++)
			if (!accept_queued(w, w->listen_fd[i], w->listen_ev[i]))
				break;
		if (w->listen_ev[i]) {
			event_free(w->listen_ev[i]);
			w->listen_ev[i] = NULL;
		}
		if (w->listen_fd[i] >= 0) {
			close(w->listen_fd[i]);
			w->listen_fd[i] = -1;
		}
	}
	w->nlisten = 0;
}

/* Close the server connections of every pool at shutdown (once clients are gone, also those still
   resetting or waiting for a cancel). */
static void close_idle_servers(struct worker *w)
{
	struct list *pit, *ptmp;
	list_for_each_safe(pit, ptmp, &w->pools)
	{
		struct pool *p = list_entry(pit, struct pool, node);
		for (int n = 0; n < MAX_NODES; n++) {
			struct list *lists[] = { &p->nodes[n].idle, &p->nodes[n].pending, &p->nodes[n].used,
				                 &p->nodes[n].closing };
			for (int l = 0; l < 4; l++) {
				struct list *it, *tmp;
				list_for_each_safe(it, tmp, lists[l])
				{
					struct server *sv = list_entry(it, struct server, pool_node);
					if (!sv->client)
						server_close(sv, "shutdown");
				}
			}
		}
	}
}

/* Shutdown progress: immediate closes everything; safe closes clients as their transactions end;
   SHUTDOWN WAIT_FOR_CLIENTS only stops accepting until the clients have gone. */
static void shutdown_step(struct worker *w)
{
	int mode = atomic_load(&g_shared.shutdown);
	if (!mode && atomic_load(&g_shared.draining)) {
		if (!w->stopping) {
			w->stopping = true;
			close_listeners(w);
		}
		pause_drain_tick(w);
		return;
	}
	if (!mode)
		return;
	if (!w->stopping) {
		w->stopping = true;
		close_listeners(w);
	}
	/* Closing one client can close another (a server handed over): rescan from the start after each. */
	for (bool again = true; again;) {
		again = false;
		struct list *it, *tmp;
		list_for_each_safe(it, tmp, &w->clients)
		{
			struct client *cl = list_entry(it, struct client, all_node);
			bool busy = cl->state == CL_WAITING || cl->state == CL_RYW_WAIT ||
			        (cl->state == CL_LINKED && cl->server && !server_is_clean(cl->server)) ||
			        client_shutdown_spares(cl);
			if (mode == 2 || !busy) {
				client_close(cl, "57P01", "pgrouter is shutting down");
				again = true;
				break;
			}
		}
	}
	if (list_empty(&w->clients)) {
		close_idle_servers(w);
		event_base_loopexit(w->base, NULL);
	}
}

void worker_maybe_reload(struct worker *w)
{
	struct config *cur = shared_config_get();
	if (cur == w->cfg) {
		config_put(cur);
		return;
	}
	struct config *old = w->cfg;
	w->cfg = cur;
	config_put(old);
	pool_reconfigure(w);
}

/* Cross-thread wake-up: inbox, reload, shutdown, and slots freed by other workers. */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	w->now = now_usec();
	uint64_t kicks;
	if (fd >= 0 && read(fd, &kicks, sizeof kicks) < 0 && errno != EAGAIN)
		log_warn("worker", "reading the wake-up descriptor: %s", strerror(errno));
	struct list batch;
	list_init(&batch);
	pthread_mutex_lock(&w->inbox_lock);
	struct list *it;
	while ((it = list_pop(&w->inbox)) != NULL)
		list_append(&batch, it);
	pthread_mutex_unlock(&w->inbox_lock);
	while ((it = list_pop(&batch)) != NULL) {
		struct inbox_msg *m = list_entry(it, struct inbox_msg, node);
		if (m->kind == INBOX_CANCEL)
			client_cancel_request(w, m->pid, m->key);
		else if (m->kind == INBOX_AUTH)
			clientauth_lookup_done(w, m->pid, m->key, m->secret, m->failed);
		else if (m->kind == INBOX_RUN)
			m->fn(w, m->arg);
		free(m->secret);
		free(m);
	}
	worker_maybe_reload(w);
	pool_sync_all(w); /* the monitor may have woken us: a new primary, or a node down */
	ryw_wait_tick(w); /* ... or a snapshot with the replay LSN that parked reads need */
	struct list *pit, *ptmp;
	list_for_each_safe(pit, ptmp, &w->pools)
	{
		struct pool *p = list_entry(pit, struct pool, node);
		pool_finish_logins(p);
		for (int n = 0; n < p->nnodes; n++)
			if (p->nodes[n].n_waiting)
				pool_launch(p, n);
	}
	pause_worker_tick(w);
	shutdown_step(w);
}

/* Client-side timeouts: login, idle, and idle in transaction. */
static void client_timeouts(struct worker *w)
{
	const struct config *cfg = w->cfg;
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients)
	{
		struct client *cl = list_entry(it, struct client, all_node);
		int64_t age = w->now - cl->state_since;
		if ((cl->state == CL_STARTUP || cl->state == CL_AUTH) && cfg->client_login_timeout &&
		    w->now - cl->connect_time > cfg->client_login_timeout)
			client_close(cl, "08P01", "client_login_timeout: login took too long");
		else if (cl->state == CL_IDLE && cfg->client_idle_timeout && age > cfg->client_idle_timeout)
			client_close(cl, "08P01", "client_idle_timeout: connection idle too long");
		else if (cl->state == CL_LINKED && cfg->idle_transaction_timeout && cl->server &&
		         cl->server->expect_z == 0 && cl->server->tx_status != 'I' &&
		         w->now - cl->server->last_used > cfg->idle_transaction_timeout)
			client_close(cl, "25P03", "idle_transaction_timeout: transaction idle too long");
	}
}

static void janitor_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	w->now = now_usec();
	worker_maybe_reload(w);
	pool_janitor(w);
	ryw_store_tick(w);
	catalog_wait_tick(w, false);
	client_timeouts(w);
	accept_resume(w);
	trim_after_flood(w);
	pause_worker_tick(w);
	shutdown_step(w);
}

/* The Unix socket has no SO_REUSEPORT: worker 0 opens it, the others accept on duplicates of its descriptor. */
static int add_unix_listener(struct worker *w, const struct config *cfg, int *n, char *err, size_t errlen)
{
	static int first_fd = -1;
	if (!*cfg->unix_socket_dir)
		return 0;
	int fd = w->id == 0 ? net_listen_unix(cfg->unix_socket_dir, cfg->listen_port, cfg->unix_mode,
	                                      cfg->unix_socket_group, err, errlen)
	                    : fcntl(first_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		if (w->id != 0)
			snprintf(err, errlen, "unix socket: dup: %s", strerror(errno));
		return -1;
	}
	if (w->id == 0)
		first_fd = fd;
	w->listen_fd[(*n)++] = fd;
	return 0;
}

int worker_init(struct worker *w, int id, struct config *cfg, char *err, size_t errlen)
{
	memset(w, 0, sizeof *w);
	loop_on_reload(worker_maybe_reload); /* the console's RELOAD and SET adopt the new config through it */
	w->id = id;
	w->cfg = config_get(cfg);
	w->now = now_usec();
	list_init(&w->clients);
	list_init(&w->logins);
	list_init(&w->pools);
	list_init(&w->justfree);
	list_init(&w->cancel_reqs);
	list_init(&w->inbox);
	list_init(&w->parked);
	list_init(&w->ryw_parked);
	pthread_mutex_init(&w->inbox_lock, NULL);
	w->maxfree = 64; /* enough for bursts; a flood's buffers go back to the allocator */
	w->freebufs = calloc((size_t)w->maxfree, sizeof *w->freebufs);
	w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	w->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->cls_cache = cls_cache_new(8192, 16384);
	w->cls_shapes = cls_cache_new(4096, CLS_SHAPE_MAX);
	w->param_values = str_intern_new();
	w->metrics = metrics_new();
	/* Only this worker's thread touches its loop (other threads write kick_fd): no lock per event. */
	struct event_config *ec = event_config_new();
	event_config_require_features(ec, EV_FEATURE_ET | EV_FEATURE_EARLY_CLOSE);
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!w->base || !w->freebufs || !w->metrics || w->kick_fd < 0) {
		snprintf(err, errlen, "cannot create an edge-triggered event loop");
		return -1;
	}
	/* The socket file first: once the TCP port answers, the Unix socket exists too. */
	int n = 0;
	if (add_unix_listener(w, cfg, &n, err, errlen) < 0)
		return -1;
	/* With so_reuseport another process on the port is the point: no probe for one. */
	bool probe = id == 0 && !cfg->so_reuseport;
	/* Under socket activation the manager's sockets replace listen_addr's: every worker accepts on its copy. */
	int ntcp = sdnotify_listen_fds() > 0
	        ? sdnotify_take_listeners(w->listen_fd + n, 8 - n, err, errlen)
	        : net_listen(cfg->listen_addr, cfg->listen_port, w->listen_fd + n, 8 - n, probe, err, errlen);
	if (ntcp < 0) {
		if (n > 0 && id == 0)
			net_unlink_unix(cfg->unix_socket_dir, cfg->listen_port);
		while (n > 0)
			close(w->listen_fd[--n]);
		return -1;
	}
	n += ntcp;
	w->nlisten = n;
	for (int i = 0; i < n; i++) {
		w->listen_ev[i] = event_new(w->base, w->listen_fd[i], EV_READ | EV_PERSIST, accept_cb, w);
		event_add(w->listen_ev[i], NULL);
	}
	w->kick_ev = event_new(w->base, w->kick_fd, EV_READ | EV_PERSIST, kick_cb, w);
	event_add(w->kick_ev, NULL);
	w->admin = admin_worker_new(w);
	if (!w->admin) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->reap_ev = event_new(w->base, -1, 0, reap_cb, w);
	w->janitor_ev = event_new(w->base, -1, EV_PERSIST, janitor_cb, w);
	struct timeval tv = { 0, JANITOR_USEC };
	event_add(w->janitor_ev, &tv);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	loop_enter(w);
	event_base_dispatch(w->base);
	/* Leaving: everything still open goes now. */
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients)
	        client_close(list_entry(it, struct client, all_node), "57P01", "pgrouter is shutting down");
	close_idle_servers(w);
	cancel_close_all(w); /* a cancel for a departed client's statement may still be on its way */
	ryw_store_free(w); /* before the loop goes: its events live in w->base */
	reap_cb(-1, 0, w);
	return NULL;
}

int worker_start(struct worker *w)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* signals are the main thread's business */
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc == 0 ? 0 : -1;
}

void worker_free(struct worker *w)
{
	close_listeners(w);
	ryw_store_free(w);
	pool_free_all(w);
	struct list *it;
	while ((it = list_pop(&w->inbox)) != NULL) {
		struct inbox_msg *m = list_entry(it, struct inbox_msg, node);
		free(m->secret);
		free(m);
	}
	for (int i = 0; i < w->nfree; i++)
		free(w->freebufs[i]);
	free(w->freebufs);
	admin_worker_free(w);
	metrics_free(w->metrics);
	ryw_wait_free(w);
	cls_cache_free(w->cls_cache);
	cls_cache_free(w->cls_shapes);
	ps_intern_free(w->ps_intern);
	str_intern_free(w->param_values);
	free(w->learned);
	if (w->kick_ev)
		event_free(w->kick_ev);
	if (w->kick_fd >= 0)
		close(w->kick_fd);
	if (w->reap_ev)
		event_free(w->reap_ev);
	if (w->janitor_ev)
		event_free(w->janitor_ev);
	if (w->base)
		event_base_free(w->base);
	if (w->reserve_fd >= 0)
		close(w->reserve_fd);
	config_put(w->cfg);
}
