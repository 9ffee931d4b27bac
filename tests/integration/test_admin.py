"""The admin console (issues 3 and 8): database `pgrouter` (or `pgbouncer`) answers SHOW commands
and the control commands itself. Every SHOW is checked against the config the test wrote, the
traffic it made and the sockets and backends it can see for itself; rights (admin_users /
stats_users / neither), the console's reserved slots past max_client_conn and the absence of
secrets in any output are checked too. The control commands (RELOAD, SET, PAUSE, RESUME, KILL,
SHUTDOWN) are in test_admin_control.py, SHOW ROUTE(S) in test_admin_routes.py."""

import base64
import hashlib
import hmac
import os
import struct
import time

import psycopg
import pytest

import pgwire
from admin_helpers import (ADMIN, NOBODY, STATS, Background, columns, config, console, database_row,
                           local_port, pool_row, show, sqlstate_of, totals)
from helpers import client_backends, db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

SHOWS = ("VERSION", "DATABASES", "POOLS", "CLIENTS", "SERVERS", "STATS", "TOTALS", "CONFIG", "LISTS",
         "NODES", "ROUTES", "HELP", "STATS_TOTALS", "STATS_AVERAGES", "USERS", "SOCKETS", "MEM", "FDS",
         "DNS_HOSTS", "DNS_ZONES")
# SHOWs with no rows before any client has used a pool (or always, in pgrouter: FDS and the DNS cache)
EMPTY_AT_START = ("POOLS", "STATS", "SERVERS", "ROUTES", "STATS_TOTALS", "STATS_AVERAGES", "USERS", "FDS",
                  "DNS_HOSTS", "DNS_ZONES")
CHANGING = ("RELOAD", "SHUTDOWN", "SHUTDOWN WAIT_FOR_CLIENTS", "reload;", "  shutdown  ", "PAUSE",
            "PAUSE postgres", "RESUME", "RESUME postgres", "KILL postgres", "KILL",
            "SET default_pool_size = 1", "set verbose to 2", "DISABLE postgres", "ENABLE postgres",
            "RECONNECT", "RECONNECT postgres", "WAIT_CLOSE", "SUSPEND")


# ----- SHOW output matches the config and the traffic ----------------------------------

DATABASE_COLUMNS = ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
                    "reserve_pool", "pool_mode", "max_connections", "current_connections", "paused",
                    "disabled", "replicas", "target", "current_replica_connections",
                    "current_client_connections", "server_lifetime"]


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
    base = {"host": "127.0.0.1", "port": cluster.primary.port, "database": "postgres",
            "server_lifetime": 1800, "max_connections": 0, "paused": 0, "disabled": 0, "reserve_pool": 0}
    want = {"postgres": dict(base, name="postgres", force_user=None, pool_size=7, min_pool_size=0,
                             pool_mode=None, replicas=reps, target="auto"),
            "reports": dict(base, name="reports", force_user=None, pool_size=3, min_pool_size=1,
                            pool_mode="session", replicas=reps, target="replica"),
            "solo": dict(base, name="solo", force_user="pgr_other", pool_size=7, min_pool_size=0,
                         pool_mode=None, replicas="", target="auto")}
    for name, row in want.items():
        assert {k: got[name][k] for k in row} == row, got[name]

    assert conf_cols == ["key", "value", "default", "changeable"]
    want = {"listen_addr": "127.0.0.1", "listen_port": str(pgr.port), "pool_mode": "transaction",
            "auth_type": "trust", "admin_users": ADMIN, "stats_users": STATS,
            "default_pool_size": "7", "max_client_conn": "40", "workers": "2", "http_port": "0"}
    assert {k: conf.get(k) for k in want} == want, conf
    assert conf_rows["default_pool_size"]["default"] == "20"
    assert conf_rows["server_lifetime"]["default"] == "3600"   # seconds, as PgBouncer prints them
    assert conf_rows["server_lifetime"]["value"] == "1800"
    changeable = {k: r["changeable"] for k, r in conf_rows.items()}
    assert {k: changeable[k] for k in ("listen_port", "listen_addr", "workers", "pkt_buf", "http_port",
                                       "http_addr", "pidfile")} == dict.fromkeys(
        ("listen_port", "listen_addr", "workers", "pkt_buf", "http_port", "http_addr", "pidfile"), "no")
    assert all(changeable[k] == "yes" for k in ("default_pool_size", "pool_mode", "verbose",
                                                 "query_wait_timeout", "admin_users"))

    # psql (simple protocol, as operators use it) sees the same
    r = psql(pgr.dsn(dbname="pgbouncer"), "SHOW DATABASES")
    assert r.rc == 0 and f"solo|127.0.0.1|{cluster.primary.port}|postgres|pgr_other|7|0|0||0|0|0|0||auto|0|0|1800" \
        in r.out, r


PGBOUNCER_TOTALS = {f"{kind}_{what}" for kind in ("total", "avg")
                    for what in ("xact_count", "query_count", "client_bytes", "server_bytes", "xact_time",
                                 "query_time", "wait_time")}
STATS_COLUMNS = ["database", "total_xact_count", "total_query_count", "total_received", "total_sent",
                 "total_xact_time", "total_query_time", "total_wait_time", "avg_xact_count",
                 "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time",
                 "avg_wait_time", "total_server_assignment_count", "total_routed_primary",
                 "total_routed_replica"]


def test_show_totals_and_stats_follow_traffic(pgrouter, cluster):
    pgr = pgrouter(databases={"postgres": db_entry(cluster, replicas=True),
                              "other": db_entry(cluster)}, workers=2)
    with console(pgr) as c:
        before = totals(c)
        assert set(before) == {"query_count", "server_assignment_count", "wait_time", "server_connects",
                               "protocol_errors", "auth_failures", "routed_primary", "routed_replica",
                               "retries", "sessions_pinned", "clients"} | PGBOUNCER_TOTALS, before
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
                      and s["clients"] >= before["clients"] + 2
                      # PgBouncer's names: every autocommit statement is a transaction of its own
                      and s["total_query_count"] == s["query_count"]
                      and s["total_xact_count"] >= before["total_xact_count"] + 36)
                return s if ok else None
            after = wait_for(grown, timeout=3, what=f"SHOW TOTALS to count the traffic (before {before})")

            # SHOW STATS: the same per database, PgBouncer's column names first
            assert columns(c, "STATS") == STATS_COLUMNS

            def per_db():
                rows = {r["database"]: {k: int(v) for k, v in r.items() if k != "database"}
                        for r in show(c, "STATS")}
                ok = ("other" in rows and rows["other"]["total_query_count"] == 4
                      and rows["other"]["total_xact_count"] == 4
                      and rows["other"]["total_routed_primary"] == 4
                      and rows["postgres"]["total_query_count"] >= 32
                      and rows["postgres"]["total_routed_replica"] >= 25)
                return rows if ok else None
            rows = wait_for(per_db, timeout=3, what=f"SHOW STATS per database: {show(c, 'STATS')}")
            assert rows["other"]["total_server_assignment_count"] == 4, rows
        # the app clients left: the client count drops back
        wait_for(lambda: totals(c)["clients"] <= after["clients"] - 2, timeout=3,
                 what="SHOW TOTALS clients to drop after a disconnect")


POOL_COLUMNS = ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
                "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested",
                "sv_login", "maxwait", "maxwait_us", "pool_mode", "paused", "cl_waiting_primary",
                "cl_waiting_replica", "sv_active_replica", "sv_idle_replica", "sv_login_replica"]


def test_show_pools_shows_waiting_client(pgrouter, cluster):
    pgr = pgrouter(default_pool_size=1, workers=1, pool_mode="transaction")
    holder = pgr.connect(user=NOBODY)
    holder.execute("BEGIN")
    holder.execute("SELECT 1")   # holds the pool's only server connection
    waiter = Background(lambda: pgr.connect(user=NOBODY).execute("SELECT 1").close())
    try:
        with console(pgr) as c:
            assert columns(c, "POOLS") == POOL_COLUMNS
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


def test_show_pools_counts_the_primary_and_the_replicas_apart(pgrouter, cluster):
    """A client queued for the primary while replica connections sit idle: PgBouncer's sv_* columns
    count the primary's connections only (sv_idle 0: nothing there to take), the replicas' are in
    pgrouter's *_replica columns, and cl_waiting_primary says which node the client waits for."""
    pgr = pgrouter(databases={"postgres": db_entry(cluster, replicas=True, pool_size=1)}, workers=1)
    reader, holder = pgr.connect(user=NOBODY), pgr.connect(user=NOBODY)
    try:
        for i in range(4):   # reads go to the replicas and leave their connections idle
            reader.execute(f"SELECT {i}")
        holder.execute("BEGIN")
        holder.execute("SELECT 1")   # holds the primary's only server connection
        waiter = Background(lambda: pgr.connect(user=NOBODY).execute("/* pgrouter: primary */ SELECT 1").close())
        with console(pgr) as c:
            row = wait_for(lambda: (r := pool_row(c, "postgres", NOBODY)) and r["cl_waiting"] == 1 and r,
                           timeout=3, what="SHOW POOLS to show the client queued for the primary")
            assert (row["sv_active"], row["sv_idle"], row["sv_login"]) == (1, 0, 0), row
            assert (row["cl_waiting_primary"], row["cl_waiting_replica"]) == (1, 0), row
            assert row["sv_idle_replica"] >= 1 and row["sv_active_replica"] == 0, row
            replica_ports = {r.port for r in cluster.replicas}
            servers = show(c, "SERVERS")
            assert sum(s["role"] == "replica" and s["port"] in replica_ports for s in servers) \
                == row["sv_idle_replica"], servers
            holder.execute("COMMIT")
            assert waiter.done.wait(5) and not waiter.error, waiter.error
            row = wait_for(lambda: (r := pool_row(c, "postgres", NOBODY)) and r["cl_waiting"] == 0
                           and r["sv_active"] == 0 and r, timeout=3, what="SHOW POOLS to show the queue drained")
            assert row["sv_idle"] == 1 and row["cl_waiting_primary"] == 0, row
    finally:
        reader.close()
        holder.close()


CLIENT_COLUMNS = ["type", "user", "database", "state", "addr", "port", "local_addr", "local_port",
                  "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link",
                  "remote_pid", "tls", "application_name", "id", "worker", "node", "role"]
SERVER_COLUMNS = CLIENT_COLUMNS


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
            assert b["addr"] == "127.0.0.1" and b["local_port"] == pgr.port, b
            assert b["node"] == f"127.0.0.1:{cluster.primary.port}" and b["tls"] == "", b
            assert b["connect_time"].endswith(" UTC") and b["role"] == "primary", b
            i = clients[local_port(idle)]
            assert (i["state"], i["link"], i["node"], i["role"], i["user"]) == ("idle", None, None, None, "pgr_pool"), i
            assert len({r["id"] for r in clients.values()}) == len(clients)

            mine = [s for s in servers if s["ptr"] == b["link"]]
            assert len(mine) == 1, (b, servers)
            s = mine[0]
            assert (s["type"], s["state"], s["link"], s["remote_pid"], s["role"]) == \
                ("S", "active", b["ptr"], busy_pid, "primary"), s
            assert (s["user"], s["database"], s["port"], s["application_name"]) == \
                (NOBODY, "postgres", cluster.primary.port, "admin-test-busy"), s
            assert s["node"] == f"127.0.0.1:{cluster.primary.port}", s
            # every backend pgrouter shows exists on its node, and every pool backend is shown
            on_nodes = {}
            for node in cluster.nodes:
                for pid, *_ in client_backends(cluster, node=node):
                    on_nodes[pid] = node.port
            shown = {int(r["remote_pid"]): int(r["port"]) for r in servers}
            assert shown == on_nodes, (shown, on_nodes)
            others = [r for r in servers if r["ptr"] != b["link"]]
            assert others and all(r["state"] == "idle" and r["link"] is None for r in others), others

            lists = {r["list"]: r["items"] for r in show(c, "LISTS")}
            assert lists["databases"] == 1 and lists["used_clients"] == 3, lists
            assert lists["used_servers"] == len(servers) and lists["login_clients"] == 0, lists
            assert lists["pools"] == 2 and lists["users"] == 2, lists
            assert lists["free_clients"] == lists["free_servers"] == 0, lists
        busy.execute("COMMIT")
    finally:
        busy.close()
        idle.close()


def test_show_nodes_lists_every_node_with_its_traffic(pgrouter, cluster):
    """SHOW NODES: each distinct host:port of all entries once, primaries first, with the reads and
    writes routed to it; role, state and lag as the node status interface reports them (the
    configured role and an unknown state and lag until the cluster monitor reports them)."""
    r1, r2 = cluster.replicas
    entry = db_entry(cluster, replicas=False)
    entry["replicas"] = f"127.0.0.1:{r1.port}@0,127.0.0.1:{r2.port}"
    pgr = pgrouter(databases={"postgres": entry, "same": db_entry(cluster, replicas=True)}, workers=2)
    with pgr.connect(user=NOBODY) as app:
        for i in range(6):
            app.execute(f"SELECT {i}")
        app.execute("/* pgrouter: primary */ SELECT 1")
    with console(pgr) as c:
        assert columns(c, "NODES") == ["node", "role", "state", "lag_bytes", "lag_seconds", "replay_lsn",
                                       "in_rotation", "not_in_rotation_reason", "reads", "writes", "errors"]
        rows = {r["node"]: r for r in show(c, "NODES")}
    primary, n1, n2 = (f"127.0.0.1:{n.port}" for n in (cluster.primary, r1, r2))
    assert list(rows) == [primary, n1, n2], rows
    assert [rows[n]["role"] for n in rows] == ["primary", "replica", "replica"]
    # weight 0 in "postgres" but weight 1 in "same": in rotation through the other entry
    assert all(r["in_rotation"] == "yes" and r["not_in_rotation_reason"] is None for r in rows.values()), rows
    assert (rows[primary]["reads"], rows[primary]["writes"]) == ("0", "1"), rows[primary]
    assert (rows[n1]["reads"], rows[n2]["reads"]) == ("0", "6"), rows   # weight 0: no reads
    assert all(r["errors"] == "0" for r in rows.values()), rows
    for r in rows.values():   # unknown lag is NULL, never a made-up 0
        assert r["state"] != "unknown" or (r["lag_seconds"], r["lag_bytes"], r["replay_lsn"]) == (None, None, None), r

    solo = pgrouter(databases={"postgres": entry}, workers=1)
    with console(solo) as c:
        rows = {r["node"]: r for r in show(c, "NODES")}
    assert (rows[n1]["in_rotation"], rows[n1]["not_in_rotation_reason"]) == ("no", "weight=0"), rows[n1]


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
            assert cur.description and (cur.fetchall() or what in EMPTY_AT_START), what
        assert c.execute("SHOW ROUTE 'select 1'").fetchone()   # explaining changes nothing
        for cmd in CHANGING:
            assert sqlstate_of(lambda: c.execute(cmd)) == "42501", cmd
        assert show(c, "VERSION")   # the session survives its refusals
        assert database_row(c, "postgres")["paused"] == 0
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


