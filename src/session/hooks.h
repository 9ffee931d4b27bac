/* The session layer's handlers for the lower layers' events tables, registered once at startup. */
#ifndef PGR_SESSION_HOOKS_H
#define PGR_SESSION_HOOKS_H

/* Register the session's handling of linked server connections with the backend (before any worker runs). */
void server_link_init(void);
/* Register what a client does when its pool queues, serves or fails it (before any worker runs). */
void client_waiter_init(void);

#endif
