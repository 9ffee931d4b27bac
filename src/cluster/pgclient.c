/* A small blocking PostgreSQL client with timeouts, for pgrouter's own catalog and monitor queries (never in a worker). */
#include "cluster/pgclient.h"
#include "auth/authfile.h"
#include "auth/md5pw.h"
#include "auth/scram.h"
#include "base/iobuf.h"
#include "io/net.h"
#include "proto/codec.h"
#include "proto/cursor.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PGC_MAX_MSG (1u << 20) /* pgrouter's own queries return small results */

static int pgc_fail(struct pgclient *pc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pgc_fail(struct pgclient *pc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pc->err, sizeof pc->err, fmt, ap);
	va_end(ap);
	return -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes; 0 or -1. */
static int wait_fd(struct pgclient *pc, short events, int64_t deadline)
{
	for (;;) {
		int left = (int)(deadline - now_ms());
		if (left <= 0) {
			pc->timed_out = pc->io_failed = true;
			return pgc_fail(pc, "timed out after %d ms", pc->timeout_ms);
		}
		struct pollfd p = { pc->fd, events, 0 };
		int r = poll(&p, 1, left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return pc->io_failed = true, pgc_fail(pc, "poll: %s", strerror(errno));
	}
}

/* Send all n bytes before the deadline. */
static int send_all(struct pgclient *pc, const uint8_t *p, size_t n, int64_t deadline)
{
	while (n) {
		ssize_t w = send(pc->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return pc->io_failed = true, pgc_fail(pc, "send: %s", strerror(errno));
		if (wait_fd(pc, POLLOUT, deadline) < 0)
			return -1;
	}
	return 0;
}

/* Receive exactly n bytes before the deadline. */
static int recv_all(struct pgclient *pc, uint8_t *p, size_t n, int64_t deadline)
{
	while (n) {
		ssize_t r = recv(pc->fd, p, n, 0);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r == 0)
			return pc->io_failed = true, pgc_fail(pc, "server closed the connection");
		if (errno != EAGAIN && errno != EINTR)
			return pc->io_failed = true, pgc_fail(pc, "recv: %s", strerror(errno));
		if (wait_fd(pc, POLLIN, deadline) < 0)
			return -1;
	}
	return 0;
}

/* Send the message(s) built in b. */
static int send_buf(struct pgclient *pc, struct iobuf *b, int64_t deadline)
{
	int rc = b ? send_all(pc, b->data + b->rpos, iobuf_len(b), deadline) : pgc_fail(pc, "out of memory");
	free(b);
	return rc;
}

/* Read one message: its type, and its body in a malloc'd buffer the caller frees. */
static int read_msg(struct pgclient *pc, uint8_t *type, uint8_t **body, uint32_t *n, int64_t deadline)
{
	uint8_t hdr[5];
	if (recv_all(pc, hdr, 5, deadline) < 0)
		return -1;
	uint32_t len = get_u32(hdr + 1);
	if (len < 4 || len > PGC_MAX_MSG)
		return pgc_fail(pc, "invalid message length %u", len);
	*type = hdr[0];
	*n = len - 4;
	*body = malloc(*n + 1);
	if (!*body)
		return pgc_fail(pc, "out of memory");
	if (recv_all(pc, *body, *n, deadline) < 0) {
		free(*body);
		return -1;
	}
	(*body)[*n] = 0;
	return 0;
}

/* Answer one authentication request; 0 to continue, -1 on failure. */
static int answer_auth(struct pgclient *pc, const struct pgc_login *lg, struct scram_client *sc, const uint8_t *b,
                       uint32_t n, int64_t deadline)
{
	struct cursor c = cur_make(b, n);
	uint32_t code = cur_u32(&c);
	struct iobuf *out = NULL;
	const struct authfile_entry *e = lg->entry;
	size_t ol;
	switch (code) {
	case 0: return 0;
	case 3:
		if (!lg->password)
			return pgc_fail(pc, "server wants a clear-text password and none is configured");
		msg_password(&out, lg->password, (uint32_t)strlen(lg->password), true);
		return send_buf(pc, out, deadline);
	case 5: {
		char resp[MD5PW_LEN + 1];
		const uint8_t *salt = cur_bytes(&c, 4);
		const char *stored = lg->password ? lg->password : e && e->kind == AUTH_SECRET_MD5 ? e->secret : NULL;
		if (!salt || !stored || md5pw_client_response(lg->user, stored, strlen(stored), salt, resp) < 0)
			return pgc_fail(pc, "server wants md5 and no usable password is configured");
		msg_password(&out, resp, MD5PW_LEN, true);
		return send_buf(pc, out, deadline);
	}
	case 10: {
		int rc = -1;
		if (lg->password)
			rc = scram_client_init_password(sc, lg->password, strlen(lg->password));
		else if (e && e->kind == AUTH_SECRET_SCRAM && lg->client_key)
			rc = scram_client_init_passthrough(sc, &e->scram, lg->client_key);
		if (rc < 0 || scram_client_first(sc) < 0)
			return pgc_fail(pc, "server wants SCRAM and no password (or proven client key) is available");
		const char *m = scram_client_output(sc, &ol);
		msg_sasl_initial(&out, SCRAM_MECH, m, (uint32_t)ol);
		return send_buf(pc, out, deadline);
	}
	case 11:
		if (scram_client_final(sc, b + 4, n - 4) < 0)
			return pgc_fail(pc, "SCRAM: %s", scram_strerror(scram_client_error(sc)));
		{
			const char *m = scram_client_output(sc, &ol); /* sets ol: not in the same call's arguments */
			msg_password(&out, m, (uint32_t)ol, false);
			return send_buf(pc, out, deadline);
		}
	case 12:
		return scram_client_verify(sc, b + 4, n - 4) == 0 ? 0
		                                                  : pgc_fail(pc, "SCRAM: server signature is wrong");
	default: return pgc_fail(pc, "unsupported authentication request %u", code);
	}
}

/* An ErrorResponse as text in pc->err. */
static int server_error(struct pgclient *pc, const uint8_t *b, uint32_t n)
{
	struct pg_error e;
	proto_parse_error(b, n, &e);
	snprintf(pc->sqlstate, sizeof pc->sqlstate, "%s", e.sqlstate ? e.sqlstate : "XX000");
	return pgc_fail(pc, "%s (%s)", e.message ? e.message : "error", e.sqlstate ? e.sqlstate : "?");
}

int pgc_connect(struct pgclient *pc, const struct pgc_login *lg, int timeout_ms)
{
	int err = 0;
	pc->timeout_ms = timeout_ms;
	pc->timed_out = pc->io_failed = false;
	pc->sqlstate[0] = 0;
	pc->err[0] = 0;
	int64_t deadline = now_ms() + timeout_ms;
	pc->fd = net_connect(lg->host, lg->port, &err);
	if (pc->fd < 0)
		return pc->io_failed = true, pgc_fail(pc, "connect to %s:%d: %s", lg->host, lg->port, strerror(err));
	if (wait_fd(pc, POLLOUT, deadline) < 0)
		goto fail;
	socklen_t el = sizeof err;
	if (getsockopt(pc->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		pc->io_failed = true;
		pgc_fail(pc, "connect to %s:%d: %s", lg->host, lg->port, strerror(err));
		goto fail;
	}
	const char *names[] = { "user", "database", "application_name" };
	const char *values[] = { lg->user, lg->dbname, lg->appname ? lg->appname : "pgrouter catalog" };
	struct iobuf *out = NULL;
	msg_startup(&out, names, values, 3);
	if (send_buf(pc, out, deadline) < 0)
		goto fail;
	struct scram_client sc;
	memset(&sc, 0, sizeof sc);
	for (;;) {
		uint8_t type, *b;
		uint32_t n;
		if (read_msg(pc, &type, &b, &n, deadline) < 0)
			break;
		int rc = 0;
		if (type == 'R')
			rc = answer_auth(pc, lg, &sc, b, n, deadline);
		else if (type == 'E')
			rc = server_error(pc, b, n);
		free(b);
		if (rc < 0)
			break;
		if (type == 'Z') {
			scram_client_wipe(&sc);
			return 0;
		}
	}
	scram_client_wipe(&sc);
fail:
	close(pc->fd);
	pc->fd = -1;
	return -1;
}

int pgc_query(struct pgclient *pc, const char *sql, void (*row)(void *ctx, int ncols, const char *const *vals),
              void *ctx)
{
	int64_t deadline = now_ms() + pc->timeout_ms;
	pc->timed_out = pc->io_failed = false;
	pc->sqlstate[0] = 0;
	struct iobuf *out = NULL;
	msg_query(&out, sql);
	if (send_buf(pc, out, deadline) < 0)
		return -1;
	int rc = 0;
	for (;;) {
		uint8_t type, *b;
		uint32_t n;
		if (read_msg(pc, &type, &b, &n, deadline) < 0)
			return -1;
		if (type == 'E' && rc == 0)
			rc = server_error(pc, b, n);
		if (type == 'D' && rc == 0 && row) {
			struct cursor c = cur_make(b, n);
			int ncols = cur_u16(&c);
			const char *vals[32];
			char *copies[32];
			int k = 0;
			for (; k < ncols && k < 32; k++) {
				uint32_t l = cur_u32(&c);
				const uint8_t *v = l == UINT32_MAX ? NULL : cur_bytes(&c, l);
				copies[k] = v ? strndup((const char *)v, l) : NULL;
				vals[k] = copies[k];
			}
			if (!c.err)
				row(ctx, k, vals);
			for (int i = 0; i < k; i++)
				free(copies[i]);
		}
		free(b);
		if (type == 'Z')
			return rc;
	}
}

void pgc_close(struct pgclient *pc)
{
	if (pc->fd < 0)
		return;
	struct iobuf *out = NULL;
	msg_terminate(&out);
	if (out)
		(void)send(pc->fd, out->data, iobuf_len(out), MSG_NOSIGNAL);
	free(out);
	close(pc->fd);
	pc->fd = -1;
}
