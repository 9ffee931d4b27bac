/* Routing decision: (classification, session state, overrides) → primary or replica, with the reason. */
#ifndef PGR_ROUTER_H
#define PGR_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include "sql/classify.h"

/* Where a unit of work should run. */
enum route_target { ROUTE_PRIMARY = 0, ROUTE_REPLICA = 1 };

/* What to do when no replica qualifies. */
enum route_fallback { FALLBACK_PRIMARY = 0, FALLBACK_ERROR, FALLBACK_WAIT };

/* Session-level preference set with SET pgrouter.target or a read-only alias. */
enum route_pref { PREF_AUTO = 0, PREF_PRIMARY, PREF_REPLICA };

/* Everything the decision depends on; no I/O, no pointers into connections. */
struct route_in {
	const struct cls_result *cls; /* NULL when the unit has no statement text (e.g. Bind of a named statement) */
	enum route_pref session_pref; /* SET pgrouter.target */
	enum route_pref entry_pref; /* the database entry's target= (read-only alias) */
	enum route_pref rule_pref; /* the first matching [routes] rule's target */
	const char *rule_name; /* that rule's name, or NULL */
	bool pinned; /* session state lives on its primary connection */
	bool default_read_only; /* SET default_transaction_read_only = on */
	bool have_replicas;
};

struct route_out {
	enum route_target target;
	const char *reason; /* static: "read", "hint", "session-target", "pinned", … */
	char detail[64];
	int64_t max_lag_ms; /* from a hint, else -1 */
};

/* Decide primary or replica for one unit of work. */
void route_decide(const struct route_in *in, struct route_out *out);

/* True for statements no hint, rule or setting may send to a replica (writes, locks, session state). */
bool route_definite_write(const struct cls_result *c);

/* A single BEGIN statement (its own target says nothing about what the transaction will do). */
bool route_is_lone_begin(const struct cls_result *c);

/* Render "reason" or "reason:detail". */
const char *route_reason_str(const struct route_out *r, char *buf, size_t n);

#endif
