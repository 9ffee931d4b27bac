/* Unit tests for the protocol codec: framing limits, startup/error/parameter parsing, server messages decoded once,
   cursor, builders, iobuf. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/iobuf.h"
#include "proto/be_msg.h"
#include "proto/codec.h"
#include "proto/options.h"
#include "proto/cursor.h"
#include "proto/femsg.h"
#include "unit.h"

#define MAXP (1u << 20) /* the max_packet used by most framing checks */

/* Frame a synthetic 5-byte header; the message body is never needed by proto_frame. */
static enum frame_status frame_hdr(uint8_t type, uint32_t len, enum proto_dir dir, enum proto_phase phase,
                                   uint32_t maxp, uint8_t *t, uint32_t *l)
{
	uint8_t h[PROTO_HDR];
	h[0] = type;
	put_u32(h + 1, len);
	return proto_frame(h, sizeof h, dir, phase, maxp, t, l);
}

/* Shorthand for the status alone. */
static enum frame_status fs(uint8_t type, uint32_t len, enum proto_dir dir, enum proto_phase phase)
{
	uint8_t t;
	uint32_t l;
	return frame_hdr(type, len, dir, phase, MAXP, &t, &l);
}

/* The limits the protocol implies, written independently of codec.c: 0 = invalid, else max; *exact for fixed sizes. */
static uint32_t expected_max(enum proto_dir dir, enum proto_phase phase, int type, int *exact)
{
	*exact = 0;
	if (dir == FROM_CLIENT && phase == PHASE_PREAUTH) {
		if (type == 'X') /* a client may give up during authentication */
			return *exact = 4, 4;
		return type == 'p' ? PREAUTH_MAX_LEN : 0;
	}
	if (dir == FROM_CLIENT) {
		if (type && strchr("SHXc", type))   /* Sync, Flush, Terminate, CopyDone */
			return *exact = 4, 4;
		if (type && strchr("DCE", type))    /* Describe, Close, Execute */
			return SMALL_MSG_MAX_LEN;
		if (type && strchr("QPBdFf", type)) /* Query, Parse, Bind, CopyData, FunctionCall, CopyFail */
			return MAXP;
		return 0;
	}
	if (type == 'Z')
		return *exact = 5, 5;
	if (type == 'K')
		return *exact = 12, 12;
	if (type && strchr("123nsIc", type)) /* completions with no body, EmptyQuery, CopyDone */
		return *exact = 4, 4;
	if (type && strchr("RSENACDTtGHWdVv", type))
		return MAXP;
	return 0;
}

/* Every byte value in one direction/phase: right limit, right verdict on each interesting length. */
static void check_direction(enum proto_dir dir, enum proto_phase phase)
{
	for (int ty = 0; ty < 256; ty++) {
		int exact;
		uint32_t max = expected_max(dir, phase, ty, &exact);
		CHECK_EQ_INT(proto_max_len(dir, phase, (uint8_t)ty, MAXP), max);
		if (max == 0) {
			CHECK_EQ_INT(fs((uint8_t)ty, 4, dir, phase), FRAME_BAD_TYPE);
			CHECK_EQ_INT(fs((uint8_t)ty, 0, dir, phase), FRAME_BAD_TYPE);
			continue;
		}
		uint8_t t = 0;
		uint32_t l = 0;
		CHECK_EQ_INT(fs((uint8_t)ty, 0, dir, phase), FRAME_BAD_LEN);
		CHECK_EQ_INT(fs((uint8_t)ty, 3, dir, phase), FRAME_BAD_LEN);
		CHECK_EQ_INT(fs((uint8_t)ty, 0x7FFFFFFF, dir, phase), FRAME_BAD_LEN);
		CHECK_EQ_INT(fs((uint8_t)ty, 0xFFFFFFFF, dir, phase), FRAME_BAD_LEN);
		CHECK_EQ_INT(fs((uint8_t)ty, max + 1, dir, phase), FRAME_BAD_LEN);
		CHECK_EQ_INT(frame_hdr((uint8_t)ty, max, dir, phase, MAXP, &t, &l), FRAME_OK);
		CHECK_EQ_INT(t, ty);
		CHECK_EQ_INT(l, max);
		if (exact) {
			CHECK_EQ_INT(fs((uint8_t)ty, (uint32_t)exact - 1, dir, phase), FRAME_BAD_LEN);
		} else {
			CHECK_EQ_INT(frame_hdr((uint8_t)ty, 4, dir, phase, MAXP, &t, &l), FRAME_OK);
			CHECK_EQ_INT(l, 4);
		}
	}
}

/* proto_frame / proto_max_len over all 256 type bytes, both directions, both phases. */
static void test_frame_types(void)
{
	check_direction(FROM_CLIENT, PHASE_READY);
	check_direction(FROM_CLIENT, PHASE_PREAUTH);
	check_direction(FROM_SERVER, PHASE_READY);
	check_direction(FROM_SERVER, PHASE_PREAUTH);
}

/* Limits that depend on max_packet, and the ones that do not. */
static void test_frame_limits(void)
{
	uint8_t t;
	uint32_t l;
	/* A large type follows max_packet; with the default 0x7FFFFFFF the framer accepts it (the reader streams). */
	CHECK_EQ_INT(frame_hdr('Q', 1024, FROM_CLIENT, PHASE_READY, 1024, &t, &l), FRAME_OK);
	CHECK_EQ_INT(frame_hdr('Q', 1025, FROM_CLIENT, PHASE_READY, 1024, &t, &l), FRAME_BAD_LEN);
	CHECK_EQ_INT(frame_hdr('Q', 0x7FFFFFFF, FROM_CLIENT, PHASE_READY, 0x7FFFFFFF, &t, &l), FRAME_OK);
	CHECK_EQ_INT(l, 0x7FFFFFFF);
	CHECK_EQ_INT(frame_hdr('Q', 0x80000000u, FROM_CLIENT, PHASE_READY, 0x7FFFFFFF, &t, &l), FRAME_BAD_LEN);
	CHECK_EQ_INT(frame_hdr('D', 0x7FFFFFFF, FROM_SERVER, PHASE_READY, 0x7FFFFFFF, &t, &l), FRAME_OK);
	/* Small and pre-auth limits do not move with max_packet. */
	CHECK_EQ_INT(frame_hdr('E', SMALL_MSG_MAX_LEN + 1, FROM_CLIENT, PHASE_READY, 0x7FFFFFFF, &t, &l), FRAME_BAD_LEN);
	CHECK_EQ_INT(frame_hdr('p', PREAUTH_MAX_LEN + 1, FROM_CLIENT, PHASE_PREAUTH, 0x7FFFFFFF, &t, &l),
	             FRAME_BAD_LEN);
	CHECK_EQ_INT(frame_hdr('p', PREAUTH_MAX_LEN, FROM_CLIENT, PHASE_PREAUTH, 1024, &t, &l), FRAME_OK);
	/* Before auth a client may send only password/SASL messages; after it, never. */
	CHECK_EQ_INT(fs('Q', 10, FROM_CLIENT, PHASE_PREAUTH), FRAME_BAD_TYPE);
	CHECK_EQ_INT(fs('S', 4, FROM_CLIENT, PHASE_PREAUTH), FRAME_BAD_TYPE);
	CHECK_EQ_INT(fs('X', 4, FROM_CLIENT, PHASE_PREAUTH), FRAME_OK);
	CHECK_EQ_INT(fs('p', 10, FROM_CLIENT, PHASE_READY), FRAME_BAD_TYPE);
	/* Garbage before startup would be read as a type byte: 'G' of "GET /" is not a client message. */
	CHECK_EQ_INT(fs('G', 0x4554202F, FROM_CLIENT, PHASE_READY), FRAME_BAD_TYPE);
}

/* Fewer than five bytes is never a verdict, whatever the bytes are; five is enough even for a long body. */
static void test_frame_need_more(void)
{
	static const uint8_t hdr[] = { 'Q', 0, 0, 0, 9, 'x', 'y' };
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t t = 0x55;
	uint32_t l = 0x55;
	CHECK_EQ_INT(proto_frame(NULL, 0, FROM_CLIENT, PHASE_READY, MAXP, &t, &l), FRAME_NEED_MORE);
	for (size_t n = 0; n < PROTO_HDR; n++) {
		CHECK_EQ_INT(proto_frame(hdr, n, FROM_CLIENT, PHASE_READY, MAXP, &t, &l), FRAME_NEED_MORE);
		CHECK_EQ_INT(proto_frame(junk, n, FROM_SERVER, PHASE_READY, MAXP, &t, &l), FRAME_NEED_MORE);
	}
	CHECK_EQ_INT(t, 0x55);
	CHECK_EQ_INT(proto_frame(hdr, PROTO_HDR, FROM_CLIENT, PHASE_READY, MAXP, &t, &l), FRAME_OK);
	CHECK_EQ_INT(t, 'Q');
	CHECK_EQ_INT(l, 9);
	CHECK_EQ_INT(proto_frame(junk, sizeof junk, FROM_SERVER, PHASE_READY, MAXP, &t, &l), FRAME_BAD_TYPE);
}

/* Write a startup-phase packet: length word, code, then body bytes; returns the total length. */
static uint32_t mkpkt(uint8_t *buf, uint32_t code, const void *body, size_t bodylen)
{
	uint32_t len = (uint32_t)(8 + bodylen);
	put_u32(buf, len);
	put_u32(buf + 4, code);
	if (bodylen)
		memcpy(buf + 8, body, bodylen);
	return len;
}

/* Parse and return the failure reason, or "ok". */
static const char *startup_why(const uint8_t *p, uint32_t len, struct startup_pkt *sp)
{
	const char *why = "ok";
	if (proto_parse_startup(p, len, sp, &why) == 0)
		return "ok";
	return why;
}

#define BODY(s) s, sizeof(s) - 1 /* string literal with embedded NULs, without the implicit final NUL */

/* StartupMessage v3 and its variants, valid and not. */
static void test_startup_v3(void)
{
	uint8_t buf[2048];
	struct startup_pkt sp;
	uint32_t n = mkpkt(buf, PROTO_V3, BODY("user\0alice\0database\0app\0application_name\0\0\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "ok");
	CHECK_EQ_INT(sp.code, PROTO_V3);
	CHECK_EQ_INT(sp.nparams, 3);
	CHECK_EQ_STR(sp.name[0], "user");
	CHECK_EQ_STR(sp.value[0], "alice");
	CHECK_EQ_STR(startup_get(&sp, "database"), "app");
	CHECK_EQ_STR(startup_get(&sp, "application_name"), "");
	CHECK(startup_get(&sp, "options") == NULL);
	CHECK(startup_get(&sp, "USER") == NULL);
	/* Pointers point into the packet, not into copies. */
	CHECK(sp.value[0] == (const char *)buf + 13);

	n = mkpkt(buf, PROTO_V3, BODY("\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "ok");
	CHECK_EQ_INT(sp.nparams, 0);
	/* 3.1 and later minors are accepted here (the caller negotiates); 2.0 and 4.0 are not. */
	n = mkpkt(buf, 0x00030001, BODY("user\0u\0\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "ok");
	CHECK_EQ_INT(sp.code, 0x00030001);
	n = mkpkt(buf, 0x00020000, BODY("user\0u\0\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "unsupported frontend protocol");
	n = mkpkt(buf, 0x00040000, BODY("user\0u\0\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "unsupported frontend protocol");
	n = mkpkt(buf, (1234u << 16) | 5999, BODY("")); /* an unknown request code */
	CHECK_EQ_STR(startup_why(buf, n, &sp), "unsupported frontend protocol");

	n = mkpkt(buf, PROTO_V3, BODY("user\0alice\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "startup packet is not terminated");
	n = mkpkt(buf, PROTO_V3, BODY("user\0alice"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "startup parameter without a value");
	n = mkpkt(buf, PROTO_V3, BODY("user\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "startup parameter without a value");
	n = mkpkt(buf, PROTO_V3, BODY("user"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "startup packet is not terminated");
	n = mkpkt(buf, PROTO_V3, BODY(""));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "startup packet is not terminated");
	n = mkpkt(buf, PROTO_V3, BODY("user\0u\0\0xx"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "trailing bytes after startup parameters");
	n = mkpkt(buf, PROTO_V3, BODY("user\0u\0\0\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "trailing bytes after startup parameters");
}

/* Exactly STARTUP_MAX_PARAMS parameters parse; one more does not. */
static void test_startup_many_params(void)
{
	uint8_t body[2048], buf[2100];
	struct startup_pkt sp;
	for (int extra = 0; extra <= 1; extra++) {
		size_t o = 0;
		for (int i = 0; i < STARTUP_MAX_PARAMS + extra; i++) {
			o += (size_t)sprintf((char *)body + o, "p%d", i) + 1;
			o += (size_t)sprintf((char *)body + o, "v") + 1;
		}
		body[o++] = 0;
		uint32_t n = mkpkt(buf, PROTO_V3, body, o);
		if (!extra) {
			CHECK_EQ_STR(startup_why(buf, n, &sp), "ok");
			CHECK_EQ_INT(sp.nparams, STARTUP_MAX_PARAMS);
			CHECK_EQ_STR(startup_get(&sp, "p63"), "v");
		} else {
			CHECK_EQ_STR(startup_why(buf, n, &sp), "too many startup parameters");
		}
	}
}

/* SSLRequest, GSSENCRequest and CancelRequest, and lengths that do not match. */
static void test_startup_requests(void)
{
	uint8_t buf[64];
	struct startup_pkt sp;
	uint32_t n = mkpkt(buf, PROTO_SSL_CODE, BODY(""));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "ok");
	CHECK_EQ_INT(sp.code, PROTO_SSL_CODE);
	CHECK_EQ_INT(sp.nparams, 0);
	n = mkpkt(buf, PROTO_GSSENC_CODE, BODY(""));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "ok");
	CHECK_EQ_INT(sp.code, PROTO_GSSENC_CODE);
	n = mkpkt(buf, PROTO_SSL_CODE, BODY("\0\0\0\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "bad encryption request length");
	n = mkpkt(buf, PROTO_GSSENC_CODE, BODY("\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "bad encryption request length");

	n = mkpkt(buf, PROTO_CANCEL_CODE, BODY("\x00\x00\x30\x39\xde\xad\xbe\xef"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "ok");
	CHECK_EQ_INT(sp.code, PROTO_CANCEL_CODE);
	CHECK_EQ_INT(sp.cancel_pid, 12345);
	CHECK_EQ_INT(sp.cancel_key, 0xdeadbeef);
	n = mkpkt(buf, PROTO_CANCEL_CODE, BODY("\0\0\0\1\0\0\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "bad cancel request length");
	n = mkpkt(buf, PROTO_CANCEL_CODE, BODY("\0\0\0\1\0\0\0\2\0"));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "bad cancel request length");
	n = mkpkt(buf, PROTO_CANCEL_CODE, BODY(""));
	CHECK_EQ_STR(startup_why(buf, n, &sp), "bad cancel request length");

	/* The length word must equal the packet's size, and a packet holds at least length and code. */
	n = mkpkt(buf, PROTO_SSL_CODE, BODY(""));
	CHECK_EQ_STR(startup_why(buf, n + 1, &sp), "bad startup packet length");
	CHECK_EQ_STR(startup_why(buf, n - 1, &sp), "bad startup packet length");
	for (uint32_t len = 0; len < 8; len++) {
		put_u32(buf, len);
		CHECK_EQ_STR(startup_why(buf, len, &sp), "bad startup packet length");
	}
	put_u32(buf, 0xFFFFFFFF);
	CHECK_EQ_STR(startup_why(buf, 8, &sp), "bad startup packet length");
}

/* Error and notice bodies: field selection, V over S, malformed bodies. */
static void test_parse_error(void)
{
	struct pg_error e;
	static const uint8_t full[] = "SERREUR\0VERROR\0C42P01\0Mrelation \"t\" does not exist\0Dmore\0P15\0";
	CHECK_EQ_INT(proto_parse_error(full, sizeof full, &e), 0); /* sizeof includes the final 0 terminator */
	CHECK_EQ_STR(e.severity, "ERROR");
	CHECK_EQ_STR(e.sqlstate, "42P01");
	CHECK_EQ_STR(e.message, "relation \"t\" does not exist");

	static const uint8_t v_first[] = "VFATAL\0SFATAL-LOCALISE\0\0";
	CHECK_EQ_INT(proto_parse_error(v_first, sizeof v_first - 1, &e), 0);
	CHECK_EQ_STR(e.severity, "FATAL");
	static const uint8_t s_only[] = "SWARNING\0M\0";
	CHECK_EQ_INT(proto_parse_error(s_only, sizeof s_only, &e), 0);
	CHECK_EQ_STR(e.severity, "WARNING");
	CHECK_EQ_STR(e.message, "");
	CHECK(e.sqlstate == NULL);

	static const uint8_t empty_ok[] = { 0 };
	CHECK_EQ_INT(proto_parse_error(empty_ok, 1, &e), 0);
	CHECK(e.severity == NULL && e.sqlstate == NULL && e.message == NULL);
	CHECK_EQ_INT(proto_parse_error(empty_ok, 0, &e), -1);
	static const uint8_t no_term[] = "SERROR\0C08P01\0";
	CHECK_EQ_INT(proto_parse_error(no_term, sizeof no_term - 1, &e), -1);
	static const uint8_t cut_string[] = "SERROR\0C08P0";
	CHECK_EQ_INT(proto_parse_error(cut_string, sizeof cut_string - 1, &e), -1);
	static const uint8_t code_only[] = "SERROR\0C";
	CHECK_EQ_INT(proto_parse_error(code_only, sizeof code_only - 1, &e), -1);
}

/* ParameterStatus bodies: exactly two strings. */
static void test_parse_param(void)
{
	const char *name = "x", *value = "x";
	static const uint8_t ok[] = "TimeZone\0UTC\0";
	CHECK_EQ_INT(proto_parse_param(ok, sizeof ok - 1, &name, &value), 0);
	CHECK_EQ_STR(name, "TimeZone");
	CHECK_EQ_STR(value, "UTC");
	static const uint8_t empties[] = "\0\0";
	CHECK_EQ_INT(proto_parse_param(empties, 2, &name, &value), 0);
	CHECK_EQ_STR(name, "");
	CHECK_EQ_STR(value, "");
	CHECK_EQ_INT(proto_parse_param(ok, 9, &name, &value), -1);              /* value missing */
	CHECK_EQ_INT(proto_parse_param(ok, sizeof ok - 2, &name, &value), -1);  /* value unterminated */
	CHECK_EQ_INT(proto_parse_param(ok, sizeof ok, &name, &value), -1);      /* one byte too many */
	CHECK_EQ_INT(proto_parse_param(ok, 0, &name, &value), -1);
	CHECK(name == NULL);
}

/* Every reader: values, the exact end of the window, one byte short, and a sticky error. */
static void test_cursor(void)
{
	static const uint8_t d[] = { 0x01, 0x02, 0x03, 0x04, 0xff, 0xfe, 0xfd, 0xfc, 'h', 'i', 0, 0x80 };
	struct cursor c = cur_make(d, sizeof d);
	CHECK_EQ_INT(cur_left(&c), 12);
	CHECK_EQ_INT(cur_u8(&c), 0x01);
	CHECK_EQ_INT(cur_u16(&c), 0x0203);
	CHECK_EQ_INT(cur_u8(&c), 0x04);
	CHECK_EQ_INT(cur_u32(&c), 0xfffefdfcu);
	size_t sl = 99;
	CHECK_EQ_STR(cur_cstr(&c, &sl), "hi");
	CHECK_EQ_INT(sl, 2);
	CHECK_EQ_INT(cur_left(&c), 1);
	CHECK(!cur_done(&c));
	const uint8_t *b = cur_bytes(&c, 1);
	CHECK(b == d + 11);
	CHECK(cur_done(&c));
	CHECK(cur_bytes(&c, 0) == d + 12); /* zero bytes at the end is fine */
	CHECK(cur_done(&c));
	CHECK_EQ_INT(cur_u8(&c), 0);       /* past the end: zero and sticky */
	CHECK(c.err);
	CHECK(!cur_done(&c));
	CHECK_EQ_INT(cur_left(&c), 0);

	/* Each reader one byte short of what it needs fails, and everything after fails too. */
	for (int which = 0; which < 5; which++) {
		static const size_t need[] = { 1, 2, 4, 3, 3 };
		c = cur_make(d, need[which] - 1);
		if (which == 4)
			c = cur_make(d + 8, 2); /* "hi" without its NUL */
		switch (which) {
		case 0: CHECK_EQ_INT(cur_u8(&c), 0); break;
		case 1: CHECK_EQ_INT(cur_u16(&c), 0); break;
		case 2: CHECK_EQ_INT(cur_u32(&c), 0); break;
		case 3: CHECK(cur_bytes(&c, 3) == NULL); break;
		case 4: CHECK(cur_cstr(&c, NULL) == NULL); break;
		}
		CHECK(c.err);
		CHECK(c.pos == (which == 4 ? d + 8 : d)); /* a failed read consumes nothing */
		CHECK(cur_bytes(&c, 0) == NULL);
		CHECK(cur_cstr(&c, NULL) == NULL);
		CHECK_EQ_INT(cur_u8(&c), 0);
		CHECK_EQ_INT(cur_left(&c), 0);
		CHECK(!cur_done(&c));
	}
	/* A huge count cannot wrap the pointer arithmetic. */
	c = cur_make(d, sizeof d);
	CHECK(cur_bytes(&c, SIZE_MAX) == NULL);
	CHECK(c.err);
	/* An empty window: done at once, every read fails. */
	c = cur_make(d, 0);
	CHECK(cur_done(&c));
	CHECK(cur_cstr(&c, NULL) == NULL);
	c = cur_make(d + 10, 1); /* just a NUL: the empty string */
	CHECK_EQ_STR(cur_cstr(&c, &sl), "");
	CHECK_EQ_INT(sl, 0);
	CHECK(cur_done(&c));

	uint8_t w[4];
	put_u32(w, 0x80a1b2c3u);
	CHECK_EQ_INT(w[0], 0x80);
	CHECK_EQ_INT(w[3], 0xc3);
	CHECK_EQ_INT(get_u32(w), 0x80a1b2c3u);
}

/* Frame the next message at *pos of b (fully present), advance *pos, and hand back a body cursor. */
static int next_msg(const struct iobuf *b, uint32_t *pos, enum proto_dir dir, enum proto_phase phase,
                    uint8_t *type, struct cursor *body)
{
	uint32_t len;
	const uint8_t *p = b->data + *pos;
	if (proto_frame(p, b->wpos - *pos, dir, phase, MAXP, type, &len) != FRAME_OK)
		return -1;
	if (len - 4 > b->wpos - *pos - PROTO_HDR)
		return -1;
	*body = cur_make(p + PROTO_HDR, len - 4);
	*pos += len + 1;
	return 0;
}

/* Server-to-client builders, all into one buffer, framed and parsed back in order. */
static void test_builders_server(void)
{
	struct iobuf *b = NULL;
	static const uint8_t md5salt[4] = { 0xaa, 0x00, 0x01, 0xff };
	static const char sasl[] = "SCRAM-SHA-256\0"; /* mechanism list: names then an empty one */
	const char *opts[] = { "_pq_.x", "_pq_.yy" };
	CHECK_EQ_INT(msg_error(&b, "FATAL", "53300", "too many clients"), 0);
	CHECK_EQ_INT(msg_notice(&b, "01000", "hello"), 0);
	CHECK_EQ_INT(msg_auth(&b, 0, NULL, 0), 0);
	CHECK_EQ_INT(msg_auth(&b, 5, md5salt, 4), 0);
	CHECK_EQ_INT(msg_auth(&b, 10, sasl, sizeof sasl), 0);
	CHECK_EQ_INT(msg_param_status(&b, "server_version", "15.8"), 0);
	CHECK_EQ_INT(msg_backend_key(&b, 4242, 0x89abcdefu), 0);
	CHECK_EQ_INT(msg_negotiate_version(&b, 0, opts, 2), 0);
	CHECK_EQ_INT(msg_ready(&b, 'I'), 0);
	CHECK_EQ_INT(msg_ready(&b, 'T'), 0);
	CHECK_EQ_INT(msg_ready(&b, 'E'), 0);

	uint32_t pos = 0;
	uint8_t t;
	struct cursor c;
	struct pg_error e;
	CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'E');
	CHECK_EQ_INT(proto_parse_error(c.pos, (uint32_t)cur_left(&c), &e), 0);
	CHECK_EQ_STR(e.severity, "FATAL");
	CHECK_EQ_STR(e.sqlstate, "53300");
	CHECK_EQ_STR(e.message, "too many clients");
	CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'N');
	CHECK_EQ_INT(proto_parse_error(c.pos, (uint32_t)cur_left(&c), &e), 0);
	CHECK_EQ_STR(e.severity, "NOTICE");
	CHECK_EQ_STR(e.sqlstate, "01000");
	CHECK_EQ_STR(e.message, "hello");

	CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'R');
	CHECK_EQ_INT(cur_u32(&c), 0);
	CHECK(cur_done(&c));
	CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(cur_u32(&c), 5);
	const uint8_t *salt = cur_bytes(&c, 4);
	CHECK(salt && memcmp(salt, md5salt, 4) == 0);
	CHECK(cur_done(&c));
	CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(cur_u32(&c), 10);
	CHECK_EQ_STR(cur_cstr(&c, NULL), "SCRAM-SHA-256");
	CHECK_EQ_STR(cur_cstr(&c, NULL), "");
	CHECK(cur_done(&c));

	const char *name, *value;
	CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'S');
	CHECK_EQ_INT(proto_parse_param(c.pos, (uint32_t)cur_left(&c), &name, &value), 0);
	CHECK_EQ_STR(name, "server_version");
	CHECK_EQ_STR(value, "15.8");
	CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'K');
	CHECK_EQ_INT(cur_u32(&c), 4242);
	CHECK_EQ_INT(cur_u32(&c), 0x89abcdefu);
	CHECK(cur_done(&c));
	CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'v');
	CHECK_EQ_INT(cur_u32(&c), 0);
	CHECK_EQ_INT(cur_u32(&c), 2);
	CHECK_EQ_STR(cur_cstr(&c, NULL), "_pq_.x");
	CHECK_EQ_STR(cur_cstr(&c, NULL), "_pq_.yy");
	CHECK(cur_done(&c));
	for (const char *st = "ITE"; *st; st++) {
		CHECK_EQ_INT(next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c), 0);
		CHECK_EQ_INT(t, 'Z');
		CHECK_EQ_INT(cur_u8(&c), *st);
		CHECK(cur_done(&c));
	}
	CHECK_EQ_INT(pos, b->wpos);
	free(b);
}

/* Client-to-server builders: query, terminate, password, SASL, and the untyped startup packets. */
static void test_builders_client(void)
{
	struct iobuf *b = NULL;
	static const uint8_t scram_final[] = "c=biws,r=abc,p=xyz"; /* SASL data: not NUL-terminated */
	CHECK_EQ_INT(msg_password(&b, "md5abc", 6, true), 0);
	CHECK_EQ_INT(msg_sasl_initial(&b, "SCRAM-SHA-256", "n,,n=,r=abc", 11), 0);
	CHECK_EQ_INT(msg_password(&b, scram_final, sizeof scram_final - 1, false), 0);
	CHECK_EQ_INT(msg_password(&b, NULL, 0, false), 0);
	uint32_t ready_at = b->wpos;
	CHECK_EQ_INT(msg_query(&b, "SELECT 1"), 0);
	CHECK_EQ_INT(msg_query(&b, ""), 0);
	CHECK_EQ_INT(msg_terminate(&b), 0);

	uint32_t pos = 0;
	uint8_t t;
	struct cursor c;
	size_t sl;
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_PREAUTH, &t, &c), 0);
	CHECK_EQ_INT(t, 'p');
	CHECK_EQ_STR(cur_cstr(&c, &sl), "md5abc");
	CHECK(cur_done(&c));
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_PREAUTH, &t, &c), 0);
	CHECK_EQ_STR(cur_cstr(&c, NULL), "SCRAM-SHA-256");
	CHECK_EQ_INT(cur_u32(&c), 11);
	const uint8_t *d = cur_bytes(&c, 11);
	CHECK(d && memcmp(d, "n,,n=,r=abc", 11) == 0);
	CHECK(cur_done(&c));
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_PREAUTH, &t, &c), 0);
	CHECK_EQ_INT(cur_left(&c), sizeof scram_final - 1);
	CHECK(memcmp(c.pos, scram_final, sizeof scram_final - 1) == 0);
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_PREAUTH, &t, &c), 0);
	CHECK_EQ_INT(cur_left(&c), 0);
	CHECK_EQ_INT(pos, ready_at);
	/* A query is not acceptable before authentication. */
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_PREAUTH, &t, &c), -1);
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'Q');
	CHECK_EQ_STR(cur_cstr(&c, NULL), "SELECT 1");
	CHECK(cur_done(&c));
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_READY, &t, &c), 0);
	CHECK_EQ_STR(cur_cstr(&c, &sl), "");
	CHECK(cur_done(&c));
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'X');
	CHECK(cur_done(&c));
	CHECK_EQ_INT(pos, b->wpos);
	free(b);

	/* Startup and cancel packets come back through proto_parse_startup. */
	b = NULL;
	const char *names[] = { "user", "database", "options" };
	const char *values[] = { "bob", "db1", "-c search_path=x" };
	struct startup_pkt sp;
	const char *why = "ok";
	CHECK_EQ_INT(msg_startup(&b, names, values, 3), 0);
	CHECK_EQ_INT(get_u32(b->data), b->wpos);
	CHECK_EQ_INT(proto_parse_startup(b->data, b->wpos, &sp, &why), 0);
	CHECK_EQ_INT(sp.code, PROTO_V3);
	CHECK_EQ_INT(sp.nparams, 3);
	CHECK_EQ_STR(startup_get(&sp, "options"), "-c search_path=x");
	CHECK_EQ_STR(sp.name[1], "database");
	uint32_t first = b->wpos;
	CHECK_EQ_INT(msg_cancel_request(&b, 77, 0xfffffffeu), 0);
	CHECK_EQ_INT(b->wpos - first, 16);
	CHECK_EQ_INT(proto_parse_startup(b->data + first, 16, &sp, &why), 0);
	CHECK_EQ_INT(sp.code, PROTO_CANCEL_CODE);
	CHECK_EQ_INT(sp.cancel_pid, 77);
	CHECK_EQ_INT(sp.cancel_key, 0xfffffffeu);
	b->wpos = b->rpos = 0;
	CHECK_EQ_INT(msg_startup(&b, NULL, NULL, 0), 0);
	CHECK_EQ_INT(proto_parse_startup(b->data, b->wpos, &sp, &why), 0);
	CHECK_EQ_INT(sp.nparams, 0);
	free(b);
}

/* The generic pieces, and a message larger than the first allocation. */
static void test_builders_generic(void)
{
	struct iobuf *b = NULL;
	int64_t off = msg_begin(&b, 'd');
	CHECK_EQ_INT(off, 1);
	CHECK_EQ_INT(msg_put_u8(&b, 0xab), 0);
	CHECK_EQ_INT(msg_put_u16(&b, 0xbeef), 0);
	CHECK_EQ_INT(msg_put_u32(&b, 0x01020304), 0);
	CHECK_EQ_INT(msg_put_str(&b, "s"), 0);
	CHECK_EQ_INT(msg_put_bytes(&b, "raw", 3), 0);
	CHECK_EQ_INT(msg_put_bytes(&b, NULL, 0), 0);
	msg_end(b, off);
	uint32_t pos = 0;
	uint8_t t;
	struct cursor c;
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_READY, &t, &c), 0);
	CHECK_EQ_INT(t, 'd');
	CHECK_EQ_INT(cur_left(&c), 1 + 2 + 4 + 2 + 3);
	CHECK_EQ_INT(cur_u8(&c), 0xab);
	CHECK_EQ_INT(cur_u16(&c), 0xbeef);
	CHECK_EQ_INT(cur_u32(&c), 0x01020304);
	CHECK_EQ_STR(cur_cstr(&c, NULL), "s");
	CHECK(memcmp(cur_bytes(&c, 3), "raw", 3) == 0);
	CHECK(cur_done(&c));

	/* 100 kB query: the buffer grows past its first 4 kB and the length word still covers it all. */
	size_t big = 100 * 1024;
	char *sql = malloc(big + 1);
	memset(sql, 'a', big);
	sql[big] = 0;
	CHECK_EQ_INT(msg_query(&b, sql), 0);
	CHECK(b->cap >= pos + big + 6);
	CHECK_EQ_INT(next_msg(b, &pos, FROM_CLIENT, PHASE_READY, &t, &c), 0);
	size_t sl = 0;
	const char *got = cur_cstr(&c, &sl);
	CHECK_EQ_INT(sl, big);
	CHECK(got && memcmp(got, sql, big) == 0);
	CHECK_EQ_INT(pos, b->wpos);
	free(sql);
	free(b);
}

/*
 * A builder appending to an output buffer whose head was already sent (rpos > 0): growing the buffer
 * mid-message compacts it, and the length word must still land on this message.
 */
static void test_builder_after_partial_send(void)
{
	for (int grow = 0; grow <= 1; grow++) {
		struct iobuf *b = iobuf_new(256);
		for (int i = 0; i < 15; i++) /* 15 ReadyForQuery = 90 bytes, then say 60 of them were sent */
			msg_ready(&b, 'I');
		b->rpos = 60;
		size_t qlen = grow ? 400 : 200; /* 200 fits after compaction; 400 needs realloc as well */
		char sql[401];
		memset(sql, 's', qlen);
		sql[qlen] = 0;
		CHECK_EQ_INT(msg_query(&b, sql), 0);
		uint32_t pos = b->rpos;
		uint8_t t;
		struct cursor c;
		int nready = 0, ok = 0;
		while (pos < b->wpos && next_msg(b, &pos, FROM_SERVER, PHASE_READY, &t, &c) == 0 && t == 'Z')
			nready++;
		CHECK_EQ_INT(nready, 5);
		/* 'Q' is a client message: frame it in that direction. */
		pos = b->rpos + 30;
		if (next_msg(b, &pos, FROM_CLIENT, PHASE_READY, &t, &c) == 0 && t == 'Q') {
			size_t sl = 0;
			ok = cur_cstr(&c, &sl) != NULL && sl == qlen && cur_done(&c);
		}
		CHECK(ok);
		CHECK_EQ_INT(pos, b->wpos);
		free(b);
	}
}

/* iobuf: creation, reserve without change, compaction, doubling, explicit limits, append. */
static void test_iobuf(void)
{
	CHECK_EQ_INT(iobuf_len(NULL), 0);
	struct iobuf *b = NULL;
	CHECK_EQ_INT(iobuf_reserve(&b, 10, 1 << 20), 0);
	CHECK(b != NULL);
	CHECK_EQ_INT(b->cap, 4096);
	CHECK_EQ_INT(iobuf_len(b), 0);
	free(b);
	b = NULL;
	CHECK_EQ_INT(iobuf_reserve(&b, 10000, 1 << 20), 0);
	CHECK_EQ_INT(b->cap, 10000);
	free(b);
	b = NULL;
	CHECK_EQ_INT(iobuf_reserve(&b, 10001, 10000), -1);
	CHECK(b == NULL);

	b = iobuf_new(100);
	CHECK_EQ_INT(b->cap, 100);
	CHECK(b->rpos == 0 && b->wpos == 0);
	uint8_t pattern[100];
	for (int i = 0; i < 100; i++)
		pattern[i] = (uint8_t)i;
	CHECK_EQ_INT(iobuf_append(&b, pattern, 80), 0);
	struct iobuf *same = b;
	CHECK_EQ_INT(iobuf_reserve(&b, 20, 100), 0); /* fits already: nothing moves */
	CHECK(b == same && b->cap == 100 && b->wpos == 80);
	b->rpos = 50;                                /* 30 live bytes: 20..29 of pattern at 50.. */
	CHECK_EQ_INT(iobuf_len(b), 30);
	CHECK_EQ_INT(iobuf_reserve(&b, 60, 100), 0); /* 30 + 60 <= 100: compaction, not growth */
	CHECK_EQ_INT(b->cap, 100);
	CHECK_EQ_INT(b->rpos, 0);
	CHECK_EQ_INT(b->wpos, 30);
	CHECK(memcmp(b->data, pattern + 50, 30) == 0);
	CHECK_EQ_INT(iobuf_reserve(&b, 71, 100), -1); /* 30 + 71 > limit: refused, contents intact */
	CHECK_EQ_INT(b->cap, 100);
	CHECK(memcmp(b->data, pattern + 50, 30) == 0);
	CHECK_EQ_INT(iobuf_reserve(&b, 101, 1000), 0); /* 30 + 101 > 100: doubles to 200 */
	CHECK_EQ_INT(b->cap, 200);
	CHECK(memcmp(b->data, pattern + 50, 30) == 0);
	CHECK_EQ_INT(iobuf_reserve(&b, 500, 1000), 0); /* doubling is not enough: grows to live + need */
	CHECK_EQ_INT(b->cap, 530);
	CHECK(memcmp(b->data, pattern + 50, 30) == 0);
	b->wpos = b->cap; /* full */
	CHECK_EQ_INT(iobuf_reserve(&b, 1, 600), 0); /* doubling clamped to the limit */
	CHECK_EQ_INT(b->cap, 600);
	CHECK_EQ_INT(iobuf_reserve(&b, 70, 600), 0);
	CHECK_EQ_INT(iobuf_reserve(&b, 71, 600), -1);
	CHECK_EQ_INT(iobuf_reserve(&b, UINT32_MAX, UINT32_MAX), -1); /* no wrap-around in live + need */
	CHECK_EQ_INT(b->cap, 600);
	CHECK(memcmp(b->data, pattern + 50, 30) == 0);
	b->rpos = b->wpos;
	iobuf_compact(b);
	CHECK(b->rpos == 0 && b->wpos == 0);
	iobuf_compact(b);
	CHECK(b->rpos == 0 && b->wpos == 0);
	free(b);

	/* Many small appends keep every byte in order. */
	b = NULL;
	for (uint32_t i = 0; i < 50000; i++) {
		uint8_t v = (uint8_t)(i * 7);
		if (iobuf_append(&b, &v, 1) < 0)
			break;
	}
	CHECK_EQ_INT(iobuf_len(b), 50000);
	int bad = 0;
	for (uint32_t i = 0; i < 50000; i++)
		bad += b->data[i] != (uint8_t)(i * 7);
	CHECK_EQ_INT(bad, 0);
	free(b);
}

/* A fresh buffer under a limit smaller than the default first allocation still gets room for need bytes. */
static void test_iobuf_small_limit(void)
{
	struct iobuf *b = NULL;
	CHECK_EQ_INT(iobuf_reserve(&b, 100, 1024), 0);
	CHECK(b && b->cap >= 100 && b->cap <= 1024);
	free(b);
}

/* Collects "name=value;" for each setting proto_parse_options hands out. */
static int collect_option(void *ctx, const char *name, const char *value)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 512 - n, "%s=%s;", name, value);
	return strcmp(name, "stop_here") == 0 ? -1 : 0;
}

/* What one options value gives: the settings, or "ERR" when refused. */
static const char *options_of(const char *opts, char *out)
{
	const char *why = NULL;
	out[0] = 0;
	if (proto_parse_options(opts, collect_option, out, &why) < 0 && why)
		snprintf(out, 512, "ERR");
	return out;
}

static void test_startup_options(void)
{
	char out[512];
	CHECK_EQ_STR(options_of("", out), "");
	CHECK_EQ_STR(options_of("-c statement_timeout=5s", out), "statement_timeout=5s;");
	CHECK_EQ_STR(options_of("  -cwork_mem=8MB\t--search-path=a,b ", out), "work_mem=8MB;search_path=a,b;");
	CHECK_EQ_STR(options_of("-c search_path=a,\\ b -c x.y=\\\\", out), "search_path=a, b;x.y=\\;");
	CHECK_EQ_STR(options_of("-c application-name=a-b", out), "application_name=a-b;");
	CHECK_EQ_STR(options_of("-c", out), "ERR");
	CHECK_EQ_STR(options_of("-c =x", out), "ERR");
	CHECK_EQ_STR(options_of("-c novalue", out), "ERR");
	CHECK_EQ_STR(options_of("-D /tmp", out), "ERR");
	CHECK_EQ_STR(options_of("plain", out), "ERR");
	/* a refusal by the callback stops the split, with the callback's reason (none here) */
	CHECK_EQ_STR(options_of("-c a=1 -c stop_here=1 -c b=2", out), "a=1;stop_here=1;");
	char big[3000];
	snprintf(big, sizeof big, "-c x=%02900d", 0);
	CHECK_EQ_STR(options_of(big, out), "ERR");
}

/* Decode the message b (type, length word, body) as the relay shows it: body NULL when complete is false. */
static void decode_wire(struct be_msg *m, const struct iobuf *b, bool complete, uint32_t seq)
{
	const uint8_t *p = b->data + b->rpos;
	be_msg_decode(m, p[0], get_u32(p + 1), complete ? p + PROTO_HDR : NULL, seq);
}

/* A server message decoded once: the fields the stages read, errors parsed only when asked, marks per message. */
static void test_be_msg(void)
{
	struct be_msg m = { 0 };
	struct iobuf *b = NULL;

	/* ReadyForQuery: its status; an incomplete one has none yet */
	CHECK(msg_ready(&b, 'T') == 0);
	decode_wire(&m, b, false, 1);
	CHECK_EQ_INT(m.type, 'Z');
	CHECK_EQ_INT(m.len, 5);
	CHECK(m.body == NULL && m.status == 0);
	decode_wire(&m, b, true, 1);
	CHECK_EQ_INT(m.status, 'T');
	CHECK(m.name == NULL && m.tag == NULL);

	/* marks last while the sequence number stays, and go with a new one */
	m.marks |= BE_MARK_READY;
	decode_wire(&m, b, true, 1);
	CHECK_EQ_INT(m.marks, BE_MARK_READY);
	decode_wire(&m, b, true, 2);
	CHECK_EQ_INT(m.marks, 0);
	CHECK_EQ_INT(m.seq, 2);

	/* ParameterStatus: name and value as views into the body; a malformed one has neither */
	b->rpos = b->wpos = 0;
	CHECK(msg_param_status(&b, "TimeZone", "UTC") == 0);
	decode_wire(&m, b, true, 3);
	CHECK_EQ_STR(m.name, "TimeZone");
	CHECK_EQ_STR(m.value, "UTC");
	CHECK(m.status == 0);
	uint8_t bad_s[] = { 'a', 0, 'b' }; /* the value lacks its NUL */
	be_msg_decode(&m, 'S', 4 + sizeof bad_s, bad_s, 4);
	CHECK(m.name == NULL && m.value == NULL);

	/* CommandComplete: its tag, unless it is not a string */
	uint8_t tag[] = "SELECT 1";
	be_msg_decode(&m, 'C', 4 + sizeof tag, tag, 5);
	CHECK_EQ_STR(m.tag, "SELECT 1");
	uint8_t bad_tag[] = { 'S', 'E' };
	be_msg_decode(&m, 'C', 4 + sizeof bad_tag, bad_tag, 6);
	CHECK(m.tag == NULL);
	uint8_t cut_tag[] = { 'S', 0, 'E' }; /* a string, but not the whole body */
	be_msg_decode(&m, 'C', 4 + sizeof cut_tag, cut_tag, 6);
	CHECK(m.tag == NULL);

	/* ErrorResponse: parsed at the first question only, with the same answer after */
	b->rpos = b->wpos = 0;
	CHECK(msg_error(&b, "FATAL", "57P01", "terminating connection") == 0);
	decode_wire(&m, b, true, 7);
	CHECK_EQ_INT(m.err_state, 0);
	const struct pg_error *e = NULL;
	CHECK_EQ_INT(be_msg_error(&m, &e), 0);
	CHECK_EQ_STR(e->sqlstate, "57P01");
	CHECK_EQ_STR(e->message, "terminating connection");
	CHECK_EQ_INT(m.err_state, 1);
	CHECK(be_msg_fatal(&m));
	b->rpos = b->wpos = 0;
	CHECK(msg_error(&b, "ERROR", "42P01", "no such table") == 0);
	decode_wire(&m, b, true, 8);
	CHECK(!be_msg_fatal(&m));
	CHECK_EQ_INT(be_msg_error(&m, &e), 0);
	CHECK_EQ_STR(e->severity, "ERROR");

	/* a malformed error keeps the fields read before the fault, as proto_parse_error does */
	uint8_t bad_e[] = { 'C', '4', '0', '0', '0', '1', 0, 'M', 'x' };
	be_msg_decode(&m, 'E', 4 + sizeof bad_e, bad_e, 9);
	CHECK_EQ_INT(be_msg_error(&m, &e), -1);
	CHECK_EQ_STR(e->sqlstate, "40001");
	CHECK(!be_msg_fatal(&m));
	/* an incomplete one has no fields */
	be_msg_decode(&m, 'E', 100, NULL, 10);
	CHECK_EQ_INT(be_msg_error(&m, &e), -1);
	CHECK(e->sqlstate == NULL);
	free(b);
}

/* Decode a body given as bytes (n of them, NULs included) with fe_decode; its result. */
static bool fe(struct fe_msg *m, uint8_t type, const char *bytes, uint32_t n)
{
	return fe_decode(m, type, n + 4, (const uint8_t *)bytes, 7);
}

static void test_fe_decode_wellformed(void)
{
	struct fe_msg m;
	CHECK(fe(&m, 'Q', "select 1", 9));
	CHECK_EQ_STR(m.sql, "select 1");
	CHECK_EQ_INT(m.sql_len, 8);
	CHECK_EQ_INT(m.seq, 7);
	CHECK_EQ_INT(m.len, 13);
	CHECK(!m.stmt && !m.portal && !m.cls && !m.cls_buf && !m.bad);
	CHECK(fe(&m, 'P', "s1\0select $1\0\0\0", 16));
	CHECK_EQ_STR(m.stmt, "s1");
	CHECK_EQ_INT(m.stmt_len, 2);
	CHECK_EQ_STR(m.sql, "select $1");
	CHECK_EQ_INT(m.sql_len, 9);
	CHECK(fe(&m, 'P', "\0select 2\0\0\0", 12));
	CHECK(m.stmt && m.stmt_len == 0 && m.sql_len == 8);
	CHECK(fe(&m, 'B', "p\0s1\0\0\0\0\0\0\0", 12));
	CHECK_EQ_STR(m.portal, "p");
	CHECK_EQ_STR(m.stmt, "s1");
	CHECK(!fe_unnamed_stmt(&m));
	CHECK(fe(&m, 'B', "\0\0\0\0\0\0\0\0", 8));
	CHECK(m.portal_len == 0 && m.stmt_len == 0 && fe_unnamed_stmt(&m) && !m.sql);
	CHECK(fe(&m, 'E', "cur\0\0\0\0\0", 8));
	CHECK_EQ_STR(m.portal, "cur");
	CHECK(fe(&m, 'D', "Sst\0", 4));
	CHECK_EQ_STR(m.stmt, "st");
	CHECK(!m.portal && !fe_unnamed_stmt(&m));
	CHECK(fe(&m, 'D', "S\0", 2));
	CHECK(fe_unnamed_stmt(&m));
	CHECK(fe(&m, 'C', "Pcur\0", 5));
	CHECK_EQ_STR(m.portal, "cur");
	CHECK(!m.stmt && !fe_unnamed_stmt(&m));
	CHECK(fe(&m, 'C', "S\0", 2));
	CHECK(m.stmt_len == 0 && !fe_unnamed_stmt(&m)); /* a Close is not a use */
	CHECK(fe(&m, 'S', "", 0));
	CHECK(!m.sql && !m.stmt && !m.portal);
	CHECK(fe(&m, 'H', "", 0) && fe(&m, 'X', "", 0) && fe(&m, 'd', "abc", 3) && fe(&m, 'F', "\0\0\0\1", 4));
	/* not buffered whole yet: only the header is known */
	CHECK(fe_decode(&m, 'Q', 100000, NULL, 3));
	CHECK(m.type == 'Q' && m.len == 100000 && !m.body && !m.sql && !m.bad && m.seq == 3);
}

static void test_fe_decode_malformed(void)
{
	struct fe_msg m;
	CHECK(!fe(&m, 'Q', "select 1", 8)); /* no NUL */
	CHECK(m.bad && !m.sql);
	CHECK(!fe(&m, 'Q', "", 0));
	CHECK(!fe(&m, 'P', "name", 4));
	CHECK(m.bad && !m.stmt && !m.sql);
	CHECK(!fe(&m, 'P', "name\0select", 11)); /* the text is cut */
	CHECK(m.stmt && m.stmt_len == 4 && !m.sql);
	CHECK(!fe(&m, 'B', "portal", 6));
	CHECK(!m.portal && !m.stmt && !fe_unnamed_stmt(&m));
	CHECK(!fe(&m, 'B', "\0s", 2));
	CHECK(m.portal && !m.stmt && !fe_unnamed_stmt(&m));
	CHECK(!fe(&m, 'E', "x", 1));
	CHECK(!fe(&m, 'D', "", 0));
	CHECK(!fe(&m, 'D', "X\0", 2)); /* neither statement nor portal */
	CHECK(!m.stmt && !m.portal);
	CHECK(!fe(&m, 'D', "S", 1));
	CHECK(!fe(&m, 'C', "Pname", 5));
	/* a length word below 4 is never framed, but the decoder does not trust it either */
	CHECK(fe_decode(&m, 'Q', 2, (const uint8_t *)"", 0) && !m.sql);
	/* each byte-wise truncation of a valid Bind stays inside the body */
	static const char bind[] = "por\0stm\0\0\0\0\0\0\0";
	for (uint32_t n = 0; n < sizeof bind - 1; n++) {
		char *copy = malloc(n ? n : 1);
		memcpy(copy, bind, n);
		bool ok = fe(&m, 'B', copy, n);
		CHECK(ok == (n >= 8));
		CHECK(!m.stmt || (m.stmt >= copy && m.stmt + m.stmt_len < copy + n));
		free(copy);
	}
}

int main(void)
{
	test_fe_decode_wellformed();
	test_fe_decode_malformed();
	test_startup_options();
	test_frame_types();
	test_frame_limits();
	test_frame_need_more();
	test_startup_v3();
	test_startup_many_params();
	test_startup_requests();
	test_parse_error();
	test_parse_param();
	test_be_msg();
	test_cursor();
	test_builders_server();
	test_builders_client();
	test_builders_generic();
	test_builder_after_partial_send();
	test_iobuf();
	test_iobuf_small_limit();
	return unit_done("test_codec");
}
