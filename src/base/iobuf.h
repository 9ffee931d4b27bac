/* Byte buffers owned by connections: a read/write window over one allocation. */
#ifndef PGR_IOBUF_H
#define PGR_IOBUF_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

/* Bytes [rpos, wpos) are live; [wpos, cap) is free space. */
struct iobuf {
	uint32_t cap;
	uint32_t rpos;
	uint32_t wpos;
	uint8_t data[];
};

/* Allocate a buffer with cap bytes of space, or NULL. */
struct iobuf *iobuf_new(uint32_t cap);

/* Number of live bytes. */
static inline uint32_t iobuf_len(const struct iobuf *b)
{
	return b ? b->wpos - b->rpos : 0;
}

/* Make room for need more bytes after wpos, compacting or reallocating *bp; 0 or -1 (too big/OOM). */
int iobuf_reserve(struct iobuf **bp, uint32_t need, uint32_t limit);

/* Move live bytes to the front so that the free tail is as large as possible. */
void iobuf_compact(struct iobuf *b);

/* Append n bytes, growing as needed; 0 or -1. */
int iobuf_append(struct iobuf **bp, const void *p, uint32_t n);

#endif
