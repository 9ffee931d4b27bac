"""Helpers shared by the integration tests: server-side connection counts, polling, sampling."""

import threading
import time

import pytest


def client_backends(cluster, node=None, user=None):
    """Rows (pid, usename, state, application_name) of TCP client backends on a node (default:
    primary), i.e. pool connections a proxy opened; the harness itself uses the unix socket, and
    pgrouter's short catalog lookups ('pgrouter catalog', outside the pools) are left out."""
    q = ("SELECT pid, usename, state, application_name FROM pg_stat_activity "
         "WHERE backend_type = 'client backend' AND client_addr IS NOT NULL "
         "AND application_name NOT IN ('pgrouter catalog', 'pgrouter monitor') AND pid <> pg_backend_pid()")
    params = []
    if user is not None:
        q += " AND usename = %s"
        params.append(user)
    return cluster.sql(node or cluster.primary, q, params)


def wait_for(pred, timeout=5.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; return it, or fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Sampler:
    """Samples a number in a background thread (e.g. server connections) and keeps the maximum."""

    def __init__(self, fn, interval=0.02):
        self.fn, self.interval = fn, interval
        self.max, self.samples, self.error = 0, 0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        """Sample until stopped; keep the first exception for __exit__ to raise."""
        while not self._stop.is_set():
            try:
                self.max = max(self.max, self.fn())
                self.samples += 1
            except Exception as e:  # noqa: BLE001 - reported by stop()
                self.error = e
                return
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise self.error


# ----- the proxy ----------------------------------------------------------------

def db_entry(cluster, dbname="postgres", replicas=False, **extra):
    """A [databases] entry pointing at the cluster's primary (and its replicas when asked: with
    replicas, reads are routed to them, which the pooling tests do not want)."""
    entry = {"host": "127.0.0.1", "port": cluster.primary.port, "dbname": dbname}
    if replicas and cluster.replicas:
        entry["replicas"] = ",".join(f"127.0.0.1:{r.port}" for r in cluster.replicas)
    entry.update(extra)
    return entry


def backend_id(conn):
    """(server port, backend pid) of the server connection running this statement."""
    return tuple(conn.execute("SELECT inet_server_port(), pg_backend_pid()").fetchone())


def backend_in_tx(conn):
    """backend_id inside an explicit transaction (explicit transactions stay on the primary)."""
    with conn.transaction():
        return backend_id(conn)


class ServerCounter:
    """Counts the TCP client backends of one role on a node over one reused socket connection."""

    def __init__(self, cluster, user, node=None):
        self.conn = cluster.connect(node or cluster.primary)
        self.user = user

    def __call__(self):
        """Number of this role's TCP client backends right now: pool connections. pgrouter's own
        short catalog lookups (application_name 'pgrouter catalog', outside the pools by design)
        are not counted."""
        return self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND client_addr IS NOT NULL AND usename = %s "
            "AND application_name NOT IN ('pgrouter catalog', 'pgrouter monitor')", (self.user,)).fetchone()[0]

    def idle_in_transaction(self):
        """Number of this role's backends sitting idle in a transaction."""
        return self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s "
            "AND state LIKE 'idle in transaction%%'", (self.user,)).fetchone()[0]

    def close(self):
        """Close the counting connection."""
        self.conn.close()
