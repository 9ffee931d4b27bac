/* SCRAM-SHA-256 building blocks: secrets, key derivation, message parsing helpers. */
#include "auth/scram.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "auth/b64.h"
#include "auth/scram_int.h"

#define SECRET_PREFIX "SCRAM-SHA-256$"

static const char *const scram_err_names[SCRAM_E_COUNT] = {
	[SCRAM_OK] = "ok",
	[SCRAM_E_STATE] = "call out of order",
	[SCRAM_E_ARG] = "invalid argument",
	[SCRAM_E_CRYPTO] = "crypto library failure",
	[SCRAM_E_MECHANISM] = "mechanism not offered",
	[SCRAM_E_TOO_LONG] = "message too long",
	[SCRAM_E_SYNTAX] = "malformed message",
	[SCRAM_E_GS2_HEADER] = "malformed gs2 header",
	[SCRAM_E_CBIND_UNSUPPORTED] = "channel binding requested but not offered",
	[SCRAM_E_CBIND_DOWNGRADE] = "channel binding downgrade (y flag with PLUS offered)",
	[SCRAM_E_CBIND_FLAG] = "gs2 flag does not match mechanism",
	[SCRAM_E_CBIND_TYPE] = "unsupported channel binding type",
	[SCRAM_E_CBIND_MISMATCH] = "channel binding data mismatch",
	[SCRAM_E_AUTHZID] = "authorization identity not supported",
	[SCRAM_E_EXTENSION] = "mandatory extension not supported",
	[SCRAM_E_ATTR] = "attribute missing, misplaced or repeated",
	[SCRAM_E_USERNAME] = "malformed user name",
	[SCRAM_E_NONCE] = "malformed nonce",
	[SCRAM_E_NONCE_MISMATCH] = "nonce mismatch",
	[SCRAM_E_BASE64] = "invalid base64",
	[SCRAM_E_PROOF_LENGTH] = "proof or signature has wrong length",
	[SCRAM_E_TRAILING] = "data after proof",
	[SCRAM_E_PROOF] = "wrong password",
	[SCRAM_E_UNKNOWN_USER] = "unknown user",
	[SCRAM_E_SECRET] = "malformed stored secret",
	[SCRAM_E_PASSWORD] = "password empty or too long",
	[SCRAM_E_ITERATIONS] = "iteration count out of range",
	[SCRAM_E_SALT] = "salt empty or too long",
	[SCRAM_E_SALT_MISMATCH] = "server salt/iterations differ from secret",
	[SCRAM_E_KEY_MISMATCH] = "client key does not match secret",
	[SCRAM_E_SERVER_ERROR] = "server reported an error",
	[SCRAM_E_SERVER_SIGNATURE] = "server signature mismatch",
};

/* Stable short name of an error code, for logs. */
const char *scram_strerror(enum scram_err err)
{
	if ((unsigned)err >= SCRAM_E_COUNT)
		return "unknown error";
	return scram_err_names[err];
}

/* out = HMAC-SHA-256(key, data). */
int scram_hmac(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int olen = 0;
	if (key_len > INT_MAX)
		return -1;
	if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &olen) || olen != SCRAM_KEY_LEN)
		return -1;
	return 0;
}

/* out = SHA-256(data). */
int scram_sha256(const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int olen = 0;
	if (!EVP_Digest(data, len, out, &olen, EVP_sha256(), NULL) || olen != SCRAM_KEY_LEN)
		return -1;
	return 0;
}

/* HMAC over the AuthMessage, assembled in a local buffer bounded by the message limits. */
int scram_auth_hmac(const uint8_t key[SCRAM_KEY_LEN], const char *cfb, size_t cfb_len, const char *sf, size_t sf_len,
                    const char *cfwp, size_t cfwp_len, uint8_t out[SCRAM_KEY_LEN])
{
	char am[3 * SCRAM_MAX_MSG + 2];
	struct scram_buf b = { am, sizeof am, 0, false };
	scram_buf_put(&b, cfb, cfb_len);
	scram_buf_put(&b, ",", 1);
	scram_buf_put(&b, sf, sf_len);
	scram_buf_put(&b, ",", 1);
	scram_buf_put(&b, cfwp, cfwp_len);
	if (b.overflow)
		return -1;
	return scram_hmac(key, SCRAM_KEY_LEN, am, b.len, out);
}

/* Append bytes unless the buffer already overflowed or would. */
void scram_buf_put(struct scram_buf *b, const void *data, size_t len)
{
	if (b->overflow || len > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->b + b->len, data, len);
	b->len += len;
}

/* Append a NUL-terminated string. */
void scram_buf_str(struct scram_buf *b, const char *s)
{
	scram_buf_put(b, s, strlen(s));
}

/* Append base64 of data (no NUL is counted in len). */
void scram_buf_b64(struct scram_buf *b, const uint8_t *data, size_t len)
{
	char tmp[B64_ENC_LEN(SCRAM_MAX_SALT) + 1];
	size_t n = 0;
	if (len > SCRAM_MAX_SALT || b64_encode(data, len, tmp, sizeof tmp, &n) != 0) {
		b->overflow = true;
		return;
	}
	scram_buf_put(b, tmp, n);
}

/* Read "<attr>=<value>" plus a following comma; a comma must be followed by more. */
enum scram_err scram_read_attr(struct scram_cur *c, char attr, bool allow_empty, const char **val, size_t *val_len)
{
	if (c->p == c->end || *c->p != attr)
		return SCRAM_E_ATTR;
	if (c->end - c->p < 2 || c->p[1] != '=')
		return SCRAM_E_SYNTAX;
	const char *v = c->p + 2;
	const char *e = memchr(v, ',', (size_t)(c->end - v));
	if (!e)
		e = c->end;
	if (e == v && !allow_empty)
		return SCRAM_E_SYNTAX;
	*val = v;
	*val_len = (size_t)(e - v);
	c->p = e;
	if (c->p != c->end) {
		c->p++; /* the comma */
		if (c->p == c->end)
			return SCRAM_E_SYNTAX; /* trailing comma */
	}
	return SCRAM_OK;
}

/* Skip optional extensions until end or `stop`; defined letters may not reappear. */
enum scram_err scram_skip_extensions(struct scram_cur *c, char stop)
{
	while (c->p != c->end && *c->p != stop) {
		char a = *c->p;
		if (!((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z')))
			return SCRAM_E_SYNTAX;
		if (strchr("anmrcsipve", a))
			return SCRAM_E_ATTR;
		const char *v;
		size_t vl;
		enum scram_err e = scram_read_attr(c, a, false, &v, &vl);
		if (e != SCRAM_OK)
			return e;
	}
	return SCRAM_OK;
}

/* printable = %x21-2B / %x2D-7E (RFC 5802), bounded length. */
bool scram_nonce_ok(const char *nonce, size_t len)
{
	if (len == 0 || len > SCRAM_MAX_NONCE)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)nonce[i];
		if (ch < 0x21 || ch > 0x7e || ch == ',')
			return false;
	}
	return true;
}

/* Fresh random nonce: SCRAM_RAW_NONCE_LEN random bytes in base64. */
int scram_make_nonce(char dst[SCRAM_NONCE_LEN + 1])
{
	uint8_t raw[SCRAM_RAW_NONCE_LEN];
	if (RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	return b64_encode(raw, sizeof raw, dst, SCRAM_NONCE_LEN + 1, NULL);
}

/* Decimal without sign or leading zero, 1..max, overflow-safe. */
int scram_parse_iterations(const char *s, size_t len, int max, int *out)
{
	if (len == 0 || len > 10 || s[0] == '0')
		return -1;
	long long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* True if s starts with the SCRAM-SHA-256 secret prefix. */
bool scram_secret_has_prefix(const char *s, size_t len)
{
	size_t pl = sizeof SECRET_PREFIX - 1;
	return len >= pl && memcmp(s, SECRET_PREFIX, pl) == 0;
}

/* Decode b64 text [p, q) into exactly want bytes (want 0: 1..cap bytes). */
static int decode_exact(const char *p, const char *q, uint8_t *dst, size_t cap, size_t want, size_t *got)
{
	size_t n = 0;
	if (b64_decode(p, (size_t)(q - p), dst, cap, &n) != 0)
		return -1;
	if (want ? n != want : n == 0)
		return -1;
	if (got)
		*got = n;
	return 0;
}

/* Parse "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" strictly. */
int scram_secret_parse(const char *s, size_t len, struct scram_secret *out)
{
	struct scram_secret t;
	if (!scram_secret_has_prefix(s, len))
		return -1;
	const char *p = s + sizeof SECRET_PREFIX - 1, *end = s + len;
	const char *colon1 = memchr(p, ':', (size_t)(end - p));
	if (!colon1 || scram_parse_iterations(p, (size_t)(colon1 - p), INT_MAX, &t.iterations))
		return -1;
	p = colon1 + 1;
	const char *dollar = memchr(p, '$', (size_t)(end - p));
	if (!dollar || decode_exact(p, dollar, t.salt, sizeof t.salt, 0, &t.salt_len))
		return -1;
	p = dollar + 1;
	const char *colon2 = memchr(p, ':', (size_t)(end - p));
	if (!colon2 || decode_exact(p, colon2, t.stored_key, SCRAM_KEY_LEN, SCRAM_KEY_LEN, NULL))
		return -1;
	if (decode_exact(colon2 + 1, end, t.server_key, SCRAM_KEY_LEN, SCRAM_KEY_LEN, NULL))
		return -1;
	*out = t;
	OPENSSL_cleanse(&t, sizeof t);
	return 0;
}

/* Format a secret the way PostgreSQL stores it. */
int scram_secret_format(const struct scram_secret *sec, char *buf, size_t cap)
{
	char iter[16];
	if (sec->iterations < 1 || sec->salt_len == 0 || sec->salt_len > SCRAM_MAX_SALT || cap == 0)
		return -1;
	snprintf(iter, sizeof iter, "%d", sec->iterations);
	struct scram_buf b = { buf, cap - 1, 0, false };
	scram_buf_str(&b, SECRET_PREFIX);
	scram_buf_str(&b, iter);
	scram_buf_put(&b, ":", 1);
	scram_buf_b64(&b, sec->salt, sec->salt_len);
	scram_buf_put(&b, "$", 1);
	scram_buf_b64(&b, sec->stored_key, SCRAM_KEY_LEN);
	scram_buf_put(&b, ":", 1);
	scram_buf_b64(&b, sec->server_key, SCRAM_KEY_LEN);
	if (b.overflow)
		return -1;
	buf[b.len] = '\0';
	return 0;
}

/* PBKDF2 + the two HMACs. SASLprep: PostgreSQL normalizes a password that is valid
 * UTF-8 with NFKC and uses it raw otherwise; for ASCII (and already-normalized
 * text) that is the identity, which is all we implement. */
int scram_secret_from_password(const char *pw, size_t pw_len, const uint8_t *salt, size_t salt_len, int iterations,
                               struct scram_secret *out, uint8_t client_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN], ck[SCRAM_KEY_LEN];
	int rc = -1;
	if (pw_len == 0 || pw_len > SCRAM_MAX_PASSWORD || salt_len == 0 || salt_len > SCRAM_MAX_SALT || iterations < 1)
		return -1;
	if (PKCS5_PBKDF2_HMAC(pw, (int)pw_len, salt, (int)salt_len, iterations, EVP_sha256(), SCRAM_KEY_LEN, salted) !=
	    1)
		goto out;
	if (scram_hmac(salted, SCRAM_KEY_LEN, "Client Key", 10, ck) ||
	    scram_hmac(salted, SCRAM_KEY_LEN, "Server Key", 10, out->server_key) ||
	    scram_sha256(ck, SCRAM_KEY_LEN, out->stored_key))
		goto out;
	out->iterations = iterations;
	out->salt_len = salt_len;
	memcpy(out->salt, salt, salt_len);
	if (client_key)
		memcpy(client_key, ck, SCRAM_KEY_LEN);
	rc = 0;
out:
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(ck, sizeof ck);
	return rc;
}

/* HMAC(key, user) truncated: stable per user, unpredictable without the key. */
int scram_mock_salt(const uint8_t key[SCRAM_KEY_LEN], const char *user, uint8_t *out, size_t out_len)
{
	uint8_t mac[SCRAM_KEY_LEN];
	if (out_len == 0 || out_len > SCRAM_KEY_LEN || !user)
		return -1;
	if (scram_hmac(key, SCRAM_KEY_LEN, user, strlen(user), mac))
		return -1;
	memcpy(out, mac, out_len);
	return 0;
}

/* RFC 5929 tls-server-end-point: hash of the DER certificate with its signature digest. */
int scram_tls_endpoint_hash(struct x509_st *cert, uint8_t out[SCRAM_MAX_CBIND], size_t *len)
{
	int md_nid = NID_undef;
	unsigned int n = 0;
	if (!cert || !X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL))
		return -1;
	/* No single digest (e.g. Ed25519): PostgreSQL refuses binding too. */
	if (md_nid == NID_undef)
		return -1;
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md_nid = NID_sha256;
	const EVP_MD *md = EVP_get_digestbynid(md_nid);
	if (!md || EVP_MD_get_size(md) > SCRAM_MAX_CBIND)
		return -1;
	if (X509_digest(cert, md, out, &n) != 1)
		return -1;
	*len = n;
	return 0;
}
