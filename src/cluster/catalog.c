/* Function volatility from pg_proc: looked up once per (database, function name) by a catalog thread. */
#include "cluster/catalog.h"
#include "auth/authfile.h"
#include "io/conn.h"
#include "base/log.h"
#include "cluster/pgclient.h"
#include "io/loop.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT_CAP 8192 /* known (database, function) pairs; a full table simply learns no more */
#define CAT_TIMEOUT_MS 5000
#define CAT_RETRY_USEC 1000000 /* a failed lookup is asked again no sooner: reads waiting for it go on */
#define VOL_PENDING 'p'
#define VOL_FAILED 'f'

struct cat_entry {
	const void *key; /* the pool_shared of the database (and user) */
	char name[CLS_NAME_MAX];
	char vol; /* 'i', 's', 'v', VOL_PENDING, or VOL_FAILED */
	int64_t retry_at; /* VOL_FAILED: when the name may be asked again (monotonic µs) */
};

/* One lookup: everything the thread needs, copied, so that it never touches a worker's state. */
struct cat_req {
	struct list node;
	char *auth_sql; /* set: an auth_query for a waiting client, answered through its worker */
	int worker;
	uint32_t pid, ckey; /* the waiting client's cancel key */
	const void *key;
	char host[256], dbname[128], user[128];
	char *password;
	struct authfile_entry entry;
	bool have_entry, have_key;
	uint8_t client_key[32];
	int port;
	int nnames;
	char names[CLS_MAX_UNKNOWN][CLS_NAME_MAX];
};

/* All of it guarded by lock; the generation is read without it. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct cat_entry *table;
static struct list queue = LIST_INIT(queue);
static bool stopping, started;
static pthread_t thread;
static _Atomic uint64_t generation = 1;
static void (*on_answered)(void); /* set by catalog_start */

static uint32_t hash(const void *key, const char *name)
{
	uint32_t h = 2166136261u ^ (uint32_t)(uintptr_t)key;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h % CAT_CAP;
}

/* The slot of (key, name), or the empty slot where it would go; NULL when the table is full. Lock held. */
static struct cat_entry *slot(const void *key, const char *name)
{
	if (!table && !(table = calloc(CAT_CAP, sizeof *table)))
		return NULL;
	uint32_t h = hash(key, name);
	for (int i = 0; i < CAT_CAP; i++, h = (h + 1) % CAT_CAP) {
		struct cat_entry *e = &table[h];
		if (!e->key || (e->key == key && strcmp(e->name, name) == 0))
			return e;
	}
	return NULL;
}

/* cls_env callback: what pg_proc said, or 0 while unknown. */
static char lookup(void *ctx, const char *schema, const char *name)
{
	(void)schema; /* overloads in every schema are considered: the most volatile one counts */
	char v = 0;
	pthread_mutex_lock(&lock);
	struct cat_entry *e = table ? slot(ctx, name) : NULL;
	if (e && e->key && e->vol != VOL_PENDING && e->vol != VOL_FAILED)
		v = e->vol;
	pthread_mutex_unlock(&lock);
	return v;
}

void catalog_db_env(const void *key, struct cls_env *env)
{
	env->volatility = lookup;
	env->ctx = (void *)key;
	env->generation = atomic_load(&generation);
}

/* Copy the database's login toward its primary into the request. */
static void fill_login(struct cat_req *q, const struct catalog_db *db)
{
	snprintf(q->host, sizeof q->host, "%s", db->host);
	q->port = db->port;
	snprintf(q->dbname, sizeof q->dbname, "%s", db->dbname);
	snprintf(q->user, sizeof q->user, "%s", db->user);
	q->password = db->password ? strdup(db->password) : NULL;
	const struct authfile_entry *e = db->authfile ? authfile_lookup(db->authfile, db->user) : NULL;
	if (e) {
		q->entry = *e;
		q->entry.user = NULL;
		q->entry.secret = strdup(e->secret);
		q->have_entry = q->entry.secret != NULL;
		if (!q->password && e->kind == AUTH_SECRET_PLAIN && e->secret_len)
			q->password = strdup(e->secret);
	}
	if (atomic_load(db->has_client_key)) {
		pthread_mutex_lock(db->key_lock);
		memcpy(q->client_key, db->client_key, sizeof q->client_key);
		pthread_mutex_unlock(db->key_lock);
		q->have_key = true;
	}
}

void catalog_db_request(const struct catalog_db *db, const struct cls_result *r)
{
	if (!started || r->n_unknown == 0)
		return;
	struct cat_req *q = calloc(1, sizeof *q);
	if (!q)
		return;
	int64_t now = now_usec();
	pthread_mutex_lock(&lock);
	for (int i = 0; i < r->n_unknown && i < CLS_MAX_UNKNOWN; i++) {
		struct cat_entry *e = slot(db->key, r->unknown[i].name);
		if (!e || (e->key && (e->vol != VOL_FAILED || now < e->retry_at)))
			continue; /* known, asked already, failed a moment ago, or no room */
		e->key = db->key;
		snprintf(e->name, sizeof e->name, "%s", r->unknown[i].name);
		e->vol = VOL_PENDING;
		snprintf(q->names[q->nnames++], CLS_NAME_MAX, "%s", r->unknown[i].name);
	}
	pthread_mutex_unlock(&lock);
	if (q->nnames == 0) {
		free(q);
		return;
	}
	q->key = db->key;
	fill_login(q, db);
	pthread_mutex_lock(&lock);
	list_append(&queue, &q->node);
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
}

bool catalog_db_pending(const void *key, const struct cls_result *r)
{
	bool pending = false;
	pthread_mutex_lock(&lock);
	for (int i = 0; table && !pending && i < r->n_unknown && i < CLS_MAX_UNKNOWN; i++) {
		struct cat_entry *e = slot(key, r->unknown[i].name);
		pending = e && e->key && e->vol == VOL_PENDING;
	}
	pthread_mutex_unlock(&lock);
	return pending;
}

/* One row of the lookup: name and the most volatile provolatile of its overloads. */
static void on_row(void *ctx, int ncols, const char *const *vals)
{
	struct cat_req *q = ctx;
	if (ncols < 2 || !vals[0] || !vals[1])
		return;
	pthread_mutex_lock(&lock);
	struct cat_entry *e = slot(q->key, vals[0]);
	if (e && e->key)
		e->vol = vals[1][0];
	pthread_mutex_unlock(&lock);
}

/* Ask the primary; names it does not know stay volatile (the statement will fail there anyway). */
static void resolve(struct cat_req *q)
{
	char sql[1024] = "SELECT proname, max(provolatile::text) FROM pg_catalog.pg_proc WHERE proname IN (";
	for (int i = 0; i < q->nnames; i++) {
		size_t l = strlen(sql);
		char *o = sql + l;
		*o++ = i ? ',' : ' ';
		*o++ = '\'';
		for (const char *c = q->names[i]; *c && o < sql + sizeof sql - 8; c++) {
			if (*c == '\'')
				*o++ = '\'';
			*o++ = *c;
		}
		*o++ = '\'';
		*o = 0;
	}
	strncat(sql, ") GROUP BY proname", sizeof sql - strlen(sql) - 1);
	struct pgclient pc;
	struct pgc_login lg = { q->host,
		                q->port,
		                q->dbname,
		                q->user,
		                q->password,
		                q->have_entry ? &q->entry : NULL,
		                q->have_key ? q->client_key : NULL,
		                NULL };
	int rc = pgc_connect(&pc, &lg, CAT_TIMEOUT_MS);
	if (rc == 0) {
		rc = pgc_query(&pc, sql, on_row, q);
		pgc_close(&pc);
	}
	int64_t retry_at = now_usec() + CAT_RETRY_USEC;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < q->nnames; i++) {
		struct cat_entry *e = slot(q->key, q->names[i]);
		if (e && e->key && e->vol == VOL_PENDING) {
			/* Failed: a statement after CAT_RETRY_USEC asks again (not at once: the reads that waited for
			   this answer would only ask, fail and wait again). */
			e->vol = rc == 0 ? 'v' : VOL_FAILED;
			e->retry_at = retry_at;
		}
	}
	pthread_mutex_unlock(&lock);
	if (rc < 0)
		log_warn(NULL, "catalog: cannot look up function volatility on %s:%d/%s: %s", q->host, q->port,
		         q->dbname, pc.err);
	else
		log_debug(NULL, "catalog: learned the volatility of %d function(s) in %s", q->nnames, q->dbname);
	atomic_fetch_add(&generation, 1);
	if (on_answered)
		on_answered();
}

/* auth_query's one row: user name and secret. */
static void on_auth_row(void *ctx, int ncols, const char *const *vals)
{
	char **secret = ctx;
	if (ncols >= 2 && vals[1] && !*secret)
		*secret = strdup(vals[1]);
}

/* Run auth_query and hand the secret (or its absence) to the client's worker. */
static void run_auth_query(struct cat_req *q)
{
	struct inbox_msg *m = calloc(1, sizeof *m);
	if (!m)
		return;
	struct pgclient pc;
	struct pgc_login lg = { q->host, q->port, q->dbname, q->user, q->password, q->have_entry ? &q->entry : NULL,
		                NULL,    NULL };
	int rc = pgc_connect(&pc, &lg, CAT_TIMEOUT_MS);
	if (rc == 0) {
		rc = pgc_query(&pc, q->auth_sql, on_auth_row, &m->secret);
		pgc_close(&pc);
	}
	if (rc < 0)
		log_warn(NULL, "auth_query as %s on %s:%d/%s failed: %s", q->user, q->host, q->port, q->dbname, pc.err);
	m->kind = INBOX_AUTH;
	m->pid = q->pid;
	m->key = q->ckey;
	m->failed = rc < 0;
	worker_post(q->worker, m);
}

static void free_req(struct cat_req *q)
{
	free(q->auth_sql);
	free(q->password);
	free(q->entry.secret);
	free(q);
}

static void *catalog_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		struct list *it = list_pop(&queue);
		if (!it) {
			pthread_cond_wait(&wake, &lock);
			continue;
		}
		pthread_mutex_unlock(&lock);
		struct cat_req *q = list_entry(it, struct cat_req, node);
		if (q->auth_sql)
			run_auth_query(q);
		else
			resolve(q);
		free_req(q);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int catalog_auth_lookup(struct worker *w, const char *dbname, const char *user, uint32_t pid, uint32_t ckey,
                        const char *auth_user)
{
	const struct config *cfg = w->cfg;
	const struct dbconf *db = config_find_db(cfg, dbname);
	if (!started || !db)
		return -1;
	struct cat_req *q = calloc(1, sizeof *q);
	if (!q)
		return -1;
	/* $1 becomes the user name as an E'' literal: quotes and backslashes escaped. */
	size_t cap = strlen(cfg->auth_query) + 4 * strlen(user) + 16;
	q->auth_sql = malloc(cap);
	if (!q->auth_sql) {
		free(q);
		return -1;
	}
	const char *dollar = strstr(cfg->auth_query, "$1");
	size_t o = (size_t)(dollar - cfg->auth_query);
	memcpy(q->auth_sql, cfg->auth_query, o);
	q->auth_sql[o++] = 'E';
	q->auth_sql[o++] = '\'';
	for (const char *c = user; *c; c++) {
		if (*c == '\'' || *c == '\\')
			q->auth_sql[o++] = '\\';
		q->auth_sql[o++] = *c;
	}
	q->auth_sql[o++] = '\'';
	snprintf(q->auth_sql + o, cap - o, "%s", dollar + 2);
	q->worker = w->id;
	q->pid = pid;
	q->ckey = ckey;
	snprintf(q->host, sizeof q->host, "%s", db->nodes[0].host);
	q->port = db->nodes[0].port;
	snprintf(q->dbname, sizeof q->dbname, "%s",
	         *cfg->auth_dbname    ? cfg->auth_dbname
	                 : db->dbname ? db->dbname
	                              : dbname);
	snprintf(q->user, sizeof q->user, "%s", auth_user);
	const struct authfile_entry *e = cfg->authfile ? authfile_lookup(cfg->authfile, auth_user) : NULL;
	if (e) {
		q->entry = *e;
		q->entry.user = NULL;
		q->entry.secret = strdup(e->secret);
		q->have_entry = q->entry.secret != NULL;
		if (e->kind == AUTH_SECRET_PLAIN && e->secret_len)
			q->password = strdup(e->secret);
	}
	if (!q->password && db->password && (!db->user || strcmp(db->user, auth_user) == 0))
		q->password = strdup(db->password);
	pthread_mutex_lock(&lock);
	list_append(&queue, &q->node);
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	return 0;
}

int catalog_start(void (*answered)(void))
{
	on_answered = answered;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* signals belong to the main thread */
	int rc = pthread_create(&thread, NULL, catalog_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -1;
	started = true;
	return 0;
}

void catalog_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	struct list *it;
	while ((it = list_pop(&queue)) != NULL)
		free_req(list_entry(it, struct cat_req, node));
	free(table);
	table = NULL;
	started = false;
}
