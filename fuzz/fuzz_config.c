/* libFuzzer target: config_load on arbitrary ini text ([databases], [routes] with regexes, settings, %include) and the auth_file, auth_hba_file and TLS files it names. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <strings.h>

#include "config/config.h"
#include "base/log.h"
#include "fuzz_common.h"

/* Each input is written to <sandbox>/fuzz.ini and loaded. The working directory is
 * <sandbox>/files during the load, which holds a userlist, hba files and a certificate and keys made
 * at start-up; '/' in the input becomes '_', so file settings can name those files
 * only (not /dev/zero, a FIFO, or fuzz.ini itself). The same holds for %include: it
 * reads the files below (a settings file, one that includes itself, one two levels
 * deep) or any other sandbox file, never a file outside the sandbox. Sandbox state has
 * to outlive each input: that is libFuzzer's model. */
static struct fuzz_sandbox sandbox;
static char ini_path[PATH_MAX];
static struct config *defaults;   /* an empty file's config: the "old" side of a reload */

/* Files the configuration may name. */
static const struct {
	const char *name, *text;
} plain_files[] = {
	{"users.txt",
	 "\"alice\" \"secret\"\n"
	 "\"bob\" \"md5b0dd8e3a2ec8adb47ec4e4fe3b1d3ca8\"\n"
	 "\"carol\" \"SCRAM-SHA-256$4096:XAsemn0/LkGgjGsdnk96Ig==$pafYGxYxLqDWO4RNRYxNykx8Ib5C3FEjvlgUdOPpk8E=:39sQvmM5huFIIGgnx6YaCQaH1l2uLwRKaJV37OWWQ88=\"\n"},
	{"bad_users.txt", "\"alice\" \"a\"\n\"alice\" \"b\"\n"},
	{"hba.conf", "local all all peer\nhost all @names 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 cert\n"},
	{"bad_hba.conf", "host all all example.com md5\n"},
	{"names", "alice, bob\n"},
	{"empty", ""},
	{"part.ini", "max_client_conn = 50\n[databases]\ninc = host=127.0.0.1 port=5433\n"},
	{"loop.ini", "; includes itself\n%include loop.ini\n"},
	{"nest.ini", "%include part.ini\n[pgrouter]\n%include nest2.ini\n"},
	{"nest2.ini", "default_pool_size = 3\n"},
};

/* Write a certificate and/or a private key as PEM into name. */
static void write_pem(const char *name, X509 *cert, EVP_PKEY *key)
{
	FILE *f = fopen(name, "w");
	FUZZ_CHECK(f != NULL);
	if (cert)
		FUZZ_CHECK(PEM_write_X509(f, cert) == 1);
	if (key)
		FUZZ_CHECK(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
	FUZZ_CHECK(fclose(f) == 0);
}

/* A self-signed P-256 certificate for localhost (also used as its own CA), its key,
 * and an unrelated key, so that TLS settings can load, fail to load, or mismatch. */
static void make_tls_files(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FUZZ_CHECK(key && other && x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	FUZZ_CHECK(X509_set_pubkey(x, key) == 1);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	FUZZ_CHECK(X509_set_issuer_name(x, nm) == 1);
	FUZZ_CHECK(X509_sign(x, key, EVP_sha256()) > 0);
	write_pem("server.crt", x, NULL);
	write_pem("ca.crt", x, NULL);
	write_pem("server.key", NULL, key);
	write_pem("other.key", NULL, other);
	X509_free(x);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* Remove the sandbox and the reference config when the fuzzer exits normally. */
static void cleanup(void)
{
	config_put(defaults);
	fuzz_remove_dir(sandbox.dir);
}

/* libFuzzer start-up hook: quiet logging, build the sandbox, load the defaults. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];
	log_setup(LOG_ERROR, NULL); /* warnings about ignored PgBouncer settings are expected */
	fuzz_sandbox_make(&sandbox);
	fuzz_sandbox_enter(&sandbox);
	for (size_t i = 0; i < sizeof plain_files / sizeof plain_files[0]; i++)
		fuzz_write_file(plain_files[i].name, plain_files[i].text, strlen(plain_files[i].text));
	make_tls_files();
	snprintf(ini_path, sizeof ini_path, "%s/fuzz.ini", sandbox.dir);
	fuzz_write_file(ini_path, "", 0);
	defaults = config_load(ini_path, err, sizeof err);
	fuzz_sandbox_leave(&sandbox);
	FUZZ_CHECK(defaults != NULL);
	atexit(cleanup);
	return 0;
}

/* One [databases] entry is well formed and is what a lookup of its name finds. */
static void check_db(const struct config *cfg, const struct dbconf *db)
{
	FUZZ_CHECK(db->name != NULL && config_find_db(cfg, db->name) == db);
	FUZZ_CHECK(db->nnodes >= 1 && db->nnodes <= MAX_NODES);
	for (int i = 0; i < db->nnodes; i++) {
		const struct nodeconf *n = &db->nodes[i];
		/* Replica hosts are never empty; the primary's "host=''" is still accepted
		 * (reported, see fuzz/crashes/README.md), so only non-NULL is checked for it. */
		FUZZ_CHECK(n->host != NULL && (i == 0 || n->host[0] != '\0'));
		FUZZ_CHECK(n->port >= 1 && n->port <= 65535 && n->weight >= 0 && n->weight <= 1000000);
	}
	for (int i = db->nnodes; i < MAX_NODES; i++)
		FUZZ_CHECK(db->nodes[i].host == NULL);
	FUZZ_CHECK(db->pool_mode >= -1 && db->pool_mode <= POOL_STATEMENT);
	FUZZ_CHECK(db->target >= 0 && db->target <= 2);
}

/* A [routes] rule matches on something, its regex compiled, and its choices are in range. */
static void check_route(const struct routeconf *r)
{
	FUZZ_CHECK(r->name != NULL);
	FUZZ_CHECK(r->database || r->user || r->application_name || r->tag || r->regex_src);
	FUZZ_CHECK((r->regex != NULL) == (r->regex_src != NULL));
	FUZZ_CHECK(r->target >= 0 && r->target <= 2 && r->fallback >= 0 && r->fallback <= 1);
	FUZZ_CHECK(r->max_lag_ms >= -1 && r->max_lag_bytes >= -1);
}

/* Case-sensitive list membership implies case-insensitive membership. */
static void check_list(const char *list)
{
	static const char *const names[] = {"postgres", "Admin", "*", "", "a b"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (list_contains(list, names[i], false))
			FUZZ_CHECK(list_contains(list, names[i], true));
}

/* True when a line of the first n bytes of text starts with key (any case), then blanks and '=' or ':'. Only a
   key at the start of a line counts: the same letters inside a value set nothing, and missing an indented key is
   harmless (an explicit auth_type without secrets fails to load). */
static bool sets_key(const char *text, size_t n, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl <= n; i++) {
		if ((i > 0 && text[i - 1] != '\n') || strncasecmp(text + i, key, kl) != 0)
			continue;
		size_t j = i + kl;
		while (j < n && (text[j] == ' ' || text[j] == '\t'))
			j++;
		if (j < n && (text[j] == '=' || text[j] == ':'))
			return true;
	}
	return false;
}

/* Everything a loaded config promises (auth_type_given: the input may set auth_type), then a simulated reload from
   the defaults. */
static void check_config(struct config *cfg, bool auth_type_given)
{
	FUZZ_CHECK(cfg->listen_port >= 1 && cfg->listen_port <= 65535);
	FUZZ_CHECK(cfg->workers >= 0 && cfg->workers <= 64);
	FUZZ_CHECK(strcmp(pool_mode_name(cfg->pool_mode), "?") != 0);
	FUZZ_CHECK(strcmp(auth_type_name(cfg->auth_type), "?") != 0);
	FUZZ_CHECK(cfg->max_packet_size >= 1024 && cfg->pkt_buf >= 1024);
	bool secrets = cfg->auth_type == AUTH_PLAIN || cfg->auth_type == AUTH_MD5 ||
	               cfg->auth_type == AUTH_SCRAM;
	/* Secrets come from the auth_file, or from auth_query through an auth_user (global or per database). */
	bool auth_user = cfg->auth_user && *cfg->auth_user;
	for (int i = 0; i < cfg->ndbs; i++)
		auth_user |= cfg->dbs[i].auth_user != NULL;
	/* ... except with the default md5 (PgBouncer's), which then loads and refuses every login. */
	FUZZ_CHECK(!secrets || cfg->authfile != NULL || auth_user || (cfg->auth_type == AUTH_MD5 && !auth_type_given));
	FUZZ_CHECK(!auth_user || strstr(cfg->auth_query, "$1") != NULL);
	FUZZ_CHECK(cfg->auth_type != AUTH_HBA || cfg->hba != NULL);
	FUZZ_CHECK(cfg->auth_type != AUTH_CERT || cfg->client_tls_sslmode >= TLS_VERIFY_CA);
	FUZZ_CHECK((cfg->client_tls_sslmode == TLS_DISABLE) == (cfg->client_tls_ctx == NULL));
	FUZZ_CHECK((cfg->server_tls_sslmode == TLS_DISABLE) == (cfg->server_tls_ctx == NULL));
	FUZZ_CHECK(cfg->ndbs >= 0 && (cfg->ndbs == 0 || cfg->dbs != NULL));
	for (int i = 0; i < cfg->ndbs; i++)
		check_db(cfg, &cfg->dbs[i]);
	FUZZ_CHECK(cfg->nroutes >= 0 && (cfg->nroutes == 0 || cfg->routes != NULL));
	for (int i = 0; i < cfg->nroutes; i++)
		check_route(&cfg->routes[i]);
	check_list(cfg->admin_users);
	check_list(cfg->stats_users);
	config_log_changes(defaults, cfg);
	config_keep_restart_settings(defaults, cfg);
	FUZZ_CHECK(cfg->listen_port == defaults->listen_port && cfg->workers == defaults->workers);
	FUZZ_CHECK(config_get(cfg) == cfg);
	config_put(cfg);
}

/* Entry point: confine paths, write the file, load it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	char *buf = (char *)fuzz_memdup(data, size);
	fuzz_confine_paths(buf, size);
	fuzz_write_file(ini_path, buf, size);
	bool auth_type_given = sets_key(buf, size, "auth_type");
	free(buf);
	char err[1024];
	err[0] = '\0';
	fuzz_sandbox_enter(&sandbox);
	struct config *cfg = config_load(ini_path, err, sizeof err);
	fuzz_sandbox_leave(&sandbox);
	if (cfg) {
		check_config(cfg, auth_type_given);
		config_put(cfg);
	} else {
		/* "file:line: ...", naming the input or the sandbox file (a relative name) an %include read */
		size_t name_len = strcspn(err, ":");
		FUZZ_CHECK(strncmp(err, ini_path, strlen(ini_path)) == 0 ||
		           (err[name_len] == ':' && name_len > 0 && memchr(err, '/', name_len) == NULL));
	}
	return 0;
}
