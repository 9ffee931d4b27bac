/* libFuzzer target: the SCRAM-SHA-256 client side (pgrouter logging in to PostgreSQL) fed hostile server messages. */
#include "auth/scram.h"
#include "fuzz_common.h"

/* Input layout: one flag byte, then server-first-message, a NUL, server-final-message
 * (the rest, NULs included). Flags (low bits, so '0'..'3' make readable seeds):
 * bit 0 passthrough (a ClientKey and secret instead of a password), bit 1 a user
 * name that needs escaping instead of libpq's empty one.
 *
 * Password mode derives keys with PBKDF2 at the server's iteration count, so the
 * harness lowers max_iterations to keep runs fast; the password seed uses i=16.
 * Passthrough needs the secret's own count (4096) but no PBKDF2. The client nonce
 * is fixed, so seeds with valid server signatures reach success; the matching
 * server messages are in fuzz/corpus/fuzz_scram_client/. */
#define PASSWORD "correct horse battery staple"
#define CLIENT_NONCE "fyko+d2lbbFgONRv9qkxdawL"
#define FUZZ_MAX_ITERATIONS 64
#define SECRET "SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88="

/* ClientKey belonging to SECRET. */
static const uint8_t client_key[SCRAM_KEY_LEN] = {
	0x7d, 0xb5, 0x87, 0x57, 0xbd, 0x22, 0x0e, 0xa0, 0x12, 0x25, 0xa1, 0xe9, 0xed, 0xb9, 0x99, 0xf3,
	0xe4, 0x4a, 0x22, 0x03, 0xd8, 0xc6, 0x96, 0x8e, 0xeb, 0x30, 0x60, 0x19, 0xd7, 0x14, 0xad, 0x2c,
};

/* After a failed step: an error code, no output, and no later step succeeds. */
static void check_failed(struct scram_client *c, const uint8_t *msg, size_t len)
{
	size_t n = 1;
	enum scram_err e = scram_client_error(c);
	FUZZ_CHECK(e != SCRAM_OK && e < SCRAM_E_COUNT && scram_strerror(e) != NULL);
	FUZZ_CHECK(scram_client_output(c, &n) == NULL && n == 0);
	FUZZ_CHECK(scram_client_verify(c, msg, len) != 0);
}

/* client-final after a good server-first: "c=biws,r=<nonce that extends ours>,p=<44>". */
static void check_client_final(const struct scram_client *c, const struct fuzz_part *sfirst)
{
	size_t n = 0;
	const char *o = scram_client_output(c, &n);
	const char *pre = "c=biws,r=" CLIENT_NONCE;
	FUZZ_CHECK(o != NULL && n <= SCRAM_MAX_MSG && n > strlen(pre) + 47);
	FUZZ_CHECK(memcmp(o, pre, strlen(pre)) == 0);
	FUZZ_CHECK(memcmp(o + n - 47, ",p=", 3) == 0);
	/* The combined nonce we echo is the one the server sent. */
	FUZZ_CHECK(sfirst->n > 2 && memcmp(sfirst->p, "r=", 2) == 0);
	FUZZ_CHECK(memcmp(o + 9, sfirst->p + 2, n - 47 - 9) == 0);
}

/* Run one login: our client-first, the fuzzed server-first, our client-final, the fuzzed server-final. */
static void exchange(unsigned flags, const struct fuzz_part *sfirst, const struct fuzz_part *sfinal,
                     bool have_final, const struct scram_secret *sec)
{
	struct scram_client c;
	if (flags & 1) {
		FUZZ_CHECK(scram_client_init_passthrough(&c, sec, client_key) == 0);
	} else {
		FUZZ_CHECK(scram_client_init_password(&c, PASSWORD, strlen(PASSWORD)) == 0);
		c.max_iterations = FUZZ_MAX_ITERATIONS;
	}
	const char *user = (flags & 2) ? "fuzz,user=x" : "";
	FUZZ_CHECK(scram_client_first_nonce(&c, user, CLIENT_NONCE, strlen(CLIENT_NONCE)) == 0);
	size_t n = 0;
	FUZZ_CHECK(scram_client_output(&c, &n) != NULL && n > 3);
	if (scram_client_final(&c, sfirst->p, sfirst->n) != 0) {
		check_failed(&c, sfinal->p, sfinal->n);
	} else {
		check_client_final(&c, sfirst);
		if (have_final) {
			if (scram_client_verify(&c, sfinal->p, sfinal->n) == 0) {
				FUZZ_CHECK(scram_client_error(&c) == SCRAM_OK);
				/* Done: a second verify is out of order. */
				FUZZ_CHECK(scram_client_verify(&c, sfinal->p, sfinal->n) != 0 &&
				           scram_client_error(&c) == SCRAM_E_STATE);
			} else {
				check_failed(&c, sfinal->p, sfinal->n);
			}
		}
	}
	scram_client_wipe(&c);
}

/* Entry point: split the input into the two server messages (exact-size copies). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scram_secret sec;
	FUZZ_CHECK(scram_secret_parse(SECRET, strlen(SECRET), &sec) == 0);
	if (size < 1 || size > 4 * SCRAM_MAX_MSG)
		return 0;
	size_t pos = 1;
	struct fuzz_part first = {data, 0}, final = {data, 0};
	fuzz_next_part(data, size, &pos, false, &first);
	bool have_final = fuzz_next_part(data, size, &pos, true, &final);
	uint8_t *m1 = fuzz_memdup(first.p, first.n), *m2 = fuzz_memdup(final.p, final.n);
	struct fuzz_part c1 = {m1, first.n}, c2 = {m2, final.n};
	exchange(data[0] & 3u, &c1, &c2, have_final, &sec);
	free(m1);
	free(m2);
	return 0;
}
