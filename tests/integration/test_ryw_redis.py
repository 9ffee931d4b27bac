"""consistency_store: two pgrouter instances share consistency keys through a real Redis, so a
write through one instance is never read stale through the other; Redis stopped, stalled or restarted
mid-test: no crash, no hang, each session still reads its own writes, and sharing comes back."""
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import psycopg
import pytest

import cluster as harness
import pgwire
from helpers import wait_for
from test_ryw import app, new_id, rcluster, replica_ports, sees, start_router  # noqa: F401 (rcluster is a fixture)

pytestmark = pytest.mark.pgrouter_only

N = 500
UNREACHABLE = "consistency_store unreachable, using local keys"
RECOVERED = "reachable again"


class Redis:
    """A throwaway redis-server on loopback without persistence; stop() and start() keep its port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pgr-redis-")
        self.port = harness.pick_ports(1)[0]
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        with open(f"{self.dir}/redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.ping, timeout=10, what="redis-server to answer PING")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def redis():
    r = Redis()
    r.start()
    yield r
    r.stop()
    subprocess.run(["rm", "-rf", r.dir], check=False)


def metrics(proxy):
    """{(name, op): value} of the pgrouter_ryw_store_* samples on proxy's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families
    text = urllib.request.urlopen(f"http://127.0.0.1:{proxy.http}/metrics", timeout=5).read().decode()
    return {(s.name, s.labels.get("op")): s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name.startswith("pgrouter_ryw_store_")}


def router(pgrouter, c, store, **settings):
    """An instance with two workers and /metrics; store is the consistency_store URL (None: local keys)."""
    http = harness.pick_ports(1)[0]
    p = start_router(pgrouter, c, workers=2, http_port=http, consistency_store=store, **settings)
    p.http = http
    return p


def connected(proxy, n=2):
    """Wait until n worker connections to the store are up."""
    def up():
        try:
            return metrics(proxy)[("pgrouter_ryw_store_connections", None)] == n
        except OSError:
            return False   # /metrics is not listening yet
    wait_for(up, timeout=15, what=f"{n} consistency_store connections")


def keyed(proxy, key):
    return app(proxy, options=f"-c pgrouter.consistency_key={key}")


def warm(*proxies):
    """inet_server_port() counts as a possible write until pgrouter has looked it up: look it up first."""
    for p in proxies:
        with app(p) as conn:
            for _ in range(5):
                conn.execute("SELECT inet_server_port()")
    time.sleep(0.5)


def cross(w, r, n, scope):
    """Write n rows through w, read each at once through r: the number of stale reads."""
    stale = 0
    for _ in range(n):
        rid = new_id()
        w.execute("INSERT INTO ryw_new VALUES (%s, %s)", (rid, scope))
        stale += not sees(r, rid)[0]
    return stale


def same_session(conn, n, scope):
    """Write then read on one connection n times: the number of stale reads."""
    return cross(conn, conn, n, scope)


def test_key_shared_between_instances(rcluster, pgrouter, redis):
    """Instance A writes with key K, instance B reads with key K on another connection: 0 stale in 500."""
    a = router(pgrouter, rcluster, redis.url)
    b = router(pgrouter, rcluster, redis.url)
    local = router(pgrouter, rcluster, None)
    connected(a)
    connected(b)
    warm(a, b, local)
    with keyed(a, "user:7") as w, keyed(b, "user:7") as r:
        stale = cross(w, r, N, "redis")
        assert stale == 0, f"{stale} of {N} reads through the second instance were stale"
        # control: another key on B does not wait for user:7's writes, so the same loop reads stale rows
        r.execute("SET pgrouter.consistency_key = 'user:8'")
        assert cross(w, r, 50, "redis-other-key") > 0
    # pipelined: statements behind a keyed commit wait while the store takes its LSN, then run in order
    with keyed(a, "user:7") as w, keyed(b, "user:7") as r:
        ids = [new_id() for _ in range(20)]
        with w.pipeline():
            curs = []
            for rid in ids:
                w.execute("INSERT INTO ryw_new VALUES (%s, 'pipeline')", (rid,))
                curs.append(w.execute("SELECT count(*) FROM ryw_new WHERE id = %s", (rid,)))
        assert [c.fetchone()[0] for c in curs] == [1] * len(ids)
        assert all(sees(r, rid)[0] for rid in ids)
    # control: an instance without the store does not know A's keys
    with keyed(a, "user:7") as w, keyed(local, "user:7") as r:
        assert cross(w, r, 50, "redis-no-store") > 0
    ma, mb = metrics(a), metrics(b)
    assert ma[("pgrouter_ryw_store_requests_total", "set")] >= N + 50, ma
    assert mb[("pgrouter_ryw_store_requests_total", "get")] >= N, mb
    for m in (ma, mb):
        assert m[("pgrouter_ryw_store_errors_total", None)] == 0, m
        assert m[("pgrouter_ryw_store_skipped_total", None)] == 0, m


def test_redis_stopped_then_restarted(rcluster, pgrouter, redis):
    """Redis killed mid-test: both instances keep serving, each session still reads its own writes, one log
    line per outage; Redis back on the same port: sharing recovers (0 stale again)."""
    a = router(pgrouter, rcluster, redis.url)
    b = router(pgrouter, rcluster, redis.url)
    connected(a)
    connected(b)
    warm(a, b)
    with keyed(a, "user:9") as w, keyed(b, "user:9") as r:
        assert cross(w, r, 50, "before-outage") == 0
        redis.stop()
        # session scope holds on each instance, with the key set (so the store is consulted and found down)
        assert same_session(w, 200, "outage-a") == 0
        assert same_session(r, 200, "outage-b") == 0
        # keyed reads across instances fall back to local keys: they are served (staleness is allowed now)
        cross(w, r, 50, "outage-cross")
        for p in (a, b):
            assert p.log.count(UNREACHABLE) == 1, p.log_tail(40)
            m = metrics(p)
            assert m[("pgrouter_ryw_store_skipped_total", None)] > 0, m
            assert m[("pgrouter_ryw_store_connections", None)] == 0, m
        redis.start()
        connected(a)
        connected(b)
        for p in (a, b):
            wait_for(lambda: RECOVERED in p.log, timeout=5, what="the recovery log line")
        stale = cross(w, r, 200, "after-outage")
        assert stale == 0, f"{stale} of 200 reads were stale after Redis came back"


def test_redis_stalled(rcluster, pgrouter, redis):
    """Redis stopped with SIGSTOP (connections open, no answers): keyed reads and commits wait at most
    consistency_store_timeout and go on with local keys; clients that close while waiting leave no trace."""
    a = router(pgrouter, rcluster, redis.url, consistency_store_timeout="300ms")
    b = router(pgrouter, rcluster, redis.url, consistency_store_timeout="300ms")
    connected(a)
    connected(b)
    warm(a, b)
    with keyed(a, "user:11") as w, keyed(b, "user:11") as r:
        redis.proc.send_signal(signal.SIGSTOP)
        try:
            # a keyed read parked for the store, and a keyed commit held for it, whose clients go away
            for proxy, sql in ((b, "SELECT count(*) FROM ryw_old"),
                               (a, f"INSERT INTO ryw_new VALUES ({new_id()}, 'stalled-gone')")):
                wire = pgwire.Wire(proxy.port)
                wire.startup(options="-c pgrouter.consistency_key=user:11")
                wire.send(pgwire.query(sql))
                time.sleep(0.1)
                wire.abort()
            time.sleep(0.5)
            started = time.monotonic()
            assert same_session(w, 30, "stalled-a") == 0
            assert same_session(r, 30, "stalled-b") == 0
            cross(w, r, 20, "stalled-cross")
            assert time.monotonic() - started < 60   # bounded waits, not a hang
            for p in (a, b):
                assert metrics(p)[("pgrouter_ryw_store_errors_total", None)] > 0
                assert p.log.count(UNREACHABLE) == 1, p.log_tail(40)
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        connected(a)
        connected(b)
        stale = cross(w, r, 100, "after-stall")
        assert stale == 0, f"{stale} of 100 reads were stale after Redis answered again"


def test_reload_changes_store(rcluster, pgrouter, redis):
    """A reload that removes, restores or breaks consistency_store: no crash, clients keep working."""
    a = router(pgrouter, rcluster, redis.url)
    connected(a)
    with keyed(a, "user:13") as conn:
        assert same_session(conn, 20, "reload-1") == 0
        a.write_config(consistency_store=None)
        a.reload()
        connected(a, 0)
        assert same_session(conn, 20, "reload-2") == 0
        a.write_config(consistency_store=redis.url)
        a.reload()
        connected(a)
        assert same_session(conn, 20, "reload-3") == 0
        sets = metrics(a)[("pgrouter_ryw_store_requests_total", "set")]
        assert sets >= 40
        a.write_config(consistency_store="http://not-redis")   # refused: the old setting stays
        a.reload()
        assert "expected redis://host:port" in a.log, a.log_tail(20)
        connected(a)
        assert same_session(conn, 20, "reload-4") == 0
        assert metrics(a)[("pgrouter_ryw_store_requests_total", "set")] >= sets + 20


def test_shutdown_while_parked(rcluster, pgrouter, redis):
    """Shutdown (safe, then immediate) while a keyed read waits for a stalled Redis: clean exit, no leak."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        b = router(pgrouter, rcluster, redis.url, consistency_store_timeout="2s")
        connected(b)
        redis.proc.send_signal(signal.SIGSTOP)
        try:
            wire = pgwire.Wire(b.port)
            wire.startup(options="-c pgrouter.consistency_key=user:15")
            wire.send(pgwire.query("SELECT count(*) FROM ryw_old"))
            time.sleep(0.3)
            assert b.stop(sig, timeout=20) == 0
            wire.close()
        finally:
            redis.proc.send_signal(signal.SIGCONT)
