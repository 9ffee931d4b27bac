/* Unit tests that hold the config loader to its documents: etc/pgrouter.ini, docs/configuration.md and the man page
   pgrouter.ini(5) list every setting with its real default, and Debian's shipped pgbouncer.ini loads. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config_load.h"
#include "base/log.h"
#include "unit.h"

/* Path of a file in the source tree: from the current directory, else from where the binary is (build/tests/x). */
static const char *repo_file(const char *rel)
{
	static char buf[2][PATH_MAX];
	static int k;
	char *out = buf[k++ % 2];
	snprintf(out, PATH_MAX, "%s", rel);
	if (access(out, R_OK) == 0)
		return out;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return out;
	exe[n] = 0;
	for (int up = 0; up < 3; up++) { /* drop the binary's name, "tests" and the build directory */
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
	}
	snprintf(out, PATH_MAX, "%.*s/%s", PATH_MAX / 2, exe, rel);
	return out;
}

/* Read a whole file into a malloc'd string; NULL when unreadable. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *s = malloc(1 << 20);
	size_t n = s ? fread(s, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (s)
		s[n] = 0;
	return s;
}

/* Names in the quoted-string table that starts after marker in config.c, up to its closing "};". */
static int table_names(const char *src, const char *marker, char names[][64], int max)
{
	const char *p = strstr(src, marker);
	int n = 0;
	if (!p)
		return 0;
	const char *end = strstr(p, "\n};");
	for (p = strchr(p, '"'); p && end && p < end && n < max; p = strchr(p, '"')) {
		const char *q = strchr(p + 1, '"');
		snprintf(names[n++], 64, "%.*s", (int)(q - p - 1), p + 1);
		/* In the settings table only the first string of a row is a name. */
		p = strcmp(marker, "settings[] = {") == 0 ? strchr(q, '\n') : q + 1;
	}
	return n;
}

/* The first line of text that sets name, as ";name = …" (a documented default) or, unless only_default, "name = …". */
static const char *setting_line(const char *text, const char *name, bool only_default)
{
	size_t nl = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *q = *p == ';' ? p + 1 : p;
		if ((q > p || !only_default) && strncmp(q, name, nl) == 0 && (q[nl] == ' ' || q[nl] == '='))
			return q;
	}
	return NULL;
}

/* etc/pgrouter.ini loads, documents every setting (and docs/configuration.md too), and its defaults are right. */
static void test_example_file(void)
{
	char err[1024];
	const char *ini_path = repo_file("etc/pgrouter.ini");
	struct config *c = config_load(ini_path, err, sizeof err);
	if (!c)
		fprintf(stderr, "etc/pgrouter.ini: %s\n", err);
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->pool_mode, POOL_TRANSACTION);
		CHECK_EQ_INT(c->auth_type, AUTH_MD5);
		CHECK_EQ_STR(c->admin_users, "postgres");
		CHECK_EQ_INT(c->ndbs, 1);
		CHECK(c->ndbs == 1 && c->dbs[0].nnodes == 3 && c->dbs[0].nodes[2].port == 5434);
	}
	config_put(c);

	char *src = slurp(repo_file("src/config/config_table.c"));
	char *ini = slurp(ini_path);
	char *md = slurp(repo_file("docs/configuration.md"));
	char *man = slurp(repo_file("man/pgrouter.ini.5"));
	CHECK(src && ini && md && man);
	if (!src || !ini || !md || !man)
		goto out;
	static char names[200][64];
	int n = table_names(src, "settings[] = {", names, 200);
	CHECK(n > 40);
	/* Uncomment every ";name = value" line of a table setting: that must be exactly the defaults. */
	size_t cap = strlen(ini) + 64, o = 0;
	char *defaults = malloc(cap);
	o += (size_t)snprintf(defaults, cap, "[pgrouter]\n");
	for (int i = 0; i < n; i++) {
		char md_name[80];
		snprintf(md_name, sizeof md_name, "`%.63s`", names[i]);
		if (!setting_line(ini, names[i], false) || !strstr(md, md_name))
			fprintf(stderr, "%s is not documented in etc/pgrouter.ini and docs/configuration.md\n",
			        names[i]);
		CHECK(setting_line(ini, names[i], false) != NULL);
		CHECK(strstr(md, md_name) != NULL);
		/* The man page is generated from docs/configuration.md (scripts/gen_man_ini.py): a table row starts a line. */
		char man_name[96];
		snprintf(man_name, sizeof man_name, "\n\\fB%.63s\\fR (default", names[i]);
		if (!strstr(man, man_name))
			fprintf(stderr, "%s is not in man/pgrouter.ini.5: run make man\n", names[i]);
		CHECK(strstr(man, man_name) != NULL);
		const char *def = setting_line(ini, names[i], true);
		if (def)
			o += (size_t)snprintf(defaults + o, cap - o, "%.*s\n", (int)strcspn(def, "\n"), def);
	}
	/* Both with an auth_file: the default auth_type, md5, set explicitly needs one. */
	char ul[64], ul_line[96];
	write_tmp(ul, "\"alice\" \"secretpw\"\n");
	snprintf(ul_line, sizeof ul_line, "[pgrouter]\nauth_file = %s\n", ul);
	o += (size_t)snprintf(defaults + o, cap - o, "%s", ul_line);
	struct config *dflt = load_ok(defaults);
	struct config *empty = load_ok(ul_line);
	unlink(ul);
	CHECK(dflt && empty);
	if (dflt && empty) {
		long off = log_end();
		config_log_changes(empty, dflt);
		const char *diff = log_since(&off);
		if (*diff)
			fprintf(stderr, "documented defaults differ from the real ones:\n%s", diff);
		CHECK_EQ_STR(diff, "");
	}
	config_put(dflt);
	config_put(empty);
	/* The commented [databases] examples ("  name = host=…") are valid entries. */
	o = (size_t)snprintf(defaults, cap, "[databases]\n");
	for (const char *p = strstr(ini, ";;   "); p; p = strstr(p + 1, "\n;;   ")) {
		const char *line = p + strspn(p, "\n; ");
		size_t ll = strcspn(line, "\n");
		if (memmem(line, ll, " = host=", 8))
			o += (size_t)snprintf(defaults + o, cap - o, "%.*s\n", (int)ll, line);
	}
	dflt = load_ok(defaults);
	CHECK(dflt && dflt->ndbs == 4 && dflt->dbs[1].nnodes == 3 && strcmp(dflt->dbs[2].password, "it's secret") == 0);
	config_put(dflt);
	free(defaults);
	/* The PgBouncer settings that are accepted and ignored are listed in both documents. */
	int ni = table_names(src, "ignored_settings[] = {", names, 200);
	CHECK(ni > 10);
	for (int i = 0; i < ni; i++) {
		char md_name[80];
		snprintf(md_name, sizeof md_name, "`%.63s`", names[i]);
		CHECK(strstr(ini, names[i]) != NULL);
		CHECK(strstr(md, md_name) != NULL);
	}
out:
	free(man);
	free(src);
	free(ini);
	free(md);
}

/* Debian's shipped pgbouncer.ini loads unchanged (when installed and readable). */
static void test_debian_pgbouncer_ini(void)
{
	const char *path = "/etc/pgbouncer/pgbouncer.ini";
	if (access(path, R_OK) != 0 || access("/etc/pgbouncer/userlist.txt", R_OK) != 0)
		return;
	char err[1024];
	struct config *c = config_load(path, err, sizeof err);
	if (!c)
		fprintf(stderr, "%s: %s\n", path, err);
	CHECK(c != NULL);
	CHECK(c && c->listen_port == 6432 && c->auth_type == AUTH_MD5);
	config_put(c);
}

int main(void)
{
	write_tmp(log_path, "");
	log_setup(LOG_INFO, log_path);
	log_stderr(false);
	test_example_file();
	test_debian_pgbouncer_ini();
	unlink(log_path);
	return unit_done("test_config_docs");
}
