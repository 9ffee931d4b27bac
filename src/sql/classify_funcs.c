/* classify_funcs: built-in knowledge of which functions write, which are read-only, and the env lookup. */
#include "sql/classify_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Why a built-in list at all: the router learns volatility from pg_proc, but
 * (1) volatility alone is the wrong question — random() is volatile yet fine
 * on a replica, while nextval() is volatile and must never go there — and
 * (2) the commonest functions should not cost a catalog round trip.
 *
 * Decisions worth explaining:
 *  - currval/lastval do not write, but they read state that exists only in
 *    the session that called nextval, i.e. on the primary: PRIMARY.
 *  - pg_advisory_lock* / pg_try_advisory_lock* (session level) also pin the
 *    session; the _xact_ variants are PRIMARY without a pin (they end with
 *    the transaction); pg_advisory_unlock* go where the locks live: PRIMARY.
 *  - txid_current / pg_current_xact_id assign an xid (a standby refuses);
 *    the *_if_assigned variants do not, so they are read-only.
 *  - pg_sleep, random, clock_timestamp, gen_random_uuid: volatile, harmless.
 *  - set_config is decided by its third argument (see classify_full.c).
 *  - setseed changes session state that is not tracked: PRIMARY.
 *  - Node-dependent readers (pg_backend_pid, pg_is_in_recovery, statistics,
 *    locks, snapshots, the *_if_assigned xid readers) write nothing, but a
 *    standby answers with its own state, not the primary's a client expects:
 *    PRIMARY, yet movable by a hint or rule (the user asks for that node).
 *  - current_setting is node-dependent only for the settings a standby
 *    reports differently (see node_settings); classify_full.c reads its
 *    argument.
 * Entries of kind F_DENY / F_DENY_PIN / F_SET_CONFIG match in any schema
 * (a same-named user function on the primary is merely conservative); the
 * read-only kinds match only unqualified or pg_catalog-qualified calls,
 * except F_ALLOW_ANY (extension functions installed in some user schema).
 */
enum fn_kind {
	F_DENY, /* writes / changes server or session state */
	F_DENY_PIN, /* session-level advisory lock: write and pin */
	F_SET_CONFIG, /* set_config */
	F_ALLOW, /* volatile but read-only, pg_catalog */
	F_ALLOW_ANY, /* volatile but read-only, extension in any schema */
	F_BUILTIN, /* immutable or stable pg_catalog function */
	F_NODE, /* read-only, answers with the node's own state: any schema */
	F_SETTING, /* current_setting: depends on its argument */
};

struct fn_entry {
	const char *name;
	uint8_t kind;
};

/* Sorted by strcmp (checked by cls_func_tables_ok). */
static const struct fn_entry fn_table[] = {
	{ "abs", F_BUILTIN },
	{ "acos", F_BUILTIN },
	{ "age", F_BUILTIN },
	{ "array_agg", F_BUILTIN },
	{ "array_append", F_BUILTIN },
	{ "array_cat", F_BUILTIN },
	{ "array_dims", F_BUILTIN },
	{ "array_fill", F_BUILTIN },
	{ "array_length", F_BUILTIN },
	{ "array_lower", F_BUILTIN },
	{ "array_ndims", F_BUILTIN },
	{ "array_position", F_BUILTIN },
	{ "array_positions", F_BUILTIN },
	{ "array_prepend", F_BUILTIN },
	{ "array_remove", F_BUILTIN },
	{ "array_replace", F_BUILTIN },
	{ "array_to_json", F_BUILTIN },
	{ "array_to_string", F_BUILTIN },
	{ "array_upper", F_BUILTIN },
	{ "ascii", F_BUILTIN },
	{ "asin", F_BUILTIN },
	{ "atan", F_BUILTIN },
	{ "atan2", F_BUILTIN },
	{ "avg", F_BUILTIN },
	{ "bit_and", F_BUILTIN },
	{ "bit_length", F_BUILTIN },
	{ "bit_or", F_BUILTIN },
	{ "bit_xor", F_BUILTIN },
	{ "bool_and", F_BUILTIN },
	{ "bool_or", F_BUILTIN },
	{ "btrim", F_BUILTIN },
	{ "cardinality", F_BUILTIN },
	{ "cbrt", F_BUILTIN },
	{ "ceil", F_BUILTIN },
	{ "ceiling", F_BUILTIN },
	{ "char_length", F_BUILTIN },
	{ "character_length", F_BUILTIN },
	{ "chr", F_BUILTIN },
	{ "clock_timestamp", F_ALLOW },
	{ "col_description", F_BUILTIN },
	{ "concat", F_BUILTIN },
	{ "concat_ws", F_BUILTIN },
	{ "convert_from", F_BUILTIN },
	{ "convert_to", F_BUILTIN },
	{ "corr", F_BUILTIN },
	{ "cos", F_BUILTIN },
	{ "count", F_BUILTIN },
	{ "covar_pop", F_BUILTIN },
	{ "covar_samp", F_BUILTIN },
	{ "cume_dist", F_BUILTIN },
	{ "current_database", F_BUILTIN },
	{ "current_schema", F_BUILTIN },
	{ "current_schemas", F_BUILTIN },
	{ "current_setting", F_SETTING },
	{ "currval", F_DENY },
	{ "date_bin", F_BUILTIN },
	{ "date_part", F_BUILTIN },
	{ "date_trunc", F_BUILTIN },
	{ "decode", F_BUILTIN },
	{ "degrees", F_BUILTIN },
	{ "dense_rank", F_BUILTIN },
	{ "div", F_BUILTIN },
	{ "encode", F_BUILTIN },
	{ "every", F_BUILTIN },
	{ "exp", F_BUILTIN },
	{ "extract", F_BUILTIN },
	{ "factorial", F_BUILTIN },
	{ "first_value", F_BUILTIN },
	{ "floor", F_BUILTIN },
	{ "format", F_BUILTIN },
	{ "format_type", F_BUILTIN },
	{ "gcd", F_BUILTIN },
	{ "gen_random_bytes", F_ALLOW_ANY },
	{ "gen_random_uuid", F_ALLOW },
	{ "gen_salt", F_ALLOW_ANY },
	{ "generate_series", F_BUILTIN },
	{ "generate_subscripts", F_BUILTIN },
	{ "has_column_privilege", F_BUILTIN },
	{ "has_database_privilege", F_BUILTIN },
	{ "has_function_privilege", F_BUILTIN },
	{ "has_schema_privilege", F_BUILTIN },
	{ "has_sequence_privilege", F_BUILTIN },
	{ "has_table_privilege", F_BUILTIN },
	{ "inet_client_addr", F_BUILTIN },
	{ "inet_server_addr", F_BUILTIN },
	{ "initcap", F_BUILTIN },
	{ "is_normalized", F_BUILTIN },
	{ "isfinite", F_BUILTIN },
	{ "json_agg", F_BUILTIN },
	{ "json_array_elements", F_BUILTIN },
	{ "json_array_elements_text", F_BUILTIN },
	{ "json_array_length", F_BUILTIN },
	{ "json_build_array", F_BUILTIN },
	{ "json_build_object", F_BUILTIN },
	{ "json_each", F_BUILTIN },
	{ "json_each_text", F_BUILTIN },
	{ "json_extract_path", F_BUILTIN },
	{ "json_extract_path_text", F_BUILTIN },
	{ "json_object", F_BUILTIN },
	{ "json_object_agg", F_BUILTIN },
	{ "json_object_keys", F_BUILTIN },
	{ "json_populate_record", F_BUILTIN },
	{ "json_populate_recordset", F_BUILTIN },
	{ "json_strip_nulls", F_BUILTIN },
	{ "json_to_record", F_BUILTIN },
	{ "json_to_recordset", F_BUILTIN },
	{ "json_typeof", F_BUILTIN },
	{ "jsonb_agg", F_BUILTIN },
	{ "jsonb_array_elements", F_BUILTIN },
	{ "jsonb_array_elements_text", F_BUILTIN },
	{ "jsonb_array_length", F_BUILTIN },
	{ "jsonb_build_array", F_BUILTIN },
	{ "jsonb_build_object", F_BUILTIN },
	{ "jsonb_each", F_BUILTIN },
	{ "jsonb_each_text", F_BUILTIN },
	{ "jsonb_extract_path", F_BUILTIN },
	{ "jsonb_extract_path_text", F_BUILTIN },
	{ "jsonb_insert", F_BUILTIN },
	{ "jsonb_object", F_BUILTIN },
	{ "jsonb_object_agg", F_BUILTIN },
	{ "jsonb_object_keys", F_BUILTIN },
	{ "jsonb_path_exists", F_BUILTIN },
	{ "jsonb_path_match", F_BUILTIN },
	{ "jsonb_path_query", F_BUILTIN },
	{ "jsonb_path_query_array", F_BUILTIN },
	{ "jsonb_path_query_first", F_BUILTIN },
	{ "jsonb_populate_record", F_BUILTIN },
	{ "jsonb_populate_recordset", F_BUILTIN },
	{ "jsonb_pretty", F_BUILTIN },
	{ "jsonb_set", F_BUILTIN },
	{ "jsonb_strip_nulls", F_BUILTIN },
	{ "jsonb_to_record", F_BUILTIN },
	{ "jsonb_to_recordset", F_BUILTIN },
	{ "jsonb_typeof", F_BUILTIN },
	{ "justify_days", F_BUILTIN },
	{ "justify_hours", F_BUILTIN },
	{ "justify_interval", F_BUILTIN },
	{ "lag", F_BUILTIN },
	{ "last_value", F_BUILTIN },
	{ "lastval", F_DENY },
	{ "lcm", F_BUILTIN },
	{ "lead", F_BUILTIN },
	{ "left", F_BUILTIN },
	{ "length", F_BUILTIN },
	{ "like_escape", F_BUILTIN },
	{ "ln", F_BUILTIN },
	{ "log", F_BUILTIN },
	{ "log10", F_BUILTIN },
	{ "loread", F_DENY },
	{ "lower", F_BUILTIN },
	{ "lowrite", F_DENY },
	{ "lpad", F_BUILTIN },
	{ "ltrim", F_BUILTIN },
	{ "make_date", F_BUILTIN },
	{ "make_interval", F_BUILTIN },
	{ "make_time", F_BUILTIN },
	{ "make_timestamp", F_BUILTIN },
	{ "make_timestamptz", F_BUILTIN },
	{ "max", F_BUILTIN },
	{ "md5", F_BUILTIN },
	{ "min", F_BUILTIN },
	{ "mod", F_BUILTIN },
	{ "mode", F_BUILTIN },
	{ "nextval", F_DENY },
	{ "normal_rand", F_ALLOW_ANY },
	{ "normalize", F_BUILTIN },
	{ "now", F_BUILTIN },
	{ "nth_value", F_BUILTIN },
	{ "ntile", F_BUILTIN },
	{ "obj_description", F_BUILTIN },
	{ "octet_length", F_BUILTIN },
	{ "overlaps", F_BUILTIN },
	{ "overlay", F_BUILTIN },
	{ "percent_rank", F_BUILTIN },
	{ "percentile_cont", F_BUILTIN },
	{ "percentile_disc", F_BUILTIN },
	{ "pg_advisory_lock", F_DENY_PIN },
	{ "pg_advisory_lock_shared", F_DENY_PIN },
	{ "pg_advisory_unlock", F_DENY },
	{ "pg_advisory_unlock_all", F_DENY },
	{ "pg_advisory_unlock_shared", F_DENY },
	{ "pg_advisory_xact_lock", F_DENY },
	{ "pg_advisory_xact_lock_shared", F_DENY },
	{ "pg_backend_pid", F_NODE },
	{ "pg_backup_start", F_DENY },
	{ "pg_backup_stop", F_DENY },
	{ "pg_blocking_pids", F_NODE },
	{ "pg_cancel_backend", F_DENY },
	{ "pg_collation_for", F_BUILTIN },
	{ "pg_column_size", F_BUILTIN },
	{ "pg_conf_load_time", F_ALLOW },
	{ "pg_copy_logical_replication_slot", F_DENY },
	{ "pg_copy_physical_replication_slot", F_DENY },
	{ "pg_create_logical_replication_slot", F_DENY },
	{ "pg_create_physical_replication_slot", F_DENY },
	{ "pg_create_restore_point", F_DENY },
	{ "pg_current_snapshot", F_NODE },
	{ "pg_current_wal_flush_lsn", F_DENY },
	{ "pg_current_wal_insert_lsn", F_DENY },
	{ "pg_current_wal_lsn", F_DENY },
	{ "pg_current_xact_id", F_DENY },
	{ "pg_current_xact_id_if_assigned", F_NODE },
	{ "pg_database_size", F_ALLOW },
	{ "pg_drop_replication_slot", F_DENY },
	{ "pg_encoding_to_char", F_BUILTIN },
	{ "pg_export_snapshot", F_DENY },
	{ "pg_file_rename", F_DENY },
	{ "pg_file_sync", F_DENY },
	{ "pg_file_unlink", F_DENY },
	{ "pg_file_write", F_DENY },
	{ "pg_function_is_visible", F_BUILTIN },
	{ "pg_get_constraintdef", F_BUILTIN },
	{ "pg_get_expr", F_BUILTIN },
	{ "pg_get_functiondef", F_BUILTIN },
	{ "pg_get_indexdef", F_BUILTIN },
	{ "pg_get_serial_sequence", F_BUILTIN },
	{ "pg_get_triggerdef", F_BUILTIN },
	{ "pg_get_userbyid", F_BUILTIN },
	{ "pg_get_viewdef", F_BUILTIN },
	{ "pg_get_wal_replay_pause_state", F_ALLOW },
	{ "pg_has_role", F_BUILTIN },
	{ "pg_import_system_collations", F_DENY },
	{ "pg_indexes_size", F_ALLOW },
	{ "pg_is_in_recovery", F_NODE },
	{ "pg_is_wal_replay_paused", F_ALLOW },
	{ "pg_last_wal_receive_lsn", F_ALLOW },
	{ "pg_last_wal_replay_lsn", F_ALLOW },
	{ "pg_last_xact_replay_timestamp", F_ALLOW },
	{ "pg_listening_channels", F_ALLOW },
	{ "pg_lock_status", F_NODE },
	{ "pg_log_backend_memory_contexts", F_DENY },
	{ "pg_logical_emit_message", F_DENY },
	{ "pg_logical_slot_get_binary_changes", F_DENY },
	{ "pg_logical_slot_get_changes", F_DENY },
	{ "pg_logical_slot_peek_binary_changes", F_DENY },
	{ "pg_logical_slot_peek_changes", F_DENY },
	{ "pg_ls_dir", F_ALLOW },
	{ "pg_ls_logdir", F_ALLOW },
	{ "pg_ls_waldir", F_ALLOW },
	{ "pg_notification_queue_usage", F_ALLOW },
	{ "pg_notify", F_DENY },
	{ "pg_postmaster_start_time", F_ALLOW },
	{ "pg_prepared_xact", F_NODE },
	{ "pg_promote", F_DENY },
	{ "pg_read_binary_file", F_ALLOW },
	{ "pg_read_file", F_ALLOW },
	{ "pg_relation_size", F_ALLOW },
	{ "pg_reload_conf", F_DENY },
	{ "pg_replication_slot_advance", F_DENY },
	{ "pg_rotate_logfile", F_DENY },
	{ "pg_safe_snapshot_blocking_pids", F_NODE },
	{ "pg_size_bytes", F_BUILTIN },
	{ "pg_size_pretty", F_BUILTIN },
	{ "pg_sleep", F_ALLOW },
	{ "pg_sleep_for", F_ALLOW },
	{ "pg_sleep_until", F_ALLOW },
	{ "pg_start_backup", F_DENY },
	{ "pg_stat_file", F_ALLOW },
	{ "pg_stat_statements", F_NODE },
	{ "pg_stat_statements_info", F_NODE },
	{ "pg_stat_statements_reset", F_DENY },
	{ "pg_stop_backup", F_DENY },
	{ "pg_switch_wal", F_DENY },
	{ "pg_table_is_visible", F_BUILTIN },
	{ "pg_table_size", F_ALLOW },
	{ "pg_tablespace_size", F_ALLOW },
	{ "pg_terminate_backend", F_DENY },
	{ "pg_total_relation_size", F_ALLOW },
	{ "pg_try_advisory_lock", F_DENY_PIN },
	{ "pg_try_advisory_lock_shared", F_DENY_PIN },
	{ "pg_try_advisory_xact_lock", F_DENY },
	{ "pg_try_advisory_xact_lock_shared", F_DENY },
	{ "pg_type_is_visible", F_BUILTIN },
	{ "pg_typeof", F_BUILTIN },
	{ "pg_wal_replay_pause", F_DENY },
	{ "pg_wal_replay_resume", F_DENY },
	{ "pg_xact_status", F_ALLOW },
	{ "phraseto_tsquery", F_BUILTIN },
	{ "pi", F_BUILTIN },
	{ "plainto_tsquery", F_BUILTIN },
	{ "position", F_BUILTIN },
	{ "power", F_BUILTIN },
	{ "quote_ident", F_BUILTIN },
	{ "quote_literal", F_BUILTIN },
	{ "quote_nullable", F_BUILTIN },
	{ "radians", F_BUILTIN },
	{ "random", F_ALLOW },
	{ "random_normal", F_ALLOW },
	{ "rank", F_BUILTIN },
	{ "regexp_count", F_BUILTIN },
	{ "regexp_instr", F_BUILTIN },
	{ "regexp_like", F_BUILTIN },
	{ "regexp_match", F_BUILTIN },
	{ "regexp_matches", F_BUILTIN },
	{ "regexp_replace", F_BUILTIN },
	{ "regexp_split_to_array", F_BUILTIN },
	{ "regexp_split_to_table", F_BUILTIN },
	{ "regexp_substr", F_BUILTIN },
	{ "repeat", F_BUILTIN },
	{ "replace", F_BUILTIN },
	{ "reverse", F_BUILTIN },
	{ "right", F_BUILTIN },
	{ "round", F_BUILTIN },
	{ "row_number", F_BUILTIN },
	{ "row_to_json", F_BUILTIN },
	{ "rpad", F_BUILTIN },
	{ "rtrim", F_BUILTIN },
	{ "set_config", F_SET_CONFIG },
	{ "setseed", F_DENY },
	{ "setval", F_DENY },
	{ "setweight", F_BUILTIN },
	{ "sha224", F_BUILTIN },
	{ "sha256", F_BUILTIN },
	{ "sha384", F_BUILTIN },
	{ "sha512", F_BUILTIN },
	{ "shobj_description", F_BUILTIN },
	{ "sign", F_BUILTIN },
	{ "similar_to_escape", F_BUILTIN },
	{ "sin", F_BUILTIN },
	{ "split_part", F_BUILTIN },
	{ "sqrt", F_BUILTIN },
	{ "starts_with", F_BUILTIN },
	{ "statement_timestamp", F_BUILTIN },
	{ "stddev", F_BUILTIN },
	{ "stddev_pop", F_BUILTIN },
	{ "stddev_samp", F_BUILTIN },
	{ "string_agg", F_BUILTIN },
	{ "string_to_array", F_BUILTIN },
	{ "strpos", F_BUILTIN },
	{ "substr", F_BUILTIN },
	{ "substring", F_BUILTIN },
	{ "sum", F_BUILTIN },
	{ "tan", F_BUILTIN },
	{ "timeofday", F_ALLOW },
	{ "timezone", F_BUILTIN },
	{ "to_char", F_BUILTIN },
	{ "to_date", F_BUILTIN },
	{ "to_hex", F_BUILTIN },
	{ "to_json", F_BUILTIN },
	{ "to_jsonb", F_BUILTIN },
	{ "to_number", F_BUILTIN },
	{ "to_regclass", F_BUILTIN },
	{ "to_regproc", F_BUILTIN },
	{ "to_regprocedure", F_BUILTIN },
	{ "to_regtype", F_BUILTIN },
	{ "to_timestamp", F_BUILTIN },
	{ "to_tsquery", F_BUILTIN },
	{ "to_tsvector", F_BUILTIN },
	{ "transaction_timestamp", F_BUILTIN },
	{ "translate", F_BUILTIN },
	{ "trim", F_BUILTIN },
	{ "trunc", F_BUILTIN },
	{ "ts_headline", F_BUILTIN },
	{ "ts_rank", F_BUILTIN },
	{ "ts_rank_cd", F_BUILTIN },
	{ "txid_current", F_DENY },
	{ "txid_current_if_assigned", F_NODE },
	{ "txid_current_snapshot", F_NODE },
	{ "txid_status", F_ALLOW },
	{ "unistr", F_BUILTIN },
	{ "unnest", F_BUILTIN },
	{ "upper", F_BUILTIN },
	{ "uuid_generate_v1", F_ALLOW_ANY },
	{ "uuid_generate_v1mc", F_ALLOW_ANY },
	{ "uuid_generate_v4", F_ALLOW_ANY },
	{ "var_pop", F_BUILTIN },
	{ "var_samp", F_BUILTIN },
	{ "variance", F_BUILTIN },
	{ "version", F_BUILTIN },
	{ "websearch_to_tsquery", F_BUILTIN },
	{ "width_bucket", F_BUILTIN },
	{ "xmlagg", F_BUILTIN },
	{ "xmlexists", F_BUILTIN },
};

/* Name prefixes covering whole function families. Sorted by strcmp. */
static const struct fn_entry fn_prefixes[] = {
	{ "dblink", F_DENY }, /* dblink_exec & co. run arbitrary remote SQL */
	{ "lo_", F_DENY }, /* large objects: create/write/unlink; lo_get needs lo state anyway */
	{ "pg_replication_origin_", F_DENY }, /* replication origin bookkeeping */
	{ "pg_stat_get_", F_NODE }, /* statistics readers: each node counts its own */
	{ "pg_stat_reset", F_DENY }, /* pg_stat_reset* */
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* bsearch comparator: key is a name, element a struct fn_entry. */
static int fn_cmp(const void *key, const void *elem)
{
	return strcmp((const char *)key, ((const struct fn_entry *)elem)->name);
}

/* Exact-name entry, or NULL. */
static const struct fn_entry *fn_find(const char *name)
{
	return bsearch(name, fn_table, N_ELEMS(fn_table), sizeof(fn_table[0]), fn_cmp);
}

/* Prefix entry matching name, or NULL. */
static const struct fn_entry *fn_find_prefix(const char *name)
{
	for (size_t i = 0; i < N_ELEMS(fn_prefixes); i++)
		if (strncmp(name, fn_prefixes[i].name, strlen(fn_prefixes[i].name)) == 0)
			return &fn_prefixes[i];
	return NULL;
}

/* True for an unqualified call or one qualified with pg_catalog. */
static bool catalog_schema(const char *schema)
{
	return schema == NULL || strcmp(schema, "pg_catalog") == 0;
}

/* Classify a call of schema.name (schema NULL if unqualified) from the built-in lists and env. */
void cls_func_lookup(const struct cls_env *env, const char *schema, const char *name, struct cls_fn_info *fi)
{
	const struct fn_entry *e = fn_find(name);
	if (e == NULL)
		e = fn_find_prefix(name);
	fi->pins = 0;
	fi->opaque = false;
	if (e && (e->kind == F_DENY || e->kind == F_DENY_PIN)) {
		fi->cls = CLS_FN_WRITE;
		fi->pins = e->kind == F_DENY_PIN ? CLS_PIN_ADVISORY : 0;
		return;
	}
	if (e && e->kind == F_SET_CONFIG) {
		fi->cls = CLS_FN_SET_CONFIG;
		return;
	}
	if (e && (e->kind == F_NODE || (e->kind == F_SETTING && catalog_schema(schema)))) {
		fi->cls = e->kind == F_NODE ? CLS_FN_NODE : CLS_FN_SETTING;
		return;
	}
	if (e && ((e->kind == F_ALLOW && catalog_schema(schema)) || e->kind == F_ALLOW_ANY)) {
		fi->cls = CLS_FN_SAFE;
		return;
	}
	char v = 0;
	if (env && env->volatility)
		v = env->volatility(env->ctx, schema, name);
	if (v == 'i' || v == 's') {
		fi->cls = CLS_FN_SAFE;
		return;
	}
	if (v == 'v') {
		fi->cls = CLS_FN_WRITE;
		fi->opaque = true;
		return;
	}
	fi->cls = (e && e->kind == F_BUILTIN && catalog_schema(schema)) ? CLS_FN_SAFE : CLS_FN_UNKNOWN;
	fi->opaque = fi->cls == CLS_FN_UNKNOWN;
}

/*
 * Views whose rows are the node's own: activity, statistics, locks, prepared
 * transactions, replication.  Matched by name in any schema (a user table of
 * that name merely goes to the primary).  pg_statistic and pg_stats are
 * replicated catalog data, so the prefixes end with "_".
 */
static const char *const node_rel_prefixes[] = { "pg_stat_", "pg_statio_" };
static const char *const node_relations[] = { "pg_locks", "pg_prepared_xacts", "pg_replication_slots" };

/* Settings a standby reports differently; "all" is SHOW ALL, which includes them. */
static const char *const node_settings[] = { "all", "default_transaction_read_only", "in_hot_standby",
	                                     "transaction_isolation", "transaction_read_only" };

/* True if name equals one of list[0..n), case-insensitively (PostgreSQL folds setting names). */
static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, list[i]) == 0)
			return true;
	return false;
}

/* True for a relation (view) name whose rows differ from node to node (pg_stat_*, pg_locks, …). */
bool cls_node_relation(const char *name)
{
	if (strncmp(name, "pg_", 3) != 0)
		return false; /* the common case, one comparison */
	for (size_t i = 0; i < N_ELEMS(node_rel_prefixes); i++)
		if (strncmp(name, node_rel_prefixes[i], strlen(node_rel_prefixes[i])) == 0)
			return true;
	for (size_t i = 0; i < N_ELEMS(node_relations); i++)
		if (strcmp(name, node_relations[i]) == 0)
			return true;
	return false;
}

/* True for a setting whose value differs on a standby (transaction_read_only, in_hot_standby, …). */
bool cls_node_setting(const char *name)
{
	return in_list(name, node_settings, N_ELEMS(node_settings));
}

/* True if the built-in tables are sorted and free of duplicates (checked by the unit test). */
bool cls_func_tables_ok(void)
{
	for (size_t i = 1; i < N_ELEMS(fn_table); i++)
		if (strcmp(fn_table[i - 1].name, fn_table[i].name) >= 0)
			return false;
	for (size_t i = 1; i < N_ELEMS(fn_prefixes); i++)
		if (strcmp(fn_prefixes[i - 1].name, fn_prefixes[i].name) >= 0)
			return false;
	return true;
}
