/* Prepared statements message by message: rewrite and inject toward the server, match its answers, confirm or undo. */
#include "prepared/prepared_int.h"
#include "proto/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- answers owed ---- */

static struct ps_op *op_at(const struct ps_server *s, uint32_t i)
{
	return &s->ops[(s->head + i) & (s->cap - 1)];
}

static bool is_term(const struct ps_op *op)
{
	return op->kind == OP_SYNC || op->kind == OP_QUERY;
}

/* Append an answer owed (its group is the current one); NULL when out of memory. */
static struct ps_op *op_push(struct ps_server *s, uint8_t kind, bool hidden)
{
	if (s->nops == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct ps_op *ops = malloc((size_t)cap * sizeof *ops);
		if (!ops)
			return NULL;
		for (uint32_t i = 0; i < s->nops; i++)
			ops[i] = *op_at(s, i);
		free(s->ops);
		s->ops = ops;
		s->cap = cap;
		s->head = 0;
	}
	struct ps_op *op = op_at(s, s->nops);
	s->nops++;
	memset(op, 0, sizeof *op);
	op->kind = kind;
	op->hidden = hidden;
	op->group = s->group;
	return op;
}

/* A Sync, Query or FunctionCall: the group it ends is answered by one ReadyForQuery; 0 or -1. */
static int push_term(struct ps_server *s, uint8_t kind, bool hidden)
{
	if (!op_push(s, kind, hidden))
		return -1;
	s->group++;
	return 0;
}

static struct ps_rec *op_recs(struct ps_op *op)
{
	return op->nrec > 2 ? op->more : op->rec;
}

/* Point a client's name at st (NULL: closed); r remembers what it stood for. */
static void change_client(struct ps_server *s, struct ps_rec *r, struct ps_cslot *cs, struct ps_stmt *st)
{
	r->slot = cs;
	r->server = false;
	r->prev = cs->st; /* the slot's reference moves to the record */
	ps_stmt_ref(st);
	cs->st = st;
	cs->nrec++;
	cs->rec_group = s->group;
}

/* Mark a statement prepared (or not) on the server; r remembers what it was. */
static void change_server(struct ps_server *s, struct ps_rec *r, struct ps_sslot *ss, bool present)
{
	r->slot = ss;
	r->server = true;
	r->prev = NULL;
	r->prev_present = ss->present;
	ps_sslot_set_present(s, ss, present);
	ss->nrec++;
	ss->rec_group = s->group;
}

/* The server did it: forget how to undo. */
static void rec_commit(struct ps_server *s, struct ps_rec *r)
{
	if (r->server) {
		struct ps_sslot *ss = r->slot;
		ss->nrec--;
		ps_sslot_maybe_free(s, ss);
	} else {
		struct ps_cslot *cs = r->slot;
		ps_stmt_unref(r->prev);
		cs->nrec--;
		ps_cslot_maybe_free(cs);
	}
}

/* The next record after record k of op i that changes the same slot, or NULL. */
static struct ps_rec *later_change(struct ps_server *s, uint32_t i, uint32_t k)
{
	void *slot = op_recs(op_at(s, i))[k].slot;
	for (k++; i < s->nops; i++, k = 0) {
		struct ps_op *op = op_at(s, i);
		struct ps_rec *r = op_recs(op);
		for (; k < op->nrec; k++)
			if (r[k].slot == slot)
				return &r[k];
	}
	return NULL;
}

/* The server skipped record k of op i: put back what was there.  When a later change of the same slot is
   still pending (only pgrouter's own Parse before a DEALLOCATE makes such chains), the state stays and
   that change's memory of "before" is corrected instead. */
static void rec_undo(struct ps_server *s, uint32_t i, uint32_t k)
{
	struct ps_rec *r = &op_recs(op_at(s, i))[k];
	struct ps_rec *next = later_change(s, i, k);
	if (r->server) {
		struct ps_sslot *ss = r->slot;
		if (next)
			next->prev_present = r->prev_present;
		else
			ps_sslot_set_present(s, ss, r->prev_present);
		ss->nrec--;
		ps_sslot_maybe_free(s, ss);
	} else {
		struct ps_cslot *cs = r->slot;
		if (next) {
			ps_stmt_unref(next->prev);
			next->prev = r->prev;
		} else {
			ps_stmt_unref(cs->st);
			cs->st = r->prev;
		}
		cs->nrec--;
		ps_cslot_maybe_free(cs);
	}
}

/* The answer for op i arrived (ok) or never will (the server skipped or failed it). */
static void op_finish(struct ps_server *s, uint32_t i, bool ok)
{
	struct ps_op *op = op_at(s, i);
	if (ok)
		for (uint32_t k = 0; k < op->nrec; k++)
			rec_commit(s, &op_recs(op)[k]);
	else
		for (uint32_t k = op->nrec; k-- > 0;)
			rec_undo(s, i, k); /* newest first: each record restores the state before it */
	if (op->nrec)
		s->progress = true;
	free(op->more);
	op->more = NULL;
	op->nrec = 0;
	if (op->kind == OP_TAG)
		s->n_tags--;
	op->done = true;
}

/* Drop answered ops from the front (a group's end stays until its ReadyForQuery). */
static void pop_done(struct ps_server *s)
{
	while (s->nops && op_at(s, 0)->done && !is_term(op_at(s, 0))) {
		s->head = (s->head + 1) & (s->cap - 1);
		s->nops--;
	}
}

/* Index of the first group end owed, or nops. */
static uint32_t first_term(const struct ps_server *s)
{
	uint32_t i = 0;
	while (i < s->nops && !is_term(op_at(s, i)))
		i++;
	return i;
}

/* Everything before index t that is still unanswered was skipped: undo it, newest first. */
static void undo_before(struct ps_server *s, uint32_t t)
{
	for (uint32_t i = t; i-- > 0;)
		if (!op_at(s, i)->done)
			op_finish(s, i, false);
}

void ps_ops_undo_all(struct ps_server *s)
{
	for (uint32_t i = s->nops; i-- > 0;)
		if (!op_at(s, i)->done && !is_term(op_at(s, i)))
			op_finish(s, i, false);
	s->nops = 0;
	s->head = 0;
	s->n_tags = 0;
}

/* A change from an earlier group is still unanswered (a decision now could be undone under it). */
static bool busy_earlier(const struct ps_server *s)
{
	for (uint32_t i = 0; i < s->nops; i++) {
		const struct ps_op *op = op_at(s, i);
		if (!op->done && op->nrec && op->group != s->group)
			return true;
	}
	return false;
}

static bool cs_busy(const struct ps_server *s, const struct ps_cslot *cs)
{
	return cs && cs->nrec && cs->rec_group != s->group;
}

static bool ss_busy(const struct ps_server *s, const struct ps_sslot *ss)
{
	return ss && ss->nrec && ss->rec_group != s->group;
}

/* ---- messages pgrouter writes ---- */

static int emit_parse(struct iobuf **b, const char *name, const uint8_t *def, uint32_t n)
{
	int64_t off = msg_begin(b, 'P');
	if (off < 0 || msg_put_str(b, name) < 0 || msg_put_bytes(b, def, n) < 0)
		return -1;
	msg_end(*b, off);
	return 0;
}

static int emit_close(struct iobuf **b, const char *name)
{
	int64_t off = msg_begin(b, 'C');
	if (off < 0 || msg_put_u8(b, 'S') < 0 || msg_put_str(b, name) < 0)
		return -1;
	msg_end(*b, off);
	return 0;
}

static int emit_sync(struct iobuf **b)
{
	int64_t off = msg_begin(b, 'S');
	if (off < 0)
		return -1;
	msg_end(*b, off);
	return 0;
}

/* The client's message with the statement name at body[name_off] (name_len bytes) replaced by name. */
static int emit_renamed(struct iobuf **b, uint8_t type, const uint8_t *body, uint32_t n, uint32_t name_off,
                        uint32_t name_len, const char *name)
{
	uint32_t after = name_off + name_len + 1;
	int64_t off = msg_begin(b, type);
	if (off < 0 || msg_put_bytes(b, body, name_off) < 0 || msg_put_str(b, name) < 0 ||
	    msg_put_bytes(b, body + after, n - after) < 0)
		return -1;
	msg_end(*b, off);
	return 0;
}

/* Close least recently used statements until `room` more fit; only those no open portal can need. */
static int evict(const struct ps_env *env, struct ps_server *s, struct iobuf **b, uint32_t room)
{
	uint32_t max = env->max_stmts > 0 ? (uint32_t)env->max_stmts : 1;
	while (s->n_present + room > max && !list_empty(&s->lru)) {
		struct ps_sslot *v = container_of(s->lru.prev, struct ps_sslot, lru);
		if (v->nrec || v->last_use >= s->idle_before)
			break; /* used in the current transaction (or changing): over the limit until it ends */
		struct ps_op *op = op_push(s, OP_CLOSE, true);
		if (!op || emit_close(b, v->st->name) < 0)
			return -1;
		op->nrec = 1;
		change_server(s, &op->rec[0], v, false);
	}
	return 0;
}

/* Prepare ss's statement on the server with a Parse whose answer is hidden; 0 or -1. */
static int inject_parse(const struct ps_env *env, struct ps_server *s, struct iobuf **b, struct ps_sslot *ss)
{
	if (evict(env, s, b, 1) < 0)
		return -1;
	struct ps_op *op = op_push(s, OP_PARSE, true);
	if (!op || emit_parse(b, ss->st->name, ss->st->def, ss->st->def_len) < 0)
		return -1;
	op->nrec = 1;
	change_server(s, &op->rec[0], ss, true);
	return 0;
}

/* The server's slot for st, prepared there (injecting a Parse when it is not); NULL when out of memory. */
static struct ps_sslot *ensure_prepared(const struct ps_env *env, struct ps_server *s, struct iobuf **b,
                                        struct ps_stmt *st, struct ps_sslot *ss)
{
	if (!ss && !(ss = ps_sslot_get(s, st)))
		return NULL;
	if (ss->present && ss->checked != s->unsure) {
		/* It may be gone (DEALLOCATE inside a DO block): close it, which is no error if it is, and
		   prepare it again, so that the client never sees "does not exist" for pgrouter's name. */
		struct ps_op *op = op_push(s, OP_CLOSE, true);
		if (!op || emit_close(b, st->name) < 0)
			return NULL;
		op->nrec = 1;
		change_server(s, &op->rec[0], ss, false);
	}
	ss->checked = s->unsure;
	if (!ss->present && inject_parse(env, s, b, ss) < 0)
		return NULL;
	ps_sslot_touch(s, ss);
	return ss;
}

/* ---- client messages ---- */

/* The whole client table and server cache cleared by DEALLOCATE ALL / DISCARD ALL, answered by its tag. */
static int push_tag_all(struct ps_server *s, struct ps_client *c, uint8_t tag)
{
	uint32_t count = s->n_present;
	for (uint32_t i = 0; i < c->ht.nb; i++)
		for (struct ps_hnode *x = c->ht.b[i]; x; x = x->next)
			count += container_of(x, struct ps_cslot, hn)->st != NULL;
	struct ps_op *op = op_push(s, OP_TAG, false);
	if (!op)
		return -1;
	op->tag = tag;
	s->n_tags++;
	struct ps_rec *r = op->rec;
	if (count > 2 && !(r = op->more = calloc(count, sizeof *r)))
		return -1;
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->ht.nb; i++)
		for (struct ps_hnode *x = c->ht.b[i]; x; x = x->next) {
			struct ps_cslot *cs = container_of(x, struct ps_cslot, hn);
			if (cs->st)
				change_client(s, &r[k++], cs, NULL);
		}
	while (!list_empty(&s->lru))
		change_server(s, &r[k++], container_of(s->lru.next, struct ps_sslot, lru), false);
	op->nrec = k;
	return 0;
}

/* "DEALLOCATE name" of a client's statement: deallocate its server-side statement instead (preparing it
   first if this connection lacks it), so that the server answers with the same tag. */
static enum ps_verdict deallocate_one(const struct ps_env *env, struct ps_server *s, struct ps_cslot *cs,
                                      struct ps_sslot *ss, const struct ps_out *out, bool query, const uint8_t *def,
                                      uint32_t dn)
{
	struct iobuf **b = out->get(out->ctx);
	if (!b)
		return PS_NOMEM;
	bool had = ss && ss->present;
	if (!(ss = ensure_prepared(env, s, b, cs->st, ss)))
		return PS_NOMEM;
	/* A Query after the injected Parse needs that Parse's group closed first (its error must not skip the Query). */
	if (query && !had && (emit_sync(b) < 0 || push_term(s, OP_SYNC, true) < 0))
		return PS_NOMEM;
	char text[64];
	snprintf(text, sizeof text, "DEALLOCATE %s", cs->st->name);
	int err;
	if (query) {
		err = msg_query(b, text);
	} else {
		/* keep the client's parameter declarations: the text is the only change */
		const uint8_t *nul = memchr(def, 0, dn);
		int64_t off = msg_begin(b, 'P');
		err = off < 0 || msg_put_str(b, "") < 0 || msg_put_str(b, text) < 0 ||
		        msg_put_bytes(b, nul + 1, (uint32_t)(def + dn - nul - 1)) < 0;
		if (!err)
			msg_end(*b, off);
		err |= !op_push(s, OP_PARSE, false);
	}
	struct ps_op *op = err ? NULL : op_push(s, OP_TAG, false);
	if (!op)
		return PS_NOMEM;
	op->tag = TAG_DEALLOCATE;
	s->n_tags++;
	op->nrec = 2;
	change_client(s, &op->rec[0], cs, NULL);
	change_server(s, &op->rec[1], ss, false);
	return PS_REPLACED;
}

/* DEALLOCATE / DISCARD ALL in a Query (query) or an unnamed Parse (def: its definition). */
static enum ps_verdict sql_effects(const struct ps_env *env, struct ps_client *c, struct ps_server *s,
                                   const struct ps_sql *sql, const struct ps_out *out, bool query, const uint8_t *def,
                                   uint32_t dn)
{
	bool all = false;
	for (int i = 0; i < sql->n; i++)
		all |= sql->kind[i] != PS_SQL_DEALLOCATE;
	if (all && busy_earlier(s))
		return PS_WAIT;
	struct ps_cslot *cs = NULL;
	struct ps_sslot *ss = NULL;
	if (!all && sql->n == 1 && sql->name) {
		cs = ps_cslot_find(c, sql->name, (uint32_t)strlen(sql->name));
		if (cs_busy(s, cs))
			return PS_WAIT;
		if (cs && cs->st && ss_busy(s, ss = ps_sslot_find(s, cs->st)))
			return PS_WAIT;
	}
	/* A statement of this client: rewrite.  Otherwise the server answers for the name (perhaps one made by
	   SQL PREPARE).  After unsynced extended messages a Query cannot get a Parse of its own in front. */
	if (cs && cs->st && !(query && s->unsynced))
		return deallocate_one(env, s, cs, ss, out, query, def, dn);
	if (!query && !op_push(s, OP_PARSE, false))
		return PS_NOMEM;
	for (int i = 0; i < sql->n; i++)
		if (sql->kind[i] != PS_SQL_DEALLOCATE &&
		    push_tag_all(s, c, sql->kind[i] == PS_SQL_DISCARD_ALL ? TAG_DISCARD_ALL : TAG_DEALLOCATE_ALL) < 0)
			return PS_NOMEM;
	return PS_FORWARD;
}

/* Make cs's statement present on s before a message that uses it: PS_WAIT while an earlier change to it is
   unanswered, PS_NOMEM on allocation failure, else PS_REPLACED with *bp the output to append to. */
static enum ps_verdict prepare_here(const struct ps_env *env, struct ps_server *s, struct ps_cslot *cs,
                                    const struct ps_out *out, struct iobuf ***bp)
{
	struct ps_sslot *ss = ps_sslot_find(s, cs->st);
	if (ss_busy(s, ss))
		return PS_WAIT;
	struct iobuf **b = out->get(out->ctx);
	if (!b || !ensure_prepared(env, s, b, cs->st, ss))
		return PS_NOMEM;
	*bp = b;
	return PS_REPLACED;
}

/* Parse of a name the client already has: PostgreSQL answers 42P05 "already exists", so make the server
   say it about the statement's server-side name, in order. */
static enum ps_verdict parse_existing(const struct ps_env *env, struct ps_server *s, struct ps_cslot *cs,
                                      const struct ps_out *out, const uint8_t *def, uint32_t dn)
{
	struct iobuf **b;
	enum ps_verdict v = prepare_here(env, s, cs, out, &b);
	if (v != PS_REPLACED)
		return v;
	if (!op_push(s, OP_PARSE, false) || emit_parse(b, cs->st->name, def, dn) < 0)
		return PS_NOMEM;
	return PS_REPLACED;
}

/* Parse of a named statement: the client's name now stands for the interned statement. */
static enum ps_verdict on_named_parse(const struct ps_env *env, struct ps_client *c, struct ps_server *s,
                                      const char *name, uint32_t nl, const uint8_t *def, uint32_t dn,
                                      const struct ps_out *out)
{
	struct ps_cslot *cs = ps_cslot_find(c, name, nl);
	if (cs_busy(s, cs))
		return PS_WAIT;
	if (cs && cs->st)
		return parse_existing(env, s, cs, out, def, dn);
	struct ps_stmt *st = ps_intern_get(env->intern, def, dn, env->scope);
	if (!st)
		return PS_NOMEM;
	struct ps_sslot *ss = ps_sslot_find(s, st);
	if (ss_busy(s, ss)) {
		ps_stmt_unref(st);
		return PS_WAIT;
	}
	struct iobuf **b = out->get(out->ctx);
	enum ps_verdict v = PS_NOMEM;
	if (!b || (!cs && !(cs = ps_cslot_new(c, name, nl))))
		goto done;
	if (ss && ss->present) {
		/* Already prepared here: the client still needs its ParseComplete, in order.  An empty statement
		   under the client's own name gives one; it is closed again at once. */
		static const uint8_t empty[3] = { 0, 0, 0 };
		struct ps_op *op = op_push(s, OP_PARSE, false);
		if (!op || emit_parse(b, name, empty, sizeof empty) < 0)
			goto done;
		op->nrec = 1;
		change_client(s, &op->rec[0], cs, st);
		if (!op_push(s, OP_CLOSE, true) || emit_close(b, name) < 0)
			goto done;
	} else {
		if ((!ss && !(ss = ps_sslot_get(s, st))) || evict(env, s, b, 1) < 0)
			goto done;
		struct ps_op *op = op_push(s, OP_PARSE, false);
		if (!op || emit_parse(b, st->name, def, dn) < 0)
			goto done;
		op->nrec = 2;
		change_client(s, &op->rec[0], cs, st);
		change_server(s, &op->rec[1], ss, true);
	}
	ps_sslot_touch(s, ss);
	v = PS_REPLACED;
done:
	if (cs)
		ps_cslot_maybe_free(cs);
	ps_stmt_unref(st);
	return v;
}

/* An unnamed Parse goes to s: remember its definition, to parse it again where a later Bind runs. */
static int keep_unnamed(struct ps_client *c, struct ps_server *s, const uint8_t *def, uint32_t dn)
{
	if (dn > c->unnamed_cap || !c->unnamed_def) {
		uint8_t *d = realloc(c->unnamed_def, dn);
		if (!d)
			return -1;
		c->unnamed_def = d;
		c->unnamed_cap = dn;
	}
	memcpy(c->unnamed_def, def, dn);
	c->unnamed_len = dn;
	s->unnamed_owner = c->id;
	s->unnamed_gen = ++c->unnamed_gen;
	return 0;
}

/* Parse: body = name, text, NUL, parameter types (the definition: everything after the name). */
static enum ps_verdict on_parse(const struct ps_env *env, struct ps_client *c, struct ps_server *s,
                                const struct fe_msg *m, const struct ps_sql *sql, const struct ps_out *out)
{
	const char *name = m->stmt;
	size_t nl = m->stmt_len;
	const uint8_t *def = name ? (const uint8_t *)name + nl + 1 : NULL;
	uint32_t dn = name ? (uint32_t)(m->body + m->len - 4 - def) : 0;
	s->unsynced = true;
	if (name && nl > 0 && ps_def_valid(def, dn))
		return on_named_parse(env, c, s, name, (uint32_t)nl, def, dn, out);
	if (name && nl == 0 && ps_def_valid(def, dn) && keep_unnamed(c, s, def, dn) < 0)
		return PS_NOMEM;
	/* Unnamed statements are left alone (and so are malformed ones: the server refuses them). */
	if (name && nl == 0 && sql && sql->n)
		return sql_effects(env, c, s, sql, out, false, def, dn);
	return op_push(s, OP_PARSE, false) ? PS_FORWARD : PS_NOMEM;
}

/* Bind or Describe of the unnamed statement on a connection that does not have the client's (it was parsed
   on another connection or node, before a Sync): parse it here first, its ParseComplete hidden. */
static enum ps_verdict use_unnamed(struct ps_client *c, struct ps_server *s, uint8_t type, const uint8_t *body,
                                   uint32_t n, uint32_t name_off, const struct ps_out *out)
{
	if (!c->unnamed_def || (s->unnamed_owner == c->id && s->unnamed_gen == c->unnamed_gen))
		return PS_FORWARD; /* it is there, or the client never parsed one: the server answers */
	struct iobuf **b = out->get(out->ctx);
	struct ps_op *op = b ? op_push(s, OP_PARSE, true) : NULL;
	if (!op || emit_parse(b, "", c->unnamed_def, c->unnamed_len) < 0 ||
	    emit_renamed(b, type, body, n, name_off, 0, "") < 0)
		return PS_NOMEM;
	s->unnamed_owner = c->id;
	s->unnamed_gen = c->unnamed_gen;
	return PS_REPLACED;
}

/* Bind or Describe of a named statement: the server-side name, prepared there first when missing. */
static enum ps_verdict on_use(const struct ps_env *env, struct ps_client *c, struct ps_server *s,
                              const struct fe_msg *m, const struct ps_out *out)
{
	uint8_t type = m->type;
	const uint8_t *body = m->body;
	uint32_t n = m->len - 4;
	s->unsynced = true;
	const char *name = m->stmt;
	if (!name)
		return PS_FORWARD; /* a Describe of a portal, or malformed: the server answers */
	size_t nl = m->stmt_len;
	uint32_t name_off = (uint32_t)((const uint8_t *)name - body);
	if (nl == 0)
		return use_unnamed(c, s, type, body, n, name_off, out);
	/* routing may have looked the name up for this very message already */
	struct ps_cslot *cs = m->named_known ? m->named : ps_cslot_find(c, name, (uint32_t)nl);
	if (cs_busy(s, cs))
		return PS_WAIT;
	if (!cs || !cs->st) {
		ps_name_disarm((char *)name, nl); /* never another client's statement */
		return PS_FORWARD; /* unknown: the server says "does not exist" about the client's name */
	}
	struct iobuf **b;
	enum ps_verdict v = prepare_here(env, s, cs, out, &b);
	if (v != PS_REPLACED)
		return v;
	if (emit_renamed(b, type, body, n, name_off, (uint32_t)nl, cs->st->name) < 0)
		return PS_NOMEM;
	return PS_REPLACED;
}

/* Close of a named statement: the client's name goes; the server keeps the statement for others. */
static enum ps_verdict on_close(struct ps_client *c, struct ps_server *s, const struct fe_msg *m)
{
	uint8_t kind = m->stmt ? 'S' : 0; /* only a statement's name matters here */
	size_t nl = m->stmt_len;
	const char *name = m->stmt;
	s->unsynced = true;
	struct ps_cslot *cs = name && kind == 'S' && nl ? ps_cslot_find(c, name, (uint32_t)nl) : NULL;
	if (cs_busy(s, cs))
		return PS_WAIT;
	if (name && kind == 'S' && nl && (!cs || !cs->st))
		ps_name_disarm((char *)name, nl); /* never another client's statement */
	/* Forwarded as is: closing a name the server does not have is not an error, and the answer is in order. */
	struct ps_op *op = op_push(s, OP_CLOSE, false);
	if (!op)
		return PS_NOMEM;
	if (cs && cs->st) {
		op->nrec = 1;
		change_client(s, &op->rec[0], cs, NULL);
	}
	return PS_FORWARD;
}

enum ps_verdict ps_client_message(const struct ps_env *env, struct ps_client *c, struct ps_server *s,
                                  const struct fe_msg *m, const struct ps_sql *sql, const struct ps_out *out)
{
	uint8_t type = m->type;
	const uint8_t *body = m->body;
	if (!body && (type == 'P' || type == 'B' || type == 'D' || type == 'C')) {
		/* Not buffered whole: an unnamed statement too large to matter (see prepared_wants_full). */
		s->unsynced = true;
		if (type == 'P' || type == 'C')
			return op_push(s, type == 'P' ? OP_PARSE : OP_CLOSE, false) ? PS_FORWARD : PS_NOMEM;
		return PS_FORWARD;
	}
	switch (type) {
	case 'P': return on_parse(env, c, s, m, sql, out);
	case 'B':
	case 'D': return on_use(env, c, s, m, out);
	case 'C': return on_close(c, s, m);
	case 'S': s->unsynced = false; return push_term(s, OP_SYNC, false) < 0 ? PS_NOMEM : PS_FORWARD;
	case 'Q':
	case 'F': {
		if (type == 'Q')
			s->unnamed_owner = 0; /* a simple Query drops the unnamed statement */
		enum ps_verdict v = PS_FORWARD;
		if (type == 'Q' && sql && sql->n && body) {
			v = sql_effects(env, c, s, sql, out, true, NULL, 0);
			if (v == PS_WAIT || v == PS_NOMEM)
				return v;
		}
		return push_term(s, OP_QUERY, false) < 0 ? PS_NOMEM : v;
	}
	case 'E':
	case 'H': s->unsynced = true; return PS_FORWARD;
	default: return PS_FORWARD;
	}
}

/* ---- server answers ---- */

/* ParseComplete or CloseComplete: the oldest unanswered Parse / Close of the current group. */
static enum ps_answer answer_complete(struct ps_server *s, uint8_t kind)
{
	for (uint32_t i = 0; i < s->nops; i++) {
		struct ps_op *op = op_at(s, i);
		if (is_term(op))
			break;
		if (op->done || op->kind == OP_TAG)
			continue; /* a DEALLOCATE's tag comes later, with its Execute */
		if (op->kind != kind)
			break;
		bool hidden = op->hidden;
		op_finish(s, i, true);
		pop_done(s);
		return hidden ? PSA_HIDE : PSA_PASS;
	}
	s->broken = true;
	return PSA_PASS;
}

static const char *const tag_text[] = { "", "DEALLOCATE", "DEALLOCATE ALL", "DISCARD ALL" };

/* CommandComplete: the tag of a DEALLOCATE / DISCARD ALL confirms its changes. */
static enum ps_answer answer_tag(struct ps_server *s, const uint8_t *body, uint32_t n)
{
	if (!body)
		return PSA_NEED_BODY;
	for (uint32_t i = 0; i < s->nops; i++) {
		struct ps_op *op = op_at(s, i);
		if (is_term(op))
			break;
		if (op->done || op->kind != OP_TAG)
			continue;
		const char *want = tag_text[op->tag];
		size_t wl = strlen(want);
		if (n == wl + 1 && memcmp(body, want, wl + 1) == 0) {
			op_finish(s, i, true);
			pop_done(s);
		}
		break;
	}
	return PSA_PASS;
}

/* ErrorResponse: the server skips the rest of the group, so whatever of it is unanswered never happened. */
static enum ps_answer answer_error(struct ps_server *s)
{
	undo_before(s, first_term(s));
	pop_done(s);
	uint32_t t = first_term(s);
	/* A group made only of pgrouter's own messages: the error is not the client's business. */
	return t < s->nops && op_at(s, t)->hidden ? PSA_HIDE : PSA_PASS;
}

/* ReadyForQuery: the group is over. */
static enum ps_answer answer_ready(struct ps_server *s, uint8_t status)
{
	uint32_t t = first_term(s);
	if (t == s->nops)
		return PSA_PASS;
	undo_before(s, t);
	const struct ps_op *term = op_at(s, t);
	bool hidden = term->hidden;
	if (status == 'I')
		s->idle_before = term->group + 1; /* no transaction: no portal of those groups is left */
	s->head = (s->head + t + 1) & (s->cap - 1);
	s->nops -= t + 1;
	return hidden ? PSA_HIDE : PSA_PASS;
}

enum ps_answer ps_server_answer(struct ps_server *s, uint8_t type, const uint8_t *body, uint32_t n)
{
	if (s->nops == 0)
		return PSA_PASS;
	switch (type) {
	case '1': return answer_complete(s, OP_PARSE);
	case '3': return answer_complete(s, OP_CLOSE);
	case 'C': return s->n_tags ? answer_tag(s, body, n) : PSA_PASS;
	case 'E': return answer_error(s);
	case 'Z': return body ? answer_ready(s, body[0]) : PSA_NEED_BODY;
	default: return PSA_PASS;
	}
}
