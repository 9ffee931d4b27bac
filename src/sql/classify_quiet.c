/* classify_quiet: a one-pass pre-scan telling, far cheaper than classification, that a statement leaves the session alone. */
#include "sql/classify.h"

#include <string.h>

/*
 * The scan keeps one fact about the previous token, enough to tell a call
 * "name(" from grouping "VALUES (", "IN (", "= (", ", (" and the column list
 * of "INSERT INTO name (".  Everything else that could touch the session is
 * found by words: the statement must start with SELECT, INSERT, UPDATE,
 * DELETE, VALUES, TABLE or WITH (so no SET, BEGIN, LOCK, COPY, DO, CALL …),
 * INTO only right after INSERT (SELECT … INTO TEMP creates a table), SET only
 * in UPDATE and INSERT (… DO UPDATE SET), never TEMP/TEMPORARY nor
 * pg_settings.  A comment is fine unless it mentions pgrouter or route (a
 * hint or a route tag).  Bytes whose reading depends on a setting or needs a
 * real lexer (backslashes, dollar quotes, '$' in a name, a vertical tab,
 * stray bytes) refuse, and so does a ';' that is not the last thing.
 */

enum cc {
	C_BAD = 0,
	C_SPACE,
	C_WORD,
	C_DIGIT,
	C_SQ,
	C_DQ,
	C_DOLLAR,
	C_OP,
	C_MINUS,
	C_SLASH,
	C_OPEN,
	C_PAREN,
	C_CLOSE,
	C_DOT,
	C_COLON,
	C_SEMI
};

/* Byte classes; bytes 0x80 and up are identifier bytes, as in PostgreSQL. */
static const uint8_t cc[256] = {
	[' '] = C_SPACE, ['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\r'] = C_SPACE, ['\f'] = C_SPACE, ['_'] = C_WORD,
	['\''] = C_SQ,   ['"'] = C_DQ,     ['$'] = C_DOLLAR, ['+'] = C_OP,     ['*'] = C_OP,     ['<'] = C_OP,
	['>'] = C_OP,    ['='] = C_OP,     ['~'] = C_OP,     ['!'] = C_OP,     ['@'] = C_OP,     ['#'] = C_OP,
	['%'] = C_OP,    ['^'] = C_OP,     ['&'] = C_OP,     ['|'] = C_OP,     ['`'] = C_OP,     ['?'] = C_OP,
	['-'] = C_MINUS, ['/'] = C_SLASH,  [','] = C_OPEN,   ['['] = C_OPEN,   ['('] = C_PAREN,  [')'] = C_CLOSE,
	[']'] = C_CLOSE, ['.'] = C_DOT,    [':'] = C_COLON,  [';'] = C_SEMI,
#define R10(c) \
	[c] = C_DIGIT, [c + 1] = C_DIGIT, [c + 2] = C_DIGIT, [c + 3] = C_DIGIT, [c + 4] = C_DIGIT, [c + 5] = C_DIGIT, \
	[c + 6] = C_DIGIT, [c + 7] = C_DIGIT, [c + 8] = C_DIGIT, [c + 9] = C_DIGIT
	R10('0'),
#undef R10
#define W13(c) \
	[c] = C_WORD, [c + 1] = C_WORD, [c + 2] = C_WORD, [c + 3] = C_WORD, [c + 4] = C_WORD, [c + 5] = C_WORD, \
	[c + 6] = C_WORD, [c + 7] = C_WORD, [c + 8] = C_WORD, [c + 9] = C_WORD, [c + 10] = C_WORD, [c + 11] = C_WORD, \
	[c + 12] = C_WORD
	W13('a'),        W13('n'),         W13('A'),         W13('N'),
#undef W13
#define H16(c) \
	[c] = C_WORD, [c + 1] = C_WORD, [c + 2] = C_WORD, [c + 3] = C_WORD, [c + 4] = C_WORD, [c + 5] = C_WORD, \
	[c + 6] = C_WORD, [c + 7] = C_WORD, [c + 8] = C_WORD, [c + 9] = C_WORD, [c + 10] = C_WORD, [c + 11] = C_WORD, \
	[c + 12] = C_WORD, [c + 13] = C_WORD, [c + 14] = C_WORD, [c + 15] = C_WORD
	H16(0x80),       H16(0x90),        H16(0xa0),        H16(0xb0),        H16(0xc0),        H16(0xd0),
	H16(0xe0),       H16(0xf0),
#undef H16
};

/* True for a byte of a name or a number. */
static inline bool word_byte(char c)
{
	return (uint8_t)(cc[(unsigned char)c] - C_WORD) <= 1;
}

#ifdef __SSE2__
#include <emmintrin.h>

/* End of the word run starting at s[j]: 16 bytes per step ([A-Za-z0-9_] and 0x80 up), the rest bytewise. */
static size_t word_end(const char *s, size_t len, size_t j)
{
	const __m128i a = _mm_set1_epi8('a'), z = _mm_set1_epi8(25), d0 = _mm_set1_epi8('0'), d9 = _mm_set1_epi8(9),
	              fold = _mm_set1_epi8(0x20), us = _mm_set1_epi8('_'), zero = _mm_setzero_si128();
	for (; len - j >= 16; j += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
		__m128i l = _mm_sub_epi8(_mm_or_si128(x, fold), a), d = _mm_sub_epi8(x, d0);
		__m128i w = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, z), l), _mm_cmpeq_epi8(_mm_min_epu8(d, d9), d));
		w = _mm_or_si128(w, _mm_or_si128(_mm_cmpeq_epi8(x, us), _mm_cmplt_epi8(x, zero)));
		unsigned stop = ~(unsigned)_mm_movemask_epi8(w) & 0xffffu;
		if (stop)
			return j + (size_t)__builtin_ctz(stop);
	}
	while (j < len && word_byte(s[j]))
		j++;
	return j;
}
#else
static size_t word_end(const char *s, size_t len, size_t j)
{
	while (j < len && word_byte(s[j]))
		j++;
	return j;
}
#endif

/* What a word means to the scan.  K_OPENER: a reserved or column-name keyword, which never names a
   function unqualified, so that a '(' after it groups.  K_SELECT, K_VALUES (openers too), K_INSERT,
   K_UPDATE and K_FIRST may start the statement. */
enum kw { K_NAME = 0, K_OPENER, K_SELECT, K_VALUES, K_INSERT, K_UPDATE, K_FIRST, K_INTO, K_SET, K_DENY };

/* Words the scan cares about, lower case, by length. */
static const struct {
	uint8_t len, kind;
	char w[11];
} words[] = {
	{ 2, K_OPENER, "in" },        { 2, K_OPENER, "on" },       { 2, K_OPENER, "or" },
	{ 3, K_OPENER, "all" },       { 3, K_OPENER, "and" },      { 3, K_OPENER, "any" },
	{ 3, K_OPENER, "not" },       { 3, K_SET, "set" },         { 4, K_OPENER, "else" },
	{ 4, K_OPENER, "from" },      { 4, K_INTO, "into" },       { 4, K_OPENER, "some" },
	{ 4, K_DENY, "temp" },        { 4, K_OPENER, "then" },     { 4, K_OPENER, "when" },
	{ 4, K_FIRST, "with" },       { 5, K_FIRST, "table" },     { 5, K_OPENER, "union" },
	{ 5, K_OPENER, "using" },     { 5, K_OPENER, "where" },    { 6, K_FIRST, "delete" },
	{ 6, K_OPENER, "except" },    { 6, K_OPENER, "exists" },   { 6, K_OPENER, "having" },
	{ 6, K_INSERT, "insert" },    { 6, K_SELECT, "select" },   { 6, K_UPDATE, "update" },
	{ 6, K_VALUES, "values" },    { 8, K_OPENER, "distinct" }, { 9, K_OPENER, "intersect" },
	{ 9, K_OPENER, "returning" }, { 9, K_DENY, "temporary" },  { 11, K_DENY, "pg_settings" },
};

/* Hash of a word from its case-folded first and last bytes and its length: no two of words[] collide. */
static unsigned word_hash(const char *s, size_t n)
{
	return ((unsigned char)(s[0] | 0x20) + 6u * (unsigned char)(s[n - 1] | 0x20) + 7u * (unsigned)n) & 127;
}

/* 1 + the index in words[] of the word whose hash is the slot, or 0. */
static const uint8_t slot[128] = {
	[11] = 1,  [17] = 2,   [41] = 3,   [126] = 4, [78] = 5,  [76] = 6,   [59] = 7,  [64] = 8,   [95] = 9,
	[16] = 10, [31] = 11,  [109] = 12, [48] = 13, [36] = 14, [39] = 15,  [3] = 16,  [117] = 17, [44] = 18,
	[2] = 19,  [120] = 20, [108] = 21, [71] = 22, [65] = 23, [124] = 24, [75] = 25, [85] = 26,  [125] = 27,
	[82] = 28, [84] = 29,  [96] = 30,  [27] = 31, [9] = 32,  [111] = 33,
};

/* The kind of the word s[0..n) (ASCII case-insensitive: |0x20 folds letters and keeps word bytes apart). */
static uint8_t word_kind(const char *s, size_t n)
{
	if (n < 2 || n > 11)
		return K_NAME;
	unsigned k = slot[word_hash(s, n)];
	if (k == 0 || words[k - 1].len != n)
		return K_NAME;
	for (size_t i = 0; i < n; i++)
		if ((s[i] | 0x20) != (words[k - 1].w[i] | 0x20))
			return K_NAME;
	return words[k - 1].kind;
}

/* True if every word of words[] is found through slot[] (checked by the unit test). */
bool cls_quiet_table_ok(void)
{
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (slot[word_hash(words[i].w, words[i].len)] != i + 1 || strlen(words[i].w) != words[i].len)
			return false;
	return true;
}

/* True if s[0..n) holds needle (lower case) ignoring ASCII case. */
static bool has_word(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++) {
		size_t j = 0;
		while (j < k && (s[i + j] | ((s[i + j] >= 'A' && s[i + j] <= 'Z') ? 0x20 : 0)) == needle[j])
			j++;
		if (j == k)
			return true;
	}
	return false;
}

/* End of the comment starting at s[i] ("--" or a nested block comment), or 0 if unterminated or it may be
   a hint or a route tag. */
static size_t comment_end(const char *s, size_t len, size_t i)
{
	size_t end = len;
	if (s[i] == '-') {
		const char *nl = memchr(s + i, '\n', len - i);
		end = nl ? (size_t)(nl - s) : len;
	} else {
		int depth = 0;
		for (size_t j = i; j + 1 < len; j++) {
			if (s[j] == '/' && s[j + 1] == '*') {
				depth++;
				j++;
			} else if (s[j] == '*' && s[j + 1] == '/') {
				j++;
				if (--depth == 0) {
					end = j + 1;
					break;
				}
			}
		}
		if (depth != 0)
			return 0;
	}
	return has_word(s + i, end - i, "pgrouter") || has_word(s + i, end - i, "route") ? 0 : end;
}

/* End of the quoted run at s[i] (doubled quotes stay inside), or 0 if unterminated or it holds a backslash
   (an escape in E'', or in any string when standard_conforming_strings is off). */
static size_t quote_end(const char *s, size_t len, size_t i)
{
	for (size_t j = i + 1; j < len; j++) {
		if (s[j] == '\\')
			return 0;
		if (s[j] != s[i])
			continue;
		if (j + 1 < len && s[j + 1] == s[i]) {
			j++;
			continue;
		}
		return j + 1;
	}
	return 0;
}

/* Scan state: what the previous token allows, and where an INSERT's target name stands. */
enum prev { P_START, P_NAME, P_OPEN, P_OTHER };
enum ins { I_NONE, I_NAME, I_AFTER_NAME, I_DOT, I_DONE };

struct qscan {
	uint8_t prev, ins, first, after_dot;
	unsigned ntok;
};

/* A word, or a quoted name (kind K_NAME or K_DENY); false when it makes the statement not quiet. */
static bool on_word(struct qscan *q, uint8_t kind, bool quoted)
{
	if (++q->ntok == 1) {
		if (quoted || kind < K_SELECT || kind > K_FIRST)
			return false;
		q->first = kind;
	}
	bool after_dot = q->after_dot;
	q->after_dot = 0;
	if (q->ins == I_NAME || q->ins == I_DOT) {
		q->ins = I_AFTER_NAME;
		q->prev = P_NAME;
		return kind != K_DENY;
	}
	q->ins = q->ntok == 2 && kind == K_INTO && q->first == K_INSERT ? I_NAME : I_DONE;
	if (kind == K_DENY || (kind == K_INTO && q->ins != I_NAME) ||
	    (kind == K_SET && q->first != K_UPDATE && q->first != K_INSERT))
		return false;
	/* After a '.', any word names a column or a function ("s.select(1)" calls one). */
	q->prev = !quoted && !after_dot && kind >= K_OPENER && kind <= K_VALUES ? P_OPEN : P_NAME;
	return true;
}

/* A '(' is grouping after an opener, an operator, '(' ',' '[', or an INSERT's target name; else a call. */
static bool on_paren(struct qscan *q)
{
	bool ok = q->prev == P_OPEN || q->ins == I_AFTER_NAME;
	q->ins = I_DONE;
	q->prev = P_OPEN;
	q->after_dot = 0;
	return ok;
}

/* One byte-class step of the scan at s[*i]; false when the statement is not quiet. */
static bool step(struct qscan *q, const char *s, size_t len, size_t *i)
{
	size_t j = *i, end;
	uint8_t c = cc[(unsigned char)s[j]];
	switch (c) {
	case C_SPACE: *i = j + 1; return true;
	case C_WORD:
		*i = end = word_end(s, len, j + 1);
		return (end == len || s[end] != '$') && on_word(q, word_kind(s + j, end - j), false);
	case C_DQ:
		if ((end = quote_end(s, len, j)) == 0)
			return false;
		*i = end;
		return on_word(q, has_word(s + j, end - j, "pg_settings") ? K_DENY : K_NAME, true);
	case C_MINUS:
	case C_SLASH:
		if (j + 1 < len && s[j + 1] == (c == C_MINUS ? '-' : '*'))
			return (*i = comment_end(s, len, j)) != 0;
		*i = j + 1; /* an operator */
		break;
	case C_OP:
	case C_OPEN: *i = j + 1; break;
	case C_PAREN: *i = j + 1; return on_paren(q);
	case C_CLOSE:
	case C_DOT:
	case C_COLON: *i = j + 1; break;
	case C_SQ:
		if ((end = quote_end(s, len, j)) == 0)
			return false;
		*i = end;
		break;
	case C_DIGIT:
		for (end = j + 1; end < len && (word_byte(s[end]) || s[end] == '.');)
			end++;
		*i = end;
		break;
	case C_DOLLAR: /* $n, a parameter; any other '$' may open a dollar quote */
		for (end = j + 1; end < len && cc[(unsigned char)s[end]] == C_DIGIT;)
			end++;
		if (end == j + 1 || (end < len && (cc[(unsigned char)s[end]] == C_WORD || s[end] == '$')))
			return false;
		*i = end;
		break;
	default: return false; /* backslash, control byte, ';' handled by the caller, stray byte */
	}
	if (q->ntok == 0)
		return false; /* the statement starts with its keyword */
	q->ntok++;
	q->prev = c == C_OP || c == C_OPEN || c == C_MINUS || c == C_SLASH ? P_OPEN : P_OTHER;
	q->ins = q->ins == I_AFTER_NAME && c == C_DOT ? I_DOT : I_DONE;
	q->after_dot = c == C_DOT;
	return true;
}

/* True only when sql[0..len) is one SELECT/INSERT/UPDATE/DELETE/VALUES/TABLE/WITH statement that can neither
   change nor pin the session (see the header); any doubt says false. */
bool cls_quiet_query(const char *sql, size_t len)
{
	struct qscan q = { P_START, I_NONE, 0, 0, 0 };
	size_t i = 0;
	while (i < len) {
		if (cc[(unsigned char)sql[i]] == C_SPACE) {
			i++;
			continue;
		}
		if (sql[i] == ';') {
			while (++i < len && cc[(unsigned char)sql[i]] == C_SPACE)
				;
			return i == len && q.ntok > 0;
		}
		if (!step(&q, sql, len, &i))
			return false;
	}
	return q.ntok > 0;
}
