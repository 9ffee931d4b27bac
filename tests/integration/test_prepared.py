"""Named prepared statements in transaction pooling, on every node.

pgrouter runs in transaction mode in front of the primary and both replicas with
default_pool_size = 2, so that a client's statements really move between server connections and
nodes. Real drivers (psycopg 3 with prepare_threshold=0 and pipelines, node-postgres named queries
and its pool, pgjdbc with prepareThreshold=1, pgbench -M prepared) run many clients at once; their
results are compared with the same work on a direct connection, and the servers' own logs
(log_statement = 'all') say where the server-side names ran and that no "prepared statement does not
exist / already exists" error happened. Raw protocol tests cover the corners: errors inside
pipelines, a Parse that fails, Close and name reuse, eviction with open portals, DEALLOCATE and
DISCARD ALL, and a server connection replaced between transactions.
"""

import json
import os
import re
import shutil
import subprocess
import threading

import psycopg
import pytest

import pgwire
from helpers import db_entry, wait_for
from routing_helpers import PRIMARY, REPLICAS, ServerLogs, Tagger, statements_logged

pytestmark = pytest.mark.pgrouter_only

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_DIR = os.path.join(REPO, "tests", "integration", "node")
JAVA_SRC = os.path.join(REPO, "tests", "integration", "java", "PreparedClients.java")
PGJDBC_JAR = "/usr/share/java/postgresql.jar"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
TABLE = "pgr_ps.items"

SETUP_SQL = f"""
DROP SCHEMA IF EXISTS pgr_ps CASCADE;
DROP SCHEMA IF EXISTS pgr_ps_b CASCADE;
CREATE SCHEMA pgr_ps;
CREATE TABLE {TABLE} (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL DEFAULT 0);
INSERT INTO {TABLE} SELECT g, 'item' || g FROM generate_series(1, 50) g;
CREATE TABLE pgr_ps.counters (k int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO pgr_ps.counters SELECT g, 0 FROM generate_series(0, 63) g;
CREATE TABLE pgr_ps.tenant_a (id int, who text);
INSERT INTO pgr_ps.tenant_a VALUES (1, 'a');
CREATE SCHEMA pgr_ps_b;
CREATE TABLE pgr_ps_b.tenant_a (id text, who text, extra int);
INSERT INTO pgr_ps_b.tenant_a VALUES ('one', 'b', 7);
"""

# What must never reach a client (nor appear in a server log) when pgrouter carries statements.
PS_ERRORS = re.compile(r"prepared statement \S+ (does not exist|already exists)")


@pytest.fixture(scope="module")
def pcluster(cluster):
    """The shared cluster with every statement logged on every node and the pgr_ps schema on the
    replicas too; restores log_statement and drops the schema afterwards."""
    with statements_logged(cluster, SETUP_SQL,
                           "DROP SCHEMA IF EXISTS pgr_ps CASCADE; DROP SCHEMA IF EXISTS pgr_ps_b CASCADE") as c:
        yield c


@pytest.fixture
def router(pcluster, pgrouter):
    """router(**settings): pgrouter in transaction mode with pool size 2 in front of all three nodes."""
    def start(databases=None, **settings):
        settings.setdefault("default_pool_size", 2)
        settings.setdefault("max_client_conn", 400)
        settings.setdefault("workers", 2)
        # These tests check where prepared reads run; read-your-writes (test_ryw.py) would send a
        # session's reads after its own writes to the primary until the replicas replay them.
        settings.setdefault("read_your_writes", "off")
        return pgrouter(databases=databases or {"postgres": db_entry(pcluster, replicas=True)}, **settings)
    return start


@pytest.fixture
def tag():
    """A fresh tag word per call, unique to this run."""
    return Tagger()


def direct_dsn(cluster, **kw):
    """libpq DSN straight to the primary (the reference every result is compared with)."""
    return cluster.dsn(cluster.primary, **kw)


def reset_counters(cluster):
    """Counters and items.n back to zero, and the replicas caught up."""
    cluster.sql(cluster.primary, f"UPDATE pgr_ps.counters SET n = 0; UPDATE {TABLE} SET n = 0")
    cluster.wait_caught_up()


def ps_executions(logs, tag_word):
    """{(node, pid)} of backends that executed a server-side (pgrouter-named) statement with the tag."""
    out = set()
    for e in logs.entries():
        if tag_word in e.text and re.search(r"execute pgr\d+_\d+", e.text):
            out.add((e.node, e.pid))
    return out


def assert_no_ps_errors(logs):
    """No server logged a prepared-statement name error during the test."""
    bad = [e for e in logs.entries() if PS_ERRORS.search(e.text)]
    assert not bad, "\n".join(repr(e) for e in bad[:10])


def run_threads(n, fn):
    """fn(k) in n threads; returns the list of results, re-raising the first exception."""
    results, errors = [None] * n, []

    def wrap(k):
        """Keep fn's result or its exception."""
        try:
            results[k] = fn(k)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
    threads = [threading.Thread(target=wrap, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# ----- psycopg 3 -----------------------------------------------------------------------------

def psycopg_work(conn, k, t, rounds):
    """A client's mixed work with every statement server-side prepared; returns every result."""
    out = []
    queries = [
        (f"SELECT id, v FROM {TABLE} WHERE id = %s /* {t} read */", lambda i: (i % 50 + 1,)),
        (f"SELECT count(*), sum(id) FROM {TABLE} WHERE id BETWEEN %s AND %s /* {t} range */",
         lambda i: (i % 40 + 1, i % 40 + 10)),
        (f"SELECT %s::text || %s::text /* {t} echo */", lambda i: (f"k{k}", str(i))),
    ]
    for i in range(rounds):
        q, args = queries[(i + k) % len(queries)]
        out.append(conn.execute(q, args(i)).fetchall())
        if i % 4 == 0:
            conn.execute(f"UPDATE pgr_ps.counters SET n = n + 1 WHERE k = %s /* {t} bump */", (k,))
        if i % 9 == 0:
            with conn.transaction():
                row = conn.execute(f"SELECT n FROM pgr_ps.counters WHERE k = %s FOR UPDATE /* {t} lock */",
                                   (k,)).fetchone()
                conn.execute(f"UPDATE pgr_ps.counters SET n = %s WHERE k = %s /* {t} set */", (row[0] + 1, k))
                out.append(conn.execute(f"SELECT n FROM pgr_ps.counters WHERE k = %s /* {t} inside */",
                                        (k,)).fetchall())
    return out


@pytest.mark.pgr_timeout(180)
def test_psycopg_prepare_threshold_0_many_clients(router, pcluster, tag):
    pgr = router()
    reset_counters(pcluster)
    t = tag()
    n, rounds = 16, 40
    logs = ServerLogs(pcluster)

    def through_pgrouter(k):
        """Client k through pgrouter: every statement prepared server-side from its first use."""
        with psycopg.connect(pgr.dsn(), autocommit=True, prepare_threshold=0) as conn:
            return psycopg_work(conn, k, t, rounds)
    got = run_threads(n, through_pgrouter)
    counters = pcluster.sql(pcluster.primary, "SELECT k, n FROM pgr_ps.counters WHERE k < %s ORDER BY k", (n,))
    reset_counters(pcluster)
    with psycopg.connect(direct_dsn(pcluster), autocommit=True) as d:
        want = [psycopg_work(d, k, t + "d", rounds) for k in range(n)]
    assert got == want
    per_client = (rounds + 3) // 4 + (rounds + 8) // 9
    assert counters == [(k, per_client) for k in range(n)]
    # Where the server-side names ran: reads on both replicas, writes on the primary, and each read
    # statement on more backends than one client could have prepared it on.
    where = ps_executions(logs, f"{t} read")
    assert {node for node, _ in where} == REPLICAS, where
    assert len(where) >= 3, where
    assert {node for node, _ in ps_executions(logs, f"{t} bump")} == {PRIMARY}
    assert {node for node, _ in ps_executions(logs, f"{t} lock")} == {PRIMARY}
    assert_no_ps_errors(logs)


def pipeline_work(conn, k, t):
    """Pipelines with Syncs inside and a division by zero in some rounds; returns what the client saw."""
    out = []
    for rnd in range(6):
        try:
            with conn.pipeline() as p:
                curs = []
                for i in range(8):
                    cur = conn.cursor()
                    if i == 3 and (rnd + k) % 3 == 1:
                        cur.execute(f"SELECT 1 / (%s - %s) /* {t} zero */", (i, i))
                    else:
                        cur.execute(f"SELECT %s::int * 2, %s::text /* {t} p{i % 3} */", (i + rnd, f"r{rnd}"))
                    curs.append(cur)
                    if i in (2, 5):
                        p.sync()
                for cur in curs:
                    try:
                        out.append(cur.fetchall())
                    except psycopg.Error as e:
                        out.append(type(e).__name__)
        except psycopg.Error as e:
            out.append("pipeline " + type(e).__name__)
        out.append(conn.execute(f"SELECT %s::int /* {t} after */", (rnd,)).fetchall())
    return out


@pytest.mark.pgr_timeout(120)
def test_psycopg_pipeline_mode_with_errors(router, pcluster, tag):
    pgr = router()
    t = tag()
    logs = ServerLogs(pcluster)

    def through_pgrouter(k):
        """Pipelines through pgrouter."""
        with psycopg.connect(pgr.dsn(), autocommit=True, prepare_threshold=0) as conn:
            return pipeline_work(conn, k, t)
    got = run_threads(8, through_pgrouter)
    with psycopg.connect(direct_dsn(pcluster), autocommit=True, prepare_threshold=0) as d:
        want = [pipeline_work(d, k, t) for k in range(8)]
    assert got == want
    assert any("DivisionByZero" in str(x) for x in got[1]), got[1]
    assert ps_executions(logs, f"{t} p0")
    assert_no_ps_errors(logs)


@pytest.mark.pgr_timeout(60)
def test_psycopg_rollback_and_drop_deallocate_all(router, pcluster, tag):
    """psycopg sends DEALLOCATE ALL after a ROLLBACK or a DROP; its statements (and other clients'
    copies of the same text) keep working afterwards, on any server connection."""
    pgr = router()
    t = tag()
    logs = ServerLogs(pcluster)
    with psycopg.connect(pgr.dsn(), autocommit=True, prepare_threshold=0) as a, \
            psycopg.connect(pgr.dsn(), autocommit=True, prepare_threshold=0) as b:
        for rnd in range(4):
            for conn in (a, b):
                assert conn.execute(f"SELECT %s::int + 1 /* {t} q */", (rnd,)).fetchone() == (rnd + 1,)
            with pytest.raises(psycopg.errors.DivisionByZero):
                with a.transaction():
                    a.execute(f"SELECT 1 / %s /* {t} div */", (0,))
            a.execute(f"CREATE TABLE pgr_ps.tmp_{t} (x int)")
            a.execute(f"DROP TABLE pgr_ps.tmp_{t}")
            assert a.execute(f"SELECT %s::int + 1 /* {t} q */", (rnd,)).fetchone() == (rnd + 1,)
            assert b.execute(f"SELECT %s::int + 2 /* {t} q2 */", (rnd,)).fetchone() == (rnd + 2,)
    assert any("DEALLOCATE ALL" in e.text for e in logs.entries()), "psycopg did not send DEALLOCATE ALL"
    assert_no_ps_errors(logs)


@pytest.mark.pgr_timeout(60)
def test_same_text_under_different_search_paths(router, pcluster):
    """Schema-per-tenant: the same text means another table under another search_path, so clients
    with different search_paths do not share a server-side statement (sharing it would make
    PostgreSQL refuse the re-planned statement: "cached plan must not change result type")."""
    pgr = router()

    def tenant(k):
        """A client of tenant a or b running the same prepared text many times."""
        path = "pgr_ps" if k % 2 == 0 else "pgr_ps_b"
        with psycopg.connect(pgr.dsn(options=f"-c search_path={path}"), autocommit=True,
                             prepare_threshold=0) as conn:
            return [conn.execute("SELECT * FROM tenant_a WHERE who IS NOT NULL").fetchall() for _ in range(20)]
    got = run_threads(8, tenant)
    assert all(r == [[(1, "a")]] * 20 for r in got[0::2]), got[0]
    assert all(r == [[("one", "b", 7)]] * 20 for r in got[1::2]), got[1]


# ----- node-postgres ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def node_pg():
    """node and node-postgres (npm ci from tests/integration/node when not installed yet)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are required (scripts/install-deps.sh installs Debian's nodejs and npm)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "pg")):
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
    return node


def run_node(node, port, clients, rounds):
    """Run the node-postgres clients against port; return their results (parsed JSON)."""
    r = subprocess.run([node, os.path.join(NODE_DIR, "prepared_clients.js"), str(port), str(clients),
                        str(rounds), TABLE], capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert r.returncode == 0, f"node clients failed (port {port}):\n{r.stderr}"
    return json.loads(r.stdout)


@pytest.mark.pgr_timeout(180)
def test_node_postgres_named_queries_and_pool(router, pcluster, node_pg):
    pgr = router()
    reset_counters(pcluster)
    logs = ServerLogs(pcluster)
    clients, rounds = 12, 30
    got = run_node(node_pg, pgr.port, clients, rounds)
    bumped = pcluster.sql(pcluster.primary, f"SELECT sum(n) FROM {TABLE}")[0][0]
    reset_counters(pcluster)
    want = run_node(node_pg, pcluster.primary.port, clients, rounds)
    assert got == want
    assert bumped == clients * (len(range(0, rounds, 5)) + len(range(0, rounds, 7)))
    named = {(e.node, e.pid) for e in logs.entries() if re.search(r"execute pgr\d+_\d+: SELECT id, v FROM", e.text)}
    assert {n for n, _ in named} >= REPLICAS and len(named) >= 3, named
    assert_no_ps_errors(logs)


# ----- pgjdbc -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pgjdbc(tmp_path_factory):
    """The compiled PreparedClients class and the classpath with Debian's pgjdbc."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java or not os.path.exists(PGJDBC_JAR):
        pytest.fail("javac, java and libpostgresql-jdbc-java are required (scripts/install-deps.sh)")
    out = tmp_path_factory.mktemp("pgjdbc")
    r = subprocess.run([javac, "-d", str(out), JAVA_SRC], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return java, f"{out}:{PGJDBC_JAR}"


def run_java(pgjdbc, port, threads, rounds):
    """Run the pgjdbc clients against port; return their output lines."""
    java, cp = pgjdbc
    r = subprocess.run([java, "-cp", cp, "PreparedClients", str(port), str(threads), str(rounds), TABLE],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"pgjdbc clients failed (port {port}):\n{r.stderr}"
    return r.stdout.splitlines()


@pytest.mark.pgr_timeout(240)
def test_pgjdbc_prepare_threshold_1(router, pcluster, pgjdbc):
    pgr = router()
    reset_counters(pcluster)
    logs = ServerLogs(pcluster)
    threads, rounds = 10, 36
    got = run_java(pgjdbc, pgr.port, threads, rounds)
    bumped = pcluster.sql(pcluster.primary, f"SELECT sum(n) FROM {TABLE}")[0][0]
    reset_counters(pcluster)
    want = run_java(pgjdbc, pcluster.primary.port, threads, rounds)
    assert got == want and len(got) == threads * (rounds + len(range(0, rounds, 6)))
    assert bumped == threads * len(range(0, rounds, 6))
    named = {(e.node, e.pid) for e in logs.entries()
             if re.search(r"execute pgr\d+_\d+: SELECT count\(\*\), sum\(id\)", e.text)}
    assert {n for n, _ in named} >= REPLICAS and len(named) >= 3, named
    assert_no_ps_errors(logs)


# ----- pgbench -M prepared ----------------------------------------------------------------------

PSBENCH_DB = "pgr_psbench"


@pytest.fixture(scope="module")
def psbench(pcluster):
    """A pgbench database (scale 1) on the primary, replayed by the replicas; dropped afterwards."""
    pcluster.sql(pcluster.primary, f"DROP DATABASE IF EXISTS {PSBENCH_DB}")
    pcluster.sql(pcluster.primary, f"CREATE DATABASE {PSBENCH_DB}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    r = subprocess.run([PGBENCH, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(pcluster.primary.port),
                        "-U", "postgres", PSBENCH_DB], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    pcluster.wait_caught_up()
    yield PSBENCH_DB
    pcluster.sql(pcluster.primary, f"DROP DATABASE IF EXISTS {PSBENCH_DB} WITH (FORCE)")


def pgbench(port, *args, db=PSBENCH_DB):
    """pgbench against port; returns its output, failing on a non-zero exit or any failed or
    aborted transaction."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    argv = [PGBENCH, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", *args, db]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"pgbench {' '.join(args)} exited {r.returncode}:\n{out}"
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    assert processed and int(processed.group(1)) > 50, out
    assert failed and int(failed.group(1)) == 0, out
    assert "aborted" not in out and not PS_ERRORS.search(out), out
    return out


@pytest.mark.pgr_timeout(240)
def test_pgbench_prepared_select_only_and_tpcb_50_clients(router, pcluster, psbench):
    pgr = router(databases={PSBENCH_DB: db_entry(pcluster, PSBENCH_DB, replicas=True),
                            "postgres": db_entry(pcluster, replicas=True)})
    logs = ServerLogs(pcluster)
    pgbench(pgr.port, "-M", "prepared", "-S", "-c", "50", "-j", "2", "-T", "4")
    reads = {(e.node, e.pid) for e in logs.entries()
             if re.search(r"execute pgr\d+_\d+: SELECT abalance FROM pgbench_accounts", e.text)}
    assert {n for n, _ in reads} == REPLICAS and len(reads) >= 3, reads
    # TPC-B: pgbench prepares each statement with a blocking call; a client that waits for a server
    # connection there would stop every other client of its pgbench thread (which may hold the
    # connections inside their transactions), with any transaction pooler: one thread per client.
    sums = ("SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), "
            "(SELECT sum(tbalance) FROM pgbench_tellers), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")
    before = pcluster.sql(pcluster.primary, sums, dbname=PSBENCH_DB)[0]
    pgbench(pgr.port, "-M", "prepared", "-b", "tpcb-like", "-c", "50", "-j", "50", "-T", "4")
    after = pcluster.sql(pcluster.primary, sums, dbname=PSBENCH_DB)[0]
    # every committed transaction moved one account, teller and branch by the delta it logged (pgbench
    # empties the history before a run)
    assert after[0] - before[0] == after[1] - before[1] == after[2] - before[2] == after[3], (before, after)
    writes = {e.node for e in logs.entries() if re.search(r"execute pgr\d+_\d+: UPDATE pgbench_", e.text)}
    assert writes == {PRIMARY}, writes
    assert_no_ps_errors(logs)


# ----- the protocol's corners, with raw messages ------------------------------------------------

W = pgwire


def answers(w, n_ready):
    """The answers up to the n_ready-th ReadyForQuery, simplified for comparison: ParseComplete '1',
    BindComplete '2', CloseComplete '3', rows, command tags, errors as (SQLSTATE, message) with
    pgrouter's server-side names masked, ReadyForQuery with its status."""
    out = []
    while n_ready:
        kind, payload = w.read_message(timeout=10)
        k = kind.decode()
        if kind == b"D":
            out.append(("D", tuple(W.data_row(payload))))
        elif kind == b"C":
            out.append(("C", payload.rstrip(b"\0").decode()))
        elif kind == b"E":
            f = W.error_fields(payload)
            msg = f.get("M", "")
            if f.get("C") == "42P05":   # pgrouter's server answers it about its server-side name
                msg = re.sub(r'"[^"]*"', '"<name>"', msg)
            out.append(("E", f.get("C"), msg))
        elif kind == b"Z":
            out.append(("Z", payload.decode()))
            n_ready -= 1
        elif kind in (b"N", b"S"):
            continue   # notices and parameter changes are not part of the comparison
        else:
            out.append((k,))
    return out


def exchange(port, batches, **startup):
    """Log in on port, send every batch (bytes, ReadyForQuery count) one after the other in one
    write each, and return the answers of each batch."""
    out = []
    with W.Wire(port, timeout=10) as w:
        w.startup(**startup)
        for data, n in batches:
            w.send(data)
            out.append(answers(w, n))
    return out


def bind_exec(stmt, params=(), portal="", max_rows=0):
    """Bind a statement, Execute it; no Sync."""
    return W.bind(params, portal=portal, stmt=stmt) + W.execute(portal, max_rows)


def corner_batches(k):
    """Client k's batches: every prepared-statement corner in one conversation (names shared by all
    clients, texts their own)."""
    s = W.sync()
    return [
        (W.parse(f"SELECT $1::int + {k}", "s_a", (23,)) + bind_exec("s_a", (1,)) + s, 1),
        # an error before s_b's Parse: the server skips it, so s_b never exists ...
        (W.parse("SELECT 1/0") + bind_exec("") + W.parse(f"SELECT 'b{k}'", "s_b") + bind_exec("s_b") + s, 1),
        # ... in the next group either, and the error names the client's statement
        (bind_exec("s_b") + s, 1),
        (W.parse(f"SELECT 'b2-{k}'", "s_b") + bind_exec("s_b") + s, 1),
        # a Parse that fails leaves the name free
        (W.parse("SELEC 1", "bad") + s, 1),
        (W.parse(f"SELECT 'ok{k}'", "bad") + bind_exec("bad") + s, 1),
        # Close, then the name is unknown, then reused for another text
        (W.close(b"S", "s_a") + s, 1),
        (bind_exec("s_a", (1,)) + s, 1),
        (W.parse(f"SELECT 'again{k}'", "s_a") + bind_exec("s_a") + s, 1),
        # a name that exists: 42P05, and the statement keeps its text
        (W.parse("SELECT 'dup'", "s_a") + s, 1),
        (bind_exec("s_a") + W.describe_statement("s_a") + s, 1),
        # several groups in one write, each using what the one before prepared
        (W.parse(f"SELECT {k} + 100", "s_c") + s + bind_exec("s_c") + s + W.close(b"S", "s_c") + s
         + bind_exec("s_c") + s + W.parse(f"SELECT {k} + 200", "s_c") + bind_exec("s_c") + s, 5),
        # Describe of a statement, and a Close of a portal and of an unknown name
        (W.describe_statement("bad") + W.close(b"P", "nope") + W.close(b"S", "nope") + s, 1),
        # a transaction: its groups stay on one connection
        (W.query("BEGIN") + bind_exec("s_b") + bind_exec("bad") + s + W.query("COMMIT"), 3),
    ]


@pytest.mark.pgr_timeout(120)
def test_protocol_corners_match_a_direct_connection(router, pcluster):
    pgr = router()
    logs = ServerLogs(pcluster)
    n = 8
    got = run_threads(n, lambda k: exchange(pgr.port, corner_batches(k)))
    want = [exchange(pcluster.primary.port, corner_batches(k)) for k in range(n)]
    for k in range(n):
        for i, (g, w) in enumerate(zip(got[k], want[k])):
            assert g == w, f"client {k}, batch {i}:\n  pgrouter {g}\n  direct   {w}"
    # the expected errors, with the client's names where PostgreSQL names them
    flat = [a for batch in got[0] for a in batch if a[0] == "E"]
    assert [e[1] for e in flat] == ["22012", "26000", "42601", "26000", "42P05", "26000"], flat
    assert 'prepared statement "s_b" does not exist' in flat[1][2]
    assert "BUG" not in pgr.log
    # exactly one "already exists" per client: its own duplicate Parse (no injected Parse collided)
    exists = [e for e in logs.entries() if re.search(r'"pgr\d+_\d+" already exists', e.text)]
    assert len(exists) == n, "\n".join(map(repr, exists))


@pytest.mark.pgr_timeout(60)
def test_pipelined_prepared_reads_and_writes_go_where_they_belong(router, pcluster, tag):
    """Bind-only batches are routed by what their statement does, also when a pipeline mixes them:
    a write that follows a read on a replica waits for it to finish, then runs on the primary (reads
    pipelined behind a write stay on the primary connection, as any statement does)."""
    pgr = router()
    reset_counters(pcluster)
    t = tag()
    logs = ServerLogs(pcluster)
    s = W.sync()
    prep = (W.parse(f"SELECT v FROM {TABLE} WHERE id = $1 /* {t} r */", "r", (23,)) + s
            + W.parse(f"UPDATE pgr_ps.counters SET n = n + 1 WHERE k = $1 /* {t} w */", "w", (23,)) + s)
    mixed = b"".join(bind_exec("r", (i % 50 + 1,)) + s + bind_exec("w", (61,)) + s for i in range(10))
    batches = [(prep, 2), (mixed, 20), (mixed, 20)]
    got = exchange(pgr.port, batches)
    assert pcluster.sql(pcluster.primary, "SELECT n FROM pgr_ps.counters WHERE k = 61")[0][0] == 20
    reset_counters(pcluster)
    assert got == exchange(pcluster.primary.port, batches)
    assert {n for n, _ in ps_executions(logs, f"{t} r")} & REPLICAS
    assert {n for n, _ in ps_executions(logs, f"{t} w")} == {PRIMARY}
    assert_no_ps_errors(logs)


def eviction_batches():
    """Six statements, a limit of two per server connection, and a portal kept open across evictions."""
    s = W.sync()
    texts = [f"SELECT g * {i} FROM generate_series(1, 5) g" for i in range(1, 7)]
    batches = [(W.query("BEGIN") + W.parse(texts[0], "e1") + bind_exec("e1", portal="p1", max_rows=2) + s, 2)]
    for i in range(1, 6):   # used in the transaction: none of these may evict e1 (p1 still needs it)
        batches.append((W.parse(texts[i], f"e{i + 1}") + bind_exec(f"e{i + 1}") + s, 1))
    batches.append((W.execute("p1") + s, 1))          # the rest of the portal
    batches.append((bind_exec("e1") + s + W.query("COMMIT"), 2))
    for rnd in range(2):                               # after it: each one again, evicting as needed
        batches += [(bind_exec(f"e{i}") + s, 1) for i in range(1, 7)]
    return batches


@pytest.mark.pgr_timeout(60)
def test_eviction_keeps_statements_an_open_portal_needs(router, pcluster):
    pgr = router(max_prepared_statements=2)
    logs = ServerLogs(pcluster)
    got = exchange(pgr.port, eviction_batches())
    want = exchange(pcluster.primary.port, eviction_batches())
    assert got == want
    assert ("s",) in got[0] and got[6][:3] == [("D", ("3",)), ("D", ("4",)), ("D", ("5",))], got   # suspended, resumed
    # Inside a transaction every statement used stays; afterwards the connection holds at most two.
    with W.Wire(pgr.port) as w:
        w.startup()
        w.send(W.query("BEGIN") + W.parse("SELECT 42", "x1") + bind_exec("x1") + W.sync())
        answers(w, 2)
        for name, text in (("x2", "SELECT 43"), ("x3", "SELECT 44")):
            w.send(W.parse(text, name) + bind_exec(name) + W.sync())
            answers(w, 1)
        rows, err = w.simple("SELECT count(*) FROM pg_prepared_statements WHERE name ~ '^pgr'")
        assert err is None and int(rows[0][0]) >= 3, rows
        w.simple("COMMIT")
        w.send(W.query("BEGIN") + W.parse("SELECT 45", "x4") + bind_exec("x4") + W.sync())
        answers(w, 2)
        rows, err = w.simple("SELECT name FROM pg_prepared_statements WHERE name ~ '^pgr' ORDER BY 1")
        assert err is None and len(rows) == 2, rows
        w.simple("COMMIT")
    assert_no_ps_errors(logs)


def dealloc_batches():
    """DEALLOCATE, DEALLOCATE ALL and DISCARD ALL of protocol-level statements, simple and extended."""
    s = W.sync()
    unnamed = lambda sql: W.parse(sql) + bind_exec("") + s   # noqa: E731 - a one-line builder
    return [
        (W.parse("SELECT 1", "d1") + s, 1),
        (W.query("DEALLOCATE d1"), 1),
        (bind_exec("d1") + s, 1),
        (W.parse("SELECT 2", "d1") + bind_exec("d1") + s, 1),
        (unnamed("DEALLOCATE d1"), 1),                    # as psycopg sends it
        (bind_exec("d1") + s, 1),
        (W.parse("SELECT 3", "d1") + s + W.parse("SELECT 4", "d2") + s, 2),
        (W.query("DEALLOCATE ALL"), 1),
        (bind_exec("d2") + s, 1),
        (W.parse("SELECT 5", "d1") + s, 1),
        (unnamed("DEALLOCATE ALL"), 1),
        (W.parse("SELECT 6", "d1") + bind_exec("d1") + s, 1),
        (W.query("DISCARD ALL"), 1),
        (bind_exec("d1") + s, 1),
        (W.parse("SELECT 7", "d1") + s, 1),
        # DISCARD ALL refused inside a transaction: nothing is dropped
        (W.query("BEGIN") + W.query("DISCARD ALL") + W.query("ROLLBACK"), 3),
        (bind_exec("d1") + s, 1),
        (W.query("DEALLOCATE PREPARE d1"), 1),
        (W.query("DEALLOCATE nope"), 1),
        (W.parse("SELECT 8", "d1") + bind_exec("d1") + s, 1),
    ]


@pytest.mark.pgr_timeout(60)
def test_deallocate_and_discard_all(router, pcluster):
    pgr = router()
    logs = ServerLogs(pcluster)
    got = run_threads(4, lambda k: exchange(pgr.port, dealloc_batches()))
    want = exchange(pcluster.primary.port, dealloc_batches())
    for k in range(4):
        for i, (g, w) in enumerate(zip(got[k], want)):
            assert g == w, f"client {k}, batch {i}:\n  pgrouter {g}\n  direct   {w}"
    assert ("C", "DEALLOCATE ALL") in got[0][7] and ("C", "DISCARD ALL") in got[0][12]
    assert "BUG" not in pgr.log
    # pgrouter's own DEALLOCATEs of its server-side names never failed
    assert not [e for e in logs.entries() if re.search(r"prepared statement \"?pgr\d+_\d+", e.text)]


@pytest.mark.pgr_timeout(60)
def test_deallocate_after_routing_is_switched_off(router, pcluster):
    """An operator turns routing off while a client works: the client's DEALLOCATE and DISCARD ALL
    are still understood (the one statement pgrouter answered itself before the reload leaves
    nothing behind that could be taken for them)."""
    pgr = router(workers=1)
    s = W.sync()
    with W.Wire(pgr.port, timeout=10) as w:
        w.startup()
        w.send(W.parse("SELECT 1", "d1") + s)
        answers(w, 1)
        rows, err = w.simple("SET pgrouter.target = auto")
        assert err is None, err
        pgr.write_config(routing=0)
        pgr.reload()
        assert "configuration reloaded" in pgr.log
        for dealloc, tag in ((W.query("DEALLOCATE d1"), "DEALLOCATE"), (W.query("DISCARD ALL"), "DISCARD ALL")):
            w.send(dealloc)
            got = answers(w, 1)
            assert ("C", tag) in got, got
            w.send(bind_exec("d1") + s)
            got = answers(w, 1)
            assert any(g[0] == "E" and g[1] == "26000" for g in got), f"d1 still runs after {tag}: {got}"
            w.send(W.parse("SELECT 2", "d1") + bind_exec("d1") + s)
            got = answers(w, 1)
            assert ("D", ("2",)) in got, got
        w.send(W.query("SET pgrouter.target = auto"))
        answers(w, 1)
    assert "BUG" not in pgr.log


@pytest.mark.pgr_timeout(120)
def test_server_connections_replaced_and_a_replica_lost(router, pcluster, tag):
    """Statements survive their server connections: after every pgrouter backend is terminated, and
    while a replica is down, the next transaction prepares them wherever it runs."""
    pgr = router(server_login_retry=0.2)
    t = tag()
    logs = ServerLogs(pcluster)
    read = f"SELECT v FROM {TABLE} WHERE id = %s /* {t} read */"
    write = f"UPDATE pgr_ps.counters SET n = n + 1 WHERE k = %s /* {t} write */"
    with psycopg.connect(pgr.dsn(), autocommit=True, prepare_threshold=0) as conn, \
            psycopg.connect(pgr.dsn(dbname="pgrouter"), autocommit=True, prepare_threshold=None) as admin:
        def idle_servers_gone():
            """pgrouter has no server connection for the pool any more."""
            cur = admin.execute("SHOW POOLS")
            names = [d.name for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
            return all(r[k] == 0 for r in rows if r["database"] == "postgres"
                       for k in ("sv_active", "sv_idle", "sv_active_replica", "sv_idle_replica"))
        def kill_servers():
            """Terminate every backend pgrouter has (they are idle) and wait until it noticed."""
            wait_for(lambda: not idle_servers_gone(), timeout=10, what="pgrouter to report its servers")
            for n in pcluster.nodes:
                pcluster.sql(n, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                "backend_type = 'client backend' AND client_addr IS NOT NULL "
                                "AND pid <> pg_backend_pid()")
            wait_for(idle_servers_gone, timeout=10, what="pgrouter to notice its servers are gone")
        for rnd in range(3):
            for i in range(4):
                assert conn.execute(read, (i + 1,)).fetchone() == (f"item{i + 1}",)
                conn.execute(write, (60,))
            kill_servers()
        stopped = sorted(REPLICAS)[0]
        pcluster.stop(stopped)
        try:
            after_stop = ServerLogs(pcluster)
            for i in range(8):
                assert conn.execute(read, (i + 1,)).fetchone() == (f"item{i + 1}",)
        finally:
            pcluster.start(stopped)
            pcluster.wait_streaming()
    assert {n for n, _ in ps_executions(after_stop, f"{t} read")} == REPLICAS - {stopped}
    where = ps_executions(logs, f"{t} read")
    assert len(where) >= 4, where   # prepared again on every new server connection
    assert pcluster.sql(pcluster.primary, "SELECT n FROM pgr_ps.counters WHERE k = 60")[0][0] == 12
    assert_no_ps_errors(logs)


@pytest.mark.pgr_timeout(60)
def test_session_pooling_and_zero_limit_leave_statements_alone(pgrouter, pcluster):
    """Session pooling keeps a server for the session: the client's own names reach it unchanged,
    as they do with max_prepared_statements = 0 (tracking off)."""
    for settings in ({"pool_mode": "session"}, {"max_prepared_statements": 0, "default_pool_size": 1}):
        pgr = pgrouter(databases={"postgres": db_entry(pcluster)}, **settings)
        with W.Wire(pgr.port) as w:
            w.startup()
            w.send(W.parse("SELECT 1", "mine") + W.sync())
            answers(w, 1)
            rows, err = w.simple("SELECT name FROM pg_prepared_statements")
            assert err is None and rows == [["mine"]], rows
            w.simple("DEALLOCATE mine")


@pytest.mark.parametrize("routing", [1, 0])
def test_unnamed_statement_lives_across_syncs(pgrouter, cluster, routing):
    """libpq's PQprepare(conn, "", ...) then PQexecPrepared(conn, "", ...): Parse + Sync, then Bind + Execute +
    Sync. In transaction pooling the second batch may run on another connection or node; the unnamed
    statement must still be the client's, as in PostgreSQL, until its next unnamed Parse or Query."""
    pgr = pgrouter(databases={"postgres": db_entry(cluster, replicas=True)}, pool_mode="transaction",
                   default_pool_size=2, routing=routing)
    with pgwire.Wire(pgr.port) as w, pgr.connect() as other:
        w.startup()

        def run(*msgs):
            w.send(b"".join(msgs))
            out = w.read_until()
            errors = [pgwire.error_fields(p) for k, p in out if k == b"E"]
            assert not errors, errors
            return [pgwire.data_row(p) for k, p in out if k == b"D"]

        run(pgwire.parse("SELECT $1::int + 1, current_setting('port')", param_oids=(23,)), pgwire.sync())
        for i in range(6):
            # another client's statements run in between, on the same connections
            other.execute("SELECT 1").fetchone()
            rows = run(pgwire.bind(params=(i,)), pgwire.execute(), pgwire.sync())
            assert rows[0][0] == str(i + 1)
        # a write parsed unnamed and executed in a later batch runs on the primary
        run(pgwire.query("CREATE TABLE IF NOT EXISTS pgr_unnamed_t (x int)"))
        run(pgwire.parse("INSERT INTO pgr_unnamed_t VALUES ($1) RETURNING x", param_oids=(23,)), pgwire.sync())
        assert run(pgwire.bind(params=(7,)), pgwire.execute(), pgwire.sync()) == [["7"]]
        run(pgwire.describe_statement(""), pgwire.sync())
