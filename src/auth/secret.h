/* What kind of stored secret a string is, and clear-text password checks against any kind. */
#ifndef PGR_AUTH_SECRET_H
#define PGR_AUTH_SECRET_H

#include <stddef.h>

enum auth_secret_kind {
	AUTH_SECRET_PLAIN, /* clear-text password (or empty: usable only with trust) */
	AUTH_SECRET_MD5, /* "md5" + hex(md5(password + user)) */
	AUTH_SECRET_SCRAM, /* "SCRAM-SHA-256$..." that parses */
	AUTH_SECRET_INVALID /* starts like a SCRAM secret but does not parse */
};

/* Classify a stored secret the way PostgreSQL does (prefix and shape). */
enum auth_secret_kind auth_secret_kind(const char *s, size_t len);

/* Check a clear-text password a client sent (auth method "password"/plain) against
 * a stored secret of any kind. 0 on match; -1 otherwise, and always for an empty
 * stored secret or an empty password. */
int auth_password_check(const char *user, const char *stored, size_t stored_len, const char *pw, size_t pw_len);

#endif
