/* Cluster monitor: one poller thread per node and a coordinator that judges roles, health and lag, then publishes. */
#include "cluster/monitor.h"
#include "config/config.h"
#include "policy/lag.h"
#include "base/log.h"
#include "cluster/pgclient.h"
#include "io/shared.h"
#include "auth/authfile.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETIRE_USEC 2000000 /* a replaced snapshot is freed after this: far longer than any worker callback */
#define DOWN_BACKOFF_MAX 2000000
#define PUBLISH_GAP 20000 /* snapshots that change no routing state are published at most this often */
/* ... and those that answer a poke (reads parked by ryw_wait wait for them) this often: 256 retired slots
   still span RETIRE_USEC. */
#define POKED_GAP (RETIRE_USEC / 256 + 1)

/* One poll's answer. */
struct sample {
	bool ok;
	bool in_recovery;
	uint64_t wal_lsn, receive_lsn, replay_lsn;
	uint32_t tli;
	int streaming;
	int64_t t_sent, t_recv;
};

/* A node: its poller thread's results and the coordinator's judgement of it. */
struct mnode {
	char host[128];
	int port;
	int cluster;
	bool configured_primary; /* node 0 of some [databases] entry */
	bool removed; /* dropped by a reload: the poller frees this when it ends */
	bool started; /* its poller thread runs */
	pthread_t thread; /* joined by monitor_stop; a removed node's thread detaches itself */
	/* written by the poller under mon.lock */
	struct sample last;
	uint64_t seq; /* bumped for every result, good or bad */
	bool failed; /* the last attempt failed */
	bool refused; /* ... because the server refused our login or query: it is up, but unmonitored */
	bool answers_poke; /* the result was asked for by monitor_poke(): publish it without PUBLISH_GAP */
	char error[256];
	uint64_t polls, errors;
	bool refusal_logged; /* coordinator: the log says why the monitor cannot log in */
	/* coordinator only */
	uint64_t seen_seq;
	enum mon_role role;
	enum mon_state state;
	int64_t state_since;
	struct rotation rot[MON_CLASSES];
	struct lsn_hist *hist; /* the primary's LSN history, while this node is a primary */
	bool fenced_logged;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t sampled; /* a poller has a new result */
	pthread_cond_t wake; /* pollers: poll now (poke, stop, reload) */
	struct config *cfg; /* own reference */
	int n;
	struct mnode *nodes[MON_MAX_NODES];
	pthread_t thread;
	bool running, stop;
	uint64_t poke; /* bumped by monitor_poke(); each poller polls once per new value */
	uint64_t gen;
	_Atomic(struct mon_snapshot *) snap;
	struct mon_snapshot *retired[256];
	int64_t retired_at[256];
	int nretired;
	void (*routing_changed)(void); /* given to monitor_start: wakes the workers */
	int64_t deferred_at; /* a snapshot with news was held back by PUBLISH_GAP: publish at this time (0: none) */
	/* A ClientKey a client proved for the monitor's login user (SCRAM auth_file entry: no other way in). */
	atomic_bool need_key; /* a poller has a SCRAM secret but no key: clients' logins should offer theirs */
	bool have_key;
	char key_user[64];
	uint8_t key[32];
} mon = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char POLL_SQL[] =
        "SELECT pg_is_in_recovery(), "
        "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END, "
        "pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
        "CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1) "
        "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "
        "CASE WHEN pg_is_in_recovery() THEN 0 ELSE "
        "(SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming') END";

static int64_t mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "16/B374D848" → LSN; 0 for NULL or garbage. */
static uint64_t parse_lsn(const char *s)
{
	unsigned hi, lo;
	if (!s || sscanf(s, "%X/%X", &hi, &lo) != 2)
		return 0;
	return (uint64_t)hi << 32 | lo;
}

static void on_poll_row(void *ctx, int ncols, const char *const *v)
{
	struct sample *s = ctx;
	if (ncols < 6)
		return;
	s->ok = true;
	s->in_recovery = v[0] && v[0][0] == 't';
	s->wal_lsn = parse_lsn(v[1]);
	s->receive_lsn = parse_lsn(v[2]);
	s->replay_lsn = parse_lsn(v[3]);
	s->tli = v[4] ? (uint32_t)strtoul(v[4], NULL, 10) : 0;
	s->streaming = v[5] ? atoi(v[5]) : 0;
}

/* Wait on cond until the monotonic deadline (µs) or a signal; called with mon.lock held. */
static void timed_wait(pthread_cond_t *cond, int64_t deadline)
{
	struct timespec ts = { (time_t)(deadline / 1000000), (long)(deadline % 1000000) * 1000 };
	pthread_cond_timedwait(cond, &mon.lock, &ts);
}

/* Who the monitor logs in as: monitor_user, else auth_user, else the first entry's forced user, else postgres; with
   monitor_password, else its auth_file entry (plain, md5, or SCRAM with a client's proven key), else a
   [databases] password for that user. key: a ClientKey proven for key_user, or NULL. */
static void login_for(const struct config *cfg, const struct mnode *n, const char *key_user, const uint8_t *key,
                      struct pgc_login *lg)
{
	memset(lg, 0, sizeof *lg);
	lg->host = n->host;
	lg->port = n->port;
	lg->appname = "pgrouter monitor";
	const char *user = cfg->monitor_user[0] ? cfg->monitor_user : cfg->auth_user[0] ? cfg->auth_user : NULL;
	const char *db = cfg->monitor_dbname[0] ? cfg->monitor_dbname : NULL;
	for (int i = 0; i < cfg->ndbs && (!user || !db); i++) {
		if (!user && cfg->dbs[i].user)
			user = cfg->dbs[i].user;
		if (!db && cfg->dbs[i].dbname)
			db = cfg->dbs[i].dbname;
	}
	lg->user = user ? user : "postgres";
	lg->dbname = db ? db : "postgres";
	if (cfg->monitor_password[0]) {
		lg->password = cfg->monitor_password;
		return;
	}
	const struct authfile_entry *e = cfg->authfile ? authfile_lookup(cfg->authfile, lg->user) : NULL;
	if (e) {
		lg->entry = e;
		if (e->kind == AUTH_SECRET_PLAIN && e->secret_len)
			lg->password = e->secret;
		if (e->kind == AUTH_SECRET_SCRAM && key && strcmp(key_user, lg->user) == 0)
			lg->client_key = key;
		return;
	}
	for (int i = 0; i < cfg->ndbs; i++)
		if (cfg->dbs[i].password && cfg->dbs[i].user && strcmp(cfg->dbs[i].user, lg->user) == 0)
			lg->password = cfg->dbs[i].password;
}

/* When the monitor has nothing it can log in with: what to do about it, in out (else ""). */
static void login_fix(const struct pgc_login *lg, char *out, size_t n)
{
	out[0] = 0;
	if (lg->password || lg->client_key)
		return;
	if (lg->entry && lg->entry->kind == AUTH_SECRET_SCRAM)
		snprintf(out, n,
		         "auth_file has only a SCRAM secret for %.24s: set monitor_password or a plain/md5 "
		         "auth_file entry, or log in as %.24s once",
		         lg->user, lg->user);
	else if (!lg->entry)
		snprintf(out, n, "no password for %.24s: set monitor_user and monitor_password, or an auth_file entry",
		         lg->user);
}

void monitor_client_key(const char *user, const uint8_t key[32])
{
	if (!atomic_load(&mon.need_key) || strlen(user) >= sizeof mon.key_user)
		return;
	pthread_mutex_lock(&mon.lock);
	if (!mon.have_key || strcmp(mon.key_user, user) != 0) {
		snprintf(mon.key_user, sizeof mon.key_user, "%s", user);
		memcpy(mon.key, key, sizeof mon.key);
		mon.have_key = true;
		mon.poke++; /* pollers waiting out a back-off try at once */
		pthread_cond_broadcast(&mon.wake);
	}
	pthread_mutex_unlock(&mon.lock);
}

/* A failure that says the node is alive but will not answer the monitor (credentials, database, rights, or a
   login we cannot perform), as opposed to an unreachable or stopping node. */
static bool refusal(const struct pgclient *pc)
{
	if (pc->io_failed)
		return false;
	const char *st = pc->sqlstate;
	return strncmp(st, "57", 2) != 0 && strncmp(st, "53", 2) != 0 && strncmp(st, "08", 2) != 0;
}

/* Store a result for the coordinator. */
static void report(struct mnode *n, const struct sample *s, const struct pgclient *pc, const char *fix, bool poked)
{
	pthread_mutex_lock(&mon.lock);
	n->seq++;
	n->answers_poke |= poked;
	n->polls++;
	if (s) {
		n->last = *s;
		n->failed = false;
	} else {
		n->failed = true;
		n->refused = refusal(pc);
		n->errors++;
		snprintf(n->error, sizeof n->error, "%.80s%s%.170s", pc->err, fix[0] ? "; " : "", fix);
	}
	pthread_cond_signal(&mon.sampled);
	pthread_mutex_unlock(&mon.lock);
}

/* One node's polling loop: connect, poll every monitor_interval, back off while it is down. */
static void *poller_main(void *arg)
{
	struct mnode *n = arg;
	struct pgclient pc = { .fd = -1 };
	int64_t backoff = 0;
	uint64_t poked = 0, prev_poke = 0;
	bool reconnected = false; /* a lost connection is retried once at once before the node counts as down */
	pthread_mutex_lock(&mon.lock);
	while (!mon.stop && !n->removed) {
		struct config *cfg = config_get(mon.cfg);
		int64_t interval = cfg->monitor_interval, timeout = cfg->monitor_timeout;
		poked = mon.poke;
		bool answers = poked != prev_poke; /* this poll was asked for, not just due */
		prev_poke = poked;
		pthread_mutex_unlock(&mon.lock);
		int64_t start = mono_usec();
		struct sample s = { 0 };
		bool failed = false;
		char fix[180] = "";
		if (pc.fd < 0) {
			struct pgc_login lg;
			char key_user[64];
			uint8_t key[32];
			pthread_mutex_lock(&mon.lock);
			bool have = mon.have_key;
			memcpy(key_user, mon.key_user, sizeof key_user);
			memcpy(key, mon.key, sizeof key);
			pthread_mutex_unlock(&mon.lock);
			login_for(cfg, n, key_user, have ? key : NULL, &lg);
			login_fix(&lg, fix, sizeof fix);
			if (lg.entry && lg.entry->kind == AUTH_SECRET_SCRAM && !lg.client_key && !lg.password)
				atomic_store(&mon.need_key, true);
			failed = pgc_connect(&pc, &lg, (int)(timeout / 1000)) < 0;
			OPENSSL_cleanse(key, sizeof key);
		}
		if (!failed) {
			s.t_sent = mono_usec();
			failed = pgc_query(&pc, POLL_SQL, on_poll_row, &s) < 0 || !s.ok;
			s.t_recv = mono_usec();
			if (failed && !s.ok && !pc.err[0])
				snprintf(pc.err, sizeof pc.err, "the poll query returned no row");
		}
		config_put(cfg);
		bool retry_now = false;
		if (failed) {
			bool timed_out = pc.timed_out;
			if (pc.fd >= 0) {
				pgc_close(&pc);
				pc.fd = -1;
			}
			retry_now = !timed_out && !reconnected; /* e.g. pg_terminate_backend of our session */
			reconnected = true;
			if (!retry_now) {
				report(n, NULL, &pc, fix, answers);
				backoff = backoff ? backoff * 2 : interval;
				if (backoff > DOWN_BACKOFF_MAX)
					backoff = DOWN_BACKOFF_MAX > interval ? DOWN_BACKOFF_MAX : interval;
			}
		} else {
			reconnected = false;
			backoff = 0;
			report(n, &s, NULL, "", answers);
		}
		pthread_mutex_lock(&mon.lock);
		if (retry_now)
			continue;
		int64_t until = start + (failed ? backoff : interval);
		while (!mon.stop && !n->removed && mon.poke == poked && mono_usec() < until)
			timed_wait(&mon.wake, until);
	}
	bool free_it = n->removed;
	if (free_it)
		pthread_detach(pthread_self()); /* nobody will join it: monitor_stop only joins current nodes */
	pthread_mutex_unlock(&mon.lock);
	pgc_close(&pc);
	if (free_it) {
		free(n->hist);
		free(n);
	}
	OPENSSL_thread_stop(); /* this thread's DRBG (SCRAM nonces) goes with it */
	return NULL;
}

/* Union-find over entries: nodes named in one [databases] entry belong to one cluster. */
static int find_root(int *parent, int i)
{
	while (parent[i] != i)
		i = parent[i] = parent[parent[i]];
	return i;
}

/* Index of host:port among the current nodes, or -1. */
static int node_index(const char *host, int port)
{
	for (int i = 0; i < mon.n; i++)
		if (mon.nodes[i]->port == port && strcmp(mon.nodes[i]->host, host) == 0)
			return i;
	return -1;
}

/* Rebuild the node table from cfg (under mon.lock): keep known nodes, start pollers for new ones. */
static void set_nodes(const struct config *cfg)
{
	struct mnode *keep[MON_MAX_NODES];
	int nk = 0;
	int parent[MON_MAX_NODES];
	for (int d = 0; d < cfg->ndbs; d++) {
		const struct dbconf *db = &cfg->dbs[d];
		int first = -1;
		for (int k = 0; k < db->nnodes; k++) {
			const struct nodeconf *nc = &db->nodes[k];
			int idx = -1;
			for (int j = 0; j < nk; j++)
				if (keep[j]->port == nc->port && strcmp(keep[j]->host, nc->host) == 0)
					idx = j;
			if (idx < 0) {
				if (nk == MON_MAX_NODES) {
					log_warn(NULL, "monitor: more than %d nodes; %s:%d is not monitored",
					         MON_MAX_NODES, nc->host, nc->port);
					continue;
				}
				int old = node_index(nc->host, nc->port);
				struct mnode *n = old >= 0 ? mon.nodes[old] : calloc(1, sizeof *n);
				if (!n)
					continue;
				if (old < 0) {
					snprintf(n->host, sizeof n->host, "%s", nc->host);
					n->port = nc->port;
				}
				n->configured_primary = false;
				idx = nk;
				keep[nk] = n;
				parent[nk++] = idx;
			}
			if (k == 0)
				keep[idx]->configured_primary = true;
			if (first < 0)
				first = idx;
			else
				parent[find_root(parent, idx)] = find_root(parent, first);
		}
	}
	/* Pollers of nodes no longer configured end on their own and free their node. */
	for (int i = 0; i < mon.n; i++) {
		bool kept = false;
		for (int j = 0; j < nk; j++)
			kept |= keep[j] == mon.nodes[i];
		if (!kept)
			mon.nodes[i]->removed = true;
	}
	for (int j = 0; j < nk; j++) {
		keep[j]->cluster = find_root(parent, j);
		mon.nodes[j] = keep[j];
		if (keep[j]->started)
			continue;
		keep[j]->started = true;
		if (pthread_create(&keep[j]->thread, NULL, poller_main, keep[j]) != 0) {
			keep[j]->started = false;
			log_error(NULL, "monitor: cannot start a poller for %s:%d", keep[j]->host, keep[j]->port);
		}
	}
	mon.n = nk;
	pthread_cond_broadcast(&mon.wake);
}

/* Keep a replaced snapshot until no worker can still be reading it, then free it (under mon.lock). */
static void retire(struct mon_snapshot *old, int64_t now)
{
	int keep = 0;
	for (int i = 0; i < mon.nretired; i++) {
		if (now - mon.retired_at[i] >= RETIRE_USEC || (old && mon.nretired == 256 && i == 0)) {
			free(mon.retired[i]);
			continue;
		}
		mon.retired[keep] = mon.retired[i];
		mon.retired_at[keep++] = mon.retired_at[i];
	}
	mon.nretired = keep;
	if (old) {
		mon.retired[mon.nretired] = old;
		mon.retired_at[mon.nretired++] = now;
	}
}

/* The limits of each rotation class (µs, bytes; 0: not checked); returns how many classes there are. */
static int class_limits(const struct config *cfg, int64_t *us, int64_t *bytes)
{
	us[0] = cfg->max_replica_lag;
	bytes[0] = 0;
	int n = 1;
	for (int i = 0; i < cfg->nroutes && n < MON_CLASSES; i++, n++) {
		const struct routeconf *r = &cfg->routes[i];
		bool own = r->max_lag_ms >= 0 || r->max_lag_bytes >= 0;
		us[n] = r->max_lag_ms >= 0 ? r->max_lag_ms * 1000 : own ? 0 : cfg->max_replica_lag;
		bytes[n] = r->max_lag_bytes >= 0 ? r->max_lag_bytes : 0;
	}
	return n;
}

/* The write node of cluster c: the servers decide (highest timeline among nodes out of recovery), or the config. */
static int elect(const struct config *cfg, int c, int current)
{
	int best = -1, configured = -1;
	for (int i = 0; i < mon.n; i++) {
		const struct mnode *n = mon.nodes[i];
		if (n->cluster != c)
			continue;
		if (n->configured_primary && configured < 0)
			configured = i;
		if (cfg->role == ROLE_AUTO && n->state == MS_UP && n->last.ok && !n->last.in_recovery) {
			bool better = best < 0 || n->last.tli > mon.nodes[best]->last.tli ||
			        (n->last.tli == mon.nodes[best]->last.tli &&
			         (i == current ||
			          (best != current && n->configured_primary && !mon.nodes[best]->configured_primary)));
			if (better)
				best = i;
		}
	}
	if (cfg->role != ROLE_AUTO)
		return configured;
	if (best >= 0)
		return best;
	/* Nobody writable is up: keep the last primary (it may come back, or a replica may be promoted). */
	return current >= 0 ? current : configured;
}

/* Judge one node's newest result: state, role, and for a primary its LSN history. */
static void judge_node(struct mnode *n, int primary_idx, int self, int64_t now)
{
	if (n->seq != n->seen_seq) {
		enum mon_state st = !n->failed ? MS_UP : n->refused ? MS_UNKNOWN : MS_DOWN;
		/* Logged on its own: MS_UNKNOWN is also every node's state before its first answer. */
		if (st == MS_UNKNOWN && !n->refusal_logged)
			log_error(
			        NULL,
			        "monitor: cannot monitor node %s:%d (%s): its role and lag are unknown, so it gets no "
			        "reads",
			        n->host, n->port, n->error);
		else if (st == MS_UP && n->refusal_logged)
			log_info(NULL, "monitor: node %s:%d accepts the monitor now", n->host, n->port);
		n->refusal_logged = st == MS_UNKNOWN || (n->refusal_logged && st != MS_UP);
		if (st != n->state) {
			if (st == MS_DOWN)
				log_warn(NULL, "monitor: node %s:%d is down: %s", n->host, n->port, n->error);
			else if (n->state == MS_DOWN)
				log_info(NULL, "monitor: node %s:%d is up again", n->host, n->port);
			n->state = st;
			n->state_since = now;
		}
	}
	if (self == primary_idx) {
		if (n->role != MR_PRIMARY && n->role != MR_UNKNOWN)
			log_warn(NULL, "monitor: node %s:%d is now the primary (timeline %u)", n->host, n->port,
			         n->last.tli);
		n->role = MR_PRIMARY;
		n->fenced_logged = false;
		if (!n->hist && (n->hist = calloc(1, sizeof *n->hist)) == NULL)
			return;
		if (n->seq != n->seen_seq && !n->failed && !n->last.in_recovery && n->last.wal_lsn)
			lag_hist_add(n->hist, n->last.t_recv, n->last.wal_lsn);
		return;
	}
	free(n->hist);
	n->hist = NULL;
	if (n->state == MS_UP && n->last.ok && !n->last.in_recovery) {
		if (!n->fenced_logged)
			log_error(
			        NULL,
			        "monitor: node %s:%d (timeline %u) is out of recovery but is not the primary: it gets "
			        "no writes and no reads (split brain?)",
			        n->host, n->port, n->last.tli);
		n->fenced_logged = true;
		n->role = MR_FENCED;
	} else if (n->last.ok) {
		n->role = MR_REPLICA;
	}
}

/* Update a replica's lag and its rotation in every class; logs each change once. */
static void judge_lag(const struct config *cfg, struct mnode *r, const struct mnode *p, struct mon_node *out,
                      const int64_t *lim_us, const int64_t *lim_bytes, int nclasses)
{
	out->behind_since = -1;
	out->lag_bytes = -1;
	if (r->role != MR_REPLICA || !r->last.ok || !p || !p->hist || !r->last.replay_lsn)
		return;
	out->behind_since = lag_behind_since(p->hist, r->last.replay_lsn, r->last.t_sent);
	uint64_t plsn = p->last.wal_lsn;
	out->lag_bytes = plsn > r->last.replay_lsn ? (int64_t)(plsn - r->last.replay_lsn) : 0;
	if (r->seq == r->seen_seq || r->failed)
		return; /* rotation moves on new samples only: lag_recover_checks counts polls */
	int64_t lag_us = out->behind_since ? r->last.t_sent - out->behind_since : 0;
	for (int c = 0; c < nclasses; c++) {
		if (!lag_rotation_update(&r->rot[c], lag_us, out->lag_bytes, lim_us[c], lim_bytes[c],
		                         cfg->lag_recover_checks))
			continue;
		const char *what = c == 0 ? "max_replica_lag" : cfg->routes[c - 1].name;
		if (r->rot[c].out)
			log_warn(NULL, "monitor: replica %s:%d left rotation (%s): lag %.3f s, %" PRId64 " bytes",
			         r->host, r->port, what, (double)lag_us / 1e6, out->lag_bytes);
		else
			log_info(NULL, "monitor: replica %s:%d returned to rotation (%s): lag %.3f s", r->host, r->port,
			         what, (double)lag_us / 1e6);
	}
}

/* Build and publish a snapshot from the nodes' newest results (under mon.lock); true when the workers should
   look at it at once (routing changed, or it answers a poke). */
static bool publish(const struct config *cfg)
{
	struct mon_snapshot *s = calloc(1, sizeof *s);
	if (!s)
		return false;
	int64_t now = mono_usec();
	int64_t lim_us[MON_CLASSES], lim_bytes[MON_CLASSES];
	int nclasses = class_limits(cfg, lim_us, lim_bytes);
	struct mon_snapshot *old = atomic_load(&mon.snap);
	int primary_of[MON_MAX_NODES];
	for (int i = 0; i < mon.n; i++) {
		int c = mon.nodes[i]->cluster, cur = -1;
		for (int j = 0; j < mon.n; j++)
			if (mon.nodes[j]->cluster == c && mon.nodes[j]->role == MR_PRIMARY)
				cur = j;
		primary_of[i] = elect(cfg, c, cur);
	}
	for (int i = 0; i < mon.n; i++)
		judge_node(mon.nodes[i], primary_of[i], i, now);
	s->gen = ++mon.gen;
	s->taken_at = now;
	s->interval_us = cfg->monitor_interval;
	s->nnodes = mon.n;
	bool changed = !old || old->nnodes != mon.n;
	for (int i = 0; i < mon.n; i++) {
		struct mnode *n = mon.nodes[i];
		struct mon_node *o = &s->node[i];
		snprintf(o->host, sizeof o->host, "%s", n->host);
		o->port = n->port;
		o->cluster = n->cluster;
		o->cluster_primary = primary_of[i];
		o->role = n->role;
		o->state = n->state;
		o->timeline = n->last.tli;
		o->wal_lsn = n->last.wal_lsn;
		o->receive_lsn = n->last.receive_lsn;
		o->replay_lsn = n->last.replay_lsn;
		o->streaming = n->last.streaming;
		o->sampled_at = n->last.t_sent;
		o->state_since = n->state_since;
		o->polls = n->polls;
		o->poll_errors = n->errors;
		snprintf(o->error, sizeof o->error, "%s", n->failed ? n->error : "");
		const struct mnode *p = primary_of[i] >= 0 ? mon.nodes[primary_of[i]] : NULL;
		judge_lag(cfg, n, p, o, lim_us, lim_bytes, nclasses);
		for (int c = 0; c < nclasses; c++)
			if (n->rot[c].out)
				o->out_mask |= 1u << c;
		o->lag_s = o->behind_since < 0 ? -1.0 : lag_seconds(o->behind_since, now);
		n->seen_seq = n->seq;
		if (!changed) {
			const struct mon_node *q = &old->node[i];
			changed = q->role != o->role || q->state != o->state || q->out_mask != o->out_mask ||
			        q->cluster_primary != o->cluster_primary || q->port != o->port ||
			        strcmp(q->host, o->host);
		}
	}
	/* Every poll's news need not become a snapshot of its own (with many nodes polled every few ms that would
	   churn the retired list): unless routing state changed, wait until PUBLISH_GAP after the last one, or
	   POKED_GAP for answers to a poke. */
	bool urgent = false;
	for (int i = 0; i < mon.n; i++)
		urgent |= mon.nodes[i]->answers_poke;
	int64_t gap = urgent ? POKED_GAP : PUBLISH_GAP;
	if (!changed && old && now - old->taken_at < gap) {
		free(s);
		mon.deferred_at = old->taken_at + gap;
		return false;
	}
	mon.deferred_at = 0;
	/* SLO breach time: a route's max_lag is broken while any replica is out of its rotation for lag. */
	uint32_t out_any = 0;
	for (int i = 0; i < mon.n; i++)
		out_any |= s->node[i].out_mask;
	for (int c = 1; old && c < nclasses; c++)
		if (out_any & (1u << c))
			shared_slo_breach_add(cfg->routes[c - 1].name, (uint64_t)(now - old->taken_at));
	atomic_store(&mon.snap, s);
	retire(old, now);
	for (int i = 0; i < mon.n; i++)
		mon.nodes[i]->answers_poke = false;
	return changed || urgent;
}

/* The coordinator: publish a snapshot whenever a poller has news; wake the workers when routing changed or a
   poke was answered. */
static void *coord_main(void *arg)
{
	pthread_mutex_lock(&mon.lock);
	while (!mon.stop) {
		bool fresh = false;
		for (int i = 0; i < mon.n; i++)
			fresh |= mon.nodes[i]->seq != mon.nodes[i]->seen_seq;
		if (!fresh) {
			int64_t now = mono_usec();
			bool due = mon.deferred_at && now >= mon.deferred_at;
			if (!due) {
				timed_wait(&mon.sampled,
				           mon.deferred_at ? mon.deferred_at : now + mon.cfg->monitor_interval);
				continue;
			}
		}
		if (publish(mon.cfg)) {
			pthread_mutex_unlock(&mon.lock);
			mon.routing_changed();
			pthread_mutex_lock(&mon.lock);
		}
	}
	pthread_mutex_unlock(&mon.lock);
	return NULL;
}

int monitor_start(struct config *cfg, void (*routing_changed)(void))
{
	mon.routing_changed = routing_changed;
	if (cfg->monitor_interval <= 0 || cfg->ndbs == 0)
		return 0;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mon.sampled, &ca);
	pthread_cond_init(&mon.wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&mon.lock);
	mon.cfg = config_get(cfg);
	set_nodes(cfg);
	/* Route from the first answers, not from guesses: wait (at most monitor_timeout) for every node once. */
	int64_t deadline = mono_usec() + cfg->monitor_timeout;
	for (;;) {
		bool all = true;
		for (int i = 0; i < mon.n; i++)
			all &= mon.nodes[i]->seq > 0;
		if (all || mono_usec() >= deadline)
			break;
		timed_wait(&mon.sampled, deadline);
	}
	publish(cfg); /* nodes that did not answer yet keep their configured roles until they do */
	pthread_mutex_unlock(&mon.lock);
	if (pthread_create(&mon.thread, NULL, coord_main, NULL) != 0) {
		log_error(NULL, "monitor: cannot start its thread");
		return -1;
	}
	mon.running = true;
	log_info(NULL, "monitor: polling %d node(s) every %.0f ms (role = %s)", mon.n,
	         (double)cfg->monitor_interval / 1000, cfg->role == ROLE_AUTO ? "auto" : "config");
	return 0;
}

void monitor_reconfigure(struct config *cfg)
{
	if (!mon.running)
		return;
	if (cfg->monitor_interval <= 0)
		log_warn(NULL, "monitor: monitor_interval = 0 takes effect at the next restart");
	pthread_mutex_lock(&mon.lock);
	struct config *old = mon.cfg;
	mon.cfg = config_get(cfg);
	set_nodes(cfg);
	for (int i = 0; i < mon.n; i++)
		mon.nodes[i]->seen_seq--; /* judge everything again against the new limits */
	pthread_cond_signal(&mon.sampled);
	pthread_mutex_unlock(&mon.lock);
	config_put(old);
}

void monitor_stop(void)
{
	if (!mon.running)
		return;
	pthread_mutex_lock(&mon.lock);
	mon.stop = true;
	pthread_cond_broadcast(&mon.wake);
	pthread_cond_broadcast(&mon.sampled);
	pthread_mutex_unlock(&mon.lock);
	pthread_join(mon.thread, NULL);
	/* Pollers finish their current poll (at most monitor_timeout) and end. */
	for (int i = 0; i < mon.n; i++)
		if (mon.nodes[i]->started)
			pthread_join(mon.nodes[i]->thread, NULL);
	mon.running = false;
}

void monitor_poke(void)
{
	if (!mon.running)
		return;
	pthread_mutex_lock(&mon.lock);
	mon.poke++;
	pthread_cond_broadcast(&mon.wake);
	pthread_mutex_unlock(&mon.lock);
}

const struct mon_snapshot *monitor_snapshot(void)
{
	return atomic_load_explicit(&mon.snap, memory_order_acquire);
}

int monitor_find(const struct mon_snapshot *s, const char *host, int port)
{
	for (int i = 0; i < s->nnodes; i++)
		if (s->node[i].port == port && strcmp(s->node[i].host, host) == 0)
			return i;
	return -1;
}

bool monitor_readable(const struct mon_snapshot *s, int i, int cls, int64_t limit_us, int64_t now)
{
	const struct mon_node *n = &s->node[i];
	if (n->state != MS_UP || n->role != MR_REPLICA || n->behind_since < 0)
		return false;
	if (cls >= 0 && cls < MON_CLASSES && (n->out_mask & (1u << cls)))
		return false;
	return limit_us <= 0 || n->behind_since == 0 || now - n->behind_since <= limit_us;
}

double monitor_lag_now(const struct mon_snapshot *s, int i, int64_t now)
{
	const struct mon_node *n = &s->node[i];
	return n->behind_since < 0 ? -1.0 : lag_seconds(n->behind_since, now);
}

const char *mon_role_name(enum mon_role r)
{
	static const char *const names[] = { "unknown", "primary", "replica", "fenced" };
	return (unsigned)r < 4 ? names[r] : "?";
}

const char *mon_state_name(enum mon_state st)
{
	static const char *const names[] = { "unknown", "up", "down" };
	return (unsigned)st < 3 ? names[st] : "?";
}
