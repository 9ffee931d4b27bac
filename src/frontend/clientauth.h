/* Client authentication: choose the method, run the exchange, verify against auth_file secrets. */
#ifndef PGR_CLIENTAUTH_H
#define PGR_CLIENTAUTH_H

#include "frontend/client.h"

/* Start authenticating cl (startup parameters are known); logs it in directly for trust. */
void clientauth_start(struct client *cl);
/* One PasswordMessage/SASL message from the client; returns ACT_CONSUMED or ACT_CLOSED. */
enum act clientauth_msg(struct client *cl, const uint8_t *body, uint32_t n);
/* auth_query answered for the client with this cancel key: continue its login (secret NULL: no such user). */
void clientauth_lookup_done(struct worker *w, uint32_t pid, uint32_t key, const char *secret, bool failed);
/* Drop exchange state (wiping secrets). */
void clientauth_free(struct client *cl);

#endif
