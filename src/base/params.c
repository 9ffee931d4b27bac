/* Parameter sets (name/value pairs) packed in one allocation: session settings of clients and servers. */
#include "base/params.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Names the server reports with ParameterStatus and that a client may change with SET. */
static const char *const tracked[] = {
	"client_encoding",  "DateStyle", "TimeZone", "IntervalStyle", "standard_conforming_strings",
	"application_name", NULL,
};

bool params_next(const struct params *p, uint32_t *pos, const char **name, const char **value)
{
	if (!p->buf || *pos >= p->len)
		return false;
	*name = p->buf + *pos;
	*value = *name + strlen(*name) + 1;
	*pos = (uint32_t)(*value + strlen(*value) + 1 - p->buf);
	return true;
}

/* Names compare case-insensitively, as GUC names do. */
const char *params_get(const struct params *p, const char *name)
{
	uint32_t pos = 0;
	const char *n, *v;
	while (params_next(p, &pos, &n, &v))
		if (strcasecmp(n, name) == 0)
			return v;
	return NULL;
}

void params_unset(struct params *p, const char *name)
{
	uint32_t pos = 0, start;
	const char *n, *v;
	for (;;) {
		start = pos;
		if (!params_next(p, &pos, &n, &v))
			return;
		if (strcasecmp(n, name) == 0) {
			memmove(p->buf + start, p->buf + pos, p->len - pos);
			p->len -= pos - start;
			p->version++;
			return;
		}
	}
}

int params_set(struct params *p, const char *name, const char *value)
{
	const char *old = params_get(p, name);
	if (old && strcmp(old, value) == 0)
		return 0;
	params_unset(p, name);
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
	if (p->len + nl + vl > UINT32_MAX / 2)
		return -1;
	char *nb = realloc(p->buf, p->len + nl + vl);
	if (!nb)
		return -1;
	memcpy(nb + p->len, name, nl);
	memcpy(nb + p->len + nl, value, vl);
	p->buf = nb;
	p->len += (uint32_t)(nl + vl);
	p->version++;
	return 0;
}

void params_clear(struct params *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = 0;
	p->version++;
}

int params_copy(struct params *dst, const struct params *src)
{
	char *nb = NULL;
	if (src->len) {
		nb = malloc(src->len);
		if (!nb)
			return -1;
		memcpy(nb, src->buf, src->len);
	}
	free(dst->buf);
	dst->buf = nb;
	dst->len = src->len;
	dst->version++;
	return 0;
}

bool param_is_tracked(const char *name)
{
	return param_canonical(name) != NULL;
}

const char *param_canonical(const char *name)
{
	for (int i = 0; tracked[i]; i++)
		if (strcasecmp(name, tracked[i]) == 0)
			return tracked[i];
	return NULL;
}

/* The next letter or digit of s at or after *i, lower-cased, or 0 at the end. */
static char next_alnum(const char *s, size_t *i)
{
	while (s[*i] && !isalnum((unsigned char)s[*i]))
		(*i)++;
	return s[*i] ? (char)tolower((unsigned char)s[(*i)++]) : 0;
}

bool param_same_value(const char *name, const char *a, const char *b)
{
	if (strcasecmp(name, "application_name") == 0)
		return strcmp(a, b) == 0; /* free text: every byte counts */
	size_t i = 0, j = 0;
	for (;;) {
		char x = next_alnum(a, &i), y = next_alnum(b, &j);
		if (x != y)
			return false;
		if (x == 0)
			return true;
	}
}

/* Index of a tracked name, or -1. */
static int tracked_index(const char *name)
{
	for (int i = 0; tracked[i]; i++)
		if (strcasecmp(name, tracked[i]) == 0)
			return i;
	return -1;
}

#define INTERN_SLOTS 2048 /* power of two; at most half of them used */
#define INTERN_BYTES (256u * 1024) /* past this, values are compared as strings again */

#define VIEW_SLOTS 256 /* distinct sets of tracked values given a shared gen; power of two, at most half used */

/* A set of tracked values made only of interned strings, and the gen every view with exactly these values gets. */
struct view_key {
	const char *v[N_TRACKED];
	bool has_extra;
	uint64_t gen; /* 0: free slot */
};

struct str_intern {
	uint32_t used;
	size_t bytes;
	char *slot[INTERN_SLOTS];
	uint32_t nviews;
	struct view_key views[VIEW_SLOTS];
};

struct str_intern *str_intern_new(void)
{
	return calloc(1, sizeof(struct str_intern));
}

void str_intern_free(struct str_intern *in)
{
	if (!in)
		return;
	for (uint32_t i = 0; i < INTERN_SLOTS; i++)
		free(in->slot[i]);
	free(in);
}

/* The set's copy of s, added if new; NULL when the set is full (the caller keeps s itself). */
static const char *intern(struct str_intern *in, const char *s)
{
	size_t n = strlen(s);
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	for (uint32_t i = (uint32_t)h & (INTERN_SLOTS - 1);; i = (i + 1) & (INTERN_SLOTS - 1)) {
		if (!in->slot[i]) {
			if (in->used >= INTERN_SLOTS / 2 || in->bytes + n + 1 > INTERN_BYTES ||
			    !(in->slot[i] = strdup(s)))
				return NULL;
			in->used++;
			in->bytes += n + 1;
			return in->slot[i];
		}
		if (strcmp(in->slot[i], s) == 0)
			return in->slot[i];
	}
}

/* Fill view slot i with v, interned when the set allows. */
static void view_put(struct tracked_view *view, int i, const char *v, struct str_intern *in)
{
	const char *iv = in ? intern(in, v) : NULL;
	view->v[i] = iv ? iv : v;
	if (iv)
		view->interned |= (uint8_t)(1u << i);
	else
		view->interned &= (uint8_t) ~(1u << i);
}

static _Atomic uint64_t view_gens; /* gens handed out so far, in every thread */

/* The gen for view's values: shared by every view of in with the same interned values (so a server can tell
   it has checked these settings already, whichever client has them), else one of its own. */
static uint64_t view_gen(const struct tracked_view *view, struct str_intern *in)
{
	uint64_t h = view->has_extra;
	for (int i = 0; i < N_TRACKED; i++) {
		if (view->v[i] && !(view->interned & (1u << i)))
			in = NULL; /* a value compared as a string: no sharing */
		h = (h ^ (uintptr_t)view->v[i]) * 1099511628211ULL;
	}
	if (!in)
		return atomic_fetch_add_explicit(&view_gens, 1, memory_order_relaxed) + 1;
	for (uint32_t i = (uint32_t)(h >> 32) & (VIEW_SLOTS - 1);; i = (i + 1) & (VIEW_SLOTS - 1)) {
		struct view_key *k = &in->views[i];
		if (!k->gen) {
			uint64_t gen = atomic_fetch_add_explicit(&view_gens, 1, memory_order_relaxed) + 1;
			if (in->nviews >= VIEW_SLOTS / 2)
				return gen;
			memcpy(k->v, view->v, sizeof k->v);
			k->has_extra = view->has_extra;
			k->gen = gen;
			in->nviews++;
			return gen;
		}
		if (k->has_extra == view->has_extra && memcmp(k->v, view->v, sizeof k->v) == 0)
			return k->gen;
	}
}

void params_view(struct tracked_view *view, const struct params *p, const struct params *fallback,
                 struct str_intern *in)
{
	if (view->version == p->version + 1)
		return;
	memset(view, 0, sizeof *view);
	if (fallback) {
		uint32_t pos = 0;
		const char *n, *v;
		while (params_next(fallback, &pos, &n, &v)) {
			int i = tracked_index(n);
			if (i >= 0)
				view_put(view, i, v, in);
		}
	}
	uint32_t pos = 0;
	const char *n, *v;
	while (params_next(p, &pos, &n, &v)) {
		int i = tracked_index(n);
		if (i >= 0)
			view_put(view, i, v, in);
		else
			view->has_extra = true;
	}
	view->version = p->version + 1;
	view->gen = view_gen(view, in);
}

bool params_view_equal(const struct tracked_view *a, const struct tracked_view *b)
{
	for (int i = 0; i < N_TRACKED; i++) {
		if (!a->v[i])
			continue; /* nothing wanted for this one */
		if (a->v[i] == b->v[i])
			continue;
		if (!b->v[i] || (a->interned & b->interned & (1u << i)) || strcmp(a->v[i], b->v[i]) != 0)
			return false; /* two interned values differ exactly when their pointers do */
	}
	return true;
}
