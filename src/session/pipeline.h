/* The session pipeline's client target: what a logged-in client's messages go through on their way to a server. */
#ifndef PGR_PIPELINE_H
#define PGR_PIPELINE_H

#include "frontend/client.h"

/* The table a client logged in to a pool uses (registered with client_set_targets at startup). */
extern const struct client_target session_pipeline_target;

/* Release what routing, read-your-writes and the statement tracker keep in cl (it is being freed). */
void session_client_free(struct client *cl);

#endif
