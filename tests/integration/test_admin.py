"""The admin console (issues 3 and 8): database `pgrouter` (or `pgbouncer`) answers SHOW commands
and the control commands (RELOAD, SET, PAUSE, RESUME, KILL, SHUTDOWN) itself. Every SHOW is
checked against the config the test wrote, the traffic it made and the sockets and backends it
can see for itself; rights (admin_users / stats_users / neither), the console's reserved slots past
max_client_conn and the absence of secrets in any output are checked too. SHOW ROUTE(S) have
their own file (test_admin_routes.py)."""

import base64
import hashlib
import hmac
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import psycopg
import pytest

import pgwire
from helpers import Sampler, ServerCounter, client_backends, db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

ADMIN, STATS, NOBODY = "postgres", "pgr_other", "pgr_app"
SHOWS = ("VERSION", "DATABASES", "POOLS", "CLIENTS", "SERVERS", "STATS", "TOTALS", "CONFIG", "LISTS",
         "NODES", "ROUTES", "HELP")
CHANGING = ("RELOAD", "SHUTDOWN", "SHUTDOWN WAIT_FOR_CLIENTS", "reload;", "  shutdown  ", "PAUSE",
            "PAUSE postgres", "RESUME", "RESUME postgres", "KILL postgres", "KILL",
            "SET default_pool_size = 1", "set verbose to 2")
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


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


# ----- SHOW output matches the config and the traffic ----------------------------------

DATABASE_COLUMNS = ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
                    "reserve_pool_size", "server_lifetime", "pool_mode", "max_connections",
                    "current_connections", "max_client_connections", "current_client_connections",
                    "paused", "disabled", "replicas", "target"]


def test_show_version_databases_config(pgrouter, cluster, psql):
    reps = ",".join(f"127.0.0.1:{r.port}@1" for r in cluster.replicas)
    dbs = {"postgres": db_entry(cluster, replicas=True),
           "reports": db_entry(cluster, replicas=True, pool_size=3, pool_mode="session",
                               target="replica", min_pool_size=1),
           "solo": db_entry(cluster, user="pgr_other")}
    pgr = pgrouter(databases=dbs, default_pool_size=7, max_client_conn=40, workers=2,
                   stats_users=STATS, server_lifetime=1800)
    for dbname in ("pgrouter", "pgbouncer"):
        with console(pgr, dbname=dbname) as c:
            rows = show(c, "VERSION")
            assert len(rows) == 1 and list(rows[0]) == ["version"], rows
            assert rows[0]["version"].startswith("pgrouter "), rows

    with console(pgr) as c:
        assert columns(c, "DATABASES") == DATABASE_COLUMNS
        got = {r["name"]: r for r in show(c, "DATABASES")}
        conf = config(c)
        conf_cols = columns(c, "CONFIG")
        conf_rows = {r["key"]: r for r in show(c, "CONFIG")}
    assert set(got) == {"postgres", "reports", "solo"}, got
    base = {"host": "127.0.0.1", "port": str(cluster.primary.port), "database": "postgres",
            "server_lifetime": "1800", "max_connections": "0", "max_client_connections": "0",
            "paused": "0", "disabled": "0", "reserve_pool_size": "0"}
    want = {"postgres": dict(base, name="postgres", force_user=None, pool_size="7", min_pool_size="0",
                             pool_mode=None, replicas=reps, target="auto"),
            "reports": dict(base, name="reports", force_user=None, pool_size="3", min_pool_size="1",
                            pool_mode="session", replicas=reps, target="replica"),
            "solo": dict(base, name="solo", force_user="pgr_other", pool_size="7", min_pool_size="0",
                         pool_mode=None, replicas="", target="auto")}
    for name, row in want.items():
        assert {k: got[name][k] for k in row} == row, got[name]

    assert conf_cols == ["key", "value", "default", "changeable"]
    want = {"listen_addr": "127.0.0.1", "listen_port": str(pgr.port), "pool_mode": "transaction",
            "auth_type": "trust", "admin_users": ADMIN, "stats_users": STATS,
            "default_pool_size": "7", "max_client_conn": "40", "workers": "2", "http_port": "0"}
    assert {k: conf.get(k) for k in want} == want, conf
    assert conf_rows["default_pool_size"]["default"] == "20"
    assert conf_rows["server_lifetime"]["default"] == "3600.000s"
    assert conf_rows["server_lifetime"]["value"] == "1800.000s"
    changeable = {k: r["changeable"] for k, r in conf_rows.items()}
    assert {k: changeable[k] for k in ("listen_port", "listen_addr", "workers", "pkt_buf", "http_port",
                                       "http_addr", "pidfile")} == dict.fromkeys(
        ("listen_port", "listen_addr", "workers", "pkt_buf", "http_port", "http_addr", "pidfile"), "no")
    assert all(changeable[k] == "yes" for k in ("default_pool_size", "pool_mode", "verbose",
                                                 "query_wait_timeout", "admin_users"))

    # psql (simple protocol, as operators use it) sees the same
    r = psql(pgr.dsn(dbname="pgbouncer"), "SHOW DATABASES")
    assert r.rc == 0 and f"solo|127.0.0.1|{cluster.primary.port}|postgres|pgr_other|7|0|0|1800|" in r.out, r


def test_show_totals_and_stats_follow_traffic(pgrouter, cluster):
    pgr = pgrouter(databases={"postgres": db_entry(cluster, replicas=True),
                              "other": db_entry(cluster)}, workers=2)
    with console(pgr) as c:
        before = totals(c)
        assert set(before) == {"query_count", "server_assignment_count", "wait_time", "server_connects",
                               "protocol_errors", "auth_failures", "routed_primary", "routed_replica",
                               "retries", "sessions_pinned", "clients"}, before
        assert before["clients"] >= 1   # this console session
        with pgr.connect(user=NOBODY) as app, pgr.connect(user=NOBODY, dbname="other") as other:
            for i in range(25):
                assert app.execute(f"SELECT {i}").fetchone()[0] == i
            for i in range(5):
                app.execute(f"/* pgrouter: primary */ SELECT {i}")
            for i in range(4):
                other.execute(f"SELECT {i}")
            app.execute("CREATE TEMP TABLE pinned_by_admin_test (a int)")   # pins the session
            app.execute("SELECT count(*) FROM pinned_by_admin_test")
            with pgwire.Wire(pgr.port) as w:   # a logged-in client sends an invalid message
                w.startup(user=NOBODY)
                w.send(b"\x01" + struct.pack("!I", 4))
                w.expect_error_or_close()
            with pytest.raises(psycopg.OperationalError):   # not allowed on the console
                console(pgr, user=NOBODY).close()

            def grown():
                s = totals(c)
                ok = (s["query_count"] >= before["query_count"] + 36
                      and s["routed_replica"] >= before["routed_replica"] + 25
                      and s["routed_primary"] >= before["routed_primary"] + 6
                      and s["sessions_pinned"] >= before["sessions_pinned"] + 1
                      and s["protocol_errors"] >= before["protocol_errors"] + 1
                      and s["auth_failures"] >= before["auth_failures"] + 1
                      and s["server_connects"] >= before["server_connects"] + 2
                      # 36 queries, one fewer assignment: the pinned session keeps its server
                      and s["server_assignment_count"] >= before["server_assignment_count"] + 35
                      and s["clients"] >= before["clients"] + 2)
                return s if ok else None
            after = wait_for(grown, timeout=3, what=f"SHOW TOTALS to count the traffic (before {before})")

            # SHOW STATS: the same per database, PgBouncer's column names first
            assert columns(c, "STATS") == ["database", "total_query_count", "total_server_assignment_count",
                                           "total_wait_time", "total_routed_primary",
                                           "total_routed_replica"]

            def per_db():
                rows = {r["database"]: {k: int(v) for k, v in r.items() if k != "database"}
                        for r in show(c, "STATS")}
                ok = ("other" in rows and rows["other"]["total_query_count"] == 4
                      and rows["other"]["total_routed_primary"] == 4
                      and rows["postgres"]["total_query_count"] >= 32
                      and rows["postgres"]["total_routed_replica"] >= 25)
                return rows if ok else None
            rows = wait_for(per_db, timeout=3, what=f"SHOW STATS per database: {show(c, 'STATS')}")
            assert rows["other"]["total_server_assignment_count"] == 4, rows
        # the app clients left: the client count drops back
        wait_for(lambda: totals(c)["clients"] <= after["clients"] - 2, timeout=3,
                 what="SHOW TOTALS clients to drop after a disconnect")


def test_show_pools_shows_waiting_client(pgrouter, cluster):
    pgr = pgrouter(default_pool_size=1, workers=1, pool_mode="transaction")
    holder = pgr.connect(user=NOBODY)
    holder.execute("BEGIN")
    holder.execute("SELECT 1")   # holds the pool's only server connection
    waiter = Background(lambda: pgr.connect(user=NOBODY).execute("SELECT 1").close())
    try:
        with console(pgr) as c:
            assert columns(c, "POOLS") == ["database", "user", "cl_active", "cl_waiting", "sv_active",
                                           "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait",
                                           "maxwait_us", "pool_mode", "paused"]
            row = wait_for(lambda: (r := pool_row(c, "postgres", NOBODY)) and r["cl_waiting"] == 1
                           and r["maxwait"] * 1_000_000 + r["maxwait_us"] > 0 and r, timeout=3,
                           what="SHOW POOLS to show the queued client")
            assert row["sv_active"] == 1 and row["sv_idle"] == 0 and row["cl_active"] == 1, row
            assert row["pool_mode"] == "transaction" and row["sv_login"] == 0, row
            assert 0 <= row["maxwait_us"] < 1_000_000, row
            # SHOW CLIENTS: the queued client is "waiting" with its waiting time
            waiting = [r for r in show(c, "CLIENTS") if r["state"] == "waiting"]
            assert len(waiting) == 1 and waiting[0]["user"] == NOBODY, waiting
            assert int(waiting[0]["wait"]) * 1_000_000 + int(waiting[0]["wait_us"]) > 0, waiting
            assert not waiter.done.is_set()
            holder.execute("COMMIT")
            assert waiter.done.wait(5) and not waiter.error, waiter.error
            row = wait_for(lambda: (r := pool_row(c, "postgres", NOBODY)) and r["cl_waiting"] == 0
                           and r["sv_active"] == 0 and r, timeout=3,
                           what="SHOW POOLS to show the queue drained")
            assert row["sv_idle"] == 1 and row["cl_active"] == 1 and row["maxwait"] == 0, row
            assert row["maxwait_us"] == 0, row
    finally:
        holder.close()


CLIENT_COLUMNS = ["type", "user", "database", "replication", "state", "addr", "port", "local_addr",
                  "local_port", "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr",
                  "link", "remote_pid", "tls", "application_name", "id", "worker", "node"]
SERVER_COLUMNS = CLIENT_COLUMNS[:-1] + ["role"]


def test_show_clients_servers_and_lists_match_the_sockets(pgrouter, cluster):
    """SHOW CLIENTS finds each client by its own TCP port, linked to the SHOW SERVERS row of the
    backend it is talking to (checked with pg_backend_pid()); SHOW LISTS counts them."""
    pgr = pgrouter(databases={"postgres": db_entry(cluster, replicas=True)}, workers=2)
    busy = pgr.connect(user=NOBODY, application_name="admin-test-busy")
    idle = pgr.connect(user="pgr_pool", application_name="admin-test-idle")
    try:
        busy.execute("BEGIN")
        busy_pid = busy.execute("SELECT pg_backend_pid()").fetchone()[0]
        idle.execute("SELECT 1")
        with console(pgr, application_name="admin-test-console") as c:
            assert columns(c, "CLIENTS") == CLIENT_COLUMNS
            assert columns(c, "SERVERS") == SERVER_COLUMNS
            clients = {int(r["port"]): r for r in show(c, "CLIENTS")}
            servers = show(c, "SERVERS")
            me = clients[local_port(c)]
            assert (me["database"], me["user"], me["state"], me["application_name"]) == \
                ("pgrouter", ADMIN, "idle", "admin-test-console"), me
            b = clients[local_port(busy)]
            assert (b["type"], b["user"], b["database"], b["state"], b["application_name"]) == \
                ("C", NOBODY, "postgres", "active", "admin-test-busy"), b
            assert b["addr"] == "127.0.0.1" and b["local_port"] == str(pgr.port), b
            assert b["node"] == f"127.0.0.1:{cluster.primary.port}" and b["tls"] == "", b
            assert b["connect_time"].endswith(" UTC") and b["replication"] == "none", b
            i = clients[local_port(idle)]
            assert (i["state"], i["link"], i["node"], i["user"]) == ("idle", None, None, "pgr_pool"), i
            assert len({r["id"] for r in clients.values()}) == len(clients)

            mine = [s for s in servers if s["ptr"] == b["link"]]
            assert len(mine) == 1, (b, servers)
            s = mine[0]
            assert (s["type"], s["state"], s["link"], s["remote_pid"], s["role"]) == \
                ("S", "active", b["ptr"], str(busy_pid), "primary"), s
            assert (s["user"], s["database"], s["port"], s["application_name"]) == \
                (NOBODY, "postgres", str(cluster.primary.port), "admin-test-busy"), s
            # every backend pgrouter shows exists on its node, and every pool backend is shown
            on_nodes = {}
            for node in cluster.nodes:
                for pid, *_ in client_backends(cluster, node=node):
                    on_nodes[pid] = node.port
            shown = {int(r["remote_pid"]): int(r["port"]) for r in servers}
            assert shown == on_nodes, (shown, on_nodes)
            others = [r for r in servers if r["ptr"] != b["link"]]
            assert others and all(r["state"] == "idle" and r["link"] is None for r in others), others

            lists = {r["list"]: int(r["items"]) for r in show(c, "LISTS")}
            assert lists["databases"] == 1 and lists["used_clients"] == 3, lists
            assert lists["used_servers"] == len(servers) and lists["login_clients"] == 0, lists
            assert lists["pools"] == 2 and lists["users"] == 2, lists
            assert lists["free_clients"] == lists["free_servers"] == 0, lists
        busy.execute("COMMIT")
    finally:
        busy.close()
        idle.close()


def test_console_rejects_bad_commands_and_keeps_the_session(pgrouter, cluster):
    pgr = pgrouter()
    with console(pgr) as c:
        for cmd, state in (("SHOW NOTHING", "42601"), ("FROBNICATE", "42601"), ("SHOW", "42601"),
                           ("SHOW POOLS EXTRA", "42601"), ("SHOW 'x", "42601"), ("SHOW POOLS; SHOW POOLS", "42601"),
                           ("SET default_pool_size", "42601"), ("PAUSE a b", "42601"),
                           ("PAUSE nosuchdb", "3D000"), ("KILL pgrouter", "22023"), ("RESUME", "55000"),
                           ("SHOW ROUTE", "42601"), ("SHOW ROUTE 'select 1' DATABASE", "42601"),
                           ("SHOW ROUTE 'select 1' DATABASE nosuchdb", "3D000"),
                           ("SHUTDOWN NOW", "42601"), ("/* unterminated", "42601")):
            assert sqlstate_of(lambda: c.execute(cmd)) == state, cmd
        assert c.execute("SHOW VERSION").fetchone()
        assert c.execute("  -- nothing but a comment\n").description is None   # an empty query
        assert show(c, "HELP") and columns(c, "HELP") == ["command", "description"]
    assert pgr.alive()


# ----- rights ----------------------------------------------------------------------------

def test_rights_admin_stats_and_others(pgrouter, cluster):
    pgr = pgrouter(admin_users=ADMIN, stats_users=STATS)
    with console(pgr, user=STATS) as c:
        for what in SHOWS:   # (no pool exists yet: SHOW POOLS and STATS are empty)
            cur = c.execute(f"SHOW {what}")
            assert cur.description and (cur.fetchall() or what in ("POOLS", "STATS", "SERVERS", "ROUTES")), what
        assert c.execute("SHOW ROUTE 'select 1'").fetchone()   # explaining changes nothing
        for cmd in CHANGING:
            assert sqlstate_of(lambda: c.execute(cmd)) == "42501", cmd
        assert show(c, "VERSION")   # the session survives its refusals
        assert database_row(c, "postgres")["paused"] == "0"
        assert config(c)["default_pool_size"] == "10"
    time.sleep(0.3)
    assert pgr.alive(), "a stats user's SHUTDOWN stopped pgrouter"

    # a user in neither list is turned away at login; so is any user on the extended protocol
    with pgwire.Wire(pgr.port) as w:
        with pytest.raises(pgwire.ServerError) as e:
            w.startup(user=NOBODY, database="pgrouter")
    assert e.value.fields["C"] == "28000", e.value.fields
    with pytest.raises(psycopg.OperationalError):
        console(pgr, user=NOBODY, dbname="pgbouncer").close()
    with pgwire.Wire(pgr.port) as w:
        w.startup(user=ADMIN, database="pgrouter")
        w.send(pgwire.parse("SHOW STATS") + pgwire.bind() + pgwire.execute() + pgwire.sync())
        fields = w.expect_error_or_close()
        assert fields is not None and fields["C"] == "08P01", fields
        assert w.wait_closed(3)
    with console(pgr) as c:   # the admin may RELOAD (SHUTDOWN has its own tests)
        c.execute("RELOAD")
        assert c.execute("SHOW VERSION").fetchone()


def test_console_reachable_when_max_client_conn_is_exhausted(pgrouter, cluster):
    pgr = pgrouter(max_client_conn=5, stats_users=STATS)
    clients = [pgr.connect(user=NOBODY) for _ in range(5)]
    try:
        with pytest.raises(psycopg.OperationalError) as e:
            pgr.connect(user=NOBODY).close()
        assert "max_client_conn" in str(e.value), e.value
        with pgwire.Wire(pgr.port) as w:
            with pytest.raises(pgwire.ServerError) as e:
                w.startup(user=NOBODY)
        assert e.value.fields["C"] == "53300", e.value.fields
        with console(pgr) as a, console(pgr, user=STATS, dbname="pgbouncer") as s:
            assert totals(a)["clients"] >= 5
            assert show(s, "VERSION")
            a.execute("RELOAD")
        for c in clients:   # the full house is still served
            assert c.execute("SELECT 1").fetchone()[0] == 1
    finally:
        for c in clients:
            c.close()
    wait_for(lambda: _can_connect(pgr), timeout=3, what="a slot to free up")


def _can_connect(pgr):
    """True if a normal client can log in now."""
    try:
        pgr.connect(user=NOBODY).close()
        return True
    except psycopg.OperationalError:
        return False


# ----- no secret in any output -------------------------------------------------------------

def scram_secret(password, salt, iterations=4096):
    """PostgreSQL's SCRAM-SHA-256 secret for password (iterations:salt$StoredKey:ServerKey)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return (f"SCRAM-SHA-256${iterations}:{b64(salt)}$"
            f"{b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}")


def test_no_secret_in_any_show_output(pgrouter, cluster):
    admin_pw = "adm1n-Pl4in-" + os.urandom(6).hex()
    stats_pw = "st4ts-" + os.urandom(6).hex()
    db_pw = "db-P4ss-" + os.urandom(6).hex()
    scram = scram_secret(stats_pw, os.urandom(16))
    md5 = "md5" + hashlib.md5((os.urandom(8).hex() + "pgr_pool").encode()).hexdigest()
    entry = db_entry(cluster, replicas=True, user="pgr_pool", password=db_pw)
    pgr = pgrouter(databases={"postgres": entry, "other": db_entry(cluster, password=db_pw)},
                   auth_type="scram-sha-256", launch=False, stats_users=STATS,
                   routes={"r1": "database=postgres application_name=x target=replica"})
    userlist = pgr.workdir / "userlist.txt"
    userlist.write_text(f'"{ADMIN}" "{admin_pw}"\n"{STATS}" "{scram}"\n"pgr_pool" "{md5}"\n')
    pgr.write_config(auth_file=str(userlist))
    pgr.start()
    salt_and_keys = scram.replace("$", ":").split(":")[2:]
    secrets = [admin_pw, stats_pw, db_pw, scram, md5, md5[3:]] + salt_and_keys
    with pgr.connect(user=ADMIN, password=admin_pw) as app:   # some pool activity to show
        app.execute("SELECT 1")
        outputs = []
        for user, pw in ((ADMIN, admin_pw), (STATS, stats_pw)):
            with console(pgr, user=user, password=pw) as c:
                for what in SHOWS + ("ROUTE 'select 1' DATABASE postgres",):
                    cur = c.execute(f"SHOW {what}")
                    outputs.append((user, what, repr([d.name for d in cur.description]),
                                    repr(cur.fetchall())))
    assert any(db_pw not in o[3] and "pgr_pool" in o[3] for o in outputs if o[1] == "DATABASES")
    leaks = [(user, what, s) for user, what, *texts in outputs for s in secrets
             if any(s in t for t in texts)]
    assert not leaks, f"secrets in SHOW output: {leaks}"
    assert not [s for s in secrets if s in pgr.log], "a secret reached pgrouter's log"


# ----- RELOAD and SET ------------------------------------------------------------------------

def burst(pgr, n, seconds, dbname="postgres"):
    """n concurrent clients each hold a server for `seconds`; return their errors."""
    errors = []

    def one():
        try:
            with pgr.connect(user="pgr_pool", dbname=dbname) as c:
                c.execute(f"SELECT pg_sleep({seconds})")
        except Exception as e:  # noqa: BLE001 - returned to the caller
            errors.append(repr(e))
    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return errors


def test_reload_applies_pool_size_and_new_route_without_dropping_client(pgrouter, cluster):
    """RELOAD answers once every worker runs on the new file: a changed default_pool_size and a
    new [routes] rule apply at once, while a client in a transaction keeps its server."""
    for n in cluster.nodes:
        cluster.set_guc(n, "log_statement", "all")
    try:
        _reload_pool_size_and_route(pgrouter, cluster)
    finally:
        for n in cluster.nodes:
            cluster.set_guc(n, "log_statement", None)


def _reload_pool_size_and_route(pgrouter, cluster):
    from routing_helpers import PRIMARY, REPLICAS, ServerLogs, Tagger, placed
    pgr = pgrouter(databases={"postgres": db_entry(cluster),
                              "routed": db_entry(cluster, replicas=True)},
                   default_pool_size=2, workers=2)
    counter = ServerCounter(cluster, "pgr_pool")
    keeper = pgr.connect(user="pgr_pool")
    keeper.execute("BEGIN")
    kept_on = tuple(keeper.execute("SELECT inet_server_port(), pg_backend_pid()").fetchone())
    reader = psycopg.connect(pgr.dsn(user=NOBODY, dbname="routed"), autocommit=True,
                             prepare_threshold=None)
    logs, tag = ServerLogs(cluster), Tagger()
    before, after = tag(), tag()
    try:
        reader.execute(f"/* route: reload_test */ SELECT '{before}'").fetchall()
        with console(pgr) as c:
            assert database_row(c, "postgres")["pool_size"] == "2"
            assert show(c, "ROUTES") == []
            pgr.write_config(default_pool_size=5,
                             routes={"reload_test": "database=routed tag=reload_test target=primary"})
            time.sleep(0.2)
            assert database_row(c, "postgres")["pool_size"] == "2"   # the file alone changes nothing
            c.execute("RELOAD")
            # RELOAD has returned: every worker runs on the new file now (no waiting needed)
            assert database_row(c, "postgres")["pool_size"] == "5"
            assert config(c)["default_pool_size"] == "5"
            assert [r["name"] for r in show(c, "ROUTES")] == ["reload_test"]
        reader.execute(f"/* route: reload_test */ SELECT '{after}'").fetchall()   # same connection
        where = wait_for(lambda: (p := placed(logs, [before, after])) and all(p.values()) and p,
                         timeout=5, what="both statements in the server logs")
        assert len(where[before]) == 1 and where[before] <= REPLICAS, where
        assert where[after] == {PRIMARY}, where
        assert pgr.alive()
        now_on = tuple(keeper.execute("SELECT inet_server_port(), pg_backend_pid()").fetchone())
        assert now_on == kept_on, "the transaction lost its server across RELOAD"
        keeper.execute("COMMIT")
        with Sampler(counter) as s:
            assert burst(pgr, 7, 0.5) == []
        assert s.max == 5, f"after RELOAD to default_pool_size=5 saw {s.max} server connections"
        assert keeper.execute("SELECT 1").fetchone()[0] == 1
    finally:
        keeper.close()
        reader.close()
        counter.close()


def test_set_changes_settings_at_runtime(pgrouter, cluster):
    """SET key = value applies a changeable setting at once (here: the pool size real traffic
    gets), refuses restart-only, unknown and invalid ones with distinct SQLSTATEs, keeps earlier
    SETs, never picks up unreviewed file edits, and RELOAD goes back to the file."""
    pgr = pgrouter(default_pool_size=2, workers=2)
    counter = ServerCounter(cluster, "pgr_pool")
    try:
        with console(pgr) as c:
            c.execute("SET default_pool_size = 3")
            assert config(c)["default_pool_size"] == "3"
            assert database_row(c, "postgres")["pool_size"] == "3"
            with Sampler(counter) as s:
                assert burst(pgr, 6, 0.5) == []
            assert s.max == 3, f"after SET default_pool_size = 3 saw {s.max} server connections"

            c.execute("set default_pool_size to '4'")
            c.execute("SET query_wait_timeout = '30s'")
            c.execute("SET log_connections = off")
            for cmd, state in (("SET listen_port = 7000", "55P02"), ("SET http_port = 1", "55P02"),
                               ("SET nosuch = 1", "42704"), ("SET default_pool_size = lots", "22023"),
                               ("SET default_pool_size = 0", "22023"), ("SET pool_mode = sideways", "22023"),
                               ("SET auth_type = md5", "22023")):   # md5 needs an auth_file
                assert sqlstate_of(lambda: c.execute(cmd)) == state, cmd
            conf = config(c)
            assert (conf["default_pool_size"], conf["query_wait_timeout"], conf["log_connections"],
                    conf["listen_port"], conf["auth_type"]) == ("4", "30.000s", "0", str(pgr.port), "trust"), conf

            pgr.write_config(default_pool_size=9)      # edited, not reloaded
            c.execute("SET max_client_conn = 50")
            conf = config(c)
            assert (conf["default_pool_size"], conf["max_client_conn"]) == ("4", "50"), conf

            c.execute("RELOAD")                        # the file wins again; SETs are forgotten
            conf = config(c)
            assert (conf["default_pool_size"], conf["max_client_conn"], conf["query_wait_timeout"],
                    conf["log_connections"]) == ("9", "100", "120.000s", "1"), conf
        assert "SET default_pool_size applied" in pgr.log
        assert pgr.alive()
    finally:
        counter.close()


def test_sighup_and_console_reload_agree(pgrouter, cluster):
    """RELOAD is the same reload as SIGHUP: a bad file is refused by both and the old settings
    stay; the console's RELOAD says why (F0000 with the file, line and key)."""
    pgr = pgrouter(default_pool_size=4)
    with console(pgr) as c:
        pgr.ini.write_text(pgr.config_text() + "default_pool_size = lots\n")
        with pytest.raises(psycopg.Error) as e:
            c.execute("RELOAD")
        assert e.value.sqlstate == "F0000", e.value
        assert "default_pool_size" in str(e.value) and "pgrouter.ini:" in str(e.value), e.value
        assert pgr.log.count("reload failed") == 1
        assert pgr.alive()
        assert database_row(c, "postgres")["pool_size"] == "4"
        pgr.send_signal(signal.SIGHUP)
        wait_for(lambda: pgr.log.count("reload failed") == 2, timeout=3,
                 what="SIGHUP to refuse the bad file")
        assert pgr.alive() and config(c)["default_pool_size"] == "4"
        pgr.write_config(default_pool_size=6)   # fixed: both paths now apply it
        c.execute("RELOAD")
        assert database_row(c, "postgres")["pool_size"] == "6"
        pgr.write_config(default_pool_size=8)
        pgr.send_signal(signal.SIGHUP)
        wait_for(lambda: database_row(c, "postgres")["pool_size"] == "8", timeout=3,
                 what="SIGHUP to apply the file")


# ----- PAUSE, RESUME, KILL -------------------------------------------------------------------

def test_pause_waits_for_the_open_transaction_and_holds_new_queries(pgrouter, cluster):
    cluster.sql(cluster.primary, "DROP TABLE IF EXISTS admin_pause_test")
    cluster.sql(cluster.primary, "CREATE TABLE admin_pause_test (x int); GRANT ALL ON admin_pause_test TO PUBLIC")
    pgr = pgrouter(workers=2, default_pool_size=4, min_pool_size=2)
    tx = pgr.connect(user="pgr_pool")
    later = pgr.connect(user="pgr_pool")        # logged in before PAUSE, sends its query during it
    late_login = None
    try:
        later.execute("SELECT 1")
        tx.execute("BEGIN")
        tx.execute("INSERT INTO admin_pause_test VALUES (1)")
        with console(pgr) as c, console(pgr) as watch:
            pause = Background(lambda: c.execute("PAUSE postgres"))
            wait_for(lambda: database_row(watch, "postgres")["paused"] == "1", timeout=3,
                     what="SHOW DATABASES to show the database paused")
            assert pool_row(watch, "postgres", "pgr_pool")["paused"] == 1
            assert not pause.done.wait(0.5), f"PAUSE returned with a transaction open: {pause.error}"
            query = Background(lambda: later.execute("SELECT 2").fetchone()[0])
            late_login = Background(lambda: pgr.connect(user="pgr_pool").execute("SELECT 3").fetchone()[0])
            assert not query.done.wait(0.5), "a new query ran on a paused database"
            wait_for(lambda: [r for r in show(watch, "CLIENTS") if r["state"] == "waiting"], timeout=3,
                     what="SHOW CLIENTS to show the held query waiting")
            tx.execute("INSERT INTO admin_pause_test VALUES (2)")   # the open transaction continues
            tx.execute("COMMIT")
            assert pause.done.wait(5) and pause.error is None, pause.error
            # PAUSE returned: the transaction had ended and every server connection was released
            assert cluster.sql(cluster.primary, "SELECT count(*) FROM admin_pause_test")[0][0] == 2
            wait_for(lambda: client_backends(cluster, user="pgr_pool") == [], timeout=2,
                     what="the paused pool's backends to be gone")
            time.sleep(0.3)   # min_pool_size must not reopen connections while paused
            assert client_backends(cluster, user="pgr_pool") == []
            assert not query.done.is_set() and not late_login.done.is_set()
            assert sqlstate_of(lambda: watch.execute("PAUSE postgres")) == "55000"   # already
            watch.execute("RESUME postgres")
            assert query.done.wait(5) and query.result == 2, query.error
            assert late_login.done.wait(5) and late_login.result == 3, late_login.error
            assert database_row(watch, "postgres")["paused"] == "0"
            assert sqlstate_of(lambda: watch.execute("RESUME postgres")) == "55000"   # not paused
        assert later.execute("SELECT 4").fetchone()[0] == 4
    finally:
        tx.close()
        later.close()
        if late_login:
            late_login.done.wait(5)
        cluster.sql(cluster.primary, "DROP TABLE IF EXISTS admin_pause_test")


def test_pause_one_database_and_resume_cancels_a_waiting_pause(pgrouter, cluster):
    pgr = pgrouter(databases={"postgres": db_entry(cluster), "other": db_entry(cluster)}, workers=2)
    a = pgr.connect(user=NOBODY)
    b = pgr.connect(user=NOBODY, dbname="other")
    try:
        a.execute("SELECT 1")
        with console(pgr) as c, console(pgr) as watch:
            c.execute("PAUSE postgres")   # nothing open: returns at once
            assert {r["name"]: r["paused"] for r in show(watch, "DATABASES")} == {"postgres": "1", "other": "0"}
            assert b.execute("SELECT 'other runs'").fetchone()[0] == "other runs"
            held = Background(lambda: a.execute("SELECT 'held'").fetchone()[0])
            assert not held.done.wait(0.3)
            watch.execute("RESUME")       # all
            assert held.done.wait(5) and held.result == "held", held.error

            # PAUSE (all) waiting for a transaction is canceled by RESUME: 57014
            b.execute("BEGIN")
            b.execute("SELECT 1")
            pause = Background(lambda: c.execute("PAUSE"))
            wait_for(lambda: database_row(watch, "other")["paused"] == "1", timeout=3, what="PAUSE to start")
            assert not pause.done.wait(0.3)
            watch.execute("RESUME")
            assert pause.done.wait(5) and getattr(pause.error, "sqlstate", None) == "57014", pause.error
            b.execute("COMMIT")
            assert c.execute("SHOW VERSION").fetchone()   # the console session goes on
    finally:
        a.close()
        b.close()


def test_kill_closes_clients_and_servers_and_holds_the_database_until_resume(pgrouter, cluster):
    pgr = pgrouter(databases={"postgres": db_entry(cluster), "other": db_entry(cluster)}, workers=2)
    in_tx = pgr.connect(user="pgr_pool")
    idle = pgr.connect(user="pgr_pool")
    bystander = pgr.connect(user="pgr_pool", dbname="other")
    try:
        in_tx.execute("BEGIN")
        in_tx.execute("SELECT 1")
        idle.execute("SELECT 1")
        bystander.execute("BEGIN")
        bystander.execute("SELECT 1")
        with console(pgr) as c:
            c.execute("KILL postgres")
            for conn in (in_tx, idle):
                with pytest.raises(psycopg.OperationalError):
                    conn.execute("SELECT 1")
            # only the bystander's backend (database "other") is left
            wait_for(lambda: len(client_backends(cluster, user="pgr_pool")) == 1, timeout=3,
                     what="the killed database's backends to go")
            bystander.execute("COMMIT")
            assert database_row(c, "postgres")["paused"] == "1"
            newcomer = Background(lambda: pgr.connect(user="pgr_pool").execute("SELECT 'after'").fetchone()[0])
            assert not newcomer.done.wait(0.5), "a killed database served a new client before RESUME"
            c.execute("RESUME postgres")
            assert newcomer.done.wait(5) and newcomer.result == "after", newcomer.error
            assert "KILL postgres" in pgr.log
    finally:
        for conn in (in_tx, idle, bystander):
            conn.close()


# ----- SHUTDOWN ---------------------------------------------------------------------------

def test_shutdown_stops_at_once(pgrouter, cluster):
    pgr = pgrouter()
    app = pgr.connect(user=NOBODY)
    app.execute("BEGIN")
    app.execute("SELECT 1")
    pgr.stopped_by_test = True   # the exit is the point of the test
    t0 = time.monotonic()
    with console(pgr) as c:
        try:
            c.execute("SHUTDOWN")
        except psycopg.OperationalError:
            pass   # the process may be gone before the reply leaves
    rc = pgr.proc.wait(5)
    assert time.monotonic() - t0 < 3, "SHUTDOWN waited for the open transaction"
    assert rc == 0, f"exit code {rc}"
    with pytest.raises(psycopg.OperationalError):
        app.execute("COMMIT")
    app.close()
    with pytest.raises(OSError):
        pgwire.Wire(pgr.port, timeout=1).close()


def test_shutdown_wait_for_clients_waits_for_the_client_to_leave(pgrouter, cluster):
    """SHUTDOWN WAIT_FOR_CLIENTS (as PgBouncer): no new connections, every connected client is
    served as long as it stays, and the process exits once the last one has disconnected."""
    cluster.sql(cluster.primary, "DROP TABLE IF EXISTS admin_shutdown_test")
    cluster.sql(cluster.primary, "CREATE TABLE admin_shutdown_test (x int)")
    try:
        pgr = pgrouter()
        app = pgr.connect()
        app.execute("BEGIN")
        app.execute("INSERT INTO admin_shutdown_test VALUES (1)")
        pgr.stopped_by_test = True
        with console(pgr) as c:
            c.execute("SHUTDOWN WAIT_FOR_CLIENTS")
            time.sleep(0.5)
            assert pgr.alive(), "SHUTDOWN WAIT_FOR_CLIENTS did not wait for the open transaction"
            with pytest.raises(psycopg.OperationalError):
                pgr.connect(connect_timeout=2).close()   # no new clients
            app.execute("INSERT INTO admin_shutdown_test VALUES (2)")
            app.execute("COMMIT")
            app.execute("INSERT INTO admin_shutdown_test VALUES (3)")   # after its transaction too
            time.sleep(0.3)
            assert pgr.alive(), "exited while a client was still connected"
            app.close()
            rc = pgr.proc.wait(10)
        assert rc == 0, f"exit code {rc}"
        assert cluster.sql(cluster.primary, "SELECT count(*) FROM admin_shutdown_test")[0][0] == 3
    finally:
        cluster.sql(cluster.primary, "DROP TABLE IF EXISTS admin_shutdown_test")


@pytest.mark.pgr_timeout(120)
def test_shutdown_wait_for_clients_loses_no_query_under_pgbench(pgrouter, cluster, tmp_path):
    """pgbench runs a fixed number of single-INSERT transactions; SHUTDOWN WAIT_FOR_CLIENTS comes
    while it runs. pgbench finishes without an error, every transaction it counted is in the
    table (and no other), and pgrouter exits once pgbench has disconnected."""
    if not os.access(PGBENCH, os.X_OK):
        pytest.fail(f"{PGBENCH} missing: install postgresql-15")
    cluster.sql(cluster.primary, "DROP TABLE IF EXISTS admin_drain_bench")
    cluster.sql(cluster.primary, "CREATE TABLE admin_drain_bench (client int, at timestamptz DEFAULT now())")
    script = tmp_path / "insert.sql"
    script.write_text("INSERT INTO admin_drain_bench (client) VALUES (:client_id);\n")
    clients, per_client = 6, 400
    try:
        pgr = pgrouter(workers=2, default_pool_size=4)
        pgr.stopped_by_test = True
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        bench = subprocess.Popen([PGBENCH, "-h", "127.0.0.1", "-p", str(pgr.port), "-U", "postgres", "-n",
                                  "-f", str(script), "-c", str(clients), "-j", "2", "-t", str(per_client),
                                  "-M", "extended", "postgres"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                 stdin=subprocess.DEVNULL)
        with console(pgr) as c:
            wait_for(lambda: sum(r["database"] == "postgres" for r in show(c, "CLIENTS")) >= clients
                     or bench.poll() is not None, timeout=20, what="pgbench's clients to connect")
            rows_then = cluster.sql(cluster.primary, "SELECT count(*) FROM admin_drain_bench")[0][0]
            c.execute("SHUTDOWN WAIT_FOR_CLIENTS")
            out, _ = bench.communicate(timeout=90)
        assert bench.returncode == 0, f"pgbench exited {bench.returncode}:\n{out}"
        assert rows_then < clients * per_client, "pgbench was done before the shutdown began"
        processed = int(out.split("number of transactions actually processed: ")[1].split("/")[0])
        assert processed == clients * per_client, out
        assert "number of failed transactions: 0" in out, out
        assert pgr.proc.wait(10) == 0
        assert cluster.sql(cluster.primary, "SELECT count(*) FROM admin_drain_bench")[0][0] == processed
        assert "SHUTDOWN WAIT_FOR_CLIENTS: the last client has left" in pgr.log
    finally:
        cluster.sql(cluster.primary, "DROP TABLE IF EXISTS admin_drain_bench")
