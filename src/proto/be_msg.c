/* A server message decoded once into the views the session's stages read (no I/O). */
#include "proto/be_msg.h"
#include "proto/cursor.h"

#include <string.h>

void be_msg_decode(struct be_msg *m, uint8_t type, uint32_t len, const uint8_t *body, uint32_t seq)
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
	switch (type) {
	case 'Z':
		if (n >= 1)
			m->status = (char)body[0];
		break;
	case 'S':
		if (proto_parse_param(body, n, &m->name, &m->value) < 0)
			m->name = m->value = NULL;
		break;
	case 'C':
		if (n && memchr(body, 0, n))
			m->tag = (const char *)body;
		break;
	default: break;
	}
}

int be_msg_error(struct be_msg *m, const struct pg_error **e)
{
	if (m->err_state == 0) {
		if (m->body)
			m->err_state = proto_parse_error(m->body, m->len - 4, &m->err) == 0 ? 1 : -1;
		else
			m->err = (struct pg_error){ 0 }, m->err_state = -1;
	}
	*e = &m->err;
	return m->err_state > 0 ? 0 : -1;
}

bool be_msg_fatal(struct be_msg *m)
{
	const struct pg_error *e;
	if (m->type != 'E' || be_msg_error(m, &e) < 0)
		return false;
	return e->severity && (strcmp(e->severity, "FATAL") == 0 || strcmp(e->severity, "PANIC") == 0);
}
