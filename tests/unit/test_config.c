/* Unit tests for the config loader: defaults, value syntax, errors with file:line:key, [databases], long lines. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "base/log.h"
#include "config_load.h"
#include "unit.h"

/* Every field of a config loaded from a file that sets nothing. */
static void check_defaults(const struct config *c)
{
	const struct { const char *name, *got, *want; } strs[] = {
		{ "logfile", c->logfile, "" }, { "pidfile", c->pidfile, "" }, { "listen_addr", c->listen_addr, "127.0.0.1" },
		{ "server_reset_query", c->server_reset_query, "DISCARD ALL" },
		{ "ignore_startup_parameters", c->ignore_startup_parameters, "" }, { "auth_file", c->auth_file, "" },
		{ "auth_hba_file", c->auth_hba_file, "" }, { "admin_users", c->admin_users, "" },
		{ "stats_users", c->stats_users, "" }, { "client_tls_cert_file", c->client_tls_cert_file, "" },
		{ "client_tls_key_file", c->client_tls_key_file, "" }, { "client_tls_ca_file", c->client_tls_ca_file, "" },
		{ "client_tls_protocols", c->client_tls_protocols, "secure" },
		{ "client_tls_ciphers", c->client_tls_ciphers, "default" },
		{ "server_tls_cert_file", c->server_tls_cert_file, "" }, { "server_tls_key_file", c->server_tls_key_file, "" },
		{ "server_tls_ca_file", c->server_tls_ca_file, "" },
		{ "server_tls_protocols", c->server_tls_protocols, "secure" },
		{ "server_tls_ciphers", c->server_tls_ciphers, "default" },
	};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		if (!strs[i].got || strcmp(strs[i].got, strs[i].want) != 0)
			fprintf(stderr, "default of %s is wrong\n", strs[i].name);
		CHECK_EQ_STR(strs[i].got, strs[i].want);
	}
	const struct { const char *name; long long got, want; } nums[] = {
		{ "listen_port", c->listen_port, 6432 }, { "workers", c->workers, 0 }, { "pool_mode", c->pool_mode, POOL_SESSION },
		{ "max_client_conn", c->max_client_conn, 100 }, { "default_pool_size", c->default_pool_size, 20 },
		{ "min_pool_size", c->min_pool_size, 0 }, { "reserve_pool_size", c->reserve_pool_size, 0 },
		{ "replica_pool_size", c->replica_pool_size, 0 }, { "reserve_pool_timeout", c->reserve_pool_timeout, 5000000 },
		{ "server_idle_timeout", c->server_idle_timeout, 600000000 },
		{ "server_lifetime", c->server_lifetime, 3600000000LL },
		{ "server_connect_timeout", c->server_connect_timeout, 15000000 },
		{ "server_login_retry", c->server_login_retry, 15000000 },
		{ "query_wait_timeout", c->query_wait_timeout, 120000000 },
		{ "client_idle_timeout", c->client_idle_timeout, 0 },
		{ "client_login_timeout", c->client_login_timeout, 60000000 },
		{ "idle_transaction_timeout", c->idle_transaction_timeout, 0 },
		{ "server_reset_query_always", c->server_reset_query_always, 0 }, { "auth_type", c->auth_type, AUTH_MD5 },
		{ "client_tls_sslmode", c->client_tls_sslmode, TLS_DISABLE },
		{ "server_tls_sslmode", c->server_tls_sslmode, TLS_PREFER },
		{ "max_packet_size", c->max_packet_size, 2147483647 }, { "pkt_buf", c->pkt_buf, 16384 },
		{ "tcp_keepalive", c->tcp_keepalive, 1 }, { "tcp_keepidle", c->tcp_keepidle, 0 },
		{ "tcp_keepintvl", c->tcp_keepintvl, 0 }, { "tcp_keepcnt", c->tcp_keepcnt, 0 },
		{ "log_connections", c->log_connections, 1 }, { "log_disconnections", c->log_disconnections, 1 },
		{ "log_pooler_errors", c->log_pooler_errors, 1 }, { "verbose", c->verbose, 0 }, { "ndbs", c->ndbs, 0 },
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		if (nums[i].got != nums[i].want)
			fprintf(stderr, "default of %s is wrong\n", nums[i].name);
		CHECK_EQ_INT(nums[i].got, nums[i].want);
	}
	CHECK(c->authfile == NULL && c->hba == NULL && c->client_tls_ctx == NULL);
	CHECK(c->server_tls_ctx != NULL); /* prefer: TLS is offered to servers */
	CHECK_EQ_INT(atomic_load(&c->refcount), 1);
}

/* An empty file, an empty [pgrouter] and an empty [pgbouncer] all give the defaults; refcounting. */
static void test_defaults(void)
{
	static const char *const texts[] = { "", "[pgrouter]\n", "[pgbouncer]\n", "; only a comment\n\n" };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct config *c = load_ok(texts[i]);
		CHECK(c != NULL);
		if (!c)
			continue;
		check_defaults(c);
		CHECK(c->path != NULL && strncmp(c->path, "/tmp/pgr_cfg_test_", 18) == 0);
		CHECK(config_get(c) == c);
		CHECK_EQ_INT(atomic_load(&c->refcount), 2);
		config_put(c);
		CHECK_EQ_INT(atomic_load(&c->refcount), 1);
		config_put(c);
	}
	config_put(NULL);
}

/* Both section names set the same settings; names are case-insensitive. */
static void test_sections(void)
{
	struct config *c = load_ok("[pgbouncer]\nlisten_port = 7001\n[PgRouter]\nDEFAULT_POOL_SIZE = 9\n");
	CHECK(c && c->listen_port == 7001 && c->default_pool_size == 9);
	config_put(c);
	CHECK_EQ_STR(load_err("[pgrouter]\nlisten_port = 7001\n[pgrouterx]\nlisten_port = 7002\n"),
	             "F:4: pgrouterx: unknown section [pgrouterx]");
	const char *e = load_err("listen_port = 7001\n");
	CHECK(strncmp(e, "F:1: ", 5) == 0 && strstr(e, "unknown section") != NULL);
	/* An empty unknown section (Debian's pgbouncer.ini has an empty [users]) is harmless. */
	c = load_ok("[users]\n[pgrouter]\nlisten_port = 7003\n");
	CHECK(c && c->listen_port == 7003);
	config_put(c);
}

/* parse_duration directly and through a setting. */
static void test_durations(void)
{
	static const struct { const char *in; int64_t us; } ok[] = {
		{ "0", 0 }, { "0.25", 250000 }, { "1.5", 1500000 }, { "250ms", 250000 }, { "5s", 5000000 },
		{ "2min", 120000000 }, { "1h", 3600000000LL }, { "1500us", 1500 }, { "0.5ms", 500 },
		{ "3 s", 3000000 }, { " 7", 7000000 }, { "120", 120000000 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t v = -42;
		CHECK_EQ_INT(parse_duration(ok[i].in, &v), 0);
		CHECK_EQ_INT(v, ok[i].us);
	}
	static const char *const bad[] = { "", " ", "s", "abc", "5x", "5 sec", "5m", "5S", "5MIN", "-1", "-0.5s",
		                               "nan", "inf", "1e300", "5s5", "1,5" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t v = -42;
		CHECK_EQ_INT(parse_duration(bad[i], &v), -1);
		CHECK_EQ_INT(v, -42);
	}
	struct config *c = load_ok("[pgrouter]\nquery_wait_timeout = 250ms\nserver_lifetime = 2min\n"
	                           "client_idle_timeout = 0.25\nserver_idle_timeout = 1h\nreserve_pool_timeout = 0\n");
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->query_wait_timeout, 250000);
		CHECK_EQ_INT(c->server_lifetime, 120000000);
		CHECK_EQ_INT(c->client_idle_timeout, 250000);
		CHECK_EQ_INT(c->server_idle_timeout, 3600000000LL);
		CHECK_EQ_INT(c->reserve_pool_timeout, 0);
	}
	config_put(c);
	CHECK_EQ_STR(load_err("[pgrouter]\nserver_lifetime = 5 sec\n"),
	             "F:2: server_lifetime: expected a duration (seconds, or with ms/s/min/h): '5 sec'");
	CHECK_EQ_STR(load_err("[pgrouter]\nserver_lifetime = 9000h\n"), /* over the one-year ceiling */
	             "F:2: server_lifetime: value out of range: '9000h'");
	CHECK_EQ_STR(load_err("[pgrouter]\nserver_lifetime =\n"),
	             "F:2: server_lifetime: expected a duration (seconds, or with ms/s/min/h): ''");
	/* ryw_wait: 0 (the primary at once) up to one minute */
	c = load_ok("[pgrouter]\nryw_wait = 250ms\n");
	CHECK(c && c->ryw_wait == 250000);
	config_put(c);
	c = load_ok("[pgrouter]\nryw_wait = 60s\n");
	CHECK(c && c->ryw_wait == 60000000);
	config_put(c);
	CHECK_EQ_STR(load_err("[pgrouter]\nryw_wait = 61s\n"), "F:2: ryw_wait: value out of range: '61s'");
}

/* parse_size directly and through settings with limits. */
static void test_sizes(void)
{
	static const struct { const char *in; int64_t b; } ok[] = {
		{ "0", 0 }, { "4096", 4096 }, { "10B", 10 }, { "16kB", 16384 }, { "16kb", 16384 }, { "16 kB", 16384 },
		{ "1MB", 1048576 }, { "1GB", 1073741824 }, { "3gb", 3221225472LL },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t v = -42;
		CHECK_EQ_INT(parse_size(ok[i].in, &v), 0);
		CHECK_EQ_INT(v, ok[i].b);
	}
	static const char *const bad[] = { "", "kB", "1.5MB", "-1", "1TB", "1 k", "16KiB", "0x10", "12 34",
		                               "9223372036854775807GB", "99999999999999999999" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t v = -42;
		CHECK_EQ_INT(parse_size(bad[i], &v), -1);
		CHECK_EQ_INT(v, -42);
	}
	struct config *c = load_ok("[pgrouter]\npkt_buf = 16kB\nmax_packet_size = 1GB\n");
	CHECK(c && c->pkt_buf == 16384 && c->max_packet_size == 1073741824);
	config_put(c);
	c = load_ok("[pgrouter]\npkt_buf = 16MB\nmax_packet_size = 1kB\n");
	CHECK(c && c->pkt_buf == 16777216 && c->max_packet_size == 1024);
	config_put(c);
	CHECK_EQ_STR(load_err("[pgrouter]\nmax_packet_size = 2GB\n"), "F:2: max_packet_size: value out of range: '2GB'");
	CHECK_EQ_STR(load_err("[pgrouter]\npkt_buf = 1000\n"), "F:2: pkt_buf: value out of range: '1000'");
	CHECK_EQ_STR(load_err("[pgrouter]\npkt_buf = 17MB\n"), "F:2: pkt_buf: value out of range: '17MB'");
	CHECK_EQ_STR(load_err("[pgrouter]\npkt_buf = 1.5MB\n"),
	             "F:2: pkt_buf: expected a size (bytes, or with kB/MB/GB): '1.5MB'");
}

/* Every boolean spelling, both ways, and a bad one. */
static void test_booleans(void)
{
	static const char *const yes[] = { "1", "on", "yes", "true", "ON", "True", "YES" };
	static const char *const no[] = { "0", "off", "no", "false", "OFF", "False" };
	char text[128];
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		snprintf(text, sizeof text, "[pgrouter]\ntcp_keepalive = 0\nserver_reset_query_always = %s\n", yes[i]);
		struct config *c = load_ok(text);
		CHECK(c && c->server_reset_query_always && !c->tcp_keepalive);
		config_put(c);
	}
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		snprintf(text, sizeof text, "[pgrouter]\nlog_connections = %s\n", no[i]);
		struct config *c = load_ok(text);
		CHECK(c && !c->log_connections && c->log_disconnections);
		config_put(c);
	}
	CHECK_EQ_STR(load_err("[pgrouter]\nlog_connections = 2\n"),
	             "F:2: log_connections: expected a boolean (0/1, on/off, yes/no, true/false): '2'");
	CHECK_EQ_STR(load_err("[pgrouter]\ntcp_keepalive = yess\n"),
	             "F:2: tcp_keepalive: expected a boolean (0/1, on/off, yes/no, true/false): 'yess'");
}

/* Enumerations, case-insensitive, their names, and a bad value. */
static void test_enums(void)
{
	static const char *const modes[] = { "session", "Transaction", "STATEMENT" };
	char text[128];
	for (int i = 0; i < 3; i++) {
		snprintf(text, sizeof text, "[pgrouter]\npool_mode = %s\n", modes[i]);
		struct config *c = load_ok(text);
		CHECK(c && c->pool_mode == i);
		config_put(c);
	}
	struct config *c = load_ok("[pgrouter]\nauth_type = any\nserver_tls_sslmode = disable\n");
	CHECK(c && c->auth_type == AUTH_ANY && c->server_tls_sslmode == TLS_DISABLE && !c->server_tls_ctx);
	config_put(c);
	CHECK_EQ_STR(load_err("[pgrouter]\npool_mode = txn\n"), "F:2: pool_mode: not one of the allowed values: 'txn'");
	CHECK_EQ_STR(load_err("[pgrouter]\nauth_type = password\n"),
	             "F:2: auth_type: not one of the allowed values: 'password'");
	CHECK_EQ_STR(pool_mode_name(POOL_SESSION), "session");
	CHECK_EQ_STR(pool_mode_name(POOL_TRANSACTION), "transaction");
	CHECK_EQ_STR(pool_mode_name(POOL_STATEMENT), "statement");
	CHECK_EQ_STR(pool_mode_name(3), "?");
	CHECK_EQ_STR(pool_mode_name(-1), "?");
	CHECK_EQ_STR(auth_type_name(AUTH_TRUST), "trust");
	CHECK_EQ_STR(auth_type_name(AUTH_SCRAM), "scram-sha-256");
	CHECK_EQ_STR(auth_type_name(AUTH_HBA), "hba");
	CHECK_EQ_STR(auth_type_name(7), "?");
}

/* Integer syntax and ranges. */
static void test_ranges(void)
{
	struct config *c = load_ok("[pgrouter]\nlisten_port = 65535\nworkers = 64\nverbose = 3\nmax_client_conn = "
	                           "2147483647\nmin_pool_size = 0\ntcp_keepidle = 60\ntcp_keepintvl = +5\n");
	CHECK(c && c->listen_port == 65535 && c->workers == 64 && c->verbose == 3 && c->max_client_conn == 2147483647);
	CHECK(c && c->tcp_keepidle == 60000000 && c->tcp_keepintvl == 5000000);
	config_put(c);
	c = load_ok("[pgrouter]\ntcp_keepidle = 1min\ntcp_keepintvl = 1500ms\n");
	CHECK(c && c->tcp_keepidle == 60000000 && c->tcp_keepintvl == 1500000);
	config_put(c);
	static const struct { const char *line, *err; } bad[] = {
		{ "listen_port = 0", "F:2: listen_port: value out of range: '0'" },
		{ "listen_port = 65536", "F:2: listen_port: value out of range: '65536'" },
		{ "workers = 65", "F:2: workers: value out of range: '65'" },
		{ "verbose = 4", "F:2: verbose: value out of range: '4'" },
		{ "default_pool_size = 0", "F:2: default_pool_size: value out of range: '0'" },
		{ "min_pool_size = -1", "F:2: min_pool_size: value out of range: '-1'" },
		{ "max_client_conn = 2147483648", "F:2: max_client_conn: value out of range: '2147483648'" },
		{ "max_client_conn = 99999999999999999999", "F:2: max_client_conn: expected an integer: '99999999999999999999'" },
		{ "listen_port = 12abc", "F:2: listen_port: expected an integer: '12abc'" },
		{ "listen_port = 0x10", "F:2: listen_port: expected an integer: '0x10'" },
		{ "listen_port = 6432.0", "F:2: listen_port: expected an integer: '6432.0'" },
		{ "listen_port =", "F:2: listen_port: expected an integer: ''" },
	};
	char text[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[pgrouter]\n%s\n", bad[i].line);
		CHECK_EQ_STR(load_err(text), bad[i].err);
	}
}

/* Unknown keys, ignored PgBouncer keys, syntax errors, the first error winning, missing files. */
static void test_errors(void)
{
	CHECK_EQ_STR(load_err("[pgrouter]\nlisten_port = 6432\nbogus_setting = 1\n"),
	             "F:3: bogus_setting: unknown setting");
	CHECK_EQ_STR(load_err("[pgrouter]\n\n; comment\nlisten_port = 1\nnope = 1\nlisten_port = 0\n"),
	             "F:5: nope: unknown setting");
	const char *e = load_err("[pgrouter]\nlisten_port = 6432\njust some words\n");
	CHECK(strncmp(e, "F:3: ", 5) == 0 && strstr(e, "syntax error") != NULL);
	e = load_err("[pgrouter\nlisten_port = 6432\n");
	CHECK(strncmp(e, "F:1: ", 5) == 0 && strstr(e, "syntax error") != NULL);

	long off = log_end();
	struct config *c = load_ok("[pgbouncer]\nlisten_port = 7002\nstats_period = 60\n"
	                           "Server_Round_Robin = 1\nunix_socket_dir = /var/run/postgresql\nunix_socket_mode = 0770\n");
	CHECK(c && c->listen_port == 7002 && c->unix_mode == 0770 && strcmp(c->unix_socket_dir, "/var/run/postgresql") == 0);
	config_put(c);
	const char *log = log_since(&off);
	CHECK(strstr(log, ":3: stats_period: PgBouncer setting not used by pgrouter; ignored") != NULL);
	CHECK(strstr(log, "unix_socket_dir") == NULL);
	e = load_err("[pgrouter]\nunix_socket_mode = 0789\n");
	CHECK(strncmp(e, "F:2: unix_socket_mode: expected octal", 37) == 0);
	CHECK(strstr(log, ":4: Server_Round_Robin: PgBouncer setting not used") != NULL);

	char err[512];
	CHECK(config_load("/nonexistent-dir/pgrouter.ini", err, sizeof err) == NULL);
	CHECK_EQ_STR(err, "/nonexistent-dir/pgrouter.ini: cannot open config file: No such file or directory");
	/* A directory opens but cannot be read: that must not load as an empty file of defaults. */
	c = config_load("/tmp", err, sizeof err);
	CHECK(c == NULL);
	config_put(c);
}

/* Settings checked against each other after parsing name the key and the line that set it. */
static void test_validation(void)
{
	CHECK_EQ_STR(load_err("[pgrouter]\nlisten_port = 6432\nauth_type = md5\n"),
	             "F:3: auth_type: 'md5' needs auth_file (or auth_user and auth_query) with the users' secrets");
	const char *e = load_err("[pgrouter]\nauth_type = hba\n");
	CHECK(strstr(e, "auth_type: 'hba' needs auth_hba_file") != NULL);
	e = load_err("[pgrouter]\nauth_file = /nonexistent-dir/userlist.txt\n");
	CHECK(strstr(e, "auth_file: /nonexistent-dir/userlist.txt") != NULL);
	e = load_err("[pgrouter]\nclient_tls_sslmode = require\n");
	CHECK(strstr(e, "needs client_tls_cert_file and client_tls_key_file") != NULL);

	char ul[64], text[256];
	write_tmp(ul, "\"alice\" \"secretpw\"\n");
	snprintf(text, sizeof text, "[pgrouter]\nauth_type = md5\nauth_file = %s\n", ul);
	struct config *c = load_ok(text);
	CHECK(c && c->auth_type == AUTH_MD5 && c->authfile != NULL);
	config_put(c);
	unlink(ul);
}

/* The default auth_type is PgBouncer's md5: a file that names none lets no one in without a password, and a
   config that checks no password although it holds secrets is pointed out. */
static void test_auth_defaults(void)
{
	long off = log_end();
	struct config *c = load_ok("[databases]\napp = host=db user=app password=s3cret\n[pgrouter]\nlisten_port = 6432\n");
	CHECK(c && c->auth_type == AUTH_MD5);
	config_put(c);
	const char *log = log_since(&off);
	CHECK(strstr(log, "auth_type is md5 (the default, as in PgBouncer) but neither auth_file nor auth_user is set: "
	                  "every client login fails") != NULL);

	char ul[64], text[256];
	write_tmp(ul, "\"alice\" \"secretpw\"\n");
	static const char *const no_password[] = { "trust", "any" };
	for (int i = 0; i < 2; i++) {
		snprintf(text, sizeof text, "[pgrouter]\nauth_type = %s\nauth_file = %s\n", no_password[i], ul);
		off = log_end();
		config_put(load_ok(text));
		char want[128];
		snprintf(want, sizeof want, "auth_type = %s lets every client in without a password although auth_file is set",
		         no_password[i]);
		CHECK(strstr(log_since(&off), want) != NULL);
	}
	off = log_end();
	config_put(load_ok("[pgrouter]\nauth_type = trust\nauth_user = pgbouncer\n"));
	CHECK(strstr(log_since(&off), "although auth_user is set") != NULL);
	/* An explicit choice that needs no secrets is not warned about. */
	snprintf(text, sizeof text, "[pgrouter]\nauth_type = md5\nauth_file = %s\n", ul);
	off = log_end();
	config_put(load_ok(text));
	config_put(load_ok("[pgrouter]\nauth_type = trust\n"));
	CHECK_EQ_STR(log_since(&off), "");
	unlink(ul);
}

/* Settings that hold a password show it nowhere: reload log lines, SHOW CONFIG's view, messages. */
static void test_secrets_redacted(void)
{
	static const struct { const char *name, *in, *out; } shown[] = {
		{ "monitor_password", "hunter2", "********" }, { "monitor_password", "", "" },
		{ "consistency_store", "redis://:hunter2@cache:6379", "redis://:********@cache:6379" },
		{ "consistency_store", "redis://app:hunter2@cache/0", "redis://app:********@cache/0" },
		{ "consistency_store", "redis://hunter2@cache", "redis://********@cache" },
		{ "consistency_store", "redis://cache:6379", "redis://cache:6379" },
		{ "consistency_store", "redis://a@b:c@cache", "redis://a@b:********@cache" },
		{ "consistency_store", "redis://:pa/ss@cache", "redis://:********@cache" },
		{ "listen_addr", "127.0.0.1", "127.0.0.1" },
	};
	char out[128];
	for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) {
		config_redact(shown[i].name, shown[i].in, out, sizeof out);
		CHECK_EQ_STR(out, shown[i].out);
	}
	struct config *a = load_ok("[pgrouter]\nmonitor_password = old-hunter2\n");
	struct config *b = load_ok("[pgrouter]\nmonitor_password = new-hunter2\n");
	CHECK(a && b);
	if (a && b) {
		long off = log_end();
		config_log_changes(a, b);
		const char *log = log_since(&off);
		CHECK(strstr(log, "reload: monitor_password = '********' (was '********')") != NULL);
		CHECK(strstr(log, "hunter2") == NULL);
		struct config_setting_info si;
		for (int i = 0; config_setting_at(b, i, &si); i++)
			if (strcmp(si.name, "monitor_password") == 0)
				CHECK_EQ_STR(si.value, "********");
		char err[256];
		struct config *bad = NULL;
		CHECK_EQ_INT(config_with_setting(b, "consistency_store", "redis://:hunter2@cache:6379", &bad, err, sizeof err),
		             CFGSET_INVALID);
		CHECK(bad == NULL && strstr(err, "consistency_store") != NULL && strstr(err, "hunter2") == NULL);
	}
	config_put(a);
	config_put(b);
}

/* The database entry at index i, or NULL. */
static const struct dbconf *db_at(const struct config *c, int i)
{
	return c && i < c->ndbs ? &c->dbs[i] : NULL;
}

/* [databases]: every key, quoting, replicas with ports/IPv6/weights, the "*" fallback. */
static void test_databases(void)
{
	struct config *c = load_ok(
		"[databases]\n"
		"app = host=db1.example port=5433 dbname=appdb user=svc password='it''s \\'q\\' x' pool_size=7 "
		"pool_mode=Transaction min_pool_size=2 reserve_pool=3 max_db_connections=50\n"
		"; a comment between entries\n"
		"plain =\n"
		"r = host=10.0.0.1 replicas=10.0.0.2:5434,10.0.0.3@3,[::1]:5440@2,[fe80::1],::1,h0@0 port=6000\n"
		"q = replicas=' a , b:1 ,, ' client_encoding=UTF8 datestyle='ISO, MDY' timezone=UTC "
		"application_name='my app' reserve_pool_size=4\n"
		"* = host=fallback.example\n");
	CHECK(c && c->ndbs == 5);
	if (!c || c->ndbs != 5) {
		config_put(c);
		return;
	}
	const struct dbconf *d = db_at(c, 0);
	CHECK_EQ_STR(d->name, "app");
	CHECK_EQ_STR(d->dbname, "appdb");
	CHECK_EQ_STR(d->user, "svc");
	CHECK_EQ_STR(d->password, "it's 'q' x");
	CHECK_EQ_INT(d->pool_size, 7);
	CHECK_EQ_INT(d->pool_mode, POOL_TRANSACTION);
	CHECK_EQ_INT(d->min_pool_size, 2);
	CHECK_EQ_INT(d->reserve_pool, 3);
	CHECK_EQ_INT(d->max_db_connections, 50);
	CHECK_EQ_INT(d->nnodes, 1);
	CHECK_EQ_STR(d->nodes[0].host, "db1.example");
	CHECK_EQ_INT(d->nodes[0].port, 5433);
	CHECK_EQ_INT(d->nodes[0].weight, 1);
	CHECK_EQ_INT(d->line, 2);

	d = db_at(c, 1); /* nothing set: primary on 127.0.0.1:5432, everything else from [pgrouter] */
	CHECK_EQ_STR(d->name, "plain");
	CHECK(d->dbname == NULL && d->user == NULL && d->password == NULL && d->client_encoding == NULL);
	CHECK(d->pool_size == -1 && d->min_pool_size == -1 && d->reserve_pool == -1 && d->pool_mode == -1);
	CHECK_EQ_INT(d->max_db_connections, 0);
	CHECK_EQ_INT(d->nnodes, 1);
	CHECK_EQ_STR(d->nodes[0].host, "127.0.0.1");
	CHECK_EQ_INT(d->nodes[0].port, 5432);
	CHECK_EQ_INT(d->line, 4);

	d = db_at(c, 2); /* replicas without a port take the entry's port, even when port= comes later */
	static const struct { const char *host; int port, weight; } r[] = {
		{ "10.0.0.1", 6000, 1 }, { "10.0.0.2", 5434, 1 }, { "10.0.0.3", 6000, 3 }, { "::1", 5440, 2 },
		{ "fe80::1", 6000, 1 }, { "::1", 6000, 1 }, { "h0", 6000, 0 },
	};
	CHECK_EQ_INT(d->nnodes, 7);
	for (int i = 0; i < 7 && i < d->nnodes; i++) {
		CHECK_EQ_STR(d->nodes[i].host, r[i].host);
		CHECK_EQ_INT(d->nodes[i].port, r[i].port);
		CHECK_EQ_INT(d->nodes[i].weight, r[i].weight);
	}

	d = db_at(c, 3);
	CHECK_EQ_INT(d->nnodes, 3);
	CHECK_EQ_STR(d->nodes[1].host, "a");
	CHECK_EQ_INT(d->nodes[1].port, 5432);
	CHECK_EQ_STR(d->nodes[2].host, "b");
	CHECK_EQ_INT(d->nodes[2].port, 1);
	CHECK_EQ_STR(d->client_encoding, "UTF8");
	CHECK_EQ_STR(d->datestyle, "ISO, MDY");
	CHECK_EQ_STR(d->timezone, "UTC");
	CHECK_EQ_STR(d->application_name, "my app");
	CHECK_EQ_INT(d->reserve_pool, 4);

	CHECK(config_find_db(c, "app") == &c->dbs[0]);
	CHECK(config_find_db(c, "q") == &c->dbs[3]);
	CHECK(config_find_db(c, "unknown") == &c->dbs[4]);
	CHECK(config_find_db(c, "APP") == &c->dbs[4]); /* names are case-sensitive, as in PostgreSQL */
	CHECK(config_find_db(c, "*") == &c->dbs[4]);
	CHECK_EQ_STR(c->dbs[4].nodes[0].host, "fallback.example");
	config_put(c);

	/* Without "*", an unknown name finds nothing; "*" listed first still loses to an exact name. */
	c = load_ok("[databases]\n* = host=a\nx = host=b\n");
	CHECK(c && config_find_db(c, "x") == &c->dbs[1] && config_find_db(c, "y") == &c->dbs[0]);
	config_put(c);
	c = load_ok("[databases]\nx = host=b\n");
	CHECK(c && config_find_db(c, "y") == NULL && config_find_db(c, "x") == &c->dbs[0]);
	config_put(c);
}

/* Exactly 15 replicas fit; 16 do not. */
static void test_replica_count(void)
{
	char text[1024];
	for (int n = 15; n <= 16; n++) {
		int o = snprintf(text, sizeof text, "[databases]\nd = replicas=");
		for (int i = 0; i < n; i++)
			o += snprintf(text + o, sizeof text - (size_t)o, "%sr%d", i ? "," : "", i);
		snprintf(text + o, sizeof text - (size_t)o, "\n");
		if (n == 15) {
			struct config *c = load_ok(text);
			CHECK(c && c->dbs[0].nnodes == MAX_NODES);
			CHECK_EQ_STR(c ? c->dbs[0].nodes[15].host : NULL, "r14");
			config_put(c);
		} else {
			CHECK_EQ_STR(load_err(text), "F:2: d: replicas: too many replicas");
		}
	}
}

/* Each malformed database entry is refused with the entry name and the key. */
static void test_database_errors(void)
{
	static const struct { const char *entry, *err; } bad[] = {
		{ "app = host=x foo=bar", "F:2: app: foo: unknown key" },
		{ "app = Host=x", "F:2: app: Host: unknown key" },
		{ "app = port=0", "F:2: app: port: bad port" },
		{ "app = port=65536", "F:2: app: port: bad port" },
		{ "app = port=54x", "F:2: app: port: bad port" },
		{ "app = pool_size=-1", "F:2: app: pool_size: expected a non-negative integer" },
		{ "app = pool_size=many", "F:2: app: pool_size: expected a non-negative integer" },
		{ "app = pool_size=' '", "F:2: app: pool_size: expected a non-negative integer" },
		{ "app = pool_mode=txn", "F:2: app: pool_mode: pool_mode must be session, transaction or statement" },
		{ "app = connect_query='SELECT 1'", "F:2: app: connect_query: not supported yet" },
		{ "app = password='abc", "F:2: app: bad value for password (unterminated quote or too long)" },
		{ "app = host", "F:2: app: expected key=value in database definition" },
		{ "app = =x", "F:2: app: expected key=value in database definition" },
		{ "app = replicas=a, b", "F:2: app: expected key=value in database definition after the value of replicas "
		                         "(quote values that contain spaces)" },
		/* A password is never echoed, not even the part after an unquoted space. */
		{ "app = host=x password=two words", "F:2: app: expected key=value in database definition after the value "
		                                     "of password (quote values that contain spaces)" },
	};
	char text[512];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[databases]\n%s\n", bad[i].entry);
		CHECK_EQ_STR(load_err(text), bad[i].err);
	}
	static const char *const bad_replicas[] = { "h:0", "h:", "h:65536", "h:x", "[::1", "[::1]x", "[::1]:", "[]:5432",
		                                        "h@-1", "h@1000001", "h@x", "@3", ":5432", "h@" };
	for (size_t i = 0; i < sizeof bad_replicas / sizeof bad_replicas[0]; i++) {
		snprintf(text, sizeof text, "[databases]\napp = host=p replicas=ok1,%s\n", bad_replicas[i]);
		CHECK_EQ_STR(load_err(text), "F:2: app: replicas: bad replica address (host[:port][@weight])");
	}
	CHECK_EQ_STR(load_err("[databases]\napp = host=a\nother = host=b\napp = host=c\n"),
	             "F:4: app: database defined twice");
	/* A host name longer than the address buffer. */
	char longhost[400];
	memset(longhost, 'h', 300);
	longhost[300] = 0;
	snprintf(text, sizeof text, "[databases]\napp = host=%s\n", longhost);
	CHECK_EQ_STR(load_err(text), "F:2: app: host: host too long");
}

/* inih's line buffer is 200 bytes: longer lines must survive whole, and line numbers must stay right. */
static void test_long_lines(void)
{
	char text[4096];
	int o = snprintf(text, sizeof text, "[databases]\nbig = host=primary.example port=5440 replicas=");
	for (int i = 1; i <= 14; i++)
		o += snprintf(text + o, sizeof text - (size_t)o, "%sreplica-%02d.a-rather-long-domain-name.example.internal:%d@%d",
		              i > 1 ? "," : "", i, 6000 + i, i);
	int listlen = o - (int)strlen("[databases]\nbig = host=primary.example port=5440 replicas=");
	CHECK(listlen > 600);
	o += snprintf(text + o, sizeof text - (size_t)o, " ; comment after the long value\nnext = host=n\n");
	struct config *c = load_ok(text);
	CHECK(c && c->ndbs == 2);
	if (c && c->ndbs == 2) {
		const struct dbconf *d = &c->dbs[0];
		CHECK_EQ_INT(d->nnodes, 15);
		CHECK_EQ_STR(d->nodes[0].host, "primary.example");
		CHECK_EQ_INT(d->nodes[0].port, 5440);
		CHECK_EQ_STR(d->nodes[1].host, "replica-01.a-rather-long-domain-name.example.internal");
		CHECK_EQ_INT(d->nodes[1].port, 6001);
		CHECK_EQ_STR(d->nodes[14].host, "replica-14.a-rather-long-domain-name.example.internal");
		CHECK_EQ_INT(d->nodes[14].port, 6014);
		CHECK_EQ_INT(d->nodes[14].weight, 14);
		CHECK_EQ_STR(c->dbs[1].name, "next");
		CHECK_EQ_INT(c->dbs[1].line, 3);
	}
	config_put(c);
	/* An error after a long line is reported on its own line. */
	snprintf(text + o, sizeof text - (size_t)o, "bad = host=x nope=1\n");
	CHECK_EQ_STR(load_err(text), "F:4: bad: nope: unknown key");

	/* Every line length around the 200-byte boundary keeps the value exact. */
	for (int len = 180; len <= 220; len++) {
		char value[300], line[400];
		int vl = len - (int)strlen("server_reset_query = ");
		for (int i = 0; i < vl; i++)
			value[i] = (char)('a' + i % 26);
		value[vl] = 0;
		snprintf(line, sizeof line, "[pgrouter]\nserver_reset_query = %s\nlisten_port = 7005\n", value);
		c = load_ok(line);
		CHECK(c && strcmp(c->server_reset_query, value) == 0 && c->listen_port == 7005);
		config_put(c);
	}
	/* A long list setting keeps every member. */
	char users[1200];
	int u = 0;
	for (int i = 0; i < 100; i++)
		u += snprintf(users + u, sizeof users - (size_t)u, "%suser%03d", i ? ", " : "", i);
	snprintf(text, sizeof text, "[pgbouncer]\nadmin_users = %s\nlisten_port = 7006\n", users);
	c = load_ok(text);
	CHECK(c && strcmp(c->admin_users, users) == 0 && list_contains(c->admin_users, "user099", false));
	CHECK(c && c->listen_port == 7006);
	config_put(c);
}

/* Comment lines longer than inih's buffer are still comments, with or without '=' in them. */
static void test_long_comments(void)
{
	char text[2048], filler[700];
	memset(filler, 'c', 300);
	filler[300] = 0;
	snprintf(text, sizeof text, "; %s\n[pgrouter]\nlisten_port = 7007\n", filler);
	struct config *c = load_ok(text);
	CHECK(c && c->listen_port == 7007);
	config_put(c);
	memset(filler, 'c', 600);
	filler[600] = 0;
	snprintf(text, sizeof text, "[pgrouter]\n# %s = x\nlisten_port = 7008\n", filler);
	c = load_ok(text);
	CHECK(c && c->listen_port == 7008);
	config_put(c);
}

/* Inline ';' comments (after whitespace) end a value; other ';' are data; CRLF line ends. */
static void test_comments(void)
{
	struct config *c = load_ok("# hash comment\n; semicolon comment\n[pgrouter]\nlisten_port = 7010 ; the port\n"
	                           "admin_users = a;b\nserver_reset_query = RESET ALL ; with = and : inside\n"
	                           "[databases]\nd1 = host=h1 port=5555 ; comment\n");
	CHECK(c && c->ndbs == 1);
	if (c && c->ndbs == 1) {
		CHECK_EQ_INT(c->listen_port, 7010);
		CHECK_EQ_STR(c->admin_users, "a;b");
		CHECK_EQ_STR(c->server_reset_query, "RESET ALL");
		CHECK_EQ_STR(c->dbs[0].nodes[0].host, "h1");
		CHECK_EQ_INT(c->dbs[0].nodes[0].port, 5555);
	}
	config_put(c);
	c = load_ok("[pgrouter]\r\nlisten_port = 7011\r\n[databases]\r\nd = host=x port=5\r\n");
	CHECK(c && c->listen_port == 7011 && c->ndbs == 1 && strcmp(c->dbs[0].nodes[0].host, "x") == 0);
	CHECK(c && c->dbs[0].nodes[0].port == 5);
	config_put(c);
}

/* Reload: restart-only settings keep the running values, the rest take the new ones; changes are logged. */
static void test_reload(void)
{
	struct config *old_c = load_ok("[pgrouter]\nlisten_addr = 0.0.0.0\nlisten_port = 7000\nworkers = 3\n"
	                               "pidfile = /tmp/a.pid\npkt_buf = 8kB\npool_mode = transaction\n");
	struct config *new_c = load_ok("[pgrouter]\nlisten_addr = 127.0.0.2\nlisten_port = 8000\nworkers = 4\n"
	                               "pidfile = /tmp/b.pid\npkt_buf = 32kB\npool_mode = statement\n"
	                               "default_pool_size = 50\nquery_wait_timeout = 1.5\n");
	CHECK(old_c && new_c);
	if (!old_c || !new_c)
		return;
	long off = log_end();
	config_log_changes(old_c, new_c);
	const char *log = log_since(&off);
	CHECK(strstr(log, "reload: default_pool_size = '50' (was '20')") != NULL);
	CHECK(strstr(log, "reload: pool_mode = 'statement' (was 'transaction')") != NULL);
	CHECK(strstr(log, "reload: query_wait_timeout = '1.5' (was '120')") != NULL);
	CHECK(strstr(log, "reload: listen_port changed from '7000' to '8000' but needs a restart") != NULL);
	CHECK(strstr(log, "listen_addr changed from '0.0.0.0' to '127.0.0.2'") != NULL);
	CHECK(strstr(log, "max_client_conn") == NULL); /* unchanged settings are not mentioned */

	config_keep_restart_settings(old_c, new_c);
	CHECK_EQ_STR(new_c->listen_addr, "0.0.0.0");
	CHECK_EQ_INT(new_c->listen_port, 7000);
	CHECK_EQ_INT(new_c->workers, 3);
	CHECK_EQ_STR(new_c->pidfile, "/tmp/a.pid");
	CHECK_EQ_INT(new_c->pkt_buf, 8192);
	CHECK_EQ_INT(new_c->pool_mode, POOL_STATEMENT);
	CHECK_EQ_INT(new_c->default_pool_size, 50);
	CHECK_EQ_INT(new_c->query_wait_timeout, 1500000);
	CHECK(new_c->listen_addr != old_c->listen_addr); /* a copy: the old config can go away */
	config_put(old_c);
	CHECK_EQ_STR(new_c->listen_addr, "0.0.0.0");
	off = log_end();
	config_log_changes(new_c, new_c);
	CHECK_EQ_STR(log_since(&off), "");
	config_put(new_c);
}

/* Comma/space separated membership, "*" wildcard, case folding on request. */
static void test_list_contains(void)
{
	static const struct { const char *list, *name; bool ci, want; } t[] = {
		{ "a, b,c", "a", false, true }, { "a, b,c", "b", false, true }, { "a, b,c", "c", false, true },
		{ "a, b,c", "d", false, false }, { "ab,c", "a", false, false }, { "a", "ab", false, false },
		{ "a,b", "", false, false }, { "", "a", false, false }, { " ,, a ,,", "a", false, true },
		{ "x\ty  z", "y", false, true }, { "x\ty  z", "z", false, true },
		{ "extra_float_digits,options", "options", false, true }, { "*", "anyone", false, true },
		{ "bob, *", "anyone", false, true }, { "a*", "ab", false, false }, { "Admin", "admin", false, false },
		{ "Admin", "admin", true, true }, { "x, ADMIN", "Admin", true, true }, { NULL, "a", false, false },
		{ "a", NULL, false, false },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (list_contains(t[i].list, t[i].name, t[i].ci) != t[i].want)
			fprintf(stderr, "list_contains case %zu is wrong\n", i);
		CHECK_EQ_INT(list_contains(t[i].list, t[i].name, t[i].ci), t[i].want);
	}
}

/* SET: the file text as it was read, earlier SETs and this one; restart-only, unknown and invalid refused. */
static void test_set_at_runtime(void)
{
	char err[600];
	struct config *c = load_ok("[pgrouter]\ndefault_pool_size = 5\nlisten_port = 7000\n[databases]\nx = host=h\n");
	CHECK(c != NULL);
	if (!c)
		return;
	struct config *a = NULL, *b = NULL, *bad = NULL;
	CHECK_EQ_INT(config_with_setting(c, "default_pool_size", "7", &a, err, sizeof err), CFGSET_OK);
	CHECK(a && a->default_pool_size == 7 && a->listen_port == 7000 && a->ndbs == 1);
	/* the file is gone: a SET re-parses the text it was read from, and keeps the earlier SET */
	CHECK(a && config_with_setting(a, "QUERY_WAIT_TIMEOUT", "2s", &b, err, sizeof err) == CFGSET_OK);
	CHECK(b && b->default_pool_size == 7 && b->query_wait_timeout == 2000000 && b->nsets == 2);
	CHECK_EQ_INT(config_with_setting(c, "listen_port", "1", &bad, err, sizeof err), CFGSET_RESTART);
	CHECK_EQ_STR(err, "listen_port cannot be changed while pgrouter runs (it needs a restart)");
	CHECK_EQ_INT(config_with_setting(c, "nosuch", "1", &bad, err, sizeof err), CFGSET_UNKNOWN);
	CHECK_EQ_INT(config_with_setting(c, "default_pool_size", "0", &bad, err, sizeof err), CFGSET_INVALID);
	CHECK_EQ_STR(err, "default_pool_size: value out of range: '0'");
	CHECK_EQ_INT(config_with_setting(c, "auth_type", "md5", &bad, err, sizeof err), CFGSET_INVALID);
	CHECK(strstr(err, "auth_type: 'md5' needs auth_file") != NULL);
	CHECK(bad == NULL);
	/* SHOW CONFIG's view: value, default, changeable */
	struct config_setting_info si;
	int seen = 0;
	for (int i = 0; c && config_setting_at(b ? b : c, i, &si); i++) {
		if (strcmp(si.name, "query_wait_timeout") == 0) {
			CHECK_EQ_STR(si.value, "2");
			CHECK_EQ_STR(si.def, "120");
			CHECK(si.changeable);
			seen++;
		}
		if (strcmp(si.name, "listen_port") == 0) {
			CHECK_EQ_STR(si.value, "7000");
			CHECK(!si.changeable);
			seen++;
		}
		if (strcmp(si.name, "monitor_interval") == 0) {   /* seconds with a fraction, as PgBouncer prints */
			CHECK_EQ_STR(si.def, "0.25");
			seen++;
		}
		if (strcmp(si.name, "consistency_store_timeout") == 0) {
			CHECK_EQ_STR(si.def, "0.1");
			seen++;
		}
	}
	CHECK_EQ_INT(seen, 4);
	config_put(a);
	config_put(b);
	config_put(c);
}

/* [routes] regexes whose compiled form would take gigabytes are refused at load; ordinary ones load. */
static void test_route_regex_limits(void)
{
	char ini[2048], nested[600] = "";
	const char *ok[] = { "from orders ", "^select .* from (a|b|c)+ where id = [0-9]{1,12}$", "x{1,100}",
	                     "[]{}()+]+ and [[:alpha:]]{2}", "(((a+)+)+)+" };
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(ini, sizeof ini, "[routes]\nr = regex='%s' target=replica\n", ok[i]);
		struct config *c = load_ok(ini);
		CHECK(c != NULL);
		config_put(c);
	}
	for (int i = 0; i < 18; i++)
		strcat(nested, "(");
	strcat(nested, "a");
	for (int i = 0; i < 18; i++)
		strcat(nested, ")+");
	const char *bad[] = { nested, "((a{255}){255}){255}", "a{100}{100}{100}", "(x{1,}){1,}{99}{99}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(ini, sizeof ini, "[routes]\nr = regex='%s' target=replica\n", bad[i]);
		const char *e = load_err(ini);
		if (!strstr(e, "r: regex too large or its repetitions nest too deeply"))
			fprintf(stderr, "regex %s: %s\n", bad[i], e);
		CHECK(strstr(e, "r: regex too large or its repetitions nest too deeply") != NULL);
	}
}

/* A console SET survives config_reload while the file keeps that setting's value; the file wins once it changes it. */
static void test_reload_keeps_sets(void)
{
	char path[64], err[600];
	write_tmp(path, "[pgrouter]\ndefault_pool_size = 4\nmax_client_conn = 100\n");
	struct config *c = config_load(path, err, sizeof err), *s = NULL;
	CHECK(c != NULL);
	CHECK_EQ_INT(config_with_setting(c, "default_pool_size", "7", &s, err, sizeof err), CFGSET_OK);
	struct config *r = config_reload(s, err, sizeof err);   /* file unchanged (a logrotate SIGHUP) */
	CHECK(r && r->default_pool_size == 7 && r->nsets == 1);
	FILE *f = fopen(path, "w");
	fputs("[pgrouter]\ndefault_pool_size = 5\nmax_client_conn = 90\n", f);
	fclose(f);
	struct config *r2 = config_reload(r, err, sizeof err);   /* the file changed it: the file wins */
	CHECK(r2 && r2->default_pool_size == 5 && r2->max_client_conn == 90 && r2->nsets == 0);
	config_put(r2);
	config_put(r);
	config_put(s);
	config_put(c);
	unlink(path);
}

int main(void)
{
	write_tmp(log_path, "");
	log_setup(LOG_INFO, log_path);
	log_stderr(false);
	test_defaults();
	test_sections();
	test_durations();
	test_sizes();
	test_booleans();
	test_enums();
	test_ranges();
	test_errors();
	test_validation();
	test_auth_defaults();
	test_secrets_redacted();
	test_databases();
	test_replica_count();
	test_database_errors();
	test_long_lines();
	test_long_comments();
	test_comments();
	test_reload();
	test_list_contains();
	test_set_at_runtime();
	test_reload_keeps_sets();
	test_route_regex_limits();
	unlink(log_path);
	return unit_done("test_config");
}
