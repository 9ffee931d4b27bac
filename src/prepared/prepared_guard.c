/* pgrouter's server-side statement names (pgrN_M) are its own: a client's reference to one is renamed. */
#include "prepared/prepared_guard.h"
#include "sql/classify.h"
#include "prepared/prepared.h"
#include "sql/sqllex.h"

#include <ctype.h>
#include <string.h>

/*
 * pgrouter prepares each client's named statements under names "pgr<worker>_<id>", shared by every
 * client with the same statement.  Any client can read those names in pg_prepared_statements.  A
 * reference to one that is not the client's own (a protocol Bind / Describe / Close of a name it never
 * parsed, or SQL PREPARE / EXECUTE / DEALLOCATE naming it) has its '_' turned into '$' before it is
 * forwarded: the server then answers "prepared statement "pgr0$5" does not exist" (26000) inside the
 * client's own transaction, as it would for any unknown name, and a client's own SQL PREPARE of such a
 * name keeps working under the '$' spelling, which pgrouter never uses.  The bytes change in place, in
 * the client's input buffer, before they are forwarded: the message keeps its length.
 */

/* The first identifier token in text[off, off+len) whose name, as PostgreSQL reads it, is name (*n: its
   length in the text); NULL if none. Comments and literals are skipped: only a real name is renamed. */
static char *find_name(char *text, uint32_t off, uint32_t len, const char *name, size_t *n)
{
	struct sql_lexer lx;
	struct sql_tok t;
	char buf[CLS_NAME_MAX];
	sql_lex_init(&lx, text + off, len);
	for (sql_lex_next_sig(&lx, &t); t.type != SQL_T_EOF && t.type != SQL_T_ERROR; sql_lex_next_sig(&lx, &t))
		if (sql_ident_text(text + off, &t, buf, sizeof buf) >= 0 && strcmp(buf, name) == 0) {
			*n = t.end - t.start;
			return text + off + t.start;
		}
	return NULL;
}

/* A cheap look before classifying: "pgr" followed by a digit somewhere in the text. */
static bool mentions_reserved(const char *s, size_t n)
{
	for (const char *p = s, *end = s + n; end - p >= 4 && (p = memchr(p, 'g', (size_t)(end - p - 1))) != NULL; p++)
		if (p > s && (p[-1] | 0x20) == 'p' && (p[1] | 0x20) == 'r' && p + 2 < end &&
		    isdigit((unsigned char)p[2]))
			return true;
	return false;
}

/* SQL text: rename reserved names that PREPARE, EXECUTE or DEALLOCATE statements use (r: the text's
   classification, NULL when it is not known yet: classify makes one). */
static void guard_sql(const struct cls_result *r, prepared_guard_classify classify_fn, void *ctx, char *text, size_t tl)
{
	struct cls_result own;
	if (!r) {
		if (!mentions_reserved(text, tl) || !classify_fn(ctx, text, tl, &own))
			return;
		r = &own;
	}
	for (int i = 0; i < r->n_events && i < CLS_MAX_EVENTS; i++) {
		const struct cls_event *e = &r->ev[i];
		if (e->kind != CLS_EV_PREPARE && e->kind != CLS_EV_EXECUTE && e->kind != CLS_EV_DEALLOCATE)
			continue;
		if (!ps_name_reserved(e->name, strlen(e->name)) || e->stmt.off + e->stmt.len > tl)
			continue;
		size_t n = 0;
		char *at = find_name(text, e->stmt.off, e->stmt.len, e->name, &n);
		char *u = at ? memchr(at, '_', n) : NULL; /* the name is reserved: its '_' becomes '$', in any case */
		if (u)
			*u = '$';
	}
}

void prepared_guard(char *sql, size_t len, const struct cls_result *r, prepared_guard_classify classify_fn, void *ctx)
{
	/* Classified for routing just now (the usual case): only its events matter, no second look. */
	if (r && !(r->ev_kinds & GUARDED_EVENTS))
		return;
	guard_sql(r, classify_fn, ctx, sql, len);
}
