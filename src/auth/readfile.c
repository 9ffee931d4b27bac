/* Read a whole small configuration file into memory with a size cap. */
#include "auth/readfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Grow the buffer geometrically while reading, never past max + 1 bytes. */
int auth_read_file(const char *path, size_t max, char **buf, size_t *len, char *err, size_t errcap)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	const char *why = NULL;
	while (b) {
		if (n == cap - 1) {
			if (cap - 1 > max) {
				why = "file too large";
				break;
			}
			/* Wipe before realloc moves it: the file may hold secrets. */
			char *nb = malloc(cap * 2);
			if (nb)
				memcpy(nb, b, n);
			OPENSSL_cleanse(b, n);
			free(b);
			b = nb;
			cap *= 2;
			continue;
		}
		size_t r = fread(b + n, 1, cap - 1 - n, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				why = "read error";
			break;
		}
	}
	fclose(f);
	if (!b)
		why = "out of memory";
	else if (!why && n > max)
		why = "file too large";
	if (why) {
		snprintf(err, errcap, "%s: %s", path, why);
		if (b)
			OPENSSL_cleanse(b, n);
		free(b);
		return -1;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}
