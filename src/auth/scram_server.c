/* SCRAM-SHA-256 server side: pgrouter verifies a client's proof against a stored secret. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/b64.h"
#include "auth/scram.h"
#include "auth/scram_int.h"

/* Record why the exchange failed; every later call fails with SCRAM_E_STATE. */
static int srv_fail(struct scram_server *s, enum scram_err e)
{
	if (s->state != SCRAM_ST_FAILED)
		s->err = e;
	s->state = SCRAM_ST_FAILED;
	OPENSSL_cleanse(s->client_key, sizeof s->client_key);
	s->have_client_key = false;
	return -1;
}

/* Shared part of both init functions: channel binding data and state. */
static int srv_init_common(struct scram_server *s, const uint8_t *cbind, size_t cbind_len)
{
	if (cbind) {
		if (cbind_len == 0 || cbind_len > SCRAM_MAX_CBIND)
			return srv_fail(s, SCRAM_E_ARG);
		memcpy(s->cbind, cbind, cbind_len);
		s->cbind_len = cbind_len;
		s->have_cbind = true;
	}
	s->state = SCRAM_ST_STARTED;
	return 0;
}

/* Start an exchange for a user with a valid secret. */
int scram_server_init(struct scram_server *s, const struct scram_secret *secret, const uint8_t *cbind, size_t cbind_len)
{
	memset(s, 0, sizeof *s);
	if (!secret || secret->iterations < 1 || secret->salt_len == 0 || secret->salt_len > SCRAM_MAX_SALT)
		return srv_fail(s, SCRAM_E_SECRET);
	s->secret = *secret;
	return srv_init_common(s, cbind, cbind_len);
}

/* Doomed exchange: stable mock salt, random keys nobody can match, fails at the end. */
int scram_server_init_doomed(struct scram_server *s, const uint8_t mock_key[SCRAM_KEY_LEN], const char *user,
                             const uint8_t *cbind, size_t cbind_len)
{
	memset(s, 0, sizeof *s);
	s->doomed = true;
	s->secret.iterations = SCRAM_DEFAULT_ITERATIONS;
	s->secret.salt_len = 16;
	if (!mock_key || !user)
		return srv_fail(s, SCRAM_E_ARG);
	if (scram_mock_salt(mock_key, user, s->secret.salt, s->secret.salt_len) ||
	    RAND_bytes(s->secret.stored_key, SCRAM_KEY_LEN) != 1 ||
	    RAND_bytes(s->secret.server_key, SCRAM_KEY_LEN) != 1)
		return srv_fail(s, SCRAM_E_CRYPTO);
	return srv_init_common(s, cbind, cbind_len);
}

/* True if c is a character allowed in a channel binding type name. */
static bool cb_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* Parse the gs2 header and apply the channel binding policy for the chosen mechanism. */
static enum scram_err parse_gs2(struct scram_server *s, struct scram_cur *c, bool plus)
{
	const char *start = c->p;
	if (c->p == c->end)
		return SCRAM_E_GS2_HEADER;
	char flag = *c->p++;
	if (flag == 'p') {
		if (c->p == c->end || *c->p++ != '=')
			return SCRAM_E_GS2_HEADER;
		const char *name = c->p;
		while (c->p != c->end && cb_name_char(*c->p))
			c->p++;
		if (c->p == name)
			return SCRAM_E_GS2_HEADER;
		if (!s->have_cbind)
			return SCRAM_E_CBIND_UNSUPPORTED;
		if (!plus)
			return SCRAM_E_CBIND_FLAG;
		if ((size_t)(c->p - name) != strlen(SCRAM_CBIND_TYPE) ||
		    memcmp(name, SCRAM_CBIND_TYPE, strlen(SCRAM_CBIND_TYPE)) != 0)
			return SCRAM_E_CBIND_TYPE;
	} else if (flag == 'y' || flag == 'n') {
		if (plus)
			return SCRAM_E_CBIND_FLAG;
		if (flag == 'y' && s->have_cbind)
			return SCRAM_E_CBIND_DOWNGRADE;
	} else {
		return SCRAM_E_GS2_HEADER;
	}
	if (c->p == c->end || *c->p++ != ',')
		return SCRAM_E_GS2_HEADER;
	if (c->p != c->end && *c->p == 'a')
		return SCRAM_E_AUTHZID;
	if (c->p == c->end || *c->p++ != ',')
		return SCRAM_E_GS2_HEADER;
	if ((size_t)(c->p - start) >= sizeof s->gs2)
		return SCRAM_E_GS2_HEADER;
	s->gs2_len = (size_t)(c->p - start);
	memcpy(s->gs2, start, s->gs2_len);
	s->gs2_plus = (flag == 'p');
	return SCRAM_OK;
}

/* saslname: '=' only as "=2C" or "=3D". PostgreSQL ignores the name itself. */
static bool saslname_ok(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (v[i] != '=')
			continue;
		if (len - i < 3 || !((v[i + 1] == '2' && v[i + 2] == 'C') || (v[i + 1] == '3' && v[i + 2] == 'D')))
			return false;
		i += 2;
	}
	return true;
}

/* Parse client-first-message-bare: [m=...] n=<user>,r=<nonce>[,ext...]. */
static enum scram_err parse_bare(struct scram_server *s, struct scram_cur *c)
{
	const char *v;
	size_t vl;
	enum scram_err e;
	if (c->p != c->end && *c->p == 'm')
		return SCRAM_E_EXTENSION;
	s->cfb_len = (size_t)(c->end - c->p);
	memcpy(s->client_first_bare, c->p, s->cfb_len);
	if ((e = scram_read_attr(c, 'n', true, &v, &vl)) != SCRAM_OK)
		return e;
	if (!saslname_ok(v, vl))
		return SCRAM_E_USERNAME;
	if ((e = scram_read_attr(c, 'r', false, &v, &vl)) != SCRAM_OK)
		return e;
	if (!scram_nonce_ok(v, vl))
		return SCRAM_E_NONCE;
	memcpy(s->nonce, v, vl);
	s->client_nonce_len = vl;
	return scram_skip_extensions(c, '\0');
}

/* Append the server nonce and build server-first-message "r=..,s=..,i=..". */
static enum scram_err build_server_first(struct scram_server *s, const char *nonce, size_t nonce_len)
{
	char iter[16];
	if (!scram_nonce_ok(nonce, nonce_len) || nonce_len > SCRAM_MAX_SERVER_NONCE)
		return SCRAM_E_ARG;
	memcpy(s->nonce + s->client_nonce_len, nonce, nonce_len);
	s->nonce_len = s->client_nonce_len + nonce_len;
	snprintf(iter, sizeof iter, "%d", s->secret.iterations);
	struct scram_buf b = { s->server_first, sizeof s->server_first, 0, false };
	scram_buf_str(&b, "r=");
	scram_buf_put(&b, s->nonce, s->nonce_len);
	scram_buf_str(&b, ",s=");
	scram_buf_b64(&b, s->secret.salt, s->secret.salt_len);
	scram_buf_str(&b, ",i=");
	scram_buf_str(&b, iter);
	if (b.overflow)
		return SCRAM_E_ARG;
	s->sf_len = b.len;
	return SCRAM_OK;
}

/* Step 1 with a given server nonce: parse client-first, answer server-first. */
int scram_server_first_nonce(struct scram_server *s, const char *mech, const uint8_t *msg, size_t len,
                             const char *nonce, size_t nonce_len)
{
	bool plus;
	enum scram_err e;
	if (s->state != SCRAM_ST_STARTED)
		return srv_fail(s, SCRAM_E_STATE);
	if (mech && strcmp(mech, SCRAM_MECH) == 0)
		plus = false;
	else if (mech && strcmp(mech, SCRAM_MECH_PLUS) == 0 && s->have_cbind)
		plus = true;
	else
		return srv_fail(s, SCRAM_E_MECHANISM);
	if (!msg)
		return srv_fail(s, SCRAM_E_ARG);
	if (len > SCRAM_MAX_MSG)
		return srv_fail(s, SCRAM_E_TOO_LONG);
	if (memchr(msg, '\0', len))
		return srv_fail(s, SCRAM_E_SYNTAX);
	struct scram_cur c = { (const char *)msg, (const char *)msg + len };
	if ((e = parse_gs2(s, &c, plus)) != SCRAM_OK || (e = parse_bare(s, &c)) != SCRAM_OK ||
	    (e = build_server_first(s, nonce, nonce_len)) != SCRAM_OK)
		return srv_fail(s, e);
	s->state = SCRAM_ST_FIRST_DONE;
	return 0;
}

/* Step 1 with a fresh random server nonce. */
int scram_server_first(struct scram_server *s, const char *mech, const uint8_t *msg, size_t len)
{
	char nonce[SCRAM_NONCE_LEN + 1];
	if (scram_make_nonce(nonce) != 0)
		return srv_fail(s, SCRAM_E_CRYPTO);
	return scram_server_first_nonce(s, mech, msg, len, nonce, SCRAM_NONCE_LEN);
}

/* c= must be base64 of the gs2 header, followed by the binding data for "p". */
static enum scram_err check_cbind(const struct scram_server *s, const char *v, size_t vl)
{
	uint8_t want[sizeof s->gs2 + SCRAM_MAX_CBIND], got[sizeof want];
	size_t want_len = s->gs2_len, got_len = 0;
	memcpy(want, s->gs2, s->gs2_len);
	if (s->gs2_plus) {
		memcpy(want + want_len, s->cbind, s->cbind_len);
		want_len += s->cbind_len;
	}
	if (vl > B64_ENC_LEN(sizeof got))
		return SCRAM_E_CBIND_MISMATCH;
	if (b64_decode(v, vl, got, sizeof got, &got_len) != 0)
		return SCRAM_E_BASE64;
	if (got_len != want_len || CRYPTO_memcmp(got, want, want_len) != 0)
		return SCRAM_E_CBIND_MISMATCH;
	return SCRAM_OK;
}

/* Parse client-final up to the proof; sets the proof and the proof-less prefix length. */
static enum scram_err parse_client_final(const struct scram_server *s, const char *msg, size_t len,
                                         uint8_t proof[SCRAM_KEY_LEN], size_t *cfwp_len)
{
	struct scram_cur c = { msg, msg + len };
	const char *v;
	size_t vl, n = 0;
	enum scram_err e;
	if ((e = scram_read_attr(&c, 'c', false, &v, &vl)) != SCRAM_OK || (e = check_cbind(s, v, vl)) != SCRAM_OK)
		return e;
	if ((e = scram_read_attr(&c, 'r', false, &v, &vl)) != SCRAM_OK)
		return e;
	if (vl != s->nonce_len || memcmp(v, s->nonce, vl) != 0)
		return SCRAM_E_NONCE_MISMATCH;
	if ((e = scram_skip_extensions(&c, 'p')) != SCRAM_OK)
		return e;
	*cfwp_len = (size_t)(c.p - msg);
	if ((e = scram_read_attr(&c, 'p', false, &v, &vl)) != SCRAM_OK)
		return e;
	*cfwp_len -= 1; /* the comma before "p=" is not part of the AuthMessage */
	if (c.p != c.end)
		return SCRAM_E_TRAILING;
	if (vl != B64_ENC_LEN(SCRAM_KEY_LEN))
		return SCRAM_E_PROOF_LENGTH;
	if (b64_decode(v, vl, proof, SCRAM_KEY_LEN, &n) != 0 || n != SCRAM_KEY_LEN)
		return SCRAM_E_BASE64;
	return SCRAM_OK;
}

/* Recover ClientKey from the proof, check H(ClientKey) == StoredKey in constant time. */
static enum scram_err verify_proof(struct scram_server *s, const char *cfwp, size_t cfwp_len,
                                   const uint8_t proof[SCRAM_KEY_LEN])
{
	uint8_t sig[SCRAM_KEY_LEN], hashed[SCRAM_KEY_LEN];
	enum scram_err e = SCRAM_E_CRYPTO;
	if (scram_auth_hmac(s->secret.stored_key, s->client_first_bare, s->cfb_len, s->server_first, s->sf_len, cfwp,
	                    cfwp_len, sig))
		goto out;
	for (size_t i = 0; i < SCRAM_KEY_LEN; i++)
		s->client_key[i] = proof[i] ^ sig[i];
	if (scram_sha256(s->client_key, SCRAM_KEY_LEN, hashed))
		goto out;
	bool ok = CRYPTO_memcmp(hashed, s->secret.stored_key, SCRAM_KEY_LEN) == 0;
	if (s->doomed)
		e = SCRAM_E_UNKNOWN_USER;
	else
		e = ok ? SCRAM_OK : SCRAM_E_PROOF;
out:
	OPENSSL_cleanse(sig, sizeof sig);
	return e;
}

/* Step 2: check client-final and the proof, answer server-final "v=<signature>". */
int scram_server_final(struct scram_server *s, const uint8_t *msg, size_t len)
{
	uint8_t proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];
	size_t cfwp_len = 0;
	enum scram_err e;
	if (s->state != SCRAM_ST_FIRST_DONE)
		return srv_fail(s, SCRAM_E_STATE);
	if (!msg)
		return srv_fail(s, SCRAM_E_ARG);
	if (len > SCRAM_MAX_MSG)
		return srv_fail(s, SCRAM_E_TOO_LONG);
	if (memchr(msg, '\0', len))
		return srv_fail(s, SCRAM_E_SYNTAX);
	const char *m = (const char *)msg;
	if ((e = parse_client_final(s, m, len, proof, &cfwp_len)) != SCRAM_OK ||
	    (e = verify_proof(s, m, cfwp_len, proof)) != SCRAM_OK)
		return srv_fail(s, e);
	if (scram_auth_hmac(s->secret.server_key, s->client_first_bare, s->cfb_len, s->server_first, s->sf_len, m,
	                    cfwp_len, sig))
		return srv_fail(s, SCRAM_E_CRYPTO);
	struct scram_buf b = { s->server_final, sizeof s->server_final, 0, false };
	scram_buf_str(&b, "v=");
	scram_buf_b64(&b, sig, SCRAM_KEY_LEN);
	if (b.overflow)
		return srv_fail(s, SCRAM_E_ARG);
	s->sfin_len = b.len;
	s->have_client_key = true;
	s->state = SCRAM_ST_DONE;
	return 0;
}

/* The message produced by the last successful step. */
const char *scram_server_output(const struct scram_server *s, size_t *len)
{
	if (s->state == SCRAM_ST_FIRST_DONE) {
		*len = s->sf_len;
		return s->server_first;
	}
	if (s->state == SCRAM_ST_DONE) {
		*len = s->sfin_len;
		return s->server_final;
	}
	*len = 0;
	return NULL;
}

/* Why the exchange failed, or SCRAM_OK. */
enum scram_err scram_server_error(const struct scram_server *s)
{
	return s->state == SCRAM_ST_FAILED ? s->err : SCRAM_OK;
}

/* The recovered ClientKey, only after a verified proof. */
int scram_server_client_key(const struct scram_server *s, uint8_t out[SCRAM_KEY_LEN])
{
	if (s->state != SCRAM_ST_DONE || !s->have_client_key || s->doomed)
		return -1;
	memcpy(out, s->client_key, SCRAM_KEY_LEN);
	return 0;
}

/* Erase everything, including the secret copy. */
void scram_server_wipe(struct scram_server *s)
{
	OPENSSL_cleanse(s, sizeof *s);
}
