"""The cluster monitor, told as an operator's stories on a primary and two replicas of
their own (the shared cluster is left alone): a replica that falls behind leaves rotation and
comes back, an idle cluster shows no lag, a replica killed or frozen under load costs no read,
a promoted replica takes the writes without losing one, and a terminated server connection does
not take a node out."""
import os
import subprocess
import threading
import time

import psycopg
import pytest

import cluster as harness
from conftest import fresh_cluster
from helpers import client_backends, db_entry, wait_for

pytestmark = pytest.mark.pgrouter_only

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


def new_cluster():
    """A fresh primary + 2 replicas (autovacuum off, so that an idle cluster writes no WAL)."""
    return fresh_cluster(autovacuum="off")


@pytest.fixture(scope="module")
def mcluster():
    """This module's own cluster: its tests stop, kill and freeze nodes."""
    c = new_cluster()
    yield c
    c.destroy()


@pytest.fixture
def heal(mcluster):
    """Whatever a test did to a node, start it again (and resume it) for the next test."""
    yield
    for r in mcluster.replicas:
        if r.postmaster_pid():
            try:
                mcluster.sigcont(r)
            except harness.HarnessError:
                pass
        else:
            mcluster.start(r)
        mcluster.set_guc(r, "recovery_min_apply_delay", None)
    mcluster.wait_streaming()


def start_router(pgrouter, c, **settings):
    """pgrouter in transaction mode over c's primary and replicas, console open to postgres."""
    base = dict(pool_mode="transaction", default_pool_size=4, admin_users="postgres")
    base.update(settings)
    return pgrouter(databases={"postgres": db_entry(c, replicas=True)}, **base)


def app(proxy, **kw):
    """An application connection (server-side prepares off: test_prepared.py covers those)."""
    return psycopg.connect(proxy.dsn(**kw), autocommit=True, prepare_threshold=None)


def nodes(proxy):
    """SHOW NODES as {port: row dict}."""
    with psycopg.connect(proxy.dsn(dbname="pgrouter"), autocommit=True, prepare_threshold=None) as c:
        cur = c.execute("SHOW NODES")
        cols = [d.name for d in cur.description]
        return {int(r[0].rsplit(":", 1)[1]): dict(zip(cols, r)) for r in cur.fetchall()}


def node_is(proxy, port, **want):
    """True when SHOW NODES shows port with every column in want at the given value."""
    row = nodes(proxy).get(port)
    return row is not None and all(row[k] == v for k, v in want.items())


class Writer:
    """Inserts a timestamped row straight into the primary every few milliseconds."""

    def __init__(self, c, period=0.01):
        self.dsn, self.period = c.dsn(c.primary), period
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        """Write until stopped."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                conn.execute("INSERT INTO mon_ts DEFAULT VALUES")
                time.sleep(self.period)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


# ----- lag and rotation ---------------------------------------------------------------------

def test_idle_cluster_reports_zero_lag(pgrouter, mcluster):
    """Nothing is written: for 10 seconds every replica shows exactly 0 s and 0 bytes of lag and
    stays in rotation (a clock-based lag would grow on an idle primary)."""
    mcluster.wait_caught_up()
    proxy = start_router(pgrouter, mcluster)
    wait_for(lambda: all(node_is(proxy, r.port, state="up", role="replica") for r in mcluster.replicas),
             timeout=10, what="both replicas polled")
    seen = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = nodes(proxy)
        assert rows[mcluster.primary.port]["role"] == "primary", rows
        for r in mcluster.replicas:
            row = rows[r.port]
            assert (row["lag_seconds"], row["lag_bytes"], row["in_rotation"]) == ("0.000", "0", "yes"), row
        seen += 1
        time.sleep(0.1)
    assert seen >= 50


def test_lagging_replica_leaves_rotation_and_returns(pgrouter, mcluster, heal):
    """replica1 replays 2 s late while rows are written every 10 ms. Within 1 s of its real lag
    crossing max_lag = 500ms it leaves rotation, no read through pgrouter ever misses a row that
    was committed more than 500 ms earlier, and once the delay is removed it comes back."""
    mcluster.sql(mcluster.primary, "CREATE TABLE IF NOT EXISTS mon_ts (id bigserial PRIMARY KEY, "
                 "t timestamptz NOT NULL DEFAULT clock_timestamp())")
    proxy = start_router(pgrouter, mcluster, max_replica_lag="500ms", lag_recover_checks=3)
    r1, r2 = mcluster.replicas
    wait_for(lambda: node_is(proxy, r1.port, in_rotation="yes"), timeout=10, what="replica1 in rotation")
    reads = []          # (served by port, newest id seen, server clock at the read)
    true_lag = []       # (monotonic time, replica1's own staleness in seconds)
    out_at = []
    with Writer(mcluster):
        stop = threading.Event()

        def watch():
            """Measure replica1's real staleness directly, and when pgrouter takes it out."""
            with mcluster.connect(r1) as direct:
                while not stop.is_set():
                    lag = direct.execute("SELECT extract(epoch FROM clock_timestamp() - max(t)) "
                                         "FROM mon_ts").fetchone()[0]
                    true_lag.append((time.monotonic(), float(lag or 0)))
                    if not out_at and node_is(proxy, r1.port, in_rotation="no"):
                        out_at.append(time.monotonic())
                    time.sleep(0.05)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(0.5)
        mcluster.set_guc(r1, "recovery_min_apply_delay", "2s")
        with app(proxy) as conn:
            end = time.monotonic() + 6
            while time.monotonic() < end:
                reads.append(conn.execute(
                    "SELECT inet_server_port(), coalesce(max(id), 0), clock_timestamp() FROM mon_ts").fetchone())
        stop.set()
        watcher.join(5)
    # every read: the first row it did not see was committed at most 500 ms before it
    firsts = dict(mcluster.sql(mcluster.primary, "SELECT id, t FROM mon_ts"))
    worst = 0.0
    for port, seen, at in reads:
        missed = firsts.get(seen + 1)
        if missed is not None and missed < at:
            worst = max(worst, (at - missed).total_seconds())
    by_port = {p: sum(1 for r in reads if r[0] == p) for p in {r[0] for r in reads}}
    print(f"reads by port {by_port}, worst staleness {worst:.3f} s")
    # pgrouter decides when it routes; the statement reads a few milliseconds later on the server
    assert worst <= 0.55, f"a read missed a row committed {worst:.3f} s earlier (max_lag 500ms)"
    assert by_port.get(r2.port, 0) > len(reads) // 3, by_port
    crossed = next((t for t, lag in true_lag if lag > 0.5), None)
    assert crossed is not None, "replica1 never fell 500 ms behind"
    assert out_at, "pgrouter never took replica1 out of rotation"
    print(f"replica1 left rotation {out_at[0] - crossed:+.3f} s after its lag crossed 500 ms")
    assert out_at[0] - crossed <= 1.0
    assert nodes(proxy)[r1.port]["not_in_rotation_reason"].startswith("lag"), nodes(proxy)[r1.port]
    assert proxy.log.count(f"replica 127.0.0.1:{r1.port} left rotation") == 1, "logged once per change"
    # the delay goes: after lag_recover_checks polls under 250 ms it takes reads again
    mcluster.set_guc(r1, "recovery_min_apply_delay", None)
    wait_for(lambda: node_is(proxy, r1.port, in_rotation="yes"), timeout=10, what="replica1 back in rotation")
    with app(proxy) as conn:
        ports = {conn.execute("SELECT inet_server_port() FROM mon_ts LIMIT 1").fetchone()[0]
                 for _ in range(40)}
    assert r1.port in ports, ports
    assert f"replica 127.0.0.1:{r1.port} returned to rotation" in proxy.log


# ----- nodes that die or hang -----------------------------------------------------------------

def pgbench(proxy, *args, timeout=120):
    """Run pgbench through the proxy; return (exit code, output)."""
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(proxy.port), PGUSER="postgres",
               PGDATABASE="postgres")
    r = subprocess.run([PGBENCH, *args], env=env, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def test_killed_replica_costs_no_read_and_rejoins(pgrouter, mcluster, heal):
    """kill -9 of replica1 in the middle of a read-only pgbench run with 8 clients: pgbench ends
    with no failed transaction (reads in flight on replica1 are re-run elsewhere); started again,
    replica1 rejoins and takes reads."""
    subprocess.run([PGBENCH, "-i", "-s", "2", "-q", "-h", "127.0.0.1", "-p", str(mcluster.primary.port),
                    "-U", "postgres", "postgres"], check=True, capture_output=True)
    mcluster.wait_caught_up()
    proxy = start_router(pgrouter, mcluster)
    r1 = mcluster.replicas[0]
    wait_for(lambda: node_is(proxy, r1.port, in_rotation="yes"), timeout=10, what="replica1 in rotation")
    read = "SELECT inet_server_port() FROM pgbench_branches LIMIT 1"
    with app(proxy) as conn:
        # inet_server_port()'s volatility is looked up in pg_proc at first sight: the read waits for it
        assert conn.execute(read).fetchone()[0] != mcluster.primary.port, "the read did not use a replica"
    result = {}
    bench = threading.Thread(target=lambda: result.update(out=pgbench(proxy, "-S", "-c", "8", "-j", "2",
                                                                       "-T", "6", "-M", "simple")))
    bench.start()
    time.sleep(2)
    mcluster.kill9(r1)
    bench.join(60)
    code, out = result["out"]
    print(out)
    assert code == 0, out
    assert "number of failed transactions: 0 " in out, out
    assert "aborted" not in out, out
    wait_for(lambda: node_is(proxy, r1.port, state="down"), timeout=5, what="replica1 marked down")
    mcluster.start(r1)
    wait_for(lambda: node_is(proxy, r1.port, state="up", in_rotation="yes"), timeout=15,
             what="replica1 back up and in rotation")
    with app(proxy) as conn:
        ports = {conn.execute(read).fetchone()[0] for _ in range(40)}
    assert r1.port in ports, ports
    assert int(nodes(proxy)[r1.port]["errors"]) > 0, "the lost reads and failed polls are counted"


def test_frozen_replica_is_detected_and_no_client_hangs(pgrouter, mcluster, heal):
    """SIGSTOP freezes replica1 (connections stay open, nothing answers) while four clients read.
    The monitor marks it down within monitor_timeout plus a poll; reads caught on it are re-run
    elsewhere, so every read succeeds and none waits for the frozen node to wake up."""
    proxy = start_router(pgrouter, mcluster, monitor_timeout="1s")
    r1 = mcluster.replicas[0]
    wait_for(lambda: node_is(proxy, r1.port, in_rotation="yes"), timeout=10, what="replica1 in rotation")
    stop = threading.Event()
    latencies, errors = [], []

    def reader():
        """Read in a loop, recording how long each read took."""
        with app(proxy) as conn:
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    conn.execute("SELECT 1 FROM pg_class LIMIT 1").fetchone()
                except psycopg.Error as e:
                    errors.append(str(e))
                latencies.append(time.monotonic() - t0)
    threads = [threading.Thread(target=reader, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1)
    frozen_at = time.monotonic()
    mcluster.sigstop(r1)
    try:
        wait_for(lambda: node_is(proxy, r1.port, state="down"), timeout=5, what="replica1 marked down")
        detected = time.monotonic() - frozen_at
        time.sleep(1)
    finally:
        mcluster.sigcont(r1)
        stop.set()
        for t in threads:
            t.join(10)
    print(f"detected after {detected:.2f} s; slowest read {max(latencies):.2f} s of {len(latencies)}")
    assert detected <= 1.0 + 0.25 + 1.0, "monitor_timeout 1s + one poll interval, with slack"
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert max(latencies) < 3.0
    wait_for(lambda: node_is(proxy, r1.port, state="up", in_rotation="yes"), timeout=10, what="replica1 back")


def test_terminated_server_connection_keeps_node_up(pgrouter, mcluster, heal):
    """pg_terminate_backend of a pooled server connection on replica1 (and of the monitor's own
    session) is one lost connection, not a dead node: replica1 stays up and in rotation, and the
    client whose idle server was terminated still gets its answer."""
    proxy = start_router(pgrouter, mcluster)
    r1 = mcluster.replicas[0]
    wait_for(lambda: node_is(proxy, r1.port, in_rotation="yes"), timeout=10, what="replica1 in rotation")
    with app(proxy) as conn:
        for _ in range(20):
            conn.execute("SELECT 1 FROM pg_class LIMIT 1").fetchone()
        pooled = [row[0] for row in client_backends(mcluster, node=r1)]
        assert pooled, "no pooled server connection on replica1"
        mcluster.sql(r1, "SELECT pg_terminate_backend(%s)", [pooled[0]])
        mcluster.sql(r1, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = 'pgrouter monitor'")
        for _ in range(20):
            assert conn.execute("SELECT 1 FROM pg_class LIMIT 1").fetchone() == (1,)
    time.sleep(1)
    row = nodes(proxy)[r1.port]
    assert (row["state"], row["in_rotation"]) == ("up", "yes"), row
    assert f"{r1.port} is down" not in proxy.log, proxy.log_tail()


# ----- failover -------------------------------------------------------------------------------

@pytest.mark.pgr_timeout(180)
def test_promoted_replica_takes_writes_and_no_acknowledged_write_is_lost(pgrouter):
    """Four writers and two readers run through pgrouter. The primary is stopped and replica1 is
    promoted. pgrouter finds the new primary by itself (role = auto); every write attempted after
    it switched succeeds there, and every write pgrouter acknowledged before is there too."""
    c = new_cluster()
    try:
        c.sql(c.primary, "CREATE TABLE mon_w (writer int, n int, PRIMARY KEY (writer, n))")
        subprocess.run([PGBENCH, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(c.primary.port),
                        "-U", "postgres", "postgres"], check=True, capture_output=True)
        c.wait_caught_up()
        proxy = start_router(pgrouter, c, monitor_interval="100ms", max_replica_lag="1s",
                             query_wait_timeout=30)
        old, new = c.primary, c.replicas[0]
        wait_for(lambda: node_is(proxy, new.port, in_rotation="yes"), timeout=10, what="replicas polled")
        acked, failed, after_switch = {}, [], []
        switched_at = []
        stop = threading.Event()

        def writer(w):
            """Insert (w, n) for n = 1, 2, ...; reconnect after an error, as an application would."""
            n, conn = 0, None
            acked[w] = []
            while not stop.is_set():
                n += 1
                t0 = time.monotonic()
                try:
                    if conn is None:
                        conn = app(proxy)
                    conn.execute("INSERT INTO mon_w VALUES (%s, %s)", (w, n))
                    acked[w].append(n)
                except psycopg.Error as e:
                    failed.append((w, n, str(e).strip()))
                    if switched_at and t0 > switched_at[0]:
                        after_switch.append((w, n, str(e).strip()))
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(0.02)
            if conn is not None:
                conn.close()

        def reader(i):
            """Read steadily; errors during the switch are tolerated here (reads are not the point)."""
            while not stop.is_set():
                try:
                    with app(proxy) as conn:
                        while not stop.is_set():
                            conn.execute("SELECT count(*) FROM mon_w").fetchone()
                except psycopg.Error:
                    time.sleep(0.02)
        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(4)]
        threads += [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        # A mixed pgbench load (TPC-B-like writes and select-only reads) runs through the switch too;
        # pgbench aborts a client whose connection is lost, so its summary shows the cost of the switch.
        bench = {}
        bencher = threading.Thread(target=lambda: bench.update(out=pgbench(
            proxy, "-c", "4", "-j", "2", "-T", "6", "-M", "simple", "-b", "tpcb-like@1", "-b", "select-only@3")))
        bencher.start()
        time.sleep(1.5)
        c.stop(old)
        c.promote(new)
        promoted = time.monotonic()
        wait_for(lambda: node_is(proxy, new.port, role="primary"), timeout=5, what="pgrouter sees the promotion")
        switched_at.append(time.monotonic())
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(20)
        bencher.join(30)
        print("pgbench through the switch:\n" + "\n".join(
            line for line in bench["out"][1].splitlines() if "transactions" in line or "aborted" in line))
        total = sum(len(v) for v in acked.values())
        print(f"writes acknowledged: {total}; failed during the switch: {len(failed)}; "
              f"switch seen {switched_at[0] - promoted:.2f} s after promote")
        for f in failed[:5]:
            print("  failed:", f)
        assert not after_switch, f"writes failed after pgrouter switched: {after_switch[:5]}"
        have = {(w, n) for w, n in c.sql(new, "SELECT writer, n FROM mon_w")}
        lost = [(w, n) for w, ns in acked.items() for n in ns if (w, n) not in have]
        assert not lost, f"acknowledged writes missing on the new primary: {lost[:10]}"
        assert all(len(v) > 20 for v in acked.values()), {w: len(v) for w, v in acked.items()}
        assert f"writes now go to 127.0.0.1:{new.port}" in proxy.log
        assert nodes(proxy)[new.port]["role"] == "primary"

        # Split brain: the old primary starts again, still a primary on the old timeline. The new
        # primary (higher timeline) keeps the writes; the old one gets neither writes nor reads.
        c.start(old)
        wait_for(lambda: node_is(proxy, old.port, role="fenced"), timeout=10, what="old primary fenced")
        assert "is out of recovery but is not the primary" in proxy.log
        with app(proxy) as conn:
            for n in range(20):
                conn.execute("INSERT INTO mon_w VALUES (99, %s)", (n,))
                port = conn.execute("SELECT inet_server_port() FROM mon_w LIMIT 1").fetchone()[0]
                assert port != old.port, "a read went to the fenced old primary"
        assert c.sql(new, "SELECT count(*) FROM mon_w WHERE writer = 99")[0][0] == 20
        assert c.sql(old, "SELECT count(*) FROM mon_w WHERE writer = 99")[0][0] == 0
    finally:
        c.destroy()


def test_verbose_log_explains_each_routing_decision(pgrouter, mcluster):
    """At verbose = 2 every statement's routing decision is one logfmt line with the node, the
    reason, the LSN the client needed (read-your-writes) and the lag of the node it went to."""
    import re
    proxy = start_router(pgrouter, mcluster, verbose=2)
    r1, r2 = mcluster.replicas
    wait_for(lambda: node_is(proxy, r1.port, in_rotation="yes") and node_is(proxy, r2.port, in_rotation="yes"),
             timeout=10, what="replicas in rotation")
    with app(proxy) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS mon_v (x int)")
        conn.execute("INSERT INTO mon_v VALUES (1)")
        conn.execute("SELECT count(*) FROM mon_v").fetchone()
    lines = re.findall(r"route: node=(\d+) \(\S+\) reason=(\S+) required_lsn=(\S+) node_lag=(\S+)\"", proxy.log)
    assert len(lines) >= 3, proxy.log_tail()
    write = next(entry for entry in lines if entry[1] == "dml")
    assert write[0] == "0" and write[3] == "0.000s", write
    read = lines[-1]   # right after its own write: read-your-writes names the LSN it needs
    assert read[2] != "none" and re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", read[2]), read
    assert re.fullmatch(r"\d+\.\d{3}s", read[3]), read
