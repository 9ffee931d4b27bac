/* Logging in to PostgreSQL: credentials from the database entry or auth_file, md5 and SCRAM (with passthrough). */
#include "backend/server.h"
#include "auth/authfile.h"
#include "auth/md5pw.h"
#include "auth/scram.h"
#include "io/conn.h"
#include "proto/cursor.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_OK 0
#define AUTH_CLEARTEXT 3
#define AUTH_MD5 5
#define AUTH_SASL 10
#define AUTH_SASL_CONTINUE 11
#define AUTH_SASL_FINAL 12

/* The credentials toward the server: the entry's password, else the auth_file secret of the server user. */
static void server_credentials(struct server *sv, const char **pw, const struct authfile_entry **entry)
{
	struct server_dest d;
	sv->ev->dest(sv->pool, sv->node, &d);
	const struct config *cfg = sv->c.w->cfg;
	*entry = cfg->authfile ? authfile_lookup(cfg->authfile, d.server_user) : NULL;
	if (!*entry)
		*entry = d.lookup; /* from auth_query: immutable once published */
	*pw = d.password;
	if (!*pw && *entry && (*entry)->kind == AUTH_SECRET_PLAIN && (*entry)->secret_len)
		*pw = (*entry)->secret;
}

/* The user pgrouter logs in as. */
static const char *server_user(const struct server *sv)
{
	struct server_dest d;
	sv->ev->dest(sv->pool, sv->node, &d);
	return d.server_user;
}

/* Refuse the login cleanly: the pool learns why, clients waiting to log in get the message. */
static int auth_refused(struct server *sv, const char *sqlstate, const char *msg)
{
	sv->ev->login_failed(sv, sqlstate, msg, true);
	server_close(sv, msg);
	return -1;
}

/* Start SCRAM toward the server with a password or with a client's proven ClientKey (passthrough). */
static int scram_begin(struct server *sv, const uint8_t *mechs, uint32_t n)
{
	const char *pw;
	const struct authfile_entry *e;
	server_credentials(sv, &pw, &e);
	bool offered = false;
	struct cursor c = cur_make(mechs, n);
	for (;;) {
		size_t ml;
		const char *m = cur_cstr(&c, &ml);
		if (!m || ml == 0)
			break;
		if (strcmp(m, SCRAM_MECH) == 0)
			offered = true;
	}
	if (!offered)
		return auth_refused(sv, "28000", "server offers no SASL mechanism pgrouter supports");
	sv->scram = calloc(1, sizeof *sv->scram);
	if (!sv->scram)
		return auth_refused(sv, "53200", "out of memory");
	int rc;
	uint8_t key[SCRAM_KEY_LEN];
	if (pw) {
		rc = scram_client_init_password(sv->scram, pw, strlen(pw));
	} else if (e && e->kind == AUTH_SECRET_SCRAM && sv->ev->client_key(sv, key)) {
		rc = scram_client_init_passthrough(sv->scram, &e->scram, key);
		OPENSSL_cleanse(key, sizeof key);
	} else {
		return auth_refused(
		        sv, "28P01",
		        e && e->kind == AUTH_SECRET_SCRAM
		                ? "server login needs SCRAM passthrough: no client has logged in with this user's "
		                  "password yet"
		                : "server requested a password but none is configured (password= or auth_file)");
	}
	if (rc < 0 || scram_client_first(sv->scram) < 0)
		return auth_refused(sv, "28000", "cannot start SCRAM toward the server");
	size_t ol;
	const char *out = scram_client_output(sv->scram, &ol);
	return msg_sasl_initial(conn_out(&sv->c), SCRAM_MECH, out, (uint32_t)ol);
}

/* Answer an authentication request of the server during login; 0 or -1 after closing. */
int server_auth(struct server *sv, const uint8_t *body, uint32_t n)
{
	struct cursor cur = cur_make(body, n);
	uint32_t code = cur_u32(&cur);
	if (cur.err)
		return -1;
	const char *pw;
	const struct authfile_entry *e;
	char resp[MD5PW_LEN + 1];
	size_t ol;
	const char *out;
	switch (code) {
	case AUTH_OK:
		if (sv->scram && scram_client_error(sv->scram) != SCRAM_OK)
			return auth_refused(sv, "28000", "server accepted a failed SCRAM exchange");
		return 0;
	case AUTH_CLEARTEXT:
		server_credentials(sv, &pw, &e);
		if (!pw)
			return auth_refused(sv, "28P01",
			                    "server requested a clear-text password but none is configured");
		return msg_password(conn_out(&sv->c), pw, (uint32_t)strlen(pw), true);
	case AUTH_MD5: {
		const uint8_t *salt = cur_bytes(&cur, MD5PW_SALT_LEN);
		server_credentials(sv, &pw, &e);
		const char *stored = pw ? pw : e && e->kind == AUTH_SECRET_MD5 ? e->secret : NULL;
		if (!salt || !stored || md5pw_client_response(server_user(sv), stored, strlen(stored), salt, resp) < 0)
			return auth_refused(sv, "28P01", "server requested md5 but no usable password is configured");
		return msg_password(conn_out(&sv->c), resp, MD5PW_LEN, true);
	}
	case AUTH_SASL: return scram_begin(sv, body + 4, n - 4);
	case AUTH_SASL_CONTINUE:
		if (!sv->scram || scram_client_final(sv->scram, body + 4, n - 4) < 0)
			return auth_refused(sv, "28000", "SCRAM exchange with the server failed");
		out = scram_client_output(sv->scram, &ol);
		return msg_password(conn_out(&sv->c), out, (uint32_t)ol, false);
	case AUTH_SASL_FINAL:
		if (!sv->scram || scram_client_verify(sv->scram, body + 4, n - 4) < 0) {
			/* A passthrough key that no longer fits (secret changed) must not be tried forever. */
			sv->ev->client_key_stale(sv);
			return auth_refused(sv, "28000",
			                    "server's SCRAM signature is wrong: it does not know the secret");
		}
		return 0;
	default: {
		char msg[120];
		snprintf(msg, sizeof msg, "server requested an unsupported authentication method (%u)", code);
		return auth_refused(sv, "28000", msg);
	}
	}
}
