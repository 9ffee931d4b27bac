/* A server message decoded once: what the stages handling a server's answers read, as views into the message. */
#ifndef PGR_BE_MSG_H
#define PGR_BE_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/codec.h"

/* One message from a server at the relay's scan position. The views point into the input buffer and are valid
   only during the call that got them; seq and marks outlive repeated calls for the same message. */
struct be_msg {
	uint8_t type;
	uint32_t len; /* the wire length: the length word's value (4 + body) */
	const uint8_t *body; /* the bytes after the length word, or NULL while not completely buffered */
	uint32_t seq; /* the relay's number for this message: a repeated call (after "need the whole message"
	                 or "flush first") has the same one */
	uint8_t marks; /* what stages did already for message seq (BE_MARK_*); cleared by a new seq */
	char status; /* ReadyForQuery: the transaction status ('I', 'T', 'E'); 0 otherwise */
	const char *name, *value; /* ParameterStatus; NULL when malformed or another type */
	const char *tag; /* CommandComplete's tag; NULL when it does not end the body, or another type */
	int8_t err_state; /* ErrorResponse/NoticeResponse fields: 0 not parsed yet, 1 parsed, -1 malformed */
	struct pg_error err; /* set once err_state is not 0 */
};

/* Marks the session's stages leave on a message they handle only once. */
#define BE_MARK_PS 0x01 /* the prepared-statement tracker decided about it */
#define BE_MARK_PS_HIDE 0x02 /* ... and it was the answer to pgrouter's own statement: skip it */
#define BE_MARK_READY 0x04 /* the journal and the statistics saw this ReadyForQuery */

/* Decode the header (type, wire length len) and body (NULL: not complete) of message number seq into m; the
   fields every stage reads are filled now, an error's fields only when asked (be_msg_error). Inline: every
   message of every server passes here. */
static inline void be_msg_decode(struct be_msg *m, uint8_t type, uint32_t len, const uint8_t *body, uint32_t seq)
{
	if (m->seq != seq) {
		m->seq = seq;
		m->marks = 0;
	}
	m->type = type;
	m->len = len;
	m->body = body;
	m->status = 0;
	m->name = m->value = m->tag = NULL;
	m->err_state = 0;
	if (!body)
		return;
	uint32_t n = len - 4;
	if (type == 'Z' && n >= 1) {
		m->status = (char)body[0];
	} else if (type == 'C' && n && body[n - 1] == 0) {
		m->tag = (const char *)body; /* a tag is one string filling the body */
	} else if (type == 'S' && proto_parse_param(body, n, &m->name, &m->value) < 0) {
		m->name = m->value = NULL;
	}
}

/* The fields of an ErrorResponse or NoticeResponse m (complete), parsed at the first call, into *e: 0, or -1 when
   malformed (then *e has the fields read before the fault, as proto_parse_error leaves them). */
int be_msg_error(struct be_msg *m, const struct pg_error **e);

/* True when m is a complete ErrorResponse whose severity is FATAL or PANIC (the backend is going). */
bool be_msg_fatal(struct be_msg *m);

#endif
