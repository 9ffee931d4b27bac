/* Read retries: a replica's refused, conflicted or lost read is re-run elsewhere before any row reached the client. */
#ifndef PGR_RETRY_H
#define PGR_RETRY_H

#include "frontend/client.h"

/* Look at a server answer while the client's unit is kept for a retry: hold descriptions, swallow a
   retryable error, or let the answer through (ACT_SEND: the caller decides as usual). */
enum act retry_check(struct server *sv, struct be_msg *m);
/* The unit on sv can still be re-run: kept, nothing but held descriptions reached the client, one unit in flight. */
bool retry_possible(const struct server *sv);
/* sv is going away (lost, or its node is down): re-run its client's unit elsewhere if possible, else close
   sv and fail the client with 08006. */
void retry_or_fail(struct server *sv, const char *why);

#endif
