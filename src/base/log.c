/* Logging: logfmt lines with a connection prefix; untrusted bytes are sanitized first. */
#include "base/log.h"
#include "base/log_syslog.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sys/uio.h>

static _Atomic int cur_level = LOG_INFO;
static char *log_path;
static int log_fd = -1; /* the log file, or -1 */
static bool to_stderr = true; /* off with -q and once daemonized */
static bool journal; /* stderr is read by systemd: each line starts with its level as <3>, <4>, <6>, <7> */
static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;
/* Lines logged before log_setup (the config's warnings) go to the log file too once it is open: a daemon's
   terminal is gone by the time anyone looks. */
static char early[16384];
static size_t early_len;
static bool early_done;

static const char *level_names[] = { "error", "warning", "info", "debug", "trace" };

/* Open path for appending, or keep stderr when path is NULL; 0 on success. */
int log_setup(enum log_level level, const char *path)
{
	atomic_store(&cur_level, (int)level);
	if (!path || !*path) {
		pthread_mutex_lock(&reopen_lock);
		early_done = true;
		pthread_mutex_unlock(&reopen_lock);
		return 0;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&reopen_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	if (!early_done && early_len) {
		ssize_t w = write(fd, early, early_len);
		(void)w;
	}
	early_done = true;
	static char pathbuf[4096];
	snprintf(pathbuf, sizeof pathbuf, "%s", path);
	log_path = pathbuf;
	pthread_mutex_unlock(&reopen_lock);
	return 0;
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&cur_level);
}

void log_stderr(bool on)
{
	pthread_mutex_lock(&reopen_lock);
	to_stderr = on;
	pthread_mutex_unlock(&reopen_lock);
}

void log_journal(bool on)
{
	pthread_mutex_lock(&reopen_lock);
	journal = on;
	pthread_mutex_unlock(&reopen_lock);
}

/* Reopen the log file so that rotation by an external tool takes effect. */
void log_reopen(void)
{
	if (!log_path)
		return;
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	pthread_mutex_lock(&reopen_lock);
	int old = log_fd;
	log_fd = fd;
	pthread_mutex_unlock(&reopen_lock);
	if (old >= 0)
		close(old);
}

/* Format one logfmt line and write it with a single write() so threads do not interleave. */
void log_line(enum log_level level, const char *prefix, const char *fmt, ...)
{
	if ((int)level > atomic_load(&cur_level))
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s%s%s msg=\"",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	                 ts.tv_nsec / 1000000, level_names[level], prefix ? " conn=" : "", prefix ? prefix : "");
	va_list ap;
	va_start(ap, fmt);
	char msg[1800];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Quotes inside the message would break logfmt; replace them. */
	for (char *p = msg; *p; p++)
		if (*p == '"')
			*p = '\'';
	n += snprintf(line + n, sizeof line - (size_t)n, "%s\"\n", msg);
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	pthread_mutex_lock(&reopen_lock);
	ssize_t w = 0;
	if (log_fd >= 0)
		w = write(log_fd, line, (size_t)n);
	if (to_stderr && journal) {
		static const char lvl[][4] = { "<3>", "<4>", "<6>", "<7>", "<7>" };
		struct iovec iov[2] = { { (void *)lvl[level], 3 }, { line, (size_t)n } };
		w = writev(2, iov, 2);
	} else if (to_stderr) {
		w = write(2, line, (size_t)n);
	}
	if (!early_done && early_len + (size_t)n <= sizeof early) {
		memcpy(early + early_len, line, (size_t)n);
		early_len += (size_t)n;
	}
	pthread_mutex_unlock(&reopen_lock);
	(void)w;
	if (logsys_enabled()) { /* syslog stamps the time itself */
		line[n - 1] = 0;
		logsys_line((int)level, strstr(line, " level=") + 1);
	}
}

/* Render untrusted bytes printable so a log line cannot be forged or break a terminal. */
void log_sanitize(char *dst, size_t dstlen, const void *src, size_t n)
{
	const unsigned char *s = src;
	size_t o = 0;
	if (dstlen == 0)
		return;
	for (size_t i = 0; i < n && o + 5 < dstlen; i++) {
		unsigned char ch = s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '"') {
			dst[o++] = (char)ch;
		} else {
			o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", ch);
		}
	}
	dst[o] = 0;
}
