/* TLS contexts from the config: certificates, keys and CA files are read and checked when a config loads. */
#include "config/tls_ctx.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
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

void tls_ssl_error(char *err, size_t errlen, const char *what, const char *file)
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
		tls_ssl_error(err, errlen, "SSL_CTX_new", NULL);
		return NULL;
	}
	SSL_CTX_set_mode(
	        ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (set_protocols(ctx, protos, err, errlen) < 0)
		goto fail;
	if (ciphers && *ciphers && strcasecmp(ciphers, "default") != 0 && strcasecmp(ciphers, "fast") != 0 &&
	    strcasecmp(ciphers, "normal") != 0 && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		tls_ssl_error(err, errlen, "tls ciphers", ciphers);
		goto fail;
	}
	if (cert && *cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_ssl_error(err, errlen, "cannot load certificate", cert);
		goto fail;
	}
	if (key && *key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_ssl_error(err, errlen, "cannot load key", key);
		goto fail;
	}
	if (cert && *cert && key && *key && SSL_CTX_check_private_key(ctx) != 1) {
		tls_ssl_error(err, errlen, "key does not match certificate", key);
		goto fail;
	}
	if (ca && *ca && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		tls_ssl_error(err, errlen, "cannot load CA file", ca);
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
