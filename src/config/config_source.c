/* The config text as the ini parser reads it: %include directives expanded in place, each line's origin kept. */
#include "config/config_source.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_MAX (64u << 20) /* one file */
#define TOTAL_MAX (64u << 20) /* everything expanded: a file included many times cannot grow without bound */
#define FILES_MAX 10000 /* %include reads, counting repeats: nested repeats cannot take forever */

/* The source being built, and the chain of files open right now (to tell a loop from a repeated include). */
struct builder {
	struct config_source *src;
	size_t cap, lines_cap;
	struct stat chain[CONFIG_INCLUDE_DEPTH + 1];
	char *err;
	size_t errlen;
};

/* The whole file as one NUL-terminated string, and its identity; NULL with errno set and *opened telling
   whether it could be opened at all. */
static char *slurp(const char *path, size_t *len, struct stat *st, bool *opened)
{
	FILE *f = fopen(path, "r");
	*opened = f != NULL;
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 1 >= cap) {
			char *nb = cap > FILE_MAX ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				errno = cap > FILE_MAX ? EFBIG : ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	/* A directory opens fine but cannot be read: never run on defaults instead. */
	int saved = errno;
	if (buf && (ferror(f) || fstat(fileno(f), st) < 0)) {
		saved = errno ? errno : EIO;
		free(buf);
		buf = NULL;
	}
	fclose(f);
	errno = saved;
	if (buf) {
		buf[n] = 0;
		*len = n;
	}
	return buf;
}

/* Record a problem at file:line of the source being built, as "file:line: %include: problem"; returns -1. */
static int fail_at(struct builder *b, int file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_at(struct builder *b, int file, int line, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(b->err, b->errlen, "%s:%d: %%include: %s", b->src->files[file], line, msg);
	return -1;
}

/* Append one line (without its '\n') and where it came from; -1 when out of memory or too large. */
static int add_line(struct builder *b, const char *line, size_t n, int file, int line_no)
{
	struct config_source *s = b->src;
	if (s->len + n + 1 > TOTAL_MAX)
		return -1;
	while (s->len + n + 2 > b->cap) {
		char *t = realloc(s->text, b->cap * 2);
		if (!t)
			return -1;
		s->text = t;
		b->cap *= 2;
	}
	if ((size_t)s->nlines == b->lines_cap) {
		struct config_origin *o = realloc(s->origin, b->lines_cap * 2 * sizeof *o);
		if (!o)
			return -1;
		s->origin = o;
		b->lines_cap *= 2;
	}
	memcpy(s->text + s->len, line, n);
	s->len += n;
	s->text[s->len++] = '\n';
	s->text[s->len] = 0;
	s->origin[s->nlines++] = (struct config_origin){ file, line_no };
	return 0;
}

/* Remember a file's name for messages; its index, or -1. */
static int add_file(struct builder *b, const char *path)
{
	struct config_source *s = b->src;
	if (s->nfiles == FILES_MAX)
		return -1;
	char **f = realloc(s->files, ((size_t)s->nfiles + 1) * sizeof *f);
	if (!f)
		return -1;
	s->files = f;
	if (!(f[s->nfiles] = strdup(path)))
		return -1;
	return s->nfiles++;
}

/* When line is "%include NAME" (blanks around), copies NAME into name and returns 1; 0 for any other line;
   -1 for "%include" with no name. */
static int include_name(const char *line, size_t n, char *name, size_t cap)
{
	size_t i = 0;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (n - i < 8 || memcmp(line + i, "%include", 8) != 0)
		return 0;
	i += 8;
	if (i < n && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
		return 0;
	while (i < n && isspace((unsigned char)line[i]))
		i++;
	while (n > i && isspace((unsigned char)line[n - 1]))
		n--;
	if (n == i || n - i >= cap)
		return -1;
	memcpy(name, line + i, n - i);
	name[n - i] = 0;
	return 1;
}

static int expand(struct builder *b, const char *path, int depth, int from_file, int from_line);

/* Expand the lines of one file (index file, open at depth); 0 or -1 with the error recorded. */
static int expand_lines(struct builder *b, const char *text, size_t len, int file, int depth)
{
	/* A byte-order mark is not part of the first line, in any file. */
	size_t pos = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	for (int line_no = 1; pos < len; line_no++) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char name[4096];
		int inc = include_name(text + pos, n, name, sizeof name);
		if (inc < 0)
			return fail_at(b, file, line_no, "expected a file name");
		if (inc > 0 && depth == CONFIG_INCLUDE_DEPTH)
			return fail_at(b, file, line_no, "%s: includes nested more than %d levels deep", name,
			               CONFIG_INCLUDE_DEPTH);
		if (inc > 0 ? expand(b, name, depth + 1, file, line_no) < 0
		            : add_line(b, text + pos, n, file, line_no) < 0) {
			if (!b->err[0])
				snprintf(b->err, b->errlen,
				         "%s:%d: too large (more than %u MB with what it includes), or out of "
				         "memory",
				         b->src->files[file], line_no, TOTAL_MAX >> 20);
			return -1;
		}
		pos += n + 1;
	}
	return 0;
}

/* Read path at depth (0: the main file) and append its expanded lines; 0 or -1 with the error recorded. */
static int expand(struct builder *b, const char *path, int depth, int from_file, int from_line)
{
	size_t len = 0;
	struct stat st;
	bool opened;
	char *text = slurp(path, &len, &st, &opened);
	if (!text) {
		const char *what = opened ? "read" : "open";
		if (depth == 0)
			snprintf(b->err, b->errlen, "%s: cannot %s config file: %s", path, what, strerror(errno));
		else
			fail_at(b, from_file, from_line, "%s: cannot %s: %s", path, what, strerror(errno));
		return -1;
	}
	for (int i = 0; i < depth; i++)
		if (b->chain[i].st_dev == st.st_dev && b->chain[i].st_ino == st.st_ino) {
			free(text);
			return fail_at(b, from_file, from_line, "%s: include loop (that file is already being read)",
			               path);
		}
	b->chain[depth] = st;
	int file = add_file(b, path);
	int rc = file < 0 ? -1 : expand_lines(b, text, len, file, depth);
	if (file < 0 && depth == 0)
		snprintf(b->err, b->errlen, "%s: out of memory", path);
	else if (file < 0)
		fail_at(b, from_file, from_line, "%s: more than %d files read, or out of memory", path, FILES_MAX);
	free(text);
	return rc;
}

struct config_source *config_source_read(const char *path, char *err, size_t errlen)
{
	struct builder b = { .cap = 4096, .lines_cap = 64, .err = err, .errlen = errlen };
	err[0] = 0;
	b.src = calloc(1, sizeof *b.src);
	if (b.src) {
		atomic_init(&b.src->refcount, 1);
		b.src->text = malloc(b.cap);
		b.src->origin = malloc(b.lines_cap * sizeof *b.src->origin);
	}
	if (!b.src || !b.src->text || !b.src->origin) {
		snprintf(err, errlen, "%s: out of memory", path);
		config_source_put(b.src);
		return NULL;
	}
	b.src->text[0] = 0;
	if (expand(&b, path, 0, 0, 0) < 0) {
		config_source_put(b.src);
		return NULL;
	}
	return b.src;
}

void config_source_where(const struct config_source *src, int line, const char **file, int *file_line)
{
	if (line < 1 || line > src->nlines) {
		*file = src->files[0];
		*file_line = 0;
		return;
	}
	*file = src->files[src->origin[line - 1].file];
	*file_line = src->origin[line - 1].line;
}

struct config_source *config_source_get(struct config_source *src)
{
	atomic_fetch_add(&src->refcount, 1);
	return src;
}

void config_source_put(struct config_source *src)
{
	if (!src || atomic_fetch_sub(&src->refcount, 1) != 1)
		return;
	for (int i = 0; i < src->nfiles; i++)
		free(src->files[i]);
	free(src->files);
	free(src->origin);
	free(src->text);
	free(src);
}
