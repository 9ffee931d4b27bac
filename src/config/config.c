/* Configuration: table-driven ini parsing into an immutable, reference-counted struct. */
#include "config/config.h"
#include "base/log.h"
#include "base/log_syslog.h"
#include "auth/authfile.h"
#include "auth/hba.h"
#include "config/config_int.h"
#include "config/config_source.h"
#include "config/ryw_store_url.h"
#include "config/tls_ctx.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <regex.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Record the first error as "file:line: key: problem". */
int config_fail(struct parse_state *ps, const char *key, const char *fmt, ...)
{
	if (ps->failed)
		return 0;
	if (!ps->report) {
		ps->failed = true;
		ps->fail_line = ps->line;
	}
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *file;
	int line;
	config_where(ps, &file, &line);
	snprintf(ps->err, ps->errlen, "%s:%d: %s%s%s", file, line, key ? key : "", key ? ": " : "", msg);
	if (ps->report) {
		ps->report(ps->report_arg, ps->err);
		ps->nproblems++;
	}
	return 0;
}

/* The file and line (in that file) of the line being parsed: an included file's own, not the main file's. */
void config_where(const struct parse_state *ps, const char **file, int *line)
{
	if (ps->src) {
		config_source_where(ps->src, ps->line, file, line);
		return;
	}
	*file = ps->path;
	*line = ps->line;
}

static int dispatch_key(void *user, const char *section, const char *name, const char *value);

/* inih callback: in config_check every line is parsed, whatever the lines before it held. */
static int on_ini_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *ps = user;
	int rc = dispatch_key(user, section, name, value);
	return ps->report ? 1 : rc;
}

/* One key: dispatch it to its section's parser; 0 after config_fail(). */
static int dispatch_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *ps = user;
	if (ps->failed)
		return 0;
	/* Values that were too long for inih's line buffer were stashed by the reader. */
	if (value[0] == '\x01') {
		int idx = atoi(value + 1);
		if (idx < 0 || idx >= ps->nlong)
			return config_fail(ps, name, "internal error: lost long value");
		value = ps->longvals[idx];
	}
	if (strcasecmp(section, "pgrouter") == 0 || strcasecmp(section, "pgbouncer") == 0) {
		const struct setting *st = config_find_setting(name);
		if (!st) {
			for (int i = 0; config_ignored_settings[i]; i++)
				if (strcasecmp(name, config_ignored_settings[i]) == 0) {
					const char *file;
					int line;
					config_where(ps, &file, &line);
					log_warn(NULL, "%s:%d: %s: PgBouncer setting not used by pgrouter; ignored",
					         file, line, name);
					return 1;
				}
			return config_fail(ps, name, "unknown setting");
		}
		const char *why = NULL;
		char shown[256];
		if (config_apply_setting(ps->cfg, st, value, &why) < 0)
			return config_fail(ps, name, "%s: '%s'", why,
			                   config_redact_value(st, value, shown, sizeof shown));
		ps->set_line[st - config_settings] = ps->line;
		ps->given[st - config_settings] = true;
		return 1;
	}
	if (strcasecmp(section, "databases") == 0)
		return config_parse_db(ps, name, value);
	if (strcasecmp(section, "routes") == 0)
		return config_parse_route(ps, name, value);
	return config_fail(ps, section, "unknown section [%s]", section);
}

/* Line reader for inih: counts lines and stashes values longer than inih's fixed buffer. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_state *ps = stream;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, ps->f);
	if (n < 0) {
		if (ferror(ps->f))
			ps->read_errno = errno;
		free(line);
		return NULL;
	}
	ps->line++;
	if (n < num - 1) {
		/* Every line that cannot be a section, a setting, a comment or a continuation is reported here, so
		   that --check lists each of them (inih reports only the first). */
		const char *at = line + (ps->line == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0);
		if (*at && !isspace((unsigned char)*at) && !strchr(";#[", *at) && !strpbrk(at, "=:")) {
			config_fail(ps, NULL, "syntax error (expected [section] or key = value)");
			snprintf(str, (size_t)num, "\n");
		} else
			memcpy(str, line, (size_t)n + 1);
		free(line);
		return str;
	}
	/* A long comment stays a comment, whatever it contains. */
	const char *first = line + strspn(line, " \t");
	if (*first == ';' || *first == '#') {
		free(line);
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	/* Too long for inih: keep the key, hand it an index to the value we keep ourselves. */
	char *eq = strpbrk(line, "=:");
	if (!eq || eq - line > num - 16 || ps->nlong == (int)(sizeof ps->longvals / sizeof ps->longvals[0])) {
		free(line);
		config_fail(ps, NULL, "line too long");
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	char *v = eq + 1;
	while (isspace((unsigned char)*v))
		v++;
	/* Same inline-comment rule as inih: ';' preceded by whitespace. */
	for (char *q = v; *q; q++)
		if (*q == ';' && q > v && isspace((unsigned char)q[-1])) {
			*q = 0;
			break;
		}
	size_t vl = strlen(v);
	while (vl && isspace((unsigned char)v[vl - 1]))
		v[--vl] = 0;
	if (!(ps->longvals[ps->nlong] = strdup(v))) {
		free(line);
		config_fail(ps, NULL, "out of memory");
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	snprintf(str, (size_t)num, "%.*s= \x01%d\n", (int)(eq - line), line, ps->nlong);
	ps->nlong++;
	free(line);
	return str;
}

/* Fill every table setting with its default. */
static void set_defaults(struct config *cfg)
{
	for (const struct setting *st = config_settings; st->name; st++) {
		const char *why;
		int rc = config_apply_setting(cfg, st, st->def, &why);
		(void)rc;
	}
}

/* Point error messages at the line that set name (0 when it kept its default). */
static void at_setting(struct parse_state *ps, const char *name)
{
	const struct setting *st = config_find_setting(name);
	ps->line = st ? ps->set_line[st - config_settings] : 0;
}

/* True when the file or a SET chose name's value (false: its default). */
static bool given(const struct parse_state *ps, const char *name)
{
	const struct setting *st = config_find_setting(name);
	return st && ps->given[st - config_settings];
}

/* Warn about logins that are not what the secrets in the config suggest: everyone let in although secrets
   are configured, or nobody (PgBouncer's default md5 with nowhere to look a secret up). */
static void warn_auth(const struct parse_state *ps, bool needs_secrets, bool any_auth_user)
{
	const struct config *cfg = ps->cfg;
	bool no_password = cfg->auth_type == AUTH_TRUST || cfg->auth_type == AUTH_ANY;
	if (no_password && (cfg->authfile || any_auth_user))
		log_warn(NULL,
		         "%s: auth_type = %s lets every client in without a password although %s is set: "
		         "those secrets are not checked",
		         ps->path, config_auth_types[cfg->auth_type], cfg->authfile ? "auth_file" : "auth_user");
	if (needs_secrets && !cfg->authfile && !any_auth_user)
		log_warn(NULL,
		         "%s: auth_type is %s (the default, as in PgBouncer) but neither auth_file nor auth_user is "
		         "set: every client login fails; set auth_file, or auth_type = trust to accept clients without "
		         "a password",
		         ps->path, config_auth_types[cfg->auth_type]);
}

/* Report msg about setting name, pointing at the line that set it: always -1. */
static int invalid(struct parse_state *ps, const char *name, const char *msg)
{
	at_setting(ps, name);
	config_fail(ps, name, "%s", msg);
	return -1;
}

/* The secrets and the login checks; -1 after reporting each problem. */
static int validate_auth(struct parse_state *ps)
{
	struct config *cfg = ps->cfg;
	int bad = 0;
	char err[400], msg[700];
	if (cfg->auth_file && *cfg->auth_file && authfile_load(cfg->auth_file, &cfg->authfile, err, sizeof err) < 0) {
		snprintf(msg, sizeof msg, "%s: %s", cfg->auth_file, err);
		bad = invalid(ps, "auth_file", msg);
	}
	if (cfg->auth_hba_file && *cfg->auth_hba_file && hba_load(cfg->auth_hba_file, &cfg->hba, err, sizeof err) < 0) {
		snprintf(msg, sizeof msg, "%s: %s", cfg->auth_hba_file, err);
		bad = invalid(ps, "auth_hba_file", msg);
	}
	if (cfg->authfile) {
		size_t scram = 0;
		for (size_t i = 0; i < cfg->authfile->count; i++)
			scram += cfg->authfile->entries[i].kind == AUTH_SECRET_SCRAM;
		cfg->authfile_mostly_scram = scram * 2 > cfg->authfile->count;
	}
	bool needs_secrets = cfg->auth_type == AUTH_PLAIN || cfg->auth_type == AUTH_MD5 || cfg->auth_type == AUTH_SCRAM;
	bool any_auth_user = cfg->auth_user && *cfg->auth_user;
	for (int i = 0; i < cfg->ndbs; i++)
		any_auth_user |= cfg->dbs[i].auth_user != NULL;
	if (needs_secrets && !cfg->authfile && !any_auth_user && given(ps, "auth_type")) {
		snprintf(msg, sizeof msg, "'%s' needs auth_file (or auth_user and auth_query) with the users' secrets",
		         config_auth_types[cfg->auth_type]);
		bad = invalid(ps, "auth_type", msg);
	}
	warn_auth(ps, needs_secrets, any_auth_user);
	if (any_auth_user && !strstr(cfg->auth_query, "$1"))
		bad = invalid(ps, "auth_query", "must contain $1 (the user name)");
	if (cfg->auth_type == AUTH_CERT && cfg->client_tls_sslmode < TLS_VERIFY_CA)
		bad = invalid(ps, "auth_type", "'cert' needs client_tls_sslmode = verify-ca or verify-full");
	if (cfg->auth_type == AUTH_HBA && !cfg->hba)
		bad = invalid(ps, "auth_type", "'hba' needs auth_hba_file");
	return bad;
}

/* Checks that need more than one setting, after parsing: every problem is reported (--check lists them all;
   a load fails with the first). */
static int validate(struct parse_state *ps)
{
	struct config *cfg = ps->cfg;
	ps->line = 0;
	int bad = validate_auth(ps);
	char err[400];
	if (tls_build_contexts(cfg, err, sizeof err) < 0) {
		config_fail(ps, "tls", "%s", err);
		bad = -1;
	}
	char *end;
	long mode = strtol(cfg->unix_socket_mode, &end, 8);
	if (end == cfg->unix_socket_mode || *end || mode < 0 || mode > 0777)
		bad = invalid(ps, "unix_socket_mode", "expected octal permission bits such as 0777 or 0770");
	else
		cfg->unix_mode = (int)mode;
	if (cfg->monitor_interval > 0 && cfg->monitor_interval < 10000)
		bad = invalid(ps, "monitor_interval", "must be 0 (off) or at least 10ms");
	if (logsys_facility(cfg->syslog_facility) < 0)
		bad = invalid(ps, "syslog_facility", "expected auth, authpriv, daemon, user or local0 to local7");
	char h[256];
	int port;
	if (*cfg->consistency_store && ryw_store_parse_url(cfg->consistency_store, h, sizeof h, &port) < 0)
		bad = invalid(ps, "consistency_store", "expected redis://host:port");
	for (int i = 0; i < cfg->ndbs; i++)
		for (int j = i + 1; j < cfg->ndbs; j++)
			if (strcmp(cfg->dbs[i].name, cfg->dbs[j].name) == 0) {
				ps->line = cfg->dbs[j].line;
				config_fail(ps, cfg->dbs[j].name, "database defined twice");
				bad = -1;
			}
	return bad;
}

static void free_db(struct dbconf *db)
{
	free(db->name);
	free(db->dbname);
	free(db->user);
	free(db->password);
	free(db->auth_user);
	free(db->client_encoding);
	free(db->datestyle);
	free(db->timezone);
	free(db->application_name);
	for (int i = 0; i < MAX_NODES; i++)
		free(db->nodes[i].host);
}

static void config_free(struct config *cfg)
{
	for (const struct setting *st = config_settings; st->name; st++)
		if (st->type == CT_STR)
			free(*(char **)((char *)cfg + st->off));
	for (int i = 0; i < cfg->ndbs; i++)
		free_db(&cfg->dbs[i]);
	free(cfg->dbs);
	for (int i = 0; i < cfg->nroutes; i++) {
		struct routeconf *r = &cfg->routes[i];
		free(r->name);
		free(r->database);
		free(r->user);
		free(r->application_name);
		free(r->tag);
		free(r->regex_src);
		if (r->regex)
			regfree(r->regex);
		free(r->regex);
	}
	free(cfg->routes);
	authfile_free(cfg->authfile);
	tls_free_contexts(cfg);
	hba_free(cfg->hba);
	for (int i = 0; i < cfg->nsets; i++) {
		free(cfg->set_keys[i]);
		free(cfg->set_values[i]);
	}
	for (int i = 0; cfg->set_file_values && i < cfg->nsets; i++)
		free(cfg->set_file_values[i]);
	free(cfg->set_keys);
	free(cfg->set_values);
	free(cfg->set_file_values);
	config_source_put(cfg->src);
	free(cfg->path);
	free(cfg);
}

/* Apply the console's SETs (after the file, before validation); 0 or -1 after config_fail(). */
static int apply_sets(struct parse_state *ps, int nsets, char *const *keys, char *const *values)
{
	struct config *cfg = ps->cfg;
	if (nsets == 0)
		return 0;
	cfg->set_keys = calloc((size_t)nsets, sizeof *cfg->set_keys);
	cfg->set_values = calloc((size_t)nsets, sizeof *cfg->set_values);
	cfg->set_file_values = calloc((size_t)nsets, sizeof *cfg->set_file_values);
	if (!cfg->set_keys || !cfg->set_values || !cfg->set_file_values)
		return config_fail(ps, NULL, "out of memory"), -1;
	ps->line = 0;
	for (int i = 0; i < nsets; i++) {
		const struct setting *st = config_find_setting(keys[i]);
		const char *why = NULL;
		char shown[256];
		if (!st)
			return config_fail(ps, keys[i], "unknown setting"), -1;
		char file_value[256];
		config_setting_str(cfg, st, file_value, sizeof file_value); /* keys are distinct: still the file's */
		cfg->set_file_values[i] = strdup(file_value);
		cfg->nsets = i + 1; /* config_free frees entries [0, nsets), this one's too if it fails below */
		if (config_apply_setting(cfg, st, values[i], &why) < 0)
			return config_fail(ps, keys[i], "%s: '%s'", why,
			                   config_redact_value(st, values[i], shown, sizeof shown)),
			       -1;
		ps->given[st - config_settings] = true;
		cfg->set_keys[i] = strdup(st->name);
		cfg->set_values[i] = strdup(values[i]);
		cfg->nsets = i + 1;
		if (!cfg->set_keys[i] || !cfg->set_values[i] || !cfg->set_file_values[i])
			return config_fail(ps, NULL, "out of memory"), -1;
	}
	return 0;
}

/* Parse src (the file at path with its includes, as read) with the console's SETs on top, and validate. */
static struct config *load_text(const char *path, struct config_source *src, int nsets, char *const *keys,
                                char *const *values, char *err, size_t errlen, struct parse_state *check)
{
	struct parse_state ps = { .path = path, .src = src, .err = err, .errlen = errlen };
	if (check) {
		ps.report = check->report;
		ps.report_arg = check->report_arg;
	}
	struct config *cfg = calloc(1, sizeof *cfg);
	if (!cfg) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	atomic_init(&cfg->refcount, 1);
	cfg->path = strdup(path);
	cfg->src = config_source_get(src);
	ps.cfg = cfg;
	set_defaults(cfg);
	/* fmemopen refuses an empty buffer: an empty file reads as one blank line. */
	ps.f = src->len ? fmemopen(src->text, src->len, "r") : fmemopen((void *)"\n", 1, "r");
	if (!ps.f || !cfg->path) {
		snprintf(err, errlen, "%s: out of memory", path);
		if (ps.f)
			fclose(ps.f);
		config_free(cfg);
		return NULL;
	}
	int rc = ini_parse_stream(read_line, &ps, on_ini_key, &ps);
	fclose(ps.f);
	if (ps.read_errno) {
		snprintf(err, errlen, "%s: cannot read config file: %s", path, strerror(ps.read_errno));
		ps.failed = true;
	}
	for (int i = 0; i < ps.nlong; i++)
		free(ps.longvals[i]);
	if (rc > 0 && !ps.read_errno && (!ps.failed || rc < ps.fail_line)) {
		ps.failed = false;
		ps.line = rc;
		config_fail(&ps, NULL, "syntax error (expected [section] or key = value)");
	}
	if (!ps.failed)
		apply_sets(&ps, nsets, keys, values);
	if (!ps.failed)
		validate(&ps);
	if (check)
		check->nproblems = ps.nproblems;
	if (ps.failed || ps.nproblems) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Load and validate a config file. */
struct config *config_load(const char *path, char *err, size_t errlen)
{
	struct config_source *src = config_source_read(path, err, errlen);
	if (!src)
		return NULL;
	struct config *cfg = load_text(path, src, 0, NULL, NULL, err, errlen, NULL);
	config_source_put(src);
	return cfg;
}

int config_check(const char *path, void (*report)(void *arg, const char *problem), void *arg)
{
	char err[600];
	struct config_source *src = config_source_read(path, err, sizeof err);
	if (!src) {
		report(arg, err);
		return 1;
	}
	struct parse_state check = { .report = report, .report_arg = arg };
	struct config *cfg = load_text(path, src, 0, NULL, NULL, err, sizeof err, &check);
	config_source_put(src);
	if (!cfg && check.nproblems == 0) { /* failed without a problem of the file (out of memory, a read error) */
		report(arg, err);
		return 1;
	}
	config_put(cfg);
	return check.nproblems;
}

/* The console's SETs of old that still apply over base (the file as read now): a SET survives unless the file
   changed that setting since. Fills keys/values (borrowed from old); returns how many. */
static int surviving_sets(const struct config *old, const struct config *base, char **keys, char **values)
{
	int n = 0;
	for (int i = 0; i < old->nsets; i++) {
		const struct setting *st = config_find_setting(old->set_keys[i]);
		char now[256];
		if (!st)
			continue;
		config_setting_str(base, st, now, sizeof now);
		if (old->set_file_values && old->set_file_values[i] && strcmp(now, old->set_file_values[i]) == 0) {
			keys[n] = old->set_keys[i];
			values[n++] = old->set_values[i];
			continue;
		}
		char shown[256];
		config_setting_shown(base, st, shown, sizeof shown);
		log_info(NULL, "reload: the file changed %s to '%s': it replaces the admin console's SET", st->name,
		         shown);
	}
	return n;
}

struct config *config_reload(const struct config *old, char *err, size_t errlen)
{
	/* Included files are read again too: a reload sees what they say now. */
	struct config_source *src = config_source_read(old->path, err, errlen);
	if (!src)
		return NULL;
	struct config *base = load_text(old->path, src, 0, NULL, NULL, err, errlen, NULL);
	char **keys = base && old->nsets ? calloc((size_t)old->nsets, sizeof *keys) : NULL;
	char **values = keys ? calloc((size_t)old->nsets, sizeof *values) : NULL;
	int n = values ? surviving_sets(old, base, keys, values) : 0;
	struct config *cfg = base;
	if (n > 0) {
		char why[600];
		cfg = load_text(old->path, src, n, keys, values, why, sizeof why, NULL);
		if (cfg)
			config_put(base);
		else {
			log_warn(NULL,
			         "reload: the admin console's SETs do not fit the file any more (%s); using the file's "
			         "values",
			         why);
			cfg = base;
		}
	}
	free(keys);
	free(values);
	config_source_put(src);
	return cfg;
}

int config_with_setting(const struct config *cfg, const char *key, const char *value, struct config **out, char *err,
                        size_t errlen)
{
	const struct setting *st = config_find_setting(key);
	*out = NULL;
	if (!st) {
		snprintf(err, errlen, "unknown setting \"%s\"", key);
		return CFGSET_UNKNOWN;
	}
	if (st->flags & F_RESTART) {
		snprintf(err, errlen, "%s cannot be changed while pgrouter runs (it needs a restart)", st->name);
		return CFGSET_RESTART;
	}
	/* The earlier SETs, with this key's value replaced or appended: later SETs win. */
	int n = 0;
	char **keys = calloc((size_t)cfg->nsets + 1, sizeof *keys);
	char **values = calloc((size_t)cfg->nsets + 1, sizeof *values);
	if (!keys || !values) {
		free(keys);
		free(values);
		snprintf(err, errlen, "out of memory");
		return CFGSET_INVALID;
	}
	for (int i = 0; i < cfg->nsets; i++) {
		if (strcasecmp(cfg->set_keys[i], st->name) == 0)
			continue;
		keys[n] = cfg->set_keys[i];
		values[n++] = cfg->set_values[i];
	}
	keys[n] = (char *)st->name;
	values[n++] = (char *)value;
	char why[600];
	*out = load_text(cfg->path, cfg->src, n, keys, values, why, sizeof why, NULL);
	free(keys);
	free(values);
	if (!*out) {
		/* Messages about the SET itself carry no line: drop the "file:0: " prefix. */
		const char *m = strstr(why, ":0: ");
		snprintf(err, errlen, "%s", m ? m + 4 : why);
		return CFGSET_INVALID;
	}
	return CFGSET_OK;
}

struct config *config_get(struct config *c)
{
	atomic_fetch_add(&c->refcount, 1);
	return c;
}

void config_put(struct config *c)
{
	if (c && atomic_fetch_sub(&c->refcount, 1) == 1)
		config_free(c);
}

/* Exact name first, then the "*" fallback entry. */
const struct dbconf *config_find_db(const struct config *c, const char *name)
{
	const struct dbconf *star = NULL;
	for (int i = 0; i < c->ndbs; i++) {
		if (strcmp(c->dbs[i].name, name) == 0)
			return &c->dbs[i];
		if (strcmp(c->dbs[i].name, "*") == 0)
			star = &c->dbs[i];
	}
	return star;
}

/* Membership in "a, b,c" lists; "*" matches everything. */
bool list_contains(const char *list, const char *name, bool ci)
{
	if (!list || !name)
		return false;
	size_t nl = strlen(name);
	for (const char *p = list; *p;) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		size_t n = strcspn(p, ", \t");
		if (n == 1 && *p == '*')
			return true;
		if (n == nl && n && (ci ? strncasecmp(p, name, n) : strncmp(p, name, n)) == 0)
			return true;
		p += n;
	}
	return false;
}

int config_pool_mode(const char *name)
{
	for (int i = 0; config_pool_modes[i]; i++)
		if (strcasecmp(name, config_pool_modes[i]) == 0)
			return i;
	return -1;
}

const char *pool_mode_name(int mode)
{
	return mode >= 0 && mode <= 2 ? config_pool_modes[mode] : "?";
}
const char *auth_type_name(int type)
{
	return type >= 0 && type <= 6 ? config_auth_types[type] : "?";
}

void config_keep_restart_settings(const struct config *old_c, struct config *new_c)
{
	for (const struct setting *st = config_settings; st->name; st++) {
		if (!(st->flags & F_RESTART))
			continue;
		const char *src = (const char *)old_c + st->off;
		char *dst = (char *)new_c + st->off;
		switch (st->type) {
		case CT_STR: {
			char *copy = strdup(*(char *const *)src ? *(char *const *)src : "");
			if (copy) {
				free(*(char **)dst);
				*(char **)dst = copy;
			}
			break;
		}
		case CT_BOOL: *(bool *)dst = *(const bool *)src; break;
		case CT_INT:
		case CT_ENUM: *(int *)dst = *(const int *)src; break;
		case CT_DUR:
		case CT_SIZE: *(int64_t *)dst = *(const int64_t *)src; break;
		}
	}
}
