/* The session journal a server connection carries: changes waiting for their transaction to end. */
#ifndef PGR_JOURNAL_STATE_H
#define PGR_JOURNAL_STATE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A SET, RESET, RESET ALL or DISCARD ALL that pgrouter forwards is written into the server connection's
 * journal, tagged with the unit (Query or Sync) whose ReadyForQuery ends it.  When a ReadyForQuery 'I'
 * arrives, the transaction those units belong to is over: if it committed, their changes become the
 * client's state and the connection's known state (sv->extra); if it failed or was rolled back, they are
 * dropped, as PostgreSQL dropped them.  Where the outcome cannot be told from the protocol (savepoints
 * with session changes, transaction control mixed with SET in one Query), the client keeps this
 * connection for the rest of its session and the connection is reset before anyone else uses it.
 */
struct sj_op;
struct sess_journal {
	struct sj_op *op;
	uint32_t n, cap;
	uint32_t sent; /* units (Query, FunctionCall, Sync) forwarded on this connection */
	uint32_t done; /* their ReadyForQuery messages seen */
	bool failed; /* an error since the transaction began: it cannot commit */
	bool rollback; /* a ROLLBACK was sent in this transaction */
	bool savepoint; /* savepoints were used in this transaction */
	bool unsure; /* the outcome of a journalled change cannot be told */
};

#endif
