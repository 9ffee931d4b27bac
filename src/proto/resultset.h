/* Result sets in the wire protocol: RowDescription of typed columns, DataRows of text values, CommandComplete. */
#ifndef PGR_RESULTSET_H
#define PGR_RESULTSET_H

#include <stddef.h>
#include <stdint.h>

struct iobuf;

/* Type OIDs of result columns: PgBouncer's console uses these, and tools read them to parse values. */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25
#define OID_NUMERIC 1700

/* One result column: its name and type (values are always sent in text format). */
struct col {
	const char *name;
	uint32_t oid;
};
#define COL_TEXT(n) \
	{ \
		n, OID_TEXT \
	}
#define COL_INT4(n) \
	{ \
		n, OID_INT4 \
	}
#define COL_INT8(n) \
	{ \
		n, OID_INT8 \
	}
#define COL_NUM(n) \
	{ \
		n, OID_NUMERIC \
	}
#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct result {
	struct iobuf **out;
	int ncols;
	int rows;
	int err;
};

/* RowDescription of n columns. */
void res_begin(struct result *r, struct iobuf **out, const struct col *cols, int n);
/* One DataRow of r->ncols values in text format (NULL for SQL NULL). */
void res_row(struct result *r, const char *const *vals);
/* A DataRow already encoded (rows gathered from other workers). */
void res_raw_rows(struct result *r, const struct iobuf *rows, int nrows);
/* CommandComplete with the tag. */
void res_complete(struct iobuf **out, const char *tag);
/* A DataRow of n values into *b, without a result (built by a worker for someone else's answer); 0 or -1. */
int res_encode_row(struct iobuf **b, const char *const *vals, int n);
/* "%lld" / "%llu" into a caller's buffer (for row values). */
const char *res_int(char *buf, size_t n, long long v);
const char *res_uint(char *buf, size_t n, unsigned long long v);
/* A monotonic µs timestamp (mono_now: the same clock now) as "YYYY-MM-DD HH:MM:SS UTC" (wall clock), or NULL for 0. */
const char *res_time(char *buf, size_t n, int64_t mono_us, int64_t mono_now);

#endif
