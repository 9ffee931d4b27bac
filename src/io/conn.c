/* The relay: reads sockets, frames messages, asks the owner what to do with each, forwards bytes. */
#include "io/conn.h"
#include "base/log.h"
#include "proto/cursor.h"
#include "io/tls.h"
#include "io/shared.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DRIVE_ROUNDS 32 /* reads per callback before yielding to other connections */

/* How pumping went: read more, wait (blocked or paused), closed; inside pump, also go on with the next message
   or stop at the end of the buffered input. */
enum pump { PUMP_MORE, PUMP_BLOCKED, PUMP_CLOSED, PUMP_GO, PUMP_STOP };

int64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Standard buffers come from a per-worker stack so forwarding never mallocs in steady state. */
struct iobuf *buf_get(struct worker *w)
{
	if (w->nfree > 0)
		return w->freebufs[--w->nfree];
	return iobuf_new((uint32_t)w->cfg->pkt_buf);
}

/* Keep standard-size buffers for reuse; free grown ones. */
void buf_put(struct worker *w, struct iobuf *b)
{
	if (!b)
		return;
	if (b->cap == (uint32_t)w->cfg->pkt_buf && w->nfree < w->maxfree) {
		b->rpos = b->wpos = 0;
		w->freebufs[w->nfree++] = b;
		return;
	}
	free(b);
}

/* Empty buffers go back to the cache: an idle connection holds none. */
void conn_trim(struct conn *c)
{
	if (c->in && c->in->rpos == c->in->wpos && c->pending == 0) {
		buf_put(c->w, c->in);
		c->in = NULL;
	}
	if (c->out && c->out->rpos == c->out->wpos) {
		buf_put(c->w, c->out);
		c->out = NULL;
	}
}

struct iobuf **conn_out(struct conn *c)
{
	/* Before authentication only short answers are sent: a small buffer, not one from the cache. */
	if (!c->out)
		c->out = c->phase == PHASE_PREAUTH ? iobuf_new(512) : buf_get(c->w);
	return &c->out;
}

void conn_init(struct conn *c, struct worker *w, int fd, const struct conn_ops *ops, char kind)
{
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->w = w;
	c->ops = ops;
	c->kind = kind;
	c->id = ++w->next_id;
	c->want_read = true;
	c->phase = PHASE_READY;
	list_init(&c->free_node);
	snprintf(c->prefix, sizeof c->prefix, "%c%d-%u", kind, w->id, c->id);
}

static void conn_event_cb(evutil_socket_t fd, short what, void *arg);

int conn_start(struct conn *c)
{
	if (event_assign(&c->ev, c->w->base, c->fd, EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, conn_event_cb,
	                 c) < 0)
		return -1;
	return event_add(&c->ev, NULL);
}

bool conn_can_inject(const struct conn *c)
{
	return !(c->peer && c->peer->pending);
}

void conn_link(struct conn *a, struct conn *b)
{
	a->peer = b;
	b->peer = a;
}

/* Bytes already decided for a vanished peer are dropped, and the rest of that message too. */
static void drop_pending(struct conn *c)
{
	if (c->pending) {
		c->in->rpos += c->pending;
		c->pending = 0;
	}
	if (c->pkt_remain && c->pkt_action == ACT_SEND)
		c->pkt_action = ACT_SKIP;
	c->send_last = false;
}

void conn_unlink(struct conn *a)
{
	struct conn *b = a->peer;
	a->peer = NULL;
	drop_pending(a);
	if (b && b->peer == a) {
		b->peer = NULL;
		drop_pending(b);
	}
}

/* Consume k written bytes: first from dst->out, then from src's decided bytes. */
static void written(struct conn *dst, struct conn *src, uint32_t k)
{
	uint32_t outlen = iobuf_len(dst->out);
	uint32_t from_out = k < outlen ? k : outlen;
	if (from_out)
		dst->out->rpos += from_out;
	k -= from_out;
	if (k) {
		src->in->rpos += k;
		src->pending -= k;
	}
	conn_trim(dst);
	if (src)
		conn_trim(src);
}

/* TLS cannot gather: write the two pieces as separate records. */
static int write_to_tls(struct conn *dst, struct conn *src)
{
	for (;;) {
		const uint8_t *p;
		uint32_t n;
		if (iobuf_len(dst->out)) {
			p = dst->out->data + dst->out->rpos;
			n = iobuf_len(dst->out);
		} else if (src && src->pending) {
			p = src->in->data + src->in->rpos;
			n = src->pending;
		} else {
			return 1;
		}
		int w = tls_write(dst, p, n);
		if (w <= 0)
			return w;
		written(dst, src, (uint32_t)w);
	}
}

/* Write dst->out, then src's decided bytes, to dst's socket: 1 all written, 0 would block, -1 failed. */
static int write_to(struct conn *dst, struct conn *src)
{
	if (dst->tls)
		return dst->tls_handshaking ? 0 : write_to_tls(dst, src);
	for (;;) {
		struct iovec iov[2];
		int n = 0;
		uint32_t outlen = iobuf_len(dst->out);
		uint32_t pend = src ? src->pending : 0;
		if (outlen)
			iov[n++] = (struct iovec){ dst->out->data + dst->out->rpos, outlen };
		if (pend)
			iov[n++] = (struct iovec){ src->in->data + src->in->rpos, pend };
		if (n == 0)
			return 1;
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(dst->fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		written(dst, src, (uint32_t)w);
	}
}

/* Write c's decided bytes to its peer: 1 done, 0 would block, -1 c got closed meanwhile. */
static int flush_pending(struct conn *c)
{
	struct conn *dst = c->peer;
	if (!dst) {
		drop_pending(c);
		return 1;
	}
	int r = write_to(dst, c);
	if (r < 0) {
		dst->eof = true;
		dst->ops->on_eof(dst, "write to socket failed");
		return c->closing ? -1 : 1;
	}
	if (r == 0)
		c->blocked = true;
	return r;
}

bool conn_flush_out(struct conn *c)
{
	if (c->closing)
		return false;
	if (write_to(c, NULL) < 0)
		return false;
	return true;
}

/* Make the whole message of `total` bytes at the scan position fit in the input buffer. */
static int make_room(struct conn *c, uint32_t total)
{
	uint32_t limit = (uint32_t)c->w->cfg->max_packet_size + PROTO_HDR + c->pending;
	uint32_t have = iobuf_len(c->in) - c->pending;
	if (total <= have)
		return 0;
	return iobuf_reserve(&c->in, total - have, limit);
}

/* Frame the next startup-phase packet: int32 length then body, no type byte. */
static enum act next_startup(struct conn *c, const uint8_t *p, uint32_t avail)
{
	if (avail < 4)
		return ACT_NEED_FULL;
	uint32_t len = get_u32(p);
	if (len < 8 || len > STARTUP_MAX_LEN) {
		c->ops->on_bad_input(c, BAD_STARTUP_LENGTH, p, avail < 16 ? avail : 16);
		return ACT_CLOSED;
	}
	if (avail < len) {
		if (make_room(c, len) < 0) {
			c->ops->on_bad_input(c, "out of memory", NULL, 0);
			return ACT_CLOSED;
		}
		return ACT_NEED_FULL;
	}
	/* The handler gets a copy: it may flush and recycle the input buffer while it works. */
	uint8_t pkt[STARTUP_MAX_LEN];
	memcpy(pkt, p, len);
	c->in->rpos += len;
	return c->ops->on_startup(c, pkt, len);
}

/* The message marked ACT_SEND_LAST has been decided whole: once it has reached the peer, tell the owner. */
static enum pump finish_last(struct conn *c)
{
	int r = flush_pending(c);
	if (r == 0)
		return PUMP_BLOCKED;
	if (r < 0)
		return PUMP_CLOSED;
	c->send_last = false;
	c->ops->after_last(c);
	return PUMP_GO;
}

/* Decide the next avail bytes of the current message as its first part was (forward or drop). */
static enum pump pass_rest(struct conn *c, uint32_t avail)
{
	uint32_t n = avail < c->pkt_remain ? avail : c->pkt_remain;
	if (c->pkt_action == ACT_SEND) {
		c->pending += n;
	} else {
		if (c->pending) {
			int r = flush_pending(c);
			if (r <= 0)
				return r == 0 ? PUMP_BLOCKED : PUMP_CLOSED;
		}
		c->in->rpos += n;
	}
	c->pkt_remain -= n;
	return PUMP_GO;
}

/* Frame the message at p (avail bytes) and ask the owner about it: the action, with *len its wire length (0 for
   startup-phase packets and single bytes); ACT_NEED_FULL with *len 0 when more input is needed first. */
static enum act next_msg(struct conn *c, const uint8_t *p, uint32_t avail, uint32_t *len)
{
	*len = 0;
	if (c->byte_phase) {
		uint8_t b = *p;
		c->in->rpos++;
		return c->ops->on_startup(c, &b, 1);
	}
	if (c->startup_phase)
		return next_startup(c, p, avail);
	uint8_t type;
	enum frame_status fs =
	        proto_frame(p, avail, c->ops->dir, c->phase, (uint32_t)c->w->cfg->max_packet_size, &type, len);
	if (fs == FRAME_NEED_MORE) {
		*len = 0;
		return ACT_NEED_FULL;
	}
	if (fs != FRAME_OK) {
		c->ops->on_bad_input(c, fs == FRAME_BAD_TYPE ? "invalid message type" : "invalid message length", p,
		                     avail < 16 ? avail : 16);
		return ACT_CLOSED;
	}
	const uint8_t *body = avail - PROTO_HDR >= *len - 4 ? p + PROTO_HDR : NULL;
	return c->ops->on_msg(c, type, *len, body);
}

/* Carry out the owner's action a about the message at p of wire length len (0: a startup packet or byte). */
static enum pump apply(struct conn *c, enum act a, const uint8_t *p, uint32_t len)
{
	switch (a) {
	case ACT_SEND:
	case ACT_SEND_LAST:
	case ACT_SKIP:
		c->nmsg++;
		c->pkt_remain = len + 1;
		c->pkt_action = a == ACT_SKIP ? ACT_SKIP : ACT_SEND;
		c->send_last = a == ACT_SEND_LAST;
		return PUMP_GO;
	case ACT_CONSUMED:
		c->nmsg++;
		if (len)
			c->in->rpos += len + 1;
		return PUMP_GO;
	case ACT_NEED_FULL:
		if (!len)
			return PUMP_STOP; /* the header, or a startup packet, is not complete yet */
		if (make_room(c, len + 1) < 0) {
			c->ops->on_bad_input(c, "message too large", p, 5);
			return PUMP_CLOSED;
		}
		return PUMP_MORE;
	case ACT_FLUSH_FIRST: {
		int r = flush_pending(c);
		return r <= 0 ? (r == 0 ? PUMP_BLOCKED : PUMP_CLOSED) : PUMP_GO;
	}
	case ACT_PAUSE:
		c->paused = true;
		/* What was decided before the paused message still goes out: the peer may need it to finish. */
		if (c->pending && flush_pending(c) < 0)
			return PUMP_CLOSED;
		return PUMP_BLOCKED;
	case ACT_CLOSED: return PUMP_CLOSED;
	}
	return PUMP_CLOSED;
}

/* Decide and act on buffered messages until input runs out, the peer is full, or the owner pauses. */
static enum pump pump(struct conn *c)
{
	enum pump r = PUMP_GO;
	while (!c->closing && r == PUMP_GO) {
		uint32_t avail = c->in ? iobuf_len(c->in) - c->pending : 0;
		if (c->send_last && c->pkt_remain == 0) {
			r = finish_last(c);
		} else if (c->pkt_remain) {
			r = avail ? pass_rest(c, avail) : PUMP_STOP;
		} else if (c->paused) {
			return PUMP_BLOCKED;
		} else if (!avail) {
			r = PUMP_STOP;
		} else {
			const uint8_t *p = c->in->data + c->in->rpos + c->pending;
			uint32_t len;
			enum act a = next_msg(c, p, avail, &len);
			r = apply(c, a, p, len);
		}
	}
	if (c->closing)
		return PUMP_CLOSED;
	if (r != PUMP_STOP)
		return r;
	/* Whatever was decided goes out now: one write per burst of input (with what pgrouter wrote for the
	   peer in between, e.g. a rewritten message). */
	if (c->pending || (c->peer && iobuf_len(c->peer->out))) {
		int f = flush_pending(c);
		if (f <= 0)
			return f == 0 ? PUMP_BLOCKED : PUMP_CLOSED;
	}
	return PUMP_MORE; /* conn_drive trims the buffers when it stops; a read may come first */
}

/* Read once into c->in: >0 bytes read, 0 would block, -1 EOF or error. */
static int read_some(struct conn *c)
{
	if (!c->in) {
		/* Before authentication a connection gets a small buffer: idle or hostile ones cost little. */
		c->in = c->phase == PHASE_PREAUTH ? iobuf_new(512) : buf_get(c->w);
		if (!c->in)
			return 0;
	}
	struct iobuf *b = c->in;
	if (b->rpos == b->wpos)
		b->rpos = b->wpos = 0; /* all of it decided and written: read into the whole buffer */
	if (b->wpos == b->cap) {
		if (b->rpos == 0)
			return 0; /* full of undecided bytes: the pump asked for room already */
		iobuf_compact(b);
	}
	uint32_t space = b->cap - b->wpos;
	if (c->tls) {
		int n = tls_read(c, b->data + b->wpos, space);
		if (n > 0)
			b->wpos += (uint32_t)n;
		return n;
	}
	for (;;) {
		ssize_t n = recv(c->fd, b->data + b->wpos, space, 0);
		if (n > 0) {
			b->wpos += (uint32_t)n;
			/* A short read drained the socket and the next arrival signals again, unless the
			   peer's FIN came in the same edge: then only reading on shows the EOF. */
			if ((uint32_t)n < space && !c->rdhup)
				c->want_read = false;
			return (int)n;
		}
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->want_read = false;
			return 0;
		}
		return -1;
	}
}

void conn_drive(struct conn *c)
{
	if (c->in_drive) {
		c->redrive = true;
		return;
	}
	c->in_drive = true;
	for (int rounds = 0; !c->closing; rounds++) {
		c->redrive = false;
		enum pump r = pump(c);
		if (r == PUMP_CLOSED || c->closing)
			break;
		if (r == PUMP_BLOCKED) {
			if (c->redrive)
				continue;
			break;
		}
		if (c->eof) {
			c->ops->on_eof(c, "connection closed by peer");
			break;
		}
		if (!c->want_read) {
			if (c->redrive)
				continue;
			break;
		}
		if (rounds >= DRIVE_ROUNDS) {
			/* Let other connections run; come back through the event loop. */
			event_active(&c->ev, EV_READ, 0);
			break;
		}
		int n = read_some(c);
		if (n < 0)
			c->eof = true;
		else if (n == 0 && c->want_read)
			break; /* buffer full of undecided bytes: cannot happen unless out of memory */
	}
	c->in_drive = false;
	if (!c->closing)
		conn_trim(c);
}

void conn_resume(struct conn *c)
{
	if (c->closing)
		return;
	c->paused = false;
	conn_drive(c);
}

/* Writability resumes whoever was blocked on this socket, then reads are handled. */
static void conn_on_writable(struct conn *c)
{
	if (c->ops->on_writable) {
		c->ops->on_writable(c);
		if (c->closing)
			return;
	}
	struct conn *src = c->peer && c->peer->pending ? c->peer : NULL;
	int r = write_to(c, src);
	if (r < 0) {
		c->eof = true;
		c->ops->on_eof(c, "write to socket failed");
		return;
	}
	if (r > 0 && c->peer && c->peer->blocked) {
		c->peer->blocked = false;
		conn_drive(c->peer);
	}
}

static void conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	c->w->now = now_usec();
	if (c->closing)
		return;
	if (c->tls_handshaking) {
		char err[200];
		int r = tls_handshake(c, err, sizeof err);
		if (r == 0)
			return;
		c->tls_handshaking = false;
		c->ops->on_tls_done(c, r < 0 ? err : NULL);
		if (c->closing || r < 0)
			return;
		what |= EV_READ | EV_WRITE; /* data may have arrived with the last handshake record */
	}
	if (what & EV_WRITE)
		conn_on_writable(c);
	if (what & EV_CLOSED)
		c->rdhup = true;
	if (!c->closing && (what & (EV_READ | EV_CLOSED))) {
		c->want_read = true;
		conn_drive(c);
	}
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->fd >= 0) {
		/* Best effort: a final ErrorResponse still in out is worth one try. */
		if (iobuf_len(c->out))
			(void)write_to(c, NULL);
		if (event_initialized(&c->ev))
			event_del(&c->ev);
		tls_detach(c);
		close(c->fd);
		c->fd = -1;
	}
	if (c->peer)
		conn_unlink(c);
	buf_put(c->w, c->in);
	buf_put(c->w, c->out);
	c->in = c->out = NULL;
	list_append(&c->w->justfree, &c->free_node);
	event_active(c->w->reap_ev, EV_TIMEOUT, 0);
}

int conn_start_tls(struct conn *c, struct ssl_ctx_st *ctx, bool as_server, const char *host, bool verify_host)
{
	if (tls_attach(c, ctx, as_server, host, verify_host) < 0)
		return -1;
	c->tls_handshaking = true;
	/* The peer's first flight may already be waiting: with edge triggering nobody would tell us again. */
	event_active(&c->ev, EV_READ, 0);
	return 0;
}

int conn_pending_to_peer(struct conn *c)
{
	if (!c->pending)
		return 0;
	if (!c->peer || iobuf_append(conn_out(c->peer), c->in->data + c->in->rpos, c->pending) < 0)
		return -1;
	c->in->rpos += c->pending;
	c->pending = 0;
	return 0;
}

int conn_unread(struct conn *c, const void *p, uint32_t n)
{
	if (c->pending || c->pkt_remain)
		return -1;
	if (!c->in)
		c->in = buf_get(c->w);
	if (!c->in || iobuf_reserve(&c->in, n, UINT32_MAX / 2) < 0)
		return -1;
	struct iobuf *b = c->in;
	iobuf_compact(b);
	memmove(b->data + n, b->data, b->wpos);
	memcpy(b->data, p, n);
	b->wpos += n;
	return 0;
}

void conn_send_error(struct conn *c, const char *severity, const char *sqlstate, const char *msg)
{
	if (c->closing)
		return;
	if (msg_error(conn_out(c), severity, sqlstate, msg) == 0)
		conn_flush_out(c);
}
