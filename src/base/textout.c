/* Text output for the HTTP answers: printf into an iobuf, with JSON string and Prometheus label escaping. */
#include "base/textout.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TX_LIMIT (64u << 20) /* no answer grows past 64 MB */

int tx_printf(struct iobuf **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || iobuf_reserve(out, (uint32_t)n + 1, TX_LIMIT) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)(*out)->data + (*out)->wpos, (size_t)n + 1, fmt, ap);
	va_end(ap);
	(*out)->wpos += (uint32_t)n;
	return 0;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static int utf8_len(const unsigned char *p)
{
	int n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
	if (n == 2 && p[0] < 0xc2)
		return 0; /* overlong */
	for (int i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

int tx_json_str(struct iobuf **out, const char *s)
{
	if (!s)
		return iobuf_append(out, "null", 4);
	int err = iobuf_append(out, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p && !err;) {
		int n = utf8_len(p);
		if (*p == '"' || *p == '\\')
			err = tx_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			err = tx_printf(out, "\\u%04x", *p);
		else if (n == 0)
			err = tx_printf(out, "\\ufffd"); /* names from clients need not be valid UTF-8 */
		else
			err = iobuf_append(out, p, (uint32_t)n);
		p += n ? n : 1;
	}
	return err | iobuf_append(out, "\"", 1);
}

int tx_json_num(struct iobuf **out, double v)
{
	if (!isfinite(v))
		return iobuf_append(out, "null", 4);
	if (fabs(v) < 9e15 && v == (double)(int64_t)v)
		return tx_printf(out, "%lld", (long long)v);
	return tx_printf(out, "%.15g", v);
}

int tx_prom_label(struct iobuf **out, const char *s)
{
	int err = 0;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && !err;) {
		int n = utf8_len(p);
		if (*p == '\\' || *p == '"')
			err = tx_printf(out, "\\%c", *p);
		else if (*p == '\n')
			err = iobuf_append(out, "\\n", 2);
		else if (n == 0)
			err = iobuf_append(out, "\xef\xbf\xbd", 3); /* U+FFFD for bytes that are not UTF-8 */
		else
			err = iobuf_append(out, p, (uint32_t)n);
		p += n ? n : 1;
	}
	return err;
}
