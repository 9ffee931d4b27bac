/* sqllex: a PostgreSQL-compatible SQL tokenizer used by the classifier (no allocation, bounds-checked). */
#include "sql/sqllex.h"

#include <string.h>

/* Character classes (bits of char_class[]). */
enum {
	CC_SPACE = 1, /* scan.l's {space}: the only whitespace PostgreSQL 15 skips */
	CC_IDSTART = 2, /* first byte of an identifier (high-bit bytes included) */
	CC_IDCONT = 4, /* later bytes of an unquoted identifier (adds digits and '$') */
	CC_DIGIT = 8,
	CC_OP = 16, /* operator characters ~!@#^&|`?+-*\/%<>= */
	CC_DOLQ = 32, /* later bytes of a dollar-quote tag (no '$') */
};

/* Class bits per byte; generated from the definitions in sql_lex_table_ok, which checks it. */
static const uint8_t char_class[256] = {
	0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1,  0,  1,  1,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	0,  0,  0,  0,  0,  0,  1,  16, 0,  16, 4,  16, 16, 0,  0,  0,  16, 16, 0,  16, 0,  16, 44, 44, 44, 44,
	44, 44, 44, 44, 44, 44, 0,  0,  16, 16, 16, 16, 16, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
	38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 0,  0,  0,  16, 38, 16, 38, 38, 38, 38, 38, 38, 38,
	38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 0,  16, 0,  16, 0,  38, 38,
	38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
	38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
	38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
	38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
	38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38, 38,
};

static bool has(unsigned char c, uint8_t bits)
{
	return (char_class[c] & bits) != 0;
}

static bool ident_start(unsigned char c)
{
	return has(c, CC_IDSTART);
}

static bool ident_cont(unsigned char c)
{
	return has(c, CC_IDCONT);
}

static bool dolq_cont(unsigned char c)
{
	return has(c, CC_DOLQ);
}

static bool is_digit(unsigned char c)
{
	return has(c, CC_DIGIT);
}

static bool is_space(unsigned char c)
{
	return has(c, CC_SPACE);
}

static bool is_op_char(unsigned char c)
{
	return has(c, CC_OP);
}

/* True if char_class[] matches the plain definitions of each class (checked by the unit test). */
bool sql_lex_table_ok(void)
{
	for (int c = 0; c < 256; c++) {
		bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
		bool digit = c >= '0' && c <= '9';
		uint8_t want = (uint8_t)((strchr(" \t\n\r\f", c) && c ? CC_SPACE : 0) |
		                         (letter ? CC_IDSTART | CC_IDCONT | CC_DOLQ : 0) |
		                         (digit ? CC_DIGIT | CC_IDCONT | CC_DOLQ : 0) | (c == '$' ? CC_IDCONT : 0) |
		                         (c && strchr("~!@#^&|`?+-*/%<>=", c) ? CC_OP : 0));
		if (char_class[c] != want)
			return false;
	}
	return true;
}

/* Byte at i, or 0 past the end (the scanner never treats 0 as valid input). */
static unsigned char at(const struct sql_lexer *lx, size_t i)
{
	return i < lx->len ? (unsigned char)lx->s[i] : 0;
}

/* Start lexing s[0..len); len must be < 4 GiB (offsets are 32-bit). */
void sql_lex_init(struct sql_lexer *lx, const char *s, size_t len)
{
	lx->s = s;
	lx->len = len;
	lx->pos = 0;
}

/* End of a -- comment starting at i: the newline is not part of it. */
static size_t line_comment_end(const struct sql_lexer *lx, size_t i)
{
	while (i < lx->len && lx->s[i] != '\n' && lx->s[i] != '\r')
		i++;
	return i;
}

/* End of a nested block comment starting at i ("/" "*"), or 0 if unterminated. */
static size_t block_comment_end(const struct sql_lexer *lx, size_t i)
{
	size_t depth = 0;
	while (i + 1 < lx->len) {
		if (lx->s[i] == '/' && lx->s[i + 1] == '*') {
			depth++;
			i += 2;
		} else if (lx->s[i] == '*' && lx->s[i + 1] == '/') {
			depth--;
			i += 2;
			if (depth == 0)
				return i;
		} else {
			i++;
		}
	}
	return 0;
}

/*
 * scan.l's quotecontinue: after a closing quote at i, whitespace holding a
 * newline (then more whitespace or "--" comments ending in newlines) followed
 * by another quote continues the same literal.  Returns the offset just past
 * that opening quote, or 0 if the literal really ends at i.
 */
static size_t continuation(const struct sql_lexer *lx, size_t i)
{
	while (at(lx, i) == ' ' || at(lx, i) == '\t' || at(lx, i) == '\f')
		i++;
	if (at(lx, i) != '\n' && at(lx, i) != '\r')
		return 0;
	for (;;) {
		unsigned char c = at(lx, i);
		if (is_space(c)) {
			i++;
		} else if (c == '-' && at(lx, i + 1) == '-') {
			i = line_comment_end(lx, i);
			if (at(lx, i) != '\n' && at(lx, i) != '\r')
				return 0;
		} else {
			break;
		}
	}
	return at(lx, i) == '\'' ? i + 1 : 0;
}

/*
 * Scan the body of a quoted literal whose opening quote ends just before i.
 * doubled: '' stands for one quote; backslash: \x consumes x (E'' strings).
 * Returns the offset past the final closing quote, or 0 if unterminated.
 */
static size_t quoted_end(const struct sql_lexer *lx, size_t i, bool doubled, bool backslash)
{
	for (;;) {
		if (i >= lx->len)
			return 0;
		unsigned char c = (unsigned char)lx->s[i];
		if (c == 0)
			return 0;
		if (backslash && c == '\\') {
			if (i + 1 >= lx->len)
				return 0;
			i += 2;
		} else if (c == '\'') {
			if (doubled && at(lx, i + 1) == '\'') {
				i += 2;
				continue;
			}
			size_t next = continuation(lx, i + 1);
			if (next == 0)
				return i + 1;
			i = next;
		} else {
			i++;
		}
	}
}

/* End of a "quoted identifier" whose quote is at i, or 0 if unterminated or empty. */
static size_t qident_end(const struct sql_lexer *lx, size_t i)
{
	size_t j = i + 1;
	for (;;) {
		if (j >= lx->len || lx->s[j] == 0)
			return 0;
		if (lx->s[j] == '"') {
			if (at(lx, j + 1) == '"') {
				j += 2;
				continue;
			}
			return j == i + 1 ? 0 : j + 1;
		}
		j++;
	}
}

/* End of a $tag$...$tag$ literal starting at i, 0 if unterminated, or i if no dollar quote starts here. */
static size_t dollar_end(const struct sql_lexer *lx, size_t i)
{
	size_t j = i + 1;
	if (at(lx, j) != '$') {
		if (!ident_start(at(lx, j)))
			return i;
		j++;
		while (dolq_cont(at(lx, j)))
			j++;
		if (at(lx, j) != '$')
			return i;
	}
	size_t taglen = j + 1 - i; /* including both '$' */
	for (size_t k = j + 1; k < lx->len && taglen <= lx->len - k; k++) {
		if (lx->s[k] == 0)
			return 0;
		if (lx->s[k] == '$' && memcmp(lx->s + k, lx->s + i, taglen) == 0)
			return k + taglen;
	}
	return 0;
}

/* End of a numeric literal starting at i (digit, or '.' followed by a digit). */
static size_t number_end(const struct sql_lexer *lx, size_t i)
{
	while (is_digit(at(lx, i)))
		i++;
	if (at(lx, i) == '.' && at(lx, i + 1) != '.') {
		i++;
		while (is_digit(at(lx, i)))
			i++;
	}
	unsigned char e = at(lx, i);
	if (e == 'e' || e == 'E') {
		size_t k = i + 1;
		if (at(lx, k) == '+' || at(lx, k) == '-')
			k++;
		if (is_digit(at(lx, k))) {
			while (is_digit(at(lx, k)))
				k++;
			i = k;
		}
	}
	return i;
}

/* End of an operator starting at i, applying scan.l's comment cut and trailing +/- rule. */
static size_t operator_end(const struct sql_lexer *lx, size_t i)
{
	size_t j = i;
	while (is_op_char(at(lx, j))) {
		if (j > i && ((lx->s[j] == '-' && at(lx, j + 1) == '-') || (lx->s[j] == '/' && at(lx, j + 1) == '*')))
			break;
		j++;
	}
	size_t n = j - i;
	if (n > 1 && (lx->s[i + n - 1] == '+' || lx->s[i + n - 1] == '-')) {
		bool special = false;
		for (size_t k = i; k + 1 < i + n; k++)
			if (strchr("~!@#^&|`?%", lx->s[k]))
				special = true;
		if (!special) {
			do {
				n--;
			} while (n > 1 && (lx->s[i + n - 1] == '+' || lx->s[i + n - 1] == '-'));
		}
	}
	return i + n;
}

/* Finish t as [start, end) of the given type, or an error token if end is 0. */
static void emit(struct sql_lexer *lx, struct sql_tok *t, uint8_t type, size_t start, size_t end)
{
	if (end == 0) {
		t->type = SQL_T_ERROR;
		t->start = t->end = (uint32_t)start;
		lx->pos = lx->len;
		return;
	}
	t->type = type;
	t->start = (uint32_t)start;
	t->end = (uint32_t)end;
	lx->pos = end;
}

/* Lex a token starting with an identifier byte, including E'', B'', X'', U&'' and U&"" prefixes. */
static void lex_word(struct sql_lexer *lx, struct sql_tok *t, size_t i)
{
	unsigned char c = at(lx, i), n1 = at(lx, i + 1);
	if (n1 != '\'' && n1 != '&') { /* the common case: a plain word */
		size_t j = i + 1;
		while (j < lx->len && ident_cont((unsigned char)lx->s[j]))
			j++;
		return emit(lx, t, SQL_T_IDENT, i, j);
	}
	if ((c == 'e' || c == 'E') && n1 == '\'')
		return emit(lx, t, SQL_T_ESTRING, i, quoted_end(lx, i + 2, true, true));
	if ((c == 'b' || c == 'B' || c == 'x' || c == 'X') && n1 == '\'')
		return emit(lx, t, SQL_T_BXSTRING, i, quoted_end(lx, i + 2, false, false));
	if ((c == 'u' || c == 'U') && n1 == '&' && at(lx, i + 2) == '\'')
		return emit(lx, t, SQL_T_USTRING, i, quoted_end(lx, i + 3, true, false));
	if ((c == 'u' || c == 'U') && n1 == '&' && at(lx, i + 2) == '"')
		return emit(lx, t, SQL_T_UIDENT, i, qident_end(lx, i + 2));
	emit(lx, t, SQL_T_IDENT, i, i + 1); /* a one-letter word followed by ' or & */
}

/* Lex a token that starts with punctuation, '$', a digit or an operator byte. */
static void lex_symbol(struct sql_lexer *lx, struct sql_tok *t, size_t i)
{
	unsigned char c = at(lx, i), n1 = at(lx, i + 1);
	t->ch = 0;
	if (c == '$') {
		if (is_digit(n1)) {
			size_t j = i + 1;
			while (is_digit(at(lx, j)))
				j++;
			return emit(lx, t, SQL_T_PARAM, i, j);
		}
		size_t e = dollar_end(lx, i);
		return emit(lx, t, SQL_T_DOLLAR, i, e == i ? 0 : e);
	}
	if (is_digit(c) || (c == '.' && is_digit(n1)))
		return emit(lx, t, SQL_T_NUMBER, i, number_end(lx, i));
	if (c == ':' && n1 == ':')
		return emit(lx, t, SQL_T_TYPECAST, i, i + 2);
	if (c == ':' && n1 == '=')
		return emit(lx, t, SQL_T_OP, i, i + 2);
	switch (c) {
	case '(':
	case ')':
	case '[':
	case ']':
	case ',':
	case ';':
	case '.':
	case ':':
		emit(lx, t, SQL_T_PUNCT, i, i + 1);
		t->ch = (char)c;
		return;
	}
	if (is_op_char(c))
		return emit(lx, t, SQL_T_OP, i, operator_end(lx, i));
	emit(lx, t, SQL_T_ERROR, i, 0);
}

/* Produce the next token, comments included; EOF and ERROR repeat forever. */
void sql_lex_next(struct sql_lexer *lx, struct sql_tok *t)
{
	size_t i = lx->pos;
	const char *p = lx->s;
	while (i < lx->len && is_space((unsigned char)p[i]))
		i++;
	t->ch = 0;
	if (i >= lx->len) {
		lx->pos = lx->len;
		t->type = SQL_T_EOF;
		t->start = t->end = (uint32_t)lx->len;
		return;
	}
	unsigned char c = (unsigned char)lx->s[i], n1 = at(lx, i + 1);
	if (c == '-' && n1 == '-')
		return emit(lx, t, SQL_T_COMMENT, i, line_comment_end(lx, i));
	if (c == '/' && n1 == '*')
		return emit(lx, t, SQL_T_COMMENT, i, block_comment_end(lx, i));
	if (c == '\'')
		return emit(lx, t, SQL_T_STRING, i, quoted_end(lx, i + 1, true, false));
	if (c == '"')
		return emit(lx, t, SQL_T_QIDENT, i, qident_end(lx, i));
	if (ident_start(c))
		return lex_word(lx, t, i);
	lex_symbol(lx, t, i);
}

/* Produce the next token that is not a comment. */
void sql_lex_next_sig(struct sql_lexer *lx, struct sql_tok *t)
{
	do {
		sql_lex_next(lx, t);
	} while (t->type == SQL_T_COMMENT);
}

/* True if t is an unquoted identifier equal (ASCII case-insensitively) to kw, given in lower case. */
bool sql_tok_is(const char *s, const struct sql_tok *t, const char *kw)
{
	if (t->type != SQL_T_IDENT)
		return false;
	size_t n = t->end - t->start;
	for (size_t i = 0; i < n; i++) {
		char c = s[t->start + i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (kw[i] == 0 || kw[i] != c)
			return false;
	}
	return kw[n] == 0;
}

/* Identifier text as PostgreSQL sees it (see header); -1 if not an identifier or too long. */
int sql_ident_text(const char *s, const struct sql_tok *t, char *buf, size_t cap)
{
	size_t n = 0;
	if (t->type == SQL_T_IDENT) {
		for (uint32_t i = t->start; i < t->end; i++) {
			char c = s[i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (n + 1 >= cap)
				return -1;
			buf[n++] = c;
		}
	} else if (t->type == SQL_T_QIDENT) {
		for (uint32_t i = t->start + 1; i + 1 < t->end; i++) {
			if (s[i] == '"')
				i++; /* "" inside stands for one quote */
			if (n + 1 >= cap)
				return -1;
			buf[n++] = s[i];
		}
	} else {
		return -1;
	}
	if (n == 0 || cap == 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

/* Value of a plain '...' string including continuations; -1 if not SQL_T_STRING or too long. */
int sql_string_text(const char *s, const struct sql_tok *t, char *buf, size_t cap)
{
	if (t->type != SQL_T_STRING || cap == 0)
		return -1;
	struct sql_lexer lx;
	sql_lex_init(&lx, s, t->end);
	size_t n = 0, i = t->start + 1;
	while (i < t->end) {
		if (s[i] == '\'') {
			if (i + 1 < t->end && s[i + 1] == '\'') {
				i++; /* doubled quote: emit one */
			} else {
				size_t next = continuation(&lx, i + 1);
				if (next == 0)
					break;
				i = next;
				continue;
			}
		}
		if (n + 1 >= cap)
			return -1;
		buf[n++] = s[i++];
	}
	buf[n] = 0;
	return (int)n;
}
