/* auth_file in PgBouncer's userlist format: "user" "secret" lines, looked up by user name. */
#ifndef PGR_AUTH_AUTHFILE_H
#define PGR_AUTH_AUTHFILE_H

#include <stddef.h>

#include "auth/scram.h"
#include "auth/secret.h"

#define AUTHFILE_MAX_USER 128 /* bytes of a user name */
#define AUTHFILE_MAX_SECRET 2048 /* bytes of a secret */
#define AUTHFILE_MAX_SIZE (64u << 20) /* bytes of the whole file */

/* One user. A SCRAM secret is also kept parsed, so logins need not re-parse it. */
struct authfile_entry {
	char *user;
	char *secret; /* as written; may be "" (only usable with trust) */
	size_t secret_len;
	enum auth_secret_kind kind; /* never AUTH_SECRET_INVALID: such files are refused */
	struct scram_secret scram; /* valid when kind == AUTH_SECRET_SCRAM */
	int line;
};

/* A loaded file: immutable after loading, so threads may share it read-only. */
struct authfile {
	struct authfile_entry *entries; /* sorted by user name */
	size_t count;
};

/* Parse a whole file held in memory. Format, per line: optional blanks, then
 * "user" "secret" with "" for a quote inside a field; anything after the second
 * field is ignored (as PgBouncer does); blank lines and lines starting with ';' or
 * '#' are comments. Any malformed line, over-long field, NUL byte, unparsable
 * SCRAM secret or repeated user fails the whole load with "line N: why" in err.
 * Returns 0 and *out, or -1. */
int authfile_parse(const char *buf, size_t len, struct authfile **out, char *err, size_t errcap);

/* Read and parse a file (at most AUTHFILE_MAX_SIZE bytes). Returns 0 or -1 with err. */
int authfile_load(const char *path, struct authfile **out, char *err, size_t errcap);

/* The entry for a user, or NULL. */
const struct authfile_entry *authfile_lookup(const struct authfile *af, const char *user);

/* Erase the secrets and free everything (NULL is fine). */
void authfile_free(struct authfile *af);

#endif
