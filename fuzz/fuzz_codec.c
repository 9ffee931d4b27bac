/* libFuzzer target: proto_frame over arbitrary bytes in every direction and phase, the message parsers on each framed message, and builder/parser round trips. */
#include "fuzz_common.h"
#include "base/iobuf.h"
#include "proto/codec.h"
#include "proto/be_msg.h"
#include "proto/femsg.h"

/* Input layout: byte 0 picks max_packet (bits 0-1) and the read-size pattern of the
 * chunked reader (bits 2-7); the rest is the byte stream. The same bytes, cut at NULs,
 * also supply the strings for the builder round trips. */
static const uint32_t max_packets[4] = {1024, 8192, 1u << 20, 0x7fffffffu};

/* Where a strict walk (no resynchronisation) of a stream stopped. */
struct walk_end {
	size_t frames;          /* complete, valid messages before the stop */
	size_t offset;          /* stream offset of the stop */
	bool bad;               /* stopped at a bad header (not just at missing bytes) */
};

/* Parse a body as an ErrorResponse; found fields must be strings inside the body. */
static void check_error_body(const uint8_t *body, uint32_t n)
{
	struct pg_error e;
	if (proto_parse_error(body, n, &e) != 0)
		return;
	FUZZ_CHECK(!e.severity || fuzz_str_inside(e.severity, body, n));
	FUZZ_CHECK(!e.sqlstate || fuzz_str_inside(e.sqlstate, body, n));
	FUZZ_CHECK(!e.message || fuzz_str_inside(e.message, body, n));
}

/* Parse a body as ParameterStatus; on success the two strings fill it exactly. */
static void check_param_body(const uint8_t *body, uint32_t n)
{
	const char *name = NULL, *value = NULL;
	if (proto_parse_param(body, n, &name, &value) != 0)
		return;
	FUZZ_CHECK(name == (const char *)body && fuzz_str_inside(value, body, n));
	FUZZ_CHECK(value + strlen(value) + 1 == (const char *)body + n);
}

/* Parse a length-prefixed packet as a startup packet; on success it is self-consistent. */
static void check_startup_packet(const uint8_t *pkt, uint32_t len)
{
	struct startup_pkt sp;
	const char *why = NULL;
	if (proto_parse_startup(pkt, len, &sp, &why) != 0) {
		FUZZ_CHECK(why != NULL);
		return;
	}
	FUZZ_CHECK(sp.nparams >= 0 && sp.nparams <= STARTUP_MAX_PARAMS);
	for (int i = 0; i < sp.nparams; i++) {
		FUZZ_CHECK(fuzz_str_inside(sp.name[i], pkt, len) && sp.name[i][0] != '\0');
		FUZZ_CHECK(fuzz_str_inside(sp.value[i], pkt, len));
	}
}

/* Decode a body as a server message of every type the stages read; each view lies inside the body. */
static void check_be_msg(const uint8_t *body, uint32_t n)
{
	static const uint8_t types[] = { 'Z', 'S', 'C', 'E', 'N' };
	for (size_t i = 0; i < sizeof types; i++) {
		struct be_msg m = { 0 };
		be_msg_decode(&m, types[i], n + 4, body, 1);
		FUZZ_CHECK(!m.name || (fuzz_str_inside(m.name, body, n) && fuzz_str_inside(m.value, body, n)));
		FUZZ_CHECK(!m.tag || fuzz_str_inside(m.tag, body, n));
		FUZZ_CHECK(m.status == 0 || (n >= 1 && m.status == (char)body[0]));
		const struct pg_error *e;
		(void)be_msg_error(&m, &e);
		FUZZ_CHECK(!e->sqlstate || fuzz_str_inside(e->sqlstate, body, n));
		(void)be_msg_fatal(&m);
	}
}

/* Decode a body as a client message of its type; every view found lies inside the body, NUL included. */
static void check_fe_msg(uint8_t type, const uint8_t *body, uint32_t n)
{
	struct fe_msg m;
	bool ok = fe_decode(&m, type, n + 4, body, 1);
	FUZZ_CHECK(ok == !m.bad && m.type == type && m.body == body);
	FUZZ_CHECK(!m.sql || (fuzz_str_inside(m.sql, body, n) && strlen(m.sql) == m.sql_len));
	FUZZ_CHECK(!m.stmt || (fuzz_str_inside(m.stmt, body, n) && strlen(m.stmt) == m.stmt_len));
	FUZZ_CHECK(!m.portal || (fuzz_str_inside(m.portal, body, n) && strlen(m.portal) == m.portal_len));
}

/* Hand one framed message to every parser, each on its own exact-size copy. */
static void parse_message(const uint8_t *msg, uint32_t len)
{
	uint8_t *body = fuzz_memdup(msg + PROTO_HDR, len - 4);
	check_error_body(body, len - 4);
	check_param_body(body, len - 4);
	check_be_msg(body, len - 4);
	check_fe_msg(msg[0], body, len - 4);
	free(body);
	uint8_t *pkt = fuzz_memdup(msg + 1, len); /* the length word and body: an untyped packet */
	check_startup_packet(pkt, len);
	free(pkt);
}

/* Walk data as a message stream; after a bad header skip one byte and go on, so that
 * every offset of the input gets framed and parsed. */
static void walk_resync(const uint8_t *data, size_t size, enum proto_dir dir,
                        enum proto_phase phase, uint32_t maxp)
{
	size_t pos = 0;
	while (pos < size) {
		uint8_t type = 0;
		uint32_t len = 0;
		size_t avail = size - pos;
		uint32_t max = proto_max_len(dir, phase, data[pos], maxp);
		enum frame_status st = proto_frame(data + pos, avail, dir, phase, maxp, &type, &len);
		if (st == FRAME_NEED_MORE) {
			FUZZ_CHECK(avail < PROTO_HDR);
			return;
		}
		if (st != FRAME_OK) {
			FUZZ_CHECK((st == FRAME_BAD_TYPE) == (max == 0));
			pos++;
			continue;
		}
		FUZZ_CHECK(type == data[pos] && len >= 4 && len <= max);
		if (len - 4 > avail - PROTO_HDR) {
			pos++; /* incomplete: a connection would wait; look for messages inside it */
			continue;
		}
		parse_message(data + pos, len);
		pos += 1 + (size_t)len;
	}
}

/* Walk without resynchronisation, as a connection does: stop at the first bad header. */
static struct walk_end walk_strict(const uint8_t *data, size_t size, enum proto_dir dir,
                                   enum proto_phase phase, uint32_t maxp)
{
	struct walk_end w = {0, 0, false};
	for (;;) {
		uint8_t type;
		uint32_t len;
		size_t avail = size - w.offset;
		enum frame_status st = proto_frame(data + w.offset, avail, dir, phase, maxp, &type, &len);
		if (st == FRAME_BAD_TYPE || st == FRAME_BAD_LEN)
			w.bad = true;
		if (st != FRAME_OK || len - 4 > avail - PROTO_HDR)
			return w;
		w.offset += 1 + (size_t)len;
		w.frames++;
	}
}

/* Feed the stream through an iobuf in uneven reads, framing after each read as the
 * relay does; the messages seen must be exactly those of the one-shot strict walk. */
static void walk_chunked(const uint8_t *data, size_t size, enum proto_dir dir,
                         enum proto_phase phase, uint32_t maxp, unsigned pattern)
{
	struct walk_end want = walk_strict(data, size, dir, phase, maxp);
	struct iobuf *b = NULL;
	size_t in = 0, consumed = 0, frames = 0;
	bool bad = false;
	for (unsigned round = 0; in < size && !bad; round++) {
		size_t chunk = 1 + (pattern * 7u + round * 13u) % 97u;
		if (chunk > size - in)
			chunk = size - in;
		FUZZ_CHECK(iobuf_reserve(&b, (uint32_t)chunk, 1u << 24) == 0);
		FUZZ_CHECK(b->cap - b->wpos >= chunk);
		memcpy(b->data + b->wpos, data + in, chunk);
		b->wpos += (uint32_t)chunk;
		in += chunk;
		for (;;) {
			uint8_t type;
			uint32_t len;
			uint32_t avail = iobuf_len(b);
			enum frame_status st =
			    proto_frame(b->data + b->rpos, avail, dir, phase, maxp, &type, &len);
			if (st == FRAME_BAD_TYPE || st == FRAME_BAD_LEN) {
				bad = true;
				break;
			}
			if (st != FRAME_OK || len - 4 > avail - PROTO_HDR)
				break;
			FUZZ_CHECK(memcmp(b->data + b->rpos, data + consumed, 1 + (size_t)len) == 0);
			b->rpos += 1 + len;
			consumed += 1 + (size_t)len;
			frames++;
		}
		if (round & 1)
			iobuf_compact(b);
	}
	FUZZ_CHECK(frames == want.frames && consumed == want.offset && bad == want.bad);
	free(b);
}

/* Offset where the next built message starts. */
static uint32_t out_pos(const struct iobuf *out)
{
	return out ? out->wpos : 0;
}

/* Frame the message built at off and check its type and that it fills the buffer. */
static uint32_t frame_built(const struct iobuf *out, uint32_t off, enum proto_dir dir,
                            enum proto_phase phase, uint8_t want_type)
{
	uint8_t type = 0;
	uint32_t len = 0;
	enum frame_status st = proto_frame(out->data + off, out->wpos - off, dir, phase,
	                                   0x7fffffffu, &type, &len);
	FUZZ_CHECK(st == FRAME_OK && type == want_type && 1 + (size_t)len == out->wpos - off);
	return len;
}

/* True when the n-byte string a equals NUL-terminated b. */
static bool same(const char *b, const struct fuzz_part *a)
{
	return b && strlen(b) == a->n && memcmp(b, a->p, a->n) == 0;
}

/* ErrorResponse and ParameterStatus built from fuzz strings parse back to them. */
static void roundtrip_error_param(struct iobuf **out, const struct fuzz_part *v, char **s)
{
	uint32_t off = out_pos(*out);
	FUZZ_CHECK(msg_error(out, s[0], s[1], s[2]) == 0);
	uint32_t len = frame_built(*out, off, FROM_SERVER, PHASE_READY, 'E');
	struct pg_error e;
	FUZZ_CHECK(proto_parse_error((*out)->data + off + PROTO_HDR, len - 4, &e) == 0);
	FUZZ_CHECK(same(e.severity, &v[0]) && same(e.sqlstate, &v[1]) && same(e.message, &v[2]));

	off = out_pos(*out);
	FUZZ_CHECK(msg_param_status(out, s[0], s[1]) == 0);
	len = frame_built(*out, off, FROM_SERVER, PHASE_READY, 'S');
	const char *name, *value;
	FUZZ_CHECK(proto_parse_param((*out)->data + off + PROTO_HDR, len - 4, &name, &value) == 0);
	FUZZ_CHECK(same(name, &v[0]) && same(value, &v[1]));

	off = out_pos(*out);
	FUZZ_CHECK(msg_query(out, s[2]) == 0);
	frame_built(*out, off, FROM_CLIENT, PHASE_READY, 'Q');
}

/* A StartupMessage built from fuzz name/value pairs parses back to the same pairs. */
static void roundtrip_startup(struct iobuf **out, const struct fuzz_part *v, char **s, int nparts)
{
	const char *names[STARTUP_MAX_PARAMS], *values[STARTUP_MAX_PARAMS];
	const struct fuzz_part *vn[STARTUP_MAX_PARAMS], *vv[STARTUP_MAX_PARAMS];
	int n = 0;
	for (int i = 0; i + 1 < nparts && n < STARTUP_MAX_PARAMS; i += 2) {
		if (v[i].n == 0)
			continue; /* an empty name ends the list on the wire */
		names[n] = s[i], values[n] = s[i + 1];
		vn[n] = &v[i], vv[n] = &v[i + 1];
		n++;
	}
	uint32_t off = out_pos(*out);
	FUZZ_CHECK(msg_startup(out, names, values, n) == 0);
	uint32_t len = (*out)->wpos - off;
	struct startup_pkt sp;
	const char *why = NULL;
	FUZZ_CHECK(proto_parse_startup((*out)->data + off, len, &sp, &why) == 0);
	FUZZ_CHECK(sp.code == PROTO_V3 && sp.nparams == n);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(same(sp.name[i], vn[i]) && same(sp.value[i], vv[i]));
}

/* Fixed-shape builders: their output frames in the direction and phase it is sent in. */
static void roundtrip_fixed(struct iobuf **out, const uint8_t *data, size_t size, char **s,
                            const struct fuzz_part *v)
{
	uint32_t pid = 0, key = 0;
	for (size_t i = 0; i < size && i < 8; i++) {
		if (i < 4)
			pid = (pid << 8) | data[i];
		else
			key = (key << 8) | data[i];
	}
	uint32_t off = out_pos(*out);
	FUZZ_CHECK(msg_cancel_request(out, pid, key) == 0);
	struct startup_pkt sp;
	const char *why = NULL;
	FUZZ_CHECK(proto_parse_startup((*out)->data + off, 16, &sp, &why) == 0);
	FUZZ_CHECK(sp.code == PROTO_CANCEL_CODE && sp.cancel_pid == pid && sp.cancel_key == key);

	off = out_pos(*out);
	FUZZ_CHECK(msg_backend_key(out, pid, key) == 0);
	FUZZ_CHECK(frame_built(*out, off, FROM_SERVER, PHASE_READY, 'K') == 12);
	off = out_pos(*out);
	FUZZ_CHECK(msg_ready(out, size ? (char)data[0] : 'I') == 0);
	FUZZ_CHECK(frame_built(*out, off, FROM_SERVER, PHASE_READY, 'Z') == 5);
	off = out_pos(*out);
	FUZZ_CHECK(msg_auth(out, pid, v[0].p, (uint32_t)v[0].n) == 0);
	frame_built(*out, off, FROM_SERVER, PHASE_READY, 'R');
	off = out_pos(*out);
	FUZZ_CHECK(msg_negotiate_version(out, key, (const char *const *)s, 3) == 0);
	frame_built(*out, off, FROM_SERVER, PHASE_READY, 'v');
	off = out_pos(*out);
	FUZZ_CHECK(msg_notice(out, s[0], s[1]) == 0);
	frame_built(*out, off, FROM_SERVER, PHASE_READY, 'N');
	off = out_pos(*out);
	FUZZ_CHECK(msg_terminate(out) == 0);
	frame_built(*out, off, FROM_CLIENT, PHASE_PREAUTH, 'X');
	/* Password and SASL messages stay under the pre-auth limit for short input. */
	off = out_pos(*out);
	FUZZ_CHECK(msg_password(out, v[1].p, (uint32_t)v[1].n, (pid & 1) != 0) == 0);
	frame_built(*out, off, FROM_CLIENT, PHASE_PREAUTH, 'p');
	off = out_pos(*out);
	FUZZ_CHECK(msg_sasl_initial(out, s[0], v[2].p, (uint32_t)v[2].n) == 0);
	frame_built(*out, off, FROM_CLIENT, PHASE_PREAUTH, 'p');
}

/* Build messages from strings cut out of the input and parse them back. */
static void roundtrip(const uint8_t *data, size_t size)
{
	enum { MAXPARTS = 2 * STARTUP_MAX_PARAMS };
	struct fuzz_part v[MAXPARTS];
	char *s[MAXPARTS];
	int n = 0;
	size_t pos = 0;
	static const uint8_t none[1] = {0};
	while (n < MAXPARTS && fuzz_next_part(data, size, &pos, false, &v[n]))
		n++;
	for (int i = n; i < 3; i++)
		v[i].p = none, v[i].n = 0; /* the builders below use at least three strings */
	int used = n < 3 ? 3 : n;
	for (int i = 0; i < used; i++)
		s[i] = fuzz_strdup(&v[i]);
	struct iobuf *out = NULL;
	roundtrip_error_param(&out, v, s);
	roundtrip_startup(&out, v, s, n);
	roundtrip_fixed(&out, data, size, s, v);
	free(out);
	for (int i = 0; i < used; i++)
		free(s[i]);
}

/* Entry point: all four direction/phase combinations, then the round trips. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Bounded so that every built password message fits the pre-auth limit. */
	if (size < 1 || size > 4096)
		return 0;
	uint32_t maxp = max_packets[data[0] & 3];
	unsigned pattern = data[0] >> 2;
	const uint8_t *stream = data + 1;
	size_t n = size - 1;
	static const enum proto_dir dirs[2] = {FROM_CLIENT, FROM_SERVER};
	static const enum proto_phase phases[2] = {PHASE_PREAUTH, PHASE_READY};
	for (int d = 0; d < 2; d++)
		for (int p = 0; p < 2; p++) {
			walk_resync(stream, n, dirs[d], phases[p], maxp);
			walk_chunked(stream, n, dirs[d], phases[p], maxp, pattern);
		}
	roundtrip(stream, n);
	return 0;
}
