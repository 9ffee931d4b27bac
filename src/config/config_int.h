/* Internals shared by the config loader's files: parse state, error recording, value parsers. */
#ifndef PGR_CONFIG_INT_H
#define PGR_CONFIG_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

struct config_source;

#define CONFIG_MAX_SETTINGS 128

enum ctype { CT_INT, CT_BOOL, CT_STR, CT_DUR, CT_SIZE, CT_ENUM };
#define F_RESTART 1u /* a change needs a restart; reload keeps the old value */
#define F_SECRET 2u /* a password: logs, the console and messages show "********" (or nothing when empty) */
#define F_SECRET_URL 4u /* a URL whose user info may hold a password: that part is shown as "********" */

struct setting {
	const char *name;
	enum ctype type;
	const char *def;
	size_t off;
	int64_t min, max;
	const char *const *enums;
	unsigned flags;
};

/* The settings table, ending with a NULL name. */
extern const struct setting config_settings[];
/* PgBouncer settings pgrouter accepts and ignores with a warning, ending with NULL. */
extern const char *const config_ignored_settings[];
/* pool_mode and auth_type names in enum order, ending with NULL. */
extern const char *const config_pool_modes[], *const config_auth_types[];
/* The setting called name, or NULL. */
const struct setting *config_find_setting(const char *name);
/* Store value into the field st describes; 0, or -1 with *why. */
int config_apply_setting(struct config *cfg, const struct setting *st, const char *value, const char **why);
/* A setting's value as text, as reloads compare it (secrets included: never for output). */
void config_setting_str(const struct config *cfg, const struct setting *st, char *out, size_t n);
/* value of st as output may show it: out with the secret hidden, or value itself when st holds none. */
const char *config_redact_value(const struct setting *st, const char *value, char *out, size_t n);
/* A setting's value as output may show it (secrets redacted), into out. */
void config_setting_shown(const struct config *cfg, const struct setting *st, char *out, size_t n);

/* While parsing: the config under construction, the line reader's state and the first error. */
struct parse_state {
	struct config *cfg;
	FILE *f;
	const char *path;
	const struct config_source *src; /* maps line (in the expanded text) to a file and its line */
	int line;
	char *longvals[64];
	int nlong;
	char *err;
	size_t errlen;
	bool failed;
	int read_errno; /* set when reading the file failed (not EOF) */
	int fail_line; /* line of the first error recorded by fail() */
	int set_line[CONFIG_MAX_SETTINGS]; /* where each setting was last set */
	bool given[CONFIG_MAX_SETTINGS]; /* set by the file or a SET, not left at its default */
	bool reading_defaults;
	/* config_check: every problem goes to report and parsing goes on (NULL: stop at the first one) */
	void (*report)(void *arg, const char *problem);
	void *report_arg;
	int nproblems;
};

/* Record the first error as "file:line: key: problem"; returns 0 (inih's "stop"). */
int config_fail(struct parse_state *ps, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The file and line in it of ps->line (the main file and 0 for a line outside the text). */
void config_where(const struct parse_state *ps, const char **file, int *line);
/* Strict integer; 0 or -1. */
int config_parse_int(const char *s, int64_t *out);
/* enum pool_mode for a name, or -1. */
int config_pool_mode(const char *name);
/* One [databases] entry "host=… port=… replicas=…"; 1, or 0 after config_fail(). */
int config_parse_db(struct parse_state *ps, const char *name, const char *value);
/* One [routes] rule "application_name=… target=…"; 1, or 0 after config_fail(). */
int config_parse_route(struct parse_state *ps, const char *name, const char *value);

#endif
