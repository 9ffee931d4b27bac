/* Internals the admin console's files share: result sets, the parsed command, answers that come later. */
#ifndef PGR_ADMIN_INT_H
#define PGR_ADMIN_INT_H

#include "admin/admin.h"

/* --- result sets (admin_result.c) --- */

/* Type OIDs of result columns: PgBouncer's console uses these, and tools read them to parse values. */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25
#define OID_NUMERIC 1700

/* One result column: its name and type (values are always sent in text format). */
struct col {
	const char *name;
	uint32_t oid;
};
#define COL_TEXT(n) \
	{ \
		n, OID_TEXT \
	}
#define COL_INT4(n) \
	{ \
		n, OID_INT4 \
	}
#define COL_INT8(n) \
	{ \
		n, OID_INT8 \
	}
#define COL_NUM(n) \
	{ \
		n, OID_NUMERIC \
	}
#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct result {
	struct iobuf **out;
	int ncols;
	int rows;
	int err;
};

/* RowDescription of n columns. */
void res_begin(struct result *r, struct iobuf **out, const struct col *cols, int n);
/* One DataRow of r->ncols values in text format (NULL for SQL NULL). */
void res_row(struct result *r, const char *const *vals);
/* A DataRow already encoded (rows gathered from other workers). */
void res_raw_rows(struct result *r, const struct iobuf *rows, int nrows);
/* CommandComplete with the tag. */
void res_complete(struct iobuf **out, const char *tag);
/* A DataRow of n values into *b, without a result (built by a worker for someone else's answer); 0 or -1. */
int res_encode_row(struct iobuf **b, const char *const *vals, int n);
/* "%lld" / "%llu" into a caller's buffer (for row values). */
const char *res_int(char *buf, size_t n, long long v);
const char *res_uint(char *buf, size_t n, unsigned long long v);
/* A monotonic µs timestamp of worker w as "YYYY-MM-DD HH:MM:SS UTC" (wall clock), or NULL for 0. */
const char *res_time(char *buf, size_t n, int64_t mono_us, int64_t mono_now);

/* --- the command, split into words (admin.c) --- */

#define ADMIN_MAX_WORDS 16

enum word_kind { W_WORD, W_IDENT, W_STRING, W_EQ };

struct admin_cmd {
	int n;
	enum word_kind kind[ADMIN_MAX_WORDS];
	char *w[ADMIN_MAX_WORDS]; /* unquoted text (string literals and quoted identifiers decoded) */
	char upper[64]; /* the first two words, upper-cased, for messages ("SHOW POOLS") */
};

/* Word i is the unquoted keyword kw (case-insensitive). */
bool cmd_kw(const struct admin_cmd *c, int i, const char *kw);
/* Word i is a name (a bare word or a quoted identifier). */
bool cmd_name(const struct admin_cmd *c, int i);

/* --- commands: each writes its answer to out, or returns true after deferring it (admin_ctl.c) --- */

/* SHOW …: false when the word after SHOW is unknown (the caller answers 42601). */
bool admin_show(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool *deferred);
/* SHOW CLIENTS / SERVERS / SOCKETS / LISTS / MEM: rows gathered from every worker, answered later. */
void admin_show_conns(struct client *cl, const char *what, struct iobuf **out);
/* SHOW POOLS, SHOW TOTALS, and SHOW STATS / STATS_TOTALS / STATS_AVERAGES (what names which) (admin_stats.c). */
void admin_show_pools(struct iobuf **out, const struct config *cfg);
void admin_show_totals(struct iobuf **out);
void admin_show_stats(struct iobuf **out, const char *what);
/* Server connections of db open or opening, to its primary and to its replicas, and its clients. */
void admin_db_conns(const char *db, int *primary, int *replicas, int *clients);
/* RELOAD, PAUSE, RESUME, KILL, SET, DISABLE, ENABLE, RECONNECT, WAIT_CLOSE, SUSPEND, SHUTDOWN (the caller checked
   admin rights); false if not one of them. */
bool admin_control(struct client *cl, const struct admin_cmd *c, struct iobuf **out, bool *deferred);

/* --- answers that come later (admin_ctl.c) --- */

/* A command whose answer is not known yet; polled on the console client's worker every few ms. */
struct admin_op {
	struct list node;
	uint32_t conn_id; /* the console client waiting (found again by id: it may have gone) */
	bool (*ready)(struct admin_op *op, struct worker *w);
	/* Write the answer (not ReadyForQuery); cl is NULL when the client has gone. */
	void (*answer)(struct admin_op *op, struct client *cl, struct iobuf **out);
	void (*release)(struct admin_op *op);
};

/* Queue op for cl: its ReadyForQuery waits, and so does its next command. */
void admin_defer(struct client *cl, struct admin_op *op);
/* True while cl waits for the answer of a deferred command. */
bool admin_pending(const struct client *cl);

/* Results gathered from every worker: fn runs in each (any order); ready when all have run. */
struct gather {
	struct admin_op op;
	atomic_int pending;
	void (*fn)(struct worker *w, struct gather *g);
	struct iobuf *rows[MAX_WORKERS]; /* per worker: encoded DataRows */
	int nrows[MAX_WORKERS];
	int64_t counts[MAX_WORKERS][8]; /* per worker: numbers (SHOW LISTS) */
	char *arg; /* e.g. the database of KILL */
	const char *tag; /* CommandComplete tag */
	const struct col *cols; /* columns of a result, or NULL for a bare command */
	int ncols;
};

/* Start g (op callbacks and fn set by the caller) in every worker; 0 or -1 (nothing started, g untouched). */
int gather_start(struct gather *g);
/* Free g's gathered rows and g. */
void gather_release(struct admin_op *op);
/* Ready when every worker has run fn. */
bool gather_ready(struct admin_op *op, struct worker *w);

#endif
