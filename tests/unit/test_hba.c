/* Unit tests for the auth_hba_file parser and first-match rule evaluation. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/hba.h"
#include "unit.h"

/* A client address for matching (IPv4 or IPv6 literal). */
struct addr {
	struct sockaddr_storage ss;
};

/* Build a sockaddr from a literal; aborts on a typo in the test itself. */
static const struct sockaddr *mk(struct addr *a, const char *ip)
{
	memset(a, 0, sizeof *a);
	struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
	} else {
		abort();
	}
	return (const struct sockaddr *)&a->ss;
}

/* Parse text or abort the test binary with the parser's message. */
static struct hba *parse_ok(const char *text, const char *dir)
{
	struct hba *h = NULL;
	char err[512];
	if (hba_parse(text, strlen(text), "test", dir, &h, err, sizeof err) != 0) {
		fprintf(stderr, "unexpected parse error: %s\n", err);
		abort();
	}
	return h;
}

/* Parse text expecting failure; returns the message ("ok" if it parsed). */
static const char *parse_err(const char *text, const char *dir)
{
	static char err[512];
	struct hba *h = NULL;
	if (hba_parse(text, strlen(text), "test", dir, &h, err, sizeof err) == 0) {
		hba_free(h);
		return "ok";
	}
	return err;
}

/* Match a host connection; returns "method@line" for compact checks. */
static const char *host(const struct hba *h, bool tls, const char *db, const char *user,
                        const char *ip)
{
	static char out[64];
	struct addr a;
	struct hba_result r;
	hba_match(h, HBA_CONN_HOST, tls, db, user, mk(&a, ip), &r);
	snprintf(out, sizeof out, "%s@%d", hba_method_name(r.method), r.line);
	return out;
}

/* Match a Unix-socket connection. */
static const char *local(const struct hba *h, const char *db, const char *user)
{
	static char out[64];
	struct hba_result r;
	hba_match(h, HBA_CONN_LOCAL, false, db, user, NULL, &r);
	snprintf(out, sizeof out, "%s@%d", hba_method_name(r.method), r.line);
	return out;
}

static char tmpdir[64];

/* Write a file under the test's temporary directory. */
static void write_file(const char *name, const char *content)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
}

static const char main_rules[] =
	"# TYPE  DATABASE    USER              ADDRESS          METHOD\n"
	"local   all         postgres                           peer\n"           /* 2 */
	"local   all         all                                md5\n"            /* 3 */
	"host    all         all               127.0.0.1/32     trust\n"          /* 4 */
	"\n"
	"hostssl sales,hr    alice,\"bob smith\" 10.0.0.0/8       scram-sha-256\n" /* 6 */
	"hostnossl all       all               10.0.0.0/8       reject\n"         /* 7 */
	"host    sameuser    all               192.168.1.0 255.255.255.0 md5 # inline comment\n" /* 8 */
	"host    \"all\"       all               ::1/128          password\n"     /* 9 */
	"hostssl all         @admins           0.0.0.0/0        cert\n"           /* 10 */
	"host    all         all               2001:db8::/32    scram-sha-256\n"  /* 11 */
	"hostnogssenc app    \"#hash\",\"a,b\"   172.16.0.0/12    md5\n"            /* 12 */
	"host    all         all               all              reject\n";        /* 13 */

/* The main scenario: first match wins, every column and keyword. */
static void test_matching(void)
{
	write_file("admins", "carol, dave\n# a comment\n  eve  # trailing\n");
	struct hba *h = parse_ok(main_rules, tmpdir);
	CHECK_EQ_INT(hba_count(h), 11);

	CHECK_EQ_STR(local(h, "app", "postgres"), "peer@2");
	CHECK_EQ_STR(local(h, "app", "alice"), "md5@3");
	CHECK_EQ_STR(host(h, false, "app", "alice", "127.0.0.1"), "trust@4");
	CHECK_EQ_STR(host(h, true, "app", "alice", "127.0.0.1"), "trust@4");
	CHECK_EQ_STR(host(h, false, "app", "alice", "::ffff:127.0.0.1"), "trust@4"); /* v4-mapped */
	CHECK_EQ_STR(host(h, false, "app", "alice", "127.0.0.2"), "reject@13");
	/* comma lists and a quoted name with a space; TLS decides hostssl/hostnossl */
	CHECK_EQ_STR(host(h, true, "sales", "alice", "10.1.2.3"), "scram-sha-256@6");
	CHECK_EQ_STR(host(h, true, "hr", "bob smith", "10.255.0.1"), "scram-sha-256@6");
	CHECK_EQ_STR(host(h, false, "sales", "alice", "10.1.2.3"), "reject@7");
	CHECK_EQ_STR(host(h, true, "sales", "bob", "10.1.2.3"), "reject@13");
	CHECK_EQ_STR(host(h, true, "Sales", "alice", "10.1.2.3"), "reject@13"); /* case-sensitive */
	CHECK_EQ_STR(host(h, true, "sales", "alice", "11.1.2.3"), "reject@13");
	/* sameuser and address + netmask */
	CHECK_EQ_STR(host(h, false, "frank", "frank", "192.168.1.77"), "md5@8");
	CHECK_EQ_STR(host(h, false, "other", "frank", "192.168.1.77"), "reject@13");
	CHECK_EQ_STR(host(h, false, "frank", "frank", "192.168.2.77"), "reject@13");
	/* quoted "all" is a database literally named all */
	CHECK_EQ_STR(host(h, false, "all", "x", "::1"), "password@9");
	CHECK_EQ_STR(host(h, false, "db", "x", "::1"), "reject@13");
	/* @file users, only over TLS */
	CHECK_EQ_STR(host(h, true, "db", "carol", "8.8.8.8"), "cert@10");
	CHECK_EQ_STR(host(h, true, "db", "dave", "8.8.8.8"), "cert@10");
	CHECK_EQ_STR(host(h, true, "db", "eve", "8.8.8.8"), "cert@10");
	CHECK_EQ_STR(host(h, true, "db", "#", "8.8.8.8"), "reject@13");
	CHECK_EQ_STR(host(h, false, "db", "carol", "8.8.8.8"), "reject@13");
	CHECK_EQ_STR(host(h, true, "db", "carol", "2001:db8::1"), "scram-sha-256@11"); /* v4 rule */
	/* IPv6 prefix */
	CHECK_EQ_STR(host(h, false, "db", "x", "2001:db8:ffff::1"), "scram-sha-256@11");
	CHECK_EQ_STR(host(h, false, "db", "x", "2001:db9::1"), "reject@13");
	/* quoted '#' and ',' inside names; hostnogssenc behaves as host */
	CHECK_EQ_STR(host(h, false, "app", "#hash", "172.20.0.1"), "md5@12");
	CHECK_EQ_STR(host(h, false, "app", "a,b", "172.20.0.1"), "md5@12");
	CHECK_EQ_STR(host(h, false, "app", "a", "172.20.0.1"), "reject@13");

	/* no address for a host connection: only "all" rules can match */
	struct hba_result r;
	CHECK_EQ_INT(hba_match(h, HBA_CONN_HOST, false, "app", "alice", NULL, &r), 0);
	CHECK_EQ_INT(r.line, 13);
	hba_free(h);
}

/* No rule matching means reject, reported as line 0 and -1. */
static void test_no_match(void)
{
	struct hba *h = parse_ok("host all all 10.0.0.0/8 trust\n", NULL);
	struct hba_result r;
	struct addr a;
	CHECK_EQ_INT(hba_match(h, HBA_CONN_HOST, false, "db", "u", mk(&a, "10.9.9.9"), &r), 0);
	CHECK_EQ_INT(r.method, HBA_METHOD_TRUST);
	CHECK_EQ_INT(hba_match(h, HBA_CONN_HOST, false, "db", "u", mk(&a, "11.9.9.9"), &r), -1);
	CHECK_EQ_INT(r.method, HBA_METHOD_REJECT);
	CHECK_EQ_INT(r.line, 0);
	CHECK_EQ_INT(hba_match(h, HBA_CONN_LOCAL, false, "db", "u", NULL, &r), -1);
	CHECK_EQ_INT(hba_match(h, HBA_CONN_HOST, false, "db", "u", mk(&a, "::ffff:10.0.0.1"), &r), 0);
	/* an IPv6 rule never matches an IPv4 client */
	hba_free(h);
	h = parse_ok("host all all ::/0 trust\n", NULL);
	CHECK_EQ_INT(hba_match(h, HBA_CONN_HOST, false, "db", "u", mk(&a, "10.9.9.9"), &r), -1);
	CHECK_EQ_INT(hba_match(h, HBA_CONN_HOST, false, "db", "u", mk(&a, "fe80::1"), &r), 0);
	CHECK_EQ_INT(hba_match(NULL, HBA_CONN_HOST, false, "db", "u", mk(&a, "fe80::1"), &r), -1);
	hba_free(h);
	/* an empty file rejects everything */
	h = parse_ok("# nothing\n\n", NULL);
	CHECK_EQ_INT(hba_count(h), 0);
	CHECK_EQ_INT(hba_match(h, HBA_CONN_LOCAL, false, "db", "u", NULL, &r), -1);
	hba_free(h);
	/* host bits in a CIDR are masked off; /0 matches everything of that family */
	h = parse_ok("host all all 10.1.2.3/16 md5\nhost all all 0.0.0.0/0 trust\n", NULL);
	CHECK_EQ_STR(host(h, false, "d", "u", "10.1.200.200"), "md5@1");
	CHECK_EQ_STR(host(h, false, "d", "u", "1.2.3.4"), "trust@2");
	hba_free(h);
}

/* Unsupported or malformed lines are refused with a line number and a reason. */
static void test_errors(void)
{
	CHECK_EQ_STR(parse_err("local all all trust\nhost all all samehost md5\n", NULL),
	             "test:2: samehost is not supported; write the address as CIDR");
	CHECK_EQ_STR(parse_err("host all all samenet md5\n", NULL),
	             "test:1: samenet is not supported; write the address as CIDR");
	CHECK_EQ_STR(parse_err("host all all db.example.com md5\n", NULL),
	             "test:1: host names are not supported (\"db.example.com\"); use an IP address");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.1 md5\n", NULL),
	             "test:1: IP address \"10.0.0.1\" needs a /prefix or a netmask");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.1 ffff:: md5\n", NULL),
	             "test:1: IP address \"10.0.0.1\" needs a /prefix or a netmask");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/33 md5\n", NULL),
	             "test:1: invalid CIDR address \"10.0.0.0/33\"");
	CHECK_EQ_STR(parse_err("host all all ::/129 md5\n", NULL), "test:1: invalid CIDR address \"::/129\"");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/ md5\n", NULL), "test:1: invalid CIDR address \"10.0.0.0/\"");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/-1 md5\n", NULL), "test:1: invalid CIDR address \"10.0.0.0/-1\"");
	CHECK_EQ_STR(parse_err("host all all 10.0.0/8 md5\n", NULL), "test:1: invalid CIDR address \"10.0.0/8\"");
	CHECK_EQ_STR(parse_err("host all +admins 10.0.0.0/8 md5\n", NULL),
	             "test:1: group membership (+admins) is not supported");
	CHECK_EQ_STR(parse_err("host samerole all 10.0.0.0/8 md5\n", NULL),
	             "test:1: samerole is not supported (no role membership)");
	CHECK_EQ_STR(parse_err("host replication all 10.0.0.0/8 md5\n", NULL),
	             "test:1: replication connections are not supported");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/8 ident\n", NULL),
	             "test:1: authentication method \"ident\" is not supported");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/8 MD5\n", NULL),
	             "test:1: authentication method \"MD5\" is not supported");
	CHECK_EQ_STR(parse_err("hostssl all all 10.0.0.0/8 cert clientcert=verify-full\n", NULL),
	             "test:1: authentication options (\"clientcert=verify-full\") are not supported");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/8 cert\n", NULL),
	             "test:1: cert authentication is only supported on hostssl lines");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/8 peer\n", NULL),
	             "test:1: peer authentication is only supported on local sockets");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/8\n", NULL), "test:1: missing authentication method");
	CHECK_EQ_STR(parse_err("local all all\n", NULL),
	             "test:1: incomplete line: expected type, database, user, method");
	CHECK_EQ_STR(parse_err("host all\n", NULL),
	             "test:1: incomplete line: expected type, database, user, address, method");
	CHECK_EQ_STR(parse_err("hostgssenc all all 10.0.0.0/8 md5\n", NULL),
	             "test:1: hostgssenc is not supported (no GSSAPI encryption)");
	CHECK_EQ_STR(parse_err("hots all all 10.0.0.0/8 md5\n", NULL), "test:1: invalid connection type \"hots\"");
	CHECK_EQ_STR(parse_err("host,local all all 10.0.0.0/8 md5\n", NULL),
	             "test:1: connection type must be a single value");
	CHECK_EQ_STR(parse_err("host all all 10.0.0.0/8 md5,trust\n", NULL),
	             "test:1: authentication method must be a single value");
	CHECK_EQ_STR(parse_err("host a,,b all 10.0.0.0/8 md5\n", NULL), "test:1: empty name in list");
	struct hba *hl = parse_ok("host a,  b all 10.0.0.0/8 md5\n", NULL); /* blank after comma continues */
	CHECK_EQ_STR(host(hl, false, "b", "u", "10.0.0.1"), "md5@1");
	hba_free(hl);
	CHECK_EQ_STR(parse_err("host a,\n", NULL), "test:1: empty name in list");
	CHECK_EQ_STR(parse_err("\n\nhost \"abc all 10.0.0.0/8 md5\n", NULL), "test:3: unterminated quote");
	CHECK_EQ_STR(parse_err("host \"\" all 10.0.0.0/8 md5\n", NULL), "ok"); /* quoted empty name */
	CHECK_EQ_STR(parse_err("local a b c d e f g h i j k l m n o p q\n", NULL), "test:1: too many fields");
	CHECK_EQ_STR(parse_err("local all all trust\0host", NULL), "ok"); /* strlen stops at NUL */
	struct hba *h = NULL;
	char err[128];
	CHECK_EQ_INT(hba_parse("local all all trust\n\0x", 23, "t", NULL, &h, err, sizeof err), -1);
	CHECK_EQ_STR(err, "t:1: NUL byte");
	char *long_name = malloc(HBA_MAX_TOKEN + 64);
	strcpy(long_name, "local ");
	memset(long_name + 6, 'd', HBA_MAX_TOKEN + 1);
	strcpy(long_name + 7 + HBA_MAX_TOKEN, " all trust\n");
	CHECK_EQ_STR(parse_err(long_name, NULL), "test:1: name longer than 4096 bytes");
	free(long_name);
}

/* @file inclusion: relative paths, nesting, missing files and include loops. */
static void test_include(void)
{
	write_file("dbs", "sales\n@more_dbs\n");
	write_file("more_dbs", "\"quoted db\", hr\n");
	write_file("loop", "x @loop\n");
	write_file("kw", "all\n");
	struct hba *h = parse_ok("host @dbs all 0.0.0.0/0 md5\n", tmpdir);
	CHECK_EQ_STR(host(h, false, "sales", "u", "1.1.1.1"), "md5@1");
	CHECK_EQ_STR(host(h, false, "quoted db", "u", "1.1.1.1"), "md5@1");
	CHECK_EQ_STR(host(h, false, "hr", "u", "1.1.1.1"), "md5@1");
	CHECK_EQ_STR(host(h, false, "other", "u", "1.1.1.1"), "reject@0");
	hba_free(h);
	/* a keyword inside an included file keeps its meaning */
	h = parse_ok("host @kw all 0.0.0.0/0 md5\n", tmpdir);
	CHECK_EQ_STR(host(h, false, "anything", "u", "1.1.1.1"), "md5@1");
	hba_free(h);
	/* quoted @ is a literal name, not an inclusion */
	h = parse_ok("host \"@dbs\" all 0.0.0.0/0 md5\n", tmpdir);
	CHECK_EQ_STR(host(h, false, "@dbs", "u", "1.1.1.1"), "md5@1");
	CHECK_EQ_STR(host(h, false, "sales", "u", "1.1.1.1"), "reject@0");
	hba_free(h);

	char want[512];
	const char *e = parse_err("host @missing all 0.0.0.0/0 md5\n", tmpdir);
	snprintf(want, sizeof want, "test:1: %s/missing: No such file or directory", tmpdir);
	CHECK_EQ_STR(e, want);
	e = parse_err("host @loop all 0.0.0.0/0 md5\n", tmpdir);
	snprintf(want, sizeof want, "%s/loop:1: @loop: inclusions nested too deeply", tmpdir);
	CHECK_EQ_STR(e, want);

	/* hba_load resolves @file against the file's own directory */
	write_file("pg_hba.conf", "host @dbs all 0.0.0.0/0 scram-sha-256\n");
	char path[256], err[512];
	snprintf(path, sizeof path, "%s/pg_hba.conf", tmpdir);
	CHECK_EQ_INT(hba_load(path, &h, err, sizeof err), 0);
	CHECK_EQ_STR(host(h, true, "hr", "u", "1.1.1.1"), "scram-sha-256@1");
	hba_free(h);
	write_file("bad.conf", "\nhost all all 1.2.3.4 md5\n");
	snprintf(path, sizeof path, "%s/bad.conf", tmpdir);
	CHECK_EQ_INT(hba_load(path, &h, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: IP address \"1.2.3.4\" needs a /prefix or a netmask", path);
	CHECK_EQ_STR(err, want);
	snprintf(path, sizeof path, "%s/nonexistent.conf", tmpdir);
	CHECK_EQ_INT(hba_load(path, &h, err, sizeof err), -1);
	CHECK(strstr(err, "No such file") != NULL);
}

/* Method names round-trip to pg_hba.conf spelling. */
static void test_method_names(void)
{
	struct hba *h = parse_ok("local all a trust\nlocal all b reject\nlocal all c md5\n"
	                         "local all d scram-sha-256\nlocal all e password\nlocal all f peer\n"
	                         "hostssl all g 0.0.0.0/0 cert\n", NULL);
	CHECK_EQ_STR(local(h, "x", "a"), "trust@1");
	CHECK_EQ_STR(local(h, "x", "b"), "reject@2");
	CHECK_EQ_STR(local(h, "x", "c"), "md5@3");
	CHECK_EQ_STR(local(h, "x", "d"), "scram-sha-256@4");
	CHECK_EQ_STR(local(h, "x", "e"), "password@5");
	CHECK_EQ_STR(local(h, "x", "f"), "peer@6");
	CHECK_EQ_STR(host(h, true, "x", "g", "1.2.3.4"), "cert@7");
	CHECK_EQ_STR(local(h, "x", "g"), "reject@0");
	hba_free(h);
	hba_free(NULL);
}

/* Remove the temporary files this test created. */
static void cleanup(void)
{
	static const char *const names[] = {"admins", "dbs", "more_dbs", "loop", "kw",
	                                    "pg_hba.conf", "bad.conf"};
	char path[256];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

/* Run every group; the last line is the tally run_all.sh reads. */
int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/pgr_hba_XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	test_matching();
	test_no_match();
	test_errors();
	test_include();
	test_method_names();
	cleanup();
	return unit_done("test_hba");
}
