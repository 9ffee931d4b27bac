/* Unit tests for %include in the config file: in-place reading, paths, errors with the right file:line, loops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "base/log.h"
#include "config_load.h"
#include "unit.h"

/* The test runs inside its own temporary directory, so that relative names are those of PgBouncer: the cwd's. */
static char dir[64];

/* Write text to name (relative to the test directory). */
static void put(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");
	if (!f) {
		perror(name);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

/* Load name; NULL with the message in err. */
static struct config *load(const char *name, char *err, size_t errlen)
{
	err[0] = 0;
	return config_load(name, err, errlen);
}

/* Load name expecting failure; the message, or "loaded". */
static const char *fails(const char *name)
{
	static char err[1024];
	struct config *c = load(name, err, sizeof err);
	if (c) {
		config_put(c);
		return "loaded";
	}
	return err;
}

/* The included lines count as if they stood where the %include is: sections carry in and out, later lines win. */
static void test_in_place(void)
{
	put("main.ini", "[pgrouter]\nmax_client_conn = 5\n%include part.ini\nd0 = host=h0\n"
	                "  %include  tail.ini  \n");
	put("part.ini", "max_client_conn = 7\n[databases]\nd1 = host=h1 port=5001");   /* no final newline */
	put("tail.ini", "d2 = host=h2\n");
	char err[600];
	struct config *c = load("main.ini", err, sizeof err);
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_INT(c->max_client_conn, 7);
	CHECK_EQ_INT(c->ndbs, 3);
	/* The line after the include is read in [databases], where part.ini left off. */
	CHECK(config_find_db(c, "d0") != NULL);
	CHECK(config_find_db(c, "d1") && config_find_db(c, "d1")->nodes[0].port == 5001);
	CHECK(config_find_db(c, "d2") != NULL);
	config_put(c);

	/* The same file twice is not a loop. */
	put("twice.ini", "[pgrouter]\n%include one.ini\n%include one.ini\n");
	put("one.ini", "max_client_conn = 11\n");
	c = load("twice.ini", err, sizeof err);
	CHECK(c && c->max_client_conn == 11);
	config_put(c);
}

/* Relative names are taken from the working directory, at every level (as PgBouncer does). */
static void test_relative_paths(void)
{
	CHECK(mkdir("sub", 0700) == 0);
	put("sub/a.ini", "%include b.ini\n");
	put("b.ini", "max_client_conn = 21\n");
	put("sub/b.ini", "max_client_conn = 22\n");
	put("rel.ini", "[pgrouter]\n%include sub/a.ini\n");
	char err[600], abs[200];
	struct config *c = load("rel.ini", err, sizeof err);
	CHECK(c && c->max_client_conn == 21);
	config_put(c);
	snprintf(abs, sizeof abs, "[pgrouter]\n%%include %s/sub/b.ini\n", dir);
	put("abs.ini", abs);
	c = load("abs.ini", err, sizeof err);
	CHECK(c && c->max_client_conn == 22);
	config_put(c);
}

/* Problems in an included file name that file and its line; lines after an include keep the main file's count. */
static void test_errors_name_the_file(void)
{
	put("bad.ini", "; a comment\nmax_client_conn = lots\n");
	put("m1.ini", "[pgrouter]\n%include bad.ini\n");
	CHECK_EQ_STR(fails("m1.ini"), "bad.ini:2: max_client_conn: expected an integer: 'lots'");
	put("ok.ini", "\n\nmax_client_conn = 3\n");
	put("m2.ini", "[pgrouter]\n%include ok.ini\nnope = 1\n");
	CHECK_EQ_STR(fails("m2.ini"), "m2.ini:3: nope: unknown setting");
	put("syntax.ini", "max_client_conn = 3\njust words\n");
	put("m3.ini", "[pgrouter]\n%include syntax.ini\n");
	const char *e = fails("m3.ini");
	CHECK(strncmp(e, "syntax.ini:2: ", 14) == 0 && strstr(e, "syntax error") != NULL);
	put("dup.ini", "[databases]\n\nd = host=b\n");
	put("m4.ini", "[databases]\nd = host=a\n%include dup.ini\n");
	CHECK_EQ_STR(fails("m4.ini"), "dup.ini:3: d: database defined twice");
	/* Checks after parsing point at the included line that set the value. */
	put("mode.ini", "unix_socket_mode = 0999\n");
	put("m5.ini", "[pgrouter]\n%include mode.ini\n");
	e = fails("m5.ini");
	CHECK(strncmp(e, "mode.ini:1: unix_socket_mode: ", 30) == 0);

	long off = log_end();
	put("old.ini", "\nstats_period = 60\n");
	put("m6.ini", "[pgbouncer]\n%include old.ini\n");
	char err[600];
	struct config *c = load("m6.ini", err, sizeof err);
	CHECK(c != NULL);
	config_put(c);
	CHECK(strstr(log_since(&off), "old.ini:2: stats_period: PgBouncer setting not used by pgrouter") != NULL);
}

/* A missing file, a missing name, a loop and nesting past PgBouncer's 10 levels are errors at the %include. */
static void test_include_errors(void)
{
	put("m7.ini", "[pgrouter]\n\n%include missing.ini\n");
	CHECK_EQ_STR(fails("m7.ini"), "m7.ini:3: %include: missing.ini: cannot open: No such file or directory");
	put("m8.ini", "[pgrouter]\n%include   \n");
	CHECK_EQ_STR(fails("m8.ini"), "m8.ini:2: %include: expected a file name");
	put("m9.ini", "[pgrouter]\n%include .\n");
	CHECK_EQ_STR(fails("m9.ini"), "m9.ini:2: %include: .: cannot read: Is a directory");

	put("self.ini", "[pgrouter]\n%include self.ini\n");
	CHECK_EQ_STR(fails("self.ini"), "self.ini:2: %include: self.ini: include loop (that file is already being read)");
	put("loop_a.ini", "%include loop_b.ini\n");
	put("loop_b.ini", "\n%include loop_a.ini\n");
	put("m10.ini", "[pgrouter]\n%include loop_a.ini\n");
	CHECK_EQ_STR(fails("m10.ini"),
	             "loop_b.ini:2: %include: loop_a.ini: include loop (that file is already being read)");

	/* deep0.ini includes deep1.ini ... deep10.ini: ten levels below the main file, as PgBouncer allows. */
	char name[32], text[64];
	for (int i = 0; i <= 11; i++) {
		snprintf(name, sizeof name, "deep%d.ini", i);
		snprintf(text, sizeof text, i == 0 ? "[pgrouter]\n%%include deep%d.ini\n" : "%%include deep%d.ini\n", i + 1);
		put(name, i == 10 ? "max_client_conn = 10\n" : text);
	}
	char err[600];
	struct config *c = load("deep0.ini", err, sizeof err);
	CHECK(c && c->max_client_conn == 10);
	config_put(c);
	put("deep10.ini", "%include deep11.ini\n");
	put("deep11.ini", "max_client_conn = 11\n");
	CHECK_EQ_STR(fails("deep0.ini"), "deep10.ini:1: %include: deep11.ini: includes nested more than 10 levels deep");
}

/* A reload reads the included files again; a SET re-parses what was read, without reading them again. */
static void test_reload_and_set(void)
{
	put("r.ini", "[pgrouter]\n%include r_part.ini\n");
	put("r_part.ini", "max_client_conn = 31\n");
	char err[600];
	struct config *c = load("r.ini", err, sizeof err), *s = NULL;
	CHECK(c && c->max_client_conn == 31);
	if (!c)
		return;
	put("r_part.ini", "max_client_conn = 32\n");
	CHECK_EQ_INT(config_with_setting(c, "default_pool_size", "6", &s, err, sizeof err), CFGSET_OK);
	CHECK(s && s->max_client_conn == 31 && s->default_pool_size == 6);
	struct config *r = s ? config_reload(s, err, sizeof err) : NULL;
	CHECK(r && r->max_client_conn == 32 && r->default_pool_size == 6);
	put("r_part.ini", "max_client_conn = many\n");
	struct config *bad = r ? config_reload(r, err, sizeof err) : NULL;
	CHECK(bad == NULL);
	CHECK_EQ_STR(err, "r_part.ini:1: max_client_conn: expected an integer: 'many'");
	config_put(r);
	config_put(s);
	config_put(c);
}

int main(void)
{
	write_tmp(log_path, "");
	log_setup(LOG_INFO, log_path);
	log_stderr(false);
	snprintf(dir, sizeof dir, "/tmp/pgr_include_XXXXXX");
	if (!mkdtemp(dir) || chdir(dir) < 0) {
		perror("mkdtemp");
		return 2;
	}
	test_in_place();
	test_relative_paths();
	test_errors_name_the_file();
	test_include_errors();
	test_reload_and_set();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (chdir("/") < 0 || system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	unlink(log_path);
	return unit_done("test_config_include");
}
