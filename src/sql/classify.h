/* classify: SQL text → where it may run (primary / replica / anywhere), why, and its session effects. */
#ifndef PGR_CLASSIFY_H
#define PGR_CLASSIFY_H

/*
 * Pure code: no I/O, no global mutable state, no allocation that outlives a
 * call (libpg_query keeps one per-thread memory context between calls; it is
 * released at thread exit).  Safe to call from any number of threads at once.
 * classify_full() needs about 150 KB of thread stack at worst (parse trees
 * deeper than that bound are refused before reaching libpg_query, whose
 * recursive tree printer would otherwise overflow the stack); worker threads
 * with glibc's default 8 MB stack are fine, keep any custom size >= 512 KB.
 *
 * Two paths produce the same result type:
 *   classify_fast()  a lexer that decides the common shapes (plain reads,
 *                    INSERT/UPDATE/DELETE/MERGE, transaction control, simple
 *                    SET/RESET/SHOW) in about a microsecond and answers
 *                    "undecided" for everything else;
 *   classify_full()  libpg_query (PostgreSQL 15's own parser, JSON parse tree),
 *                    the authority: ~10-60 us.
 * classify() tries the first, then the second.  On every text libpg_query
 * accepts, the fast path either declines or agrees exactly (tested over the
 * corpus, mutations of it and generated SQL).  On text libpg_query rejects
 * the fast path may still decide, which is harmless: PostgreSQL parses a
 * whole query string before executing any of it, so text it cannot parse
 * runs nowhere.  One deliberate use of that: "SET pgrouter.target = primary"
 * (PRIMARY is a reserved word, so PostgreSQL would want it quoted) is
 * accepted, since pgrouter answers SET pgrouter.* itself.
 *
 * Multi-statement strings get one combined result: the strictest target wins
 * (PRIMARY > REPLICA > ANY; among PRIMARY reasons a definite one beats
 * "unknown-function"), the reason is that of the first statement at that
 * level, and events/pins accumulate in statement order.  Events describe
 * what the text asks for: apply them to tracked session state only once the
 * server has executed it without error.
 *
 * Reasons (struct cls_result.reason; "reason:detail" when there is a detail):
 *   REPLICA  read, show, explain, copy-to, declare, begin-read-only
 *   ANY      empty, commit, rollback, savepoint, release, rollback-to, set,
 *            reset, set-transaction, discard, deallocate, cursor (FETCH/MOVE/
 *            CLOSE), pgrouter-set, pgrouter-show
 *   PRIMARY  dml (INSERT/UPDATE/DELETE/MERGE/TRUNCATE), ddl, temp-table,
 *            for-update:{update,no-key-update,share,key-share}, select-into,
 *            writable-cte, volatile-function:NAME, unknown-function:NAME,
 *            begin (read-write or unspecified), serializable (BEGIN READ ONLY
 *            ISOLATION LEVEL SERIALIZABLE: a hot standby refuses it), lock,
 *            copy-from, copy-to-file (TO a server file or PROGRAM), listen,
 *            unlisten, notify, call, do, vacuum, analyze, maintenance
 *            (CHECKPOINT/CLUSTER/REINDEX/LOAD), explain-analyze-write:WHAT,
 *            hold-cursor, prepare, execute, prepare-transaction, two-phase,
 *            node-dependent:WHAT (a view, function or setting each node answers
 *            with its own state; a hint or rule may still pick a replica),
 *            unparseable:MESSAGE, other:NODE
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a statement may run.  Ordered: combining takes the maximum. */
enum cls_target {
	CLS_ANY = 0, /* touches no data (COMMIT, SET, DISCARD, …): run wherever the session is */
	CLS_REPLICA = 1, /* read-only: replica-eligible */
	CLS_PRIMARY = 2, /* writes, locks, session state, or unknown: primary only */
};

/* Session / transaction effects, in statement order (struct cls_event.kind). */
enum cls_event_kind {
	CLS_EV_BEGIN = 1, /* BEGIN / START TRANSACTION; txn_mode, CLS_EVF_SERIALIZABLE */
	CLS_EV_COMMIT, /* COMMIT / END; CLS_EVF_CHAIN for AND CHAIN */
	CLS_EV_ROLLBACK, /* ROLLBACK / ABORT; CLS_EVF_CHAIN */
	CLS_EV_PREPARE_TXN, /* PREPARE TRANSACTION 'gid' (ends the transaction); name = gid */
	CLS_EV_SAVEPOINT, /* name = savepoint */
	CLS_EV_RELEASE, /* RELEASE [SAVEPOINT] name */
	CLS_EV_ROLLBACK_TO, /* ROLLBACK TO [SAVEPOINT] name */
	CLS_EV_SET_TRANSACTION, /* SET TRANSACTION … (this transaction only); txn_mode */
	CLS_EV_SET, /* SET [SESSION|LOCAL] name …; sub = enum cls_set_sub */
	CLS_EV_RESET, /* RESET name */
	CLS_EV_RESET_ALL, /* RESET ALL */
	CLS_EV_SHOW_PGROUTER, /* SHOW pgrouter.* — for pgrouter to answer itself */
	CLS_EV_DISCARD, /* sub = enum cls_discard_sub */
	CLS_EV_PREPARE, /* SQL PREPARE name AS …; target = the prepared statement's target */
	CLS_EV_EXECUTE, /* SQL EXECUTE name (also EXPLAIN EXECUTE) */
	CLS_EV_DEALLOCATE, /* DEALLOCATE [PREPARE] name */
	CLS_EV_DEALLOCATE_ALL, /* DEALLOCATE ALL */
	CLS_EV_DECLARE_HOLD, /* DECLARE name … WITH HOLD */
	CLS_EV_LISTEN, /* LISTEN channel */
	CLS_EV_UNLISTEN, /* UNLISTEN channel, or name "*" for UNLISTEN * */
};

#define CLS_EV_BIT(kind) (1u << (kind))

enum cls_set_sub {
	CLS_SET_VALUE = 0, /* SET name = value[, …] */
	CLS_SET_DEFAULT, /* SET name TO DEFAULT (also SET TIME ZONE LOCAL …) */
	CLS_SET_CURRENT, /* SET name FROM CURRENT */
};

enum cls_discard_sub { CLS_DISCARD_ALL = 0, CLS_DISCARD_PLANS, CLS_DISCARD_TEMP, CLS_DISCARD_SEQUENCES };

/* Transaction access mode requested by BEGIN / SET TRANSACTION / a *transaction_read_only SET. */
enum cls_txn_mode { CLS_TXN_UNSPEC = 0, CLS_TXN_READ_ONLY, CLS_TXN_READ_WRITE };

/* struct cls_event.flags */
#define CLS_EVF_LOCAL 0x01 /* SET LOCAL: lasts until the end of the transaction */
#define CLS_EVF_PGROUTER 0x02 /* pgrouter.* setting: pgrouter's own, never forwarded */
#define CLS_EVF_CHAIN 0x04 /* COMMIT/ROLLBACK AND CHAIN: a new transaction starts at once */
#define CLS_EVF_SERIALIZABLE 0x08 /* asks for SERIALIZABLE, which a hot standby refuses */
#define CLS_EVF_MULTI_VALUE 0x10 /* SET with a list value: value_str is empty, use the span */
#define CLS_EVF_TRUNCATED 0x20 /* name or value_str did not fit (spans are still exact) */

/* Byte range [off, off+len) in the classified text. */
struct cls_span {
	uint32_t off;
	uint32_t len;
};

#define CLS_NAME_MAX 64 /* NAMEDATALEN */
#define CLS_VALUE_MAX 128
#define CLS_MAX_EVENTS 8
#define CLS_MAX_UNKNOWN 4
#define CLS_DETAIL_MAX 64

struct cls_event {
	uint8_t kind; /* enum cls_event_kind */
	uint8_t sub; /* enum cls_set_sub / enum cls_discard_sub */
	uint8_t txn_mode; /* enum cls_txn_mode (BEGIN, SET TRANSACTION, SET *transaction_read_only, SESSION CHARACTERISTICS) */
	uint8_t flags; /* CLS_EVF_* */
	uint8_t target; /* CLS_EV_PREPARE: enum cls_target of the prepared statement */
	struct cls_span stmt; /* the statement, without surrounding blanks/comments: replay this text */
	struct cls_span value; /* SET: the value as written (empty for DEFAULT/CURRENT and RESET) */
	/* Canonical name as PostgreSQL sees it: GUC name ("timezone" for SET TIME ZONE,
	 * "session characteristics" for SET SESSION CHARACTERISTICS), savepoint,
	 * prepared statement, cursor or channel name, or gid. */
	char name[CLS_NAME_MAX];
	/* SET with exactly one value: that value decoded ("on", "UTC", "10", "user:42"). */
	char value_str[CLS_VALUE_MAX];
};

/* struct cls_result.pins: why the session must stay on the primary connection. */
#define CLS_PIN_TEMP 0x01 /* created a temporary table/view/sequence/function */
#define CLS_PIN_ADVISORY 0x02 /* took a session-level advisory lock */
#define CLS_PIN_LISTEN 0x04 /* LISTEN */
#define CLS_PIN_HOLD 0x08 /* DECLARE … WITH HOLD */
#define CLS_PIN_PREPARE 0x10 /* SQL-level PREPARE (the router may replay instead) */
#define CLS_PIN_SET_CONFIG 0x20 /* set_config(…, is_local not literally true) */

/* struct cls_result.flags */
#define CLS_F_FAST 0x01 /* decided by the fast path */
#define CLS_F_EVENTS_OVERFLOW 0x02 /* more than CLS_MAX_EVENTS events: treat session state as unknown */
#define CLS_F_UNKNOWN_OVERFLOW 0x04 /* more than CLS_MAX_UNKNOWN unknown functions */
#define CLS_F_HINT_INVALID 0x08 /* a "pgrouter:" comment could not be parsed (ignored) */
/* May change session state in ways the events do not describe (DO, CALL, a user function that is
   volatile or not known yet, a write to pg_settings): the connection must be reset before another
   client uses it. */
#define CLS_F_SESSION_OPAQUE 0x10

/*
 * Query hint from a comment (block or "--" comment, anywhere in the text, first
 * one wins): "pgrouter: primary", "pgrouter: replica", "pgrouter: auto",
 * optionally followed by "max_lag=N<unit>" with unit ms, s, min, h (time) or
 * B, kB, MB, GB (bytes, 1024-based); a bare number means seconds.  Case does
 * not matter.  A malformed "pgrouter:" comment is ignored and flagged
 * (CLS_F_HINT_INVALID).  A "route: NAME" comment (NAME = [A-Za-z0-9_.-]+)
 * gives the tag that [routes] rules match.
 */
enum cls_hint_target { CLS_HINT_NONE = 0, CLS_HINT_PRIMARY, CLS_HINT_REPLICA, CLS_HINT_AUTO };

struct cls_func {
	char schema[CLS_NAME_MAX]; /* "" when the call was not schema-qualified */
	char name[CLS_NAME_MAX];
};

struct cls_result {
	uint8_t target; /* enum cls_target */
	uint8_t flags; /* CLS_F_* */
	uint8_t pins; /* CLS_PIN_* */
	uint8_t n_events;
	uint8_t n_unknown;
	uint8_t hint; /* enum cls_hint_target (first valid "pgrouter:" comment) */
	uint16_t n_stmts; /* statements seen (saturates) */
	uint32_t ev_kinds; /* bit k (CLS_EV_BIT): an event of kind k was seen, also past CLS_MAX_EVENTS */
	const char *reason; /* static string, one of the reasons listed at the top */
	char detail[CLS_DETAIL_MAX]; /* e.g. "nextval" for reason "volatile-function"; "" if none */
	int64_t hint_max_lag_ms; /* -1 unless the hint gave a time */
	int64_t hint_max_lag_bytes; /* -1 unless the hint gave a size */
	struct cls_span route_tag; /* name in a "route: NAME" comment; len 0 if none */
	/* Functions of unknown volatility that made this PRIMARY (reason
	 * "unknown-function").  Look them up in pg_proc, then classify again. */
	struct cls_func unknown[CLS_MAX_UNKNOWN];
	struct cls_event ev[CLS_MAX_EVENTS];
};

/*
 * Function volatility knowledge.  volatility() returns 'i', 's', 'v' or 0 for
 * "not known"; schema is NULL when the call was not qualified.  The built-in
 * lists are consulted around it: known writers first (nextval, setval,
 * pg_advisory_lock*, …: always PRIMARY), then read-only volatile functions
 * (random, clock_timestamp, …: fine on a replica), then this callback, then
 * common stable/immutable pg_catalog functions.  Bump generation whenever the
 * knowledge changes; caches drop entries classified under an older one.
 */
struct cls_env {
	char (*volatility)(void *ctx, const char *schema, const char *name);
	void *ctx;
	uint64_t generation;
};

/*
 * Classify sql[0..len) (no NUL terminator needed).  env may be NULL (no
 * volatility knowledge).  Always fills *out; unparseable text is a result
 * (PRIMARY, "unparseable"), not an error.  Returns 0, or -1 if sql/out is NULL.
 */
int classify(const char *sql, size_t len, const struct cls_env *env, struct cls_result *out);

/*
 * Pre-scan, a few instructions a byte and no classification: true only when
 * sql[0..len) is a single SELECT / INSERT / UPDATE / DELETE / VALUES / TABLE /
 * WITH statement whose classification would carry no pins, no events, no
 * CLS_F_* flag, no unknown function and no hint or route tag (it has no
 * function call, no INTO but INSERT's, no SET but UPDATE's, no TEMP, no
 * pg_settings, no hint comment, no second statement).  Where no replica is
 * to be chosen such a statement needs no classification.  Anything the scan
 * is unsure of says false.
 */
bool cls_quiet_query(const char *sql, size_t len);

/* Fast path only: true and *out filled if it decided, false if undecided (*out then unspecified). */
bool classify_fast(const char *sql, size_t len, const struct cls_env *env, struct cls_result *out);

/* libpg_query path only; same contract as classify(). */
int classify_full(const char *sql, size_t len, const struct cls_env *env, struct cls_result *out);

/* Name of a target: "any", "replica", "primary". */
const char *cls_target_name(uint8_t target);

/* Write "reason" or "reason:detail" into buf (always NUL-terminated); returns buf. */
const char *cls_reason_str(const struct cls_result *r, char *buf, size_t cap);

/*
 * 64-bit fingerprint of the statement's shape: comments and blanks dropped,
 * keywords/identifiers case-folded, literals and $n parameters replaced by one
 * placeholder.  Equal for "SELECT f(1)" and "select f( 2 ) -- x".  Used to
 * remember a statement as a write after a replica answered 25006.
 */
uint64_t cls_fingerprint(const char *sql, size_t len);

/*
 * Normalized text of the same shape ("select f ( ? )") into buf, always
 * NUL-terminated; returns the full length it needed (like snprintf).
 */
size_t cls_normalize(const char *sql, size_t len, char *buf, size_t cap);

/* ---- per-thread result cache keyed by exact query text (no locks: one per worker) ---- */

struct cls_cache;

struct cls_cache_stats {
	uint64_t hits, misses, inserts, evictions, clears;
	uint32_t used, capacity;
};

/* Cache holding up to capacity results for texts of at most max_text bytes; NULL on allocation failure. */
struct cls_cache *cls_cache_new(uint32_t capacity, size_t max_text);

/* Free the cache and every entry; NULL is a no-op. */
void cls_cache_free(struct cls_cache *c);

/* Look sql up; on a hit copy the stored result to *out and return true.  generation: the env's. */
bool cls_cache_get(struct cls_cache *c, const char *sql, size_t len, uint64_t generation, struct cls_result *out);

/*
 * Store a result (evicting by CLOCK when full).  Results listing unknown
 * functions are not stored: they change once the functions are looked up.
 * Returns 0, or -1 if not stored (too long, unknown functions, no memory).
 */
int cls_cache_put(struct cls_cache *c, const char *sql, size_t len, uint64_t generation, const struct cls_result *res);

/* Drop every entry (volatility knowledge changed). */
void cls_cache_clear(struct cls_cache *c);

/* Counters and occupancy. */
void cls_cache_get_stats(const struct cls_cache *c, struct cls_cache_stats *st);

/* Longest shape (literal-blind key) worth caching; longer texts are classified afresh. */
#define CLS_SHAPE_MAX 1024
/* sql with numeric literals as '#' and strings as '?' into buf: the shape's length, or -1 when the text
   has comments, backslashes, dollar signs or an open quote, or the shape does not fit in cap. */
int cls_shape_key(const char *sql, size_t len, char *buf, size_t cap);
/* True when no literal can change r, so that r may be stored under the text's shape. */
bool cls_shape_cacheable(const struct cls_result *r);

/* cls_cache_get, else classify() and cls_cache_put; c may be NULL.  Same contract as classify(). */
int classify_cached(struct cls_cache *c, const char *sql, size_t len, const struct cls_env *env,
                    struct cls_result *out);

#endif
