"""Admin console control commands: RELOAD and SET apply at once without dropping a client,
PAUSE answers only after in-flight transactions end and holds new work until RESUME, KILL closes a
database's connections, DISABLE refuses new logins until ENABLE, RECONNECT replaces server connections
as they are released and WAIT_CLOSE waits for that, SHUTDOWN exits at once and SHUTDOWN WAIT_FOR_CLIENTS loses no query under
pgbench. Rights for these commands are checked in test_admin.py."""

import os
import signal
import subprocess
import threading
import time

import psycopg
import pytest

import pgwire
from admin_helpers import (NOBODY, Background, config, console, database_row, pool_row, show,
                           sqlstate_of)
from helpers import Sampler, ServerCounter, client_backends, db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


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
            assert database_row(c, "postgres")["pool_size"] == 2
            assert show(c, "ROUTES") == []
            pgr.write_config(default_pool_size=5,
                             routes={"reload_test": "database=routed tag=reload_test target=primary"})
            time.sleep(0.2)
            assert database_row(c, "postgres")["pool_size"] == 2   # the file alone changes nothing
            c.execute("RELOAD")
            # RELOAD has returned: every worker runs on the new file now (no waiting needed)
            assert database_row(c, "postgres")["pool_size"] == 5
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
    SETs, never picks up unreviewed file edits, and RELOAD takes the file's value only for the
    settings the file changed."""
    pgr = pgrouter(default_pool_size=2, workers=2)
    counter = ServerCounter(cluster, "pgr_pool")
    try:
        with console(pgr) as c:
            c.execute("SET default_pool_size = 3")
            assert config(c)["default_pool_size"] == "3"
            assert database_row(c, "postgres")["pool_size"] == 3
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
                    conf["listen_port"], conf["auth_type"]) == ("4", "30", "0", str(pgr.port), "trust"), conf

            pgr.write_config(default_pool_size=9)      # edited, not reloaded
            c.execute("SET max_client_conn = 50")
            conf = config(c)
            assert (conf["default_pool_size"], conf["max_client_conn"]) == ("4", "50"), conf

            c.execute("RELOAD")                        # the file changed default_pool_size: it wins there
            conf = config(c)
            assert (conf["default_pool_size"], conf["max_client_conn"], conf["query_wait_timeout"],
                    conf["log_connections"]) == ("9", "50", "30", "0"), conf
        assert "SET default_pool_size applied" in pgr.log
        assert pgr.alive()
    finally:
        counter.close()


def test_console_set_survives_sighup_unless_the_file_changed_it(pgrouter, cluster):
    """A logrotate SIGHUP with the file unchanged keeps the operator's SET; once the file's own
    value of that setting changes, a reload takes the file's value."""
    pgr = pgrouter(default_pool_size=4)
    with console(pgr) as c:
        c.execute("SET default_pool_size = 7")
        assert config(c)["default_pool_size"] == "7"
        pgr.reload()
        assert config(c)["default_pool_size"] == "7"
        c.execute("RELOAD")
        assert config(c)["default_pool_size"] == "7"
        assert database_row(c, "postgres")["pool_size"] == 7
        pgr.write_config(default_pool_size=5, query_wait_timeout=40)   # the file changes
        pgr.reload()
        conf = config(c)
        assert (conf["default_pool_size"], conf["query_wait_timeout"]) == ("5", "40"), conf
        pgr.write_config(default_pool_size=4)   # back to the value the SET once overrode
        pgr.reload()
        assert config(c)["default_pool_size"] == "4"   # the SET is gone: the file rules this setting now
    assert "the file changed default_pool_size to '5'" in pgr.log
    assert pgr.alive()


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
        assert database_row(c, "postgres")["pool_size"] == 4
        pgr.send_signal(signal.SIGHUP)
        wait_for(lambda: pgr.log.count("reload failed") == 2, timeout=3,
                 what="SIGHUP to refuse the bad file")
        assert pgr.alive() and config(c)["default_pool_size"] == "4"
        pgr.write_config(default_pool_size=6)   # fixed: both paths now apply it
        c.execute("RELOAD")
        assert database_row(c, "postgres")["pool_size"] == 6
        pgr.write_config(default_pool_size=8)
        pgr.send_signal(signal.SIGHUP)
        wait_for(lambda: database_row(c, "postgres")["pool_size"] == 8, timeout=3,
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
            wait_for(lambda: database_row(watch, "postgres")["paused"] == 1, timeout=3,
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
            assert database_row(watch, "postgres")["paused"] == 0
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
            assert {r["name"]: r["paused"] for r in show(watch, "DATABASES")} == {"postgres": 1, "other": 0}
            assert b.execute("SELECT 'other runs'").fetchone()[0] == "other runs"
            held = Background(lambda: a.execute("SELECT 'held'").fetchone()[0])
            assert not held.done.wait(0.3)
            watch.execute("RESUME")       # all
            assert held.done.wait(5) and held.result == "held", held.error

            # PAUSE (all) waiting for a transaction is canceled by RESUME: 57014
            b.execute("BEGIN")
            b.execute("SELECT 1")
            pause = Background(lambda: c.execute("PAUSE"))
            wait_for(lambda: database_row(watch, "other")["paused"] == 1, timeout=3, what="PAUSE to start")
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
            assert database_row(c, "postgres")["paused"] == 1
            newcomer = Background(lambda: pgr.connect(user="pgr_pool").execute("SELECT 'after'").fetchone()[0])
            assert not newcomer.done.wait(0.5), "a killed database served a new client before RESUME"
            c.execute("RESUME postgres")
            assert newcomer.done.wait(5) and newcomer.result == "after", newcomer.error
            assert "KILL postgres" in pgr.log
    finally:
        for conn in (in_tx, idle, bystander):
            conn.close()


# ----- DISABLE, ENABLE, RECONNECT and WAIT_CLOSE (PgBouncer's commands) -------------------------

def login_error(pgr, dbname):
    """The ErrorResponse fields a new client gets when it logs in to dbname, or None if it may."""
    with pgwire.Wire(pgr.port) as w:
        try:
            w.startup(user=NOBODY, database=dbname)
        except pgwire.ServerError as e:
            return e.fields
    return None


def test_disable_refuses_new_logins_and_enable_lets_them_in(pgrouter, cluster):
    pgr = pgrouter(databases={"postgres": db_entry(cluster), "other": db_entry(cluster)}, workers=2)
    inside = pgr.connect(user=NOBODY)
    try:
        inside.execute("SELECT 1")
        with console(pgr) as c:
            c.execute("DISABLE postgres")
            assert {r["name"]: r["disabled"] for r in show(c, "DATABASES")} == {"postgres": 1, "other": 0}
            for _ in range(4):   # every worker refuses
                fields = login_error(pgr, "postgres")
                assert fields and fields["C"] == "55000" and "DISABLE" in fields["M"], fields
            assert login_error(pgr, "other") is None
            assert inside.execute("SELECT 'still served'").fetchone()[0] == "still served"
            c.execute("DISABLE postgres")   # again: no change, as in PgBouncer
            c.execute("ENABLE postgres")
            assert database_row(c, "postgres")["disabled"] == 0
            assert login_error(pgr, "postgres") is None
            with pgr.connect(user=NOBODY) as again:
                assert again.execute("SELECT 2").fetchone()[0] == 2
            for cmd, state in (("DISABLE", "42601"), ("ENABLE a b", "42601"), ("DISABLE nosuch", "3D000"),
                               ("DISABLE pgbouncer", "22023")):
                assert sqlstate_of(lambda: c.execute(cmd)) == state, cmd
    finally:
        inside.close()


def test_reconnect_replaces_servers_as_released_and_wait_close_waits_for_it(pgrouter, cluster):
    """RECONNECT closes idle server connections at once and marks those in use (close_needed = 1 in
    SHOW SERVERS); WAIT_CLOSE answers once the last of them was released and closed."""
    pgr = pgrouter(workers=2)
    busy, idle = pgr.connect(user=NOBODY), pgr.connect(user="pgr_pool")
    try:
        busy.execute("BEGIN")
        busy_pid = busy.execute("SELECT pg_backend_pid()").fetchone()[0]
        idle_pid = idle.execute("SELECT pg_backend_pid()").fetchone()[0]
        with console(pgr) as c, console(pgr) as waiter_console:
            c.execute("RECONNECT postgres")
            wait_for(lambda: idle_pid not in {r[0] for r in client_backends(cluster)}, timeout=3,
                     what="the idle server connection to close")
            rows = {r["remote_pid"]: r for r in show(c, "SERVERS")}
            assert rows[busy_pid]["close_needed"] == 1, rows
            waiter = Background(lambda: waiter_console.execute("WAIT_CLOSE postgres").statusmessage)
            assert not waiter.done.wait(0.5), "WAIT_CLOSE answered while a server still waits to close"
            busy.execute("COMMIT")
            assert waiter.done.wait(5) and waiter.result == "WAIT_CLOSE", waiter.error
            assert busy_pid not in {r[0] for r in client_backends(cluster)}
            assert busy.execute("SELECT pg_backend_pid()").fetchone()[0] not in (busy_pid, idle_pid)
            assert all(r["close_needed"] == 0 for r in show(c, "SERVERS"))
            assert c.execute("WAIT_CLOSE").statusmessage == "WAIT_CLOSE"   # nothing to wait for
    finally:
        busy.close()
        idle.close()


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
    clients, per_client = 6, 2000   # long enough to be under way when the shutdown comes, on a fast machine too
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
