/* classify_shape: a statement's text with its literals blanked out, the key of the literal-blind cache. */
#include "sql/classify_int.h"

#include <string.h>

/*
 * "SELECT v FROM t WHERE id = 42" and "... id = 43" classify alike, yet an
 * exact-text cache never sees the second.  The shape replaces every numeric
 * literal by '#' and every '...' string by "'?'", and keeps every other byte,
 * so two texts share a shape only if they differ in nothing but literal
 * values.  Only results that literals cannot change may be stored under a
 * shape (cls_shape_cacheable): fast-path verdicts without events (SET values,
 * savepoint names …), without functions still to look up, and without hints
 * or route tags (comments are refused here anyway).  Texts the scanner is not
 * sure about are refused outright (-1): comments, backslashes (E'' escapes,
 * standard_conforming_strings = off), dollar quotes and $n parameters, an
 * unterminated quote, or a shape longer than the buffer.
 */

/* Bytes of a name or number, '$' included: [A-Za-z0-9_$] and 0x80 up (a table: it runs per digit). */
static const bool ident_tab[256] = {
#define R8(c) [c] = 1, [c + 1] = 1, [c + 2] = 1, [c + 3] = 1, [c + 4] = 1, [c + 5] = 1, [c + 6] = 1, [c + 7] = 1
	R8('0'),   ['8'] = 1, ['9'] = 1, ['_'] = 1, ['$'] = 1, R8('a'),   R8('i'),   R8('q'),
	['y'] = 1, ['z'] = 1, R8('A'),   R8('I'),   R8('Q'),   ['Y'] = 1, ['Z'] = 1, R8(0x80),
	R8(0x88),  R8(0x90),  R8(0x98),  R8(0xa0),  R8(0xa8),  R8(0xb0),  R8(0xb8),  R8(0xc0),
	R8(0xc8),  R8(0xd0),  R8(0xd8),  R8(0xe0),  R8(0xe8),  R8(0xf0),  R8(0xf8),
#undef R8
};

static bool ident_byte(unsigned char c)
{
	return ident_tab[c];
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* End of the quoted run starting at s[i] (a quote byte q; doubled quotes stay inside), or 0 if unterminated. */
static size_t quoted_end(const char *s, size_t len, size_t i, char q)
{
	for (size_t j = i + 1; j < len; j++) {
		if (s[j] != q)
			continue;
		if (j + 1 < len && s[j + 1] == q) {
			j++;
			continue;
		}
		return j + 1;
	}
	return 0;
}

/* Bytes that may start something other than a plain byte of the shape. */
static const bool special[256] = {
	['\\'] = true, ['$'] = true, ['\''] = true, ['"'] = true, ['-'] = true, ['/'] = true,
	['.'] = true,  ['0'] = true, ['1'] = true,  ['2'] = true, ['3'] = true, ['4'] = true,
	['5'] = true,  ['6'] = true, ['7'] = true,  ['8'] = true, ['9'] = true,
};

#ifdef __SSE2__
#include <emmintrin.h>

/* The first special byte at or after i (or len), 16 bytes per step: the specials are ", $, ', \\ and
   the range - . / 0-9 (0x2d-0x39). */
static size_t plain_run_end(const char *s, size_t len, size_t i)
{
	const __m128i lo = _mm_set1_epi8(0x2d), span = _mm_set1_epi8(0x39 - 0x2d);
	const __m128i dq = _mm_set1_epi8('"'), dollar = _mm_set1_epi8('$'), sq = _mm_set1_epi8('\''),
	              bs = _mm_set1_epi8('\\');
	for (; len - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i off = _mm_sub_epi8(x, lo);
		__m128i in_range = _mm_cmpeq_epi8(_mm_min_epu8(off, span), off); /* unsigned off <= span */
		__m128i hit = _mm_or_si128(_mm_or_si128(in_range, _mm_cmpeq_epi8(x, dq)),
		                           _mm_or_si128(_mm_cmpeq_epi8(x, dollar),
		                                        _mm_or_si128(_mm_cmpeq_epi8(x, sq), _mm_cmpeq_epi8(x, bs))));
		int mask = _mm_movemask_epi8(hit);
		if (mask)
			return i + (size_t)__builtin_ctz((unsigned)mask);
	}
	while (i < len && !special[(unsigned char)s[i]])
		i++;
	return i;
}
#else
static size_t plain_run_end(const char *s, size_t len, size_t i)
{
	while (i < len && !special[(unsigned char)s[i]])
		i++;
	return i;
}
#endif

int cls_shape_key(const char *sql, size_t len, char *buf, size_t cap)
{
	/* Every statement of every client passes here: plain runs are found 16 bytes at a time and copied at
	   once. */
	size_t o = 0, i = 0;
	while (i < len) {
		size_t run = plain_run_end(sql, len, i);
		if (o + (run - i) > cap)
			return -1;
		memcpy(buf + o, sql + i, run - i);
		o += run - i;
		if ((i = run) == len)
			break;
		char c = sql[i];
		char next = i + 1 < len ? sql[i + 1] : 0;
		if (c == '\\' || c == '$' || (c == '-' && next == '-') || (c == '/' && next == '*'))
			return -1;
		size_t end = i + 1;
		if (c == '\'' || c == '"') {
			if ((end = quoted_end(sql, len, i, c)) == 0)
				return -1;
		} else if ((digit(c) || (c == '.' && digit(next))) &&
		           (i == 0 || !ident_byte((unsigned char)sql[i - 1]))) {
			while (end < len && (ident_byte((unsigned char)sql[end]) || sql[end] == '.'))
				end++; /* 42, 4.2, 1e5, 0x1F: one number */
			c = '#';
		}
		/* A string becomes '?'; a quoted identifier is a name and stays as written; a number becomes #. */
		const char *put = c == '\'' ? "'?'" : c == '"' ? sql + i : c == '#' ? "#" : sql + i;
		size_t n = c == '\'' ? 3 : c == '"' ? end - i : 1;
		if (o + n > cap)
			return -1;
		memcpy(buf + o, put, n);
		o += n;
		i = end;
	}
	return (int)o;
}

bool cls_shape_cacheable(const struct cls_result *r)
{
	return (r->flags & CLS_F_FAST) && !(r->flags & ~CLS_F_FAST) && r->n_events == 0 && r->n_unknown == 0 &&
	        r->hint == 0 && r->hint_max_lag_ms < 0 && r->hint_max_lag_bytes < 0 && r->route_tag.len == 0;
}
