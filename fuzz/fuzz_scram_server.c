/* libFuzzer target: the SCRAM-SHA-256 server side (pgrouter checking a client) fed hostile client messages. */
#include <openssl/sha.h>

#include "auth/scram.h"
#include "fuzz_common.h"

/* Input layout: one flag byte, then client-first-message, a NUL, client-final-message
 * (the rest, NULs included, so the NUL check is exercised too). Flags (low bits, so
 * '0'..'7' make readable seeds): bit 0 the connection is TLS (PLUS is offered),
 * bit 1 the client picks SCRAM-SHA-256-PLUS, bit 2 the user is unknown (doomed).
 *
 * The secret is password "correct horse battery staple", 4096 iterations; the
 * server nonce is fixed so that a seed holding a valid proof reaches success. The
 * matching client messages are in fuzz/corpus/fuzz_scram_server/. */
#define SECRET "SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88="
#define SERVER_NONCE "3rfcNHYJY1ZVvWVs7j0hLm1x"

/* tls-server-end-point data of the seeds: SHA-256("fake certificate"). */
static const uint8_t cbind[32] = {
	0x87, 0x1e, 0x65, 0x1f, 0x0d, 0x9d, 0x7a, 0xa7, 0x03, 0xdd, 0x70, 0x69, 0xd1, 0x1a, 0x37, 0x8d,
	0x4f, 0x84, 0x78, 0x10, 0xe8, 0xbe, 0x77, 0x30, 0xa8, 0xf9, 0x3a, 0xea, 0x91, 0x5b, 0xf8, 0xb8,
};

/* Key for the doomed exchange's mock salt; any constant will do. */
static const uint8_t mock_key[SCRAM_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* The output after a successful step: present, bounded, starting with prefix. */
static void check_output(const struct scram_server *s, const char *prefix)
{
	size_t n = 0;
	const char *o = scram_server_output(s, &n);
	FUZZ_CHECK(o != NULL && n >= strlen(prefix) && n <= SCRAM_MAX_MSG);
	FUZZ_CHECK(memcmp(o, prefix, strlen(prefix)) == 0);
}

/* After a failed step: an error code, no output, and no further step succeeds. */
static void check_failed(struct scram_server *s, const uint8_t *msg, size_t len)
{
	size_t n = 1;
	enum scram_err e = scram_server_error(s);
	FUZZ_CHECK(e != SCRAM_OK && e < SCRAM_E_COUNT && scram_strerror(e) != NULL);
	FUZZ_CHECK(scram_server_output(s, &n) == NULL && n == 0);
	FUZZ_CHECK(scram_server_final(s, msg, len) != 0);
	uint8_t ck[SCRAM_KEY_LEN];
	FUZZ_CHECK(scram_server_client_key(s, ck) != 0);
}

/* A verified proof: only for a real user, and the recovered ClientKey hashes to StoredKey. */
static void check_success(struct scram_server *s, const struct scram_secret *sec, bool doomed,
                          const uint8_t *msg, size_t len)
{
	uint8_t ck[SCRAM_KEY_LEN], h[SHA256_DIGEST_LENGTH];
	FUZZ_CHECK(!doomed); /* an unknown user must never authenticate */
	FUZZ_CHECK(scram_server_error(s) == SCRAM_OK);
	check_output(s, "v=");
	FUZZ_CHECK(scram_server_client_key(s, ck) == 0);
	SHA256(ck, sizeof ck, h);
	FUZZ_CHECK(memcmp(h, sec->stored_key, SCRAM_KEY_LEN) == 0);
	/* The exchange is over: replaying the final message must not succeed again. */
	FUZZ_CHECK(scram_server_final(s, msg, len) != 0 && scram_server_error(s) == SCRAM_E_STATE);
}

/* Run one exchange with the given flags and client messages. */
static void exchange(unsigned flags, const struct fuzz_part *first, const struct fuzz_part *final,
                     bool have_final, const struct scram_secret *sec)
{
	bool tls = flags & 1, plus = flags & 2, doomed = flags & 4;
	struct scram_server s;
	int rc = doomed ? scram_server_init_doomed(&s, mock_key, "fuzzuser", tls ? cbind : NULL,
	                                           sizeof cbind)
	                : scram_server_init(&s, sec, tls ? cbind : NULL, sizeof cbind);
	FUZZ_CHECK(rc == 0);
	rc = scram_server_first_nonce(&s, plus ? SCRAM_MECH_PLUS : SCRAM_MECH, first->p, first->n,
	                              SERVER_NONCE, strlen(SERVER_NONCE));
	if (rc != 0) {
		check_failed(&s, final->p, final->n);
	} else {
		FUZZ_CHECK(!plus || tls); /* PLUS is only accepted where it was offered */
		check_output(&s, "r=");
		if (have_final) {
			if (scram_server_final(&s, final->p, final->n) == 0)
				check_success(&s, sec, doomed, final->p, final->n);
			else
				check_failed(&s, final->p, final->n);
		}
	}
	scram_server_wipe(&s);
}

/* Entry point: split the input into the two client messages (exact-size copies). */
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
	exchange(data[0] & 7u, &c1, &c2, have_final, &sec);
	free(m1);
	free(m2);
	return 0;
}
