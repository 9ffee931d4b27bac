"""Session pooling routes reads too: each client keeps its own primary server connection for its
whole session, and its reads outside a transaction run on replicas with its settings replayed
there; whatever pins a session (temp tables, an open transaction, …) keeps it on its primary
connection. Where a statement ran is asked of the servers themselves (inet_server_port())."""

import psycopg
import pytest

from helpers import db_entry

pytestmark = pytest.mark.pgrouter_only


@pytest.fixture
def session_router(cluster, pgrouter):
    """pgrouter in session mode (PgBouncer's default) in front of the primary and both replicas."""
    cluster.wait_caught_up()
    return pgrouter(databases={"postgres": db_entry(cluster, replicas=True)}, pool_mode="session",
                    verbose=2, read_your_writes="off")


def ports(cluster):
    """(primary port, set of replica ports)."""
    return cluster.primary.port, {r.port for r in cluster.replicas}


def test_session_mode_spreads_reads_over_the_replicas(session_router, cluster):
    primary, replicas = ports(cluster)
    seen = []
    conns = [session_router.connect() for _ in range(4)]
    try:
        for _ in range(10):
            for c in conns:
                seen.append(c.execute("SELECT inet_server_port()").fetchone()[0])
        assert set(seen) == replicas, f"reads ran on {sorted(set(seen))} (primary {primary})"
        # each session keeps one primary backend between its reads: the same pid every time
        for c in conns:
            pids = set()
            for _ in range(3):
                pids.add(c.execute("SELECT pg_backend_pid(), inet_server_port()").fetchone())
                c.execute("SELECT inet_server_port()")
            assert len(pids) == 1 and next(iter(pids))[1] == primary, pids
        # the primary backends are the sessions' own: four sessions, four of them
        homes = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in conns}
        assert len(homes) == 4
    finally:
        for c in conns:
            c.close()
    assert "reason=no-replicas" not in session_router.log


def test_session_mode_temp_table_keeps_the_session_on_its_primary_connection(session_router, cluster):
    primary, replicas = ports(cluster)
    with session_router.connect() as c:
        assert c.execute("SELECT inet_server_port()").fetchone()[0] in replicas
        home = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        c.execute("CREATE TEMP TABLE sr_tmp AS SELECT 42 AS v")
        for _ in range(5):
            assert c.execute("SELECT v, inet_server_port() FROM sr_tmp").fetchone() == (42, primary)
            assert c.execute("SELECT inet_server_port(), pg_backend_pid()").fetchone() == (primary, home)
    assert "session-pinned: temp table" in session_router.log, session_router.log_tail()
    # another session is not pinned: its reads still go to the replicas
    with session_router.connect() as c:
        assert c.execute("SELECT inet_server_port()").fetchone()[0] in replicas


def test_session_mode_settings_reach_replica_reads(session_router, cluster):
    primary, replicas = ports(cluster)
    with session_router.connect(application_name="sr-app") as c:
        c.execute("SET work_mem = '7MB'")
        c.execute("SET search_path = pg_catalog, public")
        for _ in range(4):
            row = c.execute("SELECT current_setting('work_mem'), current_setting('search_path'), "
                            "current_setting('application_name'), inet_server_port()").fetchone()
            assert row[:3] == ("7MB", "pg_catalog, public", "sr-app"), row
            assert row[3] in replicas, row
        c.execute("RESET work_mem")
        row = c.execute("SELECT current_setting('work_mem'), inet_server_port()").fetchone()
        assert row[0] == "4MB" and row[1] in replicas, row
    # the next session sees none of it, on any node
    with session_router.connect() as c:
        for _ in range(4):
            row = c.execute("SELECT current_setting('work_mem'), current_setting('application_name')").fetchone()
            assert row == ("4MB", ""), row


def test_session_mode_transactions_stay_on_the_primary_connection(session_router, cluster):
    primary, replicas = ports(cluster)
    with session_router.connect() as c:
        home = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        with c.transaction():
            for _ in range(3):
                assert c.execute("SELECT inet_server_port(), pg_backend_pid()").fetchone() == (primary, home)
        c.execute("PREPARE sr_q AS SELECT inet_server_port()")   # SQL PREPARE pins the session
        assert c.execute("EXECUTE sr_q").fetchone()[0] == primary
        assert c.execute("SELECT inet_server_port()").fetchone()[0] == primary
    assert "session-pinned: prepare" in session_router.log, session_router.log_tail()


def test_session_mode_prepared_statements_follow_reads(session_router, cluster):
    # psycopg prepares a statement on the server after its second run: the replica that runs it
    # later may not be the one it was prepared on, and the primary connection may run it too
    primary, replicas = ports(cluster)
    with psycopg.connect(session_router.dsn(), autocommit=True, prepare_threshold=1) as c:
        got = {c.execute("SELECT inet_server_port() + %s", (0,)).fetchone()[0] for _ in range(10)}
        assert got <= replicas and got, got
        with c.transaction():
            assert c.execute("SELECT inet_server_port() + %s", (0,)).fetchone()[0] == primary


def test_session_mode_show_route_explains_replica_reads(session_router, cluster):
    with psycopg.connect(session_router.dsn(user="postgres", dbname="pgrouter"), autocommit=True,
                         prepare_threshold=None) as console:
        cur = console.execute("SHOW ROUTE 'SELECT 1' DATABASE postgres")
        row = dict(zip([d.name for d in cur.description], cur.fetchone()))
    assert (row["target"], row["reason"]) == ("replica", "read"), row


def test_session_mode_reads_see_the_sessions_own_writes(cluster, pgrouter):
    # read-your-writes (on by default) holds in session pooling too: a read right after the
    # session's commit sees it, wherever it runs
    cluster.sql(cluster.primary, "CREATE TABLE IF NOT EXISTS sr_ryw (n int)")
    cluster.wait_caught_up()
    pgr = pgrouter(databases={"postgres": db_entry(cluster, replicas=True)}, pool_mode="session")
    try:
        with pgr.connect() as c:
            for n in range(30):
                c.execute("INSERT INTO sr_ryw VALUES (%s)", (n,))
                assert c.execute("SELECT count(*) FROM sr_ryw WHERE n = %s", (n,)).fetchone()[0] == 1, n
    finally:
        cluster.sql(cluster.primary, "DROP TABLE IF EXISTS sr_ryw")
