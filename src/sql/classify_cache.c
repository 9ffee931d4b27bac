/* classify_cache: a fixed-capacity, per-thread (lock-free by ownership) cache of results by exact query text. */
#include "sql/classify_int.h"

#include <stdlib.h>
#include <string.h>

/*
 * Layout: a chained hash table over a fixed array of entries.  Each entry
 * owns one heap block holding the query text followed by the result, cut
 * down to what is in use (header + n_events events; results with unknown
 * functions are never stored), so a typical entry costs ~250 bytes plus the
 * text.  A hit costs a hash, a short chain walk, a memcmp and a copy; it
 * allocates nothing.  Eviction is CLOCK (second chance): a hit sets the
 * entry's reference bit, the hand clears bits until it finds a clear one.
 * Allocation happens only on insert, i.e. after a miss has already paid for
 * classification.
 */

#define NONE UINT32_MAX
#define HDR_SIZE offsetof(struct cls_result, unknown)
#define KEY_ALIGN(n) (((n) + 7u) & ~(size_t)7u)

struct centry {
	uint64_t hash;
	char *blob; /* key bytes (padded to 8), result header, events */
	uint32_t next; /* next entry in the same bucket, or NONE */
	uint32_t keylen;
	uint8_t ref; /* CLOCK reference bit */
};

struct cls_cache {
	uint32_t cap, used, hand, mask;
	size_t max_text;
	uint64_t generation;
	uint32_t *buckets;
	struct centry *e;
	struct cls_cache_stats st;
};

/* Load 8 bytes little-endian-agnostic (the hash only needs to be consistent within a process). */
static uint64_t load64(const char *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof(w));
	return w;
}

/* Final avalanche so that low bits (the bucket index) depend on every input bit. */
static uint64_t avalanche(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* 64-bit hash of s[0..n), 8 bytes per step; the last partial word is read in one load that overlaps the
   previous word (its bytes already hashed are shifted out), so no byte loop runs for texts of 8 bytes or more. */
static uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xbf58476d1ce4e5b9ULL);
	size_t i = 0;
	for (; n - i >= 8; i += 8) {
		h ^= load64(s + i) * 0x94d049bb133111ebULL;
		h = ((h << 31) | (h >> 33)) * 0x9e3779b97f4a7c15ULL;
	}
	uint64_t tail = 0;
	if (i == n)
		return avalanche(h);
	if (n >= 8) {
		memcpy(&tail, s + n - 8, 8);
		tail = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? tail >> (8 * (8 - (n - i)))
		                                                 : tail << (8 * (8 - (n - i)));
	} else {
		for (size_t k = 0; i + k < n; k++)
			tail |= (uint64_t)(unsigned char)s[i + k] << (8 * k);
	}
	return avalanche(h ^ tail);
}

/* Cache holding up to capacity results for texts of at most max_text bytes; NULL on allocation failure. */
struct cls_cache *cls_cache_new(uint32_t capacity, size_t max_text)
{
	if (capacity == 0 || capacity > (1u << 24))
		return NULL;
	struct cls_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	uint32_t nb = 1;
	while (nb < capacity * 2u)
		nb <<= 1;
	c->cap = capacity;
	c->mask = nb - 1;
	c->max_text = max_text;
	c->buckets = malloc(nb * sizeof(*c->buckets));
	c->e = calloc(capacity, sizeof(*c->e));
	if (c->buckets == NULL || c->e == NULL) {
		cls_cache_free(c);
		return NULL;
	}
	memset(c->buckets, 0xff, nb * sizeof(*c->buckets));
	c->st.capacity = capacity;
	return c;
}

/* Free the cache and every entry; NULL is a no-op. */
void cls_cache_free(struct cls_cache *c)
{
	if (c == NULL)
		return;
	if (c->e)
		for (uint32_t i = 0; i < c->used; i++)
			free(c->e[i].blob);
	free(c->e);
	free(c->buckets);
	free(c);
}

/* Drop every entry (volatility knowledge changed). */
void cls_cache_clear(struct cls_cache *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < c->used; i++) {
		free(c->e[i].blob);
		c->e[i].blob = NULL;
	}
	memset(c->buckets, 0xff, ((size_t)c->mask + 1) * sizeof(*c->buckets));
	c->used = 0;
	c->hand = 0;
	c->st.clears++;
}

/* Entries classified under another generation of volatility knowledge are stale: drop them all. */
static void check_generation(struct cls_cache *c, uint64_t generation)
{
	if (generation == c->generation)
		return;
	if (c->used > 0)
		cls_cache_clear(c);
	c->generation = generation;
}

/* Index of the entry holding sql, or NONE. */
static uint32_t find(const struct cls_cache *c, const char *sql, size_t len, uint64_t h)
{
	for (uint32_t i = c->buckets[h & c->mask]; i != NONE; i = c->e[i].next) {
		const struct centry *e = &c->e[i];
		if (e->hash == h && e->keylen == len && memcmp(e->blob, sql, len) == 0)
			return i;
	}
	return NONE;
}

/* Look sql up; on a hit copy the stored result to *out and return true. */
bool cls_cache_get(struct cls_cache *c, const char *sql, size_t len, uint64_t generation, struct cls_result *out)
{
	if (c == NULL || sql == NULL || out == NULL)
		return false;
	check_generation(c, generation);
	uint32_t i = len <= c->max_text ? find(c, sql, len, text_hash(sql, len)) : NONE;
	if (i == NONE) {
		c->st.misses++;
		return false;
	}
	struct centry *e = &c->e[i];
	const char *res = e->blob + KEY_ALIGN(e->keylen);
	memcpy(out, res, HDR_SIZE);
	if (out->n_events) /* most results have none: no call for an empty copy */
		memcpy(out->ev, res + HDR_SIZE, out->n_events * sizeof(out->ev[0]));
	e->ref = 1;
	c->st.hits++;
	return true;
}

/* Unlink entry i from its bucket chain. */
static void unlink_entry(struct cls_cache *c, uint32_t i)
{
	uint32_t *link = &c->buckets[c->e[i].hash & c->mask];
	while (*link != i)
		link = &c->e[*link].next;
	*link = c->e[i].next;
}

/* A slot for a new entry: a never-used one, else the CLOCK victim (unlinked and freed). */
static uint32_t take_slot(struct cls_cache *c)
{
	if (c->used < c->cap)
		return c->used++;
	while (c->e[c->hand].ref) {
		c->e[c->hand].ref = 0;
		c->hand = (c->hand + 1) % c->cap;
	}
	uint32_t i = c->hand;
	c->hand = (c->hand + 1) % c->cap;
	unlink_entry(c, i);
	free(c->e[i].blob);
	c->e[i].blob = NULL;
	c->st.evictions++;
	return i;
}

/* Store a result (evicting by CLOCK when full); -1 if not stored. */
int cls_cache_put(struct cls_cache *c, const char *sql, size_t len, uint64_t generation, const struct cls_result *res)
{
	if (c == NULL || sql == NULL || res == NULL || len > c->max_text || res->n_unknown > 0 ||
	    res->n_events > CLS_MAX_EVENTS)
		return -1;
	check_generation(c, generation);
	uint64_t h = text_hash(sql, len);
	if (find(c, sql, len, h) != NONE)
		return 0;
	size_t evsize = res->n_events * sizeof(res->ev[0]);
	char *blob = malloc(KEY_ALIGN(len) + HDR_SIZE + evsize);
	if (blob == NULL)
		return -1;
	memcpy(blob, sql, len);
	memcpy(blob + KEY_ALIGN(len), res, HDR_SIZE);
	memcpy(blob + KEY_ALIGN(len) + HDR_SIZE, res->ev, evsize);
	uint32_t i = take_slot(c);
	struct centry *e = &c->e[i];
	e->hash = h;
	e->blob = blob;
	e->keylen = (uint32_t)len;
	e->ref = 0;
	e->next = c->buckets[h & c->mask];
	c->buckets[h & c->mask] = i;
	c->st.inserts++;
	return 0;
}

/* Counters and occupancy. */
void cls_cache_get_stats(const struct cls_cache *c, struct cls_cache_stats *st)
{
	if (c == NULL || st == NULL)
		return;
	*st = c->st;
	st->used = c->used;
}

/* cls_cache_get, else classify() and cls_cache_put; c may be NULL. */
int classify_cached(struct cls_cache *c, const char *sql, size_t len, const struct cls_env *env, struct cls_result *out)
{
	uint64_t gen = env ? env->generation : 0;
	if (c && cls_cache_get(c, sql, len, gen, out))
		return 0;
	int rc = classify(sql, len, env, out);
	if (rc == 0 && c)
		cls_cache_put(c, sql, len, gen, out);
	return rc;
}
