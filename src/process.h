/* The process around the proxy: daemonizing, the pidfile, the open-files limit, the user it runs as, and the
   one-shot commands (--check, --scram-secret). */
#ifndef PGR_PROCESS_H
#define PGR_PROCESS_H

#include <stddef.h>

#include "config/config.h"

/* Fork into the background, detach from the terminal, point stdin/stdout/stderr at /dev/null; 0 or -1. */
int process_daemonize(void);
/* Write getpid() to path (nothing when path is empty); 0 or -1 with errno. */
int process_write_pidfile(const char *path);
/* Raise the soft descriptor limit to the hard one; warn when max_client_conn would not fit. */
void process_raise_nofile(const struct config *cfg);
/* Switch to user (initgroups, setgid, setuid; logfile changes owner too) when it is set; refuse to go on as root;
   0 or -1 with err. */
int process_become_user(const char *user, const char *logfile, char *err, size_t errlen);
/* Before binding: -1 with err when running as root with no user to switch to (nothing else is checked). */
int process_check_root(const char *user, char *err, size_t errlen);

/* --check: load path as the server would and print every problem ("file:line: key: problem") on stderr; the exit
   status (0 when the file is good, 1 otherwise). */
int process_check_config(const char *path);
/* --scram-secret: read a password from stdin (one line), print "user" "SCRAM-SHA-256$…" as an auth_file line; the
   exit status. */
int process_scram_secret(const char *user);

#endif
