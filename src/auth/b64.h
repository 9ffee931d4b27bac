/* Strict standard base64 (RFC 4648, padded) for SCRAM messages and secrets. */
#ifndef PGR_AUTH_B64_H
#define PGR_AUTH_B64_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode n bytes (without a terminating NUL). */
#define B64_ENC_LEN(n) ((((n) + 2) / 3) * 4)
/* Upper bound on the bytes decoded from n base64 characters. */
#define B64_DEC_MAX(n) (((n) / 4) * 3)

/* Encode src[0..len) into dst, NUL-terminated; dst needs B64_ENC_LEN(len)+1 bytes.
 * Returns 0, or -1 if cap is too small. */
int b64_encode(const uint8_t *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* Decode exactly len characters of canonical padded base64 into dst.
 * Rejects bad characters, whitespace, missing or misplaced padding and non-zero
 * trailing bits (so every value has one spelling). Returns 0, or -1 on any
 * malformation or if the result would exceed cap. */
int b64_decode(const char *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);

#endif
