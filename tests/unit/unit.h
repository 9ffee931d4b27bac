/* Minimal unit-test harness: CHECK macros and a closing "N passed, N failed" line. */
#ifndef PGR_UNIT_H
#define PGR_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

/* Record one check; print the location and expression when it fails. */
#define CHECK(cond)                                                            \
	do {                                                                       \
		if (cond) {                                                            \
			unit_passed++;                                                     \
		} else {                                                               \
			unit_failed++;                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                      \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                     \
	do {                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                    \
		if (_a == _b) {                                                        \
			unit_passed++;                                                     \
		} else {                                                               \
			unit_failed++;                                                     \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__,    \
			        __LINE__, #a, _a, _b);                                     \
		}                                                                      \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                     \
	do {                                                                       \
		const char *_a = (a), *_b = (b);                                       \
		if (_a && _b && strcmp(_a, _b) == 0) {                                 \
			unit_passed++;                                                     \
		} else {                                                               \
			unit_failed++;                                                     \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n",          \
			        __FILE__, __LINE__, #a, _a ? _a : "(null)",                \
			        _b ? _b : "(null)");                                       \
		}                                                                      \
	} while (0)

/* Print this binary's tally (parsed by run_all.sh) and return the exit code. */
static inline int unit_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
