/* Internals the admin console's files share: the parsed command, answers that come later (result sets: proto/resultset.h). */
#ifndef PGR_ADMIN_INT_H
#define PGR_ADMIN_INT_H

#include "admin/admin.h"
#include "proto/resultset.h"

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
