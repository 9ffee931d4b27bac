/* SCRAM-SHA-256 client side: pgrouter logs in to PostgreSQL with a password or a passthrough key. */
#include <string.h>

#include <openssl/crypto.h>

#include "auth/b64.h"
#include "auth/scram.h"
#include "auth/scram_int.h"

/* Record why the exchange failed and erase the credentials at once. */
static int cli_fail(struct scram_client *c, enum scram_err e)
{
	if (c->state != SCRAM_ST_FAILED)
		c->err = e;
	c->state = SCRAM_ST_FAILED;
	OPENSSL_cleanse(c->password, sizeof c->password);
	OPENSSL_cleanse(c->client_key, sizeof c->client_key);
	OPENSSL_cleanse(&c->expect, sizeof c->expect);
	return -1;
}

/* Prepare a password login; the password is copied and wiped after use. */
int scram_client_init_password(struct scram_client *c, const char *pw, size_t pw_len)
{
	memset(c, 0, sizeof *c);
	c->max_iterations = SCRAM_DEFAULT_MAX_ITERATIONS;
	if (!pw || pw_len == 0 || pw_len > SCRAM_MAX_PASSWORD || memchr(pw, '\0', pw_len))
		return cli_fail(c, SCRAM_E_PASSWORD);
	memcpy(c->password, pw, pw_len);
	c->password_len = pw_len;
	c->state = SCRAM_ST_STARTED;
	return 0;
}

/* Prepare a passthrough login; refuse a ClientKey that does not hash to StoredKey. */
int scram_client_init_passthrough(struct scram_client *c, const struct scram_secret *secret,
                                  const uint8_t client_key[SCRAM_KEY_LEN])
{
	uint8_t h[SCRAM_KEY_LEN];
	memset(c, 0, sizeof *c);
	c->max_iterations = SCRAM_DEFAULT_MAX_ITERATIONS;
	if (!secret || !client_key || secret->iterations < 1 || secret->salt_len == 0 ||
	    secret->salt_len > SCRAM_MAX_SALT)
		return cli_fail(c, SCRAM_E_SECRET);
	if (scram_sha256(client_key, SCRAM_KEY_LEN, h))
		return cli_fail(c, SCRAM_E_CRYPTO);
	if (CRYPTO_memcmp(h, secret->stored_key, SCRAM_KEY_LEN) != 0)
		return cli_fail(c, SCRAM_E_KEY_MISMATCH);
	c->expect = *secret;
	memcpy(c->client_key, client_key, SCRAM_KEY_LEN);
	c->passthrough = true;
	c->state = SCRAM_ST_STARTED;
	return 0;
}

/* Build "n,,n=<user>,r=<nonce>" with a given nonce; ',' and '=' in user are escaped. */
int scram_client_first_nonce(struct scram_client *c, const char *user, const char *nonce, size_t nonce_len)
{
	if (c->state != SCRAM_ST_STARTED)
		return cli_fail(c, SCRAM_E_STATE);
	if (!scram_nonce_ok(nonce, nonce_len))
		return cli_fail(c, SCRAM_E_NONCE);
	struct scram_buf b = { c->client_first_bare, sizeof c->client_first_bare, 0, false };
	scram_buf_str(&b, "n=");
	for (const char *u = user ? user : ""; *u; u++) {
		if (*u == ',')
			scram_buf_str(&b, "=2C");
		else if (*u == '=')
			scram_buf_str(&b, "=3D");
		else
			scram_buf_put(&b, u, 1);
	}
	scram_buf_str(&b, ",r=");
	scram_buf_put(&b, nonce, nonce_len);
	if (b.overflow)
		return cli_fail(c, SCRAM_E_ARG);
	c->cfb_len = b.len;
	memcpy(c->nonce, nonce, nonce_len);
	c->nonce_len = nonce_len;
	struct scram_buf o = { c->out, sizeof c->out, 0, false };
	scram_buf_str(&o, "n,,");
	scram_buf_put(&o, c->client_first_bare, c->cfb_len);
	if (o.overflow)
		return cli_fail(c, SCRAM_E_ARG);
	c->out_len = o.len;
	c->state = SCRAM_ST_FIRST_DONE;
	return 0;
}

/* Build client-first with a fresh nonce and an empty user name, as libpq does
 * (the server takes the user from the startup packet). */
int scram_client_first(struct scram_client *c)
{
	char nonce[SCRAM_NONCE_LEN + 1];
	if (scram_make_nonce(nonce) != 0)
		return cli_fail(c, SCRAM_E_CRYPTO);
	return scram_client_first_nonce(c, "", nonce, SCRAM_NONCE_LEN);
}

/* Parse server-first "r=..,s=..,i=..[,ext]": nonce must extend ours, bounded salt and count. */
static enum scram_err parse_server_first(struct scram_client *c, const char *msg, size_t len, const char **nonce,
                                         size_t *nonce_len, struct scram_secret *params)
{
	struct scram_cur cur = { msg, msg + len };
	const char *v;
	size_t vl;
	enum scram_err e;
	if (cur.p != cur.end && *cur.p == 'm')
		return SCRAM_E_EXTENSION;
	if ((e = scram_read_attr(&cur, 'r', false, nonce, nonce_len)) != SCRAM_OK)
		return e;
	if (!scram_nonce_ok(*nonce, *nonce_len))
		return SCRAM_E_NONCE;
	if (*nonce_len <= c->nonce_len || memcmp(*nonce, c->nonce, c->nonce_len) != 0)
		return SCRAM_E_NONCE_MISMATCH;
	if ((e = scram_read_attr(&cur, 's', false, &v, &vl)) != SCRAM_OK)
		return e;
	if (vl > B64_ENC_LEN(SCRAM_MAX_SALT))
		return SCRAM_E_SALT;
	if (b64_decode(v, vl, params->salt, SCRAM_MAX_SALT, &params->salt_len) != 0)
		return SCRAM_E_BASE64;
	if (params->salt_len == 0)
		return SCRAM_E_SALT;
	if ((e = scram_read_attr(&cur, 'i', false, &v, &vl)) != SCRAM_OK)
		return e;
	if (scram_parse_iterations(v, vl, c->max_iterations, &params->iterations) != 0)
		return SCRAM_E_ITERATIONS;
	return scram_skip_extensions(&cur, '\0');
}

/* ClientKey and ServerKey for this server's salt: derived, or checked against the secret. */
static enum scram_err client_keys(struct scram_client *c, struct scram_secret *params, uint8_t ck[SCRAM_KEY_LEN])
{
	if (c->passthrough) {
		if (params->iterations != c->expect.iterations || params->salt_len != c->expect.salt_len ||
		    memcmp(params->salt, c->expect.salt, params->salt_len) != 0)
			return SCRAM_E_SALT_MISMATCH;
		memcpy(ck, c->client_key, SCRAM_KEY_LEN);
		memcpy(params->server_key, c->expect.server_key, SCRAM_KEY_LEN);
		memcpy(params->stored_key, c->expect.stored_key, SCRAM_KEY_LEN);
		return SCRAM_OK;
	}
	int rc = scram_secret_from_password(c->password, c->password_len, params->salt, params->salt_len,
	                                    params->iterations, params, ck);
	OPENSSL_cleanse(c->password, sizeof c->password);
	return rc == 0 ? SCRAM_OK : SCRAM_E_CRYPTO;
}

/* Compute proof and expected server signature; write client-final into the output. */
static enum scram_err build_client_final(struct scram_client *c, const char *sf, size_t sf_len, const char *nonce,
                                         size_t nonce_len, const struct scram_secret *keys,
                                         const uint8_t ck[SCRAM_KEY_LEN])
{
	uint8_t sig[SCRAM_KEY_LEN], proof[SCRAM_KEY_LEN];
	enum scram_err e = SCRAM_E_CRYPTO;
	struct scram_buf o = { c->out, sizeof c->out, 0, false };
	scram_buf_str(&o, "c=biws,r="); /* biws = base64("n,,"): we never bind */
	scram_buf_put(&o, nonce, nonce_len);
	if (o.overflow) {
		e = SCRAM_E_TOO_LONG;
		goto out;
	}
	if (scram_auth_hmac(keys->stored_key, c->client_first_bare, c->cfb_len, sf, sf_len, o.b, o.len, sig) ||
	    scram_auth_hmac(keys->server_key, c->client_first_bare, c->cfb_len, sf, sf_len, o.b, o.len,
	                    c->server_signature))
		goto out;
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		proof[i] = ck[i] ^ sig[i];
	scram_buf_str(&o, ",p=");
	scram_buf_b64(&o, proof, SCRAM_KEY_LEN);
	e = o.overflow ? SCRAM_E_TOO_LONG : SCRAM_OK;
	c->out_len = o.len;
out:
	OPENSSL_cleanse(sig, sizeof sig);
	OPENSSL_cleanse(proof, sizeof proof);
	return e;
}

/* A server message may only arrive in the expected state, bounded, and without NUL bytes; 0 or -1 (failed). */
static int check_input(struct scram_client *c, int expected, const uint8_t *msg, size_t len)
{
	if (c->state != expected)
		return cli_fail(c, SCRAM_E_STATE);
	if (!msg)
		return cli_fail(c, SCRAM_E_ARG);
	if (len > SCRAM_MAX_MSG)
		return cli_fail(c, SCRAM_E_TOO_LONG);
	if (memchr(msg, '\0', len))
		return cli_fail(c, SCRAM_E_SYNTAX);
	return 0;
}

/* Step 2: read server-first, answer client-final with our proof. */
int scram_client_final(struct scram_client *c, const uint8_t *msg, size_t len)
{
	struct scram_secret params;
	uint8_t ck[SCRAM_KEY_LEN];
	const char *nonce = NULL;
	size_t nonce_len = 0;
	enum scram_err e;
	if (check_input(c, SCRAM_ST_FIRST_DONE, msg, len) < 0)
		return -1;
	memset(&params, 0, sizeof params);
	const char *m = (const char *)msg;
	e = parse_server_first(c, m, len, &nonce, &nonce_len, &params);
	if (e == SCRAM_OK)
		e = client_keys(c, &params, ck);
	if (e == SCRAM_OK)
		e = build_client_final(c, m, len, nonce, nonce_len, &params, ck);
	OPENSSL_cleanse(ck, sizeof ck);
	OPENSSL_cleanse(&params, sizeof params);
	if (e != SCRAM_OK)
		return cli_fail(c, e);
	c->state = SCRAM_ST_FINAL_SENT;
	return 0;
}

/* Step 3: server-final must carry the signature only the secret's owner can make. */
int scram_client_verify(struct scram_client *c, const uint8_t *msg, size_t len)
{
	uint8_t sig[SCRAM_KEY_LEN];
	const char *v;
	size_t vl, n = 0;
	enum scram_err e;
	if (check_input(c, SCRAM_ST_FINAL_SENT, msg, len) < 0)
		return -1;
	struct scram_cur cur = { (const char *)msg, (const char *)msg + len };
	if (cur.p != cur.end && *cur.p == 'e')
		return cli_fail(c, SCRAM_E_SERVER_ERROR);
	if ((e = scram_read_attr(&cur, 'v', false, &v, &vl)) != SCRAM_OK ||
	    (e = scram_skip_extensions(&cur, '\0')) != SCRAM_OK)
		return cli_fail(c, e);
	if (vl != B64_ENC_LEN(SCRAM_KEY_LEN))
		return cli_fail(c, SCRAM_E_PROOF_LENGTH);
	if (b64_decode(v, vl, sig, sizeof sig, &n) != 0 || n != SCRAM_KEY_LEN)
		return cli_fail(c, SCRAM_E_BASE64);
	if (CRYPTO_memcmp(sig, c->server_signature, SCRAM_KEY_LEN) != 0)
		return cli_fail(c, SCRAM_E_SERVER_SIGNATURE);
	OPENSSL_cleanse(c->client_key, sizeof c->client_key);
	c->out_len = 0;
	c->state = SCRAM_ST_DONE;
	return 0;
}

/* The message produced by the last successful step. */
const char *scram_client_output(const struct scram_client *c, size_t *len)
{
	if (c->state == SCRAM_ST_FIRST_DONE || c->state == SCRAM_ST_FINAL_SENT) {
		*len = c->out_len;
		return c->out;
	}
	*len = 0;
	return NULL;
}

/* Why the exchange failed, or SCRAM_OK. */
enum scram_err scram_client_error(const struct scram_client *c)
{
	return c->state == SCRAM_ST_FAILED ? c->err : SCRAM_OK;
}

/* Erase everything. */
void scram_client_wipe(struct scram_client *c)
{
	OPENSSL_cleanse(c, sizeof *c);
}
