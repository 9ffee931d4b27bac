/* Reads held until the catalog thread knows the volatility of the functions they call. */
#ifndef PGR_CATALOG_WAIT_H
#define PGR_CATALOG_WAIT_H

#include <stdbool.h>

struct client;
struct cls_env;
struct cls_result;
struct pool;
struct worker;

/* The catalog's volatility knowledge to classify statements of pool p with. */
void catalog_env(struct pool *p, struct cls_env *env);
/* Ask the catalog thread, without waiting, for the volatility of the functions r did not know (as p's login). */
void catalog_request(struct pool *p, const struct cls_result *r);
/* Is a lookup of one of r's unknown functions under way for p's database (catalog_wait_answered follows)? */
bool catalog_pending(struct pool *p, const struct cls_result *r);

/* Park idle cl (message buffered, CL_RYW_WAIT) while a lookup r needs is under way and its wait has time
   left: true, or false when it should go where it would go without the answer. */
bool catalog_wait_park(struct client *cl, const struct cls_result *r);
/* cl's unit is routed (or answered, or cl closed): its wait, if any, is over. */
void catalog_wait_routed(struct client *cl);
/* A lookup finished (any thread; the catalog thread's done-callback, given to catalog_start): every worker
   dispatches its waiting reads again. */
void catalog_wait_answered(void);
/* In w: dispatch again the waiting reads whose time is up (all of them when all is set, or when shutting down). */
void catalog_wait_tick(struct worker *w, bool all);

#endif
