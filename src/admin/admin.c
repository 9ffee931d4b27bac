/* Admin console: the "pgrouter" (or "pgbouncer") database answers SHOW and control commands itself. */
#include "admin/admin_int.h"
#include "frontend/client.h"
#include "io/conn.h"
#include "base/log.h"
#include "admin/metrics.h"
#include "session/pipeline.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ADMIN_MAX_QUERY (1u << 20) /* longer commands are refused (SHOW ROUTE of a huge statement) */

bool admin_is_console(const struct config *cfg, const char *dbname)
{
	if (strcmp(dbname, "pgrouter") != 0 && strcmp(dbname, "pgbouncer") != 0)
		return false;
	for (int i = 0; i < cfg->ndbs; i++)
		if (strcmp(cfg->dbs[i].name, dbname) == 0)
			return false;
	return true;
}

void admin_login(struct client *cl)
{
	const struct config *cfg = cl->c.w->cfg;
	bool admin = list_contains(cfg->admin_users, cl->user, false);
	bool stats = list_contains(cfg->stats_users, cl->user, false);
	if (!admin && !stats) {
		metrics_auth_failure(cl->c.w);
		client_close(cl, "28000", "not allowed: the admin console is for admin_users and stats_users");
		return;
	}
	cl->is_admin = admin;
	cl->is_console = true;
	struct iobuf **out = conn_out(&cl->c);
	int err = msg_auth(out, 0, NULL, 0);
	err |= msg_param_status(out, "server_version", "15.0 (pgrouter)");
	err |= msg_param_status(out, "client_encoding", "UTF8");
	err |= msg_param_status(out, "server_encoding", "UTF8");
	err |= msg_param_status(out, "DateStyle", "ISO, MDY");
	err |= msg_param_status(out, "integer_datetimes", "on");
	err |= msg_param_status(out, "standard_conforming_strings", "on");
	if (!client_login_ready(cl, err))
		return;
	conn_flush_out(&cl->c);
	log_info(cl->c.prefix, "admin console login: user=%s (%s)", cl->user, admin ? "admin" : "stats");
}

bool cmd_kw(const struct admin_cmd *c, int i, const char *kw)
{
	return i < c->n && c->kind[i] == W_WORD && strcasecmp(c->w[i], kw) == 0;
}

bool cmd_name(const struct admin_cmd *c, int i)
{
	return i < c->n && (c->kind[i] == W_WORD || c->kind[i] == W_IDENT) && c->w[i][0];
}

static void cmd_free(struct admin_cmd *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->w[i]);
	c->n = 0;
}

/* Decode a quoted token starting at *p (quote q; doubled quotes stand for one) into a new string. */
static char *quoted(const char **p, const char *end, char q)
{
	char *s = malloc((size_t)(end - *p) + 1);
	size_t n = 0;
	if (!s)
		return NULL;
	for (const char *i = *p + 1; i < end; i++) {
		if (*i == q) {
			if (i + 1 < end && i[1] == q) {
				s[n++] = q;
				i++;
				continue;
			}
			s[n] = 0;
			*p = i + 1;
			return s;
		}
		s[n++] = *i;
	}
	free(s);
	return NULL; /* unterminated */
}

/* Split text into words: bare words, 'strings', "identifiers" and '='; comments and one trailing ';' are
   dropped. 0, or -1 with why. */
static int cmd_parse(const char *q, size_t len, struct admin_cmd *c, const char **why)
{
	const char *p = q, *end = q + len;
	c->n = 0;
	while (p < end) {
		if (isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		if (*p == '-' && p + 1 < end && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
			continue;
		}
		if (*p == '/' && p + 1 < end && p[1] == '*') {
			const char *close = memmem(p + 2, (size_t)(end - p - 2), "*/", 2);
			if (!close)
				return *why = "unterminated comment", -1;
			p = close + 2;
			continue;
		}
		if (*p == ';') {
			for (p++; p < end; p++)
				if (!isspace((unsigned char)*p) && *p != ';')
					return *why = "one command per query", -1;
			break;
		}
		if (c->n == ADMIN_MAX_WORDS)
			return *why = "too many words", -1;
		char *w;
		enum word_kind k;
		if (*p == '\'' || *p == '"') {
			k = *p == '\'' ? W_STRING : W_IDENT;
			if (!(w = quoted(&p, end, *p)))
				return *why = "unterminated quoted string", -1;
		} else if (*p == '=') {
			k = W_EQ;
			w = strdup("=");
			p++;
		} else {
			const char *s = p;
			while (p < end && !isspace((unsigned char)*p) && !strchr(";='\"", *p))
				p++;
			k = W_WORD;
			w = strndup(s, (size_t)(p - s));
		}
		if (!w)
			return *why = "out of memory", -1;
		c->kind[c->n] = k;
		c->w[c->n++] = w;
	}
	snprintf(c->upper, sizeof c->upper, "%s%s%s", c->n ? c->w[0] : "", c->n > 1 && c->kind[1] == W_WORD ? " " : "",
	         c->n > 1 && c->kind[1] == W_WORD ? c->w[1] : "");
	for (char *u = c->upper; *u; u++)
		*u = (char)toupper((unsigned char)*u);
	return 0;
}

/* Commands that change something: only admin_users may run them. */
static bool is_changing(const struct admin_cmd *c)
{
	static const char *const verbs[] = { "RELOAD",      "PAUSE",      "RESUME",  "KILL",   "SET",
		                             "SHUTDOWN",    "SUSPEND",    "DISABLE", "ENABLE", "RECONNECT",
		                             "KILL_CLIENT", "WAIT_CLOSE", NULL };
	for (int i = 0; verbs[i]; i++)
		if (cmd_kw(c, 0, verbs[i]))
			return true;
	return false;
}

/* Run one parsed command; true when its answer was deferred (no ReadyForQuery yet). */
static bool run(struct client *cl, const struct admin_cmd *c, struct iobuf **out)
{
	bool deferred = false;
	char msg[300];
	if (c->n == 0) {
		int64_t off = msg_begin(out, 'I'); /* EmptyQueryResponse */
		if (off >= 0)
			msg_end(*out, off);
		return false;
	}
	if (is_changing(c) && !cl->is_admin) {
		msg_error(out, "ERROR", "42501", "permission denied: only admin_users may run this command");
		return false;
	}
	if (cmd_kw(c, 0, "SHOW")) {
		if (admin_show(cl, c, out, &deferred))
			return deferred;
	} else if (admin_control(cl, c, out, &deferred)) {
		return deferred;
	}
	snprintf(msg, sizeof msg, "unknown admin command \"%.60s\" (SHOW HELP lists the commands)", c->upper);
	msg_error(out, "ERROR", "42601", msg);
	return false;
}

enum act admin_msg(struct client *cl, struct fe_msg *m)
{
	uint8_t type = m->type;
	uint32_t len = m->len;
	if (admin_pending(cl))
		return ACT_PAUSE; /* the previous command has not been answered yet */
	if (type == 'X') {
		client_close(cl, NULL, NULL);
		return ACT_CLOSED;
	}
	if (type != 'Q') {
		client_close(cl, "08P01", "the admin console supports the simple query protocol only");
		return ACT_CLOSED;
	}
	if (len - 4 > ADMIN_MAX_QUERY) {
		client_close(cl, "54000", "admin command too long (at most 1 MB)");
		return ACT_CLOSED;
	}
	if (!m->body)
		return ACT_NEED_FULL;
	struct iobuf **out = conn_out(&cl->c);
	size_t ql = m->sql_len;
	const char *q = m->sql;
	struct admin_cmd c = { 0 };
	const char *why = NULL;
	bool deferred = false;
	if (!q) {
		client_close(cl, "08P01", "malformed Query message");
		return ACT_CLOSED;
	} else if (cmd_parse(q, ql, &c, &why) < 0) {
		char msg[200];
		snprintf(msg, sizeof msg, "syntax error in admin command: %s", why);
		msg_error(out, "ERROR", "42601", msg);
	} else {
		deferred = run(cl, &c, out);
	}
	cmd_free(&c);
	if (!deferred)
		msg_ready(out, 'I');
	conn_flush_out(&cl->c);
	return cl->c.closing ? ACT_CLOSED : ACT_CONSUMED;
}

/* A console client may still carry read-your-writes settings from its startup packet (offered before the login
   chose the console): the session pipeline's free releases them. */
const struct client_target admin_console_target = {
	.claims = admin_is_console,
	.startup_setting = NULL,
	.login = admin_login,
	.on_msg = admin_msg,
	.on_linked = NULL,
	.on_free = session_client_free,
};
