/* classify_json: a bounds-checked, allocation-free, non-recursive cursor over libpg_query's JSON parse tree. */
#include "sql/classify_int.h"

#include <string.h>

/*
 * Why JSON and not protobuf: libpg_query builds both from the same node
 * tree, but pg_query_parse (JSON) measured ~4x faster than
 * pg_query_parse_protobuf before even unpacking, and walking JSON needs no
 * protobuf-c headers, no per-node malloc and no recursion here: every walk
 * below is a linear scan with a depth counter, so a deeply nested query
 * cannot exhaust a worker thread's stack.
 */

/* First non-blank at or after p. */
static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past the string whose opening quote is at p, or NULL if unterminated. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			if (end - p < 2)
				return NULL;
			p++;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* True for the bytes a container skip must look at: quotes and brackets. */
static bool structural(char c)
{
	return c == '"' || c == '{' || c == '}' || c == '[' || c == ']';
}

/* Past the object or array whose opening bracket is at p, or NULL if unbalanced. */
static const char *skip_container(const char *p, const char *end)
{
	size_t depth = 0;
	while (p < end) {
		while (p < end && !structural(*p)) /* the bulk: names, numbers, commas, colons */
			p++;
		if (p >= end)
			break;
		char c = *p;
		if (c == '"') {
			p = skip_string(p, end);
			if (p == NULL)
				return NULL;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else {
			if (depth == 0)
				return NULL;
			if (--depth == 0)
				return p + 1;
		}
		p++;
	}
	return NULL;
}

/* Past the JSON value starting at p (after blanks), or NULL if malformed. */
const char *j_skip(const char *p, const char *end)
{
	p = ws(p, end);
	if (p >= end)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	if (*p == '{' || *p == '[')
		return skip_container(p, end);
	const char *start = p;
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
		p++;
	return p > start ? p : NULL;
}

/* Start iterating v ('{' for j_obj_next, '[' for j_arr_next); false if v is not that. */
bool j_iter(struct jv v, char open, struct jit *it)
{
	if (v.p == NULL || v.end - v.p < 2 || *v.p != open)
		return false;
	it->p = v.p + 1;
	it->end = v.end - 1; /* the closing bracket */
	it->first = true;
	return true;
}

/* Step over the separator before every element but the first; false at the end. */
static bool it_advance(struct jit *it)
{
	it->p = ws(it->p, it->end);
	if (it->p >= it->end)
		return false;
	if (!it->first) {
		if (*it->p != ',')
			return false;
		it->p = ws(it->p + 1, it->end);
	}
	it->first = false;
	return it->p < it->end;
}

/* Next member: key is the raw text between the quotes.  False at the end or if malformed. */
bool j_obj_next(struct jit *it, struct jv *key, struct jv *val)
{
	if (!it_advance(it) || *it->p != '"')
		return false;
	const char *q = skip_string(it->p, it->end);
	if (q == NULL)
		return false;
	key->p = it->p + 1;
	key->end = q - 1;
	const char *c = ws(q, it->end);
	if (c >= it->end || *c != ':')
		return false;
	val->p = ws(c + 1, it->end);
	val->end = j_skip(val->p, it->end);
	if (val->end == NULL)
		return false;
	it->p = val->end;
	return true;
}

/* Next array element.  False at the end or if malformed. */
bool j_arr_next(struct jit *it, struct jv *val)
{
	if (!it_advance(it))
		return false;
	val->p = it->p;
	val->end = j_skip(it->p, it->end);
	if (val->end == NULL)
		return false;
	it->p = val->end;
	return true;
}

/* True if the raw key text equals s. */
bool j_key_is(struct jv key, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(key.end - key.p) == n && memcmp(key.p, s, n) == 0;
}

/* Member key of object v; false if absent (libpg_query omits zero/false/empty fields). */
bool j_get(struct jv v, const char *key, struct jv *val)
{
	struct jit it;
	struct jv k;
	if (!j_iter(v, '{', &it))
		return false;
	while (j_obj_next(&it, &k, val))
		if (j_key_is(k, key))
			return true;
	return false;
}

/*
 * Node {"Type":{body}}: its type name and body; false for {} or anything
 * else.  v must be a measured value (as from j_obj_next / j_arr_next), so
 * the body ends where v does, minus the closing brace: no need to skip the
 * (possibly huge) body again.
 */
bool j_node(struct jv v, struct jv *type, struct jv *body)
{
	const char *p = ws(v.p + 1, v.end);
	if (v.end - v.p < 2 || *v.p != '{' || v.end[-1] != '}' || p >= v.end || *p != '"')
		return false;
	const char *q = skip_string(p, v.end);
	if (q == NULL)
		return false;
	const char *c = ws(q, v.end);
	if (c >= v.end || *c != ':')
		return false;
	const char *b = ws(c + 1, v.end), *e = v.end - 1;
	while (e > b && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	if (b >= e || *b != '{' || e[-1] != '}')
		return false;
	type->p = p + 1;
	type->end = q - 1;
	body->p = b;
	body->end = e;
	return true;
}

/* Value of hex digit c, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at p (p+4 <= end checked by the caller); -1 if not hex. */
static long hex4(const char *p)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Append code point cp as UTF-8; false if it does not fit. */
static bool put_utf8(char *buf, size_t cap, size_t *n, long cp)
{
	char tmp[4];
	size_t k;
	if (cp < 0x80) {
		tmp[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xC0 | (cp >> 6));
		tmp[1] = (char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xE0 | (cp >> 12));
		tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[2] = (char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		tmp[0] = (char)(0xF0 | (cp >> 18));
		tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[3] = (char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	if (k >= cap - *n)
		return false;
	memcpy(buf + *n, tmp, k);
	*n += k;
	return true;
}

/* Decode a \u escape (p after the 'u'), joining surrogate pairs; returns bytes consumed or 0. */
static size_t unicode_escape(const char *p, const char *end, long *cp)
{
	if (end - p < 4 || (*cp = hex4(p)) < 0)
		return 0;
	if (*cp >= 0xD800 && *cp <= 0xDBFF && end - p >= 10 && p[4] == '\\' && p[5] == 'u') {
		long lo = hex4(p + 6);
		if (lo >= 0xDC00 && lo <= 0xDFFF) {
			*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
			return 10;
		}
	}
	return 4;
}

/* The byte a one-letter JSON escape stands for, or -1. */
static int simple_escape(char e)
{
	switch (e) {
	case '"': return '"';
	case '\\': return '\\';
	case '/': return '/';
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	}
	return -1;
}

/* Decode a JSON string value into buf (NUL-terminated); its length, or -1 if not a string or too long. */
int j_str(struct jv v, char *buf, size_t cap)
{
	if (v.p == NULL || v.end - v.p < 2 || *v.p != '"' || v.end[-1] != '"' || cap == 0)
		return -1;
	size_t n = 0;
	for (const char *p = v.p + 1, *end = v.end - 1; p < end;) {
		char c = *p++;
		if (c == '\\') {
			if (p >= end)
				return -1;
			char e = *p++;
			if (e == 'u') {
				long cp;
				size_t used = unicode_escape(p, end, &cp);
				if (used == 0 || !put_utf8(buf, cap, &n, cp))
					return -1;
				p += used;
				continue;
			}
			int m = simple_escape(e);
			if (m < 0)
				return -1;
			c = (char)m;
		}
		if (n + 1 >= cap)
			return -1;
		buf[n++] = c;
	}
	buf[n] = 0;
	return (int)n;
}

/* True if v is a string equal to s (after decoding). */
bool j_str_is(struct jv v, const char *s)
{
	char buf[256];
	int n = j_str(v, buf, sizeof(buf));
	return n >= 0 && strcmp(buf, s) == 0;
}

/* Integer value of v; false if v is not an integer. */
bool j_int(struct jv v, long long *out)
{
	const char *p = v.p;
	bool neg = false;
	long long x = 0;
	if (p < v.end && *p == '-') {
		neg = true;
		p++;
	}
	if (p >= v.end)
		return false;
	for (; p < v.end; p++) {
		if (*p < '0' || *p > '9' || x > 100000000000000000LL)
			return false;
		x = x * 10 + (*p - '0');
	}
	*out = neg ? -x : x;
	return true;
}

/* Call fn for every "key": value member anywhere inside v, in text order, without recursion. */
void j_each_key(struct jv v, void (*fn)(struct jv key, const char *value, const char *end, void *arg), void *arg)
{
	const char *p = v.p, *end = v.end;
	while (p < end) {
		if (*p != '"') {
			p++;
			continue;
		}
		const char *q = skip_string(p, end);
		if (q == NULL)
			return;
		const char *c = ws(q, end);
		if (c < end && *c == ':') {
			struct jv key = { p + 1, q - 1 };
			fn(key, ws(c + 1, end), end, arg);
			p = c + 1;
		} else {
			p = q;
		}
	}
}

/* String member key of obj into buf; false if absent or not a string that fits. */
bool j_get_str(struct jv obj, const char *key, char *buf, size_t cap)
{
	struct jv v;
	return j_get(obj, key, &v) && j_str(v, buf, cap) >= 0;
}

/* True if member key of obj is the literal true. */
bool j_get_bool(struct jv obj, const char *key)
{
	struct jv v;
	return j_get(obj, key, &v) && v.end - v.p == 4 && memcmp(v.p, "true", 4) == 0;
}

/* Integer member key of obj, or dflt if absent (libpg_query omits zeros). */
long long j_get_int(struct jv obj, const char *key, long long dflt)
{
	struct jv v;
	long long x;
	return (j_get(obj, key, &v) && j_int(v, &x)) ? x : dflt;
}

/* Body of node member key of obj if it is a node of type want (NULL: any type). */
bool j_get_node(struct jv obj, const char *key, const char *want, struct jv *body)
{
	struct jv v, type;
	return j_get(obj, key, &v) && j_node(v, &type, body) && (want == NULL || j_key_is(type, want));
}
