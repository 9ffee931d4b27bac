/* Sockets: listening, accepting, connecting and socket options; knows nothing of the protocol. */
#include "io/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int net_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* A keepalive duration as the socket option's whole seconds: rounded up, so 500ms is 1s and not "off". */
static int usec_to_keepalive_sec(int64_t usec)
{
	return (int)((usec + 999999) / 1000000);
}

void net_tune(int fd, const struct config *cfg)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (cfg->tcp_keepalive) {
		(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
		int idle = usec_to_keepalive_sec(cfg->tcp_keepidle), intvl = usec_to_keepalive_sec(cfg->tcp_keepintvl);
		if (idle)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
		if (intvl)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
		if (cfg->tcp_keepcnt)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cfg->tcp_keepcnt, sizeof(int));
	}
}

/* A TCP socket for ai with the options every listener (and its probe) needs; -1 with err. */
static int listen_socket(const struct addrinfo *ai, char *err, size_t errlen, const char *name, int port)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s:%d: socket: %s", name, port, strerror(errno));
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* "*" and "0.0.0.0,::" bind both families: the IPv6 socket must not claim the IPv4 port too. */
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	return fd;
}

/* One listener socket for one resolved address (probe: only check that the port is free, return 0). */
static int listen_one(const struct addrinfo *ai, char *err, size_t errlen, const char *name, int port, bool probe)
{
	int fd = listen_socket(ai, err, errlen, name, port);
	if (fd < 0)
		return -1;
	if (probe) {
		/* Without SO_REUSEPORT this bind fails if another process (a second pgrouter) holds the port:
		   SO_REUSEPORT would otherwise let both bind and split the clients between them (which so_reuseport
		   asks for: then there is no probe). */
		int rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
		int e = errno;
		close(fd);
		if (rc < 0) {
			snprintf(err, errlen, "listen %s:%d: %s", name, port, strerror(e));
			return -1;
		}
		return 0;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		snprintf(err, errlen, "listen %s:%d: %s", name, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int net_listen(const char *addrs, int port, int *fds, int maxfds, bool probe, char *err, size_t errlen)
{
	int n = 0;
	char list[1024];
	snprintf(list, sizeof list, "%s", addrs);
	char *save = NULL;
	for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
		char portstr[16];
		snprintf(portstr, sizeof portstr, "%d", port);
		const char *host = strcmp(tok, "*") == 0 ? NULL : tok;
		int rc = getaddrinfo(host, portstr, &hints, &res);
		if (rc != 0) {
			snprintf(err, errlen, "listen_addr %s: %s", tok, gai_strerror(rc));
			goto fail;
		}
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			if (n == maxfds)
				break;
			if (probe && listen_one(ai, err, errlen, tok, port, true) < 0) {
				freeaddrinfo(res);
				goto fail;
			}
			int fd = listen_one(ai, err, errlen, tok, port, false);
			if (fd < 0) {
				freeaddrinfo(res);
				goto fail;
			}
			fds[n++] = fd;
		}
		freeaddrinfo(res);
	}
	if (n == 0) {
		snprintf(err, errlen, "listen_addr '%s' has no usable address", addrs);
		return -1;
	}
	return n;
fail:
	while (n > 0)
		close(fds[--n]);
	return -1;
}

/* Remove a socket file nobody answers on (left by a crash); -1 with err when a live process holds it. */
static int clear_stale_socket(const struct sockaddr_un *un, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(un->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "unix socket %s: a file that is not a socket is in the way", un->sun_path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live = fd >= 0 && connect(fd, (const struct sockaddr *)un, sizeof *un) == 0;
	if (fd >= 0)
		close(fd);
	if (live) {
		snprintf(err, errlen, "unix socket %s: Address already in use (another process listens on it)",
		         un->sun_path);
		return -1;
	}
	(void)unlink(un->sun_path);
	return 0;
}

/* Give the socket file its group and mode, as unix_socket_group and unix_socket_mode ask. */
static int socket_file_access(const char *path, int mode, const char *group, char *err, size_t errlen)
{
	if (group && *group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			snprintf(err, errlen, "unix_socket_group: no group named '%s'", group);
			return -1;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			snprintf(err, errlen, "unix socket %s: chown to group %s: %s", path, group, strerror(errno));
			return -1;
		}
	}
	if (chmod(path, (mode_t)mode) < 0) {
		snprintf(err, errlen, "unix socket %s: chmod %o: %s", path, mode, strerror(errno));
		return -1;
	}
	return 0;
}

int net_unix_path(const char *dir, int port, char *out, size_t n)
{
	return (size_t)snprintf(out, n, "%s/.s.PGSQL.%d", dir, port) < n ? 0 : -1;
}

void net_unlink_unix(const char *dir, int port)
{
	char path[sizeof((struct sockaddr_un *)0)->sun_path];
	if (*dir && net_unix_path(dir, port, path, sizeof path) == 0)
		(void)unlink(path);
}

int net_listen_unix(const char *dir, int port, int mode, const char *group, char *err, size_t errlen)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	if (net_unix_path(dir, port, un.sun_path, sizeof un.sun_path) < 0) {
		snprintf(err, errlen, "unix_socket_dir '%s' is too long for a socket path", dir);
		return -1;
	}
	if (clear_stale_socket(&un, err, errlen) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof un) < 0) {
		snprintf(err, errlen, "unix socket %s: %s", un.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int rc = socket_file_access(un.sun_path, mode, group, err, errlen);
	if (rc == 0 && listen(fd, 4096) < 0) {
		snprintf(err, errlen, "unix socket %s: listen: %s", un.sun_path, strerror(errno));
		rc = -1;
	}
	if (rc < 0) {
		close(fd);
		unlink(un.sun_path);
		return -1;
	}
	return fd;
}

int net_connect(const char *host, int port, int *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	if (host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		un->sun_family = AF_UNIX;
		if ((size_t)snprintf(un->sun_path, sizeof un->sun_path, "%s/.s.PGSQL.%d", host, port) >=
		    sizeof un->sun_path) {
			*err = ENAMETOOLONG;
			return -1;
		}
		sl = sizeof *un;
	} else {
		/* Numeric addresses resolve without blocking; names go through the resolver (usually /etc/hosts). */
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
		char portstr[16];
		snprintf(portstr, sizeof portstr, "%d", port);
		if (getaddrinfo(host, portstr, &hints, &res) != 0) {
			*err = EHOSTUNREACH;
			return -1;
		}
		memcpy(&ss, res->ai_addr, res->ai_addrlen);
		sl = res->ai_addrlen;
		freeaddrinfo(res);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

void net_peer_name(int fd, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
			port = ntohs(in6->sin6_port);
		} else {
			snprintf(host, sizeof host, "unix");
		}
	}
	snprintf(buf, n, "%s:%d", host, port);
}
