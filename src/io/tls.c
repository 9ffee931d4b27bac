/* TLS with OpenSSL: contexts from the config, handshakes and record I/O for the relay. */
#include "io/tls.h"
#include "base/log.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Apply a PgBouncer-style protocol list ("secure", "all", "tlsv1.2,tlsv1.3" …) as a version range. */
static int set_protocols(SSL_CTX *ctx, const char *spec, char *err, size_t errlen)
{
	int lo = 0, hi = 0;
	char buf[128];
	snprintf(buf, sizeof buf, "%s", spec && *spec ? spec : "secure");
	char *save = NULL;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		int a, b;
		if (strcasecmp(t, "secure") == 0 || strcasecmp(t, "default") == 0)
			a = TLS1_2_VERSION, b = TLS1_3_VERSION;
		else if (strcasecmp(t, "all") == 0 || strcasecmp(t, "legacy") == 0)
			a = TLS1_VERSION, b = TLS1_3_VERSION;
		else if (strcasecmp(t, "tlsv1.3") == 0)
			a = b = TLS1_3_VERSION;
		else if (strcasecmp(t, "tlsv1.2") == 0)
			a = b = TLS1_2_VERSION;
		else if (strcasecmp(t, "tlsv1.1") == 0)
			a = b = TLS1_1_VERSION;
		else if (strcasecmp(t, "tlsv1.0") == 0 || strcasecmp(t, "tlsv1") == 0)
			a = b = TLS1_VERSION;
		else {
			snprintf(err, errlen, "unknown TLS protocol '%s'", t);
			return -1;
		}
		if (!lo || a < lo)
			lo = a;
		if (!hi || b > hi)
			hi = b;
	}
	SSL_CTX_set_min_proto_version(ctx, lo);
	SSL_CTX_set_max_proto_version(ctx, hi);
	return 0;
}

/* The last OpenSSL error as text. */
static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
	char buf[160];
	ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
	snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "", buf);
}

/* One context with the common settings of both directions. */
static SSL_CTX *make_ctx(bool server, const char *cert, const char *key, const char *ca, const char *protos,
                         const char *ciphers, bool verify_peer, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		ssl_err(err, errlen, "SSL_CTX_new", NULL);
		return NULL;
	}
	SSL_CTX_set_mode(
	        ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (set_protocols(ctx, protos, err, errlen) < 0)
		goto fail;
	if (ciphers && *ciphers && strcasecmp(ciphers, "default") != 0 && strcasecmp(ciphers, "fast") != 0 &&
	    strcasecmp(ciphers, "normal") != 0 && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		ssl_err(err, errlen, "tls ciphers", ciphers);
		goto fail;
	}
	if (cert && *cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_err(err, errlen, "cannot load certificate", cert);
		goto fail;
	}
	if (key && *key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_err(err, errlen, "cannot load key", key);
		goto fail;
	}
	if (cert && *cert && key && *key && SSL_CTX_check_private_key(ctx) != 1) {
		ssl_err(err, errlen, "key does not match certificate", key);
		goto fail;
	}
	if (ca && *ca && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		ssl_err(err, errlen, "cannot load CA file", ca);
		goto fail;
	}
	if (verify_peer)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_build_contexts(struct config *cfg, char *err, size_t errlen)
{
	if (cfg->client_tls_sslmode != TLS_DISABLE) {
		if (!*cfg->client_tls_cert_file || !*cfg->client_tls_key_file) {
			snprintf(err, errlen,
			         "client_tls_sslmode = %s needs client_tls_cert_file and client_tls_key_file",
			         cfg->client_tls_sslmode == TLS_ALLOW ? "allow" : "prefer/require/verify-*");
			return -1;
		}
		bool verify = cfg->client_tls_sslmode >= TLS_VERIFY_CA;
		if (verify && !*cfg->client_tls_ca_file) {
			snprintf(err, errlen, "client_tls_sslmode = verify-ca/verify-full needs client_tls_ca_file");
			return -1;
		}
		cfg->client_tls_ctx =
		        make_ctx(true, cfg->client_tls_cert_file, cfg->client_tls_key_file, cfg->client_tls_ca_file,
		                 cfg->client_tls_protocols, cfg->client_tls_ciphers, verify, err, errlen);
		if (!cfg->client_tls_ctx)
			return -1;
	}
	if (cfg->server_tls_sslmode != TLS_DISABLE) {
		bool verify = cfg->server_tls_sslmode >= TLS_VERIFY_CA;
		if (verify && !*cfg->server_tls_ca_file) {
			snprintf(err, errlen, "server_tls_sslmode = verify-ca/verify-full needs server_tls_ca_file");
			return -1;
		}
		cfg->server_tls_ctx =
		        make_ctx(false, cfg->server_tls_cert_file, cfg->server_tls_key_file, cfg->server_tls_ca_file,
		                 cfg->server_tls_protocols, cfg->server_tls_ciphers, verify, err, errlen);
		if (!cfg->server_tls_ctx)
			return -1;
	}
	return 0;
}

void tls_free_contexts(struct config *cfg)
{
	SSL_CTX_free(cfg->client_tls_ctx);
	SSL_CTX_free(cfg->server_tls_ctx);
	cfg->client_tls_ctx = cfg->server_tls_ctx = NULL;
}

int tls_attach(struct conn *c, SSL_CTX *ctx, bool as_server, const char *host, bool verify_host)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
		SSL_free(ssl);
		return -1;
	}
	if (as_server) {
		SSL_set_accept_state(ssl);
	} else {
		SSL_set_connect_state(ssl);
		if (host && host[0] != '/') {
			SSL_set_tlsext_host_name(ssl, host);
			if (verify_host && SSL_set1_host(ssl, host) != 1) {
				SSL_free(ssl);
				return -1;
			}
		}
	}
	c->tls = ssl;
	return 0;
}

int tls_handshake(struct conn *c, char *err, size_t errlen)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->tls);
	if (r == 1)
		return 1;
	int e = SSL_get_error(c->tls, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	long vr = SSL_get_verify_result(c->tls);
	if (vr != X509_V_OK)
		snprintf(err, errlen, "certificate verification failed: %s", X509_verify_cert_error_string(vr));
	else
		ssl_err(err, errlen, "TLS handshake failed", NULL);
	return -1;
}

int tls_read(struct conn *c, void *buf, size_t n)
{
	ERR_clear_error();
	int r = SSL_read(c->tls, buf, (int)(n > 1u << 30 ? 1u << 30 : n));
	if (r > 0)
		return r; /* with TLS only WANT_READ proves the socket is drained: keep want_read */
	int e = SSL_get_error(c->tls, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->want_read = false;
		return 0;
	}
	return -1;
}

int tls_write(struct conn *c, const void *buf, size_t n)
{
	ERR_clear_error();
	int r = SSL_write(c->tls, buf, (int)(n > 1u << 30 ? 1u << 30 : n));
	if (r > 0)
		return r;
	int e = SSL_get_error(c->tls, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return 0;
	return -1;
}

void tls_detach(struct conn *c)
{
	if (c->tls) {
		SSL_free(c->tls);
		c->tls = NULL;
	}
}

int tls_peer_cn(struct conn *c, char *out, size_t n)
{
	if (!c->tls || SSL_get_verify_result(c->tls) != X509_V_OK)
		return -1;
	X509 *cert = SSL_get1_peer_certificate(c->tls);
	if (!cert)
		return -1;
	int len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)n);
	X509_free(cert);
	/* A CN with an embedded NUL could impersonate a shorter name. */
	return len > 0 && (size_t)len == strlen(out) ? 0 : -1;
}
