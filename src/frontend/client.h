/* Client connection state machine: startup, authentication, login, and the query cycle. */
#ifndef PGR_CLIENT_H
#define PGR_CLIENT_H

#include "proxy.h"

/* Take ownership of an accepted socket. */
void client_accept(struct worker *w, int fd);
/* Link cl with sv and let cl's queued input flow. */
void client_link(struct client *cl, struct server *sv);
struct authfile_entry;
/* Authenticated: find cl's pool (keeping a proven SCRAM ClientKey, and a secret auth_query returned, for
   logins toward the server) and log in. Takes ownership of looked_up->secret. */
void client_login(struct client *cl, const uint8_t *scram_client_key, struct authfile_entry *looked_up);
/* Finish the login of cl with the pool's parameters. */
void client_finish_login(struct client *cl);
/* pgrouter's SETs of cl's startup settings were answered on its server: refuse the login with the server's
   error, or give the server back and finish the login. */
void client_probe_done(struct client *cl);
/* Send an error (if msg) and close cl, releasing or closing its server. */
void client_close(struct client *cl, const char *sqlstate, const char *msg);
/* True while a safe shutdown still owes cl its first transaction: it was accepted before the listeners closed. */
bool client_shutdown_spares(const struct client *cl);
/* Handle a CancelRequest that names one of this worker's clients. */
void client_cancel_request(struct worker *w, uint32_t pid, uint32_t key);
/* The pool mode in force for cl. */
int client_pool_mode(const struct client *cl);

#endif
