"""Helpers for the admin console tests (test_admin*.py): console connections, SHOW as rows, errors,
and a background runner for commands that block."""

import os
import socket
import threading

import psycopg
import pytest

ADMIN, STATS, NOBODY = "postgres", "pgr_other", "pgr_app"


def console(proxy, user=ADMIN, dbname="pgrouter", **kw):
    """An autocommit psycopg connection to the admin console that never prepares a statement
    (the console speaks the simple query protocol only)."""
    return psycopg.connect(proxy.dsn(user=user, dbname=dbname, **kw), autocommit=True,
                           prepare_threshold=None)


def show(conn, what):
    """Rows of SHOW <what> as dicts keyed by column name."""
    cur = conn.execute(f"SHOW {what}")
    cols = [d.name for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def columns(conn, what):
    """Column names of SHOW <what>."""
    return [d.name for d in conn.execute(f"SHOW {what}").description]


def totals(conn):
    """SHOW TOTALS as {name: int}."""
    cur = conn.execute("SHOW TOTALS")
    assert [d.name for d in cur.description] == ["name", "value"], cur.description
    return {k: int(v) for k, v in cur.fetchall()}


def config(conn):
    """SHOW CONFIG as {key: value}."""
    return {r["key"]: r["value"] for r in show(conn, "CONFIG")}


def database_row(conn, name):
    """The SHOW DATABASES row of name."""
    rows = [r for r in show(conn, "DATABASES") if r["name"] == name]
    assert len(rows) == 1, rows
    return rows[0]


def pool_row(conn, database, user):
    """The SHOW POOLS row of (database, user) with its counters as ints, or None."""
    for r in show(conn, "POOLS"):
        if r["database"] == database and r["user"] == user:
            return {k: (v if k in ("database", "user", "pool_mode") else int(v))
                    for k, v in r.items()}
    return None


def sqlstate_of(fn):
    """Run fn(); return the SQLSTATE of the psycopg error it raised (fail if it succeeded)."""
    try:
        fn()
    except psycopg.Error as e:
        return e.sqlstate
    pytest.fail("expected an error, the command succeeded")


def local_port(conn):
    """The local TCP port of a psycopg connection's socket."""
    s = socket.socket(fileno=os.dup(conn.pgconn.socket))
    try:
        return s.getsockname()[1]
    finally:
        s.close()


class Background:
    """Run fn() in a thread; .done is set when it returns, .error holds what it raised."""

    def __init__(self, fn):
        self.fn, self.done, self.error, self.result = fn, threading.Event(), None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        """Call fn and record the outcome."""
        try:
            self.result = self.fn()
        except Exception as e:  # noqa: BLE001 - examined by the test
            self.error = e
        self.done.set()
