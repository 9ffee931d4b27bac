/* classify_kw: the fast path's keyword table — PostgreSQL 15 keyword categories plus our own groupings. */
#include "sql/classify_int.h"

#include <string.h>

struct kw {
	const char *word;
	uint8_t len;
	uint16_t flags;
};

#define K(w, f) \
	{ \
		w, sizeof(w) - 1, f \
	}

/*
 * Sorted by strcmp (checked by cls_kw_table_ok).  Overlay and substring are
 * column-name keywords too, but written with commas they become plain calls
 * of unqualified functions, so they are looked up like any function.
 */
static const struct kw kw_table[] = {
	K("all", KW_RESERVED | KW_EXPR_BEFORE | KW_VAR_SPECIAL),
	K("analyse", KW_RESERVED),
	K("analyze", KW_RESERVED),
	K("and", KW_RESERVED | KW_EXPR_BEFORE),
	K("any", KW_RESERVED),
	K("array", KW_RESERVED),
	K("as", KW_RESERVED),
	K("asc", KW_RESERVED),
	K("asymmetric", KW_RESERVED | KW_EXPR_BEFORE),
	K("authorization", KW_TYPEFUNC),
	K("between", KW_COLNAME | KW_EXPR_BEFORE),
	K("bigint", KW_COLNAME),
	K("binary", KW_TYPEFUNC),
	K("bit", KW_COLNAME | KW_VARYING_PREFIX),
	K("boolean", KW_COLNAME),
	K("both", KW_RESERVED),
	K("bpchar", KW_TYPMOD),
	K("by", KW_EXPR_BEFORE),
	K("case", KW_RESERVED | KW_EXPR_BEFORE),
	K("cast", KW_RESERVED),
	K("char", KW_COLNAME | KW_VARYING_PREFIX),
	K("character", KW_COLNAME | KW_VARYING_PREFIX),
	K("check", KW_RESERVED),
	K("coalesce", KW_COLNAME),
	K("collate", KW_RESERVED),
	K("collation", KW_TYPEFUNC),
	K("column", KW_RESERVED),
	K("concurrently", KW_TYPEFUNC),
	K("constraint", KW_RESERVED),
	K("constraints", KW_VAR_SPECIAL),
	K("create", KW_RESERVED),
	K("cross", KW_TYPEFUNC),
	K("current_catalog", KW_RESERVED),
	K("current_date", KW_RESERVED),
	K("current_role", KW_RESERVED),
	K("current_schema", KW_TYPEFUNC),
	K("current_time", KW_RESERVED),
	K("current_timestamp", KW_RESERVED),
	K("current_user", KW_RESERVED),
	K("dec", KW_COLNAME),
	K("decimal", KW_COLNAME),
	K("default", KW_RESERVED),
	K("deferrable", KW_RESERVED),
	K("delete", KW_SPOILER),
	K("desc", KW_RESERVED),
	K("distinct", KW_RESERVED | KW_EXPR_BEFORE),
	K("do", KW_RESERVED),
	K("else", KW_RESERVED | KW_EXPR_BEFORE),
	K("end", KW_RESERVED),
	K("escape", KW_EXPR_BEFORE),
	K("except", KW_RESERVED | KW_EXPR_BEFORE),
	K("exists", KW_COLNAME),
	K("extract", KW_COLNAME),
	K("false", KW_RESERVED),
	K("fetch", KW_RESERVED),
	K("filter", KW_WINDOW_SUFFIX),
	K("float", KW_COLNAME),
	K("for", KW_RESERVED | KW_SPOILER),
	K("foreign", KW_RESERVED),
	K("freeze", KW_TYPEFUNC),
	K("from", KW_RESERVED | KW_EXPR_BEFORE),
	K("full", KW_TYPEFUNC),
	K("grant", KW_RESERVED),
	K("greatest", KW_COLNAME),
	K("group", KW_RESERVED),
	K("grouping", KW_COLNAME),
	K("having", KW_RESERVED | KW_EXPR_BEFORE),
	K("ilike", KW_TYPEFUNC | KW_EXPR_BEFORE),
	K("in", KW_RESERVED),
	K("initially", KW_RESERVED),
	K("inner", KW_TYPEFUNC),
	K("inout", KW_COLNAME),
	K("insert", KW_SPOILER),
	K("int", KW_COLNAME),
	K("integer", KW_COLNAME),
	K("intersect", KW_RESERVED | KW_EXPR_BEFORE),
	K("interval", KW_COLNAME),
	K("into", KW_RESERVED | KW_SPOILER),
	K("is", KW_TYPEFUNC),
	K("isnull", KW_TYPEFUNC),
	K("join", KW_TYPEFUNC | KW_EXPR_BEFORE),
	K("lateral", KW_RESERVED | KW_EXPR_BEFORE),
	K("leading", KW_RESERVED),
	K("least", KW_COLNAME),
	K("left", KW_TYPEFUNC),
	K("like", KW_TYPEFUNC | KW_EXPR_BEFORE),
	K("limit", KW_RESERVED | KW_EXPR_BEFORE),
	K("local", KW_VAR_SPECIAL),
	K("localtime", KW_RESERVED),
	K("localtimestamp", KW_RESERVED),
	K("merge", KW_SPOILER),
	K("names", KW_VAR_SPECIAL),
	K("national", KW_COLNAME),
	K("natural", KW_TYPEFUNC),
	K("nchar", KW_COLNAME),
	K("none", KW_COLNAME),
	K("normalize", KW_COLNAME),
	K("not", KW_RESERVED | KW_EXPR_BEFORE),
	K("notnull", KW_TYPEFUNC),
	K("null", KW_RESERVED),
	K("nullif", KW_COLNAME),
	K("numeric", KW_COLNAME),
	K("offset", KW_RESERVED | KW_EXPR_BEFORE),
	K("on", KW_RESERVED | KW_EXPR_BEFORE),
	K("only", KW_RESERVED),
	K("or", KW_RESERVED | KW_EXPR_BEFORE),
	K("order", KW_RESERVED),
	K("out", KW_COLNAME),
	K("outer", KW_TYPEFUNC),
	K("over", KW_WINDOW_SUFFIX),
	K("overlaps", KW_TYPEFUNC),
	K("placing", KW_RESERVED),
	K("position", KW_COLNAME),
	K("precision", KW_COLNAME),
	K("primary", KW_RESERVED),
	K("real", KW_COLNAME),
	K("references", KW_RESERVED),
	K("returning", KW_RESERVED),
	K("right", KW_TYPEFUNC),
	K("role", KW_VAR_SPECIAL),
	K("row", KW_COLNAME),
	K("schema", KW_VAR_SPECIAL),
	K("select", KW_RESERVED | KW_EXPR_BEFORE),
	K("session", KW_VAR_SPECIAL),
	K("session_user", KW_RESERVED),
	K("setof", KW_COLNAME),
	K("similar", KW_TYPEFUNC),
	K("smallint", KW_COLNAME),
	K("some", KW_RESERVED),
	K("symmetric", KW_RESERVED | KW_EXPR_BEFORE),
	K("table", KW_RESERVED),
	K("tablesample", KW_TYPEFUNC),
	K("then", KW_RESERVED | KW_EXPR_BEFORE),
	K("time", KW_COLNAME | KW_VAR_SPECIAL),
	K("timestamp", KW_COLNAME),
	K("timestamptz", KW_TYPMOD),
	K("timetz", KW_TYPMOD),
	K("to", KW_RESERVED | KW_EXPR_BEFORE),
	K("trailing", KW_RESERVED),
	K("transaction", KW_VAR_SPECIAL),
	K("treat", KW_TREAT),
	K("trim", KW_COLNAME),
	K("true", KW_RESERVED),
	K("union", KW_RESERVED | KW_EXPR_BEFORE),
	K("unique", KW_RESERVED),
	K("update", KW_SPOILER),
	K("user", KW_RESERVED),
	K("using", KW_RESERVED),
	K("values", KW_COLNAME),
	K("varbit", KW_TYPMOD),
	K("varchar", KW_COLNAME),
	K("variadic", KW_RESERVED | KW_EXPR_BEFORE),
	K("varying", KW_TYPMOD),
	K("verbose", KW_TYPEFUNC),
	K("when", KW_RESERVED | KW_EXPR_BEFORE),
	K("where", KW_RESERVED | KW_EXPR_BEFORE),
	K("window", KW_RESERVED),
	K("with", KW_RESERVED),
	K("xml", KW_VAR_SPECIAL),
	K("xmlattributes", KW_COLNAME),
	K("xmlconcat", KW_COLNAME),
	K("xmlelement", KW_COLNAME),
	K("xmlexists", KW_COLNAME),
	K("xmlforest", KW_COLNAME),
	K("xmlnamespaces", KW_COLNAME),
	K("xmlparse", KW_COLNAME),
	K("xmlpi", KW_COLNAME),
	K("xmlroot", KW_COLNAME),
	K("xmlserialize", KW_COLNAME),
	K("xmltable", KW_COLNAME),
	K("zone", KW_EXPR_BEFORE),
};

/*
 * Open-addressing index over kw_table (entry = table index + 1, 0 = empty),
 * keyed by kw_hash(); 512 slots for 171 words, at most 2 extra probes.  To
 * regenerate after editing kw_table: insert the words in table order, each
 * at kw_hash(word) or the next free slot after it.  cls_kw_table_ok (unit
 * test) fails if a word is added without regenerating the index.
 */
static const uint8_t kw_index[512] = {
	139, 148, 0,   0,   78,  0,  32,  31,  100, 0,   0,   19,  49, 166, 170, 0,  0,   0,   0,   12,  0,  0,   0,
	0,   39,  24,  25,  0,   58, 0,   0,   99,  0,   0,   115, 44, 163, 0,   94, 20,  93,  0,   0,   0,  165, 0,
	171, 0,   0,   169, 0,   30, 168, 0,   56,  50,  153, 160, 0,  48,  162, 0,  161, 164, 0,   52,  42, 0,   34,
	35,  37,  0,   0,   0,   0,  0,   43,  0,   0,   0,   29,  46, 0,   54,  60, 0,   0,   51,  158, 0,  0,   0,
	104, 116, 0,   0,   16,  0,  0,   0,   0,   0,   0,   0,   0,  0,   0,   53, 0,   0,   0,   0,   0,  71,  57,
	157, 0,   0,   75,  0,   0,  0,   0,   0,   63,  0,   0,   0,  0,   0,   0,  0,   0,   79,  0,   0,  0,   0,
	0,   0,   33,  0,   0,   0,  0,   0,   0,   167, 0,   0,   0,  137, 68,  0,  0,   0,   0,   0,   0,  5,   114,
	0,   0,   0,   64,  113, 0,  0,   0,   0,   0,   74,  0,   0,  0,   90,  0,  6,   0,   0,   0,   0,  0,   73,
	0,   142, 72,  18,  0,   0,  0,   13,  0,   0,   0,   0,   0,  0,   0,   55, 0,   1,   136, 0,   66, 0,   0,
	67,  0,   0,   102, 0,   0,  0,   0,   0,   0,   76,  133, 86, 23,  0,   0,  0,   0,   0,   0,   95, 124, 0,
	0,   0,   0,   0,   0,   0,  0,   0,   0,   0,   106, 110, 85, 159, 84,  0,  0,   107, 0,   138, 0,  122, 144,
	0,   0,   89,  87,  91,  0,  0,   0,   0,   140, 109, 0,   0,  0,   0,   92, 0,   96,  0,   0,   0,  28,  0,
	0,   0,   0,   0,   0,   0,  0,   0,   0,   0,   0,   0,   0,  155, 0,   0,  97,  98,  0,   0,   0,  0,   41,
	0,   0,   0,   0,   0,   0,  83,  0,   0,   0,   0,   0,   0,  111, 0,   0,  0,   0,   0,   101, 0,  0,   0,
	108, 0,   0,   15,  0,   0,  62,  0,   0,   0,   0,   0,   0,  0,   11,  0,  135, 0,   10,  103, 0,  0,   130,
	0,   0,   0,   0,   0,   0,  27,  26,  0,   0,   0,   0,   0,  0,   0,   0,  0,   127, 0,   120, 0,  0,   61,
	0,   0,   0,   0,   0,   0,  0,   0,   0,   47,  0,   0,   0,  0,   0,   0,  0,   147, 0,   0,   70, 129, 0,
	117, 0,   0,   119, 0,   8,  0,   0,   0,   112, 0,   125, 0,  0,   152, 0,  0,   0,   131, 0,   0,  0,   134,
	59,  0,   0,   0,   0,   0,  0,   143, 0,   80,  123, 0,   0,  4,   151, 36, 0,   9,   0,   0,   77, 0,   0,
	0,   0,   126, 141, 146, 0,  0,   128, 0,   0,   0,   0,   0,  0,   0,   0,  7,   40,  145, 0,   0,  17,  0,
	69,  21,  0,   0,   0,   0,  0,   0,   132, 0,   88,  154, 0,  0,   0,   45, 149, 118, 0,   0,   0,  0,   0,
	0,   156, 0,   82,  0,   0,  2,   3,   0,   150, 81,  0,   0,  22,  121, 0,  38,  105, 0,   0,   0,  0,   0,
	65,  0,   0,   0,   14,  0,
};

/* Slot of a lower-case word of length n >= 1 in kw_index. */
static unsigned kw_hash(const char *w, size_t n)
{
	const unsigned char *u = (const unsigned char *)w;
	return (u[0] * 24u + u[n - 1] * 36u + (unsigned)n * 7u + u[n / 2]) & 511u;
}

/* Keyword flags of a lower-case word of length n >= 1 (0 if it is not one of ours). */
uint16_t cls_kw_lookup(const char *w, size_t n)
{
	for (unsigned h = kw_hash(w, n); kw_index[h] != 0; h = (h + 1) & 511u) {
		const struct kw *k = &kw_table[kw_index[h] - 1];
		if (k->len == n && memcmp(k->word, w, n) == 0)
			return k->flags;
	}
	return 0;
}

/* True if the keyword table is sorted, unique and fully indexed (checked by the unit test). */
bool cls_kw_table_ok(void)
{
	size_t count = sizeof(kw_table) / sizeof(kw_table[0]), used = 0;
	for (size_t h = 0; h < sizeof(kw_index); h++)
		used += kw_index[h] != 0;
	if (used != count)
		return false;
	for (size_t i = 0; i < count; i++) {
		const char *w = kw_table[i].word;
		if (i > 0 && strcmp(kw_table[i - 1].word, w) >= 0)
			return false;
		if (kw_table[i].len != strlen(w) || cls_kw_lookup(w, strlen(w)) != kw_table[i].flags)
			return false;
	}
	return true;
}
