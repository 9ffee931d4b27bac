/* Hooks that connect the prepared-statement tracker (prepared.h) to clients, servers and routing. */
#ifndef PGR_PREPARED_CONN_H
#define PGR_PREPARED_CONN_H

#include "frontend/client.h"

struct cls_result;
struct ps_stmt;

/* A client logged in: track its named statements when its pool pools transactions and
   max_prepared_statements > 0 (decided once, for the whole session). */
void prepared_client_start(struct client *cl);
/* The client is being freed. */
void prepared_client_free(struct client *cl);

/* A linked client's message is not buffered whole: true when the tracker must see all of it first. */
bool prepared_wants_full(const struct client *cl, uint8_t type, uint32_t len);
/* A linked client's message, after routing chose to keep it on this server: ACT_SEND (forward it),
   ACT_CONSUMED (rewritten into the server's output), ACT_PAUSE (wait for answers) or ACT_CLOSED. */
enum act prepared_client_msg(struct client *cl, const struct fe_msg *m);

/* True for the answers the prepared-statement tracker may have to look at (the others pass it by). */
static inline bool prepared_answer_type(uint8_t type)
{
	return type == '1' || type == '3' || type == 'C' || type == 'E' || type == 'Z';
}
/* An answer from a server whose client is linked: ACT_SEND to go on, ACT_SKIP (pgrouter's own answer),
   ACT_NEED_FULL, or ACT_CLOSED (the server's answers no longer match what was sent). */
enum act prepared_server_msg(struct server *sv, struct be_msg *m);
/* The server connection closes: undo what it will never confirm (its client is still linked).  Must run
   before a client's batch is re-run on another server (server_close does it): the client's names would
   otherwise wait for answers from the abandoned connection. */
void prepared_server_forget(struct server *sv);
/* The server connection is being freed. */
void prepared_server_free(struct server *sv);
/* Before the server returns to the pool: false when it still owes answers about prepared statements (then
   its state is unknown and it must be closed). */
bool prepared_server_release_ok(struct server *sv);
/* sv ran code that may have dropped prepared statements: re-prepare each before its next use there. */
void prepared_server_unsure(struct server *sv);
/* sv was just linked to a client (pgrouter may send it queries of its own): no unnamed statement is known. */
void prepared_server_linked(struct server *sv);
/* pgrouter's reset query was sent to the server: forget its statements if the query drops them. */
void prepared_server_reset(struct server *sv, const char *query);

/* The text of cl's last unnamed Parse (tracked in transaction and statement pooling), or NULL. */
const char *prepared_unnamed_text(const struct client *cl, uint32_t *len);
/* The client's statement that a complete Bind or Describe-statement message names, or NULL. */
struct ps_stmt *prepared_named(const struct client *cl, struct fe_msg *m);
/* Routing's classification of a prepared statement (made once, when its Parse goes out), and its text. */
const struct cls_result *prepared_cls(struct client *cl, struct ps_stmt *st, const char **sql, size_t *len);
/* The statement's fingerprint (computed once). */
uint64_t prepared_fingerprint(struct ps_stmt *st);

#endif
