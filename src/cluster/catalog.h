/* Function volatility from pg_proc: looked up once per (database, function name) by a catalog thread. */
#ifndef PGR_CATALOG_H
#define PGR_CATALOG_H

#include "sql/classify.h"
#include "io/loop.h"

struct pool;

/* Start the catalog thread; 0 or -1. */
int catalog_start(void);
/* Stop it (at exit). */
void catalog_stop(void);
/* The volatility knowledge to classify statements of pool p with. */
void catalog_env(struct pool *p, struct cls_env *env);
/* Ask, without waiting, for the volatility of the functions r did not know; each name is asked once (a failed
   lookup again after a second). */
void catalog_request(struct pool *p, const struct cls_result *r);
/* Is a lookup of one of r's unknown functions under way (its answer will come through catalog_wait)? */
bool catalog_pending(struct pool *p, const struct cls_result *r);

/* Run auth_query for cl's user as auth_user on its database's primary; the answer arrives in cl's worker
   inbox (INBOX_AUTH). 0, or -1 when no lookup could be started. */
int catalog_auth_lookup(struct client *cl, const char *auth_user);

#endif
