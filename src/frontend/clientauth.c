/* Client authentication: choose the method, run the exchange, verify against auth_file secrets. */
#include "frontend/clientauth.h"
#include "auth/authfile.h"
#include "auth/hba.h"
#include "auth/md5pw.h"
#include "auth/scram.h"
#include "frontend/client.h"
#include "io/conn.h"
#include "base/log.h"
#include "io/wmetrics.h"
#include "proto/cursor.h"
#include "io/tls.h"
#include "cluster/catalog.h"
#include "auth/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/socket.h>

#define AUTH_REQ_OK 0
#define AUTH_REQ_PASSWORD 3
#define AUTH_REQ_MD5 5
#define AUTH_REQ_SASL 10
#define AUTH_REQ_SASL_CONTINUE 11
#define AUTH_REQ_SASL_FINAL 12

/* Exchange state, allocated for the few round trips of a login only. */
struct client_auth {
	struct config *cfg; /* keeps the secrets alive across a reload */
	enum hba_method method;
	bool looking_up; /* waiting for auth_query's answer */
	struct authfile_entry looked_up; /* the secret auth_query returned (owned) */
	const struct authfile_entry *entry; /* NULL: unknown user (the exchange still runs, then fails) */
	uint8_t salt[MD5PW_SALT_LEN];
	int step;
	struct scram_server scram;
};

void clientauth_free(struct client *cl)
{
	struct client_auth *a = cl->auth;
	if (!a)
		return;
	scram_server_wipe(&a->scram);
	if (a->looked_up.secret) {
		OPENSSL_cleanse(a->looked_up.secret, a->looked_up.secret_len);
		free(a->looked_up.secret);
	}
	config_put(a->cfg);
	OPENSSL_cleanse(a, sizeof *a);
	free(a);
	cl->auth = NULL;
}

/* Every failure looks the same to the client: an unknown user learns nothing a wrong password would not. */
static enum act auth_fail(struct client *cl, const char *why)
{
	char user[80], msg[200];
	log_sanitize(user, sizeof user, cl->user, strlen(cl->user));
	log_warn(cl->c.prefix, "authentication failed: user=%s db=%s method=%s reason=%s", user, cl->dbname,
	         hba_method_name(cl->auth ? cl->auth->method : HBA_METHOD_REJECT), why);
	snprintf(msg, sizeof msg, "password authentication failed for user \"%s\"", user);
	metrics_auth_failure(cl->c.w);
	clientauth_free(cl);
	client_close(cl, "28P01", msg);
	return ACT_CLOSED;
}

/* Success: forget the exchange and continue with the login. */
static enum act auth_ok(struct client *cl)
{
	struct client_auth *a = cl->auth;
	uint8_t key[SCRAM_KEY_LEN];
	bool have_key = a && a->method == HBA_METHOD_SCRAM && a->entry && a->entry->kind == AUTH_SECRET_SCRAM &&
	        scram_server_client_key(&a->scram, key) == 0;
	/* A secret from auth_query is what the server itself stores: keep it for logins toward it. */
	struct authfile_entry looked;
	bool from_query = a && a->entry == &a->looked_up;
	if (from_query) {
		looked = a->looked_up;
		a->looked_up.secret = NULL; /* ownership moves to client_login's pool */
	}
	clientauth_free(cl);
	client_set_state(cl, CL_AUTH);
	client_login(cl, have_key ? key : NULL, from_query ? &looked : NULL);
	OPENSSL_cleanse(key, sizeof key);
	return cl->c.closing ? ACT_CLOSED : ACT_CONSUMED;
}

/* The method for this login: auth_type, or the first matching auth_hba_file line. */
static enum hba_method pick_method(struct client *cl, const struct config *cfg, int *hba_line)
{
	*hba_line = 0;
	switch (cfg->auth_type) {
	case AUTH_TRUST:
	case AUTH_ANY: return HBA_METHOD_TRUST;
	case AUTH_PLAIN: return HBA_METHOD_PASSWORD;
	case AUTH_MD5: return HBA_METHOD_MD5;
	case AUTH_SCRAM: return HBA_METHOD_SCRAM;
	case AUTH_CERT: return HBA_METHOD_CERT;
	case AUTH_HBA: {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		struct hba_result r = { HBA_METHOD_REJECT, 0 };
		bool ok = getpeername(cl->c.fd, (struct sockaddr *)&ss, &sl) == 0;
		enum hba_conn_type t = ok && ss.ss_family == AF_UNIX ? HBA_CONN_LOCAL : HBA_CONN_HOST;
		hba_match(cfg->hba, t, cl->c.tls != NULL, cl->dbname, cl->user, ok ? (struct sockaddr *)&ss : NULL, &r);
		*hba_line = r.line;
		return r.method;
	}
	default: return HBA_METHOD_REJECT;
	}
}

/* Send an authentication request and flush it. */
static void send_request(struct client *cl, uint32_t code, const void *data, uint32_t n)
{
	if (msg_auth(conn_out(&cl->c), code, data, n) == 0)
		conn_flush_out(&cl->c);
}

/* Begin SCRAM: with the user's SCRAM secret, one derived from a clear-text secret, or a doomed mock. */
static int start_scram(struct client *cl, struct client_auth *a)
{
	const struct authfile_entry *e = a->entry;
	int rc;
	/* Over TLS, offer channel binding to our certificate (tls-server-end-point), as PostgreSQL does. */
	uint8_t cb[SCRAM_MAX_CBIND];
	size_t cbl = 0;
	X509 *cert = cl->c.tls ? SSL_get_certificate(cl->c.tls) : NULL;
	const uint8_t *cbind = cert && scram_tls_endpoint_hash(cert, cb, &cbl) == 0 ? cb : NULL;
	if (e && e->kind == AUTH_SECRET_SCRAM) {
		rc = scram_server_init(&a->scram, &e->scram, cbind, cbl);
	} else if (e && e->kind == AUTH_SECRET_PLAIN && e->secret_len) {
		struct scram_secret sec;
		uint8_t salt[16];
		/* The same per-user salt a doomed exchange would show: the salt must not tell known from unknown. */
		rc = scram_mock_salt(g_shared.mock_key, cl->user, salt, sizeof salt);
		if (rc == 0)
			rc = scram_secret_from_password(e->secret, e->secret_len, salt, sizeof salt,
			                                SCRAM_DEFAULT_ITERATIONS, &sec, NULL);
		if (rc == 0)
			rc = scram_server_init(&a->scram, &sec, cbind, cbl);
		OPENSSL_cleanse(&sec, sizeof sec);
	} else {
		/* Unknown user, or an md5 secret SCRAM cannot use: looks real, fails at the proof. */
		rc = scram_server_init_doomed(&a->scram, g_shared.mock_key, cl->user, cbind, cbl);
	}
	if (rc < 0)
		return -1;
	static const char mechs[] = SCRAM_MECH "\0";
	static const char mechs_plus[] = SCRAM_MECH_PLUS "\0" SCRAM_MECH "\0";
	if (cbind)
		send_request(cl, AUTH_REQ_SASL, mechs_plus, sizeof mechs_plus);
	else
		send_request(cl, AUTH_REQ_SASL, mechs, sizeof mechs);
	return 0;
}

static void begin_exchange(struct client *cl, struct client_auth *a);

/* Certificate authentication: the verified client certificate's CN must equal the user name. */
static void clientauth_cert(struct client *cl)
{
	char cn[256];
	if (!cl->c.tls || tls_peer_cn(&cl->c, cn, sizeof cn) < 0) {
		auth_fail(cl, "cert authentication needs a TLS connection with a verified client certificate");
		return;
	}
	if (strcmp(cn, cl->user) != 0) {
		auth_fail(cl, "certificate CN does not match the user name");
		return;
	}
	auth_ok(cl);
}

/* Peer authentication (auth_hba_file "local ... peer"): the Unix user at the other end of the socket, as the
   kernel reports it, must have the requested user's name. */
static void clientauth_peer(struct client *cl)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(cl->c.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		auth_fail(cl, "peer authentication needs a Unix-socket connection");
		return;
	}
	struct passwd pw, *found = NULL;
	char buf[1024];
	if (getpwuid_r(cred.uid, &pw, buf, sizeof buf, &found) != 0 || !found) {
		auth_fail(cl, "peer authentication: the connecting process's user id has no name");
		return;
	}
	if (strcmp(found->pw_name, cl->user) != 0) {
		auth_fail(cl, "peer authentication: the Unix user does not match the user name");
		return;
	}
	auth_ok(cl);
}

void clientauth_start(struct client *cl)
{
	struct worker *w = cl->c.w;
	int line;
	enum hba_method m = pick_method(cl, w->cfg, &line);
	if (m == HBA_METHOD_TRUST) {
		client_login(cl, NULL, NULL);
		return;
	}
	if (m == HBA_METHOD_PEER) {
		clientauth_peer(cl);
		return;
	}
	if (m == HBA_METHOD_REJECT) {
		char user[80], msg[300];
		log_sanitize(user, sizeof user, cl->user, strlen(cl->user));
		snprintf(msg, sizeof msg, "no pg_hba.conf entry allows user \"%s\", database \"%s\"%s", user,
		         cl->dbname, cl->c.tls ? ", SSL encryption" : ", no encryption");
		log_warn(cl->c.prefix, "rejected by auth_hba_file (line %d): user=%s db=%s", line, user, cl->dbname);
		metrics_auth_failure(w);
		client_close(cl, "28000", msg);
		return;
	}
	struct client_auth *a = calloc(1, sizeof *a);
	if (!a) {
		client_close(cl, "53200", "out of memory");
		return;
	}
	cl->auth = a;
	a->cfg = config_get(w->cfg);
	a->entry = a->cfg->authfile ? authfile_lookup(a->cfg->authfile, cl->user) : NULL;
	a->method = m;
	client_set_state(cl, CL_AUTH);
	/* Not in auth_file: ask the server with auth_query, as auth_user (never for auth_user itself). */
	const struct dbconf *db = config_find_db(a->cfg, cl->dbname);
	const char *auth_user = db && db->auth_user ? db->auth_user : a->cfg->auth_user;
	bool needs_secret = m == HBA_METHOD_PASSWORD || m == HBA_METHOD_MD5 || m == HBA_METHOD_SCRAM;
	if (!a->entry && needs_secret && auth_user && *auth_user && strcmp(auth_user, cl->user) != 0 &&
	    catalog_auth_lookup(w, cl->dbname, cl->user, cl->cancel_pid, cl->cancel_key, auth_user) == 0) {
		a->looking_up = true;
		return;
	}
	begin_exchange(cl, a);
}

/* Send the request of the chosen method (the user's secret, if any, is known by now). */
static void begin_exchange(struct client *cl, struct client_auth *a)
{
	enum hba_method m = a->method;
	/* As PostgreSQL: md5 with a SCRAM secret upgrades to SCRAM. An unknown user gets what most known users
	   get (PostgreSQL uses password_encryption for this), so that the request reveals as little as possible. */
	if (m == HBA_METHOD_MD5 && a->entry && a->entry->kind == AUTH_SECRET_SCRAM)
		m = HBA_METHOD_SCRAM;
	const struct dbconf *db = config_find_db(a->cfg, cl->dbname);
	bool query_users = (a->cfg->auth_user && *a->cfg->auth_user) || (db && db->auth_user); /* PG 15 stores SCRAM */
	if (m == HBA_METHOD_MD5 && !a->entry && (a->cfg->authfile_mostly_scram || !a->cfg->authfile || query_users))
		m = HBA_METHOD_SCRAM;
	a->method = m;
	switch (m) {
	case HBA_METHOD_PASSWORD: send_request(cl, AUTH_REQ_PASSWORD, NULL, 0); return;
	case HBA_METHOD_MD5:
		if (RAND_bytes(a->salt, sizeof a->salt) != 1) {
			auth_fail(cl, "no randomness");
			return;
		}
		send_request(cl, AUTH_REQ_MD5, a->salt, sizeof a->salt);
		return;
	case HBA_METHOD_SCRAM:
		if (start_scram(cl, a) < 0)
			auth_fail(cl, "cannot start SCRAM");
		return;
	case HBA_METHOD_CERT: clientauth_cert(cl); return;
	default: auth_fail(cl, "unsupported method"); return;
	}
}

void clientauth_lookup_done(struct worker *w, uint32_t pid, uint32_t key, const char *secret, bool failed)
{
	struct list *it, *tmp;
	list_for_each_safe(it, tmp, &w->clients)
	{
		struct client *cl = list_entry(it, struct client, all_node);
		if (cl->cancel_pid != pid || cl->cancel_key != key)
			continue;
		struct client_auth *a = cl->auth;
		if (!a || !a->looking_up || cl->state != CL_AUTH)
			return;
		a->looking_up = false;
		if (failed) {
			client_close(cl, "08006", "authentication lookup (auth_query) failed; see pgrouter's log");
			return;
		}
		if (secret && *secret) {
			struct authfile_entry *e = &a->looked_up;
			e->secret = strdup(secret);
			e->secret_len = strlen(secret);
			e->kind = auth_secret_kind(secret, e->secret_len);
			if (e->secret && e->kind != AUTH_SECRET_INVALID &&
			    (e->kind != AUTH_SECRET_SCRAM || scram_secret_parse(secret, e->secret_len, &e->scram) == 0))
				a->entry = e;
		}
		begin_exchange(cl, a);
		return;
	}
}

/* A NUL-terminated password in a PasswordMessage. */
static const char *password_of(const uint8_t *body, uint32_t n, size_t *len)
{
	struct cursor c = cur_make(body, n);
	const char *pw = cur_cstr(&c, len);
	return pw && cur_done(&c) ? pw : NULL;
}

/* SASLInitialResponse: mechanism, then a length-prefixed client-first-message. */
static enum act scram_initial(struct client *cl, const uint8_t *body, uint32_t n)
{
	struct client_auth *a = cl->auth;
	struct cursor c = cur_make(body, n);
	const char *mech = cur_cstr(&c, NULL);
	uint32_t len = cur_u32(&c);
	const uint8_t *data = len == UINT32_MAX ? NULL : cur_bytes(&c, len);
	if (!mech || c.err || !data || !cur_done(&c))
		return auth_fail(cl, "malformed SASLInitialResponse");
	if (scram_server_first(&a->scram, mech, data, len) < 0)
		return auth_fail(cl, scram_strerror(scram_server_error(&a->scram)));
	size_t ol;
	const char *out = scram_server_output(&a->scram, &ol);
	send_request(cl, AUTH_REQ_SASL_CONTINUE, out, (uint32_t)ol);
	a->step = 1;
	return ACT_CONSUMED;
}

/* SASLResponse: the client-final-message with the proof. */
static enum act scram_final(struct client *cl, const uint8_t *body, uint32_t n)
{
	struct client_auth *a = cl->auth;
	if (scram_server_final(&a->scram, body, n) < 0)
		return auth_fail(cl, scram_strerror(scram_server_error(&a->scram)));
	size_t ol;
	const char *out = scram_server_output(&a->scram, &ol);
	send_request(cl, AUTH_REQ_SASL_FINAL, out, (uint32_t)ol);
	return auth_ok(cl);
}

enum act clientauth_msg(struct client *cl, const uint8_t *body, uint32_t n)
{
	struct client_auth *a = cl->auth;
	if (!a)
		return auth_fail(cl, "unexpected password message");
	const struct authfile_entry *e = a->entry;
	size_t pl;
	const char *pw;
	switch (a->method) {
	case HBA_METHOD_PASSWORD:
		pw = password_of(body, n, &pl);
		if (!pw)
			return auth_fail(cl, "malformed password message");
		if (!e || auth_password_check(cl->user, e->secret, e->secret_len, pw, pl) < 0)
			return auth_fail(cl, e ? "wrong password" : "unknown user");
		return auth_ok(cl);
	case HBA_METHOD_MD5:
		pw = password_of(body, n, &pl);
		if (!pw)
			return auth_fail(cl, "malformed password message");
		if (!e || md5pw_verify(cl->user, e->secret, e->secret_len, a->salt, pw, pl) < 0)
			return auth_fail(cl, e ? "wrong password" : "unknown user");
		return auth_ok(cl);
	case HBA_METHOD_SCRAM: return a->step == 0 ? scram_initial(cl, body, n) : scram_final(cl, body, n);
	default: return auth_fail(cl, "unexpected password message");
	}
}
