/* The process around the proxy: daemonizing, the pidfile, the open-files limit, the user it runs as, and the
   one-shot commands (--check, --scram-secret). */
#include "process.h"
#include "base/log.h"
#include "auth/scram.h"
#include "config/config.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

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

/* config_check's reporter: one problem per line, as compilers and nginx -t print them. */
static void print_problem(void *arg, const char *problem)
{
	fprintf(stderr, "%s\n", problem);
}

int process_check_config(const char *path)
{
	int n = config_check(path, print_problem, NULL);
	if (n > 0) {
		fprintf(stderr, "pgrouter: %s: %d problem%s, configuration test failed\n", path, n, n == 1 ? "" : "s");
		return 1;
	}
	fprintf(stderr, "pgrouter: %s: configuration test is successful\n", path);
	return 0;
}

/* A user name or secret as an auth_file field: in double quotes, a quote doubled. */
static void print_quoted(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

int process_scram_secret(const char *user)
{
	char pw[SCRAM_MAX_PASSWORD + 2];
	if (!fgets(pw, sizeof pw, stdin)) {
		fprintf(stderr, "pgrouter: --scram-secret: no password on standard input\n");
		return 1;
	}
	size_t len = strcspn(pw, "\r\n");
	pw[len] = 0;
	uint8_t salt[16];
	struct scram_secret sec;
	char out[SCRAM_SECRET_MAX_LEN];
	int rc = 1;
	if (len == 0 || len > SCRAM_MAX_PASSWORD)
		fprintf(stderr, "pgrouter: --scram-secret: the password must be 1 to %d bytes\n", SCRAM_MAX_PASSWORD);
	else if (strpbrk(user, "\r\n") || !*user)
		fprintf(stderr, "pgrouter: --scram-secret: bad user name\n");
	else if (RAND_bytes(salt, sizeof salt) != 1 ||
	         scram_secret_from_password(pw, len, salt, sizeof salt, SCRAM_DEFAULT_ITERATIONS, &sec, NULL) != 0 ||
	         scram_secret_format(&sec, out, sizeof out) != 0)
		fprintf(stderr, "pgrouter: --scram-secret: cannot derive the secret\n");
	else {
		print_quoted(user);
		putchar(' ');
		print_quoted(out);
		putchar('\n');
		rc = fflush(stdout) == 0 ? 0 : 1;
	}
	OPENSSL_cleanse(pw, sizeof pw);
	return rc;
}
