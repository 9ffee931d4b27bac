"""ryw_wait: a read that needs an LSN no replica shows yet waits for a replica instead of going to
the primary at once, on a primary and two replicas that apply WAL 50 ms (or 2 s) late. Where each read ran
is what the server says (inet_server_port()), and whether it saw its write is checked by the row count.
Parked clients that close, are killed, paused, reloaded or shut down leave no crash or leak."""
import signal
import time

import pytest

import cluster as harness
import pgwire
from admin_helpers import console, show
from helpers import wait_for
from test_ryw import app, new_id, rcluster, ryw_metrics, replica_ports, sees, slow_apply, start_router  # noqa: F401
from test_ryw import warm_function_lookup
from test_ryw_redis import connected, keyed, metrics, redis, router  # noqa: F401 (redis: fixture)

pytestmark = pytest.mark.pgrouter_only


def ryw_show(proxy):
    """SHOW RYW on the admin console as {name: int}."""
    with console(proxy) as adm:
        return {k: int(v) for k, v in adm.execute("SHOW RYW").fetchall()}


def write_read_loop(conn, c, n, scope="wait"):
    """n write-then-read iterations on conn: (stale reads, reads served by a replica, by the primary)."""
    replicas = replica_ports(c)
    stale = on_replica = on_primary = 0
    for _ in range(n):
        rid = new_id()
        conn.execute("INSERT INTO ryw_new VALUES (%s, %s)", (rid, scope))
        ok, port = sees(conn, rid)
        stale += not ok
        on_replica += port in replicas
        on_primary += port == c.primary.port
    return stale, on_replica, on_primary


def router_with_metrics(pgrouter, c, **settings):
    http = harness.pick_ports(1)[0]
    p = start_router(pgrouter, c, http_port=http, **settings)
    p.http = http
    warm_function_lookup(p)
    return p


def test_2s_delay_without_ryw_wait_reads_use_the_primary(slow_apply, pgrouter):
    """ryw_wait = 0 (the default), replicas 2 s behind: every read after a write goes to the primary at
    once and sees the write; nothing waits."""
    n = 50
    proxy = router_with_metrics(pgrouter, slow_apply)
    with app(proxy) as conn:
        assert write_read_loop(conn, slow_apply, n) == (0, 0, n)
    shown = ryw_show(proxy)
    assert shown["waited_replica"] == shown["waited_primary"] == shown["wait_time"] == 0, shown
    assert shown["primary_reads_session"] == n, shown


def test_2s_delay_ryw_wait_longer_reads_wait_for_the_replica(slow_apply, pgrouter):
    """ryw_wait = 6s, replicas 2 s behind: each read after a write waits until a replica has replayed the
    write, then runs there (the server's own port says so) and sees it."""
    n = 4
    proxy = router_with_metrics(pgrouter, slow_apply, ryw_wait="6s", verbose=2)
    with app(proxy) as conn:
        t0 = time.monotonic()
        assert write_read_loop(conn, slow_apply, n) == (0, n, 0)
        # each read waited for the 2 s apply delay (a lower bound: the replica cannot have it sooner)
        assert time.monotonic() - t0 >= n * 2.0
    shown = ryw_show(proxy)
    assert shown["waited_replica"] == n and shown["waited_primary"] == 0, shown
    assert shown["primary_reads_session"] == 0, shown
    assert shown["wait_time"] >= n * 1_500_000, shown   # µs; the apply delay counts from the commit
    m = ryw_metrics(proxy.http)
    assert m[("pgrouter_ryw_waited_reads_total", "replica")] == n, m
    assert m[("pgrouter_ryw_waited_reads_total", "primary")] == 0, m
    assert m[("pgrouter_ryw_wait_seconds_total", None)] * 1e6 == pytest.approx(shown["wait_time"], abs=1), m
    routed = [line for line in proxy.log.splitlines() if "ryw_waited=" in line]
    assert len(routed) == n and all("reason=read-your-writes" not in line for line in routed), routed


def test_2s_delay_ryw_wait_shorter_falls_back_to_the_primary(slow_apply, pgrouter):
    """ryw_wait = 300ms, replicas 2 s behind: each read after a write waits 300 ms, then goes to the primary
    and sees the write."""
    n = 6
    proxy = router_with_metrics(pgrouter, slow_apply, ryw_wait="300ms", verbose=2)
    with app(proxy) as conn:
        assert write_read_loop(conn, slow_apply, n) == (0, 0, n)
    shown = ryw_show(proxy)
    assert shown["waited_primary"] == n and shown["waited_replica"] == 0, shown
    assert shown["primary_reads_session"] == n, shown
    assert shown["wait_time"] >= n * 300_000, shown
    assert proxy.log.count("reason=read-your-writes:session-after-wait") == n


def test_50ms_delay_reads_after_write_use_replicas(rcluster, pgrouter):
    """ryw_wait = 1s, replicas 50 ms behind: reads after writes wait a little and almost all run on
    replicas; 0 stale."""
    n = 200
    proxy = router_with_metrics(pgrouter, rcluster, ryw_wait="1s")
    with app(proxy) as conn:
        stale, on_replica, _ = write_read_loop(conn, rcluster, n)
    assert stale == 0
    assert on_replica >= n * 90 // 100, f"only {on_replica} of {n} reads after a write used a replica"
    shown = ryw_show(proxy)
    assert shown["waited_replica"] >= on_replica * 9 // 10, shown


def test_keyed_read_waits_for_redis_then_for_the_replica(rcluster, pgrouter, redis):
    """One parking for both: a keyed read through instance B first waits for the consistency_store's answer
    (the key's LSN written through instance A), then for a replica that replayed it; it runs there, 0 stale."""
    n = 100
    a = router(pgrouter, rcluster, redis.url)
    b = router(pgrouter, rcluster, redis.url, ryw_wait="2s")
    connected(a)
    connected(b)
    warm_function_lookup(b)
    stale = on_replica = 0
    with keyed(a, "user:77") as w, keyed(b, "user:77") as r:
        for _ in range(n):
            rid = new_id()
            w.execute("INSERT INTO ryw_new VALUES (%s, 'keyed-wait')", (rid,))
            ok, port = sees(r, rid)
            stale += not ok
            on_replica += port in replica_ports(rcluster)
    assert stale == 0
    assert on_replica >= n * 90 // 100, f"only {on_replica} of {n} keyed reads used a replica"
    shown = ryw_show(b)
    assert shown["waited_replica"] >= on_replica * 9 // 10, shown
    # one GET per read: coming back from the wait for a replica, a read does not ask Redis again
    assert metrics(b)[("pgrouter_ryw_store_requests_total", "get")] == n


def parked(proxy, c, **params):
    """A raw connection that wrote a row and sent the read of it, which is now parked (SHOW CLIENTS says
    waiting); returns (wire, row id)."""
    wire = pgwire.Wire(proxy.port, timeout=15)
    wire.startup(**params)
    rid = new_id()
    _, err = wire.simple(f"INSERT INTO ryw_new VALUES ({rid}, 'parked')")
    assert err is None, err
    wire.send(pgwire.query(f"SELECT count(*), inet_server_port() FROM ryw_new WHERE id = {rid}"))
    wait_for(lambda: waiting(proxy) >= 1, timeout=5, interval=0.02, what="a parked read")
    return wire, rid


def waiting(proxy):
    """Clients SHOW CLIENTS lists as waiting."""
    with console(proxy) as adm:
        return sum(r["state"] == "waiting" for r in show(adm, "CLIENTS"))


def answer(wire):
    """(rows, error fields) of the query in flight on wire."""
    rows, err = [], None
    for kind, payload in wire.read_until():
        if kind == b"D":
            rows.append(pgwire.data_row(payload))
        elif kind == b"E":
            err = pgwire.error_fields(payload)
    return rows, err


def test_client_closes_while_parked(slow_apply, pgrouter):
    """Clients that close (FIN, then RST) while their read waits: gone once the wait ends, others served."""
    proxy = router_with_metrics(pgrouter, slow_apply, ryw_wait="1s")
    for how in ("close", "abort"):
        wire, _ = parked(proxy, slow_apply)
        getattr(wire, how)()
        wait_for(lambda: waiting(proxy) == 0, timeout=10, what="the parked client gone")
    with console(proxy) as adm:
        assert [r for r in show(adm, "CLIENTS") if r["database"] == "postgres"] == []
    with app(proxy) as conn:
        assert write_read_loop(conn, slow_apply, 3)[0] == 0
    assert proxy.alive()


def test_pause_kill_and_reload_while_parked(slow_apply, pgrouter):
    """PAUSE while a read waits: when its wait ends it is held until RESUME, then served (and sees its row).
    KILL: the parked client gets 57P01. RELOAD to ryw_wait = 0: a read that may wait 60 s goes now."""
    proxy = router_with_metrics(pgrouter, slow_apply, ryw_wait="1s")
    wire, rid = parked(proxy, slow_apply)
    with console(proxy) as adm:
        adm.execute("PAUSE postgres")
        with pytest.raises(pgwire.Timeout):
            wire.read_message(timeout=1.5)   # past ryw_wait: now held by PAUSE
        adm.execute("RESUME postgres")
    rows, err = answer(wire)
    assert err is None and rows[0][0] == "1", (rows, err)
    wire.close()

    wire, _ = parked(proxy, slow_apply)
    with console(proxy) as adm:
        adm.execute("KILL postgres")
        assert wire.expect_error_or_close(timeout=5)["C"] == "57P01"
        adm.execute("RESUME postgres")
    wire.close()

    proxy.write_config(ryw_wait="60s")
    proxy.reload()
    wire, rid = parked(proxy, slow_apply)
    proxy.write_config(ryw_wait="0")
    proxy.reload(settle=0)
    rows, err = answer(wire)   # within the wire's 15 s: a 60 s wait would still run
    assert err is None and rows[0][0] == "1" and int(rows[0][1]) == slow_apply.primary.port, (rows, err)
    wire.close()
    assert ryw_show(proxy)["waited_primary"] >= 2


def test_shutdown_while_parked(slow_apply, pgrouter):
    """Safe shutdown while a read waits for a replica: the read is served (on the primary) and pgrouter
    exits cleanly; immediate shutdown: the client is closed, clean exit."""
    proxy = router_with_metrics(pgrouter, slow_apply, ryw_wait="30s")
    wire, rid = parked(proxy, slow_apply)
    proxy.send_signal(signal.SIGINT)
    rows, err = answer(wire)
    assert err is None and rows[0][0] == "1" and int(rows[0][1]) == slow_apply.primary.port, (rows, err)
    assert wire.wait_closed(timeout=10)
    assert proxy.proc.wait(20) == 0
    wire.close()

    proxy = router_with_metrics(pgrouter, slow_apply, ryw_wait="30s")
    wire, _ = parked(proxy, slow_apply)
    assert proxy.stop(signal.SIGTERM, timeout=20) == 0
    wire.close()
