/* HTTP listener: /metrics (Prometheus text), /status (JSON) and / (the status page), in a thread of its own. */
#ifndef PGR_HTTP_H
#define PGR_HTTP_H

#include "config/config.h"

/* Listen on http_addr:http_port and serve from a new thread (nothing when http_port is 0); 0 or -1 with err. */
int http_start(const struct config *cfg, char *err, size_t errlen);
/* Stop serving and release the listener (main thread, at exit). */
void http_stop(void);

/* The status page: one self-contained HTML document (src/admin/status_page.html, built in). */
extern const char http_page_html[];

#endif
