"""Read-your-writes on a primary and two replicas of their own that apply WAL 50 ms late
(and, in the *_2s tests, 2 s late): a session reads its own writes with no stale read yet keeps reading
old rows from replicas, a token carries the requirement to another pgrouter instance, and a consistency
key to another connection. Each scope has a control run that shows the stale-read detector does see
stale reads without it. (ryw_wait: test_ryw_wait.py.)"""
import time
import urllib.request

import psycopg
import pytest

import cluster as harness
from conftest import fresh_cluster
from helpers import db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

N = 500
N_SLOW = 150   # iterations of the 2 s apply delay variants (their reads go to the primary: fast)
OLD_ROWS = 200


@pytest.fixture(scope="module")
def rcluster():
    """A fresh primary + 2 replicas with recovery_min_apply_delay = 50ms and a table of old rows."""
    c = fresh_cluster(autovacuum="off")
    try:
        with psycopg.connect(c.dsn(c.primary), autocommit=True) as conn:
            conn.execute("CREATE TABLE ryw_old (id int PRIMARY KEY, v text)")
            conn.execute("INSERT INTO ryw_old SELECT g, 'old' || g FROM generate_series(1, %s) g" % OLD_ROWS)
            conn.execute("CREATE TABLE ryw_new (id bigint PRIMARY KEY, scope text)")
        for r in c.replicas:
            c.set_guc(r, "recovery_min_apply_delay", "50ms")
        yield c
    finally:
        c.destroy()


def replica_ports(c):
    return {r.port for r in c.replicas}


def start_router(pgrouter, c, **settings):
    """pgrouter in transaction mode over c's nodes (monitor every 50 ms)."""
    base = dict(pool_mode="transaction", default_pool_size=4, monitor_interval="50ms")
    base.update(settings)
    return pgrouter(databases={"postgres": db_entry(c, replicas=True)}, **base)


def app(proxy, **kw):
    """An application connection (server-side prepares off: test_prepared.py covers those)."""
    return psycopg.connect(proxy.dsn(**kw), autocommit=True, prepare_threshold=None)


_next = [int(time.time() * 1000) % 1000000 * 1000]


def new_id():
    _next[0] += 1
    return _next[0]


def sees(conn, rid):
    """Read row rid through conn: (visible?, port of the node that served the read)."""
    n, port = conn.execute("SELECT count(*), inet_server_port() FROM ryw_new WHERE id = %s", (rid,)).fetchone()
    return n == 1, port


def caught_up(c, conn_token=None):
    """Wait until both replicas replayed everything the primary has now, then a monitor poll or two."""
    with psycopg.connect(c.dsn(c.primary), autocommit=True) as p:
        lsn = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    for r in c.replicas:
        with psycopg.connect(c.dsn(r), autocommit=True) as rc:
            wait_for(lambda: rc.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0],
                     timeout=30, what="replica replay")
    time.sleep(0.3)


def ryw_metrics(port):
    """{(name, scope, how or result): value} of the read-your-writes samples on /metrics, parsed by Prometheus' parser."""
    from prometheus_client.parser import text_string_to_metric_families
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {(s.name, s.labels.get("scope", s.labels.get("how", s.labels.get("result")))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples if s.name.startswith("pgrouter_ryw_")}


@pytest.fixture
def slow_apply(rcluster):
    """The replicas apply WAL 2 s late for one test, then 50 ms late again."""
    for r in rcluster.replicas:
        rcluster.set_guc(r, "recovery_min_apply_delay", "2s")
    yield rcluster
    for r in rcluster.replicas:
        rcluster.set_guc(r, "recovery_min_apply_delay", "50ms")
    caught_up(rcluster)


def session_loop(proxy, c, n):
    """n write-then-read iterations on one connection (0 stale), then n reads of old rows in the same
    session once the replicas caught up (>= 95% on replicas)."""
    replicas = replica_ports(c)
    with app(proxy) as conn:
        stale = 0
        served = {}
        for _ in range(n):
            rid = new_id()
            conn.execute("INSERT INTO ryw_new VALUES (%s, 'session')", (rid,))
            ok, port = sees(conn, rid)
            stale += not ok
            served[port] = served.get(port, 0) + 1
        assert stale == 0, f"{stale} of {n} reads did not see the session's own write (served by {served})"
        # The same session, once the replicas have replayed its writes, reads old rows from replicas again.
        caught_up(c)
        on_replica = 0
        for i in range(n):
            v, port = conn.execute("SELECT v, inet_server_port() FROM ryw_old WHERE id = %s",
                                   (i % OLD_ROWS + 1,)).fetchone()
            assert v == f"old{i % OLD_ROWS + 1}"
            on_replica += port in replicas
        assert on_replica >= n * 95 // 100, f"only {on_replica} of {n} unrelated reads used a replica"


def test_session_reads_its_writes_and_keeps_replicas(rcluster, pgrouter):
    http_port = harness.pick_ports(1)[0]
    proxy = start_router(pgrouter, rcluster, http_port=http_port)
    session_loop(proxy, rcluster, N)
    # the decisions are counted: every write's commit LSN learned, reads held on the primary by scope
    m = ryw_metrics(http_port)
    assert sum(v for (name, _), v in m.items() if name == "pgrouter_ryw_lsn_learned_total") >= N, m
    assert m[("pgrouter_ryw_primary_reads_total", "session")] > 0, m
    assert m[("pgrouter_ryw_primary_reads_total", "key")] == 0, m


def test_explicit_transaction_commit_is_read(rcluster, pgrouter):
    """COMMIT of an explicit transaction is a commit point too; ROLLBACK leaves nothing to wait for."""
    proxy = start_router(pgrouter, rcluster)
    with app(proxy) as conn:
        stale = 0
        for _ in range(100):
            rid = new_id()
            with conn.transaction():
                conn.execute("INSERT INTO ryw_new VALUES (%s, 'tx')", (rid,))
            stale += not sees(conn, rid)[0]
        assert stale == 0
        token = conn.info.parameter_status("pgrouter.lsn")
        assert token and "/" in token


def test_control_off_sees_stale_reads(rcluster, pgrouter):
    """Without read-your-writes the same loop does read stale data: the detector above works."""
    proxy = start_router(pgrouter, rcluster, read_your_writes="off")
    replicas = replica_ports(rcluster)
    with app(proxy) as conn:
        stale = 0
        for _ in range(50):
            rid = new_id()
            conn.execute("INSERT INTO ryw_new VALUES (%s, 'off')", (rid,))
            ok, port = sees(conn, rid)
            stale += not ok and port in replicas
        assert stale > 0
        assert conn.info.parameter_status("pgrouter.lsn") is None


def warm_function_lookup(proxy):
    """Until pgrouter has looked up inet_server_port() in pg_proc, a call of it counts as a possible write
    (and would give the calling session a read-your-writes requirement): have another connection warm it."""
    with app(proxy) as other:
        for _ in range(5):
            other.execute("SELECT inet_server_port()")
    time.sleep(0.5)


def token_loop(a, b, n):
    """n writes through instance a whose token makes instance b's reads see them (0 stale); then the
    control without the token."""
    warm_function_lookup(b)
    with app(a) as wa, app(b) as rb:
        stale = 0
        for _ in range(n):
            rid = new_id()
            wa.execute("INSERT INTO ryw_new VALUES (%s, 'token')", (rid,))
            token = wa.info.parameter_status("pgrouter.lsn")
            assert token, "no pgrouter.lsn after a committed write"
            rb.execute(f"SET pgrouter.min_lsn = '{token}'")
            stale += not sees(rb, rid)[0]
        assert stale == 0, f"{stale} of {n} reads through the second instance were stale"
        # control: the same hand-off without the token reads stale rows
        rb.execute("RESET pgrouter.min_lsn")
        misses = 0
        for _ in range(30):
            rid = new_id()
            wa.execute("INSERT INTO ryw_new VALUES (%s, 'token-control')", (rid,))
            misses += not sees(rb, rid)[0]
        assert misses > 0
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            rb.execute("SET pgrouter.min_lsn = 'not-an-lsn'")


def test_token_between_instances(rcluster, pgrouter):
    """A token from instance A, presented with SET pgrouter.min_lsn on instance B: B's read sees the write."""
    token_loop(start_router(pgrouter, rcluster), start_router(pgrouter, rcluster), N)


def key_loop(proxy, c, n):
    """n writes on one connection read (0 stale) by a second with the same key, while a third without the
    key reads old rows from replicas (>= 95%); then the control with another key."""
    replicas = replica_ports(c)
    with app(proxy, options="-c pgrouter.consistency_key=user:42") as w, app(proxy) as r, app(proxy) as other:
        r.execute("SET pgrouter.consistency_key = 'user:42'")
        warm_function_lookup(proxy)
        stale = 0
        other_on_replica = 0
        for i in range(n):
            rid = new_id()
            w.execute("INSERT INTO ryw_new VALUES (%s, 'key')", (rid,))
            stale += not sees(r, rid)[0]
            v, port = other.execute("SELECT v, inet_server_port() FROM ryw_old WHERE id = %s",
                                    (i % OLD_ROWS + 1,)).fetchone()
            other_on_replica += port in replicas
        assert stale == 0, f"{stale} of {n} reads with the shared key were stale"
        assert other_on_replica >= n * 95 // 100, f"only {other_on_replica} of {n} keyless reads used a replica"
        # control: a different key does not wait for user:42's writes
        r.execute("SET pgrouter.consistency_key = 'user:43'")
        misses = 0
        for _ in range(30):
            rid = new_id()
            w.execute("INSERT INTO ryw_new VALUES (%s, 'key-control')", (rid,))
            misses += not sees(r, rid)[0]
        assert misses > 0


def test_key_shared_between_connections(rcluster, pgrouter):
    """Two connections with the same key read each other's writes; a third without it keeps the replicas."""
    key_loop(start_router(pgrouter, rcluster), rcluster, N)


def test_window_mode(rcluster, pgrouter):
    """window: reads right after a write use the primary (0 stale), at the cost of the replicas."""
    proxy = start_router(pgrouter, rcluster, read_your_writes="window", ryw_window="500ms")
    with app(proxy) as conn:
        for _ in range(100):
            rid = new_id()
            conn.execute("INSERT INTO ryw_new VALUES (%s, 'window')", (rid,))
            ok, port = sees(conn, rid)
            assert ok and port == rcluster.primary.port


def test_session_2s_apply_delay(slow_apply, pgrouter):
    """The same session loop with replicas 2 s behind: reads after writes use the primary, 0 stale."""
    session_loop(start_router(pgrouter, slow_apply), slow_apply, N_SLOW)


def test_token_2s_apply_delay(slow_apply, pgrouter):
    """The token hand-off with replicas 2 s behind: 0 stale reads through the second instance."""
    token_loop(start_router(pgrouter, slow_apply), start_router(pgrouter, slow_apply), N_SLOW)


def test_key_2s_apply_delay(slow_apply, pgrouter):
    """The shared key with replicas 2 s behind: 0 stale reads; keyless reads keep the replicas."""
    key_loop(start_router(pgrouter, slow_apply), slow_apply, N_SLOW)
