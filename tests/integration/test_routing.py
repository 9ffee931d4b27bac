"""Read/write routing, verified on the servers: every node logs every statement
(log_statement = 'all') and each test tags its statements, so where a statement ran is read from
the PostgreSQL logs of the primary and the two replicas, never from pgrouter's own account."""

import threading
import time

import psycopg
import pytest
from psycopg import errors as pgerr

import pgwire
from helpers import db_entry
from routing_helpers import (PRIMARY, REPLICAS, ServerLogs, Tagger, assert_one_backend, connect,
                             count_by_node, pids_of, placed, raw_segment, read_segment,
                             run_concurrently, run_shape)

pytestmark = pytest.mark.pgrouter_only

SETUP_SQL = """
DROP SCHEMA IF EXISTS pgr_rt CASCADE;
CREATE SCHEMA pgr_rt;
CREATE TABLE pgr_rt.t (id serial PRIMARY KEY, v text, n int NOT NULL DEFAULT 0);
INSERT INTO pgr_rt.t (v) VALUES ('seed');
CREATE TABLE pgr_rt.items (id int PRIMARY KEY, v text);
INSERT INTO pgr_rt.items SELECT g, 'item' || g FROM generate_series(1, 10) g;
CREATE TABLE pgr_rt.scratch (a int);
CREATE SEQUENCE pgr_rt.seq;
CREATE MATERIALIZED VIEW pgr_rt.mv AS SELECT count(*) AS n FROM pgr_rt.items;
CREATE FUNCTION pgr_rt.bump(tag text) RETURNS int LANGUAGE sql
    AS $$ INSERT INTO pgr_rt.t (v) VALUES (tag) RETURNING id $$;
CREATE FUNCTION pgr_rt.item_count() RETURNS bigint STABLE LANGUAGE sql
    AS $$ SELECT count(*) FROM pgr_rt.items $$;
CREATE PROCEDURE pgr_rt.proc(tag text) LANGUAGE sql
    AS $$ INSERT INTO pgr_rt.t (v) VALUES (tag) $$;
"""


@pytest.fixture(scope="module")
def rcluster(cluster):
    """The shared cluster with every statement logged on every node and the pgr_rt schema in
    place on the replicas too; restores log_statement and drops the schema afterwards."""
    for n in cluster.nodes:
        cluster.set_guc(n, "log_statement", "all")
    try:
        cluster.sql(cluster.primary, SETUP_SQL)
        cluster.wait_caught_up()
        yield cluster
    finally:
        for n in cluster.replicas:  # a failed fault test must not leave a replica down
            cluster.start(n)
        cluster.wait_streaming()
        cluster.sql(cluster.primary, "DROP SCHEMA IF EXISTS pgr_rt CASCADE")
        for n in cluster.nodes:
            cluster.set_guc(n, "log_statement", None)


@pytest.fixture
def tag():
    """A Tagger: tag() returns a fresh word unique to this test run."""
    return Tagger()


@pytest.fixture
def router(rcluster, pgrouter):
    """router(databases=None, **settings): pgrouter in transaction mode in front of the primary
    and both replicas (debug logging on, so its log shows each route decision on failure)."""
    def start(databases=None, **settings):
        dbs = databases or {"postgres": db_entry(rcluster, replicas=True)}
        settings.setdefault("verbose", 2)
        # These tests pin down where each statement runs; read-your-writes (test_ryw.py) would rightly
        # send reads that follow a write to the primary until the replicas replay it.
        settings.setdefault("read_your_writes", "off")
        return pgrouter(databases=dbs, **settings)
    return start


# ----- writes never reach a replica ------------------------------------------------------

# (name, how to run it, SQL with {tag}, expected SQLSTATE or None). "q": simple query without
# parameters; "p": extended protocol with the parameters in the 5th field; "copy_in"/"copy_out".
WRITE_SHAPES = [
    ("insert", "q", "INSERT INTO pgr_rt.t (v) VALUES ('{tag}')", None),
    ("insert-returning", "q", "insert into pgr_rt.t (v) values ('{tag}') returning id", None),
    ("insert-select", "q", "INSERT INTO pgr_rt.t (v) SELECT '{tag}' FROM generate_series(1, 2)", None),
    ("insert-leading-space", "q", "  \n\t/* lead */ INSERT\nINTO pgr_rt.t (v) VALUES ('{tag}')", None),
    ("cte-then-insert", "q", "WITH s AS (SELECT 1) INSERT INTO pgr_rt.t (v) SELECT '{tag}' FROM s", None),
    ("upsert", "q", "INSERT INTO pgr_rt.t (id, v) VALUES (1, '{tag}') "
                    "ON CONFLICT (id) DO UPDATE SET v = excluded.v", None),
    ("update", "q", "UPDATE pgr_rt.t SET n = n + 1 WHERE id = 1 /* {tag} */", None),
    ("delete", "q", "DELETE FROM pgr_rt.t WHERE v = '{tag}'", None),
    ("merge", "q", "MERGE INTO pgr_rt.t AS d USING (VALUES (1)) AS s(id) ON d.id = s.id "
                   "WHEN MATCHED THEN UPDATE SET n = d.n + 1 /* {tag} */", None),
    ("create-table", "q", "CREATE TABLE pgr_rt.c_{tag} (a int)", None),
    ("create-table-as", "q", "CREATE TABLE pgr_rt.a_{tag} AS SELECT 1 AS a", None),
    ("select-into", "q", "SELECT 1 AS a INTO pgr_rt.i_{tag}", None),
    ("alter-table", "q", "ALTER TABLE pgr_rt.scratch ALTER COLUMN a SET DEFAULT 0 /* {tag} */", None),
    ("create-index", "q", "CREATE INDEX IF NOT EXISTS t_n ON pgr_rt.t (n) /* {tag} */", None),
    ("drop-table", "q", "DROP TABLE IF EXISTS pgr_rt.gone_{tag}", None),
    ("truncate", "q", "TRUNCATE pgr_rt.scratch /* {tag} */", None),
    ("comment-on", "q", "COMMENT ON TABLE pgr_rt.scratch IS '{tag}'", None),
    ("grant", "q", "GRANT SELECT ON pgr_rt.items TO pgr_app /* {tag} */", None),
    ("refresh-matview", "q", "REFRESH MATERIALIZED VIEW pgr_rt.mv /* {tag} */", None),
    ("for-update", "q", "SELECT * FROM pgr_rt.t WHERE id = 1 FOR UPDATE /* {tag} */", None),
    ("for-no-key-update", "q", "SELECT * FROM pgr_rt.t WHERE id = 1 FOR NO KEY UPDATE /* {tag} */", None),
    ("for-share", "q", "select * from pgr_rt.t where id = 1 for share /* {tag} */", None),
    ("for-key-share", "q", "SELECT * FROM pgr_rt.t WHERE id = 1 FOR KEY SHARE /* {tag} */", None),
    ("for-update-skip-locked", "q",
     "SELECT id FROM pgr_rt.t ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED /* {tag} */", None),
    ("for-update-of", "q", "SELECT t.id FROM pgr_rt.t t JOIN pgr_rt.items i USING (id) "
                           "FOR UPDATE OF t /* {tag} */", None),
    ("for-update-in-subquery", "q",
     "SELECT * FROM (SELECT * FROM pgr_rt.t WHERE id = 1 FOR UPDATE) s /* {tag} */", None),
    ("for-update-parenthesized", "q", "(SELECT * FROM pgr_rt.t WHERE id = 1 FOR UPDATE) /* {tag} */", None),
    ("writable-cte-insert", "q", "WITH w AS (INSERT INTO pgr_rt.t (v) VALUES ('{tag}') RETURNING id) "
                                 "SELECT id FROM w", None),
    ("writable-cte-update", "q", "WITH w AS (UPDATE pgr_rt.t SET n = n + 1 WHERE id = 1 RETURNING n) "
                                 "SELECT * FROM w /* {tag} */", None),
    ("writable-cte-second", "q", "WITH a AS (SELECT 1), w AS (DELETE FROM pgr_rt.t WHERE v = '{tag}' "
                                 "RETURNING id) SELECT count(*) FROM a, w", None),
    ("nextval", "q", "SELECT nextval('pgr_rt.seq') /* {tag} */", None),
    ("nextval-upper", "q", "SELECT NEXTVAL('pgr_rt.seq'), '{tag}'", None),
    ("setval", "q", "SELECT setval('pgr_rt.seq', 100) /* {tag} */", None),
    ("values-nextval", "q", "VALUES (nextval('pgr_rt.seq'), '{tag}')", None),
    ("nextval-in-where", "q", "SELECT v FROM pgr_rt.items WHERE id = nextval('pgr_rt.seq') % 10 "
                              "/* {tag} */", None),
    ("advisory-xact-lock", "q", "SELECT pg_advisory_xact_lock(4242) /* {tag} */", None),
    ("advisory-lock", "q", "SELECT pg_advisory_lock(4243), pg_advisory_unlock(4243) /* {tag} */", None),
    ("txid-current", "q", "SELECT txid_current() /* {tag} */", None),
    ("pg-notify", "q", "SELECT pg_notify('pgr_rt_chan', '{tag}')", None),
    ("lo-create", "q", "SELECT lo_unlink(lo_create(0)) /* {tag} */", None),
    ("user-function", "q", "SELECT pgr_rt.bump('{tag}')", None),
    ("user-function-in-cte", "q", "WITH x AS (SELECT pgr_rt.bump('{tag}') AS r) SELECT r FROM x", None),
    ("user-function-in-where", "q", "SELECT 1 WHERE pgr_rt.bump('{tag}') > 0", None),
    ("lock", "q", "LOCK TABLE pgr_rt.t IN ACCESS SHARE MODE /* {tag} */", "25P01"),
    ("listen", "q", "LISTEN pgr_rt_{tag}", None),
    ("notify", "q", "NOTIFY pgr_rt_chan, '{tag}'", None),
    ("unlisten", "q", "UNLISTEN pgr_rt_{tag}", None),
    ("call", "q", "CALL pgr_rt.proc('{tag}')", None),
    ("do", "q", "DO $$BEGIN INSERT INTO pgr_rt.t (v) VALUES ('{tag}'); END$$", None),
    ("do-language", "q", "DO LANGUAGE plpgsql $body$ BEGIN PERFORM 1; END $body$ /* {tag} */", None),
    ("vacuum", "q", "VACUUM pgr_rt.scratch /* {tag} */", None),
    ("analyze", "q", "ANALYZE pgr_rt.scratch /* {tag} */", None),
    ("explain-analyze-insert", "q", "EXPLAIN ANALYZE INSERT INTO pgr_rt.t (v) VALUES ('{tag}')", None),
    ("explain-analyze-options", "q", "EXPLAIN (ANALYZE, COSTS OFF) DELETE FROM pgr_rt.t "
                                     "WHERE v = '{tag}'", None),
    ("multi-statement", "q", "SELECT 1; INSERT INTO pgr_rt.t (v) VALUES ('{tag}'); SELECT 2", None),
    ("create-temp-table", "q", "CREATE TEMP TABLE tmp_{tag} (a int)", None),
    ("prepare-insert", "q", "PREPARE p_{tag} AS INSERT INTO pgr_rt.t (v) VALUES ($1)", None),
    ("unparseable", "q", "SELEC 1 /* {tag} */", "42601"),
    ("extended-insert", "p", "INSERT INTO pgr_rt.t (v) VALUES (%s) /* {tag} */", None, ("x",)),
    ("extended-for-update", "p", "SELECT * FROM pgr_rt.t WHERE id = %s FOR UPDATE /* {tag} */", None, (1,)),
    ("extended-nextval", "p", "SELECT nextval(%s) /* {tag} */", None, ("pgr_rt.seq",)),
    ("copy-from", "copy_in", "COPY pgr_rt.t (v) FROM STDIN /* {tag} */", None),
    ("copy-select-nextval-to", "copy_out",
     "COPY (SELECT nextval('pgr_rt.seq')) TO STDOUT /* {tag} */", None),
]


def test_writes_never_reach_a_replica(router, rcluster, tag):
    """Every write shape of the routing rules runs on the primary, and none is even attempted on
    a replica (a write sent to a replica would show in its log even though it fails there)."""
    proxy = router()
    logs = ServerLogs(rcluster)
    tags, client_errors = {}, {}
    for name, kind, sql, want_state, *params in WRITE_SHAPES:
        t = tags[name] = tag()
        # A fresh client each: LISTEN, temp tables and advisory locks pin a session to the
        # primary, which must not make the later shapes pass.
        with connect(proxy) as conn:
            try:
                run_shape(conn, kind, sql.format(tag=t), params[0] if params else None)
                got = None
            except psycopg.Error as e:
                got = e.sqlstate
                if got != want_state:
                    client_errors[name] = f"{got}: {str(e).strip()}"
        if want_state and got != want_state:
            client_errors[name] = f"expected SQLSTATE {want_state}, got {got}"
    where = placed(logs, tags.values())
    wrong = {name: sorted(where[t]) or "nowhere" for name, t in tags.items() if where[t] != {PRIMARY}}
    assert not wrong and not client_errors, (
        f"writes not (only) on the primary: {wrong}\nclient errors: {client_errors}\n"
        f"server log:\n{logs.excerpt(*[tags[n] for n in wrong])}")


# ----- reads go to replicas ---------------------------------------------------------------

READ_SHAPES = [
    ("select", "q", "SELECT v FROM pgr_rt.items WHERE id = 1 /* {tag} */"),
    ("quoted-keyword-ident", "q", "SELECT 1 AS \"for update\", '{tag}'"),
    ("keywords-in-string", "q", "SELECT 'INSERT INTO x; SELECT 1 FOR UPDATE {tag}'"),
    ("e-string", "q", "SELECT E'it\\'s {tag} FOR SHARE'"),
    ("dollar-quoted", "q", "SELECT $q$ DELETE FROM t; nextval('s') $q$, '{tag}'"),
    ("keyword-in-comment", "q", "/* INSERT INTO t */ SELECT '{tag}' -- FOR UPDATE"),
    ("line-comment-first", "q", "-- update t set x = 1\nSELECT '{tag}'"),
    ("values", "q", "VALUES (1, '{tag}')"),
    ("table", "q", "TABLE pgr_rt.items /* {tag} */"),
    ("cte-select", "q", "WITH a AS (SELECT 1 AS x) SELECT x, '{tag}' FROM a"),
    ("recursive-cte", "q", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
                           "SELECT n, '{tag}' FROM r"),
    ("union", "q", "(SELECT 1) UNION ALL (SELECT 2) /* {tag} */"),
    ("join", "q", "SELECT i.v FROM pgr_rt.items i JOIN pgr_rt.t t ON t.id = i.id /* {tag} */"),
    ("show", "q", "SHOW search_path /* {tag} */"),
    ("explain", "q", "EXPLAIN SELECT * FROM pgr_rt.items /* {tag} */"),
    ("explain-insert-no-analyze", "q", "EXPLAIN INSERT INTO pgr_rt.t (v) VALUES ('{tag}')"),
    ("explain-analyze-select", "q", "EXPLAIN ANALYZE SELECT count(*) FROM pgr_rt.items /* {tag} */"),
    ("read-only-volatile", "q", "SELECT random() < 2, clock_timestamp() IS NOT NULL, now(), '{tag}'"),
    ("stable-builtins", "q", "SELECT current_setting('search_path'), version(), '{tag}'"),
    ("multi-statement-reads", "q", "SELECT 1; SELECT '{tag}'"),
    ("extended-select", "p", "SELECT v FROM pgr_rt.items WHERE id = %s /* {tag} */", (3,)),
    ("copy-select-to", "copy_out", "COPY (SELECT * FROM pgr_rt.items) TO STDOUT /* {tag} */"),
]


def test_read_shapes_run_on_replicas(router, rcluster, tag):
    """Replica-eligible statements run on a replica (never the primary: primary_read_weight is 0),
    including those whose strings, comments or identifiers contain write keywords."""
    proxy = router()
    logs = ServerLogs(rcluster)
    tags, errors = {}, {}
    with connect(proxy) as conn:
        for name, kind, sql, *params in READ_SHAPES:
            t = tags[name] = tag()
            try:
                run_shape(conn, kind, sql.format(tag=t), params[0] if params else None)
            except psycopg.Error as e:
                errors[name] = f"{e.sqlstate}: {str(e).strip()}"
    where = placed(logs, tags.values())
    wrong = {name: sorted(where[t]) or "nowhere" for name, t in tags.items()
             if len(where[t]) != 1 or not where[t] <= REPLICAS}
    assert not wrong and not errors, f"reads not on exactly one replica: {wrong}\nerrors: {errors}"


def test_reads_spread_over_both_replicas(router, rcluster, tag):
    """One client's plain reads, one after another, alternate between the two equal replicas."""
    proxy = router()
    logs = ServerLogs(rcluster)
    tags = [tag() for _ in range(60)]
    with connect(proxy) as conn:
        for t in tags:
            assert conn.execute(f"SELECT count(*) FROM pgr_rt.items /* {t} */").fetchone()[0] == 10
    counts = count_by_node(logs, tags)
    assert PRIMARY not in counts, counts
    assert sum(counts.values()) == len(tags), counts
    # Equal weights and no concurrency: every pick is a tie, which should rotate evenly.
    assert 0.35 * len(tags) <= counts.get("replica1", 0) <= 0.65 * len(tags), counts


def test_replica_weights_shape_the_spread(router, rcluster, tag):
    """replicas=r1@3,r2@1: under concurrent load replica1 takes about three quarters of the reads;
    with primary_read_weight the primary takes a share of reads too."""
    r1, r2 = rcluster.replicas
    entry = db_entry(rcluster, replicas=True)
    entry["replicas"] = f"127.0.0.1:{r1.port}@3,127.0.0.1:{r2.port}@1"
    proxy = router(databases={"postgres": entry})
    logs = ServerLogs(rcluster)
    tags = [[tag() for _ in range(12)] for _ in range(6)]

    def client(i):
        """One client running its reads back to back."""
        with connect(proxy) as conn:
            for t in tags[i]:
                conn.execute(f"SELECT pg_sleep(0.01), '{t}'")
    run_concurrently(len(tags), client)
    flat = [t for ts in tags for t in ts]
    counts = count_by_node(logs, flat)
    assert PRIMARY not in counts and sum(counts.values()) == len(flat), counts
    share = counts.get("replica1", 0) / len(flat)
    # Ideal is 75%; per-worker load counts and ties make it wander, but never toward an even split.
    assert 0.6 <= share <= 0.95 and counts.get("replica2", 0) > 0, \
        f"replica1 (weight 3) took {share:.0%} of reads: {counts}"

    proxy2 = router(primary_read_weight=1)
    logs = ServerLogs(rcluster)
    tags2 = [tag() for _ in range(30)]
    with connect(proxy2) as conn:
        for t in tags2:
            conn.execute(f"SELECT '{t}'")
        w = tag()
        conn.execute(f"INSERT INTO pgr_rt.t (v) VALUES ('{w}')")
    counts = count_by_node(logs, tags2)
    assert counts.get(PRIMARY, 0) >= 3 and counts.get("replica1", 0) >= 3 \
        and counts.get("replica2", 0) >= 3, counts
    assert logs.nodes_of(w) == {PRIMARY}


# ----- transactions -----------------------------------------------------------------------


def test_a_transaction_never_spans_two_nodes(router, rcluster, tag):
    """Read-write transactions run whole on one primary backend; read-only ones (psycopg
    read_only, START TRANSACTION READ ONLY) whole on one replica backend, while another client's
    reads run at the same time."""
    proxy = router()
    logs = ServerLogs(rcluster)
    stop = threading.Event()
    noise_tags = []

    def noise():
        """Another client's autocommit reads, shifting the replicas' load."""
        with connect(proxy) as c:
            while not stop.is_set():
                t = tag()
                noise_tags.append(t)
                c.execute(f"SELECT pg_sleep(0.005), '{t}'")
    th = threading.Thread(target=noise)
    th.start()
    rw, ro = [], []
    try:
        with connect(proxy, autocommit=False) as conn:
            for _ in range(5):
                ts = [tag() for _ in range(4)]
                conn.execute(f"SELECT count(*) FROM pgr_rt.items /* {ts[0]} */")
                conn.execute(f"INSERT INTO pgr_rt.t (v) VALUES ('{ts[1]}')")
                assert conn.execute(f"SELECT count(*) FROM pgr_rt.t WHERE v = '{ts[1]}' "
                                    f"/* {ts[2]} */").fetchone()[0] == 1
                conn.execute(f"SELECT 1 /* {ts[3]} */")
                conn.commit()
                rw.append(ts)
            conn.read_only = True
            for _ in range(8):
                ts = [tag() for _ in range(3)]
                for t in ts:
                    conn.execute(f"SELECT count(*) FROM pgr_rt.items /* {t} */")
                conn.commit()
                ro.append(ts)
        with connect(proxy) as conn:
            for _ in range(4):
                ts = [tag() for _ in range(3)]
                conn.execute(f"START TRANSACTION READ ONLY /* {ts[0]} */")
                conn.execute(f"SELECT 1 /* {ts[1]} */")
                conn.execute(f"COMMIT /* {ts[2]} */")
                ro.append(ts)
            ts = [tag()]
            conn.execute(f"BEGIN; SELECT 1; INSERT INTO pgr_rt.t (v) VALUES ('{ts[0]}'); COMMIT")
            rw.append(ts)
    finally:
        stop.set()
        th.join()
    for ts in rw:
        assert_one_backend(logs, ts, {PRIMARY}, f"read-write transaction {ts}")
    # (Which replica each read-only transaction gets depends on the other client's load.)
    for ts in ro:
        assert_one_backend(logs, ts, REPLICAS, f"read-only transaction {ts}")
    noise_where = placed(logs, noise_tags)
    assert noise_tags and all(nodes <= REPLICAS for nodes in noise_where.values()), noise_where


def test_default_transaction_read_only_sends_transactions_to_replicas(router, rcluster, tag):
    """After SET default_transaction_read_only = on a plain BEGIN … COMMIT runs whole on one
    replica backend; the setting is replayed on the primary too, so a write fails there with
    25006; after SET … = off, BEGIN goes back to the primary."""
    proxy = router()
    logs = ServerLogs(rcluster)
    ro, rw = [], []
    with connect(proxy) as conn:
        conn.execute("SET default_transaction_read_only = on")
        for _ in range(4):
            ts = [tag() for _ in range(3)]
            conn.execute(f"BEGIN /* {ts[0]} */")
            assert conn.execute(f"SELECT count(*) FROM pgr_rt.items /* {ts[1]} */").fetchone()[0] == 10
            conn.execute(f"COMMIT /* {ts[2]} */")
            ro.append(ts)
        w = tag()
        with pytest.raises(pgerr.ReadOnlySqlTransaction):
            conn.execute(f"INSERT INTO pgr_rt.t (v) VALUES ('{w}')")
        conn.execute("SET default_transaction_read_only = off")
        ts = [tag() for _ in range(3)]
        conn.execute(f"BEGIN /* {ts[0]} */")
        conn.execute(f"INSERT INTO pgr_rt.t (v) VALUES ('{ts[1]}')")
        conn.execute(f"COMMIT /* {ts[2]} */")
        rw.append(ts)
    assert logs.nodes_of(w) == {PRIMARY}
    assert_one_backend(logs, rw[0], {PRIMARY}, "the read-write transaction")
    used = {assert_one_backend(logs, ts, REPLICAS, f"read-only transaction {ts}") for ts in ro}
    assert used == REPLICAS, f"read-only transactions all went to {used}"


# ----- overrides: hints, SET pgrouter.target, read-only aliases, session mode -------------

def test_hints_and_session_target(router, rcluster, tag):
    """Comment hints beat SET pgrouter.target, which beats the classifier; a replica hint or
    target never moves a definite write off the primary but does vouch for a user function;
    SET pgrouter.target is answered by pgrouter and never reaches a server."""
    proxy = router()
    logs = ServerLogs(rcluster)
    want = {}  # tag -> set of allowed nodes
    with connect(proxy) as conn:
        def run(sql, allowed, expect=None):
            """Run sql with a fresh tag (placed at {tag}); remember where it must have run."""
            t = tag()
            want[t] = allowed
            row = conn.execute(sql.format(tag=t)).fetchone()
            if expect is not None:
                assert row[0] == expect, (sql, row)
        for _ in range(2):
            run("/* pgrouter: primary */ SELECT '{tag}'", {PRIMARY})
            run("/* pgrouter: replica */ SELECT '{tag}'", REPLICAS)
            run("/*pgrouter:primary*/ select '{tag}'", {PRIMARY})
        run("/* pgrouter: replica */ INSERT INTO pgr_rt.t (v) VALUES ('{tag}') RETURNING 1", {PRIMARY})
        run("/* pgrouter: replica */ SELECT id FROM pgr_rt.t WHERE id = 1 FOR UPDATE /* {tag} */",
            {PRIMARY})
        run("/* pgrouter: replica */ SELECT nextval('pgr_rt.seq') /* {tag} */", {PRIMARY})
        run("SELECT pgr_rt.item_count() /* {tag} */", REPLICAS, 10)   # STABLE: waits for its lookup
        run("/* pgrouter: replica */ SELECT pgr_rt.item_count() /* {tag} */", REPLICAS, 10)

        set_tags = [tag() for _ in range(3)]
        conn.execute(f"SET pgrouter.target = primary /* {set_tags[0]} */")
        for _ in range(3):
            run("SELECT '{tag}'", {PRIMARY})
        run("/* pgrouter: replica */ SELECT '{tag}'", REPLICAS)
        conn.execute(f"SET pgrouter.target TO 'replica' /* {set_tags[1]} */")
        for _ in range(3):
            run("SELECT '{tag}'", REPLICAS)
        run("SELECT pgr_rt.item_count() /* {tag} */", REPLICAS, 10)
        run("INSERT INTO pgr_rt.t (v) VALUES ('{tag}') RETURNING 1", {PRIMARY})
        run("SELECT 1 FROM pgr_rt.t WHERE id = 1 FOR SHARE /* {tag} */", {PRIMARY})
        run("/* pgrouter: primary */ SELECT '{tag}'", {PRIMARY})
        conn.execute(f"SET pgrouter.target = auto /* {set_tags[2]} */")
        run("SELECT '{tag}'", REPLICAS)
        # a STABLE user function: replicas, once pgrouter has looked it up in pg_proc (its first call
        # waits for that; test_user_function_volatility_is_learned_from_pg_proc checks this)
        run("SELECT pgr_rt.item_count() /* {tag} */", REPLICAS, 10)
        with pytest.raises(psycopg.Error) as bad:
            conn.execute("SET pgrouter.target = banana")
        assert bad.value.sqlstate == "22023"
        run("SELECT '{tag}'", REPLICAS)   # the connection is still usable
    where = placed(logs, list(want) + set_tags)
    wrong = {t: sorted(where[t]) for t, allowed in want.items()
             if len(where[t]) != 1 or not where[t] <= allowed}
    assert not wrong, f"statements on the wrong node: {wrong}\n{logs.excerpt(*wrong)}"
    for t in set_tags:
        assert not where[t], f"SET pgrouter.target reached {sorted(where[t])}"


def test_read_only_alias_and_session_mode(router, rcluster, tag):
    """`app_ro = … target=replica` sends reads (even unknown functions) to replicas and still
    never sends a write to one; a target=primary entry does not route; a session-mode entry routes
    reads as transaction mode does (its writes on the session's own primary connection), and a
    session-mode target=replica alias runs the whole session on one replica."""
    entry = db_entry(rcluster, replicas=True)
    dbs = {"postgres": entry, "app_ro": dict(entry, target="replica"),
           "app_rw": dict(entry, target="primary"),
           "sess": dict(entry, pool_mode="session"),
           "sess_ro": dict(entry, pool_mode="session", target="replica")}
    proxy = router(databases=dbs)
    logs = ServerLogs(rcluster)
    ro_reads, ro_write, rw, sess, sess_ro, sess_w = [], tag(), [], [], [], []
    with connect(proxy, dbname="app_ro") as conn:
        for _ in range(6):
            ro_reads.append(tag())
            assert conn.execute(f"SELECT pgr_rt.item_count() /* {ro_reads[-1]} */").fetchone()[0] == 10
        conn.execute(f"INSERT INTO pgr_rt.t (v) VALUES ('{ro_write}')")
    with connect(proxy, dbname="app_rw") as conn:
        for _ in range(3):
            rw.append(tag())
            conn.execute(f"SELECT '{rw[-1]}'")
    with connect(proxy, dbname="sess") as conn:
        for _ in range(3):
            sess.append(tag())
            conn.execute(f"SELECT '{sess[-1]}'")
            sess_w.append(tag())
            conn.execute(f"INSERT INTO pgr_rt.t (v) VALUES ('{sess_w[-1]}')")
    with connect(proxy, dbname="sess_ro") as conn:
        for _ in range(3):
            sess_ro.append(tag())
            conn.execute(f"SELECT '{sess_ro[-1]}'")
    counts = count_by_node(logs, ro_reads)
    assert PRIMARY not in counts and set(counts) == REPLICAS, counts
    assert logs.nodes_of(ro_write) == {PRIMARY}
    for t in rw:
        assert logs.nodes_of(t) == {PRIMARY}, (t, logs.nodes_of(t))
    for t in sess:
        assert len(logs.nodes_of(t)) == 1 and logs.nodes_of(t) <= REPLICAS, (t, logs.nodes_of(t))
    assert_one_backend(logs, sess_w, {PRIMARY}, "the sess session's writes")
    assert_one_backend(logs, sess_ro, REPLICAS, "the sess_ro session")


# ----- session state ----------------------------------------------------------------------

def test_session_settings_are_replayed_and_do_not_leak(router, rcluster, tag):
    """With one server connection per node and two clients taking turns on them, client A's
    SET search_path / statement_timeout follow it to both replicas and the primary, while client
    B, on the very same backends, keeps the defaults."""
    proxy = router(default_pool_size=1, workers=1)
    logs = ServerLogs(rcluster)
    a_tags, b_tags = [], []
    with connect(proxy) as a, connect(proxy) as b:
        a.execute("SET search_path = pgr_rt, public")
        a.execute("SET statement_timeout = '150ms'")
        for _ in range(8):
            a_tags.append(tag())
            assert a.execute(f"SHOW search_path /* {a_tags[-1]} */").fetchone()[0] == "pgr_rt, public"
            b_tags.append(tag())
            assert b.execute(f"SHOW search_path /* {b_tags[-1]} */").fetchone()[0] == '"$user", public'
            a_tags.append(tag())
            assert a.execute(f"SELECT count(*) FROM items /* {a_tags[-1]} */").fetchone()[0] == 10
            b_tags.append(tag())
            assert b.execute(f"SHOW statement_timeout /* {b_tags[-1]} */").fetchone()[0] == "0"
        slow = [tag() for _ in range(2)]
        for t in slow:
            with pytest.raises(pgerr.QueryCanceled):
                a.execute(f"SELECT pg_sleep(1), '{t}'")
        b_tags.append(tag())
        b.execute(f"SELECT pg_sleep(0.3), '{b_tags[-1]}'")
        w = tag()
        a.execute(f"INSERT INTO t (v) VALUES ('{w}')")   # search_path on the primary too
        a.execute("RESET search_path")
        for _ in range(4):
            a_tags.append(tag())
            assert a.execute(f"SHOW search_path /* {a_tags[-1]} */").fetchone()[0] == '"$user", public'
    assert count_by_node(logs, a_tags).keys() == REPLICAS, count_by_node(logs, a_tags)
    assert set(count_by_node(logs, slow)) <= REPLICAS
    assert logs.nodes_of(w) == {PRIMARY}
    shared = pids_of(logs, a_tags) & pids_of(logs, b_tags)
    assert shared, "the two clients never shared a server connection: the test proved nothing"


def test_temp_table_pins_the_client_to_its_primary_connection(router, rcluster, tag):
    """After CREATE TEMP TABLE every statement of the session, reads included, runs on the
    primary backend that has the table; when the client leaves, that backend is reset
    (DISCARD ALL) and the next client on it does not see the table."""
    proxy = router(default_pool_size=1, workers=1)
    logs = ServerLogs(rcluster)
    suffix = tag()
    name = "tmp_" + suffix
    pinned = []
    with connect(proxy) as a:
        a.execute(f"CREATE TEMP TABLE {name} (v text)")
        a.execute(f"INSERT INTO {name} VALUES ('one')")
        for _ in range(6):
            pinned.append(tag())
            assert a.execute(f"SELECT count(*) FROM {name} /* {pinned[-1]} */").fetchone()[0] == 1
            pinned.append(tag())
            assert a.execute(f"SELECT count(*) FROM pgr_rt.items /* {pinned[-1]} */").fetchone()[0] == 10
    after = tag()
    with connect(proxy) as b:
        # The table's name is spelled in two pieces so that this statement does not carry its tag.
        assert b.execute(f"/* pgrouter: primary */ SELECT to_regclass('tmp_' || '{suffix}'), "
                         f"'{after}'").fetchone()[0] is None
    owner = assert_one_backend(logs, [name] + pinned, {PRIMARY}, "the pinned session")
    backend = pids_of(logs, [name])
    assert pids_of(logs, [after]) == backend, "the next client did not get the same backend"
    pid = next(iter(backend))[1]
    resets = [e for e in logs.entries() if e.node == owner and e.pid == pid and "DISCARD ALL" in e.text]
    assert resets, "no DISCARD ALL on the pinned backend when its client left"


def test_other_session_state_pins(router, rcluster, tag):
    """Session advisory locks, WITH HOLD cursors, SQL PREPARE and LISTEN keep working across
    later statements: each client stays on the primary backend that holds its state."""
    proxy = router()
    logs = ServerLogs(rcluster)
    with connect(proxy) as a, connect(proxy) as other:
        lock_tags = [tag() for _ in range(4)]
        a.execute(f"SELECT pg_advisory_lock(7007), '{lock_tags[0]}'")
        assert other.execute("SELECT pg_try_advisory_lock(7007)").fetchone()[0] is False
        a.execute(f"SELECT count(*) FROM pgr_rt.items /* {lock_tags[1]} */")
        assert a.execute(f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                         f"AND pid = pg_backend_pid() /* {lock_tags[2]} */").fetchone()[0] == 1
        assert a.execute(f"SELECT pg_advisory_unlock(7007), '{lock_tags[3]}'").fetchone()[0] is True
        assert other.execute("SELECT pg_try_advisory_lock(7007), pg_advisory_unlock(7007)"
                             ).fetchone() == (True, True)
    assert_one_backend(logs, lock_tags, {PRIMARY}, "the advisory-lock session")

    with connect(proxy) as a:
        cur_tags = [tag() for _ in range(4)]
        a.execute(f"DECLARE c CURSOR WITH HOLD FOR SELECT id FROM pgr_rt.items ORDER BY id "
                  f"/* {cur_tags[0]} */")
        for i, t in enumerate(cur_tags[1:]):
            rows = a.execute(f"FETCH 3 FROM c /* {t} */").fetchall()
            assert [r[0] for r in rows] == [3 * i + 1, 3 * i + 2, 3 * i + 3]
        a.execute("CLOSE c")
    assert_one_backend(logs, cur_tags, {PRIMARY}, "the WITH HOLD cursor session")

    with connect(proxy) as a:
        prep_tags = [tag() for _ in range(4)]
        a.execute(f"PREPARE q(int) AS SELECT $1 + 1 /* {prep_tags[0]} */")
        for t in prep_tags[1:]:
            assert a.execute(f"EXECUTE q(41) /* {t} */").fetchone()[0] == 42
    assert_one_backend(logs, prep_tags, {PRIMARY}, "the SQL PREPARE session")

    got = []
    chan = "ch_" + tag()
    with connect(proxy) as listener, connect(proxy) as notifier:
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        listener.execute(f"LISTEN {chan}")
        notifier.execute(f"NOTIFY {chan}, 'hello'")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            listener.execute("SELECT 1")
            time.sleep(0.05)
    assert got == [(chan, "hello")]


# ----- a replica that goes away --------------------------------------------------------------

@pytest.mark.parametrize("fault", ["stop", "kill9"])
def test_stopped_replica_is_skipped_and_comes_back(router, rcluster, tag, fault):
    """Stop (or SIGKILL) replica2 while pgrouter holds idle connections to it: after those and
    the reconnect attempt fail, every read of four concurrent clients still succeeds, none on
    replica2; start it again and reads return to it once its back-off (server_login_retry = 1s)
    expires."""
    proxy = router(server_login_retry=1)
    r2 = rcluster.node("replica2")
    logs = ServerLogs(rcluster)
    with connect(proxy) as conn:
        warm = [tag() for _ in range(6)]
        for t in warm:
            conn.execute(f"SELECT '{t}'")
        assert set(count_by_node(logs, warm)) == REPLICAS
        try:
            if fault == "stop":
                rcluster.stop(r2)
            else:
                rcluster.kill9(r2)
            logs = ServerLogs(rcluster)
            during = [[tag() for _ in range(8)] for _ in range(4)]
            errors = []

            def reader(i):
                """A client running reads while replica2 is down; it records failures."""
                with connect(proxy) as c:
                    for t in during[i]:
                        try:
                            assert c.execute(f"SELECT count(*) FROM pgr_rt.items /* {t} */"
                                             ).fetchone()[0] == 10
                        except psycopg.Error as e:
                            errors.append(f"{t}: {e.sqlstate} {str(e).strip()}")
            run_concurrently(len(during), reader)
            reader_tags = [t for ts in during for t in ts]
            mine = [tag() for _ in range(8)]
            for t in mine:   # the warm client's own connection, whose replica2 server died
                try:
                    conn.execute(f"SELECT '{t}'")
                except psycopg.Error as e:
                    errors.append(f"{t} (warm client): {e.sqlstate} {str(e).strip()}")
            assert not errors, f"reads failed while replica2 was down: {errors}"
            counts = count_by_node(logs, reader_tags + mine)
            assert "replica2" not in counts and sum(counts.values()) == len(reader_tags + mine), counts
            assert counts.get("replica1", 0) >= len(reader_tags) // 2, counts
        finally:
            rcluster.start(r2)
            rcluster.wait_streaming()
        logs = ServerLogs(rcluster)
        back = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            back.append(tag())
            conn.execute(f"SELECT '{back[-1]}'")
            if "replica2" in logs.nodes_of(back[-1]):
                break
            time.sleep(0.1)
        assert "replica2" in count_by_node(logs, back), "reads never returned to replica2"
    # The monitor usually notices first ("is down"); a pool's failed reconnect says "unavailable".
    assert "unavailable" in proxy.log or f"{r2.port} is down" in proxy.log, \
        "pgrouter did not log that replica2 was unavailable"


# ----- pipelines ----------------------------------------------------------------------------

def test_psycopg_pipeline_mixing_reads_and_writes(router, rcluster, tag):
    """psycopg pipeline mode: each Sync segment runs on one backend (it is one implicit
    transaction); a segment with a write runs on the primary and sees its own write; every
    result comes back in order and correct. (psycopg flushes each query before its Sync, so a
    read-only segment is usually not buffered whole when routed and stays on the primary:
    allowed by the rule "a batch buffered up to its Sync is routed by its strictest statement".)"""
    proxy = router()
    logs = ServerLogs(rcluster)
    w = tag()
    segments = []
    with connect(proxy) as conn:
        for _ in range(3):
            seg1, seg2, seg3 = [tag() for _ in range(3)], [tag() for _ in range(2)], [tag() for _ in range(2)]
            segments.append((seg1, seg2, seg3))
            with conn.pipeline() as p:
                c1 = conn.execute(f"SELECT v FROM pgr_rt.items WHERE id = %s /* {seg1[0]} */", (2,))
                c2 = conn.execute(f"INSERT INTO pgr_rt.t (v) VALUES (%s) RETURNING v /* {seg1[1]} */", (w,))
                c3 = conn.execute(f"SELECT count(*) FROM pgr_rt.t WHERE v = %s /* {seg1[2]} */", (w,))
                p.sync()
                c4 = conn.execute(f"SELECT %s::int + 1 /* {seg2[0]} */", (41,))
                c5 = conn.execute(f"SELECT v FROM pgr_rt.items WHERE id = %s /* {seg2[1]} */", (9,))
                p.sync()
                c6 = conn.execute(f"UPDATE pgr_rt.t SET n = n + 1 WHERE v = %s RETURNING n "
                                  f"/* {seg3[0]} */", (w,))
                c7 = conn.execute(f"SELECT sum(n) FROM pgr_rt.t WHERE v = %s /* {seg3[1]} */", (w,))
            first = c3.fetchone()[0]
            assert c1.fetchone()[0] == "item2" and c2.fetchone()[0] == w
            assert c4.fetchone()[0] == 42 and c5.fetchone()[0] == "item9"
            assert first == len(segments) and len(c6.fetchall()) == first
            assert c7.fetchone()[0] == sum(range(1, first + 1))
    for seg1, seg2, seg3 in segments:
        assert_one_backend(logs, seg1, {PRIMARY}, "segment 1 (read, write, read)")
        assert_one_backend(logs, seg2, REPLICAS | {PRIMARY}, "segment 2 (reads)")
        assert_one_backend(logs, seg3, {PRIMARY}, "segment 3 (write, read)")
    assert rcluster.sql(rcluster.primary, "SELECT count(*), sum(n) FROM pgr_rt.t WHERE v = %s",
                        (w,))[0] == (3, 6)


def test_raw_pipeline_read_then_write_then_read(router, rcluster, tag):
    """A client pipelines read/Sync, write/Sync, read/Sync in one packet without waiting: the
    read runs on a replica, the write waits for it and runs on the primary, and the replies
    arrive complete and in order. A read segment sent with Flush instead of Sync, followed by a
    write, stays on one node and does not hang."""
    proxy = router()
    logs = ServerLogs(rcluster)
    t1, t2, t3 = tag(), tag(), tag()
    with pgwire.Wire(proxy.port) as w:
        w.startup()
        for _ in range(3):
            w.send(raw_segment(f"SELECT v FROM pgr_rt.items WHERE id = $1 /* {t1} */", ["4"])
                   + raw_segment(f"INSERT INTO pgr_rt.t (v) VALUES ($1) /* {t2} */", [t2])
                   + raw_segment(f"SELECT v, '{t3}' FROM pgr_rt.items WHERE id = $1", ["5"]))
            assert read_segment(w) == ([["item4"]], "SELECT 1", None)
            assert read_segment(w) == ([], "INSERT 0 1", None)
            assert read_segment(w) == ([["item5", t3]], "SELECT 1", None)
        t4, t5 = tag(), tag()
        w.send(pgwire.parse(f"SELECT v FROM pgr_rt.items WHERE id = $1 /* {t4} */")
               + pgwire.bind(["6"]) + pgwire.execute() + pgwire.flush())
        got = [w.read_message(timeout=5)[0] for _ in range(4)]
        assert got == [b"1", b"2", b"D", b"C"], got
        w.send(pgwire.parse(f"INSERT INTO pgr_rt.t (v) VALUES ($1) /* {t5} */") + pgwire.bind([t5])
               + pgwire.execute() + pgwire.sync())
        assert read_segment(w) == ([], "INSERT 0 1", None)
    where = placed(logs, [t1, t2, t3])
    assert where[t1] <= REPLICAS and where[t1], where
    # t3 may run on the primary: it can arrive while the client is still linked to it.
    assert where[t2] == {PRIMARY} and where[t3], where
    assert_one_backend(logs, [t4, t5], {PRIMARY}, "the Flush-then-write implicit transaction")


def test_user_function_volatility_is_learned_from_pg_proc(router, rcluster):
    """A user-defined STABLE function runs on a replica from its very first call after pgrouter
    starts (the read waits the few milliseconds of pgrouter's pg_proc lookup); a VOLATILE one that
    writes never leaves the primary, its first call included."""
    cluster = rcluster
    cluster.sql(cluster.primary, "CREATE OR REPLACE FUNCTION pgr_rt_stable() RETURNS int STABLE "
                                 "LANGUAGE sql AS 'SELECT inet_server_port()'")
    cluster.sql(cluster.primary, "CREATE TABLE IF NOT EXISTS pgr_rt_vol_log(x int)")
    cluster.sql(cluster.primary, "CREATE OR REPLACE FUNCTION pgr_rt_volatile() RETURNS int VOLATILE "
                                 "LANGUAGE sql AS 'INSERT INTO pgr_rt_vol_log VALUES (1) RETURNING 1'")
    cluster.wait_caught_up()
    replica_ports = {r.port for r in cluster.replicas}
    pgr = router()
    try:
        with psycopg.connect(pgr.dsn(), autocommit=True) as conn:
            ports = [conn.execute("SELECT pgr_rt_stable()").fetchone()[0] for _ in range(5)]
            assert set(ports) <= replica_ports, f"a STABLE function's calls ran on {ports}"
            for _ in range(5):
                port = conn.execute("SELECT pgr_rt_volatile(), inet_server_port()").fetchone()[1]
                assert port == cluster.primary.port
        assert cluster.sql(cluster.primary, "SELECT count(*) FROM pgr_rt_vol_log")[0][0] == 5
        assert "catalog: learned the volatility" in pgr.log
    finally:
        cluster.sql(cluster.primary, "DROP FUNCTION IF EXISTS pgr_rt_stable(); "
                                     "DROP FUNCTION IF EXISTS pgr_rt_volatile(); DROP TABLE IF EXISTS pgr_rt_vol_log")


@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_first_call_of_a_function_created_meanwhile_runs_on_a_replica(router, rcluster, protocol):
    """CREATE FUNCTION … STABLE on one connection while pgrouter runs; the very first call of that
    function from another connection runs on a replica, as every later call does."""
    cluster = rcluster
    name = f"pgr_rt_new_{protocol}"
    replica_ports = {r.port for r in cluster.replicas}
    pgr = router()
    try:
        with psycopg.connect(pgr.dsn(), autocommit=True, prepare_threshold=None) as reader:
            # the pool is in use, and pgrouter has already looked up another function
            assert reader.execute("SELECT pgr_rt.item_count(), inet_server_port()").fetchone()[1] \
                in replica_ports
            with psycopg.connect(pgr.dsn(), autocommit=True) as ddl:
                ddl.execute(f"CREATE FUNCTION {name}(x int) RETURNS int STABLE LANGUAGE sql "
                            f"AS 'SELECT inet_server_port() + x - x'")
            cluster.wait_caught_up()   # the replicas know the function (else "not there yet": primary)
            if protocol == "simple":
                first = reader.execute(f"SELECT {name}(1)").fetchone()[0]
            else:
                first = reader.execute(f"SELECT {name}(%s)", (1,)).fetchone()[0]
            assert first in replica_ports, f"the first call ran on port {first} (primary {cluster.primary.port})"
            later = reader.execute(f"SELECT {name}(2)").fetchone()[0]
            assert later in replica_ports
    finally:
        cluster.sql(cluster.primary, f"DROP FUNCTION IF EXISTS {name}(int)")


def test_routes_rules_from_the_config(router, rcluster, tag):
    """[routes] rules: a comment tag, a regex and an application_name each send matching reads
    where the rule says; a rule never moves a write off the primary; fallback=error refuses a
    statement (57P03) when its rule wants a replica and none is available."""
    proxy = router(routes={
        "reports": "tag=reports target=primary",
        "dash": "application_name=dashboard target=replica",
        "pinned_table": "regex='from pgr_rt\\.t ' target=primary",
    })
    logs = ServerLogs(rcluster)
    want = {}
    with connect(proxy) as conn:
        def run(sql, allowed):
            t = tag()
            want[t] = allowed
            conn.execute(sql.format(tag=t)).fetchall()
        run("/* route: reports */ SELECT '{tag}'", {PRIMARY})
        run("SELECT '{tag}'", REPLICAS)                                  # no rule: the classifier
        run("SELECT id FROM pgr_rt.t WHERE v = '{tag}'", {PRIMARY})      # the regex rule
        run("SELECT count(*) FROM pgr_rt.items WHERE v <> '{tag}'", REPLICAS)
    with connect(proxy, application_name="dashboard") as conn:
        for _ in range(3):
            t = tag()
            want[t] = REPLICAS
            conn.execute(f"SELECT '{t}'").fetchall()
        t = tag()
        want[t] = {PRIMARY}                                              # a write stays a write
        conn.execute(f"INSERT INTO pgr_rt.t (v) VALUES ('{t}')")
    where = placed(logs, list(want))
    wrong = {t: sorted(where[t]) for t, allowed in want.items()
             if len(where[t]) != 1 or not where[t] <= allowed}
    assert not wrong, f"statements on the wrong node: {wrong}\n{logs.excerpt(*wrong)}"

    # fallback=error: the rule wants a replica, and the only "replica" is unreachable
    entry = db_entry(rcluster, replicas=False)
    entry["replicas"] = "127.0.0.1:1"
    strict = router(databases={"postgres": entry},
                    routes={"must_replica": "application_name=strict target=replica fallback=error"})
    with connect(strict, application_name="strict") as conn:
        for _ in range(20):   # the first attempts find the replica down and put it in back-off
            try:
                conn.execute("SELECT 1").fetchall()
            except psycopg.Error as e:
                assert e.sqlstate == "57P03" and "must_replica" in str(e), e
                break
        else:
            pytest.fail("fallback=error never refused although no replica was reachable")
        assert conn.execute("/* pgrouter: primary */ SELECT 1").fetchone()[0] == 1   # still usable
