/* The startup packet's "options" value: command-line switches split as PostgreSQL splits them. */
#include "proto/options.h"

#include <stdlib.h>
#include <string.h>

/* Next argument of opts from *pos into buf (spaces separate, a backslash takes the next byte as is);
   false at the end. PostgreSQL's own rule for this parameter (pg_split_opts). */
static bool next_arg(const char *opts, size_t *pos, char *buf, size_t cap, bool *too_long)
{
	size_t i = *pos, n = 0;
	while (opts[i] == ' ' || opts[i] == '\t' || opts[i] == '\n' || opts[i] == '\r')
		i++;
	if (!opts[i])
		return false;
	for (; opts[i] && opts[i] != ' ' && opts[i] != '\t' && opts[i] != '\n' && opts[i] != '\r'; i++) {
		if (opts[i] == '\\' && opts[i + 1])
			i++;
		if (n + 1 >= cap) {
			*too_long = true;
			return false;
		}
		buf[n++] = opts[i];
	}
	buf[n] = 0;
	*pos = i;
	return true;
}

/* "name=value" in arg: split it, and spell the name as PostgreSQL does ('-' is '_'); false if malformed. */
static bool split_setting(char *arg, char **name, char **value)
{
	char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return false;
	*eq = 0;
	for (char *d = arg; *d; d++)
		if (*d == '-')
			*d = '_';
	*name = arg;
	*value = eq + 1;
	return true;
}

int proto_parse_options(const char *opts, proto_option_fn *fn, void *ctx, const char **why)
{
	char arg[PROTO_OPTION_MAX], more[PROTO_OPTION_MAX];
	size_t pos = 0;
	bool too_long = false;
	while (next_arg(opts, &pos, arg, sizeof arg, &too_long)) {
		char *setting = NULL;
		if (strcmp(arg, "-c") == 0) {
			if (!next_arg(opts, &pos, more, sizeof more, &too_long))
				return *why = too_long ? "an option in options is too long"
				                       : "-c without name=value in options",
				       -1;
			setting = more;
		} else if (strncmp(arg, "-c", 2) == 0) {
			setting = arg + 2;
		} else if (strncmp(arg, "--", 2) == 0) {
			setting = arg + 2;
		}
		char *name, *value;
		if (!setting || !split_setting(setting, &name, &value))
			return *why = "unsupported options (only -c name=value and --name=value)", -1;
		if (fn(ctx, name, value) < 0)
			return -1;
	}
	if (too_long)
		return *why = "an option in options is too long", -1;
	return 0;
}
