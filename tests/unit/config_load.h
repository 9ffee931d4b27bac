/* Config-loading helpers shared by the config unit tests: load text as a file, read what the log received. */
#ifndef PGR_TEST_CONFIG_LOAD_H
#define PGR_TEST_CONFIG_LOAD_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

/* Where log lines go during the test, so that messages can be checked. */
static char log_path[64];

/* Write text into a new mkstemp file; path receives its name. */
static inline void write_tmp(char path[64], const char *text)
{
	snprintf(path, 64, "/tmp/pgr_cfg_test_XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n) {
		perror("write");
		exit(2);
	}
	close(fd);
}

/* Replace every occurrence of the temp path in msg with "F", so expected messages can be written out. */
static inline void mask_path(char *msg, const char *path)
{
	size_t pl = strlen(path);
	for (char *p; (p = strstr(msg, path));) {
		*p = 'F';
		memmove(p + 1, p + pl, strlen(p + pl) + 1);
	}
}

/* Load text as a config file; NULL on failure, with the masked message in err_out. */
static inline struct config *load_text(const char *text, char *err_out, size_t errlen)
{
	char path[64];
	write_tmp(path, text);
	err_out[0] = 0;
	struct config *c = config_load(path, err_out, errlen);
	mask_path(err_out, path);
	unlink(path);
	return c;
}

/* Load text expecting success; reports the message and returns NULL on failure. */
static inline struct config *load_ok(const char *text)
{
	char err[1024];
	struct config *c = load_text(text, err, sizeof err);
	if (!c)
		fprintf(stderr, "unexpected config error: %s\n", err);
	return c;
}

/* Load text expecting failure; the masked message, or "loaded" when it loaded. */
static inline const char *load_err(const char *text)
{
	static char err[1024];
	struct config *c = load_text(text, err, sizeof err);
	if (c) {
		config_put(c);
		return "loaded";
	}
	return err;
}

/* Everything the log file received since offset *off (advances *off). */
static inline const char *log_since(long *off)
{
	static char buf[16384];
	FILE *f = fopen(log_path, "r");
	size_t n = 0;
	if (f) {
		fseek(f, *off, SEEK_SET);
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[n] = 0;
	*off += (long)n;
	return buf;
}

/* Current end of the log file. */
static inline long log_end(void)
{
	FILE *f = fopen(log_path, "r");
	long off = 0;
	if (f && fseek(f, 0, SEEK_END) == 0)
		off = ftell(f);
	if (f)
		fclose(f);
	return off;
}

#endif
