/* TLS with OpenSSL: handshakes and record I/O for the relay (the contexts come with the config: config/tls_ctx.h). */
#ifndef PGR_TLS_H
#define PGR_TLS_H

#include <stddef.h>
#include "io/conn.h"
#include "config/config.h"

/* Attach a TLS session to c: as server (toward a client) or as client (toward host for verify-full); 0 or -1. */
int tls_attach(struct conn *c, struct ssl_ctx_st *ctx, bool as_server, const char *host, bool verify_host);
/* Advance the handshake: 1 done, 0 in progress (wait for the socket), -1 failed (reason in err). */
int tls_handshake(struct conn *c, char *err, size_t errlen);
/* Read decrypted bytes: >0 read, 0 would block, -1 EOF or error. Sets c->want_read. */
int tls_read(struct conn *c, void *buf, size_t n);
/* Write bytes: >0 written, 0 would block, -1 error. */
int tls_write(struct conn *c, const void *buf, size_t n);
/* Free the session (without the close_notify exchange). */
void tls_detach(struct conn *c);
/* Common name of the verified peer certificate; 0 or -1. */
int tls_peer_cn(struct conn *c, char *out, size_t n);

#endif
