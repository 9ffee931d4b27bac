/* Internals shared by the config loader's files: parse state, error recording, value parsers. */
#ifndef PGR_CONFIG_INT_H
#define PGR_CONFIG_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct config_source;

#define CONFIG_MAX_SETTINGS 128

/* While parsing: the config under construction, the line reader's state and the first error. */
struct parse_state {
	struct config *cfg;
	FILE *f;
	const char *path;
	const struct config_source *src;   /* maps line (in the expanded text) to a file and its line */
	int line;
	char *longvals[64];
	int nlong;
	char *err;
	size_t errlen;
	bool failed;
	int read_errno;                /* set when reading the file failed (not EOF) */
	int fail_line;                 /* line of the first error recorded by fail() */
	int set_line[CONFIG_MAX_SETTINGS]; /* where each setting was last set */
	bool given[CONFIG_MAX_SETTINGS];   /* set by the file or a SET, not left at its default */
	bool reading_defaults;
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
