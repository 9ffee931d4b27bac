/* TLS with OpenSSL: handshakes and record I/O for the relay. */
#include "io/tls.h"
#include "base/log.h"
#include "config/tls_ctx.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
		tls_ssl_error(err, errlen, "TLS handshake failed", NULL);
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
