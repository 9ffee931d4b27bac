/* The startup packet's "options" value: command-line switches split as PostgreSQL splits them. */
#ifndef PGR_PROTO_OPTIONS_H
#define PGR_PROTO_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define PROTO_OPTION_MAX 1024 /* longest single argument taken */

/* One setting: 0 to go on, -1 to stop (the callback sets its own reason). */
typedef int proto_option_fn(void *ctx, const char *name, const char *value);

/* Split opts (spaces separate arguments, a backslash escapes the next byte) and call fn for each
   "-c name=value", "-cname=value" or "--name=value", names with '-' spelled '_'. 0, or -1 with *why
   (for malformed options) or after fn returned -1. */
int proto_parse_options(const char *opts, proto_option_fn *fn, void *ctx, const char **why);

#endif
