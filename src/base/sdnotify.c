/* The systemd service protocol without libsystemd: readiness notifications, the watchdog, socket activation. */
#include "base/sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_FDS_START 3 /* SD_LISTEN_FDS_START: the first passed descriptor */

static struct {
	struct sockaddr_un addr;
	socklen_t addrlen; /* 0: no manager listens */
	int64_t watchdog_usec;
	int nlisten;
} sd;

/* A decimal environment variable as a non-negative number; -1 when unset or malformed. */
static long long env_number(const char *name)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	return errno || *end || v < 0 ? -1 : v;
}

/* NOTIFY_SOCKET as an address: a path, or an abstract name when it starts with '@' (sent with a leading NUL). */
static void read_notify_socket(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len = path ? strlen(path) : 0;
	if (len < 2 || len >= sizeof sd.addr.sun_path || (path[0] != '/' && path[0] != '@'))
		return;
	sd.addr.sun_family = AF_UNIX;
	memcpy(sd.addr.sun_path, path, len);
	if (path[0] == '@')
		sd.addr.sun_path[0] = 0;
	/* A path includes its terminating NUL; an abstract name is exactly its bytes. */
	sd.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
}

void sdnotify_init(void)
{
	read_notify_socket();
	unsetenv("NOTIFY_SOCKET");
	long long wpid = env_number("WATCHDOG_PID");
	long long wusec = env_number("WATCHDOG_USEC");
	if (wusec > 0 && (wpid < 0 || wpid == (long long)getpid()))
		sd.watchdog_usec = wusec;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	/* The sockets are ours only when LISTEN_PID names this process (a parent may have left them set). */
	long long lpid = env_number("LISTEN_PID");
	long long nfds = env_number("LISTEN_FDS");
	if (lpid == (long long)getpid() && nfds > 0 && nfds <= 64)
		sd.nlisten = (int)nfds;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int i = 0; i < sd.nlisten; i++)
		fcntl(LISTEN_FDS_START + i, F_SETFD, FD_CLOEXEC);
}

bool sdnotify_enabled(void)
{
	return sd.addrlen > 0;
}

int sdnotify_send(const char *fmt, ...)
{
	if (!sd.addrlen)
		return 0;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (n >= (int)sizeof msg)
		n = (int)sizeof msg - 1;
	/* A fresh socket per message: this runs rarely, from any thread, and keeps no state to guard. */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	ssize_t w = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (const struct sockaddr *)&sd.addr, sd.addrlen);
	close(fd);
	return w == n ? 0 : -1;
}

int64_t sdnotify_watchdog_usec(void)
{
	return sd.watchdog_usec;
}

int sdnotify_listen_fds(void)
{
	return sd.nlisten;
}

int sdnotify_take_listeners(int *fds, int max, char *err, size_t errlen)
{
	int n = 0;
	for (int i = 0; i < sd.nlisten && n < max; i++) {
		int fd = fcntl(LISTEN_FDS_START + i, F_DUPFD_CLOEXEC, 0);
		int fl = fd < 0 ? -1 : fcntl(fd, F_GETFL);
		if (fd < 0 || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "socket activation: fd %d: %s", LISTEN_FDS_START + i, strerror(errno));
			if (fd >= 0)
				close(fd);
			while (n > 0)
				close(fds[--n]);
			return -1;
		}
		fds[n++] = fd;
	}
	return n;
}
