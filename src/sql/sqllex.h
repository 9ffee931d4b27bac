/* sqllex: a PostgreSQL-compatible SQL tokenizer used by the classifier (no allocation, bounds-checked). */
#ifndef PGR_SQLLEX_H
#define PGR_SQLLEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Token boundaries follow PostgreSQL 15's scanner (scan.l) with
 * standard_conforming_strings = on, which is what libpg_query assumes too:
 * nested block comments, "--" comments, "quoted" and U&"quoted" identifiers,
 * '...' with '', E'...' with backslash escapes, B'' / X'' / U&'' strings,
 * string continuation across a newline, $tag$ dollar quoting, $n parameters,
 * and operator runs that stop at an embedded comment start.  Anything the
 * scanner would reject (unterminated literal, NUL byte, stray byte) yields
 * SQL_T_ERROR and lexing stops there.
 */
enum sql_tok_type {
	SQL_T_EOF = 0,
	SQL_T_ERROR, /* unterminated literal or comment, or a byte PostgreSQL rejects */
	SQL_T_COMMENT, /* -- line comment or (nested) block comment */
	SQL_T_IDENT, /* unquoted identifier or keyword */
	SQL_T_QIDENT, /* "quoted identifier" */
	SQL_T_UIDENT, /* U&"unicode identifier" */
	SQL_T_STRING, /* '...' (possibly continued across newlines) */
	SQL_T_ESTRING, /* E'...' */
	SQL_T_USTRING, /* U&'...' */
	SQL_T_BXSTRING, /* B'...' or X'...' */
	SQL_T_DOLLAR, /* $tag$...$tag$ */
	SQL_T_NUMBER,
	SQL_T_PARAM, /* $1 */
	SQL_T_OP, /* operator, e.g. = <> ->> || */
	SQL_T_TYPECAST, /* :: */
	SQL_T_PUNCT, /* one of ( ) [ ] , ; . : — the byte is in tok.ch */
};

struct sql_tok {
	uint8_t type; /* enum sql_tok_type */
	char ch; /* SQL_T_PUNCT: the character; else 0 */
	uint32_t start; /* byte offset of the first byte */
	uint32_t end; /* byte offset one past the last byte */
};

struct sql_lexer {
	const char *s;
	size_t len;
	size_t pos;
};

/* True if the lexer's character-class table matches its definitions (checked by the unit test). */
bool sql_lex_table_ok(void);

/* Start lexing s[0..len); len must be < 4 GiB (offsets are 32-bit). */
void sql_lex_init(struct sql_lexer *lx, const char *s, size_t len);

/* Produce the next token, comments included; EOF and ERROR repeat forever. */
void sql_lex_next(struct sql_lexer *lx, struct sql_tok *t);

/* Produce the next token that is not a comment. */
void sql_lex_next_sig(struct sql_lexer *lx, struct sql_tok *t);

/* True if t is an unquoted identifier equal (ASCII case-insensitively) to kw, given in lower case. */
bool sql_tok_is(const char *s, const struct sql_tok *t, const char *kw);

/* True if t is the punctuation character c. */
static inline bool sql_tok_punct(const struct sql_tok *t, char c)
{
	return t->type == SQL_T_PUNCT && t->ch == c;
}

/*
 * Identifier text as PostgreSQL sees it: unquoted identifiers are ASCII
 * down-cased, "quoted" ones lose their quotes and "" becomes ".  Writes a
 * NUL-terminated name to buf; returns its length, or -1 if t is not an
 * IDENT/QIDENT, the name is empty, or it does not fit in cap bytes.
 */
int sql_ident_text(const char *s, const struct sql_tok *t, char *buf, size_t cap);

/*
 * Value of a plain '...' string (SQL_T_STRING, including continuations):
 * '' becomes ', continuation whitespace is dropped.  Returns the length
 * written (NUL-terminated), or -1 if t is not SQL_T_STRING or it does not fit.
 */
int sql_string_text(const char *s, const struct sql_tok *t, char *buf, size_t cap);

#endif
