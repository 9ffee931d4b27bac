/* Parsing consistency_store URLs (redis://host[:port]); apart from ryw_store.c so the config loader needs no hiredis. */
#include "config/ryw_store_url.h"

#include <stdlib.h>
#include <string.h>

int ryw_store_parse_url(const char *url, char *host, size_t hostlen, int *port)
{
	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	const char *h = url + 8, *end, *colon;
	if (*h == '[') {
		h++;
		if (!(end = strchr(h, ']')))
			return -1;
		colon = end[1] == ':' ? end + 1 : end[1] ? NULL : end + 1;
		if (!colon)
			return -1;
	} else {
		end = colon = h + strcspn(h, ":");
	}
	size_t n = (size_t)(end - h);
	if (n == 0 || n >= hostlen || memchr(h, '/', n) || memchr(h, '@', n))
		return -1;
	memcpy(host, h, n);
	host[n] = 0;
	*port = 6379;
	if (*colon == ':') {
		char *stop;
		long p = strtol(colon + 1, &stop, 10);
		if (stop == colon + 1 || (*stop && strcmp(stop, "/") != 0) || p < 1 || p > 65535)
			return -1;
		*port = (int)p;
	} else if (*colon && strcmp(colon, "/") != 0) {
		return -1;
	}
	return 0;
}
