/* PostgreSQL v3 protocol codec: framing, size limits, startup parsing and message builders (no I/O). */
#ifndef PGR_CODEC_H
#define PGR_CODEC_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/iobuf.h"

#define PROTO_V3 196608u /* 3.0 */
#define PROTO_CANCEL_CODE 80877102u
#define PROTO_SSL_CODE 80877103u
#define PROTO_GSSENC_CODE 80877104u
#define PROTO_HDR 5u /* type byte + int32 length */
#define STARTUP_MAX_LEN 10000u /* same bound as PostgreSQL's postmaster */
#define STARTUP_MAX_PARAMS 64
#define PREAUTH_MAX_LEN 16384u /* password / SASL messages before authentication */
#define SMALL_MSG_MAX_LEN 10000u /* Sync, Describe, Close, Execute… carry at most names */

enum proto_dir { FROM_CLIENT, FROM_SERVER };

/* Outcome of looking at the next message in a buffer. */
enum frame_status {
	FRAME_OK, /* *type and *len are valid; len includes the 4 length bytes */
	FRAME_NEED_MORE, /* fewer than 5 bytes available */
	FRAME_BAD_TYPE, /* a type byte that is not valid in this direction/phase */
	FRAME_BAD_LEN, /* length below 4 or above the limit for this type */
};

/* Which phase a client connection is in; limits are tighter before authentication. */
enum proto_phase { PHASE_PREAUTH, PHASE_READY };

/* Validate the header at p (avail bytes) for a message travelling in dir during phase; max_packet caps large messages. */
enum frame_status proto_frame(const uint8_t *p, size_t avail, enum proto_dir dir, enum proto_phase phase,
                              uint32_t max_packet, uint8_t *type, uint32_t *len);

/* Largest wire length allowed for this message type, or 0 when the type is invalid. */
uint32_t proto_max_len(enum proto_dir dir, enum proto_phase phase, uint8_t type, uint32_t max_packet);

/* A parsed startup-phase packet; string pointers point into the packet bytes. */
struct startup_pkt {
	uint32_t code; /* PROTO_V3-family, or one of the request codes */
	uint32_t cancel_pid;
	uint32_t cancel_key;
	int nparams;
	const char *name[STARTUP_MAX_PARAMS];
	const char *value[STARTUP_MAX_PARAMS];
};

/* Parse a complete startup packet of len bytes (including its length word); 0 or -1 with *why set. */
int proto_parse_startup(const uint8_t *pkt, uint32_t len, struct startup_pkt *out, const char **why);

/* Look up a startup parameter by name; NULL when absent. */
const char *startup_get(const struct startup_pkt *sp, const char *name);

/* Fields of an ErrorResponse / NoticeResponse; pointers into the message. */
struct pg_error {
	const char *severity; /* localized-independent 'V' field when present, else 'S' */
	const char *sqlstate;
	const char *message;
};

/* Parse the body (after the length word) of an 'E' or 'N' message; 0 or -1. */
int proto_parse_error(const uint8_t *body, uint32_t n, struct pg_error *out);

/* Parse a ParameterStatus body into name/value; 0 or -1. */
int proto_parse_param(const uint8_t *body, uint32_t n, const char **name, const char **value);

/* --- builders: append one complete message to *bp; 0 or -1 on allocation failure --- */

/* Start a message of the given type (0 for untyped startup packets); returns its length-word offset or -1. */
int64_t msg_begin(struct iobuf **bp, uint8_t type);
/* Patch the length word of the message started at off. */
void msg_end(struct iobuf *b, int64_t off);
int msg_put_u8(struct iobuf **bp, uint8_t v);
int msg_put_u16(struct iobuf **bp, uint16_t v);
int msg_put_u32(struct iobuf **bp, uint32_t v);
int msg_put_str(struct iobuf **bp, const char *s);
int msg_put_bytes(struct iobuf **bp, const void *p, uint32_t n);

int msg_error(struct iobuf **bp, const char *severity, const char *sqlstate, const char *message);
int msg_notice(struct iobuf **bp, const char *sqlstate, const char *message);
int msg_auth(struct iobuf **bp, uint32_t code, const void *data, uint32_t n);
int msg_param_status(struct iobuf **bp, const char *name, const char *value);
int msg_backend_key(struct iobuf **bp, uint32_t pid, uint32_t key);
int msg_ready(struct iobuf **bp, char status);
int msg_query(struct iobuf **bp, const char *sql);
int msg_terminate(struct iobuf **bp);
int msg_cancel_request(struct iobuf **bp, uint32_t pid, uint32_t key);
/* A startup packet for protocol 3.0 with n name/value pairs. */
int msg_startup(struct iobuf **bp, const char *const *names, const char *const *values, int n);
/* NegotiateProtocolVersion: newest minor we speak plus the options we did not recognise. */
int msg_negotiate_version(struct iobuf **bp, uint32_t minor, const char *const *opts, int nopts);
int msg_password(struct iobuf **bp, const void *data, uint32_t n, bool nul_terminate);
int msg_sasl_initial(struct iobuf **bp, const char *mech, const void *data, uint32_t n);

#endif
