/* TLS contexts of a config (OpenSSL SSL_CTXs built from the *_tls_* settings when the config loads). */
#ifndef PGR_TLS_CTX_H
#define PGR_TLS_CTX_H

#include <stddef.h>
#include "config/config.h"

/* Build client- and server-side SSL_CTXs for cfg (certificates are read now); 0 or -1 with err. */
int tls_build_contexts(struct config *cfg, char *err, size_t errlen);
/* Free the contexts of cfg. */
void tls_free_contexts(struct config *cfg);
/* "what[ file]: <last OpenSSL error>" into err (pops that error from the thread's queue). */
void tls_ssl_error(char *err, size_t errlen, const char *what, const char *file);

#endif
