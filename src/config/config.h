/* Configuration: table-driven ini parsing into an immutable, reference-counted struct. */
#ifndef PGR_CONFIG_H
#define PGR_CONFIG_H

#include <stdint.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>

enum pool_mode { POOL_SESSION, POOL_TRANSACTION, POOL_STATEMENT };
enum tls_mode { TLS_DISABLE, TLS_ALLOW, TLS_PREFER, TLS_REQUIRE, TLS_VERIFY_CA, TLS_VERIFY_FULL };
enum node_role_mode { ROLE_CONFIG, ROLE_AUTO };
enum auth_type { AUTH_TRUST, AUTH_ANY, AUTH_PLAIN, AUTH_MD5, AUTH_SCRAM, AUTH_CERT, AUTH_HBA };

struct authfile;
struct hba;
struct ssl_ctx_st;
struct config_source;

#define MAX_NODES 16 /* primary + replicas of one database entry */

/* One server address of a database entry. */
struct nodeconf {
	char *host;
	int port;
	int weight;
};

/* One [databases] entry: where the database lives and how its pools are sized. */
struct dbconf {
	char *name; /* name clients ask for; "*" is the fallback entry */
	char *dbname; /* name on the server (NULL: same as the client's) */
	char *user; /* force this server user (NULL: the client's) */
	char *password; /* password toward the server */
	char *auth_user; /* overrides the global auth_user for this database */
	int pool_size; /* -1: default_pool_size */
	int min_pool_size; /* -1: min_pool_size */
	int reserve_pool; /* -1: reserve_pool_size */
	int pool_mode; /* -1: pool_mode */
	int max_db_connections;
	int target; /* enum route_pref: auto, primary, or replica (a read-only alias) */
	char *client_encoding, *datestyle, *timezone, *application_name;
	int nnodes; /* node 0 is the configured primary; the rest are replicas */
	struct nodeconf nodes[MAX_NODES];
	int line; /* where it was defined, for messages */
};

/* One [routes] rule: what it matches and where matching statements go. */
struct routeconf {
	char *name;
	char *database, *user, *application_name, *tag; /* NULL: any */
	char *regex_src;
	void *regex; /* compiled regex_t, or NULL */
	int target; /* enum route_pref */
	int64_t max_lag_ms, max_lag_bytes; /* -1: max_replica_lag applies */
	int fallback; /* enum route_fallback */
	int line;
};

struct config {
	atomic_int refcount;
	char *path;
	struct config_source *src; /* the file and its includes as read: SET re-parses it with its overrides */
	int nsets; /* the console's SET key = value since the file was read */
	char **set_keys, **set_values;
	char **set_file_values; /* what the file said for each set_keys[i] when it was SET (reload compares) */
	/* [pgrouter] — see etc/pgrouter.ini for meanings and defaults */
	char *logfile, *pidfile, *listen_addr;
	int listen_port;
	bool so_reuseport; /* other processes may listen on the same port (rolling restarts) */
	char *unix_socket_dir, *unix_socket_mode, *unix_socket_group; /* "" dir: no Unix-socket listener */
	int unix_mode; /* unix_socket_mode as permission bits */
	char *user; /* the Unix user to switch to once the listeners are bound ("": stay) */
	int workers;
	int pool_mode;
	int max_client_conn;
	int max_pending_logins; /* connections not authenticated yet, across all workers */
	int default_pool_size, min_pool_size, reserve_pool_size, replica_pool_size;
	int primary_read_weight;
	bool routing; /* off: a plain pooler (no classification, everything on the primary) */
	int64_t reserve_pool_timeout; /* durations are microseconds */
	int64_t server_idle_timeout, server_lifetime, server_connect_timeout, server_login_retry;
	int64_t query_wait_timeout, client_idle_timeout, client_login_timeout, idle_transaction_timeout;
	char *server_reset_query;
	bool server_reset_query_always;
	int max_prepared_statements; /* per server connection; 0: named statements are not tracked */
	char *ignore_startup_parameters;
	char *track_extra_parameters;
	int auth_type;
	char *admin_users, *stats_users;
	int64_t max_packet_size; /* sizes are bytes */
	int64_t pkt_buf;
	bool tcp_keepalive;
	int64_t tcp_keepidle, tcp_keepintvl; /* durations; the socket takes whole seconds */
	int tcp_keepcnt;
	bool log_connections, log_disconnections, log_pooler_errors;
	bool syslog; /* lines go to syslog as well, as syslog_ident with syslog_facility */
	char *syslog_ident, *syslog_facility;
	int verbose;
	int64_t monitor_interval, monitor_timeout; /* 0 interval: no monitor (configured roles, no lag checks) */
	char *monitor_user, *monitor_password, *monitor_dbname;
	int64_t max_replica_lag; /* default max_lag of every route (0: no limit) */
	int lag_recover_checks; /* polls under half the limit before a replica returns to rotation */
	int role; /* enum node_role_mode: roles from the servers, or from the config */
	char *http_addr; /* the HTTP listener (/metrics, /status, /): http_port 0 = off */
	int http_port;
	int read_your_writes; /* enum ryw_mode */
	int64_t ryw_window; /* window mode: reads of a client use the primary this long after its write */
	int64_t ryw_wait; /* lsn mode: a read may wait this long for a replica to replay what it needs */
	int64_t ryw_key_ttl; /* a consistency key is forgotten this long after its last write */
	int ryw_key_max; /* keys in the process-wide table (least recently written go first) */
	char *consistency_store; /* redis://host:port sharing keys between instances ("": local keys only) */
	int64_t consistency_store_timeout; /* a store request not answered by then: the store counts as down */
	char *auth_file, *auth_hba_file;
	char *auth_user, *auth_query, *auth_dbname;
	int client_tls_sslmode, server_tls_sslmode;
	char *client_tls_cert_file, *client_tls_key_file, *client_tls_ca_file, *client_tls_protocols,
	        *client_tls_ciphers;
	char *server_tls_cert_file, *server_tls_key_file, *server_tls_ca_file, *server_tls_protocols,
	        *server_tls_ciphers;
	struct ssl_ctx_st *client_tls_ctx; /* pgrouter as TLS server toward clients */
	struct ssl_ctx_st *server_tls_ctx; /* pgrouter as TLS client toward PostgreSQL */
	struct authfile *authfile; /* loaded from auth_file; shared read-only */
	bool authfile_mostly_scram; /* most users have SCRAM secrets: unknown users get a mock SCRAM exchange */
	struct hba *hba; /* loaded from auth_hba_file */
	/* [databases] */
	int ndbs;
	struct dbconf *dbs;
	/* [routes], in file order: the first match wins */
	int nroutes;
	struct routeconf *routes;
};

/* Parse path into a new config (refcount 1); NULL with a "file:line: key: problem" message in err. */
/* Load the file of old again with old's console SETs on top, except those whose setting the file changed since
   (the file wins there); NULL with err. */
struct config *config_reload(const struct config *old, char *err, size_t errlen);
struct config *config_load(const char *path, char *err, size_t errlen);
/* Parse and validate path as config_load does, but hand every problem ("file:line: key: problem") to report
   instead of stopping at the first; returns how many there were (0: the file is good). */
int config_check(const char *path, void (*report)(void *arg, const char *problem), void *arg);

/* Take and drop references; the last put frees it. */
struct config *config_get(struct config *c);
void config_put(struct config *c);

/* Find the entry for a client's database name (exact, else "*"); NULL when none. */
const struct dbconf *config_find_db(const struct config *c, const char *name);

/* Parse a duration ("0.25", "250ms", "5s", "2min", "1h") into microseconds; 0 or -1. */
int parse_duration(const char *s, int64_t *usec);
/* Parse a size ("4096", "16kB", "1MB", "1GB") into bytes; 0 or -1. */
int parse_size(const char *s, int64_t *bytes);

/* True when name appears in a comma/space separated list (case-sensitive unless ci). */
bool list_contains(const char *list, const char *name, bool ci);

/* value of the setting name as logs, the console and error messages may show it: the password of a secret
   setting (monitor_password, the user info of consistency_store's URL) replaced by "********". */
void config_redact(const char *name, const char *value, char *out, size_t n);

/* Log, at info level, each setting whose value differs between old and new (secrets redacted). */
void config_log_changes(const struct config *old_c, const struct config *new_c);

/* Copy settings that need a restart from the running config into a reloaded one. */
void config_keep_restart_settings(const struct config *old_c, struct config *new_c);

/* Why config_with_setting refused a SET. */
enum config_set_err { CFGSET_OK = 0, CFGSET_UNKNOWN = -1, CFGSET_RESTART = -2, CFGSET_INVALID = -3 };

/* A new config: cfg's file text parsed again with cfg's earlier SETs and key = value on top (a runtime
   change through the admin console). *out gets it (refcount 1); on failure an enum config_set_err with err. */
int config_with_setting(const struct config *cfg, const char *key, const char *value, struct config **out, char *err,
                        size_t errlen);

/* One [pgrouter] setting for SHOW CONFIG. */
struct config_setting_info {
	const char *name;
	char value[256];
	char def[256];
	bool changeable; /* RELOAD or SET applies it; otherwise it needs a restart */
};

/* Describe the i-th setting of the table (0-based) as cfg has it, secrets redacted; false past the last one. */
bool config_setting_at(const struct config *cfg, int i, struct config_setting_info *out);

/* Names of the enum values, for SHOW CONFIG and messages. */
const char *pool_mode_name(int mode);
const char *auth_type_name(int type);

#endif
