/* auth_hba_file: the pg_hba.conf subset pgrouter supports, parsed once, matched per login. */
#ifndef PGR_AUTH_HBA_H
#define PGR_AUTH_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define HBA_MAX_SIZE (1u << 20) /* bytes of the file and of each @file */
#define HBA_MAX_TOKEN 4096 /* bytes of one name */
#define HBA_MAX_DEPTH 8 /* nesting of @file inclusions */

/* How the client reached us. */
enum hba_conn_type {
	HBA_CONN_LOCAL, /* Unix-domain socket */
	HBA_CONN_HOST /* TCP; is_tls says whether it is encrypted */
};

enum hba_method {
	HBA_METHOD_REJECT = 0, /* also the answer when no line matches */
	HBA_METHOD_TRUST,
	HBA_METHOD_MD5, /* md5, or SCRAM if the stored secret is SCRAM (as PostgreSQL) */
	HBA_METHOD_SCRAM, /* scram-sha-256 */
	HBA_METHOD_PASSWORD, /* clear-text password */
	HBA_METHOD_CERT, /* client certificate CN = user name (hostssl only) */
	HBA_METHOD_PEER /* Unix socket peer credentials (local only) */
};

/* Which line decided. line is 0 when nothing matched (method is then REJECT). */
struct hba_result {
	enum hba_method method;
	int line;
};

struct hba;

/* Parse rules held in memory. Supported: types local/host/hostssl/hostnossl
 * (hostnogssenc = host); database: names, all, sameuser; user: names, all; both
 * as comma lists, quoted names, @file (relative to base_dir); address: all, CIDR
 * (IPv4/IPv6) or address + mask; methods: trust reject md5 password
 * scram-sha-256 cert peer. Refused with a clear error rather than half-supported:
 * samehost/samenet, host names, +group, samerole, replication, hostgssenc, auth
 * options (key=value), other methods. name labels error messages. 0 or -1. */
int hba_parse(const char *buf, size_t len, const char *name, const char *base_dir, struct hba **out, char *err,
              size_t errcap);

/* Read and parse a file; @file names are relative to its directory. 0 or -1. */
int hba_load(const char *path, struct hba **out, char *err, size_t errcap);

/* First line whose type, address, database and user all match decides; no match
 * means reject. addr is the client's address (may be NULL for local). Returns 0
 * if a line matched, -1 if none did; *out is set either way. */
int hba_match(const struct hba *h, enum hba_conn_type type, bool is_tls, const char *db, const char *user,
              const struct sockaddr *addr, struct hba_result *out);

/* The pg_hba.conf spelling of a method. */
const char *hba_method_name(enum hba_method m);

/* Number of rules (for logs and SHOW). */
size_t hba_count(const struct hba *h);

/* Free everything (NULL is fine). */
void hba_free(struct hba *h);

#endif
