/* Named prepared statements across pooled server connections: per-client names, per-server LRU, answers owed. */
#ifndef PGR_PREPARED_H
#define PGR_PREPARED_H

/*
 * In transaction pooling a client's next transaction may run on another server connection, or on
 * another node, that never saw its Parse.  pgrouter therefore keeps a client's protocol-level named
 * statements itself and treats each server connection's prepared statements as a cache:
 *
 *   - Statements are interned per worker by content (query text + parameter types + the client's
 *     search_path, which decides what the names in the text mean).  Equal content shares one
 *     server-side name, "pgr<worker>_<id>", so the names of two clients never collide and a statement
 *     prepared on a server connection serves every client that prepared the same text.
 *   - A client's name maps to an interned statement.  Parse, Bind, Describe and Close of a named
 *     statement are rewritten to the server-side name; a Bind or Describe on a server connection that
 *     lacks the statement is preceded by a Parse pgrouter injects, whose ParseComplete is hidden.
 *   - Each server connection keeps at most max_prepared_statements, least recently used first out
 *     (closed with a hidden Close).  A statement used since the connection was last idle is never
 *     evicted: a portal made from it may still be executed.
 *   - Every change (to a client's names or a server's statements) is applied when the message is sent
 *     and recorded with the server connection's list of answers owed.  ParseComplete / CloseComplete
 *     (or, for DEALLOCATE / DISCARD ALL, the CommandComplete tag) confirm it; an ErrorResponse undoes
 *     every change the server then skips up to its Sync.  A message whose decision depends on a change
 *     from an earlier Sync group that is not answered yet waits for that answer (PS_WAIT), so the
 *     client's view and the server's always agree, also inside pipelines.
 *
 * This file is pure bookkeeping: it writes the messages it needs through a callback and never touches
 * sockets or connections (prepared_conn.c connects it to clients and servers).
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/iobuf.h"
#include "proto/femsg.h"

struct cls_result;
struct ps_stmt;
struct ps_intern;
struct ps_client;
struct ps_server;

#define PS_NAME_MAX 63 /* PostgreSQL compares statement names on their first NAMEDATALEN-1 bytes */

/* ---- interned statements (one table per worker thread) ---- */

/* A new, empty table whose server-side names carry worker_id; NULL when out of memory. */
struct ps_intern *ps_intern_new(int worker_id);
/* Free the table once its last statement goes (statements may outlive this call). */
void ps_intern_free(struct ps_intern *t);
/* Number of distinct statements interned now. */
uint32_t ps_intern_count(const struct ps_intern *t);

/* The statement for def (a Parse body after the statement name: text, NUL, parameter count and types)
   prepared under scope (the session's search_path, or NULL), with one reference taken; NULL when def is
   malformed or out of memory. */
struct ps_stmt *ps_intern_get(struct ps_intern *t, const uint8_t *def, uint32_t n, const char *scope);
/* Drop one reference; the statement is freed with the last one. */
void ps_stmt_unref(struct ps_stmt *st);
/* The server-side name ("pgr1_42"). */
const char *ps_stmt_name(const struct ps_stmt *st);
/* The query text (NUL-terminated) and its length. */
const char *ps_stmt_text(const struct ps_stmt *st, uint32_t *len);
/* Slot for routing's classification of the text, computed once by its first user (NULL until then). */
struct cls_result **ps_stmt_cls_slot(struct ps_stmt *st, uint64_t **generation);
/* Slot for the text's fingerprint (0 until computed). */
uint64_t *ps_stmt_fp_slot(struct ps_stmt *st);

/* True for a name of the form pgrouter gives server-side statements: "pgr", digits, '_', digits. */
bool ps_name_reserved(const char *s, size_t n);
/* If the n bytes at p are such a name, make it one pgrouter never uses ('_' becomes '$'), in place. */
void ps_name_disarm(char *p, size_t n);

/* ---- a client's named statements ---- */

/* A client with no named statements; NULL when out of memory. */
struct ps_client *ps_client_new(void);
/* Free a client's table (no server may still owe answers about it: see ps_server_forget). */
void ps_client_free(struct ps_client *c);
/* The statement a client's name stands for now, or NULL. */
struct ps_stmt *ps_client_find(const struct ps_client *c, const char *name, uint32_t len);
/* The statement m (a Bind or Describe) names among c's, looked up once per message (kept in m->named, where
   ps_client_message finds it again). */
struct ps_stmt *ps_client_named(const struct ps_client *c, struct fe_msg *m);
/* The text of the client's last unnamed Parse (NUL-terminated, *len set), or NULL. */
const char *ps_client_unnamed_text(const struct ps_client *c, uint32_t *len);
/* Number of names the client has. */
uint32_t ps_client_count(const struct ps_client *c);
/* True (once) when the client was told PS_WAIT since the last call: it is held and must be woken. */
bool ps_client_take_waiting(struct ps_client *c);
/* Mark the client as held (PS_WAIT was answered). */
void ps_client_set_waiting(struct ps_client *c);

/* ---- a server connection's statements and the answers it owes ---- */

/* A server connection with nothing prepared; NULL when out of memory. */
struct ps_server *ps_server_new(void);
/* Undo what is still unconfirmed and forget everything (the connection is going away or its state is unknown). */
void ps_server_forget(struct ps_server *s);
/* ps_server_forget, then free. */
void ps_server_free(struct ps_server *s);
/* True when no answer about prepared statements is owed (the connection may change hands). */
bool ps_server_quiet(const struct ps_server *s);
/* True when an answer of this type (ParseComplete, CloseComplete, CommandComplete, ErrorResponse, ReadyForQuery)
   may concern what s owes now: else ps_server_answer would pass it on untouched. */
bool ps_server_wants(const struct ps_server *s, uint8_t type);
/* Something may have dropped prepared statements without pgrouter seeing it (code in a DO block or a
   function): each statement is closed and prepared again before its next use on this connection. */
void ps_server_unsure(struct ps_server *s);
/* The connection changed hands or ran a simple Query: whatever unnamed statement it had is not a client's. */
void ps_server_unnamed_gone(struct ps_server *s);
/* The server dropped every prepared statement (DISCARD ALL as pgrouter's reset query): forget them. */
void ps_server_dropped_all(struct ps_server *s);
/* Statements prepared on the connection now (as far as sent messages go). */
uint32_t ps_server_count(const struct ps_server *s);
/* True once answers came that the bookkeeping cannot match (the connection must not be trusted). */
bool ps_server_broken(const struct ps_server *s);
/* True (once) when answers confirmed or undid changes since the last call: a held client may retry. */
bool ps_server_take_progress(struct ps_server *s);

/* What the tracker made of one client message. */
enum ps_verdict {
	PS_FORWARD, /* forward the message unchanged */
	PS_REPLACED, /* the message, rewritten, and what it needs went through out(): drop the original */
	PS_WAIT, /* it depends on answers still owed: hold it (nothing was changed) */
	PS_NOMEM,
};

/* SQL-level statements in a Query or unnamed Parse that change prepared statements (found by the caller). */
enum ps_sql_kind { PS_SQL_DEALLOCATE = 1, PS_SQL_DEALLOCATE_ALL, PS_SQL_DISCARD_ALL };
#define PS_SQL_MAX 8
struct ps_sql {
	int n;
	uint8_t kind[PS_SQL_MAX];
	const char *name; /* PS_SQL_DEALLOCATE of a lone statement: the name (NUL-terminated) */
};

/* Where the tracker writes messages for the server: returns the buffer to append to (everything the
   caller already decided to forward must be in it first), or NULL when out of memory. */
struct ps_out {
	struct iobuf **(*get)(void *ctx);
	void *ctx;
};

/* Limits and context for one message. */
struct ps_env {
	struct ps_intern *intern;
	int max_stmts; /* max_prepared_statements */
	const char *scope; /* the client's search_path (NULL: the server's default) */
};

/* A message from the client toward s, decoded once by the frontend (its body complete for P, B, D, C and for
   Q / unnamed P when sql is given).  Records what it changes and what the server will owe. */
enum ps_verdict ps_client_message(const struct ps_env *env, struct ps_client *c, struct ps_server *s,
                                  const struct fe_msg *m, const struct ps_sql *sql, const struct ps_out *out);

/* What to do with one message from the server. */
enum ps_answer {
	PSA_PASS, /* the client's: forward it */
	PSA_HIDE, /* an answer to pgrouter's own message: drop it */
	PSA_NEED_BODY, /* call again with the whole message */
};

/* An answer from the server (body may be NULL when not buffered whole). */
enum ps_answer ps_server_answer(struct ps_server *s, uint8_t type, const uint8_t *body, uint32_t n);

#endif
