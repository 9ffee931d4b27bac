/* auth_file in PgBouncer's userlist format: "user" "secret" lines, looked up by user name. */
#include "auth/authfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/readfile.h"

/* Parser position; line counts from 1. */
struct af_parser {
	const char *p;
	const char *end;
	int line;
	char *err;
	size_t errcap;
	struct authfile *af;
	size_t cap;
};

/* Format "line N: why" into the caller's error buffer; always returns -1. */
static int af_error(struct af_parser *ps, const char *fmt, ...)
{
	if (!ps->err || ps->errcap == 0)
		return -1;
	int n = snprintf(ps->err, ps->errcap, "line %d: ", ps->line);
	if (n >= 0 && (size_t)n < ps->errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errcap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Read one quoted field ("" is a literal quote) into dst, bounded by max bytes. */
static int read_field(struct af_parser *ps, const char *what, char *dst, size_t max, size_t *len)
{
	size_t n = 0;
	if (ps->p == ps->end || *ps->p != '"')
		return af_error(ps, "expected a double-quoted %s", what);
	ps->p++;
	for (;;) {
		if (ps->p == ps->end || *ps->p == '\n')
			return af_error(ps, "unterminated quote in %s", what);
		char c = *ps->p++;
		if (c == '"') {
			if (ps->p == ps->end || *ps->p != '"')
				break;
			ps->p++; /* "" inside a field is one quote */
		}
		if (n == max)
			return af_error(ps, "%s longer than %zu bytes", what, max);
		dst[n++] = c;
	}
	dst[n] = '\0';
	*len = n;
	return 0;
}

/* Skip spaces and tabs (not newlines). */
static void skip_blanks(struct af_parser *ps)
{
	while (ps->p != ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
		ps->p++;
}

/* Skip to just after the next newline. */
static void skip_line(struct af_parser *ps)
{
	const char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
	ps->p = nl ? nl + 1 : ps->end;
	ps->line++;
}

/* Append one entry, copying user and secret; SCRAM secrets must parse. */
static int add_entry(struct af_parser *ps, const char *user, size_t ulen, const char *sec, size_t slen)
{
	struct authfile *af = ps->af;
	if (af->count == ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 16;
		struct authfile_entry *v = realloc(af->entries, ncap * sizeof *v);
		if (!v)
			return af_error(ps, "out of memory");
		af->entries = v;
		ps->cap = ncap;
	}
	struct authfile_entry *e = &af->entries[af->count];
	memset(e, 0, sizeof *e);
	e->kind = auth_secret_kind(sec, slen);
	if (e->kind == AUTH_SECRET_INVALID)
		return af_error(ps, "malformed SCRAM-SHA-256 secret");
	if (e->kind == AUTH_SECRET_SCRAM)
		scram_secret_parse(sec, slen, &e->scram);
	e->user = strndup(user, ulen);
	e->secret = strndup(sec, slen);
	if (!e->user || !e->secret) {
		free(e->user);
		free(e->secret);
		return af_error(ps, "out of memory");
	}
	e->secret_len = slen;
	e->line = ps->line;
	af->count++;
	return 0;
}

/* Parse one non-comment line starting at ps->p (a quote). */
static int parse_entry(struct af_parser *ps)
{
	char user[AUTHFILE_MAX_USER + 1], sec[AUTHFILE_MAX_SECRET + 1];
	size_t ulen = 0, slen = 0;
	int rc = -1;
	if (read_field(ps, "user name", user, AUTHFILE_MAX_USER, &ulen) != 0)
		goto out;
	if (ulen == 0) {
		af_error(ps, "empty user name");
		goto out;
	}
	skip_blanks(ps);
	if (read_field(ps, "secret", sec, AUTHFILE_MAX_SECRET, &slen) != 0)
		goto out;
	rc = add_entry(ps, user, ulen, sec, slen);
out:
	OPENSSL_cleanse(sec, sizeof sec);
	return rc;
}

/* Order entries by user name for binary search. */
static int entry_cmp(const void *a, const void *b)
{
	const struct authfile_entry *x = a, *y = b;
	return strcmp(x->user, y->user);
}

/* Sort, then refuse duplicates: a second line for a user is almost always a mistake. */
static int sort_and_check(struct af_parser *ps)
{
	struct authfile *af = ps->af;
	if (af->count > 1)
		qsort(af->entries, af->count, sizeof *af->entries, entry_cmp);
	for (size_t i = 1; i < af->count; i++) {
		if (strcmp(af->entries[i - 1].user, af->entries[i].user) == 0) {
			int a = af->entries[i - 1].line, b = af->entries[i].line;
			ps->line = a > b ? a : b;
			return af_error(ps, "user already defined on line %d", a < b ? a : b);
		}
	}
	return 0;
}

/* Walk the buffer line by line. */
int authfile_parse(const char *buf, size_t len, struct authfile **out, char *err, size_t errcap)
{
	struct af_parser ps = { buf, buf + len, 1, err, errcap, NULL, 0 };
	if (err && errcap)
		err[0] = '\0';
	if (len > AUTHFILE_MAX_SIZE)
		return af_error(&ps, "file larger than %u bytes", AUTHFILE_MAX_SIZE);
	if (len && memchr(buf, '\0', len)) {
		ps.line = 1;
		for (const char *q = buf; *q; q++)
			ps.line += (*q == '\n');
		return af_error(&ps, "NUL byte");
	}
	ps.af = calloc(1, sizeof *ps.af);
	if (!ps.af)
		return af_error(&ps, "out of memory");
	while (ps.p != ps.end) {
		skip_blanks(&ps);
		if (ps.p != ps.end && *ps.p != '\n' && *ps.p != ';' && *ps.p != '#' && parse_entry(&ps) != 0) {
			authfile_free(ps.af);
			return -1;
		}
		skip_line(&ps);
	}
	if (sort_and_check(&ps) != 0) {
		authfile_free(ps.af);
		return -1;
	}
	*out = ps.af;
	return 0;
}

/* Read the whole file with a size cap, then parse it. */
int authfile_load(const char *path, struct authfile **out, char *err, size_t errcap)
{
	char *buf = NULL;
	size_t n = 0;
	if (auth_read_file(path, AUTHFILE_MAX_SIZE, &buf, &n, err, errcap) != 0)
		return -1;
	int rc = authfile_parse(buf, n, out, err, errcap);
	OPENSSL_cleanse(buf, n);
	free(buf);
	return rc;
}

/* Binary search over the sorted entries. */
const struct authfile_entry *authfile_lookup(const struct authfile *af, const char *user)
{
	if (!af || !user)
		return NULL;
	size_t lo = 0, hi = af->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(user, af->entries[mid].user);
		if (c == 0)
			return &af->entries[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Erase secrets before freeing so they do not linger in freed memory. */
void authfile_free(struct authfile *af)
{
	if (!af)
		return;
	for (size_t i = 0; i < af->count; i++) {
		struct authfile_entry *e = &af->entries[i];
		OPENSSL_cleanse(e->secret, e->secret_len);
		OPENSSL_cleanse(&e->scram, sizeof e->scram);
		free(e->secret);
		free(e->user);
	}
	free(af->entries);
	free(af);
}
