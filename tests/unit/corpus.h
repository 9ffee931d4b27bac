/* The classifier corpus (tests/unit/corpus/classify.corpus) loaded for the unit tests that walk it. */
#ifndef PGR_TEST_CORPUS_H
#define PGR_TEST_CORPUS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CORPUS 2048
#define SQL_MAX 4096

struct corpus_line {
	int lineno;
	char *header;
	char *sql;
	size_t len;
};

static struct corpus_line corpus[MAX_CORPUS];
static int n_corpus;

/* Replace {NL}, {TAB} in place; returns the new length. */
static size_t unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (strncmp(r, "{NL}", 4) == 0) {
			*w++ = '\n';
			r += 4;
		} else if (strncmp(r, "{TAB}", 5) == 0) {
			*w++ = '\t';
			r += 5;
		} else if (strncmp(r, "{SP}", 4) == 0) {
			*w++ = ' ';
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = 0;
	return (size_t)(w - s);
}

/* Path of the corpus next to this source file (or $PGR_CLASSIFY_CORPUS). */
static void corpus_path(char *buf, size_t cap)
{
	const char *env = getenv("PGR_CLASSIFY_CORPUS");
	if (env) {
		snprintf(buf, cap, "%s", env);
		return;
	}
	const char *slash = strrchr(__FILE__, '/');
	int dir = slash ? (int)(slash - __FILE__ + 1) : 0;
	snprintf(buf, cap, "%.*scorpus/classify.corpus", dir, __FILE__);
}

/* Load every statement line of the corpus into memory. */
static bool load_corpus(void)
{
	char path[1024], line[SQL_MAX];
	corpus_path(path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "cannot open corpus %s\n", path);
		return false;
	}
	int lineno = 0;
	while (fgets(line, sizeof(line), f) && n_corpus < MAX_CORPUS) {
		lineno++;
		line[strcspn(line, "\n")] = 0;
		char *bar = strstr(line, " | ");
		if (line[0] == '#' || bar == NULL)
			continue;
		*bar = 0;
		struct corpus_line *c = &corpus[n_corpus++];
		c->lineno = lineno;
		c->header = strdup(line);
		c->sql = strdup(bar + 3);
		c->len = unescape(c->sql);
	}
	fclose(f);
	return true;
}


#endif
