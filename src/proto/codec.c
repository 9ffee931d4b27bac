/* PostgreSQL v3 protocol codec: framing, size limits, startup parsing and message builders (no I/O). */
#include "proto/codec.h"
#include "proto/cursor.h"

#include <string.h>

/* Per-type ceilings: small control messages get small limits so a forged length cannot make us buffer much. */
uint32_t proto_max_len(enum proto_dir dir, enum proto_phase phase, uint8_t type, uint32_t max_packet)
{
	if (dir == FROM_CLIENT) {
		if (phase == PHASE_PREAUTH)
			return type == 'p' ? PREAUTH_MAX_LEN : type == 'X' ? 4 : 0;
		switch (type) {
		case 'S':
		case 'H':
		case 'X':
		case 'c': return 4;
		case 'D':
		case 'C':
		case 'E': return SMALL_MSG_MAX_LEN;
		case 'Q':
		case 'P':
		case 'B':
		case 'd':
		case 'F':
		case 'f': return max_packet;
		default: return 0;
		}
	}
	switch (type) {
	case 'Z': return 5;
	case '1':
	case '2':
	case '3':
	case 'n':
	case 's':
	case 'I':
	case 'c': return 4;
	case 'K': return 12;
	case 'R':
	case 'S':
	case 'E':
	case 'N':
	case 'A':
	case 'C':
	case 'D':
	case 'T':
	case 't':
	case 'G':
	case 'H':
	case 'W':
	case 'd':
	case 'V':
	case 'v': return max_packet;
	default: return 0;
	}
}

/* Classify the next frame; lengths are checked before anything trusts them. */
enum frame_status proto_frame(const uint8_t *p, size_t avail, enum proto_dir dir, enum proto_phase phase,
                              uint32_t max_packet, uint8_t *type, uint32_t *len)
{
	if (avail < PROTO_HDR)
		return FRAME_NEED_MORE;
	uint32_t max = proto_max_len(dir, phase, p[0], max_packet);
	if (max == 0)
		return FRAME_BAD_TYPE;
	uint32_t l = get_u32(p + 1);
	if (l < 4 || l > max)
		return FRAME_BAD_LEN;
	/* Fixed-size messages must have exactly their size. */
	if ((dir == FROM_CLIENT && max == 4 && l != 4) ||
	    (dir == FROM_SERVER && (p[0] == 'Z' || p[0] == 'K') && l != max))
		return FRAME_BAD_LEN;
	*type = p[0];
	*len = l;
	return FRAME_OK;
}

/* Decode the packet that opens a connection: a protocol version with parameters, or a request code. */
int proto_parse_startup(const uint8_t *pkt, uint32_t len, struct startup_pkt *out, const char **why)
{
	struct cursor c = cur_make(pkt, len);
	memset(out, 0, sizeof *out);
	uint32_t l = cur_u32(&c);
	out->code = cur_u32(&c);
	if (c.err || l != len) {
		*why = "bad startup packet length";
		return -1;
	}
	if (out->code == PROTO_SSL_CODE || out->code == PROTO_GSSENC_CODE) {
		if (len != 8) {
			*why = "bad encryption request length";
			return -1;
		}
		return 0;
	}
	if (out->code == PROTO_CANCEL_CODE) {
		out->cancel_pid = cur_u32(&c);
		out->cancel_key = cur_u32(&c);
		if (!cur_done(&c)) {
			*why = "bad cancel request length";
			return -1;
		}
		return 0;
	}
	if ((out->code >> 16) != 3) {
		*why = "unsupported frontend protocol";
		return -1;
	}
	/* name\0value\0 ... \0 */
	for (;;) {
		size_t nl;
		const char *name = cur_cstr(&c, &nl);
		if (!name) {
			*why = "startup packet is not terminated";
			return -1;
		}
		if (nl == 0)
			break;
		const char *value = cur_cstr(&c, NULL);
		if (!value) {
			*why = "startup parameter without a value";
			return -1;
		}
		if (out->nparams == STARTUP_MAX_PARAMS) {
			*why = "too many startup parameters";
			return -1;
		}
		out->name[out->nparams] = name;
		out->value[out->nparams] = value;
		out->nparams++;
	}
	if (!cur_done(&c)) {
		*why = "trailing bytes after startup parameters";
		return -1;
	}
	return 0;
}

/* Find a startup parameter by exact name. */
const char *startup_get(const struct startup_pkt *sp, const char *name)
{
	for (int i = 0; i < sp->nparams; i++)
		if (strcmp(sp->name[i], name) == 0)
			return sp->value[i];
	return NULL;
}

/* Walk the (code, string) fields of an error/notice body. */
int proto_parse_error(const uint8_t *body, uint32_t n, struct pg_error *out)
{
	struct cursor c = cur_make(body, n);
	memset(out, 0, sizeof *out);
	const char *sev_s = NULL;
	for (;;) {
		uint8_t code = cur_u8(&c);
		if (c.err)
			return -1;
		if (code == 0)
			break;
		const char *s = cur_cstr(&c, NULL);
		if (!s)
			return -1;
		if (code == 'V')
			out->severity = s;
		else if (code == 'S')
			sev_s = s;
		else if (code == 'C')
			out->sqlstate = s;
		else if (code == 'M')
			out->message = s;
	}
	if (!out->severity)
		out->severity = sev_s;
	return 0;
}

/* ParameterStatus is two strings. */
int proto_parse_param(const uint8_t *body, uint32_t n, const char **name, const char **value)
{
	struct cursor c = cur_make(body, n);
	*name = cur_cstr(&c, NULL);
	*value = cur_cstr(&c, NULL);
	return cur_done(&c) ? 0 : -1;
}

/* Builders write straight into the connection's output buffer; returns the offset of the length word. */
int64_t msg_begin(struct iobuf **bp, uint8_t type)
{
	if (iobuf_reserve(bp, 64, UINT32_MAX / 2) < 0)
		return -1;
	struct iobuf *b = *bp;
	if (type)
		b->data[b->wpos++] = type;
	int64_t off = b->wpos - b->rpos; /* relative to rpos: appends may compact the buffer */
	memset(b->data + b->wpos, 0, 4);
	b->wpos += 4;
	return off;
}

/* Fill in the length word now that the body is complete. */
void msg_end(struct iobuf *b, int64_t off)
{
	uint32_t at = b->rpos + (uint32_t)off;
	put_u32(b->data + at, b->wpos - at);
}

int msg_put_u8(struct iobuf **bp, uint8_t v)
{
	return iobuf_append(bp, &v, 1);
}

int msg_put_u16(struct iobuf **bp, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return iobuf_append(bp, b, 2);
}

int msg_put_u32(struct iobuf **bp, uint32_t v)
{
	uint8_t b[4];
	put_u32(b, v);
	return iobuf_append(bp, b, 4);
}

int msg_put_str(struct iobuf **bp, const char *s)
{
	return iobuf_append(bp, s, (uint32_t)strlen(s) + 1);
}

int msg_put_bytes(struct iobuf **bp, const void *p, uint32_t n)
{
	return n ? iobuf_append(bp, p, n) : 0;
}

/* Each builder below checks every append once at the end: a failed append leaves err set in the sum. */
#define PUT(x) (err |= ((x) < 0))

/* ErrorResponse or NoticeResponse body: severity (localized S and raw V), SQLSTATE and message. */
static int msg_fields(struct iobuf **bp, uint8_t type, const char *severity, const char *sqlstate, const char *message)
{
	int err = 0;
	int64_t off = msg_begin(bp, type);
	if (off < 0)
		return -1;
	PUT(msg_put_u8(bp, 'S'));
	PUT(msg_put_str(bp, severity));
	PUT(msg_put_u8(bp, 'V'));
	PUT(msg_put_str(bp, severity));
	PUT(msg_put_u8(bp, 'C'));
	PUT(msg_put_str(bp, sqlstate));
	PUT(msg_put_u8(bp, 'M'));
	PUT(msg_put_str(bp, message));
	PUT(msg_put_u8(bp, 0));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* ErrorResponse with severity, SQLSTATE and message. */
int msg_error(struct iobuf **bp, const char *severity, const char *sqlstate, const char *message)
{
	return msg_fields(bp, 'E', severity, sqlstate, message);
}

/* NoticeResponse of severity NOTICE. */
int msg_notice(struct iobuf **bp, const char *sqlstate, const char *message)
{
	return msg_fields(bp, 'N', "NOTICE", sqlstate, message);
}

/* Authentication request/response 'R' with a code and optional payload. */
int msg_auth(struct iobuf **bp, uint32_t code, const void *data, uint32_t n)
{
	int err = 0;
	int64_t off = msg_begin(bp, 'R');
	if (off < 0)
		return -1;
	PUT(msg_put_u32(bp, code));
	PUT(msg_put_bytes(bp, data, n));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* ParameterStatus name=value. */
int msg_param_status(struct iobuf **bp, const char *name, const char *value)
{
	int err = 0;
	int64_t off = msg_begin(bp, 'S');
	if (off < 0)
		return -1;
	PUT(msg_put_str(bp, name));
	PUT(msg_put_str(bp, value));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* BackendKeyData with pgrouter's own key for the client. */
int msg_backend_key(struct iobuf **bp, uint32_t pid, uint32_t key)
{
	int err = 0;
	int64_t off = msg_begin(bp, 'K');
	if (off < 0)
		return -1;
	PUT(msg_put_u32(bp, pid));
	PUT(msg_put_u32(bp, key));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* ReadyForQuery with transaction status I, T or E. */
int msg_ready(struct iobuf **bp, char status)
{
	int64_t off = msg_begin(bp, 'Z');
	if (off < 0 || msg_put_u8(bp, (uint8_t)status) < 0)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* Simple-protocol Query. */
int msg_query(struct iobuf **bp, const char *sql)
{
	int64_t off = msg_begin(bp, 'Q');
	if (off < 0 || msg_put_str(bp, sql) < 0)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* Terminate. */
int msg_terminate(struct iobuf **bp)
{
	int64_t off = msg_begin(bp, 'X');
	if (off < 0)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* CancelRequest packet (untyped, 16 bytes). */
int msg_cancel_request(struct iobuf **bp, uint32_t pid, uint32_t key)
{
	int err = 0;
	int64_t off = msg_begin(bp, 0);
	if (off < 0)
		return -1;
	PUT(msg_put_u32(bp, PROTO_CANCEL_CODE));
	PUT(msg_put_u32(bp, pid));
	PUT(msg_put_u32(bp, key));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* StartupMessage for protocol 3.0. */
int msg_startup(struct iobuf **bp, const char *const *names, const char *const *values, int n)
{
	int err = 0;
	int64_t off = msg_begin(bp, 0);
	if (off < 0)
		return -1;
	PUT(msg_put_u32(bp, PROTO_V3));
	for (int i = 0; i < n; i++) {
		PUT(msg_put_str(bp, names[i]));
		PUT(msg_put_str(bp, values[i]));
	}
	PUT(msg_put_u8(bp, 0));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* NegotiateProtocolVersion 'v'. */
int msg_negotiate_version(struct iobuf **bp, uint32_t minor, const char *const *opts, int nopts)
{
	int err = 0;
	int64_t off = msg_begin(bp, 'v');
	if (off < 0)
		return -1;
	PUT(msg_put_u32(bp, minor));
	PUT(msg_put_u32(bp, (uint32_t)nopts));
	for (int i = 0; i < nopts; i++)
		PUT(msg_put_str(bp, opts[i]));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* PasswordMessage / SASLResponse 'p' (a clear or md5 password is NUL-terminated, SASL data is not). */
int msg_password(struct iobuf **bp, const void *data, uint32_t n, bool nul_terminate)
{
	int err = 0;
	int64_t off = msg_begin(bp, 'p');
	if (off < 0)
		return -1;
	PUT(msg_put_bytes(bp, data, n));
	if (nul_terminate)
		PUT(msg_put_u8(bp, 0));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}

/* SASLInitialResponse: mechanism name, then the length-prefixed client-first message. */
int msg_sasl_initial(struct iobuf **bp, const char *mech, const void *data, uint32_t n)
{
	int err = 0;
	int64_t off = msg_begin(bp, 'p');
	if (off < 0)
		return -1;
	PUT(msg_put_str(bp, mech));
	PUT(msg_put_u32(bp, n));
	PUT(msg_put_bytes(bp, data, n));
	if (err)
		return -1;
	msg_end(*bp, off);
	return 0;
}
