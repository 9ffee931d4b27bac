/* auth_hba_file: the pg_hba.conf subset pgrouter supports, parsed once, matched per login. */
#include "auth/hba.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/readfile.h"

#define HBA_MAX_FIELDS 16

enum rule_type { RT_LOCAL, RT_HOST, RT_HOSTSSL, RT_HOSTNOSSL };
enum addr_kind { ADDR_NONE, ADDR_ALL, ADDR_CIDR };

/* One name from the file; quoted names never act as keywords. */
struct hba_tok {
	char *s;
	bool quoted;
};

/* A whitespace-separated field: one token, or a comma list (expanded @files included). */
struct hba_field {
	struct hba_tok *t;
	size_t n, cap;
};

/* A database or user column after keyword resolution. */
struct hba_names {
	bool all;
	bool sameuser;
	char **v;
	size_t n;
};

struct hba_rule {
	int line;
	enum rule_type type;
	struct hba_names db, user;
	enum addr_kind addr_kind;
	int family;
	uint8_t addr[16], mask[16];
	enum hba_method method;
};

struct hba {
	struct hba_rule *rules;
	size_t n, cap;
};

/* Lexer over one file; dir resolves relative @file names. */
struct hba_lex {
	const char *p, *end;
	const char *name;
	const char *dir;
	int line;
	int depth;
	char *err;
	size_t errcap;
};

/* "name:line: why" into the error buffer; always -1. */
static int lex_error(struct hba_lex *lx, const char *fmt, ...)
{
	if (!lx->err || lx->errcap == 0)
		return -1;
	int n = snprintf(lx->err, lx->errcap, "%s:%d: ", lx->name, lx->line);
	if (n >= 0 && (size_t)n < lx->errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(lx->err + n, lx->errcap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Free the tokens of a field and reset it. */
static void field_clear(struct hba_field *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->t[i].s);
	free(f->t);
	memset(f, 0, sizeof *f);
}

/* Append a copy of a token. */
static int field_add(struct hba_lex *lx, struct hba_field *f, const char *s, size_t len, bool quoted)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 4;
		struct hba_tok *t = realloc(f->t, ncap * sizeof *t);
		if (!t)
			return lex_error(lx, "out of memory");
		f->t = t;
		f->cap = ncap;
	}
	char *c = strndup(s, len);
	if (!c)
		return lex_error(lx, "out of memory");
	f->t[f->n].s = c;
	f->t[f->n].quoted = quoted;
	f->n++;
	return 0;
}

/* Skip spaces, tabs and carriage returns. */
static void skip_blanks(struct hba_lex *lx)
{
	while (lx->p != lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r'))
		lx->p++;
}

/* Move past the rest of the current line (comment or garbage already reported). */
static void skip_line(struct hba_lex *lx)
{
	const char *nl = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
	lx->p = nl ? nl + 1 : lx->end;
	lx->line++;
}

static int read_field(struct hba_lex *lx, struct hba_field *f);

/* Add every token of every line of an @file to f, as PostgreSQL does. */
static int include_file(struct hba_lex *lx, const char *fname, struct hba_field *f)
{
	char path[PATH_MAX], dir[PATH_MAX], *buf = NULL;
	size_t len = 0;
	if (lx->depth >= HBA_MAX_DEPTH)
		return lex_error(lx, "@%s: inclusions nested too deeply", fname);
	int n = (fname[0] == '/' || !lx->dir) ? snprintf(path, sizeof path, "%s", fname)
	                                      : snprintf(path, sizeof path, "%s/%s", lx->dir, fname);
	if (n < 0 || (size_t)n >= sizeof path)
		return lex_error(lx, "@%s: path too long", fname);
	char ferr[256];
	if (auth_read_file(path, HBA_MAX_SIZE, &buf, &len, ferr, sizeof ferr) != 0)
		return lex_error(lx, "%s", ferr);
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	struct hba_lex sub = { buf, buf + len, path, slash ? dir : NULL, 1, lx->depth + 1, lx->err, lx->errcap };
	int rc = memchr(buf, '\0', len) ? lex_error(&sub, "NUL byte") : 0;
	while (rc == 0 && sub.p != sub.end) {
		skip_blanks(&sub);
		if (sub.p == sub.end || *sub.p == '\n' || *sub.p == '#')
			skip_line(&sub);
		else
			rc = read_field(&sub, f);
	}
	free(buf);
	return rc;
}

/* Read one token: quotes toggle (and mark it quoted); blanks, ',' and '#' end it. */
static int read_token(struct hba_lex *lx, char *buf, size_t *len, bool *quoted)
{
	bool in_quote = false;
	size_t n = 0;
	*quoted = false;
	while (lx->p != lx->end && *lx->p != '\n') {
		char c = *lx->p;
		if (!in_quote && (c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '#'))
			break;
		lx->p++;
		if (c == '"') {
			in_quote = !in_quote;
			*quoted = true;
			continue;
		}
		if (n == HBA_MAX_TOKEN)
			return lex_error(lx, "name longer than %d bytes", HBA_MAX_TOKEN);
		buf[n++] = c;
	}
	if (in_quote)
		return lex_error(lx, "unterminated quote");
	if (n == 0 && !*quoted)
		return lex_error(lx, "empty name in list");
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Read a field: tokens joined by commas (blanks allowed after a comma). */
static int read_field(struct hba_lex *lx, struct hba_field *f)
{
	char buf[HBA_MAX_TOKEN + 1];
	for (;;) {
		size_t len = 0;
		bool quoted;
		if (read_token(lx, buf, &len, &quoted) != 0)
			return -1;
		int rc = (!quoted && buf[0] == '@') ? include_file(lx, buf + 1, f) : field_add(lx, f, buf, len, quoted);
		if (rc != 0)
			return -1;
		if (lx->p == lx->end || *lx->p != ',')
			return 0;
		lx->p++;
		skip_blanks(lx);
	}
}

/* True if the token is the unquoted keyword kw. */
static bool is_kw(const struct hba_tok *t, const char *kw)
{
	return !t->quoted && strcmp(t->s, kw) == 0;
}

/* The single token of a field that must not be a list. */
static int single(struct hba_lex *lx, const struct hba_field *f, const char *what, const struct hba_tok **out)
{
	if (f->n != 1)
		return lex_error(lx, "%s must be a single value", what);
	*out = &f->t[0];
	return 0;
}

/* Connection type column. */
static int parse_type(struct hba_lex *lx, const struct hba_field *f, enum rule_type *out)
{
	const struct hba_tok *t = NULL;
	if (single(lx, f, "connection type", &t) != 0)
		return -1;
	if (is_kw(t, "local"))
		*out = RT_LOCAL;
	else if (is_kw(t, "host") || is_kw(t, "hostnogssenc"))
		*out = RT_HOST;
	else if (is_kw(t, "hostssl"))
		*out = RT_HOSTSSL;
	else if (is_kw(t, "hostnossl"))
		*out = RT_HOSTNOSSL;
	else if (is_kw(t, "hostgssenc"))
		return lex_error(lx, "hostgssenc is not supported (no GSSAPI encryption)");
	else
		return lex_error(lx, "invalid connection type \"%s\"", t->s);
	return 0;
}

/* Resolve a database (is_db) or user column: keywords become flags, names are kept. */
static int parse_names(struct hba_lex *lx, struct hba_field *f, bool is_db, struct hba_names *out)
{
	out->v = calloc(f->n, sizeof *out->v);
	if (!out->v)
		return lex_error(lx, "out of memory");
	for (size_t i = 0; i < f->n; i++) {
		struct hba_tok *t = &f->t[i];
		if (is_kw(t, "all")) {
			out->all = true;
		} else if (is_db && is_kw(t, "sameuser")) {
			out->sameuser = true;
		} else if (is_db && (is_kw(t, "samerole") || is_kw(t, "samegroup"))) {
			return lex_error(lx, "%s is not supported (no role membership)", t->s);
		} else if (is_db && is_kw(t, "replication")) {
			return lex_error(lx, "replication connections are not supported");
		} else if (!is_db && !t->quoted && t->s[0] == '+') {
			return lex_error(lx, "group membership (+%s) is not supported", t->s + 1);
		} else {
			out->v[out->n++] = t->s;
			t->s = NULL; /* ownership moves to the rule */
		}
	}
	return 0;
}

/* Parse an IPv4/IPv6 literal into bytes; returns the family or -1. */
static int parse_ip(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) == 1)
		return AF_INET6;
	return -1;
}

/* "addr/bits": the prefix length is 0..32 or 0..128 in plain decimal. */
static int parse_cidr(struct hba_lex *lx, const char *s, struct hba_rule *r)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t iplen = (size_t)(slash - s), bl = strlen(slash + 1);
	if (iplen >= sizeof ip || bl == 0 || bl > 3 || strspn(slash + 1, "0123456789") != bl)
		return lex_error(lx, "invalid CIDR address \"%s\"", s);
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	r->family = parse_ip(ip, r->addr);
	int bits = atoi(slash + 1), max = r->family == AF_INET ? 32 : 128;
	if (r->family < 0 || bits > max)
		return lex_error(lx, "invalid CIDR address \"%s\"", s);
	memset(r->mask, 0, sizeof r->mask);
	for (int i = 0; i < bits; i++)
		r->mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return 0;
}

/* Address column(s) of a host rule; *used is how many fields it took (1 or 2). */
static int parse_addr(struct hba_lex *lx, const struct hba_field *f, const struct hba_field *next, struct hba_rule *r,
                      int *used)
{
	const struct hba_tok *t = NULL;
	*used = 1;
	if (single(lx, f, "address", &t) != 0)
		return -1;
	if (is_kw(t, "all")) {
		r->addr_kind = ADDR_ALL;
		return 0;
	}
	if (is_kw(t, "samehost") || is_kw(t, "samenet"))
		return lex_error(lx, "%s is not supported; write the address as CIDR", t->s);
	r->addr_kind = ADDR_CIDR;
	if (strchr(t->s, '/'))
		return parse_cidr(lx, t->s, r);
	r->family = parse_ip(t->s, r->addr);
	if (r->family < 0)
		return lex_error(lx, "host names are not supported (\"%s\"); use an IP address", t->s);
	if (!next || next->n != 1 || parse_ip(next->t[0].s, r->mask) != r->family)
		return lex_error(lx, "IP address \"%s\" needs a /prefix or a netmask", t->s);
	*used = 2;
	return 0;
}

/* Method column, with the type restrictions PostgreSQL applies. */
static int parse_method(struct hba_lex *lx, const struct hba_field *f, struct hba_rule *r)
{
	static const struct {
		const char *name;
		enum hba_method m;
	} methods[] = {
		{ "trust", HBA_METHOD_TRUST },         { "reject", HBA_METHOD_REJECT },     { "md5", HBA_METHOD_MD5 },
		{ "scram-sha-256", HBA_METHOD_SCRAM }, { "password", HBA_METHOD_PASSWORD }, { "cert", HBA_METHOD_CERT },
		{ "peer", HBA_METHOD_PEER },
	};
	const struct hba_tok *t = NULL;
	if (single(lx, f, "authentication method", &t) != 0)
		return -1;
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		if (!is_kw(t, methods[i].name))
			continue;
		r->method = methods[i].m;
		if (r->method == HBA_METHOD_PEER && r->type != RT_LOCAL)
			return lex_error(lx, "peer authentication is only supported on local sockets");
		if (r->method == HBA_METHOD_CERT && r->type != RT_HOSTSSL)
			return lex_error(lx, "cert authentication is only supported on hostssl lines");
		return 0;
	}
	return lex_error(lx, "authentication method \"%s\" is not supported", t->s);
}

/* Turn the fields of one line into a rule. */
static int build_rule(struct hba_lex *lx, struct hba_field *fl, int nf, struct hba_rule *r)
{
	int i = 3, used = 0;
	if (nf < 4)
		return lex_error(lx, "incomplete line: expected type, database, user, %smethod",
		                 nf > 0 && fl[0].n == 1 && is_kw(&fl[0].t[0], "local") ? "" : "address, ");
	if (parse_type(lx, &fl[0], &r->type) != 0 || parse_names(lx, &fl[1], true, &r->db) != 0 ||
	    parse_names(lx, &fl[2], false, &r->user) != 0)
		return -1;
	if (r->type != RT_LOCAL) {
		if (parse_addr(lx, &fl[3], nf > 4 ? &fl[4] : NULL, r, &used) != 0)
			return -1;
		i += used;
	}
	if (i >= nf)
		return lex_error(lx, "missing authentication method");
	if (parse_method(lx, &fl[i], r) != 0)
		return -1;
	if (i + 1 < nf)
		return lex_error(lx, "authentication options (\"%s\") are not supported",
		                 (fl[i + 1].n ? fl[i + 1].t[0].s : "@file"));
	for (int k = 0; k < 16; k++)
		r->addr[k] &= r->mask[k];
	return 0;
}

/* Free a rule's name lists. */
static void rule_free(struct hba_rule *r)
{
	for (size_t i = 0; i < r->db.n; i++)
		free(r->db.v[i]);
	for (size_t i = 0; i < r->user.n; i++)
		free(r->user.v[i]);
	free(r->db.v);
	free(r->user.v);
}

/* Read the fields of the current line, build the rule and append it. */
static int parse_line(struct hba_lex *lx, struct hba *h)
{
	struct hba_field fl[HBA_MAX_FIELDS];
	struct hba_rule r;
	int nf = 0, rc = -1, line = lx->line;
	memset(fl, 0, sizeof fl);
	memset(&r, 0, sizeof r);
	r.line = line;
	for (;;) {
		skip_blanks(lx);
		if (lx->p == lx->end || *lx->p == '\n' || *lx->p == '#')
			break;
		if (nf == HBA_MAX_FIELDS) {
			lex_error(lx, "too many fields");
			goto out;
		}
		if (read_field(lx, &fl[nf++]) != 0)
			goto out;
	}
	if (build_rule(lx, fl, nf, &r) != 0)
		goto out;
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 16;
		struct hba_rule *v = realloc(h->rules, ncap * sizeof *v);
		if (!v) {
			lex_error(lx, "out of memory");
			goto out;
		}
		h->rules = v;
		h->cap = ncap;
	}
	h->rules[h->n++] = r;
	rc = 0;
out:
	if (rc != 0)
		rule_free(&r);
	for (int i = 0; i < nf; i++)
		field_clear(&fl[i]);
	return rc;
}

/* Parse every non-blank, non-comment line. */
int hba_parse(const char *buf, size_t len, const char *name, const char *base_dir, struct hba **out, char *err,
              size_t errcap)
{
	struct hba_lex lx = { buf, buf + len, name ? name : "hba", base_dir, 1, 0, err, errcap };
	if (err && errcap)
		err[0] = '\0';
	if (len > HBA_MAX_SIZE)
		return lex_error(&lx, "file larger than %u bytes", HBA_MAX_SIZE);
	if (len && memchr(buf, '\0', len))
		return lex_error(&lx, "NUL byte");
	struct hba *h = calloc(1, sizeof *h);
	if (!h)
		return lex_error(&lx, "out of memory");
	while (lx.p != lx.end) {
		skip_blanks(&lx);
		if (lx.p != lx.end && *lx.p != '\n' && *lx.p != '#' && parse_line(&lx, h) != 0) {
			hba_free(h);
			return -1;
		}
		skip_line(&lx);
	}
	*out = h;
	return 0;
}

/* Read the file; @file names resolve against its directory. */
int hba_load(const char *path, struct hba **out, char *err, size_t errcap)
{
	char *buf = NULL, dir[PATH_MAX];
	size_t len = 0;
	if (auth_read_file(path, HBA_MAX_SIZE, &buf, &len, err, errcap) != 0)
		return -1;
	const char *base = ".";
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir) {
		base = "/";
	} else if (slash) {
		*slash = '\0';
		base = dir;
	}
	int rc = hba_parse(buf, len, path, base, out, err, errcap);
	free(buf);
	return rc;
}

/* Does a name list accept this value? (sameuser: database name equals user name). */
static bool names_match(const struct hba_names *n, const char *val, const char *user)
{
	if (n->all || (n->sameuser && strcmp(val, user) == 0))
		return true;
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->v[i], val) == 0)
			return true;
	return false;
}

/* Masked comparison of n bytes. */
static bool masked_eq(const uint8_t *a, const uint8_t *net, const uint8_t *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((a[i] & mask[i]) != net[i])
			return false;
	return true;
}

/* IPv4 rules also match IPv4-mapped IPv6 clients (::ffff:a.b.c.d), as in PostgreSQL. */
static bool addr_match(const struct hba_rule *r, const struct sockaddr *sa)
{
	if (r->addr_kind == ADDR_ALL)
		return true;
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return r->family == AF_INET && masked_eq((const uint8_t *)&in->sin_addr, r->addr, r->mask, 4);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;
		if (r->family == AF_INET6)
			return masked_eq(b, r->addr, r->mask, 16);
		if (r->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return masked_eq(b + 12, r->addr, r->mask, 4);
	}
	return false;
}

/* Does the rule's connection type cover this connection? */
static bool type_match(enum rule_type rt, enum hba_conn_type ct, bool is_tls)
{
	switch (rt) {
	case RT_LOCAL: return ct == HBA_CONN_LOCAL;
	case RT_HOST: return ct == HBA_CONN_HOST;
	case RT_HOSTSSL: return ct == HBA_CONN_HOST && is_tls;
	case RT_HOSTNOSSL: return ct == HBA_CONN_HOST && !is_tls;
	}
	return false;
}

/* First matching rule wins; none means reject. */
int hba_match(const struct hba *h, enum hba_conn_type type, bool is_tls, const char *db, const char *user,
              const struct sockaddr *addr, struct hba_result *out)
{
	out->method = HBA_METHOD_REJECT;
	out->line = 0;
	if (!h || !db || !user)
		return -1;
	for (size_t i = 0; i < h->n; i++) {
		const struct hba_rule *r = &h->rules[i];
		if (!type_match(r->type, type, is_tls))
			continue;
		if (r->type != RT_LOCAL && !addr_match(r, addr))
			continue;
		if (!names_match(&r->db, db, user) || !names_match(&r->user, user, user))
			continue;
		out->method = r->method;
		out->line = r->line;
		return 0;
	}
	return -1;
}

/* pg_hba.conf spelling. */
const char *hba_method_name(enum hba_method m)
{
	switch (m) {
	case HBA_METHOD_REJECT: return "reject";
	case HBA_METHOD_TRUST: return "trust";
	case HBA_METHOD_MD5: return "md5";
	case HBA_METHOD_SCRAM: return "scram-sha-256";
	case HBA_METHOD_PASSWORD: return "password";
	case HBA_METHOD_CERT: return "cert";
	case HBA_METHOD_PEER: return "peer";
	}
	return "unknown";
}

/* Number of rules. */
size_t hba_count(const struct hba *h)
{
	return h ? h->n : 0;
}

/* Free all rules. */
void hba_free(struct hba *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		rule_free(&h->rules[i]);
	free(h->rules);
	free(h);
}
