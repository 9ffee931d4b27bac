/* Text output for the HTTP answers: printf into an iobuf, with JSON string and Prometheus label escaping. */
#ifndef PGR_TEXTOUT_H
#define PGR_TEXTOUT_H

#include "base/iobuf.h"

/* Append formatted text; 0 or -1 (out of memory). */
int tx_printf(struct iobuf **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (with quotes); NULL appends null. */
int tx_json_str(struct iobuf **out, const char *s);
/* Append a JSON number, or null when v is NaN or infinite. */
int tx_json_num(struct iobuf **out, double v);
/* Append s escaped for a Prometheus label value (without quotes). */
int tx_prom_label(struct iobuf **out, const char *s);

#endif
