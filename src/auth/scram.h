/* SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL speaks it: secrets, server side and client side. */
#ifndef PGR_AUTH_SCRAM_H
#define PGR_AUTH_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_MECH "SCRAM-SHA-256"
#define SCRAM_MECH_PLUS "SCRAM-SHA-256-PLUS"
#define SCRAM_CBIND_TYPE "tls-server-end-point"

#define SCRAM_KEY_LEN 32 /* SHA-256 output: keys, signatures, proofs */
#define SCRAM_MAX_SALT 128 /* bytes; PostgreSQL uses 16 */
#define SCRAM_MAX_MSG 1024 /* bound on every SCRAM message we read */
#define SCRAM_MAX_NONCE 256 /* bound on a peer's nonce (libpq sends 24 chars) */
#define SCRAM_RAW_NONCE_LEN 18 /* our nonce entropy, as PostgreSQL does */
#define SCRAM_NONCE_LEN 24 /* base64 of SCRAM_RAW_NONCE_LEN bytes */
#define SCRAM_MAX_SERVER_NONCE 64 /* bound on a nonce given to scram_server_first_nonce */
#define SCRAM_MAX_CBIND 64 /* tls-server-end-point hash: at most SHA-512 */
#define SCRAM_MAX_PASSWORD 1024 /* longest clear-text password we derive from */
#define SCRAM_DEFAULT_ITERATIONS 4096
/* A hostile server could ask for billions of PBKDF2 rounds to stall a worker. */
#define SCRAM_DEFAULT_MAX_ITERATIONS 1000000
#define SCRAM_SECRET_MAX_LEN 320 /* longest formatted secret incl. NUL */

/* Why an exchange failed. Callers log the code (scram_strerror) but tell the peer
 * only "authentication failed" (28P01), whichever code it is. */
enum scram_err {
	SCRAM_OK = 0,
	SCRAM_E_STATE, /* call out of order or after a failure */
	SCRAM_E_ARG, /* caller passed an invalid argument */
	SCRAM_E_CRYPTO, /* OpenSSL failed (RAND, HMAC, PBKDF2) */
	SCRAM_E_MECHANISM, /* mechanism name not offered */
	SCRAM_E_TOO_LONG, /* message over SCRAM_MAX_MSG */
	SCRAM_E_SYNTAX, /* NUL byte, missing '=', empty value, stray comma */
	SCRAM_E_GS2_HEADER, /* gs2 header not "n,,", "y,," or "p=<type>,," */
	SCRAM_E_CBIND_UNSUPPORTED, /* client asked for channel binding we did not offer */
	SCRAM_E_CBIND_DOWNGRADE, /* "y": client thinks we lack PLUS but we offered it */
	SCRAM_E_CBIND_FLAG, /* gs2 flag does not fit the chosen mechanism */
	SCRAM_E_CBIND_TYPE, /* channel binding type other than tls-server-end-point */
	SCRAM_E_CBIND_MISMATCH, /* c= does not repeat the gs2 header (+ binding data) */
	SCRAM_E_AUTHZID, /* authorization identity "a=" is not supported */
	SCRAM_E_EXTENSION, /* mandatory extension "m=" is not supported */
	SCRAM_E_ATTR, /* attribute missing, out of order or repeated */
	SCRAM_E_USERNAME, /* bad "=2C"/"=3D" escaping in n= */
	SCRAM_E_NONCE, /* nonce empty, too long or not printable ASCII */
	SCRAM_E_NONCE_MISMATCH, /* nonce does not match (or extend) ours */
	SCRAM_E_BASE64, /* invalid base64 */
	SCRAM_E_PROOF_LENGTH, /* proof or signature is not 32 bytes */
	SCRAM_E_TRAILING, /* data after the proof */
	SCRAM_E_PROOF, /* wrong password */
	SCRAM_E_UNKNOWN_USER, /* doomed exchange for a user we have no secret for */
	SCRAM_E_SECRET, /* malformed stored secret */
	SCRAM_E_PASSWORD, /* empty or over-long password */
	SCRAM_E_ITERATIONS, /* iteration count 0, malformed or over the limit */
	SCRAM_E_SALT, /* salt empty or over SCRAM_MAX_SALT */
	SCRAM_E_SALT_MISMATCH, /* passthrough: server's salt/iterations differ from the secret */
	SCRAM_E_KEY_MISMATCH, /* passthrough: ClientKey does not belong to the secret */
	SCRAM_E_SERVER_ERROR, /* server-final was "e=..." */
	SCRAM_E_SERVER_SIGNATURE, /* server signature wrong: server does not know the secret */
	SCRAM_E_COUNT
};

/* Stable short name of an error code, for logs. */
const char *scram_strerror(enum scram_err err);

/* A stored verifier: SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>. */
struct scram_secret {
	int iterations;
	size_t salt_len;
	uint8_t salt[SCRAM_MAX_SALT];
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};

/* True if s starts like a SCRAM secret (whether or not the rest is valid). */
bool scram_secret_has_prefix(const char *s, size_t len);

/* Parse a stored secret strictly. Returns 0, or -1 (never partially fills out). */
int scram_secret_parse(const char *s, size_t len, struct scram_secret *out);

/* Format a secret as PostgreSQL stores it into buf (NUL-terminated). Returns 0 or -1. */
int scram_secret_format(const struct scram_secret *sec, char *buf, size_t cap);

/* Derive a secret from a clear-text password, salt and iteration count; if client_key
 * is not NULL it also receives the ClientKey. The password is used as raw bytes:
 * equal to PostgreSQL's SASLprep for ASCII, see scram.c. Returns 0 or -1. */
int scram_secret_from_password(const char *pw, size_t pw_len, const uint8_t *salt, size_t salt_len, int iterations,
                               struct scram_secret *out, uint8_t client_key[SCRAM_KEY_LEN]);

/* Stable per-user fake salt (HMAC(key, user)) so that a user without a secret, or
 * with a plain-text one, gets the same salt on every attempt. Returns 0 or -1. */
int scram_mock_salt(const uint8_t key[SCRAM_KEY_LEN], const char *user, uint8_t *out, size_t out_len);

struct x509_st;
/* tls-server-end-point channel binding data of our certificate (RFC 5929: its hash
 * with the signature's digest, SHA-256 for MD5/SHA-1). Returns 0 or -1. */
int scram_tls_endpoint_hash(struct x509_st *cert, uint8_t out[SCRAM_MAX_CBIND], size_t *len);

/* ---- server side: pgrouter authenticates a client ---- */

struct scram_server {
	int state;
	enum scram_err err;
	bool doomed; /* unknown user: run the exchange, always fail */
	bool have_cbind; /* SCRAM_MECH_PLUS offered */
	bool have_client_key;
	struct scram_secret secret;
	uint8_t cbind[SCRAM_MAX_CBIND];
	size_t cbind_len;
	char gs2[32]; /* client's gs2 header, verbatim */
	size_t gs2_len;
	bool gs2_plus; /* gs2 header is "p=..." */
	char nonce[SCRAM_MAX_NONCE + SCRAM_MAX_SERVER_NONCE + 1];
	size_t nonce_len;
	size_t client_nonce_len;
	char client_first_bare[SCRAM_MAX_MSG];
	size_t cfb_len;
	char server_first[SCRAM_MAX_NONCE + SCRAM_MAX_SERVER_NONCE + 256];
	size_t sf_len;
	char server_final[64];
	size_t sfin_len;
	uint8_t client_key[SCRAM_KEY_LEN];
};

/* Start an exchange for a user with this secret. cbind (tls-server-end-point data,
 * or NULL) means the connection is TLS and SCRAM_MECH_PLUS is offered; without it
 * only SCRAM_MECH is accepted and "p=" is refused. Returns 0 or -1. */
int scram_server_init(struct scram_server *s, const struct scram_secret *secret, const uint8_t *cbind,
                      size_t cbind_len);

/* Start a doomed exchange for an unknown user: it looks like a real one (stable
 * mock salt, default iterations) and fails at the proof. Returns 0 or -1. */
int scram_server_init_doomed(struct scram_server *s, const uint8_t mock_key[SCRAM_KEY_LEN], const char *user,
                             const uint8_t *cbind, size_t cbind_len);

/* Feed SASLInitialResponse (mechanism + client-first-message). On success the
 * server-first-message is available from scram_server_output. Returns 0 or -1. */
int scram_server_first(struct scram_server *s, const char *mech, const uint8_t *msg, size_t len);

/* As scram_server_first but with a given server nonce (tests and fuzzing only). */
int scram_server_first_nonce(struct scram_server *s, const char *mech, const uint8_t *msg, size_t len,
                             const char *nonce, size_t nonce_len);

/* Feed SASLResponse (client-final-message) and verify the proof. On success the
 * server-final-message ("v=...") is available from scram_server_output. 0 or -1. */
int scram_server_final(struct scram_server *s, const uint8_t *msg, size_t len);

/* The message to send after the last successful step (NULL if none). */
const char *scram_server_output(const struct scram_server *s, size_t *len);

/* Why the exchange failed (SCRAM_OK if it has not). */
enum scram_err scram_server_error(const struct scram_server *s);

/* After a successful proof: the client's ClientKey (proof XOR signature), usable
 * for SCRAM passthrough to a server with the same secret. Returns 0 or -1. */
int scram_server_client_key(const struct scram_server *s, uint8_t out[SCRAM_KEY_LEN]);

/* Erase keys and messages; call when the exchange is over. */
void scram_server_wipe(struct scram_server *s);

/* ---- client side: pgrouter authenticates to PostgreSQL ---- */

struct scram_client {
	int state;
	enum scram_err err;
	int max_iterations; /* reject server-first above this */
	bool passthrough; /* keys given instead of a password */
	char password[SCRAM_MAX_PASSWORD];
	size_t password_len;
	struct scram_secret expect; /* passthrough: salt, iterations, ServerKey */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_signature[SCRAM_KEY_LEN];
	char nonce[SCRAM_MAX_NONCE + 1];
	size_t nonce_len;
	char client_first_bare[SCRAM_MAX_MSG];
	size_t cfb_len;
	char out[SCRAM_MAX_MSG];
	size_t out_len;
};

/* Prepare to log in with a clear-text password (copied, wiped when done). 0 or -1. */
int scram_client_init_password(struct scram_client *c, const char *pw, size_t pw_len);

/* Prepare to log in with a ClientKey recovered from the client plus the secret it
 * belongs to (SCRAM passthrough); the server must use the same salt and iteration
 * count, and it is authenticated by the secret's ServerKey. Returns 0 or -1. */
int scram_client_init_passthrough(struct scram_client *c, const struct scram_secret *secret,
                                  const uint8_t client_key[SCRAM_KEY_LEN]);

/* Build client-first-message ("n,,n=,r=<nonce>") into the output. 0 or -1. */
int scram_client_first(struct scram_client *c);

/* As scram_client_first with a given user name and nonce (tests and fuzzing only). */
int scram_client_first_nonce(struct scram_client *c, const char *user, const char *nonce, size_t nonce_len);

/* Parse server-first-message and build client-final-message with the proof. 0 or -1. */
int scram_client_final(struct scram_client *c, const uint8_t *msg, size_t len);

/* Check server-final-message's signature; 0 only if the server proved it knows
 * the secret. Returns 0 or -1. */
int scram_client_verify(struct scram_client *c, const uint8_t *msg, size_t len);

/* The message to send after the last successful step (NULL if none). */
const char *scram_client_output(const struct scram_client *c, size_t *len);

/* Why the exchange failed (SCRAM_OK if it has not). */
enum scram_err scram_client_error(const struct scram_client *c);

/* Erase the password, keys and messages. */
void scram_client_wipe(struct scram_client *c);

#endif
