"""The admin console (issues 3 and 8): database `pgrouter` (or `pgbouncer`) answers SHOW
commands, RELOAD and SHUTDOWN itself. Every SHOW is checked against the config the test wrote
and the traffic it made; rights (admin_users / stats_users / neither), the console's reserved
slots past max_client_conn and the absence of secrets in any output are checked too."""

import base64
import hashlib
import hmac
import os
import signal
import struct
import threading
import time

import psycopg
import pytest

import pgwire
from helpers import Sampler, ServerCounter, db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

ADMIN, STATS, NOBODY = "postgres", "pgr_other", "pgr_app"
SHOWS = ("VERSION", "DATABASES", "POOLS", "STATS", "CONFIG")
CHANGING = ("RELOAD", "SHUTDOWN", "SHUTDOWN WAIT_FOR_CLIENTS", "reload;", "  shutdown  ")


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


def kv(conn, what):
    """SHOW STATS / SHOW CONFIG as {name: value}."""
    cur = conn.execute(f"SHOW {what}")
    assert [d.name for d in cur.description] in (["name", "value"], ["key", "value"]), \
        cur.description
    return dict(cur.fetchall())


def stats(conn):
    """SHOW STATS with integer values."""
    return {k: int(v) for k, v in kv(conn, "STATS").items()}


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


# ----- SHOW output matches the config and the traffic ----------------------------------

def test_show_version_databases_config(pgrouter, cluster, psql):
    reps = ",".join(f"127.0.0.1:{r.port}@1" for r in cluster.replicas)
    dbs = {"postgres": db_entry(cluster, replicas=True),
           "reports": db_entry(cluster, replicas=True, pool_size=3, pool_mode="session",
                               target="replica"),
           "solo": db_entry(cluster, user="pgr_other")}
    pgr = pgrouter(databases=dbs, default_pool_size=7, max_client_conn=40, workers=2,
                   stats_users=STATS)
    for dbname in ("pgrouter", "pgbouncer"):
        with console(pgr, dbname=dbname) as c:
            rows = show(c, "VERSION")
            assert len(rows) == 1 and list(rows[0]) == ["version"], rows
            assert rows[0]["version"].startswith("pgrouter "), rows

    with console(pgr) as c:
        got = {r["name"]: r for r in show(c, "DATABASES")}
        conf = kv(c, "CONFIG")
    assert list(got["postgres"]) == ["name", "host", "port", "database", "force_user",
                                     "pool_size", "pool_mode", "replicas", "target"]
    assert set(got) == {"postgres", "reports", "solo"}, got
    base = {"host": "127.0.0.1", "port": str(cluster.primary.port), "database": "postgres"}
    assert got["postgres"] == dict(base, name="postgres", force_user=None, pool_size="7",
                                   pool_mode="transaction", replicas=reps, target="auto")
    assert got["reports"] == dict(base, name="reports", force_user=None, pool_size="3",
                                  pool_mode="session", replicas=reps, target="replica")
    assert got["solo"] == dict(base, name="solo", force_user="pgr_other", pool_size="7",
                               pool_mode="transaction", replicas="", target="auto")

    want = {"listen_addr": "127.0.0.1", "listen_port": str(pgr.port), "pool_mode": "transaction",
            "auth_type": "trust", "admin_users": ADMIN, "stats_users": STATS,
            "default_pool_size": "7", "max_client_conn": "40", "workers": "2"}
    assert {k: conf.get(k) for k in want} == want, conf

    # psql (simple protocol, as operators use it) sees the same
    r = psql(pgr.dsn(dbname="pgbouncer"), "SHOW DATABASES")
    assert r.rc == 0 and f"solo|127.0.0.1|{cluster.primary.port}|postgres|pgr_other|7|" in r.out, r


def test_show_stats_follow_traffic(pgrouter, cluster):
    pgr = pgrouter(databases={"postgres": db_entry(cluster, replicas=True)}, workers=2)
    with console(pgr) as c:
        before = stats(c)
        assert set(before) == {"queries", "server_connects", "protocol_errors", "routed_primary",
                               "routed_replica", "sessions_pinned", "clients"}, before
        assert before["clients"] >= 1   # this console session
        with pgr.connect(user=NOBODY) as app:
            for i in range(25):
                assert app.execute(f"SELECT {i}").fetchone()[0] == i
            for i in range(5):
                app.execute(f"/* pgrouter: primary */ SELECT {i}")
            app.execute("CREATE TEMP TABLE pinned_by_admin_test (a int)")   # pins the session
            app.execute("SELECT count(*) FROM pinned_by_admin_test")
            with pgwire.Wire(pgr.port) as w:   # a logged-in client sends an invalid message
                w.startup(user=NOBODY)
                w.send(b"\x01" + struct.pack("!I", 4))
                w.expect_error_or_close()

            def grown():
                s = stats(c)
                ok = (s["queries"] >= before["queries"] + 32
                      and s["routed_replica"] >= before["routed_replica"] + 25
                      and s["routed_primary"] >= before["routed_primary"] + 6
                      and s["sessions_pinned"] >= before["sessions_pinned"] + 1
                      and s["protocol_errors"] >= before["protocol_errors"] + 1
                      and s["server_connects"] >= before["server_connects"] + 2
                      and s["clients"] >= before["clients"] + 1)
                return s if ok else None
            after = wait_for(grown, timeout=3, what=f"SHOW STATS to count the traffic "
                             f"(before {before}, now {stats(c)})")
        # the app client left: the client count drops back
        wait_for(lambda: stats(c)["clients"] <= after["clients"] - 1, timeout=3,
                 what="SHOW STATS clients to drop after a disconnect")


def test_show_pools_shows_waiting_client(pgrouter, cluster):
    pgr = pgrouter(default_pool_size=1, workers=1, pool_mode="transaction")
    holder = pgr.connect(user=NOBODY)
    holder.execute("BEGIN")
    holder.execute("SELECT 1")   # holds the pool's only server connection
    done = threading.Event()
    errors = []

    def waiter():
        """A second client of the same pool: queued until the holder commits."""
        try:
            with pgr.connect(user=NOBODY) as c:
                c.execute("SELECT 1")
        except Exception as e:  # noqa: BLE001 - checked below
            errors.append(e)
        done.set()
    th = threading.Thread(target=waiter)
    th.start()
    try:
        with console(pgr) as c:
            row = wait_for(lambda: (r := pool_row(c, "postgres", NOBODY)) and r["cl_waiting"] == 1
                           and r["maxwait_us"] > 0 and r, timeout=3,
                           what="SHOW POOLS to show the queued client")
            assert row["sv_active"] == 1 and row["sv_idle"] == 0 and row["cl_active"] == 1, row
            assert row["pool_mode"] == "transaction" and row["sv_login"] == 0, row
            assert not done.is_set()
            holder.execute("COMMIT")
            assert done.wait(5) and not errors, errors
            row = wait_for(lambda: (r := pool_row(c, "postgres", NOBODY)) and r["cl_waiting"] == 0
                           and r["sv_active"] == 0 and r, timeout=3,
                           what="SHOW POOLS to show the queue drained")
            assert row["sv_idle"] == 1 and row["cl_active"] == 1 and row["maxwait_us"] == 0, row
    finally:
        holder.close()
        th.join(10)


# ----- rights ----------------------------------------------------------------------------

def test_rights_admin_stats_and_others(pgrouter, cluster):
    pgr = pgrouter(admin_users=ADMIN, stats_users=STATS)
    with console(pgr, user=STATS) as c:
        for what in SHOWS:   # (no pool exists yet: SHOW POOLS is empty)
            cur = c.execute(f"SHOW {what}")
            assert cur.description and (cur.fetchall() or what == "POOLS"), what
        for cmd in CHANGING:
            assert sqlstate_of(lambda: c.execute(cmd)) == "42501", cmd
        # commands of the console's future (issue 8) must not work for stats users either
        for cmd in ("PAUSE", "RESUME", "KILL postgres", "SET default_pool_size = 1"):
            assert sqlstate_of(lambda: c.execute(cmd)) in ("42501", "42601"), cmd
        assert show(c, "VERSION")   # the session survives its refusals
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
            assert stats(a)["clients"] >= 5
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
                   auth_type="scram-sha-256", launch=False, stats_users=STATS)
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
            for what in SHOWS:
                cur = c.execute(f"SHOW {what}")
                outputs.append((user, what, repr([d.name for d in cur.description]),
                                repr(cur.fetchall())))
    assert any(db_pw not in o[3] and "pgr_pool" in o[3] for o in outputs if o[1] == "DATABASES")
    leaks = [(user, what, s) for user, what, *texts in outputs for s in secrets
             if any(s in t for t in texts)]
    assert not leaks, f"secrets in SHOW output: {leaks}"
    assert not [s for s in secrets if s in pgr.log], "a secret reached pgrouter's log"


# ----- RELOAD and SHUTDOWN -----------------------------------------------------------------

def burst(pgr, n, seconds):
    """n concurrent clients each hold a server for `seconds`; return their errors."""
    errors = []

    def one():
        try:
            with pgr.connect(user="pgr_pool") as c:
                c.execute(f"SELECT pg_sleep({seconds})")
        except Exception as e:  # noqa: BLE001 - returned to the caller
            errors.append(repr(e))
    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return errors


def test_reload_applies_pool_size_without_dropping_client(pgrouter, cluster):
    pgr = pgrouter(default_pool_size=2, workers=1)
    counter = ServerCounter(cluster, "pgr_pool")
    keeper = pgr.connect(user="pgr_pool")
    keeper.execute("BEGIN")
    kept_on = tuple(keeper.execute("SELECT inet_server_port(), pg_backend_pid()").fetchone())
    try:
        with console(pgr) as c:
            assert show(c, "DATABASES")[0]["pool_size"] == "2"
            pgr.write_config(default_pool_size=5)   # the file changes; only RELOAD applies it
            time.sleep(0.2)
            assert show(c, "DATABASES")[0]["pool_size"] == "2"
            c.execute("RELOAD")
            wait_for(lambda: show(c, "DATABASES")[0]["pool_size"] == "5", timeout=3,
                     what="SHOW DATABASES to show pool_size 5 after RELOAD")
            assert kv(c, "CONFIG")["default_pool_size"] == "5"
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
        counter.close()


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


def test_shutdown_wait_for_clients_lets_transaction_commit(pgrouter, cluster):
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
            time.sleep(1.0)
            assert pgr.alive(), "SHUTDOWN WAIT_FOR_CLIENTS did not wait for the open transaction"
            app.execute("INSERT INTO admin_shutdown_test VALUES (2)")
            app.execute("COMMIT")
            try:
                rc = pgr.proc.wait(10)
            finally:
                app.close()
        assert rc == 0, f"exit code {rc}"
        assert cluster.sql(cluster.primary, "SELECT count(*) FROM admin_shutdown_test")[0][0] == 2
    finally:
        cluster.sql(cluster.primary, "DROP TABLE IF EXISTS admin_shutdown_test")


def test_sighup_and_console_reload_agree(pgrouter, cluster):
    """RELOAD is the same reload as SIGHUP: a bad file is refused by both and the old settings
    stay (the console still answers with them)."""
    pgr = pgrouter(default_pool_size=4)
    with console(pgr) as c:
        pgr.ini.write_text(pgr.config_text() + "default_pool_size = lots\n")
        c.execute("RELOAD")
        wait_for(lambda: pgr.log.count("reload failed") == 1, timeout=3,
                 what="the console's RELOAD to refuse the bad file")
        assert pgr.alive()
        assert show(c, "DATABASES")[0]["pool_size"] == "4"
        pgr.send_signal(signal.SIGHUP)
        wait_for(lambda: pgr.log.count("reload failed") == 2, timeout=3,
                 what="SIGHUP to refuse the bad file")
        assert pgr.alive() and kv(c, "CONFIG")["default_pool_size"] == "4"
        pgr.write_config(default_pool_size=6)   # fixed: both paths now apply it
        c.execute("RELOAD")
        wait_for(lambda: show(c, "DATABASES")[0]["pool_size"] == "6", timeout=3,
                 what="RELOAD to apply the fixed file")
