/* The config text as the ini parser reads it: %include directives expanded in place, each line's origin kept. */
#ifndef PGR_CONFIG_SOURCE_H
#define PGR_CONFIG_SOURCE_H

#include <stdatomic.h>
#include <stddef.h>

#define CONFIG_INCLUDE_DEPTH 10 /* PgBouncer's limit: how many %include levels may nest */

/* Where one line of the expanded text was written. */
struct config_origin {
	int file; /* index into files */
	int line; /* 1-based, in that file */
};

/* Immutable once read; shared by every config parsed from it (a SET re-parses it without re-reading files). */
struct config_source {
	atomic_int refcount;
	char *text; /* the expanded lines, each ending in '\n' */
	size_t len;
	int nlines;
	struct config_origin *origin; /* origin[i] is where expanded line i + 1 came from */
	int nfiles;
	char **files; /* files[0] is the main file; the rest as their %include named them */
};

/* Read path and every file it includes; NULL with "file:line: %include: problem" (or the main file's error). */
struct config_source *config_source_read(const char *path, char *err, size_t errlen);
/* The file and line of expanded line (1-based); line 0 or out of range gives the main file and 0. */
void config_source_where(const struct config_source *src, int line, const char **file, int *file_line);
/* Take a reference. */
struct config_source *config_source_get(struct config_source *src);
/* Drop a reference; the last one frees it. NULL is fine. */
void config_source_put(struct config_source *src);

#endif
