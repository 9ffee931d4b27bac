/* A client message decoded once: its type, length, sequence number and views of its names and SQL text. */
#ifndef PGR_FEMSG_H
#define PGR_FEMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/cursor.h"

struct cls_result;

/* One message from a client, as the session's stages see it. Every pointer is a view into the relay's input
   buffer (valid while this message is being handled); a field the message does not have is NULL. */
struct fe_msg {
	uint8_t type;
	bool bad; /* the body is buffered whole but a field could not be read (the server will answer it) */
	uint32_t len; /* wire length, including the length word */
	const uint8_t *body; /* the bytes after the length word once buffered whole, else NULL */
	uint32_t seq; /* the relay's conn.nmsg: a message handled again (pause, more bytes) has the same */
	const char *sql; /* Query, Parse: the SQL text (NUL-terminated) */
	uint32_t sql_len;
	const char *stmt; /* Parse, Bind, Describe/Close of a statement: its name ("" for the unnamed one) */
	uint32_t stmt_len;
	const char *portal; /* Bind, Execute, Describe/Close of a portal: its name */
	uint32_t portal_len;
	void *named; /* the tracker's record of the statement stmt names, once looked up (opaque here) */
	bool named_known; /* named was looked up (NULL then: the client has no statement of that name) */
	const struct cls_result *cls; /* the classification of this message once made, else NULL */
	struct cls_result *cls_buf; /* room to make it in (owned by whoever handed the message on) */
};

/* The names and text of m (body whole; Parse, Bind, Execute, Describe or Close): fe_decode's out-of-line part. */
bool fe_decode_fields(struct fe_msg *m);

/* Decode the message of the given type and wire length (body: after the length word, NULL while not buffered
   whole) into m; seq is the relay's message number. Pure and bounds-checked; false when a buffered body is
   malformed (m->bad; the fields that could be read are set). cls and cls_buf start NULL. Inline: most messages
   of a transaction (Sync, Execute's neighbours) need no more than their header stored. */
static inline bool fe_decode(struct fe_msg *m, uint8_t type, uint32_t len, const uint8_t *body, uint32_t seq)
{
	m->type = type;
	m->bad = false;
	m->len = len;
	m->body = body;
	m->seq = seq;
	m->sql = m->stmt = m->portal = NULL;
	m->sql_len = m->stmt_len = m->portal_len = 0;
	m->named = NULL;
	m->named_known = false;
	m->cls = NULL;
	m->cls_buf = NULL;
	if (!body || len < 4)
		return true;
	if (type == 'Q') { /* the most frequent message: its text is all there is */
		struct cursor cur = cur_make(body, len - 4);
		size_t n = 0;
		m->sql = cur_cstr(&cur, &n);
		m->sql_len = (uint32_t)n;
		m->bad = !m->sql;
		return !m->bad;
	}
	bool fields = type == 'P' || type == 'B' || type == 'E' || type == 'D' || type == 'C';
	return !fields || fe_decode_fields(m);
}

/* True when m names the unnamed statement (a Bind of it, or a Describe of it). */
static inline bool fe_unnamed_stmt(const struct fe_msg *m)
{
	return m->stmt && m->stmt_len == 0 && (m->type == 'B' || m->type == 'D');
}

#endif
