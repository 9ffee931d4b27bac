/* Config entries with their own syntax: [databases] connection strings and [routes] rules. */
#include "config/config_int.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMAX 2147483647

/* Parse "host[:port][@weight]" or "[v6]:port[@weight]" into n. */
static int parse_node(const char *spec, size_t len, struct nodeconf *n, int default_port)
{
	char buf[300];
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, spec, len);
	buf[len] = 0;
	n->weight = 1;
	n->port = default_port;
	char *at = strrchr(buf, '@');
	if (at) {
		int64_t w;
		*at = 0;
		if (config_parse_int(at + 1, &w) < 0 || w < 0 || w > 1000000)
			return -1;
		n->weight = (int)w;
	}
	char *host = buf, *port = NULL;
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close)
			return -1;
		*close = 0;
		host = buf + 1;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return -1;
	} else {
		char *colon = strrchr(buf, ':');
		if (colon && strchr(buf, ':') == colon) {
			*colon = 0;
			port = colon + 1;
		}
	}
	if (port) {
		int64_t p;
		if (config_parse_int(port, &p) < 0 || p < 1 || p > 65535)
			return -1;
		n->port = (int)p;
	}
	if (!*host)
		return -1;
	n->host = strdup(host);
	return n->host ? 0 : -1;
}

/* Read one libpq-style value (bare or single-quoted with \' and '' escapes) into out. */
static const char *read_conn_value(const char *p, char *out, size_t outlen, bool *ok)
{
	size_t o = 0;
	*ok = true;
	if (*p == '\'') {
		p++;
		for (;;) {
			if (!*p)
				return *ok = false, p;
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '\'' && p[1] == '\'')
				p++;
			else if (*p == '\'') {
				p++;
				break;
			}
			if (o + 1 >= outlen)
				return *ok = false, p;
			out[o++] = *p++;
		}
	} else {
		while (*p && !isspace((unsigned char)*p)) {
			if (o + 1 >= outlen)
				return *ok = false, p;
			out[o++] = *p++;
		}
	}
	out[o] = 0;
	return p;
}

/* Keys of a [databases] entry that hold integers, and where. */
static int *db_int_field(struct dbconf *db, const char *key)
{
	if (strcmp(key, "pool_size") == 0)
		return &db->pool_size;
	if (strcmp(key, "min_pool_size") == 0)
		return &db->min_pool_size;
	if (strcmp(key, "reserve_pool") == 0 || strcmp(key, "reserve_pool_size") == 0)
		return &db->reserve_pool;
	if (strcmp(key, "max_db_connections") == 0)
		return &db->max_db_connections;
	return NULL;
}

/* Keys of a [databases] entry that hold strings, and where. */
static char **db_str_field(struct dbconf *db, const char *key)
{
	if (strcmp(key, "dbname") == 0)
		return &db->dbname;
	if (strcmp(key, "user") == 0)
		return &db->user;
	if (strcmp(key, "password") == 0)
		return &db->password;
	if (strcmp(key, "auth_user") == 0)
		return &db->auth_user;
	if (strcmp(key, "client_encoding") == 0)
		return &db->client_encoding;
	if (strcmp(key, "datestyle") == 0)
		return &db->datestyle;
	if (strcmp(key, "timezone") == 0)
		return &db->timezone;
	if (strcmp(key, "application_name") == 0)
		return &db->application_name;
	return NULL;
}

/* Apply one key=value of a [databases] entry; 0 or -1 with why. */
static int db_apply(struct dbconf *db, const char *key, const char *val, char *host, size_t hostlen, int *port,
                    const char **why)
{
	int *ip = db_int_field(db, key);
	char **sp = db_str_field(db, key);
	int64_t v;
	if (ip) {
		if (config_parse_int(val, &v) < 0 || v < 0 || v > IMAX)
			return *why = "expected a non-negative integer", -1;
		*ip = (int)v;
	} else if (sp) {
		free(*sp);
		*sp = strdup(val);
	} else if (strcmp(key, "host") == 0) {
		if (strlen(val) >= hostlen)
			return *why = "host too long", -1;
		if (!*val)
			return *why = "host must not be empty", -1;
		strcpy(host, val);
	} else if (strcmp(key, "port") == 0) {
		if (config_parse_int(val, &v) < 0 || v < 1 || v > 65535)
			return *why = "bad port", -1;
		*port = (int)v;
	} else if (strcmp(key, "pool_mode") == 0) {
		int m = config_pool_mode(val);
		if (m < 0)
			return *why = "pool_mode must be session, transaction or statement", -1;
		db->pool_mode = m;
	} else if (strcmp(key, "target") == 0) {
		if (strcasecmp(val, "auto") == 0)
			db->target = 0;
		else if (strcasecmp(val, "primary") == 0)
			db->target = 1;
		else if (strcasecmp(val, "replica") == 0)
			db->target = 2;
		else
			return *why = "target must be auto, primary or replica", -1;
	} else if (strcmp(key, "replicas") == 0) {
		/* Resolved after host/port are known; stash the raw list in nodes[1].host. */
		free(db->nodes[1].host);
		db->nodes[1].host = strdup(val);
	} else if (strcmp(key, "connect_query") == 0) {
		return *why = "not supported yet", -1;
	} else {
		return *why = "unknown key", -1;
	}
	return 0;
}

/* Split the stashed replicas list into nodes 1..n. */
static int db_resolve_replicas(struct dbconf *db, int default_port, const char **why)
{
	char *list = db->nodes[1].host;
	db->nodes[1].host = NULL;
	db->nnodes = 1;
	if (!list)
		return 0;
	int rc = 0;
	for (char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		while (n && isspace((unsigned char)*p))
			p++, n--;
		size_t m = n;
		while (m && isspace((unsigned char)p[m - 1]))
			m--;
		if (m) {
			if (db->nnodes == MAX_NODES) {
				*why = "too many replicas";
				rc = -1;
				break;
			}
			if (parse_node(p, m, &db->nodes[db->nnodes], default_port) < 0) {
				*why = "bad replica address (host[:port][@weight])";
				rc = -1;
				break;
			}
			db->nnodes++;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	free(list);
	return rc;
}

/* Walk "key=value key='quoted value' …", calling apply for each pair; 1, or 0 after fail() with what. Messages
   name keys, never values or the text around them: a password= value may be among them. */
static int for_each_kv(struct parse_state *ps, const char *name, const char *value, const char *what,
                       int (*apply)(void *obj, const char *key, const char *val, const char **why), void *obj)
{
	char key[64] = "", val[4096];
	for (const char *p = value; *p;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *eq = strchr(p, '=');
		if (!eq || eq == p)
			return *key ? config_fail(ps, name,
			                          "expected key=value in %s after the value of %s (quote values "
			                          "that contain spaces)",
			                          what, key)
			            : config_fail(ps, name, "expected key=value in %s", what);
		size_t kl = (size_t)(eq - p);
		while (kl && isspace((unsigned char)p[kl - 1]))
			kl--;
		if (kl >= sizeof key)
			return config_fail(ps, name, "key too long");
		memcpy(key, p, kl);
		key[kl] = 0;
		p = eq + 1;
		while (isspace((unsigned char)*p))
			p++;
		bool ok;
		p = read_conn_value(p, val, sizeof val, &ok);
		if (!ok)
			return config_fail(ps, name, "bad value for %s (unterminated quote or too long)", key);
		const char *why = NULL;
		if (apply(obj, key, val, &why) < 0)
			return config_fail(ps, name, "%s: %s", key, why);
	}
	return 1;
}

/* One database entry being parsed, with its primary's address until the end. */
struct db_parse {
	struct dbconf *db;
	char host[256];
	int port;
};

static int db_apply_kv(void *obj, const char *key, const char *val, const char **why)
{
	struct db_parse *dp = obj;
	return db_apply(dp->db, key, val, dp->host, sizeof dp->host, &dp->port, why);
}

/* Parse a [databases] value like "host=… port=… dbname=… replicas=…". */
int config_parse_db(struct parse_state *ps, const char *name, const char *value)
{
	struct config *cfg = ps->cfg;
	struct dbconf *dbs = realloc(cfg->dbs, sizeof *dbs * (size_t)(cfg->ndbs + 1));
	if (!dbs)
		return config_fail(ps, name, "out of memory");
	cfg->dbs = dbs;
	struct dbconf *db = &dbs[cfg->ndbs++];
	memset(db, 0, sizeof *db);
	db->name = strdup(name);
	db->pool_size = db->min_pool_size = db->reserve_pool = db->pool_mode = -1;
	db->line = ps->line;
	struct db_parse dp = { db, "127.0.0.1", 5432 };
	if (!for_each_kv(ps, name, value, "database definition", db_apply_kv, &dp))
		return 0;
	const char *why = NULL;
	if (db_resolve_replicas(db, dp.port, &why) < 0)
		return config_fail(ps, name, "replicas: %s", why);
	db->nodes[0].host = strdup(dp.host);
	db->nodes[0].port = dp.port;
	db->nodes[0].weight = 1;
	return 1;
}

/* Apply one key=value of a [routes] rule; 0 or -1 with why. */
static int route_apply(struct routeconf *r, const char *key, const char *val, const char **why)
{
	char **sp = strcmp(key, "database") == 0       ? &r->database
	        : strcmp(key, "user") == 0             ? &r->user
	        : strcmp(key, "application_name") == 0 ? &r->application_name
	        : strcmp(key, "tag") == 0              ? &r->tag
	        : strcmp(key, "regex") == 0            ? &r->regex_src
	                                               : NULL;
	if (sp) {
		free(*sp);
		*sp = strdup(val);
		return 0;
	}
	if (strcmp(key, "target") == 0) {
		r->target = strcasecmp(val, "auto") == 0  ? 0
		        : strcasecmp(val, "primary") == 0 ? 1
		        : strcasecmp(val, "replica") == 0 ? 2
		                                          : -1;
		return r->target < 0 ? (*why = "target must be primary, replica or auto", -1) : 0;
	}
	if (strcmp(key, "max_lag") == 0) {
		int64_t v;
		if (parse_duration(val, &v) == 0) {
			r->max_lag_ms = v / 1000;
			return 0;
		}
		if (parse_size(val, &v) == 0 && strpbrk(val, "kKmMgGB")) {
			r->max_lag_bytes = v;
			return 0;
		}
		return *why = "max_lag must be a duration (30s, 500ms) or a size (16MB)", -1;
	}
	if (strcmp(key, "fallback") == 0) {
		if (strcasecmp(val, "primary") == 0)
			r->fallback = 0;
		else if (strcasecmp(val, "error") == 0)
			r->fallback = 1;
		else if (strncasecmp(val, "wait:", 5) == 0)
			return *why = "fallback=wait needs the cluster monitor, which this version does not have yet",
			       -1;
		else
			return *why = "fallback must be primary or error", -1;
		return 0;
	}
	return *why = "unknown key (database, user, application_name, tag, regex, target, max_lag, fallback)", -1;
}

static int route_apply_kv(void *obj, const char *key, const char *val, const char **why)
{
	return route_apply(obj, key, val, why);
}

#define REGEX_MAX_LEN 512
#define REGEX_MAX_COST 10000

/* The closing ']' of the bracket expression opening at q, or NULL (regcomp will refuse the regex). */
static const char *bracket_end(const char *q)
{
	q++;
	if (*q == '^')
		q++;
	if (*q == ']')
		q++; /* a leading ']' is a member */
	for (; *q && *q != ']'; q++) {
		if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
			char kind = q[1];
			for (q += 2; *q && !(q[0] == kind && q[1] == ']'); q++)
				;
			if (!*q)
				return NULL;
			q++; /* on the class's ']' */
		}
	}
	return *q ? q : NULL;
}

/* The copies {n,m} or {n,} asks for (its largest count plus one), with q just past the '{' and *end set to its
   '}'; 0 when this is no interval (then the '{' is an ordinary character to us and regcomp decides). */
static double interval_factor(const char *q, const char **end)
{
	double hi = 0;
	int digits = 0;
	for (; *q >= '0' && *q <= '9'; q++, digits++)
		hi = hi * 10 + (*q - '0');
	if (*q == ',') {
		q++;
		double hi2 = 0;
		for (; *q >= '0' && *q <= '9'; q++, digits++)
			hi2 = hi2 * 10 + (*q - '0');
		if (hi2 > hi)
			hi = hi2;
	}
	if (*q != '}' || digits == 0)
		return 0;
	*end = q;
	return hi + 1;
}

/* An upper bound on the elements regcomp() builds for the extended regex s: an atom repeated by {n,m} is
   copied for each count and by + once more, and a group's size is the sum of its atoms. */
static double regex_cost(const char *s)
{
	double sum[REGEX_MAX_LEN + 1]; /* the size of each open group so far */
	int depth = 0;
	double last = 0; /* the atom a quantifier would repeat */
	sum[0] = 0;
	for (const char *q = s; *q; q++) {
		double atom = 1, factor = 0;
		const char *end;
		if (*q == '(' && depth < REGEX_MAX_LEN) {
			sum[++depth] = 0;
			last = 0;
			continue;
		}
		if (*q == ')' && depth > 0)
			atom = sum[depth--] + 1;
		else if (*q == '+')
			factor = 2;
		else if (*q == '*' || *q == '?')
			factor = 1;
		else if (*q == '{' && (factor = interval_factor(q + 1, &end)) > 0)
			q = end;
		else if (*q == '\\' && q[1])
			q++;
		else if (*q == '[' && (end = bracket_end(q)) != NULL)
			q = end;
		if (factor > 0) {
			sum[depth] += last * (factor - 1);
			last *= factor;
			continue;
		}
		sum[depth] += atom;
		last = atom;
	}
	double total = 0;
	while (depth >= 0)
		total += sum[depth--];
	return total;
}

/* Parse a [routes] value like "application_name=grafana target=replica max_lag=30s". */
int config_parse_route(struct parse_state *ps, const char *name, const char *value)
{
	struct config *cfg = ps->cfg;
	struct routeconf *rs = realloc(cfg->routes, sizeof *rs * (size_t)(cfg->nroutes + 1));
	if (!rs)
		return config_fail(ps, name, "out of memory");
	cfg->routes = rs;
	struct routeconf *r = &rs[cfg->nroutes++];
	memset(r, 0, sizeof *r);
	r->name = strdup(name);
	r->max_lag_ms = r->max_lag_bytes = -1;
	r->line = ps->line;
	if (!for_each_kv(ps, name, value, "route", route_apply_kv, r))
		return 0;
	if (r->regex_src) {
		/* regcomp() copies a repeated atom once per count, so nested repetitions multiply: ((a{255}){255}){255}
		   or eighteen nested (…)+ need hundreds of megabytes. Bound the copies first. */
		if (strlen(r->regex_src) > REGEX_MAX_LEN || regex_cost(r->regex_src) > REGEX_MAX_COST)
			return config_fail(ps, name,
			                   "regex too large or its repetitions nest too deeply (limit: %d characters, "
			                   "%d pattern elements once {n,m} and + are expanded)",
			                   REGEX_MAX_LEN, REGEX_MAX_COST);
		regex_t *re = calloc(1, sizeof *re);
		int rc = re ? regcomp(re, r->regex_src, REG_EXTENDED | REG_NOSUB | REG_ICASE) : REG_ESPACE;
		if (rc != 0) {
			char msg[200] = "out of memory";
			if (re)
				regerror(rc, re, msg, sizeof msg);
			free(re);
			return config_fail(ps, name, "regex: %s", msg);
		}
		r->regex = re;
	}
	if (!r->database && !r->user && !r->application_name && !r->tag && !r->regex_src)
		return config_fail(ps, name,
		                   "a route needs at least one of database, user, application_name, tag, regex");
	return 1;
}
