/* The settings table (name, type, default, field, range, flags) and how a value of each type is read into its field. */
#include "config/config.h"
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const config_pool_modes[] = { "session", "transaction", "statement", NULL };
static const char *const tls_modes[] = { "disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL };
static const char *const node_roles[] = { "config", "auto", NULL };
static const char *const ryw_modes[] = { "off", "lsn", "window", NULL };
const char *const config_auth_types[] = { "trust", "any", "plain", "md5", "scram-sha-256", "cert", "hba", NULL };

#define AUTH_QUERY_DEFAULT \
	"SELECT usename, passwd FROM pg_shadow WHERE usename=$1 AND (valuntil IS NULL OR valuntil > now())"
#define OFF(f) offsetof(struct config, f)
#define IMAX 2147483647
#define DMAX (86400LL * 365 * 1000000)
#define KEEPALIVE_MAX (32767LL * 1000000) /* Linux's limit for TCP_KEEPIDLE and TCP_KEEPINTVL, in seconds */
const struct setting config_settings[] = {
	{ "logfile", CT_STR, "", OFF(logfile), 0, 0, NULL, 0 },
	{ "pidfile", CT_STR, "", OFF(pidfile), 0, 0, NULL, F_RESTART },
	{ "listen_addr", CT_STR, "127.0.0.1", OFF(listen_addr), 0, 0, NULL, F_RESTART },
	{ "listen_port", CT_INT, "6432", OFF(listen_port), 1, 65535, NULL, F_RESTART },
	{ "so_reuseport", CT_BOOL, "0", OFF(so_reuseport), 0, 1, NULL, F_RESTART },
	{ "unix_socket_dir", CT_STR, "", OFF(unix_socket_dir), 0, 0, NULL, F_RESTART },
	{ "unix_socket_mode", CT_STR, "0777", OFF(unix_socket_mode), 0, 0, NULL, F_RESTART },
	{ "unix_socket_group", CT_STR, "", OFF(unix_socket_group), 0, 0, NULL, F_RESTART },
	{ "user", CT_STR, "", OFF(user), 0, 0, NULL, F_RESTART },
	{ "workers", CT_INT, "0", OFF(workers), 0, 64, NULL, F_RESTART },
	{ "pool_mode", CT_ENUM, "session", OFF(pool_mode), 0, 0, config_pool_modes, 0 },
	{ "max_client_conn", CT_INT, "100", OFF(max_client_conn), 1, IMAX, NULL, 0 },
	{ "max_pending_logins", CT_INT, "1000", OFF(max_pending_logins), 1, IMAX, NULL, 0 },
	{ "default_pool_size", CT_INT, "20", OFF(default_pool_size), 1, IMAX, NULL, 0 },
	{ "min_pool_size", CT_INT, "0", OFF(min_pool_size), 0, IMAX, NULL, 0 },
	{ "reserve_pool_size", CT_INT, "0", OFF(reserve_pool_size), 0, IMAX, NULL, 0 },
	{ "replica_pool_size", CT_INT, "0", OFF(replica_pool_size), 0, IMAX, NULL, 0 },
	{ "primary_read_weight", CT_INT, "0", OFF(primary_read_weight), 0, 1000000, NULL, 0 },
	{ "routing", CT_BOOL, "1", OFF(routing), 0, 1, NULL, 0 },
	{ "reserve_pool_timeout", CT_DUR, "5", OFF(reserve_pool_timeout), 0, DMAX, NULL, 0 },
	{ "server_idle_timeout", CT_DUR, "600", OFF(server_idle_timeout), 0, DMAX, NULL, 0 },
	{ "server_lifetime", CT_DUR, "3600", OFF(server_lifetime), 0, DMAX, NULL, 0 },
	{ "server_connect_timeout", CT_DUR, "15", OFF(server_connect_timeout), 0, DMAX, NULL, 0 },
	{ "server_login_retry", CT_DUR, "15", OFF(server_login_retry), 0, DMAX, NULL, 0 },
	{ "query_wait_timeout", CT_DUR, "120", OFF(query_wait_timeout), 0, DMAX, NULL, 0 },
	{ "client_idle_timeout", CT_DUR, "0", OFF(client_idle_timeout), 0, DMAX, NULL, 0 },
	{ "client_login_timeout", CT_DUR, "60", OFF(client_login_timeout), 0, DMAX, NULL, 0 },
	{ "idle_transaction_timeout", CT_DUR, "0", OFF(idle_transaction_timeout), 0, DMAX, NULL, 0 },
	{ "server_reset_query", CT_STR, "DISCARD ALL", OFF(server_reset_query), 0, 0, NULL, 0 },
	{ "server_reset_query_always", CT_BOOL, "0", OFF(server_reset_query_always), 0, 1, NULL, 0 },
	{ "max_prepared_statements", CT_INT, "200", OFF(max_prepared_statements), 0, IMAX, NULL, 0 },
	{ "ignore_startup_parameters", CT_STR, "", OFF(ignore_startup_parameters), 0, 0, NULL, 0 },
	{ "track_extra_parameters", CT_STR, "extra_float_digits, search_path", OFF(track_extra_parameters), 0, 0, NULL,
	  0 },
	{ "auth_type", CT_ENUM, "md5", OFF(auth_type), 0, 0, config_auth_types, 0 },
	{ "auth_file", CT_STR, "", OFF(auth_file), 0, 0, NULL, 0 },
	{ "auth_hba_file", CT_STR, "", OFF(auth_hba_file), 0, 0, NULL, 0 },
	{ "auth_user", CT_STR, "", OFF(auth_user), 0, 0, NULL, 0 },
	/* PgBouncer's default query, except that a password past its VALID UNTIL gives no secret (PostgreSQL refuses
	   it; a forced server user or a pooled connection would not notice). */
	{ "auth_query", CT_STR, AUTH_QUERY_DEFAULT, OFF(auth_query), 0, 0, NULL, 0 },
	{ "auth_dbname", CT_STR, "", OFF(auth_dbname), 0, 0, NULL, 0 },
	{ "client_tls_sslmode", CT_ENUM, "disable", OFF(client_tls_sslmode), 0, 0, tls_modes, 0 },
	{ "client_tls_cert_file", CT_STR, "", OFF(client_tls_cert_file), 0, 0, NULL, 0 },
	{ "client_tls_key_file", CT_STR, "", OFF(client_tls_key_file), 0, 0, NULL, 0 },
	{ "client_tls_ca_file", CT_STR, "", OFF(client_tls_ca_file), 0, 0, NULL, 0 },
	{ "client_tls_protocols", CT_STR, "secure", OFF(client_tls_protocols), 0, 0, NULL, 0 },
	{ "client_tls_ciphers", CT_STR, "default", OFF(client_tls_ciphers), 0, 0, NULL, 0 },
	{ "server_tls_sslmode", CT_ENUM, "prefer", OFF(server_tls_sslmode), 0, 0, tls_modes, 0 },
	{ "server_tls_cert_file", CT_STR, "", OFF(server_tls_cert_file), 0, 0, NULL, 0 },
	{ "server_tls_key_file", CT_STR, "", OFF(server_tls_key_file), 0, 0, NULL, 0 },
	{ "server_tls_ca_file", CT_STR, "", OFF(server_tls_ca_file), 0, 0, NULL, 0 },
	{ "server_tls_protocols", CT_STR, "secure", OFF(server_tls_protocols), 0, 0, NULL, 0 },
	{ "server_tls_ciphers", CT_STR, "default", OFF(server_tls_ciphers), 0, 0, NULL, 0 },
	{ "admin_users", CT_STR, "", OFF(admin_users), 0, 0, NULL, 0 },
	{ "stats_users", CT_STR, "", OFF(stats_users), 0, 0, NULL, 0 },
	{ "max_packet_size", CT_SIZE, "2147483647", OFF(max_packet_size), 1024, IMAX, NULL, 0 },
	{ "pkt_buf", CT_SIZE, "16384", OFF(pkt_buf), 1024, 1 << 24, NULL, F_RESTART },
	{ "tcp_keepalive", CT_BOOL, "1", OFF(tcp_keepalive), 0, 1, NULL, 0 },
	{ "tcp_keepidle", CT_DUR, "0", OFF(tcp_keepidle), 0, KEEPALIVE_MAX, NULL, 0 },
	{ "tcp_keepintvl", CT_DUR, "0", OFF(tcp_keepintvl), 0, KEEPALIVE_MAX, NULL, 0 },
	{ "tcp_keepcnt", CT_INT, "0", OFF(tcp_keepcnt), 0, IMAX, NULL, 0 },
	{ "log_connections", CT_BOOL, "1", OFF(log_connections), 0, 1, NULL, 0 },
	{ "log_disconnections", CT_BOOL, "1", OFF(log_disconnections), 0, 1, NULL, 0 },
	{ "log_pooler_errors", CT_BOOL, "1", OFF(log_pooler_errors), 0, 1, NULL, 0 },
	{ "verbose", CT_INT, "0", OFF(verbose), 0, 3, NULL, 0 },
	{ "syslog", CT_BOOL, "0", OFF(syslog), 0, 1, NULL, 0 },
	{ "syslog_ident", CT_STR, "pgrouter", OFF(syslog_ident), 0, 0, NULL, 0 },
	{ "syslog_facility", CT_STR, "daemon", OFF(syslog_facility), 0, 0, NULL, 0 },
	{ "monitor_interval", CT_DUR, "250ms", OFF(monitor_interval), 0, 60000000, NULL, 0 },
	{ "monitor_timeout", CT_DUR, "1s", OFF(monitor_timeout), 10000, 600000000, NULL, 0 },
	{ "monitor_user", CT_STR, "", OFF(monitor_user), 0, 0, NULL, 0 },
	{ "monitor_password", CT_STR, "", OFF(monitor_password), 0, 0, NULL, F_SECRET },
	{ "monitor_dbname", CT_STR, "", OFF(monitor_dbname), 0, 0, NULL, 0 },
	{ "max_replica_lag", CT_DUR, "10s", OFF(max_replica_lag), 0, DMAX, NULL, 0 },
	{ "lag_recover_checks", CT_INT, "3", OFF(lag_recover_checks), 1, 100000, NULL, 0 },
	{ "role", CT_ENUM, "auto", OFF(role), 0, 0, node_roles, 0 },
	{ "http_addr", CT_STR, "127.0.0.1", OFF(http_addr), 0, 0, NULL, F_RESTART },
	{ "http_port", CT_INT, "0", OFF(http_port), 0, 65535, NULL, F_RESTART },
	{ "read_your_writes", CT_ENUM, "lsn", OFF(read_your_writes), 0, 0, ryw_modes, 0 },
	{ "ryw_window", CT_DUR, "1s", OFF(ryw_window), 0, DMAX, NULL, 0 },
	{ "ryw_wait", CT_DUR, "0", OFF(ryw_wait), 0, 60000000, NULL, 0 },
	{ "ryw_key_ttl", CT_DUR, "60s", OFF(ryw_key_ttl), 1000, DMAX, NULL, 0 },
	{ "ryw_key_max", CT_INT, "100000", OFF(ryw_key_max), 1, 100000000, NULL, 0 },
	{ "consistency_store", CT_STR, "", OFF(consistency_store), 0, 0, NULL, F_SECRET_URL },
	{ "consistency_store_timeout", CT_DUR, "100ms", OFF(consistency_store_timeout), 1000, 60000000, NULL, 0 },
	{ NULL, 0, NULL, 0, 0, 0, NULL, 0 },
};
_Static_assert(sizeof config_settings / sizeof config_settings[0] <= CONFIG_MAX_SETTINGS, "raise CONFIG_MAX_SETTINGS");

/* PgBouncer config_settings an existing file may carry that pgrouter accepts and ignores (with a warning). */
const char *const config_ignored_settings[] = {
	"stats_period",
	"sbuf_loopcnt",
	"suspend_timeout",
	"dns_max_ttl",
	"dns_nxdomain_ttl",
	"dns_zone_check_period",
	"resolv_conf",
	"application_name_add_host",
	"service_name",
	"job_name",
	"disable_pqexec",
	"listen_backlog",
	"server_round_robin",
	"server_check_query",
	"server_check_delay",
	"server_fast_close",
	"log_stats",
	"tcp_defer_accept",
	"tcp_socket_buffer",
	"tcp_user_timeout",
	"autodb_idle_timeout",
	"max_db_connections",
	"max_user_connections",
	"cancel_wait_timeout",
	"query_timeout",
	NULL,
};

/* Durations: plain numbers are seconds (PgBouncer's unit); suffixes us, ms, s, min, h. */
int parse_duration(const char *s, int64_t *usec)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	double mult;
	if (*end == 0 || strcmp(end, "s") == 0)
		mult = 1e6;
	else if (strcmp(end, "ms") == 0)
		mult = 1e3;
	else if (strcmp(end, "us") == 0)
		mult = 1;
	else if (strcmp(end, "min") == 0)
		mult = 60e6;
	else if (strcmp(end, "h") == 0)
		mult = 3600e6;
	else
		return -1;
	double r = v * mult;
	if (r > 9e18)
		return -1;
	*usec = (int64_t)llround(r);
	return 0;
}

/* Sizes: bytes, or with kB/MB/GB (powers of 1024, as PostgreSQL reads them). */
int parse_size(const char *s, int64_t *bytes)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno || v < 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	int64_t mult;
	if (*end == 0 || strcmp(end, "B") == 0)
		mult = 1;
	else if (strcasecmp(end, "kB") == 0)
		mult = 1024;
	else if (strcasecmp(end, "MB") == 0)
		mult = 1024 * 1024;
	else if (strcasecmp(end, "GB") == 0)
		mult = 1024LL * 1024 * 1024;
	else
		return -1;
	if (v > INT64_MAX / mult)
		return -1;
	*bytes = v * mult;
	return 0;
}

/* Strict integer. */
int config_parse_int(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

/* Booleans as PgBouncer and PostgreSQL spell them. */
static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "on", "yes", "true", NULL };
	static const char *const no[] = { "0", "off", "no", "false", NULL };
	for (int i = 0; yes[i]; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, 0;
	for (int i = 0; no[i]; i++)
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, 0;
	return -1;
}

/* Store value into the field described by st; returns 0 or -1 with why set. */
int config_apply_setting(struct config *cfg, const struct setting *st, const char *value, const char **why)
{
	char *field = (char *)cfg + st->off;
	int64_t v = 0;
	bool b;
	switch (st->type) {
	case CT_STR: {
		char *copy = strdup(value);
		if (!copy)
			return *why = "out of memory", -1;
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case CT_BOOL:
		if (parse_bool(value, &b) < 0)
			return *why = "expected a boolean (0/1, on/off, yes/no, true/false)", -1;
		*(bool *)field = b;
		return 0;
	case CT_ENUM:
		for (int i = 0; st->enums[i]; i++)
			if (strcasecmp(value, st->enums[i]) == 0)
				return *(int *)field = i, 0;
		return *why = "not one of the allowed values", -1;
	case CT_INT:
		if (config_parse_int(value, &v) < 0)
			return *why = "expected an integer", -1;
		break;
	case CT_DUR:
		if (parse_duration(value, &v) < 0)
			return *why = "expected a duration (seconds, or with ms/s/min/h)", -1;
		break;
	case CT_SIZE:
		if (parse_size(value, &v) < 0)
			return *why = "expected a size (bytes, or with kB/MB/GB)", -1;
		break;
	}
	if (v < st->min || v > st->max)
		return *why = "value out of range", -1;
	if (st->type == CT_INT)
		*(int *)field = (int)v;
	else
		*(int64_t *)field = v;
	return 0;
}

const struct setting *config_find_setting(const char *name)
{
	for (const struct setting *st = config_settings; st->name; st++)
		if (strcasecmp(st->name, name) == 0)
			return st;
	return NULL;
}
