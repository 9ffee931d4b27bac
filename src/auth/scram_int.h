/* Internal helpers shared by the SCRAM server and client halves (not a public API). */
#ifndef PGR_AUTH_SCRAM_INT_H
#define PGR_AUTH_SCRAM_INT_H

#include "auth/scram.h"

/* Exchange states, shared by both halves. */
enum {
	SCRAM_ST_INIT = 0, /* zeroed, not initialized */
	SCRAM_ST_STARTED, /* initialized, nothing exchanged */
	SCRAM_ST_FIRST_DONE, /* first message pair exchanged */
	SCRAM_ST_FINAL_SENT, /* client: client-final built, awaiting server-final */
	SCRAM_ST_DONE, /* authenticated */
	SCRAM_ST_FAILED
};

/* A read position inside one message; p never passes end. */
struct scram_cur {
	const char *p;
	const char *end;
};

/* A bounded output buffer; once it overflows every later append is ignored. */
struct scram_buf {
	char *b;
	size_t cap;
	size_t len;
	bool overflow;
};

/* Read "<attr>=<value>" and the comma after it, if any; value must be non-empty
 * unless allow_empty. Returns SCRAM_OK or the reason it is not there. */
enum scram_err scram_read_attr(struct scram_cur *c, char attr, bool allow_empty, const char **val, size_t *val_len);

/* Skip optional extensions "x=value" until end or the attribute `stop`; a letter
 * the protocol already defines is a repeated or misplaced attribute. */
enum scram_err scram_skip_extensions(struct scram_cur *c, char stop);

/* True if nonce is 1..SCRAM_MAX_NONCE printable ASCII characters other than ','. */
bool scram_nonce_ok(const char *nonce, size_t len);

/* Append bytes (scram_buf_put) or a NUL-terminated string (scram_buf_str). */
void scram_buf_put(struct scram_buf *b, const void *data, size_t len);
void scram_buf_str(struct scram_buf *b, const char *s);

/* Append the base64 of data. */
void scram_buf_b64(struct scram_buf *b, const uint8_t *data, size_t len);

/* out = HMAC-SHA-256(key, data). Returns 0 or -1. */
int scram_hmac(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN]);

/* out = SHA-256(data). Returns 0 or -1. */
int scram_sha256(const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN]);

/* HMAC-SHA-256 keyed by key over cfb "," sf "," cfwp (the AuthMessage). 0 or -1. */
int scram_auth_hmac(const uint8_t key[SCRAM_KEY_LEN], const char *cfb, size_t cfb_len, const char *sf, size_t sf_len,
                    const char *cfwp, size_t cfwp_len, uint8_t out[SCRAM_KEY_LEN]);

/* Fill dst with a fresh base64 nonce of SCRAM_NONCE_LEN characters (+NUL). 0 or -1. */
int scram_make_nonce(char dst[SCRAM_NONCE_LEN + 1]);

/* Parse a decimal iteration count in 1..max. Returns 0 or -1. */
int scram_parse_iterations(const char *s, size_t len, int max, int *out);

#endif
