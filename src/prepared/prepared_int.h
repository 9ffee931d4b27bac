/* Internals shared by prepared.c (tables) and prepared_flow.c (messages, answers, undo). */
#ifndef PGR_PREPARED_INT_H
#define PGR_PREPARED_INT_H

#include "base/list.h"
#include "prepared/prepared.h"

#include <stddef.h>

/* Intrusive chained hash table (entries are allocated one by one, so pointers to them stay valid). */
struct ps_hnode {
	struct ps_hnode *next;
	uint64_t hash;
};
struct ps_htab {
	struct ps_hnode **b;
	uint32_t nb, n;
};

struct ps_stmt {
	struct ps_hnode hn;
	struct ps_intern *owner;
	int refs;
	uint32_t def_len, text_len;
	uint32_t key_len; /* def, then the scope it was prepared in (NUL-terminated) */
	struct cls_result *cls; /* routing's classification (owned), NULL until first asked */
	uint64_t cls_gen;
	uint64_t fp;
	char name[32];
	uint8_t def[]; /* text, NUL, int16 parameter count, int32 type OIDs; then the scope */
};

struct ps_intern {
	struct ps_htab ht;
	int worker;
	uint64_t next_id;
	bool dying;
};

/* A client's name: the statement it stands for now (NULL: closed, kept while a change is in flight). */
struct ps_cslot {
	struct ps_hnode hn;
	struct ps_client *owner;
	struct ps_stmt *st;
	uint32_t nrec; /* changes in flight (all from Sync group rec_group) */
	uint64_t rec_group;
	uint8_t len;
	char name[PS_NAME_MAX + 1];
};

struct ps_client {
	struct ps_htab ht;
	bool waiting;
	uint64_t id; /* unique in the process: which client's unnamed statement a server has */
	uint32_t unnamed_gen; /* bumped by each unnamed Parse */
	uint8_t *unnamed_def; /* the last unnamed Parse's definition (text, parameter types), or NULL */
	uint32_t unnamed_len;
	uint32_t unnamed_cap; /* bytes unnamed_def has room for */
};

/* A statement on one server connection: prepared there or not (as of the messages sent). */
struct ps_sslot {
	struct ps_hnode hn;
	struct ps_stmt *st;
	bool present;
	uint32_t nrec;
	uint64_t rec_group;
	uint64_t last_use; /* Sync group of its last use */
	uint32_t checked; /* ps_server.unsure when it was last known to be there */
	struct list lru; /* on ps_server.lru while present, most recent first */
};

/* One change, with what it replaced (for undo). */
struct ps_rec {
	void *slot; /* struct ps_cslot or struct ps_sslot */
	struct ps_stmt *prev; /* client slot: the statement before (a reference) */
	bool server;
	bool prev_present; /* server slot: prepared before */
};

enum ps_op_kind {
	OP_PARSE, /* answered by ParseComplete */
	OP_CLOSE, /* answered by CloseComplete */
	OP_TAG, /* answered by a CommandComplete with a known tag (DEALLOCATE [ALL], DISCARD ALL) */
	OP_SYNC, /* ends an extended-protocol group: answered by ReadyForQuery */
	OP_QUERY, /* Query or FunctionCall: answered by ReadyForQuery */
};
enum ps_tag { TAG_NONE, TAG_DEALLOCATE, TAG_DEALLOCATE_ALL, TAG_DISCARD_ALL };

/* An answer the server owes, in the order it will come, and the changes it confirms. */
struct ps_op {
	uint8_t kind;
	uint8_t tag;
	bool hidden; /* pgrouter's own message: its answer is dropped */
	bool done;
	uint32_t nrec;
	uint64_t group;
	struct ps_rec rec[2]; /* used when nrec <= 2 */
	struct ps_rec *more; /* when nrec > 2 */
};

struct ps_server {
	struct ps_htab ht;
	struct list lru;
	uint32_t n_present;
	struct ps_op *ops; /* ring of answers owed */
	uint32_t head, nops, cap;
	uint64_t group; /* Sync groups sent so far: the current message belongs to this one */
	uint64_t idle_before; /* every group before this ended with the connection idle (no portal left) */
	uint32_t n_tags; /* unresolved OP_TAG */
	uint32_t unsure; /* bumped when something may have dropped statements behind pgrouter's back */
	uint64_t unnamed_owner; /* ps_client.id whose unnamed statement this connection has (0: none known) */
	uint32_t unnamed_gen; /* and which of its unnamed Parses */
	bool unsynced; /* extended-protocol messages sent since the last Sync */
	bool broken;
	bool progress;
};

int ps_ht_add(struct ps_htab *t, struct ps_hnode *x);
void ps_ht_del(struct ps_htab *t, struct ps_hnode *x);
struct ps_hnode *ps_ht_first(const struct ps_htab *t, uint64_t hash);
uint64_t ps_hash(const void *p, size_t n);

void ps_stmt_ref(struct ps_stmt *st);
/* A Parse definition pgrouter can replay: text, NUL, parameter count, that many OIDs. */
bool ps_def_valid(const uint8_t *def, uint32_t n);
struct ps_cslot *ps_cslot_find(const struct ps_client *c, const char *name, uint32_t len);
struct ps_cslot *ps_cslot_new(struct ps_client *c, const char *name, uint32_t len);
void ps_cslot_maybe_free(struct ps_cslot *cs);
struct ps_sslot *ps_sslot_find(const struct ps_server *s, const struct ps_stmt *st);
/* The slot for st on s, created (not prepared) when missing; NULL when out of memory. */
struct ps_sslot *ps_sslot_get(struct ps_server *s, struct ps_stmt *st);
void ps_sslot_set_present(struct ps_server *s, struct ps_sslot *ss, bool present);
void ps_sslot_maybe_free(struct ps_server *s, struct ps_sslot *ss);
void ps_sslot_touch(struct ps_server *s, struct ps_sslot *ss);
/* Undo every unconfirmed change and drop every answer owed (prepared_flow.c). */
void ps_ops_undo_all(struct ps_server *s);

#endif
