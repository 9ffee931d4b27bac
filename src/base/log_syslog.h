/* The syslog side of logging, apart from log.c: <syslog.h> takes the LOG_INFO-style names log.h uses. */
#ifndef PGR_LOG_SYSLOG_H
#define PGR_LOG_SYSLOG_H

#include <stdbool.h>

/* The syslog facility code for a name as PgBouncer takes it ("daemon", "user", "local0" … "local7"); -1 if none. */
int logsys_facility(const char *name);
/* Send lines to syslog as ident with facility name (on), or stop (off); the first call opens the connection. */
void logsys_configure(bool on, const char *ident, const char *facility);
/* True while lines go to syslog. */
bool logsys_enabled(void);
/* Send one line at log.h's level (0 error, 1 warning, 2 info, 3 debug, 4 trace). */
void logsys_line(int level, const char *line);

#endif
