/* Read-your-writes, process-wide parts: LSN text form, the consistency-key table and the counters. */
#ifndef PGR_RYW_KEYS_H
#define PGR_RYW_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/ryw_state.h"

/* Parse "X/Y" (hex halves, as PostgreSQL prints an LSN) from n bytes; 0 or -1. */
int ryw_parse_lsn(const char *s, size_t n, uint64_t *out);
/* Format lsn as PostgreSQL does ("0/3000148"); returns buf. */
char *ryw_format_lsn(uint64_t lsn, char *buf, size_t n);

/* Process-wide key table (bounded LRU, entries expire after ttl_us). Raise key's LSN to at least lsn. */
void ryw_key_note(const char *key, uint64_t lsn, int64_t now, int64_t ttl_us, int max_keys);
/* key's LSN, 0 when unknown or expired. */
uint64_t ryw_key_get(const char *key, int64_t now, int64_t ttl_us);
/* Live entries in the table. */
int ryw_key_count(void);
/* Empty the table (tests, exit). */
void ryw_key_clear(void);

/* Counters (process-wide, relaxed atomics): reads sent to the primary because of RYW, by scope. */
uint64_t ryw_stat_primary(enum ryw_scope s);
/* Count a learned commit LSN (rode: its query followed the client's COMMIT, no extra round trip). */
void ryw_count_learned(bool rode);
/* Commit LSNs learned so far, with (rode) or after the client's last statement. */
uint64_t ryw_stat_learned(bool rode);
/* Count a read sent to the primary because of scope. */
void ryw_count_primary(enum ryw_scope scope);

#endif
