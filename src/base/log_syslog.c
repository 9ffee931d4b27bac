/* The syslog side of logging, apart from log.c: <syslog.h> takes the LOG_INFO-style names log.h uses. */
#include "base/log_syslog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

static const struct {
	const char *name;
	int code;
} facilities[] = {
	{ "auth", LOG_AUTH },     { "authpriv", LOG_AUTHPRIV }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },     { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },     { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static atomic_bool enabled;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char cur_ident[64]; /* openlog keeps the pointer: the ident must outlive it */
static int cur_facility = -1;

int logsys_facility(const char *name)
{
	for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].code;
	return -1;
}

void logsys_configure(bool on, const char *ident, const char *facility)
{
	int code = facility ? logsys_facility(facility) : -1;
	if (code < 0)
		code = LOG_DAEMON;
	/* The ident as it would be stored: a reload with the same settings keeps the open log. */
	char want[sizeof cur_ident];
	snprintf(want, sizeof want, "%s", ident && *ident ? ident : "pgrouter");
	pthread_mutex_lock(&lock);
	if (!on) {
		if (atomic_exchange(&enabled, false))
			closelog();
	} else if (!atomic_load(&enabled) || code != cur_facility || strcmp(want, cur_ident) != 0) {
		/* Lines of other threads wait for the lock: none is sent while the ident changes under openlog. */
		atomic_store(&enabled, false);
		closelog();
		memcpy(cur_ident, want, sizeof want);
		cur_facility = code;
		openlog(cur_ident, LOG_PID | LOG_NDELAY, code);
		atomic_store(&enabled, true);
	}
	pthread_mutex_unlock(&lock);
}

bool logsys_enabled(void)
{
	return atomic_load(&enabled);
}

void logsys_line(int level, const char *line)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };
	if (!atomic_load(&enabled) || level < 0 || level > 4)
		return;
	pthread_mutex_lock(&lock);
	syslog(prio[level], "%s", line);
	pthread_mutex_unlock(&lock);
}
