/* A small blocking PostgreSQL client with timeouts, for pgrouter's own catalog and monitor queries (never in a worker). */
#ifndef PGR_PGCLIENT_H
#define PGR_PGCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct authfile_entry;

/* How to log in: a password, or an auth_file entry (md5 secret, or SCRAM secret with a proven ClientKey). */
struct pgc_login {
	const char *host;
	int port;
	const char *dbname;
	const char *user;
	const char *password; /* NULL: use entry */
	const struct authfile_entry *entry; /* NULL: no secret */
	const uint8_t *client_key; /* SCRAM passthrough key for entry, or NULL */
	const char *appname; /* application_name; NULL: "pgrouter catalog" */
};

struct pgclient {
	int fd;
	int timeout_ms;
	bool timed_out; /* the last failure was a timeout (a hung node, not a refusal) */
	bool io_failed; /* ... or the network failed (refused, reset, closed): the node is unreachable */
	char sqlstate[6]; /* the server's SQLSTATE when it answered with an error, else "" */
	char err[256];
};

/* Connect and log in; 0, or -1 with pc->err set. */
int pgc_connect(struct pgclient *pc, const struct pgc_login *login, int timeout_ms);
/* Run one simple query; row() gets each row's text values (NULL for SQL NULL); 0, or -1 with pc->err. */
int pgc_query(struct pgclient *pc, const char *sql, void (*row)(void *ctx, int ncols, const char *const *vals),
              void *ctx);
/* Send Terminate and close. */
void pgc_close(struct pgclient *pc);

#endif
