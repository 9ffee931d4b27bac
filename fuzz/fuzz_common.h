/* Shared helpers for the libFuzzer targets: property checks, input splitting and a file sandbox. */
#ifndef PGR_FUZZ_COMMON_H
#define PGR_FUZZ_COMMON_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A violated property is a finding: abort so that libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                  \
	do {                                                                                  \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                      \
		}                                                                                 \
	} while (0)

/* One piece of the fuzz input; not NUL-terminated. */
struct fuzz_part {
	const uint8_t *p;
	size_t n;
};

/* Cut [*pos, size) at the next NUL: the bytes before it become *out and *pos moves past
 * the NUL. With last set, the whole remainder (NULs included) is taken. False once the
 * input is used up (the previous part ran to the end without a NUL), so a missing
 * message differs from an empty one: a NUL at the very end yields one more, empty, part. */
static inline bool fuzz_next_part(const uint8_t *data, size_t size, size_t *pos, bool last,
                                  struct fuzz_part *out)
{
	if (*pos > size)
		return false;
	const uint8_t *start = data + *pos;
	size_t left = size - *pos;
	const uint8_t *nul = last ? NULL : memchr(start, 0, left);
	out->p = start;
	out->n = nul ? (size_t)(nul - start) : left;
	*pos += out->n + 1; /* past the NUL, or past the end when there was none */
	return true;
}

/* A heap copy of exactly n bytes, so that ASan flags any read past the end even where
 * more fuzz input follows in the original buffer; abort on OOM. */
static inline uint8_t *fuzz_memdup(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	FUZZ_CHECK(c != NULL);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* A heap copy of a part with a terminating NUL (so that libc string functions stay in
 * bounds and ASan sees exactly the bytes that exist); abort on OOM. */
static inline char *fuzz_strdup(const struct fuzz_part *part)
{
	char *s = malloc(part->n + 1);
	FUZZ_CHECK(s != NULL);
	if (part->n)
		memcpy(s, part->p, part->n);
	s[part->n] = '\0';
	return s;
}

/* True when the NUL-terminated string s lies entirely inside [base, base + n). Parsers
 * return pointers into their input; this is how the targets prove they stay in it. */
static inline bool fuzz_str_inside(const char *s, const void *base, size_t n)
{
	const char *b = base;
	if (!s || s < b || s >= b + n)
		return false;
	return memchr(s, 0, (size_t)(b + n - s)) != NULL;
}

/* Directory that holds the files a fuzzed configuration may name. */
struct fuzz_sandbox {
	char dir[PATH_MAX];   /* the sandbox root, removed at exit */
	char files[PATH_MAX]; /* root/files: the working directory while loading */
	int home;             /* the fuzzer's own working directory, to return to */
};

/* Write len bytes to path (replacing it); abort on failure since nothing works without it. */
static inline void fuzz_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(len == 0 || fwrite(buf, 1, len, f) == len);
	FUZZ_CHECK(fclose(f) == 0);
}

/* Delete dir and everything below it without following symlinks (used on our own sandbox only). */
static inline void fuzz_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char path[PATH_MAX];
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			fuzz_remove_dir(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Create <base>/pgrouter-fuzz-XXXXXX/files; abort on failure. The base is
 * $FUZZ_SANDBOX_BASE (fuzz/run.sh points it at a directory it deletes afterwards,
 * since a crashing fuzzer exits without running atexit handlers), else tmpfs
 * /dev/shm when present (speed), else /tmp. */
static inline void fuzz_sandbox_make(struct fuzz_sandbox *sb)
{
	const char *base = getenv("FUZZ_SANDBOX_BASE");
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(sb->dir, sizeof sb->dir, "%s/pgrouter-fuzz-XXXXXX", base);
	FUZZ_CHECK(mkdtemp(sb->dir) != NULL);
	snprintf(sb->files, sizeof sb->files, "%s/files", sb->dir);
	FUZZ_CHECK(mkdir(sb->files, 0700) == 0);
	sb->home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_CHECK(sb->home >= 0);
}

/* Make the sandbox's files directory the working directory, so that relative names in
 * the input resolve there. Only for the duration of one load: libFuzzer itself reads
 * corpus paths relative to its own working directory. */
static inline void fuzz_sandbox_enter(const struct fuzz_sandbox *sb)
{
	FUZZ_CHECK(chdir(sb->files) == 0);
}

/* Return to the fuzzer's working directory. */
static inline void fuzz_sandbox_leave(const struct fuzz_sandbox *sb)
{
	FUZZ_CHECK(fchdir(sb->home) == 0);
}

/* Replace every '/' with '_' so that file names in fuzzed text can only name files in
 * the working directory (the sandbox): never /dev/zero, a FIFO or the fuzz input itself. */
static inline void fuzz_confine_paths(char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '/')
			buf[i] = '_';
}

#endif
