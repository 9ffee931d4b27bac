/* libFuzzer target: authfile_parse (PgBouncer userlist format) and the checks done with the secrets it loads. */
#include "auth/authfile.h"
#include "auth/md5pw.h"
#include "auth/scram.h"
#include "auth/secret.h"
#include "fuzz_common.h"

/* Checking a password against a SCRAM secret runs PBKDF2 at the secret's own count
 * (up to INT_MAX, trusted config); the harness skips counts above this to stay fast. */
#define FUZZ_MAX_ITERATIONS 64

/* Field-wise equality of two parsed secrets (salt bytes past salt_len are unspecified). */
static bool secrets_equal(const struct scram_secret *a, const struct scram_secret *b)
{
	return a->iterations == b->iterations && a->salt_len == b->salt_len &&
	       a->salt_len <= SCRAM_MAX_SALT && memcmp(a->salt, b->salt, a->salt_len) == 0 &&
	       memcmp(a->stored_key, b->stored_key, SCRAM_KEY_LEN) == 0 &&
	       memcmp(a->server_key, b->server_key, SCRAM_KEY_LEN) == 0;
}

/* A SCRAM entry keeps its parsed form, and formatting it gives text that parses back to the same. */
static void check_scram_entry(const struct authfile_entry *e)
{
	struct scram_secret again, direct;
	char buf[SCRAM_SECRET_MAX_LEN];
	FUZZ_CHECK(scram_secret_parse(e->secret, e->secret_len, &direct) == 0);
	FUZZ_CHECK(secrets_equal(&direct, &e->scram));
	FUZZ_CHECK(scram_secret_format(&e->scram, buf, sizeof buf) == 0);
	FUZZ_CHECK(scram_secret_parse(buf, strlen(buf), &again) == 0);
	FUZZ_CHECK(secrets_equal(&again, &e->scram));
	/* Strict base64 gives one spelling per value, so the text itself round-trips. */
	FUZZ_CHECK(strlen(buf) == e->secret_len && memcmp(buf, e->secret, e->secret_len) == 0);
}

/* Password checks against one entry: a clear-text secret accepts itself, md5 and
 * SCRAM secrets accept the password they were made from, nothing accepts "". */
static void check_passwords(const struct authfile_entry *e)
{
	static const uint8_t salt[MD5PW_SALT_LEN] = {0xde, 0xad, 0xbe, 0xef};
	char resp[MD5PW_LEN + 1];
	FUZZ_CHECK(auth_password_check(e->user, e->secret, e->secret_len, "", 0) != 0);
	if (e->kind == AUTH_SECRET_SCRAM && e->scram.iterations > FUZZ_MAX_ITERATIONS)
		return;
	if (e->kind == AUTH_SECRET_PLAIN && e->secret_len > 0)
		FUZZ_CHECK(auth_password_check(e->user, e->secret, e->secret_len, e->secret,
		                               e->secret_len) == 0);
	(void)auth_password_check(e->user, e->secret, e->secret_len, "fuzz", 4);
	/* md5 login against this entry: our own correct response must verify. */
	if (md5pw_client_response(e->user, e->secret, e->secret_len, salt, resp) == 0)
		FUZZ_CHECK(md5pw_verify(e->user, e->secret, e->secret_len, salt, resp, MD5PW_LEN) == 0);
}

/* Everything a loaded file promises: sorted unique users, valid kinds, working lookups. */
static void check_loaded(const struct authfile *af)
{
	for (size_t i = 0; i < af->count; i++) {
		const struct authfile_entry *e = &af->entries[i];
		FUZZ_CHECK(e->user && e->user[0] != '\0' && strlen(e->user) <= AUTHFILE_MAX_USER);
		FUZZ_CHECK(e->secret && strlen(e->secret) == e->secret_len);
		FUZZ_CHECK(e->secret_len <= AUTHFILE_MAX_SECRET && e->line >= 1);
		FUZZ_CHECK(e->kind == auth_secret_kind(e->secret, e->secret_len));
		FUZZ_CHECK(e->kind != AUTH_SECRET_INVALID);
		FUZZ_CHECK(i == 0 || strcmp(af->entries[i - 1].user, e->user) < 0);
		FUZZ_CHECK(authfile_lookup(af, e->user) == e);
		if (e->kind == AUTH_SECRET_SCRAM)
			check_scram_entry(e);
		check_passwords(e);
	}
	FUZZ_CHECK(authfile_lookup(af, "") == NULL);
}

/* Entry point: parse an exact-size copy of the input as a whole file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	char *buf = (char *)fuzz_memdup(data, size);
	char err[256];
	struct authfile *af = NULL;
	if (authfile_parse(buf, size, &af, err, sizeof err) == 0) {
		FUZZ_CHECK(af != NULL);
		check_loaded(af);
		authfile_free(af);
	} else {
		FUZZ_CHECK(strncmp(err, "line ", 5) == 0);
	}
	free(buf);
	return 0;
}
