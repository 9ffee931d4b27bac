/* Unit tests for the prepared-statement tracker: names, interning, LRU, answers, undo in pipelines. */
#include "prepared/prepared.h"
#include "prepared/prepared_int.h"
#include "proto/cursor.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

/* ---- building client messages (bodies after the length word) ---- */

struct msgbuf {
	uint8_t b[1024];
	uint32_t n;
};

static void put(struct msgbuf *m, const void *p, uint32_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}
static void put_str(struct msgbuf *m, const char *s) { put(m, s, (uint32_t)strlen(s) + 1); }
static void put_u16(struct msgbuf *m, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(m, x, 2);
}

static struct msgbuf parse_body(const char *name, const char *text, int nparams)
{
	struct msgbuf m = { .n = 0 };
	put_str(&m, name);
	put_str(&m, text);
	put_u16(&m, (uint16_t)nparams);
	for (int i = 0; i < nparams; i++)
		put(&m, "\0\0\0\x17", 4);   /* int4 */
	return m;
}

static struct msgbuf bind_body(const char *portal, const char *stmt)
{
	struct msgbuf m = { .n = 0 };
	put_str(&m, portal);
	put_str(&m, stmt);
	put_u16(&m, 0);
	put_u16(&m, 1);
	put(&m, "\0\0\0\x01" "7", 5);
	put_u16(&m, 0);
	return m;
}

static struct msgbuf kind_name_body(char kind, const char *name)
{
	struct msgbuf m = { .n = 0 };
	put(&m, &kind, 1);
	put_str(&m, name);
	return m;
}

/* ---- the harness: one worker's intern table, clients, servers, and what pgrouter wrote ---- */

static struct iobuf *outbuf;
static struct iobuf **get_out(void *ctx)
{
	(void)ctx;
	return &outbuf;
}
static const struct ps_out OUT = { get_out, NULL };
static struct ps_env env;

/* Everything written since the last call, as "T:name" tokens ("P:pgr1_1 B:pgr1_1 S"), then cleared. */
static char written[2048];
static const char *take_written(void)
{
	written[0] = 0;
	if (!outbuf)
		return written;
	const uint8_t *p = outbuf->data + outbuf->rpos, *end = outbuf->data + outbuf->wpos;
	while (end - p >= 5) {
		uint8_t type = p[0];
		uint32_t len = get_u32(p + 1);
		struct cursor c = cur_make(p + 5, len - 4);
		const char *name = "";
		if (type == 'B')
			cur_cstr(&c, NULL);
		if (type == 'C' || type == 'D')
			cur_u8(&c);
		if (type == 'P' || type == 'B' || type == 'C' || type == 'D' || type == 'Q')
			name = cur_cstr(&c, NULL);
		size_t o = strlen(written);
		snprintf(written + o, sizeof written - o, "%s%c%s%s", o ? " " : "", type, *name ? ":" : "", name);
		p += 1 + len;
	}
	outbuf->rpos = outbuf->wpos = 0;
	return written;
}

/* The message as the frontend hands it on: decoded once (body NULL: not buffered whole). */
static const struct fe_msg *decoded(uint8_t type, const uint8_t *body, uint32_t n)
{
	static struct fe_msg fm;
	fe_decode(&fm, type, n + 4, body, 0);
	return &fm;
}
static enum ps_verdict send(struct ps_client *c, struct ps_server *s, uint8_t type, struct msgbuf m)
{
	return ps_client_message(&env, c, s, decoded(type, m.b, m.n), NULL, &OUT);
}
static enum ps_verdict send0(struct ps_client *c, struct ps_server *s, uint8_t type)
{
	return ps_client_message(&env, c, s, decoded(type, (const uint8_t *)"", 0), NULL, &OUT);
}
static enum ps_verdict send_sql(struct ps_client *c, struct ps_server *s, uint8_t type, struct msgbuf m,
                                enum ps_sql_kind kind, const char *name)
{
	struct ps_sql sql = { .n = 1, .kind = { (uint8_t)kind }, .name = name };
	return ps_client_message(&env, c, s, decoded(type, m.b, m.n), &sql, &OUT);
}

static enum ps_answer answer(struct ps_server *s, uint8_t type)
{
	if (type == 'Z')
		return ps_server_answer(s, 'Z', (const uint8_t *)"I", 1);
	return ps_server_answer(s, type, (const uint8_t *)"", 0);
}
static enum ps_answer answer_z(struct ps_server *s, char status)
{
	uint8_t b = (uint8_t)status;
	return ps_server_answer(s, 'Z', &b, 1);
}
static enum ps_answer answer_tag(struct ps_server *s, const char *tag)
{
	return ps_server_answer(s, 'C', (const uint8_t *)tag, (uint32_t)strlen(tag) + 1);
}

static bool has(const struct ps_client *c, const char *name)
{
	return ps_client_find(c, name, (uint32_t)strlen(name)) != NULL;
}

/* One round trip of "Bind name, Execute, Sync" with every answer positive. */
static void run_bind(struct ps_client *c, struct ps_server *s, const char *name)
{
	send(c, s, 'B', bind_body("", name));
	send0(c, s, 'E');
	send0(c, s, 'S');
}

static void test_intern(void)
{
	struct ps_intern *t = ps_intern_new(3);
	struct msgbuf a = parse_body("", "SELECT 1", 0), b = parse_body("", "SELECT 2", 0);
	struct msgbuf a_typed = parse_body("", "SELECT 1", 1);
	struct ps_stmt *s1 = ps_intern_get(t, a.b + 1, a.n - 1, NULL);
	struct ps_stmt *s2 = ps_intern_get(t, a.b + 1, a.n - 1, NULL);
	struct ps_stmt *s3 = ps_intern_get(t, b.b + 1, b.n - 1, NULL);
	struct ps_stmt *s4 = ps_intern_get(t, a_typed.b + 1, a_typed.n - 1, NULL);
	CHECK(s1 && s1 == s2);
	CHECK(s3 && s3 != s1);
	CHECK(s4 && s4 != s1);   /* parameter types are part of the statement */
	struct ps_stmt *s6 = ps_intern_get(t, a.b + 1, a.n - 1, "tenant_a");
	struct ps_stmt *s7 = ps_intern_get(t, a.b + 1, a.n - 1, "tenant_a");
	CHECK(s6 && s6 != s1 && s6 == s7);   /* so is the search_path it was prepared under */
	ps_stmt_unref(s6);
	ps_stmt_unref(s7);
	CHECK_EQ_STR(ps_stmt_name(s1), "pgr3_1");
	CHECK_EQ_STR(ps_stmt_name(s3), "pgr3_2");
	uint32_t tl;
	CHECK_EQ_STR(ps_stmt_text(s3, &tl), "SELECT 2");
	CHECK_EQ_INT(tl, 8);
	CHECK_EQ_INT(ps_intern_count(t), 3);
	/* malformed definitions are refused */
	CHECK(ps_intern_get(t, (const uint8_t *)"SELECT 1", 8, NULL) == NULL);
	CHECK(ps_intern_get(t, (const uint8_t *)"SELECT 1\0\0\1", 11, NULL) == NULL);
	ps_stmt_unref(s1);
	CHECK_EQ_INT(ps_intern_count(t), 3);
	ps_stmt_unref(s2);
	CHECK_EQ_INT(ps_intern_count(t), 2);
	/* a new interning of freed content gets a new name: a server may not reuse an old one */
	struct ps_stmt *s5 = ps_intern_get(t, a.b + 1, a.n - 1, NULL);
	CHECK_EQ_STR(ps_stmt_name(s5), "pgr3_5");
	ps_intern_free(t);   /* statements still alive: freed with the last one */
	ps_stmt_unref(s3);
	ps_stmt_unref(s4);
	ps_stmt_unref(s5);
}

static void test_parse_bind_move(void)
{
	struct ps_client *c = ps_client_new();
	struct ps_server *s1 = ps_server_new(), *s2 = ps_server_new();
	CHECK_EQ_INT(send(c, s1, 'P', parse_body("q1", "SELECT $1", 1)), PS_REPLACED);
	CHECK_EQ_STR(take_written(), "P:pgr1_1");
	CHECK_EQ_INT(send(c, s1, 'B', bind_body("", "q1")), PS_REPLACED);
	CHECK_EQ_STR(take_written(), "B:pgr1_1");
	CHECK_EQ_INT(send0(c, s1, 'E'), PS_FORWARD);
	CHECK_EQ_INT(send0(c, s1, 'S'), PS_FORWARD);
	CHECK(!ps_server_quiet(s1));
	CHECK_EQ_INT(answer(s1, '1'), PSA_PASS);
	CHECK_EQ_INT(answer(s1, 'Z'), PSA_PASS);
	CHECK(ps_server_quiet(s1));
	CHECK(has(c, "q1"));
	CHECK_EQ_INT(ps_server_count(s1), 1);
	/* the next transaction runs on another server connection: the statement is prepared there first */
	run_bind(c, s2, "q1");
	CHECK_EQ_STR(take_written(), "P:pgr1_1 B:pgr1_1");
	CHECK_EQ_INT(answer(s2, '1'), PSA_HIDE);
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_PASS);
	/* and only once */
	run_bind(c, s2, "q1");
	CHECK_EQ_STR(take_written(), "B:pgr1_1");
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_PASS);
	/* Describe of the statement is renamed too; of a portal it is not touched */
	CHECK_EQ_INT(send(c, s2, 'D', kind_name_body('S', "q1")), PS_REPLACED);
	CHECK_EQ_STR(take_written(), "D:pgr1_1");
	CHECK_EQ_INT(send(c, s2, 'D', kind_name_body('P', "q1")), PS_FORWARD);
	/* unknown names go through: the server's "does not exist" names the client's statement */
	CHECK_EQ_INT(send(c, s2, 'B', bind_body("", "nope")), PS_FORWARD);
	CHECK_EQ_INT(send(c, s2, 'B', bind_body("", "")), PS_FORWARD);
	send0(c, s2, 'S');
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_PASS);
	CHECK_EQ_STR(take_written(), "");
	ps_server_free(s1);
	ps_server_free(s2);
	ps_client_free(c);
}

static void test_shared_between_clients(void)
{
	struct ps_client *a = ps_client_new(), *b = ps_client_new();
	struct ps_server *s = ps_server_new();
	send(a, s, 'P', parse_body("a_stmt", "SELECT 42", 0));
	send0(a, s, 'S');
	CHECK_EQ_STR(take_written(), "P:pgr1_1");
	answer(s, '1');
	answer(s, 'Z');
	/* Another client, same text, its own name: the server has it already; the client still gets its
	   ParseComplete, in order, from an empty statement under its own name closed at once. */
	CHECK_EQ_INT(send(b, s, 'P', parse_body("S_1", "SELECT 42", 0)), PS_REPLACED);
	send0(b, s, 'S');
	CHECK_EQ_STR(take_written(), "P:S_1 C:S_1");
	CHECK_EQ_INT(answer(s, '1'), PSA_PASS);
	CHECK_EQ_INT(answer(s, '3'), PSA_HIDE);
	CHECK_EQ_INT(answer(s, 'Z'), PSA_PASS);
	CHECK(has(b, "S_1") && !has(b, "a_stmt") && !has(a, "S_1"));
	CHECK(ps_client_find(a, "a_stmt", 6) == ps_client_find(b, "S_1", 3));
	/* a Bind's statement is looked up once per message: the tracker reuses what routing found */
	struct msgbuf bm = bind_body("", "S_1");
	struct fe_msg fm;
	fe_decode(&fm, 'B', bm.n + 4, bm.b, 0);
	CHECK(!fm.named_known && ps_client_named(b, &fm) == ps_client_find(b, "S_1", 3));
	CHECK(fm.named_known && fm.named && ps_client_named(b, &fm) == ps_client_find(b, "S_1", 3));
	fe_decode(&fm, 'B', bm.n + 4, bm.b, 0);
	CHECK(ps_client_named(a, &fm) == NULL && fm.named_known && !fm.named);
	run_bind(b, s, "S_1");
	CHECK_EQ_STR(take_written(), "B:pgr1_1");
	answer(s, 'Z');
	/* names compare on their first 63 bytes, as PostgreSQL's */
	char long1[80], long2[80];
	memset(long1, 'x', 70);
	long1[70] = 0;
	memcpy(long2, long1, 71);
	long2[65] = 'y';
	send(b, s, 'P', parse_body(long1, "SELECT 43", 0));
	send0(b, s, 'S');
	take_written();
	answer(s, '1');
	answer(s, 'Z');
	CHECK(has(b, long2));
	ps_server_free(s);
	ps_client_free(a);
	ps_client_free(b);
}

static void test_errors_undo(void)
{
	struct ps_client *c = ps_client_new();
	struct ps_server *s = ps_server_new();
	/* A Parse that fails: the client's name never existed. */
	send(c, s, 'P', parse_body("bad", "SELEC 1", 0));
	send0(c, s, 'S');
	take_written();
	CHECK(has(c, "bad"));   /* as far as sent messages go */
	CHECK_EQ_INT(answer(s, 'E'), PSA_PASS);
	CHECK_EQ_INT(answer(s, 'Z'), PSA_PASS);
	CHECK(!has(c, "bad"));
	CHECK_EQ_INT(ps_server_count(s), 0);
	/* An error earlier in a pipeline: the server skips the Parse and the Bind up to the Sync. */
	send(c, s, 'P', parse_body("", "SELECT 1/0", 0));
	send(c, s, 'B', bind_body("", ""));
	send0(c, s, 'E');
	send(c, s, 'P', parse_body("good", "SELECT 2", 0));
	send(c, s, 'B', bind_body("", "good"));
	send0(c, s, 'E');
	send0(c, s, 'S');
	CHECK_EQ_STR(take_written(), "P:pgr1_2 B:pgr1_2");
	CHECK_EQ_INT(answer(s, '1'), PSA_PASS);   /* the unnamed Parse */
	CHECK_EQ_INT(answer(s, 'E'), PSA_PASS);   /* division by zero at Execute */
	CHECK(!has(c, "good"));
	CHECK_EQ_INT(ps_server_count(s), 0);
	CHECK_EQ_INT(answer(s, 'Z'), PSA_PASS);
	CHECK(ps_server_quiet(s));
	/* The same after Sync: the name is free again and the statement not on the server. */
	send(c, s, 'P', parse_body("good", "SELECT 2", 0));
	send0(c, s, 'S');
	CHECK_EQ_STR(take_written(), "P:pgr1_3");   /* interned anew: a new server-side name */
	answer(s, '1');
	answer(s, 'Z');
	CHECK(has(c, "good"));
	/* An injected Parse that fails (the table is gone on this node): the client sees the error in place of
	   its Bind's answers, and the statement is still missing on the server afterwards. */
	struct ps_server *s2 = ps_server_new();
	run_bind(c, s2, "good");
	CHECK_EQ_STR(take_written(), "P:pgr1_3 B:pgr1_3");
	CHECK_EQ_INT(answer(s2, 'E'), PSA_PASS);
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_PASS);
	CHECK_EQ_INT(ps_server_count(s2), 0);
	CHECK(has(c, "good"));
	run_bind(c, s2, "good");
	CHECK_EQ_STR(take_written(), "P:pgr1_3 B:pgr1_3");
	CHECK_EQ_INT(answer(s2, '1'), PSA_HIDE);
	answer(s2, 'Z');
	/* forgetting a server with changes in flight restores the client */
	send(c, s2, 'C', kind_name_body('S', "good"));
	CHECK(!has(c, "good"));
	ps_server_forget(s2);
	CHECK(has(c, "good"));
	CHECK(ps_server_quiet(s2));
	ps_server_free(s2);
	ps_server_free(s);
	ps_client_free(c);
}

static void test_close_and_reuse(void)
{
	struct ps_client *c = ps_client_new();
	struct ps_server *s = ps_server_new();
	send(c, s, 'P', parse_body("x", "SELECT 1", 0));
	send0(c, s, 'S');
	answer(s, '1');
	answer(s, 'Z');
	take_written();
	/* Close is forwarded as is (the server has no statement "x": CloseComplete, in order) */
	CHECK_EQ_INT(send(c, s, 'C', kind_name_body('S', "x")), PS_FORWARD);
	CHECK(!has(c, "x"));
	/* the name is reused in the same pipeline for other text */
	CHECK_EQ_INT(send(c, s, 'P', parse_body("x", "SELECT 2", 0)), PS_REPLACED);
	send0(c, s, 'S');
	CHECK_EQ_STR(take_written(), "P:pgr1_2");
	CHECK_EQ_INT(answer(s, '3'), PSA_PASS);
	CHECK_EQ_INT(answer(s, '1'), PSA_PASS);
	answer(s, 'Z');
	uint32_t tl;
	CHECK_EQ_STR(ps_stmt_text(ps_client_find(c, "x", 1), &tl), "SELECT 2");
	/* the old statement stays prepared on the server for whoever needs it */
	CHECK_EQ_INT(ps_server_count(s), 2);
	/* Parse of a name that exists: the server must answer 42P05, and nothing changes */
	CHECK_EQ_INT(send(c, s, 'P', parse_body("x", "SELECT 3", 0)), PS_REPLACED);
	send0(c, s, 'S');
	CHECK_EQ_STR(take_written(), "P:pgr1_2");
	CHECK_EQ_INT(answer(s, 'E'), PSA_PASS);
	answer(s, 'Z');
	CHECK_EQ_STR(ps_stmt_text(ps_client_find(c, "x", 1), &tl), "SELECT 2");
	/* Close of a portal or the unnamed statement is only counted */
	CHECK_EQ_INT(send(c, s, 'C', kind_name_body('P', "x")), PS_FORWARD);
	CHECK_EQ_INT(send(c, s, 'C', kind_name_body('S', "")), PS_FORWARD);
	send0(c, s, 'S');
	CHECK(has(c, "x"));
	CHECK_EQ_INT(answer(s, '3'), PSA_PASS);
	CHECK_EQ_INT(answer(s, '3'), PSA_PASS);
	answer(s, 'Z');
	CHECK(!ps_server_broken(s));
	ps_server_free(s);
	ps_client_free(c);
}

/* Answer everything the server owes, successfully, in order (idle at each ReadyForQuery). */
static void answer_all(struct ps_server *s)
{
	static const char *const tags[] = { "", "DEALLOCATE", "DEALLOCATE ALL", "DISCARD ALL" };
	while (s->nops) {
		const struct ps_op *op = &s->ops[s->head & (s->cap - 1)];
		switch (op->kind) {
		case OP_PARSE: answer(s, '1'); break;
		case OP_CLOSE: answer(s, '3'); break;
		case OP_TAG: answer_tag(s, tags[op->tag]); break;
		default: answer(s, 'Z'); break;
		}
	}
}

static void prepare_on(struct ps_client *c, struct ps_server *s, const char *name, const char *text)
{
	send(c, s, 'P', parse_body(name, text, 0));
	send0(c, s, 'S');
	take_written();
	answer_all(s);
}

static void test_lru(void)
{
	env.max_stmts = 2;
	struct ps_client *c = ps_client_new();
	struct ps_server *s = ps_server_new(), *other = ps_server_new();
	prepare_on(c, other, "a", "SELECT 'a'");
	prepare_on(c, other, "b", "SELECT 'b'");
	prepare_on(c, other, "c", "SELECT 'c'");
	CHECK_EQ_INT(ps_server_count(other), 2);   /* "a" was closed on the way */
	run_bind(c, s, "a");
	answer(s, '1');
	answer(s, 'Z');
	run_bind(c, s, "b");
	answer(s, '1');
	answer(s, 'Z');
	take_written();
	run_bind(c, s, "a");   /* a is now the most recent */
	answer(s, 'Z');
	take_written();
	CHECK_EQ_INT(send(c, s, 'B', bind_body("", "c")), PS_REPLACED);
	send0(c, s, 'E');
	send0(c, s, 'S');
	CHECK_EQ_STR(take_written(), "C:pgr1_2 P:pgr1_3 B:pgr1_3");
	CHECK_EQ_INT(answer(s, '3'), PSA_HIDE);
	CHECK_EQ_INT(answer(s, '1'), PSA_HIDE);
	answer(s, 'Z');
	CHECK_EQ_INT(ps_server_count(s), 2);
	/* Inside a transaction nothing used in it is evicted: a portal may still need it. */
	send(c, s, 'B', bind_body("p1", "a"));
	send0(c, s, 'E');
	send0(c, s, 'S');
	CHECK_EQ_INT(answer_z(s, 'T'), PSA_PASS);
	run_bind(c, s, "b");
	CHECK_EQ_STR(take_written(), "B:pgr1_1 C:pgr1_3 P:pgr1_2 B:pgr1_2");
	answer(s, '3');
	answer(s, '1');
	answer_z(s, 'T');
	run_bind(c, s, "c");   /* a and b were used in this transaction: the limit is exceeded instead */
	CHECK_EQ_STR(take_written(), "P:pgr1_3 B:pgr1_3");
	answer(s, '1');
	answer_z(s, 'I');
	CHECK_EQ_INT(ps_server_count(s), 3);
	send(c, s, 'P', parse_body("d", "SELECT 'd'", 0));
	send0(c, s, 'S');
	CHECK_EQ_STR(take_written(), "C:pgr1_1 C:pgr1_2 P:pgr1_4");
	answer(s, '3');
	answer(s, '3');
	answer(s, '1');
	answer(s, 'Z');
	CHECK_EQ_INT(ps_server_count(s), 2);
	/* an eviction whose Close is skipped (an error earlier in the pipeline) leaves the statement prepared */
	send(c, s, 'P', parse_body("", "SELECT 1/0", 0));
	send(c, s, 'B', bind_body("", ""));
	send0(c, s, 'E');
	run_bind(c, s, "a");
	CHECK_EQ_STR(take_written(), "C:pgr1_3 P:pgr1_1 B:pgr1_1");
	answer(s, '1');
	answer(s, 'E');
	answer(s, 'Z');
	CHECK_EQ_INT(ps_server_count(s), 2);
	run_bind(c, s, "d");
	CHECK_EQ_STR(take_written(), "B:pgr1_4");
	answer(s, 'Z');
	env.max_stmts = 100;
	ps_server_free(s);
	ps_server_free(other);
	ps_client_free(c);
}

static void test_pipeline_waits(void)
{
	struct ps_client *c = ps_client_new();
	struct ps_server *s = ps_server_new();
	/* group 1 prepares; group 2 (sent before any answer) uses it: it must wait for group 1's verdict */
	send(c, s, 'P', parse_body("p", "SELECT 1", 0));
	send(c, s, 'B', bind_body("", "p"));
	send0(c, s, 'E');
	send0(c, s, 'S');
	CHECK_EQ_STR(take_written(), "P:pgr1_1 B:pgr1_1");
	CHECK_EQ_INT(send(c, s, 'B', bind_body("", "p")), PS_WAIT);
	CHECK_EQ_STR(take_written(), "");
	CHECK(!ps_server_take_progress(s));
	/* messages that touch no statement go on */
	CHECK_EQ_INT(send(c, s, 'P', parse_body("", "SELECT 2", 0)), PS_FORWARD);
	CHECK_EQ_INT(answer(s, '1'), PSA_PASS);
	CHECK(ps_server_take_progress(s));
	CHECK_EQ_INT(send(c, s, 'B', bind_body("", "p")), PS_REPLACED);
	CHECK_EQ_STR(take_written(), "B:pgr1_1");
	send0(c, s, 'S');
	answer(s, 'Z');
	CHECK_EQ_INT(answer(s, '1'), PSA_PASS);
	answer(s, 'Z');
	CHECK(ps_server_quiet(s));
	/* the same when group 1 failed: the name is unknown by the time group 2 is decided */
	send(c, s, 'P', parse_body("q", "SELEC 1", 0));
	send0(c, s, 'S');
	take_written();
	CHECK_EQ_INT(send(c, s, 'B', bind_body("", "q")), PS_WAIT);
	answer(s, 'E');
	CHECK(ps_server_take_progress(s));
	CHECK_EQ_INT(send(c, s, 'B', bind_body("", "q")), PS_FORWARD);
	send0(c, s, 'S');
	answer(s, 'Z');
	answer(s, 'E');
	answer(s, 'Z');
	CHECK(!has(c, "q"));
	CHECK(ps_server_quiet(s));
	ps_client_set_waiting(c);
	CHECK(ps_client_take_waiting(c));
	CHECK(!ps_client_take_waiting(c));
	ps_server_free(s);
	ps_client_free(c);
}

static void test_deallocate(void)
{
	struct ps_client *c = ps_client_new();
	struct ps_server *s = ps_server_new(), *s2 = ps_server_new();
	prepare_on(c, s, "_pg3_0", "SELECT 10");
	prepare_on(c, s, "_pg3_1", "SELECT 11");
	/* DEALLOCATE ALL (psycopg sends it as an unnamed Parse): both names go once its tag arrives */
	CHECK_EQ_INT(send_sql(c, s, 'P', parse_body("", "DEALLOCATE ALL", 0), PS_SQL_DEALLOCATE_ALL, NULL), PS_FORWARD);
	send(c, s, 'B', bind_body("", ""));
	send0(c, s, 'E');
	send0(c, s, 'S');
	CHECK(!has(c, "_pg3_0") && !has(c, "_pg3_1"));
	CHECK_EQ_INT(ps_server_count(s), 0);
	CHECK_EQ_INT(answer(s, '1'), PSA_PASS);
	CHECK_EQ_INT(answer_tag(s, "DEALLOCATE ALL"), PSA_PASS);
	CHECK_EQ_INT(answer(s, 'Z'), PSA_PASS);
	CHECK(ps_server_quiet(s));
	CHECK_EQ_INT(ps_client_count(c), 0);
	/* a failed one (inside an aborted transaction) changes nothing */
	prepare_on(c, s, "_pg3_0", "SELECT 10");
	send_sql(c, s, 'Q', (struct msgbuf){ .n = 0 }, PS_SQL_DISCARD_ALL, NULL);
	CHECK(!has(c, "_pg3_0"));
	CHECK_EQ_INT(answer(s, 'E'), PSA_PASS);
	CHECK_EQ_INT(answer(s, 'Z'), PSA_PASS);
	CHECK(has(c, "_pg3_0"));
	CHECK_EQ_INT(ps_server_count(s), 1);
	/* DEALLOCATE name (extended protocol): the server deallocates the server-side statement */
	struct msgbuf d = parse_body("", "DEALLOCATE _pg3_0", 0);
	CHECK_EQ_INT(send_sql(c, s, 'P', d, PS_SQL_DEALLOCATE, "_pg3_0"), PS_REPLACED);
	CHECK_EQ_STR(take_written(), "P");
	send(c, s, 'B', bind_body("", ""));
	send0(c, s, 'E');
	send0(c, s, 'S');
	CHECK(!has(c, "_pg3_0"));
	answer(s, '1');
	CHECK_EQ_INT(answer_tag(s, "DEALLOCATE"), PSA_PASS);
	answer(s, 'Z');
	CHECK_EQ_INT(ps_server_count(s), 0);
	/* DEALLOCATE name as a Query on a connection that lacks the statement: prepared first in a group of
	   pgrouter's own, whose answers the client never sees */
	prepare_on(c, s, "_pg3_2", "SELECT 12");
	CHECK_EQ_INT(send_sql(c, s2, 'Q', (struct msgbuf){ .n = 0 }, PS_SQL_DEALLOCATE, "_pg3_2"), PS_REPLACED);
	CHECK_EQ_STR(take_written(), "P:pgr1_4 S Q:DEALLOCATE pgr1_4");
	CHECK_EQ_INT(answer(s2, '1'), PSA_HIDE);
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_HIDE);
	CHECK_EQ_INT(answer_tag(s2, "DEALLOCATE"), PSA_PASS);
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_PASS);
	CHECK(!has(c, "_pg3_2"));
	CHECK_EQ_INT(ps_server_count(s2), 0);
	/* ... and when that Parse of pgrouter's fails, its error is hidden; the Query's own error is not */
	prepare_on(c, s, "_pg3_3", "SELECT 13");
	send_sql(c, s2, 'Q', (struct msgbuf){ .n = 0 }, PS_SQL_DEALLOCATE, "_pg3_3");
	take_written();
	CHECK_EQ_INT(answer(s2, 'E'), PSA_HIDE);
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_HIDE);
	CHECK_EQ_INT(answer(s2, 'E'), PSA_PASS);
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_PASS);
	CHECK(has(c, "_pg3_3"));
	CHECK_EQ_INT(ps_server_count(s2), 0);
	CHECK(ps_server_quiet(s2));
	/* DEALLOCATE of a name the client does not have is the server's business */
	CHECK_EQ_INT(send_sql(c, s2, 'Q', (struct msgbuf){ .n = 0 }, PS_SQL_DEALLOCATE, "other"), PS_FORWARD);
	answer(s2, 'E');
	answer(s2, 'Z');
	/* pgrouter's reset query dropped everything */
	ps_server_dropped_all(s);
	CHECK_EQ_INT(ps_server_count(s), 0);
	CHECK(!ps_server_broken(s) && !ps_server_broken(s2));
	ps_server_free(s);
	ps_server_free(s2);
	ps_client_free(c);
}

static void test_broken(void)
{
	struct ps_client *c = ps_client_new();
	struct ps_server *s = ps_server_new();
	CHECK_EQ_INT(answer(s, '1'), PSA_PASS);   /* nothing owed: not tracked */
	CHECK(!ps_server_broken(s));
	send0(c, s, 'S');
	CHECK_EQ_INT(answer(s, '1'), PSA_PASS);   /* a ParseComplete nobody asked for */
	CHECK(ps_server_broken(s));
	CHECK_EQ_INT(ps_server_answer(s, 'Z', NULL, 1), PSA_NEED_BODY);
	/* messages not buffered whole (huge unnamed statements) are only counted */
	struct ps_server *s2 = ps_server_new();
	CHECK_EQ_INT(ps_client_message(&env, c, s2, decoded('P', NULL, 100000), NULL, &OUT), PS_FORWARD);
	CHECK_EQ_INT(ps_client_message(&env, c, s2, decoded('B', NULL, 100000), NULL, &OUT), PS_FORWARD);
	send0(c, s2, 'S');
	CHECK_EQ_INT(answer(s2, '1'), PSA_PASS);
	CHECK_EQ_INT(answer(s2, 'Z'), PSA_PASS);
	CHECK(!ps_server_broken(s2) && ps_server_quiet(s2));
	ps_server_free(s2);
	ps_server_free(s);
	ps_client_free(c);
}

/* Run one test with a fresh worker table (names start at pgr1_1) and check every reference came back. */
static void run(void (*fn)(void))
{
	env.intern = ps_intern_new(1);
	env.max_stmts = 100;
	fn();
	CHECK_EQ_INT(ps_intern_count(env.intern), 0);
	ps_intern_free(env.intern);
	if (outbuf)
		outbuf->rpos = outbuf->wpos = 0;
}

int main(void)
{
	test_intern();
	run(test_parse_bind_move);
	run(test_shared_between_clients);
	run(test_errors_undo);
	run(test_close_and_reuse);
	run(test_lru);
	run(test_pipeline_waits);
	run(test_deallocate);
	run(test_broken);
	free(outbuf);
	return unit_done("test_prepared");
}
