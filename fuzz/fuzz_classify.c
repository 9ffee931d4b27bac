/* libFuzzer target: the SQL classifier on arbitrary text; the fast path must agree with libpg_query. */
#include "sql/classify.h"
#include "sql/classify_int.h"
#include "fuzz_common.h"

/* The volatility the corpus assumes: a stable, an immutable and a volatile user function. */
static char volatility(void *ctx, const char *schema, const char *name)
{
	(void)ctx;
	(void)schema;
	if (strcmp(name, "my_stable_fn") == 0)
		return 's';
	if (strcmp(name, "f_immutable") == 0)
		return 'i';
	return strcmp(name, "my_volatile_fn") == 0 ? 'v' : 0;
}

static const struct cls_env env = { volatility, NULL, 1 };

/* Every result, whichever path made it: a known target, a reason, bounded events with spans inside. */
static void check_result(const struct cls_result *r, size_t len)
{
	FUZZ_CHECK(r->target <= CLS_PRIMARY && r->reason != NULL && r->reason[0] != '\0');
	FUZZ_CHECK(r->n_events <= CLS_MAX_EVENTS && r->n_unknown <= CLS_MAX_UNKNOWN);
	FUZZ_CHECK(memchr(r->detail, 0, sizeof r->detail) != NULL);
	for (unsigned i = 0; i < r->n_events; i++) {
		const struct cls_event *e = &r->ev[i];
		FUZZ_CHECK(e->stmt.off <= len && e->stmt.len <= len - e->stmt.off);
		FUZZ_CHECK(e->value.off <= len && e->value.len <= len - e->value.off);
		FUZZ_CHECK(memchr(e->name, 0, sizeof e->name) != NULL && memchr(e->value_str, 0, sizeof e->value_str));
	}
	/* Code that may change the session (DO, CALL, a volatile or unknown user function) is never a plain read. */
	if (r->flags & CLS_F_SESSION_OPAQUE)
		FUZZ_CHECK(r->target == CLS_PRIMARY);
}

/* Where the fast path decides on text libpg_query accepts, both say the same. */
static void check_agreement(const struct cls_result *fast, const struct cls_result *full)
{
	if (full->reason == cls_r_unparseable)
		return; /* text PostgreSQL would refuse runs nowhere */
	FUZZ_CHECK(fast->target == full->target && strcmp(fast->reason, full->reason) == 0);
	FUZZ_CHECK(strcmp(fast->detail, full->detail) == 0 && fast->pins == full->pins);
	FUZZ_CHECK((fast->flags & ~CLS_F_FAST) == (full->flags & ~CLS_F_FAST));
	FUZZ_CHECK(fast->n_events == full->n_events && fast->n_stmts == full->n_stmts);
	for (unsigned i = 0; i < fast->n_events; i++)
		FUZZ_CHECK(fast->ev[i].kind == full->ev[i].kind && strcmp(fast->ev[i].name, full->ev[i].name) == 0);
}

/* Where the pre-scan calls a text quiet, classification finds nothing that touches the session. */
static void check_quiet(const char *sql, size_t size, const struct cls_result *full)
{
	if (!cls_quiet_query(sql, size) || full->reason == cls_r_unparseable)
		return;
	FUZZ_CHECK(full->pins == 0 && full->n_events == 0 && full->ev_kinds == 0 && full->n_unknown == 0);
	FUZZ_CHECK(full->flags == 0 && full->hint == 0 && full->route_tag.len == 0 && full->n_stmts == 1);
	FUZZ_CHECK(full->reason == cls_r_read || full->reason == cls_r_dml || full->reason == cls_r_for_update ||
	           full->reason == cls_r_writable_cte || full->reason == cls_r_node_dep);
}

/* Entry point: the input is one statement string (libpg_query's own limit on depth is enforced inside). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *sql = malloc(size ? size : 1); /* exact size: ASan flags any read past the text */
	FUZZ_CHECK(sql != NULL);
	if (size)
		memcpy(sql, data, size);
	struct cls_result full, fast;
	FUZZ_CHECK(classify_full(sql, size, &env, &full) == 0);
	check_result(&full, size);
	check_quiet(sql, size, &full);
	if (classify_fast(sql, size, &env, &fast)) {
		check_result(&fast, size);
		check_agreement(&fast, &full);
	}
	free(sql);
	return 0;
}
