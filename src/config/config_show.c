/* Settings as text: their values as SHOW CONFIG and the reload log show them, with secrets redacted. */
#include "config/config_int.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The password in a URL's user info ("scheme://user:password@host…", or all of the user info when it has no
   ':') replaced by "********" in out; a URL without '@' is copied as it is. The last '@' ends the user info:
   a password may hold '/' or '@' unencoded, and hiding too much is harmless. */
static void redact_url(const char *url, char *out, size_t n)
{
	const char *scheme_end = strstr(url, "://");
	const char *info = scheme_end ? scheme_end + 3 : url;
	const char *at = strrchr(info, '@');
	if (!at) {
		snprintf(out, n, "%s", url);
		return;
	}
	const char *colon = memchr(info, ':', (size_t)(at - info));
	const char *keep_end = colon ? colon + 1 : info; /* the scheme and the user name stay */
	snprintf(out, n, "%.*s********%s", (int)(keep_end - url), url, at);
}

/* value of st as logs, the console and error messages may show it (out, or value itself when not secret). */
const char *config_redact_value(const struct setting *st, const char *value, char *out, size_t n)
{
	if ((st->flags & F_SECRET) && *value)
		snprintf(out, n, "********");
	else if (st->flags & F_SECRET_URL)
		redact_url(value, out, n);
	else
		return value;
	return out;
}

void config_redact(const char *name, const char *value, char *out, size_t n)
{
	const struct setting *st = config_find_setting(name);
	const char *shown = st ? config_redact_value(st, value, out, n) : value;
	if (shown != out)
		snprintf(out, n, "%s", shown);
}

/* A duration in µs as PgBouncer shows it: seconds, without a unit, with a fraction only when there is one. */
static void seconds_str(int64_t us, char *out, size_t n)
{
	if (us % 1000000 == 0) {
		snprintf(out, n, "%lld", (long long)(us / 1000000));
		return;
	}
	int len = snprintf(out, n, "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000));
	while (len > 0 && (size_t)len < n && out[len - 1] == '0')
		out[--len] = 0;
}

/* Render a setting's value for comparison and display. */
void config_setting_str(const struct config *cfg, const struct setting *st, char *out, size_t n)
{
	const char *f = (const char *)cfg + st->off;
	switch (st->type) {
	case CT_STR: snprintf(out, n, "%s", *(char *const *)f ? *(char *const *)f : ""); break;
	case CT_BOOL: snprintf(out, n, "%d", *(const bool *)f); break;
	case CT_ENUM: snprintf(out, n, "%s", st->enums[*(const int *)f]); break;
	case CT_INT: snprintf(out, n, "%d", *(const int *)f); break;
	case CT_DUR: seconds_str(*(const int64_t *)f, out, n); break;
	case CT_SIZE: snprintf(out, n, "%lld", (long long)*(const int64_t *)f); break;
	}
}

/* A setting's value as output may show it (secrets redacted). */
void config_setting_shown(const struct config *cfg, const struct setting *st, char *out, size_t n)
{
	char raw[256];
	config_setting_str(cfg, st, raw, sizeof raw);
	if (config_redact_value(st, raw, out, n) != out)
		snprintf(out, n, "%s", raw);
}

/* Report what a reload changed; restart-only config_settings keep their old value (copied by the caller). */
void config_log_changes(const struct config *old_c, const struct config *new_c)
{
	for (const struct setting *st = config_settings; st->name; st++) {
		char a[256], b[256];
		config_setting_str(old_c, st, a, sizeof a);
		config_setting_str(new_c, st, b, sizeof b);
		if (strcmp(a, b) == 0)
			continue;
		config_setting_shown(old_c, st, a, sizeof a);
		config_setting_shown(new_c, st, b, sizeof b);
		if (st->flags & F_RESTART)
			log_warn(NULL, "reload: %s changed from '%s' to '%s' but needs a restart; keeping '%s'",
			         st->name, a, b, a);
		else
			log_info(NULL, "reload: %s = '%s' (was '%s')", st->name, b, a);
	}
}

bool config_setting_at(const struct config *cfg, int i, struct config_setting_info *out)
{
	if (i < 0)
		return false;
	for (int k = 0; k <= i; k++)
		if (!config_settings[k].name)
			return false; /* past the table's end */
	const struct setting *st = &config_settings[i];
	out->name = st->name;
	out->changeable = !(st->flags & F_RESTART);
	config_setting_shown(cfg, st, out->value, sizeof out->value);
	/* The default as the same renderer shows it: parse it into a scratch field of the right type. */
	struct config scratch;
	memset(&scratch, 0, sizeof scratch);
	const char *why;
	if (config_apply_setting(&scratch, st, st->def, &why) == 0)
		config_setting_shown(&scratch, st, out->def, sizeof out->def);
	else
		snprintf(out->def, sizeof out->def, "%s", st->def);
	if (st->type == CT_STR)
		free(*(char **)((char *)&scratch + st->off));
	return true;
}
