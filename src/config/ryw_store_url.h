/* consistency_store URLs (redis://host[:port]): checked by the config loader, used by the store client. */
#ifndef PGR_RYW_STORE_URL_H
#define PGR_RYW_STORE_URL_H

#include <stddef.h>

/* Split "redis://host[:port]" (port 6379 by default; [v6addr] allowed); 0, or -1 when malformed. */
int ryw_store_parse_url(const char *url, char *host, size_t hostlen, int *port);

#endif
