/* libFuzzer target: proto_parse_startup on arbitrary packets (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest). */
#include "fuzz_common.h"
#include "base/iobuf.h"
#include "proto/codec.h"
#include "proto/options.h"

/* The input is one packet as a client sends it first: int32 length, int32 code, body.
 * It is parsed twice: as given (so wrong length words are exercised) and with the
 * length word forced to the real size (so the fuzzer spends its time on the body). */

/* Read a big-endian uint32 (caller checked 4 bytes). */
static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* First value for name among the parsed parameters, by a plain scan. */
static const char *first_value(const struct startup_pkt *sp, const char *name)
{
	for (int i = 0; i < sp->nparams; i++)
		if (strcmp(sp->name[i], name) == 0)
			return sp->value[i];
	return NULL;
}

/* A v3.0 packet that parsed must be rebuilt byte for byte by msg_startup. */
static void check_rebuild(const uint8_t *pkt, uint32_t len, const struct startup_pkt *sp)
{
	struct iobuf *out = NULL;
	FUZZ_CHECK(msg_startup(&out, sp->name, sp->value, sp->nparams) == 0);
	FUZZ_CHECK(out->wpos == len && memcmp(out->data, pkt, len) == 0);
	free(out);
}

/* Everything a successful parse promises about its result. */
static void check_parsed(const uint8_t *pkt, uint32_t len, const struct startup_pkt *sp)
{
	FUZZ_CHECK(len >= 8 && be32(pkt) == len && sp->code == be32(pkt + 4));
	if (sp->code == PROTO_SSL_CODE || sp->code == PROTO_GSSENC_CODE) {
		FUZZ_CHECK(len == 8 && sp->nparams == 0);
		return;
	}
	if (sp->code == PROTO_CANCEL_CODE) {
		FUZZ_CHECK(len == 16 && sp->cancel_pid == be32(pkt + 8) && sp->cancel_key == be32(pkt + 12));
		return;
	}
	FUZZ_CHECK((sp->code >> 16) == 3);
	FUZZ_CHECK(sp->nparams >= 0 && sp->nparams <= STARTUP_MAX_PARAMS);
	for (int i = 0; i < sp->nparams; i++) {
		FUZZ_CHECK(fuzz_str_inside(sp->name[i], pkt, len) && sp->name[i][0] != '\0');
		FUZZ_CHECK(fuzz_str_inside(sp->value[i], pkt, len));
		FUZZ_CHECK(startup_get(sp, sp->name[i]) == first_value(sp, sp->name[i]));
	}
	FUZZ_CHECK(startup_get(sp, "user") == first_value(sp, "user"));
	FUZZ_CHECK(startup_get(sp, "database") == first_value(sp, "database"));
	if (sp->code == PROTO_V3)
		check_rebuild(pkt, len, sp);
}

/* Every setting the options parser hands out: a name without '=' or '-', inside the argument limit. */
static int check_option(void *ctx, const char *name, const char *value)
{
	(void)ctx;
	FUZZ_CHECK(name[0] != '\0' && !strchr(name, '=') && !strchr(name, '-'));
	FUZZ_CHECK(strlen(name) + strlen(value) + 1 < PROTO_OPTION_MAX);
	return 0;
}

/* The options parameter, split as the proxy splits it for session settings; a failure must say why. */
static void check_options(const struct startup_pkt *sp)
{
	const char *opts = startup_get(sp, "options");
	const char *why = NULL;
	if (opts && proto_parse_options(opts, check_option, NULL, &why) < 0)
		FUZZ_CHECK(why != NULL && *why != '\0');
}

/* Parse one packet; a failure must say why. */
static void parse_one(const uint8_t *pkt, uint32_t len)
{
	struct startup_pkt sp;
	const char *why = NULL;
	if (proto_parse_startup(pkt, len, &sp, &why) == 0) {
		check_parsed(pkt, len, &sp);
		check_options(&sp);
	}
	else
		FUZZ_CHECK(why != NULL && *why != '\0');
}

/* Entry point. The proxy never reads more than STARTUP_MAX_LEN bytes of a startup packet. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > STARTUP_MAX_LEN)
		return 0;
	/* Exact-size heap copies: ASan then flags any read past the packet. */
	uint8_t *pkt = malloc(size ? size : 1);
	FUZZ_CHECK(pkt != NULL);
	if (size)
		memcpy(pkt, data, size);
	parse_one(pkt, (uint32_t)size);
	if (size >= 4) {
		pkt[0] = (uint8_t)(size >> 24);
		pkt[1] = (uint8_t)(size >> 16);
		pkt[2] = (uint8_t)(size >> 8);
		pkt[3] = (uint8_t)size;
		parse_one(pkt, (uint32_t)size);
	}
	free(pkt);
	return 0;
}
