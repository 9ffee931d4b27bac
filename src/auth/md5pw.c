/* PostgreSQL md5 password authentication: secrets, salted responses, verification. */
#include "auth/md5pw.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/scram.h"

/* out = "md5" + lowercase hex of md5(a || b). */
static int md5_hex2(const void *a, size_t alen, const void *b, size_t blen, char out[MD5PW_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	int rc = -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 || EVP_DigestUpdate(ctx, a, alen) != 1 ||
	    EVP_DigestUpdate(ctx, b, blen) != 1 || EVP_DigestFinal_ex(ctx, d, &dl) != 1 || dl != 16)
		goto out;
	memcpy(out, "md5", 3);
	for (unsigned int i = 0; i < 16; i++) {
		out[3 + 2 * i] = hex[d[i] >> 4];
		out[4 + 2 * i] = hex[d[i] & 15];
	}
	out[MD5PW_LEN] = '\0';
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(d, sizeof d);
	return rc;
}

/* "md5" + 32 lowercase hex digits, nothing else. */
bool md5pw_is_secret(const char *s, size_t len)
{
	if (len != MD5PW_LEN || memcmp(s, "md5", 3) != 0)
		return false;
	for (size_t i = 3; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* md5(password || user), as PostgreSQL stores it. */
int md5pw_secret(const char *user, const char *pw, size_t pw_len, char out[MD5PW_LEN + 1])
{
	if (!user || !pw || pw_len == 0)
		return -1;
	return md5_hex2(pw, pw_len, user, strlen(user), out);
}

/* md5(hex part of the secret || salt). */
int md5pw_response(const char *secret, size_t secret_len, const uint8_t salt[MD5PW_SALT_LEN], char out[MD5PW_LEN + 1])
{
	if (!md5pw_is_secret(secret, secret_len))
		return -1;
	return md5_hex2(secret + 3, 32, salt, MD5PW_SALT_LEN, out);
}

/* Response from a clear-text password or an md5 secret; SCRAM secrets cannot answer. */
int md5pw_client_response(const char *user, const char *stored, size_t stored_len, const uint8_t salt[MD5PW_SALT_LEN],
                          char out[MD5PW_LEN + 1])
{
	char sec[MD5PW_LEN + 1];
	int rc;
	if (!stored || stored_len == 0 || scram_secret_has_prefix(stored, stored_len))
		return -1;
	if (md5pw_is_secret(stored, stored_len))
		return md5pw_response(stored, stored_len, salt, out);
	rc = md5pw_secret(user, stored, stored_len, sec);
	if (rc == 0)
		rc = md5pw_response(sec, MD5PW_LEN, salt, out);
	OPENSSL_cleanse(sec, sizeof sec);
	return rc;
}

/* Compute what the client should have sent and compare in constant time. */
int md5pw_verify(const char *user, const char *stored, size_t stored_len, const uint8_t salt[MD5PW_SALT_LEN],
                 const char *resp, size_t resp_len)
{
	char want[MD5PW_LEN + 1];
	int rc = -1;
	if (!resp || md5pw_client_response(user, stored, stored_len, salt, want) != 0)
		goto out;
	/* Length is public (always 35 for a well-formed answer); content is not. */
	if (resp_len == MD5PW_LEN && CRYPTO_memcmp(want, resp, MD5PW_LEN) == 0)
		rc = 0;
out:
	OPENSSL_cleanse(want, sizeof want);
	return rc;
}
