/* Admin console: the "pgrouter" (or "pgbouncer") database answers SHOW and control commands itself. */
#ifndef PGR_ADMIN_H
#define PGR_ADMIN_H

#include "frontend/client.h"

/* True when dbname names the admin console (and no [databases] entry of that name exists). */
bool admin_is_console(const struct config *cfg, const char *dbname);
/* Log cl in to the console if its user is in admin_users or stats_users; closes it otherwise. */
void admin_login(struct client *cl);
/* One message from a console client; returns ACT_CONSUMED or ACT_CLOSED. */
enum act admin_msg(struct client *cl, struct fe_msg *m);
/* The console's client target (admin_is_console, admin_login, admin_msg), registered at startup. */
extern const struct client_target admin_console_target;

#endif
