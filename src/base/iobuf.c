/* Byte buffers owned by connections: a read/write window over one allocation. */
#include "base/iobuf.h"

#include <stdlib.h>
#include <string.h>

/* Allocate an empty buffer of cap bytes. */
struct iobuf *iobuf_new(uint32_t cap)
{
	struct iobuf *b = malloc(sizeof *b + cap);
	if (!b)
		return NULL;
	b->cap = cap;
	b->rpos = b->wpos = 0;
	return b;
}

/* Slide live bytes to offset 0. */
void iobuf_compact(struct iobuf *b)
{
	if (b->rpos == 0)
		return;
	uint32_t n = b->wpos - b->rpos;
	if (n)
		memmove(b->data, b->data + b->rpos, n);
	b->rpos = 0;
	b->wpos = n;
}

/* Guarantee `need` free bytes after wpos without exceeding `limit` total capacity. */
int iobuf_reserve(struct iobuf **bp, uint32_t need, uint32_t limit)
{
	struct iobuf *b = *bp;
	if (!b) {
		if (need > limit)
			return -1;
		uint32_t cap = need < 4096 ? 4096 : need;
		if (cap > limit)
			cap = limit;
		*bp = iobuf_new(cap);
		return *bp ? 0 : -1;
	}
	if (b->cap - b->wpos >= need)
		return 0;
	uint32_t live = b->wpos - b->rpos;
	if (need > limit || live > limit - need)
		return -1;
	if (b->cap - live >= need) {
		iobuf_compact(b);
		return 0;
	}
	uint64_t cap = (uint64_t)b->cap * 2;
	if (cap < (uint64_t)live + need)
		cap = (uint64_t)live + need;
	if (cap > limit)
		cap = limit;
	iobuf_compact(b);
	struct iobuf *nb = realloc(b, sizeof *nb + (size_t)cap);
	if (!nb)
		return -1;
	nb->cap = (uint32_t)cap;
	*bp = nb;
	return 0;
}

/* Append bytes at wpos. */
int iobuf_append(struct iobuf **bp, const void *p, uint32_t n)
{
	if (iobuf_reserve(bp, n, UINT32_MAX / 2) < 0)
		return -1;
	memcpy((*bp)->data + (*bp)->wpos, p, n);
	(*bp)->wpos += n;
	return 0;
}
