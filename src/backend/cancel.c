/* Cancel requests toward PostgreSQL: a short-lived connection that carries a backend's key. */
#include "backend/server.h"
#include "io/conn.h"
#include "base/log.h"
#include "io/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct cancel_req {
	struct conn c;
	struct server *sv;
	struct list sv_node;
	struct list w_node; /* on its worker's cancel_reqs until it is finished */
	uint32_t pid, key;
	bool sent;
};

#define CR(c) container_of(c, struct cancel_req, c)

static void cancel_finish(struct cancel_req *cr)
{
	struct server *sv = cr->sv;
	list_del(&cr->w_node);
	if (sv) {
		cr->sv = NULL;
		list_del(&cr->sv_node);
		sv->cancels_inflight--;
		if (sv->cancels_inflight == 0 && sv->release_when_cancelled && sv->state == SV_RESET &&
		    sv->skip_z == 0) {
			sv->release_when_cancelled = false;
			sv->ev->ready(sv);
		}
	}
	conn_close(&cr->c);
}

void cancel_close_all(struct worker *w)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->cancel_reqs) cancel_finish(list_entry(it, struct cancel_req, w_node));
}

void server_detach_cancels(struct server *sv)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &sv->cancels)
	{
		struct cancel_req *cr = list_entry(it, struct cancel_req, sv_node);
		list_del(&cr->sv_node);
		cr->sv = NULL;
	}
	sv->cancels_inflight = 0;
}

static enum act cancel_on_msg(struct conn *c, uint8_t type, uint32_t len, const uint8_t *body)
{
	return ACT_SKIP; /* the postmaster answers a cancel with nothing but a close */
}

static void cancel_on_eof(struct conn *c, const char *why)
{
	cancel_finish(CR(c));
}

static void cancel_on_bad(struct conn *c, const char *why, const uint8_t *e, size_t n)
{
	cancel_finish(CR(c));
}

static void cancel_on_writable(struct conn *c)
{
	struct cancel_req *cr = CR(c);
	if (cr->sent)
		return;
	int err = 0;
	socklen_t el = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		cancel_finish(cr);
		return;
	}
	cr->sent = true;
	if (msg_cancel_request(conn_out(c), cr->pid, cr->key) < 0)
		cancel_finish(cr);
}

static void cancel_destroy(struct conn *c)
{
	free(CR(c));
}

static void cancel_noop_last(struct conn *c)
{
	(void)c;
}

static const struct conn_ops cancel_ops = {
	.on_msg = cancel_on_msg,
	.after_last = cancel_noop_last,
	.on_eof = cancel_on_eof,
	.on_bad_input = cancel_on_bad,
	.on_writable = cancel_on_writable,
	.dir = FROM_SERVER,
};

void server_cancel(struct server *sv)
{
	struct server_dest d;
	sv->ev->dest(sv->pool, sv->node, &d);
	int err = 0;
	struct cancel_req *cr = calloc(1, sizeof *cr);
	if (!cr)
		return;
	int fd = net_connect(d.host, d.port, &err);
	if (fd < 0) {
		log_warn(sv->c.prefix, "cancel: connect failed: %s", strerror(err));
		free(cr);
		return;
	}
	conn_init(&cr->c, sv->c.w, fd, &cancel_ops, 'x');
	cr->c.destroy = cancel_destroy;
	cr->sv = sv;
	cr->pid = sv->be_pid;
	cr->key = sv->be_key;
	list_append(&sv->c.w->cancel_reqs, &cr->w_node);
	list_append(&sv->cancels, &cr->sv_node);
	sv->cancels_inflight++;
	if (conn_start(&cr->c) < 0)
		cancel_finish(cr);
	log_debug(sv->c.prefix, "cancel request sent for backend %u", sv->be_pid);
}
