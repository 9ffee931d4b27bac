/* Result sets in the wire protocol (the admin console's answers, SHOW of pgrouter's settings): RowDescription of
   typed columns, DataRows of text values, CommandComplete. */
#include "proto/resultset.h"
#include "base/iobuf.h"
#include "proto/codec.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

void res_begin(struct result *r, struct iobuf **out, const struct col *cols, int n)
{
	r->out = out;
	r->ncols = n;
	r->rows = 0;
	r->err = 0;
	int64_t off = msg_begin(out, 'T');
	r->err |= off < 0;
	r->err |= msg_put_u16(out, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		/* typlen as PostgreSQL sends it: the fixed size of an integer type, -1 for variable length */
		int16_t typlen = cols[i].oid == OID_INT4 ? 4 : cols[i].oid == OID_INT8 ? 8 : -1;
		r->err |= msg_put_str(out, cols[i].name);
		r->err |= msg_put_u32(out, 0) | msg_put_u16(out, 0) | msg_put_u32(out, cols[i].oid);
		r->err |= msg_put_u16(out, (uint16_t)typlen) | msg_put_u32(out, 0xffffffff) | msg_put_u16(out, 0);
	}
	if (off >= 0)
		msg_end(*out, off);
}

int res_encode_row(struct iobuf **b, const char *const *vals, int n)
{
	int64_t off = msg_begin(b, 'D');
	int err = off < 0;
	err |= msg_put_u16(b, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		if (!vals[i]) {
			err |= msg_put_u32(b, 0xffffffff);
			continue;
		}
		uint32_t l = (uint32_t)strlen(vals[i]);
		err |= msg_put_u32(b, l) | msg_put_bytes(b, vals[i], l);
	}
	if (off >= 0)
		msg_end(*b, off);
	return err ? -1 : 0;
}

void res_row(struct result *r, const char *const *vals)
{
	r->err |= res_encode_row(r->out, vals, r->ncols);
	r->rows++;
}

void res_raw_rows(struct result *r, const struct iobuf *rows, int nrows)
{
	if (rows && iobuf_len(rows))
		r->err |= iobuf_append(r->out, rows->data + rows->rpos, iobuf_len(rows));
	r->rows += nrows;
}

void res_complete(struct iobuf **out, const char *tag)
{
	int64_t off = msg_begin(out, 'C');
	if (off >= 0 && msg_put_str(out, tag) == 0)
		msg_end(*out, off);
}

const char *res_int(char *buf, size_t n, long long v)
{
	snprintf(buf, n, "%lld", v);
	return buf;
}

const char *res_uint(char *buf, size_t n, unsigned long long v)
{
	snprintf(buf, n, "%llu", v);
	return buf;
}

const char *res_time(char *buf, size_t n, int64_t mono_us, int64_t mono_now)
{
	if (!mono_us)
		return NULL;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	time_t t = (time_t)(tv.tv_sec - (mono_now - mono_us) / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}
