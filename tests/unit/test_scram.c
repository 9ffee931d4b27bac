/* Unit tests for base64 and SCRAM-SHA-256 (both sides), with vectors from RFC 7677 and Python. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "auth/b64.h"
#include "auth/scram.h"
#include "unit.h"

/* RFC 7677 section 3 example (user "user", password "pencil"). */
#define RFC_CF "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_SF "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096"
#define RFC_CFIN "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SFIN "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* Computed independently with Python's hashlib.pbkdf2_hmac/hmac (PostgreSQL's shape:
 * empty user name, 24-character nonces, 16-byte salt). */
#define PY_PW "correct horse battery staple"
#define PY_SECRET "SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88="
#define PY_CNONCE "fyko+d2lbbFgONRv9qkxdawL"
#define PY_SNONCE "3rfcNHYJY1ZVvWVs7j0hLm1x"
#define PY_NONCE PY_CNONCE PY_SNONCE
#define PY_CF "n,,n=,r=" PY_CNONCE
#define PY_SF "r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=4096"
#define PY_PROOF "+FNcBfvknQHrXNRF+4Q864StH+FAGu2nGODn33a8wt4="
#define PY_CFIN "c=biws,r=" PY_NONCE ",p=" PY_PROOF
#define PY_SFIN "v=bJcl/rmLS841pT/yvK0Pl8jeqturlgHL0bdFPLiWTAg="
#define PY_CK "7db58757bd220ea01225a1e9edb999f3e44a2203d8c6968eeb306019d714ad2c"
/* Same credentials over SCRAM-SHA-256-PLUS, binding data = SHA-256("fake certificate"). */
#define PY_CBIND "871e651f0d9d7aa703dd7069d11a378d4f847810e8be7730a8f93aea915bf8b8"
#define PY_PLUS_CF "p=tls-server-end-point,,n=,r=" PY_CNONCE
#define PY_PLUS_CFIN "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwshx5lHw2deqcD3XBp0Ro3jU+EeBDovncwqPk66pFb+Lg=,r=" PY_NONCE ",p=aMRDJPtbpL9ylIWd4eEzWUY6K6Z5/vXQf0hQw8HIya4="
#define PY_PLUS_SFIN "v=r7JevQsrLV0Wg1fY31r0o4/gQi97GegOe205yWHqnAU="

/* Decode a hex string into out (len bytes). */
static void unhex(const char *h, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* Output of the last server step as a NUL-terminated string (or "(none)"). */
static const char *srv_out(const struct scram_server *s)
{
	static char buf[SCRAM_MAX_MSG + 1];
	size_t n;
	const char *o = scram_server_output(s, &n);
	if (!o)
		return "(none)";
	memcpy(buf, o, n);
	buf[n] = '\0';
	return buf;
}

/* Output of the last client step as a NUL-terminated string (or "(none)"). */
static const char *cli_out(const struct scram_client *c)
{
	static char buf[SCRAM_MAX_MSG + 1];
	size_t n;
	const char *o = scram_client_output(c, &n);
	if (!o)
		return "(none)";
	memcpy(buf, o, n);
	buf[n] = '\0';
	return buf;
}

/* The Python secret, parsed. */
static struct scram_secret py_secret(void)
{
	struct scram_secret sec;
	if (scram_secret_parse(PY_SECRET, strlen(PY_SECRET), &sec) != 0)
		abort();
	return sec;
}

/* Server at the Python vector's state after client-first; returns the step's result. */
static int py_server_first(struct scram_server *s, const char *mech, const char *cf,
                           const uint8_t *cbind, size_t cbind_len)
{
	struct scram_secret sec = py_secret();
	if (scram_server_init(s, &sec, cbind, cbind_len) != 0)
		return -2;
	return scram_server_first_nonce(s, mech, (const uint8_t *)cf, strlen(cf), PY_SNONCE,
	                                strlen(PY_SNONCE));
}

/* Error code when feeding this client-first message to a fresh server. */
static enum scram_err first_err(const char *mech, const char *cf, size_t len, bool cbind)
{
	struct scram_server s;
	struct scram_secret sec = py_secret();
	uint8_t cb[32];
	unhex(PY_CBIND, cb, sizeof cb);
	scram_server_init(&s, &sec, cbind ? cb : NULL, sizeof cb);
	if (scram_server_first_nonce(&s, mech, (const uint8_t *)cf, len, PY_SNONCE,
	                             strlen(PY_SNONCE)) == 0)
		return SCRAM_OK;
	return scram_server_error(&s);
}

/* Error code when feeding this client-final after the Python client-first. */
static enum scram_err final_err(const char *cfin, size_t len)
{
	struct scram_server s;
	if (py_server_first(&s, SCRAM_MECH, PY_CF, NULL, 0) != 0)
		return SCRAM_E_COUNT;
	if (scram_server_final(&s, (const uint8_t *)cfin, len) == 0)
		return SCRAM_OK;
	return scram_server_error(&s);
}

/* Error code when a Python-nonce client receives this server-first. */
static enum scram_err client_final_err(const char *sf, size_t len)
{
	struct scram_client c;
	scram_client_init_password(&c, PY_PW, strlen(PY_PW));
	scram_client_first_nonce(&c, "", PY_CNONCE, strlen(PY_CNONCE));
	if (scram_client_final(&c, (const uint8_t *)sf, len) == 0)
		return SCRAM_OK;
	return scram_client_error(&c);
}

/* Error code when a client that got the Python server-first receives this server-final. */
static enum scram_err client_verify_err(const char *sfin, size_t len)
{
	struct scram_client c;
	scram_client_init_password(&c, PY_PW, strlen(PY_PW));
	scram_client_first_nonce(&c, "", PY_CNONCE, strlen(PY_CNONCE));
	scram_client_final(&c, (const uint8_t *)PY_SF, strlen(PY_SF));
	if (scram_client_verify(&c, (const uint8_t *)sfin, len) == 0)
		return SCRAM_OK;
	return scram_client_error(&c);
}

#define FIRST_ERR(cf) first_err(SCRAM_MECH, cf, strlen(cf), false)
#define FINAL_ERR(cfin) final_err(cfin, strlen(cfin))
#define CFINAL_ERR(sf) client_final_err(sf, strlen(sf))
#define CVERIFY_ERR(sfin) client_verify_err(sfin, strlen(sfin))

/* base64 round trips and every strictness rule. */
static void test_b64(void)
{
	char enc[64];
	uint8_t dec[64];
	size_t n = 0;
	CHECK_EQ_INT(b64_encode((const uint8_t *)"foobar", 6, enc, sizeof enc, &n), 0);
	CHECK_EQ_STR(enc, "Zm9vYmFy");
	CHECK_EQ_INT(b64_encode((const uint8_t *)"fo", 2, enc, sizeof enc, &n), 0);
	CHECK_EQ_STR(enc, "Zm8=");
	CHECK_EQ_INT(b64_encode((const uint8_t *)"f", 1, enc, sizeof enc, &n), 0);
	CHECK_EQ_STR(enc, "Zg==");
	CHECK_EQ_INT(b64_encode((const uint8_t *)"f", 1, enc, 4, &n), -1); /* no room for NUL */
	CHECK_EQ_INT(b64_decode("Zm9vYmFy", 8, dec, sizeof dec, &n), 0);
	CHECK(n == 6 && memcmp(dec, "foobar", 6) == 0);
	CHECK_EQ_INT(b64_decode("Zm8=", 4, dec, sizeof dec, &n), 0);
	CHECK(n == 2 && memcmp(dec, "fo", 2) == 0);
	CHECK_EQ_INT(b64_decode("", 0, dec, sizeof dec, &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(b64_decode("Zm9", 3, dec, sizeof dec, &n), -1);      /* length */
	CHECK_EQ_INT(b64_decode("Zh==", 4, dec, sizeof dec, &n), -1);     /* trailing bits */
	CHECK_EQ_INT(b64_decode("Zm9=", 4, dec, sizeof dec, &n), -1);     /* trailing bits */
	CHECK_EQ_INT(b64_decode("Zg==Zg==", 8, dec, sizeof dec, &n), -1); /* padding inside */
	CHECK_EQ_INT(b64_decode("Z===", 4, dec, sizeof dec, &n), -1);
	CHECK_EQ_INT(b64_decode("====", 4, dec, sizeof dec, &n), -1);
	CHECK_EQ_INT(b64_decode("Zm 9", 4, dec, sizeof dec, &n), -1);     /* whitespace */
	CHECK_EQ_INT(b64_decode("Zm9v\n", 5, dec, sizeof dec, &n), -1);
	CHECK_EQ_INT(b64_decode("Zm-v", 4, dec, sizeof dec, &n), -1);     /* url alphabet */
	CHECK_EQ_INT(b64_decode("Z=9v", 4, dec, sizeof dec, &n), -1);
	CHECK_EQ_INT(b64_decode("Zm9vYmFy", 8, dec, 5, &n), -1);          /* capacity */
}

/* Secrets: parse the Python secret, derive the same from the password, format back. */
static void test_secret(void)
{
	struct scram_secret a, b;
	uint8_t ck[SCRAM_KEY_LEN], want_ck[SCRAM_KEY_LEN];
	char buf[SCRAM_SECRET_MAX_LEN];
	CHECK_EQ_INT(scram_secret_parse(PY_SECRET, strlen(PY_SECRET), &a), 0);
	CHECK_EQ_INT(a.iterations, 4096);
	CHECK_EQ_INT(a.salt_len, 16);
	CHECK_EQ_INT(scram_secret_from_password(PY_PW, strlen(PY_PW), a.salt, a.salt_len, 4096, &b, ck), 0);
	CHECK(memcmp(a.stored_key, b.stored_key, SCRAM_KEY_LEN) == 0);
	CHECK(memcmp(a.server_key, b.server_key, SCRAM_KEY_LEN) == 0);
	unhex(PY_CK, want_ck, sizeof want_ck);
	CHECK(memcmp(ck, want_ck, SCRAM_KEY_LEN) == 0);
	CHECK_EQ_INT(scram_secret_format(&b, buf, sizeof buf), 0);
	CHECK_EQ_STR(buf, PY_SECRET);
	CHECK_EQ_INT(scram_secret_format(&b, buf, 50), -1);
	CHECK_EQ_INT(scram_secret_from_password("", 0, a.salt, a.salt_len, 4096, &b, NULL), -1);
	CHECK_EQ_INT(scram_secret_from_password("x", 1, a.salt, 0, 4096, &b, NULL), -1);
	CHECK_EQ_INT(scram_secret_from_password("x", 1, a.salt, a.salt_len, 0, &b, NULL), -1);

	static const char *const bad[] = {
		"SCRAM-SHA-1$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=",
		"SCRAM-SHA-256$0:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=",
		"SCRAM-SHA-256$4096x:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=",
		"SCRAM-SHA-256$99999999999:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=",
		"SCRAM-SHA-256$4096:$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=",
		"SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig=$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=",
		"SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=",
		"SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=",
		"SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=x",
		"SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=:",
		"SCRAM-SHA-256$",
		"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&a, 0x5a, sizeof a);
		CHECK_EQ_INT(scram_secret_parse(bad[i], strlen(bad[i]), &a), -1);
		CHECK_EQ_INT(a.iterations, 0x5a5a5a5a); /* untouched on failure */
	}
	CHECK(scram_secret_has_prefix(PY_SECRET, strlen(PY_SECRET)));
	CHECK(!scram_secret_has_prefix("md5abc", 6));
}

/* RFC 7677's exchange, byte for byte, on both sides. */
static void test_rfc7677(void)
{
	struct scram_secret sec;
	struct scram_server s;
	struct scram_client c;
	uint8_t salt[16];
	size_t n;
	b64_decode(RFC_SALT, strlen(RFC_SALT), salt, sizeof salt, &n);
	CHECK_EQ_INT(scram_secret_from_password("pencil", 6, salt, n, 4096, &sec, NULL), 0);

	CHECK_EQ_INT(scram_server_init(&s, &sec, NULL, 0), 0);
	CHECK_EQ_INT(scram_server_first_nonce(&s, SCRAM_MECH, (const uint8_t *)RFC_CF,
	                                      strlen(RFC_CF), RFC_SNONCE, strlen(RFC_SNONCE)), 0);
	CHECK_EQ_STR(srv_out(&s), RFC_SF);
	CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)RFC_CFIN, strlen(RFC_CFIN)), 0);
	CHECK_EQ_STR(srv_out(&s), RFC_SFIN);

	CHECK_EQ_INT(scram_client_init_password(&c, "pencil", 6), 0);
	CHECK_EQ_INT(scram_client_first_nonce(&c, "user", RFC_CNONCE, strlen(RFC_CNONCE)), 0);
	CHECK_EQ_STR(cli_out(&c), RFC_CF);
	CHECK_EQ_INT(scram_client_final(&c, (const uint8_t *)RFC_SF, strlen(RFC_SF)), 0);
	CHECK_EQ_STR(cli_out(&c), RFC_CFIN);
	CHECK_EQ_INT(scram_client_verify(&c, (const uint8_t *)RFC_SFIN, strlen(RFC_SFIN)), 0);
	CHECK_EQ_INT(scram_client_error(&c), SCRAM_OK);
}

/* The Python vector on the server side, including ClientKey recovery. */
static void test_python_server(void)
{
	struct scram_server s;
	uint8_t ck[SCRAM_KEY_LEN], want[SCRAM_KEY_LEN];
	CHECK_EQ_INT(py_server_first(&s, SCRAM_MECH, PY_CF, NULL, 0), 0);
	CHECK_EQ_STR(srv_out(&s), PY_SF);
	CHECK_EQ_INT(scram_server_client_key(&s, ck), -1); /* not before the proof */
	CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)PY_CFIN, strlen(PY_CFIN)), 0);
	CHECK_EQ_STR(srv_out(&s), PY_SFIN);
	CHECK_EQ_INT(scram_server_client_key(&s, ck), 0);
	unhex(PY_CK, want, sizeof want);
	CHECK(memcmp(ck, want, SCRAM_KEY_LEN) == 0);
	CHECK_EQ_INT(scram_server_error(&s), SCRAM_OK);
	/* A second final, or a first after the end, is out of order. */
	CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)PY_CFIN, strlen(PY_CFIN)), -1);
	CHECK_EQ_INT(scram_server_error(&s), SCRAM_E_STATE);
	scram_server_wipe(&s);
	CHECK_EQ_INT(scram_server_client_key(&s, ck), -1);
}

/* The Python vector on the client side, with a password and with passthrough keys. */
static void test_python_client(void)
{
	struct scram_client c;
	struct scram_secret sec = py_secret();
	uint8_t ck[SCRAM_KEY_LEN];
	CHECK_EQ_INT(scram_client_init_password(&c, PY_PW, strlen(PY_PW)), 0);
	CHECK_EQ_INT(scram_client_first_nonce(&c, "", PY_CNONCE, strlen(PY_CNONCE)), 0);
	CHECK_EQ_STR(cli_out(&c), PY_CF);
	CHECK_EQ_INT(scram_client_final(&c, (const uint8_t *)PY_SF, strlen(PY_SF)), 0);
	CHECK_EQ_STR(cli_out(&c), PY_CFIN);
	CHECK_EQ_INT(scram_client_verify(&c, (const uint8_t *)PY_SFIN, strlen(PY_SFIN)), 0);

	unhex(PY_CK, ck, sizeof ck);
	CHECK_EQ_INT(scram_client_init_passthrough(&c, &sec, ck), 0);
	CHECK_EQ_INT(scram_client_first_nonce(&c, "", PY_CNONCE, strlen(PY_CNONCE)), 0);
	CHECK_EQ_INT(scram_client_final(&c, (const uint8_t *)PY_SF, strlen(PY_SF)), 0);
	CHECK_EQ_STR(cli_out(&c), PY_CFIN);
	CHECK_EQ_INT(scram_client_verify(&c, (const uint8_t *)PY_SFIN, strlen(PY_SFIN)), 0);

	ck[0] ^= 1; /* a key that does not hash to StoredKey is refused up front */
	CHECK_EQ_INT(scram_client_init_passthrough(&c, &sec, ck), -1);
	CHECK_EQ_INT(scram_client_error(&c), SCRAM_E_KEY_MISMATCH);
	CHECK_EQ_INT(scram_client_init_password(&c, "", 0), -1);
	CHECK_EQ_INT(scram_client_error(&c), SCRAM_E_PASSWORD);
	char big[SCRAM_MAX_PASSWORD + 1];
	memset(big, 'a', sizeof big);
	CHECK_EQ_INT(scram_client_init_password(&c, big, sizeof big), -1);
}

/* Our client against our server with random nonces and salt; wrong password fails. */
static void test_round_trip(void)
{
	struct scram_secret sec;
	struct scram_server s;
	struct scram_client c;
	uint8_t salt[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	uint8_t ck[SCRAM_KEY_LEN], ck2[SCRAM_KEY_LEN];
	const char *o;
	size_t n;
	const char *pw = "p@ss,word=with\"odd chars";
	CHECK_EQ_INT(scram_secret_from_password(pw, strlen(pw), salt, sizeof salt, 4096, &sec, ck), 0);
	for (int wrong = 0; wrong < 2; wrong++) {
		const char *try_pw = wrong ? "p@ss,word=with\"odd charz" : pw;
		CHECK_EQ_INT(scram_server_init(&s, &sec, NULL, 0), 0);
		CHECK_EQ_INT(scram_client_init_password(&c, try_pw, strlen(try_pw)), 0);
		CHECK_EQ_INT(scram_client_first(&c), 0);
		o = scram_client_output(&c, &n);
		CHECK(n == 8 + SCRAM_NONCE_LEN && memcmp(o, "n,,n=,r=", 8) == 0);
		CHECK_EQ_INT(scram_server_first(&s, SCRAM_MECH, (const uint8_t *)o, n), 0);
		o = scram_server_output(&s, &n);
		CHECK_EQ_INT(scram_client_final(&c, (const uint8_t *)o, n), 0);
		o = scram_client_output(&c, &n);
		CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)o, n), wrong ? -1 : 0);
		if (wrong) {
			CHECK_EQ_INT(scram_server_error(&s), SCRAM_E_PROOF);
			CHECK(scram_server_output(&s, &n) == NULL);
			CHECK_EQ_INT(scram_server_client_key(&s, ck2), -1);
			continue;
		}
		CHECK_EQ_INT(scram_server_client_key(&s, ck2), 0);
		CHECK(memcmp(ck, ck2, SCRAM_KEY_LEN) == 0);
		o = scram_server_output(&s, &n);
		CHECK_EQ_INT(scram_client_verify(&c, (const uint8_t *)o, n), 0);
		scram_client_wipe(&c);
		scram_server_wipe(&s);
	}
}

/* Run one whole exchange of client c against server s; returns 0 if both accept. */
static int exchange(struct scram_client *c, struct scram_server *s)
{
	const char *o;
	size_t n;
	if (scram_client_first(c) != 0)
		return -1;
	o = scram_client_output(c, &n);
	if (scram_server_first(s, SCRAM_MECH, (const uint8_t *)o, n) != 0)
		return -1;
	o = scram_server_output(s, &n);
	if (scram_client_final(c, (const uint8_t *)o, n) != 0)
		return -1;
	o = scram_client_output(c, &n);
	if (scram_server_final(s, (const uint8_t *)o, n) != 0)
		return -1;
	o = scram_server_output(s, &n);
	return scram_client_verify(c, (const uint8_t *)o, n);
}

/* Passthrough: the key recovered from the app's login opens a server with the same secret. */
static void test_passthrough(void)
{
	struct scram_secret sec = py_secret(), other;
	struct scram_server front, back;
	struct scram_client app, proxy;
	uint8_t ck[SCRAM_KEY_LEN];
	/* 1. the application logs in to pgrouter with its password */
	scram_server_init(&front, &sec, NULL, 0);
	scram_client_init_password(&app, PY_PW, strlen(PY_PW));
	CHECK_EQ_INT(exchange(&app, &front), 0);
	CHECK_EQ_INT(scram_server_client_key(&front, ck), 0);
	/* 2. pgrouter logs in to PostgreSQL (same secret) with the ClientKey only */
	scram_server_init(&back, &sec, NULL, 0);
	CHECK_EQ_INT(scram_client_init_passthrough(&proxy, &sec, ck), 0);
	CHECK_EQ_INT(exchange(&proxy, &back), 0);
	CHECK_EQ_INT(scram_client_error(&proxy), SCRAM_OK);
	/* 3. a server whose secret has another salt cannot be opened with that key */
	uint8_t salt2[16] = {9};
	scram_secret_from_password(PY_PW, strlen(PY_PW), salt2, sizeof salt2, 4096, &other, NULL);
	scram_server_init(&back, &other, NULL, 0);
	scram_client_init_passthrough(&proxy, &sec, ck);
	CHECK_EQ_INT(exchange(&proxy, &back), -1);
	CHECK_EQ_INT(scram_client_error(&proxy), SCRAM_E_SALT_MISMATCH);
	/* 4. nor one with the same salt but another iteration count */
	scram_secret_from_password(PY_PW, strlen(PY_PW), sec.salt, sec.salt_len, 4097, &other, NULL);
	scram_server_init(&back, &other, NULL, 0);
	scram_client_init_passthrough(&proxy, &sec, ck);
	CHECK_EQ_INT(exchange(&proxy, &back), -1);
	CHECK_EQ_INT(scram_client_error(&proxy), SCRAM_E_SALT_MISMATCH);
	/* 5. a server that only pretends (other password, same salt/count) fails its signature */
	scram_secret_from_password("impostor", 8, sec.salt, sec.salt_len, 4096, &other, NULL);
	memcpy(other.stored_key, sec.stored_key, SCRAM_KEY_LEN); /* knows StoredKey only */
	scram_server_init(&back, &other, NULL, 0);
	scram_client_init_passthrough(&proxy, &sec, ck);
	CHECK_EQ_INT(exchange(&proxy, &back), -1);
	CHECK_EQ_INT(scram_client_error(&proxy), SCRAM_E_SERVER_SIGNATURE);
}

/* Unknown users get a stable per-user salt and always fail, like a wrong password. */
static void test_doomed(void)
{
	uint8_t key[SCRAM_KEY_LEN] = {42}, key2[SCRAM_KEY_LEN] = {43};
	struct scram_server s;
	struct scram_client c;
	char sf1[SCRAM_MAX_MSG + 1], sf2[SCRAM_MAX_MSG + 1];
	CHECK_EQ_INT(scram_server_init_doomed(&s, key, "ghost", NULL, 0), 0);
	CHECK_EQ_INT(scram_server_first_nonce(&s, SCRAM_MECH, (const uint8_t *)PY_CF, strlen(PY_CF),
	                                      PY_SNONCE, strlen(PY_SNONCE)), 0);
	snprintf(sf1, sizeof sf1, "%s", srv_out(&s));
	CHECK(strstr(sf1, ",i=4096") != NULL);
	CHECK_EQ_INT(strlen(sf1), strlen(PY_SF)); /* same shape as a real 16-byte salt */
	scram_server_init_doomed(&s, key, "ghost", NULL, 0);
	scram_server_first_nonce(&s, SCRAM_MECH, (const uint8_t *)PY_CF, strlen(PY_CF), PY_SNONCE,
	                         strlen(PY_SNONCE));
	CHECK_EQ_STR(srv_out(&s), sf1);
	scram_server_init_doomed(&s, key, "ghost2", NULL, 0);
	scram_server_first_nonce(&s, SCRAM_MECH, (const uint8_t *)PY_CF, strlen(PY_CF), PY_SNONCE,
	                         strlen(PY_SNONCE));
	snprintf(sf2, sizeof sf2, "%s", srv_out(&s));
	CHECK(strcmp(sf1, sf2) != 0);
	scram_server_init_doomed(&s, key2, "ghost", NULL, 0);
	scram_server_first_nonce(&s, SCRAM_MECH, (const uint8_t *)PY_CF, strlen(PY_CF), PY_SNONCE,
	                         strlen(PY_SNONCE));
	CHECK(strcmp(srv_out(&s), sf1) != 0);
	/* the whole exchange runs and fails only at the proof */
	scram_server_init_doomed(&s, key, "ghost", NULL, 0);
	scram_client_init_password(&c, "whatever", 8);
	CHECK_EQ_INT(exchange(&c, &s), -1);
	CHECK_EQ_INT(scram_server_error(&s), SCRAM_E_UNKNOWN_USER);
	CHECK_EQ_INT(scram_client_error(&c), SCRAM_OK); /* client got as far as sending a proof */
}

/* Every malformed client-first-message fails with its own reason. */
static void test_bad_client_first(void)
{
	char big[2048], nonce300[400];
	CHECK_EQ_INT(FIRST_ERR(PY_CF), SCRAM_OK);
	CHECK_EQ_INT(FIRST_ERR("y,,n=,r=abc"), SCRAM_OK);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r=abc,x=unknown-ext"), SCRAM_OK);
	CHECK_EQ_INT(FIRST_ERR("n,,n=a=2Cb=3D,r=abc"), SCRAM_OK);
	CHECK_EQ_INT(FIRST_ERR(""), SCRAM_E_GS2_HEADER);
	CHECK_EQ_INT(FIRST_ERR("n=,r=abc"), SCRAM_E_GS2_HEADER);          /* missing gs2 header */
	CHECK_EQ_INT(FIRST_ERR("x,,n=,r=abc"), SCRAM_E_GS2_HEADER);
	CHECK_EQ_INT(FIRST_ERR("n,n=,r=abc"), SCRAM_E_GS2_HEADER);
	CHECK_EQ_INT(FIRST_ERR("p=,,n=,r=abc"), SCRAM_E_GS2_HEADER);
	CHECK_EQ_INT(FIRST_ERR(PY_PLUS_CF), SCRAM_E_CBIND_UNSUPPORTED);   /* we did not offer it */
	CHECK_EQ_INT(FIRST_ERR("n,a=admin,n=,r=abc"), SCRAM_E_AUTHZID);
	CHECK_EQ_INT(FIRST_ERR("n,,m=ext,n=,r=abc"), SCRAM_E_EXTENSION);
	CHECK_EQ_INT(FIRST_ERR("n,,r=abc"), SCRAM_E_ATTR);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r=abc,r=def"), SCRAM_E_ATTR);      /* duplicate */
	CHECK_EQ_INT(FIRST_ERR("n,,n=,n=,r=abc"), SCRAM_E_ATTR);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r=abc,1=x"), SCRAM_E_SYNTAX);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r="), SCRAM_E_SYNTAX);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r=abc,"), SCRAM_E_SYNTAX);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,rabc"), SCRAM_E_SYNTAX);
	CHECK_EQ_INT(FIRST_ERR("n,,n=a=b,r=abc"), SCRAM_E_USERNAME);
	CHECK_EQ_INT(FIRST_ERR("n,,n=a=2,r=abc"), SCRAM_E_USERNAME);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r=ab c"), SCRAM_E_NONCE);          /* non-printable */
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r=ab\x01" "c"), SCRAM_E_NONCE);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r=\xc3\xa9t\xc3\xa9"), SCRAM_E_NONCE);
	CHECK_EQ_INT(FIRST_ERR("n,,n=,r=ab\x7f"), SCRAM_E_NONCE);
	memset(nonce300, 'a', sizeof nonce300);
	memcpy(nonce300, "n,,n=,r=", 8);
	nonce300[8 + 300] = '\0';
	CHECK_EQ_INT(FIRST_ERR(nonce300), SCRAM_E_NONCE);
	CHECK_EQ_INT(first_err(SCRAM_MECH, "n,,n=,r=a\0bc", 12, false), SCRAM_E_SYNTAX);
	memset(big, 'a', sizeof big);
	memcpy(big, "n,,n=,r=", 8);
	CHECK_EQ_INT(first_err(SCRAM_MECH, big, sizeof big, false), SCRAM_E_TOO_LONG);
	CHECK_EQ_INT(first_err("SCRAM-SHA-1", PY_CF, strlen(PY_CF), false), SCRAM_E_MECHANISM);
	CHECK_EQ_INT(first_err(NULL, PY_CF, strlen(PY_CF), false), SCRAM_E_MECHANISM);
	CHECK_EQ_INT(first_err(SCRAM_MECH_PLUS, PY_PLUS_CF, strlen(PY_PLUS_CF), false),
	             SCRAM_E_MECHANISM);
	/* with channel binding offered (TLS) */
	CHECK_EQ_INT(first_err(SCRAM_MECH_PLUS, PY_PLUS_CF, strlen(PY_PLUS_CF), true), SCRAM_OK);
	CHECK_EQ_INT(first_err(SCRAM_MECH, PY_CF, strlen(PY_CF), true), SCRAM_OK);
	CHECK_EQ_INT(first_err(SCRAM_MECH, "y,,n=,r=abc", 11, true), SCRAM_E_CBIND_DOWNGRADE);
	CHECK_EQ_INT(first_err(SCRAM_MECH_PLUS, PY_CF, strlen(PY_CF), true), SCRAM_E_CBIND_FLAG);
	CHECK_EQ_INT(first_err(SCRAM_MECH_PLUS, "y,,n=,r=abc", 11, true), SCRAM_E_CBIND_FLAG);
	CHECK_EQ_INT(first_err(SCRAM_MECH, PY_PLUS_CF, strlen(PY_PLUS_CF), true), SCRAM_E_CBIND_FLAG);
	CHECK_EQ_INT(first_err(SCRAM_MECH_PLUS, "p=tls-unique,,n=,r=abc", 22, true),
	             SCRAM_E_CBIND_TYPE);
}

/* Every malformed client-final-message fails with its own reason, the 10 kB proof too. */
static void test_bad_client_final(void)
{
	char buf[12000];
	CHECK_EQ_INT(FINAL_ERR(PY_CFIN), SCRAM_OK);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_CNONCE "XXXXXXXXXXXXXXXXXXXXXXXX,p=" PY_PROOF),
	             SCRAM_E_NONCE_MISMATCH);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_CNONCE ",p=" PY_PROOF), SCRAM_E_NONCE_MISMATCH);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE "x,p=" PY_PROOF), SCRAM_E_NONCE_MISMATCH);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE), SCRAM_E_ATTR);            /* no proof */
	CHECK_EQ_INT(FINAL_ERR("r=" PY_NONCE ",c=biws,p=" PY_PROOF), SCRAM_E_ATTR);
	CHECK_EQ_INT(FINAL_ERR("c=biws,c=biws,r=" PY_NONCE ",p=" PY_PROOF), SCRAM_E_ATTR);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE ",r=" PY_NONCE ",p=" PY_PROOF), SCRAM_E_ATTR);
	CHECK_EQ_INT(FINAL_ERR("c=eSws,r=" PY_NONCE ",p=" PY_PROOF), SCRAM_E_CBIND_MISMATCH);
	CHECK_EQ_INT(FINAL_ERR("c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=" PY_NONCE ",p=" PY_PROOF),
	             SCRAM_E_CBIND_MISMATCH);
	CHECK_EQ_INT(FINAL_ERR("c=bi!s,r=" PY_NONCE ",p=" PY_PROOF), SCRAM_E_BASE64);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE ",p=!FNcBfvknQHrXNRF+4Q864StH+FAGu2nGODn33a8wt4="),
	             SCRAM_E_BASE64);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE ",p=+FNcBfvknQHrXNRF+4Q864StH+FAGu2nGODn33a8wt5="),
	             SCRAM_E_BASE64); /* non-canonical last character */
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE ",p=+FNcBfvknQHrXNRF+4Q864StH+FAGu2nGODn33a8wt8="),
	             SCRAM_E_PROOF); /* one bit of the proof flipped */
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE ",p=AAAA"), SCRAM_E_PROOF_LENGTH);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE ",p="), SCRAM_E_SYNTAX);
	CHECK_EQ_INT(FINAL_ERR(PY_CFIN ",x=1"), SCRAM_E_TRAILING);
	CHECK_EQ_INT(FINAL_ERR(PY_CFIN ","), SCRAM_E_SYNTAX);
	CHECK_EQ_INT(FINAL_ERR("c=biws,r=" PY_NONCE ",x=ext,p=" PY_PROOF), SCRAM_E_PROOF);
	CHECK_EQ_INT(final_err(PY_CFIN "\0", strlen(PY_CFIN) + 1), SCRAM_E_SYNTAX);
	/* a 136-byte proof fits the message limit but is not 32 bytes */
	snprintf(buf, sizeof buf, "c=biws,r=%s,p=", PY_NONCE);
	size_t n = strlen(buf);
	memset(buf + n, 'A', 136);
	buf[n + 136] = '\0';
	CHECK_EQ_INT(final_err(buf, strlen(buf)), SCRAM_E_PROOF_LENGTH);
	/* a 10 kB proof is refused before any parsing */
	memset(buf + n, 'A', 10240);
	buf[n + 10240] = '\0';
	CHECK_EQ_INT(final_err(buf, strlen(buf)), SCRAM_E_TOO_LONG);
	/* calls out of order */
	struct scram_server s;
	struct scram_secret sec = py_secret();
	scram_server_init(&s, &sec, NULL, 0);
	CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)PY_CFIN, strlen(PY_CFIN)), -1);
	CHECK_EQ_INT(scram_server_error(&s), SCRAM_E_STATE);
	memset(&s, 0, sizeof s);
	CHECK_EQ_INT(scram_server_first(&s, SCRAM_MECH, (const uint8_t *)PY_CF, strlen(PY_CF)), -1);
	CHECK_EQ_INT(scram_server_error(&s), SCRAM_E_STATE);
	/* a failed exchange stays failed with its first reason */
	py_server_first(&s, SCRAM_MECH, PY_CF, NULL, 0);
	scram_server_final(&s, (const uint8_t *)"c=eSws,r=x,p=y", 14);
	CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)PY_CFIN, strlen(PY_CFIN)), -1);
	CHECK_EQ_INT(scram_server_error(&s), SCRAM_E_CBIND_MISMATCH);
}

/* SCRAM-SHA-256-PLUS with tls-server-end-point data, against the Python vector. */
static void test_channel_binding(void)
{
	struct scram_server s;
	uint8_t cb[32];
	unhex(PY_CBIND, cb, sizeof cb);
	CHECK_EQ_INT(py_server_first(&s, SCRAM_MECH_PLUS, PY_PLUS_CF, cb, sizeof cb), 0);
	CHECK_EQ_STR(srv_out(&s), PY_SF);
	CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)PY_PLUS_CFIN, strlen(PY_PLUS_CFIN)), 0);
	CHECK_EQ_STR(srv_out(&s), PY_PLUS_SFIN);
	/* a man in the middle presents another certificate: the data differs */
	cb[0] ^= 1;
	CHECK_EQ_INT(py_server_first(&s, SCRAM_MECH_PLUS, PY_PLUS_CF, cb, sizeof cb), 0);
	CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)PY_PLUS_CFIN, strlen(PY_PLUS_CFIN)), -1);
	CHECK_EQ_INT(scram_server_error(&s), SCRAM_E_CBIND_MISMATCH);
	/* binding-less client-final after a "p" header */
	cb[0] ^= 1;
	py_server_first(&s, SCRAM_MECH_PLUS, PY_PLUS_CF, cb, sizeof cb);
	CHECK_EQ_INT(scram_server_final(&s, (const uint8_t *)PY_CFIN, strlen(PY_CFIN)), -1);
	CHECK_EQ_INT(scram_server_error(&s), SCRAM_E_CBIND_MISMATCH);
	struct scram_secret sec = py_secret();
	CHECK_EQ_INT(scram_server_init(&s, &sec, cb, 0), -1);
	CHECK_EQ_INT(scram_server_init(&s, &sec, cb, SCRAM_MAX_CBIND + 1), -1);
}

/* The client refuses bad server-first and server-final messages. */
static void test_bad_server_messages(void)
{
	char big[12000];
	CHECK_EQ_INT(CFINAL_ERR(PY_SF), SCRAM_OK);
	CHECK_EQ_INT(CFINAL_ERR(PY_SF ",x=ext"), SCRAM_OK);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_CNONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=4096"),
	             SCRAM_E_NONCE_MISMATCH); /* server added nothing */
	CHECK_EQ_INT(CFINAL_ERR("r=Xyko+d2lbbFgONRv9qkxdawL" PY_SNONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=4096"),
	             SCRAM_E_NONCE_MISMATCH);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE "\x01,s=XAsemn0/LkGgjGsdnk96Ig==,i=4096"), SCRAM_E_NONCE);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig=,i=4096"), SCRAM_E_BASE64);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=,i=4096"), SCRAM_E_SYNTAX);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=====,i=4096"), SCRAM_E_BASE64);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=0"), SCRAM_E_ITERATIONS);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=-1"), SCRAM_E_ITERATIONS);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=04096"), SCRAM_E_ITERATIONS);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=4096x"), SCRAM_E_ITERATIONS);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=1000001"), SCRAM_E_ITERATIONS);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=2147483648"), SCRAM_E_ITERATIONS);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig==,i=99999999999999999999"),
	             SCRAM_E_ITERATIONS);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",s=XAsemn0/LkGgjGsdnk96Ig=="), SCRAM_E_ATTR);
	CHECK_EQ_INT(CFINAL_ERR("r=" PY_NONCE ",i=4096,s=XAsemn0/LkGgjGsdnk96Ig=="), SCRAM_E_ATTR);
	CHECK_EQ_INT(CFINAL_ERR(PY_SF ",r=x"), SCRAM_E_ATTR);
	CHECK_EQ_INT(CFINAL_ERR("m=x," PY_SF), SCRAM_E_EXTENSION);
	CHECK_EQ_INT(CFINAL_ERR("e=other-error"), SCRAM_E_ATTR);
	snprintf(big, sizeof big, "r=%s,s=", PY_NONCE);
	size_t n = strlen(big);
	memset(big + n, 'A', 176); /* 132-byte salt */
	strcpy(big + n + 176, ",i=4096");
	CHECK_EQ_INT(CFINAL_ERR(big), SCRAM_E_SALT);
	memset(big + n, 'A', 10240);
	strcpy(big + n + 10240, ",i=4096");
	CHECK_EQ_INT(CFINAL_ERR(big), SCRAM_E_TOO_LONG);

	CHECK_EQ_INT(CVERIFY_ERR(PY_SFIN), SCRAM_OK);
	CHECK_EQ_INT(CVERIFY_ERR("e=invalid-proof"), SCRAM_E_SERVER_ERROR);
	CHECK_EQ_INT(CVERIFY_ERR("v=bJcl/rmLS841pT/yvK0Pl8jeqturlgHL0bdFPLiWTAk="), SCRAM_E_SERVER_SIGNATURE);
	CHECK_EQ_INT(CVERIFY_ERR("v=AAAA"), SCRAM_E_PROOF_LENGTH);
	CHECK_EQ_INT(CVERIFY_ERR("v=bJcl/rmLS841pT/yvK0Pl8jeqturlgHL0bdFPLiW!Ag="), SCRAM_E_BASE64);
	CHECK_EQ_INT(CVERIFY_ERR("x=1"), SCRAM_E_ATTR);
	CHECK_EQ_INT(CVERIFY_ERR(""), SCRAM_E_ATTR);

	/* a lower iteration cap set by the caller is honoured */
	struct scram_client c;
	scram_client_init_password(&c, PY_PW, strlen(PY_PW));
	c.max_iterations = 4095;
	scram_client_first_nonce(&c, "", PY_CNONCE, strlen(PY_CNONCE));
	CHECK_EQ_INT(scram_client_final(&c, (const uint8_t *)PY_SF, strlen(PY_SF)), -1);
	CHECK_EQ_INT(scram_client_error(&c), SCRAM_E_ITERATIONS);
	CHECK(scram_client_output(&c, &n) == NULL);
	/* out of order */
	scram_client_init_password(&c, PY_PW, strlen(PY_PW));
	CHECK_EQ_INT(scram_client_final(&c, (const uint8_t *)PY_SF, strlen(PY_SF)), -1);
	CHECK_EQ_INT(scram_client_error(&c), SCRAM_E_STATE);
}

/* Make a throwaway self-signed EC certificate signed with the given digest. */
static X509 *make_cert(const EVP_MD *md)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	if (!key || !x)
		abort();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"pgrouter-test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (!X509_sign(x, key, md))
		abort();
	EVP_PKEY_free(key);
	return x;
}

/* tls-server-end-point: the signature's digest, except MD5/SHA-1 become SHA-256. */
static void test_endpoint_hash(void)
{
	uint8_t h[SCRAM_MAX_CBIND], want[EVP_MAX_MD_SIZE];
	size_t n = 0;
	unsigned int wn = 0;
	X509 *x = make_cert(EVP_sha384());
	CHECK_EQ_INT(scram_tls_endpoint_hash(x, h, &n), 0);
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der);
	EVP_Digest(der, (size_t)dl, want, &wn, EVP_sha384(), NULL);
	CHECK(n == 48 && wn == 48 && memcmp(h, want, 48) == 0);
	OPENSSL_free(der);
	X509_free(x);
	x = make_cert(EVP_sha1());
	CHECK_EQ_INT(scram_tls_endpoint_hash(x, h, &n), 0);
	der = NULL;
	dl = i2d_X509(x, &der);
	EVP_Digest(der, (size_t)dl, want, &wn, EVP_sha256(), NULL);
	CHECK(n == 32 && memcmp(h, want, 32) == 0);
	OPENSSL_free(der);
	X509_free(x);
	CHECK_EQ_INT(scram_tls_endpoint_hash(NULL, h, &n), -1);
}

/* Every code has its own description. */
static void test_strerror(void)
{
	for (int i = 0; i < SCRAM_E_COUNT; i++) {
		const char *a = scram_strerror((enum scram_err)i);
		CHECK(a != NULL && a[0] != '\0');
		for (int j = 0; j < i; j++)
			CHECK(strcmp(a, scram_strerror((enum scram_err)j)) != 0);
	}
	CHECK_EQ_STR(scram_strerror(SCRAM_E_COUNT), "unknown error");
}

/* Run every group; the last line is the tally run_all.sh reads. */
int main(void)
{
	test_b64();
	test_secret();
	test_rfc7677();
	test_python_server();
	test_python_client();
	test_round_trip();
	test_passthrough();
	test_doomed();
	test_bad_client_first();
	test_bad_client_final();
	test_channel_binding();
	test_bad_server_messages();
	test_endpoint_hash();
	test_strerror();
	return unit_done("test_scram");
}
