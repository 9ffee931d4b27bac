/* Read-your-writes: commit LSNs learned after writes, required per session, per consistency key and by token. */
#ifndef PGR_RYW_H
#define PGR_RYW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/ryw_keys.h"
#include "policy/ryw_state.h"

struct config;
struct client;
struct server;
struct cls_result;
struct store_req;
struct be_msg;
struct fe_msg;

/* Handle SET pgrouter.consistency_key / pgrouter.min_lsn (value NULL: RESET/DEFAULT):
   1 handled, 0 not a read-your-writes setting, -1 bad value. */
int ryw_client_set(struct client *cl, const char *name, const char *value);
/* Free the client's part. */
void ryw_client_free(struct client *cl);
/* For a read that may use a replica: the replay LSN it needs (0: none); *scope says which scope asked most.
   Returns UINT64_MAX when the read must go to the primary (window mode). */
uint64_t ryw_required(struct client *cl, enum ryw_scope *scope);

/* A forwarded statement on sv (rp NULL: it could not be classified). */
void ryw_note_statement(struct server *sv, const struct cls_result *rp);
/* Whether the simple Query rp (about to be forwarded on sv, nothing else outstanding) ends a unit that wrote,
   so that the LSN query can follow it in the same write. */
bool ryw_query_ends_unit(const struct server *sv, const struct cls_result *rp);
/* Forward the client's Query (pa: ACT_SEND, still in the client's buffer, or ACT_CONSUMED, already written
   for the server) followed by the LSN query; returns the relay action for the client's message. */
int ryw_send_with_query(struct client *cl, struct server *sv, int pa, uint32_t len, const uint8_t *body);
/* The first message of an extended-protocol batch on sv (nothing unsynced before it). */
void ryw_batch_start(struct server *sv);
/* A Bind on sv whose statement pgrouter did not classify (an unnamed statement, or no tracker). */
void ryw_batch_bind(struct server *sv);
/* Whether the client's Sync, about to be forwarded on sv, ends a unit that wrote (the LSN query may follow). */
bool ryw_sync_ends_unit(const struct server *sv);
/* A forwarded message other than Query/Parse (Bind of a named statement, FunctionCall). */
void ryw_note_message(struct server *sv, const struct fe_msg *m);
/* The ReadyForQuery (status z) that ends the client's unit on sv, or answers a Query the LSN query follows:
   true when pgrouter now waits for the commit LSN and holds the ReadyForQuery back (the caller consumes it). */
bool ryw_unit_done(struct server *sv, char z);
/* A message answering pgrouter's LSN query (sv->ryw.asking). Returns the relay action; *done when it finished
   and the held ReadyForQuery went to the client (the caller may release the server). */
int ryw_answer_msg(struct server *sv, struct be_msg *m, bool *done);
/* The consistency_store took (or failed to take) the commit LSN: the held ReadyForQuery goes to the client. */
void ryw_stored(struct server *sv);

#endif
