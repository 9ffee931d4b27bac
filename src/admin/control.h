/* Configuration changes made by the main thread for others: SIGHUP, and the console's RELOAD and SET. */
#ifndef PGR_CONTROL_H
#define PGR_CONTROL_H

#include <event2/event.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "base/list.h"

enum control_kind { CTL_RELOAD, CTL_SET };

/* One request from a worker; the main thread fills rc/err and then sets done. */
struct control_req {
	struct list node;
	enum control_kind kind;
	char key[64];
	char value[1024];
	atomic_bool done;
	int rc; /* 0, or an enum config_set_err (CTL_SET) / -1 (CTL_RELOAD) */
	char err[600];
};

/* Set up the main thread's request event on base (once, before workers start); 0 or -1. */
int control_init(struct event_base *base);
/* Release it (at exit). */
void control_free(void);
/* Queue r for the main thread (any thread); poll r->done (acquire) for the answer. r must stay alive until then. */
void control_submit(struct control_req *r);
/* Main thread: read the config file again and publish it (the SIGHUP path); 0, or -1 with err. */
int control_reload(char *err, size_t errlen);

#endif
