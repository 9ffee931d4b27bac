"""25006 retry (the failover rules): a statement a replica refuses as a write
("cannot execute … in a read-only transaction") before any row reached the client is re-run on
the primary, transparently, and its shape is remembered so that the next one goes straight to
the primary. Every other error, and every error inside an explicit transaction, reaches the
client unchanged. Where each statement ran is read from the servers' own logs."""

import re
import threading
import time

import psycopg
import pytest
from psycopg import errors as pgerr

from helpers import db_entry, wait_for
from routing_helpers import PRIMARY, REPLICAS, ServerLogs, Tagger, connect, statements_logged

pytestmark = pytest.mark.pgrouter_only

SETUP_SQL = """
DROP SCHEMA IF EXISTS pgr_retry CASCADE;
CREATE SCHEMA pgr_retry;
CREATE TABLE pgr_retry.log (id serial PRIMARY KEY, v text NOT NULL);
-- volatile (the default) and writing: pgrouter does not know that until it asks pg_proc
CREATE FUNCTION pgr_retry.add(v text) RETURNS int LANGUAGE sql
    AS $$ INSERT INTO pgr_retry.log (v) VALUES (v) RETURNING id $$;
-- declared STABLE but writes through a volatile helper: pg_proc vouches for it, wrongly
CREATE FUNCTION pgr_retry.add_inner(v text) RETURNS int LANGUAGE sql
    AS $$ INSERT INTO pgr_retry.log (v) VALUES (v) RETURNING id $$;
CREATE FUNCTION pgr_retry.lying_add(v text) RETURNS int STABLE LANGUAGE plpgsql
    AS $$ BEGIN RETURN pgr_retry.add_inner(v); END $$;
"""


@pytest.fixture(scope="module")
def rcluster(cluster):
    """The shared cluster with every statement logged on every node and the pgr_retry schema
    replicated; restores log_statement and drops the schema afterwards."""
    with statements_logged(cluster, SETUP_SQL, "DROP SCHEMA IF EXISTS pgr_retry CASCADE") as c:
        yield c


@pytest.fixture
def tag():
    """A Tagger: tag() returns a fresh word unique to this test run."""
    return Tagger()


@pytest.fixture
def router(rcluster, pgrouter):
    """pgrouter in front of the primary and both replicas, one worker (the learned shapes are
    per worker), debug logging (each route decision and its reason is logged)."""
    def start(**settings):
        settings.setdefault("verbose", 2)
        settings.setdefault("workers", 1)
        # These tests pin down where each statement runs; read-your-writes (test_ryw.py) would rightly
        # send reads that follow a write to the primary until the replicas replay it.
        settings.setdefault("read_your_writes", "off")
        return pgrouter(databases={"postgres": db_entry(rcluster, replicas=True)}, **settings)
    return start


def rows_on_primary(cluster, v):
    """ids of the log rows with value v on the primary (asked without logging the tag)."""
    with cluster.connect(cluster.primary, options="-c log_statement=none") as c:
        return [r[0] for r in c.execute("SELECT id FROM pgr_retry.log WHERE v = %s", (v,))]


def where(logs, t):
    """{node: number of log entries mentioning t} (statements and the errors they caused)."""
    out = {}
    for e in logs.entries():
        if t in e.text:
            out[e.node] = out.get(e.node, 0) + 1
    return out


def statements_on(logs, t):
    """Nodes where a statement containing t was logged as run (log_statement = 'all')."""
    return {e.node for e in logs.entries() if t in e.text and "statement: " in e.text
            and "ERROR:" not in e.text.split("statement: ")[0]}


def refusals(logs, t):
    """Replica log entries that refused a statement containing t as a write: the 25006 ERROR
    line followed (same backend) by its STATEMENT line."""
    entries = logs.entries()
    out = []
    for i, e in enumerate(entries):
        if e.node in REPLICAS and t in e.text and "STATEMENT:" in e.text:
            before = [p for p in entries[max(0, i - 4):i] if (p.node, p.pid) == (e.node, e.pid)]
            out += [p for p in before if "ERROR:" in p.text and "read-only transaction" in p.text]
        # extended protocol: the tag is a parameter ("DETAIL: parameters: $1 = '…'"), and the
        # refusal is the same backend's next ERROR
        if e.node in REPLICAS and t in e.text and "parameters:" in e.text:
            after = [p for p in entries[i + 1:i + 6] if (p.node, p.pid) == (e.node, e.pid)]
            out += [p for p in after if "ERROR:" in p.text and "read-only transaction" in p.text][:1]
    return out


def route_reasons(proxy):
    """Reasons of every routing decision pgrouter logged, in order."""
    return re.findall(r"route: node=\d+ \(\S+\) reason=([\w-]+)", proxy.log)


def assert_retried(logs, proxy, t, retries_before):
    """t was refused by exactly one replica (25006 in its log) and then ran on the primary."""
    nodes = statements_on(logs, t)
    refused = refusals(logs, t)
    assert len(nodes & REPLICAS) == 1 and PRIMARY in nodes, \
        f"{t} ran on {nodes}\n{logs.excerpt(t)}"
    assert refused, f"no replica refused {t}\n{logs.excerpt(t)}"
    assert proxy.log.count("refused a statement as a write (25006)") == retries_before + 1, \
        proxy.log_tail()


def test_hinted_writing_function_is_retried_on_primary(router, rcluster, tag):
    """A replica hint moves a function of unknown volatility to a replica; the replica refuses
    the write (25006), pgrouter re-runs it on the primary; the client just sees the result."""
    proxy = router()
    logs = ServerLogs(rcluster)
    with connect(proxy) as conn:
        t1 = tag()
        got = conn.execute(f"/* pgrouter: replica */ SELECT pgr_retry.add('{t1}')").fetchall()
        assert got == [(rows_on_primary(rcluster, t1)[0],)], got
        assert len(rows_on_primary(rcluster, t1)) == 1, "the retried write ran twice"
        assert_retried(logs, proxy, t1, 0)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

        # the same shape with another literal goes to the primary at once: pgrouter learned
        # the shape, and by now pg_proc has told it that add() is volatile (a definite write,
        # which no hint moves; test_function_declared_stable_that_writes_is_learned covers a
        # shape that only the learning keeps off the replicas)
        t2 = tag()
        n_routes = len(route_reasons(proxy))
        got = conn.execute(f"/* pgrouter: replica */ SELECT pgr_retry.add('{t2}')").fetchone()
        assert [got[0]] == rows_on_primary(rcluster, t2)
        assert statements_on(logs, t2) == {PRIMARY}, logs.excerpt(t2)
        assert route_reasons(proxy)[n_routes:] in (["learned-write"], ["volatile-function"]), \
            proxy.log_tail()
        assert proxy.log.count("refused a statement as a write (25006)") == 1
        # reads of the same connection still go to replicas
        t3 = tag()
        conn.execute(f"SELECT '{t3}'")
        assert statements_on(logs, t3) <= REPLICAS and statements_on(logs, t3), logs.excerpt(t3)
    rcluster.wait_caught_up()
    for r in rcluster.replicas:   # each write exists once, replicated from the primary
        assert rcluster.sql(r, "SELECT count(*) FROM pgr_retry.log WHERE v IN (%s, %s)",
                            (t1, t2))[0][0] == 2


def test_function_declared_stable_that_writes_is_learned(router, rcluster, tag):
    """Without a hint: pg_proc says STABLE, so after the lookup pgrouter sends the call to a
    replica; the replica refuses (25006), the call is retried on the primary and its shape is
    learned: the next call (another literal) goes straight to the primary (learned-write)."""
    proxy = router()
    logs = ServerLogs(rcluster)
    with connect(proxy) as conn:
        t0 = tag()   # sent to the primary on purpose: pgrouter asks pg_proc about lying_add meanwhile
        conn.execute(f"/* pgrouter: primary */ SELECT pgr_retry.lying_add('{t0}')")
        assert statements_on(logs, t0) == {PRIMARY}, logs.excerpt(t0)
        wait_for(lambda: "catalog: learned the volatility" in proxy.log, timeout=5,
                 what="pgrouter to look lying_add up in pg_proc")
        t1 = tag()
        got = conn.execute(f"SELECT pgr_retry.lying_add('{t1}')").fetchone()
        assert [got[0]] == rows_on_primary(rcluster, t1), "the client did not get the result"
        assert_retried(logs, proxy, t1, 0)
        for _ in range(3):
            t2 = tag()
            n_routes = len(route_reasons(proxy))
            got = conn.execute(f"SELECT pgr_retry.lying_add('{t2}')").fetchone()
            assert [got[0]] == rows_on_primary(rcluster, t2)
            assert statements_on(logs, t2) == {PRIMARY}, logs.excerpt(t2)
            assert route_reasons(proxy)[n_routes:] == ["learned-write"], proxy.log_tail()
    assert proxy.log.count("refused a statement as a write (25006)") == 1


def direct_error(cluster, node, sql):
    """The (SQLSTATE, message) a node itself gives for sql."""
    with pytest.raises(psycopg.Error) as e:
        cluster.sql(node, sql)
    return e.value.sqlstate, e.value.diag.message_primary


def test_other_replica_errors_pass_through(router, rcluster, tag):
    """A read that fails on a replica for another reason is answered as the replica answered,
    and not re-run anywhere; an object missing on the replica is asked of the primary, whose
    error (the same, for an object that exists nowhere) is the answer."""
    proxy = router()
    logs = ServerLogs(rcluster)
    cases = [("SELECT 1 / (length('{t}') - length('{t}'))", False),
             ("SELECT * FROM pgr_retry.no_such_table /* {t} */", True),
             ("SELECT '{t}'::int", False),
             ("/* pgrouter: replica */ SELECT pgr_retry.add('{t}') FROM pgr_retry.nothing_here", True)]
    with connect(proxy) as conn:
        for sql, not_there_yet in cases:
            t, direct = tag(), tag()
            want = direct_error(rcluster, rcluster.replicas[0], sql.format(t=direct))
            with pytest.raises(psycopg.Error) as e:
                conn.execute(sql.format(t=t))
            got = (e.value.sqlstate, e.value.diag.message_primary)
            assert got == (want[0], want[1].replace(direct, t)), sql
            nodes = statements_on(logs, t)
            if not_there_yet:
                assert len(nodes) == 2 and PRIMARY in nodes and nodes - {PRIMARY} <= REPLICAS, f"{sql}: ran on {nodes}"
            else:
                assert len(nodes) == 1 and nodes <= REPLICAS, f"{sql}: ran on {nodes}"
            assert conn.execute("SELECT 1").fetchone()[0] == 1
    assert "refused a statement" not in proxy.log


def test_no_retry_once_a_row_reached_the_client(router, rcluster, tag):
    """A replica that sends rows and then refuses a write: the rows are the client's already,
    so the 25006 is passed on (re-running would duplicate them)."""
    proxy = router()
    logs = ServerLogs(rcluster)
    t = tag()
    with connect(proxy) as conn:
        with pytest.raises(pgerr.ReadOnlySqlTransaction):
            conn.execute(f"/* pgrouter: replica */ SELECT g, CASE WHEN g = 3 THEN "
                         f"pgr_retry.add('{t}') END FROM generate_series(1, 5) g")
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    assert statements_on(logs, t) <= REPLICAS and len(statements_on(logs, t)) == 1, \
        logs.excerpt(t)
    assert rows_on_primary(rcluster, t) == []
    assert "refused a statement" not in proxy.log


def test_no_retry_inside_a_read_only_transaction(router, rcluster, tag):
    """BEGIN READ ONLY runs on a replica; a write in it gets 25006 and is not re-run: the
    transaction is the client's to end."""
    proxy = router()
    logs = ServerLogs(rcluster)
    replica_ports = {r.port for r in rcluster.replicas}
    ts = [tag() for _ in range(4)]
    with connect(proxy) as conn:
        conn.execute(f"BEGIN READ ONLY /* {ts[0]} */")
        assert conn.execute("SELECT inet_server_port()").fetchone()[0] in replica_ports
        with pytest.raises(pgerr.ReadOnlySqlTransaction):
            conn.execute(f"INSERT INTO pgr_retry.log (v) VALUES ('{ts[1]}')")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        conn.execute("ROLLBACK")
        conn.execute(f"BEGIN READ ONLY /* {ts[2]} */")
        with pytest.raises(pgerr.ReadOnlySqlTransaction):
            conn.execute(f"/* pgrouter: replica */ SELECT pgr_retry.add('{ts[3]}')")
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    for t in ts:
        nodes = statements_on(logs, t)
        assert len(nodes) == 1 and nodes <= REPLICAS, f"{t} ran on {nodes}\n{logs.excerpt(t)}"
        assert rows_on_primary(rcluster, t) == []
    assert "refused a statement" not in proxy.log


def test_extended_protocol_write_is_retried_on_primary(router, rcluster, tag):
    """The same retry for a parameterised call (Parse/Bind/Execute/Sync, what drivers send):
    lying_add() is STABLE for pg_proc, so once pgrouter has looked it up the call goes to a
    replica, which refuses it."""
    proxy = router()
    logs = ServerLogs(rcluster)
    t0, t = tag(), tag()
    with connect(proxy) as conn:
        conn.execute(f"/* pgrouter: primary */ SELECT pgr_retry.lying_add('{t0}')")   # and looked up
        wait_for(lambda: "catalog: learned the volatility" in proxy.log, timeout=5,
                 what="pgrouter to look lying_add up in pg_proc")
        try:
            got = conn.execute("SELECT pgr_retry.lying_add(%s)", (t,)).fetchone()
        except psycopg.Error as e:
            pytest.fail(f"the client got the replica's refusal instead of a retry: {e!r}\n"
                        f"{logs.excerpt(t)}")
        assert [got[0]] == rows_on_primary(rcluster, t), logs.excerpt(t)
    assert refusals(logs, t), logs.excerpt(t)   # it did go to a replica first


@pytest.mark.pgr_timeout(20)
@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_volatility_learned_while_waiting_for_a_replica(router, rcluster, tag, protocol):
    """The pg_proc answer (add() is volatile) arrives while the hinted call still waits for its
    replica server connection (the replicas are paused): the call must still be answered, with
    its result, and the write must exist once."""
    proxy = router()
    t = tag()
    sql = "/* pgrouter: replica */ SELECT pgr_retry.add(%s)"
    result, errors = [], []
    replicas = [f"127.0.0.1:{r.port}" for r in rcluster.replicas]
    with connect(proxy) as conn:   # no replica connection yet: the call must wait for one
        def call():
            """The hinted call, as the chosen protocol sends it."""
            try:
                if protocol == "simple":
                    result.append(conn.execute(sql.replace("%s", f"'{t}'")).fetchone()[0])
                else:
                    result.append(conn.execute(sql, (t,)).fetchone()[0])
            except Exception as e:  # noqa: BLE001 - checked below
                errors.append(e)
        for r in rcluster.replicas:
            rcluster.sigstop(r)
        try:
            th = threading.Thread(target=call, daemon=True)
            th.start()
            wait_for(lambda: "catalog: learned the volatility" in proxy.log, timeout=5,
                     what="pgrouter to learn add()'s volatility from the primary")
            time.sleep(0.2)
            log = proxy.log
            assert any(f"connecting to {r}" in log for r in replicas), proxy.log_tail()
            assert not any(f"logged in to {r}" in log for r in replicas), proxy.log_tail()
        finally:
            for r in rcluster.replicas:
                rcluster.sigcont(r)
        th.join(5)
        if th.is_alive():
            pgr_log = proxy.log_tail()
            proxy.stop()   # frees the client thread (and psycopg's connection lock)
            th.join(5)
            pytest.fail(f"{protocol}: the call hung after the replica connection arrived\n"
                        f"{pgr_log}")
    assert not errors, errors
    assert result == rows_on_primary(rcluster, t), (result, rows_on_primary(rcluster, t))


def test_a_replica_that_has_not_replayed_a_new_table_yet_is_not_the_answer(router, rcluster, tag):
    # A migration on one connection, a read on another: the replica that has not replayed the CREATE
    # TABLE yet answers 42P01; the read is re-run on the primary, where the table is.
    pgr = router()
    table = f"pgr_retry.nty_{tag()}"
    for r in rcluster.replicas:
        rcluster.set_guc(r, "recovery_min_apply_delay", "3s")
    try:
        with psycopg.connect(rcluster.dsn(rcluster.primary), autocommit=True) as migrate, \
                pgr.connect() as reader:
            migrate.execute(f"CREATE TABLE {table} (x int)")
            migrate.execute(f"INSERT INTO {table} VALUES (1)")
            time.sleep(0.6)   # the monitor (every 250 ms) has seen the replicas behind; they stay so for 3 s
            hint = "/* pgrouter: replica max_lag=1h */ "
            assert reader.execute(f"{hint}SELECT count(*) FROM {table}").fetchone()[0] == 1
            assert "does not have an object the read uses yet" in pgr.log
            # an object that exists nowhere: the primary's error reaches the client
            with pytest.raises(pgerr.UndefinedTable):
                reader.execute(f"{hint}SELECT * FROM pgr_retry.nowhere_{tag()}")
    finally:
        for r in rcluster.replicas:
            rcluster.set_guc(r, "recovery_min_apply_delay", None)
        rcluster.wait_caught_up()


def test_a_replica_the_monitor_last_saw_caught_up_still_cannot_answer_not_there_yet(router, rcluster, tag):
    # The monitor's last look at a replica comes before the read: "caught up" then says nothing about a
    # table created a moment ago. The replicas stop replaying between two looks (monitor_interval 30 s),
    # a migration creates a table, and a read routed to a replica must still get the primary's answer.
    pgr = router(monitor_interval="30s")
    table = f"pgr_retry.fresh_{tag()}"
    hint = "/* pgrouter: replica */ "
    with pgr.connect() as reader:
        wait_for(lambda: reader.execute(f"{hint}SELECT pg_is_in_recovery()").fetchone()[0], timeout=5,
                 what="a replica to take reads (the monitor's first look)")
        for r in rcluster.replicas:
            with rcluster.connect(r) as c:
                c.execute("SELECT pg_wal_replay_pause()")
        try:
            with psycopg.connect(rcluster.dsn(rcluster.primary), autocommit=True) as migrate:
                migrate.execute(f"CREATE TABLE {table} (x int)")
                migrate.execute(f"INSERT INTO {table} VALUES (1)")
            assert reader.execute(f"{hint}SELECT count(*) FROM {table}").fetchone()[0] == 1
            assert "does not have an object the read uses yet" in pgr.log
        finally:
            for r in rcluster.replicas:
                with rcluster.connect(r) as c:
                    c.execute("SELECT pg_wal_replay_resume()")
            with psycopg.connect(rcluster.dsn(rcluster.primary), autocommit=True) as c:
                c.execute(f"DROP TABLE IF EXISTS {table}")
            rcluster.wait_caught_up()
