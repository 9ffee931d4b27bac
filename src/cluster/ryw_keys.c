/* Read-your-writes, pure parts: LSN text form and the process-wide consistency-key table. */
#include "cluster/ryw_keys.h"
#include "base/list.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ryw_parse_lsn(const char *s, size_t n, uint64_t *out)
{
	uint64_t half[2] = { 0, 0 };
	int h = 0, digits = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		int v;
		if (ch == '/') {
			if (h == 1 || digits == 0)
				return -1;
			h = 1;
			digits = 0;
			continue;
		}
		if (ch >= '0' && ch <= '9')
			v = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v = ch - 'A' + 10;
		else
			return -1;
		if (++digits > 8)
			return -1; /* each half is 32 bits */
		half[h] = half[h] << 4 | (uint64_t)v;
	}
	if (h != 1 || digits == 0)
		return -1;
	*out = half[0] << 32 | half[1];
	return 0;
}

char *ryw_format_lsn(uint64_t lsn, char *buf, size_t n)
{
	snprintf(buf, n, "%" PRIX64 "/%" PRIX64, lsn >> 32, lsn & 0xffffffffu);
	return buf;
}

/* The key table: the one place where read-your-writes state is shared between workers. */
#define KEY_BUCKETS 4096

struct key_entry {
	struct list lru; /* most recently noted first */
	struct key_entry *next; /* bucket chain */
	uint32_t hash;
	uint64_t lsn;
	int64_t noted; /* monotonic µs of the last note */
	char key[];
};

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_entry *buckets[KEY_BUCKETS];
static struct list lru = LIST_INIT(lru);
static int nkeys;

static _Atomic uint64_t stat_primary[RYW_NSCOPES], stat_learned[2];

static uint32_t key_hash(const char *k)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 16777619u;
	return h;
}

/* Unlink and free e (lock held). */
static void drop(struct key_entry *e)
{
	struct key_entry **pp = &buckets[e->hash % KEY_BUCKETS];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	list_del(&e->lru);
	nkeys--;
	free(e);
}

/* The entry for key (lock held), NULL when absent; expired entries are dropped on the way. */
static struct key_entry *find(const char *key, uint32_t h, int64_t now, int64_t ttl_us)
{
	for (struct key_entry *e = buckets[h % KEY_BUCKETS]; e; e = e->next) {
		if (e->hash != h || strcmp(e->key, key) != 0)
			continue;
		if (ttl_us > 0 && now - e->noted > ttl_us) {
			drop(e);
			return NULL;
		}
		return e;
	}
	return NULL;
}

void ryw_key_note(const char *key, uint64_t lsn, int64_t now, int64_t ttl_us, int max_keys)
{
	uint32_t h = key_hash(key);
	pthread_mutex_lock(&keys_lock);
	struct key_entry *e = find(key, h, now, ttl_us);
	if (!e) {
		/* Full: the least recently written key goes (its readers fall back to their own session). */
		while (nkeys > 0 && nkeys >= (max_keys > 0 ? max_keys : 1))
			drop(list_entry(lru.prev, struct key_entry, lru));
		size_t kl = strlen(key);
		if ((e = malloc(sizeof *e + kl + 1)) != NULL) {
			memcpy(e->key, key, kl + 1);
			e->hash = h;
			e->lsn = 0;
			e->next = buckets[h % KEY_BUCKETS];
			buckets[h % KEY_BUCKETS] = e;
			list_init(&e->lru);
			nkeys++;
		}
	}
	if (e) {
		if (lsn > e->lsn)
			e->lsn = lsn;
		e->noted = now;
		list_del(&e->lru);
		list_prepend(&lru, &e->lru);
	}
	pthread_mutex_unlock(&keys_lock);
}

uint64_t ryw_key_get(const char *key, int64_t now, int64_t ttl_us)
{
	uint32_t h = key_hash(key);
	pthread_mutex_lock(&keys_lock);
	struct key_entry *e = find(key, h, now, ttl_us);
	uint64_t lsn = e ? e->lsn : 0;
	pthread_mutex_unlock(&keys_lock);
	return lsn;
}

int ryw_key_count(void)
{
	pthread_mutex_lock(&keys_lock);
	int n = nkeys;
	pthread_mutex_unlock(&keys_lock);
	return n;
}

void ryw_key_clear(void)
{
	pthread_mutex_lock(&keys_lock);
	while (!list_empty(&lru))
		drop(list_entry(lru.next, struct key_entry, lru));
	pthread_mutex_unlock(&keys_lock);
}

void ryw_count_primary(enum ryw_scope s)
{
	atomic_fetch_add_explicit(&stat_primary[s], 1, memory_order_relaxed);
}
uint64_t ryw_stat_primary(enum ryw_scope s)
{
	return atomic_load_explicit(&stat_primary[s], memory_order_relaxed);
}
void ryw_count_learned(bool rode)
{
	atomic_fetch_add_explicit(&stat_learned[rode], 1, memory_order_relaxed);
}
uint64_t ryw_stat_learned(bool rode)
{
	return atomic_load_explicit(&stat_learned[rode], memory_order_relaxed);
}
