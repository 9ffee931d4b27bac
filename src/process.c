/* The process around the proxy: daemonizing, the pidfile, the open-files limit and the user it runs as. */
#include "process.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define ROOT_FIX \
	"set user = NAME in the config file (or -u NAME) to switch to an unprivileged user " \
	"once the listeners are bound"

int process_daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork(); /* not a session leader: the process can never get a controlling terminal again */
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

int process_write_pidfile(const char *path)
{
	if (!path || !*path)
		return 0;
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f);
}

/* Every client costs one descriptor, every server one more: the soft limit (often 1024) is far too low. */
void process_raise_nofile(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn(NULL, "cannot raise the open-files limit: %s", strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((rlim_t)cfg->max_client_conn + 64 > rl.rlim_cur)
		log_warn(NULL, "max_client_conn = %d exceeds the open-files limit %llu; raise ulimit -n",
		         cfg->max_client_conn, (unsigned long long)rl.rlim_cur);
}

int process_check_root(const char *user, char *err, size_t errlen)
{
	if (geteuid() != 0 || (user && *user && strcmp(user, "root") != 0))
		return 0;
	snprintf(err, errlen, "pgrouter should not run as root: %s", ROOT_FIX);
	return -1;
}

int process_become_user(const char *user, const char *logfile, char *err, size_t errlen)
{
	if (user && *user) {
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			snprintf(err, errlen, "user '%s': no such user", user);
			return -1;
		}
		if (geteuid() != pw->pw_uid) {
			if (geteuid() != 0) {
				snprintf(err, errlen, "cannot switch to user '%s': only root can (running as uid %d)",
				         user, (int)geteuid());
				return -1;
			}
			/* The log file root just created must stay writable after a rotation (SIGHUP reopens it). */
			if (logfile && *logfile && chown(logfile, pw->pw_uid, pw->pw_gid) < 0)
				log_warn(NULL, "cannot give logfile %s to user %s: %s", logfile, user, strerror(errno));
			/* Groups first: once the uid is not root, they can no longer be changed. */
			if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
				snprintf(err, errlen, "cannot switch to user '%s': %s", user, strerror(errno));
				return -1;
			}
		}
	}
	if (geteuid() == 0 || getuid() == 0) {
		snprintf(err, errlen, "pgrouter should not run as root: %s", ROOT_FIX);
		return -1;
	}
	return 0;
}
