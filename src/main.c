/* Entry point: command line, config, daemonizing, signals, and the worker threads' lifetime. */
#include "cluster/catalog.h"
#include "session/catalog_wait.h"
#include "io/conn.h"
#include "admin/admin.h"
#include "admin/control.h"
#include "admin/http.h"
#include "base/log.h"
#include "base/log_syslog.h"
#include "base/sdnotify.h"
#include "admin/status.h"
#include "cluster/monitor.h"
#include "admin/pause.h"
#include "process.h"
#include "io/net.h"
#include "pool/pool.h"
#include "frontend/client.h"
#include "session/hooks.h"
#include "session/pipeline.h"
#include "worker.h"

#include <errno.h>
#include <math.h>
#include <event2/thread.h>
#include <openssl/rand.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define PGROUTER_VERSION "0.1.0"

static struct event_base *main_base;
static struct event *done_ev;
static struct event *sig_ev[5]; /* SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2 */
static struct event *sd_ev; /* STATUS= and the watchdog's pings to the service manager */

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
	        "usage: %s [OPTION]... CONFIG.ini\n"
	        "       %s --check CONFIG.ini\n"
	        "       %s --scram-secret USER < password\n"
	        "A PostgreSQL connection pooler that sends reads to streaming replicas (PgBouncer's config and "
	        "console).\n"
	        "  -d, --daemon      run in the background; needs pidfile and logfile in the config\n"
	        "  -u, --user=USER   switch to USER once the listeners are bound (as the user setting)\n"
	        "  -q, --quiet       do not log to standard error (logfile still gets everything)\n"
	        "  -v, --verbose     more logging (repeat for more)\n"
	        "  -t, --check       check the config file, print every problem as file:line and exit (0: good)\n"
	        "  --scram-secret=USER  read a password on standard input, print an auth_file line with its\n"
	        "                    SCRAM-SHA-256 secret and exit\n"
	        "  -V, --version     print the version and exit\n"
	        "  -h, --help        print this help and exit\n"
	        "Signals: HUP reload, INT safe shutdown, TERM immediate shutdown, USR1 pause, USR2 resume.\n"
	        "Exit status: 0 stopped normally, 1 could not start (config, listeners, user), 2 bad command line.\n",
	        prog, prog, prog);
}

/* What the command line asked for. */
struct options {
	bool daemon, quiet;
	bool check; /* --check: validate the config file and exit */
	const char *scram_user; /* --scram-secret: make a secret for this user and exit */
	int verbose;
	const char *user; /* -u, over the config's user */
	const char *config;
};

/* Parse argv into o; -1 to exit with *status (help, version, usage error), 0 to run. */
static int parse_args(int argc, char **argv, struct options *o, int *status)
{
	static const struct option longopts[] = {
		{ "daemon", no_argument, NULL, 'd' },
		{ "user", required_argument, NULL, 'u' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "check", no_argument, NULL, 't' },
		{ "scram-secret", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	*status = 0;
	while ((opt = getopt_long(argc, argv, "du:qvVht", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': o->daemon = true; break;
		case 'u': o->user = optarg; break;
		case 'q': o->quiet = true; break;
		case 'v': o->verbose++; break;
		case 't': o->check = true; break;
		case 'S': o->scram_user = optarg; break;
		case 'V': printf("pgrouter %s\n", PGROUTER_VERSION); return -1;
		case 'h': usage(stdout, argv[0]); return -1;
		default:
			usage(stderr, argv[0]);
			*status = 2;
			return -1;
		}
	}
	if (o->scram_user && optind == argc)
		return 0;
	if (optind != argc - 1) {
		fprintf(stderr, "pgrouter: %s\n",
		        optind == argc ? "no config file given" : "more than one config file given");
		usage(stderr, argv[0]);
		*status = 2;
		return -1;
	}
	o->config = argv[optind];
	return 0;
}

/* Checks of the command line against the config before anything starts; 0 or -1 after a message. */
static int check_startup(const struct options *o, const struct config *cfg, const char *user)
{
	char err[300];
	if (o->daemon && !*cfg->pidfile) {
		fprintf(stderr, "pgrouter: -d needs a pidfile: set pidfile in %s\n", o->config);
		return -1;
	}
	if (o->daemon && !*cfg->logfile) {
		fprintf(stderr,
		        "pgrouter: -d needs a logfile (nothing could be logged once detached): set logfile in %s\n",
		        o->config);
		return -1;
	}
	if (process_check_root(user, err, sizeof err) < 0) {
		fprintf(stderr, "pgrouter: %s\n", err);
		return -1;
	}
	return 0;
}

/* Tell the service manager once that pgrouter is stopping (a signal, or SHUTDOWN on the console). */
static void notify_stopping(void)
{
	static bool sent;
	if (!sent)
		sdnotify_send("STOPPING=1\nSTATUS=stopping");
	sent = true;
}

/* The one-line STATUS= systemctl status shows: clients, nodes up, the largest replica lag. */
static void notify_status(const char *extra)
{
	static struct node_status nodes[MET_NODES];
	int n = status_nodes(nodes, MET_NODES), up = 0;
	double lag = -1;
	for (int i = 0; i < n; i++) {
		up += nodes[i].state == NODE_STATE_UP;
		if (!isnan(nodes[i].lag_seconds) && nodes[i].lag_seconds > lag)
			lag = nodes[i].lag_seconds;
	}
	char lagtxt[48] = "unknown";
	if (lag >= 0)
		snprintf(lagtxt, sizeof lagtxt, "%.3fs", lag);
	sdnotify_send("%sSTATUS=%d clients, %d/%d nodes up, max replica lag %s", extra, atomic_load(&g_shared.nclients),
	              up, n, lagtxt);
}

/* Periodic: STATUS= for systemctl status, and WATCHDOG=1 (the main loop still turns) when a watchdog is set. */
static void on_sd_tick(evutil_socket_t fd, short what, void *arg)
{
	notify_status(sdnotify_watchdog_usec() > 0 ? "WATCHDOG=1\n" : "");
}

/* READY=1 (the listeners are open and the monitor published its first snapshot), then the periodic tick. */
static void notify_ready(void)
{
	if (!sdnotify_enabled())
		return;
	notify_status("READY=1\n");
	int64_t period = 2000000; /* STATUS= freshness */
	int64_t wd = sdnotify_watchdog_usec();
	if (wd > 0 && wd / 2 < period)
		period = wd / 2; /* systemd's advice: ping at half the interval */
	struct timeval tv = { (time_t)(period / 1000000), (suseconds_t)(period % 1000000) };
	sd_ev = event_new(main_base, -1, EV_PERSIST, on_sd_tick, NULL);
	if (sd_ev)
		event_add(sd_ev, &tv);
}

/* SIGHUP: parse the file again; on success publish it, otherwise keep running on the old one. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	char err[600];
	control_reload(err, sizeof err);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	int mode = sig == SIGINT ? 1 : 2;
	notify_stopping();
	int cur = atomic_load(&g_shared.shutdown);
	if (mode > cur)
		atomic_store(&g_shared.shutdown, mode);
	log_info(NULL, "%s: %s", sig == SIGINT ? "SIGINT" : "SIGTERM",
	         mode == 1 ? "safe shutdown, waiting for transactions to finish" : "immediate shutdown");
	for (int i = 0; i < g_shared.nworkers; i++)
		worker_kick(&g_shared.workers[i]);
	struct timeval tv = { 0, 50000 };
	event_add(done_ev, &tv);
}

/* SIGUSR1: PAUSE every database, SIGUSR2: RESUME, as the console's commands (and PgBouncer's signals). */
static void on_pause_signal(evutil_socket_t sig, short what, void *arg)
{
	char err[200];
	bool pause = sig == SIGUSR1;
	int rc = pause ? pause_set(NULL, err, sizeof err) : pause_clear(NULL, err, sizeof err);
	if (rc < 0)
		log_info(NULL, "%s: %s; nothing to do", pause ? "SIGUSR1" : "SIGUSR2", err);
	else
		log_info(NULL, "%s",
		         pause ? "SIGUSR1: PAUSE (all databases): new work waits for SIGUSR2 or RESUME"
		               : "SIGUSR2: RESUME (all databases)");
}

/* Signals with no meaning for pgrouter whose default action would end or stop the process: ignored, so a stray
   kill -ALRM (or a write to a closed socket, SIGPIPE) is harmless. */
static void ignore_stray_signals(void)
{
	static const int stray[] = { SIGPIPE,   SIGALRM, SIGVTALRM, SIGPROF, SIGIO,  SIGPWR,
		                     SIGSTKFLT, SIGXCPU, SIGXFSZ,   SIGTTIN, SIGTTOU };
	for (size_t i = 0; i < sizeof stray / sizeof stray[0]; i++)
		signal(stray[i], SIG_IGN);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		signal(s, SIG_IGN);
}

/* Poll for finished workers so that signals keep working while we wait. */
static void check_done(evutil_socket_t fd, short what, void *arg)
{
	static int done;
	for (int i = 0; i < g_shared.nworkers; i++)
		if (pthread_tryjoin_np(g_shared.workers[i].thread, NULL) == 0)
			done++;
	if (done >= g_shared.nworkers) {
		event_base_loopbreak(main_base);
		return;
	}
	struct timeval tv = { 0, 50000 };
	event_add(done_ev, &tv);
}

/* The signals the main loop handles, and the timer that waits for the workers at shutdown; 0 or -1. */
static int add_signal_events(void)
{
	static const int sigs[5] = { SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2 };
	static void (*const handlers[5])(evutil_socket_t, short, void *) = {
		on_sighup, on_stop, on_stop, on_pause_signal, on_pause_signal,
	};
	for (int i = 0; i < 5; i++) {
		sig_ev[i] = evsignal_new(main_base, sigs[i], handlers[i], NULL);
		if (!sig_ev[i] || event_add(sig_ev[i], NULL) < 0)
			return -1;
	}
	done_ev = evtimer_new(main_base, check_done, NULL);
	return done_ev ? 0 : -1;
}

/* The main thread's loop and its events (control_free first: its event lives on the same loop). */
static void main_loop_free(void)
{
	for (int i = 0; i < 5; i++)
		if (sig_ev[i])
			event_free(sig_ev[i]);
	if (sd_ev)
		event_free(sd_ev);
	if (done_ev)
		event_free(done_ev);
	event_base_free(main_base);
}

/* Load the config and set the process up (daemon, logging, signals, randomness, descriptor limit, main loop):
   the config, or NULL after saying why on standard error. */
static struct config *prepare_process(const struct options *o, const char **user)
{
	/* Under systemd standard error goes to the journal, which reads a level from each line's <N> prefix. */
	sdnotify_init();
	log_journal(sdnotify_enabled() || getenv("JOURNAL_STREAM") != NULL);
	char err[600] = "out of memory";
	struct config *cfg = config_load(o->config, err, sizeof err);
	if (!cfg) {
		fprintf(stderr, "pgrouter: %s\n", err);
		return NULL;
	}
	if (o->verbose > cfg->verbose)
		cfg->verbose = o->verbose;
	logsys_configure(cfg->syslog, cfg->syslog_ident, cfg->syslog_facility);
	*user = o->user ? o->user : cfg->user;
	if (check_startup(o, cfg, *user) < 0)
		return NULL;
	if (o->daemon && process_daemonize() < 0) {
		fprintf(stderr, "pgrouter: cannot daemonize: %s\n", strerror(errno));
		return NULL;
	}
	if (o->daemon || o->quiet)
		log_stderr(false);
	if (log_setup(cfg->verbose >= 2 ? LOG_DEBUG : LOG_INFO, cfg->logfile) < 0) {
		fprintf(stderr, "pgrouter: cannot open logfile %s: %s\n", cfg->logfile, strerror(errno));
		return NULL;
	}
	ignore_stray_signals();
	if (RAND_bytes(g_shared.mock_key, sizeof g_shared.mock_key) != 1) {
		fprintf(stderr, "pgrouter: no randomness available\n");
		return NULL;
	}
	process_raise_nofile(cfg);
	evthread_use_pthreads();
	/* Signals are caught before the listeners open: a SIGHUP sent as soon as the port answers is a reload
	   (handled once the loop runs), not the default action's exit. */
	main_base = event_base_new();
	if (!main_base || add_signal_events() < 0) {
		fprintf(stderr, "pgrouter: cannot create the main event loop and its signal handlers\n");
		return NULL;
	}
	return cfg;
}

/* Fill the tables the layers below know their owners by (before any worker runs). */
static void register_tables(void)
{
	client_set_targets(&session_pipeline_target, &admin_console_target);
	server_link_init(); /* the session layer's handlers for server connections and pool queues */
	client_waiter_init();
}

/* Bind every listener, switch user, and start the threads; 0, or -1 after logging why. */
static int start_threads(struct config *cfg, const char *user)
{
	char err[600] = "out of memory";
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	g_shared.nworkers = cfg->workers > 0 ? cfg->workers : (ncpu > 0 ? (int)ncpu : 1);
	if (g_shared.nworkers > 64)
		g_shared.nworkers = 64;
	g_shared.workers = calloc((size_t)g_shared.nworkers, sizeof *g_shared.workers);
	for (int i = 0; i < g_shared.nworkers; i++) {
		if (worker_init(&g_shared.workers[i], i, cfg, err, sizeof err) < 0) {
			if (i > 0) /* worker 0 made the socket file */
				net_unlink_unix(cfg->unix_socket_dir, cfg->listen_port);
			log_error(NULL, "%s", err);
			fprintf(stderr, "pgrouter: %s\n", err);
			return -1;
		}
	}
	/* The HTTP listener binds before anything else runs: a port in use stops startup cleanly. The user changes
	   once every port is bound (a port below 1024 needs root), before any client is served. */
	if (http_start(cfg, err, sizeof err) < 0 || process_become_user(user, cfg->logfile, err, sizeof err) < 0 ||
	    control_init(main_base) < 0) {
		log_error(NULL, "%s", err);
		fprintf(stderr, "pgrouter: %s\n", err);
		http_stop();
		control_free();
		main_loop_free();
		return -1;
	}
	if (process_write_pidfile(cfg->pidfile) < 0) {
		log_error(NULL, "cannot write pidfile %s: %s", cfg->pidfile, strerror(errno));
		fprintf(stderr, "pgrouter: cannot write pidfile %s: %s\n", cfg->pidfile, strerror(errno));
		http_stop();
		return -1;
	}
	if (catalog_start(catalog_wait_answered) < 0) {
		log_error(NULL, "cannot start the catalog thread");
		return -1;
	}
	/* Before the workers accept: the first routing decisions know the nodes. */
	if (monitor_start(cfg, pool_kick_all) < 0)
		return -1;
	for (int i = 0; i < g_shared.nworkers; i++) {
		if (worker_start(&g_shared.workers[i]) < 0) {
			log_error(NULL, "cannot start worker thread %d", i);
			return -1;
		}
	}
	return 0;
}

/* After the main loop: stop the threads and free what the process holds. */
static void stop_threads(void)
{
	notify_stopping();
	monitor_stop(); /* before the workers go: it wakes them */
	http_stop();
	catalog_stop();
	for (int i = 0; i < g_shared.nworkers; i++)
		worker_free(&g_shared.workers[i]);
	const struct config *last = atomic_load(&g_shared.cfg); /* cfg may have been replaced by a reload */
	if (last->pidfile && *last->pidfile)
		unlink(last->pidfile);
	net_unlink_unix(last->unix_socket_dir, last->listen_port);
	log_info(NULL, "pgrouter stopped");
	control_free();
	main_loop_free();
	free(g_shared.workers);
	config_put(atomic_load(&g_shared.cfg));
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int status;
	if (parse_args(argc, argv, &o, &status) < 0)
		return status;
	if (o.scram_user)
		return process_scram_secret(o.scram_user);
	if (o.check)
		return process_check_config(o.config);
	const char *user = NULL;
	struct config *cfg = prepare_process(&o, &user);
	if (!cfg)
		return 1;
	atomic_store(&g_shared.cfg, cfg);
	register_tables();
	struct timeval start;
	gettimeofday(&start, NULL);
	g_shared.start_time = (int64_t)start.tv_sec * 1000000 + start.tv_usec;
	if (start_threads(cfg, user) < 0)
		return 1;
	log_info(NULL, "pgrouter %s listening on %s:%d with %d workers, pool_mode=%s", PGROUTER_VERSION,
	         cfg->listen_addr, cfg->listen_port, g_shared.nworkers, pool_mode_name(cfg->pool_mode));
	notify_ready();
	event_base_dispatch(main_base);
	stop_threads();
	return 0;
}
