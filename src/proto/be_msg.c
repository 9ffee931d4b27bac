/* A server message decoded once into the views the session's stages read (no I/O). */
#include "proto/be_msg.h"
#include "proto/cursor.h"

#include <string.h>

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
