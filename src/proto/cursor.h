/* Bounds-checked read cursor: the only way pgrouter reads fields out of wire bytes. */
#ifndef PGR_CURSOR_H
#define PGR_CURSOR_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A window [pos, end); any out-of-bounds read sets err and returns zero/NULL from then on. */
struct cursor {
	const uint8_t *pos;
	const uint8_t *end;
	bool err;
};

/* Start a cursor over n bytes at p. */
static inline struct cursor cur_make(const void *p, size_t n)
{
	struct cursor c = { (const uint8_t *)p, (const uint8_t *)p + n, false };
	return c;
}

/* Bytes not yet consumed. */
static inline size_t cur_left(const struct cursor *c)
{
	return c->err ? 0 : (size_t)(c->end - c->pos);
}

/* True when every byte was consumed without error. */
static inline bool cur_done(const struct cursor *c)
{
	return !c->err && c->pos == c->end;
}

/* Read one byte. */
static inline uint8_t cur_u8(struct cursor *c)
{
	if (c->err || c->end - c->pos < 1) {
		c->err = true;
		return 0;
	}
	return *c->pos++;
}

/* Read a big-endian 16-bit integer. */
static inline uint16_t cur_u16(struct cursor *c)
{
	if (c->err || c->end - c->pos < 2) {
		c->err = true;
		return 0;
	}
	uint16_t v = (uint16_t)((c->pos[0] << 8) | c->pos[1]);
	c->pos += 2;
	return v;
}

/* Read a big-endian 32-bit integer. */
static inline uint32_t cur_u32(struct cursor *c)
{
	if (c->err || c->end - c->pos < 4) {
		c->err = true;
		return 0;
	}
	uint32_t v = ((uint32_t)c->pos[0] << 24) | ((uint32_t)c->pos[1] << 16) | ((uint32_t)c->pos[2] << 8) |
	        (uint32_t)c->pos[3];
	c->pos += 4;
	return v;
}

/* Take n raw bytes; NULL (and err) when fewer remain. */
static inline const uint8_t *cur_bytes(struct cursor *c, size_t n)
{
	if (c->err || n > (size_t)(c->end - c->pos)) {
		c->err = true;
		return NULL;
	}
	const uint8_t *p = c->pos;
	c->pos += n;
	return p;
}

/* Take a NUL-terminated string that ends inside the window; *len excludes the NUL. */
static inline const char *cur_cstr(struct cursor *c, size_t *len)
{
	if (c->err) {
		return NULL;
	}
	const uint8_t *nul = memchr(c->pos, 0, (size_t)(c->end - c->pos));
	if (!nul) {
		c->err = true;
		return NULL;
	}
	const char *s = (const char *)c->pos;
	if (len)
		*len = (size_t)(nul - c->pos);
	c->pos = nul + 1;
	return s;
}

/* Read a big-endian uint32 at p without a cursor (caller has checked 4 bytes exist). */
static inline uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Store v big-endian at p. */
static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
