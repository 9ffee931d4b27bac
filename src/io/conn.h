/* The relay: reads sockets, frames messages, asks the owner what to do with each, forwards bytes. */
#ifndef PGR_CONN_H
#define PGR_CONN_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/iobuf.h"
#include "base/list.h"
#include "proto/codec.h"

struct worker;
struct ssl_st;
struct ssl_ctx_st;

/* What a message handler tells the relay to do with the message at the scan position. */
enum act {
	ACT_SEND, /* forward the whole message to the peer */
	ACT_SEND_LAST, /* forward it, and once it has reached the peer call ops->after_last */
	ACT_SKIP, /* drop it */
	ACT_CONSUMED, /* the handler used the (complete) message; drop it */
	ACT_NEED_FULL, /* call again once the whole message is buffered */
	ACT_FLUSH_FIRST, /* call again once bytes already decided have been written */
	ACT_PAUSE, /* stop reading this connection until conn_resume() */
	ACT_CLOSED, /* the handler closed the connection */
};

struct conn;

/* on_bad_input's why for a startup packet whose length is out of bounds. */
#define BAD_STARTUP_LENGTH "invalid startup packet length"

/* Per-kind behaviour plugged into the relay. */
struct conn_ops {
	/* Decide about one message; body is the message after the length word when it is fully buffered, else NULL. */
	enum act (*on_msg)(struct conn *c, uint8_t type, uint32_t len, const uint8_t *body);
	/* A startup-phase (untyped) packet, complete. */
	enum act (*on_startup)(struct conn *c, const uint8_t *pkt, uint32_t len);
	/* The message marked ACT_SEND_LAST has been written to the peer. */
	void (*after_last)(struct conn *c);
	/* The socket hit EOF or an error after all buffered input was processed. */
	void (*on_eof)(struct conn *c, const char *why);
	/* Malformed input: send an error and close (one path for all bad input). why is
	 * BAD_STARTUP_LENGTH when the first packet's length is impossible. */
	void (*on_bad_input)(struct conn *c, const char *why, const uint8_t *excerpt, size_t n);
	/* The socket became writable (e.g. a connect completed); may be NULL. */
	void (*on_writable)(struct conn *c);
	/* The TLS handshake finished (err NULL) or failed (err says why). */
	void (*on_tls_done)(struct conn *c, const char *err);
	enum proto_dir dir;
};

/* The part every socket has: buffers, relay position and its one persistent event. */
struct conn {
	int fd;
	uint32_t id;
	const struct conn_ops *ops;
	struct worker *w;
	struct conn *peer; /* where ACT_SEND bytes go */
	struct iobuf *in; /* bytes read from fd; NULL when empty */
	struct iobuf *out; /* bytes pgrouter generated for fd; NULL when empty */
	uint32_t pending; /* bytes at in->rpos already decided for the peer */
	uint32_t nmsg; /* messages decided so far: a handler can tell a repeated call from a new message */
	uint32_t pkt_remain; /* bytes of the current message not yet decided */
	uint8_t pkt_action; /* ACT_SEND or ACT_SKIP for the rest of the current message */
	bool send_last; /* after_last is due once pending reaches the peer */
	bool startup_phase; /* untyped packets (clients before the startup message) */
	bool byte_phase; /* single bytes (a server's answer to SSLRequest) */
	bool tls_handshaking; /* TLS handshake in progress: no application data yet */
	enum proto_phase phase;
	bool want_read; /* edge-triggered: the socket may still hold unread bytes */
	bool closing; /* closed; memory is freed later from the worker's free list */
	bool paused;
	bool in_drive; /* guards against recursive driving */
	bool redrive; /* a resume arrived while driving: loop again */
	bool blocked; /* stopped because the peer could not take more bytes */
	bool eof; /* the socket reported EOF or an error */
	bool rdhup; /* the peer shut down its side: read until recv() says so */
	char kind; /* 'c' client, 's' server, 'x' cancel request */
	void (*destroy)(struct conn *c); /* frees the containing object */
	struct list free_node; /* on the worker's just-free list */
	struct event ev; /* persistent, edge-triggered, read and write */
	struct ssl_st *tls; /* TLS session when the connection is encrypted */
	char prefix[16]; /* log prefix, e.g. "c12" / "s4" */
};

/* Prepare c for fd (non-blocking) owned by worker w; kind is 'c', 's' or 'x'. */
void conn_init(struct conn *c, struct worker *w, int fd, const struct conn_ops *ops, char kind);
/* Register the persistent edge-triggered event; 0 or -1. */
int conn_start(struct conn *c);
/* Process buffered input and read more until blocked, paused or drained. */
void conn_drive(struct conn *c);
/* Clear a pause and continue processing (safe to call from any callback of the same worker). */
void conn_resume(struct conn *c);
/* Try to write c->out (pgrouter's own bytes for c); false if c's socket failed. */
bool conn_flush_out(struct conn *c);
/* True when bytes may be appended to c->out without jumping ahead of forwarded bytes. */
bool conn_can_inject(const struct conn *c);
/* Make a and b each other's peer. */
void conn_link(struct conn *a, struct conn *b);
/* Break the link; bytes still pending toward the old peer are dropped. */
void conn_unlink(struct conn *a);
/* Close the socket now and free the object after the current callback; idempotent. */
void conn_close(struct conn *c);
/* Begin a TLS handshake on c (out must be flushed); ops->on_tls_done reports the end; 0 or -1. */
int conn_start_tls(struct conn *c, struct ssl_ctx_st *ctx, bool as_server, const char *host, bool verify_host);
/* Copy c's decided bytes into its peer's output buffer, so that pgrouter may append its own bytes after
   them in order (c must be at a message boundary); 0 or -1. */
int conn_pending_to_peer(struct conn *c);
/* Put n bytes back in front of c's unprocessed input (nothing may be pending); 0 or -1. */
int conn_unread(struct conn *c, const void *p, uint32_t n);
/* Append an ErrorResponse to c->out and try to send it. */
void conn_send_error(struct conn *c, const char *severity, const char *sqlstate, const char *msg);
/* Output buffer of c, allocated from the worker's free list when missing. */
struct iobuf **conn_out(struct conn *c);
/* Return empty buffers of c to the worker's free list. */
void conn_trim(struct conn *c);

/* Worker buffer cache: standard-size buffers recycled without malloc on the hot path. */
struct iobuf *buf_get(struct worker *w);
void buf_put(struct worker *w, struct iobuf *b);

/* Monotonic microseconds. */
int64_t now_usec(void);

#endif
