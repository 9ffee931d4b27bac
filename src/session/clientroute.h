/* Per-statement routing for a client: statement text, classification, node choice, session effects. */
#ifndef PGR_CLIENTROUTE_H
#define PGR_CLIENTROUTE_H

#include "frontend/client.h"
#include "policy/router.h"

/* Outcome of looking at the first message of a unit of work. */
enum route_step {
	RS_GO, /* *node is where the unit should run */
	RS_NEED_FULL, /* the message must be fully buffered first */
	RS_DONE, /* pgrouter answered it itself (SET pgrouter.*); drop the message */
	RS_CLOSED, /* the client was closed */
	RS_WAIT, /* parked in CL_RYW_WAIT with the message buffered (ryw_wait.c); it is dispatched again later */
};

/* Choose the node for the unit that starts with this message (client not linked). */
enum route_step clientroute_start(struct client *cl, struct fe_msg *m, int *node);

/* A statement (Query, Parse, or Bind of a named prepared statement) is about to be forwarded on a linked
   server: track its session effects.  Returns ACT_SEND, ACT_NEED_FULL, or ACT_PAUSE when it must wait to be
   routed to another node. */
enum act clientroute_linked(struct client *cl, struct fe_msg *m);

struct cls_result;
/* Classify SQL text for cl's pool (cached per worker); false when it is too large to be worth parsing. */
bool clientroute_classify(struct client *cl, const char *sql, size_t len, struct cls_result *out);

/* The routing decision for one unit of work of cl (r: its classification, NULL when there is none): the first
   matching [routes] rule (returned), route_decide and the learned-write override. No side effects; shared by
   clientroute_start and SHOW ROUTE. fp is the statement's known fingerprint (0: compute it from sql); batch_len
   0 marks a batch whose Sync is not buffered yet. *have_replicas (may be NULL) tells whether a replica could be used at all. */
const struct routeconf *clientroute_decide(struct client *cl, uint8_t type, const struct cls_result *r, const char *sql,
                                           size_t tl, uint64_t fp, uint32_t batch_len, struct route_out *out,
                                           bool *have_replicas);

/* What clientroute_start would decide for a simple Query of sql from cl, without running it. */
struct route_explain {
	bool classified; /* false: too large to classify (it would go to the primary) */
	struct cls_result cls;
	struct route_out out;
	const struct routeconf *rule;
	bool have_replicas;
};
void clientroute_explain(struct client *cl, const char *sql, size_t len, struct route_explain *ex);

/* Remember a statement a replica refused as a write: later ones of the same shape go to the primary. */
void clientroute_learn_write(struct worker *w, const char *sql, size_t len);
/* The same, from a Query or Parse message (its type byte onward). */
void clientroute_learn_message(struct worker *w, const uint8_t *msg, uint32_t n);

#endif
