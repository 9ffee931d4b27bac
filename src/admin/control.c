/* Configuration changes made by the main thread for others: SIGHUP, and the console's RELOAD and SET. */
#include "admin/control.h"
#include "config/config.h"
#include "base/log.h"
#include "base/log_syslog.h"
#include "base/sdnotify.h"
#include "cluster/monitor.h"
#include "frontend/client.h"
#include "io/loop.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Requests waiting for the main thread, and the event that wakes it (set up once by control_init). */
static struct {
	pthread_mutex_t lock;
	struct list queue;
	struct event *ev;
} ctl = { .lock = PTHREAD_MUTEX_INITIALIZER, .queue = LIST_INIT(ctl.queue) };

static int control_reload_file(char *err, size_t errlen);

/* Put nc in place of the running config: restart-only settings keep their running values. */
static void publish(struct config *nc)
{
	struct config *old = shared_config_get();
	config_log_changes(old, nc);
	config_keep_restart_settings(old, nc);
	config_put(old);
	log_setup(nc->verbose >= 2 ? LOG_DEBUG : LOG_INFO, NULL);
	log_reopen();
	logsys_configure(nc->syslog, nc->syslog_ident, nc->syslog_facility);
	monitor_reconfigure(nc); /* takes its own reference before nc is published (and may be replaced) */
	shared_config_publish(nc);
	for (int i = 0; i < g_shared.nworkers; i++)
		worker_kick(&g_shared.workers[i]);
}

/* The service manager sees RELOADING=1 until the new file is in place (or refused), then READY=1 again. */
static void notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sdnotify_send("RELOADING=1\nMONOTONIC_USEC=%lld", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

int control_reload(char *err, size_t errlen)
{
	notify_reloading();
	int rc = control_reload_file(err, errlen);
	sdnotify_send("READY=1\nSTATUS=%s",
	              rc < 0 ? "reload failed, running on the previous configuration" : "configuration reloaded");
	return rc;
}

/* Read the file again and publish it; 0, or -1 with err (the running configuration stays). */
static int control_reload_file(char *err, size_t errlen)
{
	struct config *old = shared_config_get();
	struct config *nc = config_reload(old, err, errlen); /* the console's SETs stay unless the file changed them */
	config_put(old);
	if (!nc) {
		log_error(NULL, "reload failed, keeping the running configuration: %s", err);
		return -1;
	}
	publish(nc);
	log_info(NULL, "configuration reloaded");
	return 0;
}

/* SET key = value: the running file text with every SET so far and this one on top. */
static int control_set(struct control_req *r)
{
	struct config *old = shared_config_get();
	struct config *nc = NULL;
	int rc = config_with_setting(old, r->key, r->value, &nc, r->err, sizeof r->err);
	config_put(old);
	if (rc != CFGSET_OK) {
		log_info(NULL, "SET %s refused: %s", r->key, r->err);
		return rc;
	}
	publish(nc);
	log_info(NULL, "SET %s applied from the admin console", r->key);
	return 0;
}

/* Main thread: answer every queued request. */
static void on_requests(evutil_socket_t fd, short what, void *arg)
{
	for (;;) {
		pthread_mutex_lock(&ctl.lock);
		struct list *it = list_pop(&ctl.queue);
		pthread_mutex_unlock(&ctl.lock);
		if (!it)
			return;
		struct control_req *r = list_entry(it, struct control_req, node);
		r->rc = r->kind == CTL_RELOAD ? control_reload(r->err, sizeof r->err) : control_set(r);
		atomic_store_explicit(&r->done, true, memory_order_release);
	}
}

int control_init(struct event_base *base)
{
	ctl.ev = event_new(base, -1, EV_PERSIST, on_requests, NULL);
	return ctl.ev ? 0 : -1;
}

void control_free(void)
{
	if (ctl.ev)
		event_free(ctl.ev);
	ctl.ev = NULL;
}

void control_submit(struct control_req *r)
{
	atomic_store(&r->done, false);
	pthread_mutex_lock(&ctl.lock);
	list_append(&ctl.queue, &r->node);
	pthread_mutex_unlock(&ctl.lock);
	event_active(ctl.ev, EV_READ, 0);
}
