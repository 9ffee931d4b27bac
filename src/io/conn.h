/* The relay: reads sockets, frames messages, asks the owner what to do with each, forwards bytes. */
#ifndef PGR_CONN_H
#define PGR_CONN_H

#include "proxy.h"

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
