/* Unit tests for read-your-writes pure parts: LSN text form and the consistency-key table. */
#include "session/ryw.h"
#include "cluster/ryw_store.h"
#include "unit.h"

#include <stdint.h>
#include <stdio.h>

#define SEC 1000000LL

/* LSNs as PostgreSQL prints them, both ways; anything else is refused. */
static void test_lsn_text(void)
{
	uint64_t v = 1;
	char buf[32];
	CHECK_EQ_INT(ryw_parse_lsn("0/3000148", 9, &v), 0);
	CHECK(v == 0x3000148u);
	CHECK_EQ_STR(ryw_format_lsn(v, buf, sizeof buf), "0/3000148");
	CHECK_EQ_INT(ryw_parse_lsn("16/B374D848", 11, &v), 0);
	CHECK(v == ((uint64_t)0x16 << 32 | 0xB374D848u));
	CHECK_EQ_STR(ryw_format_lsn(v, buf, sizeof buf), "16/B374D848");
	CHECK_EQ_INT(ryw_parse_lsn("ffffffff/ffffffff", 17, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ_STR(ryw_format_lsn(0, buf, sizeof buf), "0/0");
	/* the length bounds the text: a DataRow value is not NUL-terminated */
	CHECK_EQ_INT(ryw_parse_lsn("0/1FFFF", 5, &v), 0);
	CHECK(v == 0x1FF);
	const char *bad[] = { "", "/", "0/", "/1", "0/1/2", "0x/1", "1 /2", "100000000/0", "0/123456789", "G/1", "01" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = 7;
		CHECK_EQ_INT(ryw_parse_lsn(bad[i], strlen(bad[i]), &v), -1);
		CHECK(v == 7);
	}
	/* round trip over a spread of values */
	for (uint64_t x = 1; x < UINT64_MAX / 3; x = x * 3 + 1) {
		uint64_t back = 0;
		ryw_format_lsn(x, buf, sizeof buf);
		CHECK(ryw_parse_lsn(buf, strlen(buf), &back) == 0 && back == x);
	}
}

/* A key keeps the highest LSN noted, expires after the TTL, and the table drops its least recent key. */
static void test_keys(void)
{
	ryw_key_clear();
	CHECK(ryw_key_get("user:42", 0, 60 * SEC) == 0);
	ryw_key_note("user:42", 500, 1 * SEC, 60 * SEC, 3);
	ryw_key_note("user:42", 300, 2 * SEC, 60 * SEC, 3);   /* an older commit never lowers it */
	CHECK(ryw_key_get("user:42", 3 * SEC, 60 * SEC) == 500);
	ryw_key_note("user:42", 900, 4 * SEC, 60 * SEC, 3);
	CHECK(ryw_key_get("user:42", 5 * SEC, 60 * SEC) == 900);
	CHECK(ryw_key_get("user:43", 5 * SEC, 60 * SEC) == 0);
	CHECK_EQ_INT(ryw_key_count(), 1);
	/* TTL counts from the last write, not from the last read */
	CHECK(ryw_key_get("user:42", 63 * SEC, 60 * SEC) == 900);
	CHECK(ryw_key_get("user:42", 64 * SEC + 1, 60 * SEC) == 0);
	CHECK_EQ_INT(ryw_key_count(), 0);
	/* bounded: a fourth key evicts the least recently written one */
	ryw_key_note("a", 1, 100 * SEC, 60 * SEC, 3);
	ryw_key_note("b", 2, 101 * SEC, 60 * SEC, 3);
	ryw_key_note("c", 3, 102 * SEC, 60 * SEC, 3);
	ryw_key_note("a", 4, 103 * SEC, 60 * SEC, 3);   /* "a" is now the most recent */
	ryw_key_note("d", 5, 104 * SEC, 60 * SEC, 3);
	CHECK_EQ_INT(ryw_key_count(), 3);
	CHECK(ryw_key_get("b", 105 * SEC, 60 * SEC) == 0);
	CHECK(ryw_key_get("a", 105 * SEC, 60 * SEC) == 4);
	CHECK(ryw_key_get("c", 105 * SEC, 60 * SEC) == 3);
	CHECK(ryw_key_get("d", 105 * SEC, 60 * SEC) == 5);
	/* many keys through a small table: the count never exceeds the bound */
	char k[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ryw_key_note(k, (uint64_t)i, 200 * SEC + i, 60 * SEC, 100);
	}
	CHECK_EQ_INT(ryw_key_count(), 100);
	CHECK(ryw_key_get("k9999", 200 * SEC + 10000, 60 * SEC) == 9999);
	CHECK(ryw_key_get("k9899", 200 * SEC + 10000, 60 * SEC) == 0);
	ryw_key_clear();
	CHECK_EQ_INT(ryw_key_count(), 0);
}

/* consistency_store URLs: redis://host[:port], [v6]; anything else is refused at config load. */
static void test_store_url(void)
{
	char host[64];
	int port = 0;
	CHECK_EQ_INT(ryw_store_parse_url("redis://127.0.0.1:6380", host, sizeof host, &port), 0);
	CHECK_EQ_STR(host, "127.0.0.1");
	CHECK_EQ_INT(port, 6380);
	CHECK_EQ_INT(ryw_store_parse_url("redis://cache.local", host, sizeof host, &port), 0);
	CHECK_EQ_STR(host, "cache.local");
	CHECK_EQ_INT(port, 6379);
	CHECK_EQ_INT(ryw_store_parse_url("redis://[::1]:7000/", host, sizeof host, &port), 0);
	CHECK_EQ_STR(host, "::1");
	CHECK_EQ_INT(port, 7000);
	const char *bad[] = { "", "127.0.0.1:6379", "http://h:1", "redis://", "redis://:6379", "redis://h:0",
	                      "redis://h:65536", "redis://h:x", "redis://h:1/2", "redis://u@h:1", "redis://[::1",
	                      "redis://[::1]x", "redis://h:" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(ryw_store_parse_url(bad[i], host, sizeof host, &port), -1);
	char tiny[4];
	CHECK_EQ_INT(ryw_store_parse_url("redis://longname:1", tiny, sizeof tiny, &port), -1);
}

int main(void)
{
	test_lsn_text();
	test_keys();
	test_store_url();
	return unit_done("test_ryw");
}
