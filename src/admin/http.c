/* HTTP listener: /metrics (Prometheus text), /status (JSON) and / (the status page), in a thread of its own. */
#include "admin/http.h"
#include "base/log.h"
#include "admin/metrics.h"
#include "admin/status.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The listener's thread and loop: created by http_start, ended by http_stop (main thread only). */
static struct {
	bool running;
	pthread_t thread;
	struct event_base *base;
	struct evhttp *http;
} srv;

/* Send body (from an iobuf we built) with a content type, or a 500 when building it failed. */
static void reply(struct evhttp_request *req, int rc, struct iobuf *body, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (rc < 0) {
		evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		free(body);
		return;
	}
	evhttp_add_header(h, "Content-Type", type);
	struct evbuffer *eb = evbuffer_new();
	if (eb && body)
		evbuffer_add(eb, body->data + body->rpos, iobuf_len(body));
	free(body);
	evhttp_send_reply(req, HTTP_OK, "OK", eb);
	if (eb)
		evbuffer_free(eb);
}

/* A short plain-text answer with status code (evhttp_send_error would drop our headers). */
static void plain(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	struct evbuffer *eb = evbuffer_new();
	if (eb)
		evbuffer_add_printf(eb, "%s\n", text);
	evhttp_send_reply(req, code, reason, eb);
	if (eb)
		evbuffer_free(eb);
}

/* One request: GET (or HEAD) of /metrics, /status or /; anything else is 404. */
static void handle(struct evhttp_request *req, void *arg)
{
	(void)arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct iobuf *body = NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		plain(req, 405, "Method Not Allowed", "method not allowed: use GET or HEAD");
	} else if (!path) {
		plain(req, HTTP_BADREQUEST, "Bad Request", "bad request");
	} else if (strcmp(path, "/metrics") == 0) {
		int rc = metrics_prometheus(&body);
		reply(req, rc, body, "text/plain; version=0.0.4; charset=utf-8");
	} else if (strcmp(path, "/status") == 0) {
		int rc = status_json(&body);
		reply(req, rc, body, "application/json");
	} else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		int rc = iobuf_append(&body, http_page_html, (uint32_t)strlen(http_page_html));
		reply(req, rc, body, "text/html; charset=utf-8");
	} else {
		plain(req, HTTP_NOTFOUND, "Not Found", "not found: try /, /status or /metrics");
	}
}

static void *http_main(void *arg)
{
	(void)arg;
	event_base_dispatch(srv.base);
	return NULL;
}

int http_start(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->http_port == 0)
		return 0;
	srv.base = event_base_new();
	srv.http = srv.base ? evhttp_new(srv.base) : NULL;
	if (!srv.http) {
		snprintf(err, errlen, "cannot create the HTTP listener");
		return -1;
	}
	const char *addr =
	        cfg->http_addr && *cfg->http_addr && strcmp(cfg->http_addr, "*") != 0 ? cfg->http_addr : "0.0.0.0";
	if (!evhttp_bind_socket_with_handle(srv.http, addr, (ev_uint16_t)cfg->http_port)) {
		snprintf(err, errlen, "cannot listen for HTTP on %s:%d (http_addr, http_port)", addr, cfg->http_port);
		return -1;
	}
	evhttp_set_allowed_methods(srv.http,
	                           EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH); /* 405 below */
	evhttp_set_timeout(srv.http, 10);
	evhttp_set_max_headers_size(srv.http, 16384);
	evhttp_set_max_body_size(srv.http, 4096);
	evhttp_set_gencb(srv.http, handle, NULL);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* signals are the main thread's business */
	int rc = pthread_create(&srv.thread, NULL, http_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the HTTP thread");
		return -1;
	}
	srv.running = true;
	log_info(NULL, "HTTP status on http://%s:%d/ (/metrics, /status)", addr, cfg->http_port);
	return 0;
}

void http_stop(void)
{
	if (srv.running) {
		event_base_loopbreak(srv.base);
		pthread_join(srv.thread, NULL);
		srv.running = false;
	}
	if (srv.http)
		evhttp_free(srv.http);
	if (srv.base)
		event_base_free(srv.base);
	srv.http = NULL;
	srv.base = NULL;
}
