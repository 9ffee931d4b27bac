/* PostgreSQL md5 password authentication: secrets, salted responses, verification. */
#ifndef PGR_AUTH_MD5PW_H
#define PGR_AUTH_MD5PW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MD5PW_LEN 35 /* "md5" + 32 lowercase hex digits */
#define MD5PW_SALT_LEN 4

/* True if s is exactly "md5" followed by 32 lowercase hex digits (a stored md5 secret). */
bool md5pw_is_secret(const char *s, size_t len);

/* out = "md5" + hex(md5(password + user)), NUL-terminated. Returns 0 or -1
 * (empty password, or digest failure). */
int md5pw_secret(const char *user, const char *pw, size_t pw_len, char out[MD5PW_LEN + 1]);

/* out = "md5" + hex(md5(secret_hex + salt)) for a stored md5 secret. 0 or -1. */
int md5pw_response(const char *secret, size_t secret_len, const uint8_t salt[MD5PW_SALT_LEN], char out[MD5PW_LEN + 1]);

/* As a client answering AuthenticationMD5Password: stored is a clear-text password
 * or an md5 secret (md5 passthrough). Returns 0, or -1 for an empty/SCRAM secret. */
int md5pw_client_response(const char *user, const char *stored, size_t stored_len, const uint8_t salt[MD5PW_SALT_LEN],
                          char out[MD5PW_LEN + 1]);

/* As a server: 0 if the client's response matches the stored clear-text or md5
 * secret for this salt (compared in constant time), else -1. A SCRAM secret can
 * never verify an md5 response, and an empty secret never matches. */
int md5pw_verify(const char *user, const char *stored, size_t stored_len, const uint8_t salt[MD5PW_SALT_LEN],
                 const char *resp, size_t resp_len);

#endif
