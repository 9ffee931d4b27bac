/* Strict standard base64 (RFC 4648, padded) for SCRAM messages and secrets. */
#include "auth/b64.h"

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Map one base64 character to its 6-bit value; -1 for anything else (incl. '='). */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Encode src[0..len) into dst, NUL-terminated; fails if cap is too small. */
int b64_encode(const uint8_t *src, size_t len, char *dst, size_t cap, size_t *out_len)
{
	size_t need = B64_ENC_LEN(len);
	if (len > (SIZE_MAX - 3) / 4 * 3 || cap <= need)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t v = (uint32_t)src[i] << 16;
		if (left > 1)
			v |= (uint32_t)src[i + 1] << 8;
		if (left > 2)
			v |= src[i + 2];
		dst[o++] = b64_alphabet[(v >> 18) & 63];
		dst[o++] = b64_alphabet[(v >> 12) & 63];
		dst[o++] = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		dst[o++] = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	dst[o] = '\0';
	if (out_len)
		*out_len = o;
	return 0;
}

/* Decode canonical padded base64; see b64.h for what is rejected. */
int b64_decode(const char *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
	if (len % 4 != 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		const unsigned char *q = (const unsigned char *)src + i;
		int last = (len - i == 4);
		int pad = 0;
		/* Padding is legal only in the last quantum: "xx==" or "xxx=". */
		if (last && q[3] == '=')
			pad = (q[2] == '=') ? 2 : 1;
		int a = b64_value(q[0]), b = b64_value(q[1]);
		int c = pad == 2 ? 0 : b64_value(q[2]);
		int d = pad >= 1 ? 0 : b64_value(q[3]);
		if (a < 0 || b < 0 || c < 0 || d < 0)
			return -1;
		/* Bits that padding drops must be zero, else two spellings decode alike. */
		if ((pad == 2 && (b & 0x0f)) || (pad == 1 && (c & 0x03)))
			return -1;
		size_t n = 3 - (size_t)pad;
		if (n > cap - o)
			return -1;
		uint32_t v = ((uint32_t)a << 18) | ((uint32_t)b << 12) | ((uint32_t)c << 6) | (uint32_t)d;
		dst[o++] = (uint8_t)(v >> 16);
		if (n > 1)
			dst[o++] = (uint8_t)(v >> 8);
		if (n > 2)
			dst[o++] = (uint8_t)v;
	}
	if (out_len)
		*out_len = o;
	return 0;
}
