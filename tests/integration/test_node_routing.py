"""Statements whose answer depends on the node: node-dependent reads, two-phase commit and the
client's own DEALLOCATE / DISCARD ALL run on the primary (or where a hint or rule sends them on
purpose). Placement is read from the servers themselves: what they answer (pg_is_in_recovery,
transaction_read_only) and what they log (log_statement = 'all'), never from pgrouter's account."""

import psycopg
import pytest
from psycopg import errors as pgerr

from helpers import db_entry
from routing_helpers import PRIMARY, REPLICAS, ServerLogs, Tagger, connect, placed

pytestmark = pytest.mark.pgrouter_only


def drop_prepared_xacts(cluster):
    """Roll back every prepared transaction left on the primary (a failed test must not leave locks)."""
    for (gid,) in cluster.sql(cluster.primary, "SELECT gid FROM pg_prepared_xacts") or []:
        cluster.sql(cluster.primary, "ROLLBACK PREPARED '%s'" % gid.replace("'", "''"))


@pytest.fixture(scope="module")
def ncluster(cluster):
    """The shared cluster with every statement logged and a small table for two-phase commit."""
    for n in cluster.nodes:
        cluster.set_guc(n, "log_statement", "all")
    try:
        drop_prepared_xacts(cluster)
        cluster.sql(cluster.primary, "DROP SCHEMA IF EXISTS pgr_nd CASCADE; CREATE SCHEMA pgr_nd; "
                                     "CREATE TABLE pgr_nd.t (v text)")
        cluster.wait_caught_up()
        yield cluster
    finally:
        drop_prepared_xacts(cluster)
        cluster.sql(cluster.primary, "DROP SCHEMA IF EXISTS pgr_nd CASCADE")
        for n in cluster.nodes:
            cluster.set_guc(n, "log_statement", None)


@pytest.fixture
def router(ncluster, pgrouter):
    """router(**settings): pgrouter in transaction mode in front of the primary and both replicas."""
    def start(**settings):
        settings.setdefault("verbose", 2)
        settings.setdefault("read_your_writes", "off")
        return pgrouter(databases={"postgres": db_entry(ncluster, replicas=True)}, **settings)
    return start


# (SQL, the value the primary answers); a standby answers differently for each of them.
NODE_ANSWERS = [
    ("SELECT pg_is_in_recovery()", False),
    ("SELECT current_setting('transaction_read_only')", "off"),
    ("SELECT current_setting('in_hot_standby')", "off"),
    ("SHOW transaction_read_only", "off"),
    ("show in_hot_standby", "off"),
    ("SELECT count(*) > 0 FROM pg_stat_replication", True),
    ("SELECT count(*) FROM pg_replication_slots WHERE active", 2),
]

# Reads of the node's own activity and statistics: the servers' logs say where they ran.
NODE_READS = [
    "SELECT count(*) FROM pg_stat_activity /* {tag} */",
    "SELECT pid FROM pg_catalog.pg_stat_activity WHERE query LIKE '%{tag}%'",
    "SELECT count(*) FROM pg_locks WHERE NOT granted /* {tag} */",
    "SELECT gid FROM pg_prepared_xacts WHERE gid = '{tag}'",
    "SELECT pg_backend_pid() /* {tag} */",
    "SELECT txid_current_if_assigned() /* {tag} */",
    "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = '{tag}'",
    "SELECT pg_stat_get_numscans(0) /* {tag} */",
    "SHOW transaction_read_only /* {tag} */",
]


@pytest.mark.parametrize("routing", [1, 0])
def test_node_dependent_reads_run_on_the_primary(router, ncluster, routing):
    """Without an override, every statement of the node-dependent list gets the primary's answer and
    runs on the primary, with routing on (two replicas) as with routing = 0."""
    proxy = router(routing=routing)
    tag = Tagger()
    logs = ServerLogs(ncluster)
    tags = []
    with connect(proxy) as conn:
        for sql, want in NODE_ANSWERS:
            for _ in range(3):   # the replicas would take every one of them, each in turn
                got = conn.execute(sql).fetchone()[0]
                assert got == want, f"{sql!r} answered {got!r}, the primary's answer is {want!r}"
        for sql in NODE_READS:
            for _ in range(2):
                t = tag()
                tags.append(t)
                conn.execute(sql.format(tag=t)).fetchall()
        # the extended protocol and a prepared (named) statement are routed the same way
        for _ in range(3):
            assert conn.execute("SELECT pg_is_in_recovery(), %s::text", ["x"]).fetchone()[0] is False
    with psycopg.connect(proxy.dsn(), autocommit=True, prepare_threshold=0) as conn:
        for _ in range(4):
            assert conn.execute("SELECT current_setting(%s)", ["transaction_read_only"]).fetchone()[0] == "off"
    where = placed(logs, tags)
    wrong = {t: sorted(n) for t, n in where.items() if n != {PRIMARY}}
    assert not wrong, f"node-dependent reads ran elsewhere: {wrong}\n{logs.excerpt(*wrong)}"


def test_hint_or_rule_sends_node_dependent_reads_to_a_replica(router, ncluster):
    """A hint or a [routes] rule still sends a node-dependent read to a replica on purpose; a plain
    read beside it keeps going to the replicas, and a definite write is never moved."""
    proxy = router(routes={"standby_view": "tag=standby target=replica"})
    tag = Tagger()
    logs = ServerLogs(ncluster)
    with connect(proxy) as conn:
        for _ in range(3):
            assert conn.execute("/* pgrouter: replica */ SELECT pg_is_in_recovery()").fetchone()[0] is True
            assert conn.execute("/* route: standby */ SHOW transaction_read_only").fetchone()[0] == "on"
            assert conn.execute("/* route: standby */ SELECT current_setting('in_hot_standby')"
                                ).fetchone()[0] == "on"
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        t = tag()
        conn.execute(f"/* pgrouter: replica */ SELECT count(*) FROM pg_stat_activity /* {t} */").fetchall()
        w = tag()
        conn.execute(f"/* pgrouter: replica */ SELECT txid_current() /* {w} */").fetchall()
    where = placed(logs, [t, w])
    assert len(where[t]) == 1 and where[t] <= REPLICAS, f"{where}\n{logs.excerpt(t)}"
    assert where[w] == {PRIMARY}, f"{where}\n{logs.excerpt(w)}"


@pytest.fixture
def no_prepared_left(ncluster):
    """Roll back whatever prepared transaction a failing test leaves behind."""
    yield
    drop_prepared_xacts(ncluster)


@pytest.mark.parametrize("routing", [1, 0])
def test_two_phase_commit_through_psycopg(router, ncluster, routing, no_prepared_left):
    """psycopg's two-phase API end to end in transaction pooling: prepare, find the transaction
    with tpc_recover, roll it back (and commit another); the primary holds no prepared
    transaction afterwards and has exactly the committed row."""
    proxy = router(routing=routing)
    tag = Tagger()
    logs = ServerLogs(ncluster)
    done = {}
    with psycopg.connect(proxy.dsn(), prepare_threshold=None) as conn, \
            psycopg.connect(proxy.dsn(), prepare_threshold=None) as manager:
        for outcome in ("rollback", "commit"):
            t = tag()
            xid = conn.xid(7, t, "branch")
            conn.tpc_begin(xid)
            conn.execute("INSERT INTO pgr_nd.t (v) VALUES (%s)", [t])
            conn.tpc_prepare()
            # a transaction manager on another connection finds it, as after a crash
            found = [x for x in manager.tpc_recover() if x.gtrid == t]
            assert len(found) == 1, f"tpc_recover does not list the prepared transaction {t}"
            manager.autocommit = True   # a plain read of the view, outside any transaction
            assert manager.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone()[0] == 1
            manager.autocommit = False
            if outcome == "rollback":
                manager.tpc_rollback(found[0])
                conn.close()
                conn = psycopg.connect(proxy.dsn(), prepare_threshold=None)
            else:
                conn.tpc_commit()
            done[t] = outcome
        conn.close()
    for t, outcome in done.items():
        left = ncluster.sql(ncluster.primary, "SELECT count(*) FROM pg_prepared_xacts")[0][0]
        rows = ncluster.sql(ncluster.primary, "SELECT count(*) FROM pgr_nd.t WHERE v = %s", [t])[0][0]
        assert left == 0 and rows == (1 if outcome == "commit" else 0), (t, outcome, left, rows)
    where = placed(logs, list(done))
    wrong = {t: sorted(n) for t, n in where.items() if n != {PRIMARY}}
    assert not wrong, f"two-phase statements ran elsewhere: {wrong}\n{logs.excerpt(*wrong)}"


def _dealloc_round(conn, name):
    """Prepare and run a statement under name, deallocate everything, and run it again: the error
    (or None) that the second execution gives."""
    conn.pgconn.prepare(name.encode(), b"SELECT 42")
    res = conn.pgconn.exec_prepared(name.encode(), [])
    assert res.status == psycopg.pq.ExecStatus.TUPLES_OK, res.error_message
    conn.execute("DEALLOCATE ALL")
    res = conn.pgconn.exec_prepared(name.encode(), [])
    return res.error_field(psycopg.pq.DiagnosticField.SQLSTATE)


@pytest.mark.parametrize("routing", [1, 0])
def test_deallocate_and_discard_all_stay_off_the_replicas(router, ncluster, routing):
    """DEALLOCATE, DEALLOCATE ALL and DISCARD ALL change the client's own statements: they never run
    on a replica, and a statement deallocated that way is gone exactly as on a direct connection."""
    proxy = router(routing=routing)
    tag = Tagger()
    logs = ServerLogs(ncluster)
    tags = []
    with connect(proxy) as conn:
        for sql in ("DEALLOCATE ALL /* {tag} */", "DISCARD ALL /* {tag} */",
                    "/* {tag} */ DEALLOCATE ALL", "DEALLOCATE PREPARE ALL -- {tag}"):
            for _ in range(3):
                t = tag()
                tags.append(t)
                conn.execute(sql.format(tag=t))
    where = placed(logs, tags)
    wrong = {t: sorted(n) for t, n in where.items() if n & REPLICAS}
    assert not wrong, f"ran on a replica: {wrong}\n{logs.excerpt(*wrong)}"
    direct_dsn = f"host=127.0.0.1 port={ncluster.primary.port} dbname=postgres user=postgres"
    with psycopg.connect(direct_dsn, autocommit=True) as direct, connect(proxy) as conn:
        want = _dealloc_round(direct, "nd_direct")
        got = _dealloc_round(conn, "nd_proxy")
    assert want == b"26000" and got == want, (want, got)


@pytest.mark.parametrize("routing", [1, 0])
def test_parameter_status_is_the_servers_spelling(router, ncluster, routing):
    """The client_encoding a client sees after asking for "utf8" (at login or with SET) is what
    PostgreSQL itself reports, byte for byte: "UTF8"."""
    proxy = router(routing=routing)
    direct_dsn = f"host=127.0.0.1 port={ncluster.primary.port} dbname=postgres user=postgres"
    for spelling in ("utf8", "utf-8", "Utf8"):
        with psycopg.connect(direct_dsn, autocommit=True, client_encoding=spelling) as direct, \
                connect(proxy, client_encoding=spelling) as conn:
            want = direct.info.parameter_status("client_encoding")
            assert conn.info.parameter_status("client_encoding") == want, spelling
            for c in (direct, conn):
                c.execute(f"SET client_encoding = '{spelling}'")
                c.execute("SELECT 1").fetchall()
            assert conn.info.parameter_status("client_encoding") == \
                direct.info.parameter_status("client_encoding") == "UTF8"
            assert conn.execute("SHOW client_encoding").fetchone()[0] == "UTF8"
