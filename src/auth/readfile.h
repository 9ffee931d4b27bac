/* Read a whole small configuration file into memory with a size cap. */
#ifndef PGR_AUTH_READFILE_H
#define PGR_AUTH_READFILE_H

#include <stddef.h>

/* Read path into a new NUL-terminated buffer (*buf, *len without the NUL); files
 * over max bytes are refused. Returns 0, or -1 with "path: why" in err. The caller
 * frees *buf (after wiping it if it held secrets). */
int auth_read_file(const char *path, size_t max, char **buf, size_t *len, char *err, size_t errcap);

#endif
