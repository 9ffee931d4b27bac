/* The client-message decoder: one pass over a message's leading fields, through the bounds-checked cursor. */
#include "proto/femsg.h"

/* Take a NUL-terminated name from cur into *s and *n; false when it does not end inside the body. */
static inline bool take(struct cursor *cur, const char **s, uint32_t *n)
{
	if (cur->pos < cur->end && *cur->pos == 0) { /* the unnamed portal or statement: no scan */
		*s = (const char *)cur->pos++;
		*n = 0;
		return true;
	}
	size_t l = 0;
	const char *p = cur_cstr(cur, &l);
	if (!p)
		return false;
	*s = p;
	*n = (uint32_t)l;
	return true;
}

bool fe_decode_fields(struct fe_msg *m)
{
	struct cursor cur = cur_make(m->body, m->len - 4);
	bool ok = true;
	switch (m->type) {
	case 'P': ok = take(&cur, &m->stmt, &m->stmt_len) && take(&cur, &m->sql, &m->sql_len); break;
	case 'B': ok = take(&cur, &m->portal, &m->portal_len) && take(&cur, &m->stmt, &m->stmt_len); break;
	case 'E': ok = take(&cur, &m->portal, &m->portal_len); break;
	case 'D':
	case 'C': {
		uint8_t what = cur_u8(&cur);
		if (what == 'S')
			ok = take(&cur, &m->stmt, &m->stmt_len);
		else if (what == 'P')
			ok = take(&cur, &m->portal, &m->portal_len);
		else
			ok = false;
		break;
	}
	default: break;
	}
	m->bad = !ok;
	return ok;
}
