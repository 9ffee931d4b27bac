/* pgrouter's server-side statement names are out of every client's reach. */
#ifndef PGR_PREPARED_GUARD_H
#define PGR_PREPARED_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sql/classify.h"

/* Classify SQL text as the caller's routing does (ctx: the caller's); false when it is not worth parsing. */
typedef bool (*prepared_guard_classify)(void *ctx, const char *sql, size_t len, struct cls_result *out);

/* Before a client's Query or Parse is forwarded: rename in place the names of pgrouter's form its SQL PREPARE,
   EXECUTE or DEALLOCATE statements use (see prepared_guard.c); sql (len bytes) is the message's SQL text in the
   client's input buffer, not forwarded yet. routed: the text's classification when routing made one for this
   very message, else NULL (then classify_fn is asked, with ctx, only when the text mentions such a name). */
void prepared_guard(char *sql, size_t len, const struct cls_result *routed, prepared_guard_classify classify_fn,
                    void *ctx);

/* The events whose names prepared_guard looks at: a classification without them needs no call. */
#define GUARDED_EVENTS (CLS_EV_BIT(CLS_EV_PREPARE) | CLS_EV_BIT(CLS_EV_EXECUTE) | CLS_EV_BIT(CLS_EV_DEALLOCATE))

#endif
