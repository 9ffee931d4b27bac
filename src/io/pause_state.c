/* The shared pause state (PAUSE, KILL, DISABLE): changed by the console, checked on every layer's hot path. */
#include "io/pause_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Index of db among the paused names, or -1 (caller holds the lock). */
static int find_locked(const char *db)
{
	for (int i = 0; i < MAX_PAUSED; i++)
		if (g_shared.pause.db[i] && strcmp(g_shared.pause.db[i], db) == 0)
			return i;
	return -1;
}

/* Recount npaused and bump the epoch after a change (caller holds the lock). */
static void changed_locked(void)
{
	int n = g_shared.pause.all ? 1 : 0;
	for (int i = 0; i < MAX_PAUSED; i++)
		n += g_shared.pause.db[i] != NULL;
	atomic_store(&g_shared.pause.npaused, n);
	atomic_fetch_add(&g_shared.pause.epoch, 1);
}

int pause_set(const char *db, char *err, size_t errlen)
{
	struct pause_state *ps = &g_shared.pause;
	int rc = 0;
	pthread_mutex_lock(&ps->lock);
	if (ps->all) {
		snprintf(err, errlen, "all databases are already paused");
		rc = -1;
	} else if (!db) {
		ps->all = true;
	} else if (find_locked(db) >= 0) {
		snprintf(err, errlen, "database %s is already paused", db);
		rc = -1;
	} else {
		int slot = -1;
		for (int i = 0; slot < 0 && i < MAX_PAUSED; i++)
			if (!ps->db[i])
				slot = i;
		if (slot < 0 || !(ps->db[slot] = strdup(db))) {
			snprintf(err, errlen, "too many paused databases");
			rc = -1;
		}
	}
	if (rc == 0)
		changed_locked();
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

int pause_clear(const char *db, char *err, size_t errlen)
{
	struct pause_state *ps = &g_shared.pause;
	int rc = 0;
	pthread_mutex_lock(&ps->lock);
	if (!db) {
		bool any = ps->all;
		ps->all = false;
		for (int i = 0; i < MAX_PAUSED; i++) {
			any |= ps->db[i] != NULL;
			free(ps->db[i]);
			ps->db[i] = NULL;
		}
		if (!any) {
			snprintf(err, errlen, "nothing is paused");
			rc = -1;
		}
	} else {
		int i = find_locked(db);
		if (i >= 0) {
			free(ps->db[i]);
			ps->db[i] = NULL;
		} else if (ps->all) {
			snprintf(err, errlen, "all databases are paused: RESUME without a name resumes them");
			rc = -1;
		} else {
			snprintf(err, errlen, "database %s is not paused", db);
			rc = -1;
		}
	}
	if (rc == 0)
		changed_locked();
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

bool pause_is_paused_slow(const char *dbname)
{
	pthread_mutex_lock(&g_shared.pause.lock);
	bool held = g_shared.pause.all || find_locked(dbname) >= 0;
	pthread_mutex_unlock(&g_shared.pause.lock);
	return held;
}

/* Index of db among the disabled names, or -1 (caller holds the lock). */
static int find_disabled_locked(const char *db)
{
	for (int i = 0; i < MAX_PAUSED; i++)
		if (g_shared.pause.disabled[i] && strcmp(g_shared.pause.disabled[i], db) == 0)
			return i;
	return -1;
}

int pause_disable(const char *db, bool on, char *err, size_t errlen)
{
	struct pause_state *ps = &g_shared.pause;
	int rc = 0;
	pthread_mutex_lock(&ps->lock);
	int i = find_disabled_locked(db);
	if (!on && i >= 0) {
		free(ps->disabled[i]);
		ps->disabled[i] = NULL;
		atomic_fetch_sub(&ps->ndisabled, 1);
	} else if (on && i < 0) {
		for (i = 0; i < MAX_PAUSED && ps->disabled[i]; i++)
			;
		if (i == MAX_PAUSED || !(ps->disabled[i] = strdup(db))) {
			snprintf(err, errlen, "too many disabled databases");
			rc = -1;
		} else {
			atomic_fetch_add(&ps->ndisabled, 1);
		}
	}
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

bool pause_is_disabled_slow(const char *dbname)
{
	pthread_mutex_lock(&g_shared.pause.lock);
	bool off = find_disabled_locked(dbname) >= 0;
	pthread_mutex_unlock(&g_shared.pause.lock);
	return off;
}
