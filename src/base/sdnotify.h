/* The systemd service protocol without libsystemd: readiness notifications, the watchdog, socket activation. */
#ifndef PGR_SDNOTIFY_H
#define PGR_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Read NOTIFY_SOCKET, WATCHDOG_USEC/WATCHDOG_PID and LISTEN_FDS/LISTEN_PID once, at startup, and remove them from
   the environment (children must not inherit them); call before any thread starts. */
void sdnotify_init(void);
/* True when a service manager listens for notifications (NOTIFY_SOCKET was set). */
bool sdnotify_enabled(void);
/* Send one datagram of "KEY=value" lines (e.g. "READY=1\nSTATUS=ok") to the service manager; 0, -1 when it could
   not be sent, 0 as well when nobody listens. Any thread. */
int sdnotify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval the manager expects pings within, in microseconds; 0 when there is none. */
int64_t sdnotify_watchdog_usec(void);
/* How many listening sockets the manager passed (fds 3, 4, …); 0 without socket activation. */
int sdnotify_listen_fds(void);
/* Duplicate the passed sockets into fds[0..max), non-blocking and close-on-exec; how many, or -1 with err. */
int sdnotify_take_listeners(int *fds, int max, char *err, size_t errlen);

#endif
