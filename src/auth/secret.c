/* What kind of stored secret a string is, and clear-text password checks against any kind. */
#include "auth/secret.h"

#include <string.h>

#include <openssl/crypto.h>

#include "auth/md5pw.h"
#include "auth/scram.h"
#include "auth/scram_int.h"

/* Classify by shape: a SCRAM prefix must parse, md5 needs its exact form. */
enum auth_secret_kind auth_secret_kind(const char *s, size_t len)
{
	struct scram_secret sec;
	if (scram_secret_has_prefix(s, len)) {
		if (scram_secret_parse(s, len, &sec) != 0)
			return AUTH_SECRET_INVALID;
		OPENSSL_cleanse(&sec, sizeof sec);
		return AUTH_SECRET_SCRAM;
	}
	if (md5pw_is_secret(s, len))
		return AUTH_SECRET_MD5;
	return AUTH_SECRET_PLAIN;
}

/* Compare SHA-256 digests so neither length nor content leaks through timing. */
static int plain_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	uint8_t ha[SCRAM_KEY_LEN], hb[SCRAM_KEY_LEN];
	if (scram_sha256(a, alen, ha) || scram_sha256(b, blen, hb))
		return -1;
	return CRYPTO_memcmp(ha, hb, sizeof ha) == 0 ? 0 : -1;
}

/* Derive what the stored form would be from pw, then compare in constant time. */
int auth_password_check(const char *user, const char *stored, size_t stored_len, const char *pw, size_t pw_len)
{
	char md5[MD5PW_LEN + 1];
	struct scram_secret sec, mine;
	int rc = -1;
	if (!stored || !pw || stored_len == 0 || pw_len == 0 || memchr(pw, '\0', pw_len))
		return -1;
	switch (auth_secret_kind(stored, stored_len)) {
	case AUTH_SECRET_PLAIN: rc = plain_equal(stored, stored_len, pw, pw_len); break;
	case AUTH_SECRET_MD5:
		if (md5pw_secret(user, pw, pw_len, md5) == 0)
			rc = CRYPTO_memcmp(md5, stored, MD5PW_LEN) == 0 ? 0 : -1;
		break;
	case AUTH_SECRET_SCRAM:
		if (scram_secret_parse(stored, stored_len, &sec) == 0 &&
		    scram_secret_from_password(pw, pw_len, sec.salt, sec.salt_len, sec.iterations, &mine, NULL) == 0)
			rc = (CRYPTO_memcmp(mine.stored_key, sec.stored_key, SCRAM_KEY_LEN) |
			      CRYPTO_memcmp(mine.server_key, sec.server_key, SCRAM_KEY_LEN)) == 0
			        ? 0
			        : -1;
		break;
	case AUTH_SECRET_INVALID: break;
	}
	OPENSSL_cleanse(md5, sizeof md5);
	OPENSSL_cleanse(&sec, sizeof sec);
	OPENSSL_cleanse(&mine, sizeof mine);
	return rc;
}
