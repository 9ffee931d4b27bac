/* libFuzzer target: hba_parse (pg_hba.conf subset, with @file lists) and hba_match on what it loads. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "auth/hba.h"
#include "fuzz_common.h"

/* @file names resolve against a sandbox directory holding a few fixed list files
 * (written once at start-up; '/' in the input is turned into '_' so nothing else
 * is reachable). Sandbox state has to outlive each input: libFuzzer's only way. */
static struct fuzz_sandbox sandbox;

/* Files the input may include with @name. */
static const struct {
	const char *name, *text;
} list_files[] = {
	{"users", "alice, bob\n\"Quoted User\"\n# comment\ncarol\n"},
	{"dbs", "postgres,app\n"},
	{"nested", "@users dave\n"},
	{"empty", ""},
	{"self", "@self\n"},
	{"bad", "\"unterminated\n"},
};

/* One simulated connection to classify. */
struct probe {
	enum hba_conn_type type;
	bool tls;
	const char *addr;   /* NULL: no address (local) */
	const char *db, *user;
};

static const struct probe probes[] = {
	{HBA_CONN_LOCAL, false, NULL, "postgres", "postgres"},
	{HBA_CONN_LOCAL, false, NULL, "alice", "alice"},
	{HBA_CONN_HOST, false, "127.0.0.1", "app", "bob"},
	{HBA_CONN_HOST, true, "10.1.2.3", "postgres", "Quoted User"},
	{HBA_CONN_HOST, false, "::1", "app", "carol"},
	{HBA_CONN_HOST, true, "::ffff:10.1.2.3", "dave", "dave"},
	{HBA_CONN_HOST, true, "fe80::1", "all", "all"},
};

/* Remove the sandbox when the fuzzer exits normally. */
static void cleanup(void)
{
	fuzz_remove_dir(sandbox.dir);
}

/* libFuzzer start-up hook: build the sandbox with the list files. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_sandbox_make(&sandbox);
	fuzz_sandbox_enter(&sandbox);
	for (size_t i = 0; i < sizeof list_files / sizeof list_files[0]; i++)
		fuzz_write_file(list_files[i].name, list_files[i].text, strlen(list_files[i].text));
	fuzz_sandbox_leave(&sandbox);
	atexit(cleanup);
	return 0;
}

/* Build the socket address of a probe; NULL when it has none. */
static const struct sockaddr *probe_addr(const struct probe *p, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (!p->addr)
		return NULL;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, p->addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		FUZZ_CHECK(inet_pton(AF_INET6, p->addr, &in6->sin6_addr) == 1);
		in6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)ss;
}

/* Match every probe: a hit names a real line and a known method, a miss rejects. */
static void check_matches(const struct hba *h, int nlines)
{
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		const struct probe *p = &probes[i];
		struct sockaddr_storage ss;
		struct hba_result r;
		int rc = hba_match(h, p->type, p->tls, p->db, p->user, probe_addr(p, &ss), &r);
		if (rc == 0) {
			FUZZ_CHECK(r.line >= 1 && r.line <= nlines);
			FUZZ_CHECK(strcmp(hba_method_name(r.method), "unknown") != 0);
			/* peer only on local lines, cert only on hostssl lines. */
			FUZZ_CHECK(r.method != HBA_METHOD_PEER || p->type == HBA_CONN_LOCAL);
			FUZZ_CHECK(r.method != HBA_METHOD_CERT || (p->type == HBA_CONN_HOST && p->tls));
		} else {
			FUZZ_CHECK(rc == -1 && r.line == 0 && r.method == HBA_METHOD_REJECT);
		}
	}
}

/* Entry point: parse a confined, exact-size copy of the input as an hba file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	char *buf = (char *)fuzz_memdup(data, size);
	fuzz_confine_paths(buf, size);
	int nlines = 1;
	for (size_t i = 0; i < size; i++)
		nlines += buf[i] == '\n';
	char err[512];
	struct hba *h = NULL;
	if (hba_parse(buf, size, "fuzz.hba", sandbox.files, &h, err, sizeof err) == 0) {
		FUZZ_CHECK(h != NULL && hba_count(h) <= (size_t)nlines);
		check_matches(h, nlines);
		hba_free(h);
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(buf);
	return 0;
}
