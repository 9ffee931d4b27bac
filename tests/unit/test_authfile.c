/* Unit tests for md5 passwords, secret kinds, clear-text checks and the auth_file parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/authfile.h"
#include "auth/md5pw.h"
#include "auth/secret.h"
#include "unit.h"

/* md5 vectors computed with Python's hashlib for user "alice", password "secretpw". */
#define MD5_SECRET "md5e04f0879d4705409402cbd7dce85defb"
#define MD5_RESP_01020304 "md51c32133f2811b9ed4ec031ea397ba262"
#define MD5_RESP_FF00A57E "md5d189cc2c1d20c0d011b0b59c63bd0fec"
/* SCRAM secret of "correct horse battery staple" (Python, see test_scram.c). */
#define SCRAM_SECRET "SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88="

static const uint8_t salt1[4] = {0x01, 0x02, 0x03, 0x04};
static const uint8_t salt2[4] = {0xff, 0x00, 0xa5, 0x7e};

/* md5 secrets and salted responses, as client and as server. */
static void test_md5(void)
{
	char out[MD5PW_LEN + 1];
	CHECK_EQ_INT(md5pw_secret("alice", "secretpw", 8, out), 0);
	CHECK_EQ_STR(out, MD5_SECRET);
	CHECK_EQ_INT(md5pw_response(MD5_SECRET, MD5PW_LEN, salt1, out), 0);
	CHECK_EQ_STR(out, MD5_RESP_01020304);
	CHECK_EQ_INT(md5pw_response(MD5_SECRET, MD5PW_LEN, salt2, out), 0);
	CHECK_EQ_STR(out, MD5_RESP_FF00A57E);
	CHECK_EQ_INT(md5pw_response("secretpw", 8, salt1, out), -1);
	CHECK_EQ_INT(md5pw_secret("alice", "", 0, out), -1);

	/* as a client: from the clear-text password, or from the md5 secret alone */
	CHECK_EQ_INT(md5pw_client_response("alice", "secretpw", 8, salt1, out), 0);
	CHECK_EQ_STR(out, MD5_RESP_01020304);
	CHECK_EQ_INT(md5pw_client_response("alice", MD5_SECRET, MD5PW_LEN, salt2, out), 0);
	CHECK_EQ_STR(out, MD5_RESP_FF00A57E);
	CHECK_EQ_INT(md5pw_client_response("alice", SCRAM_SECRET, strlen(SCRAM_SECRET), salt1, out), -1);
	CHECK_EQ_INT(md5pw_client_response("alice", "", 0, salt1, out), -1);

	/* as a server */
	CHECK_EQ_INT(md5pw_verify("alice", MD5_SECRET, MD5PW_LEN, salt1, MD5_RESP_01020304, MD5PW_LEN), 0);
	CHECK_EQ_INT(md5pw_verify("alice", "secretpw", 8, salt1, MD5_RESP_01020304, MD5PW_LEN), 0);
	CHECK_EQ_INT(md5pw_verify("alice", MD5_SECRET, MD5PW_LEN, salt2, MD5_RESP_01020304, MD5PW_LEN), -1);
	CHECK_EQ_INT(md5pw_verify("bob", "secretpw", 8, salt1, MD5_RESP_01020304, MD5PW_LEN), -1);
	CHECK_EQ_INT(md5pw_verify("alice", "secretpw!", 9, salt1, MD5_RESP_01020304, MD5PW_LEN), -1);
	CHECK_EQ_INT(md5pw_verify("alice", MD5_SECRET, MD5PW_LEN, salt1, MD5_RESP_01020304, 34), -1);
	CHECK_EQ_INT(md5pw_verify("alice", MD5_SECRET, MD5PW_LEN, salt1,
	                          "MD51C32133F2811B9ED4EC031EA397BA262", MD5PW_LEN), -1);
	CHECK_EQ_INT(md5pw_verify("alice", MD5_SECRET, MD5PW_LEN, salt1, MD5_SECRET, MD5PW_LEN), -1);
	CHECK_EQ_INT(md5pw_verify("alice", "", 0, salt1, MD5_RESP_01020304, MD5PW_LEN), -1);
	CHECK_EQ_INT(md5pw_verify("alice", SCRAM_SECRET, strlen(SCRAM_SECRET), salt1,
	                          MD5_RESP_01020304, MD5PW_LEN), -1);
	CHECK_EQ_INT(md5pw_verify("alice", MD5_SECRET, MD5PW_LEN, salt1, NULL, 0), -1);

	CHECK(md5pw_is_secret(MD5_SECRET, MD5PW_LEN));
	CHECK(!md5pw_is_secret("md5E04F0879D4705409402CBD7DCE85DEFB", MD5PW_LEN));
	CHECK(!md5pw_is_secret("md5e04f0879d4705409402cbd7dce85def", 34));
	CHECK(!md5pw_is_secret("md5e04f0879d4705409402cbd7dce85defg", MD5PW_LEN));
	CHECK(!md5pw_is_secret("xyze04f0879d4705409402cbd7dce85defb", MD5PW_LEN));
}

/* Secret classification and clear-text password checks against each kind. */
static void test_secret_kinds(void)
{
	CHECK_EQ_INT(auth_secret_kind("hunter2", 7), AUTH_SECRET_PLAIN);
	CHECK_EQ_INT(auth_secret_kind("", 0), AUTH_SECRET_PLAIN);
	CHECK_EQ_INT(auth_secret_kind(MD5_SECRET, MD5PW_LEN), AUTH_SECRET_MD5);
	CHECK_EQ_INT(auth_secret_kind("md5short", 8), AUTH_SECRET_PLAIN);
	CHECK_EQ_INT(auth_secret_kind(SCRAM_SECRET, strlen(SCRAM_SECRET)), AUTH_SECRET_SCRAM);
	CHECK_EQ_INT(auth_secret_kind("SCRAM-SHA-256$1:x", 17), AUTH_SECRET_INVALID);

	const char *pw = "correct horse battery staple";
	CHECK_EQ_INT(auth_password_check("alice", "secretpw", 8, "secretpw", 8), 0);
	CHECK_EQ_INT(auth_password_check("alice", "secretpw", 8, "secretpx", 8), -1);
	CHECK_EQ_INT(auth_password_check("alice", "secretpw", 8, "secretp", 7), -1);
	CHECK_EQ_INT(auth_password_check("alice", MD5_SECRET, MD5PW_LEN, "secretpw", 8), 0);
	CHECK_EQ_INT(auth_password_check("bob", MD5_SECRET, MD5PW_LEN, "secretpw", 8), -1);
	CHECK_EQ_INT(auth_password_check("alice", MD5_SECRET, MD5PW_LEN, MD5_SECRET, MD5PW_LEN), -1);
	CHECK_EQ_INT(auth_password_check("x", SCRAM_SECRET, strlen(SCRAM_SECRET), pw, strlen(pw)), 0);
	CHECK_EQ_INT(auth_password_check("x", SCRAM_SECRET, strlen(SCRAM_SECRET), "wrong", 5), -1);
	CHECK_EQ_INT(auth_password_check("x", SCRAM_SECRET, strlen(SCRAM_SECRET), SCRAM_SECRET,
	                                 strlen(SCRAM_SECRET)), -1);
	CHECK_EQ_INT(auth_password_check("alice", "", 0, "", 0), -1);  /* empty never matches */
	CHECK_EQ_INT(auth_password_check("alice", "secretpw", 8, "", 0), -1);
	CHECK_EQ_INT(auth_password_check("alice", "a", 1, "a\0b", 3), -1);
}

/* Parse buf; on failure return the error text (static), on success "ok". */
static const char *parse_err(const char *buf)
{
	static char err[256];
	struct authfile *af = NULL;
	if (authfile_parse(buf, strlen(buf), &af, err, sizeof err) == 0) {
		authfile_free(af);
		return "ok";
	}
	return err;
}

/* A realistic file: comments, blanks, escapes, all three kinds, extra fields, CRLF. */
static void test_parse_good(void)
{
	static const char file[] =
		"; PgBouncer-style comment\n"
		"# hash comment\n"
		"\n"
		"   \t\n"
		"\"alice\" \"secretpw\"\n"
		"\"bob\"\t\"" MD5_SECRET "\"\n"
		"  \"carol\" \"" SCRAM_SECRET "\" \"extra field ignored\"\n"
		"\"quo\"\"te\" \"pa\"\"ss\"\"\"\r\n"
		"\"trustme\" \"\"\n"
		"\"sp ace\" \"a b;c#d\" ; trailing text is ignored\n"
		"\"zed\" \"last line without newline\"";
	struct authfile *af = NULL;
	char err[256];
	CHECK_EQ_INT(authfile_parse(file, strlen(file), &af, err, sizeof err), 0);
	CHECK_EQ_STR(err, "");
	if (!af)
		return;
	CHECK_EQ_INT(af->count, 7);
	const struct authfile_entry *e = authfile_lookup(af, "alice");
	CHECK(e && strcmp(e->secret, "secretpw") == 0 && e->kind == AUTH_SECRET_PLAIN && e->line == 5);
	e = authfile_lookup(af, "bob");
	CHECK(e && e->kind == AUTH_SECRET_MD5 && e->secret_len == MD5PW_LEN);
	e = authfile_lookup(af, "carol");
	CHECK(e && e->kind == AUTH_SECRET_SCRAM && e->scram.iterations == 4096 && e->scram.salt_len == 16);
	e = authfile_lookup(af, "quo\"te");
	CHECK(e && strcmp(e->secret, "pa\"ss\"") == 0);
	e = authfile_lookup(af, "trustme");
	CHECK(e && e->secret_len == 0 && e->kind == AUTH_SECRET_PLAIN);
	e = authfile_lookup(af, "sp ace");
	CHECK(e && strcmp(e->secret, "a b;c#d") == 0);
	e = authfile_lookup(af, "zed");
	CHECK(e && e->line == 11);
	CHECK(authfile_lookup(af, "nobody") == NULL);
	CHECK(authfile_lookup(af, "Alice") == NULL); /* names are case-sensitive */
	CHECK(authfile_lookup(af, "") == NULL);
	CHECK(authfile_lookup(NULL, "alice") == NULL);
	authfile_free(af);

	CHECK_EQ_INT(authfile_parse("", 0, &af, err, sizeof err), 0);
	CHECK_EQ_INT(af->count, 0);
	CHECK(authfile_lookup(af, "alice") == NULL);
	authfile_free(af);
	authfile_free(NULL);
}

/* Many users: lookup through the sorted table finds every one. */
static void test_many(void)
{
	size_t cap = 2000 * 40, len = 0;
	char *buf = malloc(cap);
	for (int i = 1999; i >= 0; i--)
		len += (size_t)snprintf(buf + len, cap - len, "\"user%d\" \"pw%d\"\n", i, i);
	struct authfile *af = NULL;
	char err[256];
	CHECK_EQ_INT(authfile_parse(buf, len, &af, err, sizeof err), 0);
	int found = 0;
	for (int i = 0; i < 2000; i++) {
		char u[32], p[32];
		snprintf(u, sizeof u, "user%d", i);
		snprintf(p, sizeof p, "pw%d", i);
		const struct authfile_entry *e = authfile_lookup(af, u);
		found += e && strcmp(e->secret, p) == 0;
	}
	CHECK_EQ_INT(found, 2000);
	CHECK(authfile_lookup(af, "user2000") == NULL);
	authfile_free(af);
	free(buf);
}

/* Every malformed line fails the load with its line number and reason. */
static void test_parse_errors(void)
{
	char line[4096];
	CHECK_EQ_STR(parse_err("\"a\" \"b\"\n\"c\" \"d\n\"e\" \"f\"\n"), "line 2: unterminated quote in secret");
	CHECK_EQ_STR(parse_err("\"a\" \"b\"\n\n\"c\n"), "line 3: unterminated quote in user name");
	CHECK_EQ_STR(parse_err("alice \"pw\"\n"), "line 1: expected a double-quoted user name");
	CHECK_EQ_STR(parse_err("\"alice\"\n"), "line 1: expected a double-quoted secret");
	CHECK_EQ_STR(parse_err("\"alice\" pw\n"), "line 1: expected a double-quoted secret");
	CHECK_EQ_STR(parse_err("# c\n\"\" \"pw\"\n"), "line 2: empty user name");
	CHECK_EQ_STR(parse_err("\"a\" \"SCRAM-SHA-256$4096:zz$yy:xx\"\n"),
	             "line 1: malformed SCRAM-SHA-256 secret");
	CHECK_EQ_STR(parse_err("\"a\" \"1\"\n\"b\" \"2\"\n\"a\" \"3\"\n"),
	             "line 3: user already defined on line 1");
	CHECK_EQ_STR(parse_err("\"a\" \"1\"\n\"a\" \"1\"\n"), "line 2: user already defined on line 1");

	memset(line, 0, sizeof line);
	line[0] = '"';
	memset(line + 1, 'u', AUTHFILE_MAX_USER);
	strcpy(line + 1 + AUTHFILE_MAX_USER, "\" \"pw\"\n");
	CHECK_EQ_STR(parse_err(line), "ok"); /* exactly at the limit */
	memset(line, 0, sizeof line);
	line[0] = '"';
	memset(line + 1, 'u', AUTHFILE_MAX_USER + 1);
	strcpy(line + 2 + AUTHFILE_MAX_USER, "\" \"pw\"\n");
	CHECK_EQ_STR(parse_err(line), "line 1: user name longer than 128 bytes");
	memset(line, 0, sizeof line);
	strcpy(line, "\"u\" \"");
	memset(line + 5, 's', AUTHFILE_MAX_SECRET + 1);
	strcpy(line + 6 + AUTHFILE_MAX_SECRET, "\"\n");
	CHECK_EQ_STR(parse_err(line), "line 1: secret longer than 2048 bytes");

	static const char nul[] = "\"a\" \"b\"\n\"c\" \"d\0\"\n";
	struct authfile *af = NULL;
	char err[128];
	CHECK_EQ_INT(authfile_parse(nul, sizeof nul - 1, &af, err, sizeof err), -1);
	CHECK_EQ_STR(err, "line 2: NUL byte");
	/* a tiny error buffer truncates but never overflows */
	char small[8];
	CHECK_EQ_INT(authfile_parse("x", 1, &af, small, sizeof small), -1);
	CHECK_EQ_INT(strlen(small), 7);
	CHECK_EQ_INT(authfile_parse("x", 1, &af, NULL, 0), -1);
}

/* Loading from disk, and the error for a missing file. */
static void test_load(void)
{
	char path[] = "/tmp/pgr_authfile_XXXXXX", err[256];
	int fd = mkstemp(path);
	static const char content[] = "\"alice\" \"secretpw\"\n\"bob\" \"" MD5_SECRET "\"\n";
	CHECK(fd >= 0 && write(fd, content, sizeof content - 1) == (ssize_t)(sizeof content - 1));
	close(fd);
	struct authfile *af = NULL;
	CHECK_EQ_INT(authfile_load(path, &af, err, sizeof err), 0);
	CHECK(af && af->count == 2 && authfile_lookup(af, "bob") != NULL);
	authfile_free(af);
	/* a big file (more than one read buffer) loads too */
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 5000; i++)
		fprintf(f, "\"u%d\" \"p%d\"\n", i, i);
	fclose(f);
	CHECK_EQ_INT(authfile_load(path, &af, err, sizeof err), 0);
	CHECK(af && af->count == 5000 && authfile_lookup(af, "u4999") != NULL);
	authfile_free(af);
	unlink(path);
	CHECK_EQ_INT(authfile_load(path, &af, err, sizeof err), -1);
	CHECK(strstr(err, "No such file") != NULL && strstr(err, path) != NULL);
}

/* Run every group; the last line is the tally run_all.sh reads. */
int main(void)
{
	test_md5();
	test_secret_kinds();
	test_parse_good();
	test_many();
	test_parse_errors();
	test_load();
	return unit_done("test_authfile");
}
