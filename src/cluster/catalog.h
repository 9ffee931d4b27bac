/* Function volatility from pg_proc: looked up once per (database, function name) by a catalog thread. */
#ifndef PGR_CATALOG_H
#define PGR_CATALOG_H

#include "sql/classify.h"
#include "io/loop.h"

#include <pthread.h>
#include <stdatomic.h>

struct authfile;

/* Where and as whom the lookups for one database log in to its primary (catalog_request copies it). */
struct catalog_db {
	const void *key; /* names the database (and user) in the table: a pool's shared state */
	const char *host;
	int port;
	const char *dbname, *user, *password; /* password may be NULL */
	const struct authfile *authfile; /* the config's, for the user's secret; or NULL */
	pthread_mutex_t *key_lock; /* guards client_key */
	const uint8_t *client_key; /* a SCRAM ClientKey learned from a client's login, when has_client_key */
	const atomic_bool *has_client_key;
};

/* Start the catalog thread; answered runs (on that thread) after each volatility lookup. 0 or -1. */
int catalog_start(void (*answered)(void));
/* Stop it (at exit). */
void catalog_stop(void);
/* The volatility knowledge to classify statements of the database key names with. */
void catalog_db_env(const void *key, struct cls_env *env);
/* Ask, without waiting, for the volatility of the functions r did not know; each name is asked once (a failed
   lookup again after a second). */
void catalog_db_request(const struct catalog_db *db, const struct cls_result *r);
/* Is a lookup of one of r's unknown functions under way (answered will be called)? */
bool catalog_db_pending(const void *key, const struct cls_result *r);

/* Run auth_query for user of database dbname as auth_user on that database's primary; the answer arrives in
   worker w's inbox (INBOX_AUTH) for the client of cancel key (pid, ckey). 0, or -1 when no lookup could be
   started. */
int catalog_auth_lookup(struct worker *w, const char *dbname, const char *user, uint32_t pid, uint32_t ckey,
                        const char *auth_user);

#endif
