/* Parameter sets (name/value pairs) packed in one allocation: session settings of clients and servers. */
#ifndef PGR_PARAMS_H
#define PGR_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

/* A value starting with this byte is SQL text to replay as is (e.g. a list "a, b"), not a literal. */
#define PARAM_RAW '\x01'
/* A value starting with this byte is read as the startup packet reads it (a list "a,b" is a list): replayed
   with set_config(), not SET (where a quoted "a,b" is one name). */
#define PARAM_GUC '\x02'

/* "name\0value\0name\0value\0" in buf[0..len). */
struct params {
	char *buf;
	uint32_t len;
	uint32_t version; /* bumped by every change: cached views compare it */
};

#define N_TRACKED 6

/* A thread's set of distinct strings: equal values, one pointer (so views compare pointers). */
struct str_intern;
struct str_intern *str_intern_new(void);
void str_intern_free(struct str_intern *in);

/* The tracked values of a parameter set (with a fallback set for missing ones), cached by version. */
struct tracked_view {
	uint32_t version; /* params.version + 1 when valid (0: never filled) */
	uint64_t gen; /* equal gens (in any thread), equal values and interning: the same settings */
	bool has_extra; /* the set also holds untracked names */
	uint8_t interned; /* bit i: v[i] came from the intern set (equal values, equal pointers) */
	const char *v[N_TRACKED];
};

/* Refresh view from p (missing values from fallback, which must not change while the view is used);
   values are interned in `in` (may be NULL) while it has room. */
void params_view(struct tracked_view *view, const struct params *p, const struct params *fallback,
                 struct str_intern *in);
/* True when every tracked value wanted in a (the client) is what b (the server) has. */
bool params_view_equal(const struct tracked_view *a, const struct tracked_view *b);

/* Value for name, or NULL. */
const char *params_get(const struct params *p, const char *name);
/* Set (replace or add) name=value; 0 or -1. */
int params_set(struct params *p, const char *name, const char *value);
/* Remove name if present. */
void params_unset(struct params *p, const char *name);
/* Drop everything. */
void params_clear(struct params *p);
/* Replace dst with a copy of src; 0 or -1. */
int params_copy(struct params *dst, const struct params *src);
/* Iterate: start with *pos = 0; returns false at the end. */
bool params_next(const struct params *p, uint32_t *pos, const char **name, const char **value);

/* Reported parameters that pgrouter keeps per client and restores on every server it gets. */
bool param_is_tracked(const char *name);
/* True when two spellings of a tracked setting's value mean the same to the server: equal but for case
   and punctuation ("utf8", "UTF-8", "UTF8"), the way PostgreSQL matches encoding and style names;
   application_name must match exactly. */
bool param_same_value(const char *name, const char *a, const char *b);
/* The canonical spelling of a tracked parameter name (ParameterStatus uses e.g. "DateStyle"). */
const char *param_canonical(const char *name);

#endif
