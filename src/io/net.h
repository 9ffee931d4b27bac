/* Sockets: listening, accepting, connecting and socket options; knows nothing of the protocol. */
#ifndef PGR_NET_H
#define PGR_NET_H

#include <stdbool.h>
#include "config/config.h"

/* Open non-blocking SO_REUSEPORT listeners for every address of listen_addr; returns count or -1 with err.
   probe: first check that no other process holds the port. */
int net_listen(const char *addrs, int port, int *fds, int maxfds, bool probe, char *err, size_t errlen);
/* Listen on dir/.s.PGSQL.port (a stale file from a crash is replaced), with that mode and group; fd or -1. */
int net_listen_unix(const char *dir, int port, int mode, const char *group, char *err, size_t errlen);
/* The socket path for dir and port into out; 0, or -1 when it does not fit. */
int net_unix_path(const char *dir, int port, char *out, size_t n);
/* Remove the socket file net_listen_unix made for dir and port (nothing when dir is empty). */
void net_unlink_unix(const char *dir, int port);
/* Start a non-blocking connect to host:port (host starting with '/' is a Unix socket directory); fd or -1. */
int net_connect(const char *host, int port, int *err);
/* TCP_NODELAY and keepalive settings, once per socket. */
void net_tune(int fd, const struct config *cfg);
/* Make fd non-blocking and close-on-exec. */
int net_nonblock(int fd);
/* Render the peer address of fd as "ip:port". */
void net_peer_name(int fd, char *buf, size_t n);

#endif
