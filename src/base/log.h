/* Logging: logfmt lines with a connection prefix; untrusted bytes are sanitized first. */
#ifndef PGR_LOG_H
#define PGR_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* Set the level below which lines are dropped and the log file (NULL: none; lines logged so far are copied in). */
int log_setup(enum log_level level, const char *path);
enum log_level log_get_level(void);
/* Whether lines also go to standard error (the default; off for -q and a daemon). */
void log_stderr(bool on);
/* Whether standard error goes to systemd's journal: lines then start with their level as <3>, <4>, <6> or <7>. */
void log_journal(bool on);
/* Reopen the log file (after rotation); no-op for stderr. */
void log_reopen(void);

/* Emit one line; prefix names the connection (e.g. "c12") or is NULL. */
void log_line(enum log_level level, const char *prefix, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Copy at most n untrusted bytes into dst as printable ASCII (others as \xNN); always terminates. */
void log_sanitize(char *dst, size_t dstlen, const void *src, size_t n);

#define log_error(pfx, ...) log_line(LOG_ERROR, pfx, __VA_ARGS__)
#define log_warn(pfx, ...) log_line(LOG_WARNING, pfx, __VA_ARGS__)
#define log_info(pfx, ...) log_line(LOG_INFO, pfx, __VA_ARGS__)
#define log_debug(pfx, ...) \
	do { \
		if (log_get_level() >= LOG_DEBUG) \
			log_line(LOG_DEBUG, pfx, __VA_ARGS__); \
	} while (0)

#endif
