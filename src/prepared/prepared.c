/* Prepared-statement bookkeeping: interned statements, client names, server caches with LRU, changes awaiting answers. */
#include "prepared/prepared.h"
#include "prepared/prepared_int.h"

#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- intrusive hash table ---- */

/* Double the buckets (16 to start); -1 when out of memory. */
static int ht_grow(struct ps_htab *t)
{
	uint32_t nb = t->nb ? t->nb * 2 : 16;
	struct ps_hnode **b = calloc(nb, sizeof *b);
	if (!b)
		return -1;
	for (uint32_t i = 0; i < t->nb; i++) {
		struct ps_hnode *x = t->b[i];
		while (x) {
			struct ps_hnode *next = x->next;
			struct ps_hnode **head = &b[x->hash & (nb - 1)];
			x->next = *head;
			*head = x;
			x = next;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

int ps_ht_add(struct ps_htab *t, struct ps_hnode *x)
{
	/* A failed growth only makes chains longer, unless there are no buckets at all. */
	if (t->n >= t->nb && ht_grow(t) < 0 && t->nb == 0)
		return -1;
	struct ps_hnode **head = &t->b[x->hash & (t->nb - 1)];
	x->next = *head;
	*head = x;
	t->n++;
	return 0;
}

void ps_ht_del(struct ps_htab *t, struct ps_hnode *x)
{
	struct ps_hnode **pp = &t->b[x->hash & (t->nb - 1)];
	while (*pp && *pp != x)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = x->next;
		t->n--;
	}
}

struct ps_hnode *ps_ht_first(const struct ps_htab *t, uint64_t hash)
{
	return t->nb ? t->b[hash & (t->nb - 1)] : NULL;
}

/* 64-bit FNV-1a. */
uint64_t ps_hash(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

/* ---- interned statements ---- */

struct ps_intern *ps_intern_new(int worker_id)
{
	struct ps_intern *t = calloc(1, sizeof *t);
	if (t)
		t->worker = worker_id;
	return t;
}

void ps_intern_free(struct ps_intern *t)
{
	if (!t)
		return;
	if (t->ht.n) {
		t->dying = true; /* servers still closing hold statements: the last one frees the table */
		return;
	}
	free(t->ht.b);
	free(t);
}

uint32_t ps_intern_count(const struct ps_intern *t)
{
	return t ? t->ht.n : 0;
}

/* The definition must hold a terminated text, a parameter count and that many type OIDs, nothing more. */
static bool def_check(const uint8_t *def, uint32_t n, uint32_t *text_len)
{
	const uint8_t *nul = memchr(def, 0, n);
	if (!nul)
		return false;
	uint32_t tl = (uint32_t)(nul - def);
	uint32_t left = n - tl - 1;
	if (left < 2)
		return false;
	uint32_t np = ((uint32_t)nul[1] << 8) | nul[2];
	if (left != 2 + 4 * np)
		return false;
	*text_len = tl;
	return true;
}

bool ps_def_valid(const uint8_t *def, uint32_t n)
{
	uint32_t tl;
	return def_check(def, n, &tl);
}

struct ps_stmt *ps_intern_get(struct ps_intern *t, const uint8_t *def, uint32_t n, const char *scope)
{
	uint32_t tl;
	if (!def_check(def, n, &tl))
		return NULL;
	scope = scope ? scope : "";
	uint32_t sl = (uint32_t)strlen(scope) + 1;
	uint64_t h = ps_hash(def, n) ^ ps_hash(scope, sl);
	for (struct ps_hnode *x = ps_ht_first(&t->ht, h); x; x = x->next) {
		struct ps_stmt *st = container_of(x, struct ps_stmt, hn);
		if (x->hash == h && st->def_len == n && st->key_len == n + sl && memcmp(st->def, def, n) == 0 &&
		    memcmp(st->def + n, scope, sl) == 0) {
			st->refs++;
			return st;
		}
	}
	struct ps_stmt *st = calloc(1, sizeof *st + n + sl);
	if (!st)
		return NULL;
	st->hn.hash = h;
	st->owner = t;
	st->refs = 1;
	st->def_len = n;
	st->key_len = n + sl;
	st->text_len = tl;
	memcpy(st->def, def, n);
	memcpy(st->def + n, scope, sl);
	snprintf(st->name, sizeof st->name, "pgr%d_%llu", t->worker, (unsigned long long)++t->next_id);
	if (ps_ht_add(&t->ht, &st->hn) < 0) {
		free(st);
		return NULL;
	}
	return st;
}

void ps_stmt_ref(struct ps_stmt *st)
{
	if (st)
		st->refs++;
}

void ps_stmt_unref(struct ps_stmt *st)
{
	if (!st || --st->refs > 0)
		return;
	struct ps_intern *t = st->owner;
	ps_ht_del(&t->ht, &st->hn);
	free(st->cls);
	free(st);
	if (t->dying && t->ht.n == 0) {
		free(t->ht.b);
		free(t);
	}
}

const char *ps_stmt_name(const struct ps_stmt *st)
{
	return st->name;
}

const char *ps_stmt_text(const struct ps_stmt *st, uint32_t *len)
{
	if (len)
		*len = st->text_len;
	return (const char *)st->def;
}

struct cls_result **ps_stmt_cls_slot(struct ps_stmt *st, uint64_t **generation)
{
	*generation = &st->cls_gen;
	return &st->cls;
}

uint64_t *ps_stmt_fp_slot(struct ps_stmt *st)
{
	return &st->fp;
}

/* ---- a client's names ---- */

/* True for a name of pgrouter's form: "pgr", digits, '_', digits. */
bool ps_name_reserved(const char *s, size_t n)
{
	size_t i = 3;
	if (n < 6 || strncmp(s, "pgr", 3) != 0 || !isdigit((unsigned char)s[3]))
		return false;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	if (i + 1 >= n || s[i] != '_')
		return false;
	for (i++; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

void ps_name_disarm(char *p, size_t n)
{
	char *u = ps_name_reserved(p, n) ? memchr(p, '_', n) : NULL;
	if (u)
		*u = '$';
}

struct ps_client *ps_client_new(void)
{
	static _Atomic uint64_t next_id;
	struct ps_client *c = calloc(1, sizeof(struct ps_client));
	if (c)
		c->id = ++next_id;
	return c;
}

void ps_client_free(struct ps_client *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->ht.nb; i++) {
		struct ps_hnode *x = c->ht.b[i];
		while (x) {
			struct ps_hnode *next = x->next;
			struct ps_cslot *cs = container_of(x, struct ps_cslot, hn);
			ps_stmt_unref(cs->st);
			free(cs);
			x = next;
		}
	}
	free(c->ht.b);
	free(c->unnamed_def);
	free(c);
}

struct ps_cslot *ps_cslot_find(const struct ps_client *c, const char *name, uint32_t len)
{
	if (len > PS_NAME_MAX)
		len = PS_NAME_MAX;
	uint64_t h = ps_hash(name, len);
	for (struct ps_hnode *x = ps_ht_first(&c->ht, h); x; x = x->next) {
		struct ps_cslot *cs = container_of(x, struct ps_cslot, hn);
		if (x->hash == h && cs->len == len && memcmp(cs->name, name, len) == 0)
			return cs;
	}
	return NULL;
}

struct ps_cslot *ps_cslot_new(struct ps_client *c, const char *name, uint32_t len)
{
	if (len > PS_NAME_MAX)
		len = PS_NAME_MAX;
	struct ps_cslot *cs = calloc(1, sizeof *cs);
	if (!cs)
		return NULL;
	cs->owner = c;
	cs->len = (uint8_t)len;
	memcpy(cs->name, name, len);
	cs->hn.hash = ps_hash(name, len);
	if (ps_ht_add(&c->ht, &cs->hn) < 0) {
		free(cs);
		return NULL;
	}
	return cs;
}

/* A name with no statement and no change in flight is gone. */
void ps_cslot_maybe_free(struct ps_cslot *cs)
{
	if (cs->st || cs->nrec)
		return;
	ps_ht_del(&cs->owner->ht, &cs->hn);
	free(cs);
}

struct ps_stmt *ps_client_find(const struct ps_client *c, const char *name, uint32_t len)
{
	const struct ps_cslot *cs = c ? ps_cslot_find(c, name, len) : NULL;
	return cs ? cs->st : NULL;
}

struct ps_stmt *ps_client_named(const struct ps_client *c, struct fe_msg *m)
{
	if (!m->named_known) {
		m->named = c && m->stmt && m->stmt_len ? ps_cslot_find(c, m->stmt, m->stmt_len) : NULL;
		m->named_known = true;
	}
	const struct ps_cslot *cs = m->named;
	return cs ? cs->st : NULL;
}

uint32_t ps_client_count(const struct ps_client *c)
{
	uint32_t n = 0;
	for (uint32_t i = 0; c && i < c->ht.nb; i++)
		for (struct ps_hnode *x = c->ht.b[i]; x; x = x->next)
			n += container_of(x, struct ps_cslot, hn)->st != NULL;
	return n;
}

bool ps_client_take_waiting(struct ps_client *c)
{
	bool w = c->waiting;
	c->waiting = false;
	return w;
}

void ps_client_set_waiting(struct ps_client *c)
{
	c->waiting = true;
}

/* ---- a server connection's statements ---- */

struct ps_server *ps_server_new(void)
{
	struct ps_server *s = calloc(1, sizeof *s);
	if (s)
		list_init(&s->lru);
	return s;
}

/* Hash of a statement's identity (its address: a slot holds a reference, so it cannot be reused). */
static uint64_t st_key(const struct ps_stmt *st)
{
	return (uint64_t)(uintptr_t)st * 0x9E3779B97F4A7C15ull;
}

struct ps_sslot *ps_sslot_find(const struct ps_server *s, const struct ps_stmt *st)
{
	uint64_t h = st_key(st);
	for (struct ps_hnode *x = ps_ht_first(&s->ht, h); x; x = x->next) {
		struct ps_sslot *ss = container_of(x, struct ps_sslot, hn);
		if (ss->st == st)
			return ss;
	}
	return NULL;
}

struct ps_sslot *ps_sslot_get(struct ps_server *s, struct ps_stmt *st)
{
	struct ps_sslot *ss = ps_sslot_find(s, st);
	if (ss)
		return ss;
	if (!(ss = calloc(1, sizeof *ss)))
		return NULL;
	ss->st = st;
	ss->hn.hash = st_key(st);
	list_init(&ss->lru);
	if (ps_ht_add(&s->ht, &ss->hn) < 0) {
		free(ss);
		return NULL;
	}
	ps_stmt_ref(st);
	return ss;
}

void ps_sslot_set_present(struct ps_server *s, struct ps_sslot *ss, bool present)
{
	if (ss->present == present)
		return;
	ss->present = present;
	if (present) {
		list_prepend(&s->lru, &ss->lru);
		s->n_present++;
	} else {
		list_del(&ss->lru);
		s->n_present--;
	}
}

/* A statement that is not prepared and has no change in flight is forgotten. */
void ps_sslot_maybe_free(struct ps_server *s, struct ps_sslot *ss)
{
	if (ss->present || ss->nrec)
		return;
	ps_ht_del(&s->ht, &ss->hn);
	ps_stmt_unref(ss->st);
	free(ss);
}

/* Most recently used now, and not evictable before the connection is next idle. */
void ps_sslot_touch(struct ps_server *s, struct ps_sslot *ss)
{
	ss->last_use = s->group;
	if (ss->present) {
		list_del(&ss->lru);
		list_prepend(&s->lru, &ss->lru);
	}
}

uint32_t ps_server_count(const struct ps_server *s)
{
	return s ? s->n_present : 0;
}
bool ps_server_broken(const struct ps_server *s)
{
	return s && s->broken;
}
bool ps_server_quiet(const struct ps_server *s)
{
	return !s || s->nops == 0;
}

bool ps_server_wants(const struct ps_server *s, uint8_t type)
{
	if (!s || s->nops == 0)
		return false;
	return type == 'C' ? s->n_tags != 0 : type == '1' || type == '3' || type == 'E' || type == 'Z';
}

bool ps_server_take_progress(struct ps_server *s)
{
	bool p = s->progress;
	s->progress = false;
	return p;
}

/* Drop every statement slot (none may have changes in flight). */
static void drop_slots(struct ps_server *s)
{
	for (uint32_t i = 0; i < s->ht.nb; i++) {
		struct ps_hnode *x = s->ht.b[i];
		while (x) {
			struct ps_hnode *next = x->next;
			struct ps_sslot *ss = container_of(x, struct ps_sslot, hn);
			ps_stmt_unref(ss->st);
			free(ss);
			x = next;
		}
		s->ht.b[i] = NULL;
	}
	s->ht.n = 0;
	list_init(&s->lru);
	s->n_present = 0;
}

void ps_server_forget(struct ps_server *s)
{
	if (!s)
		return;
	ps_ops_undo_all(s);
	drop_slots(s);
	s->broken = false;
	s->unsynced = false;
}

void ps_server_unsure(struct ps_server *s)
{
	if (s)
		s->unsure++;
}

const char *ps_client_unnamed_text(const struct ps_client *c, uint32_t *len)
{
	if (!c || !c->unnamed_def)
		return NULL;
	*len = (uint32_t)strlen((const char *)c->unnamed_def); /* ps_def_valid: the text is NUL-terminated */
	return (const char *)c->unnamed_def;
}

void ps_server_unnamed_gone(struct ps_server *s)
{
	if (s)
		s->unnamed_owner = 0;
}

void ps_server_dropped_all(struct ps_server *s)
{
	if (s && s->nops == 0)
		drop_slots(s);
	else
		ps_server_forget(s);
}

void ps_server_free(struct ps_server *s)
{
	if (!s)
		return;
	ps_server_forget(s);
	free(s->ht.b);
	free(s->ops);
	free(s);
}
